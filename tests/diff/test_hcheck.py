"""hcheck and global N+1 against the reference (Ganeti 3.0.2's hcheck).

Differential cases compare stdout, stderr and exit status:

* every ``*.data`` of Ganeti's htools test data (``../shared/ganeti-testdata``;
  never copied here) with the main option sets, a few files with every
  algorithm option;
* clusters from :mod:`simulate.generator` (their parameters are recorded);
* hand-made inputs in ``tests/golden/hcheck/inputs`` (tie-breaking of the
  global N+1 placements, instance policies, the reference's crash on
  instances split over groups, and the shelltest fixtures Ganeti builds with
  hspace/hbal in offline-test.sh).

The cases run through :mod:`tests.harness.refdiff` (the reference live when
installed, else its recorded outputs in ``tests/golden/hcheck``), each in a
directory holding its input under its bare name.

Our hcheck runs in-process (fast); a few cases also run the installed entry
points as subprocesses.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import pytest

from tests.harness import refdiff

ROOT = refdiff.REPO
DATA = refdiff.DATA
SHELLTESTS = refdiff.SHARED / "ganeti-testdata" / "shelltests"
INPUTS = refdiff.GOLDEN / "hcheck" / "inputs"


# ------------------------------------------------------------------ runners

def run_ours(argv: Sequence[str], cwd: Optional[Path] = None) -> Tuple[str, str, int]:
    """Our hcheck in-process (as the ``hcheck`` console script would), in
    ``cwd`` if given."""
    from htools.cli.main import COMMANDS
    saved = sys.stdout, sys.stderr, sys.argv, os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = out, err
    sys.argv = ["hcheck"] + list(argv)
    try:
        if cwd is not None:
            os.chdir(cwd)
        status = COMMANDS["hcheck"].main(list(argv), standalone_mode=False)
    finally:
        sys.stdout, sys.stderr, sys.argv = saved[:3]
        os.chdir(saved[3])
    return out.getvalue(), err.getvalue(), status


# ------------------------------------------------------------------ inputs

class Input:
    """A cluster file: from the test data, generated, or hand-made."""

    def __init__(self, name: str, kind: str, params: Optional[dict] = None) -> None:
        self.name = name
        self.kind = kind          # "data" | "gen" | "file"
        self.params = params

    @property
    def spec(self) -> refdiff.InputSpec:
        if self.kind == "data":
            return {"testdata": self.name}
        if self.kind == "file":
            return {"golden": "hcheck/inputs/" + self.name}
        return {"generator": self.params}


def check(inp: Input, args: Sequence[str], tmp: Path, ours=run_ours) -> None:
    """Our hcheck and the reference's on ``-t INPUT ARGS``."""
    exp, got = refdiff.compare("hcheck", "hcheck", ["-t", inp.name] + list(args), tmp,
                               inputs={inp.name: inp.spec}, ours=ours)
    assert got == exp


# ------------------------------------------------------------------ test data

def _data_files() -> List[str]:
    return sorted(p.name for p in DATA.glob("*.data")) if DATA.is_dir() else []


DATA_FILES = _data_files()

ARG_SETS = [
    [], ["--machine-readable"], ["--no-simulation"], ["--no-capacity-checks"],
    ["--machine-readable", "--no-simulation"],
    ["--machine-readable", "--no-capacity-checks"],
    ["-q"], ["-q", "--no-simulation"], ["-v", "-v"],
]


@pytest.mark.parametrize("args", ARG_SETS, ids=lambda a: " ".join(a) or "default")
@pytest.mark.parametrize("name", DATA_FILES)
def test_data_file(name, args, tmp_path):
    check(Input(name, "data"), args, tmp_path)


OPTION_SETS = [
    ["-O", "node-01-001"], ["-O", "nosuchnode"], ["-E"], ["--no-disk-moves"],
    ["--no-instance-moves"], ["--ignore-soft-errors"], ["-l", "1"], ["-e", "5"],
    ["-g", "0", "--min-gain-limit", "0"], ["--max-cpu", "1"],
    ["--min-disk", "0.5"], ["--exclusion-tags", "service"], ["--ignore-dynu"],
    ["--select-instances", "new-0"], ["--exclude-instances", "new-0"],
]
OPTION_FILES = ["hbal-evac.data", "hbal-excl-tags.data", "hbal-migration-1.data",
                "n1-failure.data", "shared-n1-failure.data",
                "plain-n1-restriction.data", "hspace-tiered-mixed.data",
                "hspace-groups-two.data", "hbal-split-insts.data"]


