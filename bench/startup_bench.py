#!/usr/bin/env python3
"""Start-up of the small-cluster runs: ours against the reference, same run.

``hinfo -t`` and ``hbal -t`` on a generated 5-node cluster and ``hail`` with
an allocate request on a 5-node cluster - the runs Ganeti sites with a few
nodes make, ``hail`` at every instance creation.  Each command runs
``--runs`` times (default 20) after two warm-up runs, ours and the
reference alternately; the table gives the median and the minimum wall
time and the median CPU time (user + system) in milliseconds, and a bare
``python -c pass`` of the same interpreter as the floor.  Outputs are
compared (identical expected).  Byte-code caching as installed (the
environment's PYTHONDONTWRITEBYTECODE is dropped for the runs).

Usage::

    .venv/bin/python bench/startup_bench.py [--runs 20] [--markdown out.md]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.hail_bench import alloc_request, cluster  # noqa: E402
from bench.matrix import _env, ours, ref  # noqa: E402
from simulate.generator import generate  # noqa: E402


def _once(cmd: List[str], cwd: str) -> Tuple[float, float, bytes]:
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, _, usage = os.wait4(p.pid, 0)
    p.returncode = 0
    wall = time.perf_counter() - t0
    return wall, usage.ru_utime + usage.ru_stime, out


def measure(cmds: Sequence[List[str]], runs: int, cwd: str):
    """Median wall, min wall, median CPU (ms) and the output of each command,
    the commands run in turn ``runs`` times."""
    walls = [[] for _ in cmds]
    cpus = [[] for _ in cmds]
    outs: List[bytes] = [b""] * len(cmds)
    for i in range(runs + 2):
        for k, cmd in enumerate(cmds):
            wall, cpu, out = _once(cmd, cwd)
            if i >= 2:
                walls[k].append(wall)
                cpus[k].append(cpu)
            outs[k] = out
    return [(statistics.median(w) * 1e3, min(w) * 1e3, statistics.median(c) * 1e3, o)
            for w, c, o in zip(walls, cpus, outs)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "c5.data").write_text(generate(nodes=5, instances=10, seed=1))
        Path(tmp, "r5.json").write_text(json.dumps(alloc_request(cluster(5), "drbd")))
        cases = [("hinfo -t (5 nodes)", "hinfo", ["-t", "c5.data"]),
                 ("hbal -t (5 nodes)", "hbal", ["-t", "c5.data"]),
                 ("hail allocate (5 nodes)", "hail", ["r5.json"])]
        rows = ["| run | reference median / min ms | ours median / min ms "
                "| ours CPU ms | same output |", "|---|---:|---:|---:|:-:|"]
        for label, tool, targs in cases:
            (rm, rmin, _, rout), (om, omin, ocpu, oout) = measure(
                [[ref(tool)] + targs, [ours(tool)] + targs], args.runs, tmp)
            rows.append("| %s | %.1f / %.1f | %.1f / %.1f | %.1f | %s |" % (
                label, rm, rmin, om, omin, ocpu, "yes" if rout == oout else "NO"))
        (pm, pmin, pcpu, _), = measure([[sys.executable, "-c", "pass"]], args.runs, tmp)
        rows.append("| `python -c pass` (floor) | | %.1f / %.1f | %.1f | |" % (pm, pmin, pcpu))
    text = "\n".join(rows) + "\n"
    sys.stdout.write(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
