"""The allocation engine: hail's requests and the primitives hspace iterates.

This is htools 3.0.2's allocation logic (``Cluster.hs``: ``genAllocNodes``,
``tryAlloc``, ``tryMGAlloc``, ``tryGroupAlloc``, ``allocList``,
``tryChangeGroup``; ``Cluster/Evacuate.hs``; ``Cluster/AllocateSecondary.hs``;
``Dedicated.hs``; ``Backend/IAlloc.processRelocate``) on the plain model of
:mod:`htools.model`, with the same candidate order, failure counting, score
arithmetic, solution sorting and tie-breaking as the reference:

* single-node candidates are scored with the exact cluster score
  (``ClusterState.score_with``), two-node candidates with htools'
  incremental statistics update (``ClusterState.score_with_fast``), as
  ``allocateOnSingle``/``allocateOnPair`` do;
* per collection (all nodes for one node, each primary for two) the
  successes are sorted by score, the list being newest-first as in htools,
  so among equal scores the candidate evaluated *last* wins; the first one
  passing the global N+1 predicate is kept and the ones before it count as
  ``FailN1``;
* solutions of primaries / groups are combined with ``bestAllocElement``
  (ties go to the later one);
* evacuations pick, per instance and on the evolving state, the target with
  the lowest score of the target group's nodes (ties: later candidate).

Node lists are ``{idx: Node}`` mappings, instance lists ``{idx: Instance}``;
iteration is in key order (htools' ``Container.elems``).  Failures that
htools reports as ``Bad`` values raise :class:`AllocFailure` with htools'
message.  The expensive parts are done incrementally but exactly: pair
placements are cached per node (they depend on the other node only through
a few numbers), the global N+1 predicate re-checks only the nodes whose
evacuation can be affected by a placement (:class:`N1Checker`), and
``node-evacuate``'s "all" mode re-uses the moves shared by all candidate
secondaries of one primary.

hspace-style callers use :func:`gen_alloc_nodes` + :func:`try_alloc` on
their own state and :func:`extract_nl` / :func:`update_il` to apply the
chosen solution, exactly as htools' ``iterateAlloc`` does.

Explanations: every primitive can record the rejected candidates in a
:class:`Trace`; :func:`explain_trace` turns them into human-readable
reasons ("node3: memory short by 1.5 GiB ...").
"""
from __future__ import annotations

import math
from collections import ChainMap, OrderedDict
from dataclasses import dataclass, field
from typing import (Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple, Union)

from htools import fastalloc, globaln1
from htools import moves as mv
from htools._core import ClusterState
from htools.allocate import (compare_double, extract_nl, ghc_sort_by,
                             inst_matches_policy, update_il)
from htools.haskell.fmt import fmt_f
from htools.model import Group, Instance, Node, pm_find
from htools.types import (NO_SECONDARY, AllocPolicy, DiskTemplate, FailMode,
                          InstanceStatus, MirrorType)
from htools.haskell.show import show_string, show_string_list

NUM_FAIL_MODES = len(FailMode)
LT, EQ, GT = -1, 0, 1

NodeList = Dict[int, Node]
InstList = Dict[int, Instance]


# ==========================================================================
# Options and errors

@dataclass
class AllocOptions:
    """The algorithm options allocation uses (htools' ``AlgorithmOptions``)."""

    ignore_soft_errors: bool = False
    capacity: bool = True
    restrict_to_nodes: Optional[List[str]] = None
    accept_existing: bool = False
    capacity_ignore_groups: Tuple[int, ...] = ()

    @classmethod
    def from_cli(cls, opts) -> "AllocOptions":
        """``AlgorithmParams.fromCLIOptions`` for the fields used here."""
        return cls(
            ignore_soft_errors=bool(getattr(opts, "ignore_soft_errors", False)),
            capacity=bool(getattr(opts, "capacity", True)),
            restrict_to_nodes=getattr(opts, "restrict_to_nodes", None),
            accept_existing=bool(getattr(opts, "accept_existing", False)),
        )

    def replace(self, **kw) -> "AllocOptions":
        d = dict(self.__dict__)
        d.update(kw)
        return AllocOptions(**d)


#: htools' ``defaultOptions`` (used by change-group's evacuation step)
DEFAULT_OPTIONS = AllocOptions()


