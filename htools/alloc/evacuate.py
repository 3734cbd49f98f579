"""Evacuations and relocations (htools' ``Cluster/Evacuate.hs``, ``tryChangeGroup``, ``processRelocate``).

Per instance and on the evolving state, the target with the lowest score
of the target group's nodes wins (ties: the later candidate).
"""
from __future__ import annotations

from collections import ChainMap

from htools.record import field, record
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union
    from htools.alloc.solution import InstList, NodeList

from htools import moves as mv
from htools._core import ClusterState
from htools.alloc import compiled as fastalloc
from htools.alloc.groups import find_best_alloc_group
from htools.alloc.solution import AllocFailure, Rejection, Trace
from htools.params import AlgorithmOptions, DEFAULT_OPTIONS
from htools.model import Group, Instance, Node, pm_find
from htools.opcodes import imove_to_job
from htools.types import NO_SECONDARY, DiskTemplate, EvacMode, FailMode, MirrorType

# ==========================================================================
# Evacuation (``Cluster/Evacuate.hs``)

@record
class EvacSolution:
    moved: List[Tuple[int, int, List[int]]] = field(default_factory=list)
    failed: List[Tuple[int, str]] = field(default_factory=list)
    opcodes: List[List[Dict]] = field(default_factory=list)


class _GroupScorer:
    """``compCVNodes`` of one group's nodes, with substitutions."""

    def __init__(self, nl: Mapping[int, Node], gdx: int) -> None:
        self.keys = [k for k in sorted(nl) if nl[k].group == gdx]
        self.members = set(self.keys)
        self.cs = ClusterState([nl[k] for k in self.keys], self.keys)

    def score(self, changes: Mapping[int, Node]) -> float:
        return self.cs.score_with([(k, v) for k, v in changes.items()
                                   if k in self.members])


def _fail_name(fm: FailMode) -> str:
    return fm.name


def _apply(force: bool, nl: Mapping[int, Node], inst: Instance, move: mv.IMove):
    return mv.apply_move(force, nl, inst, move)


def _merged(nl: Mapping[int, Node], changes: Mapping[int, Node]) -> NodeList:
    out = dict(nl)
    out.update(changes)
    return out


def evac_one_node_only(opts: AlgorithmOptions, nl: Mapping[int, Node],
                       il: Mapping[int, Instance], inst: Instance, gdx: int,
                       avail: Sequence[int], trace: Optional[Trace] = None
                       ) -> Tuple[NodeList, InstList, List[Dict]]:
    """``evacOneNodeOnly``: the best new secondary (DRBD) / primary."""
    mt = inst.mirror_type
    if mt == MirrorType.NONE:
        raise AllocFailure("Can't relocate/evacuate non-mirrored instances")
    kind = mv.REPLACE_SECONDARY if mt == MirrorType.INTERNAL else mv.FAILOVER_TO_ANY
    scorer = _GroupScorer(nl, gdx)
    force = opts.ignore_soft_errors
    msg = ""
    best = None
    best_cv = 0.0
    for ndx in avail:
        move = mv.IMove(kind, ndx)
        res = _apply(force, nl, inst, move)
        if isinstance(res, FailMode):
            if trace is not None:
                trace.add(Rejection("move", "secondary" if kind == mv.REPLACE_SECONDARY
                                    else "primary", res, nl[ndx], inst,
                                    pdx=inst.pnode, nl=nl, il=il))
            if best is None:
                msg += " Node %s failed: %s;" % (nl[ndx].name, _fail_name(res))
            continue
        changes, new_inst, _, _ = res
        cv = scorer.score(changes)
        if best is None or not best_cv < cv:
            best = (changes, new_inst, ndx)
            best_cv = cv
    if best is None:
        raise AllocFailure("Can't find any good node: " + msg)
    changes, new_inst, ndx = best
    nl2 = _merged(nl, changes)
    il2 = dict(il)
    il2[inst.idx] = new_inst
    return nl2, il2, imove_to_job(nl2, il2, inst.idx, mv.IMove(kind, ndx))


