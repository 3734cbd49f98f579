"""``tryAlloc`` on the compiled core (:class:`htools._core.AllocState`).

:func:`try_alloc` answers exactly what :func:`htools.alloc.place.try_alloc`
answers - same failure counts, same allocation count, same chosen
placement and score, same log line - for the common case: a new instance
without exclusion tags, desired location tags or forthcoming status, no
explanation trace.  It returns None when it does not apply, and the caller
then runs the model's own path.

The compiled state of a node list is built once per node list object and
kept (with the list, so that its identity stays valid) in a small cache;
:func:`note_derived` registers the state of a node list derived from a
cached one by an allocation (two changed nodes) without re-reading the
whole list, which is what makes hspace's thousands of allocations cheap.
"""
from __future__ import annotations

from collections import OrderedDict
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Tuple

from htools._core import AllocState, PairPlan, set_alloc_threads
from htools.alloc.primitives import inst_matches_policy
from htools.alloc.solution import (
    NUM_FAIL_MODES, AllocFailure, Element, Solution, _new_inst, annotate_solution,
    best_element, collection_to_solution,
)
from htools.model import Instance, Node
from htools.params import thread_count
from htools.types import NO_SECONDARY

#: node list identity -> (node list, AllocState); least recently used first
_STATES: "OrderedDict[int, Tuple[Mapping, AllocState]]" = OrderedDict()
_MAX_STATES = 16
#: (target list identity, layout) -> (target list, PairPlan, policy groups)
_PLANS: "OrderedDict[Tuple, Tuple]" = OrderedDict()
_MAX_PLANS = 8


def eligible(inst: Instance) -> bool:
    """Whether the compiled evaluation covers this new instance."""
    return (not inst.forthcoming and not inst.excl_tags
            and not inst.dsrd_loc_tags)


