"""Allocation solutions and their descriptions (htools' ``AllocSolution``, ``AllocElement``, ``describeSolution``).

Also the :class:`Trace` of rejected candidates that explanations read.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Mapping, Optional, Tuple

from htools.haskell.ordering import EQ, GT, LT, compare_double, ghc_sort_by
from htools.haskell.fmt import fmt_f
from htools.model import Group, Instance, Node
from htools.types import FailMode, NO_SECONDARY

NUM_FAIL_MODES = len(FailMode)

if TYPE_CHECKING:
    NodeList = Dict[int, Node]
if TYPE_CHECKING:
    InstList = Dict[int, Instance]


# ==========================================================================
# Options and errors

class AllocFailure(Exception):
    """A ``Bad`` result of htools; ``msg`` is its text."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


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

    __slots__ = ("fails", "allocs", "solution", "_log", "_head")

    def __init__(self, fails: Optional[List[int]] = None, allocs: int = 0,
                 solution: Optional[Element] = None,
                 log: Optional[List[str]] = None) -> None:
        self.fails = fails if fails is not None else [0] * NUM_FAIL_MODES
        self.allocs = allocs
        self.solution = solution
        self._log = log if log is not None else []
        #: the description :func:`annotate_solution` puts first, written
        #: when the log is read (most solutions' logs never are)
        self._head: Optional[Callable[[], str]] = None

    @property
    def log(self) -> List[str]:
        if self._head is not None:
            self._log = [self._head()] + self._log
            self._head = None
        return self._log

    @log.setter
    def log(self, value: List[str]) -> None:
        self._head = None
        self._log = value

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
                           changed_of: Optional[Callable] = None,
                           presorted: bool = False) -> Solution:
    """``collectionToSolution FailN1 isgood``.

    ``cands_newest_first``: light candidates (newest first, as htools'
    list); ``make`` turns one into an :class:`Element`.  Candidates sorted
    before the first good one are dropped and counted as FailN1.  When
    ``is_good`` has a ``quick_reject(changed_keys)`` method (see
    :func:`n1_predicate`), candidates it rejects are not built at all
    (``changed_of(candidate)``: the node keys it changes).  With
    ``presorted`` the candidates come already in the sorted order (any
    sized iterable; only the ones read are needed).
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
    srt = cands_newest_first if presorted else _sorted_by_score(cands_newest_first,
                                                                score_of)
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
    """Put the solution's description first in its log (written when the
    log is read, from the solution as it is now)."""
    log = sol.log
    snapshot = Solution(list(sol.fails), sol.allocs, sol.solution)
    sol._log = log
    sol._head = lambda: describe_solution(snapshot, fmt)
    return sol


def solution_description(grp: Group, sol: Optional[Solution],
                         error: Optional[str]) -> List[str]:
    """``solutionDescription (grp, result)``."""
    if sol is None:
        return ["Group %s: error %s" % (grp.name, error)]
    return ["Group %s (%s): %s" % (grp.name, grp.alloc_policy.value, m)
            for m in sol.log]


def _new_inst(inst: Instance, pdx: int, sdx: int,
              loc: Optional[int] = None) -> Instance:
    new = inst.copy()
    new.pnode, new.snode = pdx, sdx
    if loc is not None:
        new.location_score = loc
    return new
