"""json-0.10's ``JSValue`` as Python values.

``JSNULL`` (None), ``bool``, ``int`` or :class:`Ratio` (numbers are exact
rationals), ``str``, ``list`` and :class:`JSObject` (an association list).
"""
from __future__ import annotations

import math
import operator
import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

__all__ = ["JSObject", "JSNULL", "Ratio", "to_double"]


class JSObject:
    """A JSON object: an association list (keys may repeat, order kept)."""

    __slots__ = ("pairs", "_first")

    def __init__(self, pairs: List[Tuple[str, object]]):
        self.pairs = pairs
        self._first: Optional[Dict[str, object]] = None

    def keys(self) -> List[str]:
        return [k for k, _ in self.pairs]

    def first(self) -> Dict[str, object]:
        """The value of the first pair of each key (do not modify)."""
        first = self._first
        if first is None:
            first = {}
            for k, v in self.pairs:
                if k not in first:
                    first[k] = v
            self._first = first
        return first

    def lookup(self, key: str):
        """(found, value) of the first pair with ``key``."""
        first = self._first
        if first is None:
            first = self.first()
        if key in first:
            return True, first[key]
        return False, None

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "JSObject(%r)" % (self.pairs,)


class Ratio:
    """A JSON number written with a fraction or an exponent: an exact
    rational in lowest terms (denominator > 0), as json-0.10 reads it.

    The part of :class:`fractions.Fraction` the readers use (``numerator``,
    ``denominator``, negation, ``float`` correctly rounded, ``round`` half to
    even, ``int`` towards zero, comparisons and hashing consistent with the
    other numbers), without the :mod:`fractions` module, which imports
    :mod:`decimal` and :mod:`re` (milliseconds of every ``hail`` run).
    """

    __slots__ = ("numerator", "denominator")

    def __init__(self, numerator: int, denominator: int = 1):
        if denominator == 0:
            raise ZeroDivisionError("Ratio(%d, 0)" % numerator)
        if denominator < 0:
            numerator, denominator = -numerator, -denominator
        g = math.gcd(numerator, denominator)
        if g > 1:
            numerator //= g
            denominator //= g
        self.numerator = numerator
        self.denominator = denominator

    @classmethod
    def of(cls, x) -> "Ratio":
        """An int or a Ratio (or anything with numerator and denominator)."""
        if isinstance(x, int):
            return cls(x)
        return cls(x.numerator, x.denominator)

    def __neg__(self) -> "Ratio":
        return Ratio(-self.numerator, self.denominator)

    def __pos__(self) -> "Ratio":
        return self

    def __abs__(self) -> "Ratio":
        return Ratio(abs(self.numerator), self.denominator)

    def __float__(self) -> float:
        return self.numerator / self.denominator    # correctly rounded

    def __int__(self) -> int:
        n, d = self.numerator, self.denominator
        return -(-n // d) if n < 0 else n // d

    __trunc__ = __int__

    def __floor__(self) -> int:
        return self.numerator // self.denominator

    def __ceil__(self) -> int:
        return -(-self.numerator // self.denominator)

    def __round__(self, ndigits=None):
        if ndigits is not None:
            raise TypeError("Ratio rounds to an int only")
        floor, rem = divmod(self.numerator, self.denominator)
        twice = 2 * rem
        if twice < self.denominator or (twice == self.denominator and floor % 2 == 0):
            return floor
        return floor + 1

    def __bool__(self) -> bool:
        return self.numerator != 0

    def _pair(self, other):
        if isinstance(other, int):
            return other, 1
        try:
            return other.numerator, other.denominator
        except AttributeError:
            return None

    def __eq__(self, other) -> bool:
        if isinstance(other, float):
            if math.isnan(other) or math.isinf(other):
                return False
            other = other.as_integer_ratio()
            return self.numerator * other[1] == other[0] * self.denominator
        pair = self._pair(other)
        if pair is None:
            return NotImplemented
        return self.numerator * pair[1] == pair[0] * self.denominator

    def _compare(self, other, op):
        if isinstance(other, float):
            if math.isnan(other):
                return False
            if math.isinf(other):
                return op(0, other)
            n, d = other.as_integer_ratio()
        else:
            pair = self._pair(other)
            if pair is None:
                return NotImplemented
            n, d = pair
        return op(self.numerator * d, n * self.denominator)

    def __lt__(self, other):
        return self._compare(other, operator.lt)

    def __le__(self, other):
        return self._compare(other, operator.le)

    def __gt__(self, other):
        return self._compare(other, operator.gt)

    def __ge__(self, other):
        return self._compare(other, operator.ge)

    def __hash__(self) -> int:
        # Python's numeric hash (as Fraction's): equal numbers hash equal
        modulus = sys.hash_info.modulus
        try:
            dinv = pow(self.denominator, -1, modulus)
        except ValueError:
            h = sys.hash_info.inf
        else:
            h = hash(hash(abs(self.numerator)) * dinv)
        h = h if self.numerator >= 0 else -h
        return -2 if h == -1 else h

    def __repr__(self) -> str:
        return "Ratio(%d, %d)" % (self.numerator, self.denominator)


#: JSON null.  A plain None: "missing" is told apart by ``JSObject.lookup``.
JSNULL = None


def to_double(r) -> float:
    """``fromRational``: a number as a Double (infinities beyond the range)."""
    try:
        return float(r)
    except OverflowError:
        return math.inf if r > 0 else -math.inf