class AllocFailure(Exception):
    """A ``Bad`` result of htools; ``msg`` is its text."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class EvacMode:
    CHANGE_PRIMARY = "primary-only"
    CHANGE_SECONDARY = "secondary-only"
    CHANGE_ALL = "all"


def _mode_value(mode) -> str:
    return getattr(mode, "value", mode)


# ==========================================================================
# Tracing rejected candidates (for explanations)

class Rejection:
    """One rejected placement and what is needed to explain it."""

    __slots__ = ("kind", "stage", "mode", "node", "inst", "pdx", "other",
                 "element", "nl", "il", "ctx_inst", "ctx_group")

    def __init__(self, kind: str, stage: str, mode: FailMode,
                 node: Optional[Node] = None, inst: Optional[Instance] = None,
                 pdx: int = NO_SECONDARY, other: Optional[Node] = None,
                 element=None, nl=None, il=None) -> None:
        self.kind = kind          # "single", "pair", "move"
        self.stage = stage        # "policy", "primary", "secondary", "n1", ...
        self.mode = mode
        self.node = node          # the node that refused (its state then)
        self.inst = inst          # the instance as it was tried
        self.pdx = pdx            # its primary, when ``node`` is a secondary
        self.other = other        # the other node of a pair
        self.element = element    # the placement refused by the N+1 check
        self.nl = nl              # the node map then (names, N+1 diagnosis)
        self.il = il
        self.ctx_inst = ""
        self.ctx_group = ""


class Trace:
    """Collects rejections while allocating (optional, a little slower).

    Keeps the first rejection per (instance, group, role, node) and the
    first ``n1_per_context`` N+1 refusals per (instance, group): enough to
    explain, bounded by the cluster size."""

    def __init__(self, limit: int = 100000, n1_per_context: int = 2) -> None:
        self.items: List[Rejection] = []
        self.limit = limit
        self.n1_per_context = n1_per_context
        self.inst = ""
        self.group = ""
        self._seen: set = set()
        self._n1: Dict[Tuple[str, str], int] = {}

    def add(self, rej: Rejection) -> None:
        if len(self.items) >= self.limit:
            return
        if rej.stage == "n1":
            ctx = (self.inst, self.group)
            cnt = self._n1.get(ctx, 0)
            if cnt >= self.n1_per_context:
                return
            self._n1[ctx] = cnt + 1
        else:
            key = (self.inst, self.group, rej.stage,
                   "" if rej.stage == "policy" or rej.node is None
                   else rej.node.idx)
            if key in self._seen:
                return
            self._seen.add(key)
        rej.ctx_inst = self.inst
        rej.ctx_group = self.group
        self.items.append(rej)


# ==========================================================================
# Solutions

class Element:
    """htools' ``AllocElement``: the state after one placement.

    ``nodes`` (the whole node map after the placement) is built on demand
    from the base map and the changed nodes.
    """

    __slots__ = ("base", "changes", "inst", "placed", "score", "_nodes")

    def __init__(self, base: Mapping[int, Node], changes: Dict[int, Node],
                 inst: Instance, placed: List[Node], score) -> None:
        self.base = base
        self.changes = changes
        self.inst = inst
        self.placed = placed
        self.score = score
        self._nodes: Optional[NodeList] = None

    @property
    def nodes(self) -> NodeList:
        if self._nodes is None:
            nl = dict(self.base)
            nl.update(self.changes)
            self._nodes = nl
        return self._nodes


class Solution:
    """htools' ``AllocSolution`` with failures kept as counts per mode."""

    __slots__ = ("fails", "allocs", "solution", "log")

    def __init__(self, fails: Optional[List[int]] = None, allocs: int = 0,
                 solution: Optional[Element] = None,
                 log: Optional[List[str]] = None) -> None:
        self.fails = fails if fails is not None else [0] * NUM_FAIL_MODES
        self.allocs = allocs
        self.solution = solution
        self.log = log if log is not None else []

    @property
    def fail_total(self) -> int:
        return sum(self.fails)

    def fail_stats(self) -> List[Tuple[FailMode, int]]:
        """``collapseFailures``: (mode, count) for every mode, enum order."""
        return [(m, self.fails[m]) for m in FailMode]


def best_element(a: Optional[Element], b: Optional[Element]) -> Optional[Element]:
    """``bestAllocElement``: ``a`` only if strictly better (ties -> ``b``)."""
    if b is None:
        return a
    if a is None:
        return b
    return a if a.score < b.score else b


def sum_allocs(a: Solution, b: Solution) -> Solution:
    """``sumAllocs`` (failure counts added, best element, logs b ++ a)."""
    return Solution([x + y for x, y in zip(a.fails, b.fails)],
                    a.allocs + b.allocs, best_element(a.solution, b.solution),
                    b.log + a.log)


def _sorted_by_score(items: List, score_of: Callable) -> List:
    """Stable sort by score as GHC's ``sortBy (comparing metric)``.

    ``items`` is already newest-first.  Without NaNs Python's stable sort
    gives the same order; with NaNs (an inconsistent ``compare``) GHC's
    merge sort is emulated."""
    has_nan = False
    for it in items:
        s = score_of(it)
        if isinstance(s, float) and s != s:
            has_nan = True
            break
    if not has_nan:
        return sorted(items, key=score_of)

    def cmp(x, y) -> int:
        sx, sy = score_of(x), score_of(y)
        if isinstance(sx, float) or isinstance(sy, float):
            return compare_double(sx, sy)
        return LT if sx < sy else (EQ if sx == sy else GT)
    return ghc_sort_by(cmp, items)


def collection_to_solution(fails: List[int], cands_newest_first: List,
                           score_of: Callable, make: Callable,
                           is_good: Optional[Callable[[Element], bool]],
                           trace: Optional[Trace] = None,
                           trace_info: Optional[Callable] = None,
                           changed_of: Optional[Callable] = None) -> Solution:
    """``collectionToSolution FailN1 isgood``.

    ``cands_newest_first``: light candidates (newest first, as htools'
    list); ``make`` turns one into an :class:`Element`.  Candidates sorted
    before the first good one are dropped and counted as FailN1.  When
    ``is_good`` has a ``quick_reject(changed_keys)`` method (see
    :func:`n1_predicate`), candidates it rejects are not built at all
    (``changed_of(candidate)``: the node keys it changes).
    """
    allocs = len(cands_newest_first)
    if not cands_newest_first:
        return Solution(list(fails), 0, None)
    if is_good is None:
        best = None
        best_s = None
        # the first minimum of the newest-first list (stable sort's head)
        srt = None
        for c in cands_newest_first:
            s = score_of(c)
            if isinstance(s, float) and s != s:
                srt = _sorted_by_score(cands_newest_first, score_of)
                break
            if best is None or s < best_s:
                best, best_s = c, s
        if srt is not None:
            best = srt[0]
        return Solution(list(fails), allocs, make(best))
    quick = getattr(is_good, "quick_reject", None) if changed_of else None
    srt = _sorted_by_score(cands_newest_first, score_of)
    dropped = 0
    good = None
    for c in srt:
        if quick is not None and quick(changed_of(c)):
            el = None
        else:
            el = make(c)
            if is_good(el):
                good = el
                break
        dropped += 1
        if trace is not None and trace_info is not None:
            trace.add(trace_info(c, el, make))
    out = list(fails)
    out[FailMode.FailN1] += dropped
    return Solution(out, allocs - dropped, good)


