"""One balancing step by exhaustive search, in plain Python (htools' ``tryBalance``).

The specification of the compiled search (:mod:`htools.balance.compiled`,
held to it by the tests).  Each step tries, for every movable instance, a failover and then every
possible move to every online node, scores the resulting cluster and keeps
the strictly best one (ties keep the earlier candidate: failover first, then
target nodes by index, moves in htools' order, instances by index).
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, Iterator, List, Optional, Tuple

from htools import moves as mv
from htools.balance.table import Placement, Table
from htools.params import AlgorithmOptions
from htools.model import Instance, Node
from htools.specification import pure
from htools.metrics import comp_cv
from htools.types import FailMode


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


def instance_moves(opts: AlgorithmOptions, online: List[int],
                   online_set: frozenset, nl: Dict[int, Node],
                   inst: Instance) -> Iterator[mv.IMove]:
    """The moves a step tries for ``inst``, in htools' order (failover
    first, then the moves to each online target node by index); their
    checks are :func:`htools.moves.apply_move`'s."""
    opdx, osdx = inst.pnode, inst.snode
    mirror = inst.mirror_type.value
    use_secondary = osdx in online_set and opts.instance_moves
    if mirror == "internal" and use_secondary:
        yield mv.IMove(mv.FAILOVER)
    primary_drained = nl[opdx].offline
    for tdx in online:
        if tdx == opdx or tdx == osdx:
            continue
        yield from mv.possible_moves(mirror, use_secondary, opts.instance_moves,
                                     opts.disk_moves, opts.restricted_migration,
                                     primary_drained, tdx)


def victims(opts: AlgorithmOptions, tbl: Table) -> List[Instance]:
    """The instances a step may move, by index (``-E``: only those with an
    offline node)."""
    nodes = tbl.nodes
    insts = [tbl.insts[i] for i in sorted(tbl.insts)]
    if opts.evac_mode:
        bad = {i for i in nodes if nodes[i].offline}
        insts = [i for i in insts if any(n in bad for n in i.all_nodes())]
    return [i for i in insts if i.movable and i.auto_balance]


def _best_for_instance(opts: AlgorithmOptions, online: List[int],
                       online_set: frozenset, tbl: Table, inst: Instance,
                       scorer: Scorer
                       ) -> Optional[Tuple[float, Dict[int, Node], Instance, Placement]]:
    force = opts.ignore_soft_errors
    nl = tbl.nodes
    best_cv = tbl.score
    best = None
    for move in instance_moves(opts, online, online_set, nl, inst):
        res = mv.apply_move(force, nl, inst, move)
        if isinstance(res, FailMode):
            continue
        changed, new_inst, p, s = res
        cv = scorer.score_changed(nl, changed)
        if best_cv > cv:
            best_cv = cv
            best = (cv, changed, new_inst, Placement(inst.idx, p, s, move, cv))
    return best


def try_balance(opts: AlgorithmOptions, tbl: Table, scorer: Scorer) -> Optional[Table]:
    """One balancing step; the new table, or None if no acceptable move."""
    nodes = tbl.nodes
    online = [i for i in sorted(nodes) if not nodes[i].offline]
    online_set = frozenset(online)
    best_cv = tbl.score
    best = None
    for inst in victims(opts, tbl):
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
    """The compiled core's exact scorer, or the metrics of
    :mod:`htools.metrics` with ``HTOOLS_PURE``."""
    return Scorer(nodes) if pure() else CoreScorer(nodes)


