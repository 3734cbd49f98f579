"""The compiled balancing step (htools._balance) against the Python one.

* every candidate move of generated clusters (all six kinds, every target,
  soft errors enforced or ignored): ``BalanceState.evaluate`` is None
  exactly when ``moves.apply_move`` fails, else bit-identical to
  ``metrics.comp_cv`` of the moved cluster; ``interval`` contains it; the
  shared-part evaluation used by the search equals the full simulation;
* whole balancing runs (``balance.compiled.try_balance`` vs
  ``balance.search.try_balance``) on generated clusters of 5-40 nodes, plain and
  with all features (offline nodes, forthcoming instances, location,
  desired-location, migration and exclusion tags, cpu speeds, ipolicies,
  exclusive storage, dynamic utilisation), under hbal's option sets
  (default, --no-disk-moves, --no-instance-moves, -E,
  --restricted-migration, --ignore-soft-errors): the same sequence of
  (instance, move kind, target, score to 8 decimals and bit for bit), with
  the compiled state checked against the model after every step;
* the fallbacks of :mod:`htools.balance.compiled`.
"""
from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import htools._balance  # noqa: E402,F401 - the compiled core is required

from htools import balance  # noqa: E402
from htools.balance import compiled as fastbalance  # noqa: E402
from htools.balance import search  # noqa: E402
from htools import moves as mv  # noqa: E402
from htools import metrics  # noqa: E402
from htools._balance import BalanceState  # noqa: E402
from htools.types import FailMode  # noqa: E402
from simulate.generator import generate  # noqa: E402
from tests.harness.balancing import hbal_table  # noqa: E402


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


# ---------------------------------------------------------------------------
# cluster construction: the hbal pipeline up to the balancing table

FEATURES = dict(location_tags=True, migration_tags=True, desired_location=True,
                ipolicy=True, cpu_speed=True)

CLUSTERS = {
    # name: (generator parameters, extra hbal arguments, utilisation file?)
    "plain5": (dict(nodes=5, instances=20, seed=11), [], False),
    "plain8": (dict(nodes=8, instances=40, seed=12, skew=0.9), [], False),
    "feat8": (dict(nodes=8, instances=40, seed=13, offline_frac=0.15,
                   forthcoming_frac=0.1, overcommit=True, **FEATURES), [], False),
    "feat10u": (dict(nodes=10, instances=60, seed=14, offline_frac=0.1,
                     **FEATURES), [], True),
    "excl": (dict(nodes=12, instances=50, seed=15, excl_storage_nodes=6,
                  **FEATURES), ["-G", "group-excl"], False),
    "feat16": (dict(nodes=16, instances=120, seed=16, offline_frac=0.1,
                    forthcoming_frac=0.05, unaccounted_mem=0.3, **FEATURES),
               [], False),
    "plain25": (dict(nodes=25, instances=200, seed=17), [], False),
    "feat40": (dict(nodes=40, instances=300, seed=18, offline_frac=0.05,
                    **FEATURES), [], False),
}


def _write_cluster(tmp_path, name):
    params, extra, util = CLUSTERS[name]
    path = tmp_path / (name + ".data")
    text = generate(**params)
    path.write_text(text)
    args = ["-t", str(path)] + extra
    if util:
        rng = random.Random(params["seed"])
        inames = [line.split("|")[0] for line in text.split("\n\n")[2].splitlines()]
        upath = tmp_path / (name + ".util")
        upath.write_text("".join(
            "%s %.6f %.3f %.9f %.2f\n" % (n, rng.random() * 3, rng.random(),
                                         rng.random() * 7, rng.random() * 0.3)
            for n in inames))
        args += ["-U", str(upath)]
    return args


def _table(args, options=()):
    return hbal_table(list(args) + list(options))


# ---------------------------------------------------------------------------
# every candidate

