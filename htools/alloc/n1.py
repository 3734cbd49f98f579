"""The global N+1 predicate of allocation, checked incrementally.

After a placement only the nodes whose evacuation it can affect are
checked again (:class:`N1Checker`); the answer is htools' ``GlobalN1``.
"""
from __future__ import annotations

import operator
from collections import ChainMap, OrderedDict
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from htools import moves as mv
from htools._core import AllocState, ClusterState, PairPlan
from htools.alloc import compiled as fastalloc
from htools.alloc import globaln1
from htools.alloc.primitives import (
    extract_nl, extract_nl_at, inst_matches_policy, update_il,
)
from htools.alloc.solution import (
    Element, NUM_FAIL_MODES, _new_inst, collection_to_solution,
)
if TYPE_CHECKING:
    from htools.alloc.solution import InstList, NodeList
from htools.params import AlgorithmOptions
from htools.model import Instance, Node
from htools.haskell.prelude import truncate_int as hs_truncate
from htools.haskell.prelude import wrap_int64 as _wrap
from htools.types import DiskTemplate, FailMode, NO_SECONDARY

# ==========================================================================
# Global N+1 predicate, incrementally

def _find(container: Mapping, key: int):
    try:
        return container[key]
    except KeyError:
        raise globaln1.MissingKey(key) from None


def can_evacuate_node(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
                      node: Node) -> bool:
    """:func:`globaln1.can_evacuate_node`, with the candidate scores of its
    moves computed by the compiled core (same values, same choices).

    Raises :class:`globaln1.MissingKey` where the reference crashes."""
    return evacuate_detail(nodes, insts, node)[0]