def _evac_drbd_all(opts: AlgorithmOptions, nl: Mapping[int, Node],
                   il: Mapping[int, Instance], inst: Instance, gdx: int,
                   avail: Sequence[int], trace: Optional[Trace] = None
                   ) -> Tuple[NodeList, InstList, List[Dict]]:
    """``nodeEvacInstance ChangeAll`` for a DRBD instance.

    For every ordered pair (p, s) of available nodes htools executes
    [failover if the primary is offline], ``r:p``, ``f``, ``r:s`` and scores
    the target group.  The first steps depend on ``p`` only and are computed
    once per ``p``; of the last one, the new secondary's state depends on
    ``p`` only through its peer-map entry and the primary's only through
    the location score, so both are cached."""
    force = opts.ignore_soft_errors
    if trace is None:
        fast = _evac_drbd_compiled(force, nl, inst, gdx, avail)
        if fast:
            return _replay(force, nl, il, inst, fast[0], fast[1], fast[2])
    scorer = _GroupScorer(nl, gdx)
    primary = nl[inst.pnode]
    pre_moves: List[mv.IMove] = []
    pre_changes: Dict[int, Node] = {}
    state0: Mapping[int, Node] = nl
    inst0 = inst
    pre_err: Optional[str] = None
    if primary.offline:
        res = _apply(force, nl, inst, mv.IMove(mv.FAILOVER))
        if isinstance(res, FailMode):
            pre_err = "Failing over to the secondary: " + _fail_name(res)
        else:
            pre_changes = dict(res[0])
            state0 = _merged(nl, res[0])
            inst0 = res[1]
            pre_moves.append(mv.IMove(mv.FAILOVER))
    accu_err: Optional[str] = "no nodes available"
    best = None
    best_cv = 0.0
    avail = list(avail)
    sec_cache: Dict[Tuple[int, int, bool], Union[Node, FailMode]] = {}
    for p in avail:
        # the steps shared by all secondaries of this primary
        chain_err = pre_err
        st2 = None
        if chain_err is None:
            res = _apply(force, state0, inst0, mv.IMove(mv.REPLACE_SECONDARY, p))
            if isinstance(res, FailMode):
                chain_err = "Changing secondary to new primary: " + _fail_name(res)
                if trace is not None:
                    trace.add(Rejection("move", "secondary", res, state0[p], inst0,
                                        pdx=inst0.pnode, nl=state0))
            else:
                st1 = _merged(state0, res[0])
                ch1 = dict(pre_changes)
                ch1.update(res[0])
                inst1 = res[1]
                res2 = _apply(force, st1, inst1, mv.IMove(mv.FAILOVER))
                if isinstance(res2, FailMode):
                    chain_err = "Failing over to new primary: " + _fail_name(res2)
                    if trace is not None:
                        trace.add(Rejection("move", "failover", res2, st1[p], inst1,
                                            nl=st1))
                else:
                    ch1.update(res2[0])
                    st2 = _merged(st1, res2[0])
                    inst2 = res2[1]
                    chain_changes = ch1
        if chain_err is not None:
            if best is None and any(s != p for s in avail):
                accu_err = "Allocation failed: " + chain_err
            continue
        # r:s from st2 (moves.apply_move's REPLACE_SECONDARY, decomposed)
        old_sdx = inst2.snode
        pnode = st2[p]
        pnode2 = pnode.remove_pri(inst2)
        old_s = st2[old_sdx]
        int_s = old_s.remove_sec(inst2)
        force_s = old_s.offline or force
        ploc = pnode.location_tags
        p3_cache: Dict[int, Union[Node, FailMode]] = {}
        for s in avail:
            if s == p:
                continue
            tgt = st2[s]
            loc = len(ploc & tgt.location_tags) if ploc else 0
            ni = None
            if s in chain_changes:
                ni = inst2.copy()
                ni.location_score = loc
                ni.snode = s
                new_s = tgt.add_sec(ni, p, force=force_s)
            else:
                key = (s, pm_find(tgt.peers, p) if tgt.peers else 0, force_s)
                new_s = sec_cache.get(key)
                if new_s is None:
                    ni = inst2.copy()
                    ni.location_score = loc
                    ni.snode = s
                    new_s = tgt.add_sec(ni, p, force=force_s)
                    sec_cache[key] = new_s
            if not isinstance(new_s, FailMode):
                pnode3 = p3_cache.get(loc)
                if pnode3 is None:
                    if ni is None:
                        ni = inst2.copy()
                        ni.location_score = loc
                        ni.snode = s
                    pnode3 = pnode2.add_pri(ni, force=True)
                    p3_cache[loc] = pnode3
                fm = pnode3 if isinstance(pnode3, FailMode) else None
            else:
                fm = new_s
            if fm is not None:
                if trace is not None and fm is new_s:
                    trace.add(Rejection("move", "secondary", fm, tgt, inst2,
                                        pdx=p, nl=st2))
                if best is None:
                    accu_err = ("Allocation failed: Changing secondary to final "
                                "secondary: " + _fail_name(fm))
                continue
            changes = dict(chain_changes)
            changes[s] = new_s
            changes[old_sdx] = int_s
            changes[p] = pnode3
            cv = scorer.score(changes)
            if best is None or not best_cv < cv:
                best = (p, s)
                best_cv = cv
    if best is None:
        raise AllocFailure("Can't find any good nodes for relocation: "
                           + (accu_err or ""))
    return _replay(force, nl, il, inst, pre_moves, best[0], best[1])


