"""hbal's balancing step on the compiled state (``htools._balance``).

Drop-in replacement of :func:`htools.balance.search.try_balance`: the same
contract (``try_balance(opts, tbl, scorer) -> Optional[Table]``) and the
same result, move for move and bit for bit, computed by
:class:`htools._balance.BalanceState`.  The chosen move is then applied to
the Python model with :func:`htools.moves.apply_move`, so the returned
:class:`~htools.balance.table.Table` holds the same Node/Instance objects the
pure-Python loop would (for the report, ``-S`` and ``-X``).

The loop over the steps is :func:`htools.balance.steps`.

With ``opts.search == "pruned"`` (``hbal --search=pruned``) each step
asks the compiled state for a move from a pruned neighbourhood
(:meth:`~htools._pruned.PrunedBalanceState.best_move_pruned`): the most
promising victims and targets only, the chosen move exactly scored.  When
that neighbourhood has no acceptable move (none improving, or the min-gain
rule refuses it) the step is retried on a neighbourhood twice as wide in
victims and targets, up to the full one if it has at most :data:`MAX_WORK`
victim/target combinations (then the run only ends where the exhaustive
search would find no acceptable move either), else up to the widest one
within that bound.  A step that had to widen starts the next one at the
same width; after :data:`NARROW_AFTER` steps found there, the width is
halved again (the pool of candidates a wide search found keeps the
narrower searches supplied).  The moves differ from
htools' (the default search stays identical); every move is legal and
strictly improves the exact score.

``make_scorer`` returns a :class:`FastBalancer` when the compiled state
can represent the group exactly; otherwise (data it refuses with
``NotImplementedError``, or ``HTOOLS_PURE=1``: :mod:`htools.specification`)
the pure-Python :class:`~htools.balance.search.Scorer`, and ``try_balance``
then runs :func:`~htools.balance.search.try_balance`.
``HTOOLS_CHECK_BALANCE=1`` cross-checks every step against
:func:`htools.metrics.comp_cv` (slow).
"""
from __future__ import annotations

import os
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Optional, Union

from htools.balance import search
from htools.balance.table import Placement, Table, do_next_balance
from htools.params import AlgorithmOptions
from htools import moves as mv
from htools.types import FailMode

from htools._balance import BalanceState
from htools._pruned import PrunedBalanceState
from htools.specification import pure

__all__ = ["FastBalancer", "make_scorer", "try_balance", "greedy_steps",
           "SEARCH_MODES"]

#: the compiled state of each ``AlgorithmOptions.search`` (hbal ``--search``)
STATES = {"exhaustive": BalanceState, "pruned": PrunedBalanceState}

#: values of ``AlgorithmOptions.search`` (``optimal``: :mod:`.path`, whose
#: greedy polish runs the exhaustive state)
SEARCH_MODES = tuple(STATES) + ("optimal",)

#: pruned search: steps found at a widened level before narrowing again
NARROW_AFTER = 1

#: pruned search: the widest neighbourhood tried (pair-target combinations;
#: the full one if smaller)
MAX_WORK = 4_000_000


class FastBalancer:
    """The compiled state of one balancing run, following its tables.

    The state is built from a table and then advanced by
    :func:`try_balance`; called with any other table it is rebuilt."""

    def __init__(self, opts: AlgorithmOptions, tbl: Table) -> None:
        _check_representable(tbl)
        self.opts = opts
        self.state = STATES[opts.search](tbl.nodes, tbl.insts, opts)
        self.state.threads = opts.threads
        self.tbl = tbl
        self.level = 0      # pruned search: current neighbourhood width
        self.streak = 0     # steps found at that width

    def sync(self, opts: AlgorithmOptions, tbl: Table) -> None:
        if tbl is not self.tbl or opts != self.opts:
            _check_representable(tbl)
            self.opts = opts
            self.state = STATES[opts.search](tbl.nodes, tbl.insts, opts)
            self.state.threads = opts.threads
            self.tbl = tbl
            self.level = 0
            self.streak = 0

    def counters(self):
        """Work counters of the compiled state (candidates evaluated, ...)."""
        return self.state.counters()


def _check_representable(tbl: Table) -> None:
    """The compiled state assumes distinct primary and secondary nodes; an
    instance with the same node in both roles (htools loads it as that
    node's secondary only, and its moves overwrite one role with the other)
    is left to the model's moves."""
    for inst in tbl.insts.values():
        if inst.snode >= 0 and inst.snode == inst.pnode:
            raise NotImplementedError("instance %s has the same primary and "
                                      "secondary node" % inst.name)


if TYPE_CHECKING:
    Scorer = Union[FastBalancer, search.Scorer]


def make_scorer(opts: AlgorithmOptions, tbl: Table) -> Scorer:
    """A FastBalancer for ``tbl`` if possible, else the pure-Python scorer."""
    if not pure():
        try:
            return FastBalancer(opts, tbl)
        except NotImplementedError:
            pass
    return search.make_scorer(tbl.nodes)


