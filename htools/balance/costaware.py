"""``hbal --search=optimal``: cost-aware step sequences that reach a score.

htools' greedy step takes the move that lowers the score most, whatever
it costs; the optimal search only has to reach htools' final score
(``goal``), and every move there costs disk copied, memory migrated and a
step.  :func:`cost_steps` is a greedy loop on the compiled state
(:meth:`htools._balance.BalanceState.best_weighted`) whose step is the
improving move with the best gain for its cost (gain minus ``lam`` times
the cost, or gain per cost), until the score is at most ``goal``; with
``switch`` below 1 the steps are the greedy's own
(:meth:`~htools._balance.BalanceState.best_move`) once that share of the
way from the initial score to ``goal`` is made (the cost-aware steps first
take the cheap gains, the greedy ones get out of where they would stall).
:func:`beam_steps` keeps several sequences at each depth (the lowest
score plus ``lam`` times their cost) and extends each by its best moves
(:meth:`~htools._balance.BalanceState.top_weighted`); wide enough, it is a
breadth-first search for the fewest improving moves.
:func:`prune` then drops the most expensive moves while the replayed
sequence stays legal and ends at most at ``goal``, :func:`condense`
replaces two moves touching a common node by one cheaper move, and
:func:`cheapen` replaces a move by a cheaper one of the same instance
where that still holds.

Every sequence is checked move by move on the compiled state
(:meth:`~htools._balance.BalanceState.evaluate`: the checks of a greedy
step); :mod:`htools.balance.path` turns it into steps with the model's
own check (:func:`htools.moves.apply_move`) and the exact score.
"""
from __future__ import annotations

import time
from array import array
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

from htools import moves as mv
from htools.balance.table import Table
from htools.params import AlgorithmOptions

#: one move of a sequence: (instance index, move from where it is then)
if TYPE_CHECKING:
    Step = Tuple[int, mv.IMove]

#: the variants tried, in order, while time is left: (lam, ratio, switch)
#: (measured on generated 10/80 and 20/200 clusters: each wins on some;
#: those switching to the greedy's steps, faster on large groups, first)
VARIANTS = (
    (0.0, True, 0.6), (1.0, False, 0.6), (0.0, True, 1.0), (3.0, False, 1.0),
    (0.0, True, 0.85), (3.0, False, 0.6), (1.0, False, 1.0),
    (3.0, False, 0.85), (0.0, True, 0.4), (10.0, False, 1.0),
    (1.0, False, 0.85), (10.0, False, 0.6), (0.3, False, 1.0),
    (1.0, False, 0.4), (3.0, False, 0.4), (10.0, False, 0.85),
)

if TYPE_CHECKING:
    Cost = Callable[[object, mv.IMove], float]


def _state(algo: AlgorithmOptions, tbl: Table):
    from htools._balance import BalanceState
    return BalanceState(tbl.nodes, tbl.insts, algo)


def cost_table(tbl: Table, cost: Cost):
    """``costs[instance index, kind]`` for :meth:`best_weighted`."""
    rows = max(tbl.insts, default=0) + 1
    out = array("d", [1.0]) * (rows * 6)
    for inst in tbl.insts.values():
        for kind in range(6):
            out[inst.idx * 6 + kind] = max(1e-9, cost(inst, mv.IMove(kind, 0)))
    return memoryview(out).cast("B").cast("d", [rows, 6])


def _imove(kind: int, target: int) -> mv.IMove:
    return mv.IMove(kind) if kind == mv.FAILOVER else mv.IMove(kind, target)


def cost_steps(algo: AlgorithmOptions, tbl: Table, goal: float, costs,
               lam: float, ratio: bool, switch: float,
               deadline: float, max_steps: int = -1) -> Optional[List[Step]]:
    """The cost-aware sequence from ``tbl`` to a score at most ``goal``;
    None if it stalls above ``goal`` or time runs out."""
    st = _state(algo, tbl)
    start = st.score()
    until = start - switch * (start - goal)

    def pick(cur: float):
        if cur > until:
            return st.best_weighted(cur, costs, lam, ratio)
        return st.best_move(cur)
    return _steps_to(st, [], goal, pick, deadline, max_steps)