def _replay(force: bool, nl: Mapping[int, Node], il: Mapping[int, Instance],
            inst: Instance, pre_moves: List[mv.IMove], p: int, s: int
            ) -> Tuple[NodeList, InstList, List[Dict]]:
    """The chosen moves replayed for the exact final state, and their jobs."""
    moves = pre_moves + [mv.IMove(mv.REPLACE_SECONDARY, p), mv.IMove(mv.FAILOVER),
                         mv.IMove(mv.REPLACE_SECONDARY, s)]
    cur: NodeList = dict(nl)
    cur_inst = inst
    for m in moves:
        res = _apply(force, cur, cur_inst, m)
        assert not isinstance(res, FailMode), res
        cur.update(res[0])
        cur_inst = res[1]
    il2 = dict(il)
    il2[inst.idx] = cur_inst
    ops: List[Dict] = []
    for m in moves:
        ops.extend(imove_to_job(cur, il2, inst.idx, m))
    return cur, il2, ops


#: the last packed group state of :func:`_evac_drbd_compiled`
_PACKED: List[tuple] = []


def _evac_drbd_compiled(force: bool, nl: Mapping[int, Node], inst: Instance,
                        gdx: int, avail: Sequence[int]
                        ) -> Optional[Tuple[List[mv.IMove], int, int]]:
    """The (moves before ``r:p``, p, s) :func:`_evac_drbd_all` picks, from
    the compiled core (``AllocState.evac_pair_best``), or None where the
    model's loop decides: no candidate fits (its message names the last
    failure), the instance's nodes in the scored group (an evacuation
    within the group), tagged or forthcoming instances, storage pools,
    values the C types cannot hold, NaN.

    The moves ``r:p`` and ``f`` change p and the instance's old nodes.  The
    old nodes' part depends on p only through the location score and the
    old primary's peer-map entry of p, and is checked here once per such
    pair (with the migration tags, the one check of ``f`` reading both
    sides); p's part and the pairs are the compiled core's."""
    keys = [k for k in sorted(nl) if nl[k].group == gdx]
    members = set(keys)
    pre_moves: List[mv.IMove] = []
    state0: Mapping[int, Node] = nl
    inst0 = inst
    if nl[inst.pnode].offline:
        res = _apply(force, nl, inst, mv.IMove(mv.FAILOVER))
        if isinstance(res, FailMode):
            return None
        state0 = ChainMap(res[0], nl)
        inst0 = res[1]
        pre_moves.append(mv.IMove(mv.FAILOVER))
    a, b = inst0.pnode, inst0.snode
    if (a in members or b in members or a == b or not fastalloc.eligible(inst0)
            or inst0.pools):
        return None
    a_node, b_node = state0[a], state0[b]
    if a_node.pools or b_node.pools:
        return None
    force_fo = a_node.offline or force
    a_tags = a_node.location_tags
    a_peers = a_node.peers
    a_mig = a_node.mig_tags
    a_rem = a_node.remove_pri(inst0)
    a_ok: Dict[Tuple[int, int], bool] = {}
    prims = []
    for p in avail:
        if p not in members:
            return None
        tgt = state0[p]
        if tgt.pools:
            return None
        if not a_mig <= tgt.rmig_tags:
            continue            # f: checkMigration
        loc = len(a_tags & tgt.location_tags) if a_tags else 0
        key = (loc, pm_find(a_peers, p) if a_peers else 0)
        ok = a_ok.get(key)
        if ok is None:
            # r:p: the old primary takes the instance again (forced), with
            # the location score of p; f: it becomes its secondary
            ni = inst0.copy()
            ni.location_score = loc
            ni.snode = p
            a3 = a_rem.add_pri(ni, force=True)
            ok = not isinstance(a3, FailMode) and not isinstance(
                a3.remove_pri(ni).add_sec(ni, p, force=force_fo,
                                          ignore_disks=a_node.offline), FailMode)
            a_ok[key] = ok
        if ok:
            prims.append((p, loc))
    if not prims:
        return None
    from htools.alloc.n1 import _alloc_state
    try:
        st = _alloc_state(nl, keys, _PACKED)
        best = st.evac_pair_best(inst0, prims, list(avail), a,
                                 not (b_node.offline or force), not force_fo)
    except (ValueError, NotImplementedError):   # values the C types cannot hold
        return None
    if not best:
        return None
    return pre_moves, best[0], best[1]


