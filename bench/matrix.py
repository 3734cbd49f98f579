#!/usr/bin/env python3
"""The benchmark matrix: every tool of ours against the reference, same inputs, same run.

Each case runs the reference (Ganeti 3.0.2) and ours alternately
(``--repeat`` times each, once when the reference needs over 10 s; median
wall-clock seconds, start-up included) on
the same input; the table gives both times, the ratio reference/ours (above 1:
ours is faster), whether the outputs are identical, and for each family of
cases that differ only in cluster size the growth exponent of each
implementation between consecutive sizes (``log(t2/t1) / log(n2/n1)``).

Families:

* start-up: ``hinfo -t``, ``hbal -t``, ``hail`` (allocate) on a 5-node cluster;
* ``hbal -t`` on generated clusters of 10/80 and 20/200 nodes/instances
  (bigger ones in ``bench/hbal_bench.py``: the reference needs 15 minutes
  for 50/600);
* ``hinfo``, ``hcheck``, ``hroller`` on generated clusters of 10, 100 and
  1000 nodes, ``hsqueeze`` on 10 and 100 (the reference's ``hsqueeze`` runs
  for minutes at 100 nodes: stopped after 300 s);
* ``hspace --simulate p,N,2T,128g,32`` for the disk templates plain, drbd,
  file, sharedfile, diskless (N = 12, 40; 100 for plain and drbd), with and
  without ``--no-capacity-checks``, and ``--tiered-alloc`` for drbd;
* ``hail`` of every request type - an allocate (drbd, plain), a node-evacuate
  (primary-only, secondary-only), a relocate, a multi-allocate, an
  allocate-secondary and a change-group (two groups) - on clusters of 10,
  100 and 1000 nodes.

Usage::

    .venv/bin/python bench/matrix.py                 # the whole matrix (~30 min)
    .venv/bin/python bench/matrix.py --quick         # the small sizes only
    .venv/bin/python bench/matrix.py --only hspace --repeat 3
    .venv/bin/python bench/matrix.py --only hail --skip change-group
    .venv/bin/python bench/matrix.py --markdown out.md

The reference must be installed (``apt-get install ganeti``); outputs that
differ are flagged, not hidden.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.hail_bench import alloc_request, cluster, evac_request  # noqa: E402
from simulate.requests import make_request  # noqa: E402
from simulate.generator import generate  # noqa: E402

REF_BIN = Path("/usr/lib/ganeti/3.0/usr/bin")
REF_HAIL = Path("/usr/lib/ganeti/iallocators/hail")


def ours(tool: str) -> str:
    cand = Path(sys.executable).parent / tool
    return str(cand if cand.exists() else HERE.parent / ".venv" / "bin" / tool)


def ref(tool: str) -> str:
    return str(REF_HAIL if tool == "hail" else REF_BIN / tool)


class Case(NamedTuple):
    family: str      # cases of one family differ in size only
    size: int        # nodes
    tool: str
    args: List[str]  # {F}: the input file
    input: Optional[str] = None   # text of the input file
    suffix: str = ".data"
    timeout: float = 900.0


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # bytecode cached, as installed
    env["LC_ALL"] = env["LANG"] = "C.UTF-8"
    return env


def _run(cmd: List[str], cwd: str, timeout: float) -> Tuple[float, str, int]:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return math.inf, "", -1
    dt = time.perf_counter() - t0
    return dt, p.stdout.decode("utf-8", "replace"), p.returncode


def _strip(tool: str, out: str) -> str:
    if tool != "hail":
        return out
    try:
        doc = json.loads(out)
    except ValueError:
        return out
    doc.pop("explanation", None)
    return json.dumps(doc, sort_keys=True)


class Result(NamedTuple):
    case: Case
    ref: float
    ours: float
    same: Optional[bool]     # None: the reference was stopped


def run_case(case: Case, repeat: int, ref_timeout: float = math.inf) -> Result:
    with tempfile.TemporaryDirectory(prefix="matrix-") as tmp:
        args = list(case.args)
        if case.input is not None:
            path = Path(tmp) / ("input" + case.suffix)
            path.write_text(case.input)
            args = [a.replace("{F}", str(path)) for a in args]
        # warm-up (file cache, bytecode) then alternate
        _run([ours(case.tool)] + args, tmp, case.timeout)
        rt, ot = [], []
        rout = oout = ""
        rst = ost = 0
        for _ in range(repeat):
            dt, rout, rst = _run([ref(case.tool)] + args, tmp,
                                 min(case.timeout, ref_timeout))
            rt.append(dt)
            dt, oout, ost = _run([ours(case.tool)] + args, tmp, case.timeout)
            ot.append(dt)
            if rt[-1] > 10:     # long cases: one pair is measurement enough
                break
        same: Optional[bool] = ((rst, _strip(case.tool, rout))
                                == (ost, _strip(case.tool, oout)))
        if not math.isfinite(rt[-1]):
            same = None     # the reference was stopped: nothing to compare
        return Result(case, statistics.median(rt), statistics.median(ot), same)


# ---------------------------------------------------------------- the cases

def _gen(nodes: int, instances: int, seed: int = 1, **kw) -> str:
    return generate(nodes=nodes, instances=instances, seed=seed, **kw)


def cases(quick: bool) -> List[Case]:
    out: List[Case] = []
    small = _gen(5, 10)
    out.append(Case("start-up hinfo -t", 5, "hinfo", ["-t", "{F}"], small))
    out.append(Case("start-up hbal -t", 5, "hbal", ["-t", "{F}"], small))
    doc5 = cluster(5)
    out.append(Case("start-up hail allocate", 5, "hail", ["{F}"],
                    json.dumps(alloc_request(doc5, "drbd")), ".json"))
    for n, i in ((10, 80), (20, 200))[: 1 if quick else 2]:
        out.append(Case("hbal -t", n, "hbal", ["-t", "{F}"], _gen(n, i)))
    sizes = (10, 100) if quick else (10, 100, 1000)
    for n in sizes:
        text = _gen(n, 4 * n, groups=1)
        out.append(Case("hinfo -t", n, "hinfo", ["-t", "{F}"], text))
        out.append(Case("hcheck -t --no-simulation", n, "hcheck",
                        ["-t", "{F}", "--no-simulation"], text))
        out.append(Case("hroller -t", n, "hroller", ["-t", "{F}"], text))
        if n <= 100:    # the reference needs minutes at 100 nodes
            out.append(Case("hsqueeze -t", n, "hsqueeze", ["-t", "{F}"], text,
                            timeout=300.0))
    for tmpl in ("plain", "drbd", "file", "sharedfile", "diskless"):
        for n in ((12,) if quick else (12, 40, 100) if tmpl in ("plain", "drbd")
                  else (12, 40)):
            for extra in ([], ["--no-capacity-checks"]):
                out.append(Case("hspace %s%s" % (tmpl, " " + extra[0] if extra else ""),
                                n, "hspace",
                                ["--simulate", "p,%d,2T,128g,32" % n,
                                 "--disk-template", tmpl, "--machine-readable"] + extra))
    for n in ((12,) if quick else (12, 40)):
        out.append(Case("hspace drbd --tiered-alloc", n, "hspace",
                        ["--simulate", "p,%d,2T,128g,32" % n, "--disk-template", "drbd",
                         "--tiered-alloc", "102400,8192,4", "--machine-readable"]))
    for n in ((10, 100) if quick else (10, 100, 1000)):
        doc = cluster(n)
        node = sorted(doc["nodes"])[len(doc["nodes"]) // 2]
        reqs = [("allocate drbd", alloc_request(doc, "drbd")),
                ("allocate plain", alloc_request(doc, "plain")),
                ("node-evacuate primary-only", evac_request(doc, "primary-only", node)),
                ("node-evacuate secondary-only", evac_request(doc, "secondary-only", node))]
        inst = next(name for name, i in sorted(doc["instances"].items())
                    if i["disk_template"] == "drbd")
        reloc = json.loads(json.dumps(doc))
        reloc["request"] = {"type": "relocate", "name": inst,
                            "relocate_from": [doc["instances"][inst]["nodes"][1]],
                            "required_nodes": 1}
        reqs.append(("relocate", reloc))
        for rtype in ("multi-allocate", "allocate-secondary", "change-group"):
            reqs.append((rtype, make_request(
                2, rtype, nodes=n, groups=2 if rtype == "change-group" else 1,
                inst_per_node=4, load=0.3, tags=False, offline_frac=0.0,
                templates={"drbd": 1, "plain": 1} if rtype == "allocate-secondary"
                else {"drbd": 1}, excl_storage=False, networks=False,
                policy_variety=False, node_class=4)))
        for label, req in reqs:
            out.append(Case("hail " + label, n, "hail", ["{F}"], json.dumps(req), ".json"))
    return out


# ---------------------------------------------------------------- report

def _exp(t1: float, t2: float, n1: int, n2: int) -> str:
    if not (t1 > 0 and t2 > 0 and math.isfinite(t1) and math.isfinite(t2)):
        return "-"
    return "%.2f" % (math.log(t2 / t1) / math.log(n2 / n1))


def _secs(t: float, limit: Optional[float] = None) -> str:
    if not math.isfinite(t):
        return "> %g" % limit if limit is not None else "timeout"
    return "%.3f" % t


def table(results: Sequence[Result], ref_limit: Optional[float] = None) -> str:
    lines = ["| case | nodes | reference s | ours s | ref/ours | same | growth ref | growth ours |",
             "|---|---:|---:|---:|---:|:-:|---:|---:|"]
    prev: Dict[str, Result] = {}
    for r in results:
        c = r.case
        p = prev.get(c.family)
        ge_r = _exp(p.ref, r.ref, p.case.size, c.size) if p else ""
        ge_o = _exp(p.ours, r.ours, p.case.size, c.size) if p else ""
        if math.isfinite(r.ref):
            ratio = "%.2f" % (r.ref / r.ours) if r.ours > 0 and math.isfinite(r.ours) \
                else "-"
        else:
            limit = min(c.timeout, ref_limit or math.inf)
            ratio = "> %.0f" % (limit / r.ours) if r.ours > 0 and math.isfinite(r.ours) \
                else "-"
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s |"
                     % (c.family, c.size, _secs(r.ref, min(c.timeout, ref_limit or math.inf)),
                        _secs(r.ours), ratio,
                        "-" if r.same is None else "yes" if r.same else "**no**",
                        ge_r, ge_o))
        prev[c.family] = r
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the small sizes only")
    ap.add_argument("--only", default="",
                    help="cases whose family contains one of these (comma-separated)")
    ap.add_argument("--skip", default="",
                    help="leave out cases whose family contains one of these")
    ap.add_argument("--ref-timeout", type=float, default=900.0,
                    help="stop a reference run after this many seconds (shown as "
                    "'> N'; the ratio is then a lower bound)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", help="also write the table to this file")
    args = ap.parse_args(argv)
    if not Path(ref("hbal")).exists():
        sys.stderr.write("the reference htools are not installed\n")
        return 1
    results = []
    for case in cases(args.quick):
        if args.only and not any(o and o in case.family for o in args.only.split(",")):
            continue
        if any(o and o in case.family for o in args.skip.split(",")):
            continue
        r = run_case(case, args.repeat, args.ref_timeout)
        results.append(r)
        sys.stderr.write("%-40s %5d  ref %8s  ours %8s  %s\n"
                         % (case.family, case.size, _secs(r.ref), _secs(r.ours),
                            "-" if r.same is None else "same" if r.same
                            else "DIFFERENT"))
    text = table(results, args.ref_timeout)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0 if all(r.same is not False for r in results) else 2


if __name__ == "__main__":
    sys.exit(main())
