"""hail against the reference, plus unit tests of the allocation engine.

Differential cases (suite ``diff-hail``, see tests/harness/refdiff.py): every
``hail-*.json`` request of Ganeti's test data with several option sets,
hail's other data sources (``-t``, ``--simulate``) and generated requests
of every type (simulate/requests.py; the seed and a hash of the generated
text are part of the case name, so a golden file always belongs to the very
request it was made from).  Our answer carries an extra ``explanation`` key
when something failed (and, with ``-v``, an explanation block on stderr);
both are removed before comparing, everything else must be byte-identical.
"""
from __future__ import annotations

import hashlib
import json

import pytest

from tests.harness.refdiff import DATA, compare

from htools.cli.hail import (
    EXPLANATION_HEADER, format_response, strip_explanation, strip_explanation_stderr,
)

HAIL_FILES = sorted(p.name for p in DATA.glob("hail-*.json")) if DATA.is_dir() else []


def _check(exp, got):
    assert "openFile: does not exist" not in exp["stderr"] or \
        "nonexistent" in exp["stderr"]
    assert strip_explanation(got["stdout"]) == exp["stdout"]
    assert strip_explanation_stderr(got["stderr"]) == exp["stderr"]
    assert got["status"] == exp["status"]
    assert got["files"] == exp["files"]


# --------------------------------------------------------------------------
# Ganeti's requests

@pytest.mark.parametrize("opts", [[], ["--no-capacity-checks"],
                                  ["--ignore-soft-errors"], ["-v", "-v", "-v"]],
                         ids=lambda o: " ".join(o) or "default")
@pytest.mark.parametrize("name", HAIL_FILES)
def test_hail_requests(name, opts, tmp_path):
    _check(*compare("diff-hail", "hail", ["{D}/" + name] + opts, tmp_path))


@pytest.mark.parametrize("name", HAIL_FILES)
def test_hail_save_print(name, tmp_path):
    args = ["-p", "-S", "{T}/state", "{D}/" + name]
    _check(*compare("diff-hail", "hail", args, tmp_path,
                    files=["state.pre-ialloc", "state.post-ialloc"]))


@pytest.mark.parametrize("args", [
    ["-t", "{D}/partly-used.data", "{D}/hail-alloc-drbd.json"],
    ["-t", "{D}/partly-used.data", "--restrict-allocation-to",
     "node-01,node-02,node-03", "{D}/hail-alloc-drbd.json"],
    ["-t", "{D}/partly-used.data", "{D}/hail-alloc-drbd-restricted.json"],
    ["-t", "{D}/partly-used.data", "--restrict-allocation-to", "node-03,node-04",
     "{D}/hail-alloc-drbd-restricted.json"],
    ["-t", "{D}/shared-n1-restriction.data", "{D}/hail-alloc-ext.json"],
    ["-t", "{D}/shared-n1-restriction.data", "--no-capacity-checks",
     "{D}/hail-alloc-ext.json"],
    ["-t", "{D}/plain-n1-restriction.data", "{D}/hail-alloc-ext.json"],
    ["-t", "{D}/hspace-groups-two.data", "{D}/hail-alloc-drbd.json"],
    ["-t", "{D}/hbal-excl-tags.data", "--ignore-dynu", "-p", "{D}/hail-alloc-drbd.json"],
    ["--simulate", "p,8,8T,16g,16", "{D}/hail-alloc-drbd.json"],
    ["--simulate", "p,4,1T,16g,8", "--simulate", "a,3,2T,32g,8",
     "{D}/hail-alloc-drbd.json"],
    ["--static-kvm-node-memory", "0", "{D}/hail-node-evac.json"],
    ["--restrict-allocation-to", "node2", "{D}/hail-alloc-drbd.json"],
    ["--restrict-allocation-to", "nosuchnode", "{D}/hail-alloc-drbd.json"],
    ["-v", "{D}/hail-alloc-plain-tags.json"],
    ["-v", "-v", "{D}/hail-alloc-dedicated-1.json"],
    ["{D}/hail-alloc-drbd.json", "{D}/hail-alloc-drbd.json"],
    [],
    ["{D}/nonexistent.json"],
    ["{D}/hbal-dyn.data"],
])
def test_hail_misc(args, tmp_path):
    _check(*compare("diff-hail", "hail", args, tmp_path))