_SHARED_TEMPLATES = (DiskTemplate.DISKLESS, DiskTemplate.SHAREDFILE,
                     DiskTemplate.BLOCK, DiskTemplate.RBD, DiskTemplate.EXT,
                     DiskTemplate.GLUSTER)


def node_evac_instance(opts: AlgorithmOptions, nl: Mapping[int, Node],
                       il: Mapping[int, Instance], mode: str, inst: Instance,
                       gdx: int, avail: Sequence[int],
                       trace: Optional[Trace] = None
                       ) -> Tuple[NodeList, InstList, List[Dict]]:
    """``nodeEvacInstance``."""
    dt = inst.disk_template
    mode = EvacMode(mode)
    if dt in _SHARED_TEMPLATES:
        if mode == EvacMode.CHANGE_SECONDARY:
            raise AllocFailure("Instances with disk template '%s' can't execute "
                               "change secondary" % dt.value)
        return evac_one_node_only(opts, nl, il, inst, gdx, avail, trace)
    if dt == DiskTemplate.PLAIN:
        raise AllocFailure("Instances of type plain cannot be relocated")
    if dt == DiskTemplate.FILE:
        raise AllocFailure("Instances of type file cannot be relocated")
    # DRBD
    if mode == EvacMode.CHANGE_PRIMARY:
        res = _apply(opts.ignore_soft_errors, nl, inst, mv.IMove(mv.FAILOVER))
        if isinstance(res, FailMode):
            if trace is not None:
                trace.add(Rejection("move", "failover", res, nl[inst.snode], inst,
                                    nl=nl, il=il))
            raise AllocFailure(_fail_name(res))
        nl2 = _merged(nl, res[0])
        il2 = dict(il)
        il2[inst.idx] = res[1]
        return nl2, il2, imove_to_job(nl2, il2, inst.idx, mv.IMove(mv.FAILOVER))
    if mode == EvacMode.CHANGE_SECONDARY:
        return evac_one_node_only(opts, nl, il, inst, gdx, avail, trace)
    return _evac_drbd_all(opts, nl, il, inst, gdx, avail, trace)