def _steps_to(st, seq: List[Step], goal: float, pick, deadline: float,
              max_steps: int) -> Optional[List[Step]]:
    """``seq`` extended on ``st`` (the state after it) by the moves
    ``pick(score)`` chooses until the score is at most ``goal``; None if
    ``pick`` finds none or time or ``max_steps`` runs out."""
    cur = st.score()
    while cur > goal:
        if time.monotonic() > deadline or (0 <= max_steps <= len(seq)):
            return None
        best = pick(cur)
        if best is None:
            return None
        cur, idx, kind, target = best
        st.apply(idx, kind, target)
        seq.append((idx, _imove(kind, target)))
    return seq


def _applied(algo: AlgorithmOptions, tbl: Table, seq: Sequence[Step]):
    """The compiled state of ``tbl`` after ``seq`` (moves not checked)."""
    st = _state(algo, tbl)
    for idx, move in seq:
        st.apply(idx, move.kind, move.target)
    return st


def beam_steps(algo: AlgorithmOptions, tbl: Table, goal: float, costs,
               lam: float, width: int, deadline: float, max_steps: int = -1,
               switch: float = 1.0) -> Optional[List[Step]]:
    """A sequence from ``tbl`` to a score at most ``goal`` found by a beam
    search: at each depth, the ``width`` sequences with the lowest score
    plus ``lam`` times their cost are extended by the ``width`` moves of
    best value (gain minus ``lam`` times the cost,
    :meth:`~htools._balance.BalanceState.top_weighted`) each; at the first
    depth where a sequence reaches ``goal``, the cheapest of those.  With
    ``lam`` 0 it looks for the fewest moves.  With ``switch`` below 1, once
    that share of the way from the initial score to ``goal`` is made, the
    best sequence goes on with the greedy's own steps (beams stall where
    greedy steps would not).  None if every sequence stalls above ``goal``
    or time or ``max_steps`` runs out."""
    home = {i.idx: (i.pnode, i.snode) for i in tbl.insts.values()}
    # (moves, their cost, where the moved instances are)
    beam: List[Tuple[Tuple[Step, ...], float, Dict[int, Tuple[int, int]]]] = [
        ((), 0.0, {})]
    start = tbl.score
    until = start - switch * (start - goal)
    while True:
        if time.monotonic() > deadline or (0 <= max_steps <= len(beam[0][0])):
            return None
        kids = []
        for seq, spent, where in beam:
            st = _applied(algo, tbl, seq)
            for cv, idx, kind, target in st.top_weighted(st.score(), costs, lam,
                                                         False, width):
                c = spent + costs[idx, kind]
                move = _imove(kind, target)
                p, s = where.get(idx) or home[idx]
                kids.append((cv + lam * c, cv, c, seq + ((idx, move),),
                             _moved(where, idx, lands(p, s, move))))
        if not kids:
            return None
        done = [k for k in kids if k[1] <= goal]
        if done:
            return list(min(done, key=lambda k: k[2])[3])
        kids.sort(key=lambda k: k[0])
        if switch < 1.0 and min(k[1] for k in kids) <= until:
            seq = list(min(kids, key=lambda k: k[1])[3])
            st = _applied(algo, tbl, seq)
            return _steps_to(st, seq, goal, st.best_move, deadline, max_steps)
        beam = []
        seen = set()
        for _, _, c, seq, where in kids:
            # one sequence per resulting placement
            key = frozenset(where.items())
            if key not in seen:
                seen.add(key)
                beam.append((seq, c, where))
                if len(beam) == width:
                    break


