"""Capacity planning: htools' ``iterateAlloc``/``tieredAlloc`` and the
cluster statistics (``CStats``, ``totalResources``,
``computeAllocationDelta``) used by hspace (Ganeti 3.0.2 ``Cluster.hs``).
"""
from __future__ import annotations

from htools.record import record
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from htools.alloc.place import try_alloc
from htools.alloc.primitives import extract_nl
from htools.alloc.solution import AllocFailure, Solution
from htools.params import AlgorithmOptions
from htools.alloc import compiled as fastalloc
from htools.errors import UncaughtIOError
from htools.specification import pure
from htools.alloc import globaln1, n1
from htools.model import Disk, Instance, Node, hs_truncate, set_pool_disks
from htools.haskell.prelude import wrap_int64
from htools.types import (
    DiskTemplate, FailMode, InstanceStatus, UNIT_CPU, UNIT_DSK, UNIT_MEM, UNIT_SPINDLE,
)

if TYPE_CHECKING:
    NodeList = Dict[int, Node]
if TYPE_CHECKING:
    InstList = Dict[int, Instance]


# ==========================================================================
# Statistics

@record
class CStats:
    fmem: int = 0
    fdsk: int = 0
    fspn: int = 0
    amem: int = 0
    adsk: int = 0
    acpu: int = 0
    mmem: int = 0
    mdsk: int = 0
    mcpu: int = 0
    imem: int = 0
    idsk: int = 0
    ispn: int = 0
    icpu: int = 0
    tmem: float = 0.0
    tdsk: float = 0.0
    tspn: float = 0.0
    tcpu: float = 0.0
    vcpu: int = 0
    ncpu: float = 0.0
    xmem: int = 0
    nmem: int = 0
    score: float = 0.0
    ninst: int = 0


def total_resources(nodes: Sequence[Node]) -> CStats:
    """``totalResources`` over ``nodes`` (in container order)."""
    from htools.metrics import comp_cv
    cs = CStats()
    w = wrap_int64    # each node's figure is an Int, the sums are Integers
    for n in nodes:
        amem = n.avail_mem()
        adsk = n.avail_disk()
        acpu = n.avail_cpu()
        cs.fmem += n.unallocated_mem()
        cs.fdsk += n.f_dsk
        cs.fspn += n.f_spindles
        cs.amem += amem
        cs.adsk += adsk
        cs.acpu += acpu
        cs.mmem = max(cs.mmem, amem)
        cs.mdsk = max(cs.mdsk, adsk)
        cs.mcpu = max(cs.mcpu, acpu)
        cs.imem += n.i_mem
        cs.idsk += w(hs_truncate(n.t_dsk) - n.f_dsk)
        cs.ispn += w(n.t_spindles - n.f_spindles)
        cs.icpu += n.u_cpu
        cs.tmem += n.t_mem
        cs.tdsk += n.t_dsk
        cs.tspn += float(n.t_spindles)
        cs.tcpu += n.t_cpu
        cs.vcpu += n.hi_cpu
        cs.ncpu += float(n.u_cpu) / n.ipolicy.vcpu_ratio
        cs.xmem += n.x_mem
        cs.nmem += n.n_mem
        cs.ninst += len(n.p_list)
    cs.score = comp_cv(list(nodes))
    return cs


@record
class AllocInfo:
    vcpus: int
    ncpus: float
    mem: int
    dsk: int
    spn: int


