"""GHC's ``reads``/``tryRead`` for numbers, as Ganeti's ``tryRead`` uses them.

The reference parses numbers with GHC's ``Read`` instances, which accept a
few things Python's ``int()``/``float()`` do not (and reject others):

* leading white space, any number of enclosing parentheses
  (``"( (5) )"``), a separate minus sign (``"- 5"``, ``"(-5)"``);
* ``0x``/``0X`` hexadecimal and ``0o``/``0O`` octal literals;
* integers must not have a fraction or exponent (``"1e5"``, ``"1.5"`` are
  rejected), doubles need digits on both sides of the dot (``"1."`` leaves
  ``"."`` over, ``".5"`` is rejected), ``NaN`` and ``Infinity`` are doubles;
* ``Int`` wraps around on overflow (64 bit), ``Integer`` does not.

``try_read_int``/``try_read_double`` raise :class:`ReadError` with the very
messages of Ganeti's ``tryRead`` (``"<name>: cannot parse string '<s>'"``,
``"<name>: leftover characters when parsing '<s>': '<rest>'"``); uncaught,
it ends the program as an ``Error:`` line like any :class:`HtoolsError`.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Optional

from htools.errors import HtoolsError
from htools.haskell.prelude import INT_MAX as _INT64_MAX
from htools.haskell.prelude import INT_MIN as _INT64_MIN
from htools.haskell.prelude import wrap_int64

__all__ = ["ReadError", "reads_int", "reads_double", "try_read_int",
           "try_read_double", "read_integer", "read_int_maybe"]


class ReadError(HtoolsError, ValueError):
    """A value could not be parsed; ``str(exc)`` is the reference's text."""


# Fast paths for the overwhelmingly common plain forms, written out instead
# of as regular expressions (``re`` costs the tools' start-up milliseconds).

def _plain_int(s: str) -> bool:
    """``-?[0-9]+``, the whole string."""
    if s[:1] == "-":
        s = s[1:]
    return s.isascii() and s.isdigit()


def _plain_double(s: str) -> bool:
    """``-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]{1,18})?``, the whole string."""
    if not s.isascii():
        return False
    if s[:1] == "-":
        s = s[1:]
    mant, sep, exp = s.replace("E", "e").partition("e")
    if sep:
        if exp[:1] in ("+", "-"):
            exp = exp[1:]
        if not (len(exp) <= 18 and exp.isdigit()):
            return False
    whole, dot, frac = mant.partition(".")
    return whole.isdigit() and (not dot or frac.isdigit())

# Characters GHC's lexer treats as punctuation / symbol characters.
_PUNC = ",;()[]{}`"
_ASCII_SYMBOL = "!#$%&*+./<=>?@\\^|-~:"


def _is_symbol_char(c: str) -> bool:
    if c in _PUNC:
        return False
    if c.isascii():
        return c in _ASCII_SYMBOL
    import unicodedata
    cat = unicodedata.category(c)
    if cat in ("Sm", "Sc", "Sk", "So", "Pd"):
        return True
    if cat == "Po":
        return c not in "'\""
    if cat == "Pc":
        return c != "_"
    return False


def _skip_spaces(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i].isspace():
        i += 1
    return i


def _digits(s: str, i: int, base: int) -> int:
    """End index of the run of base-``base`` digits starting at ``i``."""
    n = len(s)
    if base == 10:
        valid = "0123456789"
    elif base == 16:
        valid = "0123456789abcdefABCDEF"
    else:
        valid = "01234567"
    while i < n and s[i] in valid:
        i += 1
    return i


def _lex(s: str, i: int):
    """Lex one GHC token at ``i`` (after white space).

    Returns ``(kind, payload, end)`` or None.  kinds: ``"punc"`` (payload
    the char), ``"sym"`` (the symbol string), ``"ident"`` (the name),
    ``"num"`` (payload ``(base, intdigits, frac, exp)``).
    """
    i = _skip_spaces(s, i)
    n = len(s)
    if i >= n:
        return None
    c = s[i]
    if c in _PUNC:
        return ("punc", c, i + 1)
    if c in "0123456789":
        # hexadecimal / octal first
        if c == "0" and i + 1 < n and s[i + 1] in "xXoO":
            base = 16 if s[i + 1] in "xX" else 8
            j = _digits(s, i + 2, base)
            if j > i + 2:
                return ("num", (base, s[i + 2:j], None, None), j)
        j = _digits(s, i, 10)
        ipart = s[i:j]
        frac = None
        if j + 1 < n and s[j] == "." and s[j + 1] in "0123456789":
            k = _digits(s, j + 1, 10)
            frac = s[j + 1:k]
            j = k
        exp = None
        if j < n and s[j] in "eE":
            k = j + 1
            sign = 1
            if k < n and s[k] in "+-":
                sign = -1 if s[k] == "-" else 1
                k += 1
            m = _digits(s, k, 10)
            if m > k:
                exp = sign * int(s[k:m])
                j = m
        return ("num", (10, ipart, frac, exp), j)
    if c.isalpha() or c == "_":
        j = i + 1
        while j < n and (s[j].isalnum() or s[j] in "_'"):
            j += 1
        return ("ident", s[i:j], j)
    if _is_symbol_char(c):
        j = i + 1
        while j < n and _is_symbol_char(s[j]):
            j += 1
        return ("sym", s[i:j], j)
    return ("other", c, i + 1)