@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda a: " ".join(a))
@pytest.mark.parametrize("name", OPTION_FILES)
def test_data_options(name, opts, tmp_path):
    check(Input(name, "data"), opts + ["--machine-readable"], tmp_path)


# ------------------------------------------------------------------ generated

ALL_TEMPLATES = {"plain": 5, "blockdev": 2, "sharedfile": 3, "rbd": 2, "ext": 1,
                 "gluster": 1, "diskless": 1, "file": 2, "drbd": 5}
FEATURES = dict(location_tags=True, migration_tags=True, desired_location=True,
                ipolicy=True, cpu_speed=True)

# (parameters, simulate?) -- the balancing simulation is hbal's loop in
# Python: big clusters only run without it or with a short one (-l)
GENERATED = [
    (dict(nodes=4, instances=12, seed=1), True),
    (dict(nodes=6, instances=20, groups=2, seed=2, offline_frac=0.2), True),
    (dict(nodes=8, instances=30, seed=3, location_tags=True,
          desired_location=True), True),
    (dict(nodes=10, instances=40, seed=4, migration_tags=True, ipolicy=True), True),
    (dict(nodes=12, instances=40, groups=3, seed=5, cpu_speed=True,
          overcommit=True), True),
    (dict(nodes=12, instances=50, seed=6, excl_storage_nodes=4), True),
    (dict(nodes=16, instances=48, groups=2, seed=7, offline_frac=0.15,
          forthcoming_frac=0.05), True),
    # (all nine templates with ipolicy=True break the generator's ipolicy
    # writer: it drops one template the cluster does not use)
    (dict(nodes=8, instances=40, groups=2, seed=11, offline_frac=0.3,
          templates={k: v for k, v in ALL_TEMPLATES.items() if k != "gluster"},
          ipolicy=True), True),
    (dict(nodes=6, instances=30, seed=12, skew=0.9, overcommit=True,
          templates={"plain": 3, "sharedfile": 3, "blockdev": 2, "drbd": 1},
          statuses={"running": 80, "ADMIN_down": 10, "ADMIN_offline": 10}), True),
    (dict(nodes=20, instances=60, seed=8, skew=0.9, templates=ALL_TEMPLATES), False),
    (dict(nodes=25, instances=75, groups=2, seed=9, skew=0.9), False),
    (dict(nodes=25, instances=100, seed=10, **FEATURES), False),
    (dict(nodes=25, instances=100, groups=2, seed=13, offline_frac=0.1,
          templates=ALL_TEMPLATES, overcommit=True), False),
]


def _gen_name(params: dict) -> str:
    text = json.dumps(params, sort_keys=True)
    return "gen-%dn-%di-s%d-%s" % (params["nodes"], params["instances"],
                                   params["seed"],
                                   hashlib.sha1(text.encode()).hexdigest()[:8])


def _gen_cases():
    for params, sim in GENERATED:
        if sim:
            sets = [[], ["--machine-readable"], ["--no-simulation"],
                    ["--machine-readable", "--no-capacity-checks"]]
        else:
            sets = [["--no-simulation"], ["--machine-readable", "--no-simulation"],
                    ["--machine-readable", "-l", "2"], ["-l", "1", "--no-capacity-checks"]]
        for args in sets:
            yield pytest.param(params, args,
                               id="%s-%s" % (_gen_name(params), " ".join(args) or "default"))


@pytest.mark.parametrize("params,args", list(_gen_cases()))
def test_generated(params, args, tmp_path):
    check(Input(_gen_name(params), "gen", params), args, tmp_path)


# ------------------------------------------------------------------ hand-made

HAND = ["tie-recreate.data", "tie-evac2.data", "policy.data", "split-crash.data",
        "simu-rebal-merged.standard", "simu-rebal.standard.balanced",
        "simu-onegroup.tiered"]
