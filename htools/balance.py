"""The hbal balancing loop (htools' ``tryBalance``/``iterateDepth``).

Each step tries, for every movable instance, a failover and then every
possible move to every online node, scores the resulting cluster and keeps
the strictly best one (ties keep the earlier candidate: failover first, then
target nodes by index, moves in htools' order, instances by index).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from htools import moves as mv
from htools.model import Instance, Node
from htools.scorer import comp_cv
from htools.types import NO_SECONDARY, FailMode


@dataclass
class AlgorithmOptions:
    disk_moves: bool = True
    instance_moves: bool = True
    restricted_migration: bool = False
    ignore_soft_errors: bool = False
    evac_mode: bool = False
    min_gain: float = 0.01
    min_gain_limit: float = 0.1
    #: "exhaustive" (htools' search, the default) or "pruned" (hbal
    #: --search=pruned: :func:`htools.fastbalance.try_balance`)
    search: str = "exhaustive"

    @classmethod
    def from_cli(cls, opts) -> "AlgorithmOptions":
        return cls(disk_moves=getattr(opts, "disk_moves", True),
                   instance_moves=getattr(opts, "inst_moves", True),
                   restricted_migration=getattr(opts, "restricted_migrate", False),
                   ignore_soft_errors=getattr(opts, "ignore_soft_errors", False),
                   evac_mode=getattr(opts, "evac_mode", False),
                   min_gain=getattr(opts, "min_gain", 0.01),
                   min_gain_limit=getattr(opts, "min_gain_limit", 0.1),
                   search=getattr(opts, "search", "exhaustive"))


@dataclass
class Placement:
    idx: int
    pnode: int
    snode: int
    move: mv.IMove
    score: float


@dataclass
class Table:
    """A cluster state during balancing: nodes and instances by index."""

    nodes: Dict[int, Node]
    insts: Dict[int, Instance]
    score: float
    plc: List[Placement] = field(default_factory=list)


class Scorer:
    """Scores node lists; subclasses may use the compiled core."""

    def __init__(self, nodes: Dict[int, Node]) -> None:
        self.order = sorted(nodes)

    def score(self, nodes: Dict[int, Node]) -> float:
        return comp_cv([nodes[i] for i in self.order])

    def score_changed(self, nodes: Dict[int, Node], changed: Dict[int, Node]) -> float:
        return comp_cv([changed.get(i) or nodes[i] for i in self.order])

    def commit(self, nodes: Dict[int, Node]) -> None:
        pass


def _best_for_instance(opts: AlgorithmOptions, online: List[int],
                       online_set: frozenset, tbl: Table, inst: Instance,
                       scorer: Scorer
                       ) -> Optional[Tuple[float, Dict[int, Node], Instance, Placement]]:
    force = opts.ignore_soft_errors
    nl = tbl.nodes
    opdx, osdx = inst.pnode, inst.snode
    mirror = inst.mirror_type.value
    use_secondary = osdx in online_set and opts.instance_moves
    best_cv = tbl.score
    best = None

    def consider(move: mv.IMove):
        nonlocal best_cv, best
        res = mv.apply_move(force, nl, inst, move)
        if isinstance(res, FailMode):
            return
        changed, new_inst, p, s = res
        cv = scorer.score_changed(nl, changed)
        if best_cv > cv:
            best_cv = cv
            best = (cv, changed, new_inst, Placement(inst.idx, p, s, move, cv))

    if mirror == "internal" and use_secondary:
        consider(mv.IMove(mv.FAILOVER))
    primary_drained = nl[opdx].offline
    for tdx in online:
        if tdx == opdx or tdx == osdx:
            continue
        for move in mv.possible_moves(mirror, use_secondary, opts.instance_moves,
                                      opts.disk_moves, opts.restricted_migration,
                                      primary_drained, tdx):
            consider(move)
    return best


def try_balance(opts: AlgorithmOptions, tbl: Table, scorer: Scorer) -> Optional[Table]:
    """One balancing step; the new table, or None if no acceptable move."""
    nodes = tbl.nodes
    online = [i for i in sorted(nodes) if not nodes[i].offline]
    online_set = frozenset(online)
    insts = [tbl.insts[i] for i in sorted(tbl.insts)]
    if opts.evac_mode:
        bad = {i for i in nodes if nodes[i].offline}
        insts = [i for i in insts if any(n in bad for n in i.all_nodes())]
    victims = [i for i in insts if i.movable and i.auto_balance]
    best_cv = tbl.score
    best = None
    for inst in victims:
        res = _best_for_instance(opts, online, online_set, tbl, inst, scorer)
        if res is not None and best_cv > res[0]:
            best_cv = res[0]
            best = res
    if best is None:
        return None
    cv, changed, new_inst, plc = best
    ini_cv = tbl.score
    if not (cv < ini_cv and (ini_cv > opts.min_gain_limit
                              or ini_cv - cv >= opts.min_gain)):
        return None
    new_nodes = dict(nodes)
    new_nodes.update(changed)
    new_insts = dict(tbl.insts)
    new_insts[new_inst.idx] = new_inst
    scorer.commit(new_nodes)
    return Table(new_nodes, new_insts, cv, tbl.plc + [plc])


def do_next_balance(tbl: Table, max_rounds: int, min_score: float) -> bool:
    return (max_rounds < 0 or len(tbl.plc) < max_rounds) and tbl.score > min_score


def involved_nodes(inst: Instance, plc: Placement) -> List[int]:
    out: List[int] = []
    for n in [plc.pnode, plc.snode] + inst.all_nodes():
        if n >= 0 and n not in out:
            out.append(n)
    return out


@dataclass
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


class CoreScorer(Scorer):
    """Exact scoring through the compiled core (bit-identical to comp_cv)."""

    def __init__(self, nodes: Dict[int, Node]) -> None:
        from htools._core import ClusterState
        super().__init__(nodes)
        self.state = ClusterState([nodes[i] for i in self.order], keys=self.order)
        self.current = dict(nodes)

    def score(self, nodes: Dict[int, Node]) -> float:
        return self.state.score()

    def score_changed(self, nodes: Dict[int, Node], changed: Dict[int, Node]) -> float:
        return self.state.score_with(changed)

    def commit(self, nodes: Dict[int, Node]) -> None:
        changed = {i: n for i, n in nodes.items() if self.current.get(i) is not n}
        self.state.set_nodes(changed)
        self.current = dict(nodes)


def make_scorer(nodes: Dict[int, Node]) -> Scorer:
    """The fastest exact scorer available (compiled core if built)."""
    try:
        return CoreScorer(nodes)
    except ImportError:  # pragma: no cover - core not built
        return Scorer(nodes)


def total_free(nodes: Sequence[Node]) -> Tuple[int, int]:
    """Free memory and disk of a node list (htools' csFmem, csFdsk)."""
    return (sum(n.unallocated_mem() for n in nodes), sum(n.f_dsk for n in nodes))


class Progress:
    """Step counter and score on stderr, only when it is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    @classmethod
    def create(cls) -> "Progress":
        import sys
        try:
            tty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls(tty)

    def update(self, step: int, score: float) -> None:
        if not self.enabled:
            return
        import sys
        sys.stderr.write("\r[hbal] step %d, score %.8f, searching next move..."
                         % (step, score))
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.enabled and self.shown:
            import sys
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False


@dataclass
class SolutionLine:
    line: str          # the printed move line, without newline
    cmds: List[str]    # gnt-instance commands of the move
    old: str           # "pri:sec" before the move
    new: str           # "pri:sec" after the move
    code: str          # move code (f, r:N, f r:N, ...)


def solution_line(tbl: Table, new_tbl: Table, nmlen: int, imlen: int) -> SolutionLine:
    """htools' ``printSolutionLine`` for the move that led to ``new_tbl``
    (names are the aliases of the state before the move)."""
    from htools.haskell.fmt import fmt_f
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
