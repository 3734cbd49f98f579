"""``hbal --search=optimal``: from the solver's target to legal steps.

:class:`OptimalRun` is the balancing loop of the optimal search, an
iterator of ``(state before, state after)`` steps like
:func:`htools.balance.steps`:

1. :func:`htools.balance.optimal.solve` chooses a target (one move per
   instance that moves);
2. the path applies those moves one at a time, each checked on the current
   state by :func:`htools.moves.apply_move` (the checks of a greedy step)
   and scored exactly (the compiled core, or :mod:`htools.metrics` with
   ``HTOOLS_PURE``): of the pending moves legal now, the one that leaves
   the lowest score goes first (on large plans, with more than
   :data:`FULL_ORDER` moves, the moves go in passes, in the order of their
   score on the initial cluster).  A move that never becomes legal is left
   out: the plan stops at the best reachable state;
3. greedy polish: htools' exhaustive steps
   (:func:`htools.balance.steps`) while they still lower the score.

``-l`` (maximum number of steps) and the minimum score apply to the whole
run.  :meth:`OptimalRun.summary` is the line hbal prints at the end.
"""
from __future__ import annotations

import time
from typing import Iterator, Optional, Tuple

from htools import moves as mv
from htools.balance.optimal import OptimalOptions, Target, solve
from htools.balance.search import make_scorer
from htools.balance.table import Placement, Table, do_next_balance
from htools.params import AlgorithmOptions
from htools.types import FailMode

#: plans longer than this are ordered in passes instead of best-first
FULL_ORDER = 300


class OptimalRun:
    """The steps of ``hbal --search=optimal`` from ``tbl``."""

    def __init__(self, algo: AlgorithmOptions, tbl: Table, max_rounds: int = -1,
                 min_score: Optional[float] = None,
                 oopts: Optional[OptimalOptions] = None) -> None:
        self.algo = algo
        self.oopts = oopts or algo.optimal or OptimalOptions()
        self.tbl = tbl
        self.max_rounds = max_rounds
        self.min_score = min_score
        self.target: Optional[Target] = None
        self.applied = 0        # moves of the target applied
        self.polish = 0         # greedy steps after them
        self._it = self._run()

    def __iter__(self) -> "OptimalRun":
        return self

    def __next__(self) -> Tuple[Table, Table]:
        return next(self._it)

    def _more(self, tbl: Table) -> bool:
        if self.min_score is None:
            return self.max_rounds < 0 or len(tbl.plc) < self.max_rounds
        return do_next_balance(tbl, self.max_rounds, self.min_score)

    def _run(self) -> Iterator[Tuple[Table, Table]]:
        from htools.balance import steps
        tbl = self.tbl
        start = time.monotonic()
        if not self._more(tbl):
            return
        greedy = self.algo.replace(search="exhaustive", optimal=None)
        # htools' greedy end state is the solver's starting point
        fin = tbl
        for _, fin in steps(greedy, tbl, self.max_rounds, self.min_score):
            pass
        hint = {i.idx: (i.pnode, i.snode) for i in fin.insts.values()}
        self.target = solve(self.algo, self.oopts, tbl,
                            deadline=start + self.oopts.time_limit, hint=hint)
        for old, tbl in follow(self.algo, tbl, self.target.moves):
            if not self._more(old):
                return
            self.applied += 1
            yield old, tbl
        for old, tbl in steps(greedy, tbl, self.max_rounds, self.min_score):
            self.polish += 1
            yield old, tbl

    def summary(self) -> Optional[str]:
        """The quality line (None if the solver did not run)."""
        if self.target is None:
            return None
        return ("%s; %d of %d moves applied, %d greedy polish steps"
                % (self.target.summary(), self.applied, len(self.target.moves),
                   self.polish))


def follow(algo: AlgorithmOptions, tbl: Table, moves) -> Iterator[Tuple[Table, Table]]:
    """Apply ``moves`` (instance index -> move from its current place) in a
    legal order, one step each; moves never legal are skipped."""
    force = algo.ignore_soft_errors
    scorer = make_scorer(tbl.nodes)
    pending = dict(moves)
    if len(pending) > FULL_ORDER:
        order = _initial_order(force, tbl, pending, scorer)
    else:
        order = None
    while pending:
        best = None
        for idx in (order if order is not None else sorted(pending)):
            if idx not in pending:
                continue
            inst = tbl.insts[idx]
            res = mv.apply_move(force, tbl.nodes, inst, pending[idx])
            if isinstance(res, FailMode):
                continue
            changed = res[0]
            cv = scorer.score_changed(tbl.nodes, changed)
            if best is None or cv < best[0]:
                best = (cv, idx, res)
            if order is not None:
                break
        if best is None:
            return
        cv, idx, (changed, new_inst, pdx, sdx) = best
        move = pending.pop(idx)
        new_nodes = dict(tbl.nodes)
        new_nodes.update(changed)
        new_insts = dict(tbl.insts)
        new_insts[idx] = new_inst
        scorer.commit(new_nodes)
        new_tbl = Table(new_nodes, new_insts, cv,
                        tbl.plc + [Placement(idx, pdx, sdx, move, cv)])
        yield tbl, new_tbl
        tbl = new_tbl


def _initial_order(force: bool, tbl: Table, pending, scorer):
    """The pending moves by their score on ``tbl`` (illegal ones last)."""
    keyed = []
    for idx, move in pending.items():
        res = mv.apply_move(force, tbl.nodes, tbl.insts[idx], move)
        cv = (float("inf") if isinstance(res, FailMode)
              else scorer.score_changed(tbl.nodes, res[0]))
        keyed.append((cv, idx))
    return [idx for _, idx in sorted(keyed)]