def _moved(where: Dict[int, Tuple[int, int]], idx: int,
           to: Tuple[int, int]) -> Dict[int, Tuple[int, int]]:
    out = dict(where)
    out[idx] = to
    return out


def condense(algo: AlgorithmOptions, tbl: Table, seq: Sequence[Step],
             goal: float, costs, deadline: float, tries: int = 16
             ) -> List[Step]:
    """``seq`` with pairs of moves replaced by one cheaper move while it
    still replays legal and ends at most at ``goal``.  The pairs tried are
    those whose moves touch a common node (moves that undo part of each
    other), latest first: the sequence without both and then, of the
    ``tries`` moves scoring lowest there, the cheapest (by ``costs``) that
    reaches ``goal`` if it costs less than the pair; again after each
    replacement, while time is left."""
    seq = list(seq)
    home = {i.idx: (i.pnode, i.snode) for i in tbl.insts.values()}
    while len(seq) >= 2:
        where = dict(home)
        touch = []
        for idx, move in seq:
            p, s = where[idx]
            where[idx] = lands(p, s, move)
            touch.append({p, s, *where[idx]} - {-1})
        pairs = [(a, b) for b in range(len(seq) - 1, 0, -1) for a in range(b - 1, -1, -1)
                 if touch[a] & touch[b]]
        for a, b in pairs:
            if time.monotonic() > deadline:
                return seq
            trial = seq[:a] + seq[a + 1:b] + seq[b + 1:]
            st = _legal_state(algo, tbl, trial)
            if st is None:
                continue
            pair = (costs[seq[a][0], seq[a][1].kind]
                    + costs[seq[b][0], seq[b][1].kind])
            fits = [m for m in st.top_weighted(st.score(), costs, 0.0, False, tries)
                    if m[0] <= goal and costs[m[1], m[2]] < pair]
            if fits:
                _, idx, kind, target = min(fits, key=lambda m: costs[m[1], m[2]])
                seq = trial + [(idx, _imove(kind, target))]
                break
        else:
            return seq
    return seq


def _legal_state(algo: AlgorithmOptions, tbl: Table, seq: Sequence[Step]):
    """The compiled state after ``seq`` if every move is legal in turn."""
    st = _state(algo, tbl)
    place = {i.idx: (i.pnode, i.snode) for i in tbl.insts.values()}
    for idx, move in seq:
        p, s = place[idx]
        if not allowed(algo, tbl, tbl.insts[idx], p, s, move):
            return None
        if st.evaluate(idx, move.kind, move.target) is None:
            return None
        st.apply(idx, move.kind, move.target)
        place[idx] = st.instance_nodes(idx)[:2]
    return st


def replay(algo: AlgorithmOptions, tbl: Table, seq: Sequence[Step]
           ) -> Optional[float]:
    """The score at the end of ``seq`` if every move is legal in turn."""
    st = _legal_state(algo, tbl, seq)
    return None if st is None else st.score()


def prune(algo: AlgorithmOptions, tbl: Table, seq: Sequence[Step],
          goal: float, cost: Cost, deadline: float) -> List[Step]:
    """``seq`` without the moves (most expensive first) it can do without
    and still end at most at ``goal``."""
    seq = list(seq)
    keep = [True] * len(seq)
    order = sorted(range(len(seq)),
                   key=lambda k: -cost(tbl.insts[seq[k][0]], seq[k][1]))
    for k in order:
        if time.monotonic() > deadline:
            break
        keep[k] = False
        end = replay(algo, tbl, [x for x, f in zip(seq, keep) if f])
        if end is None or end > goal:
            keep[k] = True
    return [x for x, f in zip(seq, keep) if f]


def lands(p: int, s: int, move: mv.IMove) -> Tuple[int, int]:
    """The (primary, secondary) ``move`` gives an instance on ``p``, ``s``."""
    t = move.target
    return {mv.FAILOVER: (s, p), mv.FAILOVER_TO_ANY: (t, s),
            mv.REPLACE_PRIMARY: (t, s), mv.REPLACE_SECONDARY: (p, t),
            mv.REPLACE_AND_FAILOVER: (t, p),
            mv.FAILOVER_AND_REPLACE: (s, t)}[move.kind]