HAND_ARGS = [[], ["--machine-readable"], ["--no-simulation"], ["-q"],
             ["-q", "--no-simulation"], ["--machine-readable", "--no-simulation"],
             ["--no-capacity-checks"], ["--machine-readable", "--ignore-soft-errors"]]


@pytest.mark.parametrize("args", HAND_ARGS, ids=lambda a: " ".join(a) or "default")
@pytest.mark.parametrize("name", HAND)
def test_hand_made(name, args, tmp_path):
    check(Input(name, "file"), args, tmp_path)


# ------------------------------------------------------------------ entry points

def _entry_points():
    venv = ROOT / ".venv" / "bin" / "hcheck"
    eps = [("module", [sys.executable, "-m", "htools.cli", "hcheck"])]
    if venv.exists():
        eps.append(("script", [str(venv)]))
    return eps


@pytest.mark.parametrize("ep", _entry_points(), ids=lambda e: e[0])
@pytest.mark.parametrize("name,args", [
    ("split-crash.data", ["--machine-readable"]),
    ("split-crash.data", []),
    ("tie-recreate.data", []),
])
def test_entry_point(ep, name, args, tmp_path):
    def run_entry_point(argv, cwd):
        p = subprocess.run(ep[1] + list(argv), cwd=str(cwd), env=refdiff.run_env(),
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        return (p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"),
                p.returncode)
    check(Input(name, "file"), args, tmp_path, run_entry_point)


# ------------------------------------------------------------------ shelltests

def _shelltest_cases():
    """hcheck cases of Ganeti's shelltests that need only the test data or
    the fixtures kept in tests/golden/hcheck/inputs."""
    subst = {
        "$TESTDATA_DIR": str(DATA),
        "$BACKEND_BAL_STD": "-t" + str(INPUTS / "simu-rebal-merged.standard"),
        "$T/simu-rebal.standard.balanced": str(INPUTS / "simu-rebal.standard.balanced"),
        "$T/simu-onegroup.tiered": str(INPUTS / "simu-onegroup.tiered"),
    }
    cases = []
    if not SHELLTESTS.is_dir():
        return cases
    for tf in sorted(SHELLTESTS.glob("htools-*.test")):
        lines = tf.read_text().splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.startswith("./test/hs/hcheck"):
                continue
            cmd = line[len("./test/hs/hcheck"):]
            for k, v in subst.items():
                cmd = cmd.replace(k, v)
            exp = {"stdout": [], "stderr": None, "status": None}
            while i < len(lines) and lines[i].startswith(">>>"):
                e = lines[i]
                i += 1
                if e.startswith(">>>="):
                    exp["status"] = e[4:].strip()
                elif e.startswith(">>>2"):
                    body = []
                    while i < len(lines) and not lines[i].startswith(">>>"):
                        body.append(lines[i])
                        i += 1
                    exp["stderr"] = "\n".join(body)
                else:
                    exp["stdout"].append(e[3:].strip())
            if "$" in cmd:
                continue
            cases.append(pytest.param(shlex.split(cmd), exp,
                                      id="%s:%s" % (tf.stem, cmd.replace(str(DATA), "")
                                                    .replace(str(INPUTS), ""))))
    return cases


@pytest.mark.parametrize("argv,exp", _shelltest_cases())
def test_shelltest(argv, exp):
    if not DATA.is_dir():
        pytest.skip("Ganeti test data not available")
    out, err, st = run_ours(argv)
    for pat in exp["stdout"]:
        if pat.startswith("/") and pat.endswith("/"):
            assert re.search(pat[1:-1], out), (pat, out)
    if exp["stderr"] is not None:
        assert err.rstrip("\n") == exp["stderr"]
    if exp["status"] is not None:
        want = exp["status"]
        if want.startswith("!"):
            assert st != int(want[1:])
        else:
            assert st == int(want)


# ------------------------------------------------------------------ primitives

def test_ghc_sort_by_matches_sorted_and_is_stable():
    import random
    from htools.haskell.ordering import compare_int, ghc_sort_by
    rng = random.Random(5)
    for n in range(0, 40):
        xs = [(rng.randrange(6), i) for i in range(n)]
        got = ghc_sort_by(lambda a, b: compare_int(a[0], b[0]), xs)
        assert got == sorted(xs, key=lambda x: x[0])


def test_ghc_sort_by_nan_like_ghc():
    """NaN compares GT to everything in GHC; results worked out by hand
    from base's ``sortBy`` (runs, then pairwise merges)."""
    from htools.haskell.ordering import compare_double, ghc_sort_by
    nan = math.nan

    def ids(xs):
        return [x[1] for x in ghc_sort_by(lambda a, b: compare_double(a[0], b[0]), xs)]

    assert ids([(nan, 0), (1.0, 1), (0.0, 2)]) == [2, 1, 0]
    assert ids([(1.0, 0), (nan, 1), (0.0, 2)]) == [2, 1, 0]
    assert ids([(0.0, 0), (1.0, 1), (nan, 2), (0.5, 3)]) == [0, 3, 2, 1]


def _load(path: Path):
    from htools import extloader
    from htools.cli.options import parse_cmdline
    opts, _ = parse_cmdline("hcheck", ["-t", str(path)])
    cdata = extloader.load_external_data(opts)
    return ({n.idx: n for n in cdata.nodes}, {i.idx: i for i in cdata.instances},
            cdata)


def test_recreate_ties_go_to_last_candidate():
    """Two offline targets score the same; htools takes the last one, which
    here makes the second re-creation fail (the first one would not)."""
    from htools.alloc import globaln1
    nodes, insts, _ = _load(INPUTS / "tie-recreate.data")
    x = nodes[0]
    assert globaln1.can_evacuate_node(nodes, insts, x) is False
    # the decisive first choice: i1 (bigger memory) goes to nodeO2 (idx 2)
    res = globaln1.recreate(nodes, insts, insts[0], [1, 2])
    assert res is not None
    nl, _ = res
    assert 0 in nl[2].p_list and 0 not in nl[1].p_list


def test_evac_ties_go_to_last_candidate():
    from htools.alloc import globaln1
    nodes, insts, _ = _load(INPUTS / "tie-evac2.data")
    assert globaln1.can_evacuate_node(nodes, insts, nodes[0]) is True


def test_policy_checks():
    from htools.alloc.primitives import allocate_on_single, inst_matches_policy
    from htools.types import FailMode
    nodes, insts, cdata = _load(INPUTS / "policy.data")
    byname = {i.name: i for i in insts.values()}
    nbyname = {n.name: n for n in nodes.values()}
    a1, b1, b2, c2 = byname["a1"], byname["b1"], byname["b2"], byname["c2"]
    # plain not allowed in group-01
    assert inst_matches_policy(a1, nbyname["nodeA2"].ipolicy, False) == FailMode.FailDisk
    # 2000 MiB fits neither min/max pair of group-02: the first pair's failure
    assert inst_matches_policy(b1, nbyname["nodeB2"].ipolicy, False) == FailMode.FailMem
    assert inst_matches_policy(b2, nbyname["nodeB1"].ipolicy, False) is None
    # exclusive storage: unknown spindles
    assert inst_matches_policy(c2, nbyname["nodeC1"].ipolicy, True) == FailMode.FailSpindles
    el = allocate_on_single(True, nodes, b2, nbyname["nodeB1"].idx)
    assert not isinstance(el, FailMode)
    assert el.inst.pnode == nbyname["nodeB1"].idx and el.inst.snode == -1
    assert b2.idx in el.nodes[nbyname["nodeB1"].idx].p_list
    assert el.placed == [el.nodes[nbyname["nodeB1"].idx]]
    from htools.metrics import comp_cv
    assert el.score == comp_cv([el.nodes[k] for k in sorted(el.nodes)])


def test_split_instance_crash():
    from htools.alloc import globaln1
    from htools.cluster_info import split_cluster
    nodes, insts, cdata = _load(INPUTS / "split-crash.data")
    groups = split_cluster(nodes, insts)
    gdx, nl, il = groups[1]
    with pytest.raises(globaln1.MissingKey) as ei:
        globaln1.count_not_evacuable(nl, il)
    assert ei.value.key == 0
    assert globaln1.crash_text("hcheck", ei.value).startswith(
        "hcheck: IntMap.!: key 0 is not an element of the map\n")
    # with the whole cluster there is no crash
    assert globaln1.count_not_evacuable(nodes, insts) >= 0