def _remember(cache: OrderedDict, key, value, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def state_for(nl: Mapping[int, Node]) -> AllocState:
    """The compiled state of ``nl`` (cached by identity)."""
    hit = _STATES.get(id(nl))
    if hit is not None and hit[0] is nl:
        _STATES.move_to_end(id(nl))
        return hit[1]
    keys = sorted(nl)
    st = AllocState([nl[k] for k in keys], keys)
    _remember(_STATES, id(nl), (nl, st), _MAX_STATES)
    return st


def total_avail_mem(nl: Mapping[int, Node]) -> int:
    """``sum(n.avail_mem() for n in nl.values())`` (from the compiled state
    when ``nl`` has one already)."""
    hit = _STATES.get(id(nl))
    if hit is not None and hit[0] is nl:
        return hit[1].total_avail_mem()
    return sum(n.avail_mem() for n in nl.values())


def note_derived(old_nl: Mapping[int, Node], new_nl: Mapping[int, Node],
                 changes: Mapping[int, Node]) -> None:
    """Register ``new_nl`` = ``old_nl`` with ``changes`` (same keys)."""
    hit = _STATES.get(id(old_nl))
    if hit is None or hit[0] is not old_nl:
        return
    try:
        st = hit[1].derive(changes)
    except NotImplementedError:    # a value the C types cannot hold
        return
    _remember(_STATES, id(new_nl), (new_nl, st), _MAX_STATES)


#: inst_matches_policy answers by (policy identity, exclusive storage, the
#: instance's policy-relevant values): hspace asks the same few thousands
#: of times; the policy object is kept with its answer
_POLICY: Dict[Tuple, Tuple[object, int]] = {}


def policy_code(inst: Instance, ipol, excl: bool) -> int:
    """``inst_matches_policy`` as the compiled evaluation takes it: the
    failure mode's value, or -1 if the instance fits."""
    key = (id(ipol), excl, inst.mem, inst.vcpus, inst.spindle_use,
           inst.disk_template, tuple([d.size for d in inst.disks]),
           inst.total_spindles() if excl else None)
    hit = _POLICY.get(key)
    if hit is not None and hit[0] is ipol:
        return hit[1]
    r = inst_matches_policy(inst, ipol, excl)
    code = -1 if r is None else int(r)
    if len(_POLICY) > 4096:
        _POLICY.clear()
    _POLICY[key] = (ipol, code)
    return code


def _plan_for(st: AllocState, nl: Mapping[int, Node], alloc_nodes):
    """The PairPlan of ``alloc_nodes`` and the primaries grouped by their
    (instance policy, exclusive storage) for the policy check."""
    layout = st.layout
    key = (id(alloc_nodes), id(layout))
    hit = _PLANS.get(key)
    if hit is not None and hit[0] is alloc_nodes and hit[3] is layout:
        return hit[1], hit[2]
    plan = PairPlan(st, alloc_nodes)
    kind, targets = alloc_nodes
    prim = targets if kind != "pair" else [p for p, _ in targets]
    groups: Dict[Tuple[int, bool], Tuple[object, bool, List[int]]] = {}
    for i, p in enumerate(prim):
        node = nl[p]
        gk = (id(node.ipolicy), bool(node.excl_storage))
        ent = groups.get(gk)
        if ent is None:
            ent = groups[gk] = (node.ipolicy, bool(node.excl_storage), [])
        ent[2].append(i)
    _remember(_PLANS, key, (alloc_nodes, plan, list(groups.values()), layout),
              _MAX_PLANS)
    return plan, list(groups.values())


def _policy(inst: Instance, plan: PairPlan, groups) -> List[int]:
    """Per primary of ``plan``: the policy failure mode of ``inst``, or -1."""
    if len(groups) == 1:
        ipol, excl, _ = groups[0]
        return [policy_code(inst, ipol, excl)] * len(plan)
    policy = [-1] * len(plan)
    for ipol, excl, idxs in groups:
        r = policy_code(inst, ipol, excl)
        if r >= 0:
            for i in idxs:
                policy[i] = r
    return policy


_THREADS_SET = False


def _prepare(opts, nl: Mapping[int, Node], inst: Instance, alloc_nodes):
    """The compiled state of ``nl``, the plan of ``alloc_nodes``, the
    policy results of ``inst`` and the force flag; None if a value does
    not fit the C types."""
    global _THREADS_SET
    if not _THREADS_SET:
        # two-node plans are evaluated on all cores ($HTOOLS_THREADS)
        set_alloc_threads(thread_count())
        _THREADS_SET = True
    try:
        st = state_for(nl)
    except NotImplementedError:    # a value the C types cannot hold
        return None
    plan, groups = _plan_for(st, nl, alloc_nodes)
    return st, plan, _policy(inst, plan, groups), bool(opts.ignore_soft_errors)


def try_alloc(opts, nl: Mapping[int, Node], il, inst: Instance, alloc_nodes,
              n1pred, best_only: bool = False) -> Optional[object]:
    """``tryAlloc`` on the compiled core, or None when it does not apply
    (the caller then uses the model's path).  Raises AllocFailure as the
    model's path does for empty target lists.

    ``best_only``: only the chosen placement is wanted (not the failure
    and allocation counts, which are then partial): with a capacity
    predicate, two-node primaries that cannot beat the best found are not
    checked (see :func:`_filtered`)."""
    if not eligible(inst):
        return None
    kind, targets = alloc_nodes
    if not targets:
        raise AllocFailure("No online nodes" if kind != "pair"
                              else "Not enough online nodes")
    prep = _prepare(opts, nl, inst, alloc_nodes)
    if prep is None:
        return None
    st, plan, policy, force = prep
    heads = best_only and kind == "pair" and n1pred is not None
    try:
        res = st.evaluate(inst, plan, policy, force, n1pred is not None, False,
                          heads)
    except (ValueError, NotImplementedError):
        return None
    if res is None:
        return None
    if heads:
        return annotate_solution(_filtered_heads(nl, inst, force, st, targets,
                                                 policy, res, n1pred))
    if n1pred is None:
        fails, allocs, best = res
        el = None
        if best is not None:
            el = _element(nl, inst, force, kind, best)
        return annotate_solution(Solution(list(fails), allocs, el))
    return annotate_solution(_filtered(nl, inst, force, kind, res, n1pred,
                                       best_only))


def _element(nl, inst: Instance, force: bool, kind: str, best):
    score, p, s, loc = best
    if kind != "pair":
        new_p = nl[p].add_pri(inst, force=force)
        return Element(nl, {p: new_p}, _new_inst(inst, p, NO_SECONDARY),
                          [new_p], score)
    ni = _new_inst(inst, p, s, loc)
    new_p = nl[p].add_pri(ni, force=force)
    new_s = nl[s].add_sec(ni, p)
    return Element(nl, {p: new_p, s: new_s}, ni, [new_p, new_s], score)


def _filtered(nl, inst: Instance, force: bool, kind: str, per_primary,
              n1pred, best_only: bool = False):
    """The capacity-checked solution from the collected candidates, as
    ``collectionToSolution`` (per primary for pairs) and ``sumAllocs``.

    ``best_only`` (pairs): the primaries are checked in the order of their
    lowest candidate score, and those whose lowest score is above the best
    placement found so far are skipped - the placement a primary yields
    scores at least its lowest candidate, and ``sumAllocs`` keeps a
    placement only if none scores lower (ties: the later primary, so the
    checked ones are folded in their order).  The counts are then those of
    the checked primaries only."""
    if kind != "pair":
        fails = ([sum(col) for col in zip(*[e[1] for e in per_primary])]
                 or [0] * NUM_FAIL_MODES)
        scores, prims = [], []
        for p, _pf, sc, _secs, _locs in per_primary:
            scores.extend(sc)
            prims.extend([p] * len(sc))
        cands = _ByScore(scores, lambda k: (scores[k], prims[k], -1, 0))
        return collection_to_solution(
            fails, cands, lambda c: c[0],
            lambda c: _element(nl, inst, force, kind, c), n1pred,
            changed_of=lambda c: (c[1],), presorted=True)
    # sumAllocs over the primaries' collectionToSolution, in one pass: a
    # primary whose first candidate (in the sorted order) passes the check
    # adds its counts and that candidate; any other goes the general way
    fails = [0] * NUM_FAIL_MODES
    allocs = 0
    best = None
    quick = getattr(n1pred, "quick_reject", None)
    if best_only:
        heads = [(min(scores), i)
                 for i, (_p, _pf, scores, _secs, _locs) in enumerate(per_primary)
                 if scores]

        def check(i: int):
            return _primary_best(nl, inst, force, kind, n1pred, quick, *per_primary[i])
        return _best_first(heads, check)
    for p, pf, scores, secs, locs in per_primary:
        el, n, pfails = _primary_best(nl, inst, force, kind, n1pred, quick,
                                      p, pf, scores, secs, locs)
        for m, c in enumerate(pfails):
            fails[m] += c
        allocs += n
        best = best_element(best, el)
    return Solution(fails, allocs, best)


def _filtered_heads(nl, inst: Instance, force: bool, st: AllocState, targets,
                    policy, heads, n1pred) -> Solution:
    """:func:`_filtered` with ``best_only`` (two-node targets) from the
    first candidate of each primary (``evaluate``'s ``heads``): a primary
    whose first candidate fails the check is evaluated again, alone, for
    all its candidates."""
    quick = getattr(n1pred, "quick_reject", None)

    def check(i: int):
        p, pf, n, score, sec, loc = heads[i]
        if quick is None or not quick((p, sec)):
            el = _element(nl, inst, force, "pair", (score, p, sec, loc))
            if n1pred(el):
                return el, n, pf
        full = st.evaluate(inst, PairPlan(st, ("pair", [targets[i]])),
                           [policy[i]], force, True)
        _p, pf, scores, secs, locs = full[0]
        return _primary_best(nl, inst, force, "pair", n1pred, quick,
                             p, pf, scores, secs, locs)
    return _best_first([(h[3], i) for i, h in enumerate(heads) if h[2]], check)


def _best_first(heads, check) -> Solution:
    """``sumAllocs`` over the primaries that can give the best placement:
    ``heads`` holds (lowest candidate score, primary index) of the
    primaries with candidates; they are checked (``check(i)``: placement
    or None, allocations, failure counts) from the lowest head up, until a
    head is above the best placement found - a primary's placement scores
    at least its head -; the placements found are folded in primary order
    (ties: the later primary).  The counts are those of the checked
    primaries."""
    fails = [0] * NUM_FAIL_MODES
    allocs = 0
    found: Dict[int, object] = {}
    low = None
    for head, i in sorted(heads, key=lambda h: h[0]):
        if low is not None and head > low:
            break
        el, n, pf = check(i)
        found[i] = el
        allocs += n
        for m, c in enumerate(pf):
            fails[m] += c
        if el is not None and (low is None or el.score < low):
            low = el.score
    best = None
    for i in sorted(found):
        best = best_element(best, found[i])
    return Solution(fails, allocs, best)


def _primary_best(nl, inst: Instance, force: bool, kind: str, n1pred, quick,
                  p: int, pf, scores, secs, locs):
    """One primary's ``collectionToSolution``: (the placement or None, the
    allocation count, the failure counts)."""
    n = len(scores)
    el = None
    if n:
        # the sorted order's head: the lowest score, the newest on ties
        k = min(range(n - 1, -1, -1), key=scores.__getitem__)
        if quick is None or not quick((p, secs[k])):
            el = _element(nl, inst, force, kind, (scores[k], p, secs[k], locs[k]))
            if not n1pred(el):
                el = None
    if el is not None or not n:
        return el, n, pf
    sol = collection_to_solution(
        list(pf), _ByScore(scores, lambda k, p=p, scores=scores, secs=secs,
                           locs=locs: (scores[k], p, secs[k], locs[k])),
        lambda c: c[0], lambda c: _element(nl, inst, force, kind, c), n1pred,
        changed_of=lambda c: (c[1], c[2]), presorted=True)
    return sol.solution, sol.allocs, sol.fails


class _ByScore:
    """Candidates in the order of htools' ``sortBy (comparing score)`` over
    the newest-first list: by score, ties newest (last evaluated) first.
    Built one by one as they are read (most reads stop at the first).
    The compiled evaluation returns no NaN score."""

    __slots__ = ("order", "make")

    def __init__(self, scores: List[float], make) -> None:
        self.order = sorted(range(len(scores) - 1, -1, -1), key=scores.__getitem__)
        self.make = make

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        make = self.make
        for k in self.order:
            yield make(k)


def iterate_single(opts, nl: Mapping[int, Node], il, limit, newinst: Instance,
                   alloc_nodes, ixes: List[Instance]):
    """``iterateAllocSmallStep`` without capacity checks for one-node
    targets on the compiled core: ``(fail stats, node map, instance map,
    new instances)`` as the model's loop gives them, or None where it does
    not apply (pairs, tagged or forthcoming instances, no targets, a limit
    that is not a number, a value the C types cannot hold, a NaN score).

    The compiled state places the copies one after the other and returns
    the chosen nodes; the model's nodes and instances are then built by
    the same ``addPri`` calls the model's loop makes, without its
    intermediate states and solutions.  The compiled state after the
    placements becomes the new node map's."""
    kind, targets = alloc_nodes
    if (kind == "pair" or not targets or not eligible(newinst)
            or (limit is not None and type(limit) is not int)):
        return None
    prep = _prepare(opts, nl, newinst, alloc_nodes)
    if prep is None:
        return None
    st, plan, policy, force = prep
    try:
        res = st.iterate_single(newinst, plan, policy, force, limit)
    except (ValueError, NotImplementedError):
        return None
    if res is None:
        return None
    chosen, fails, final = res
    stats = Solution(fails, 0, None).fail_stats()
    if not chosen:
        return stats, nl, il, list(ixes)
    new_nl = dict(nl)
    new_il = dict(il)
    new_ixes = list(ixes)
    changes: Dict[int, Node] = {}
    for p in chosen:
        newidx = len(new_il)
        newi2 = newinst.copy()
        newi2.name = newi2.alias = "new-%d" % len(new_ixes)
        newi2.idx = newidx
        node = new_nl[p].add_pri(newi2, force=force)
        if not isinstance(node, Node):
            raise AssertionError("compiled placement refused by the model: %s" % node)
        new_nl[p] = changes[p] = node
        xi = _new_inst(newi2, p, NO_SECONDARY)
        new_il[newidx] = xi
        new_ixes.insert(0, xi)
    # the state the placements were made on is the new map's
    _remember(_STATES, id(new_nl), (new_nl, final), _MAX_STATES)
    return stats, new_nl, new_il, new_ixes