def allowed_moves(algo: AlgorithmOptions, tbl: Table, inst, p: int,
                  s: int) -> List[mv.IMove]:
    """The moves a greedy step tries for ``inst`` placed on ``p``, ``s``
    (as :func:`htools.balance.search.instance_moves`)."""
    nodes = tbl.nodes
    online = [i for i in sorted(nodes) if not nodes[i].offline]
    mirror = inst.mirror_type.value
    use_secondary = s in online and algo.instance_moves
    out = []
    if mirror == "internal" and use_secondary:
        out.append(mv.IMove(mv.FAILOVER))
    for t in online:
        if t not in (p, s):
            out.extend(mv.possible_moves(
                mirror, use_secondary, algo.instance_moves, algo.disk_moves,
                algo.restricted_migration, nodes[p].offline, t))
    return out


def allowed(algo: AlgorithmOptions, tbl: Table, inst, p: int, s: int,
            move: mv.IMove) -> bool:
    """Whether a greedy step tries ``move`` for ``inst`` placed on ``p``,
    ``s`` (one of :func:`allowed_moves`) and it leaves no node of the
    instance offline (as :meth:`best_weighted`)."""
    nodes = tbl.nodes
    np_, ns_ = lands(p, s, move)
    if nodes[np_].offline or (ns_ >= 0 and nodes[ns_].offline):
        return False
    if algo.evac_mode and not (nodes[p].offline or (s >= 0 and nodes[s].offline)):
        return False
    mirror = inst.mirror_type.value
    use_secondary = s >= 0 and not nodes[s].offline and algo.instance_moves
    if move.kind == mv.FAILOVER:
        return mirror == "internal" and use_secondary
    t = move.target
    if t in (p, s) or t not in nodes or nodes[t].offline:
        return False
    return move in mv.possible_moves(
        mirror, use_secondary, algo.instance_moves, algo.disk_moves,
        algo.restricted_migration, nodes[p].offline, t)


def cheapen(algo: AlgorithmOptions, tbl: Table, seq: Sequence[Step],
            goal: float, cost: Cost, deadline: float,
            tries: Optional[int] = None) -> List[Step]:
    """``seq`` with moves (most expensive first) replaced by a cheaper move
    a greedy step would try for the same instance from the same place
    while it still ends at most at ``goal``: of the cheapest kind that
    works, the one ending lowest (with ``tries``: among the ``tries`` that
    score lowest right after the move)."""
    seq = list(seq)
    order = sorted(range(len(seq)),
                   key=lambda k: -cost(tbl.insts[seq[k][0]], seq[k][1]))
    for k in order:
        if time.monotonic() > deadline:
            break
        idx, move = seq[k]
        inst = tbl.insts[idx]
        now = cost(inst, move)
        st = _applied(algo, tbl, seq[:k])
        p, s, _ = st.instance_nodes(idx)
        tiers: Dict[float, List[Tuple[float, mv.IMove]]] = {}
        for alt in allowed_moves(algo, tbl, inst, p, s):
            c = cost(inst, alt)
            if c < now and allowed(algo, tbl, inst, p, s, alt):
                cv = st.evaluate(idx, alt.kind, alt.target)
                if cv is not None:
                    tiers.setdefault(c, []).append((cv, alt))
        for c in sorted(tiers):
            best = None
            for _, alt in sorted(tiers[c], key=lambda x: x[0])[:tries or None]:
                trial = seq[:k] + [(idx, alt)] + seq[k + 1:]
                end = replay(algo, tbl, trial)
                if end is not None and end <= goal and (best is None or end < best[0]):
                    best = (end, alt)
            if best is not None:
                seq[k] = (idx, best[1])
                break
    return seq