def _kinds(inst, tbl):
    if inst.has_secondary and inst.snode in tbl.nodes:
        return [mv.FAILOVER_TO_ANY, mv.REPLACE_PRIMARY, mv.REPLACE_SECONDARY,
                mv.REPLACE_AND_FAILOVER, mv.FAILOVER_AND_REPLACE]
    return [mv.FAILOVER_TO_ANY]


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("name", ["plain8", "feat8", "feat10u", "excl"])
def test_every_candidate_exact(cluster_dir, name, force):
    args = _write_cluster(cluster_dir, name)
    _, algo, tbl, _ = _table(args, ["--ignore-soft-errors"] if force else [])
    assert algo.ignore_soft_errors == force
    st = BalanceState(tbl.nodes, tbl.insts, algo)
    nodes = tbl.nodes
    order = sorted(nodes)
    assert bits(st.score()) == bits(tbl.score)
    for i in order:
        want = [f(nodes[i]) for f in metrics.NODE_VALUES]
        want[18] = 0.0
        assert [bits(x) for x in st.node_values(i)] == [bits(x) for x in want]
    checked = feasible = 0
    for iidx in sorted(tbl.insts):
        inst = tbl.insts[iidx]
        if not (inst.movable and inst.auto_balance):
            continue
        cands = []
        if inst.has_secondary and inst.snode in nodes:
            cands.append(mv.IMove(mv.FAILOVER))
        for t in order:
            if t in (inst.pnode, inst.snode):
                continue
            cands += [mv.IMove(k, t) for k in _kinds(inst, tbl)]
        for move in cands:
            res = mv.apply_move(force, nodes, inst, move)
            got = st.evaluate(iidx, move.kind, move.target)
            checked += 1
            if isinstance(res, FailMode):
                assert got is None, (inst.name, move, res)
                continue
            feasible += 1
            changed, _, _, _ = res
            exact = metrics.comp_cv([changed.get(i) or nodes[i] for i in order])
            assert got is not None, (inst.name, move)
            assert bits(got) == bits(exact), (inst.name, move, got, exact)
            lo, hi = st.interval(iidx, move.kind, move.target)
            assert lo <= exact <= hi, (inst.name, move, lo, exact, hi)
            if move.kind != mv.FAILOVER:
                shared, full = st._debug_candidate(iidx, move.kind, move.target)
                assert shared == full, (inst.name, move)
    assert feasible > 20 and checked > feasible


# ---------------------------------------------------------------------------
# whole balancing runs

OPTIONS = {
    "default": [],
    "no-disk-moves": ["--no-disk-moves"],
    "no-instance-moves": ["--no-instance-moves"],
    "evac": ["-E"],
    "restricted": ["--restricted-migration"],
    "ignore-soft": ["--ignore-soft-errors"],
}

# (cluster, option set names, max steps (-1: until hbal stops))
RUNS = [
    ("plain5", list(OPTIONS), -1),
    ("plain8", list(OPTIONS), -1),
    ("feat8", list(OPTIONS), -1),
    ("feat10u", list(OPTIONS), 12),
    ("excl", ["default", "ignore-soft", "evac"], 12),
    ("feat16", ["default", "evac", "restricted", "no-instance-moves"], 4),
    ("plain25", ["default", "no-disk-moves"], 2),
    ("feat40", ["default", "evac"], 1),
]


def _loop(algo, tbl, min_score, max_steps, fast, debug=True):
    sc = fastbalance.make_scorer(algo, tbl) if fast else search.Scorer(tbl.nodes)
    if fast:
        assert isinstance(sc, fastbalance.FastBalancer)
        sc.state.debug = debug
    out = []
    while balance.do_next_balance(tbl, max_steps, min_score):
        if fast:
            new = fastbalance.try_balance(algo, tbl, sc)
        else:
            new = search.try_balance(algo, tbl, sc)
        if new is None:
            break
        plc = new.plc[-1]
        inst = new.insts[plc.idx]
        if fast:
            fastbalance._check(sc.state, new.nodes, inst, plc.score)
        out.append((plc.idx, plc.move.kind, plc.move.target, plc.pnode, plc.snode,
                    "%.8f" % plc.score, plc.score.hex()))
        tbl = new
    if fast:
        assert sc.state.debug_errors == 0
        _loop.counters = sc.counters()
        _loop.victims = sc.state.n_candidates
    return out, tbl


@pytest.mark.parametrize("name,optsets,max_steps", RUNS,
                         ids=[r[0] for r in RUNS])
def test_same_moves_as_python(cluster_dir, name, optsets, max_steps):
    args = _write_cluster(cluster_dir, name)
    nonempty = 0
    for oname in optsets:
        opts, algo, tbl, min_score = _table(args, OPTIONS[oname])
        steps = opts.max_length if max_steps < 0 else max_steps
        want, wtbl = _loop(algo, tbl, min_score, steps, False)
        _, algo, tbl, min_score = _table(args, OPTIONS[oname])
        got, gtbl = _loop(algo, tbl, min_score, steps, True)
        assert got == want, (name, oname)
        # the final model objects agree too (report, -S)
        for i in wtbl.insts:
            a, b = wtbl.insts[i], gtbl.insts[i]
            assert (a.pnode, a.snode, a.location_score) == (b.pnode, b.snode,
                                                            b.location_score)
        nonempty += bool(want)
    assert nonempty