def compute_allocation_delta(cini: CStats, cfin: CStats
                             ) -> Tuple[AllocInfo, AllocInfo, AllocInfo]:
    """``computeAllocationDelta``: (used, pool, unavailable)."""
    w = wrap_int64    # AllocInfo's fields are Ints (the stats Integers)
    rini = AllocInfo(w(cini.icpu), cini.ncpu, w(cini.imem), w(cini.idsk),
                     w(cini.ispn))
    rfin = AllocInfo(w(cfin.icpu - cini.icpu), cfin.ncpu - cini.ncpu,
                     w(cfin.imem - cini.imem), w(cfin.idsk - cini.idsk),
                     w(cfin.ispn - cini.ispn))
    runa = AllocInfo(w(cfin.vcpu - cfin.icpu), cfin.tcpu - cfin.ncpu,
                     w(hs_truncate(cfin.tmem) - w(cfin.imem)),
                     w(hs_truncate(cfin.tdsk) - w(cfin.idsk)),
                     w(hs_truncate(cfin.tspn) - w(cfin.ispn)))
    return rini, rfin, runa


# ==========================================================================
# Instances

def required_nodes(dt: DiskTemplate) -> int:
    return 2 if dt == DiskTemplate.DRBD else 1


def inst_from_spec(mem: int, dsk: int, cpu: int, spn: int, dt: DiskTemplate,
                   su: int) -> Instance:
    """hspace's ``instFromSpec``."""
    return Instance("new", mem, dsk, [Disk(dsk, spn)], cpu,
                    InstanceStatus.RUNNING, [], True, -1, -1, dt, su)


def spec_of(inst: Instance) -> Tuple[int, int, int, int]:
    """``specOf`` as (mem, dsk, cpu, spn)."""
    sp = 0
    if len(inst.disks) == 1 and inst.disks[0].spindles is not None:
        sp = inst.disks[0].spindles
    return (inst.mem, inst.dsk, inst.vcpus, sp)


def shrink_by_type(inst: Instance, fm: FailMode) -> Optional[Instance]:
    """``shrinkByType`` (None for ``Bad``)."""
    if fm == FailMode.FailMem:
        v = inst.mem - UNIT_MEM
        if v < UNIT_MEM:
            return None
        new = inst.copy()
        new.mem = v
        return new
    if fm == FailMode.FailDisk:
        newdisks = [Disk(d.size - UNIT_DSK, d.spindles) for d in inst.disks]
        if any(d.size < UNIT_DSK for d in newdisks):
            return None
        new = inst.copy()
        new.dsk = inst.dsk - len(inst.disks) * UNIT_DSK
        new.disks = newdisks
        if inst.pool_disks:
            # the storage pools shrink with the disks
            set_pool_disks(new, [(d.size, vg, meta) for d, (_, vg, meta)
                                 in zip(newdisks, inst.pool_disks)])
        return new
    if fm == FailMode.FailCPU:
        v = inst.vcpus - UNIT_CPU
        if v < UNIT_CPU:
            return None
        new = inst.copy()
        new.vcpus = v
        return new
    if fm == FailMode.FailSpindles:
        if len(inst.disks) != 1 or inst.disks[0].spindles is None:
            return None
        v = inst.disks[0].spindles - UNIT_SPINDLE
        if v < UNIT_SPINDLE:
            return None
        new = inst.copy()
        new.disks = [Disk(inst.disks[0].size, v)]
        return new
    return None


# ==========================================================================
# Allocation loops

class AllocResult:
    """(failure stats, nodes, instances, allocated newest-first)."""

    __slots__ = ("fails", "nl", "il", "ixes")

    def __init__(self, fails: List[Tuple[FailMode, int]], nl: NodeList,
                 il: InstList, ixes: List[Instance]) -> None:
        self.fails = fails
        self.nl = nl
        self.il = il
        self.ixes = ixes


def _try_alloc(opts: AlgorithmOptions, nl, il, inst, allocnodes) -> Solution:
    return try_alloc(opts, nl, il, inst, allocnodes)