def _conv_int(tok):
    if tok is None or tok[0] != "num":
        return None
    base, ipart, frac, exp = tok[1]
    if base != 10:
        return int(ipart, base)
    if frac is not None or exp is not None:
        return None
    return int(ipart)


def _conv_double(tok):
    if tok is None:
        return None
    kind, payload, _ = tok
    if kind == "ident":
        if payload == "NaN":
            return float("nan")
        if payload == "Infinity":
            return float("inf")
        return None
    if kind != "num":
        return None
    base, ipart, frac, exp = payload
    if base != 10:
        try:
            return float(int(ipart, base))
        except OverflowError:
            return float("inf")
    if exp is not None and not (_INT64_MIN <= exp <= _INT64_MAX):
        return float("inf")  # GHC: exponent outside Int range -> 1/0
    text = ipart + ("." + frac if frac else "") + ("e%d" % exp if exp else "")
    try:
        return float(text)
    except OverflowError:  # pragma: no cover - float() returns inf
        return float("inf")


def _read_number(s: str, i: int, conv, depth: int = 0):
    """GHC ``readNumber`` wrapped in ``parens``: list of (value, end)."""
    results = []
    tok = _lex(s, i)
    if tok is None:
        return results
    if tok[0] == "sym" and tok[1] == "-":
        tok2 = _lex(s, tok[2])
        v = conv(tok2)
        if v is not None:
            results.append((-v, tok2[2]))
    elif tok[0] == "punc" and tok[1] == "(":
        if depth < 1000:
            for v, j in _read_number(s, tok[2], conv, depth + 1):
                close = _lex(s, j)
                if close is not None and close[0] == "punc" and close[1] == ")":
                    results.append((v, close[2]))
    else:
        v = conv(tok)
        if v is not None:
            results.append((v, tok[2]))
    return results


def reads_int(s: str):
    """``reads s :: [(Int, String)]``."""
    if _plain_int(s):
        return [(wrap_int64(int(s)), "")]
    return [(wrap_int64(v), s[j:]) for v, j in _read_number(s, 0, _conv_int)]


def reads_double(s: str):
    """``reads s :: [(Double, String)]``."""
    if _plain_double(s):
        return [(float(s), "")]
    return [(v, s[j:]) for v, j in _read_number(s, 0, _conv_double)]


def _parse_choices(name: str, s: str, res):
    if len(res) == 1:
        v, rest = res[0]
        if rest == "":
            return v
        raise ReadError("%s: leftover characters when parsing '%s': '%s'"
                        % (name, s, rest))
    raise ReadError("%s: cannot parse string '%s'" % (name, s))


def try_read_int(name: str, s: str) -> int:
    """Ganeti's ``tryRead name s`` at type Int."""
    if _plain_int(s):
        return wrap_int64(int(s))
    return _parse_choices(name, s, reads_int(s))


def try_read_double(name: str, s: str) -> float:
    """Ganeti's ``tryRead name s`` at type Double."""
    if _plain_double(s):
        return float(s)
    return _parse_choices(name, s, reads_double(s))



def read_integer(s: str) -> Optional[int]:
    """``tryRead`` at type Integer (no wrap), None when it does not parse."""
    if _plain_int(s):
        return int(s)
    res = _read_number(s, 0, _conv_int)
    if len(res) == 1 and res[0][1] == len(s):
        return res[0][0]
    return None


def read_int_maybe(s: str) -> Optional[int]:
    """``tryRead`` at type Int (64-bit wrap-around), None when it does not parse."""
    v = read_integer(s)
    return None if v is None else wrap_int64(v)