# ==========================================================================
# Descriptions (the info texts)

def format_score(score) -> str:
    """``printf "%.8f"`` of a score, or ``show`` of a dedicated metric."""
    if isinstance(score, float):
        return fmt_f(score, 8)
    return show_metric(score)


def show_metric(metric) -> str:
    vec, dsk = metric
    return "([%s],%d)" % (",".join("%d" % v for v in vec), dsk)


def fail_reasons(sol: Solution) -> str:
    return ", ".join("%s: %d" % (m.name, c) for m, c in sol.fail_stats() if c > 0)


def describe_solution(sol: Solution, fmt: Callable = format_score) -> str:
    """``genericDescribeSolution``."""
    if sol.solution is None:
        return ("No valid allocation solutions, failure reasons: "
                + ("unknown reasons" if sol.fail_total == 0 else fail_reasons(sol)))
    return ("score: %s, successes %d, failures %d (%s) for node(s) %s" % (
        fmt(sol.solution.score), sol.allocs, sol.fail_total, fail_reasons(sol),
        "/".join(n.name for n in sol.solution.placed)))


def annotate_solution(sol: Solution, fmt: Callable = format_score) -> Solution:
    sol.log = [describe_solution(sol, fmt)] + sol.log
    return sol


def solution_description(grp: Group, sol: Optional[Solution],
                         error: Optional[str]) -> List[str]:
    """``solutionDescription (grp, result)``."""
    if sol is None:
        return ["Group %s: error %s" % (grp.name, error)]
    return ["Group %s (%s): %s" % (grp.name, grp.alloc_policy.value, m)
            for m in sol.log]


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
    secondaries failed over to so far), or of the re-creation of the first
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
            return False, frozenset(changes).union((node.idx, inst.snode))
        changes.update(res[0])
        ichanges[idx] = res[1]
    if not shared and not non_move:
        return True, None
    nl: NodeList = dict(nodes)
    nl.update(changes)
    il: InstList = dict(insts)
    il.update(ichanges)
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
        cs = ClusterState([nl[k] for k in keys], keys)
        for pos, inst in enumerate(todo):
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
                return Element(nl, {c[1]: c[2]}, _new_inst(inst, c[1], NO_SECONDARY),
                               [c[2]], c[0])
            el = collection_to_solution([0] * NUM_FAIL_MODES, cands,
                                        lambda c: c[0], make, None).solution
            new_nl = extract_nl(nl, il, el)
            il = update_il(il, el)
            changed = [(n.idx, new_nl[n.idx]) for n in el.placed]
            nl = new_nl
            cs.set_nodes(changed)
    return True, None


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
        self.rdeps: Dict[int, set] = {}
        self.group_dep: Dict[int, List[int]] = {}
        self.all_dep: List[int] = []
        self.crash_possible = False
        for k in self.order:
            self._classify(k)
        self.base_false: Optional[List[int]] = None

    def _classify(self, k: int) -> None:
        node = self.nl[k]
        kind = _LOCAL
        deps = {k}
        for idx in node.p_list:
            inst = self.il.get(idx)
            if inst is None:
                self.crash_possible = True
                kind = _ALL
                continue
            dt = inst.disk_template
            if dt == DiskTemplate.DRBD:
                if inst.snode not in self.nl or inst.pnode not in self.nl:
                    self.crash_possible = True
                deps.add(inst.snode)
            elif dt in globaln1.DISK_TEMPLATE_MOVABLE:
                if inst.pnode not in self.nl:
                    self.crash_possible = True
                kind = max(kind, _GROUP)
            else:
                kind = _ALL
        self.kind[k] = kind
        if kind == _ALL:
            self.all_dep.append(k)
            return
        if kind == _GROUP:
            self.group_dep.setdefault(node.group, []).append(k)
        for d in deps:
            self.rdeps.setdefault(d, set()).add(k)

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


def _shared_checker(nl: Mapping[int, Node], il: Mapping[int, Instance],
                    accept_existing: bool, ignore_groups: Tuple) -> N1Checker:
    key = (id(nl), id(il), accept_existing, ignore_groups)
    hit = _CHECKERS.get(key)
    if hit is not None and hit[0] is nl and hit[1] is il:
        _CHECKERS.move_to_end(key)
        return hit[2]
    checker = N1Checker(nl, il, accept_existing, ignore_groups)
    _CHECKERS[key] = (nl, il, checker)
    if len(_CHECKERS) > _CHECKERS_MAX:
        _CHECKERS.popitem(last=False)
    return checker


class _N1Pred:
    """The capacity predicate of ``tryAlloc`` (a lazily built checker)."""

    def __init__(self, opts: AllocOptions, nl, il) -> None:
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