def nodes_to_evacuate(il: Mapping[int, Instance], mode: str,
                      idxs: Sequence[int]) -> set:
    mode = EvacMode(mode)
    out = set()
    for idx in idxs:
        i = il[idx]
        if mode in (EvacMode.CHANGE_PRIMARY, EvacMode.CHANGE_ALL):
            out.add(i.pnode)
        if mode in (EvacMode.CHANGE_SECONDARY, EvacMode.CHANGE_ALL) \
                and i.disk_template == DiskTemplate.DRBD:
            out.add(i.snode)
    out.discard(NO_SECONDARY)
    return out


def _group_nodes(nl: Mapping[int, Node]) -> Dict[int, List[int]]:
    out: Dict[int, List[int]] = {}
    for k in sorted(nl):
        out.setdefault(nl[k].group, []).append(k)
    return out


def available_group_nodes(group_ndx: Dict[int, List[int]], excl: set,
                          gdx: int) -> List[int]:
    if gdx not in group_ndx:
        raise AllocFailure("Can't find group with index %d" % gdx)
    return [k for k in group_ndx[gdx] if k not in excl]


def _record(state, idx: int, result) -> None:
    nl, il, es = state
    nl2, il2, ops = result
    new_inst = il2[idx]
    es.moved.append((idx, nl2[new_inst.pnode].group, new_inst.all_nodes()))
    es.opcodes.append(ops)
    state[0], state[1] = nl2, il2
    # the next instance's placement reads the compiled state of nl2: derived
    # from nl's (if it has one) by the few nodes the moves changed
    if len(nl2) == len(nl):
        fastalloc.note_derived(nl, nl2, {k: n for k, n in nl2.items()
                                         if n is not nl.get(k)})


def try_node_evac(opts: AlgorithmOptions, groups: Sequence[Group],
                  nl: Mapping[int, Node], il: Mapping[int, Instance],
                  mode: str, idxs: Sequence[int],
                  trace: Optional[Trace] = None
                  ) -> Tuple[NodeList, InstList, EvacSolution]:
    """``tryNodeEvac``."""
    evac = nodes_to_evacuate(il, mode, idxs)
    excl = evac | {k for k in nl if nl[k].offline}
    group_ndx = _group_nodes(nl)
    ini_il = il
    state = [dict(nl), dict(il), EvacSolution()]
    for idx in idxs:
        inst = ini_il[idx]
        if trace is not None:
            trace.inst, trace.group = inst.name, ""
        cur_nl = state[0]
        gdx = cur_nl[inst.pnode].group
        try:
            avail = available_group_nodes(group_ndx, excl | {inst.pnode}, gdx)
            res = node_evac_instance(opts, cur_nl, state[1], mode, inst, gdx,
                                     avail, trace)
        except AllocFailure as err:
            state[2].failed.append((idx, err.msg))
            continue
        _record(state, idx, res)
    return state[0], state[1], state[2]


def list_difference(xs: Sequence[int], ys: Sequence[int]) -> List[int]:
    """Haskell's ``xs \\\\ ys`` (removes the first occurrence of each y)."""
    out = list(xs)
    for y in ys:
        try:
            out.remove(y)
        except ValueError:
            pass
    return out


