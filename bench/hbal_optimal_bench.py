#!/usr/bin/env python3
"""hbal --search=optimal against the reference hbal (Ganeti 3.0.2).

For each case (a cluster from ``simulate.generator``: a preset size, a seed
and a mix: ``default`` = the generator's template mix with exclusion tags,
``drbd`` = DRBD and plain only, ``tags`` = with location and migration
tags) the reference ``hbal -t FILE`` and our ``hbal -t FILE
--search=optimal [ARGS]`` run; from each move line the table takes the
disk data copied (the instance's disk for every ``r:`` of the move code)
and the memory migrated (its memory for every ``f`` of a running
instance), and shows the final scores, the moves, the GiB copied and
migrated of both, and our wall time.  The last lines are the totals and
the checks of the issue: final score at most the reference's on every
case, at most half the disk copied in total, at most 70% of the moves on
average.

Usage::

    .venv/bin/python bench/hbal_optimal_bench.py                      # 10x80, 20x200, 50x600
    .venv/bin/python bench/hbal_optimal_bench.py --sizes 10x80 --seeds 1,2 --mixes default
    .venv/bin/python bench/hbal_optimal_bench.py --sizes 200x3000 --seeds 1 -- --opt-time-limit 120
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from simulate.generator import PRESETS, write  # noqa: E402

REFERENCE = os.environ.get("HTOOLS_REFERENCE_HBAL",
                           "/usr/lib/ganeti/3.0/usr/bin/hbal")
MOVE_RE = re.compile(r"^\s+\d+\. (\S+) .* a=(.*)$")
FINAL_RE = re.compile(r"^Cluster score improved from \S+ to (\S+)$")
INITIAL_RE = re.compile(r"^Initial score: (\S+)$")

MIXES = {
    "default": {},
    "drbd": {"templates": {"drbd": 70, "plain": 30}},
    "tags": {"location_tags": True, "migration_tags": True},
}


def ours() -> List[str]:
    script = Path(sys.executable).parent / "hbal"
    return [str(script)] if script.is_file() else [sys.executable, "-m",
                                                    "htools.cli", "hbal"]


def instances(path: Path) -> Dict[str, Tuple[int, int, bool]]:
    """name -> (memory MiB, disk MiB, running) from a text-backend file."""
    sections = path.read_text().split("\n\n")
    out = {}
    for line in sections[2].splitlines():
        f = line.split("|")
        if len(f) > 4:
            out[f[0]] = (int(f[1]), int(f[2]), f[4] == "running")
    return out


def measure(output: str, insts) -> Dict[str, float]:
    """Score, moves, GiB copied and migrated of one hbal output."""
    res = {"moves": 0, "copied": 0.0, "migrated": 0.0, "score": None}
    for line in output.splitlines():
        mt = MOVE_RE.match(line)
        if mt:
            mem, dsk, running = insts[mt.group(1)]
            code = mt.group(2).split()
            res["moves"] += 1
            res["copied"] += dsk * sum(1 for c in code if c.startswith("r:")) / 1024.0
            if running:
                res["migrated"] += mem * sum(1 for c in code
                                             if c == "f" or c.startswith("fa:")) / 1024.0
            continue
        mt = FINAL_RE.match(line) or INITIAL_RE.match(line)
        if mt:
            res["score"] = float(mt.group(1))
    return res


def run(cmd: List[str]) -> Tuple[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(cmd), proc.returncode,
                                                 proc.stderr.strip()))
    return proc.stdout, wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10x80,20x200,50x600")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--mixes", default="default,drbd,tags")
    ap.add_argument("args", nargs="*", help="extra arguments of our hbal")
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in a.sizes.split(","):
            for mix in a.mixes.split(","):
                for seed in [int(s) for s in a.seeds.split(",")]:
                    path = Path(tmp) / ("%s-%s-%d.data" % (size, mix, seed))
                    write(str(path), seed=seed, **PRESETS[size], **MIXES[mix])
                    insts = instances(path)
                    ref_out, ref_wall = run([REFERENCE, "-t", str(path)])
                    our_out, our_wall = run(ours() + ["-t", str(path),
                                                      "--search=optimal"] + a.args)
                    r, o = measure(ref_out, insts), measure(our_out, insts)
                    row = (size, mix, seed, r, o, ref_wall, our_wall)
                    rows.append(row)
                    print("%s %s seed %d: ref %.8f %d moves %.1f GiB | ours %.8f "
                          "%d moves %.1f GiB, %.1fs" % (
                              size, mix, seed, r["score"], r["moves"], r["copied"],
                              o["score"], o["moves"], o["copied"], our_wall),
                          file=sys.stderr, flush=True)
    print("| case | ref score | our score | ref moves | our moves | ref GiB copied "
          "| our GiB copied | ref GiB migrated | our GiB migrated | ref s | our s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, mix, seed, r, o, rw, ow in rows:
        print("| %s %s s%d | %.8f | %.8f | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |"
              % (size, mix, seed, r["score"], o["score"], r["moves"], o["moves"],
                 r["copied"], o["copied"], r["migrated"], o["migrated"], rw, ow))
    worse = [(s, m, d) for s, m, d, r, o, _, _ in rows if o["score"] > r["score"]]
    ref_copy = sum(x[3]["copied"] for x in rows)
    our_copy = sum(x[4]["copied"] for x in rows)
    ratios = [x[4]["moves"] / x[3]["moves"] for x in rows if x[3]["moves"]]
    print()
    print("- final score at most the reference's: %d of %d cases%s"
          % (len(rows) - len(worse), len(rows),
             "" if not worse else " (higher on %s)" % ", ".join(
                 "%s %s s%d" % w for w in worse)))
    print("- disk copied: %.1f GiB against %.1f GiB (%.0f%%)"
          % (our_copy, ref_copy, 100.0 * our_copy / ref_copy if ref_copy else 0.0))
    print("- moves: %.0f%% of the reference's on average"
          % (100.0 * sum(ratios) / len(ratios) if ratios else 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
