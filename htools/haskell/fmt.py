"""Number formatting exactly as htools prints numbers.

htools formats floating-point numbers from their shortest decimal digits
(``floatToDigits``) and rounds those digits half-to-even; C-style ``%.8f``
rounds the exact binary value instead.  The two disagree on rare values, so
every float that reaches an output goes through :func:`fmt_f`.
"""
from __future__ import annotations

import math
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Optional, Tuple


def float_to_digits(x: float) -> Tuple[List[int], int]:
    """Shortest digits ds and exponent e with x = 0.ds * 10**e (x > 0)."""
    if x == 0:
        return [0], 0
    # repr gives the shortest digits: coefficient * 10**exp
    text = repr(x)
    mant, _, e = text.partition("e")
    whole, _, frac = mant.partition(".")
    coef = int(whole + frac)
    exp = (int(e) if e else 0) - len(frac)
    # Python's repr breaks an exact halfway tie between two shortest
    # candidates to even; GHC's floatToDigits takes the upper one.  Exact
    # test of x == (coef + 1/2) * 10**exp with x = num / den:
    num, den = x.as_integer_ratio()
    if exp >= 0:
        tie = 2 * num == (2 * coef + 1) * 10 ** exp * den
    else:
        tie = 2 * num * 10 ** -exp == (2 * coef + 1) * den
    if tie:
        coef += 1
    ds = [int(c) for c in str(coef)]
    while len(ds) > 1 and ds[-1] == 0:
        ds.pop()
        exp += 1
    return ds, len(ds) + exp


def _round_to(d: int, digits: List[int]) -> Tuple[int, List[int]]:
    """GHC's roundTo (base 10): round to d digits, ties to even."""

    def f(n: int, even: bool, xs: List[int]) -> Tuple[int, List[int]]:
        if not xs:
            return 0, [0] * n
        if n == 0:
            x = xs[0]
            if x == 5 and even and all(v == 0 for v in xs[1:]):
                return 0, []
            return (1 if x >= 5 else 0), []
        i = xs[0]
        c, rest = f(n - 1, i % 2 == 0, xs[1:])
        i2 = c + i
        if i2 == 10:
            return 1, [0] + rest
        return 0, [i2] + rest

    c, ds = f(d, True, digits)
    if c == 1:
        return 1, [1] + ds
    return 0, ds


def _fixed(x: float, dec: Optional[int]) -> str:
    """GHC's formatRealFloat FFFixed for a non-negative finite x."""
    ds, e = float_to_digits(x)
    if dec is None:
        if e <= 0:
            return "0." + "0" * (-e) + "".join(map(str, ds))
        ints = ds[:e] + [0] * max(0, e - len(ds))
        frac = ds[e:]
        return "".join(map(str, ints)) + "." + ("".join(map(str, frac)) or "0")
    dec = max(dec, 0)
    if e >= 0:
        ei, is2 = _round_to(dec + e, ds)
        s = "".join(map(str, is2))
        ls, rs = s[:e + ei], s[e + ei:]
        return (ls or "0") + ("." + rs if rs else "")
    ei, is2 = _round_to(dec, [0] * (-e) + ds)
    digs = is2 if ei > 0 else [0] + is2
    s = "".join(map(str, digs))
    return s[0] + ("." + s[1:] if s[1:] else "")


def fmt_f(x: float, prec: Optional[int] = None, width: int = 0) -> str:
    """printf("%<width>.<prec>f", x) as htools prints it."""
    if math.isnan(x):
        s = "NaN"
    elif math.isinf(x):
        s = "Infinity" if x > 0 else "-Infinity"
    else:
        neg = x < 0 or (x == 0 and math.copysign(1.0, x) < 0)
        s = _fixed(abs(x), prec)
        if neg:
            s = "-" + s
    return s.rjust(width) if width else s


def show_double(x: float) -> str:
    """Haskell ``show`` of a Double."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x < 0 or (x == 0 and math.copysign(1.0, x) < 0):
        return "-" + show_double(-x)
    if x == 0:
        return "0.0"
    if 0.1 <= x < 10 ** 7:
        return _fixed(x, None)
    ds, e = float_to_digits(x)
    first = str(ds[0])
    rest = "".join(map(str, ds[1:])) or "0"
    return "%s.%se%d" % (first, rest, e - 1)


def fmt_d(v: int, width: int = 0) -> str:
    s = str(v)
    return s.rjust(width) if width else s


def _exponent(x: float, dec: Optional[int]) -> str:
    """GHC's formatRealFloat FFExponent for a non-negative finite x."""
    ds, e = float_to_digits(x)
    if dec is None:
        if ds == [0]:
            return "0.0e0"
        rest = "".join(map(str, ds[1:])) or "0"
        return "%d.%se%d" % (ds[0], rest, e - 1)
    if dec <= 0:
        if ds == [0]:
            return "0e0"
        ei, is2 = _round_to(1, ds)
        digs = is2[:-1] if ei > 0 else is2
        return "%de%d" % (digs[0], e - 1 + ei)
    dec = max(dec, 1)
    if ds == [0]:
        return "0." + "0" * dec + "e0"
    ei, is2 = _round_to(dec + 1, ds)
    digs = is2[:-1] if ei > 0 else is2
    return "%d.%se%d" % (digs[0], "".join(map(str, digs[1:])), e - 1 + ei)


def fmt_g(x: float, prec: Optional[int] = None) -> str:
    """printf("%.<prec>g", x) as htools prints it (GHC's showGFloat)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x < 0 or (x == 0 and math.copysign(1.0, x) < 0):
        return "-" + fmt_g(-x, prec)
    _, e = float_to_digits(x)
    if e < 0 or e > 7:
        return _exponent(x, prec)
    return _fixed(x, prec)
