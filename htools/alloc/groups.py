"""Allocation across node groups: ``tryMGAlloc``, ``tryGroupAlloc``, ``allocList`` and ``tryAllocateSecondary``."""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Mapping, Optional, Sequence, Tuple

from htools.alloc.n1 import n1_predicate
from htools.alloc.place import gen_alloc_nodes, try_alloc
from htools.alloc.primitives import extract_nl, update_il
from htools.haskell.ordering import EQ, GT, LT, compare_double, ghc_sort_by
from htools.alloc.solution import (
    AllocFailure, Element, Solution, Trace, solution_description,
)
if TYPE_CHECKING:
    from htools.alloc.solution import InstList, NodeList
from htools.params import AlgorithmOptions
from htools.haskell.show import show_string, show_string_list
from htools.model import Group, Instance, Node
from htools.types import AllocPolicy, DiskTemplate

# ==========================================================================
# Groups

def has_required_networks(grp: Group, inst: Instance) -> bool:
    return all(nic.network is None or nic.network in grp.networks
               for nic in inst.nics)


def _policy_cmp(a: Tuple[Group, Solution], b: Tuple[Group, Solution]) -> int:
    pa, pb = a[0].alloc_policy.order, b[0].alloc_policy.order
    if pa != pb:
        return LT if pa < pb else GT
    sa, sb = a[1].solution.score, b[1].solution.score
    if isinstance(sa, float) or isinstance(sb, float):
        return compare_double(sa, sb)
    return LT if sa < sb else (EQ if sa == sb else GT)


def sort_mg_results(sols: List[Tuple[Group, Optional[Solution], Optional[str]]]
                    ) -> List[Tuple[Group, Solution]]:
    """``sortMGResults . filterMGResults``."""
    good = [(g, s) for g, s, _ in reversed(sols)
            if s is not None and s.solution is not None and g.is_allocable]
    return ghc_sort_by(_policy_cmp, good)


def show_group(g: Group) -> str:
    """Haskell ``show`` of a ``Group``."""
    from htools.types import show_ipolicy
    return ("Group {name = %s, uuid = %s, idx = %d, allocPolicy = %s, "
            "networks = %s, iPolicy = %s, allTags = %s}" % (
                show_string(g.name), show_string(g.uuid), g.idx,
                _ALLOC_POL_CON[g.alloc_policy], show_string_list(g.networks),
                show_ipolicy(g.ipolicy), show_string_list(g.tags)))


_ALLOC_POL_CON = {AllocPolicy.PREFERRED: "AllocPreferred",
                  AllocPolicy.LAST_RESORT: "AllocLastResort",
                  AllocPolicy.UNALLOCABLE: "AllocUnallocable"}


def _group_nodes(nl: Mapping[int, Node]) -> List[Tuple[int, dict]]:
    """The node maps of ``splitCluster`` (its instance maps are not read
    here): per group, ascending, its nodes by index."""
    by_group: dict = {}
    for k in sorted(nl):
        n = nl[k]
        by_group.setdefault(n.group, {})[k] = n
    return sorted(by_group.items())


def find_best_alloc_group(opts: AlgorithmOptions, groups: Sequence[Group],
                          nl: Mapping[int, Node], il: Mapping[int, Instance],
                          allowed: Optional[List[int]], inst: Instance,
                          count: int, trace: Optional[Trace] = None,
                          group_only: bool = False
                          ) -> Tuple[Group, Solution, List[str]]:
    """``findBestAllocGroup``.

    ``group_only``: only the group is wanted; the groups' placements are
    then searched for the best one only (their counts partial) and the
    messages are not built - unless no group has a placement, when the
    whole search runs again for the failure's message."""
    all_groups = [(groups[gdx], gnl) for gdx, gnl in _group_nodes(nl)]
    cand = all_groups
    if allowed is not None:
        cand = [(g, gnl) for g, gnl in cand if g.idx in allowed]
    valid = []
    msgs = []
    for g, gnl in cand:
        if has_required_networks(g, inst):
            valid.append((g, gnl))
        else:
            msgs.append("group %s is not connected to a network required by "
                        "instance %s" % (g.name, inst.name))
    pred = n1_predicate(opts, nl, il)
    sols = []
    for g, gnl in valid:
        if trace is not None:
            trace.group = g.name
        try:
            an = gen_alloc_nodes(opts, groups, gnl, count, False)
            sols.append((g, try_alloc(opts, nl, il, inst, an, trace, pred,
                                      group_only), None))
        except AllocFailure as err:
            sols.append((g, None, err.msg))
    good = sort_mg_results(sols)
    if group_only:
        if good:
            return good[0][0], good[0][1], []
        return find_best_alloc_group(opts, groups, nl, il, allowed, inst, count,
                                     trace)
    all_msgs = msgs + [m for g, s, e in sols for m in solution_description(g, s, e)]
    if not good:
        if not cand:
            raise AllocFailure(
                "no groups for evacuation: allowed groups was %s, all groups: [%s]"
                % (_show_maybe_ints(allowed),
                   ",".join(show_group(g) for g, _ in all_groups)))
        raise AllocFailure(", ".join(all_msgs))
    g, sol = good[0]
    return g, sol, all_msgs


