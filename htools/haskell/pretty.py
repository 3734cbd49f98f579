"""``Text.JSON.Pretty``'s ``pp_value``, rendered like ``show`` of a HughesPJ Doc.

htools prints JSON values this way in some messages (the iallocator
request's echo, Luxi answers it does not understand).
"""
from __future__ import annotations

import unicodedata
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Sequence

from htools.haskell.fmt import show_double
from htools.haskell.jsvalue import JSNULL, JSObject, Ratio
from htools.haskell.jsvalue import to_double as _to_double


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
    if v is JSNULL:
        return _now(_d_text("null"))
    if isinstance(v, bool):
        return _now(_d_text("true" if v else "false"))
    if isinstance(v, int):
        return _now(_d_text(str(v)))
    if isinstance(v, Ratio):
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
