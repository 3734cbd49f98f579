"""``hbal --search=optimal``: a target placement chosen by OR-Tools' CP-SAT.

The decision is, for every instance a balancing step may move (the same
victims as :func:`htools.balance.search.try_balance`), one of its
*candidates*: staying where it is, or one of the moves a greedy step would
try (:func:`htools.balance.search.instance_moves`) that is legal on the
initial cluster (:func:`htools.moves.apply_move`: migration tags, offline
and drained nodes, ``-O``, ``--no-disk-moves``, restricted migration,
``--select/--exclude-instances`` all act there).  Each instance moves at
most once, so the printed plan never re-moves an instance.

The hard rules that depend on the other instances' placement are linear
constraints on the final state, per online node: free memory above zero,
N+1 (for every primary node, the memory of the instances it would fail
over here stays below the free memory), free disk above zero and above the
disk reserve, the vcpu ratio, the spindle limit and the exclusion tags
(at most one primary per tag, or no more than now).  A node already
breaking a rule may stay as bad as it is (the initial placement is always a
solution).

The objective is a linear proxy of the cluster score
(:mod:`htools.metrics`): for each standard-deviation metric (free memory,
free disk, reserved memory, vcpu ratio, the dynamic loads, spindles) the
mean absolute deviation of the nodes' values from a free centre, weighted
like the score; the primary-tag conflicts, location scores and instances
left on offline nodes as they count in the score; plus the cost of getting
there: ``move_cost`` per move, ``disk_cost`` per GiB of disk copied by a
replace-disks and ``mem_cost`` per GiB of memory live-migrated, in score
units.  ``disk_budget`` (GiB) caps the disk copied.

The result is a :class:`Target` (the chosen moves and the solver's
figures); :mod:`htools.balance.path` orders it into legal steps.

OR-Tools is imported here only, by :func:`solve`.
"""
from __future__ import annotations

import math
import time
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

from htools import moves as mv
from htools.balance.search import instance_moves, victims
from htools.balance.table import Table
from htools.errors import HtoolsError
from htools.model import Instance, Node, pm_find
from htools.params import AlgorithmOptions
from htools.record import field, record
from htools.types import FailMode

#: the install hint printed when OR-Tools is missing
INSTALL_HINT = ("--search=optimal needs OR-Tools: pip install 'htools-py[optimal]'"
                " (or pip install ortools)")

#: value scale of the proxy's per-node ratios (integers in the model)
SCALE = 100_000

#: the largest distance to the mean, in its units, of a deviation metric
RESOLUTION = 1 << 20

#: migrations (``f``) and replace-disks (``r``) of each move kind
MIGRATIONS = {mv.FAILOVER: 1, mv.FAILOVER_TO_ANY: 1, mv.REPLACE_PRIMARY: 2,
              mv.REPLACE_SECONDARY: 0, mv.REPLACE_AND_FAILOVER: 1,
              mv.FAILOVER_AND_REPLACE: 1}
COPIES = {mv.FAILOVER: 0, mv.FAILOVER_TO_ANY: 0, mv.REPLACE_PRIMARY: 1,
          mv.REPLACE_SECONDARY: 1, mv.REPLACE_AND_FAILOVER: 1,
          mv.FAILOVER_AND_REPLACE: 1}

#: candidate moves per run above which the targets are restricted to the
#: nodes with the most room (see :func:`_targets`)
MAX_CANDIDATES = 25_000


@record
class OptimalOptions:
    """The knobs of the optimal search (hbal ``--opt-*``)."""
    time_limit: float = 60.0    # seconds of wall clock for the whole run
    move_cost: float = 0.01     # score units per move
    disk_cost: float = 0.002    # score units per GiB copied
    mem_cost: float = 0.0005    # score units per GiB migrated
    disk_budget: Optional[float] = None   # GiB copied at most
    workers: int = 2
    #: ``time.monotonic()`` when the run began (hbal: before reading the
    #: cluster); None: when the search begins
    started: Optional[float] = None

    def scaled(self, k: float) -> "OptimalOptions":
        """The same with the three costs times ``k``."""
        return OptimalOptions(self.time_limit, self.move_cost * k,
                              self.disk_cost * k, self.mem_cost * k,
                              self.disk_budget, self.workers, self.started)

    def deadline(self) -> float:
        """When the search must end: the time limit after the run began,
        less what printing the plan needs (a second, at most 2 % of the
        limit)."""
        start = time.monotonic() if self.started is None else self.started
        return start + self.time_limit - min(1.0, 0.02 * self.time_limit)


