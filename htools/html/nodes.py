"""Per-node figures of a report: bars of memory, disk and vCPU use, in one
state or before and after a change, and the table of every node.

The figures are the node-list fields the tools print with ``-p``
(:func:`htools.report.show_node_field`), so a page and ``-p`` agree; the
bars draw the used share (1 - p_fmem, 1 - p_fdsk, r_cpu against the
highest ratio).  Up to :data:`page.MAX_BARS` nodes get bars; beyond that
the page shows histograms of every node and bars for the busiest nodes
only, and every node is in the scrolled table.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

from htools.html.page import (
    MAX_BARS, Raw, bar_pair, esc, histogram, legend, stacked_bar, table, tag,
)
from htools.model import Node
from htools.report import show_node_field

#: (label, css class, -p field, used share of a node)
RESOURCES: Tuple[Tuple[str, str, str, Callable[[Node], float]], ...] = (
    ("memory", "mem", "pfmem", lambda n: 1.0 - n.p_mem),
    ("disk", "dsk", "pfdsk", lambda n: 1.0 - n.p_dsk),
    ("vCPU ratio", "cpu", "rcpu", lambda n: n.p_cpu),
)
#: fields of the node table (-p names), after the name
TABLE_FIELDS = ("status", "fmem", "pfmem", "fdsk", "pfdsk", "ucpu", "rcpu",
                "pcnt", "scnt")
TABLE_HEADERS = ("F", "f_mem", "p_fmem", "f_dsk", "p_fdsk", "vcpu", "r_cpu",
                 "pcnt", "scnt")
LOAD_FIELDS = ("cload", "mload", "dload", "nload")
LOAD_HEADERS = ("lCpu", "lMem", "lDsk", "lNet")


def field(n: Node, name: str) -> str:
    """The ``-p`` text of a node field, without its padding."""
    return show_node_field(n, name).strip()


def _has_loads(nodes: Sequence[Node]) -> bool:
    for n in nodes:
        u = n.util_load
        if u.cpu or u.mem or u.dsk or u.net:
            return True
    return False


def _cpu_scale(states: Sequence[Sequence[Node]]) -> float:
    top = max([n.p_cpu for ns in states for n in ns if n.p_cpu == n.p_cpu] + [1.0])
    return top


def _share(res, n: Node, cpu_scale: float) -> float:
    _label, cls, _f, fn = res
    v = fn(n)
    return v / cpu_scale if cls == "cpu" else v


def _bar_cell(res, b: Node, a: Optional[Node], cpu_scale: float,
              stacked: bool = False) -> Raw:
    label, cls, fname, _fn = res
    if a is not None and stacked:
        used, now = _share(res, b, cpu_scale), _share(res, a, cpu_scale)
        return stacked_bar([(used, "used"), (max(0.0, now - used), "new")],
                           "%s %s: %s %s before, %s after"
                           % (b.alias, label, fname, field(b, fname), field(a, fname)))
    if a is None:
        return stacked_bar([(_share(res, b, cpu_scale), cls)],
                           "%s %s: %s %s" % (b.alias, label, fname, field(b, fname)))
    return bar_pair(_share(res, b, cpu_scale), _share(res, a, cpu_scale),
                    "%s %s: %s %s before, %s after"
                    % (b.alias, label, fname, field(b, fname), field(a, fname)), cls)


def _busiest(pairs, cpu_scale: float, count: int):
    def heat(p):
        b, a = p
        return max(_share(r, n, cpu_scale) for r in RESOURCES
                   for n in ((b,) if a is None else (b, a)) if not n.offline) \
            if not b.offline else -1.0
    return sorted(pairs, key=lambda p: (-heat(p), p[0].idx))[:count]


def node_parts(before: Sequence[Node], after: Optional[Sequence[Node]] = None,
               what: str = "nodes", stacked: bool = False) -> List[Raw]:
    """Bars (or histograms and the busiest nodes) and the node table.

    ``after`` (same nodes, by index) adds the state after the change: a
    bar before and one after, or with ``stacked`` one bar of the use
    before and what the change adds.
    """
    after_by: Dict[int, Node] = {n.idx: n for n in after} if after is not None else {}
    pairs = [(b, after_by.get(b.idx) if after is not None else None)
             for b in sorted(before, key=lambda n: n.idx)]
    states = [before] + ([after] if after is not None else [])
    scale = _cpu_scale(states)
    parts: List[Raw] = []
    if after is not None and stacked:
        parts.append(legend([("used", "in use"), ("new", "new instances"),
                             ("free", "free")]))
    elif after is not None:
        parts.append(legend([("before", "before"), ("after", "after")]))
    many = len(pairs) > MAX_BARS
    if many:
        parts.append(tag("p", "%d %s: the distribution of every node's use, then "
                         "bars for the %d busiest; every node is in the table "
                         "below." % (len(pairs), what, MAX_BARS), "note"))
        hists = []
        for res in RESOURCES:
            label, cls = res[0], res[1]
            series = [("before" if after is not None else cls,
                       [_share(res, b, scale) for b, _ in pairs if not b.offline])]
            if after is not None:
                series.append(("after", [_share(res, a, scale) for _, a in pairs
                                         if a is not None and not a.offline]))
            hists.append("<div>%s%s</div>" % (
                tag("h3", "%s used (share of nodes)" % label),
                histogram(series, "%s use of %d nodes" % (label, len(pairs)),
                          "used" if cls != "cpu" else "of the highest r_cpu")))
        if stacked and after is not None:
            parts.append(legend([("before", "before"), ("after", "after")]))
        parts.append(Raw("<div class=\"grid\" data-histograms=\"%d\">%s</div>"
                         % (len(hists), "".join(hists))))
        shown = _busiest(pairs, scale, MAX_BARS)
        parts.append(tag("h3", "The %d busiest nodes" % MAX_BARS))
    else:
        shown = pairs
    rows, rattrs = [], []
    for b, a in shown:
        rows.append([b.alias] + [_bar_cell(r, b, a, scale, stacked) for r in RESOURCES])
        rattrs.append([("data-bar-node", b.alias)])
    parts.append(table(["node"] + ["%s used" % r[0] for r in RESOURCES], rows,
                       row_attrs=rattrs, cls="nodebars"))
    parts.append(node_table(pairs, after is not None))
    return parts


def node_table(pairs, two: bool) -> Raw:
    """Every node's printed fields (before -> after when ``two``)."""
    nodes = [b for b, _ in pairs] + [a for _, a in pairs if a is not None]
    fields = TABLE_FIELDS + (LOAD_FIELDS if _has_loads(nodes) else ())
    headers = TABLE_HEADERS + (LOAD_HEADERS if _has_loads(nodes) else ())
    rows, rattrs = [], []
    for b, a in pairs:
        row: List[object] = [b.alias]
        ra = [("data-node", b.alias)]
        for f in fields:
            vb = field(b, f)
            ra.append(("data-%s" % f, vb))
            if two and a is not None:
                va = field(a, f)
                ra.append(("data-%s-after" % f, va))
                row.append(vb if va == vb else Raw("%s&#8594;<b>%s</b>"
                                                   % (esc(vb), esc(va))))
            else:
                row.append(vb)
        rows.append(row)
        rattrs.append(ra)
    numeric = [False, False] + [True] * (len(fields) - 1)
    hide = [False, False, True, False, True, False, True, False, True, True] + \
        [True] * len(LOAD_FIELDS)
    return Raw("<details%s><summary>all %d nodes: the -p fields%s</summary>%s</details>"
               % (" open" if len(pairs) <= MAX_BARS else "", len(pairs),
                  " (before &#8594; after)" if two else "",
                  table(["name"] + list(headers), rows, numeric=numeric,
                        row_attrs=rattrs, cls="nodes", scroll=True,
                        hide_small=hide)))


