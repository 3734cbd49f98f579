"""Number parsing with the acceptance rules and messages of htools' ``tryRead``.

A thin layer over :mod:`htools.units`, the one reader of numbers written
as text (Haskell's ``reads`` at ``Int`` and ``Double``: white space and
parentheses, ``0x``/``0o`` literals, 64-bit wrap of integers, ``NaN`` and
``Infinity``); failures are raised as :class:`ReadError`, an
:class:`~htools.errors.HtoolsError` carrying the reference's text
("cannot parse string", "leftover characters").
"""
from __future__ import annotations

from htools import units
from htools.errors import HtoolsError


class ReadError(HtoolsError):
    pass


def read_int(name: str, s: str) -> int:
    try:
        return units.try_read_int(name, s)
    except units.ReadError as err:
        raise ReadError(str(err)) from None


def read_float(name: str, s: str) -> float:
    try:
        return units.try_read_double(name, s)
    except units.ReadError as err:
        raise ReadError(str(err)) from None
