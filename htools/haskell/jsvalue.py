"""json-0.10's ``JSValue`` as Python values.

``JSNULL`` (None), ``bool``, ``int`` or ``Fraction`` (numbers are exact
rationals), ``str``, ``list`` and :class:`JSObject` (an association list).
"""
from __future__ import annotations

import math
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

__all__ = ["JSObject", "JSNULL", "to_double"]


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


#: JSON null.  A plain None: "missing" is told apart by ``JSObject.lookup``.
JSNULL = None


def to_double(r) -> float:
    """``fromRational``: a number as a Double (infinities beyond the range)."""
    try:
        return float(r)
    except OverflowError:
        return math.inf if r > 0 else -math.inf
