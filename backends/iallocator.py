"""IAllocator requests: the load side of htools' ``Backend.IAlloc``.

An IAllocator request is the JSON document Ganeti hands to ``hail``; the
other tools also accept one as a cluster data source (``-I FILE``).  This
module parses it exactly as htools does:

* the JSON text is decoded with the rules and messages of the Haskell
  ``json-0.10`` package (``decodeStrict``: the top level must be an object
  or array starting at the very first character, objects are association
  lists and keep duplicate keys, numbers are exact rationals, integers are
  rounded half-to-even from them);
* groups (``nodegroups``), nodes, instances, ``cluster_tags`` and
  ``enabled_hypervisors`` are read key by key in htools' order, so the first
  error reported is htools' first error, with its text;
* a node is *live* unless offline or not ``vm_capable``; the resources of a
  non-live node are not read (all zero) and non-live or drained nodes are
  marked offline; spindles come from ``total_spindles`` with exclusive
  storage, from ``ndparams/spindle_count`` otherwise;
* the first enabled hypervisor becomes every node's hypervisor;
* like htools, the cluster data are then merged (``merge_data``) and the
  memory statistics computed (``update_missing``) *before* the request
  itself is read: lookups by name in the request use the merged names and
  aliases;
* the request becomes one of the small dataclasses below (``Allocate``,
  ``Relocate``, ``ChangeGroup``, ``NodeEvacuate``, ``MultiAllocate``,
  ``AllocateSecondary``).

Entry points: :func:`parse_request` (text -> :class:`Request`, raising
:class:`IAllocError`), :func:`read_request` (htools' ``readRequest``: file
or ``-`` for stdin, warnings on stderr, exit 1 with ``Error: ...`` on a
parse error) and :func:`load_cluster` (htools' ``IAlloc.loadData``, the
``-I`` backend).

Note on ``-I``: htools' ``loadData`` returns the request's cluster data
already merged, and ``loadExternalData`` merges it a second time; instances
are therefore accounted twice on their nodes (the reference's ``hinfo -I``
shows doubled ``pcnt``/``vcpu``/loads).  :func:`load_cluster` returns the
once-merged data so that the common pipeline reproduces this.
"""
from __future__ import annotations

import enum
import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from htools.errors import HtoolsError
from htools.loader import (
    LoadError, extract_desired_locations, extract_ex_tags, merge_data,
    update_missing,
)
from htools.model import ClusterData, Disk, Group, Instance, Nic, Node
from htools.haskell.prelude import wrap_int64
from htools.types import (
    DEFAULT_IPOLICY, NO_SECONDARY, AllocPolicy, DiskTemplate, Hypervisor,
    InstanceStatus, IPolicy, ISpec, MinMaxISpecs,
)
from htools.haskell.show import show_char, show_string, show_string_list


class IAllocError(HtoolsError):
    """The request could not be parsed; the message is htools' own."""


class _Bad(Exception):
    """A failed ``Result`` while reading JSON (message only)."""

    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


# ======================================================================
# JSON values and the json-0.10 parser (Text.JSON.String)

class JSObject:
    """A JSON object: an association list (keys may repeat, order kept)."""

    __slots__ = ("pairs", "_first")

    def __init__(self, pairs: List[Tuple[str, object]]):
        self.pairs = pairs
        self._first: Optional[Dict[str, object]] = None

    def keys(self) -> List[str]:
        return [k for k, _ in self.pairs]

    def lookup(self, key: str):
        """(found, value) of the first pair with ``key``."""
        first = self._first
        if first is None:
            first = {}
            for k, v in self.pairs:
                if k not in first:
                    first[k] = v
            self._first = first
        if key in first:
            return True, first[key]
        return False, None

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "JSObject(%r)" % (self.pairs,)


#: JSON null.  A plain None: "missing" is told apart by ``JSObject.lookup``.
JSNULL = None

# JSON values: JSNULL, bool, int or Fraction (numbers), str, list, JSObject


#: Haskell's isSpace: ASCII white space, NBSP and the Zs characters
_WS_RUN = re.compile("[\t\n\v\f\r \xa0\u1680\u2000-\u200a\u202f\u205f\u3000]*")
#: characters a string may hold unescaped (besides those above 0xff)
_WS_CHARS = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
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
    integer, else a Fraction.

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
        val = Fraction(0)
    else:
        lo = -(len(digits) + _EXP_CAP)
        scale = max(lo, min(_EXP_CAP, scale))
        if scale >= 0:
            val = Fraction(mant * 10 ** scale)
        else:
            val = Fraction(mant, 10 ** -scale)
    return -val if neg else val


_FLOAT_LEXEME = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?(?:[eE]([-+]?)([0-9]+))?\Z")


