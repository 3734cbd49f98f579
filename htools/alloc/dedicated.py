"""Allocation on dedicated clusters (htools' ``Dedicated.hs``): the lost-allocations metric."""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from htools.alloc.groups import has_required_networks
from htools.cluster_info import split_cluster
from htools.alloc.place import gen_alloc_nodes
from htools.alloc.primitives import inst_matches_policy
from htools.haskell.ordering import EQ, GT, LT, ghc_sort_by
from htools.alloc.solution import (
    AllocFailure, Element, Solution, _new_inst, annotate_solution, format_score,
    solution_description,
)
from htools.params import AlgorithmOptions
from htools.model import Group, Instance, Node, pm_find
from htools.types import (
    AllocPolicy, DiskTemplate, FailMode, InstanceStatus, NO_SECONDARY,
)

# ==========================================================================
# Dedicated allocation (``Dedicated.hs``): the lost-allocations metric

def is_dedicated(groups: Sequence[Group], nodes: Iterable[Node],
                 group_name: Optional[str]) -> bool:
    """``isDedicated``: every node of the considered groups has exclusive
    storage (considered: the named group, else all allocable groups)."""
    if group_name is None:
        gset = {g.idx for g in groups if g.alloc_policy != AllocPolicy.UNALLOCABLE}
    else:
        gset = {g.idx for g in groups if g.name == group_name}
    return all(n.excl_storage or n.group not in gset for n in nodes)


def test_instances(ipol) -> List[Instance]:
    """``testInstances``: the minimal instance of each min/max pair, by
    decreasing minimal disk size (stable)."""
    specs = [mm.min_spec for mm in ipol.minmax]
    specs = sorted(specs, key=lambda s: -s.disk_size)
    out = []
    for s in specs:
        out.append(Instance(name="minimalspecinstance", mem=s.memory_size,
                            dsk=s.disk_size, disks=[], vcpus=s.cpu_count,
                            run_st=InstanceStatus.RUNNING, tags=[], auto_balance=False,
                            pnode=NO_SECONDARY, snode=NO_SECONDARY,
                            disk_template=DiskTemplate.PLAIN,
                            spindle_use=s.spindle_use, nics=[],
                            forthcoming=False))
    return out


def allocation_vector(insts: Sequence[Instance], node: Node) -> List[int]:
    """``allocationVector``: how many of each test instance fit (strictly)."""
    out = []
    for inst in insts:
        cnt = 0
        cur = node
        while True:
            nxt = cur.add_pri(inst)
            if isinstance(nxt, FailMode):
                break
            cnt += 1
            cur = nxt
        out.append(cnt)
    return out


def _lost_allocations(force: bool, tinsts: List[Instance], inst: Instance,
                      node: Node):
    before = allocation_vector(tinsts, node)
    new = node.add_pri(inst, force=force)
    if isinstance(new, FailMode):
        return new
    after = allocation_vector(tinsts, new)
    return ([b - a for b, a in zip(before, after)], new.f_dsk), new


def _ded_single(opts, nl, inst, pdx, vec_cache):
    p = nl[pdx]
    tinsts = test_instances(p.ipolicy)
    err = inst_matches_policy(inst, p.ipolicy, p.excl_storage)
    if err is not None:
        return err
    res = _lost_allocations(opts.ignore_soft_errors, tinsts, inst, p)
    if isinstance(res, FailMode):
        return res
    metric, new_p = res
    return Element(nl, {pdx: new_p}, _new_inst(inst, pdx, NO_SECONDARY),
                   [new_p], (tuple(metric[0]), metric[1]))


def _ded_pair(opts, nl, inst, pdx, sdx, vec_cache):
    p = nl[pdx]
    s = nl[sdx]
    tinsts = test_instances(p.ipolicy)
    ni = _new_inst(inst, pdx, sdx)
    err = inst_matches_policy(inst, p.ipolicy, p.excl_storage)
    if err is not None:
        return err
    key = ("p", pdx)
    res = vec_cache.get(key)
    if res is None:
        res = _lost_allocations(opts.ignore_soft_errors, tinsts, ni, p)
        vec_cache[key] = res
    if isinstance(res, FailMode):
        return res
    (l_p, dsk_p), new_p = res
    # the secondary's outcome depends on the primary only through its
    # peer-map entry: cached per (secondary, entry); the node kept in the
    # element is fixed up for the chosen pair (see _fix_secondary)
    key = ("s", sdx, pm_find(s.peers, pdx) if s.peers else 0)
    cached = vec_cache.get(key)
    if cached is None:
        new_s = s.add_sec(ni, pdx)
        if isinstance(new_s, FailMode):
            cached = new_s
        else:
            bkey = ("b", sdx)
            before_s = vec_cache.get(bkey)
            if before_s is None:
                before_s = allocation_vector(tinsts, s)
                vec_cache[bkey] = before_s
            after_s = allocation_vector(tinsts, new_s)
            cached = (new_s, [b - a for b, a in zip(before_s, after_s)])
        vec_cache[key] = cached
    if isinstance(cached, FailMode):
        return cached
    new_s, l_s = cached
    metric = (tuple(a + b for a, b in zip(l_p, l_s)), dsk_p + new_s.f_dsk)
    return Element(nl, {pdx: new_p, sdx: new_s}, ni, [new_p, new_s], metric)