def test_state_follows_the_table(cluster_dir):
    """A FastBalancer handed another table rebuilds its state."""
    args = _write_cluster(cluster_dir, "plain8")
    _, algo, tbl, _ = _table(args)
    sc = fastbalance.make_scorer(algo, tbl)
    t1 = fastbalance.try_balance(algo, tbl, sc)
    t2 = fastbalance.try_balance(algo, tbl, sc)      # same table again
    assert t1 is not None and t2 is not None
    assert t1.plc[-1] == t2.plc[-1]
    assert t1.score == t2.score == t1.plc[-1].score


def test_fallbacks(cluster_dir, monkeypatch):
    args = _write_cluster(cluster_dir, "plain5")
    _, algo, tbl, _ = _table(args)
    monkeypatch.setenv("HTOOLS_PURE", "1")
    sc = fastbalance.make_scorer(algo, tbl)
    assert not isinstance(sc, fastbalance.FastBalancer)
    want = fastbalance.try_balance(algo, tbl, sc)
    monkeypatch.delenv("HTOOLS_PURE")

    def refuse(*a, **k):
        raise NotImplementedError("test")
    monkeypatch.setitem(fastbalance.STATES, algo.search, refuse)
    sc = fastbalance.make_scorer(algo, tbl)
    assert not isinstance(sc, fastbalance.FastBalancer)
    monkeypatch.undo()
    sc = fastbalance.make_scorer(algo, tbl)
    assert isinstance(sc, fastbalance.FastBalancer)
    got = fastbalance.try_balance(algo, tbl, sc)
    assert want is not None and got is not None
    assert got.plc == want.plc and got.score == want.score


def test_api_rejects_bad_moves(cluster_dir):
    args = _write_cluster(cluster_dir, "feat8")
    _, algo, tbl, _ = _table(args)
    st = BalanceState(tbl.nodes, tbl.insts, algo)
    drbd = next(i for i in sorted(tbl.insts)
                if tbl.insts[i].movable and tbl.insts[i].auto_balance
                and tbl.insts[i].has_secondary)
    inst = tbl.insts[drbd]
    with pytest.raises(ValueError):
        st.evaluate(drbd, mv.REPLACE_SECONDARY, inst.pnode)
    with pytest.raises(ValueError):
        st.evaluate(drbd, 9, -1)
    with pytest.raises(KeyError):
        st.evaluate(10 ** 6, mv.FAILOVER)


# ---------------------------------------------------------------------------
# parallel candidate evaluation

@pytest.mark.parametrize("name,oname", [
    ("feat16", "default"), ("plain25", "default"), ("plain25", "no-disk-moves"),
    ("feat40", "default"), ("feat40", "evac")])
def test_threads_do_not_change_the_moves(cluster_dir, name, oname):
    """The step's candidates evaluated by several threads give the same
    moves, bit-identical scores and the same work counters as one thread."""
    args = _write_cluster(cluster_dir, name)
    runs = []
    for threads in (1, 2, 3, 8):
        _, algo, tbl, min_score = _table(args, OPTIONS[oname])
        algo = algo.replace(threads=threads)
        moves, _ = _loop(algo, tbl, min_score, 12, True, debug=False)
        runs.append((moves, _loop.counters))
    assert _loop.victims >= 64, "too few victims to search in parallel"
    assert runs[0][0], "no moves: the comparison says nothing"
    for got in runs[1:]:
        assert got == runs[0]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(6, 30),
       per_node=st.integers(6, 14), threads=st.integers(2, 6),
       features=st.booleans())
def test_threads_property(tmp_path_factory, seed, nodes, per_node, threads, features):
    path = tmp_path_factory.mktemp("par") / "c.data"
    params = dict(nodes=nodes, instances=nodes * per_node, seed=seed)
    if features:
        params.update(FEATURES)
    path.write_text(generate(**params))
    runs = []
    for t in (1, threads):
        _, algo, tbl, min_score = _table(["-t", str(path)])
        moves, _ = _loop(algo.replace(threads=t), tbl, min_score, 6, True,
                         debug=False)
        runs.append((moves, _loop.counters))
    assert runs[0] == runs[1]