# --------------------------------------------------------------------------
# Generated requests (simulate/requests.py)

GEN_TYPES = ["allocate", "relocate", "node-evacuate", "change-group",
             "multi-allocate", "allocate-secondary"]
GEN_SEEDS = [11, 23, 42, 57, 64, 77, 81, 99]
#: a cluster with room to spare: most requests succeed
EASY = {"load": 0.25, "offline_frac": 0.0}
GEN_CASES = [(t, s, [], {}) for t in GEN_TYPES for s in GEN_SEEDS] + [
    (t, s, [], EASY) for t in GEN_TYPES for s in (3, 4, 5)] + [
    ("allocate", 5, ["--no-capacity-checks"], {}),
    ("allocate", 6, ["--ignore-soft-errors"], {}),
    ("node-evacuate", 7, ["--ignore-soft-errors"], {}),
    ("change-group", 8, ["--no-capacity-checks"], {}),
    ("multi-allocate", 9, ["-v", "-v", "-v"], {}),
    ("relocate", 10, ["-v", "-v"], {}),
    ("allocate", 12, [], {"excl_storage": True}),
    ("multi-allocate", 13, [], {"excl_storage": True, "load": 0.3}),
    ("allocate", 14, [], {"groups": 3, "networks": True, "nodes": 12}),
    ("change-group", 15, [], {"groups": 3, "nodes": 12, "load": 0.3}),
]