def copied_mib(inst: Instance, move: mv.IMove) -> int:
    """Disk data a move copies over the network (MiB)."""
    return inst.dsk * COPIES[move.kind]


def migrated_mib(inst: Instance, move: mv.IMove) -> int:
    """Memory a move live-migrates (MiB; a stopped instance fails over)."""
    return inst.mem * MIGRATIONS[move.kind] if inst.is_running else 0


@record
class Target:
    """The solver's answer: a move for the instances that move."""
    moves: Dict[int, mv.IMove]
    status: str
    objective: float            # proxy objective of the solution
    bound: float                # the solver's lower bound of it
    candidates: int
    seconds: float
    copied_mib: int = 0
    migrated_mib: int = 0
    notes: List[str] = field(default_factory=list)

    @property
    def solved(self) -> bool:
        """Whether the solver found a solution."""
        return self.status in ("OPTIMAL", "FEASIBLE")

    def summary(self) -> str:
        gap = self.objective - self.bound
        return ("Optimal search: %s in %.1fs, %d candidate moves, %d chosen "
                "(%.1f GiB disk to copy, %.1f GiB memory to migrate); proxy "
                "objective %.6f, solver bound %.6f (at most %.6f from "
                "optimal)" % (
                    self.status, self.seconds, self.candidates, len(self.moves),
                    self.copied_mib / 1024.0, self.migrated_mib / 1024.0,
                    self.objective, self.bound, max(0.0, gap)))


def sigmas(nodes) -> Dict[str, float]:
    """The score's standard deviations of ``nodes`` by model metric."""
    from htools.metrics import NAMES, detailed_cv
    cv = dict(zip(NAMES, detailed_cv(list(nodes))))
    return {"mem": cv["free_mem_cv"], "dsk": cv["free_disk_cv"],
            "cpu": cv["vcpu_ratio_cv"],
            "pload": cv["cpu_load_cv"] + cv["mem_load_cv"] + cv["net_load_cv"],
            "dload": cv["disk_load_cv"], "spnr": cv["spindles_cv"],
            "rmem": cv["reserved_mem_cv"]}


def _import_cp_model():
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        raise HtoolsError(INSTALL_HINT) from None
    return cp_model


@record
class _Cand:
    inst: Instance
    move: Optional[mv.IMove]   # None: stays
    pnode: int
    snode: int