def try_balance(opts: AlgorithmOptions, tbl: Table,
                scorer: Scorer) -> Optional[Table]:
    """One balancing step, as :func:`search.try_balance`."""
    if not isinstance(scorer, FastBalancer):
        return search.try_balance(opts, tbl, scorer)
    try:
        scorer.sync(opts, tbl)
    except NotImplementedError:
        return search.try_balance(opts, tbl, search.make_scorer(tbl.nodes))
    state = scorer.state
    if opts.search == "pruned":
        best = _best_pruned(opts, tbl.score, scorer)
    else:
        best = state.best_move(tbl.score)
    if best is None:
        return None
    cv, iidx, kind, target = best
    ini_cv = tbl.score
    if not _acceptable(opts, ini_cv, cv):
        return None
    inst = tbl.insts[iidx]
    move = mv.IMove(kind) if kind == mv.FAILOVER else mv.IMove(kind, target)
    res = mv.apply_move(opts.ignore_soft_errors, tbl.nodes, inst, move)
    if isinstance(res, FailMode):  # pragma: no cover - internal error
        raise AssertionError("compiled balancer chose an infeasible move: "
                             "%s %r (%s)" % (inst.name, move, res.name))
    changed, new_inst, pdx, sdx = res
    new_nodes = dict(tbl.nodes)
    new_nodes.update(changed)
    new_insts = dict(tbl.insts)
    new_insts[new_inst.idx] = new_inst
    state.apply(iidx, kind, target)
    if os.environ.get("HTOOLS_CHECK_BALANCE"):
        _check(state, new_nodes, new_inst, cv)
    plc = Placement(inst.idx, pdx, sdx, move, cv)
    new_tbl = Table(new_nodes, new_insts, cv, tbl.plc + [plc])
    scorer.tbl = new_tbl
    return new_tbl


def greedy_steps(algo: AlgorithmOptions, tbl: Table, max_rounds: int = -1,
                 min_score: Optional[float] = None, make=None, step=None):
    """htools' balancing loop (``iterateDepth``): (state before, state
    after) each; see :func:`htools.balance.steps`.  ``make`` and ``step``
    replace :func:`make_scorer` and :func:`try_balance`."""
    scorer = (make or make_scorer)(algo, tbl)
    step = step or try_balance
    while max_rounds < 0 or len(tbl.plc) < max_rounds:
        if min_score is not None and not do_next_balance(tbl, max_rounds, min_score):
            return
        new_tbl = step(algo, tbl, scorer)
        if new_tbl is None:
            return
        yield tbl, new_tbl
        tbl = new_tbl


def _acceptable(opts: AlgorithmOptions, ini_cv: float, cv: float) -> bool:
    """htools' test of a step's best move (strict gain, min-gain rule)."""
    return cv < ini_cv and (ini_cv > opts.min_gain_limit
                            or ini_cv - cv >= opts.min_gain)


def _best_pruned(opts: AlgorithmOptions, cur: float,
                 scorer: FastBalancer):
    """The pruned search's move, widening the neighbourhood until it has an
    acceptable move or is the full one."""
    state = scorer.state
    level = scorer.level
    while True:
        best = state.best_move_pruned(cur, level)
        if best is not None and _acceptable(opts, cur, best[0]):
            break
        if state.pruned_full(level) or state.pruned_work(level + 1) > MAX_WORK:
            return None
        level += 1
    if level > scorer.level:
        scorer.level = level
        scorer.streak = 0
    elif level > 0:
        scorer.streak += 1
        if scorer.streak >= NARROW_AFTER:
            scorer.level = level - 1
            scorer.streak = 0
    return best


def _check(state, nodes, new_inst, cv: float) -> None:
    """Cross-check the compiled state against the model (debugging)."""
    import struct

    from htools import metrics as sc

    def bits(x: float) -> bytes:
        return struct.pack("<d", x)

    order = sorted(nodes)
    exact = sc.comp_cv([nodes[i] for i in order])
    if bits(exact) != bits(cv) or bits(state.score()) != bits(cv):
        raise AssertionError("score mismatch: model %r, compiled %r/%r"
                             % (exact, cv, state.score()))
    for i in order:
        want = [f(nodes[i]) for f in sc.NODE_VALUES]
        want[18] = 0.0
        got = state.node_values(i)
        if [bits(x) for x in want] != [bits(x) for x in got]:
            raise AssertionError("node %d values differ: %r vs %r" % (i, want, got))
    p, s, loc = state.instance_nodes(new_inst.idx)
    if (p, loc) != (new_inst.pnode, new_inst.location_score) or (
            s != new_inst.snode and s != -1):
        raise AssertionError("instance %s placement differs" % new_inst.name)
