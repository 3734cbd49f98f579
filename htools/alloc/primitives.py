"""Allocation primitives (htools' ``Cluster/AllocatePrimitives.hs``).

The building blocks shared by everything that places an instance on a node
of a given cluster state: the instance-policy check, the single-node
placement with its score, and the node and instance maps after a placement.
The solutions and the choice among candidates are :mod:`htools.alloc.solution`.

Node lists are mappings ``{idx: Node}``; htools' ``Container.elems`` order
(ascending index) is the order used for scoring.  A failed placement is a
:class:`htools.types.FailMode`; a successful one an :class:`~htools.alloc.solution.Element`.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Sequence, Union

from htools.alloc.solution import Element
from htools.model import Instance, Node
from htools.haskell.ordering import GT, LT, compare_int
from htools.metrics import comp_cv
from htools.types import NO_SECONDARY, DiskTemplate, FailMode, IPolicy, ISpec


# --------------------------------------------------------------------------
# Instance policy (``Instance.instMatchesPolicy``)

def _compare_ispec(which: int, inst: Instance, spec: ISpec,
                   excl_stor: bool) -> Optional[FailMode]:
    if compare_int(inst.mem, spec.memory_size) == which:
        return FailMode.FailMem
    if any(compare_int(d.size, spec.disk_size) == which for d in inst.disks):
        return FailMode.FailDisk
    if compare_int(inst.vcpus, spec.cpu_count) == which:
        return FailMode.FailCPU
    if excl_stor:
        total = inst.total_spindles()
        if total is None or compare_int(total, spec.spindle_use) == which:
            return FailMode.FailSpindles
    elif compare_int(inst.spindle_use, spec.spindle_use) == which:
        return FailMode.FailSpindles
    if (inst.disk_template != DiskTemplate.DISKLESS
            and compare_int(len(inst.disks), spec.disk_count) == which):
        return FailMode.FailDiskCount
    return None


def inst_matches_minmax(inst: Instance, minmax, excl_stor: bool) -> Optional[FailMode]:
    err = _compare_ispec(LT, inst, minmax.min_spec, excl_stor)
    if err is not None:
        return err
    return _compare_ispec(GT, inst, minmax.max_spec, excl_stor)


def inst_matches_policy(inst: Instance, ipol: IPolicy,
                        excl_stor: bool) -> Optional[FailMode]:
    """None if ``inst`` fits ``ipol``, else the failure htools reports.

    The instance must fit one min/max pair; if none fits, the failure of
    the first pair is reported.  Then the disk template must be allowed.
    """
    if ipol.minmax:
        res: Optional[FailMode] = FailMode.FailInternal
        for mm in reversed(ipol.minmax):
            if res is not None:
                res = inst_matches_minmax(inst, mm, excl_stor)
        if res is not None:
            return res
    if inst.disk_template not in ipol.disk_templates:
        return FailMode.FailDisk
    return None


# --------------------------------------------------------------------------
# Allocation elements and single-node placement

def score_nodes(nodes: Mapping[int, Node],
                order: Optional[Sequence[int]] = None) -> float:
    """htools' ``compCV`` of a node map, nodes in index order."""
    if order is None:
        order = sorted(nodes)
    return comp_cv([nodes[i] for i in order])


def _force(opts) -> bool:
    if isinstance(opts, bool):
        return opts
    return bool(getattr(opts, "ignore_soft_errors", False))


def allocate_on_single(opts, nodes: Mapping[int, Node], inst: Instance,
                       ndx: int, order: Optional[Sequence[int]] = None
                       ) -> Union[Element, FailMode]:
    """htools' ``allocateOnSingle``: place ``inst`` as primary on ``ndx``.

    ``opts`` is an object with ``ignore_soft_errors`` (e.g.
    :class:`htools.balance.AlgorithmOptions`) or a bool (force).  The
    instance must match the target's instance policy; then the node's
    primary placement checks apply (soft ones skipped when forced).  The
    score is the cluster score over all of ``nodes`` (``order``: the sorted
    keys of ``nodes``, if the caller already has them).
    """
    p = nodes[ndx]
    err = inst_matches_policy(inst, p.ipolicy, p.excl_storage)
    if err is not None:
        return err
    new_p = p.add_pri(inst, force=_force(opts))
    if isinstance(new_p, FailMode):
        return new_p
    new_inst = inst.copy()
    new_inst.pnode, new_inst.snode = ndx, NO_SECONDARY
    el = Element(nodes, {ndx: new_p}, new_inst, [new_p], 0.0)
    el.score = score_nodes(el.nodes, order)
    return el


def update_il(insts: Mapping[int, Instance], alloc: Optional[Element]
              ) -> Dict[int, Instance]:
    """``updateIl``: add the placed instance under key ``len(insts)``."""
    new = dict(insts)
    if alloc is not None:
        new[len(insts)] = alloc.inst
    return new


def extract_nl(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
               alloc: Optional[Element]) -> Dict[int, Node]:
    """``extractNl``: the node map of ``alloc`` with negative instance
    indices (a new instance) in the placed nodes replaced by ``len(insts)``."""
    if alloc is None:
        return dict(nodes)
    return extract_nl_at(alloc, len(insts))


def extract_nl_at(alloc: Element, new_index: int) -> Dict[int, Node]:
    """:func:`extract_nl` with the new instance's index given."""
    out = dict(alloc.nodes)

    def fix(lst: List[int]) -> List[int]:
        return [new_index if i < 0 else i for i in lst]

    for node in alloc.placed:
        cur = out[node.idx]
        if any(i < 0 for i in cur.p_list) or any(i < 0 for i in cur.s_list):
            cur = cur.copy()
            cur.p_list = fix(cur.p_list)
            cur.s_list = fix(cur.s_list)
            out[node.idx] = cur
    return out