def _json_float(text: str):
    """``parse_float`` for json.loads: json_number of a float lexeme."""
    m = _FLOAT_LEXEME.match(text)
    esign = "-" if m.group(3) == "-" else ""
    exp = None if m.group(4) is None else esign + m.group(4)
    return json_number(text.startswith("-"), m.group(1), m.group(2), exp)


class _Parser:
    def __init__(self, s: str):
        self.s = s
        self.n = len(s)

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
        """A number: an int if integral as written, else a Fraction."""
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


#: \uD800-\uDFFF escapes: Python's json pairs surrogates, json-0.10 does not
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


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
    if text[:1] in ("{", "[") and not _SURROGATE_ESCAPE.search(text):
        try:
            return json.loads(text, object_pairs_hook=JSObject,
                              parse_float=_json_float,
                              parse_constant=_reject_constant)
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
# Text.JSON.Pretty's pp_value, rendered like ``show`` of a HughesPJ Doc
#
# A lazy port of the parts of the ``pretty`` package's HughesPJ that
# pp_value uses (text, <>, <+>, fsep, punctuate) and of its default
# rendering (page mode, line length 100, 1.5 ribbons per line).  Laziness
# matters: ``fsep`` builds unions of alternative layouts and only the
# first line of each alternative may be looked at, so document fields are
# memoised thunks and the functions below return documents in weak head
# normal form.  Documents are tuples: ("E",) empty, ("N",) no document,
# ("NA", t) nil-above, ("TB", text, size, t) text-beside, ("NE", k, t)
# nest, ("U", t1, t2) union, ("B", t1, g, t2) beside; t* are thunks.

class _Thunk:
    __slots__ = ("fn", "val")

    def __init__(self, fn):
        self.fn = fn
        self.val = None

    def __call__(self):
        if self.fn is not None:
            self.val = self.fn()
            self.fn = None
        return self.val


def _now(doc) -> _Thunk:
    t = _Thunk(None)
    t.val = doc
    return t


_D_EMPTY = ("E",)
_D_NODOC = ("N",)
_T_EMPTY = _now(_D_EMPTY)


def _d_text(s: str):
    return ("TB", s, len(s), _T_EMPTY)


def _d_beside_(p: _Thunk, g: bool, q: _Thunk):
    if q() is _D_EMPTY:
        return p()
    if p() is _D_EMPTY:
        return q()
    return ("B", p, g, q)


def _d_reduce(d):
    if d[0] == "B":
        _, p, g, q = d
        return _d_beside(p, g, _Thunk(lambda: _d_reduce(q())))
    return d


def _d_beside(p: _Thunk, g: bool, q: _Thunk):
    d = p()
    tag = d[0]
    if tag == "N":
        return _D_NODOC
    if tag == "U":
        p1, p2 = d[1], d[2]
        return ("U", _Thunk(lambda: _d_beside(p1, g, q)),
                _Thunk(lambda: _d_beside(p2, g, q)))
    if tag == "E":
        return q()
    if tag == "NE":
        inner = d[2]
        return ("NE", d[1], _Thunk(lambda: _d_beside(inner, g, q)))
    if tag == "B":
        _, p1, g1, q1 = d
        if g1 == g:
            return _d_beside(p1, g1, _Thunk(lambda: _d_beside(q1, g, q)))
        return _d_beside(_Thunk(lambda: _d_reduce(d)), g, q)
    if tag == "NA":
        inner = d[1]
        return ("NA", _Thunk(lambda: _d_beside(inner, g, q)))
    # TB
    _, s, n, rest = d

    def tail():
        if rest() is _D_EMPTY:
            return _d_nil_beside(g, q)
        return _d_beside(rest, g, q)
    return ("TB", s, n, _Thunk(tail))


def _d_nil_beside(g: bool, q: _Thunk):
    d = q()
    while d[0] == "NE":
        d = d[2]()
    if d is _D_EMPTY:
        return _D_EMPTY
    if g:
        return ("TB", " ", 1, _now(d))
    return d


def _d_mk_nest(k: int, p: _Thunk):
    d = p()
    while d[0] == "NE":
        k += d[1]
        d = d[2]()
    if d[0] in ("N", "E"):
        return d
    if k == 0:
        return d
    return ("NE", k, _now(d))


def _d_mk_union(p: _Thunk, q: _Thunk):
    d = p()
    if d is _D_EMPTY:
        return _D_EMPTY
    return ("U", _now(d), q)


