"""The parts every HTML report is made of: the document, its CSS, tables,
inline SVG bars, curves and histograms, and the atomic write.

Plain string building with :func:`html.escape`; no JavaScript, nothing
loaded from elsewhere: the page opens from a file on a machine without
network.  Colours are CSS variables (light and dark, by
``prefers-color-scheme``) and SVG shapes take theirs from CSS classes, so
the charts follow the theme.  Figures a test compares with the tool's
output are carried by ``data-`` attributes.
"""
from __future__ import annotations

import html
import os
import tempfile
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Sequence, Tuple

from htools.errors import HtoolsError

#: at most this many nodes get bars; larger clusters get histograms and
#: the nodes with the highest values (every node stays in the tables)
MAX_BARS = 40


class Raw(str):
    """Markup that is inserted as it is (already built or escaped)."""


def esc(value) -> str:
    """``value`` as HTML text (``Raw`` passes through)."""
    if isinstance(value, Raw):
        return value
    return html.escape(str(value), quote=True)


def attrs(pairs: Iterable[Tuple[str, object]]) -> str:
    """`` name="value"`` for each pair whose value is not None."""
    return "".join(' %s="%s"' % (k, esc(v)) for k, v in pairs if v is not None)


def tag(name: str, content="", cls: Optional[str] = None, **kw) -> Raw:
    """``<name class=...>content</name>``; keyword ``data_x`` is ``data-x``."""
    items = [("class", cls)] + [(k.replace("_", "-"), v) for k, v in kw.items()]
    return Raw("<%s%s>%s</%s>" % (name, attrs(items), esc(content), name))


CSS = """
:root{--bg:#fbfbfd;--fg:#1d1f24;--muted:#5d6472;--card:#fff;--line:#d9dce3;
--track:#e8eaf0;--before:#9aa7bd;--after:#2f6fd6;--mem:#2f6fd6;--dsk:#1f9d74;
--cpu:#c46a14;--new:#d43d8f;--free:#e8eaf0;--bad:#c62828;--ok:#2e7d32;
--warn:#b26a00;--curve:#2f6fd6;--grid:#e3e6ec}
@media (prefers-color-scheme:dark){:root{--bg:#121418;--fg:#e4e6eb;
--muted:#9aa3b2;--card:#1b1e24;--line:#343945;--track:#2a2e37;--before:#5c6780;
--after:#6ea8ff;--mem:#6ea8ff;--dsk:#4fd1a5;--cpu:#f0a050;--new:#ff7ac0;
--free:#2a2e37;--bad:#ff6b6b;--ok:#66bb6a;--warn:#f0b429;--curve:#6ea8ff;
--grid:#2a2e37}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header,main{max-width:78rem;margin:0 auto;padding:0 1rem}
header{padding-top:1.2rem}
h1{font-size:1.45rem;margin:.2rem 0}
h2{font-size:1.15rem;margin:0 0 .6rem}
h3{font-size:1rem;margin:.8rem 0 .4rem}
.sub{color:var(--muted);margin:0 0 .8rem}
section{background:var(--card);border:1px solid var(--line);border-radius:.6rem;
padding:1rem;margin:0 0 1rem;overflow-x:auto}
.cards{display:grid;gap:.7rem;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));
margin:0 0 1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;
padding:.6rem .8rem}
.card .v{font-size:1.1rem;font-weight:600;font-variant-numeric:tabular-nums;
overflow-wrap:anywhere}
.card .k{color:var(--muted);font-size:.85rem}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr))}
.scroll{overflow:auto;max-height:32rem;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:.25rem .5rem;border-bottom:1px solid var(--line);text-align:left;
vertical-align:top}
th{position:sticky;top:0;background:var(--card);z-index:1}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.bars{min-width:9rem;width:22%}
td:first-child{white-space:nowrap}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
font-size:.85rem}
pre{overflow:auto;background:var(--bg);padding:.6rem;border-radius:.4rem;margin:0}
svg{display:block}
svg.bar{width:100%;height:1.1rem}
svg.chart{width:100%;height:auto;max-height:22rem}
svg text{fill:var(--muted);font:11px system-ui,sans-serif}
.track{fill:var(--track)}.before{fill:var(--before)}.after{fill:var(--after)}
.mem{fill:var(--mem)}.dsk{fill:var(--dsk)}.cpu{fill:var(--cpu)}
.new{fill:var(--new)}.free{fill:var(--free)}.used{fill:var(--before)}
.curve{fill:none;stroke:var(--curve);stroke-width:2}
.dot{fill:var(--curve)}.gridline{stroke:var(--grid);stroke-width:1}
.axis{stroke:var(--muted);stroke-width:1}
.bad{color:var(--bad);font-weight:600}.ok{color:var(--ok)}.warn{color:var(--warn)}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1rem;color:var(--muted);
font-size:.85rem;margin:.3rem 0 .6rem}
.sw{display:inline-block;width:.8rem;height:.8rem;border-radius:.15rem;
vertical-align:-.1rem;margin-right:.3rem}
.sw.before{background:var(--before)}.sw.after{background:var(--after)}
.sw.new{background:var(--new)}.sw.free{background:var(--free);
border:1px solid var(--line)}.sw.used{background:var(--before)}
.note{color:var(--muted);font-size:.85rem;margin:.4rem 0}
details summary{cursor:pointer;color:var(--muted);margin:.3rem 0}
footer{color:var(--muted);font-size:.8rem;text-align:center;padding:1rem}
@media (max-width:40rem){body{font-size:14px}section{padding:.7rem}
.cards{grid-template-columns:repeat(2,minmax(0,1fr))}.card .v{font-size:1rem}
th,td{padding:.2rem .3rem}td.bars{min-width:4.5rem}.hide-s{display:none}}
"""


