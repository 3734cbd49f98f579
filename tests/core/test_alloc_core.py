"""The compiled tryAlloc (htools.alloc.compiled / _core.AllocState) against the
model's path (htools.allocation with the compiled path switched off): the
same failure counts, allocation count, chosen placement, score bits and
log line, on generated clusters, for one- and two-node allocations, with
and without soft errors ignored and the capacity predicate, and along
allocation sequences whose states are derived incrementally."""
import math
import os
import struct
from random import Random

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from backends.text import parse_data
from htools.alloc import n1
from htools.alloc.n1 import n1_predicate
from htools.alloc.place import gen_alloc_nodes, try_alloc
from htools.alloc.primitives import extract_nl
from htools.alloc.solution import AllocFailure
from htools.params import AlgorithmOptions
from htools.alloc import capacity as cap
from htools.alloc import compiled as fastalloc
from htools.loader import merge_data, update_missing
from htools.types import DiskTemplate, FailMode
from simulate.generator import generate

TEMPLATES = [DiskTemplate.DRBD, DiskTemplate.PLAIN, DiskTemplate.DISKLESS,
             DiskTemplate.SHAREDFILE, DiskTemplate.FILE]


def _bits(x):
    return struct.pack("<d", x) if isinstance(x, float) else x


def _load(seed: int, **params):
    text = generate(seed=seed, **params)
    cdata = parse_data(text)
    merge_data(cdata)
    update_missing(cdata, 0)
    nl = {n.idx: n for n in cdata.nodes}
    il = {i.idx: i for i in cdata.instances}
    return cdata, nl, il


def _model(opts, nl, il, inst, an, n1pred=None):
    os.environ["HTOOLS_PURE"] = "1"
    try:
        return try_alloc(opts, nl, il, inst, an, n1pred=n1pred)
    finally:
        del os.environ["HTOOLS_PURE"]


def _summary(sol):
    el = sol.solution
    out = [list(sol.fails), sol.allocs, list(sol.log)]
    if el is None:
        out.append(None)
    else:
        out.append((el.inst.pnode, el.inst.snode, el.inst.location_score,
                    _bits(el.score), sorted(el.changes)))
        for k in sorted(el.changes):
            a = el.changes[k]
            out.append((a.p_mem, a.p_dsk, a.r_mem, a.f_dsk, a.i_mem,
                        list(a.p_list), list(a.s_list), list(a.peers)))
    return out


def _compare(opts, nl, il, inst, an, n1pred=None):
    try:
        want = _summary(_model(opts, nl, il, inst, an, n1pred))
    except AllocFailure as e:
        with pytest.raises(AllocFailure, match=str(e)):
            fastalloc.try_alloc(opts, nl, il, inst, an, n1pred)
        return None
    got_sol = fastalloc.try_alloc(opts, nl, il, inst, an, n1pred)
    assert got_sol is not None, "compiled path declined an eligible case"
    assert _summary(got_sol) == want
    return got_sol


def _spec(rng: Random, dt: DiskTemplate):
    mem = rng.choice([128, 512, 1024, 4096, 16384, 65536, 262144])
    dsk = rng.choice([1024, 10240, 102400, 1048576, 4194304])
    cpu = rng.choice([1, 2, 4, 8, 64])
    spn = rng.choice([1, 1, 2, 5])
    return cap.inst_from_spec(mem, dsk, cpu, spn, dt, rng.choice([1, 1, 2]))


CLUSTERS = [
    dict(nodes=6, instances=14, groups=1),
    dict(nodes=12, instances=40, groups=2),
    dict(nodes=10, instances=30, groups=1, location_tags=True),
    dict(nodes=14, instances=35, groups=2, excl_storage_nodes=4),
    dict(nodes=8, instances=0, groups=1),
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("params", CLUSTERS, ids=lambda p: "%(nodes)dx%(instances)d" % p
                         + ("-loc" if p.get("location_tags") else "")
                         + ("-excl" if p.get("excl_storage_nodes") else ""))
def test_try_alloc_matches_model(seed, params):
    rng = Random(seed * 7919 + params["nodes"])
    cdata, nl, il = _load(seed, **params)
    groups = sorted(cdata.groups, key=lambda g: g.idx)
    base = AlgorithmOptions()
    compared = 0
    for _ in range(12):
        dt = rng.choice(TEMPLATES)
        inst = _spec(rng, dt)
        count = cap.required_nodes(dt)
        try:
            an = gen_alloc_nodes(base, groups, nl, count, True)
        except AllocFailure:
            continue
        force = rng.random() < 0.3
        opts = base.replace(ignore_soft_errors=force, capacity=False)
        _compare(opts, nl, il, inst, an)
        compared += 1
        if params["nodes"] <= 8 and rng.random() < 0.5:
            copts = base.replace(ignore_soft_errors=force)
            _compare(copts, nl, il, inst, an, n1_predicate(copts, nl, il))
    assert compared > 0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dt", [DiskTemplate.DRBD, DiskTemplate.PLAIN])
def test_allocation_sequence_with_derived_states(seed, dt):
    """hspace's loop: each allocation's state derived from the previous one
    scores and checks exactly like a state built from scratch."""
    rng = Random(seed)
    cdata, nl, il = _load(seed, nodes=9, instances=5, groups=1)
    groups = sorted(cdata.groups, key=lambda g: g.idx)
    opts = AlgorithmOptions().replace(capacity=False)
    an = gen_alloc_nodes(opts, groups, nl, cap.required_nodes(dt), True)
    inst = cap.inst_from_spec(rng.choice([256, 512, 1024]), 10240, 1,
                              1, dt, 1)
    placed = 0
    for k in range(40):
        ni = inst.copy()
        ni.name = ni.alias = "new-%d" % k
        ni.idx = len(il)
        sol = _compare(opts, nl, il, ni, an)
        if sol is None or sol.solution is None:
            break
        el = sol.solution
        xnl = extract_nl(nl, il, el)
        fastalloc.note_derived(nl, xnl, {i: xnl[i] for i in el.changes})
        il = dict(il)
        il[ni.idx] = el.inst
        nl = xnl
        placed += 1
        # the derived state equals one read from the node list
        derived = fastalloc.state_for(nl)
        fresh = fastalloc.AllocState([nl[i] for i in sorted(nl)], sorted(nl))
        assert [_bits(v) for v in derived.metrics()] == \
            [_bits(v) for v in fresh.metrics()]
    assert placed > 0


def _loop_summary(res):
    nl, il = res.nl, res.il
    return [[(m, c) for m, c in res.fails],
            [(i.name, i.idx, i.pnode, i.snode, i.location_score) for i in res.ixes],
            sorted(il), [(k, nl[k].p_mem, nl[k].p_dsk, nl[k].f_dsk, nl[k].i_mem,
                          nl[k].u_cpu, nl[k].p_cpu, list(nl[k].p_list))
                         for k in sorted(nl)]]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(2, 14),
       per_node=st.integers(0, 4), groups=st.integers(1, 2),
       dt=st.sampled_from([DiskTemplate.PLAIN, DiskTemplate.DISKLESS,
                           DiskTemplate.FILE, DiskTemplate.SHAREDFILE]),
       limit=st.one_of(st.none(), st.integers(0, 30)),
       force=st.booleans(), offline=st.booleans(), excl=st.booleans())