def _place(tmp_path, name, text):
    """Write a request where both runs see it as ``{T}/name`` (refdiff runs
    the reference in ``{T}=tmp/ref`` and ours in ``{T}=tmp/ours``)."""
    for sub in ("ref", "ours"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        (tmp_path / sub / name).write_text(text)
    return "{T}/" + name


def _write_generated(tmp_path, rtype, seed, **params):
    from simulate.requests import request_text
    text = request_text(seed, rtype, **params)
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return _place(tmp_path, "gen-%s-%d-%s.json" % (rtype, seed, digest), text)


def _case_id(v):
    if isinstance(v, list):
        return " ".join(v) or "-"
    if isinstance(v, dict):
        return ",".join("%s=%s" % kv for kv in sorted(v.items())) or "-"
    return str(v)


@pytest.mark.parametrize("rtype,seed,opts,params", GEN_CASES, ids=_case_id)
def test_hail_generated(rtype, seed, opts, params, tmp_path):
    path = _write_generated(tmp_path, rtype, seed, **params)
    _check(*compare("diff-hail", "hail", opts + [path], tmp_path))


@pytest.mark.parametrize("mode", ["all", "primary-only", "secondary-only"])
def test_hail_generated_evacuation_bigger(mode, tmp_path):
    """A 40-node DRBD cluster: the cached "all"-mode search against htools."""
    from simulate.requests import make_request
    doc = make_request(3, "allocate", nodes=40, groups=1, inst_per_node=3,
                       load=0.4, tags=True, offline_frac=0.05,
                       templates={"drbd": 1}, node_class=3)
    node = "node-01-004"
    insts = [k for k, i in sorted(doc["instances"].items()) if node in i["nodes"]]
    doc["request"] = {"type": "node-evacuate", "evac_mode": mode,
                      "instances": insts[:3]}
    text = json.dumps(doc, sort_keys=True) + "\n"
    name = "gen-evac40-%s-%s.json" % (mode, hashlib.sha1(text.encode()).hexdigest()[:8])
    _check(*compare("diff-hail", "hail", [_place(tmp_path, name, text)], tmp_path))


# --------------------------------------------------------------------------
# The explanation field

def test_format_response_and_strip():
    line = format_response(False, 'Request failed: x "y"', [], ["a", "b\\c"])
    assert line == ('{"success":false,"info":"Request failed: x \\"y\\"","result":[],'
                    '"explanation":["a","b\\\\c"]}')
    assert strip_explanation(line + "\n") == \
        '{"success":false,"info":"Request failed: x \\"y\\"","result":[]}\n'
    assert json.loads(line)["explanation"] == ["a", "b\\c"]
    plain = format_response(True, "ok", ["n1"])
    assert strip_explanation(plain) == plain
    err = "x\n%s\n  - one\n  - two\ny\n" % EXPLANATION_HEADER
    assert strip_explanation_stderr(err) == "x\ny\n"


def _run_ours(args):
    import subprocess
    import sys
    from pathlib import Path
    exe = str(Path(sys.executable).parent / "hail")
    return subprocess.run([exe] + args, capture_output=True, text=True)


@pytest.mark.skipif(not DATA.is_dir(), reason="Ganeti test data not available")
def test_explanations_content():
    res = _run_ours([str(DATA / "hail-alloc-plain-tags.json")])
    doc = json.loads(res.stdout)
    assert doc["success"] is False
    assert list(doc)[-1] == "explanation"
    assert any("exclusion tag(s) service:foo" in e for e in doc["explanation"])
    res = _run_ours([str(DATA / "hail-reloc-drbd-crowded.json"), "-v"])
    doc = json.loads(res.stdout)
    assert any(e.startswith("node1 (as secondary): could not host the instance "
                            "after a failover: memory short by")
               for e in doc["explanation"]), doc["explanation"]
    assert EXPLANATION_HEADER in res.stderr
    res = _run_ours([str(DATA / "hail-alloc-twodisks.json")])
    doc = json.loads(res.stdout)
    assert any("N+1" in e and "could then not be evacuated" in e
               for e in doc["explanation"])
    # a successful answer has no explanation
    res = _run_ours([str(DATA / "hail-alloc-nlocation.json")])
    assert "explanation" not in json.loads(res.stdout)


def test_explain_primary_amounts():
    from htools.alloc.explain import explain_primary, fmt_mib
    from htools.model import Disk, Instance, Node
    from htools.types import DiskTemplate, InstanceStatus
    node = Node("n1", 4096.0, 512, 2560, 100000.0, 50000, 4.0, 1, False, 1, 0, 0, False)
    node.idx = 0
    inst = Instance("i1", 4096, 1024, [Disk(1024)], 1, InstanceStatus.RUNNING, [],
                    True, -1, -1, DiskTemplate.PLAIN)
    text = explain_primary(node, inst, False)
    # unallocated = 4096 - 512 - 0 = 3584 (x_mem = 0)
    assert text == "memory short by 512 MiB (needs 4 GiB, 3.5 GiB unallocated)"
    assert fmt_mib(1536) == "1.5 GiB" and fmt_mib(100) == "100 MiB"


# --------------------------------------------------------------------------
# The incremental global N+1 check is exact

def _random_state(seed):
    from backends.iallocator import parse_request
    from simulate.requests import request_text
    req = parse_request(request_text(seed, "allocate", nodes=10, groups=2,
                                     offline_frac=0.1, load=0.4), 4096)
    nl = {n.idx: n for n in req.cdata.nodes}
    il = {i.idx: i for i in req.cdata.instances}
    return req, nl, il


def test_n1_checker_matches_redundant():
    total = sum(_check_n1_seed(seed) for seed in range(16))
    assert total > 100


def _check_n1_seed(seed):
    """N1Checker (incremental) == globaln1.redundant on every placement."""
    from htools.alloc.n1 import N1Checker
    from htools.alloc.place import try_alloc
    from htools.alloc.primitives import extract_nl, update_il
    from htools.params import AlgorithmOptions
    from htools.types import DiskTemplate
    from htools.alloc import globaln1
    req, nl, il = _random_state(seed)
    inst = req.rqtype.instance
    opts = AlgorithmOptions(capacity=False, ignore_soft_errors=True)
    checker = N1Checker(nl, il)
    online = [k for k in sorted(nl) if not nl[k].offline]
    cases = [("single", [k]) for k in online]
    cases += [("pair", [(p, [s])]) for p in online for s in online
              if s != p and nl[s].group == nl[p].group]
    checked = 0
    for kind, targets in cases:
        inst2 = inst.copy()
        if kind == "pair":
            inst2.disk_template = DiskTemplate.DRBD
        sol = try_alloc(opts, nl, il, inst2, (kind, targets))
        el = sol.solution
        if el is None:
            continue
        new_nl = extract_nl(nl, il, el)
        new_il = update_il(il, el)
        try:
            want = globaln1.redundant(new_nl, new_il)
        except globaln1.MissingKey:
            continue
        assert checker.check_alloc(el) == want, (kind, targets)
        if checker.quick_reject([n.idx for n in el.placed]):
            assert want is False
        checked += 1
    return checked


@pytest.mark.parametrize("seed", range(10))
def test_can_evacuate_node_matches_globaln1(seed):
    """allocation.can_evacuate_node (core scoring) == globaln1's, node by node,
    also after placing instances of every template."""
    from htools.alloc import globaln1
    from htools.alloc.n1 import can_evacuate_node
    from htools.alloc.place import gen_alloc_nodes, try_alloc
    from htools.alloc.primitives import extract_nl, update_il
    from htools.alloc.solution import AllocFailure
    from htools.params import AlgorithmOptions
    from htools.types import DiskTemplate
    req, nl, il = _random_state(100 + seed)
    states = [(nl, il)]
    opts = AlgorithmOptions(capacity=False, ignore_soft_errors=True)
    for tmpl in (DiskTemplate.PLAIN, DiskTemplate.EXT, DiskTemplate.DRBD):
        inst = req.rqtype.instance.copy()
        inst.disk_template = tmpl
        try:
            an = gen_alloc_nodes(opts, req.cdata.groups, nl,
                                    2 if tmpl == DiskTemplate.DRBD else 1, False)
            el = try_alloc(opts, nl, il, inst, an).solution
        except AllocFailure:
            continue
        if el is not None:
            states.append((extract_nl(nl, il, el), update_il(il, el)))
    for snl, sil in states:
        for k in sorted(snl):
            try:
                want = globaln1.can_evacuate_node(snl, sil, snl[k])
            except globaln1.MissingKey as err:
                with pytest.raises(globaln1.MissingKey) as got:
                    can_evacuate_node(snl, sil, snl[k])
                assert got.value.key == err.key
                continue
            assert can_evacuate_node(snl, sil, snl[k]) == want


def _split_request(group_alloc_save: bool):
    from simulate.requests import make_request
    doc = make_request(7, "allocate", nodes=8, groups=2, load=0.3, offline_frac=0.0,
                       templates={"drbd": 1}, tags=False, networks=False,
                       policy_variety=False)
    if not group_alloc_save:
        # one DRBD instance split over the two groups
        for _, inst in sorted(doc["instances"].items()):
            if inst["nodes"][0].startswith("node-01"):
                inst["nodes"][1] = "node-02-001"
                break
    req = doc["request"]
    req.update(disk_template="plain", required_nodes=1, group_name="group-1")
    req.pop("restrict-to-nodes", None)
    return json.dumps(doc, sort_keys=True) + "\n"


@pytest.mark.parametrize("save", [False, True])
def test_hail_crashes_like_htools(save, tmp_path):
    """htools dies on ``IntMap.!`` when handed one group's nodes: the global
    N+1 check meeting a split instance, and ``-S`` after a group allocation."""
    text = _split_request(save)
    name = "gen-split-%s.json" % hashlib.sha1(text.encode()).hexdigest()[:8]
    args = [_place(tmp_path, name, text)]
    files = []
    if save:
        args = ["-S", "{T}/st"] + args
        files = ["st.pre-ialloc", "st.post-ialloc"]
    _check(*compare("diff-hail", "hail", args, tmp_path, files=files))


def test_hail_shows_autorepair_policies(tmp_path):
    """``-v -v -v`` shows each instance's auto-repair policy as the
    reference: suspension times read by Haskell's reader (parentheses, hex
    literals, blanks), far-future dates, the cluster's policy inherited."""
    if not DATA.is_dir():
        pytest.skip("Ganeti test data not available")
    req = json.loads((DATA / "hail-alloc-drbd.json").read_text())
    tags = [["ganeti:watcher:autorepair:suspend:(99999999999)"],
            ["ganeti:watcher:autorepair:suspend:0x7fffffff0"],
            ["ganeti:watcher:autorepair:migrate", "ganeti:watcher:autorepair:suspend: 5"],
            ["ganeti:watcher:autorepair:suspend:-3", "ganeti:watcher:autorepair:failover"]]
    for name, t in zip(sorted(req["instances"]), tags):
        req["instances"][name]["tags"] = t
    req["cluster_tags"] = ["ganeti:watcher:autorepair:reinstall"]
    (tmp_path / "ar.json").write_text(json.dumps(req))
    exp, got = compare("diff-hail", "hail", ["-v", "-v", "-v", "{T}/../ar.json"], tmp_path)
    assert "ArSuspended (Until" in exp["stderr"]
    _check(exp, got)
