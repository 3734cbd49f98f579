"""JSON as the reference reads it: json-0.10 (``Text.JSON``) and Ganeti's readers.

* :func:`decode_value` is json-0.10's ``decodeStrict`` with its rules and
  messages: the top level must be an object or array starting at the very
  first character, objects are association lists (:class:`JSObject`) that
  keep duplicate keys, numbers are exact rationals; :func:`decode_any`
  accepts any depth of nesting (the reference's parser has no limit),
  falling back on an iterative decoder for deep documents.
* The readers (``r_int``, ``r_double``, ``r_list``, ``from_obj``,
  ``maybe_from_obj``, ...) are ``readJSON`` at the types htools uses and
  Ganeti's ``Ganeti.JSON`` helpers, with their error texts; a failure is
  :class:`_Bad` carrying the message.
"""
from __future__ import annotations

import math
import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

from htools.haskell.fmt import show_double
from htools.haskell.prelude import wrap_int64
from htools.haskell.jsvalue import JSNULL, JSObject, Ratio
from htools.haskell.jsvalue import to_double as _to_double
from htools.haskell.show import show_char, show_string, show_string_list


def pp_value(v) -> str:
    """json-0.10's pretty printing of a value (htools.haskell.pretty, loaded
    when an error message first needs it)."""
    from htools.haskell.pretty import pp_value as pretty
    return pretty(v)


class _Bad(Exception):
    """A failed ``Result`` while reading JSON (message only)."""

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


# ======================================================================
# JSON values and the json-0.10 parser (Text.JSON.String)

# JSON values: JSNULL, bool, int or Ratio (numbers), str, list, JSObject

#: Haskell's isSpace: ASCII white space, NBSP and the Zs characters
_WS_CHARS = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
# The port of json-0.10's parser scans with these, compiled when it first
# runs: well-formed documents never need it, and ``re`` costs start-up time.
_WS_RUN = _STR_RUN = _DIGITS = None


def _compile_patterns() -> None:
    global _WS_RUN, _STR_RUN, _DIGITS
    import re
    _WS_RUN = re.compile("[\t\n\v\f\r \xa0\u1680\u2000-\u200a\u202f\u205f\u3000]*")
    #: characters a string may hold unescaped (besides those above 0xff)
    _STR_RUN = re.compile(r'[^"\\\x00-\x1f]+')
    _DIGITS = re.compile(r"[0-9]*")


def _context(s: str, i: int) -> str:
    return s[i:i + 8]


#: exponents beyond these bounds change nothing htools can observe
_EXP_CAP = 400


def json_number(neg: bool, ipart: str, frac: Optional[str],
                exp: Optional[str]):
    """The exact value json-0.10 reads from a number's parts.

    ``ipart``/``frac`` are digit strings (``frac`` None without a
    fraction), ``exp`` the exponent's digits with an optional leading
    ``-`` (None without an exponent).  An int when written as an
    integer, else a :class:`Ratio`.

    json-0.10 computes ``10 ^ exponent`` exactly (``1e999999999`` takes
    the reference over a minute and gigabytes).  What htools reads from
    a number is its 64-bit wrap (``round``, ``fromInteger``) or its
    Double (``fromRational``); a power of ten beyond 10^400 leaves both
    unchanged (the wrap is 0 modulo 2^64, the Double infinite, and below
    10^-400 the Double is zero and the rounding 0), so such exponents are
    clamped to that bound instead of computed.
    """
    if frac is None and exp is None:
        v = int(ipart)
        return -v if neg else v
    digits = ipart + (frac or "")
    mant = int(digits)
    scale = -len(frac or "")
    if exp is not None:
        e_neg = exp.startswith("-")
        e_digits = exp.lstrip("-").lstrip("0") or "0"
        if len(e_digits) > 18:
            e_val = 10 ** 18
        else:
            e_val = int(e_digits)
        scale += -e_val if e_neg else e_val
    if mant == 0:
        val = Ratio(0)
    else:
        lo = -(len(digits) + _EXP_CAP)
        scale = max(lo, min(_EXP_CAP, scale))
        if scale >= 0:
            val = Ratio(mant * 10 ** scale)
        else:
            val = Ratio(mant, 10 ** -scale)
    return -val if neg else val