def test_small_step_loop_matches_model(seed, nodes, per_node, groups, dt, limit,
                                       force, offline, excl):
    """hspace's allocation loop without capacity checks on one-node
    targets (``AllocState.iterate_single``): the same placements, failure
    counts, nodes and instances as the model's loop, or a refusal."""
    rng = Random(seed)
    cdata, nl, il = _load(seed, nodes=nodes, instances=nodes * per_node,
                          groups=groups, offline_frac=0.2 if offline else 0.0,
                          excl_storage_nodes=nodes // 2 if excl else 0)
    grps = sorted(cdata.groups, key=lambda g: g.idx)
    opts = AlgorithmOptions().replace(capacity=False, ignore_soft_errors=force)
    try:
        an = gen_alloc_nodes(opts, grps, nl, 1, True)
    except AllocFailure:
        return
    inst = cap.inst_from_spec(rng.choice([128, 512, 1024, 4096, 16384]),
                              rng.choice([1024, 10240, 102400, 409600]),
                              rng.choice([1, 2, 4, 8]), rng.choice([1, 2]), dt,
                              rng.choice([1, 1, 2]))
    fast = fastalloc.iterate_single(opts, nl, il, limit, inst, an, [])
    event("compiled" if fast is not None else "declined")
    os.environ["HTOOLS_PURE"] = "1"
    try:
        want = cap.iterate_alloc_small_step(opts, nl, il, limit, inst, an, [])
    finally:
        del os.environ["HTOOLS_PURE"]
    if fast is not None:
        event("placed %s" % ("0" if not fast[3] else "1-9" if len(fast[3]) < 10
                             else "10+"))
        assert _loop_summary(cap.AllocResult(*fast)) == _loop_summary(want)
        if limit is not None:
            assert len(fast[3]) <= limit
        # the final state registered for the next step equals a fresh one:
        # same statistics, same answers to the next placements
        if fast[1] is not nl:
            derived = fastalloc.state_for(fast[1])
            keys = sorted(fast[1])
            fresh = fastalloc.AllocState([fast[1][k] for k in keys], keys)
            assert [_bits(v) for v in derived.metrics()] == \
                [_bits(v) for v in fresh.metrics()]
            _, targets = an
            pol = [fastalloc.policy_code(inst, fast[1][k].ipolicy,
                                         bool(fast[1][k].excl_storage))
                   for k in targets]
            got = derived.evaluate(inst, fastalloc.PairPlan(derived, an), pol,
                                   force, True)
            want = fresh.evaluate(inst, fastalloc.PairPlan(fresh, an), pol,
                                  force, True)
            assert repr(got) == repr(want)


def test_small_step_loop_declines_what_it_does_not_cover():
    cdata, nl, il = _load(3, nodes=6, instances=10, groups=1)
    grps = sorted(cdata.groups, key=lambda g: g.idx)
    opts = AlgorithmOptions().replace(capacity=False)
    single = gen_alloc_nodes(opts, grps, nl, 1, True)
    pairs = gen_alloc_nodes(opts, grps, nl, 2, True)
    plain = cap.inst_from_spec(1024, 10240, 1, 1, DiskTemplate.PLAIN, 1)
    drbd = cap.inst_from_spec(1024, 10240, 1, 1, DiskTemplate.DRBD, 1)
    assert fastalloc.iterate_single(opts, nl, il, None, drbd, pairs, []) is None
    assert fastalloc.iterate_single(opts, nl, il, cap._DivideByZero(), plain,
                                    single, []) is None
    tagged = plain.copy()
    tagged.excl_tags = ["a"]
    assert fastalloc.iterate_single(opts, nl, il, None, tagged, single, []) is None
    ok = fastalloc.iterate_single(opts, nl, il, 3, plain, single, [])
    assert ok is not None and len(ok[3]) == 3
    assert [i.name for i in ok[3]] == ["new-2", "new-1", "new-0"]


def _plain_result(res):
    if res is None or not isinstance(res, list):
        return res
    return [r if len(r) == 6 else (r[0], list(r[1]), list(r[2]), list(r[3]), list(r[4]))
            for r in res]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(3, 16),
       per_node=st.integers(0, 4), groups=st.integers(1, 2),
       threads=st.sampled_from([2, 3, 8]), force=st.booleans(),
       loc=st.booleans(), collect=st.booleans(), heads=st.booleans())
