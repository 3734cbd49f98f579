"""Instance moves (htools' ``IMove``) and their effect on nodes.

A move is applied to a node mapping ``{idx: Node}`` and yields the changed
nodes, the updated instance and its new primary/secondary, or the
:class:`FailMode` of the first placement check that failed.
"""
from __future__ import annotations

from htools.record import record
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Tuple, Union

from htools.errors import HtoolsError, MissingKey
from htools.model import Instance, Node
from htools.types import NO_SECONDARY, FailMode

# move kinds
FAILOVER = 0           # f
FAILOVER_TO_ANY = 1    # fa:N
REPLACE_PRIMARY = 2    # f r:N f
REPLACE_SECONDARY = 3  # r:N
REPLACE_AND_FAILOVER = 4  # r:N f
FAILOVER_AND_REPLACE = 5  # f r:N


@record(frozen=True)
class IMove:
    kind: int
    target: int = -1


if TYPE_CHECKING:
    Applied = Tuple[Dict[int, Node], Instance, int, int]


def check_migration(src: Node, dst: Node) -> bool:
    return src.mig_tags <= dst.rmig_tags


def _with_loc_score(inst: Instance, pnode: Node, snode: Optional[Node]) -> Instance:
    new = inst.copy()
    new.location_score = 0 if snode is None else len(pnode.location_tags
                                                      & snode.location_tags)
    return new


def _node(nl: Mapping[int, Node], ndx: int, inst: Instance) -> Node:
    """``Container.find``: htools crashes on a missing key.  A mirrored
    instance without a secondary (-1) is bad input: say so in one line."""
    try:
        return nl[ndx]
    except KeyError:
        if ndx == NO_SECONDARY:
            raise HtoolsError("instance %s uses disk template %s but has no "
                              "secondary node" % (inst.name,
                                                  inst.disk_template.value)
                              ) from None
        raise MissingKey(ndx) from None


def apply_move(force: bool, nl: Mapping[int, Node], inst: Instance,
               mv: IMove) -> Union[Applied, FailMode]:
    """htools' ``applyMoveEx``: the nodes changed by ``mv`` and the result.

    The changed nodes are listed in the order htools' ``Container.add`` /
    ``addTwo`` store them (last one wins), which matters when two roles are
    the same node (an instance with the same primary and secondary)."""
    kind = mv.kind
    old_pdx, old_sdx = inst.pnode, inst.snode
    if kind == FAILOVER:
        old_p, old_s = _node(nl, old_pdx, inst), _node(nl, old_sdx, inst)
        int_p = old_p.remove_pri(inst)
        int_s = old_s.remove_sec(inst)
        if not check_migration(old_p, old_s):
            return FailMode.FailMig
        new_p = int_s.add_pri(inst, force=old_p.offline or force)
        if isinstance(new_p, FailMode):
            return new_p
        new_s = int_p.add_sec(inst, old_sdx, force=old_p.offline or force,
                              ignore_disks=old_p.offline)
        if isinstance(new_s, FailMode):
            return new_s
        new_inst = inst.copy()
        new_inst.pnode, new_inst.snode = old_sdx, old_pdx
        return {old_sdx: new_p, old_pdx: new_s}, new_inst, old_sdx, old_pdx
    if kind == FAILOVER_TO_ANY:
        new_pdx = mv.target
        old_pnode = _node(nl, old_pdx, inst)
        new_pnode = _node(nl, new_pdx, inst)
        if not check_migration(old_pnode, new_pnode):
            return FailMode.FailMig
        new_pnode2 = new_pnode.add_pri(inst, force=old_pnode.offline or force)
        if isinstance(new_pnode2, FailMode):
            return new_pnode2
        old_pnode2 = old_pnode.remove_pri(inst)
        new_inst = inst.copy()
        new_inst.pnode = new_pdx
        return {new_pdx: new_pnode2, old_pdx: old_pnode2}, new_inst, new_pdx, old_sdx
    if kind == REPLACE_PRIMARY:
        new_pdx = mv.target
        old_p, old_s = _node(nl, old_pdx, inst), _node(nl, old_sdx, inst)
        tgt_n = _node(nl, new_pdx, inst)
        int_p = old_p.remove_pri(inst)
        int_s = old_s.remove_sec(inst)
        new_inst = _with_loc_score(inst, tgt_n, int_s)
        new_inst.pnode = new_pdx
        force_p = old_p.offline or force
        if not check_migration(old_p, old_s) or not check_migration(old_s, tgt_n):
            return FailMode.FailMig
        tmp_s = int_s.add_pri(new_inst, force=force_p)
        if isinstance(tmp_s, FailMode):
            return tmp_s
        tmp_s2 = tmp_s.remove_pri(new_inst)
        new_p = tgt_n.add_pri(new_inst, force=force_p)
        if isinstance(new_p, FailMode):
            return new_p
        new_s = tmp_s2.add_sec(new_inst, new_pdx, force=force_p)
        if isinstance(new_s, FailMode):
            return new_s
        return ({old_sdx: new_s, old_pdx: int_p, new_pdx: new_p},
                new_inst, new_pdx, old_sdx)
    if kind == REPLACE_SECONDARY:
        new_sdx = mv.target
        old_s = _node(nl, old_sdx, inst)
        tgt_n = _node(nl, new_sdx, inst)
        pnode = _node(nl, old_pdx, inst)
        pnode2 = pnode.remove_pri(inst)
        int_s = old_s.remove_sec(inst)
        force_s = old_s.offline or force
        new_inst = _with_loc_score(inst, pnode, tgt_n)
        new_inst.snode = new_sdx
        new_s = tgt_n.add_sec(new_inst, old_pdx, force=force_s)
        if isinstance(new_s, FailMode):
            return new_s
        pnode3 = pnode2.add_pri(new_inst, force=True)
        if isinstance(pnode3, FailMode):
            return pnode3
        return ({old_sdx: int_s, new_sdx: new_s, old_pdx: pnode3},
                new_inst, old_pdx, new_sdx)
    if kind == REPLACE_AND_FAILOVER:
        new_pdx = mv.target
        old_p, old_s = _node(nl, old_pdx, inst), _node(nl, old_sdx, inst)
        tgt_n = _node(nl, new_pdx, inst)
        int_p = old_p.remove_pri(inst)
        int_s = old_s.remove_sec(inst)
        new_inst = _with_loc_score(inst, tgt_n, int_p)
        new_inst.pnode, new_inst.snode = new_pdx, old_pdx
        force_s = old_s.offline or force
        if not check_migration(old_p, tgt_n):
            return FailMode.FailMig
        new_p = tgt_n.add_pri(new_inst, force=force)
        if isinstance(new_p, FailMode):
            return new_p
        new_s = int_p.add_sec(new_inst, new_pdx, force=force_s)
        if isinstance(new_s, FailMode):
            return new_s
        return ({old_sdx: int_s, old_pdx: new_s, new_pdx: new_p},
                new_inst, new_pdx, old_pdx)
    if kind == FAILOVER_AND_REPLACE:
        new_sdx = mv.target
        old_p, old_s = _node(nl, old_pdx, inst), _node(nl, old_sdx, inst)
        tgt_n = _node(nl, new_sdx, inst)
        int_p = old_p.remove_pri(inst)
        int_s = old_s.remove_sec(inst)
        force_p = old_p.offline or force
        new_inst = _with_loc_score(inst, int_s, tgt_n)
        new_inst.pnode, new_inst.snode = old_sdx, new_sdx
        if not check_migration(old_p, old_s):
            return FailMode.FailMig
        new_p = int_s.add_pri(new_inst, force=force_p)
        if isinstance(new_p, FailMode):
            return new_p
        new_s = tgt_n.add_sec(new_inst, old_sdx, force=force_p)
        if isinstance(new_s, FailMode):
            return new_s
        return ({old_pdx: int_p, old_sdx: new_p, new_sdx: new_s},
                new_inst, old_sdx, new_sdx)
    raise ValueError("unknown move kind %r" % kind)