def _fix_secondary(nl: Mapping[int, Node], el: Optional[Element]) -> None:
    """Recompute the chosen pair's secondary with its own primary."""
    if el is None or len(el.placed) != 2:
        return
    pdx, sdx = el.inst.pnode, el.inst.snode
    new_s = nl[sdx].add_sec(el.inst, pdx)
    el.changes[sdx] = new_s
    el.placed[1] = new_s
    el._nodes = None


def _metric_key(m):
    return (list(m[0]), m[1])


def _concat_allocs(sol: Solution, res) -> None:
    if isinstance(res, FailMode):
        sol.fails[res] += 1
        return
    sol.allocs += 1
    old = sol.solution
    if old is None or not _metric_key(old.score) < _metric_key(res.score):
        sol.solution = res


def dedicated_find_allocation(opts: AlgorithmOptions, groups: Sequence[Group],
                              nl: Mapping[int, Node], gdx: int, inst: Instance,
                              count: int) -> Tuple[Solution, List[str]]:
    """``Dedicated.findAllocation``."""
    gnl = {k: n for k, n in sorted(nl.items()) if n.group == gdx}
    grp = groups[gdx]
    if not has_required_networks(grp, inst):
        raise AllocFailure("The group %s is not connected to a network required "
                           "by instance %s" % (grp.name, inst.name))
    kind, targets = gen_alloc_nodes(opts, groups, gnl, count, False)
    vec_cache: Dict = {}
    if kind == "pair":
        if not targets:
            raise AllocFailure("Not enough online nodes")
        total = Solution()
        for p, ss in targets:
            sol = Solution()
            for s in ss:
                _concat_allocs(sol, _ded_pair(opts, gnl, inst, p, s, vec_cache))
            total = _ded_sum(total, sol)
        sol = total
        _fix_secondary(gnl, sol.solution)
    else:
        if not targets:
            raise AllocFailure("No online nodes")
        sol = Solution()
        for p in targets:
            _concat_allocs(sol, _ded_single(opts, gnl, inst, p, vec_cache))
    annotate_solution(sol, format_score)
    return sol, solution_description(grp, sol, None)


def _ded_sum(a: Solution, b: Solution) -> Solution:
    sa, sb = a.solution, b.solution
    if sb is None:
        best = sa
    elif sa is None:
        best = sb
    else:
        best = sa if _metric_key(sa.score) < _metric_key(sb.score) else sb
    return Solution([x + y for x, y in zip(a.fails, b.fails)],
                    a.allocs + b.allocs, best, b.log + a.log)


def dedicated_mg_allocation(opts: AlgorithmOptions, groups: Sequence[Group],
                            nl: Mapping[int, Node], il: Mapping[int, Instance],
                            inst: Instance, count: int) -> Solution:
    """``Dedicated.findMGAllocation``."""
    sols = []
    for gdx, gnl, _ in split_cluster(nl, il):
        grp = groups[gdx]
        try:
            sol, _ = dedicated_find_allocation(opts, groups, gnl, gdx, inst, count)
            sols.append((grp, sol, None))
        except AllocFailure as err:
            sols.append((grp, None, err.msg))
    all_msgs = [m for g, s, e in sols for m in solution_description(g, s, e)]
    good = [(g, s) for g, s, _ in reversed(sols)
            if s is not None and s.solution is not None and g.is_allocable]

    def cmp(a, b) -> int:
        pa, pb = a[0].alloc_policy.order, b[0].alloc_policy.order
        if pa != pb:
            return LT if pa < pb else GT
        ka, kb = _metric_key(a[1].solution.score), _metric_key(b[1].solution.score)
        return LT if ka < kb else (EQ if ka == kb else GT)
    good = ghc_sort_by(cmp, good)
    if not good:
        raise AllocFailure(", ".join(all_msgs))
    grp, sol = good[0]
    sol.log = ["Selected group: " + grp.name] + all_msgs
    return sol