def test_pair_evaluation_same_on_any_number_of_threads(seed, nodes, per_node, groups,
                                                       threads, force, loc, collect,
                                                       heads):
    """The two-node evaluation on several threads answers exactly as on
    one: failure counts, every collected candidate in order, the chosen
    pair and its score (ties to the last evaluated)."""
    from htools import _core
    rng = Random(seed)
    cdata, nl, il = _load(seed, nodes=nodes, instances=nodes * per_node,
                          groups=groups, location_tags=loc)
    grps = sorted(cdata.groups, key=lambda g: g.idx)
    opts = AlgorithmOptions().replace(ignore_soft_errors=force)
    try:
        an = gen_alloc_nodes(opts, grps, nl, 2, True)
    except AllocFailure:
        return
    inst = _spec(rng, DiskTemplate.DRBD)
    prep = fastalloc._prepare(opts, nl, inst, an)
    if prep is None:
        return
    state, plan, policy, frc = prep
    old = _core.alloc_threads()
    try:
        _core.set_alloc_threads(1)
        want = _plain_result(state.evaluate(inst, plan, policy, frc, collect, False,
                                            heads))
        _core.set_alloc_threads(threads, 1)
        got = _plain_result(state.evaluate(inst, plan, policy, frc, collect, False,
                                           heads))
    finally:
        _core.set_alloc_threads(old)
    event("allocs %s" % ("0" if not want or (not collect and want[1] == 0) else "some"))
    if not collect and want is not None and want[2] is not None:
        assert _bits(got[2][0]) == _bits(want[2][0])
    assert got == want


def test_pair_evaluation_offline_target_on_threads():
    """An offline secondary in a two-node plan is refused on any number of
    threads, as on one."""
    from htools import _core
    from htools._core import PairPlan
    cdata, nl, il = _load(5, nodes=8, instances=12, groups=1)
    keys = sorted(nl)
    off = keys[-1]
    nl = dict(nl)
    node = nl[off].copy()
    node.offline = True
    nl[off] = node
    state = fastalloc.AllocState([nl[k] for k in keys], keys)
    plan = PairPlan(state, ("pair", [(p, [s for s in keys if s != p])
                                     for p in keys[:-1]]))
    inst = cap.inst_from_spec(128, 1024, 1, 1, DiskTemplate.DRBD, 1)
    old = _core.alloc_threads()
    try:
        for threads in (1, 2, 4):
            _core.set_alloc_threads(threads, 1)
            with pytest.raises(ValueError, match="offline allocation target"):
                state.evaluate(inst, plan, [-1] * len(plan), False, False)
    finally:
        _core.set_alloc_threads(old)


def test_nan_scores_fall_back():
    """A zero-memory node makes p_mem NaN-free but inf; the compiled path
    still agrees (or declines, never differs)."""
    cdata, nl, il = _load(3, nodes=5, instances=6, groups=1)
    k = sorted(nl)[0]
    n = nl[k].copy()
    n.t_mem = 0.0
    n.p_mem = math.inf
    nl = dict(nl)
    nl[k] = n
    groups = sorted(cdata.groups, key=lambda g: g.idx)
    opts = AlgorithmOptions().replace(capacity=False)
    an = gen_alloc_nodes(opts, groups, nl, 2, True)
    inst = cap.inst_from_spec(128, 1024, 1, 1, DiskTemplate.DRBD, 1)
    want = _summary(_model(opts, nl, il, inst, an))
    got = fastalloc.try_alloc(opts, nl, il, inst, an, None)
    if got is not None:
        assert _summary(got) == want


def test_ineligible_instances_decline():
    cdata, nl, il = _load(1, nodes=5, instances=6, groups=1)
    groups = sorted(cdata.groups, key=lambda g: g.idx)
    opts = AlgorithmOptions().replace(capacity=False)
    an = gen_alloc_nodes(opts, groups, nl, 2, True)
    inst = cap.inst_from_spec(128, 1024, 1, 1, DiskTemplate.DRBD, 1)
    inst.excl_tags = ["service:web"]
    assert fastalloc.try_alloc(opts, nl, il, inst, an, None) is None
    inst2 = cap.inst_from_spec(128, 1024, 1, 1, DiskTemplate.DRBD, 1)
    inst2.forthcoming = True
    assert fastalloc.try_alloc(opts, nl, il, inst2, an, None) is None


@pytest.mark.parametrize("seed", range(8))
def test_redundant_compiled_matches_specification(seed):
    """The global N+1 check of hspace's capacity checks (alloc.n1, the
    re-creations evaluated by the compiled allocation) answers as the
    specification (alloc.globaln1), node by node, on plain-heavy clusters
    with and without offline nodes and with tagged instances."""
    from htools.alloc import globaln1, n1
    from htools.cli.options import parse_cmdline
    from htools import extloader
    from simulate.generator import generate
    import tempfile
    params = dict(nodes=5 + seed, instances=25 + 8 * seed, seed=seed,
                  templates={"plain": 4, "drbd": 2, "sharedfile": 1, "diskless": 1},
                  offline_frac=0.2 if seed % 2 else 0.0, location_tags=seed % 3 == 0,
                  skew=0.8, overcommit=seed % 2 == 0)
    with tempfile.NamedTemporaryFile("w", suffix=".data") as fh:
        fh.write(generate(**params))
        fh.flush()
        opts, _ = parse_cmdline("hspace", ["-t", fh.name])
        cdata = extloader.load_external_data(opts)
    nl = {n.idx: n for n in cdata.nodes}
    il = {i.idx: i for i in cdata.instances}
    for k in sorted(nl):
        try:
            want = globaln1.can_evacuate_node(nl, il, nl[k])
        except globaln1.MissingKey:
            with pytest.raises(globaln1.MissingKey):
                n1.can_evacuate_node(nl, il, nl[k])
            continue
        assert n1.can_evacuate_node(nl, il, nl[k]) == want, k
    for acc in (False, True):
        try:
            want = globaln1.redundant(nl, il, acc)
        except globaln1.MissingKey:
            continue
        assert n1.redundant(nl, il, acc) == want


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(3, 9),
       per_node=st.integers(2, 9), excl=st.integers(0, 3),
       mig=st.booleans(), forth=st.sampled_from([0.0, 0.2]),
       offline=st.sampled_from([0.0, 0.25]), overcommit=st.booleans())