def evacuate_detail(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
                    node: Node) -> Tuple[bool, Optional[frozenset]]:
    """:func:`can_evacuate_node` and, for a failure that no *addition* of
    instances to other nodes can undo, the node keys it depends on.

    Such a failure is one of a DRBD failover (it reads the node and the
    nodes failed over between so far), or of the re-creation of the first
    non-movable instance when there is no shared-storage step (it reads
    the escape nodes only through the forced placement checks - memory,
    disk, spindles left, and the unchanged policy -, which a placement
    elsewhere can only make harder).  Otherwise the second item is None."""
    drbd: List[int] = []
    shared: List[int] = []
    non_move: List[int] = []
    for idx in node.p_list:
        dt = _find(insts, idx).disk_template
        if dt == DiskTemplate.DRBD:
            drbd.append(idx)
        elif dt in globaln1.DISK_TEMPLATE_MOVABLE:
            shared.append(idx)
        else:
            non_move.append(idx)
    if not drbd and not shared and not non_move:
        return True, None
    if drbd:
        failed = _failover_failure(nodes, insts, node, drbd)
        if failed is not None and failed is not UNDECIDED:
            return False, failed
        if failed is None and not shared and not non_move:
            return True, None
    # 1. fail over all DRBD primaries (on an overlay of the node map)
    changes: NodeList = {}
    ichanges: InstList = {}
    view = ChainMap(changes, nodes)
    failover = mv.IMove(mv.FAILOVER)
    for idx in drbd:
        inst = ichanges[idx] if idx in ichanges else _find(insts, idx)
        _find(view, inst.pnode)
        _find(view, inst.snode)
        res = mv.apply_move(True, view, inst, failover)
        if isinstance(res, FailMode):
            return False, frozenset(changes).union((node.idx, inst.pnode,
                                                    inst.snode))
        changes.update(res[0])
        ichanges[idx] = res[1]
    if not shared and not non_move:
        return True, None
    fast = _evacuate_compiled(nodes, changes,
                              ChainMap(ichanges, insts) if ichanges else insts,
                              node, shared, non_move)
    if fast is not None:
        ok, first_recreate = fast
        if ok:
            return True, None
        if first_recreate and not shared:
            return False, frozenset(changes).union((node.idx,))
        return False, None
    nl: NodeList = dict(nodes)
    nl.update(changes)
    # the instances as an overlay (the map itself can be large); its
    # length, which names re-created instances, is kept here
    il = ChainMap(dict(ichanges), insts)
    il_len = len(insts)
    gdx = node.group
    keys = sorted(nl)
    escape = [k for k in keys if nl[k].group == gdx and k != node.idx]
    # 2. move the other movable primaries to the best node of the group
    if shared:
        gkeys = [k for k in keys if nl[k].group == gdx]
        gset = set(gkeys)
        gcs = ClusterState([nl[k] for k in gkeys], gkeys)
        fto = mv.FAILOVER_TO_ANY
        for idx in shared:
            inst = _find(il, idx)
            _find(nl, inst.pnode)
            best = None
            best_cv = 0.0
            for ndx in escape:
                res = mv.apply_move(True, nl, inst, mv.IMove(fto, ndx))
                if isinstance(res, FailMode):
                    continue
                changed = res[0]
                cv = gcs.score_with([(k, v) for k, v in changed.items() if k in gset])
                if best is None or not best_cv < cv:
                    best = res
                    best_cv = cv
            if best is None:
                return False, None
            nl.update(best[0])
            gcs.set_nodes([(k, v) for k, v in best[0].items() if k in gset])
            il[idx] = best[1]
    # 3. re-create the non-movable ones, biggest memory first, on the node
    #    with the best cluster score
    if non_move:
        todo = sorted((_find(il, i) for i in non_move), key=lambda i: -i.mem)
        # the compiled allocation evaluates all targets at once; it refuses
        # offline targets and tagged or forthcoming instances, for which the
        # candidates are built here
        cs = None
        if not any(nl[k].offline for k in escape):
            try:
                cs = _alloc_state(nl, keys)
            except NotImplementedError:     # a value the C types cannot hold
                cs = None
        compiled = cs is not None
        if cs is None:
            cs = ClusterState([nl[k] for k in keys], keys)
        for pos, inst in enumerate(todo):
            cands = _recreate_candidates(cs, nl, inst, escape) \
                if compiled and fastalloc.eligible(inst) else None
            if cands is None:
                cands = []
                for ndx in escape:
                    p = nl[ndx]
                    if inst_matches_policy(inst, p.ipolicy, p.excl_storage) is not None:
                        continue
                    new_p = p.add_pri(inst, force=True)
                    if isinstance(new_p, FailMode):
                        continue
                    cands.append((cs.score_with(((ndx, new_p),)), ndx, new_p))
            if not cands:
                if pos == 0 and not shared:
                    return False, frozenset(changes).union((node.idx,))
                return False, None
            cands.reverse()

            def make(c, inst=inst) -> Element:
                new_p = c[2] if c[2] is not None else nl[c[1]].add_pri(inst, force=True)
                return Element(nl, {c[1]: new_p}, _new_inst(inst, c[1], NO_SECONDARY),
                               [new_p], c[0])
            el = collection_to_solution([0] * NUM_FAIL_MODES, cands,
                                        lambda c: c[0], make, None).solution
            # updateIl/extractNl: the new instance under the key len(il)
            new_nl = extract_nl_at(el, il_len)
            if il_len not in il:
                il[il_len] = el.inst
                il_len += 1
            else:
                il[il_len] = el.inst
            changed = [(n.idx, new_nl[n.idx]) for n in el.placed]
            nl = new_nl
            if compiled:
                try:
                    cs = cs.derive(changed)
                except NotImplementedError:
                    compiled = False
                    cs = ClusterState([nl[k] for k in keys], keys)
            else:
                cs.set_nodes(changed)
    return True, None