def _json_float(text: str):
    """``parse_float`` of the C scanner: json_number of a float lexeme
    (``-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?``, checked by the scanner)."""
    neg = text[:1] == "-"
    mant, sep, exp = (text[1:] if neg else text).replace("E", "e").partition("e")
    ipart, dot, frac = mant.partition(".")
    if sep:
        if exp[:1] == "-":
            exp = "-" + exp[1:]
        elif exp[:1] == "+":
            exp = exp[1:]
    return json_number(neg, ipart, frac if dot else None, exp if sep else None)


class _Parser:
    def __init__(self, s: str):
        self.s = s
        self.n = len(s)
        if _WS_RUN is None:
            _compile_patterns()

    def skip_ws(self, i: int) -> int:
        return _WS_RUN.match(self.s, i).end()

    def fail(self, msg: str):
        raise _Bad(msg)

    # --- scalars --------------------------------------------------------
    def read_bool(self, i: int):
        s = self.s
        if s.startswith("true", i):
            return True, i + 4
        if s.startswith("false", i):
            return False, i + 5
        self.fail("Unable to parse JSON Bool: " + _context(s, i))

    def read_string(self, i: int):
        s, n = self.s, self.n
        if i >= n or s[i] != '"':
            self.fail("Malformed JSON: expecting string: " + _context(s, i))
        i += 1
        m = _STR_RUN.match(s, i)
        if m is not None:
            j = m.end()
            if j < n and s[j] == '"':
                return m.group(), j + 1
        out: List[str] = []
        while True:
            m = _STR_RUN.match(s, i)
            if m is not None:
                out.append(m.group())
                i = m.end()
            if i + 1 < n and s[i] == "\\":
                c = s[i + 1]
                i += 2
                if c in _JSON_ESCAPES:
                    out.append(_JSON_ESCAPES[c])
                elif c == "u":
                    if i + 4 <= n:
                        digits = s[i:i + 4]
                        val, rest = _read_hex(digits)
                        if val is not None and rest == "":
                            out.append(chr(val))
                            i += 4
                            continue
                        shown = ("[]" if val is None else
                                 "[(%d,%s)]" % (val, show_string(rest)))
                        self.fail("Unable to parse JSON String: invalid hex: "
                                  + shown[:8])
                    self.fail("Unable to parse JSON String: invalid hex: "
                              + _context(s, i))
                else:
                    self.fail("Unable to parse JSON String: invalid escape "
                              "char: " + show_char(c))
                continue
            if i >= n:
                self.fail("Unable to parse JSON String: unterminated String: ")
            c = s[i]
            if c == '"':
                return "".join(out), i + 1
            if ord(c) < 0x20:
                self.fail("Illegal unescaped character in string: "
                          + _context(s, i))
            out.append(c)        # a lone backslash at the very end
            i += 1

    def read_rational(self, i: int):
        """A number: an int if integral as written, else a Ratio."""
        s, n = self.s, self.n
        neg = False
        if i < n and s[i] == "-":
            neg = True
            i += 1
        if i >= n:
            self.fail("Unable to parse JSON Rational: ")
        c = s[i]
        if c == "0":
            ipart = "0"
            i += 1
        elif not ("0" <= c <= "9"):
            self.fail("Unable to parse JSON Rational: " + _context(s, i + 1))
        else:
            j = _DIGITS.match(s, i).end()
            ipart = s[i:j]
            i = j
        frac = None
        # fraction
        if i < n and s[i] == ".":
            j = _DIGITS.match(s, i + 1).end()
            if j == i + 1:
                # "1." : the dot is dropped, no exponent is read
                return json_number(neg, ipart, None, None), i + 1
            frac = s[i + 1:j]
            i = j
        # exponent
        exp = None
        if i < n and s[i] in "eE":
            i += 1
            esign = ""
            if i < n and s[i] == "+":
                i += 1
            elif i < n and s[i] == "-":
                esign = "-"
                i += 1
            j = _DIGITS.match(s, i).end()
            if j == i:
                self.fail("Unable to parse JSON exponential: " + _context(s, i))
            exp = esign + s[i:j]
            i = j
        return json_number(neg, ipart, frac, exp), i

    # --- compound values ------------------------------------------------
    def read_value(self, i: int, depth: int):
        s, n = self.s, self.n
        if depth > 5000:
            self.fail("Malformed JSON: nesting too deep")
        c = s[i] if i < n else ""
        if c == '"':
            return self.read_string(i)
        if c == "{":
            return self.read_object(i, depth + 1)
        if c == "[":
            return self.read_array(i, depth + 1)
        if c == "-" or "0" <= c <= "9":
            return self.read_rational(i)
        if c in ("t", "f"):
            return self.read_bool(i)
        if s.startswith("null", i):
            return JSNULL, i + 4
        self.fail("Malformed JSON: invalid token in this context "
                  + _context(s, i))

    def read_array(self, i: int, depth: int):
        s, n = self.s, self.n
        skip = _WS_RUN.match
        j = skip(s, i).end()
        if not (j < n and s[j] == "["):
            self.fail("Unable to parse JSON sequence: sequence stars with "
                      "invalid character: " + _context(s, i))
        k = skip(s, j + 1).end()
        if k < n and s[k] == "]":
            return [], skip(s, k + 1).end()
        items = []
        pos = k
        read_value = self.read_value
        ws = _WS_CHARS
        while True:
            val, pos = read_value(pos, depth)
            items.append(val)
            c = s[pos] if pos < n else ""
            d = pos
            if c in ws:
                d = skip(s, pos).end()
                c = s[d] if d < n else ""
            if c == ",":
                pos = skip(s, d + 1).end()
            elif c == "]":
                return items, skip(s, d + 1).end()
            else:
                self.fail("Unable to parse JSON array: unterminated array: "
                          + _context(s, pos))

    def read_object(self, i: int, depth: int):
        s, n = self.s, self.n
        skip = _WS_RUN.match
        j = skip(s, i).end()
        if not (j < n and s[j] == "{"):
            self.fail("Unable to parse JSON object: unterminated object")
        k = skip(s, j + 1).end()
        if k < n and s[k] == "}":
            return JSObject([]), skip(s, k + 1).end()
        pairs = []
        pos = k
        read_string, read_value = self.read_string, self.read_value
        ws = _WS_CHARS
        while True:
            key, pos = read_string(pos)
            d = pos
            if d < n and s[d] in ws:
                d = skip(s, pos).end()
            if not (d < n and s[d] == ":"):
                self.fail("Malformed JSON labelled field: " + _context(s, pos))
            pos = skip(s, d + 1).end()
            val, pos = read_value(pos, depth)
            pairs.append((key, val))
            c = s[pos] if pos < n else ""
            d = pos
            if c in ws:
                d = skip(s, pos).end()
                c = s[d] if d < n else ""
            if c == ",":
                pos = skip(s, d + 1).end()
            elif c == "}":
                return JSObject(pairs), skip(s, d + 1).end()
            else:
                self.fail("Unable to parse JSON object: unterminated "
                          "sequence: " + _context(s, pos))

    def read_top(self):
        s = self.s
        c = s[0] if s else ""
        if c == "[":
            val, pos = self.read_array(0, 1)
        elif c == "{":
            val, pos = self.read_object(0, 1)
        else:
            self.fail("Invalid JSON: a JSON text a serialized object or array "
                      "at the top level.")
        if pos != self.n:
            self.fail("Invalid tokens at end of JSON string: "
                      + show_string(s[pos:pos + 10]))
        return val


