"""Haskell's ``show`` of strings, characters and lists of strings.

Used wherever the reference prints a value with ``show`` (messages quoting
names, ``Show`` instances of records): non-ASCII characters as decimal
escapes (``\\233``), control characters by their ASCII names
(``\\ESC``), ``\\&`` where the next character would extend an escape.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Sequence

__all__ = ["show_string", "show_char", "show_string_list"]


_HS_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
               "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_HS_ASCII_NAMES = ["NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL",
                   "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI", "DLE",
                   "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN",
                   "EM", "SUB", "ESC", "FS", "GS", "RS", "US"]


def _hs_show_char_body(c: str, nxt: str) -> str:
    o = ord(c)
    if c == "\\":
        return "\\\\"
    if o > 127:
        esc = "\\%d" % o
        if nxt and nxt in "0123456789":
            esc += "\\&"
        return esc
    if o == 127:
        return "\\DEL"
    if o >= 32:
        return c
    if c in _HS_ESCAPES:
        return _HS_ESCAPES[c]
    esc = "\\" + _HS_ASCII_NAMES[o]
    if o == 14 and nxt == "H":
        esc += "\\&"
    return esc


def _plain_show(s: str) -> bool:
    """Only printable ASCII other than ``"`` and backslash: shown as is."""
    return s.isascii() and s.isprintable() and '"' not in s and "\\" not in s


def show_string(s: str) -> str:
    """Haskell's ``show`` of a String."""
    if _plain_show(s):
        return '"' + s + '"'
    out = ['"']
    n = len(s)
    for i, c in enumerate(s):
        if c == '"':
            out.append('\\"')
        else:
            out.append(_hs_show_char_body(c, s[i + 1] if i + 1 < n else ""))
    out.append('"')
    return "".join(out)


def show_char(c: str) -> str:
    """Haskell's ``show`` of a Char."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + _hs_show_char_body(c, "") + "'"


def show_string_list(items: Sequence[str]) -> str:
    """``show :: [String] -> String``."""
    return "[" + ",".join(show_string(s) for s in items) + "]"
