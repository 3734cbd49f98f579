#!/usr/bin/env python3
"""Record golden outputs of the reference Ganeti 3.0.2 htools binaries.

Usage::

    python tests/tools/make_golden.py                # everything
    python tests/tools/make_golden.py --only testdata --jobs 2
    python tests/tools/make_golden.py --only generated --case gen03-n10-i80
    python tests/tools/make_golden.py --list         # show planned cases
    python tests/tools/make_golden.py --check-drift  # generator vs golden

Cases (see tests/harness/golden_cases.py for the on-disk layout):

* for each ``*.data`` file of Ganeti's test data
  (``<repo>/../shared/ganeti-testdata/htools``; never copied into the repo)
  and for each generated cluster in :data:`GENERATED` (inputs regenerated
  from ``(seed, params)`` by ``simulate.generator``):

  - ``hinfo/<stem>__vp``:  ``hinfo -v -p --print-instances -t FILE``
    (skipped for big generated clusters)
  - ``hinfo/<stem>``:      ``hinfo -t FILE``
  - ``hbal/<stem>__save``: ``hbal -t FILE -S out`` (+ files out.original,
    out.balanced); when the reference refuses because of multiple node
    groups, the failing run is kept and ``hbal/<stem>__save-G`` runs again
    with ``-G <first listed group>``.

``<stem>`` is ``td-<basename without .data>`` or ``gen..-...``.  Every tool
runs with its cwd set to a scratch directory that holds the input under its
bare file name, so no absolute paths appear in the outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from tests.harness import golden_cases as gc  # noqa: E402
from simulate import generator  # noqa: E402

#: generated clusters: (label, generator params).  Sizes 5-60 nodes.
GENERATED: List[Tuple[str, Dict[str, object]]] = [
    ("basic-small", dict(nodes=5, instances=20, seed=1)),
    ("skewed", dict(nodes=8, instances=40, seed=2, skew=1.0)),
    ("preset-10x80", dict(nodes=10, instances=80, seed=3)),
    ("location", dict(nodes=12, instances=90, seed=4, location_tags=True)),
    ("migration", dict(nodes=12, instances=100, seed=5,
                       migration_tags=True)),
    ("desired-loc", dict(nodes=15, instances=120, seed=6,
                         location_tags=True, desired_location=True)),
    ("offline", dict(nodes=6, instances=30, seed=7, offline_frac=0.2)),
    ("offline-unknown", dict(nodes=10, instances=60, seed=8,
                             offline_frac=0.2, offline_unknown=True)),
    ("preset-20x200", dict(nodes=20, instances=200, seed=9)),
    ("groups2", dict(nodes=16, instances=100, groups=2, seed=10)),
    ("groups3", dict(nodes=24, instances=150, groups=3, seed=11)),
    ("groups4-offline", dict(nodes=30, instances=200, groups=4, seed=12,
                             offline_frac=0.1)),
    ("ipolicy", dict(nodes=10, instances=50, seed=13, ipolicy=True)),
    ("ipolicy-groups2", dict(nodes=14, instances=100, groups=2, seed=14,
                             ipolicy=True)),
    ("cpu-speed", dict(nodes=10, instances=70, seed=15, cpu_speed=True)),
    ("excl-storage", dict(nodes=12, instances=60, seed=16,
                          excl_storage_nodes=4)),
    ("excl-storage-groups2", dict(nodes=20, instances=120, groups=2,
                                  seed=17, excl_storage_nodes=5)),
    ("overcommit", dict(nodes=8, instances=90, seed=18, overcommit=True,
                        skew=1.0)),
    ("forthcoming", dict(nodes=10, instances=60, seed=19,
                         forthcoming_frac=0.1)),
    ("domain", dict(nodes=12, instances=80, seed=20,
                    domain=".example.com")),
    ("trim-columns", dict(nodes=10, instances=80, seed=21, columns="trim")),
    ("all-features-trim", dict(nodes=9, instances=100, seed=22,
                               columns="trim", location_tags=True,
                               migration_tags=True, desired_location=True,
                               ipolicy=True, cpu_speed=True)),
    ("all-features-40", dict(nodes=40, instances=120, seed=23,
                             location_tags=True, migration_tags=True,
                             desired_location=True, ipolicy=True,
                             cpu_speed=True, offline_frac=0.05)),
    ("big-60", dict(nodes=60, instances=180, seed=24, skew=0.8)),
    ("groups3-50", dict(nodes=50, instances=270, groups=3, seed=25,
                        location_tags=True)),
    ("no-instances", dict(nodes=5, instances=0, seed=26)),
    ("tiny", dict(nodes=5, instances=5, seed=27, empty_nodes=0)),
    ("drbd-only", dict(nodes=7, instances=40, seed=28,
                       templates={"drbd": 1})),
    ("statuses", dict(nodes=8, instances=60, seed=29,
                      statuses={"running": 10, "ADMIN_down": 2,
                                "ERROR_up": 2, "ADMIN_offline": 2,
                                "ERROR_down": 1, "USER_down": 1,
                                "ERROR_nodedown": 1,
                                "ERROR_wrongnode": 1})),
    ("unaccounted", dict(nodes=12, instances=100, seed=30,
                         unaccounted_mem=0.6, no_autobalance_frac=0.3)),
    ("new-empty-nodes", dict(nodes=6, instances=40, seed=31, skew=0.0,
                             empty_nodes=3)),
    ("mixed-25", dict(nodes=25, instances=180, groups=2, seed=32,
                      location_tags=True, ipolicy=True, cpu_speed=True,
                      domain=".example.org")),
]

#: no ``-p --print-instances`` run for generated clusters bigger than this
VP_MAX_NODES = 40
VP_MAX_INSTANCES = 200

#: extra metadata for cases whose reference behaviour is remarkable
KNOWN_NOTES: Dict[str, Dict[str, object]] = {
    "hbal/td-hbal-split-insts__save-G": {
        "reference_crash": True,
        "note": "Ganeti 3.0.2 hbal writes out.original, then crashes "
                "while writing out.balanced (left empty) with 'IntMap.!: "
                "key 7 is not an element of the map' - presumably the "
                "serializer looking up the node of a split instance that "
                "is outside the selected group",
    },
}

MULTI_GROUP_RE = re.compile(r"Found multiple node groups:\n  (\S+)")
SAVE_FILES = ("out.original", "out.balanced")


class Input:
    """An input cluster: testdata file or generated params."""

    def __init__(self, stem: str, file: str, spec: Dict[str, object],
                 text: str):
        self.stem = stem
        self.file = file
        self.spec = spec
        self.text = text
        self.big = False


def testdata_inputs() -> List[Input]:
    out = []
    if not gc.TESTDATA_DIR.is_dir():
        sys.stderr.write("warning: no test data in %s\n" % gc.TESTDATA_DIR)
        return out
    for path in sorted(gc.TESTDATA_DIR.glob("*.data")):
        out.append(Input("td-" + path.stem, path.name,
                         {"kind": "testdata", "file": path.name},
                         path.read_text()))
    return out


def generated_inputs() -> List[Input]:
    out = []
    for k, (label, params) in enumerate(GENERATED, 1):
        full = generator.resolve_params(**params)
        text = generator.generate_cluster(**full).to_text()
        stem = "gen%02d-%s" % (k, label)
        fname = stem + ".data"
        inp = Input(stem, fname,
                    {"kind": "generated", "file": fname, "params": full,
                     "sha256": gc.sha256_text(text)}, text)
        inp.big = (full["nodes"] > VP_MAX_NODES or
                   full["instances"] > VP_MAX_INSTANCES)
        out.append(inp)
    return out


def run_in_scratch(tool: str, inp: Input, args: List[str],
                   collect: Tuple[str, ...] = ()) -> gc.RunResult:
    with tempfile.TemporaryDirectory(prefix="mkgolden-") as tmp:
        with open(os.path.join(tmp, inp.file), "w", encoding="utf-8",
                  newline="\n") as fh:
            fh.write(inp.text)
        res = gc.run_reference(tool, args, tmp)
        for name in collect:
            p = os.path.join(tmp, name)
            if os.path.isfile(p):
                with open(p, encoding="utf-8", newline="") as fh:
                    res.files[name] = fh.read()
        return res


def store(tool: str, case: str, inp: Input, args: List[str],
          res: gc.RunResult, extra: Optional[Dict[str, object]] = None
          ) -> None:
    cdir = gc.GOLDEN_DIR / tool / case
    if cdir.exists():
        shutil.rmtree(cdir)
    cdir.mkdir(parents=True)
    files = {}
    for name, content in sorted(res.files.items()):
        if content is None:
            continue
        (cdir / "files").mkdir(exist_ok=True)
        rel = "files/" + name
        with open(cdir / rel, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
        files[name] = rel
    for name, content in (("stdout.txt", res.stdout),
                          ("stderr.txt", res.stderr)):
        with open(cdir / name, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
    meta: Dict[str, object] = {
        "tool": tool,
        "case": case,
        "args": args,
        "input": inp.spec,
        "exit_status": res.returncode,
        "files": files,
        "reference": {"binary": gc.reference_command(tool)[0],
                      "version": gc.REFERENCE_VERSION},
    }
    if extra:
        meta.update(extra)
    meta.update(KNOWN_NOTES.get("%s/%s" % (tool, case), {}))
    with open(cdir / "case.json", "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1, sort_keys=True)
        fh.write("\n")


def jobs_for(inp: Input, tools: List[str]):
    """Yield callables, each recording one or two golden cases."""
    if "hinfo" in tools:
        if not inp.big:
            def hinfo_vp(inp=inp):
                args = ["-v", "-p", "--print-instances", "-t", inp.file]
                store("hinfo", inp.stem + "__vp", inp, args,
                      run_in_scratch("hinfo", inp, args))
                return "hinfo/%s__vp" % inp.stem
            yield hinfo_vp

        def hinfo_plain(inp=inp):
            args = ["-t", inp.file]
            store("hinfo", inp.stem, inp, args,
                  run_in_scratch("hinfo", inp, args))
            return "hinfo/%s" % inp.stem
        yield hinfo_plain
    if "hbal" in tools:
        def hbal_save(inp=inp):
            args = ["-t", inp.file, "-S", "out"]
            res = run_in_scratch("hbal", inp, args, SAVE_FILES)
            store("hbal", inp.stem + "__save", inp, args, res)
            done = ["hbal/%s__save" % inp.stem]
            m = MULTI_GROUP_RE.search(res.stderr)
            gdir = gc.GOLDEN_DIR / "hbal" / (inp.stem + "__save-G")
            if res.returncode != 0 and m:
                args_g = args + ["-G", m.group(1)]
                res_g = run_in_scratch("hbal", inp, args_g, SAVE_FILES)
                store("hbal", inp.stem + "__save-G", inp, args_g, res_g,
                      {"variant_of": inp.stem + "__save",
                       "note": "rerun with -G <first group listed>"})
                done.append("hbal/%s__save-G" % inp.stem)
            elif gdir.exists():
                shutil.rmtree(gdir)
            return " ".join(done)
        yield hbal_save


def golden_size() -> int:
    total = 0
    for tool in gc.GOLDEN_TOOLS:
        for p in (gc.GOLDEN_DIR / tool).rglob("*"):
            if p.is_file():
                total += p.stat().st_size
    return total


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["testdata", "generated"])
    ap.add_argument("--tools", default=",".join(gc.GOLDEN_TOOLS))
    ap.add_argument("--case", action="append", default=[],
                    help="restrict to input stems starting with this")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--clean", action="store_true",
                    help="remove all existing td-*/gen* cases of the "
                    "selected tools first")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--check-drift", action="store_true",
                    help="only check that generated inputs still match")
    args = ap.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]

    if args.check_drift:
        bad = [c.id for c in gc.list_cases(kind="generated")
               if c.generator_drift()]
        for cid in bad:
            print("drift:", cid)
        print("%d drifted case(s)" % len(bad))
        return 1 if bad else 0

    inputs: List[Input] = []
    if args.only in (None, "testdata"):
        inputs += testdata_inputs()
    if args.only in (None, "generated"):
        inputs += generated_inputs()
    if args.case:
        inputs = [i for i in inputs
                  if any(i.stem.startswith(c) for c in args.case)]
    if args.list:
        for inp in inputs:
            print(inp.stem, inp.file, "(big: no -p run)" if inp.big else "")
        return 0
    for tool in tools:
        if not gc.reference_available(tool):
            sys.stderr.write("reference %s not installed\n" % tool)
            return 1

    if args.clean:
        # remove the cases of the selected inputs (all td-*/gen* cases of
        # the selected kind when no --case is given, to drop stale ones)
        prefixes = {"testdata": ("td-",), "generated": ("gen",),
                    None: ("td-", "gen")}[args.only]
        stems = {i.stem for i in inputs}
        for tool in tools:
            tdir = gc.GOLDEN_DIR / tool
            if not tdir.is_dir():
                continue
            for cdir in tdir.iterdir():
                if not (cdir / "case.json").is_file():
                    continue
                stem = cdir.name.split("__")[0]
                if stem in stems or (not args.case and
                                     cdir.name.startswith(prefixes)):
                    shutil.rmtree(cdir)

    jobs = [j for inp in inputs for j in jobs_for(inp, tools)]
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        for k, done in enumerate(ex.map(lambda f: f(), jobs), 1):
            print("[%d/%d %.0fs] %s" % (k, len(jobs), time.time() - t0,
                                        done), flush=True)
    print("golden size (hinfo+hbal): %.2f MB" % (golden_size() / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