def _d_above_nest(p: _Thunk, g: bool, k: int, q: _Thunk):
    d = p()
    tag = d[0]
    if tag == "N":
        return _D_NODOC
    if tag == "U":
        p1, p2 = d[1], d[2]
        return ("U", _Thunk(lambda: _d_above_nest(p1, g, k, q)),
                _Thunk(lambda: _d_above_nest(p2, g, k, q)))
    if tag == "E":
        return _d_mk_nest(k, q)
    if tag == "NE":
        k1, inner = d[1], d[2]
        return ("NE", k1, _Thunk(lambda: _d_above_nest(inner, g, k - k1, q)))
    if tag == "NA":
        inner = d[1]
        return ("NA", _Thunk(lambda: _d_above_nest(inner, g, k, q)))
    if tag == "TB":
        _, s, n, rest = d
        k1 = k - n

        def tail():
            if rest() is _D_EMPTY:
                return _d_nil_above_nest(g, k1, q)
            return _d_above_nest(rest, g, k1, q)
        return ("TB", s, n, _Thunk(tail))
    raise ValueError("aboveNest " + tag)  # pragma: no cover


def _d_nil_above_nest(g: bool, k: int, q: _Thunk):
    d = q()
    while d[0] == "NE":
        k += d[1]
        d = d[2]()
    if d is _D_EMPTY:
        return _D_EMPTY
    if not g and k > 0:
        return ("TB", " " * k, k, _now(d))
    return ("NA", _Thunk(lambda: _d_mk_nest(k, _now(d))))


def _d_fill(g: bool, ys: Sequence[_Thunk], i: int = 0):
    if i >= len(ys):
        return _D_EMPTY
    first = ys[i]
    return _d_fill1(g, _Thunk(lambda: _d_reduce(first())), 0, ys, i + 1)


def _d_fill1(g: bool, p: _Thunk, k: int, ys: Sequence[_Thunk], i: int):
    d = p()
    tag = d[0]
    if tag == "N":
        return _D_NODOC
    if tag == "U":
        p1, q1 = d[1], d[2]
        return ("U", _Thunk(lambda: _d_fill1(g, p1, k, ys, i)),
                _Thunk(lambda: _d_above_nest(
                    q1, False, k, _Thunk(lambda: _d_fill(g, ys, i)))))
    if tag == "E":
        return _d_mk_nest(k, _Thunk(lambda: _d_fill(g, ys, i)))
    if tag == "NE":
        n, inner = d[1], d[2]
        return ("NE", n, _Thunk(lambda: _d_fill1(g, inner, k - n, ys, i)))
    if tag == "NA":
        inner = d[1]
        return ("NA", _Thunk(lambda: _d_above_nest(
            inner, False, k, _Thunk(lambda: _d_fill(g, ys, i)))))
    if tag == "TB":
        _, s, n, rest = d
        return ("TB", s, n, _Thunk(lambda: _d_fill_nb(g, rest, k - n, ys, i)))
    raise ValueError("fill1 " + tag)  # pragma: no cover


def _d_fill_nb(g: bool, p: _Thunk, k: int, ys: Sequence[_Thunk], i: int):
    d = p()
    while d[0] == "NE":
        d = d[2]()
    if d is not _D_EMPTY:
        return _d_fill1(g, _now(d), k, ys, i)
    while i < len(ys) and ys[i]() is _D_EMPTY:
        i += 1
    if i >= len(ys):
        return _D_EMPTY
    return _d_fill_nbe(g, k, ys, i)


def _d_fill_nbe(g: bool, k: int, ys: Sequence[_Thunk], i: int):
    y = ys[i]
    k2 = k - 1 if g else k

    def one_line():
        return _d_elide_nest(_d_one_liner(_d_reduce(y())))
    left = _Thunk(lambda: _d_nil_beside(
        g, _Thunk(lambda: _d_fill1(g, _Thunk(one_line), k2, ys, i + 1))))
    right = _Thunk(lambda: _d_nil_above_nest(
        False, k, _Thunk(lambda: _d_fill(g, ys, i))))
    return _d_mk_union(left, right)


def _d_elide_nest(d):
    if d[0] == "NE":
        return d[2]()
    return d


def _d_one_liner(d):
    tag = d[0]
    if tag in ("N", "E"):
        return d
    if tag == "NA":
        return _D_NODOC
    if tag == "TB":
        _, s, n, rest = d
        return ("TB", s, n, _Thunk(lambda: _d_one_liner(rest())))
    if tag == "NE":
        k, inner = d[1], d[2]
        return ("NE", k, _Thunk(lambda: _d_one_liner(inner())))
    if tag == "U":
        return _d_one_liner(d[1]())
    raise ValueError("oneLiner " + tag)  # pragma: no cover


