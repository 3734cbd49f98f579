#!/usr/bin/env python3
"""hspace benchmark: our hspace against the reference (Ganeti 3.0.2) hspace.

Each case runs ``hspace ARGS`` with both programs, one after the other, in
the same run; the table shows wall and CPU (user+sys) seconds, the ratios
reference/ours, whether the whole stdout is identical, and our peak RSS
(``ru_maxrss`` of the child, from ``os.wait4``).  A reference run that
exceeds ``--timeout`` is stopped and reported as ``> T``.

Cases (``--simulate`` clusters, DRBD, tiered + standard allocation):

* ``20``:   ``p,20,2t,131072,32`` - 20 nodes;
* ``100``:  ``p,100,8t,262144,64`` - the issue's 100-node case (the
  reference needs about two minutes: thousands of tiered shrink levels,
  each a full tryAlloc over ~10 000 node pairs);
* ``1000``: ``p,1000,1t,131072,32`` with ``-l 60`` (each allocation weighs
  ~1 000 000 node pairs; 60 per phase keeps the reference's run bounded).

Usage::

    .venv/bin/python bench/hspace_bench.py                  # all cases
    .venv/bin/python bench/hspace_bench.py --cases 100 --timeout 900
    .venv/bin/python bench/hspace_bench.py --no-reference   # ours only
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
REFERENCE = os.environ.get("HTOOLS_REFERENCE_HSPACE",
                           "/usr/lib/ganeti/3.0/usr/bin/hspace")

CASES = {
    "20": ["--simulate=p,20,2t,131072,32", "--disk-template=drbd"],
    "100": ["--simulate=p,100,8t,262144,64", "--disk-template=drbd"],
    "1000": ["--simulate=p,1000,1t,131072,32", "--disk-template=drbd",
             "-l", "60"],
}


def ours() -> List[str]:
    cand = Path(sys.executable).parent / "hspace"
    if cand.exists():
        return [str(cand)]
    return [str(REPO / ".venv" / "bin" / "hspace")]


def run(cmd: List[str], out_path: Path, timeout: Optional[float]
        ) -> Tuple[Optional[float], float, int, int]:
    """(wall or None on timeout, cpu, peak RSS KiB, status)."""
    with open(out_path, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                _, status, ru = os.wait4(proc.pid, 0)
                return None, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, -9
            time.sleep(0.02)
        wall = time.perf_counter() - t0
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, os.waitstatus_to_exitcode(status)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="stop a reference run after this many seconds")
    ap.add_argument("--no-reference", action="store_true")
    args = ap.parse_args(argv)
    have_ref = not args.no_reference and os.access(REFERENCE, os.X_OK)
    rows = ["| nodes | hspace arguments | reference wall / cpu s | ours wall / cpu s "
            "| speed-up wall / cpu | same output | our peak RSS |",
            "|---|---|---|---|---|---|---|"]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            hargs = CASES[name]
            ow, oc, orss, ost = run(ours() + hargs, Path(tmp) / "ours", None)
            ref_cell = speed = same = "-"
            if have_ref:
                rw, rc, _, rst = run([REFERENCE] + hargs, Path(tmp) / "ref",
                                     args.timeout)
                if rw is None:
                    ref_cell = "> %.0f (stopped) / %.1f" % (args.timeout, rc)
                    speed = "> %.0f× / > %.0f×" % (args.timeout / ow, rc / oc)
                else:
                    ref_cell = "%.2f / %.2f" % (rw, rc)
                    speed = "%.0f× / %.0f×" % (rw / ow, rc / oc)
                    eq = ((Path(tmp) / "ours").read_text()
                          == (Path(tmp) / "ref").read_text() and ost == rst)
                    same = "yes" if eq else "**no**"
                    ok = ok and eq
            rows.append("| %s | `%s` | %s | %.2f / %.2f | %s | %s | %.0f MiB |"
                        % (name, " ".join(hargs), ref_cell, ow, oc, speed, same,
                           orss / 1024.0))
            print(rows[-1], file=sys.stderr)
    print("\n".join(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