class _View:
    """What the compiled evacuation needs of one node map, computed once
    per map (``N1Checker`` asks every node of a candidate state in turn):
    the keys in order, and per group its keys, its nodes' policies and
    the escape keys of each of its nodes."""

    __slots__ = ("src", "vals", "order", "keys", "groups", "states")

    def __init__(self, nl: Mapping[int, Node], vals: Optional[list] = None,
                 base: Optional["_View"] = None) -> None:
        self.src = nl
        self.vals = list(nl.values()) if vals is None else vals
        self.states: Dict[tuple, AllocState] = {}
        if base is not None:
            self.order = base.order
            self.keys = base.keys
            self.groups = base.groups
        else:
            self.order = list(nl)
            self.keys = sorted(self.order)
            self.groups: Dict[int, tuple] = {}

    def derived(self, nl: Mapping[int, Node], vals: list) -> "_View":
        """The view of ``nl``, a map of the same keys in the same order
        as this view's, whose nodes keep their group, policy and
        exclusive-storage flag: the groups' answers carry over."""
        old = self.vals
        for i in range(len(vals)):
            a = vals[i]
            b = old[i]
            if a is not b and (a.group != b.group or a.ipolicy is not b.ipolicy
                               or bool(a.excl_storage) != bool(b.excl_storage)):
                return _View(nl, vals)
        return _View(nl, vals, self)

    def group(self, gdx: int) -> tuple:
        """(keys, {key: (policy, exclusive storage)}, the one pair all
        share or None, {key: its escape keys}) of group ``gdx``."""
        g = self.groups.get(gdx)
        if g is None:
            nl = self.src
            gkeys = [k for k in self.keys if nl[k].group == gdx]
            pols = {k: (nl[k].ipolicy, bool(nl[k].excl_storage)) for k in gkeys}
            first = next(iter(pols.values()), None)
            uniform = first if all(p[0] is first[0] and p[1] == first[1]
                                   for p in pols.values()) else None
            g = self.groups[gdx] = (gkeys, pols, uniform, {})
        return g

    def state(self, skeys: List[int]) -> AllocState:
        key = tuple(skeys)
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = _alloc_state(self.src, skeys)
        return st


#: the view of the last node map evacuated without failovers
_VIEW: List[_View] = []


def _view_of(nodes: Mapping[int, Node]) -> _View:
    vals = list(nodes.values())
    if _VIEW:
        v = _VIEW[0]
        if len(v.vals) == len(vals):
            if v.src is nodes and all(map(operator.is_, v.vals, vals)):
                return v
            if list(nodes) == v.order:
                v = v.derived(nodes, vals)
                _VIEW[:] = [v]
                return v
    v = _View(nodes, vals)
    _VIEW[:] = [v]
    return v


def _evacuate_compiled(nodes: Mapping[int, Node], changes: NodeList, il,
                       node: Node, shared: List[int], non_move: List[int]
                       ) -> Optional[Tuple[bool, bool]]:
    """Steps 2 and 3 of :func:`evacuate_detail` in the compiled core
    (``AllocState.evacuate``) on ``nodes`` with the failovers' ``changes``:
    (can be evacuated, the failure is the first re-creation's), or None
    where it does not apply (tagged or forthcoming
    instances, several groups with both steps, a value the C types cannot
    hold, a NaN score) and the model's path decides.  Offline escape
    nodes are candidates as in the model (their instances count in the
    offline metrics)."""
    sh = [_find(il, i) for i in shared]
    todo = sorted((_find(il, i) for i in non_move), key=lambda i: -i.mem)
    for inst in sh:
        if not fastalloc.eligible(inst) or inst.pnode != node.idx:
            return None
    for inst in todo:
        if not fastalloc.eligible(inst):
            return None
    if changes:
        nl: Mapping[int, Node] = dict(nodes)
        nl.update(changes)              # type: ignore[attr-defined]
        view = _View(nl)
    else:
        nl = nodes
        view = _view_of(nodes)
    gkeys, pols, uniform, escapes = view.group(node.group)
    escape = escapes.get(node.idx)
    if escape is None:
        escape = escapes[node.idx] = [k for k in gkeys if k != node.idx]
    if shared:
        if todo and len(gkeys) != len(view.keys):
            return None     # step 2 scores the group, step 3 the cluster
        skeys = gkeys
    else:
        skeys = view.keys
    targets = escape
    if sh and node.mig_tags:
        targets = [k for k in escape if node.mig_tags <= nl[k].rmig_tags]
    policies = []
    if todo:
        n = len(escape)
        for inst in todo:
            if uniform is not None:
                policies.append([fastalloc.policy_code(inst, *uniform)] * n)
            else:
                policies.append([fastalloc.policy_code(inst, *pols[k])
                                 for k in escape])
    try:
        st = view.state(skeys)
        res = st.evacuate(sh, targets, todo, escape, policies)
    except (ValueError, NotImplementedError):   # values the C types cannot hold
        return None
    if res is None:
        return None
    return res == 0, res == 2


