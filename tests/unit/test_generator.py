"""Tests for simulate.generator (the random text-backend cluster generator)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]

from simulate import generator  # noqa: E402
from simulate.generator import PRESETS, generate, write  # noqa: E402

from tests.harness import refdiff  # noqa: E402

STATUSES = {"running", "ADMIN_down", "ADMIN_offline", "ERROR_up",
            "ERROR_down", "ERROR_nodedown", "ERROR_nodeoffline",
            "ERROR_wrongnode", "USER_down"}
MEM_STATUSES = {"running", "ERROR_up", "ERROR_nodedown",
                "ERROR_nodeoffline", "ERROR_wrongnode"}
TEMPLATES = {"diskless", "file", "sharedfile", "plain", "blockdev", "drbd",
             "rbd", "ext", "gluster"}
NODE_DEFAULTS = ["1", "", "N", "0", "1", "1.0"]      # columns 10..15
INST_DEFAULTS = ["1", "-", "N"]                     # columns 11..13
INT_RE = re.compile(r"^-?\d+$")

ALL_FEATURES = dict(location_tags=True, migration_tags=True,
                    desired_location=True, ipolicy=True, cpu_speed=True)

#: (params) mixes used by the shape tests
MIXES = [
    dict(nodes=5, instances=20),
    dict(nodes=12, instances=90, skew=1.0),
    dict(nodes=20, instances=200, groups=3, offline_frac=0.1),
    dict(nodes=15, instances=100, groups=2, excl_storage_nodes=4,
         **ALL_FEATURES),
    dict(nodes=10, instances=80, columns="trim", **ALL_FEATURES),
    dict(nodes=8, instances=120, overcommit=True, skew=1.0,
         offline_frac=0.25, offline_unknown=True),
    dict(nodes=6, instances=30, forthcoming_frac=0.2, domain=".example.com"),
    dict(nodes=3, instances=0),
    dict(nodes=1, instances=5),
    dict(nodes=2, instances=30, groups=2),
    dict(nodes=9, instances=60, templates={"drbd": 1}, empty_nodes=3),
]


# --------------------------------------------------------------------------
# A light, independent parser of the text format (plain string handling)

def parse(text):
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    sections = [[]]
    for line in lines:
        if line == "":
            sections.append([])
        else:
            sections[-1].append(line)
    assert len(sections) >= 4, "need >= 4 sections, got %d" % len(sections)
    groups = [l.split("|") for l in sections[0]]
    nodes = [l.split("|") for l in sections[1]]
    insts = [l.split("|") for l in sections[2]]
    ctags = sections[3]
    pols = sections[4] if len(sections) > 4 else []
    return groups, nodes, insts, ctags, pols


def full_node(cols):
    assert 9 <= len(cols) <= 15, cols
    return cols + NODE_DEFAULTS[len(cols) - 9:]


def full_inst(cols):
    assert 10 <= len(cols) <= 13, cols
    return cols + INST_DEFAULTS[len(cols) - 10:]


def check_shape(text, params):
    groups, nodes, insts, ctags, pols = parse(text)
    nodes = [full_node(c) for c in nodes]
    insts = [full_inst(c) for c in insts]

    # groups
    guuids = {}
    for g in groups:
        assert len(g) == 5, g
        assert g[2] in ("preferred", "last_resort", "unallocable")
        assert g[1] not in guuids.values()
        guuids[g[0]] = g[1]
    assert len(guuids) == len(groups)

    # nodes
    names = [n[0] for n in nodes]
    assert len(set(names)) == len(names) == params["nodes"]
    roles = Counter(n[7] for n in nodes)
    assert roles["M"] == 1
    assert set(roles) <= {"M", "N", "Y"}
    assert roles["Y"] == round(params.get("offline_frac", 0) *
                               params["nodes"])
    node = {}
    for n in nodes:
        assert n[8] in guuids.values()
        assert n[11] in ("Y", "N")
        if n[1] == "?":
            assert n[7] == "Y" and n[1:7] == ["?"] * 6
        else:
            for v in n[1:7] + [n[9], n[12], n[13]]:
                assert INT_RE.match(v), n
            float(n[14])
            tmem, nmem, fmem, tdsk, fdsk = map(int, n[1:6])
            assert 0 <= fmem <= tmem - nmem
            assert 0 <= fdsk <= tdsk
            assert 32768 * 0.9 <= tmem <= 524288
            assert 512 * 1024 * 0.9 <= tdsk <= 8 * 1024 * 1024
            assert 8 <= int(n[6]) <= 64
        node[n[0]] = n

    # instances
    inames = [i[0] for i in insts]
    assert len(set(inames)) == len(inames) == params["instances"]
    imem = Counter()
    idsk = Counter()
    ispn = Counter()
    for i in insts:
        for v in i[1:4] + [i[10]]:
            assert INT_RE.match(v), i
        assert i[4] in STATUSES
        assert i[5] in ("Y", "N")
        assert i[12] in ("Y", "N")
        assert i[8] in TEMPLATES
        assert i[6] in node
        pn = node[i[6]]
        if i[8] == "drbd":
            assert i[7] in node, i
            assert i[7] != i[6]
            assert node[i[7]][8] == pn[8], "drbd secondary in other group"
        else:
            assert i[7] == "", i
        if i[8] == "diskless":
            assert i[2] == "0"
        if pn[11] == "Y":
            assert i[8] in ("plain", "drbd") and INT_RE.match(i[11])
        if i[4] in MEM_STATUSES and i[12] == "N":
            imem[i[6]] += int(i[1])
        for nn in ([i[6], i[7]] if i[8] == "drbd" else [i[6]]):
            idsk[nn] += int(i[2])
            if i[11] != "-":
                ispn[nn] += int(i[11])

    # resource consistency
    overcommit = params.get("overcommit", False)
    for n in nodes:
        if n[1] == "?":
            continue
        tmem, nmem, fmem, tdsk, fdsk = map(int, n[1:6])
        xmem = tmem - nmem - imem[n[0]] - fmem
        if overcommit and fmem == 0:
            assert xmem <= 0 or xmem <= 3072
        else:
            assert 0 <= xmem <= 3072, (n, xmem)
        assert fdsk == max(0, tdsk - idsk[n[0]]), n
        if n[11] == "Y":
            assert int(n[12]) == int(n[9]) - ispn[n[0]]

    # cluster tags and policies
    for t in ctags:
        assert "|" not in t
    for p in pols:
        cols = p.split("|")
        assert len(cols) == 6, p
        assert cols[0] == "" or cols[0] in guuids
        assert len(cols[1].split(",")) == 6
        specs = cols[2].split(";")
        assert len(specs) % 2 == 0
        for s in specs:
            assert len(s.split(",")) == 6
            assert all(INT_RE.match(x) for x in s.split(","))
        assert set(cols[3].split(",")) <= TEMPLATES
        float(cols[4])
        float(cols[5])
    return groups, nodes, insts, ctags, pols


# --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_deterministic_per_seed(seed):
    params = dict(nodes=15, instances=120, groups=2, **ALL_FEATURES)
    a = generate(seed=seed, **params)
    b = generate(seed=seed, **params)
    assert a == b
    assert generate(seed=seed + 1, **params) != a


def test_deterministic_in_fresh_interpreter():
    code = ("import sys, hashlib; sys.path.insert(0, %r); "
            "from simulate.generator import generate; "
            "print(hashlib.sha256(generate(nodes=20, instances=150, "
            "groups=2, seed=42).encode()).hexdigest())"
            % str(_TESTS.parent))
    out = subprocess.run([sys.executable, "-c", code], check=True,
                         capture_output=True, text=True,
                         env=dict(os.environ, PYTHONHASHSEED="123")).stdout
    text = generate(nodes=20, instances=150, groups=2, seed=42)
    assert out.strip() == refdiff.sha256_text(text)


@pytest.mark.parametrize("mix", range(len(MIXES)))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shape(mix, seed):
    params = dict(MIXES[mix])
    text = generate(seed=seed, **params)
    check_shape(text, params)


def test_features_present():
    params = dict(nodes=20, instances=200, groups=2, excl_storage_nodes=4,
                  offline_frac=0.1, **ALL_FEATURES)
    groups, nodes, insts, ctags, pols = check_shape(
        generate(seed=5, **params), params)
    assert "htools:iextags:service" in ctags
    assert "htools:nlocation:power" in ctags
    assert "htools:desiredlocation:power" in ctags
    assert "htools:migration:hv" in ctags
    ntags = {t for n in nodes for t in n[10].split(",") if t}
    assert {"power:a", "power:b"} <= ntags
    assert any(t.startswith("hv:kvm") for t in ntags)
    itags = {t for i in insts for t in i[9].split(",") if t}
    assert any(t.startswith("service:") for t in itags)
    assert any(t.startswith("power:") for t in itags)
    assert pols and pols[0].startswith("|")
    assert len(groups) == 3  # 2 regular + 1 exclusive storage group
    assert sum(1 for n in nodes if n[11] == "Y") == 4
    assert any(n[14] != "1.0" for n in nodes)
    templates = Counter(i[8] for i in insts)
    assert templates["drbd"] > templates["plain"] > 0


def test_imbalance_and_empty_nodes():
    params = dict(nodes=20, instances=200, skew=0.8, empty_nodes=2)
    _, nodes, insts, _, _ = check_shape(generate(seed=3, **params), params)
    pcount = Counter(i[6] for i in insts)
    scount = Counter(i[7] for i in insts if i[7])
    empty = [n[0] for n in nodes
             if pcount[n[0]] == 0 and scount[n[0]] == 0]
    assert len(empty) == 2
    assert all(n[7] != "M" for n in nodes if n[0] in empty)
    busy = sorted(pcount.values())
    assert busy[-1] >= 2 * busy[len(busy) // 2]


def test_group_policies_mixed():
    pols = Counter()
    for seed in range(10):
        groups, *_ = parse(generate(nodes=20, instances=50, groups=4,
                                    seed=seed))
        assert groups[0][2] == "preferred"
        pols.update(g[2] for g in groups)
    assert pols["last_resort"] and pols["unallocable"]


def test_presets_sizes():
    for name, preset in PRESETS.items():
        if preset["nodes"] > 200:
            continue
        groups, nodes, insts, _, _ = parse(generate(preset=name, seed=1))
        assert len(nodes) == preset["nodes"]
        assert len(insts) == preset["instances"]


def test_biggest_preset_is_fast():
    t0 = time.perf_counter()
    text = generate(preset="1000x20000", seed=1)
    elapsed = time.perf_counter() - t0
    _, nodes, insts, _, _ = parse(text)
    assert len(nodes) == 1000 and len(insts) == 20000
    # the requirement is < 2 s; leave slack for loaded CI machines
    assert elapsed < 4.0, elapsed


def test_write_and_cli(tmp_path):
    path = tmp_path / "a.data"
    text = write(str(path), nodes=7, instances=33, seed=9, ipolicy=True)
    assert path.read_text() == text == generate(nodes=7, instances=33,
                                                seed=9, ipolicy=True)
    out = tmp_path / "b.data"
    assert generator.main(["--nodes", "7", "--instances", "33", "--seed",
                           "9", "--ipolicy", "y", "-o", str(out)]) == 0
    assert out.read_text() == text
    out2 = tmp_path / "c.data"
    generator.main(["--preset", "10x80", "--seed", "4", "-o", str(out2)])
    assert out2.read_text() == generate(preset="10x80", seed=4)


def test_unknown_parameter_rejected():
    with pytest.raises(TypeError):
        generate(nodes=3, instances=3, bogus=1)


def test_example_cluster_is_generator_output():
    ex = refdiff.REPO / "examples" / "cluster.data"
    if not ex.is_file():
        pytest.skip("no examples/cluster.data")
    text = ex.read_text()
    groups, nodes, insts, _, _ = parse(text)
    assert len(groups) == 1 and len(nodes) == 12
    assert 80 <= len(insts) <= 100
    # documented in examples/README.md
    assert text == generate(nodes=12, instances=90, groups=1, seed=16,
                            skew=0.2, empty_nodes=0)


# --------------------------------------------------------------------------
# The reference implementation must accept the files

needs_reference = pytest.mark.skipif(
    not (refdiff.ref_bin("hinfo") and refdiff.ref_bin("hbal")),
    reason="reference Ganeti htools not installed")


def run_reference(tool, args, cwd, timeout):
    return subprocess.run([refdiff.ref_bin(tool)] + list(args), cwd=str(cwd),
                          env=refdiff.run_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


@needs_reference
@pytest.mark.parametrize("mix", [0, 2, 3, 4, 5, 6, 7, 9])
def test_reference_hinfo_loads(mix, tmp_path):
    params = dict(MIXES[mix])
    for seed in (1, 2):
        path = tmp_path / ("s%d.data" % seed)
        write(str(path), seed=seed, **params)
        res = run_reference("hinfo", ["-t", path.name], tmp_path,
                               timeout=120)
        assert res.returncode == 0, res.stderr


@needs_reference
@pytest.mark.parametrize("seed", [1, 2])
def test_reference_hbal_loads(seed, tmp_path):
    params = dict(nodes=6, instances=24, groups=2, **ALL_FEATURES)
    path = tmp_path / "c.data"
    write(str(path), seed=seed, **params)
    res = run_reference("hbal", ["-t", path.name, "--max-length=2"],
                           tmp_path, timeout=300)
    if res.returncode != 0:
        m = re.search(r"Found multiple node groups:\n  (\S+)", res.stderr)
        assert m, res.stderr
        res = run_reference("hbal", ["-t", path.name, "-G", m.group(1),
                                        "--max-length=2"], tmp_path,
                               timeout=300)
    assert res.returncode == 0, res.stderr