def n1_predicate(opts: AllocOptions, nl: Mapping[int, Node],
                 il: Mapping[int, Instance]) -> Optional[Callable[[Element], bool]]:
    """The capacity predicate of ``tryAlloc`` (None if checks are off)."""
    if not opts.capacity:
        return None
    return _N1Pred(opts, nl, il)


# ==========================================================================
# Candidate generation and tryAlloc

#: a one-node target list, or a list of (primary, [secondaries])
AllocNodes = Union[Tuple[str, List[int]], Tuple[str, List[Tuple[int, List[int]]]]]


def get_online(nl: Mapping[int, Node]) -> List[Node]:
    return [nl[k] for k in sorted(nl) if not nl[k].offline]


def gen_alloc_nodes(opts: AllocOptions, groups: Sequence[Group],
                    nl: Mapping[int, Node], count: int,
                    drop_unalloc: bool) -> AllocNodes:
    """``genAllocNodes``: ("single", [ndx]) or ("pair", [(p, [s])])."""
    nodes = get_online(nl)
    if drop_unalloc:
        nodes = [n for n in nodes if groups[n.group].is_allocable]
    if opts.restrict_to_nodes is not None:
        allowed = set(opts.restrict_to_nodes)
        nodes = [n for n in nodes if n.name in allowed]
    if count == 1:
        return ("single", [n.idx for n in nodes])
    if count == 2:
        pairs = []
        for p in nodes:
            ss = [s.idx for s in nodes if s.idx != p.idx and s.group == p.group]
            if ss:
                pairs.append((p.idx, ss))
        return ("pair", pairs)
    raise AllocFailure("Unsupported number of nodes, only one or two  supported")


def _new_inst(inst: Instance, pdx: int, sdx: int,
              loc: Optional[int] = None) -> Instance:
    new = inst.copy()
    new.pnode, new.snode = pdx, sdx
    if loc is not None:
        new.location_score = loc
    return new


def try_alloc(opts: AllocOptions, nl: Mapping[int, Node],
              il: Mapping[int, Instance], inst: Instance,
              alloc_nodes: AllocNodes, trace: Optional[Trace] = None,
              n1pred: Optional[Callable] = None) -> Solution:
    """``tryAlloc``: the annotated best placement of ``inst``.

    ``n1pred`` overrides the capacity predicate (default: global N+1 on
    ``nl``/``il`` when ``opts.capacity``)."""
    kind, targets = alloc_nodes
    if n1pred is None:
        n1pred = n1_predicate(opts, nl, il)
    if trace is None and fastalloc.ENABLED:
        sol = fastalloc.try_alloc(opts, nl, il, inst, alloc_nodes, n1pred)
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


