"""Micro-benchmark of the compiled core's scoring (not a test).

Times, on a generated 200-node cluster (simulate.generator preset
200x3000), the evaluation of candidate moves by:

* ``metrics.comp_cv`` of the modified node list (the pure-Python spec),
* ``ClusterState.score_with`` (bit-exact two-pass recomputation in C),
* ``ClusterState.score_with_fast`` (htools' incremental update, O(changes)),

plus building a ClusterState and ``set_node``.  "cold" rows loop over 2000
distinct candidates built beforehand (their node objects are mostly out of
the CPU caches); "hot" rows score one candidate repeatedly, as a balancer
does right after building it.  The candidates are real
balancing moves (htools.moves.apply_move) of the cluster's instances; every
score_with result is checked against comp_cv.

    python bench/core_bench.py [--nodes 200 --instances 3000 --seed 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from backends.text import parse_data  # noqa: E402
from htools import moves as mv  # noqa: E402
from htools import metrics  # noqa: E402
from htools._core import ClusterState  # noqa: E402
from htools.loader import merge_data, update_missing  # noqa: E402
from htools.types import FailMode  # noqa: E402
from simulate.generator import generate  # noqa: E402


def load(nodes: int, instances: int, seed: int):
    text = generate(nodes=nodes, instances=instances, groups=1, seed=seed,
                    offline_frac=0.02, location_tags=True, cpu_speed=True,
                    forthcoming_frac=0.02)
    cdata = parse_data(text)
    merge_data(cdata)
    update_missing(cdata, 0)
    return cdata


def candidates(cdata, limit: int):
    nodes = cdata.nodes
    nl = dict(enumerate(nodes))
    online = [i for i, n in enumerate(nodes) if not n.offline]
    out = []
    for inst in cdata.instances:
        if not inst.movable:
            continue
        mirror = inst.mirror_type.value
        use_sec = inst.snode in online
        for tdx in online[::7]:
            if tdx in (inst.pnode, inst.snode):
                continue
            for move in mv.possible_moves(mirror, use_sec, True, True, False,
                                          nodes[inst.pnode].offline, tdx):
                res = mv.apply_move(False, nl, inst, move)
                if not isinstance(res, FailMode):
                    out.append(res[0])
                if len(out) >= limit:
                    return out
    return out


def timeit(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--instances", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--moves", type=int, default=2000)
    args = ap.parse_args()

    cdata = load(args.nodes, args.instances, args.seed)
    nodes = cdata.nodes
    cands = candidates(cdata, args.moves)
    print("cluster: %d nodes (%d online), %d instances; %d candidate moves"
          % (len(nodes), sum(not n.offline for n in nodes),
             len(cdata.instances), len(cands)))

    cs = ClusterState(nodes)
    assert cs.score() == metrics.comp_cv(nodes)
    mism = 0
    worst = 0.0
    for ch in cands:
        exact = metrics.comp_cv([ch.get(i, n) for i, n in enumerate(nodes)])
        if cs.score_with(ch) != exact:
            mism += 1
        fast = cs.score_with_fast(ch)
        worst = max(worst, abs(fast - exact) / max(abs(exact), 1e-300))
    print("score_with == comp_cv on all candidates: %s (mismatches: %d)"
          % (mism == 0, mism))
    print("score_with_fast: worst relative deviation %.3g" % worst)

    sub = cands[:200]

    def run_py():
        for ch in sub:
            metrics.comp_cv([ch.get(i, n) for i, n in enumerate(nodes)])

    def run_core():
        for ch in cands:
            cs.score_with(ch)

    def run_fast():
        for ch in cands:
            cs.score_with_fast(ch)

    hot = max(cands, key=len)

    def run_apply():
        # the Python side of evaluating candidates: htools.moves.apply_move
        nl = dict(enumerate(nodes))
        for inst in cdata.instances[:50]:
            if inst.snode >= 0:
                for tdx in (0, 50, 100):
                    if tdx not in (inst.pnode, inst.snode):
                        mv.apply_move(False, nl, inst,
                                      mv.IMove(mv.REPLACE_SECONDARY, tdx))

    n_apply = sum(1 for i in cdata.instances[:50] if i.snode >= 0
                  for t in (0, 50, 100) if t not in (i.pnode, i.snode))
    t_apply = timeit(run_apply, 3) / max(n_apply, 1)
    t_hot = timeit(lambda: cs.score_with(hot), 20000)
    t_hot_fast = timeit(lambda: cs.score_with_fast(hot), 20000)
    t_py = timeit(run_py, 1) / len(sub)
    t_core = timeit(run_core, 3) / len(cands)
    t_fast = timeit(run_fast, 3) / len(cands)
    t_build = timeit(lambda: ClusterState(nodes), 5)
    one = cands[0]
    k, node = next(iter(one.items()))
    t_set = timeit(lambda: cs.set_node(k, node), 2000)
    cs.set_node(k, nodes[k])
    t_score = timeit(lambda: (cs.set_node(k, nodes[k]), cs.score()), 2000) - t_set

    print()
    print("%-34s %12s %10s" % ("per call (best of 3)", "time", "speed-up"))
    print("%-34s %10.1f us %10s" % ("metrics.comp_cv (pure Python)", t_py * 1e6, "1x"))
    print("%-34s %10.2f us %9.0fx" % ("ClusterState.score_with", t_core * 1e6, t_py / t_core))
    print("%-34s %10.2f us %9.0fx" % ("ClusterState.score_with_fast", t_fast * 1e6, t_py / t_fast))
    print("%-34s %10.2f us %9.0fx" % ("score_with, same %d nodes (hot)" % len(hot),
                                       t_hot * 1e6, t_py / t_hot))
    print("%-34s %10.2f us %9.0fx" % ("score_with_fast, same (hot)",
                                       t_hot_fast * 1e6, t_py / t_hot_fast))
    print("%-34s %10.1f us" % ("(for scale) moves.apply_move r:N", t_apply * 1e6))
    print("%-34s %10.1f us" % ("ClusterState(nodes)", t_build * 1e6))
    print("%-34s %10.2f us" % ("set_node", t_set * 1e6))
    print("%-34s %10.2f us" % ("score() after set_node (recompute)", t_score * 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