def metric_rows(nodes) -> List[tuple]:
    """(name, weight, value, weighted value) of the 20 metrics; weight and
    value as ``print_stats`` shows them."""
    from htools import metrics
    from htools.haskell.fmt import fmt_f
    return [(name, "x" + fmt_f(w, 2), fmt_f(val, 8), w * val) for w, name, val in
            zip(metrics.WEIGHTS, metrics.NAMES, metrics.detailed_cv(nodes))]


def metrics_table(before: Sequence[Node], after: Optional[Sequence[Node]] = None) -> Raw:
    """The 20 metrics of the score (before and after a change), with bars of
    their weighted share: what the score is made of."""
    brows = metric_rows(before)
    arows = metric_rows(after) if after is not None else None
    top = max([r[3] for r in brows + (arows or []) if r[3] == r[3]] + [1e-12])
    rows, rattrs = [], []
    for i, (name, weight, val, contrib) in enumerate(brows):
        row = [name, weight, val]
        ra = [("data-metric", name), ("data-before", val)]
        if arows is not None:
            row.append(arows[i][2])
            ra.append(("data-after", arows[i][2]))
            row.append(bar_pair(contrib / top, arows[i][3] / top,
                                "%s: weighted %.4g before, %.4g after"
                                % (name, contrib, arows[i][3])))
        else:
            row.append(stacked_bar([(contrib / top, "after")],
                                   "%s: weighted %.4g" % (name, contrib)))
        rows.append(row)
        rattrs.append(ra)
    headers = ["metric", "weight", "before" if arows is not None else "value"] + \
        (["after"] if arows is not None else []) + ["weighted, in the score"]
    return Raw("<details open><summary>the 20 metrics of the cluster score (the "
               "coefficients of hinfo and hbal -v -v -v)</summary>%s</details>"
               % table(headers, rows, numeric=[False, True, True, True],
                       row_attrs=rattrs, cls="metrics",
                       hide_small=[False, True, True, True]))
