"""Benchmark of hroller (not a test).

Generates a cluster with simulate.generator (default 2000 nodes / 40 000
instances, 4 node groups, 2% offline nodes) and times our hroller on it,
end to end (``bin/hroller`` as a subprocess, including start-up and
loading) and per phase in-process (graph, each colouring, splitting).

    python bench/hroller_bench.py [--nodes 2000 --instances 40000 --groups 4
                                   --seed 1 --opts "--full-evacuation"]
                                  [--reference]

``--reference`` also times Ganeti's binary (warning: its Dsatur/Dcolor are
quadratic per step; on 2000 nodes it runs for far more than 20 minutes).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

REF = "/usr/lib/ganeti/3.0/usr/bin/hroller"


def timed(label, fn, *a):
    t0 = time.perf_counter()
    res = fn(*a)
    print("  %-28s %8.3f s" % (label, time.perf_counter() - t0))
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--instances", type=int, default=40000)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--offline-frac", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--opts", default="", help="extra hroller options")
    ap.add_argument("--reference", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="hroller-bench-")
    data = os.path.join(tmp, "cluster.data")
    print("generating %d nodes / %d instances / %d groups ..."
          % (args.nodes, args.instances, args.groups))
    subprocess.run([sys.executable, "-m", "simulate.generator",
                    "--nodes", str(args.nodes), "--instances", str(args.instances),
                    "--groups", str(args.groups), "--seed", str(args.seed),
                    "--offline-frac", str(args.offline_frac), "-o", data],
                   check=True, cwd=ROOT)
    extra = shlex.split(args.opts)

    from htools import extloader, roller
    from htools.cli.options import parse_cmdline
    print("in-process phases:")
    opts, _ = parse_cmdline("hroller", ["-t", data, "-q"] + extra)
    cdata = timed("load", extloader.load_external_data, opts)
    nodes = sorted(extloader.set_node_status(opts, cdata.nodes), key=lambda n: n.idx)
    insts = {i.idx: i for i in cdata.instances}
    sel = roller.select_nodes(nodes, insts, None, opts.node_tags,
                              opts.skip_non_redundant)
    graph = timed("node graph", roller.build_graph, nodes, insts, sel,
                  opts.offline_maintenance)
    for name, fn in roller.COLOR_ALGORITHMS:
        cm = timed("colour " + name, fn, graph)
        print("  %-28s %8d colours" % ("", len(set(cm.values()))))
    try:
        res = timed("compute (all phases)", roller.compute, nodes, insts, sel,
                    graph, opts.ignore_non_redundant, opts.full_evacuation)
        print("  %-28s %8d groups" % ("", len(res.groups)))
        timed("moves of all groups",
              lambda: [roller.get_moves(c) for _, c in res.groups])
    except roller.RollerError as err:
        print("  compute: Error:", err)

    ours = os.path.join(os.path.dirname(sys.executable), "hroller")
    if not os.path.exists(ours):
        ours = None
    cmds = [("ours", [ours] if ours else [sys.executable, "-m", "htools.cli", "hroller"])]
    if args.reference and os.path.exists(REF):
        cmds.append(("reference", [REF]))
    print("end to end (-t FILE --print-moves -v -v %s):" % args.opts)
    for name, cmd in cmds:
        t0 = time.perf_counter()
        r = subprocess.run(cmd + ["-t", data, "--print-moves", "-v", "-v"] + extra,
                           capture_output=True, text=True, cwd=tmp)
        dt = time.perf_counter() - t0
        lines = r.stdout.splitlines()
        stats = next((ln for ln in lines if ln.startswith(("LF", "Dsatur", "Dcolor"))), "")
        print("  %-10s %8.3f s  exit %d  %s" % (name, dt, r.returncode, stats[:90]))
        if r.returncode:
            print("    " + r.stderr.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
