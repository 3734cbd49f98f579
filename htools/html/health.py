"""hinfo's and hcheck's report: a cluster's health on one page.

Per node: N+1 status and the peers whose failure it cannot absorb (a peer
whose instances' memory, should they fail over here, is more than the
node's free memory), policy violations (too many vCPUs per CPU, too many
spindles), conflicting exclusion tags and offline state; per group the
figures the tool prints (hinfo's group table, hcheck's statistics) and the
score with its 20 components.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from htools.haskell.fmt import fmt_f
from htools.html.page import (
    Raw, cards, check_target, document, esc, section, table, tag, write_report,
)
from htools.html.nodes import metrics_table, node_parts

POLICY_TEXT = {"FailDisk": "more spindles in use than the policy allows",
               "FailCPU": "more vCPUs per CPU than the policy allows"}


def unabsorbed_peers(n) -> List[Tuple[int, int]]:
    """(peer index, memory) of the peers whose failure ``n`` cannot absorb:
    the memory of their instances that have ``n`` as secondary is more than
    ``n``'s free memory (htools' N+1 check, per peer)."""
    return [(p, mem) for p, mem in n.peers if mem > n.f_mem]


def conflicting_tags(n) -> List[Tuple[str, int]]:
    """Exclusion tags held by more than one primary instance of ``n``."""
    return sorted((t, c) for t, c in n.p_tags.items() if c > 1)


class HealthReport:
    """Collects what hinfo or hcheck prints; :meth:`write` renders it."""

    def __init__(self, path: str, tool: str) -> None:
        check_target(path)
        self.path, self.tool = path, tool
        self.nodes: Sequence = []
        self.n_insts = 0
        self.groups: Dict[int, object] = {}
        self.lines: List[str] = []
        self.group_table: Optional[Tuple[List[str], List[List[str]]]] = None
        self.stats: List[Tuple[str, Optional[str], List[Tuple[str, str, str]]]] = []
        self.final_nodes: Optional[Sequence] = None

    def cluster(self, nodes, n_insts: int, groups) -> None:
        self.nodes, self.n_insts = nodes, n_insts
        self.groups = {g.idx: g for g in groups}

    def line(self, text: str) -> None:
        """A line of the tool's summary, as printed."""
        self.lines.append(text)

    def add_stats(self, phase: str, level: Optional[str],
                  values: List[Tuple[str, str, str]]) -> None:
        """hcheck's statistics of a group (``level``) or the cluster (None):
        (key, description, value) each."""
        self.stats.append((phase, level, values))

    def render(self) -> str:
        nodes = sorted(self.nodes, key=lambda n: n.idx)
        online = [n for n in nodes if not n.offline]
        n1 = [n for n in online if n.fail_n1]
        policy = [n for n in online if n.policy_health() is not None]
        tags = [n for n in nodes if n.conflicting_primaries() > 0]
        offline = [n for n in nodes if n.offline]
        from htools import metrics
        parts = [cards([
            ("nodes", "%d" % len(nodes), "nodes"),
            ("instances", "%d" % self.n_insts, "instances"),
            ("node groups", "%d" % len(self.groups), "groups"),
            ("nodes failing N+1", "%d" % len(n1), "n1-fail"),
            ("policy violations", "%d" % len(policy), "policy"),
            ("nodes with tag conflicts", "%d" % len(tags), "tag-conflicts"),
            ("offline nodes", "%d" % len(offline), "offline"),
            ("cluster score", fmt_f(metrics.comp_cv(nodes), 8), "score"),
        ])]
        if self.lines:
            parts.append(Raw("<pre class=\"summary\">%s</pre>"
                             % esc("\n".join(self.lines))))
        if self.group_table is not None:
            headers, rows = self.group_table
            parts.append(section("Node groups", "groups", table(
                headers, rows, numeric=[False] + [True] * 4 + [False, True],
                row_attrs=[[("data-group", r[0])] + [
                    ("data-%s" % h.lower().replace("+", "p").replace("_", "-"), v)
                    for h, v in zip(headers[1:], r[1:])] for r in rows],
                cls="groups")))
        if self.stats:
            parts.append(section("Health checks", "checks", *self._stats()))
        parts.append(section("N+1 redundancy", "n1", self._n1(n1, nodes)))
        parts.append(section("Policy violations", "policy", self._policy(policy)))
        parts.append(section("Exclusion tag conflicts", "tags", self._tags(tags)))
        if offline:
            parts.append(section("Offline nodes", "offline", table(
                ["node", "primary instances", "secondary instances"],
                [[n.alias, "%d" % len(n.p_list), "%d" % len(n.s_list)] for n in offline],
                numeric=[False, True, True],
                row_attrs=[[("data-offline", n.alias)] for n in offline])))
        parts.append(section("Nodes", "nodes", *node_parts(nodes)))
        parts.append(section("Score components", "metrics", metrics_table(nodes)))
        happy = not n1
        return document("%s: cluster health" % self.tool, self.tool,
                        "%d nodes, %d instances, %d node groups; N+1 %s"
                        % (len(nodes), self.n_insts, len(self.groups),
                           "happy" if happy else "unhappy"), parts)

    def _stats(self) -> List[Raw]:
        phases = []
        for phase, level, values in self.stats:
            if phase not in phases:
                phases.append(phase)
        out = []
        for phase in phases:
            title = "initially" if phase == "init" else "after rebalancing"
            levels = [(lv, vals) for ph, lv, vals in self.stats if ph == phase]
            descrs: List[Tuple[str, str]] = []
            for _lv, vals in levels:
                for key, descr, _v in vals:
                    if (key, descr) not in descrs:
                        descrs.append((key, descr))
            headers = ["check"] + [("cluster" if lv is None else lv) for lv, _ in levels]
            rows, rattrs = [], []
            for key, descr in descrs:
                row: List[object] = [descr]
                for lv, vals in levels:
                    v = next((val for k, _d, val in vals if k == key), None)
                    if v is None:
                        row.append("")
                        continue
                    bad = v not in ("0", "False", "", "-") and key != "SCORE"
                    row.append(Raw("<span class=\"%s\" data-level=\"%s\" "
                                   "data-check=\"%s\" data-phase=\"%s\">%s</span>"
                                   % ("bad" if bad else ("" if key == "SCORE" else "ok"),
                                      esc("cluster" if lv is None else lv), esc(key),
                                      esc(phase), esc(v))))
                rows.append(row)
                rattrs.append([("data-key", key)])
            out.append(tag("h3", "Statistics %s" % title))
            out.append(table(headers, rows, numeric=[False] + [True] * len(levels),
                             row_attrs=rattrs, cls="checks", scroll=len(levels) > 8))
        return out

    def _name(self, idx: int) -> str:
        for n in self.nodes:
            if n.idx == idx:
                return n.alias
        return "#%d" % idx

    def _n1(self, bad, nodes) -> Raw:
        if not bad:
            return tag("p", "Every online node can absorb the failure of any of "
                       "its peers.", "ok")
        rows, rattrs = [], []
        for n in bad:
            peers = unabsorbed_peers(n)
            rows.append([n.alias, "%d" % n.f_mem, "%d" % n.r_mem,
                         ", ".join("%s (%d MiB)" % (self._name(p), m) for p, m in peers)
                         or "-"])
            rattrs.append([("data-n1-node", n.alias),
                           ("data-peers", ",".join(self._name(p) for p, _ in peers))])
        return Raw(tag("p", "%d of %d nodes cannot absorb the failure of a peer: the "
                       "instances that would fail over to them need more memory "
                       "than they have free." % (len(bad), len(nodes)), "bad")
                   + table(["node", "free memory (MiB)", "reserved (MiB)",
                            "cannot absorb the failure of"], rows,
                           numeric=[False, True, True, False], row_attrs=rattrs,
                           cls="n1", scroll=len(rows) > 25))

    def _policy(self, bad) -> Raw:
        if not bad:
            return tag("p", "No node violates its instance policy.", "ok")
        rows = [[n.alias, n.policy_health().name,
                 POLICY_TEXT.get(n.policy_health().name, ""),
                 fmt_f(n.p_cpu, 2), fmt_f(n.ipolicy.vcpu_ratio, 2)] for n in bad]
        return table(["node", "reason", "what", "r_cpu", "policy vcpu ratio"], rows,
                     numeric=[False, False, False, True, True],
                     row_attrs=[[("data-policy-node", n.alias),
                                 ("data-reason", n.policy_health().name)] for n in bad],
                     cls="policy", scroll=len(rows) > 25)

    def _tags(self, bad) -> Raw:
        if not bad:
            return tag("p", "No node has two primary instances with the same "
                       "exclusion tag.", "ok")
        rows = [[n.alias, "%d" % n.conflicting_primaries(),
                 ", ".join("%s x%d" % tc for tc in conflicting_tags(n))] for n in bad]
        return table(["node", "conflicting instances", "tags"], rows,
                     numeric=[False, True, False],
                     row_attrs=[[("data-tag-node", n.alias),
                                 ("data-conflicts", n.conflicting_primaries())]
                                for n in bad], cls="tags", scroll=len(rows) > 25)

    def write(self) -> None:
        write_report(self.path, self.render())