def _d_fits(n: int, p: _Thunk) -> bool:
    while True:
        if n < 0:
            return False
        d = p()
        tag = d[0]
        if tag == "N":
            return False
        if tag in ("E", "NA"):
            return True
        if tag == "TB":
            n -= d[2]
            p = d[3]
            continue
        raise ValueError("fits " + tag)  # pragma: no cover


def _d_best(w0: int, r: int, doc: _Thunk):
    def get(w: int, p: _Thunk):
        d = p()
        tag = d[0]
        if tag in ("E", "N"):
            return d
        if tag == "NA":
            inner = d[1]
            return ("NA", _Thunk(lambda: get(w, inner)))
        if tag == "TB":
            _, s, n, rest = d
            return ("TB", s, n, _Thunk(lambda: get1(w, n, rest)))
        if tag == "NE":
            k, inner = d[1], d[2]
            return ("NE", k, _Thunk(lambda: get(w - k, inner)))
        if tag == "U":
            p1, q1 = d[1], d[2]
            return nicest1(w, 0, _Thunk(lambda: get(w, p1)),
                           _Thunk(lambda: get(w, q1)))
        raise ValueError("best " + tag)  # pragma: no cover

    def get1(w: int, sl: int, p: _Thunk):
        d = p()
        while d[0] == "NE":
            d = d[2]()
        tag = d[0]
        if tag in ("E", "N"):
            return d
        if tag == "NA":
            inner = d[1]
            return ("NA", _Thunk(lambda: get(w - sl, inner)))
        if tag == "TB":
            _, s, n, rest = d
            return ("TB", s, n, _Thunk(lambda: get1(w, sl + n, rest)))
        if tag == "U":
            p1, q1 = d[1], d[2]
            return nicest1(w, sl, _Thunk(lambda: get1(w, sl, p1)),
                           _Thunk(lambda: get1(w, sl, q1)))
        raise ValueError("best get1 " + tag)  # pragma: no cover

    def nicest1(w: int, sl: int, p: _Thunk, q: _Thunk):
        if _d_fits(min(w, r) - sl, p):
            return p()
        return q()

    return get(w0, doc)


def _d_render(doc: _Thunk, line_len: int = 100, ribbons: float = 1.5) -> str:
    """``fullRender PageMode`` with the default style (``show`` of a Doc)."""
    ribbon = int(_hs_round(line_len / ribbons))
    d = _d_best(line_len, ribbon, _Thunk(lambda: _d_reduce(doc())))
    out: List[str] = []
    k = 0
    # lay: at the start of a line with indentation k
    while True:
        tag = d[0]
        if tag == "NE":
            k += d[1]
            d = d[2]()
            continue
        if tag == "E":
            break
        if tag == "NA":
            out.append("\n")
            d = d[1]()
            continue
        if tag == "TB":
            out.append(" " * k)
            col = k
            # lay2: inside a line
            while True:
                tag = d[0]
                if tag == "TB":
                    out.append(d[1])
                    col += d[2]
                    d = d[3]()
                    continue
                if tag == "NE":
                    d = d[2]()
                    continue
                break
            if tag == "NA":
                out.append("\n")
                k = col
                d = d[1]()
                continue
            if tag == "E":
                break
        raise ValueError("display " + tag)  # pragma: no cover
    return "".join(out)


def _hs_round(x: float) -> int:
    """Haskell's ``round`` (half to even)."""
    return round(x)


def _pp_string_text(s: str) -> str:
    out = ['"']
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif unicodedata.category(c) == "Cc":
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _pp_doc(v) -> _Thunk:
    from htools.haskell.fmt import show_double
    if v is JSNULL:
        return _now(_d_text("null"))
    if isinstance(v, bool):
        return _now(_d_text("true" if v else "false"))
    if isinstance(v, int):
        return _now(_d_text(str(v)))
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return _now(_d_text(str(v.numerator)))
        return _now(_d_text(show_double(_to_double(v))))
    if isinstance(v, str):
        return _now(_d_text(_pp_string_text(v)))
    if isinstance(v, list):
        items = [_pp_doc(x) for x in v]
        return _pp_enclose("[", "]", items)
    if isinstance(v, JSObject):
        items = []
        for key, x in v.pairs:
            kdoc = _now(_d_text(_pp_string_text(key) + ":"))
            xdoc = _pp_doc(x)
            items.append(_now(_d_beside_(kdoc, True, xdoc)))
        return _pp_enclose("{", "}", items)
    raise TypeError(v)  # pragma: no cover


def _pp_enclose(left: str, right: str, items: List[_Thunk]) -> _Thunk:
    comma = _now(_d_text(","))
    punct = [_now(_d_beside_(x, False, comma)) for x in items[:-1]] + items[-1:]
    body = _Thunk(lambda: _d_fill(True, punct))
    opened = _now(_d_beside_(_now(_d_text(left)), False, body))
    return _now(_d_beside_(opened, False, _now(_d_text(right))))