def _show_maybe_ints(v: Optional[List[int]]) -> str:
    if v is None:
        return "Nothing"
    return "Just [%s]" % ",".join("%d" % x for x in v)


def try_mg_alloc(opts: AlgorithmOptions, groups: Sequence[Group],
                 nl: Mapping[int, Node], il: Mapping[int, Instance],
                 inst: Instance, count: int,
                 trace: Optional[Trace] = None) -> Solution:
    """``tryMGAlloc``."""
    grp, sol, msgs = find_best_alloc_group(opts, groups, nl, il, None, inst,
                                           count, trace)
    sol.log = ["Selected group: " + grp.name] + msgs
    return sol


def find_group_by_name(groups: Sequence[Group], name: str) -> Group:
    found = [g for g in groups if name in (g.name, g.uuid)]
    if len(found) != 1:
        raise AllocFailure("Wrong number of elems found with name " + name)
    return found[0]


def find_allocation(opts: AlgorithmOptions, groups: Sequence[Group],
                    nl: Mapping[int, Node], il: Mapping[int, Instance],
                    gdx: int, inst: Instance, count: int,
                    trace: Optional[Trace] = None) -> Tuple[Solution, List[str]]:
    """``findAllocation``: allocate inside one group (its nodes only)."""
    gnl = {k: n for k, n in sorted(nl.items()) if n.group == gdx}
    gil = {i: x for i, x in il.items() if x.pnode in gnl}
    grp = groups[gdx]
    if not has_required_networks(grp, inst):
        raise AllocFailure("The group %s is not connected to a network required "
                           "by instance %s" % (grp.name, inst.name))
    an = gen_alloc_nodes(opts, groups, gnl, count, False)
    sol = try_alloc(opts, gnl, gil, inst, an, trace)
    return sol, solution_description(grp, sol, None)


def try_group_alloc(opts: AlgorithmOptions, groups: Sequence[Group],
                    nl: Mapping[int, Node], il: Mapping[int, Instance],
                    gname: str, inst: Instance, count: int,
                    trace: Optional[Trace] = None) -> Solution:
    """``tryGroupAlloc``."""
    grp = find_group_by_name(groups, gname)
    sol, msgs = find_allocation(opts, groups, nl, il, grp.idx, inst, count, trace)
    sol.log = msgs
    return sol


# ==========================================================================
# Multi-allocation

def apply_solution(nl: Mapping[int, Node], il: Mapping[int, Instance],
                   sol: Optional[Element]) -> Tuple[NodeList, InstList]:
    """(``extractNl nl il sol``, ``updateIl il sol``)."""
    return extract_nl(nl, il, sol), update_il(il, sol)


def alloc_list(opts: AlgorithmOptions, groups: Sequence[Group],
               nl: Mapping[int, Node], il: Mapping[int, Instance],
               reqs: Sequence[Tuple[Instance, Optional[str], int]],
               trace: Optional[Trace] = None
               ) -> Tuple[NodeList, InstList, List[Tuple[Instance, Solution]]]:
    """``allocList``: allocate in order; (final nodes, instances, results)."""
    results = []
    nl = dict(nl)
    il = dict(il)
    for xi, gname, cnt in reqs:
        if trace is not None:
            trace.inst, trace.group = xi.name, ""
        if gname is None:
            sol = try_mg_alloc(opts, groups, nl, il, xi, cnt, trace)
        else:
            sol = try_group_alloc(opts, groups, nl, il, gname, xi, cnt, trace)
        nl, il = apply_solution(nl, il, sol.solution)
        results.append((xi, sol))
    return nl, il, results


# ==========================================================================
# Allocate-secondary (``Cluster/AllocateSecondary.hs``)

def try_allocate_secondary(opts: AlgorithmOptions, groups: Sequence[Group],
                           nl: Mapping[int, Node], il: Mapping[int, Instance],
                           idx: int, trace: Optional[Trace] = None
                           ) -> Tuple[Solution, NodeList]:
    """``tryAllocateSecondary``: (the solution, the node list it ran on)."""
    inst = il[idx]
    if not inst.snode < 0:
        raise AllocFailure("Instance already has a secondary")
    pidx = inst.pnode
    pnode2 = nl[pidx].remove_pri(inst)
    nl2 = dict(nl)
    nl2[pidx] = pnode2
    inst2 = inst.copy()
    inst2.disk_template = DiskTemplate.DRBD
    inst2.movable = True
    gidx = pnode2.group
    sidxs = [k for k in sorted(nl2) if nl2[k].group == gidx and k != pidx]
    return try_alloc(opts, nl2, il, inst2, ("pair", [(pidx, sidxs)]), trace), nl2