def iterate_alloc_small_step(opts: AlgorithmOptions, nl: NodeList, il: InstList,
                             limit: Optional[int], newinst: Instance,
                             allocnodes, ixes: List[Instance]) -> AllocResult:
    """``iterateAllocSmallStep`` (iterative; raises AllocFailure on Bad)."""
    if newinst.disk_template == DiskTemplate.DRBD:
        opts = opts.replace(capacity=False)
    if not opts.capacity and not pure():
        fast = fastalloc.iterate_single(opts, nl, il, limit, newinst, allocnodes, ixes)
        if fast is not None:
            return AllocResult(*fast)
    ixes = list(ixes)
    while True:
        newidx = len(il)
        newi2 = newinst.copy()
        newi2.name = newi2.alias = "new-%d" % len(ixes)
        newi2.idx = newidx
        sol = _try_alloc(opts, nl, il, newi2, allocnodes)
        el = sol.solution
        if el is None or limit == 0:
            return AllocResult(sol.fail_stats(), nl, il, ixes)
        xi = el.inst
        xnl = extract_nl(nl, il, el)
        fastalloc.note_derived(nl, xnl, {k: xnl[k] for k in el.changes})
        il = dict(il)
        il[newidx] = xi
        nl = xnl
        ixes.insert(0, xi)
        if limit is not None:
            limit -= 1


#: redundant() results by state identity (the objects kept alive with them):
#: tieredAlloc's shrink levels re-check the same, unchanged state
_REDUNDANT_CACHE: Dict = {}


def _redundant(nl: NodeList, il: InstList, accept_existing: bool,
               ignore_groups) -> bool:
    key = (id(nl), id(il), accept_existing, tuple(ignore_groups))
    hit = _REDUNDANT_CACHE.get(key)
    if hit is not None and hit[0] is nl and hit[1] is il:
        return hit[2]
    check = globaln1.redundant if pure() else n1.redundant
    val = check(nl, il, accept_existing, ignore_groups)
    _REDUNDANT_CACHE[key] = (nl, il, val)
    return val


def _redundant_after(nl: NodeList, il: InstList, new_nl: NodeList, new_il: InstList,
                     accept_existing: bool, ignore_groups) -> bool:
    """:func:`_redundant` of ``new_nl``/``new_il``, the state ``nl``/``il``
    after allocations (instances added, none moved or removed).

    When ``nl`` has a node that cannot be evacuated and that no addition
    to the nodes the allocations changed can help (the checker's sticky
    failures, as the capacity checks of ``tryAlloc`` use them), the answer
    is False without evacuating anything."""
    if new_nl is not nl and not pure() and len(new_nl) == len(nl):
        checker = n1._shared_checker(nl, il, accept_existing, tuple(ignore_groups))
        if not checker.crash_possible and checker.base_false is not None:
            changed = [k for k, node in new_nl.items() if nl.get(k) is not node]
            if checker.quick_reject(changed):
                return False
    return _redundant(new_nl, new_il, accept_existing, ignore_groups)


class _DivideByZero:
    """The value of ``x `div` 0``, which htools only evaluates lazily: a
    big-step limit computed from an instance of no memory.  It is harmless
    until compared or counted down (after a successful allocation), where
    the reference dies of ``divide by zero``."""

    def _die(self, *_args):
        raise UncaughtIOError("divide by zero")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _die
    __sub__ = __rsub__ = __isub__ = _die
    __hash__ = None  # type: ignore[assignment]


def guess_bigstep_size(nl: NodeList, inst: Instance):
    if inst.mem == 0:
        return _DivideByZero()
    total = fastalloc.total_avail_mem(nl)
    guess = total // inst.mem - len(nl)
    return 20 if guess < 20 else guess


def _same_small_step(lim1, placed: int, limit: Optional[int]) -> bool:
    """Whether the loop of 10 that follows a failed big step would give the
    big step's own result: the big step stopped on a failure (``placed`` <
    ``lim1``) after at most as many placements as the loop of 10 may
    make.  The allocation is deterministic, so that loop places the same
    instances, stops on the same failed attempt, and its state fails the
    same redundancy check."""
    if type(lim1) is not int:
        return False
    small = 10 if limit is None else min(10, limit)
    return placed < lim1 and placed <= small