def pp_value(v) -> str:
    """``show (pp_value v)``: Text.JSON.Pretty's rendering of a JSON value."""
    return _d_render(_pp_doc(v))


# ======================================================================
# readJSON at the types htools uses

Reader = Callable[[object], object]

#: Haskell's ``fromInteger :: Integer -> Int`` (the one wrap of htools.units)
_wrap_int = wrap_int64


def _to_double(r) -> float:
    try:
        return float(r)
    except OverflowError:
        return math.inf if r > 0 else -math.inf


def r_value(v):
    return v


def _is_number(v) -> bool:
    return isinstance(v, (int, Fraction)) and not isinstance(v, bool)


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


_ISPEC_FIELDS = _dict_object([
    ("memory-size", r_int), ("cpu-count", r_int), ("disk-size", r_int),
    ("disk-count", r_int), ("nic-count", r_int), ("spindle-use", r_int),
])


def r_ispec(v) -> ISpec:
    mem, cpu, dsize, dcount, nics, su = _ISPEC_FIELDS(v)
    return ISpec(memory_size=mem, cpu_count=cpu, disk_size=dsize,
                 disk_count=dcount, nic_count=nics, spindle_use=su)


_MINMAX_FIELDS = _dict_object([("min", r_ispec), ("max", r_ispec)])


def r_minmax(v) -> MinMaxISpecs:
    mn, mx = _MINMAX_FIELDS(v)
    return MinMaxISpecs(min_spec=mn, max_spec=mx)


r_disk_template = r_enum("DiskTemplate", {dt.value: dt for dt in DiskTemplate})
r_alloc_policy = r_enum("AllocPolicy", {ap.value: ap for ap in AllocPolicy})
r_hypervisor = r_enum("Hypervisor", {hv.value: hv for hv in Hypervisor})


class EvacMode(enum.Enum):
    """Node evacuation modes (Ganeti's ``EvacMode``)."""

    CHANGE_PRIMARY = "primary-only"
    CHANGE_SECONDARY = "secondary-only"
    CHANGE_ALL = "all"


r_evac_mode = r_enum("EvacMode", {m.value: m for m in EvacMode})

_IPOLICY_FIELDS = _dict_object([
    ("minmax", r_list(r_minmax)), ("std", r_ispec),
    ("disk-templates", r_list(r_disk_template)),
    ("vcpu-ratio", r_double), ("spindle-ratio", r_double),
])


def r_ipolicy(v) -> IPolicy:
    minmax, std, dts, vcpu, spindle = _IPOLICY_FIELDS(v)
    return IPolicy(minmax=tuple(minmax), std=std, disk_templates=tuple(dts),
                   vcpu_ratio=vcpu, spindle_ratio=spindle)


# ======================================================================
# Requests

@dataclass
class AllocDetails:
    """Number of nodes wanted and the (optional) target group name."""

    required_nodes: int
    group_name: Optional[str] = None


@dataclass
class Allocate:
    """Allocate one new instance (``instance.idx`` is -1, nodes 0/0)."""

    instance: Instance
    details: AllocDetails
    restrict_to_nodes: Optional[List[str]] = None


@dataclass
class AllocateSecondary:
    """Find a secondary node for an existing instance (its index)."""

    instance: int


@dataclass
class Relocate:
    """Move an instance's secondary/primary away from ``exclude_nodes``."""

    instance: int
    required_nodes: int
    exclude_nodes: List[int]


@dataclass
class NodeEvacuate:
    """Evacuate the given instances (indices) in ``mode``."""

    instances: List[int]
    mode: EvacMode


@dataclass
class ChangeGroup:
    """Move instances (indices) to one of the target groups (indices)."""

    instances: List[int]
    target_groups: List[int]


@dataclass
class MultiAllocate:
    """Allocate several new instances, in order."""

    requests: List[Tuple[Instance, AllocDetails]]


RequestType = Union[Allocate, AllocateSecondary, Relocate, NodeEvacuate,
                    ChangeGroup, MultiAllocate]


@dataclass
class Request:
    """A parsed request: its type and the (merged) cluster data."""

    rqtype: RequestType
    cdata: ClusterData
    warnings: List[str] = field(default_factory=list)


# ======================================================================
# The cluster parts of the message

_ADMIN_STATES = {
    "offline": InstanceStatus.ADMIN_OFFLINE,
    "down": InstanceStatus.ADMIN_DOWN,
    "up": InstanceStatus.RUNNING,
}
_NIC_MODES = ("bridged", "routed", "openvswitch")
_r_strings = r_list(r_string)