def test_failover_step_matches_full_path(seed, nodes, per_node, excl, mig, forth,
                                         offline, overcommit):
    """Step 1 of the global N+1 evacuation (forced failover of every DRBD
    primary) computed on the few numbers it can fail on gives, node by
    node, the answer and the dependency set of the full path through
    ``moves.apply_move``."""
    from simulate.generator import generate
    text = generate(nodes=nodes + excl, instances=nodes * per_node, seed=seed,
                    templates={"drbd": 6, "plain": 1}, excl_storage_nodes=excl,
                    migration_tags=mig, forthcoming_frac=forth, offline_frac=offline,
                    overcommit=overcommit, skew=0.9)
    nl, il = _load_text(text)
    for full in _lean_matches_full(nl, il, sorted(nl)):
        event("evacuable" if full is True or (isinstance(full, tuple) and full[0])
              else "failed: " + ("deps" if isinstance(full, tuple) and full[1] else "other"))


def _evacuations(nl, il):
    """``evacuate_detail`` of every node of ``nl`` (or the exception's type)."""
    out = {}
    for k in sorted(nl):
        try:
            out[k] = n1.evacuate_detail(nl, il, nl[k])
        except Exception as err:   # noqa: BLE001 - compared by the callers
            out[k] = type(err)
    return out


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(3, 10),
       per_node=st.integers(1, 8), groups=st.integers(1, 3),
       mig=st.booleans(), excl_tags=st.sampled_from([False, False, True]),
       loc=st.booleans(), forth=st.sampled_from([0.0, 0.0, 0.2]),
       offline=st.sampled_from([0.0, 0.0, 0.25]),
       overcommit=st.booleans(), ipol=st.sampled_from(["full", "trim"]),
       mix=st.sampled_from(["shared", "plain", "mixed"]))
def test_compiled_evacuation_matches_specification(seed, nodes, per_node, groups,
                                                   mig, excl_tags, loc, forth,
                                                   offline, overcommit, ipol, mix):
    """Steps 2 and 3 of the global N+1 evacuation in the compiled core
    (``AllocState.evacuate``: failover-to-any of the movable primaries,
    re-creation of the others) answer node by node as the specification
    (alloc.globaln1), and ``evacuate_detail`` gives the same answer and
    dependency set as its model path (compiled evacuation switched off)."""
    from htools.alloc import globaln1, n1
    from simulate.generator import generate
    templates = {"shared": {"sharedfile": 3, "diskless": 2, "drbd": 1},
                 "plain": {"plain": 4, "file": 1, "drbd": 1},
                 "mixed": {"plain": 2, "sharedfile": 2, "diskless": 1, "drbd": 2}}[mix]
    text = generate(nodes=nodes, instances=nodes * per_node, groups=groups,
                    seed=seed, templates=templates, migration_tags=mig,
                    exclusion_tags=excl_tags, location_tags=loc,
                    forthcoming_frac=forth, offline_frac=offline,
                    overcommit=overcommit, ipolicy=ipol, skew=0.9)
    nl, il = _load_text(text)
    fast = _evacuations(nl, il)
    compiled_fn = n1._evacuate_compiled
    try:
        n1._evacuate_compiled = lambda *a: None
        slow = _evacuations(nl, il)
    finally:
        n1._evacuate_compiled = compiled_fn
    assert fast == slow
    for k in sorted(nl):
        try:
            want = globaln1.can_evacuate_node(nl, il, nl[k])
        except globaln1.MissingKey:
            assert fast[k] is globaln1.MissingKey
            continue
        assert fast[k][0] == want, k
        event("evacuable" if want else "not evacuable")


def _load_text(text: str):
    """The (nodes, instances) maps of a text-format cluster."""
    from htools import extloader
    from htools.cli.options import parse_cmdline
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".data") as fh:
        fh.write(text)
        fh.flush()
        opts, _ = parse_cmdline("hspace", ["-t", fh.name])
        cdata = extloader.load_external_data(opts)
    return ({n.idx: n for n in cdata.nodes}, {i.idx: i for i in cdata.instances})


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(3, 9),
       per_node=st.integers(2, 9), excl=st.integers(0, 2),
       mig=st.booleans(), offline=st.sampled_from([0.0, 0.25]),
       overcommit=st.booleans(), picks=st.lists(st.integers(0, 10_000),
                                                 min_size=3, max_size=3))