_JSON_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t",
                 "f": "\f", "b": "\b", "/": "/"}
_HEX = "0123456789abcdefABCDEF"


def _read_hex(digits: str):
    """Haskell ``readHex``: (value or None if no digit, rest)."""
    j = 0
    while j < len(digits) and digits[j] in _HEX:
        j += 1
    if j == 0:
        return None, digits
    return int(digits[:j], 16), digits[j:]


def _has_surrogate_escape(text: str) -> bool:
    """Whether ``text`` holds ``\\u`` followed by a surrogate's first two
    digits (``[dD][89a-fA-F]``): Python's json pairs surrogates, json-0.10
    does not."""
    i = text.find("\\u")
    while i >= 0:
        if text[i + 2:i + 3] in ("d", "D") and text[i + 3:i + 4] in _SURROGATE_2ND:
            return True
        i = text.find("\\u", i + 2)
    return False


_SURROGATE_2ND = frozenset("89abcdefABCDEF")


class _ScanContext:
    """The decoder settings Python's C scanner reads (json.JSONDecoder's)."""

    strict = True
    object_hook = None
    object_pairs_hook = JSObject
    parse_int = int
    parse_float = staticmethod(_json_float)
    parse_constant = staticmethod(lambda name: _reject_constant(name))


_scan_once = None