def _parse_nic(iname: str, obj: JSObject) -> Nic:
    mac = maybe_from_obj(obj, "mac", r_string)
    ip = maybe_from_obj(obj, "ip", r_string)
    mode = maybe_from_obj(obj, "mode", r_string)
    if mode is not None and mode not in _NIC_MODES:
        raise _Bad("invalid NIC mode in instance " + iname)
    link = maybe_from_obj(obj, "link", r_string)
    bridge = maybe_from_obj(obj, "bridge", r_string)
    network = maybe_from_obj(obj, "network", r_string)
    return Nic(mac=mac, ip=ip, mode=mode, link=link, bridge=bridge,
               network=network)


def _parse_base_instance(name: str, obj: JSObject) -> Instance:
    """Fields shared by cluster instances and instances to allocate."""
    owner = "invalid data for instance '%s'" % name

    def extract(key: str, reader: Reader):
        return try_from_obj(owner, obj, key, reader)

    disk = extract("disk_space_total", r_int)
    jsdisks = [as_jsobject(d) for d in to_array(extract("disks", r_value))]
    dsizes = [try_from_obj(owner, d, "size", r_int) for d in jsdisks]
    dspindles = [_annotate(owner, lambda d=d: maybe_from_obj(d, "spindles", r_int))
                 for d in jsdisks]
    disks = [Disk(size, sp) for size, sp in zip(dsizes, dspindles)]
    mem = extract("memory", r_int)
    vcpus = extract("vcpus", r_int)
    tags = extract("tags", _r_strings)
    dtemplate = extract("disk_template", r_disk_template)
    spindle_use = extract("spindle_use", r_int)
    nics = [_parse_nic(name, as_jsobject(x))
            for x in to_array(extract("nics", r_value))]
    # both fall back to their default on any error (missing, wrong type)
    found, val = obj.lookup("admin_state")
    run_st = InstanceStatus.RUNNING
    if found and isinstance(val, str):
        run_st = _ADMIN_STATES.get(val, InstanceStatus.RUNNING)
    elif found and isinstance(val, list):
        try:
            run_st = _ADMIN_STATES.get(r_string(val), InstanceStatus.RUNNING)
        except _Bad:
            pass
    found, val = obj.lookup("forthcoming")
    forthcoming = found and val is True
    return Instance(name=name, mem=mem, dsk=disk, disks=disks, vcpus=vcpus,
                    run_st=run_st, tags=tags, auto_balance=True, pnode=0,
                    snode=0, disk_template=dtemplate, spindle_use=spindle_use,
                    nics=nics, forthcoming=forthcoming)


def _lookup_node(ktn: Dict[str, int], iname: str, node: str) -> int:
    try:
        return ktn[node]
    except KeyError:
        raise _Bad("Unknown node '%s' for instance %s" % (node, iname)) from None


def _parse_instance(ktn: Dict[str, int], name: str, obj: JSObject) -> Instance:
    inst = _parse_base_instance(name, obj)
    nodes = from_obj(obj, "nodes", r_list(r_value))
    if not nodes:
        raise _Bad("empty node list for instance " + name)
    pnode = read_either_string(nodes[0])
    pidx = _lookup_node(ktn, name, pnode)
    if len(nodes) > 1:
        sidx = _lookup_node(ktn, name, read_either_string(nodes[1]))
    else:
        sidx = NO_SECONDARY
    inst.pnode = pidx
    inst.snode = sidx
    return inst


def _parse_node(ktg: Dict[str, int], name: str, obj: JSObject) -> Node:
    owner = "invalid data for node '%s'" % name

    def extract(key: str, reader: Reader):
        return try_from_obj(owner, obj, key, reader)

    offline = extract("offline", r_bool)
    drained = extract("drained", r_bool)
    guuid = extract("group", r_string)
    vm_capable = _annotate(owner, lambda: maybe_from_obj(obj, "vm_capable", r_bool))
    if vm_capable is None:
        vm_capable = True
    try:
        gidx = ktg[guuid]
    except KeyError:
        raise _Bad("Unknown group '%s' for node %s" % (guuid, name)) from None
    ndparams = as_jsobject(extract("ndparams", r_value))
    tags = from_obj_with_default(obj, "tags", [], _r_strings)
    excl_stor = try_from_obj(owner, ndparams, "exclusive_storage", r_bool)
    live = not offline and vm_capable

    def lvextract(default, key: str, reader: Reader):
        return extract(key, reader) if live else default

    if excl_stor:
        sptotal = lvextract(0, "total_spindles", r_int)
    else:
        sptotal = try_from_obj(owner, ndparams, "spindle_count", r_int)
    spfree = lvextract(0, "free_spindles", r_int)
    mtotal = lvextract(0.0, "total_memory", r_double)
    mnode = lvextract(0, "reserved_memory", r_int)
    mfree = lvextract(0, "free_memory", r_int)
    dtotal = lvextract(0.0, "total_disk", r_double)
    dfree = lvextract(0, "free_disk", r_int)
    ctotal = lvextract(0.0, "total_cpus", r_double)
    cnos = lvextract(0, "reserved_cpus", r_int)
    node = Node(name, mtotal, mnode, mfree, dtotal, dfree, ctotal, cnos,
                (not live) or drained, sptotal, spfree, gidx, excl_stor)
    node.tags = tags
    return node