def _try_alloc_single(opts: AllocOptions, nl: Mapping[int, Node],
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


def _try_alloc_pairs(opts: AllocOptions, nl: Mapping[int, Node],
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


# ==========================================================================
# Groups

def split_cluster(nl: Mapping[int, Node], il: Mapping[int, Instance]
                  ) -> List[Tuple[int, NodeList, InstList]]:
    """``splitCluster``: per group (ascending index) its nodes and the
    instances whose primary is among them."""
    by_group: Dict[int, NodeList] = {}
    for k in sorted(nl):
        n = nl[k]
        by_group.setdefault(n.group, {})[k] = n
    out = []
    for gdx in sorted(by_group):
        gnl = by_group[gdx]
        gil = {i: inst for i, inst in il.items() if inst.pnode in gnl}
        out.append((gdx, gnl, gil))
    return out


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
    from htools.hsshow import show_ipolicy
    return ("Group {name = %s, uuid = %s, idx = %d, allocPolicy = %s, "
            "networks = %s, iPolicy = %s, allTags = %s}" % (
                show_string(g.name), show_string(g.uuid), g.idx,
                _ALLOC_POL_CON[g.alloc_policy], show_string_list(g.networks),
                show_ipolicy(g.ipolicy), show_string_list(g.tags)))


_ALLOC_POL_CON = {AllocPolicy.PREFERRED: "AllocPreferred",
                  AllocPolicy.LAST_RESORT: "AllocLastResort",
                  AllocPolicy.UNALLOCABLE: "AllocUnallocable"}


def find_best_alloc_group(opts: AllocOptions, groups: Sequence[Group],
                          nl: Mapping[int, Node], il: Mapping[int, Instance],
                          allowed: Optional[List[int]], inst: Instance,
                          count: int, trace: Optional[Trace] = None
                          ) -> Tuple[Group, Solution, List[str]]:
    """``findBestAllocGroup``."""
    all_groups = [(groups[gdx], gnl) for gdx, gnl, _ in split_cluster(nl, il)]
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
            sols.append((g, try_alloc(opts, nl, il, inst, an, trace, pred), None))
        except AllocFailure as err:
            sols.append((g, None, err.msg))
    all_msgs = msgs + [m for g, s, e in sols for m in solution_description(g, s, e)]
    good = sort_mg_results(sols)
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


def try_mg_alloc(opts: AllocOptions, groups: Sequence[Group],
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


def find_allocation(opts: AllocOptions, groups: Sequence[Group],
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


def try_group_alloc(opts: AllocOptions, groups: Sequence[Group],
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


def alloc_list(opts: AllocOptions, groups: Sequence[Group],
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
# Opcodes (``Cluster/Utils.iMoveToJob``)

def _op_migrate(inst: Instance, target: Optional[str]) -> Dict:
    if inst.forthcoming:
        op = {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": inst.name,
              "shutdown_timeout": 120, "ignore_consistency": False}
        if target is not None:
            op["target_node"] = target
        op["ignore_ipolicy"] = False
        op["cleanup"] = False
        return op
    op = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": inst.name}
    if target is not None:
        op["target_node"] = target
    op.update([("allow_runtime_changes", False), ("ignore_ipolicy", False),
               ("cleanup", False), ("allow_failover", True),
               ("ignore_hvversions", True)])
    return op


def _op_replace(inst: Instance, node: str) -> Dict:
    return {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": inst.name,
            "early_release": False, "ignore_ipolicy": False,
            "mode": "replace_new_secondary", "disks": [], "remote_node": node}


def imove_to_job(nl: Mapping[int, Node], il: Mapping[int, Instance], idx: int,
                 move: mv.IMove) -> List[Dict]:
    """The opcodes (ordered dicts) of one move of instance ``idx``."""
    inst = il[idx]
    k = move.kind
    name = (lambda n: nl[n].name)
    if k == mv.FAILOVER:
        return [_op_migrate(inst, None)]
    if k == mv.FAILOVER_TO_ANY:
        return [_op_migrate(inst, name(move.target))]
    if k == mv.REPLACE_PRIMARY:
        return [_op_migrate(inst, None), _op_replace(inst, name(move.target)),
                _op_migrate(inst, None)]
    if k == mv.REPLACE_SECONDARY:
        return [_op_replace(inst, name(move.target))]
    if k == mv.REPLACE_AND_FAILOVER:
        return [_op_replace(inst, name(move.target)), _op_migrate(inst, None)]
    if k == mv.FAILOVER_AND_REPLACE:
        return [_op_migrate(inst, None), _op_replace(inst, name(move.target))]
    raise ValueError(k)


# ==========================================================================
# Evacuation (``Cluster/Evacuate.hs``)

@dataclass
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


def evac_one_node_only(opts: AllocOptions, nl: Mapping[int, Node],
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


def _evac_drbd_all(opts: AllocOptions, nl: Mapping[int, Node],
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
    # replay the chosen moves for the exact final state
    p, s = best
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


_SHARED_TEMPLATES = (DiskTemplate.DISKLESS, DiskTemplate.SHAREDFILE,
                     DiskTemplate.BLOCK, DiskTemplate.RBD, DiskTemplate.EXT,
                     DiskTemplate.GLUSTER)


def node_evac_instance(opts: AllocOptions, nl: Mapping[int, Node],
                       il: Mapping[int, Instance], mode: str, inst: Instance,
                       gdx: int, avail: Sequence[int],
                       trace: Optional[Trace] = None
                       ) -> Tuple[NodeList, InstList, List[Dict]]:
    """``nodeEvacInstance``."""
    dt = inst.disk_template
    mode = _mode_value(mode)
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
    mode = _mode_value(mode)
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


def try_node_evac(opts: AllocOptions, groups: Sequence[Group],
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


def try_change_group(opts: AllocOptions, groups: Sequence[Group],
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
                                              targets, inst, ncnt, trace)
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


def process_relocate(opts: AllocOptions, groups: Sequence[Group],
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


# ==========================================================================
# Allocate-secondary (``Cluster/AllocateSecondary.hs``)

def try_allocate_secondary(opts: AllocOptions, groups: Sequence[Group],
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


def dedicated_find_allocation(opts: AllocOptions, groups: Sequence[Group],
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


def dedicated_mg_allocation(opts: AllocOptions, groups: Sequence[Group],
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


# ==========================================================================
# Explanations: which constraint refused a node, and by how much

def fmt_mib(mib: float) -> str:
    """A memory/disk amount for humans: ``512 MiB``, ``1.5 GiB``, ``2 TiB``."""
    a = abs(mib)
    for unit, size in (("TiB", 1024.0 * 1024), ("GiB", 1024.0)):
        if a >= size:
            v = "%.1f" % (mib / size)
            if v.endswith(".0"):
                v = v[:-2]
            return "%s %s" % (v, unit)
    return "%d MiB" % mib


def _peer_name(nl: Optional[Mapping[int, Node]], node: Node) -> str:
    if not node.peers:
        return "?"
    pdx = node.peers[0][0]
    if nl is not None and pdx in nl:
        return nl[pdx].name
    return "node #%d" % pdx


def explain_policy(inst: Instance, ipol, excl_stor: bool) -> str:
    """Why ``inst`` does not fit the instance policy (its first min/max
    pair if none fits, as htools reports)."""
    if ipol.minmax:
        results = []
        for mm in ipol.minmax:
            results.append(_explain_minmax(inst, mm, excl_stor))
        if all(r is not None for r in results):
            return results[0]
    if inst.disk_template not in ipol.disk_templates:
        return "instance policy: disk template %s not allowed (allowed: %s)" % (
            inst.disk_template.value,
            ", ".join(d.value for d in ipol.disk_templates) or "none")
    return "instance policy"


def _explain_minmax(inst: Instance, mm, excl_stor: bool) -> Optional[str]:
    for which, spec in (("below the minimum", mm.min_spec),
                        ("above the maximum", mm.max_spec)):
        lo = which.startswith("below")

        def bad(v: int, lim: int) -> bool:
            return v < lim if lo else v > lim
        if bad(inst.mem, spec.memory_size):
            return "instance policy: memory %s %s %s" % (
                fmt_mib(inst.mem), which, fmt_mib(spec.memory_size))
        for d in inst.disks:
            if bad(d.size, spec.disk_size):
                return "instance policy: disk of %s %s %s" % (
                    fmt_mib(d.size), which, fmt_mib(spec.disk_size))
        if bad(inst.vcpus, spec.cpu_count):
            return "instance policy: %d vcpus %s %d" % (inst.vcpus, which,
                                                       spec.cpu_count)
        if excl_stor:
            total = inst.total_spindles()
            if total is None:
                return ("instance policy: exclusive storage needs the spindles "
                        "of every disk, some are unknown")
            if bad(total, spec.spindle_use):
                return "instance policy: %d spindles %s %d" % (total, which,
                                                              spec.spindle_use)
        elif bad(inst.spindle_use, spec.spindle_use):
            return "instance policy: spindle use %d %s %d" % (
                inst.spindle_use, which, spec.spindle_use)
        if (inst.disk_template != DiskTemplate.DISKLESS
                and bad(len(inst.disks), spec.disk_count)):
            return "instance policy: %d disks %s %d" % (len(inst.disks), which,
                                                       spec.disk_count)
    return None


def _short(what: str, need: int, have: int) -> str:
    if have <= 0:
        return "no free %s left (%s)" % (what, fmt_mib(have))
    if need > have:
        return "%s short by %s (needs %s, %s free)" % (
            what, fmt_mib(need - have), fmt_mib(need), fmt_mib(have))
    return "%s: needs %s, exactly the %s free (some must remain)" % (
        what, fmt_mib(need), fmt_mib(have))


def explain_primary(node: Node, inst: Instance, force: bool,
                    nl: Optional[Mapping[int, Node]] = None) -> str:
    """Why ``node`` refuses ``inst`` as a primary (``Node.addPriEx``'s
    checks in their order)."""
    strict = not force
    uses_disk = inst.uses_local_storage
    tags = [t for t in inst.excl_tags if t in node.p_tags]
    if not inst.forthcoming:
        free = node.unallocated_mem()
        need = inst.mem if inst.uses_memory else 0
        new_free = free - need
        if new_free <= 0:
            return _mem_text(need, free)
        new_dsk = node.f_dsk - inst.dsk if uses_disk else node.f_dsk
        if uses_disk and new_dsk <= 0:
            return _short("disk", inst.dsk, node.f_dsk)
        if strict and uses_disk and new_dsk < node.lo_dsk:
            return ("disk: would leave %s free, below the %s kept free"
                    % (fmt_mib(new_dsk), fmt_mib(node.lo_dsk)))
        if uses_disk and node.excl_storage:
            total = inst.total_spindles()
            if total is None:
                return ("spindles of the instance's disks unknown (exclusive "
                        "storage needs them)")
            if node.f_spindles - total < 0:
                return "spindles short by %d (needs %d, %d free)" % (
                    total - node.f_spindles, total, node.f_spindles)
        if strict and uses_disk and not node.excl_storage:
            new_isp = node.inst_spindles + inst.spindle_use
            if new_isp > node.hi_spindles:
                return ("spindle use would be %s, above the limit %s (spindle "
                        "ratio x spindles)" % (_num(new_isp), _num(node.hi_spindles)))
        if strict and new_free <= node.r_mem and not node.fail_n1:
            return ("N+1: would leave %s unallocated, not more than the %s reserved "
                    "for a failover of %s's instances" % (
                        fmt_mib(new_free), fmt_mib(node.r_mem),
                        _peer_name(nl, node)))
        if strict:
            ucpu = node.u_cpu + (inst.vcpus if inst.not_offline else 0)
            ratio = ucpu / node.t_cpu if node.t_cpu else math.inf
            lim = node.ipolicy.vcpu_ratio
            if lim >= 0 and lim < ratio:
                return ("vcpus: %d virtual on %s physical cpus is a ratio of %s, "
                        "above the limit %s" % (ucpu, _num(node.t_cpu),
                                                "%.2f" % ratio, _num(lim)))
        if strict and tags:
            return "exclusion tag(s) %s already used by a primary instance" % (
                ", ".join(tags))
    if strict:
        return ("counting stopped and forthcoming instances too: "
                + _explain_forth_pri(node, inst))
    return "refused (%s)" % "?"


def _mem_text(need: int, free: int) -> str:
    if free <= 0:
        return "no unallocated memory left (%s)" % fmt_mib(free)
    if need > free:
        return "memory short by %s (needs %s, %s unallocated)" % (
            fmt_mib(need - free), fmt_mib(need), fmt_mib(free))
    return ("memory: needs %s, exactly the %s unallocated (some must remain)"
            % (fmt_mib(need), fmt_mib(free)))


def _num(x: float) -> str:
    if isinstance(x, float) and x.is_integer():
        return "%d" % x
    return ("%.2f" % x) if isinstance(x, float) else "%d" % x


def _explain_forth_pri(node: Node, inst: Instance) -> str:
    uses_disk = inst.uses_local_storage
    mem = node.f_mem_forth - inst.mem
    if mem <= 0:
        return _short("memory", inst.mem, node.f_mem_forth)
    dsk = node.f_dsk_forth - inst.dsk if uses_disk else node.f_dsk_forth
    if uses_disk and dsk <= 0:
        return _short("disk", inst.dsk, node.f_dsk_forth)
    if uses_disk and dsk < node.lo_dsk:
        return "disk would drop below the %s kept free" % fmt_mib(node.lo_dsk)
    if uses_disk and node.excl_storage:
        total = inst.total_spindles()
        if total is None or node.f_spindles_forth - total < 0:
            return "not enough spindles"
    if uses_disk and not node.excl_storage and \
            node.inst_spindles_forth + inst.spindle_use > node.hi_spindles:
        return "spindle use above the limit %s" % _num(node.hi_spindles)
    return "vcpu ratio above the limit %s" % _num(node.ipolicy.vcpu_ratio)


def explain_secondary(node: Node, inst: Instance, pdx: int, force: bool,
                      nl: Optional[Mapping[int, Node]] = None,
                      ignore_disks: bool = False) -> str:
    """Why ``node`` refuses ``inst`` as a secondary (``Node.addSecExEx``)."""
    strict = not force
    if not inst.has_secondary:
        return "disk template %s has no secondary node" % inst.disk_template.value
    if inst.forthcoming:
        return "counting forthcoming instances: not enough resources"
    sec_mem = inst.mem if inst.uses_sec_mem else 0
    new_peem = pm_find(node.peers, pdx) + sec_mem
    free = node.unallocated_mem()
    new_dsk = node.f_dsk - inst.dsk
    if not ignore_disks and new_dsk <= 0:
        return _short("disk", inst.dsk, node.f_dsk)
    if strict and new_dsk < node.lo_dsk:
        return "disk: would leave %s free, below the %s kept free" % (
            fmt_mib(new_dsk), fmt_mib(node.lo_dsk))
    if node.excl_storage:
        total = inst.total_spindles()
        if total is None:
            return ("spindles of the instance's disks unknown (exclusive "
                    "storage needs them)")
        if node.f_spindles - total < 0:
            return "spindles short by %d (needs %d, %d free)" % (
                total - node.f_spindles, total, node.f_spindles)
    if strict and not node.excl_storage and inst.uses_local_storage:
        new_isp = node.inst_spindles + inst.spindle_use
        if new_isp > node.hi_spindles:
            return ("spindle use would be %s, above the limit %s" % (
                _num(new_isp), _num(node.hi_spindles)))
    if strict and sec_mem >= free:
        return "could not host the instance after a failover: " + \
            _mem_text(sec_mem, free)
    pname = nl[pdx].name if nl is not None and pdx in nl else "its primary"
    if strict and free <= max(node.r_mem, new_peem) and not node.fail_n1:
        return ("N+1: if %s failed this node would need %s for its instances, "
                "only %s unallocated" % (pname, fmt_mib(max(node.r_mem, new_peem)),
                                         fmt_mib(free)))
    return "counting stopped and forthcoming instances too: not enough resources"


def explain_mig(src: Node, dst: Node) -> str:
    missing = sorted(src.mig_tags - dst.rmig_tags)
    return "migration from %s not allowed (missing migration tag(s) %s)" % (
        src.name, ", ".join(missing))


def _explain_failover(nl: Mapping[int, Node], inst: Instance, force: bool) -> str:
    """Why failing ``inst`` over to its secondary fails."""
    old_p, old_s = nl[inst.pnode], nl[inst.snode]
    if not mv.check_migration(old_p, old_s):
        return explain_mig(old_p, old_s)
    int_s = old_s.remove_sec(inst)
    res = int_s.add_pri(inst, force=old_p.offline or force)
    if isinstance(res, FailMode):
        return explain_primary(int_s, inst, old_p.offline or force, nl)
    int_p = old_p.remove_pri(inst)
    return explain_secondary(int_p, inst, inst.snode, old_p.offline or force, nl,
                             ignore_disks=old_p.offline)


def diagnose_evacuation(nl: Mapping[int, Node], il: Mapping[int, Instance],
                        node: Node) -> Optional[str]:
    """Why ``node`` cannot be evacuated (GlobalN1's ``canEvacuateNode``),
    or None if it can."""
    drbd, shared, nonmove = [], [], []
    for idx in node.p_list:
        inst = il.get(idx)
        if inst is None:
            return "instance #%d unknown" % idx
        dt = inst.disk_template
        if dt == DiskTemplate.DRBD:
            drbd.append(idx)
        elif dt in globaln1.DISK_TEMPLATE_MOVABLE:
            shared.append(idx)
        else:
            nonmove.append(idx)
    cur = dict(nl)
    cil = dict(il)
    for idx in drbd:
        inst = cil[idx]
        if inst.snode not in cur:
            return "the secondary of %s is not in the node list" % inst.name
        res = mv.apply_move(True, cur, inst, mv.IMove(mv.FAILOVER))
        if isinstance(res, FailMode):
            return "failing over %s (%s) to %s: %s" % (
                inst.name, fmt_mib(inst.mem), cur[inst.snode].name,
                _explain_failover(cur, inst, True))
        cur.update(res[0])
        cil[idx] = res[1]
    gdx = node.group
    escape = [k for k in sorted(cur) if cur[k].group == gdx and k != node.idx]
    for idx in shared:
        inst = cil[idx]
        best = globaln1._evac_shared(cur, inst, gdx, escape)
        if best is None:
            return ("moving %s (%s) to another node of the group: no node can "
                    "host it%s" % (inst.name, fmt_mib(inst.mem),
                                   _why_nowhere(cur, inst, escape, False)))
        cur, new_inst = best
        cil[idx] = new_inst
    todo = sorted((cil[i] for i in nonmove), key=lambda i: -i.mem)
    for inst in todo:
        res = globaln1.recreate(cur, cil, inst, escape)
        if res is None:
            return ("re-creating %s (%s) on another node of the group: no node "
                    "can host it%s" % (inst.name, fmt_mib(inst.mem),
                                       _why_nowhere(cur, inst, escape, True)))
        cur, cil = res
    return None


def _why_nowhere(nl: Mapping[int, Node], inst: Instance, targets: Sequence[int],
                 policy: bool, limit: int = 3) -> str:
    """`` (nodeA: reason; nodeB: reason)`` for the first target nodes."""
    if not targets:
        return " (it is the only node of its group)"
    parts = []
    for ndx in targets[:limit]:
        node = nl[ndx]
        if policy and inst_matches_policy(inst, node.ipolicy,
                                          node.excl_storage) is not None:
            why = explain_policy(inst, node.ipolicy, node.excl_storage)
        elif not policy and not mv.check_migration(nl[inst.pnode], node):
            why = explain_mig(nl[inst.pnode], node)
        else:
            why = explain_primary(node, inst, True, nl)
        parts.append("%s: %s" % (node.name, why))
    more = len(targets) - limit
    return " (%s%s)" % ("; ".join(parts), "; ..." if more > 0 else "")


def _first_not_evacuable(nl, il, accept_existing: bool = False):
    for k in sorted(nl):
        n = nl[k]
        if accept_existing and n.offline:
            continue
        why = diagnose_evacuation(nl, il, n)
        if why is not None:
            return n, why
    return None, None


def explain_rejection(rej: Rejection, force: bool) -> str:
    """One sentence (without context) for a rejection."""
    nl = rej.nl
    if rej.stage == "policy":
        return explain_policy(rej.inst, rej.node.ipolicy, rej.node.excl_storage)
    if rej.mode == FailMode.FailMig and rej.stage != "n1":
        src = nl.get(rej.inst.pnode) if nl is not None else None
        if src is not None and src is not rej.node:
            return "%s: %s" % (rej.node.name, explain_mig(src, rej.node))
        return "%s: migration tags do not allow the move" % rej.node.name
    if rej.stage == "primary":
        return "%s: %s" % (rej.node.name, explain_primary(rej.node, rej.inst,
                                                          force, nl))
    if rej.stage == "secondary":
        return "%s (as secondary): %s" % (
            rej.node.name, explain_secondary(rej.node, rej.inst, rej.pdx, force, nl))
    if rej.stage == "failover":
        return "failover to %s: %s" % (rej.node.name,
                                       _explain_failover(nl, rej.inst, force)
                                       if nl is not None and rej.inst.snode in nl
                                       else rej.mode.name)
    if rej.stage == "n1":
        el = rej.element
        if callable(el):
            el = rej.element = el()
        where = "/".join(n.name for n in el.placed)
        new_il = update_il(rej.il, el)
        new_nl = extract_nl(rej.nl, rej.il, el)
        bad, why = _first_not_evacuable(new_nl, new_il)
        if bad is None:
            return "%s: N+1 redundancy check failed" % where
        before = diagnose_evacuation(rej.nl, rej.il, rej.nl[bad.idx]) \
            if bad.idx in rej.nl else None
        tail = " (already the case before the allocation)" if before else ""
        return ("%s: N+1: %s could then not be evacuated: %s%s"
                % (where, bad.name, why, tail))
    return "%s: %s" % (rej.node.name if rej.node else "?", rej.mode.name)


def explain_trace(opts: AllocOptions, cdata, trace: Trace, rq, success: bool,
                  failed_items: Sequence, limit: int = 40) -> List[str]:
    """Sentences for the failures of a request (see ``hail``).

    One sentence per (instance, group, refusing node and role): the first
    constraint that failed there and by how much; N+1 refusals name the node
    that could not be evacuated afterwards and why.  At most ``limit``
    sentences (plus a count of the rest)."""
    failed_names = {item[0] for item in failed_items} if success else None
    force = opts.ignore_soft_errors
    out: List[str] = []
    seen = set()
    n1_per_ctx: Dict[Tuple[str, str], int] = {}
    extra = 0
    multi_inst = len({r.ctx_inst for r in trace.items}) > 1 or bool(failed_names)
    multi_group = len({r.ctx_group for r in trace.items}) > 1
    for rej in trace.items:
        if failed_names is not None and rej.ctx_inst not in failed_names:
            continue
        role = rej.stage
        key_node = rej.node.name if rej.node is not None else ""
        if rej.stage == "policy":
            key_node = ""
        if rej.stage == "n1":
            ctx = (rej.ctx_inst, rej.ctx_group)
            if n1_per_ctx.get(ctx, 0) >= 2:
                continue
            n1_per_ctx[ctx] = n1_per_ctx.get(ctx, 0) + 1
            if callable(rej.element):
                rej.element = rej.element()
            key_node = "/".join(n.name for n in rej.element.placed)
        key = (rej.ctx_inst, rej.ctx_group, role, key_node)
        if key in seen:
            continue
        seen.add(key)
        if len(out) >= limit:
            extra += 1
            continue
        text = explain_rejection(rej, force)
        prefix = []
        if multi_inst and rej.ctx_inst:
            prefix.append(rej.ctx_inst)
        if rej.ctx_group and (multi_group or rej.stage == "policy"):
            prefix.append("group " + rej.ctx_group)
        out.append(": ".join(prefix + [text]))
    if extra:
        out.append("... and %d more" % extra)
    return out
