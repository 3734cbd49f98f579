"""hsqueeze: differential tests against the reference, plus unit tests.

* Ganeti's hsqueeze test data with many option combinations, and every
  other ``.data`` file with a few: the reference side goes through
  :mod:`tests.harness.refdiff` (live binary or golden file in
  ``tests/golden/diff-hsqueeze``); our side runs in-process.
* Subprocess cases (installed entry point) for ``-S``, ``-C FILE``, ``-X``
  and error exits, comparing the written files too.
* Generated clusters (``simulate.generator``, mostly externally mirrored
  instances, offline nodes, post-processed to carry ``htools:standby:``
  tags).  The input file name holds a hash of its content, so golden files
  are keyed by the exact input.
* Unit tests of :mod:`htools.squeeze`.
"""
from __future__ import annotations

import hashlib
import io
import random
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import pytest

from tests.harness import refdiff

SUITE = "diff-hsqueeze"
TOOL = "hsqueeze"

DATA_FILES = sorted(p.name for p in refdiff.DATA.glob("*.data")) \
    if refdiff.have_data() else []
SQUEEZE_FILES = [f for f in DATA_FILES if f.startswith("hsqueeze-")]
OTHER_FILES = [f for f in DATA_FILES if not f.startswith("hsqueeze-")]

#: Option sets for the hsqueeze data files.
SQUEEZE_OPTS = [
    [],
    ["-v"],
    ["-v", "-v", "-C"],
    ["--no-headers"],
    ["--no-headers", "--target-resources=1.0"],
    ["--no-headers", "--target-resources=0"],
    ["--no-headers", "--target-resources=0", "-C"],
    ["--minimal-resources=0", "-C"],
    ["--minimal-resources=4.0", "--target-resources=5.0", "-C"],
    ["--minimal-resources=4.0", "--target-resources=5.0", "-v", "-v"],
    ["--minimal-resources=2.5", "--target-resources=0.5", "-C", "-v", "-v", "-v"],
    ["--minimal-resources=-1", "--target-resources=-1", "-C"],
    ["--minimal-resources=1e3", "-C", "--no-headers"],
    ["--static-kvm-node-memory=0", "-v", "-v"],
    # floor of NaN/Infinity at Int is minBound (GHC's floorDoubleInt)
    ["--minimal-resources=NaN", "--target-resources=NaN", "-v"],
    ["--minimal-resources=Infinity", "--target-resources=-Infinity", "-C"],
]
#: Option sets for every other data file.
OTHER_OPTS = [
    ["-v", "-v", "-C"],
    ["--minimal-resources=0.5", "--target-resources=0.5", "-C"],
    ["--minimal-resources=3", "--no-headers", "-C"],
]

CASES = [(f, a) for f in SQUEEZE_FILES for a in SQUEEZE_OPTS] + \
    [(f, a) for f in OTHER_FILES for a in OTHER_OPTS]


def _read_files(tmp: Path, files: Sequence[str]) -> Dict:
    out = {}
    for name in files:
        p = tmp / name
        out[name] = refdiff.normalise(p.read_text(), tmp) if p.exists() else None
    return out


def run_inproc(args, tmp: Path, files: Sequence[str] = ()) -> dict:
    """Our hsqueeze in-process; same result shape as ``refdiff.run``."""
    from htools.cli.main import COMMANDS
    tmp.mkdir(parents=True, exist_ok=True)
    argv = refdiff.expand(args, tmp)
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            status = COMMANDS[TOOL].main(argv, standalone_mode=False)
        except SystemExit as e:  # pragma: no cover - defensive
            status = e.code
    finally:
        sys.stdout, sys.stderr = old
    return {"stdout": refdiff.normalise(out.getvalue(), tmp),
            "stderr": refdiff.normalise(err.getvalue(), tmp),
            "status": status or 0, "files": _read_files(tmp, files)}


def compare_inproc(args, tmp_path, files: Sequence[str] = ()):
    if not refdiff.have_data():
        pytest.skip("Ganeti test data not available")
    exp = refdiff.expected(SUITE, TOOL, args, tmp_path, files)
    if exp is None:
        pytest.skip("no reference binary and no golden file")
    got = run_inproc(args, tmp_path / "ours", files)
    return exp, got


@pytest.mark.parametrize("fname,opts", CASES,
                         ids=["%s:%s" % (f, " ".join(a)) for f, a in CASES])
