"""Ganeti's ``parseUnit``: sizes with units, converted to MiB.

``parse_unit`` takes an integer (read as GHC's ``reads`` does, see
:mod:`htools.haskell.read`) followed by optional spaces and a unit;
none/``m``/``MiB`` (any case for the long forms) is MiB, ``g``/``GiB`` and
``t``/``TiB`` are binary, ``M``/``MB``, ``G``/``GB``, ``T``/``TB`` are SI
(decimal) units converted to MiB and truncated (``100G`` -> 95367,
``8T`` -> 7629394).  Failures raise :class:`UnitError` with the
reference's text (``Can't parse string 'x'``, ``Unknown unit 'x'``).
"""
from htools.haskell.prelude import wrap_int64
from htools.haskell.read import ReadError, reads_int

__all__ = ["UnitError", "parse_unit", "parse_unit_assume_binary"]


class UnitError(ReadError):
    """``parse_unit`` failure (``Can't parse string 'x'``/``Unknown unit 'x'``)."""


# (numerator, denominator) of the factor converting to MiB.
_MIB = 1024 * 1024
_SI_M = (1000 * 1000, _MIB)


def _unit_factor(unit: str, no_decimal: bool):
    upper = unit.upper()
    kb_dec = 1024 if no_decimal else 1000
    if unit == "":
        return (1, 1)
    if unit == "m" or upper == "MIB":
        return (1, 1)
    if unit == "g" or upper == "GIB":
        return (1024, 1)
    if unit == "t" or upper == "TIB":
        return (1024 * 1024, 1)
    mb = (kb_dec * kb_dec, _MIB)
    if unit == "M" or upper == "MB":
        return mb
    if unit == "G" or upper == "GB":
        return (mb[0] * kb_dec, mb[1])
    if unit == "T" or upper == "TB":
        return (mb[0] * kb_dec * kb_dec, mb[1])
    raise UnitError("Unknown unit '%s'" % unit)


def _parse_unit_ex(s: str, no_decimal: bool) -> int:
    res = reads_int(s)
    if len(res) != 1:
        raise UnitError("Can't parse string '%s'" % s)
    v, suffix = res[0]
    unit = suffix.lstrip(" ")
    num, den = _unit_factor(unit, no_decimal)
    prod = v * num
    # truncate towards zero, like Haskell's truncate on a Rational
    q = abs(prod) // den
    return wrap_int64(q if prod >= 0 else -q)


def parse_unit(s: str) -> int:
    """Ganeti's ``parseUnit``: size string -> MiB (int).

    Raises :class:`UnitError` with the reference's message.
    """
    return _parse_unit_ex(s, False)


def parse_unit_assume_binary(s: str) -> int:
    """Ganeti's ``parseUnitAssumeBinary``: like parse_unit, all kilos binary."""
    return _parse_unit_ex(s, True)
