#!/usr/bin/env python3
"""hbal --search=pruned benchmark: the pruned search against the exhaustive one.

For each size and seed (clusters from ``simulate.generator --preset NxI
--seed S``, or ``--nodes N --instances I`` for sizes without a preset) our hbal runs ``hbal -t FILE --search=pruned [ARGS]`` and,
unless skipped for that size, ``hbal -t FILE [ARGS]`` (the exhaustive
search, whose moves and output are the reference's).  The table shows the
wall and CPU (user+sys) times, the peak RSS (``ru_maxrss`` of the child),
the number of moves and final score of each, and the pruned score's
relative difference to the exhaustive one (negative: the pruned run ended
lower).  With ``--reference`` the reference hbal (Ganeti 3.0.2) runs too;
its wall time is capped by ``--ref-timeout`` (it needs hours for
1000x20000).

Usage::

    .venv/bin/python bench/hbal_pruned_bench.py                  # 200x3000, seeds 1-3
    .venv/bin/python bench/hbal_pruned_bench.py --sizes 1000x20000 --no-exhaustive
    .venv/bin/python bench/hbal_pruned_bench.py --sizes 40x400 --seeds 1,2 --reference

Output: one line per run while it goes, then a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from simulate.generator import PRESETS  # noqa: E402
REFERENCE = os.environ.get("HTOOLS_REFERENCE_HBAL",
                           "/usr/lib/ganeti/3.0/usr/bin/hbal")
MOVE_RE = re.compile(r"^\s+\d+\. ")


def our_command() -> List[str]:
    script = Path(sys.executable).parent / "hbal"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "htools.cli", "hbal"]


def run(cmd: List[str], out_path: Path, timeout: Optional[float] = None
        ) -> Tuple[float, float, int, Optional[int]]:
    """Run cmd; (wall s, cpu s, peak RSS KiB, exit status or None if it
    was stopped at the timeout)."""
    with open(out_path, "wb") as out, open(os.devnull, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=str(REPO), stdout=out, stderr=err,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        stopped = timer is not None and not timer.is_alive()
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss,
            None if stopped else proc.returncode)


def final_score(text: str) -> Optional[float]:
    m = re.search(r"Cluster score improved from \S+ to (\S+)", text)
    if m:
        return float(m.group(1))
    return None


def n_moves(text: str) -> int:
    return sum(1 for line in text.splitlines() if MOVE_RE.match(line))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="200x3000",
                    help="comma-separated NODESxINSTANCES cluster sizes")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--args", default="", help="extra hbal arguments")
    ap.add_argument("--no-exhaustive", action="store_true",
                    help="do not run the exhaustive search")
    ap.add_argument("--exhaustive-max-nodes", type=int, default=400,
                    help="skip the exhaustive search above this many nodes "
                    "(default: %(default)s)")
    ap.add_argument("--reference", action="store_true",
                    help="also run the reference hbal")
    ap.add_argument("--ref-timeout", type=float, default=900.0,
                    help="stop the reference after this many seconds")
    opts = ap.parse_args(argv)

    ours = our_command()
    extra = opts.args.split()
    have_ref = opts.reference and os.access(REFERENCE, os.X_OK)
    hdr = ["size", "seed", "pruned wall s", "pruned cpu s", "pruned RSS MiB",
           "pruned moves", "pruned score", "exh. wall s", "exh. moves",
           "exh. score", "diff"]
    if have_ref:
        hdr += ["ref wall s", "ref score"]
    rows = []
    print("# ours: %s; hbal args: -t FILE %s" % (" ".join(ours), " ".join(extra)),
          flush=True)
    with tempfile.TemporaryDirectory(prefix="hbal-pruned-") as tmp:
        tmpd = Path(tmp)
        for size in opts.sizes.split(","):
            nodes = int(size.split("x")[0])
            for seed in opts.seeds.split(","):
                data = tmpd / ("%s-%s.data" % (size, seed))
                n_i = size.split("x")
                gen = (["--preset", size] if size in PRESETS else
                       ["--nodes", n_i[0], "--instances", n_i[1]])
                subprocess.run([sys.executable, "-m", "simulate.generator"] + gen +
                               ["--seed", seed, "-o", str(data)],
                               cwd=str(REPO), check=True,
                               env=dict(os.environ, PYTHONPATH=str(REPO)))
                args = ["-t", str(data)] + extra
                p_wall, p_cpu, p_rss, _ = run(ours + args + ["--search=pruned"],
                                              tmpd / "pruned.out")
                p_text = (tmpd / "pruned.out").read_text()
                p_score = final_score(p_text)
                row = [size, seed, "%.1f" % p_wall, "%.1f" % p_cpu,
                       "%.0f" % (p_rss / 1024.0), str(n_moves(p_text)),
                       "%.8f" % p_score if p_score is not None else "-"]
                if opts.no_exhaustive or nodes > opts.exhaustive_max_nodes:
                    row += ["-", "-", "-", "-"]
                else:
                    e_wall, _, _, _ = run(ours + args, tmpd / "exh.out")
                    e_text = (tmpd / "exh.out").read_text()
                    e_score = final_score(e_text)
                    diff = ("%+.3f %%" % (100.0 * (p_score - e_score) / e_score)
                            if p_score is not None and e_score else "-")
                    row += ["%.1f" % e_wall, str(n_moves(e_text)),
                            "%.8f" % e_score if e_score is not None else "-",
                            diff]
                if have_ref:
                    r_wall, _, _, r_rc = run([REFERENCE] + args, tmpd / "ref.out",
                                             timeout=opts.ref_timeout)
                    if r_rc is None:
                        row += ["> %.0f (stopped)" % opts.ref_timeout, "-"]
                    else:
                        r_score = final_score((tmpd / "ref.out").read_text())
                        row += ["%.1f" % r_wall,
                                "%.8f" % r_score if r_score is not None else "-"]
                rows.append(row)
                print("  ".join(row), flush=True)
    print()
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---:" if i > 1 else "---" for i in range(len(hdr))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
