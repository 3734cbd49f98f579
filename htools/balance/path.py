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

Besides the solver's targets, the plans compared are htools' own moves,
htools' end state reached with one move per instance, the beam searches
and cost-aware sequences of :mod:`htools.balance.costaware` (and htools'
moves), and the solver's plans and htools' end state cut at the first
step at most at htools' final score, each pruned and cheapened; the three
cheapest of them also condensed (pairs of moves replaced by one cheaper
move).  The cheapest plan (by the ``--opt-*`` costs) ending at most at
htools' final score is the run (:attr:`OptimalRun.plans` lists them all).

``-l`` (maximum number of steps) and the minimum score apply to the whole
run.  :meth:`OptimalRun.summary` is the line hbal prints at the end.
"""
from __future__ import annotations

import time
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Iterator, List, Optional, Tuple

from htools import moves as mv
from htools.balance.optimal import (
    OptimalOptions, Target, copied_mib, migrated_mib, sigmas, solve)
from htools.balance.compiled import greedy_steps
from htools.balance.costaware import (
    VARIANTS, beam_steps, cheapen, condense, cost_steps, cost_table, prune, replay)
from htools.balance.search import instance_moves, make_scorer, victims
from htools.balance.table import Placement, Table, do_next_balance
from htools.params import AlgorithmOptions
from htools.specification import pure
from htools.types import FailMode

#: plans longer than this are ordered in passes instead of best-first
FULL_ORDER = 300

#: the cost scales tried, cheapest plans first, until a plan ends at most
#: at htools' final score (each run gets an equal share of the time left)
COST_SCALES = (4.0, 1.0)

#: the share of the time left each of those runs gets
SHARES = (0.75, 1.0)

#: plans (moves times nodes) up to which every cheaper move is replayed
CHEAPEN_ALL = 2000

#: the share of the time limit the cost-aware sequences may take (from the
#: start; the solver runs get the rest)
COST_AWARE_SHARE = 0.5

#: the beam searches tried among the cost-aware variants: ("beam", width,
#: lam, switch) (see :func:`htools.balance.costaware.beam_steps`; measured
#: on generated 10/80 and 20/200 clusters: each wins on some, in 0.2-4 s)
BEAMS = (("beam", 8, 3.0, 1.0), ("beam", 8, 0.0, 1.0), ("beam", 8, 3.0, 0.6),
         ("beam", 8, 0.0, 0.6), ("beam", 8, 1.0, 0.8))

#: the share of the time limit kept, at the end, for cutting the solver's
#: plans and condensing the cheapest
POST_SHARE = 0.2

#: the cheapest plans condensed at the end
CONDENSE_BEST = 3


class OptimalRun:
    """The steps of ``hbal --search=optimal`` from ``tbl``."""

    def __init__(self, algo: AlgorithmOptions, tbl: Table, max_rounds: int = -1,
                 min_score: Optional[float] = None,
                 oopts: Optional[OptimalOptions] = None) -> None:
        self.algo = algo
        self.oopts = oopts or OptimalOptions(**(algo.optimal or {}))
        self.tbl = tbl
        self.max_rounds = max_rounds
        self.min_score = min_score
        self.target: Optional[Target] = None
        self.applied = 0        # moves of the target applied
        self.polish = 0         # greedy steps after them
        self.tries = 0          # solver runs
        self.label = ""         # the plan chosen
        self._cost_rows = None
        #: the plans compared: (label, moves, cost, MiB copied, MiB
        #: migrated, final score), in the order they were made
        self.plans: List[Tuple[str, int, float, int, int, float]] = []
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
        tbl = self.tbl
        deadline = self.oopts.deadline()
        start = deadline - self.oopts.time_limit
        if not self._more(tbl):
            return
        greedy = self.algo.replace(search="exhaustive", optimal=None)
        # htools' plan: the solver's starting point and the mark to beat
        ref = [new for _, new in greedy_steps(greedy, tbl, self.max_rounds, self.min_score)]
        fin = ref[-1] if ref else tbl
        plans = [("htools' moves", ref, 0)]
        # htools' end state, each instance moved there directly
        direct = (("htools' end state direct",)
                  + self._realise(greedy, tbl, net_moves(self.algo, tbl, fin), fin))
        plans.append(direct)
        # cost-aware step sequences reaching htools' score, pruned
        plans.extend(self._cost_aware(greedy, tbl, ref, fin.score, start
                                      + COST_AWARE_SHARE * self.oopts.time_limit))
        hint = {i.idx: (i.pnode, i.snode) for i in fin.insts.values()}
        sigma = sigmas([n for n in fin.nodes.values() if not n.offline])
        post = deadline - POST_SHARE * self.oopts.time_limit
        targets = [direct]
        for k, scale in enumerate(COST_SCALES):
            share = (post - time.monotonic()) * SHARES[k]
            if share <= 0:
                break
            target = solve(self.algo, self.oopts.scaled(scale), tbl, hint=hint,
                           sigma=sigma, deadline=time.monotonic() + share)
            self.tries += 1
            if self.target is None or target.solved:
                self.target = target
            if target.solved:
                label = "solver target, cost scale %g" % scale
                plan = (label,) + self._realise(greedy, tbl, target.moves, fin)
                plans.append(plan)
                targets.append(plan)
        # the solver's plans go deeper than htools' score: their steps up
        # to the first at most at it, pruned and cheapened
        for label, plan, _ in targets:
            cut = next((k for k, t in enumerate(plan) if t.score <= fin.score), None)
            if cut is None or cut + 1 == len(plan):
                continue
            seq = [(t.plc[-1].idx, t.plc[-1].move) for t in plan[:cut + 1]]
            try:
                done = self._finish(greedy, tbl, seq, fin.score, deadline)
            except NotImplementedError:     # not representable compiled
                done = None
            if done is not None:
                plans.append((label + ", cut at htools' score", done, len(done)))
        # the cheapest few condensed (pairs of moves replaced by one
        # cheaper move), sharing the time left
        good = self._good(tbl, plans, fin.score)
        best = sorted(good, key=lambda g: g[:2])[:CONDENSE_BEST]
        for k, (_, _, steps, _, label) in enumerate(best):
            now = time.monotonic()
            if now > deadline or pure():
                break
            seq = [(t.plc[-1].idx, t.plc[-1].move) for t in steps]
            try:
                done = self._finish(greedy, tbl, seq, fin.score,
                                    now + (deadline - now) / (len(best) - k),
                                    condensed=True)
            except NotImplementedError:     # not representable compiled
                break
            if done is not None and len(done) < len(steps):
                plans.append((label + ", condensed", done, len(done)))
        # the cheapest plan ending at most at htools' score
        good = self._good(tbl, plans, fin.score)
        _, _, plan, self.applied, self.label = min(good, key=lambda g: g[:2])
        self.plans = [(label, len(steps), cost) + self._plan_data(tbl, steps)
                      for cost, _, steps, _, label in good]
        self.polish = len(plan) - self.applied
        old = tbl
        for new in plan:
            yield old, new
            old = new

    def _good(self, tbl: Table, plans, goal: float):
        """(cost, position, steps, applied, label) of the plans ending at
        most at ``goal``."""
        return [(self._plan_cost(tbl, plan), n, plan, applied, label)
                for n, (label, plan, applied) in enumerate(plans)
                if (plan[-1] if plan else tbl).score <= goal]

    def _realise(self, greedy: AlgorithmOptions, tbl: Table, moves, fin: Table):
        """The steps of ``moves`` in a legal order, then greedy polish while
        the score is above ``fin``'s or a step gains more than it costs;
        (steps, number of those from ``moves``)."""
        plan = []
        end = tbl
        for old, end in follow(self.algo, tbl, moves):
            if not self._more(old):
                break
            plan.append(end)
        applied = len(plan)
        for old, new in greedy_steps(greedy, end, self.max_rounds, self.min_score):
            if (old.score <= fin.score
                    and old.score - new.score < self._cost(old, new)):
                break
            plan.append(new)
        return plan, applied

    def _cost_aware(self, greedy: AlgorithmOptions, tbl: Table, ref, goal: float,
                    deadline: float):
        """Plans (label, steps, steps) of htools' own moves and of the
        cost-aware sequences of :mod:`htools.balance.costaware` that end at
        most at ``goal``, each pruned and cheapened, while time is left;
        none where the compiled state cannot represent the group (or with
        ``HTOOLS_PURE``)."""
        if pure() or not ref:
            return []
        try:
            costs = self._costs
            replay(greedy, tbl, [])
        except NotImplementedError:
            return []
        max_steps = (-1 if self.max_rounds < 0
                     else max(0, self.max_rounds - len(tbl.plc)))
        out = []
        # the variants that reach the score soonest on large groups first,
        # then the first beam, the other variants and beams in turn
        order = ((None,) + VARIANTS[:2] + BEAMS[:1] + VARIANTS[2:4] + BEAMS[1:]
                 + VARIANTS[4:])
        for variant in order:
            if time.monotonic() > deadline:
                break
            if variant is None:
                label = "htools' moves"
                seq = [(t.plc[-1].idx, t.plc[-1].move) for t in ref]
            elif variant[0] == "beam":
                _, width, lam, switch = variant
                label = "beam search (%d wide, %s%s)" % (
                    width, "gain - %g x cost" % lam if lam else "fewest moves",
                    ", greedy after %d%%" % round(100 * switch) if switch < 1 else "")
                # at most a quarter of the time left
                now = time.monotonic()
                seq = beam_steps(greedy, tbl, goal, costs, lam, width,
                                 now + (deadline - now) / 4, max_steps, switch)
                if seq is None:
                    continue
            else:
                lam, ratio, switch = variant
                label = "cost-aware steps (%s%s)" % (
                    "gain per cost" if ratio else "gain - %g x cost" % lam,
                    ", greedy after %d%%" % round(100 * switch)
                    if switch < 1 else "")
                # at most half the time left, for the variants after it
                now = time.monotonic()
                seq = cost_steps(greedy, tbl, goal, costs, lam, ratio, switch,
                                 now + (deadline - now) / 2, max_steps)
                if seq is None:
                    continue
            plan = self._finish(greedy, tbl, seq, goal, deadline)
            if plan is not None:
                out.append((label + ", pruned", plan, len(plan)))
        return out

    def _finish(self, greedy: AlgorithmOptions, tbl: Table, seq, goal: float,
                deadline: float, condensed: bool = False):
        """The steps of ``seq`` pruned, with ``condensed`` condensed, and
        cheapened (see :mod:`htools.balance.costaware`), ending at most at
        ``goal``; None if they do not replay legally."""
        seq = prune(greedy, tbl, seq, goal, self._move_cost, deadline)
        if condensed:
            # pairs of moves replaced by one, in half the time
            now = time.monotonic()
            seq = condense(greedy, tbl, seq, goal, self._costs,
                           now + max(0.0, deadline - now) / 2)
        # every cheaper move replayed on small plans, else the few
        # scoring lowest right after it
        tries = None if len(seq) * len(tbl.nodes) <= CHEAPEN_ALL else 3
        seq = cheapen(greedy, tbl, seq, goal, self._move_cost, deadline, tries)
        plan = replay_steps(self.algo, tbl, seq)
        if plan is None or len(plan) != len(seq):
            return None
        # -l and the minimum score end the run as they end htools'
        for k, old in enumerate([tbl] + plan[:-1]):
            if not self._more(old):
                del plan[k:]
                break
        return plan

    @property
    def _costs(self):
        """``costs[instance, kind]`` of the compiled steps (made once)."""
        if self._cost_rows is None:
            self._cost_rows = cost_table(self.tbl, self._move_cost)
        return self._cost_rows

    def _plan_data(self, tbl: Table, plan) -> Tuple[int, int, float]:
        """(MiB copied, MiB migrated, final score) of a plan."""
        old = tbl
        copied = migrated = 0
        for new in plan:
            plc = new.plc[-1]
            copied += copied_mib(old.insts[plc.idx], plc.move)
            migrated += migrated_mib(old.insts[plc.idx], plc.move)
            old = new
        return copied, migrated, old.score

    def _plan_cost(self, tbl: Table, plan) -> float:
        old = tbl
        total = 0.0
        for new in plan:
            total += self._cost(old, new)
            old = new
        return total

    def _cost(self, old: Table, new: Table) -> float:
        """The cost of the step to ``new`` in score units."""
        plc = new.plc[-1]
        return self._move_cost(old.insts[plc.idx], plc.move)

    def _move_cost(self, inst, move: mv.IMove) -> float:
        """The cost of ``move`` of ``inst`` in score units."""
        o = self.oopts
        return (o.move_cost + o.disk_cost * copied_mib(inst, move) / 1024.0
                + o.mem_cost * migrated_mib(inst, move) / 1024.0)

    def summary(self) -> Optional[str]:
        """The quality line (None if the solver did not run)."""
        if self.target is None:
            return None
        return ("%s; %d solver runs; plan: %s (%d moves, %d greedy polish "
                "steps)" % (self.target.summary(), self.tries, self.label,
                            self.applied, self.polish))


def net_moves(algo: AlgorithmOptions, tbl: Table, fin: Table):
    """For each instance placed elsewhere in ``fin``, the one move a greedy
    step could make from ``tbl`` that puts it there (if there is one)."""
    nodes = tbl.nodes
    online = [i for i in sorted(nodes) if not nodes[i].offline]
    online_set = frozenset(online)
    out = {}
    for inst in victims(algo, tbl):
        want = fin.insts[inst.idx]
        goal = (want.pnode, want.snode)
        if goal == (inst.pnode, inst.snode):
            continue
        for move in instance_moves(algo, online, online_set, nodes, inst):
            if _lands(inst, move) == goal:
                out[inst.idx] = move
                break
    return out


def _lands(inst, move: mv.IMove) -> Tuple[int, int]:
    """The (primary, secondary) ``move`` gives ``inst``."""
    p, s, t = inst.pnode, inst.snode, move.target
    return {mv.FAILOVER: (s, p), mv.FAILOVER_TO_ANY: (t, s),
            mv.REPLACE_PRIMARY: (t, s), mv.REPLACE_SECONDARY: (p, t),
            mv.REPLACE_AND_FAILOVER: (t, p),
            mv.FAILOVER_AND_REPLACE: (s, t)}[move.kind]


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


def replay_steps(algo: AlgorithmOptions, tbl: Table, seq):
    """The steps (tables) of ``seq`` (instance index, move) in its order,
    each checked by :func:`htools.moves.apply_move` and scored exactly;
    None if a move is not legal in turn."""
    force = algo.ignore_soft_errors
    scorer = make_scorer(tbl.nodes)
    out = []
    for idx, move in seq:
        res = mv.apply_move(force, tbl.nodes, tbl.insts[idx], move)
        if isinstance(res, FailMode):
            return None
        changed, new_inst, pdx, sdx = res
        cv = scorer.score_changed(tbl.nodes, changed)
        new_nodes = dict(tbl.nodes)
        new_nodes.update(changed)
        new_insts = dict(tbl.insts)
        new_insts[idx] = new_inst
        scorer.commit(new_nodes)
        tbl = Table(new_nodes, new_insts, cv,
                    tbl.plc + [Placement(idx, pdx, sdx, move, cv)])
        out.append(tbl)
    return out


def _initial_order(force: bool, tbl: Table, pending, scorer):
    """The pending moves by their score on ``tbl`` (illegal ones last)."""
    keyed = []
    for idx, move in pending.items():
        res = mv.apply_move(force, tbl.nodes, tbl.insts[idx], move)
        cv = (float("inf") if isinstance(res, FailMode)
              else scorer.score_changed(tbl.nodes, res[0]))
        keyed.append((cv, idx))
    return [idx for _, idx in sorted(keyed)]
