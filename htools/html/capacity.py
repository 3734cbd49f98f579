"""hspace's report: the cluster's capacity as a page.

:class:`CapacityReport` is fed by hspace with what it prints: the
``HTS_*`` keys of ``--machine-readable`` (collected in either mode), the
spec and result lines of the human output, and the node lists after each
phase.  Per resource it shows what is in use, what the new instances of
the standard allocation take and what stays free (cluster-wide and per
node), how many instances of each tiered spec fit, and which resource
stops the allocation first.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from htools.html.page import (
    Raw, cards, check_target, document, esc, legend, section, stacked_bar,
    table, tag, write_report,
)
from htools.html.nodes import node_parts

#: what a failure reason means for the operator
REASON_TEXT = {
    "FailMem": "memory", "FailDisk": "disk", "FailCPU": "vCPUs",
    "FailN1": "N+1 redundancy", "FailTags": "exclusion tags",
    "FailMig": "migration restrictions", "FailDiskCount": "disk count",
    "FailSpindles": "spindles", "FailInternal": "internal error",
}

#: (label, unit, total key, in-use key, free key, available key) per resource
RESOURCE_KEYS = (
    ("memory", "MiB", "CLUSTER_MEM", "MEM_INST", "MEM_FREE", "MEM_AVAIL"),
    ("disk", "MiB", "CLUSTER_DSK", "DSK_INST", "DSK_FREE", "DSK_AVAIL"),
    ("vCPUs", "", "CLUSTER_VCPU", "CPU_INST", None, None),
    ("spindles", "", "CLUSTER_SPN", "SPN_INST", "SPN_FREE", None),
)


def _int(v: Optional[str]) -> Optional[float]:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


class CapacityReport:
    """Collects hspace's figures; :meth:`write` renders the page."""

    def __init__(self, path: str) -> None:
        check_target(path)
        self.path = path
        self.keys: List[Tuple[str, str]] = []
        self.nodes: Sequence = []
        self.resources = ""
        self.specs: Dict[str, Tuple[str, str]] = {}
        self.trl_nodes: Optional[Sequence] = None
        self.fin_nodes: Optional[Sequence] = None
        self.tspecs: List[Tuple[str, int]] = []
        self.treason: list = []
        self.sreason: list = []
        self.tlines: List[str] = []
        self.slines: List[str] = []
        self.allocs = 0

    def initial(self, nodes, resources: str) -> None:
        self.nodes, self.resources = nodes, resources

    def spec(self, kind: str, text: str, template: str) -> None:
        self.specs[kind] = (text, template)

    def tiered(self, nodes, specs, reasons, lines) -> None:
        self.trl_nodes, self.tspecs, self.treason, self.tlines = \
            nodes, specs, reasons, lines

    def standard(self, nodes, allocs: int, reasons, lines) -> None:
        self.fin_nodes, self.allocs, self.sreason, self.slines = \
            nodes, allocs, reasons, lines

    def key(self, name: str) -> Optional[str]:
        for k, v in self.keys:
            if k == name:
                return v
        return None

    def _kcell(self, name: Optional[str]) -> Raw:
        v = self.key(name) if name else None
        if v is None:
            return Raw("-")
        return Raw("<span data-key=\"%s\">%s</span>" % (esc(name), esc(v)))

    def render(self) -> str:
        reason = self.sreason[0][0].name if self.sreason else None
        tcount = sum(c for _, c in self.tspecs)
        parts = [cards([
            ("nodes", self.key("CLUSTER_NODES") or "%d" % len(self.nodes), "CLUSTER_NODES"),
            ("instances now", self.key("INI_INST_CNT") or "-", "INI_INST_CNT"),
            ("standard instances that fit", "%d" % self.allocs, "ALLOC_INSTANCES"),
            ("tiered instances that fit", "%d" % tcount, "tiered-total"),
            ("runs out first", REASON_TEXT.get(reason, reason or "-"), "limit"),
        ])]
        parts.append(tag("p", "The cluster has %d nodes and the following resources: "
                         "%s." % (len(self.nodes), self.resources), "note"))
        parts.append(section("Resources", "resources", *self._resources()))
        parts.append(section("What runs out first", "limits", *self._limits()))
        parts.append(section("Tiered allocation", "tiered", *self._tiered()))
        if self.fin_nodes is not None:
            parts.append(section(
                "Nodes: in use and taken by the standard allocation", "nodes",
                *node_parts(self.nodes, self.fin_nodes, stacked=True)))
        parts.append(section("All figures", "keys", Raw(
            "<details><summary>the HTS_ keys of hspace --machine-readable</summary>"
            "%s</details>" % table(["key", "value"], [["HTS_" + k, v] for k, v in self.keys],
                                   row_attrs=[[("data-hts", "HTS_" + k), ("data-value", v)]
                                              for k, v in self.keys],
                                   cls="keys", scroll=True))))
        std = self.specs.get("Standard", ("", ""))
        return document("hspace capacity", "hspace",
                        "%d nodes; %d more instances of the standard spec (%s) fit"
                        % (len(self.nodes), self.allocs, std[0]), parts)

    def _resources(self) -> List[Raw]:
        rows, rattrs = [], []
        spn = any(getattr(n, "excl_storage", False) for n in self.nodes)
        for label, unit, tkey, ikey, fkey, akey in RESOURCE_KEYS:
            if label == "spindles" and not spn:
                continue
            total = _int(self.key(tkey))
            used = _int(self.key("INI_" + ikey))
            fin = _int(self.key("FIN_" + ikey))
            trl = _int(self.key("TRL_" + ikey))
            if not total or used is None or fin is None:
                continue
            new = fin - used
            bar = stacked_bar([(used / total, "used"), (new / total, "new")],
                              "%s: %d in use, %d for the new instances, of %d"
                              % (label, used, new, total))
            rows.append([label + (" (%s)" % unit if unit else ""), bar,
                         self._kcell(tkey), self._kcell("INI_" + ikey),
                         self._kcell("INI_" + fkey) if fkey else "-",
                         self._kcell("INI_" + akey) if akey else "-",
                         Raw("<span data-derived=\"FIN_%s-INI_%s\">%d</span>"
                             % (ikey, ikey, new)),
                         self._kcell("FIN_" + fkey) if fkey else "-",
                         "%d" % (trl - used) if trl is not None else "-"])
            rattrs.append([("data-resource", label)])
        return [legend([("used", "in use"), ("new", "standard allocation"),
                        ("free", "left")]),
                table(["resource", "use", "total", "in use", "free", "available",
                       "new (standard)", "free after", "new (tiered)"], rows,
                      numeric=[False, False] + [True] * 7, row_attrs=rattrs,
                      cls="resources",
                      hide_small=[False, False, True, False, True, True, False,
                                  True, True]),
                tag("p", "available: free less what N+1 redundancy reserves. "
                    "Totals and figures are hspace's HTS_CLUSTER_*, HTS_INI_*, "
                    "HTS_FIN_* and HTS_TRL_* keys; the new columns are their "
                    "differences.", "note")]

    def _limits(self) -> List[Raw]:
        out = []
        for title, reasons, lines, kind in (
                ("Standard allocation", self.sreason, self.slines, "standard"),
                ("Tiered allocation", self.treason, self.tlines, "tiered")):
            if not reasons:
                continue
            total = sum(c for _, c in reasons) or 1
            shown = [(fm, c) for fm, c in reasons if c] or list(reasons[:1])
            rows = [[REASON_TEXT.get(fm.name, fm.name), fm.name, "%d" % c,
                     stacked_bar([(c / total, "new")], "%s: %d" % (fm.name, c))]
                    for fm, c in shown]
            out.append(Raw("<div data-limits=\"%s\">%s%s<pre>%s</pre></div>" % (
                kind, tag("h3", "%s: tries refused, by reason (others: none)" % title),
                table(["resource", "reason", "refusals", "share"], rows,
                      numeric=[False, False, True, False],
                      row_attrs=[[("data-reason", fm.name), ("data-count", c)]
                                 for fm, c in shown], cls="reasons"),
                esc("\n".join(lines)))))
        return out or [tag("p", "No allocation was tried.", "note")]

    def _tiered(self) -> List[Raw]:
        spec = self.specs.get("Tiered", ("", ""))
        out = [tag("p", "Starting from the largest spec (%s, disk template '%s'), "
                   "each instance is shrunk until it fits; how many fit at each "
                   "size:" % spec, "note")]
        if not self.tspecs:
            out.append(tag("p", "no instances allocated", "note"))
            return out
        top = max(c for _, c in self.tspecs) or 1
        rows = [[text, "%d" % c, stacked_bar([(c / top, "new")], "%d instances" % c)]
                for text, c in self.tspecs]
        out.append(table(["spec", "instances", ""], rows,
                         numeric=[False, True, False],
                         row_attrs=[[("data-spec", text), ("data-count", c)]
                                    for text, c in self.tspecs], cls="tspecs",
                         scroll=len(rows) > 25))
        return out

    def write(self) -> None:
        write_report(self.path, self.render())
