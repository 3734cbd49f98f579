"""hbal's report: the plan of one node group as a page.

:class:`PlanReport` is fed by hbal as it prints (the same solution lines,
scores and job sets), then renders: summary figures, the score curve, the
nodes before and after, the moves (kind, data copied, score after each),
the job sets and the score's components before and after.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Optional, Sequence

from htools import moves as mv
from htools.haskell.fmt import fmt_f
from htools.html.page import (
    Raw, cards, check_target, document, esc, line_chart, section, table, tag,
    write_report,
)
from htools.html.nodes import metrics_table, node_parts

#: what each move kind does, as an operator reads it
KIND_TEXT = {
    mv.FAILOVER: "failover (primary and secondary swap)",
    mv.FAILOVER_TO_ANY: "failover to another node (shared storage)",
    mv.REPLACE_PRIMARY: "new primary (failover, replace secondary, failover)",
    mv.REPLACE_SECONDARY: "new secondary (replace disks)",
    mv.REPLACE_AND_FAILOVER: "new secondary, then failover",
    mv.FAILOVER_AND_REPLACE: "failover, then new secondary",
}


def copied_mib(inst, cmds: Sequence[str]) -> int:
    """Disk data a move copies: the instance's disks once per replace-disks."""
    return inst.dsk * sum(1 for c in cmds if c.startswith("replace-disks"))


def fmt_mib(mib: int) -> str:
    if mib >= 1024 * 1024:
        return "%.1f TiB" % (mib / 1048576.0)
    if mib >= 1024:
        return "%.1f GiB" % (mib / 1024.0)
    return "%d MiB" % mib


class PlanReport:
    """Collects what hbal prints; :meth:`write` renders the page."""

    def __init__(self, path: str) -> None:
        check_target(path)
        self.path = path
        self.group = ""
        self.ini_nodes: Sequence = []
        self.fin_nodes: Optional[Sequence] = None
        self.ini_score = 0.0
        self.fin_score: Optional[float] = None
        self.moves: List[dict] = []
        self.jobsets: List[list] = []
        self.notes: List[str] = []
        self.n_insts = 0

    def start(self, group: str, nodes, n_insts: int, score: float) -> None:
        self.group, self.ini_nodes, self.n_insts, self.ini_score = \
            group, nodes, n_insts, score

    def add_move(self, old_tbl, tbl, sol) -> None:
        """One step, as hbal printed it (``sol``: its solution line)."""
        plc = tbl.plc[-1]
        inst = old_tbl.insts[plc.idx]
        self.moves.append(dict(
            step=len(tbl.plc), idx=plc.idx, instance=inst.alias, old=sol.old, new=sol.new,
            code=sol.code, score=plc.score, score_text=fmt_f(plc.score, 8),
            kind=KIND_TEXT.get(plc.move.kind, sol.code), cmds=list(sol.cmds),
            copied=copied_mib(inst, sol.cmds), template=inst.disk_template.value))

    def finish(self, nodes, score: float, jobsets) -> None:
        self.fin_nodes, self.fin_score = nodes, score
        self.jobsets = jobsets

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        fin_score = self.ini_score if self.fin_score is None else self.fin_score
        copied = sum(m["copied"] for m in self.moves)
        parts = [cards([
            ("node group", self.group or "-", "group"),
            ("nodes", "%d" % len(self.ini_nodes), "nodes"),
            ("instances", "%d" % self.n_insts, "instances"),
            ("initial score", fmt_f(self.ini_score, 8), "initial-score"),
            ("final score", fmt_f(fin_score, 8), "final-score"),
            ("moves", "%d" % len(self.moves), "moves"),
            ("data copied", fmt_mib(copied), "copied"),
            ("job sets", "%d" % len(self.jobsets), "jobsets"),
        ])]
        for text in self.notes:
            parts.append(tag("p", text, "note"))
        if self.moves:
            curve = [self.ini_score] + [m["score"] for m in self.moves]
            parts.append(section("Score over the moves", "curve", line_chart(
                curve, "cluster score after each move", "move", "score"),
                tag("p", "Lower is better; move 0 is the cluster as it is.", "note")))
        fin = self.fin_nodes if self.fin_nodes is not None else None
        parts.append(section(
            "Nodes before and after the plan" if fin is not None and self.moves
            else "Nodes", "nodes",
            *node_parts(self.ini_nodes, fin if self.moves else None)))
        if self.moves:
            parts.append(section("Moves", "moves", self._moves_table()))
            parts.append(section("Job sets", "jobsets", *self._jobsets()))
        parts.append(section("Score components", "metrics", self._metrics()))
        return document("hbal plan: %s" % (self.group or "cluster"), "hbal",
                        "%d nodes, %d instances; score %s to %s in %d moves"
                        % (len(self.ini_nodes), self.n_insts,
                           fmt_f(self.ini_score, 8), fmt_f(fin_score, 8),
                           len(self.moves)), parts)

    def _moves_table(self) -> Raw:
        rows, rattrs = [], []
        for m in self.moves:
            rows.append([m["step"], m["instance"], m["old"], m["new"], m["kind"],
                         Raw("<code>%s</code>" % esc(m["code"])),
                         fmt_mib(m["copied"]) if m["copied"] else "-",
                         m["score_text"]])
            rattrs.append([("data-step", m["step"]), ("data-instance", m["instance"]),
                           ("data-from", m["old"]), ("data-to", m["new"]),
                           ("data-code", m["code"]), ("data-copy-mib", m["copied"]),
                           ("data-score", m["score_text"])])
        return table(["#", "instance", "from", "to", "kind", "a=", "copies",
                      "score after"], rows, numeric=[True] + [False] * 5 + [True, True],
                     row_attrs=rattrs, cls="moves", scroll=len(rows) > 25,
                     hide_small=[False, False, True, False, True, True, False, False])

    def _jobsets(self) -> List[Raw]:
        rows, rattrs = [], []
        for jsn, js in enumerate(self.jobsets, 1):
            names = []
            copied = 0
            for job in js:
                m = self._move_of(job)
                if m is not None:
                    names.append(m["instance"])
                    copied += m["copied"]
            rows.append([jsn, len(js), ", ".join(names), fmt_mib(copied) if copied else "-"])
            rattrs.append([("data-jobset", jsn), ("data-jobs", len(js))])
        cmds = "".join("\n".join(["# job set %d" % jsn] + [
            "gnt-instance " + c for job in js for c in job.cmds]) + "\n\n"
            for jsn, js in enumerate(self.jobsets, 1))
        return [tag("p", "The moves of one job set touch disjoint nodes and run "
                    "in parallel; job sets run one after the other (hbal -C).",
                    "note"),
                table(["set", "jobs", "instances", "copies"], rows,
                      numeric=[True, True, False, True], row_attrs=rattrs,
                      cls="jobsets", scroll=len(rows) > 25),
                Raw("<details><summary>the commands</summary><pre>%s</pre></details>"
                    % esc(cmds))]

    def _move_of(self, job):
        """The move (of the last step moving that instance) behind a job."""
        for m in self.moves:
            if m["cmds"] == list(job.cmds) and m["idx"] == job.idx:
                return m
        return None

    def _metrics(self) -> Raw:
        return metrics_table(self.ini_nodes, self.fin_nodes if self.moves else None)

    def write(self) -> None:
        write_report(self.path, self.render())
