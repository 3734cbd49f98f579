"""Placing one instance within one group: ``genAllocNodes`` and ``tryAlloc``.

Single-node candidates are scored with the exact cluster score, two-node
candidates with htools' incremental statistics update; per collection the
successes are sorted by score, newest first, so among equal scores the
candidate evaluated last wins, and the first passing the global N+1
predicate is kept.  The compiled path (:mod:`htools.alloc.compiled`) is
used where it applies.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from htools._core import ClusterState
from htools.alloc import compiled as fastalloc
from htools.alloc.n1 import n1_predicate
from htools.alloc.primitives import inst_matches_policy
from htools.alloc.solution import (
    AllocFailure, Element, NUM_FAIL_MODES, Rejection, Solution, Trace, _new_inst,
    annotate_solution, collection_to_solution, sum_allocs,
)
from htools.params import AlgorithmOptions
from htools.model import Group, Instance, Node, pm_find
from htools.specification import pure
from htools.types import FailMode, NO_SECONDARY

# ==========================================================================
# Candidate generation and tryAlloc

#: a one-node target list, or a list of (primary, [secondaries])
if TYPE_CHECKING:
    AllocNodes = Union[Tuple[str, List[int]], Tuple[str, List[Tuple[int, List[int]]]]]


def get_online(nl: Mapping[int, Node]) -> List[Node]:
    return [nl[k] for k in sorted(nl) if not nl[k].offline]


#: the last answers of gen_alloc_nodes by what they depend on (the pair
#: lists are quadratic in the group's size, and the compiled placement
#: keeps its plan by the list's identity)
_GEN_CACHE: Dict[tuple, AllocNodes] = {}


def gen_alloc_nodes(opts: AlgorithmOptions, groups: Sequence[Group],
                    nl: Mapping[int, Node], count: int,
                    drop_unalloc: bool) -> AllocNodes:
    """``genAllocNodes``: ("single", [ndx]) or ("pair", [(p, [s])]).

    The answer depends on the online nodes' keys, groups and names only
    (and the groups' allocation policies with ``drop_unalloc``): the same
    answer is given for the same inputs (the lists must not be changed)."""
    nodes = get_online(nl)
    restrict = opts.restrict_to_nodes
    key = (count, tuple([(n.idx, n.group, n.name) for n in nodes]),
           None if restrict is None else tuple(restrict),
           tuple([g.is_allocable for g in groups]) if drop_unalloc else None)
    hit = _GEN_CACHE.get(key)
    if hit is not None:
        return hit
    out = _gen_alloc_nodes(opts, groups, nodes, count, drop_unalloc)
    if len(_GEN_CACHE) >= 8:
        _GEN_CACHE.clear()
    _GEN_CACHE[key] = out
    return out


def _gen_alloc_nodes(opts: AlgorithmOptions, groups: Sequence[Group],
                     nodes: List[Node], count: int,
                     drop_unalloc: bool) -> AllocNodes:
    if drop_unalloc:
        nodes = [n for n in nodes if groups[n.group].is_allocable]
    if opts.restrict_to_nodes is not None:
        allowed = set(opts.restrict_to_nodes)
        nodes = [n for n in nodes if n.name in allowed]
    if count == 1:
        return ("single", [n.idx for n in nodes])
    if count == 2:
        by_group: Dict[int, List[int]] = {}
        for n in nodes:
            by_group.setdefault(n.group, []).append(n.idx)
        pairs = []
        for p in nodes:
            pdx = p.idx
            ss = [s for s in by_group[p.group] if s != pdx]
            if ss:
                pairs.append((pdx, ss))
        return ("pair", pairs)
    raise AllocFailure("Unsupported number of nodes, only one or two  supported")


def try_alloc(opts: AlgorithmOptions, nl: Mapping[int, Node],
              il: Mapping[int, Instance], inst: Instance,
              alloc_nodes: AllocNodes, trace: Optional[Trace] = None,
              n1pred: Optional[Callable] = None,
              best_only: bool = False) -> Solution:
    """``tryAlloc``: the annotated best placement of ``inst``.

    ``n1pred`` overrides the capacity predicate (default: global N+1 on
    ``nl``/``il`` when ``opts.capacity``).  ``best_only``: only the
    placement is wanted; the counts may then be partial (see
    :func:`htools.alloc.compiled.try_alloc`)."""
    kind, targets = alloc_nodes
    if n1pred is None:
        n1pred = n1_predicate(opts, nl, il)
    if trace is None and not pure():
        sol = fastalloc.try_alloc(opts, nl, il, inst, alloc_nodes, n1pred,
                                  best_only)
        if sol is not None:
            return sol
    if kind == "pair":
        sol = _try_alloc_pairs(opts, nl, il, inst, targets, n1pred, trace)
    else:
        sol = _try_alloc_single(opts, nl, il, inst, targets, n1pred, trace)
    return annotate_solution(sol)


def _n1_trace(kind: str, nl, il):
    def info(c, el: Optional[Element], make) -> Rejection:
        return Rejection(kind, "n1", FailMode.FailN1,
                         element=el if el is not None else (lambda: make(c)),
                         nl=nl, il=il)
    return info


def _try_alloc_single(opts: AlgorithmOptions, nl: Mapping[int, Node],
                      il: Mapping[int, Instance], inst: Instance,
                      targets: List[int], n1pred, trace) -> Solution:
    if not targets:
        raise AllocFailure("No online nodes")
    keys = sorted(nl)
    cs = ClusterState([nl[k] for k in keys], keys)
    force = opts.ignore_soft_errors
    fails = [0] * NUM_FAIL_MODES
    cands: List[Tuple[float, int, Node]] = []
    for ndx in targets:
        p = nl[ndx]
        err = inst_matches_policy(inst, p.ipolicy, p.excl_storage)
        stage = "policy"
        if err is None:
            new_p = p.add_pri(inst, force=force)
            if isinstance(new_p, FailMode):
                err, stage = new_p, "primary"
        if err is not None:
            fails[err] += 1
            if trace is not None:
                trace.add(Rejection("single", stage, err, p, inst, nl=nl))
            continue
        cands.append((cs.score_with(((ndx, new_p),)), ndx, new_p))
    cands.reverse()

    def make(c) -> Element:
        score, ndx, new_p = c
        return Element(nl, {ndx: new_p}, _new_inst(inst, ndx, NO_SECONDARY),
                       [new_p], score)
    return collection_to_solution(fails, cands, lambda c: c[0], make, n1pred,
                                  trace, _n1_trace("single", nl, il),
                                  lambda c: (c[1],))


def _try_alloc_pairs(opts: AlgorithmOptions, nl: Mapping[int, Node],
                     il: Mapping[int, Instance], inst: Instance,
                     pairs: List[Tuple[int, List[int]]], n1pred,
                     trace) -> Solution:
    if not pairs:
        raise AllocFailure("Not enough online nodes")
    keys = sorted(nl)
    cs = ClusterState([nl[k] for k in keys], keys)
    force = opts.ignore_soft_errors
    total = Solution()
    # add_pri depends on the secondary only through the location score;
    # add_sec depends on the primary only through its peer-map entry.
    sec_cache: Dict[Tuple[int, int], Union[Node, FailMode]] = {}
    for p, ss in pairs:
        tgt_p = nl[p]
        fails = [0] * NUM_FAIL_MODES
        cands: List[Tuple[float, int, int]] = []
        pol = inst_matches_policy(inst, tgt_p.ipolicy, tgt_p.excl_storage)
        if pol is not None:
            fails[pol] += len(ss)
            if trace is not None:
                trace.add(Rejection("pair", "policy", pol, tgt_p, inst, nl=nl))
        else:
            ploc = tgt_p.location_tags
            pri_cache: Dict[int, Union[Node, FailMode]] = {}
            new_p = None
            if not ploc:
                new_p = tgt_p.add_pri(_new_inst(inst, p, NO_SECONDARY, 0), force=force)
                if isinstance(new_p, FailMode):
                    # the same refusal for every secondary
                    fails[new_p] += len(ss)
                    if trace is not None:
                        trace.add(Rejection("pair", "primary", new_p, tgt_p,
                                            _new_inst(inst, p, ss[0], 0),
                                            other=nl[ss[0]], nl=nl))
                    ss = ()
            score_fast = cs.score_with_fast
            append = cands.append
            loc = 0
            for s in ss:
                tgt_s = nl[s]
                if ploc:
                    loc = len(ploc & tgt_s.location_tags)
                    new_p = pri_cache.get(loc)
                    if new_p is None:
                        new_p = tgt_p.add_pri(_new_inst(inst, p, s, loc), force=force)
                        pri_cache[loc] = new_p
                    if isinstance(new_p, FailMode):
                        fails[new_p] += 1
                        if trace is not None:
                            trace.add(Rejection("pair", "primary", new_p, tgt_p,
                                                _new_inst(inst, p, s, loc),
                                                other=tgt_s, nl=nl))
                        continue
                peers = tgt_s.peers
                key = (s, pm_find(peers, p) if peers else 0)
                new_s = sec_cache.get(key)
                if new_s is None:
                    new_s = tgt_s.add_sec(_new_inst(inst, p, s, loc), p)
                    sec_cache[key] = new_s
                if new_s.__class__ is FailMode:
                    fails[new_s] += 1
                    if trace is not None:
                        trace.add(Rejection("pair", "secondary", new_s, tgt_s,
                                            _new_inst(inst, p, s, loc), pdx=p,
                                            other=tgt_p, nl=nl))
                    continue
                append((score_fast(((p, new_p), (s, new_s))), s, loc))
            cands.reverse()

        def make(c, p=p, tgt_p=tgt_p) -> Element:
            score, s, loc = c
            ni = _new_inst(inst, p, s, loc)
            new_p = tgt_p.add_pri(ni, force=force)
            new_s = nl[s].add_sec(ni, p)
            return Element(nl, {p: new_p, s: new_s}, ni, [new_p, new_s], score)
        sol = collection_to_solution(fails, cands, lambda c: c[0], make, n1pred,
                                     trace, _n1_trace("pair", nl, il),
                                     lambda c, p=p: (p, c[1]))
        total = sum_allocs(total, sol)
    return total
