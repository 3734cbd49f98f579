"""hail benchmark: ours against the reference, same requests, same run.

Generates (simulate/requests.py, fixed seeds) a DRBD cluster of 1000 nodes
in one group, ~4 instances per node, and times both implementations on:

* ``allocate`` of a DRBD instance (2 nodes: ~1M candidate pairs, global
  N+1 check on the best pair of each primary),
* ``allocate`` of a plain instance (1 node) and of an ext instance,
* ``node-evacuate`` of every instance of one node, ``secondary-only`` and
  ``primary-only``,
* ``node-evacuate`` in mode ``all`` of one instance (every ordered pair of
  target nodes is tried: htools needs ~30 s for 300 nodes and, growing with
  the cube of the size, a quarter of an hour for 1000), compared on a
  300-node cluster; on the 1000-node cluster only ours is timed unless
  ``--full``.

Every answer of ours must equal the reference's (the ``explanation`` key
removed); the table gives wall-clock seconds and the ratio reference/ours.

    python bench/hail_bench.py [--nodes 1000] [--repeat 1] [--full]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from htools.cli.hail import strip_explanation  # noqa: E402
from simulate.requests import make_request  # noqa: E402

REF = "/usr/lib/ganeti/iallocators/hail"


def ours_bin() -> str:
    cand = Path(sys.executable).parent / "hail"
    if cand.exists():
        return str(cand)
    return str(HERE.parent / ".venv" / "bin" / "hail")


def cluster(nodes: int, seed: int = 2) -> dict:
    return make_request(seed, "allocate", nodes=nodes, groups=1, inst_per_node=4,
                        load=0.3, tags=False, offline_frac=0.0,
                        templates={"drbd": 1}, excl_storage=False,
                        networks=False, policy_variety=False, node_class=4)


def alloc_request(doc: dict, template: str) -> dict:
    doc = json.loads(json.dumps(doc))
    size = 10240
    req = {"type": "allocate", "name": "new-instance", "disk_template": template,
           "required_nodes": 2 if template == "drbd" else 1, "memory": 2048,
           "vcpus": 1, "disks": [{"size": size, "mode": "rw"}],
           "disk_space_total": size + 128 if template == "drbd" else
           (size if template == "plain" else 0),
           "spindle_use": 1, "tags": [], "os": "debian-image",
           "nics": [{"mac": "00:11:22:33:44:55", "ip": None}]}
    doc["request"] = req
    return doc


def evac_request(doc: dict, mode: str, node: str, limit: int = 0) -> dict:
    doc = json.loads(json.dumps(doc))
    insts = []
    for name, inst in sorted(doc["instances"].items()):
        nodes = inst["nodes"]
        if mode == "primary-only" and nodes[0] == node:
            insts.append(name)
        elif mode == "secondary-only" and nodes[1:] == [node]:
            insts.append(name)
        elif mode == "all" and node in nodes:
            insts.append(name)
    if limit:
        insts = insts[:limit]
    doc["request"] = {"type": "node-evacuate", "evac_mode": mode,
                      "instances": insts}
    return doc


def timed(cmd) -> tuple:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="hail: ours vs the reference")
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--full", action="store_true",
                    help="evacuation mode 'all' on the big cluster too (slow!)")
    ap.add_argument("--all-nodes", type=int, default=300,
                    help="cluster size for evacuation mode 'all' (default 300)")
    ns = ap.parse_args(argv)
    if not os.path.exists(REF):
        print("reference hail not installed (%s)" % REF)
        return 1
    ours = ours_bin()
    big = cluster(ns.nodes)
    small = cluster(ns.all_nodes)
    node = "node-01-007"
    cases = [
        ("allocate drbd", ns.nodes, alloc_request(big, "drbd")),
        ("allocate plain", ns.nodes, alloc_request(big, "plain")),
        ("allocate ext", ns.nodes, alloc_request(big, "ext")),
        ("evacuate secondary-only", ns.nodes, evac_request(big, "secondary-only", node)),
        ("evacuate primary-only", ns.nodes, evac_request(big, "primary-only", node)),
        ("evacuate all (1 inst.)", len(small["nodes"]),
         evac_request(small, "all", node, limit=1)),
        ("evacuate all (1 inst.)", ns.nodes,
         evac_request(big, "all", node, limit=1), not ns.full),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            label, n, doc = case[:3]
            ours_only = len(case) > 3 and case[3]
            path = os.path.join(tmp, "req.json")
            with open(path, "w") as fh:
                json.dump(doc, fh)
            t_ref = t_ours = 0.0
            same = True
            for _ in range(ns.repeat):
                if not ours_only:
                    dt, ref = timed([REF, path])
                    t_ref += dt
                dt, our = timed([ours, path])
                t_ours += dt
                if not ours_only:
                    same = same and strip_explanation(our.stdout) == ref.stdout
            t_ref /= ns.repeat
            t_ours /= ns.repeat
            ok = json.loads(our.stdout)["success"]
            rows.append((label, n, len(doc["instances"]),
                         None if ours_only else t_ref, t_ours,
                         None if ours_only else (t_ref / t_ours if t_ours else float("inf")),
                         None if ours_only else same, ok))
            print("%-26s done" % label, file=sys.stderr)
    print("| case | nodes | instances | reference s | ours s | ratio ref/ours | "
          "same answer | success |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for label, n, ni, tr, to, ratio, same, ok in rows:
        print("| %s | %d | %d | %s | %.2f | %s | %s | %s |" % (
            label, n, ni, "not run" if tr is None else "%.2f" % tr, to,
            "-" if ratio is None else "%.2f" % ratio,
            "-" if same is None else ("yes" if same else "NO"), ok))
    return 0 if all(r[6] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