def _targets(opts: AlgorithmOptions, nodes: Dict[int, Node], online: List[int],
             n_victims: int) -> List[int]:
    """The target nodes of the candidate moves: all online nodes, or on
    large groups those with the most free memory, disk and cpu (ranked by
    the sum of their free ratios) so that the model stays within
    :data:`MAX_CANDIDATES`."""
    k = max(8, MAX_CANDIDATES // max(1, 4 * n_victims))
    if k >= len(online):
        return online

    def room(ndx: int) -> float:
        n = nodes[ndx]
        cpu = 1.0 - (n.p_cpu / n.ipolicy.vcpu_ratio
                     if n.ipolicy.vcpu_ratio > 0 else 0.0)
        return n.p_mem + n.p_dsk + cpu
    return sorted(sorted(online, key=room, reverse=True)[:k])


def candidates(opts: AlgorithmOptions, tbl: Table) -> List[List[_Cand]]:
    """Per victim, its candidates: staying first, then every move a greedy
    step tries that is legal on ``tbl``."""
    nodes = tbl.nodes
    online = [i for i in sorted(nodes) if not nodes[i].offline]
    online_set = frozenset(online)
    force = opts.ignore_soft_errors
    vics = [i for i in victims(opts, tbl)
            if not i.forthcoming and i.mirror_type.value != "none"
            and not (i.snode >= 0 and i.snode == i.pnode)]
    targets = _targets(opts, nodes, online, len(vics))
    tset = frozenset(targets)
    out: List[List[_Cand]] = []
    for inst in vics:
        cands = [_Cand(inst, None, inst.pnode, inst.snode)]
        seen = {(inst.pnode, inst.snode)}
        for move in instance_moves(opts, targets, online_set, nodes, inst):
            if move.kind != mv.FAILOVER and move.target not in tset:
                continue
            res = mv.apply_move(force, nodes, inst, move)
            if isinstance(res, FailMode):
                continue
            _, _, p, s = res
            if (p, s) in seen:
                continue
            seen.add((p, s))
            cands.append(_Cand(inst, move, p, s))
        if len(cands) > 1:
            out.append(cands)
    return out


def _base_nodes(nodes: Dict[int, Node], cands: List[List[_Cand]]
                ) -> Dict[int, Node]:
    """The nodes without the victims (their fixed part)."""
    base = dict(nodes)
    for cs in cands:
        inst = cs[0].inst
        base[inst.pnode] = base[inst.pnode].remove_pri(inst)
        if inst.snode >= 0 and inst.has_secondary:
            base[inst.snode] = base[inst.snode].remove_sec(inst)
    return base


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def solve(opts: AlgorithmOptions, oopts: OptimalOptions, tbl: Table,
          deadline: Optional[float] = None,
          hint: Optional[Dict[int, Tuple[int, int]]] = None,
          sigma: Optional[Dict[str, float]] = None,
          fix: bool = False) -> Target:
    """Build and solve the model of ``tbl``; the chosen target.

    ``hint`` (instance index -> (primary, secondary)) is a placement the
    solver starts from where it is a candidate (the others stay);
    ``sigma`` (metric -> standard deviation) the deviations the objective
    is tuned to (:func:`sigmas` of the state expected at the end).  With
    ``fix`` the hint is imposed (whether the model admits a placement)."""
    cp_model = _import_cp_model()
    t0 = time.monotonic()
    if deadline is None:
        deadline = t0 + oopts.time_limit
    nodes = tbl.nodes
    cands = candidates(opts, tbl)
    online = [i for i in sorted(nodes) if not nodes[i].offline]
    strict = not opts.ignore_soft_errors
    base = _base_nodes(nodes, cands)
    m = cp_model.CpModel()
    zs: List[List] = []
    # per node: linear terms (var, coefficient) of each quantity
    terms: Dict[Tuple[str, int], Tuple[List, List]] = {}
    peer_terms: Dict[Tuple[int, int], Tuple[List, List]] = {}
    tag_terms: Dict[Tuple[int, str], List] = {}
    obj_vars: List = []
    obj_coefs: List[float] = []
    copy_vars: List = []
    copy_coefs: List[int] = []

    def add(key, var, coef):
        if coef:
            vs, cs = terms.setdefault(key, ([], []))
            vs.append(var)
            cs.append(coef)

    def util_pri(n: Node, inst: Instance) -> float:
        u, pool = inst.util, n.util_pool
        return _div(u.cpu, pool.cpu) + _div(u.mem, pool.mem) + _div(u.net, pool.net)

    def dsk_load(n: Node, inst: Instance) -> float:
        return _div(inst.util.dsk, n.util_pool.dsk)

    def spindle_ratio(n: Node, inst: Instance) -> float:
        if inst.uses_local_storage and not n.excl_storage and n.hi_spindles:
            return inst.spindle_use / n.hi_spindles
        return 0.0

    n_cands = 0
    for cs in cands:
        row = []
        for c in cs:
            z = m.new_bool_var("")
            row.append(z)
            inst = c.inst
            p = nodes[c.pnode]
            add(("mem", c.pnode), z, inst.mem if inst.uses_memory else 0)
            add(("vcpu", c.pnode), z, inst.vcpus if inst.not_offline else 0)
            add(("pload", c.pnode), z, round(SCALE * util_pri(p, inst)))
            add(("dload", c.pnode), z, round(SCALE * dsk_load(p, inst)))
            add(("spnr", c.pnode), z, round(SCALE * spindle_ratio(p, inst)))
            if inst.uses_local_storage:
                add(("dsk", c.pnode), z, inst.dsk)
                add(("spn", c.pnode), z, inst.spindle_use)
            for tag in inst.excl_tags:
                tag_terms.setdefault((c.pnode, tag), []).append(z)
            if c.snode >= 0 and inst.has_secondary:
                s = nodes[c.snode]
                add(("dsk", c.snode), z, inst.dsk)
                add(("spn", c.snode), z, inst.spindle_use)
                add(("dload", c.snode), z, round(SCALE * dsk_load(s, inst)))
                add(("spnr", c.snode), z, round(SCALE * spindle_ratio(s, inst)))
                if inst.uses_sec_mem and inst.mem:
                    vs, ks = peer_terms.setdefault((c.snode, c.pnode), ([], []))
                    vs.append(z)
                    ks.append(inst.mem)
            # per-candidate constant parts of the score and the move cost
            cost = 0.0
            if p.offline:
                cost += 4.0 + 16.0
            if c.snode >= 0 and inst.has_secondary:
                s = nodes[c.snode]
                if s.offline:
                    cost += 4.0
                cost += len(p.location_tags & s.location_tags)
            cost += len(inst.dsrd_loc_tags) - len(inst.dsrd_loc_tags & p.location_tags)
            if c.move is not None:
                n_cands += 1
                cost += (oopts.move_cost
                         + oopts.disk_cost * copied_mib(inst, c.move) / 1024.0
                         + oopts.mem_cost * migrated_mib(inst, c.move) / 1024.0)
                if copied_mib(inst, c.move):
                    copy_vars.append(z)
                    copy_coefs.append(copied_mib(inst, c.move))
            if cost:
                obj_vars.append(z)
                obj_coefs.append(cost)
        m.add_exactly_one(row)
        want = (hint or {}).get(cs[0].inst.idx)
        pick = 0
        for k, c in enumerate(cs):
            if want is not None and (c.pnode, c.snode) == want:
                pick = k
        for k, z in enumerate(row):
            m.add_hint(z, 1 if k == pick else 0)
        zs.append(row)

    def expr(key):
        vs, cs = terms.get(key, ((), ()))
        return cp_model.LinearExpr.weighted_sum(list(vs), list(cs))

    first = {id(r[0]) for r in zs}

    def span(key, k: float = 1.0) -> int:
        """The sum of ``key``'s coefficients (scaled by ``k``)."""
        return sum(round(k * c) for c in terms.get(key, ((), ()))[1])

    def initial(key, k: float = 1.0) -> int:
        """The value of ``key``'s terms (scaled by ``k``) as placed now."""
        vs, cs = terms.get(key, ((), ()))
        if k == 1.0:
            return sum(c for v, c in zip(vs, cs) if id(v) in first)
        return sum(round(k * c) for v, c in zip(vs, cs) if id(v) in first)

    dev_values: Dict[str, List] = {}   # metric -> per-node scaled values
    free_vars: Dict[int, object] = {}
    for ndx in online:
        n, b = nodes[ndx], base[ndx]
        # memory: free = base free - primaries' memory; above zero
        base_free = b.unallocated_mem()
        mem = expr(("mem", ndx))
        free = m.new_int_var(base_free - span(("mem", ndx)), base_free, "")
        m.add(free == base_free - mem)
        free_vars[ndx] = free
        m.add(base_free - mem >= min(1, base_free - initial(("mem", ndx))))
        # disk, above the reserve
        dsk = expr(("dsk", ndx))
        lim = max(1, n.lo_dsk) if strict else 1
        m.add(b.f_dsk - dsk >= min(lim, b.f_dsk - initial(("dsk", ndx))))
        # cpu ratio
        vcpu = expr(("vcpu", ndx))
        l_cpu = n.ipolicy.vcpu_ratio
        if strict and l_cpu >= 0:
            cap = int(l_cpu * n.t_cpu)
            m.add(b.u_cpu + vcpu <= max(cap, b.u_cpu + initial(("vcpu", ndx))))
        # spindles
        if strict and not n.excl_storage:
            fixed = int(b.inst_spindles)
            cap = int(n.hi_spindles) - fixed
            m.add(expr(("spn", ndx)) <= max(cap, initial(("spn", ndx))))
        # the score's ratios, scaled to integers
        km = SCALE / max(1.0, float(n.t_mem))
        dev_values.setdefault("mem", []).append(
            (round(km * base_free) - _ratio_expr(cp_model, terms, ("mem", ndx), km),
             round(km * base_free) - initial(("mem", ndx), km),
             round(km * base_free) - span(("mem", ndx), km), round(km * base_free)))
        kd = SCALE / max(1.0, float(n.t_dsk))
        dev_values.setdefault("dsk", []).append(
            (round(kd * b.f_dsk) - _ratio_expr(cp_model, terms, ("dsk", ndx), kd),
             round(kd * b.f_dsk) - initial(("dsk", ndx), kd),
             round(kd * b.f_dsk) - span(("dsk", ndx), kd), round(kd * b.f_dsk)))
        kc = SCALE / max(1e-9, float(n.t_cpu) * n.t_cpu_speed)
        dev_values.setdefault("cpu", []).append(
            (round(kc * b.u_cpu) + _ratio_expr(cp_model, terms, ("vcpu", ndx), kc),
             round(kc * b.u_cpu) + initial(("vcpu", ndx), kc),
             round(kc * b.u_cpu), round(kc * b.u_cpu) + span(("vcpu", ndx), kc)))
        pl0 = round(SCALE * (_div(b.util_load.cpu, n.util_pool.cpu)
                             + _div(b.util_load.mem, n.util_pool.mem)
                             + _div(b.util_load.net, n.util_pool.net)))
        dev_values.setdefault("pload", []).append(
            (pl0 + expr(("pload", ndx)), pl0 + initial(("pload", ndx)),
             pl0, pl0 + span(("pload", ndx))))
        for key, v0 in (("dload", _div(b.util_load.dsk, n.util_pool.dsk)),
                        ("spnr", _div(b.inst_spindles, n.hi_spindles)
                         if not n.excl_storage else 0.0)):
            c0 = round(SCALE * v0)
            dev_values.setdefault(key, []).append(
                (c0 + expr((key, ndx)), c0 + initial((key, ndx)),
                 c0, c0 + span((key, ndx))))
    # N+1: the memory each primary node would fail over here stays below
    # the free memory; the largest is the reserved memory of the score
    for ndx in online:
        n, b = nodes[ndx], base[ndx]
        km = SCALE / max(1.0, float(n.t_mem))
        keys = {q for (s, q) in peer_terms if s == ndx}
        peer_sum = sum(round(km * k) for (sn, _), (_, ks) in peer_terms.items()
                       if sn == ndx for k in ks)
        reach = round(km * max([v for _, v in b.peers] or [0])) + peer_sum
        r_top = max(reach, round(km * n.r_mem))
        r = m.new_int_var(0, r_top, "")
        # a node failing N+1 now may stay so, at the score's price (its
        # instances counted as now); else it must not start failing
        fails = None
        if n.fail_n1:
            fails = m.new_bool_var("")
            count = len(n.p_list) + len(n.s_list)
            obj_vars.append(fails)
            obj_coefs.append(float(count))
        for q in keys:
            vs, ks = peer_terms[(ndx, q)]
            fixed = pm_find(b.peers, q)
            pexpr = fixed + cp_model.LinearExpr.weighted_sum(list(vs), list(ks))
            ct = m.add(pexpr <= free_vars[ndx] - 1)
            if fails is not None:
                ct.only_enforce_if(~fails)
            m.add(r >= round(km * fixed) + cp_model.LinearExpr.weighted_sum(
                list(vs), [round(km * k) for k in ks]))
        if b.peers:
            top = max(v for _, v in b.peers)
            m.add(r >= round(km * top))
            ct = m.add(top <= free_vars[ndx] - 1)
            if fails is not None:
                ct.only_enforce_if(~fails)
        dev_values.setdefault("rmem", []).append((r, round(km * n.r_mem), 0, r_top))
    # exclusion tags
    tag_cost_vars = []
    for (ndx, tag), vs in tag_terms.items():
        if ndx not in free_vars:
            continue
        fixed = base[ndx].p_tags.get(tag, 0)
        init_cnt = fixed + sum(1 for v in vs if id(v) in first)
        if strict:
            m.add(fixed + sum(vs) <= max(1, init_cnt))
        e = m.new_int_var(0, len(vs) + fixed, "")
        m.add(e >= fixed + sum(vs) - 1)
        tag_cost_vars.append(e)
    # each standard deviation of the score: the square root of the mean of
    # the squared distances of the nodes' values to the mean (a convex
    # piecewise-linear square, exact at the breakpoints: one instance's
    # value apart near the mean, then doubling)
    obj = []
    weights = {"mem": 1.0, "dsk": 1.0, "cpu": 1.0, "pload": 1.0,
               "dload": 1.0, "spnr": 1.0, "rmem": 1.0 + _rtotal_weight()}
    for key, values in dev_values.items():
        if len(values) < 2:
            continue
        inits = [v[1] for v in values]
        mean = sum(inits) / len(inits)
        steps_ = [abs(c) for vs_cs in _metric_terms(terms, key, online)
                  for c in vs_cs if c]
        step = max(1, sorted(steps_)[len(steps_) // 2] if steps_ else SCALE // 100)
        # the farthest any node's value can get from the mean; distances
        # are counted in units of ``unit`` so that their squares' sums fit
        spread = _reach(values, mean) + step
        unit = max(1, math.ceil(spread / RESOLUTION))
        points = _breakpoints(max(1, step // unit), spread / unit + 1)
        top = points[-1]
        squares = []
        for val, *_ in values:
            x = m.new_int_var(-top, top, "")
            m.add(unit * x <= val - round(mean))
            m.add(val - round(mean) < unit * x + unit)
            d = m.new_int_var(0, top * top, "")
            for a0, a1 in zip(points, points[1:]):
                # the secant of x^2 between a0 and a1
                m.add(d >= (a0 + a1) * x - a0 * a1)
            squares.append(d)
        sd = m.new_int_var(0, top, "")
        sq = m.new_int_var(0, top * top, "")
        m.add_multiplication_equality(sq, [sd, sd])
        m.add(len(values) * sq >= sum(squares))
        obj.append((sd, weights[key] * unit / SCALE))
    if oopts.disk_budget is not None and copy_vars:
        m.add(cp_model.LinearExpr.weighted_sum(copy_vars, copy_coefs)
              <= int(oopts.disk_budget * 1024))
    all_vars = obj_vars + [d for d, _ in obj] + tag_cost_vars
    all_coefs = obj_coefs + [w for _, w in obj] + [2.0] * len(tag_cost_vars)
    m.minimize(cp_model.LinearExpr.weighted_sum(all_vars, all_coefs))
    solver = cp_model.CpSolver()
    left = deadline - time.monotonic()
    solver.parameters.max_time_in_seconds = max(1.0, left)
    solver.parameters.num_workers = max(1, oopts.workers)
    solver.parameters.fix_variables_to_their_hinted_value = fix
    status = solver.solve(m)
    if status == cp_model.MODEL_INVALID:  # pragma: no cover - internal error
        raise AssertionError("invalid optimal search model: %s" % m.validate())
    name = solver.status_name(status)
    moves: Dict[int, mv.IMove] = {}
    copied = migrated = 0
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        for cs, row in zip(cands, zs):
            for c, z in zip(cs, row):
                if c.move is not None and solver.boolean_value(z):
                    moves[c.inst.idx] = c.move
                    copied += copied_mib(c.inst, c.move)
                    migrated += migrated_mib(c.inst, c.move)
        objective = solver.objective_value
        bound = solver.best_objective_bound
    else:
        objective = bound = float("nan")
    return Target(moves, name, objective, bound, n_cands,
                  time.monotonic() - t0, copied, migrated)


def _reach(values, mean: float) -> float:
    """How far a metric's node values (expression, initial value, lower
    and upper bound) can be from ``mean``."""
    return max(max(abs(lo - mean), abs(hi - mean)) for _, _, lo, hi in values)


def _metric_terms(terms, key: str, online: List[int]):
    """The coefficient lists of a metric's per-node terms."""
    name = {"mem": "mem", "dsk": "dsk", "cpu": "vcpu", "pload": "pload",
            "dload": "dload", "spnr": "spnr", "rmem": "mem"}[key]
    return [terms[(name, n)][1] for n in online if (name, n) in terms]


def _breakpoints(step: int, spread: float) -> List[int]:
    """Breakpoints of the square's approximation: 0, +-step, +-2 step,
    +-4 step, ... beyond ``spread``."""
    pos = [0, step]
    while pos[-1] < spread:
        pos.append(pos[-1] * 2 if len(pos) > 3 else pos[-1] + step)
    return [-p for p in reversed(pos[1:])] + pos


def _ratio_expr(cp_model, terms, key, k: float):
    """The terms of ``key`` with coefficients scaled by ``k``."""
    vs, cs = terms.get(key, ((), ()))
    return cp_model.LinearExpr.weighted_sum(list(vs), [round(k * c) for c in cs])


def _rtotal_weight() -> float:
    from htools.metrics import RESERVED_MEM_RTOTAL_COEFF
    return RESERVED_MEM_RTOTAL_COEFF
