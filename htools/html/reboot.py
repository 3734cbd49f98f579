"""hroller's report: the reboot groups and what evacuating each one moves.

Fed with the groups hroller prints (node names, and the moves of
``--print-moves``: instance, new primary, new secondary) and the
instances as loaded, it shows each group's nodes, its moves with the
placement before and after, and the memory and disk data they carry; with
``--rebalance-after`` also the hbal plan of each node group afterwards.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

from htools.haskell.fmt import fmt_f
from htools.html.page import (
    Raw, cards, check_target, document, esc, section, table, tag, write_report,
)
from htools.html.plan import fmt_mib


class RebootReport:
    """Collects hroller's groups; :meth:`write` renders the page."""

    def __init__(self, path: str) -> None:
        check_target(path)
        self.path = path
        self.groups: List[Tuple[List[str], list]] = []
        self.insts: Dict[str, object] = {}
        self.node_names: Dict[int, str] = {}
        self.plans: Optional[list] = None
        self.n_nodes = 0

    def cluster(self, nodes, insts) -> None:
        self.n_nodes = len(nodes)
        self.node_names = {n.idx: n.name for n in nodes}
        self.insts = {i.name: i for i in insts}

    def _move(self, name: str, pri: str, sec: Optional[str]) -> dict:
        inst = self.insts.get(name)
        old_p = self.node_names.get(inst.pnode, "") if inst is not None else ""
        old_s = self.node_names.get(inst.snode) if inst is not None and \
            inst.snode >= 0 else None
        copies = inst.dsk if inst is not None and sec is not None and sec != old_s \
            and sec != old_p else 0
        return dict(instance=name, old=old_p + (":" + old_s if old_s else ""),
                    new=pri + (":" + sec if sec else ""), pri=pri, sec=sec,
                    mem=inst.mem if inst is not None and pri != old_p else 0,
                    copies=copies)

    def render(self) -> str:
        groups = [(names, [self._move(*m) for m in mv]) for names, mv in self.groups]
        n_moves = sum(len(mv) for _, mv in groups)
        copied = sum(m["copies"] for _, mv in groups for m in mv)
        parts = [cards([
            ("reboot groups", "%d" % len(groups), "groups"),
            ("nodes to reboot", "%d" % sum(len(n) for n, _ in groups), "nodes"),
            ("instance moves", "%d" % n_moves, "moves"),
            ("disk data copied", fmt_mib(copied), "copied"),
        ])]
        rows, rattrs = [], []
        for k, (names, mv) in enumerate(groups, 1):
            rows.append([k, ", ".join(names), len(names), len(mv),
                         fmt_mib(sum(m["mem"] for m in mv)),
                         fmt_mib(sum(m["copies"] for m in mv))])
            rattrs.append([("data-reboot-group", k), ("data-nodes", ",".join(names)),
                           ("data-moves", len(mv))])
        parts.append(section("Reboot groups", "groups", tag(
            "p", "The nodes of one group are rebooted together; groups follow "
            "one another, in this order.", "note"),
            table(["#", "nodes", "count", "moves", "memory moved", "disk copied"],
                  rows, numeric=[True, False, True, True, True, True],
                  row_attrs=rattrs, cls="rgroups", scroll=len(rows) > 25)))
        if n_moves:
            parts.append(section("Evacuation moves, group by group", "moves",
                                 *self._moves(groups)))
        else:
            parts.append(tag("p", "No instance moves are shown: run with "
                             "--print-moves (and --full-evacuation to move the "
                             "secondaries too).", "note"))
        if self.plans is not None:
            parts.append(section("Rebalance after the maintenance", "rebalance",
                                 *self._plans()))
        return document("hroller: rolling reboot", "hroller",
                        "%d nodes in %d reboot groups, %d instance moves"
                        % (sum(len(n) for n, _ in groups), len(groups), n_moves),
                        parts)

    def _moves(self, groups) -> List[Raw]:
        out = []
        for k, (names, mv) in enumerate(groups, 1):
            if not mv:
                continue
            rows = [[m["instance"], m["old"], m["new"],
                     fmt_mib(m["mem"]) if m["mem"] else "-",
                     fmt_mib(m["copies"]) if m["copies"] else "-"] for m in mv]
            out.append(Raw("<details%s data-group-moves=\"%d\"><summary>group %d (%s): "
                           "%d moves</summary>%s</details>" % (
                               " open" if len(groups) <= 5 else "", k, k,
                               esc(", ".join(names)), len(mv),
                               table(["instance", "from", "to", "memory", "disk copy"],
                                     rows, numeric=[False, False, False, True, True],
                                     row_attrs=[[("data-instance", m["instance"]),
                                                 ("data-to", m["new"])] for m in mv],
                                     cls="rmoves", scroll=len(rows) > 25))))
        return out

    def _plans(self) -> List[Raw]:
        out = []
        for p in self.plans or []:
            lines = "\n".join(p["lines"]) or "  No moves needed"
            out.append(Raw("<div data-plan=\"%s\">%s<pre>%s</pre></div>" % (
                esc(p["group"]), tag("h3", "Group %s: score %s to %s" % (
                    p["group"], fmt_f(p["initial_score"], 8),
                    fmt_f(p["final_score"], 8))), esc(lines))))
        return out

    def write(self) -> None:
        write_report(self.path, self.render())