def _c_loads(text: str):
    """``json.loads(text, object_pairs_hook=JSObject, parse_float=_json_float,
    parse_constant=_reject_constant)`` for a text starting with ``{`` or ``[``,
    through the C scanner itself: the :mod:`json` package (and the ``re`` it
    imports) costs start-up time.  Raises ValueError where json.loads does."""
    global _scan_once
    if _scan_once is None:
        try:
            from _json import make_scanner
        except ImportError:     # pragma: no cover - no C accelerator
            import json
            return json.loads(text, object_pairs_hook=JSObject,
                              parse_float=_json_float,
                              parse_constant=_reject_constant)
        _scan_once = make_scanner(_ScanContext())
    try:
        obj, end = _scan_once(text, 0)
    except StopIteration:       # pragma: no cover - text starts with { or [
        raise ValueError("Expecting value") from None
    except SystemError:
        # the scanner raises its JSONDecodeError only when json.decoder is
        # loaded already; otherwise it fails without an exception set
        raise ValueError("invalid JSON") from None
    n = len(text)
    while end < n and text[end] in " \t\n\r":
        end += 1
    if end != n:
        raise ValueError("Extra data")
    return obj


def _reject_constant(name: str):
    raise ValueError(name)


def decode_value(text: str):
    """``runGetJSON readJSTopType`` (raises _Bad with json-0.10's text).

    Python's C decoder is tried first: every document it accepts (without
    NaN/Infinity and surrogate escapes, with an object or array as the
    very first character) json-0.10 reads to the same value.  Anything
    else goes through the port of json-0.10's parser, which gives the
    reference's error messages.
    """
    if text[:1] in ("{", "[") and not _has_surrogate_escape(text):
        try:
            return _c_loads(text)
        except (ValueError, RecursionError):
            pass
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(limit, 20000))
        return _Parser(text).read_top()
    finally:
        sys.setrecursionlimit(limit)


def decode_strict_object(text: str) -> JSObject:
    """``decodeStrict`` at type ``JSObject JSValue``."""
    val = decode_value(text)
    if not isinstance(val, JSObject):
        raise _Bad("Unable to read JSObject")
    return val


# ----------------------------------------------------------------------


# ======================================================================
# readJSON at the types htools uses

if TYPE_CHECKING:
    Reader = Callable[[object], object]

#: Haskell's ``fromInteger :: Integer -> Int`` (the one wrap of htools.units)
_wrap_int = wrap_int64


def r_value(v):
    return v