def iterate_alloc(opts: AlgorithmOptions, nl: NodeList, il: InstList,
                  limit: Optional[int], newinst: Instance, allocnodes,
                  ixes: List[Instance], huge: bool = True) -> AllocResult:
    """``iterateAlloc'`` (the big-step speed-up of the small-step loop)."""
    while True:
        if not opts.capacity:
            return iterate_alloc_small_step(opts, nl, il, limit, newinst,
                                            allocnodes, ixes)
        step = guess_bigstep_size(nl, newinst) if huge else 10
        if limit is None:
            lim1, newlimit = step, None
        elif isinstance(step, _DivideByZero):
            lim1 = newlimit = step
        else:
            lim1, newlimit = min(step, limit), max(0, limit - step)
        res = iterate_alloc_small_step(opts.replace(capacity=False), nl, il,
                                       lim1, newinst, allocnodes, ixes)
        if _redundant_after(nl, il, res.nl, res.il, opts.accept_existing,
                            opts.capacity_ignore_groups):
            if (newlimit is not None and newlimit == 0) or len(res.ixes) == len(ixes):
                return res
            nl, il, limit, ixes = res.nl, res.il, newlimit, res.ixes
            continue
        placed = len(res.ixes) - len(ixes)
        if huge and (pure() or not _same_small_step(lim1, placed, limit)):
            huge = False
            continue
        if (placed == 1 and type(lim1) is int and lim1 > 1 and not pure()
                and newinst.disk_template != DiskTemplate.DRBD):
            known = _lone_candidate_fails(opts, nl, il, newinst, allocnodes,
                                          ixes, res.ixes[0].pnode)
            if known is not None:
                return known
        return iterate_alloc_small_step(opts, nl, il, limit, newinst,
                                        allocnodes, ixes)


def _lone_candidate_fails(opts: AlgorithmOptions, nl: NodeList, il: InstList,
                          newinst: Instance, allocnodes, ixes: List[Instance],
                          pnode: int) -> Optional[AllocResult]:
    """The capacity-checked small step after a step without checks that
    placed one instance (on ``pnode``) and stopped on a failure, and whose
    state failed the redundancy check - if ``pnode`` is the only node the
    instance fits on.  That step's first placement has then that one
    candidate, whose state is the one that failed, so ``allocGlobalN1``
    drops it: no instance is placed, and the failure counts are those of
    the placement without checks plus one ``FailN1``.  None when another
    node fits (the small step must run).  Not for DRBD instances, whose
    small step has no capacity checks."""
    newi2 = newinst.copy()
    newi2.name = newi2.alias = "new-%d" % len(ixes)
    newi2.idx = len(il)
    sol = _try_alloc(opts.replace(capacity=False), nl, il, newi2, allocnodes)
    el = sol.solution
    if sol.allocs != 1 or el is None or el.inst.pnode != pnode:
        return None
    fails = list(sol.fails)
    fails[FailMode.FailN1] += 1
    return AllocResult(Solution(fails, 0, None).fail_stats(), nl, il, list(ixes))


def _stable_sort_by_count(errs: List[Tuple[FailMode, int]]):
    return sorted(errs, key=lambda e: e[1])


def _spec_key(inst: Instance) -> Tuple:
    return (inst.mem, inst.dsk, inst.vcpus,
            tuple((d.size, d.spindles) for d in inst.disks))


def _suffices_shrinking(alloc_fn, inst: Instance, fm: FailMode,
                        memo: Optional[Dict] = None) -> Optional[Instance]:
    """``sufficesShrinking``: the first instance of the chain ``inst``,
    ``shrink fm inst``, ... (each listed only if it can be shrunk once
    more) that allocates, while ``fm`` is among the failures; None if
    there is none.

    ``memo`` maps (spec, fm) to the answer for one cluster state: every
    spec of a walked chain has the answer of the chain's end, so the shrink
    levels of ``tieredAlloc`` (each walking down from its own spec) cost
    one walk in all instead of one each."""
    cur: Optional[Instance] = inst
    seen: List[Tuple] = []
    found: Optional[Instance] = None
    while cur is not None:
        # htools walks ``iterateOk (shrinkByType fm) inst``, which lists a
        # spec only if it can still be shrunk: the last spec of the chain
        # (one unit of the resource: 1 vCPU, 1 spindle, ...) is never tried
        nxt = shrink_by_type(cur, fm)
        if nxt is None:
            break
        key = (_spec_key(cur), fm)
        if memo is not None and key in memo:
            found = memo[key]
            break
        seen.append(key)
        sol = alloc_fn(cur)
        if sol.solution is not None:
            found = cur
            break
        if sol.fails[fm] == 0:
            break
        cur = nxt
    if memo is not None:
        for key in seen:
            memo[key] = found
    return found