def document(title: str, tool: str, subtitle: str, parts: Sequence[str]) -> str:
    """The whole page: ``parts`` (sections, already built) under a header."""
    from htools.constants import VERSION
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n",
        "<meta name=\"color-scheme\" content=\"light dark\">\n",
        "<meta name=\"generator\" content=\"htools-py, %s %s\">\n" % (esc(tool), esc(VERSION)),
        "<title>%s</title>\n<style>%s</style>\n</head>\n" % (esc(title), CSS),
        "<body data-tool=\"%s\">\n<header><h1>%s</h1>" % (esc(tool), esc(title)),
        "<p class=\"sub\">%s</p></header>\n<main>\n" % esc(subtitle),
        "\n".join(parts),
        "\n</main>\n<footer>%s report of htools-py (%s %s)</footer>\n</body>\n</html>\n"
        % (esc(tool), esc(tool), esc(VERSION)),
    ])


def section(title: str, ident: str, *content: str) -> Raw:
    return Raw("<section id=\"%s\"><h2>%s</h2>\n%s\n</section>"
               % (esc(ident), esc(title), "\n".join(esc(c) for c in content)))


def cards(items: Sequence[Tuple[str, str, Optional[str]]]) -> Raw:
    """Summary figures: (label, value, data key or None) each."""
    out = ["<div class=\"cards\">"]
    for label, value, key in items:
        out.append("<div class=\"card\"%s><div class=\"v\">%s</div>"
                   "<div class=\"k\">%s</div></div>"
                   % (attrs([("data-key", key), ("data-value", value if key else None)]),
                      esc(value), esc(label)))
    out.append("</div>")
    return Raw("".join(out))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]],
          numeric: Sequence[bool] = (), row_attrs: Optional[Sequence] = None,
          cls: Optional[str] = None, scroll: bool = False,
          hide_small: Sequence[bool] = ()) -> Raw:
    """A table; ``numeric[i]`` right-aligns column i; ``row_attrs[r]`` are
    (name, value) pairs for row r; ``hide_small[i]`` hides column i on
    narrow screens."""
    def ccls(i: int, extra: str = "") -> str:
        names = []
        if i < len(numeric) and numeric[i]:
            names.append("n")
        if i < len(hide_small) and hide_small[i]:
            names.append("hide-s")
        if extra:
            names.append(extra)
        return ' class="%s"' % " ".join(names) if names else ""
    out = ["<table%s><thead><tr>" % attrs([("class", cls)])]
    out += ["<th%s>%s</th>" % (ccls(i), esc(h)) for i, h in enumerate(headers)]
    out.append("</tr></thead><tbody>")
    for r, row in enumerate(rows):
        extra = attrs(row_attrs[r]) if row_attrs is not None else ""
        out.append("<tr%s>" % extra)
        for i, cell in enumerate(row):
            bars = isinstance(cell, Raw) and cell.startswith("<svg class=\"bar")
            out.append("<td%s>%s</td>" % (ccls(i, "bars" if bars else ""), esc(cell)))
        out.append("</tr>")
    out.append("</tbody></table>")
    text = "".join(out)
    if scroll:
        text = "<div class=\"scroll\">%s</div>" % text
    return Raw(text)