def _is_number(v) -> bool:
    return isinstance(v, (int, Ratio)) and not isinstance(v, bool)


def r_int(v) -> int:
    if _is_number(v):
        return _wrap_int(v if isinstance(v, int) else round(v))
    raise _Bad("Unable to read Int")


def r_double(v) -> float:
    if _is_number(v):
        return _to_double(v)
    raise _Bad("Unable to read Double")


def r_bool(v) -> bool:
    if isinstance(v, bool):
        return v
    raise _Bad("Unable to read Bool")


def r_char(v) -> str:
    if isinstance(v, str) and len(v) == 1:
        return v
    raise _Bad("Unable to read Char")


def r_string(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "".join(r_char(x) for x in v)
    raise _Bad("Unable to read String")


def r_object(v) -> JSObject:
    if isinstance(v, JSObject):
        return v
    raise _Bad("Unable to read JSObject")


def r_list(elem: Reader) -> Reader:
    def read(v):
        if isinstance(v, list):
            return [elem(x) for x in v]
        raise _Bad("Unable to read list")
    return read


def with_desc(name: str, reader: Reader) -> Reader:
    """Ganeti's ``readJSONWithDesc``."""
    def read(v):
        try:
            return reader(v)
        except _Bad as err:
            raise _Bad("Can't parse value for '%s': %s" % (name, err.msg)) from None
    return read


def r_enum(type_name: str, table: Dict[str, object]) -> Reader:
    """The JSON instance of a Ganeti string enumeration (THH)."""
    as_string = with_desc(type_name, r_string)

    def read(v):
        raw = as_string(v)
        try:
            return table[raw]
        except KeyError:
            raise _Bad("Invalid string value for type %s: %s"
                       % (type_name, show_string(raw))) from None
    return read


def _annotate(owner: str, fn: Callable[[], object]):
    try:
        return fn()
    except _Bad as err:
        raise _Bad("%s: %s" % (owner, err.msg)) from None


def from_key_value(key: str, val, reader: Reader):
    try:
        return reader(val)
    except _Bad as err:
        raise _Bad("key '%s': %s" % (key, err.msg)) from None


def from_obj(obj: JSObject, key: str, reader: Reader):
    found, val = obj.lookup(key)
    if not found:
        raise _Bad("key '%s' not found, object contains only %s"
                   % (key, show_string_list(obj.keys())))
    return from_key_value(key, val, reader)


def maybe_from_obj(obj: JSObject, key: str, reader: Reader):
    found, val = obj.lookup(key)
    if not found or val is JSNULL:
        return None
    return from_key_value(key, val, reader)


def from_obj_with_default(obj: JSObject, key: str, default, reader: Reader):
    val = maybe_from_obj(obj, key, reader)
    return default if val is None else val


def try_from_obj(owner: str, obj: JSObject, key: str, reader: Reader):
    found, val = obj.lookup(key)
    if found:
        try:
            return reader(val)
        except _Bad:
            pass
    # readers are pure: the annotated path gives the error message
    return _annotate(owner, lambda: from_obj(obj, key, reader))


def to_array(v) -> list:
    if isinstance(v, list):
        return v
    raise _Bad("Invalid input, expected array but got " + pp_value(v))


def as_jsobject(v) -> JSObject:
    if isinstance(v, JSObject):
        return v
    raise _Bad("not an object")


def read_either_string(v) -> str:
    if isinstance(v, str):
        return v
    raise _Bad("Wrong JSON type")


# ---------------------------------------------------------------- objects

def _dict_object(type_fields: Sequence[Tuple[str, Reader]]):
    """Reader of a THH ``buildObject`` type (fields in declaration order)."""
    allowed = sorted({name for name, _ in type_fields})

    def read(v):
        obj = r_object(v)
        vals = [with_desc(name, reader)(from_obj(obj, name, r_value))
                for name, reader in type_fields]
        extra = sorted(set(obj.keys()) - set(allowed))
        if extra:
            raise _Bad("Superfluous dictionary keys: %s, but only %s allowed."
                       % (show_string_list(extra), show_string_list(allowed)))
        return vals
    return read


# ======================================================================
# Deeply nested documents

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


# ======================================================================
# show of a JSValue (derived Show instances of json-0.10)

def show_jsvalue(v) -> str:
    """Haskell's derived ``show`` of a json-0.10 ``JSValue``.

    Iterative, so that a value nested a hundred thousand levels deep is
    shown without exhausting the stack."""
    out: List[str] = []
    # work items: a value to show (with its precedence) or literal text
    stack: List[Tuple[bool, object, int]] = [(True, v, 0)]
    while stack:
        is_val, item, prec = stack.pop()
        if not is_val:
            out.append(item)  # type: ignore[arg-type]
            continue
        x = item
        if x is JSNULL:
            out.append("JSNull")
            continue
        paren = prec > 10
        if paren:
            out.append("(")
            stack.append((False, ")", 0))
        if isinstance(x, bool):
            out.append("JSBool " + ("True" if x else "False"))
        elif isinstance(x, (int, Ratio)):
            out.append("JSRational False " + show_ratio(Ratio.of(x), 11))
        elif isinstance(x, str):
            out.append("JSString (JSONString {fromJSString = %s})"
                       % show_string(x))
        elif isinstance(x, list):
            out.append("JSArray [")
            stack.append((False, "]", 0))
            for idx in range(len(x) - 1, -1, -1):
                stack.append((True, x[idx], 0))
                if idx:
                    stack.append((False, ",", 0))
        elif isinstance(x, JSObject):
            out.append("JSObject (JSONObject {fromJSObject = [")
            stack.append((False, "]})", 0))
            pairs = x.pairs
            for idx in range(len(pairs) - 1, -1, -1):
                key, val = pairs[idx]
                stack.append((False, ")", 0))
                stack.append((True, val, 0))
                stack.append((False, "(%s," % show_string(key), 0))
                if idx:
                    stack.append((False, ",", 0))
        else:  # pragma: no cover - decode_any yields nothing else
            raise TypeError(x)
    return "".join(out)


def _show_int(n: int, prec: int) -> str:
    return "(%d)" % n if n < 0 and prec > 6 else str(n)


def show_ratio(r: Ratio, prec: int) -> str:
    """``showsPrec prec`` of a ``Rational``."""
    text = "%s %% %s" % (_show_int(r.numerator, 8), _show_int(r.denominator, 8))
    return "(%s)" % text if prec > 7 else text


# ======================================================================
# Writing (Text.JSON's encode / encodeStrict)

def encode_string(s: str) -> str:
    out = ['"']
    for c in s:
        o = ord(c)
        if o < 0x20:
            out.append("\\" + {"\b": "b", "\f": "f", "\n": "n", "\r": "r",
                               "\t": "t"}.get(c, "u%04x" % o))
        elif c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def encode_double(x: float) -> str:
    """Text.JSON's rendering of a Double (``JSRational`` of ``toRational``):
    integral values as integers, others with Haskell's ``show``."""
    if math.isnan(x) or math.isinf(x):
        # toRational of an IEEE special: the integer its bits decode to
        m, e = (-6755399441055744, 972) if math.isnan(x) else \
            (4503599627370496 if x > 0 else -4503599627370496, 972)
        return "%d" % (m * (1 << e))
    if x.is_integer():
        return "%d" % int(x)
    return show_double(x)


def encode(v) -> str:
    """``Text.JSON.encode`` of a value (dicts keep their order)."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return "%d" % v
    if isinstance(v, float):
        return encode_double(v)
    if isinstance(v, str):
        return encode_string(v)
    if isinstance(v, dict):
        return "{" + ",".join(encode_string(k) + ":" + encode(x)
                              for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(encode(x) for x in v) + "]"
    raise TypeError("cannot encode %r" % (v,))