def test_failover_step_of_a_placed_copy(seed, nodes, per_node, excl, mig, offline,
                                        overcommit, picks):
    """A change-group candidate places a copy of an existing DRBD instance
    (same index) on a new primary and secondary while the instance map
    still names the old nodes: the failover step computed on the few
    numbers gives, node by node, the answer and dependency set of the full
    path (which fails the instance over between its old nodes)."""
    from simulate.generator import generate
    text = generate(nodes=nodes + excl, instances=nodes * per_node, seed=seed,
                    templates={"drbd": 6, "plain": 1}, excl_storage_nodes=excl,
                    migration_tags=mig, offline_frac=offline,
                    overcommit=overcommit, skew=0.9)
    nl, il = _load_text(text)
    drbd = [i for i in sorted(il) if il[i].disk_template == DiskTemplate.DRBD
            and il[i].snode in nl and il[i].pnode != il[i].snode]
    keys = sorted(nl)
    if not drbd or len(keys) < 2:
        return
    inst = il[drbd[picks[0] % len(drbd)]]
    p = keys[picks[1] % len(keys)]
    s = [k for k in keys if k != p][picks[2] % (len(keys) - 1)]
    ni = inst.copy()
    ni.pnode, ni.snode = p, s
    new_p = nl[p].add_pri(ni, force=True)
    new_s = nl[s].add_sec(ni, p, force=True)
    if isinstance(new_p, FailMode) or isinstance(new_s, FailMode):
        return
    nl = dict(nl)
    nl[p], nl[s] = new_p, new_s
    _lean_matches_full(nl, il, keys)


def _detail(nl, il, k):
    try:
        return n1.evacuate_detail(nl, il, nl[k])
    except Exception as err:   # noqa: BLE001 - compared by type
        return type(err)


def _lean_matches_full(nl, il, keys):
    """``evacuate_detail`` of every node of ``keys`` with the lean DRBD
    failover step equals the full path's (the lean step disabled); the
    full answers, in order."""
    lean = {k: _detail(nl, il, k) for k in keys}
    full_fn = n1._failover_failure
    out = []
    try:
        n1._failover_failure = lambda *a: n1.UNDECIDED
        for k in keys:
            full = _detail(nl, il, k)
            assert lean[k] == full, k
            out.append(full)
    finally:
        n1._failover_failure = full_fn
    return out


def _evac_outcome(doc, fast: bool):
    """``process_request`` of a request document, with the compiled
    change-all evacuation and the group-only search on or off."""
    import json
    from backends.iallocator import parse_request
    from htools.alloc import evacuate, requests
    from htools.params import AlgorithmOptions
    rq = parse_request(json.dumps(doc))
    compiled_fn = evacuate._evac_drbd_compiled
    find_fn = evacuate.find_best_alloc_group
    try:
        if not fast:
            evacuate._evac_drbd_compiled = lambda *a: None
            evacuate.find_best_alloc_group = \
                lambda *a, group_only=False: find_fn(*a)
        try:
            out = requests.process_request(AlgorithmOptions(), rq.rqtype, rq.cdata)
        except Exception as err:   # noqa: BLE001 - compared by the caller
            return type(err)
    finally:
        evacuate._evac_drbd_compiled = compiled_fn
        evacuate.find_best_alloc_group = find_fn
    return (out.success, out.info, json.dumps(out.result, sort_keys=True))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 100_000), nodes=st.integers(4, 24),
       groups=st.integers(2, 3), per_node=st.sampled_from([1, 2, 4]),
       load=st.sampled_from([0.3, 0.7, 1.0]), tags=st.booleans(),
       offline=st.sampled_from([0.0, 0.0, 0.2]),
       rtype=st.sampled_from(["change-group", "change-group", "node-evacuate"]),
       mix=st.sampled_from(["drbd", "drbd", "mixed"]),
       policy=st.booleans(), excl=st.booleans(),
       node_class=st.sampled_from([None, None, 1, 3]))
def test_change_group_fast_paths_match_model(seed, nodes, groups, per_node, load,
                                             tags, offline, rtype, mix, policy,
                                             excl, node_class):
    """Change-group and node-evacuate answers with the compiled change-all
    evacuation (``AllocState.evac_pair_best``) and the best-only group
    search equal those of the model's loops (chosen nodes, failures and
    their messages, jobs)."""
    from simulate.requests import make_request
    templates = {"drbd": 1} if mix == "drbd" else {"drbd": 4, "plain": 1,
                                                   "sharedfile": 1}
    doc = make_request(seed, rtype, nodes=nodes, groups=groups,
                       inst_per_node=per_node, load=load, tags=tags,
                       offline_frac=offline, templates=templates,
                       excl_storage=excl, networks=False,
                       policy_variety=policy, node_class=node_class)
    fast = _evac_outcome(doc, True)
    slow = _evac_outcome(doc, False)
    assert fast == slow
    event("success" if isinstance(fast, tuple) and fast[0] else "failure")


@settings(max_examples=300, deadline=None)
@given(data=st.data(), nprim=st.integers(1, 6))
def test_best_only_pair_filter_matches_full(data, nprim):
    """The best-only capacity-checked pair selection (primaries checked in
    the order of their lowest score, those above the best found skipped)
    picks the placement of the full ``sumAllocs`` fold, ties included."""
    from htools.alloc import compiled
    from htools.alloc.solution import NUM_FAIL_MODES

    class El:
        def __init__(self, score, p, s):
            self.score, self.p, self.s = score, p, s

    per_primary = []
    for p in range(nprim):
        n = data.draw(st.integers(0, 4))
        scores = [float(data.draw(st.integers(0, 3))) for _ in range(n)]
        secs = [100 + data.draw(st.integers(0, 5)) for _ in range(n)]
        per_primary.append((p, [0] * NUM_FAIL_MODES, scores, secs, [0] * n))
    bad = data.draw(st.sets(st.tuples(st.integers(0, nprim), st.integers(100, 105))))

    def pred(el):
        return (el.p, el.s) not in bad

    element_fn = compiled._element
    try:
        compiled._element = lambda nl, inst, force, kind, c: El(c[0], c[1], c[2])
        full = compiled._filtered({}, None, True, "pair", per_primary, pred)
        lean = compiled._filtered({}, None, True, "pair", per_primary, pred, True)
    finally:
        compiled._element = element_fn
    pick = (lambda sol: None if sol.solution is None
            else (sol.solution.score, sol.solution.p, sol.solution.s))
    assert pick(lean) == pick(full)