def _parse_group(uuid: str, obj: JSObject) -> Group:
    owner = "invalid data for group '%s'" % uuid

    def extract(key: str, reader: Reader):
        return try_from_obj(owner, obj, key, reader)

    name = extract("name", r_string)
    apol = extract("alloc_policy", r_alloc_policy)
    nets = extract("networks", _r_strings)
    ipol = extract("ipolicy", r_ipolicy)
    tags = extract("tags", _r_strings)
    return Group(name=name, uuid=uuid, alloc_policy=apol, networks=nets,
                 ipolicy=ipol, tags=tags)


def _find_by_name(items, name: str):
    """htools' ``Container.findByName`` (exactly one element by any name)."""
    found = [it for it in items if name in it.all_names()]
    if len(found) != 1:
        raise _Bad("Wrong number of elems found with name " + name)
    return found[0]


class _InstNames:
    """An instance seen through htools' ``allNames`` (name and alias)."""

    __slots__ = ("inst",)

    def __init__(self, inst: Instance):
        self.inst = inst

    def all_names(self) -> Tuple[str, str]:
        return (self.inst.name, self.inst.alias)


def _update_tags(inst: Instance, ex_tags: Sequence[str],
                 dsrd: Sequence[str]) -> Instance:
    inst.excl_tags = [t for t in inst.tags if any(t.startswith(p) for p in ex_tags)]
    inst.dsrd_loc_tags = frozenset(
        t for t in inst.tags if any(t.startswith(p) for p in dsrd))
    return inst


# ======================================================================
# Top level

def _parse(text: str, static_n_mem: int) -> Request:
    try:
        decoded = decode_strict_object(text)
    except _Bad as err:
        raise _Bad("Parsing input IAllocator message: " + err.msg) from None

    def extr_obj(key: str, reader: Reader):
        return try_from_obj("invalid iallocator message", decoded, key, reader)

    request = extr_obj("request", r_object)

    def extr_req(key: str, reader: Reader, req: JSObject = request):
        return try_from_obj("invalid request dict", req, key, reader)

    # groups
    groups: List[Group] = []
    ktg: Dict[str, int] = {}
    for uuid, val in extr_obj("nodegroups", r_object).pairs:
        grp = _parse_group(uuid, as_jsobject(val))
        grp.idx = len(groups)
        ktg[uuid] = grp.idx
        groups.append(grp)
    # nodes
    nodes: List[Node] = []
    ktn: Dict[str, int] = {}
    for name, val in extr_obj("nodes", r_object).pairs:
        node = _parse_node(ktg, name, as_jsobject(val))
        node.idx = len(nodes)
        ktn[name] = node.idx
        nodes.append(node)
    # instances
    insts: List[Instance] = []
    kti: Dict[str, int] = {}
    for name, val in extr_obj("instances", r_object).pairs:
        inst = _parse_instance(ktn, name, as_jsobject(val))
        inst.idx = len(insts)
        kti[name] = inst.idx
        insts.append(inst)
    ctags = extr_obj("cluster_tags", _r_strings)
    ex_tags = extract_ex_tags(ctags)
    dsrd = extract_desired_locations(ctags)
    hypervisors = extr_obj("enabled_hypervisors", r_list(r_hypervisor))
    if hypervisors:
        for node in nodes:
            node.hypervisor = hypervisors[0]
    cdata = ClusterData(groups=groups, nodes=nodes, instances=insts,
                        tags=list(ctags), ipolicy=DEFAULT_IPOLICY)
    merge_data(cdata)
    msgs = update_missing(cdata, static_n_mem)

    def lookup_instance(name: str) -> int:
        try:
            return kti[name]
        except KeyError:
            raise _Bad("Unknown instance '%s'" % name) from None

    optype = extr_req("type", r_string)
    rqtype: RequestType
    if optype == "allocate":
        rname = extr_req("name", r_string)
        rgn = maybe_from_obj(request, "group_name", r_string)
        rest_nodes = maybe_from_obj(request, "restrict-to-nodes", _r_strings)
        req_nodes = extr_req("required_nodes", r_int)
        inew = _update_tags(_parse_base_instance(rname, request), ex_tags, dsrd)
        rqtype = Allocate(inew, AllocDetails(req_nodes, rgn), rest_nodes)
    elif optype == "relocate":
        rname = extr_req("name", r_string)
        ridx = lookup_instance(rname)
        req_nodes = extr_req("required_nodes", r_int)
        ex_nodes = extr_req("relocate_from", _r_strings)
        ex_idx = [_find_by_name(nodes, n).idx for n in ex_nodes]
        rqtype = Relocate(ridx, req_nodes, ex_idx)
    elif optype == "change-group":
        rl_names = extr_req("instances", _r_strings)
        named = [_InstNames(i) for i in insts]
        rl_insts = [_find_by_name(named, n).inst.idx for n in rl_names]
        gr_uuids = extr_req("target_groups", _r_strings)
        gr_idx = [_find_by_name(groups, g).idx for g in gr_uuids]
        rqtype = ChangeGroup(rl_insts, gr_idx)
    elif optype == "node-evacuate":
        rl_names = extr_req("instances", _r_strings)
        named = [_InstNames(i) for i in insts]
        rl_insts = [_find_by_name(named, n).inst.idx for n in rl_names]
        mode = extr_req("evac_mode", r_evac_mode)
        rqtype = NodeEvacuate(rl_insts, mode)
    elif optype == "multi-allocate":
        reqs = extr_req("instances", r_list(r_object))
        prqs = []
        for req in reqs:
            rname = extr_req("name", r_string, req)
            rgn = maybe_from_obj(request, "group_name", r_string)
            req_nodes = extr_req("required_nodes", r_int, req)
            inew = _update_tags(_parse_base_instance(rname, req), ex_tags, dsrd)
            prqs.append((inew, AllocDetails(req_nodes, rgn)))
        rqtype = MultiAllocate(prqs)
    elif optype == "allocate-secondary":
        rname = extr_req("name", r_string)
        rqtype = AllocateSecondary(lookup_instance(rname))
    else:
        raise _Bad("Invalid request type '%s'" % optype)
    return Request(rqtype, cdata, msgs)


