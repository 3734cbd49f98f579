"""Haskell ``Int`` arithmetic as GHC on x86-64 computes it, and ``lines``.

``Int`` is 64 bits and wraps on overflow (``fromInteger``); ``floor`` and
``truncate`` from ``Double`` go through the processor's conversion, which
yields ``minBound`` for NaN, the infinities and values out of range; a
``Double`` division by zero gives an infinity or NaN instead of failing.
"""
from __future__ import annotations

import math
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
_INT_RANGE = 1 << 64


def wrap_int64(v: int) -> int:
    """``fromInteger :: Integer -> Int`` (two's complement wrap)."""
    if INT_MIN <= v <= INT_MAX:
        return v
    return (v - INT_MIN) % _INT_RANGE + INT_MIN


def truncate_int(x: float) -> int:
    """``truncate :: Double -> Int`` (out of range -> minBound)."""
    if x != x or x in (math.inf, -math.inf) or not -2.0 ** 63 <= x < 2.0 ** 63:
        return INT_MIN
    return int(x)


def floor_int(x: float) -> int:
    """``floor :: Double -> Int`` (GHC's ``floorDoubleInt``): the x86
    conversion gives minBound for NaN, infinities and values out of range,
    and one less (wrapping to maxBound) when that is above ``x``."""
    if x != x or not -2.0 ** 63 <= x < 2.0 ** 63:
        return INT_MAX if x < 0 else INT_MIN
    return math.floor(x)


def fdiv(a: float, b: float) -> float:
    """``(/) :: Double -> Double -> Double`` (IEEE: x/0 is an infinity or
    NaN); integers are converted to Double first, as ``fromIntegral`` does."""
    a = float(a)
    b = float(b)
    if b == 0.0:
        if a == 0.0 or a != a:
            return math.nan
        return math.inf if a > 0 else -math.inf
    return a / b


def lines(text: str) -> List[str]:
    """``lines``: split at newlines; a final newline ends the last line."""
    if not text:
        return []
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    return parts
