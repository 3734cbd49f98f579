"""hroller: differential tests against the reference, plus our extensions.

* Every ``.data`` file of Ganeti's test data with a set of option
  combinations: the reference side goes through :mod:`tests.harness.refdiff`
  (live binary or golden file in ``tests/golden/diff-hroller``); our side
  runs in-process (same entry point as the installed script, much faster
  than a subprocess per case).
* A handful of cases through real subprocesses (``refdiff.compare``) to
  cover the installed entry point, ``-S`` files and error exits.
* Generated clusters (``simulate.generator``, up to 60 nodes, several
  groups, offline nodes, all features).
* Unit tests of the colourings' tie-breaking and of ``--rebalance-after``
  / ``--json``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import refdiff

SUITE = "diff-hroller"

DATA_FILES = sorted(p.name for p in refdiff.DATA.glob("*.data")) \
    if refdiff.have_data() else []
HROLLER_FILES = [f for f in DATA_FILES if f.startswith("hroller-")] + \
    ["unique-reboot-order.data", "multiple-tags.data"]

#: Option sets run on every data file.
BASIC = [
    [],
    ["--offline-maintenance"],
    ["--full-evacuation", "--print-moves"],
    ["--one-step-only", "--print-moves"],
    ["--skip-non-redundant", "--no-headers"],
    ["--ignore-non-redundant", "-v", "-v"],
]
#: Extra option sets run on the hroller-specific files.
EXTRA = [
    ["--node-tags=red"],
    ["--node-tags=blue,red", "--print-moves"],
    ["-O", "node-01-002", "--no-headers"],
    ["-O", "node-01-003", "--ignore-non-redundant", "--print-moves"],
    ["-G", "group-01", "--print-moves"],
    ["-G", "group-02", "--full-evacuation", "--print-moves", "-v", "-v"],
    ["--offline-maintenance", "--full-evacuation", "--print-moves"],
    ["--full-evacuation", "--one-step-only", "--print-moves", "--no-headers"],
    ["--skip-non-redundant", "--full-evacuation", "--print-moves"],
    ["-v", "-v", "-v"],
    ["-q"],
]

CASES = [(f, a) for f in DATA_FILES for a in BASIC] + \
    [(f, a) for f in HROLLER_FILES for a in EXTRA]


def run_inproc(args, tmp: Path) -> dict:
    """Our hroller in-process; same result shape as ``refdiff.run``."""
    from htools.cli.main import COMMANDS
    tmp.mkdir(parents=True, exist_ok=True)
    argv = refdiff.expand(args, tmp)
    import io
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        try:
            status = COMMANDS["hroller"].main(argv, standalone_mode=False)
        except SystemExit as e:  # pragma: no cover - defensive
            status = e.code
    finally:
        sys.stdout, sys.stderr = old
    return {"stdout": refdiff.normalise(out.getvalue(), tmp),
            "stderr": refdiff.normalise(err.getvalue(), tmp),
            "status": status or 0, "files": {}}


def compare_inproc(args, tmp_path):
    if not refdiff.have_data():
        pytest.skip("Ganeti test data not available")
    exp = refdiff.expected(SUITE, "hroller", args, tmp_path)
    if exp is None:
        pytest.skip("no reference binary and no golden file")
    got = run_inproc(args, tmp_path / "ours")
    return exp, got


@pytest.mark.parametrize("fname,opts", CASES,
                         ids=["%s:%s" % (f, " ".join(a)) for f, a in CASES])
def test_testdata_matches_reference(fname, opts, tmp_path):
    exp, got = compare_inproc(["-t", "{D}/" + fname] + opts, tmp_path)
    assert got == exp


# ---------------------------------------------------------------- subprocess

SUBPROCESS_CASES = [
    ["-t", "{D}/hroller-full.data", "--full-evacuation", "--print-moves"],
    ["-t", "{D}/hroller-nonredundant.data", "--skip-non-redundant"],
    ["-t", "{D}/multiple-master.data"],
    ["-t", "{D}/multiple-master.data", "-f"],
    ["-t", "{D}/hroller-nodegroups.data", "-G", "nosuch"],
    ["-t", "{D}/hroller-online.data", "-O", "nosuch"],
    ["-t", "{D}/hroller-online.data", "extra-arg"],
    [],
    ["-t", "{D}/unique-reboot-order.data", "-S", "{T}/saved"],
]


@pytest.mark.parametrize("args", SUBPROCESS_CASES, ids=[" ".join(a) for a in SUBPROCESS_CASES])
def test_subprocess_matches_reference(args, tmp_path):
    files = ["saved.original"] if "-S" in args else []
    exp, got = refdiff.compare(SUITE, "hroller", args, tmp_path, files)
    assert got == exp


# ---------------------------------------------------------------- generated

#: (seed, nodes, instances, groups, offline fraction, all features)
GEN = [
    (1, 8, 24, 1, 0.0, False),
    (2, 12, 40, 2, 0.1, False),
    (3, 20, 60, 2, 0.0, True),
    (4, 30, 150, 3, 0.1, False),
    (5, 45, 140, 2, 0.05, True),
    (6, 60, 240, 3, 0.1, False),
    (7, 60, 300, 1, 0.0, True),
    (8, 25, 50, 4, 0.2, False),
]
GEN_OPTS = [
    ["-v", "-v"],
    ["--offline-maintenance", "--print-moves"],
    ["--full-evacuation", "--print-moves"],
    ["--skip-non-redundant", "--one-step-only"],
    ["--ignore-non-redundant", "--full-evacuation", "--print-moves"],
    ["-G", "group-01", "--print-moves", "-v", "-v"],
    ["-O", "node-03", "--print-moves"],
]
GEN_CASES = [(g, o) for g in GEN for o in GEN_OPTS]


def generate(spec, dest: Path, nomaster: bool = False) -> None:
    seed, n, i, g, off, allf = spec
    cmd = [sys.executable, "-m", "simulate.generator", "--nodes", str(n),
           "--instances", str(i), "--groups", str(g), "--seed", str(seed),
           "--offline-frac", str(off), "-o", str(dest)]
    if allf:
        cmd.append("--all-features")
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, cwd=str(refdiff.REPO), capture_output=True)
    if nomaster:
        dest.write_text(dest.read_text().replace("|M|", "|N|"))


def gen_name(spec, nomaster=False) -> str:
    """A file name unique per spec (golden files are keyed by the argv)."""
    return "gen-s%d-%dn-%di-%dg-%s%s%s.data" % (
        spec[0], spec[1], spec[2], spec[3], spec[4], "-all" if spec[5] else "",
        "-nomaster" if nomaster else "")


def _gen_both(spec, tmp_path, nomaster=False):
    name = gen_name(spec, nomaster)
    # refdiff expands {T} to <tmp>/ref for the reference, <tmp>/ours for us
    generate(spec, tmp_path / "ref" / name, nomaster)
    (tmp_path / "ours").mkdir(parents=True, exist_ok=True)
    (tmp_path / "ours" / name).write_text((tmp_path / "ref" / name).read_text())
    return name


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gen")


@pytest.mark.parametrize("spec,opts", GEN_CASES,
                         ids=["s%d-%dn:%s" % (g[0], g[1], " ".join(o)) for g, o in GEN_CASES])
def test_generated_matches_reference(spec, opts, tmp_path):
    name = _gen_both(spec, tmp_path)
    exp, got = compare_inproc(["-t", "{T}/" + name] + opts, tmp_path)
    assert got == exp


@pytest.mark.parametrize("opts", [[], ["-f", "--print-moves"]])
def test_generated_no_master(opts, tmp_path):
    name = _gen_both(GEN[1], tmp_path, nomaster=True)
    exp, got = compare_inproc(["-t", "{T}/" + name] + opts, tmp_path)
    assert got == exp


# ---------------------------------------------------------------- units

def _graph(n, edges):
    from htools.roller import NodeGraph
    adj = {v: [] for v in range(n)}
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    for v in adj:
        adj[v].reverse()
    return NodeGraph(0, n - 1, adj)


def test_lf_ties_take_highest_index_first():
    from htools.roller import color_lf, color_vert_map
    # path 0-1-2: vertex 1 first (degree 2), then 2, then 0
    g = _graph(3, [(0, 1), (1, 2)])
    assert color_lf(g) == {1: 0, 2: 1, 0: 1}
    assert color_vert_map(color_lf(g)) == [[1], [0, 2]]
    # isolated vertices all degree 0: colour 0
    assert color_vert_map(color_lf(_graph(3, []))) == [[0, 1, 2]]


def test_dynamic_ties_take_highest_index():
    from htools.roller import color_dcolor, color_dsatur
    # 4-cycle: all degree 2; the first pick is the highest vertex (3)
    g = _graph(4, [(0, 1), (1, 2), (2, 3), (3, 0)])
    for fn in (color_dsatur, color_dcolor):
        cm = fn(g)
        assert cm[3] == 0 and cm[1] == 0 and cm[0] == 1 and cm[2] == 1


def test_dynamic_matches_naive_definition():
    """The heap implementation equals the reference's O(n^2) definition."""
    import random
    from htools.roller import _color_node, color_dcolor, color_dsatur

    def naive(g, sat):
        cmap, rest = {}, list(g.vertices())
        while rest:
            def key(v):
                cols = [cmap[u] for u in g.adj[v] if u in cmap]
                return (len(set(cols)) if sat else len(cols), len(g.adj[v]))
            best = rest[0]
            for v in rest[1:]:
                if key(v) >= key(best):
                    best = v
            cmap[best] = _color_node(g, cmap, best)
            rest.remove(best)
        return cmap

    rnd = random.Random(5)
    for _ in range(60):
        n = rnd.randint(1, 14)
        edges = [(rnd.randrange(n), rnd.randrange(n)) for _ in range(rnd.randint(0, 30))]
        g = _graph(n, edges)
        assert color_dsatur(g) == naive(g, True)
        assert color_dcolor(g) == naive(g, False)


