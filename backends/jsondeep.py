"""json-0.10's ``decodeStrict`` without recursion, for deeply nested input.

:func:`backends.iallocator.decode_value` (recursive) refuses documents
nested more than a few thousand levels deep; the reference reads them
(its parser has no depth limit) and then judges their shape.  This
decoder keeps an explicit stack of open arrays and objects and reuses the
scalar readers and error messages of the json-0.10 port, so a deep
document gives the reference's value or the reference's error.
"""
from __future__ import annotations

from typing import List

from backends.iallocator import (
    JSObject,
    _Bad,
    _context,
    _Parser,
    _WS_CHARS,
    _WS_RUN,
    decode_value,
)
from htools.haskell.show import show_string


def decode_any(text: str):
    """json-0.10's ``decodeStrict`` at any depth of nesting (raises _Bad).

    The fast decoder first; the iterative one only when it refuses the
    document for its depth."""
    try:
        return decode_value(text)
    except _Bad as err:
        if err.msg != "Malformed JSON: nesting too deep":
            raise
    return decode_deep(text)


def decode_deep(text: str):
    """The value of ``text`` (an object or array at the top), or _Bad."""
    p = _Parser(text)
    s, n = text, len(text)
    skip = _WS_RUN.match
    c = s[0] if s else ""
    if c not in ("[", "{"):
        p.fail("Invalid JSON: a JSON text a serialized object or array at "
               "the top level.")
    # frames: [is_array, items, pending_key]
    stack: List[list] = []
    pos = 0
    while True:
        # ---- read one value at pos (opening containers as needed)
        c = s[pos] if pos < n else ""
        if c == "[":
            k = skip(s, pos + 1).end()
            if k < n and s[k] == "]":
                val = []
                pos = skip(s, k + 1).end()
            else:
                stack.append([True, [], None])
                pos = k
                continue
        elif c == "{":
            k = skip(s, pos + 1).end()
            if k < n and s[k] == "}":
                val = JSObject([])
                pos = skip(s, k + 1).end()
            else:
                key, pos = _read_key(p, s, k)
                stack.append([False, [], key])
                continue
        else:
            val, pos = p.read_value(pos, 0)
        # ---- hand the value to the enclosing containers
        while True:
            if not stack:
                if pos != n:
                    p.fail("Invalid tokens at end of JSON string: "
                           + show_string(s[pos:pos + 10]))
                return val
            frame = stack[-1]
            if frame[0]:
                frame[1].append(val)
            else:
                frame[1].append((frame[2], val))
            c = s[pos] if pos < n else ""
            d = pos
            if c in _WS_CHARS:
                d = skip(s, pos).end()
                c = s[d] if d < n else ""
            if c == ",":
                pos = skip(s, d + 1).end()
                if not frame[0]:
                    frame[2], pos = _read_key(p, s, pos)
                break
            if frame[0] and c == "]":
                val = frame[1]
            elif not frame[0] and c == "}":
                val = JSObject(frame[1])
            elif frame[0]:
                p.fail("Unable to parse JSON array: unterminated array: "
                       + _context(s, pos))
            else:
                p.fail("Unable to parse JSON object: unterminated "
                       "sequence: " + _context(s, pos))
            stack.pop()
            pos = skip(s, d + 1).end()


def _read_key(p: _Parser, s: str, pos: int):
    """An object's key and the position of its value (after the colon)."""
    n = len(s)
    key, pos = p.read_string(pos)
    d = pos
    if d < n and s[d] in _WS_CHARS:
        d = _WS_RUN.match(s, pos).end()
    if not (d < n and s[d] == ":"):
        p.fail("Malformed JSON labelled field: " + _context(s, pos))
    return key, _WS_RUN.match(s, d + 1).end()


__all__ = ["decode_any", "decode_deep"]