def _checker_view(c):
    """A checker's classification and answers, normalised for comparison."""
    return (c.order, c.kind, {d: v for d, v in c.rdeps.items() if v},
            {g: sorted(v) for g, v in c.group_dep.items() if v},
            sorted(c.all_dep), c.crash_possible,
            {k: c.base(k) if not isinstance(c.base(k), Exception)
             else type(c.base(k)) for k in c.order},
            dict(c._sticky), c._ensure_base_false())


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 100_000), nodes=st.integers(8, 20),
       groups=st.sampled_from([2, 2, 3]), per_node=st.sampled_from([2, 4]),
       load=st.sampled_from([0.2, 0.3, 0.5]), tags=st.booleans(),
       offline=st.sampled_from([0.0, 0.0, 0.1]),
       rtype=st.sampled_from(["change-group", "change-group", "node-evacuate"]),
       mix=st.sampled_from(["drbd", "mixed"]), same=st.sampled_from([0.0, 0.1]))
def test_derived_n1_checker_matches_fresh(seed, nodes, groups, per_node, load, tags,
                                          offline, rtype, mix, same):
    """The global N+1 checker derived from the previous state's (the state
    after one more move) classifies and answers as one built afresh, and
    the requests' answers are those without derivation."""
    from htools.alloc import n1
    from simulate.requests import make_request
    templates = {"drbd": 1} if mix == "drbd" else {"drbd": 4, "plain": 1,
                                                   "sharedfile": 1, "diskless": 1}
    doc = make_request(seed, rtype, nodes=nodes, groups=groups,
                       inst_per_node=per_node, load=load, tags=tags,
                       offline_frac=offline, templates=templates,
                       excl_storage=False, networks=False, policy_variety=False,
                       samenode_frac=same)
    derive_fn = n1._derived_checker
    seen = []

    def checked(nl, il, opts_key):
        got = derive_fn(nl, il, opts_key)
        if got is not None:
            fresh = n1.N1Checker(nl, il, *opts_key)
            assert _checker_view(got) == _checker_view(fresh)
            seen.append(1)
        return got
    n1._LAST.clear()
    n1._CHECKERS.clear()
    try:
        n1._derived_checker = checked
        with_derive = _evac_outcome(doc, True)
        n1._derived_checker = lambda *a: None
        n1._CHECKERS.clear()
        without = _evac_outcome(doc, True)
    finally:
        n1._derived_checker = derive_fn
    assert with_derive == without
    event("derived" if seen else "none derived")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(4, 12),
       per_node=st.integers(2, 8), groups=st.integers(1, 3),
       mix=st.sampled_from(["drbd", "mixed"]), overcommit=st.booleans(),
       offline=st.sampled_from([0.0, 0.2]), accept=st.booleans(),
       moves=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3),
                                st.integers(0, 10_000)), min_size=1, max_size=8))
def test_derived_n1_checker_after_moves(seed, nodes, per_node, groups, mix,
                                        overcommit, offline, accept, moves):
    """After each of a sequence of instance moves the checker derived from
    the previous state's classifies and answers as one built afresh
    (clusters loaded enough for nodes to turn unevacuable and back)."""
    from htools import moves as mv
    from htools.alloc import n1
    from simulate.generator import generate
    templates = {"drbd": 1} if mix == "drbd" else {"drbd": 4, "plain": 2,
                                                   "sharedfile": 1, "diskless": 1}
    text = generate(nodes=nodes, instances=nodes * per_node, groups=groups,
                    seed=seed, templates=templates, overcommit=overcommit,
                    offline_frac=offline, skew=0.9)
    nl, il = _load_text(text)
    keys = sorted(nl)
    idxs = sorted(il)
    if not idxs:
        return
    checker = n1.N1Checker(nl, il, accept)
    checker._ensure_base_false()
    kinds = [mv.FAILOVER, mv.REPLACE_SECONDARY, mv.FAILOVER_TO_ANY,
             mv.REPLACE_PRIMARY]
    derived = 0
    for pick, kind, tgt in moves:
        inst = il[idxs[pick % len(idxs)]]
        try:
            res = mv.apply_move(True, nl, inst, mv.IMove(kinds[kind],
                                                         keys[tgt % len(keys)]))
        except Exception:   # noqa: BLE001 - a move the instance cannot make
            continue
        if isinstance(res, FailMode):
            continue
        nl = dict(nl)
        nl.update(res[0])
        il = dict(il)
        il[inst.idx] = res[1]
        before = _checker_view(checker)
        got = checker.derive(nl, il, list(res[0]), [inst.idx])
        assert _checker_view(checker) == before     # the old one unchanged
        fresh = n1.N1Checker(nl, il, accept)
        if got is None:
            checker = fresh
            checker._ensure_base_false()
            continue
        assert _checker_view(got) == _checker_view(fresh)
        if got._ensure_base_false():
            event("unevacuable nodes")
        derived += 1
        checker = got
    event("derived %d" % min(derived, 3))


LOADED = [
    dict(nodes=6, instances=20, groups=1, templates={"drbd": 1}, skew=0.9),
    dict(nodes=8, instances=24, groups=1, templates={"drbd": 3, "plain": 1},
         overcommit=True),
    dict(nodes=12, instances=40, groups=2, templates={"drbd": 1}, skew=0.9),
    dict(nodes=10, instances=30, groups=1, location_tags=True),
]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("params", CLUSTERS[:4] + LOADED,
                         ids=lambda p: "%(nodes)dx%(instances)d" % p)