def test_get_stats_order():
    from htools.roller import get_stats
    cols = [("LF", [[0, 1], [2], [3]]), ("Dsatur", [[0, 1], [2, 3]]),
            ("Dcolor", [[0, 1], [2, 3]])]
    assert get_stats(cols) == ("Dcolor: 2 (2,2) TIE Dsatur: 2 (2,2) "
                               "LOOSE LF: 3 (2,1,1)")


def test_graph_show_and_networkx():
    from htools.roller import NodeGraph
    g = NodeGraph(2, 4, {2: [3, 3], 3: [2, 2], 4: []})
    assert g.show() == "array (2,4) [(2,[3,3]),(3,[2,2]),(4,[])]"
    assert g.to_networkx().number_of_edges() == 4


# ---------------------------------------------------------------- extensions

def _ours(args, tmp_path):
    res = run_inproc(args, tmp_path)
    return res["status"], res["stdout"], res["stderr"]


@pytest.mark.skipif(not refdiff.have_data(), reason="no test data")
def test_rebalance_after(tmp_path):
    base = ["-t", str(refdiff.DATA / "hroller-full.data"), "--full-evacuation"]
    st, plain, _ = _ours(base, tmp_path)
    st2, out, err = _ours(base + ["--rebalance-after"], tmp_path)
    assert st == st2 == 0 and err == ""
    assert out.startswith(plain)
    rest = out[len(plain):].splitlines()
    assert rest[0] == "" and rest[1] == "'Rebalance After Maintenance'"
    assert rest[2].startswith("Group group-01: score ")
    # the last group's nodes were emptied: hbal moves instances back
    moves = [ln for ln in rest if ln.startswith("    1. ")]
    assert moves and " => " in moves[0] and " a=" in moves[0]
    assert rest[-1].startswith("  Cluster score improved from ")