#: :func:`_failover_failure` leaves the answer to the full path
UNDECIDED = frozenset((-1,))


def _failover_failure(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
                      node: Node, drbd: List[int]) -> Optional[frozenset]:
    """Step 1 of :func:`evacuate_detail` on the few numbers its forced
    failovers can fail on: the node keys the first failing failover depends
    on, or None when all of them succeed, or :data:`UNDECIDED` for input
    the full path must see (a missing node, an instance with the same
    primary and secondary, known storage pools).  An instance of the
    node's primary list whose primary is another node (a change-group
    candidate: the placed copy keeps the index of the instance, whose
    entry still names its old nodes) is failed over between the nodes it
    names, as ``applyMove`` does; those nodes join the dependency set.

    A forced ``applyMoveEx Failover`` fails on the migration tags, or when
    the new primary runs out of memory, disk or spindles, or the new
    secondary out of disk (unless the old primary is offline) or spindles;
    forthcoming instances change no node and never fail."""
    state: Dict[int, List[int]] = {}     # node -> [i_mem, f_dsk, f_spindles]
    moved: Dict[int, Tuple[int, int]] = {}
    seen = [node.idx]
    for idx in drbd:
        inst = insts.get(idx)
        if inst is None:
            return UNDECIDED
        pdx, sdx = moved.get(idx, (inst.pnode, inst.snode))
        old_p, old_s = nodes.get(pdx), nodes.get(sdx)
        if old_p is None or old_s is None or pdx == sdx:
            return UNDECIDED
        if pdx != node.idx:
            seen.append(pdx)
        if inst.pools and (old_p.pools is not None or old_s.pools is not None):
            return UNDECIDED        # storage pools: the model's rule decides
        if not old_p.mig_tags <= old_s.rmig_tags:
            return frozenset(seen).union((sdx,))
        moved[idx] = (sdx, pdx)
        if inst.forthcoming:
            seen.append(sdx)
            continue
        sp = state.get(pdx)
        if sp is None:
            sp = state[pdx] = [old_p.i_mem, old_p.f_dsk, old_p.f_spindles]
        ss = state.get(sdx)
        if ss is None:
            ss = state[sdx] = [old_s.i_mem, old_s.f_dsk, old_s.f_spindles]
        mem = inst.mem if inst.uses_memory else 0
        local = inst.uses_local_storage
        dsk = inst.dsk if local else 0
        spindles = inst.total_spindles()
        # the old primary and secondary release the instance ...
        sp[0] = _wrap(sp[0] - mem)
        sp[1] = _wrap(sp[1] + dsk)
        ss[1] = _wrap(ss[1] + dsk)
        if spindles is not None:
            if old_p.excl_storage:
                sp[2] += spindles
            if old_s.excl_storage:
                ss[2] += spindles
        # ... the new primary takes it (forced) ...
        ss[0] = _wrap(ss[0] + mem)
        free = _wrap(hs_truncate(old_s.t_mem) - old_s.n_mem - ss[0] - max(0, old_s.x_mem))
        if local:
            ss[1] = _wrap(ss[1] - dsk)
        if old_s.excl_storage:
            ss[2] = ss[2] - spindles if spindles is not None else -1
        if free <= 0 or (local and (ss[1] <= 0 or (old_s.excl_storage and ss[2] < 0))):
            return frozenset(seen).union((sdx,))
        # ... and the old primary becomes its secondary (forced)
        sp[1] = _wrap(sp[1] - inst.dsk)
        if old_p.excl_storage:
            sp[2] = sp[2] - spindles if spindles is not None else -1
        if (not inst.has_secondary or (not old_p.offline and sp[1] <= 0)
                or (old_p.excl_storage and sp[2] < 0)):
            return frozenset(seen).union((sdx,))
        seen.append(sdx)
    return None


