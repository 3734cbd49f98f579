#!/usr/bin/env python3
"""hbal benchmark: our hbal against the reference (Ganeti 3.0.2) hbal.

For each size (generated with ``simulate.generator --preset NxI --seed S``)
both programs run ``hbal -t FILE [ARGS]`` once; the table shows wall and
CPU (user+sys) times, the ratios reference/ours, both final scores,
whether the move lists (and the whole stdout) are identical, and our peak
RSS (``ru_maxrss`` of the child, from ``os.wait4``).

Usage::

    .venv/bin/python bench/hbal_bench.py                 # 10x80 20x200 50x600
    .venv/bin/python bench/hbal_bench.py --sizes 50x600 --repeat 3
    .venv/bin/python bench/hbal_bench.py --sizes 200x3000/l2    # -l 2 there
    .venv/bin/python bench/hbal_bench.py --no-reference  # ours only

Our hbal is the console script next to the running interpreter
(``.venv/bin/hbal`` after ``make venv``), else ``python -m htools.cli hbal``.
If ``htools/cli/hbal.py`` does not use :mod:`htools.fastbalance` yet, the
run goes through a launcher that routes ``balance.try_balance`` to
``fastbalance.try_balance`` (reported in the "via" column); ``--pure``
runs our unpatched hbal instead.
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
from typing import List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
REFERENCE = os.environ.get("HTOOLS_REFERENCE_HBAL",
                           "/usr/lib/ganeti/3.0/usr/bin/hbal")

# routes hbal's balancing step to the compiled balancer (until hbal.py
# does so itself)
LAUNCHER = r'''
import sys
from htools import balance, fastbalance
_orig_try = balance.try_balance
_state = {}
def _make(nodes):
    return balance.Scorer(nodes)
def _try(opts, tbl, sc):
    fb = _state.get("fb")
    if fb is None:
        fb = _state["fb"] = fastbalance.make_scorer(opts, tbl)
    if not isinstance(fb, fastbalance.FastBalancer):
        return _orig_try(opts, tbl, sc)
    return fastbalance.try_balance(opts, tbl, fb)
balance.make_scorer = _make
balance.try_balance = _try
sys.argv[0] = "hbal"
from htools.cli.main import hbal
hbal()
'''

MOVE_RE = re.compile(r"^\s+\d+\. ")


def our_command(pure: bool) -> Tuple[List[str], str]:
    hbal_src = (REPO / "htools" / "cli" / "hbal.py").read_text()
    wired = "fastbalance" in hbal_src
    script = Path(sys.executable).parent / "hbal"
    if wired or pure:
        if script.is_file():
            return [str(script)], "hbal" if wired else "hbal (pure)"
        return [sys.executable, "-m", "htools.cli", "hbal"], "python -m"
    return [sys.executable, "-c", LAUNCHER], "launcher"


def run(cmd: List[str], cwd: Path, out_path: Path) -> Tuple[float, float, int, int]:
    """Run cmd; (wall s, cpu s, peak RSS KiB, exit status)."""
    with open(out_path, "wb") as out, open(os.devnull, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=str(cwd), stdout=out, stderr=err,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, proc.returncode


def final_score(text: str) -> str:
    m = re.search(r"Cluster score improved from \S+ to (\S+)", text)
    if m:
        return m.group(1)
    m = re.search(r"(?:Initial score|initial score):? (\S+?)[,\s]", text)
    return m.group(1) if m else "?"


def moves(text: str) -> List[str]:
    return [line for line in text.splitlines() if MOVE_RE.match(line)]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10x80,20x200,50x600",
                    help="comma-separated NODESxINSTANCES presets; a suffix "
                    "/lN caps that run at N moves (hbal -l N)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gen-args", default="",
                    help="extra simulate.generator arguments")
    ap.add_argument("--args", default="", help="extra hbal arguments")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of ours per size (the best wall and cpu "
                    "times are reported)")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--pure", action="store_true",
                    help="run our hbal without the compiled balancer")
    opts = ap.parse_args(argv)

    ours, via = our_command(opts.pure)
    have_ref = not opts.no_reference and os.access(REFERENCE, os.X_OK)
    extra = opts.args.split()
    rows = []
    hdr = ("size", "ref wall", "ref cpu", "ours wall", "ours cpu", "wall x",
           "cpu x", "ref score", "our score", "moves", "same moves",
           "same stdout", "our RSS MiB")
    print("# ours: %s (%s); reference: %s" % (" ".join(ours[:2]), via,
                                              REFERENCE if have_ref else "-"))
    print("# hbal args: -t FILE %s; generator seed %d %s"
          % (" ".join(extra), opts.seed, opts.gen_args))
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="hbal-bench-") as tmp:
        tmpd = Path(tmp)
        for spec in opts.sizes.split(","):
            size, _, cap = spec.partition("/")
            data = tmpd / ("%s.data" % size)
            subprocess.run([sys.executable, "-m", "simulate.generator",
                            "--preset", size, "--seed", str(opts.seed),
                            "-o", str(data)] + opts.gen_args.split(),
                           cwd=str(REPO), check=True,
                           env=dict(os.environ, PYTHONPATH=str(REPO)))
            args = ["-t", str(data)] + extra
            if cap:
                args += ["-l", cap.lstrip("l")]
            runs = [run(ours + args, tmpd, tmpd / "ours.out")
                    for _ in range(max(1, opts.repeat))]
            # best wall and best cpu time independently (machine noise)
            o_wall = min(r[0] for r in runs)
            o_cpu = min(r[1] for r in runs)
            o_rss = max(r[2] for r in runs)
            o_rc = runs[-1][3]
            o_text = (tmpd / "ours.out").read_text()
            if have_ref:
                r_wall, r_cpu, _, r_rc = run([REFERENCE] + args, tmpd, tmpd / "ref.out")
                r_text = (tmpd / "ref.out").read_text()
                same_moves = moves(o_text) == moves(r_text) and o_rc == r_rc
                same_out = o_text == r_text
                row = (spec, "%.2f" % r_wall, "%.2f" % r_cpu, "%.2f" % o_wall,
                       "%.2f" % o_cpu, "%.0f" % (r_wall / o_wall),
                       "%.0f" % (r_cpu / max(o_cpu, 1e-9)),
                       final_score(r_text), final_score(o_text),
                       str(len(moves(o_text))), "yes" if same_moves else "NO",
                       "yes" if same_out else "no", "%.0f" % (o_rss / 1024.0))
            else:
                row = (spec, "-", "-", "%.2f" % o_wall, "%.2f" % o_cpu, "-", "-",
                       "-", final_score(o_text), str(len(moves(o_text))), "-", "-",
                       "%.0f" % (o_rss / 1024.0))
            rows.append(row)
            print("  ".join(row), flush=True)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    print()
    print(" | ".join(h.rjust(w) for h, w in zip(hdr, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.rjust(w) for c, w in zip(r, widths)))
    return 0 if all(r[10] != "NO" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