#: per cluster state (the objects kept alive with it): the sufficesShrinking
#: answers by (spec, failure mode) and the tryAlloc solutions by spec
_SHRINK_CACHE: Dict = {}


def tiered_alloc(opts: AlgorithmOptions, nl: NodeList, il: InstList,
                 limit: Optional[int], newinst: Instance, allocnodes,
                 ixes: List[Instance]) -> AllocResult:
    """``tieredAlloc``."""
    res = iterate_alloc(opts, nl, il, limit, newinst, allocnodes, ixes)
    ixes_cnt = len(res.ixes)
    if limit is None:
        stop, newlimit = False, None
    else:
        stop, newlimit = limit <= ixes_cnt, limit - ixes_cnt
    if stop:
        return res
    sorted_errs = [fm for fm, _ in _stable_sort_by_count(res.fails)]
    shrunk = shrink_by_type(newinst, sorted_errs[-1])
    if shrunk is not None:
        res2 = tiered_alloc(opts, res.nl, res.il, newlimit, shrunk,
                            allocnodes, res.ixes)
        if len(res2.il) > len(res.il):
            return res2

    state = (id(res.nl), id(res.il))
    hit = _SHRINK_CACHE.get(state)
    if hit is None or hit[0] is not res.nl or hit[1] is not res.il:
        hit = _SHRINK_CACHE[state] = (res.nl, res.il, {}, {})
    memo, sols = hit[2], hit[3]

    def alloc_fn(inst: Instance) -> Solution:
        key = _spec_key(inst)
        sol = sols.get(key)
        if sol is None:
            try:
                sol = _try_alloc(opts, res.nl, res.il, inst, allocnodes)
            except AllocFailure:
                sol = Solution()
            sols[key] = sol
        return sol
    for fm in reversed(sorted_errs):
        cand = _suffices_shrinking(alloc_fn, newinst, fm, memo)
        if cand is not None:
            return tiered_alloc(opts, res.nl, res.il, newlimit, cand,
                                allocnodes, res.ixes)
    return res


def run_deep(fn):
    """Run ``fn()`` with a deep stack (``tieredAlloc`` recurses once per
    shrink step)."""
    import sys
    import threading
    box = {}

    def target():
        try:
            box["res"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["err"] = e
    old_limit = sys.getrecursionlimit()
    old_size = threading.stack_size()
    sys.setrecursionlimit(max(old_limit, 200000))
    threading.stack_size(1024 * 1024 * 1024)
    try:
        t = threading.Thread(target=target)
        t.start()
        t.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if "err" in box:
        raise box["err"]
    return box["res"]


def tiered_spec_map(ixes_newest_first: List[Instance]
                    ) -> List[Tuple[Tuple[int, int, int, int], int]]:
    """``tieredSpecMap``: consecutive runs of equal specs, oldest first."""
    out: List[List] = []
    for inst in reversed(ixes_newest_first):
        sp = spec_of(inst)
        if out and out[-1][0] == sp:
            out[-1][1] += 1
        else:
            out.append([sp, 1])
    return [(s, c) for s, c in out]


def sort_reasons(fails: List[Tuple[FailMode, int]]):
    """``sortReasons``: by count descending, stable."""
    return sorted(fails, key=lambda e: -e[1])