#: the last packed state built by :func:`_alloc_state`: (keys, nodes, state)
_PACKED: List[tuple] = []


def _alloc_state(nl: Mapping[int, Node], keys: List[int],
                 cache: Optional[List[tuple]] = None) -> AllocState:
    """The compiled allocation state of ``nl`` (nodes in ``keys`` order).

    The node maps checked one after the other differ in a few nodes (a
    candidate placement and the failovers of one evacuation), so the state
    is derived from the last one built when few of its nodes changed
    (``derive`` re-reads them and recomputes the statistics, giving the
    state a fresh build gives).  ``cache``: the one-entry list kept
    (default: this module's)."""
    if len(keys) == len(nl):
        # the allocation loop's own state of this very map (keys sorted)
        hit = fastalloc._STATES.get(id(nl))
        if hit is not None and hit[0] is nl:
            return hit[1]
    if cache is None:
        cache = _PACKED
    nodes = [nl[k] for k in keys]
    if cache and cache[0][0] == keys:
        _keys, base_nodes, base = cache[0]
        changed = [(k, n) for k, n, b in zip(keys, nodes, base_nodes) if n is not b]
        if not changed:
            return base
        if len(changed) <= 8 + len(keys) // 8:
            return base.derive(changed)
    state = AllocState(nodes, keys)
    cache[:] = [(list(keys), nodes, state)]
    return state


def _recreate_candidates(st: AllocState, nl: Mapping[int, Node], inst: Instance,
                         escape: List[int]) -> Optional[List[tuple]]:
    """The (score, node, None) of every escape node that takes ``inst`` as a
    forced primary, in escape order, from the compiled allocation (None if
    a score is NaN or a value does not fit the C types: the model's path
    decides then)."""
    policies: Dict[Tuple[int, bool], int] = {}
    policy = []
    for ndx in escape:
        p = nl[ndx]
        key = (id(p.ipolicy), bool(p.excl_storage))
        r = policies.get(key)
        if r is None:
            m = inst_matches_policy(inst, p.ipolicy, p.excl_storage)
            r = policies[key] = -1 if m is None else int(m)
        policy.append(r)
    try:
        res = st.evaluate(inst, PairPlan(st, ("single", escape)), policy, True, True)
    except (ValueError, NotImplementedError):   # values the C types cannot hold
        return None
    if res is None:
        return None
    return [(score, pidx, None) for pidx, _fails, scores, _s, _l in res
            for score in scores]


def redundant(nodes: Mapping[int, Node], insts: Mapping[int, Instance],
              accept_existing: bool = False, ignore_groups: Iterable[int] = ()) -> bool:
    """:func:`globaln1.redundant` with :func:`can_evacuate_node` (the
    candidates scored by the compiled core)."""
    return globaln1.redundant(nodes, insts, accept_existing, ignore_groups,
                              can_evacuate_node)


_LOCAL, _GROUP, _ALL = 0, 1, 2