def possible_moves(mirror: str, use_secondary: bool, inst_moves: bool,
                   disk_moves: bool, rest_mig: bool, primary_drained: bool,
                   tdx: int) -> List[IMove]:
    """htools' ``possibleMoves`` for one target node."""
    if mirror == "none":
        return []
    if mirror == "external":
        return [IMove(FAILOVER_TO_ANY, tdx)] if inst_moves else []
    # internal (DRBD)
    if not disk_moves:
        return []
    if not inst_moves:
        return [IMove(REPLACE_SECONDARY, tdx)]
    if rest_mig and not primary_drained:
        return [IMove(REPLACE_SECONDARY, tdx)]
    if use_secondary and not rest_mig:
        return [IMove(REPLACE_SECONDARY, tdx), IMove(REPLACE_AND_FAILOVER, tdx),
                IMove(REPLACE_PRIMARY, tdx), IMove(FAILOVER_AND_REPLACE, tdx)]
    if use_secondary and rest_mig and primary_drained:
        return [IMove(REPLACE_SECONDARY, tdx), IMove(REPLACE_AND_FAILOVER, tdx),
                IMove(FAILOVER_AND_REPLACE, tdx)]
    # secondary not usable
    return [IMove(REPLACE_SECONDARY, tdx), IMove(REPLACE_AND_FAILOVER, tdx)]


def compute_moves(inst: Instance, inam: str, mv: IMove, c: str, d: str
                  ) -> Tuple[str, List[str]]:
    """The move code (``a=...``) and the gnt-instance commands of a move."""
    morf = "migrate" if inst.is_running else "failover"
    mig = "%s -f %s" % (morf, inam)
    kind = mv.kind
    if kind == FAILOVER:
        return "f", [mig]
    if kind == FAILOVER_TO_ANY:
        return "fa:%s" % c, ["%s -f -n %s %s" % (morf, c, inam)]
    if kind == FAILOVER_AND_REPLACE:
        return "f r:%s" % d, [mig, "replace-disks -n %s %s" % (d, inam)]
    if kind == REPLACE_SECONDARY:
        return "r:%s" % d, ["replace-disks -n %s %s" % (d, inam)]
    if kind == REPLACE_AND_FAILOVER:
        return "r:%s f" % c, ["replace-disks -n %s %s" % (c, inam), mig]
    if kind == REPLACE_PRIMARY:
        return "f r:%s f" % c, [mig, "replace-disks -n %s %s" % (c, inam), mig]
    raise ValueError(kind)
