"""Micro-benchmarks of the compiled core (pytest-benchmark; not part of ``make test``).

    .venv/bin/python -m pytest bench/test_core_micro.py --benchmark-only
    .venv/bin/python -m pytest bench/test_core_micro.py --benchmark-compare   # vs the last saved run

On a generated 200-node cluster (preset 200x3000 shape) each benchmark
times one operation the balancer and the allocator repeat millions of
times, next to its pure-Python specification where there is one: the
score of a candidate move (``metrics.comp_cv`` / ``ClusterState.score_with``
/ ``score_with_fast``), building a cluster state, one hbal step
(compiled and exhaustive, on one and on two threads), one ``tryAlloc`` on
the compiled path (on one and on two threads, and with the global N+1
capacity check), the
global N+1 redundancy check of a plain-heavy cluster.  Every
benchmark also checks its result against the specification, so a fast
wrong answer fails.
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.core_bench import candidates, load  # noqa: E402
from htools import balance, metrics  # noqa: E402
from htools._core import ClusterState  # noqa: E402
from htools.alloc.place import gen_alloc_nodes, try_alloc  # noqa: E402
from htools.params import AlgorithmOptions  # noqa: E402
from htools.balance import compiled, search  # noqa: E402
from htools.types import DiskTemplate  # noqa: E402

pytest.importorskip("pytest_benchmark")


@pytest.fixture(scope="module")
def cluster():
    cdata = load(200, 3000, 1)
    return cdata, candidates(cdata, 300)


def test_score_candidates_spec(benchmark, cluster):
    cdata, cands = cluster
    nodes = cdata.nodes
    sub = cands[:30]

    def run():
        return [metrics.comp_cv([ch.get(i, n) for i, n in enumerate(nodes)]) for ch in sub]
    got = benchmark(run)
    cs = ClusterState(nodes)
    assert got == [cs.score_with(ch) for ch in sub]


def test_score_candidates_core(benchmark, cluster):
    cdata, cands = cluster
    cs = ClusterState(cdata.nodes)
    got = benchmark(lambda: [cs.score_with(ch) for ch in cands])
    nodes = cdata.nodes
    assert got[:10] == [metrics.comp_cv([ch.get(i, n) for i, n in enumerate(nodes)])
                        for ch in cands[:10]]


def test_score_candidates_incremental(benchmark, cluster):
    cdata, cands = cluster
    cs = ClusterState(cdata.nodes)
    got = benchmark(lambda: [cs.score_with_fast(ch) for ch in cands])
    exact = [cs.score_with(ch) for ch in cands]
    assert max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(got, exact)) < 1e-9


def test_build_cluster_state(benchmark, cluster):
    cdata, _ = cluster
    cs = benchmark(ClusterState, cdata.nodes)
    assert cs.score() == metrics.comp_cv(cdata.nodes)


def _table(cdata):
    nodes = {n.idx: n for n in cdata.nodes}
    return balance.Table(nodes, {i.idx: i for i in cdata.instances},
                         metrics.comp_cv(cdata.nodes), [])


@pytest.mark.parametrize("threads", [1, 2])
def test_balance_step_compiled(benchmark, cluster, threads):
    cdata, _ = cluster
    algo = balance.AlgorithmOptions(threads=threads)
    tbl = _table(cdata)

    def step():
        return compiled.try_balance(algo, tbl, compiled.make_scorer(algo, tbl))
    new = benchmark.pedantic(step, rounds=3, iterations=1)
    want = search.try_balance(algo, tbl, search.make_scorer(tbl.nodes))
    assert new.plc[-1] == want.plc[-1] and new.score == want.score


@pytest.mark.parametrize("threads", [1, 2])
def test_try_alloc_compiled(benchmark, cluster, threads):
    from htools import _core
    from htools.alloc import compiled as fastalloc
    cdata, _ = cluster
    nl = {n.idx: n for n in cdata.nodes}
    il = {i.idx: i for i in cdata.instances}
    inst = cdata.instances[0].copy()
    inst.disk_template = DiskTemplate.DRBD
    opts = AlgorithmOptions(capacity=False)
    an = gen_alloc_nodes(opts, cdata.groups, nl, 2, False)
    try_alloc(opts, nl, il, inst, an)          # sets the threads from the environment
    fastalloc._THREADS_SET = True
    old = _core.alloc_threads()
    _core.set_alloc_threads(threads)
    try:
        sol = benchmark(try_alloc, opts, nl, il, inst, an)
    finally:
        _core.set_alloc_threads(old)
    os.environ["HTOOLS_PURE"] = "1"
    try:
        want = try_alloc(opts, nl, il, inst, an)
    finally:
        del os.environ["HTOOLS_PURE"]
    assert (sol.solution is None) == (want.solution is None)
    if sol.solution is not None:
        assert sol.solution.score == want.solution.score


def test_try_alloc_capacity_checked(benchmark, cluster):
    cdata, _ = cluster
    nl = {n.idx: n for n in cdata.nodes}
    il = {i.idx: i for i in cdata.instances}
    inst = cdata.instances[0].copy()
    inst.disk_template = DiskTemplate.DRBD
    opts = AlgorithmOptions(capacity=True)
    an = gen_alloc_nodes(opts, cdata.groups, nl, 2, False)
    sol = benchmark.pedantic(try_alloc, (opts, nl, il, inst, an), rounds=3,
                             iterations=1)
    os.environ["HTOOLS_PURE"] = "1"
    try:
        want = try_alloc(opts, nl, il, inst, an)
    finally:
        del os.environ["HTOOLS_PURE"]
    assert sol.fails == want.fails
    assert (sol.solution is None) == (want.solution is None)
    if sol.solution is not None:
        assert sol.solution.score == want.solution.score


def test_global_n1_redundant(benchmark):
    from simulate.generator import generate
    from backends.text import parse_data
    from htools.alloc import globaln1, n1
    from htools.loader import merge_data, update_missing
    text = generate(nodes=40, instances=400, seed=3,
                    templates={"plain": 5, "drbd": 2, "sharedfile": 1})
    cdata = parse_data(text)
    merge_data(cdata, [], [], [], [])
    update_missing(cdata, 4096)
    nl = {n.idx: n for n in cdata.nodes}
    il = {i.idx: i for i in cdata.instances}
    got = benchmark(n1.redundant, nl, il)
    assert got == globaln1.redundant(nl, il)