class N1Checker:
    """``allocGlobalN1 opts nl il`` for many candidate placements.

    ``redundant`` asks every node whether it can be evacuated.  Whether a
    node ``n`` can be depends only on

    * ``n`` and the secondaries of its DRBD primaries, if all its primaries
      are DRBD (failovers touch nothing else);
    * additionally every node of its group, if it has other movable
      primaries (their target is the best-scoring node of the group, scored
      over the group);
    * every node, if it has non-movable primaries (re-created on the node
      with the best *cluster* score).

    The answers for the unchanged state are computed once; a candidate
    placement changes a few nodes, so only the nodes depending on them are
    asked again.  Nodes are visited in index order and htools' crash on a
    node missing from the list (an instance split over groups when only one
    group's nodes are passed) is reproduced (:class:`globaln1.MissingKey`).
    """

    def __init__(self, nl: Mapping[int, Node], il: Mapping[int, Instance],
                 accept_existing: bool = False,
                 ignore_groups: Iterable[int] = ()) -> None:
        self.nl = nl
        self.il = il
        ignored = set(ignore_groups)
        self.order = [k for k in sorted(nl)
                      if not (accept_existing and nl[k].offline)
                      and nl[k].group not in ignored]
        self._base: Dict[int, object] = {}
        #: nodes that cannot be evacuated now and stay so under any
        #: placement that changes none of these keys (see evacuate_detail)
        self._sticky: Dict[int, frozenset] = {}
        self.kind: Dict[int, int] = {}
        #: per node of the order: (kind, keys it reads, its group, whether
        #: its evacuation can crash)
        self._class: Dict[int, tuple] = {}
        self.rdeps: Dict[int, set] = {}
        self.group_dep: Dict[int, List[int]] = {}
        self.all_dep: List[int] = []
        self._crashers: set = set()
        #: instance index -> the nodes whose primary list holds it
        self._holders: Dict[int, set] = {}
        for k in self.order:
            self._classify(k)
        self.crash_possible = bool(self._crashers)
        self.base_false: Optional[List[int]] = None

    def _classify(self, k: int, index: bool = True) -> None:
        node = self.nl[k]
        kind = _LOCAL
        deps = {k}
        crash = False
        for idx in node.p_list:
            if index:
                self._holders.setdefault(idx, set()).add(k)
            inst = self.il.get(idx)
            if inst is None:
                crash = True
                kind = _ALL
                continue
            dt = inst.disk_template
            if dt == DiskTemplate.DRBD:
                if inst.snode not in self.nl or inst.pnode not in self.nl:
                    crash = True
                deps.add(inst.snode)
                deps.add(inst.pnode)    # k, or the old node of a placed copy
            elif dt in globaln1.DISK_TEMPLATE_MOVABLE:
                if inst.pnode not in self.nl:
                    crash = True
                kind = max(kind, _GROUP)
            else:
                kind = _ALL
        self.kind[k] = kind
        self._class[k] = (kind, deps, node.group, crash)
        if crash:
            self._crashers.add(k)
        if kind == _ALL:
            self.all_dep.append(k)
            return
        if kind == _GROUP:
            self.group_dep.setdefault(node.group, []).append(k)
        for d in deps:
            self.rdeps.setdefault(d, set()).add(k)

    def derive(self, nl: Mapping[int, Node], il: Mapping[int, Instance],
               changed: Iterable[int], changed_insts: Iterable[int]
               ) -> Optional["N1Checker"]:
        """The checker of ``nl``/``il``, which differ from this checker's
        state in the nodes ``changed`` and the instances ``changed_insts``
        only (same node keys, same options), keeping this state's answers
        for the nodes whose evacuation reads none of them.  The nodes
        holding a changed instance in their primary list and the changed
        ones are classified again; their answers and those of the nodes
        reading a changed node (:meth:`_affected`, in both states) are
        asked again.  None if a changed node changed its group or offline
        status (the order of the nodes asked may change)."""
        changed = set(changed)
        for k in changed:
            old, cur = self.nl[k], nl[k]
            if old.group != cur.group or old.offline != cur.offline:
                return None
        new = N1Checker.__new__(N1Checker)
        new.nl = nl
        new.il = il
        new.order = self.order
        holders = new._holders = dict(self._holders)
        owned = set()
        for k in changed:
            for idx in self.nl[k].p_list:
                if idx not in owned:
                    holders[idx] = set(holders.get(idx, ()))
                    owned.add(idx)
                holders[idx].discard(k)
            for idx in nl[k].p_list:
                if idx not in owned:
                    holders[idx] = set(holders.get(idx, ()))
                    owned.add(idx)
                holders[idx].add(k)
        redo = set(changed)
        for idx in changed_insts:
            redo.update(holders.get(idx, ()))
        redo &= self._class.keys()
        new.kind = dict(self.kind)
        new._class = dict(self._class)
        # the sets and lists shared with this checker are copied before
        # they change
        new.rdeps = rdeps = dict(self.rdeps)
        new.group_dep = group_dep = dict(self.group_dep)
        new.all_dep = list(self.all_dep)
        new._crashers = set(self._crashers)
        own_d: set = set()
        own_g: set = set()

        def own(d: int) -> None:
            if d not in own_d:
                rdeps[d] = set(rdeps.get(d, ()))
                own_d.add(d)

        def own_group(g: int) -> None:
            if g not in own_g:
                group_dep[g] = list(group_dep.get(g, ()))
                own_g.add(g)
        for k in redo:
            kind, deps, gdx, _crash = self._class[k]
            new._crashers.discard(k)
            if kind == _ALL:
                new.all_dep.remove(k)
                continue
            if kind == _GROUP:
                own_group(gdx)
                group_dep[gdx].remove(k)
            for d in deps:
                own(d)
                rdeps[d].discard(k)
        for k in sorted(redo):
            node = nl[k]
            own(k)
            own_group(node.group)
            for idx in node.p_list:
                inst = il.get(idx)
                if inst is not None:
                    own(inst.snode)
                    own(inst.pnode)
            new._classify(k, False)
        stale = self._affected(changed) | new._affected(changed) | redo
        new._base = {k: v for k, v in self._base.items() if k not in stale}
        new._sticky = {k: v for k, v in self._sticky.items() if k not in stale}
        new.crash_possible = bool(new._crashers)
        new.base_false = None
        return new

    def base(self, k: int):
        """The unchanged state's answer for node ``k`` (or the crash)."""
        try:
            return self._base[k]
        except KeyError:
            pass
        try:
            res, sticky = evacuate_detail(self.nl, self.il, self.nl[k])
        except globaln1.MissingKey as err:
            res, sticky = err, None
        self._base[k] = res
        if sticky is not None:
            self._sticky[k] = sticky
        return res

    def _affected(self, changed: Iterable[int]) -> set:
        out = set(self.all_dep)
        for c in changed:
            out |= self.rdeps.get(c, set())
            node = self.nl.get(c)
            if node is not None:
                out.update(self.group_dep.get(node.group, ()))
        return out

    def _ensure_base_false(self) -> List[int]:
        if self.base_false is None:
            self.base_false = [k for k in self.order if self.base(k) is False]
        return self.base_false

    def quick_reject(self, changed: Iterable[int]) -> bool:
        """True if some node that cannot be evacuated now stays so whatever
        the changed nodes become (never when a crash is possible)."""
        if self.crash_possible:
            return False
        bf = self._ensure_base_false()
        if not bf:
            return False
        changed = set(changed)
        affected = self._affected(changed)
        return self._stays_bad(bf, affected, changed)

    def _stays_bad(self, bf: List[int], affected: set, changed: set) -> bool:
        """Some node that cannot be evacuated now still cannot after a
        placement changing ``changed``."""
        sticky = self._sticky
        for k in bf:
            if k not in affected:
                return True
            deps = sticky.get(k)
            if deps is not None and deps.isdisjoint(changed):
                return True
        return False

    def check(self, new_nl: Mapping[int, Node], new_il: Mapping[int, Instance],
              changed: Iterable[int]) -> bool:
        changed = set(changed)
        affected = self._affected(changed)
        if not self.crash_possible:
            if self._stays_bad(self._ensure_base_false(), affected, changed):
                return False
            # without a possible crash only the conjunction matters, not
            # htools' node order: ask the changed nodes (the likeliest to
            # fail, having just received the instance) first
            # (a placement can bring a crash of its own - a DRBD instance
            # placed without a secondary -: then htools' order decides
            # whether the crash or an earlier node's failure comes first)
            first = sorted(k for k in affected if k in changed)
            rest = sorted(k for k in affected if k not in changed)
            try:
                for k in first + rest:
                    if k in self.kind and not can_evacuate_node(new_nl, new_il,
                                                                new_nl[k]):
                        return False
                return True
            except globaln1.MissingKey:
                pass
            for k in sorted(affected):
                if k in self.kind and not can_evacuate_node(new_nl, new_il,
                                                            new_nl[k]):
                    return False
            return True
        for k in self.order:
            if k in affected:
                res = can_evacuate_node(new_nl, new_il, new_nl[k])
            else:
                res = self.base(k)
                if isinstance(res, globaln1.MissingKey):
                    raise res
            if not res:
                return False
        return True

    def check_alloc(self, el: Element) -> bool:
        """``allocGlobalN1`` of a placement on this checker's state."""
        new_il = update_il(self.il, el)
        new_nl = extract_nl(self.nl, self.il, el)
        return self.check(new_nl, new_il, [n.idx for n in el.placed])