def test_testdata_matches_reference(fname, opts, tmp_path):
    exp, got = compare_inproc(["-t", "{D}/" + fname] + opts, tmp_path)
    assert got == exp


@pytest.mark.parametrize("fname", SQUEEZE_FILES)
def test_save_and_script_files(fname, tmp_path):
    """-S writes FILE.original and FILE.squeezed, -CFILE a shell script."""
    for extra in ([], ["--minimal-resources=4", "--target-resources=0"],
                  ["--minimal-resources=0"]):
        tmp = tmp_path / ("x%d" % len(extra))
        args = ["-t", "{D}/" + fname, "-S", "{T}/out", "-C{T}/cmds.sh"] + extra
        files = ["out.original", "out.squeezed", "cmds.sh"]
        exp, got = compare_inproc(args, tmp, files)
        assert got == exp
        assert exp["files"]["out.original"] is not None


# ---------------------------------------------------------------- subprocess

SUBPROCESS_CASES = [
    # -X without Luxi: the error comes after the output (and after -C)
    ["-t", "{D}/hsqueeze-underutilized.data", "-X", "-C", "-S", "{T}/s"],
    ["-t", "{D}/hsqueeze-overutilized.data", "-X", "-S", "{T}/s"],
    # no action: nothing to execute, so -X gives no error
    ["-t", "{D}/hsqueeze-overutilized.data", "-X", "--minimal-resources=0",
     "-S", "{T}/s", "-C"],
    ["-t", "{D}/hsqueeze-underutilized.data", "-C{T}/cmds.sh", "--target-resources=0"],
    ["-t", "{D}/hsqueeze-underutilized.data", "-C{T}/nodir/cmds.sh"],
    ["-t", "{D}/hsqueeze-underutilized.data", "-S", "{T}/nodir/s"],
    ["-t", "{D}/hsqueeze-mixed-instances.data", "extra-arg"],
    ["-t", "{D}/nonexistent.data"],
    ["-t", "{D}/invalid-node.data"],
    ["-t", "{D}/empty-cluster.data", "-v", "-C", "-S", "{T}/s"],
    ["-I", "{D}/hail-alloc-drbd.json"],
    ["-t", "{D}/hsqueeze-mixed-instances.data", "--minimal-resources=abc"],
    ["-t", "{D}/hsqueeze-mixed-instances.data", "-q"],
    ["-t", "{D}/hsqueeze-mixed-instances.data", "-L", "-X"],
    [],
]


@pytest.mark.parametrize("args", SUBPROCESS_CASES,
                         ids=[" ".join(a) or "noargs" for a in SUBPROCESS_CASES])
def test_subprocess_matches_reference(args, tmp_path):
    files = ["s.original", "s.squeezed", "cmds.sh"]
    exp, got = refdiff.compare(SUITE, TOOL, args, tmp_path, files)
    assert got == exp


# ---------------------------------------------------------------- generated

STANDBY_TAGS = ["htools:standby:manual", "htools:standby:auto", "htools:standby:x"]

TEMPLATE_MIXES = [
    {"ext": 50, "rbd": 20, "sharedfile": 10, "drbd": 10, "plain": 10},
    {"ext": 80, "diskless": 10, "drbd": 10},
    {"ext": 100},
    None,
    {"rbd": 60, "plain": 20, "file": 20},
]


def add_standby_tags(text: str, rng: random.Random, frac: float) -> str:
    """Tag offline nodes (and a few online ones) with ``htools:standby:*``."""
    sections = text.split("\n\n")
    lines = []
    for ln in sections[1].split("\n"):
        f = ln.split("|")
        if len(f) > 10 and ((f[7] == "Y" and rng.random() < frac)
                            or (f[7] == "N" and rng.random() < 0.1)):
            tags = [t for t in f[10].split(",") if t]
            tags.append(rng.choice(STANDBY_TAGS))
            f[10] = ",".join(tags)
        lines.append("|".join(f))
    sections[1] = "\n".join(lines)
    return "\n\n".join(sections)


def gen_cluster(seed: int) -> str:
    """A small random cluster for hsqueeze (deterministic in ``seed``)."""
    from simulate.generator import generate
    rng = random.Random(seed)
    nodes = rng.randint(3, 12)
    insts = rng.randint(0, nodes * 5)
    kw = dict(templates=rng.choice(TEMPLATE_MIXES),
              offline_frac=rng.choice([0, 0.2, 0.4]),
              groups=rng.choice([1, 1, 1, 2]), ipolicy=rng.random() < 0.5,
              domain=rng.choice(["", "", ".example.com"]),
              skew=rng.random(), overcommit=rng.random() < 0.2,
              forthcoming_frac=rng.choice([0, 0, 0.1]),
              empty_nodes=rng.choice([None, 0, 2]))
    text = generate(nodes=nodes, instances=insts, seed=seed, **kw)
    return add_standby_tags(text, rng, 0.7)