def test_best_only_try_alloc_picks_the_same(seed, params):
    """``try_alloc(best_only=True)`` (each primary's first candidate from
    the compiled evaluation, primaries above the best found skipped, a
    primary whose first candidate fails the capacity check evaluated again
    alone) places a DRBD instance as the full search does, capacity
    checks on, loaded clusters included."""
    rng = Random(seed * 104729 + params["nodes"])
    cdata, nl, il = _load(seed, **params)
    groups = sorted(cdata.groups, key=lambda g: g.idx)
    base = AlgorithmOptions()
    compared = 0
    for _ in range(10):
        inst = _spec(rng, DiskTemplate.DRBD)
        try:
            an = gen_alloc_nodes(base, groups, nl, 2, True)
        except AllocFailure:
            continue
        opts = base.replace(ignore_soft_errors=rng.random() < 0.3)
        odd = rng.choice([2, 3])
        # the global N+1 check, and a check refusing many first candidates
        for pred in (n1_predicate(opts, nl, il),
                     lambda el, odd=odd: (el.inst.snode + el.inst.pnode) % odd != 0):
            try:
                full = fastalloc.try_alloc(opts, nl, il, inst, an, pred)
            except AllocFailure:
                continue
            lean = fastalloc.try_alloc(opts, nl, il, inst, an, pred, True)
            assert (full is None) == (lean is None)
            if full is None:
                continue
            pick = (lambda el: None if el is None else
                    (el.inst.pnode, el.inst.snode, _bits(el.score)))
            assert pick(lean.solution) == pick(full.solution)
            compared += 1
    assert compared > 0


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), nodes=st.integers(4, 30),
       per_node=st.sampled_from([1, 2, 4]), load=st.sampled_from([0.1, 0.3, 0.8]),
       node_class=st.sampled_from([None, 1, 3]), tags=st.booleans())
def test_evac_pair_best_matches_model_loop(seed, nodes, per_node, load, node_class,
                                           tags):
    """``nodeEvacInstance ChangeAll`` of every DRBD instance of one group
    into the other (alike nodes: many equal and nearly equal scores) picks
    the same nodes and jobs with the compiled pair scoring as with the
    model's loop."""
    import json
    from backends.iallocator import parse_request
    from htools.alloc import evacuate
    from htools.alloc.solution import AllocFailure as Failure
    from htools.params import DEFAULT_OPTIONS
    from simulate.requests import make_request
    doc = make_request(seed, "change-group", nodes=nodes, groups=2,
                       inst_per_node=per_node, load=load, tags=tags,
                       offline_frac=0.0, templates={"drbd": 1},
                       excl_storage=False, networks=False, policy_variety=False,
                       node_class=node_class)
    rq = parse_request(json.dumps(doc))
    nl = {n.idx: n for n in rq.cdata.nodes}
    il = {i.idx: i for i in rq.cdata.instances}
    gdxs = sorted({n.group for n in nl.values()})
    if len(gdxs) < 2:
        return
    compiled_fn = evacuate._evac_drbd_compiled

    def run(inst, gdx, avail):
        try:
            nl2, il2, ops = evacuate._evac_drbd_all(DEFAULT_OPTIONS, nl, il, inst,
                                                    gdx, avail)
        except Failure as err:
            return err.msg
        return il2[inst.idx].pnode, il2[inst.idx].snode, json.dumps(ops)
    for inst in [il[i] for i in sorted(il)][:12]:
        gdx = [g for g in gdxs if g != nl[inst.pnode].group][0]
        avail = [k for k in sorted(nl) if nl[k].group == gdx and not nl[k].offline]
        fast = run(inst, gdx, avail)
        try:
            evacuate._evac_drbd_compiled = lambda *a: None
            slow = run(inst, gdx, avail)
        finally:
            evacuate._evac_drbd_compiled = compiled_fn
        assert fast == slow


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(3, 9),
       per_node=st.integers(1, 6), groups=st.integers(1, 2),
       change=st.sampled_from(["place", "policy", "group", "excl"]),
       mix=st.sampled_from(["plain", "mixed"]))
def test_evacuation_on_successive_maps_matches_model(seed, nodes, per_node, groups,
                                                     change, mix):
    """The compiled evacuation keeps what it reads of a node map (keys,
    per group its keys, policies and escape keys) and carries it over to
    the next map with the same keys; a map whose nodes changed their
    group, policy or exclusive-storage flag is read afresh.  On a sequence
    of maps each answer is the model path's."""
    from htools import record
    from htools.types import ALL_DISK_TEMPLATES
    templates = {"plain": {"plain": 4, "file": 1},
                 "mixed": {"plain": 2, "sharedfile": 2, "diskless": 1, "drbd": 2}}[mix]
    text = generate(nodes=nodes, instances=nodes * per_node, groups=groups,
                    seed=seed, templates=templates, skew=0.9)
    nl, il = _load_text(text)
    rng = Random(seed)
    maps = [nl]
    for _ in range(3):
        cur = dict(maps[-1])
        k = rng.choice(sorted(cur))
        node = cur[k].copy()
        if change == "policy":
            node.ipolicy = record.replace(
                node.ipolicy, disk_templates=tuple(
                    d for d in ALL_DISK_TEMPLATES if d != DiskTemplate.PLAIN))
        elif change == "group":
            node.group = rng.choice(sorted({n.group for n in cur.values()}))
        elif change == "excl":
            node.excl_storage = not node.excl_storage
        cur[k] = node
        maps.append(cur)
    fast = [_evacuations(m, il) for m in maps]
    compiled_fn = n1._evacuate_compiled
    try:
        n1._evacuate_compiled = lambda *a: None
        slow = [_evacuations(m, il) for m in maps]
    finally:
        n1._evacuate_compiled = compiled_fn
    assert fast == slow


