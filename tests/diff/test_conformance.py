"""Conformance regressions: instances spanning node groups, the same node as
primary and secondary, tiered shrinking, a DRBD instance without a
secondary, hbal's -v5 group check lines; plus generated clusters of those
shapes (simulate.generator's split_drbd_frac / samenode_frac / tight_cpu,
with and without an ipolicy section), each against the reference.

The input files are in tests/regressions/ (copied to the per-case
directory); the reference's outputs are kept as golden files under
tests/golden/conformance/ for machines without the reference binaries.
"""
import hashlib
import shutil
from pathlib import Path

import pytest

from tests.harness.refdiff import compare

REG = Path(__file__).resolve().parents[1] / "regressions"


def _stage(tmp_path: Path, name: str, text: str = None) -> str:
    for sub in ("ref", "ours"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        if text is None:
            shutil.copy(REG / name, tmp_path / sub / name)
        else:
            (tmp_path / sub / name).write_text(text)
    return "{T}/" + name


def _same(exp, got):
    assert got["stdout"] == exp["stdout"]
    assert got["stderr"] == exp["stderr"]
    assert got["status"] == exp["status"]
    assert got["files"] == exp["files"]


#: (tool, input file, options); the input is passed with -t (or -I / as
#: hail's argument for .json)
FILE_CASES = [
    # 1. a DRBD instance whose secondary is in another group
    ("hspace", "split-drbd.data", ["--machine-readable", "-l", "20"]),
    ("hspace", "split-drbd.data", ["-l", "5"]),
    ("hspace", "split-drbd.data", ["--independent-groups", "-l", "5"]),
    ("hspace", "split-n1.data", ["-v", "-v", "-v", "-v", "-l", "5"]),
    ("hspace", "split-n1.data", ["-O", "n1,n2,n3,n4"]),
    ("hbal", "split-n1.data", ["-G", "g1", "-C", "-v"]),
    ("hbal", "split-n1.data", ["-G", "g1", "-C", "-v", "-v", "-v", "-v", "-v"]),
    ("hinfo", "split-n1.data", ["-v", "-v"]),
    # 2. a non-DRBD instance with the same node as primary and secondary
    ("hinfo", "samenode-blockdev.data", ["-p", "-v", "-v", "-v", "--print-instances"]),
    ("hbal", "samenode-blockdev.data", ["-C", "-p", "-v", "-v", "-v", "-v", "-v"]),
    ("hroller", "samenode-blockdev.data", ["-v", "-v"]),
    ("hsqueeze", "samenode-blockdev.data", ["-v", "-v", "-v"]),
    ("hcheck", "samenode-blockdev.data", ["--machine-readable", "-v"]),
    ("hspace", "samenode-blockdev.data", ["--machine-readable", "-l", "10"]),
    ("hail", "hail-inst-same-pri-sec.json", []),
    ("hbal", "hail-inst-same-pri-sec.json", ["-C", "-v", "-v", "-v", "-v", "-v"]),
    ("hcheck", "hail-inst-same-pri-sec.json", []),
    # 3. tiered allocation stops where the reference stops
    ("hspace", "tiered-293.data", ["--machine-readable", "-l", "20"]),
    ("hspace", "tiered-293.data", ["-v", "-v", "-v"]),
    ("hspace", "tiered-127.data", ["--machine-readable", "-l", "20"]),
    ("hspace", "tiered-127.data", ["-v", "-v", "-v"]),
    # 4. the formerly slow cluster (same output; speed in the report)
    ("hspace", "slow-hspace.data", ["--machine-readable", "-l", "20"]),
    # checkGroup's -v5 lines with policy-violating nodes
    ("hbal", "slow-hspace.data", ["-G", "default", "-v", "-v", "-v", "-v", "-v", "-l", "1"]),
]


def _args(tool: str, path: str, opts):
    if tool == "hail":
        return opts + [path]
    flag = "-I" if path.endswith(".json") else "-t"
    return [flag, path] + opts


@pytest.mark.parametrize("tool,name,opts", FILE_CASES,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_regression_file(tool, name, opts, tmp_path):
    path = _stage(tmp_path, name)
    _same(*compare("conformance", tool, _args(tool, path, opts), tmp_path))


def test_drbd_without_secondary(tmp_path):
    """htools crashes (``IntMap.!: key -1``) when hbal evaluates the moves
    of a DRBD instance that has no secondary; ours gives the same output
    and status with one clear error line instead."""
    path = _stage(tmp_path, "drbd-no-secondary.data")
    exp, got = compare("conformance", "hbal", ["-t", path], tmp_path)
    assert exp["status"] == 1 and "key -1" in exp["stderr"]
    assert got["stdout"] == exp["stdout"]
    assert got["status"] == exp["status"]
    warn = exp["stderr"].split("hbal: IntMap")[0]
    assert got["stderr"] == warn + ("Error: instance dns1 uses disk template drbd "
                                    "but has no secondary node\n")
    assert "Traceback" not in got["stderr"]


def test_drbd_without_secondary_no_disk_moves(tmp_path):
    """Without disk moves htools never looks the secondary up."""
    path = _stage(tmp_path, "drbd-no-secondary.data")
    _same(*compare("conformance", "hbal", ["-t", path, "--no-disk-moves"], tmp_path))


# --------------------------------------------------------------------------
# Generated clusters of these shapes

GEN_CASES = [
    ("hspace", 1, dict(groups=2, split_drbd_frac=0.3), ["--machine-readable", "-l", "20"]),
    ("hspace", 2, dict(groups=3, split_drbd_frac=0.2, samenode_frac=0.2),
     ["--independent-groups", "-l", "10"]),
    ("hspace", 5, dict(groups=1, samenode_frac=0.3,
                       templates={"plain": 3, "blockdev": 2, "drbd": 3, "sharedfile": 1}),
     ["--machine-readable", "-l", "20"]),
    ("hspace", 20, dict(groups=1, tight_cpu=True, ipolicy=True, instances=10, nodes=6),
     ["--machine-readable", "-l", "30", "--tiered-alloc", "20480,2048,4,3"]),
    ("hspace", 20, dict(groups=1, tight_cpu=True, excl_storage_nodes=3, ipolicy=True,
                        instances=10, nodes=6),
     ["--machine-readable", "-l", "30", "--tiered-alloc", "20480,2048,4,3"]),
    ("hbal", 6, dict(groups=2, split_drbd_frac=0.3),
     ["-G", "group-01", "-C", "-v", "-v", "-v", "-v", "-v"]),
    ("hbal", 7, dict(groups=1, samenode_frac=0.3,
                     templates={"plain": 3, "blockdev": 2, "drbd": 3, "diskless": 1}),
     ["-C", "-v", "-v", "-v"]),
    ("hcheck", 8, dict(groups=3, split_drbd_frac=0.2, samenode_frac=0.2, ipolicy=True),
     ["--machine-readable", "-v"]),
    ("hinfo", 9, dict(groups=2, split_drbd_frac=0.3, samenode_frac=0.3), ["-v", "-v", "-p"]),
    ("hroller", 10, dict(groups=1, samenode_frac=0.3,
                         templates={"plain": 3, "blockdev": 2, "drbd": 3}), ["-v"]),
    ("hsqueeze", 11, dict(groups=1, samenode_frac=0.3,
                          templates={"plain": 3, "blockdev": 2, "drbd": 3}), ["-v"]),
]


@pytest.mark.parametrize("tool,seed,params,opts", GEN_CASES,
                         ids=lambda v: (" ".join(v) if isinstance(v, list) else
                                        ",".join("%s=%s" % kv for kv in sorted(v.items()))
                                        if isinstance(v, dict) else str(v)))
def test_generated_shape(tool, seed, params, opts, tmp_path):
    from simulate.generator import generate
    params = dict(params)
    nodes = params.pop("nodes", 8)
    instances = params.pop("instances", 30)
    text = generate(nodes=nodes, instances=instances, seed=seed, **params)
    name = "gen-%d-%s.data" % (seed, hashlib.sha1(text.encode()).hexdigest()[:8])
    path = _stage(tmp_path, name, text)
    _same(*compare("conformance", tool, ["-t", path] + opts, tmp_path))


def test_generator_shapes():
    """The new generator parameters produce the shapes they promise, and
    leave every other parameter set's output unchanged."""
    from simulate.generator import generate_cluster, generate
    c = generate_cluster(nodes=8, instances=40, groups=3, seed=4,
                         split_drbd_frac=0.5, samenode_frac=0.5, tight_cpu=True)
    split = [i for i in c.instances if i.template == "drbd"
             and c.nodes[i.pnode].group != c.nodes[i.snode].group]
    same = [i for i in c.instances if i.snode == i.pnode]
    assert split and same
    assert all(i.template != "drbd" for i in same)
    assert all(n.tcpu <= 8 for n in c.nodes)
    text = c.to_text()
    assert any("|%s|%s|" % (c.nodes[i.pnode].name, c.nodes[i.pnode].name) in text
               for i in same)
    # off by default: identical to a run that never heard of them
    assert generate(nodes=8, instances=40, groups=3, seed=4) == generate(
        nodes=8, instances=40, groups=3, seed=4, split_drbd_frac=0.0,
        samenode_frac=0.0, tight_cpu=False)


HAIL_CASES = [
    ("allocate", 0, dict(samenode_frac=0.25)),
    ("relocate", 1, dict(samenode_frac=0.25)),
    ("node-evacuate", 2, dict(groups=3, samenode_frac=0.2, split_frac=0.2, nodes=10)),
    ("change-group", 1, dict(groups=2, split_frac=0.3, nodes=8)),
    ("multi-allocate", 2, dict(groups=2, split_frac=0.3, nodes=8)),
]


@pytest.mark.parametrize("rtype,seed,params", HAIL_CASES,
                         ids=lambda v: (",".join("%s=%s" % kv for kv in sorted(v.items()))
                                        if isinstance(v, dict) else str(v)))
def test_hail_generated_shape(rtype, seed, params, tmp_path):
    """Requests whose instances list one node twice or span two groups
    (simulate.requests' samenode_frac / split_frac)."""
    from htools.cli.hail import strip_explanation, strip_explanation_stderr
    from simulate.requests import request_text
    text = request_text(seed, rtype, **params)
    name = "req-%s-%d-%s.json" % (rtype, seed, hashlib.sha1(text.encode()).hexdigest()[:8])
    path = _stage(tmp_path, name, text)
    exp, got = compare("conformance", "hail", [path], tmp_path)
    assert strip_explanation(got["stdout"]) == exp["stdout"]
    assert strip_explanation_stderr(got["stderr"]) == exp["stderr"]
    assert got["status"] == exp["status"]


def test_request_shapes():
    from simulate.requests import make_request, request_text
    assert request_text(3, "allocate") == request_text(3, "allocate", samenode_frac=0.0,
                                                       split_frac=0.0)
    doc = make_request(2, "allocate", groups=2, nodes=8, samenode_frac=0.3, split_frac=0.5)
    group = {n: r["group"] for n, r in doc["nodes"].items()}
    lists = [r["nodes"] for r in doc["instances"].values()]
    assert any(len(ns) == 2 and ns[0] == ns[1] for ns in lists)
    assert any(len(ns) == 2 and group[ns[0]] != group[ns[1]] for ns in lists)