def test_rebalance_after_matches_hbal_on_unchanged_cluster(tmp_path):
    """With nothing moved the plan is exactly hbal's for each group."""
    data = str(tmp_path / "ours" / _gen_both(GEN[1], tmp_path))
    st, out, _ = _ours(["-t", data, "--ignore-non-redundant", "--rebalance-after",
                        "-G", "group-01"], tmp_path)
    assert st == 0
    plan = out.split("'Rebalance After Maintenance'\n", 1)[1].splitlines()
    hb = subprocess.run([refdiff.ours_bin("hbal"), "-t", data, "-G", "group-01"],
                        capture_output=True, text=True).stdout.splitlines()
    hmoves = [ln for ln in hb if ln.startswith("  ") and " => " in ln]
    assert [ln for ln in plan if " => " in ln] == hmoves
    assert len(plan) >= 1 and plan[0].startswith("Group group-01: score")


def test_json(tmp_path):
    data = str(tmp_path / "ours" / _gen_both(GEN[0], tmp_path))
    st, text, _ = _ours(["-t", data, "--print-moves", "-v"], tmp_path)
    st2, js, _ = _ours(["-t", data, "--json", "--rebalance-after"], tmp_path)
    assert st == st2 == 0
    doc = json.loads(js)
    lines = text.splitlines()
    stats, header = lines[0], lines[1]
    assert header == "'Node Reboot Groups'"
    assert doc["coloring"] in ("LF", "Dsatur", "Dcolor")
    for name, sizes in doc["colorings"].items():
        assert "%s: %d (%s)" % (name, len(sizes), ",".join(map(str, sizes))) in stats
    expect = []
    for g in doc["groups"]:
        expect.append(",".join(g["nodes"]))
        for m in g["moves"]:
            expect.append("  " + " ".join(x for x in (m["instance"], m["primary"],
                                                      m["secondary"]) if x))
    assert expect == lines[2:]
    assert {p["group"] for p in doc["rebalance"]} <= {"group-01", "group-02", "group-03"}
    for p in doc["rebalance"]:
        assert p["final_score"] <= p["initial_score"]


def test_json_one_step_and_error(tmp_path):
    data = str(tmp_path / "ours" / _gen_both(GEN[5], tmp_path))
    st, js, _ = _ours(["-t", data, "--json", "--one-step-only"], tmp_path)
    assert st == 0 and len(json.loads(js)["groups"]) == 1
    st, out, err = _ours(["-t", data, "--json", "-G", "nosuch"], tmp_path)
    assert (st, out) == (1, "") and err.endswith("Error: Cannot find target group.\n")