def try_change_group(opts: AlgorithmOptions, groups: Sequence[Group],
                     nl: Mapping[int, Node], il: Mapping[int, Instance],
                     target_gdxs: Sequence[int], idxs: Sequence[int],
                     trace: Optional[Trace] = None
                     ) -> Tuple[NodeList, InstList, EvacSolution]:
    """``tryChangeGroup`` (the evacuation step uses default options)."""
    evac_gdxs: List[int] = []
    for idx in idxs:
        g = nl[il[idx].pnode].group
        if g not in evac_gdxs:
            evac_gdxs.append(g)
    base = list(target_gdxs) if target_gdxs else [g.idx for g in groups]
    targets = list_difference(base, evac_gdxs)
    excl = {k for k in nl if nl[k].offline}
    group_ndx = _group_nodes(nl)
    ini_il = il
    state = [dict(nl), dict(il), EvacSolution()]
    for idx in idxs:
        inst = ini_il[idx]
        if trace is not None:
            trace.inst, trace.group = inst.name, ""
        try:
            ncnt = 2 if inst.disk_template == DiskTemplate.DRBD else 1
            grp, _, _ = find_best_alloc_group(opts, groups, state[0], state[1],
                                              targets, inst, ncnt, trace,
                                              group_only=True)
            avail = available_group_nodes(group_ndx, excl, grp.idx)
            if trace is not None:
                trace.group = grp.name
            res = node_evac_instance(DEFAULT_OPTIONS, state[0], state[1],
                                     EvacMode.CHANGE_ALL, inst, grp.idx, avail,
                                     trace)
        except AllocFailure as err:
            state[2].failed.append((idx, err.msg))
            continue
        _record(state, idx, res)
    return state[0], state[1], state[2]


def process_relocate(opts: AlgorithmOptions, groups: Sequence[Group],
                     nl: Mapping[int, Node], il: Mapping[int, Instance],
                     idx: int, reqn: int, exndx: Sequence[int],
                     trace: Optional[Trace] = None
                     ) -> Tuple[NodeList, InstList, List[int]]:
    """``IAlloc.processRelocate``: (nodes, instances, [new node])."""
    if reqn != 1:
        raise AllocFailure("Exchange %d nodes mode is not implemented" % reqn)
    orig = il[idx]
    mt = orig.mirror_type
    if mt == MirrorType.NONE:
        raise AllocFailure("Can't relocate non-mirrored instances")
    if mt == MirrorType.INTERNAL:
        exp_node, node_type, mode = orig.snode, "secondary", EvacMode.CHANGE_SECONDARY
    else:
        exp_node, node_type, mode = orig.pnode, "primary", EvacMode.CHANGE_PRIMARY
    if list(exndx) != [exp_node]:
        raise AllocFailure(
            "Unsupported request: excluded nodes not equal to instance's %s(%d "
            "versus [%s])" % (node_type, exp_node, ",".join("%d" % x for x in exndx)))
    nl2, il2, es = try_node_evac(opts, groups, nl, il, mode, [idx], trace)
    for fidx, msg in es.failed:
        if fidx == idx:
            raise AllocFailure(msg)
    nodes = None
    for midx, _, ndxs in es.moved:
        if midx == idx:
            nodes = ndxs
            break
    if nodes is None:
        raise AllocFailure("Internal error: lost instance idx during move")
    inst = il2[idx]
    pnode, snode = inst.pnode, inst.snode
    if mt == MirrorType.INTERNAL:
        if snode == orig.snode:
            raise AllocFailure("Internal error: instance didn't change secondary node?!")
        if snode == pnode:
            raise AllocFailure("Internal error: selected primary as new secondary?!")
        if nodes == [pnode, snode]:
            return nl2, il2, [snode]
        raise AllocFailure("Internal error: inconsistent node list (%s) versus "
                           "instance nodes (%d,%d)" % (_show_ints(nodes), pnode, snode))
    if pnode == orig.pnode:
        raise AllocFailure("Internal error: instance didn't change primary node?!")
    if nodes == [pnode]:
        return nl2, il2, nodes
    raise AllocFailure("Internal error: inconsistent node list (%s) versus "
                       "instance node (%d)" % (_show_ints(nodes), pnode))


def _show_ints(xs: Sequence[int]) -> str:
    return "[" + ",".join("%d" % x for x in xs) + "]"