def legend(items: Sequence[Tuple[str, str]]) -> Raw:
    """(swatch class, label) each."""
    return Raw("<div class=\"legend\">%s</div>" % "".join(
        "<span><i class=\"sw %s\"></i>%s</span>" % (esc(c), esc(t)) for c, t in items))


def _num(x: float) -> str:
    return ("%.2f" % x).rstrip("0").rstrip(".")


def _clip(frac: float) -> float:
    if frac != frac:          # NaN
        return 0.0
    return max(0.0, min(1.0, frac))


def bar_pair(before: float, after: float, title: str, cls: str = "after") -> Raw:
    """Two bars, before (upper, muted) and after (lower), each 0..1."""
    b, a = _clip(before) * 100, _clip(after) * 100
    return Raw(
        "<svg class=\"bar\" viewBox=\"0 0 100 12\" preserveAspectRatio=\"none\" "
        "role=\"img\"><title>%s</title>"
        "<rect class=\"track\" x=\"0\" y=\"0\" width=\"100\" height=\"12\"/>"
        "<rect class=\"before\" x=\"0\" y=\"1\" width=\"%s\" height=\"4.5\"/>"
        "<rect class=\"%s\" x=\"0\" y=\"6.5\" width=\"%s\" height=\"4.5\"/></svg>"
        % (esc(title), _num(b), esc(cls), _num(a)))


def stacked_bar(segments: Sequence[Tuple[float, str]], title: str) -> Raw:
    """One bar of consecutive segments (fraction, class), fractions of 1."""
    out = ["<svg class=\"bar\" viewBox=\"0 0 100 12\" preserveAspectRatio=\"none\" "
           "role=\"img\"><title>%s</title>"
           "<rect class=\"track\" x=\"0\" y=\"0\" width=\"100\" height=\"12\"/>"
           % esc(title)]
    x = 0.0
    for frac, cls in segments:
        w = min(_clip(frac) * 100, 100 - x)
        if w > 0:
            out.append("<rect class=\"%s\" x=\"%s\" y=\"1\" width=\"%s\" height=\"10\"/>"
                       % (esc(cls), _num(x), _num(w)))
            x += w
    out.append("</svg>")
    return Raw("".join(out))


def _ticks(lo: float, hi: float, n: int = 4) -> List[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / n for i in range(n + 1)]


def _label(x: float) -> str:
    return "%.4g" % x