def parse_request(text: str, static_n_mem: int = 0) -> Request:
    """Parse a request (htools' ``IAlloc.parseData``).

    The cluster data are merged and their memory statistics computed with
    ``static_n_mem`` (htools' ``--static-kvm-node-memory``; 0 keeps the
    reported node memory); ``Request.warnings`` holds the consistency
    warnings.  Raises :class:`IAllocError` with htools' message.
    """
    try:
        return _parse(text, static_n_mem)
    except _Bad as err:
        raise IAllocError(err.msg) from None


def _read_input(path: str) -> str:
    from backends.text import (_io_error_text, decode_error, decode_prefix,
                               read_file_bytes)
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            raw = read_file_bytes(path)
    except OSError as err:
        raise LoadError(_io_error_text(path, err)) from None
    text, complete = decode_prefix(raw)
    if not complete:
        # decodeStrict reads the whole document (its end is checked)
        raise LoadError(decode_error("<stdin>" if path == "-" else path))
    return text


def read_request(path: str, static_n_mem: int = 0,
                 prog: Optional[str] = None) -> Request:
    """htools' ``readRequest``: read ``path`` (``-`` is stdin) and parse it.

    A parse error is fatal right here, as in htools: ``Error: <message>``
    on stderr and exit status 1 (no "failed to load data" prefix).
    Consistency warnings are shown on stderr regardless of the verbosity.
    A file that cannot be read raises :class:`LoadError` (``-I``: the
    common pipeline reports it as a load failure); with ``prog`` (hail,
    where the reference does not catch it) the error is printed like
    GHC's top-level handler does, ``<prog>: <message>``, and the program
    exits with status 1.
    """
    from htools.report import show_warnings
    try:
        text = _read_input(path)
    except LoadError as err:
        if prog is None:
            raise
        _die("%s: %s" % (prog, err.message))
    try:
        req = parse_request(text, static_n_mem)
    except IAllocError as err:
        _die("Error: " + err.message)
    show_warnings(req.warnings)
    return req


def _die(line: str):
    sys.stdout.flush()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    raise SystemExit(1)


def load_cluster(path: str, static_n_mem: int = 0) -> ClusterData:
    """The ``-I FILE`` backend (htools' ``IAlloc.loadData``).

    Returns the request's cluster data, already merged once (see the module
    notes: the common pipeline merges it again, as htools does).
    """
    return read_request(path, static_n_mem).cdata