#: seeds chosen to cover offline/online/no-action outcomes, common DNS
#: suffixes, two groups, forthcoming instances and many moves, yet run fast
GEN_SEEDS = [0, 2, 4, 5, 8, 12, 15, 17, 21, 24, 27, 33, 36, 38]
GEN_OPTS = [
    ["-v", "-v", "-C"],
    ["--minimal-resources=8", "--target-resources=0", "-C"],
    ["--minimal-resources=1", "--target-resources=3", "-C", "--no-headers"],
]
GEN_CASES = [(s, o) for s in GEN_SEEDS for o in GEN_OPTS]


def _gen_both(seed: int, tmp_path: Path) -> str:
    text = gen_cluster(seed)
    name = "gen-s%d-%s.data" % (seed, hashlib.sha1(text.encode()).hexdigest()[:10])
    # refdiff expands {T} to <tmp>/ref for the reference, <tmp>/ours for us
    for sub in ("ref", "ours"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        (tmp_path / sub / name).write_text(text)
    return name


@pytest.mark.parametrize("seed,opts", GEN_CASES,
                         ids=["s%d:%s" % (s, " ".join(o)) for s, o in GEN_CASES])
def test_generated_matches_reference(seed, opts, tmp_path):
    name = _gen_both(seed, tmp_path)
    exp, got = compare_inproc(["-t", "{T}/" + name] + opts, tmp_path)
    assert got == exp


@pytest.mark.parametrize("seed", [4, 24])
def test_generated_save_files(seed, tmp_path):
    name = _gen_both(seed, tmp_path)
    files = ["out.original", "out.squeezed", "cmds.sh"]
    for extra in ([], ["--minimal-resources=8"]):
        args = ["-t", "{T}/" + name, "-S", "{T}/out", "-C{T}/cmds.sh"] + extra
        exp, got = compare_inproc(args, tmp_path, files)
        assert got == exp


# ---------------------------------------------------------------- units

def _cluster(text: str):
    from backends.text import parse_data
    from htools.loader import merge_data, update_missing
    cdata = parse_data(text)
    merge_data(cdata)
    update_missing(cdata, 4096)
    return cdata


UNDER = """g|u1|preferred|

n0|512|0|258|1052|1052|9|M|u1|1
n1|512|0|258|1052|1052|9|N|u1|1
n2|512|0|385|1052|1052|9|N|u1|1
n3|512|0|385|1052|1052|9|N|u1|1
n4|512|0|512|1052|1052|9|Y|u1|1|htools:standby:auto
n5|512|0|512|1052|1052|9|Y|u1|1|other:tag

i0|127|0|1|running|Y|n0||ext||1
i1|127|0|1|running|Y|n1||ext||1
i2|127|0|1|running|Y|n1||ext||1
i3|127|0|1|running|Y|n2||ext||1
i4|127|0|1|running|Y|n3||plain||1

|127,1,0,0,1,1|127,1,0,1,1,1;256,1,0,0,2,2|ext|1.0|32.0
"""


def test_instance_from_spec_floors():
    from htools.squeeze import instance_from_spec
    from htools.types import DiskTemplate, ISpec
    spec = ISpec(memory_size=127, cpu_count=3, disk_size=1024, disk_count=1,
                 nic_count=1, spindle_use=2)
    inst = instance_from_spec("targetInstance", 1.5, spec)
    assert (inst.mem, inst.vcpus, inst.spindle_use, inst.dsk) == (190, 4, 3, 0)
    assert inst.disk_template == DiskTemplate.EXT and not inst.uses_local_storage
    neg = instance_from_spec("t", -0.5, spec)
    assert (neg.mem, neg.vcpus, neg.spindle_use) == (-64, -2, -1)
    nan = instance_from_spec("t", float("nan"), spec)
    assert nan.mem == -2 ** 63  # GHC's floorDoubleInt, as the reference
    inf = instance_from_spec("t", float("inf"), spec)
    assert inf.vcpus == -2 ** 63


def test_candidates():
    from htools.squeeze import Squeezer, has_standby_tag
    cdata = _cluster(UNDER)
    nodes = {n.idx: n for n in cdata.nodes}
    insts = {i.idx: i for i in cdata.instances}
    sq = Squeezer(nodes, insts)
    # master and the node with a plain instance are excluded; n1 (two
    # primaries) comes first, ties keep the node order
    assert [n.name for n in sq.offline_candidates()] == ["n1", "n2"]
    assert [n.name for n in sq.online_candidates()] == ["n4"]
    assert has_standby_tag(nodes[4]) and not has_standby_tag(nodes[5])


def test_plan_offline_and_commands():
    from htools import squeeze
    cdata = _cluster(UNDER)
    nodes = {n.idx: n for n in cdata.nodes}
    insts = {i.idx: i for i in cdata.instances}
    p = squeeze.plan(nodes, insts, cdata.ipolicy.std, 2.0, 0.0)
    assert p.action == "offline"
    names = [n.name for n in p.nodes]
    assert names and all(n in ("n1", "n2") for n in names)
    # every instance ends on an online node, nothing changed in the input
    assert all(not p.result.nodes[i.pnode].offline for i in p.result.insts.values())
    assert not nodes[1].offline and not nodes[2].offline
    cmds = squeeze.offline_commands(p)
    assert "\necho Tagging Commands\n" in cmds
    for n in names:
        assert "  gnt-node add-tags %s htools:standby:auto\n" % n in cmds
        assert "  gnt-node power -f off %s\n" % n in cmds


def test_offline_opcodes():
    from htools import squeeze
    cdata = _cluster(UNDER)
    nodes = {n.idx: n for n in cdata.nodes}
    insts = {i.idx: i for i in cdata.instances}
    p = squeeze.plan(nodes, insts, cdata.ipolicy.std, 2.0, 0.0)
    names = [n.name for n in p.nodes]
    ops = squeeze.offline_opcodes(p, nodes, insts)
    assert ops[-1][1] == "Powering off nodes"
    power = ops[-1][0][0]
    assert [o["OP_ID"] for o in power] == ["OP_NODE_SET_PARAMS"] * len(names) \
        + ["OP_OOB_COMMAND"]
    assert power[-1]["command"] == "power-off" and power[-1]["node_names"] == names
    tags = [o for o in ops if o[1].startswith("Tagging node ")]
    assert [t[0][0][0]["tags"] for t in tags] == [["htools:standby:auto"]] * len(names)
    moves = [o for o in ops if o[1].startswith("Moving instances ")]
    assert len(moves) == len(p.jobsets)


def test_plan_online():
    from htools import squeeze
    cdata = _cluster(UNDER)
    nodes = {n.idx: n for n in cdata.nodes}
    insts = {i.idx: i for i in cdata.instances}
    p = squeeze.plan(nodes, insts, cdata.ipolicy.std, 5.0, 0.0)
    assert p.action == "online"
    # the only standby node is not enough: all candidates, flagged
    assert [n.name for n in p.nodes] == ["n4"] and not p.enough
    cmds = squeeze.online_commands(p)
    assert cmds.startswith("echo Power Commands\n  gnt-node power -f on n4\n")
    ops = squeeze.online_opcodes(p, nodes, insts)
    assert ops[0][1] == "Powering on nodes"
    assert ops[0][0][0][0]["offline"] is False


def test_plan_no_action():
    from htools import squeeze
    cdata = _cluster(UNDER)
    nodes = {n.idx: n for n in cdata.nodes}
    insts = {i.idx: i for i in cdata.instances}
    p = squeeze.plan(nodes, insts, cdata.ipolicy.std, 0.0, 100.0)
    assert p.action == "none" and p.nodes == [] and p.result is None


def test_greedy_decides_from_the_end():
    """The last candidate is tried first; earlier ones join if still OK."""
    from htools.squeeze import Squeezer, instance_from_spec
    cdata = _cluster(UNDER)
    nodes = {n.idx: n for n in cdata.nodes}
    insts = {i.idx: i for i in cdata.instances}
    sq = Squeezer(nodes, insts)
    cands = sq.offline_candidates()
    tried: List[List[str]] = []
    orig = sq.can_online_offline

    def spy(offline, inst, nds):
        tried.append([n.name for n in nds])
        return orig(offline, inst, nds)

    sq.can_online_offline = spy
    sq.greedy_offline(instance_from_spec("t", 0.0, cdata.ipolicy.std), cands)
    assert tried[0] == ["n2"]
    assert tried[1] in (["n1", "n2"], ["n1"])