def test_failed_big_step_reused_for_the_step_of_ten():
    """A big step that stopped on a failure after at most ten placements
    is the result the loop of ten would give: the step of ten is not run
    again (and when it stopped on its limit, or placed more, it is)."""
    assert cap._same_small_step(50, 3, None)
    assert cap._same_small_step(50, 10, None)
    assert not cap._same_small_step(50, 11, None)
    assert not cap._same_small_step(3, 3, None)       # stopped on its limit
    assert cap._same_small_step(20, 4, 4)
    assert not cap._same_small_step(20, 5, 4)
    assert not cap._same_small_step(cap._DivideByZero(), 0, None)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(2, 7),
       per_node=st.integers(0, 4),
       dt=st.sampled_from([DiskTemplate.PLAIN, DiskTemplate.DISKLESS,
                           DiskTemplate.FILE, DiskTemplate.SHAREDFILE]),
       limit=st.one_of(st.none(), st.integers(1, 30)),
       mix=st.sampled_from(["plain", "mixed"]))
def test_capacity_checked_tiered_allocation_matches_specification(
        seed, nodes, per_node, dt, limit, mix):
    """hspace's tiered allocation with capacity checks gives the
    specification's placements and failure counts, including where a step
    without checks placed one instance on the only node it fits and its
    state failed the redundancy check (the checked step is then known to
    place nothing), and where the step of ten would repeat the big step."""
    rng = Random(seed)
    templates = {"plain": {"plain": 3, "file": 1},
                 "mixed": {"plain": 2, "sharedfile": 1, "diskless": 1, "drbd": 2}}[mix]
    cdata, nl, il = _load(seed, nodes=nodes, instances=nodes * per_node,
                          templates=templates)
    grps = sorted(cdata.groups, key=lambda g: g.idx)
    opts = AlgorithmOptions()
    try:
        an = gen_alloc_nodes(opts, grps, nl, 1, True)
    except AllocFailure:
        return
    inst = cap.inst_from_spec(rng.choice([4096, 16384, 65536]),
                              rng.choice([102400, 409600, 1048576]),
                              rng.choice([2, 4, 8]), 1, dt, 1)
    lone = cap._lone_candidate_fails
    fired = []

    def spy(*args):
        res = lone(*args)
        fired.append(res is not None)
        return res
    cap._lone_candidate_fails = spy
    try:
        got = cap.run_deep(lambda: cap.tiered_alloc(opts, nl, il, limit, inst, an, []))
    finally:
        cap._lone_candidate_fails = lone
    os.environ["HTOOLS_PURE"] = "1"
    try:
        want = cap.run_deep(lambda: cap.tiered_alloc(opts, nl, il, limit, inst, an, []))
    finally:
        del os.environ["HTOOLS_PURE"]
    event("lone candidate known" if any(fired) else "not used")
    assert _loop_summary(got) == _loop_summary(want)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(3, 9),
       per_node=st.integers(1, 6),
       mix=st.sampled_from(["plain", "shared", "mixed"]))
def test_evacuation_in_place_leaves_the_state_as_it_was(seed, nodes, per_node, mix):
    """The compiled evacuation works on the state itself and puts it back:
    after evacuating each node in turn, the state's statistics and its
    answers to an allocation are those of a fresh state of the same
    nodes, and each evacuation answers as on a fresh state."""
    from htools.alloc import globaln1
    templates = {"plain": {"plain": 4, "file": 1},
                 "shared": {"sharedfile": 3, "diskless": 2},
                 "mixed": {"plain": 2, "sharedfile": 2, "diskless": 1}}[mix]
    text = generate(nodes=nodes, instances=nodes * per_node, seed=seed,
                    templates=templates, skew=0.9)
    nl, il = _load_text(text)
    keys = sorted(nl)

    def fresh():
        return fastalloc.AllocState([nl[k] for k in keys], keys)
    used = fresh()
    before = [_bits(v) for v in used.metrics()]
    for k in keys:
        insts = [il[i] for i in nl[k].p_list]
        if not all(fastalloc.eligible(i) for i in insts):
            continue
        shared = [i for i in insts if i.disk_template in globaln1.DISK_TEMPLATE_MOVABLE]
        todo = sorted((i for i in insts if i.disk_template not in
                       globaln1.DISK_TEMPLATE_MOVABLE), key=lambda i: -i.mem)
        escape = [e for e in keys if e != k]
        pols = [[fastalloc.policy_code(i, nl[e].ipolicy, bool(nl[e].excl_storage))
                 for e in escape] for i in todo]
        got = used.evacuate(shared, escape, todo, escape, pols)
        assert got == fresh().evacuate(shared, escape, todo, escape, pols)
        event("evacuated" if got == 0 else "failed" if got is not None else "declined")
        assert [_bits(v) for v in used.metrics()] == before
        # the statistics recomputed from the nodes' rows
        assert [_bits(v) for v in used.derive(()).metrics()] == before
    assert [_bits(v) for v in fresh().metrics()] == before
    inst = cap.inst_from_spec(1024, 10240, 1, 1, DiskTemplate.PLAIN, 1)
    other = fresh()
    pol = [-1] * len(keys)
    got = used.evaluate(inst, fastalloc.PairPlan(used, ("single", keys)), pol,
                        True, True, True)
    want = other.evaluate(inst, fastalloc.PairPlan(other, ("single", keys)), pol,
                          True, True, True)
    assert repr(got) == repr(want)
