"""hail's requests and their answers (htools' ``IAlloc.processRequest``).

The request types an iallocator message carries (parsed by
:mod:`backends.iallocator`), their processing on the allocation engine,
the answer's message and result, and, on request, the explanation of a
failure (ours).
"""
from __future__ import annotations

from htools.record import field, record
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple, Union

from htools.alloc.dedicated import dedicated_find_allocation, dedicated_mg_allocation
from htools.alloc.groups import (
    alloc_list, apply_solution, find_group_by_name, try_allocate_secondary,
    try_group_alloc, try_mg_alloc,
)
from htools.alloc.solution import AllocFailure, Solution, Trace
from htools.params import AlgorithmOptions
from htools.model import ClusterData, Instance, Node
from htools.types import EvacMode


# ==========================================================================
# The requests

@record
class AllocDetails:
    """Number of nodes wanted and the (optional) target group name."""

    required_nodes: int
    group_name: Optional[str] = None


@record
class Allocate:
    """Allocate one new instance (``instance.idx`` is -1, nodes 0/0)."""

    instance: Instance
    details: AllocDetails
    restrict_to_nodes: Optional[List[str]] = None


@record
class AllocateSecondary:
    """Find a secondary node for an existing instance (its index)."""

    instance: int


@record
class Relocate:
    """Move an instance's secondary/primary away from ``exclude_nodes``."""

    instance: int
    required_nodes: int
    exclude_nodes: List[int]


@record
class NodeEvacuate:
    """Evacuate the given instances (indices) in ``mode``."""

    instances: List[int]
    mode: EvacMode


@record
class ChangeGroup:
    """Move instances (indices) to one of the target groups (indices)."""

    instances: List[int]
    target_groups: List[int]


@record
class MultiAllocate:
    """Allocate several new instances, in order."""

    requests: List[Tuple[Instance, AllocDetails]]


if TYPE_CHECKING:
    RequestType = Union[Allocate, AllocateSecondary, Relocate, NodeEvacuate,
                        ChangeGroup, MultiAllocate]


@record
class Request:
    """A parsed request: its type and the (merged) cluster data."""

    rqtype: RequestType
    cdata: ClusterData
    warnings: List[str] = field(default_factory=list)




# ==========================================================================
# Request processing (IAlloc.processRequest and the formatting functions)

class Outcome:
    """The answer and the final state (for -p/-S)."""

    def __init__(self, success: bool, info: str, result,
                 state: Optional[Tuple[Dict[int, Node], Dict[int, Instance]]] = None,
                 explanation: Optional[List[str]] = None) -> None:
        self.success = success
        self.info = info
        self.result = result
        self.state = state
        self.explanation = explanation or []


def _fail(msg: str) -> Outcome:
    return Outcome(False, "Request failed: " + msg, [])


def _ok(msg: str, result, nl, il) -> Outcome:
    return Outcome(True, "Request successful: " + msg, result, (nl, il))


def _format_allocate(il: Dict[int, Instance], sol: Solution) -> Outcome:
    info = ", ".join(sol.log)
    el = sol.solution
    if el is None:
        return _fail(info)
    il2 = dict(il)
    il2[el.inst.idx] = el.inst
    return _ok(info, [n.name for n in el.placed], el.nodes, il2)


def _format_evac(cdata: ClusterData, nl, il, res) -> Outcome:
    fin_nl, fin_il, es = res
    iname = lambda i: il[i].name  # noqa: E731
    moved = [[iname(i), cdata.groups[g].name, [nl[n].name for n in ns]]
             for i, g, ns in es.moved]
    failed = [[iname(i), msg] for i, msg in es.failed]
    info = "%d instances failed to move and %d were moved successfully" % (
        len(failed), len(moved))
    return _ok(info, [moved, failed, es.opcodes], fin_nl, fin_il)


def _format_multi(fin_nl, fin_il, results) -> Outcome:
    allocated = []
    failed = []
    for inst, sol in results:
        if sol.solution is not None:
            allocated.append([sol.solution.inst.name,
                              [n.name for n in sol.solution.placed]])
        else:
            failed.append([inst.name, ", ".join(sol.log)])
    info = "%d instances failed to allocate and %d were allocated successfully" % (
        len(failed), len(allocated))
    return _ok(info, [allocated, failed], fin_nl, fin_il)