#: N1Checkers by state identity (the state objects are kept alive with
#: them, so an id is not reused while its entry exists): hspace's tiered
#: allocation tries many specs on one unchanged state, and the answers of
#: the unchanged state (which nodes can be evacuated) do not depend on the
#: instance being placed.  Most recently used last; bounded.
_CHECKERS: "OrderedDict[Tuple, Tuple[object, object, N1Checker]]" = OrderedDict()
_CHECKERS_MAX = 64


#: the last checker built per options: a state derived from its state by a
#: few moves (change-group, evacuations) derives its checker from it
_LAST: Dict[Tuple, N1Checker] = {}


def _derived_checker(nl: Mapping[int, Node], il: Mapping[int, Instance],
                     opts_key: Tuple) -> Optional[N1Checker]:
    """The checker of ``nl``/``il`` derived from the last one built with
    these options, if their states differ in a few nodes and instances
    (same keys); else None."""
    last = _LAST.get(opts_key)
    if last is None:
        return None
    old_nl, old_il = last.nl, last.il
    if len(old_nl) != len(nl) or len(old_il) != len(il):
        return None
    limit = 8 + len(nl) // 16
    changed = []
    try:
        for k, n in nl.items():
            if n is not old_nl[k]:
                changed.append(k)
                if len(changed) > limit:
                    return None
        changed_insts = [i for i, x in il.items() if x is not old_il[i]]
    except KeyError:
        return None
    if len(changed_insts) > limit:
        return None
    return last.derive(nl, il, changed, changed_insts)


