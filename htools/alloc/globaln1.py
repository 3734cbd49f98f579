"""Global N+1 redundancy (htools' ``GlobalN1.hs``, Ganeti 3.0.2).

A node can be evacuated if, on the current state,

1. every DRBD instance having it as primary can be failed over to its
   secondary (in primary-list order, soft errors ignored);
2. every other instance with a movable disk template (diskless,
   sharedfile, rbd, ext, gluster -- *not* blockdev) can be moved with a
   failover-to-any to the best-scoring node of the node's group (group
   score; ties go to the node evaluated last);
3. every remaining (non-movable: plain, file, blockdev) instance, in order
   of decreasing memory, can be re-created on the best node of the group,
   with the instance-policy check and the hard placement checks only
   (scored over the whole node list; ties go to the node evaluated last).

htools looks nodes and instances up with ``Data.IntMap.!``; a DRBD
instance whose secondary is not in the node list handed in (an instance
split over node groups, as hcheck passes one group at a time) makes the
reference crash.  :class:`MissingKey` carries that crash; callers that
want the reference's behaviour turn it into its message
(:func:`crash_text`).
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from htools import moves as mv
from htools.errors import MissingKey, crash_text  # noqa: F401 (re-exported)
from htools.alloc.primitives import allocate_on_single, extract_nl, update_il
from htools.alloc.solution import Element, collection_to_solution
from htools.model import Instance, Node
from htools.metrics import comp_cv
from htools.types import DiskTemplate, FailMode

#: ``Ganeti.Types.diskTemplateMovable`` (blockdev is *not* movable here)
DISK_TEMPLATE_MOVABLE = frozenset({
    DiskTemplate.DISKLESS, DiskTemplate.SHAREDFILE, DiskTemplate.RBD,
    DiskTemplate.EXT, DiskTemplate.GLUSTER,
})


def _score_of(el: Element) -> float:
    return el.score


def _same(el: Element) -> Element:
    return el


class _EvacOpts:
    """``defaultOptions { algIgnoreSoftErrors = True, algEvacMode = True }``."""

    ignore_soft_errors = True
    evac_mode = True


EVAC_OPTS = _EvacOpts()


def _find(container: Mapping, key: int):
    try:
        return container[key]
    except KeyError:
        raise MissingKey(key) from None


def _group_score(nl: Mapping[int, Node], gdx: int) -> float:
    """``compCVNodes`` of the nodes of group ``gdx`` (index order)."""
    return comp_cv([nl[k] for k in sorted(nl) if nl[k].group == gdx])


def _evac_shared(nl: Dict[int, Node], inst: Instance, gdx: int,
                 targets: Sequence[int]):
    """``nodeEvacInstance ChangePrimary`` for a movable non-DRBD instance:
    the best ``fa:t`` over ``targets``, or None."""
    best = None
    best_cv = 0.0
    for ndx in targets:
        res = mv.apply_move(EVAC_OPTS.ignore_soft_errors, nl, inst,
                            mv.IMove(mv.FAILOVER_TO_ANY, ndx))
        if isinstance(res, FailMode):
            continue
        changed, new_inst, _, _ = res
        new_nl = dict(nl)
        new_nl.update(changed)
        new_cv = _group_score(new_nl, gdx)
        if best is None or not best_cv < new_cv:
            best = (new_nl, new_inst)
            best_cv = new_cv
    return best


def recreate(nl: Mapping[int, Node], il: Mapping[int, Instance],
             inst: Instance, targets: Sequence[int]):
    """GlobalN1's ``recreate``: re-create ``inst`` on the best of
    ``targets``; the new (nodes, instances) or None."""
    order = sorted(nl)
    cands: List[Element] = []      # newest first
    for ndx in targets:
        res = allocate_on_single(EVAC_OPTS, nl, inst, ndx, order)
        if not isinstance(res, FailMode):
            cands.insert(0, res)
    alloc = collection_to_solution([], cands, _score_of, _same, None).solution
    if alloc is None:
        return None
    return extract_nl(nl, il, alloc), update_il(il, alloc)


def can_evacuate_node(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
                      node: Node) -> bool:
    """``canEvacuateNode (nl, il) n``.

    Raises :class:`MissingKey` where the reference crashes.
    """
    drbd: List[int] = []
    shared: List[int] = []
    non_move: List[int] = []
    for idx in node.p_list:
        dt = _find(insts, idx).disk_template
        if dt == DiskTemplate.DRBD:
            drbd.append(idx)
        elif dt in DISK_TEMPLATE_MOVABLE:
            shared.append(idx)
        else:
            non_move.append(idx)
    nl: Dict[int, Node] = dict(nodes)
    il: Dict[int, Instance] = dict(insts)
    # 1. fail over all DRBD primaries
    for idx in drbd:
        inst = _find(il, idx)
        _find(nl, inst.pnode)
        _find(nl, inst.snode)
        res = mv.apply_move(True, nl, inst, mv.IMove(mv.FAILOVER))
        if isinstance(res, FailMode):
            return False
        changed, new_inst, _, _ = res
        nl.update(changed)
        il[idx] = new_inst
    # 2. move the other movable primaries within the group
    gdx = node.group
    escape = [k for k in sorted(nl) if nl[k].group == gdx and k != node.idx]
    for idx in shared:
        inst = _find(il, idx)
        _find(nl, inst.pnode)
        best = _evac_shared(nl, inst, gdx, escape)
        if best is None:
            return False
        nl, new_inst = best
        il[idx] = new_inst
    # 3. re-create the non-movable ones, biggest memory first
    todo = sorted((_find(il, i) for i in non_move), key=lambda i: -i.mem)
    for inst in todo:
        res = recreate(nl, il, inst, escape)
        if res is None:
            return False
        nl, il = res
    return True


def redundant(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
              accept_existing: bool = False,
              ignore_groups: Iterable[int] = (),
              can_evacuate: Optional[Callable] = None) -> bool:
    """``redundant``: every node (online ones only with
    ``accept_existing``; not those of ``ignore_groups``) can be evacuated.
    Nodes are checked in index order and the check stops at the first
    failure, as the reference's.  ``can_evacuate``: the node check
    (default :func:`can_evacuate_node`)."""
    check = can_evacuate or can_evacuate_node
    ignored = set(ignore_groups)
    for k in sorted(nodes):
        n = nodes[k]
        if accept_existing and n.offline:
            continue
        if n.group in ignored:
            continue
        if not check(nodes, insts, n):
            return False
    return True


def redundant_grp(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
                  gdx: int, accept_existing: bool = False,
                  ignore_groups: Iterable[int] = ()) -> bool:
    """``redundantGrp``: :func:`redundant` on the nodes of group ``gdx``."""
    gnodes = {k: n for k, n in nodes.items() if n.group == gdx}
    return redundant(gnodes, insts, accept_existing, ignore_groups)


def alloc_global_n1(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
                    alloc: Element, accept_existing: bool = False,
                    ignore_groups: Iterable[int] = ()) -> bool:
    """``allocGlobalN1``: the state after ``alloc`` is globally N+1
    redundant (``nodes``/``insts``: the state before the allocation)."""
    il2 = update_il(insts, alloc)
    nl2 = extract_nl(nodes, insts, alloc)
    return redundant(nl2, il2, accept_existing, ignore_groups)


def count_not_evacuable(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
                        can_evacuate: Optional[Callable] = None) -> int:
    """hcheck's GN1_FAIL: how many nodes (index order) cannot be evacuated
    (``can_evacuate``: the node check, default :func:`can_evacuate_node`)."""
    check = can_evacuate or can_evacuate_node
    return sum(1 for k in sorted(nodes) if not check(nodes, insts, nodes[k]))


#: public name of the shared-storage evacuation step (used by the allocator)
evac_shared = _evac_shared
