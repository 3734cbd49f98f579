"""Number parsing with the acceptance rules and messages of htools' ``tryRead``.

htools parses numeric fields with Haskell's ``reads``: leading white space is
skipped, a trailing remainder is an error ("leftover characters"), and an
unparsable token is "cannot parse string".  Integers accept decimal, ``0x``
hexadecimal and ``0o`` octal literals; floats accept decimal literals with an
optional fraction and exponent (no leading dot), ``NaN`` and ``Infinity``.
"""
from __future__ import annotations

import re

from htools.errors import HtoolsError

_WS = " \t\n\r\f\v"
_INT_TOKEN = re.compile(r"(-?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|[0-9]+)")
_NUM_TOKEN = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_FLOAT_TOKEN = re.compile(r"(-?)([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|Infinity)")


class ReadError(HtoolsError):
    pass


def _fail(name: str, s: str, rest: str | None) -> ReadError:
    if rest is None:
        return ReadError("%s: cannot parse string '%s'" % (name, s))
    return ReadError("%s: leftover characters when parsing '%s': '%s'"
                     % (name, s, rest))


def read_int(name: str, s: str) -> int:
    body = s.lstrip(_WS)
    m = _INT_TOKEN.match(body)
    if not m:
        raise _fail(name, s, None)
    # a decimal token that continues as a fractional/exponent number is a
    # single lexeme that is not an integer
    if not m.group(2).startswith(("0x", "0X", "0o", "0O")):
        full = _NUM_TOKEN.match(body, m.start(2))
        if full and full.end() != m.end():
            raise _fail(name, s, None)
    tok = m.group(2)
    if tok[:2] in ("0x", "0X"):
        val = int(tok[2:], 16)
    elif tok[:2] in ("0o", "0O"):
        val = int(tok[2:], 8)
    else:
        val = int(tok)
    if m.group(1):
        val = -val
    rest = body[m.end():]
    if rest:
        raise _fail(name, s, rest)
    return val


def read_float(name: str, s: str) -> float:
    body = s.lstrip(_WS)
    m = _FLOAT_TOKEN.match(body)
    if not m:
        raise _fail(name, s, None)
    tok = m.group(2)
    if tok == "NaN":
        val = float("nan")
    elif tok == "Infinity":
        val = float("inf")
    else:
        val = float(tok)
    if m.group(1):
        val = -val
    rest = body[m.end():]
    if rest:
        raise _fail(name, s, rest)
    return val