def _shared_checker(nl: Mapping[int, Node], il: Mapping[int, Instance],
                    accept_existing: bool, ignore_groups: Tuple) -> N1Checker:
    key = (id(nl), id(il), accept_existing, ignore_groups)
    hit = _CHECKERS.get(key)
    if hit is not None and hit[0] is nl and hit[1] is il:
        _CHECKERS.move_to_end(key)
        return hit[2]
    checker = _derived_checker(nl, il, (accept_existing, ignore_groups))
    if checker is None:
        checker = N1Checker(nl, il, accept_existing, ignore_groups)
    _LAST[(accept_existing, ignore_groups)] = checker
    _CHECKERS[key] = (nl, il, checker)
    if len(_CHECKERS) > _CHECKERS_MAX:
        _CHECKERS.popitem(last=False)
    return checker


class _N1Pred:
    """The capacity predicate of ``tryAlloc`` (a lazily built checker)."""

    def __init__(self, opts: AlgorithmOptions, nl, il) -> None:
        self.opts = opts
        self.nl = nl
        self.il = il
        self._checker: Optional[N1Checker] = None

    @property
    def checker(self) -> N1Checker:
        if self._checker is None:
            self._checker = _shared_checker(self.nl, self.il,
                                            self.opts.accept_existing,
                                            tuple(self.opts.capacity_ignore_groups))
        return self._checker

    def __call__(self, el: Element) -> bool:
        return self.checker.check_alloc(el)

    def quick_reject(self, changed: Iterable[int]) -> bool:
        """True if a placement changing only ``changed`` certainly fails."""
        return self.checker.quick_reject(changed)


def n1_predicate(opts: AlgorithmOptions, nl: Mapping[int, Node],
                 il: Mapping[int, Instance]) -> Optional[Callable[[Element], bool]]:
    """The capacity predicate of ``tryAlloc`` (None if checks are off)."""
    if not opts.capacity:
        return None
    return _N1Pred(opts, nl, il)