def process_request(opts: AlgorithmOptions, rq, cdata: ClusterData,
                    trace: Optional[Trace] = None) -> Outcome:
    """``IAlloc.processRequest`` + ``formatIAllocResult``."""
    groups = cdata.groups
    nl = {n.idx: n for n in cdata.nodes}
    il = {i.idx: i for i in cdata.instances}
    try:
        if isinstance(rq, Allocate):
            o2 = opts if opts.restrict_to_nodes is not None else \
                opts.replace(restrict_to_nodes=rq.restrict_to_nodes)
            cnt = rq.details.required_nodes
            if rq.details.group_name is None:
                sol = try_mg_alloc(o2, groups, nl, il, rq.instance, cnt, trace)
            else:
                sol = try_group_alloc(o2, groups, nl, il, rq.details.group_name,
                                         rq.instance, cnt, trace)
            return _format_allocate(il, sol)
        if isinstance(rq, Relocate):
            from htools.alloc.evacuate import process_relocate
            nl2, il2, ndxs = process_relocate(opts, groups, nl, il, rq.instance,
                                                 rq.required_nodes,
                                                 rq.exclude_nodes, trace)
            return _ok("success", [nl2[n].name for n in ndxs], nl2, il2)
        if isinstance(rq, ChangeGroup):
            from htools.alloc.evacuate import try_change_group
            res = try_change_group(opts, groups, nl, il, rq.target_groups,
                                      rq.instances, trace)
            return _format_evac(cdata, nl, il, res)
        if isinstance(rq, NodeEvacuate):
            from htools.alloc.evacuate import try_node_evac
            res = try_node_evac(opts, groups, nl, il, rq.mode.value,
                                   rq.instances, trace)
            return _format_evac(cdata, nl, il, res)
        if isinstance(rq, MultiAllocate):
            reqs = [(i, d.group_name, d.required_nodes) for i, d in rq.requests]
            fin_nl, fin_il, results = alloc_list(opts, groups, nl, il, reqs, trace)
            return _format_multi(fin_nl, fin_il, results)
        if isinstance(rq, AllocateSecondary):
            sol, _ = try_allocate_secondary(opts, groups, nl, il, rq.instance, trace)
            info = ", ".join(sol.log)
            el = sol.solution
            if el is None:
                return _fail(info)
            if len(el.placed) != 2:
                return _fail("Internal error (not a DRBD allocation); info was: "
                             + info)
            il2 = dict(il)
            il2[el.inst.idx] = el.inst
            return _ok(info, el.placed[1].name, el.nodes, il2)
    except AllocFailure as err:
        return _fail(err.msg)
    raise AssertionError("unknown request %r" % (rq,))


def process_dedicated(opts: AlgorithmOptions, rq, cdata: ClusterData) -> Outcome:
    """``Dedicated.runDedicatedAllocation``."""
    groups = cdata.groups
    nl = {n.idx: n for n in cdata.nodes}
    il = {i.idx: i for i in cdata.instances}
    try:
        if isinstance(rq, Allocate):
            o2 = opts if opts.restrict_to_nodes is not None else \
                opts.replace(restrict_to_nodes=rq.restrict_to_nodes)
            cnt = rq.details.required_nodes
            if rq.details.group_name is not None:
                grp = find_group_by_name(groups, rq.details.group_name)
                sol, msgs = dedicated_find_allocation(o2, groups, nl, grp.idx,
                                                         rq.instance, cnt)
                sol.log = msgs
            else:
                sol = dedicated_mg_allocation(o2, groups, nl, il, rq.instance, cnt)
            return _format_allocate(il, sol)
        if isinstance(rq, MultiAllocate):
            cur_nl, cur_il = dict(nl), dict(il)
            results = []
            for inst, d in rq.requests:
                cnt = d.required_nodes
                if d.group_name is None:
                    sol = dedicated_mg_allocation(opts, groups, cur_nl, cur_il,
                                                     inst, cnt)
                else:
                    grp = find_group_by_name(groups, d.group_name)
                    # htools allocates on the *initial* node list here
                    sol, _ = dedicated_find_allocation(opts, groups, nl,
                                                          grp.idx, inst, cnt)
                cur_nl, cur_il = apply_solution(cur_nl, cur_il, sol.solution)
                results.append((inst, sol))
            return _format_multi(cur_nl, cur_il, results)
        return _fail("Dedicated Allocation only for proper allocation requests")
    except AllocFailure as err:
        return _fail(err.msg)


def allocation_group(rq) -> Tuple[bool, Optional[str]]:
    """``isAllocationRequest``: (is an allocation, its group or None)."""
    if isinstance(rq, Allocate):
        return True, rq.details.group_name
    if isinstance(rq, MultiAllocate):
        names: List[str] = []
        for _, d in rq.requests:
            if d.group_name is not None and d.group_name not in names:
                names.append(d.group_name)
        return True, names[0] if len(names) == 1 else None
    return False, None


# ==========================================================================
# Explanations

def _failed_items(rq, out: Outcome) -> list:
    if out.success and isinstance(rq, (NodeEvacuate, ChangeGroup,
                                       MultiAllocate)):
        return out.result[1]
    return []


def needs_explanation(rq, out: Outcome) -> bool:
    """Whether ``out`` has failures to explain."""
    return not out.success or bool(_failed_items(rq, out))


def explain(opts: AlgorithmOptions, rq, cdata: ClusterData, out: Outcome,
            trace: Trace) -> List[str]:
    """Sentences explaining the failures of ``out`` (empty if none)."""
    failed_items = _failed_items(rq, out)
    if not needs_explanation(rq, out):
        return []
    from htools.alloc.explain import explain_trace
    try:
        return explain_trace(opts, cdata, trace, rq, out.success, failed_items)
    except Exception as err:  # explanations must never break the answer
        return ["(no explanation available: %s)" % err]
