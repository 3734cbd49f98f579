"""A balancing plan as moves, job sets and commands (htools' ``printSolutionLine``, ``splitJobs``, ``formatCmds``)."""
from __future__ import annotations

from htools.record import record
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Sequence

from htools import moves as mv
from htools.balance.table import Placement, Table
from htools.haskell.fmt import fmt_f
from htools.model import Instance


def involved_nodes(inst: Instance, plc: Placement) -> List[int]:
    out: List[int] = []
    for n in [plc.pnode, plc.snode] + inst.all_nodes():
        if n >= 0 and n not in out:
            out.append(n)
    return out


@record
class MoveJob:
    nodes: List[int]
    idx: int
    move: mv.IMove
    cmds: List[str]


def split_jobs(cmd_strs: Sequence[MoveJob]) -> List[List[MoveJob]]:
    """Group moves into job sets (``cmd_strs`` newest first, as htools)."""
    jobsets: List[List[MoveJob]] = []
    nbuf: List[int] = []
    for job in cmd_strs:
        if not jobsets:
            jobsets = [[job]]
            nbuf = list(job.nodes)
        elif not set(job.nodes) & set(nbuf):
            jobsets[0] = [job] + jobsets[0]
            nbuf = job.nodes + nbuf
        else:
            jobsets = [[job]] + jobsets
            nbuf = list(job.nodes)
    return jobsets


def format_cmds(jobsets: Sequence[Sequence[MoveJob]]) -> str:
    lines: List[str] = []
    for jsn, js in enumerate(jobsets, 1):
        for sn, job in enumerate(js, 1):
            if sn == 1:
                lines += ["", "echo jobset %d, %d jobs" % (jsn, len(js))]
            lines.append("  echo job %d/%d" % (jsn, sn))
            lines.append("  check")
            lines += ["  gnt-instance " + c for c in job.cmds]
    return "".join(line + "\n" for line in lines)


@record
class SolutionLine:
    line: str          # the printed move line, without newline
    cmds: List[str]    # gnt-instance commands of the move
    old: str           # "pri:sec" before the move
    new: str           # "pri:sec" after the move
    code: str          # move code (f, r:N, f r:N, ...)


def solution_line(tbl: Table, new_tbl: Table, nmlen: int, imlen: int) -> SolutionLine:
    """htools' ``printSolutionLine`` for the move that led to ``new_tbl``
    (names are the aliases of the state before the move)."""
    plc = new_tbl.plc[-1]
    inst = tbl.insts[plc.idx]
    inam = inst.alias
    npri = tbl.nodes[plc.pnode].alias
    nsec = tbl.nodes[plc.snode].alias if plc.snode in tbl.nodes else ""
    opri = tbl.nodes[inst.pnode].alias
    ostr = opri if inst.snode < 0 else opri + ":" + tbl.nodes[inst.snode].alias
    nstr = npri if plc.snode < 0 else npri + ":" + nsec
    code, cmds = mv.compute_moves(inst, inam, plc.move, npri, nsec)
    pmlen = 2 * nmlen + 1
    line = "  %3d. %-*s %-*s => %-*s %s a=%s" % (
        len(new_tbl.plc), imlen, inam, pmlen, ostr, pmlen, nstr,
        fmt_f(plc.score, 8, 12), code)
    return SolutionLine(line, cmds, ostr, nstr, code)