def line_chart(values: Sequence[float], title: str, xlabel: str, ylabel: str) -> Raw:
    """A curve of ``values`` over their index (0 = start), with axes."""
    w, h, left, bottom, top, right = 640, 240, 56, 34, 12, 12
    pw, ph = w - left - right, h - top - bottom
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1
    lo = min(lo, 0.0) if lo >= 0 and lo < (hi - lo) else lo
    n = max(len(values) - 1, 1)

    def px(i: int) -> float:
        return left + pw * i / n

    def py(v: float) -> float:
        return top + ph * (1 - (v - lo) / (hi - lo))
    out = ["<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\"><title>%s</title>"
           % (w, h, esc(title))]
    for t in _ticks(lo, hi):
        y = py(t)
        out.append("<line class=\"gridline\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                   % (left, w - right, y, y))
        out.append("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>"
                   % (left - 4, y + 4, esc(_label(t))))
    step = max(1, n // 8)
    for i in list(range(0, n + 1, step)) + ([n] if n % step else []):
        out.append("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>"
                   % (px(i), h - bottom + 16, i))
    out.append("<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>"
               % (left, w - right, top + ph, top + ph))
    out.append("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>"
               % (left + pw // 2, h - 2, esc(xlabel)))
    out.append("<text x=\"12\" y=\"%d\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 12 %d)\">%s</text>"
               % (top + ph // 2, top + ph // 2, esc(ylabel)))
    pts = " ".join("%.1f,%.1f" % (px(i), py(v)) for i, v in enumerate(values))
    out.append("<polyline class=\"curve\" points=\"%s\"/>" % pts)
    if len(values) <= 60:
        for i, v in enumerate(values):
            out.append("<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\">"
                       "<title>%d: %s</title></circle>" % (px(i), py(v), i, esc(_label(v))))
    out.append("</svg>")
    return Raw("".join(out))


def histogram(series: Sequence[Tuple[str, Sequence[float]]], title: str,
              xlabel: str, bins: int = 20) -> Raw:
    """Side-by-side histograms of each (class, values) series over 0..1
    (values beyond are counted in the last bin)."""
    w, h, left, bottom, top = 360, 190, 34, 34, 10
    pw, ph = w - left - 10, h - top - bottom
    counts = []
    for _cls, vals in series:
        c = [0] * bins
        for v in vals:
            c[min(bins - 1, max(0, int(_clip(v) * bins)))] += 1
        counts.append(c)
    peak = max([max(c) for c in counts] + [1])
    out = ["<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\"><title>%s</title>"
           % (w, h, esc(title))]
    for t in _ticks(0, peak, 2):
        y = top + ph * (1 - t / peak)
        out.append("<line class=\"gridline\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d</text>"
                   % (left, w - 10, y, y, left - 4, y + 4, round(t)))
    bw = pw / bins
    k = len(series)
    for b in range(bins):
        for s, (cls, _vals) in enumerate(series):
            c = counts[s][b]
            if not c:
                continue
            bh = ph * c / peak
            out.append("<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                       "height=\"%.1f\"><title>%d%%-%d%%: %d</title></rect>"
                       % (esc(cls), left + b * bw + 1 + s * (bw - 2) / k, top + ph - bh,
                          (bw - 2) / k, bh, b * 100 // bins, (b + 1) * 100 // bins, c))
    for i in range(0, 101, 25):
        out.append("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d%%</text>"
                   % (left + pw * i / 100, h - bottom + 16, i))
    out.append("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>"
               % (left + pw // 2, h - 2, esc(xlabel)))
    out.append("</svg>")
    return Raw("".join(out))


def check_target(path: str) -> None:
    """Fail early (one error line) if the report cannot be written there."""
    if not path:
        raise HtoolsError("--html-report: empty file name")
    if os.path.isdir(path):
        raise HtoolsError("cannot write the HTML report %s: it is a directory" % path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise HtoolsError("cannot write the HTML report %s: no directory %s"
                          % (path, folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HtoolsError("cannot write the HTML report %s: directory %s is not "
                          "writable" % (path, folder))


def write_report(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same
    directory, then a rename); any failure is one error line."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".html-report-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise HtoolsError("cannot write the HTML report %s: %s"
                          % (path, err.strerror or err)) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
