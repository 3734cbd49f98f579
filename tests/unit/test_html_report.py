"""--html-report=FILE (ours): the page's figures are the ones the tool prints.

Each tool runs once with the report and the options that print the
figures (-p, -C, -v..., --machine-readable); the page is parsed (its
``data-`` attributes) and compared with the printed text.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List

import pytest

from simulate import generator
from tests.harness.refdiff import ours_bin, run_env


class Elements(HTMLParser):
    """Every element's tag and attributes, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: List[Dict[str, str]] = []
        self.text: List[str] = []

    def handle_starttag(self, tag, attrs):
        d = {k: (v if v is not None else "") for k, v in attrs}
        d["<tag>"] = tag
        self.elements.append(d)

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Elements:
    p = Elements()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def having(page: Elements, attr: str) -> List[Dict[str, str]]:
    return [e for e in page.elements if attr in e]


def run(tool: str, *args: str, cwd: Path, status: int = 0):
    proc = subprocess.run([ours_bin(tool)] + list(args), cwd=str(cwd), env=run_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


@pytest.fixture(scope="module")
def clusters(cluster_dir):
    """A 20-node cluster to balance (not N+1 happy, tag conflicts) and one
    with room for new instances."""
    busy = cluster_dir / "busy.data"
    roomy = cluster_dir / "roomy.data"
    generator.write(str(busy), nodes=20, instances=200, seed=9)
    generator.write(str(roomy), nodes=20, instances=80, seed=2)
    return {"busy": busy, "roomy": roomy, "dir": cluster_dir}


def node_tables(stderr: str) -> Dict[str, Dict[str, Dict[str, str]]]:
    """The node lists of -p: {title: {node: {field header: value}}}."""
    out: Dict[str, Dict[str, Dict[str, str]]] = {}
    blocks = re.split(r"\n(\S[^\n]*) status:\n", "\n" + stderr)
    for title, body in zip(blocks[1::2], blocks[2::2]):
        lines = [ln for ln in body.split("\n\n")[0].splitlines() if ln.strip()]
        header = lines[0].split()
        rows = {}
        for ln in lines[1:]:
            flag = ln[:2].strip()
            cols = ln[2:].split()
            row = dict(zip(header[1:], cols))
            row["F"] = flag
            rows[row["Name"]] = row
        out[title] = rows
    return out


# -p header -> report field (htools.report)
P_FIELDS = {"f_mem": "fmem", "p_fmem": "pfmem", "f_dsk": "fdsk", "p_fdsk": "pfdsk",
            "vcpu": "ucpu", "r_cpu": "rcpu", "pcnt": "pcnt", "scnt": "scnt"}


def coefficients(text: str, title: str) -> Dict[str, str]:
    """The metric table printed after ``title``."""
    block = text.split(title, 1)[1].split("\n", 2)[2]
    vals = {}
    for ln in block.splitlines():
        m = re.match(r"\s+(\w+)\s+(\S+)\s+x", ln)
        if not m:
            break
        vals[m.group(1)] = m.group(2)
    return vals


# --------------------------------------------------------------------- hbal

MOVE = re.compile(r"^\s+(\d+)\. (\S+)\s+(\S+)\s+=> (\S+)\s+(\S+) a=(.*)$")


def test_hbal_report_has_the_printed_plan(clusters, tmp_path):
    out = tmp_path / "plan.html"
    proc = run("hbal", "-t", str(clusters["busy"]), "-C", "-p", "--print-instances",
               "--html-report=" + str(out), cwd=tmp_path)
    page = parse(out)
    printed = [MOVE.match(ln).groups() for ln in proc.stdout.splitlines()
               if MOVE.match(ln)]
    assert len(printed) > 10
    rows = having(page, "data-step")
    assert [(r["data-step"], r["data-instance"], r["data-from"], r["data-to"],
             r["data-score"], r["data-code"]) for r in rows] == printed
    ini, fin = re.search(r"Cluster score improved from (\S+) to (\S+)",
                         proc.stdout).groups()
    cards = {e["data-key"]: e["data-value"] for e in having(page, "data-key")}
    assert cards["initial-score"] == ini and cards["final-score"] == fin
    assert cards["moves"] == str(len(printed))
    # job sets: hbal -C's "echo jobset N, M jobs"
    sets = re.findall(r"echo jobset (\d+), (\d+) jobs", proc.stdout)
    assert [(e["data-jobset"], e["data-jobs"]) for e in having(page, "data-jobset")] == sets
    assert cards["jobsets"] == str(len(sets))
    # data copied: the instance's disk (--print-instances, GiB) per replace-disks
    disks = {}
    for ln in proc.stderr.split("Initial instance map:", 1)[1].split("\n\n")[0].splitlines()[2:]:
        cols = ln[2:].split()
        disks[cols[0]] = int(cols[-5])
    for r in rows:
        copies = r["data-code"].count("r:")
        assert int(r["data-copy-mib"]) // 1024 == copies * disks[r["data-instance"]]
    # nodes: the -p fields before and after
    tables = node_tables(proc.stderr)
    before, after = tables["Initial cluster"], tables["Final cluster"]
    nodes = having(page, "data-node")
    assert {e["data-node"] for e in nodes} == set(before)
    for e in nodes:
        name = e["data-node"]
        assert e["data-status"] == before[name]["F"]
        for header, f in P_FIELDS.items():
            assert e["data-" + f] == before[name][header], (name, f)
            assert e["data-%s-after" % f] == after[name][header], (name, f)
    assert len(having(page, "data-bar-node")) == 20


def test_hbal_report_metrics_are_the_coefficients(clusters, tmp_path):
    out = tmp_path / "plan.html"
    proc = run("hbal", "-t", str(clusters["busy"]), "-v", "-v", "-v",
               "--html-report=" + str(out), cwd=tmp_path)
    ini = coefficients(proc.stdout, "Initial coefficients")
    fin = coefficients(proc.stdout, "Final coefficients")
    rows = having(parse(out), "data-metric")
    assert len(rows) == 20
    assert {r["data-metric"]: r["data-before"] for r in rows} == ini
    assert {r["data-metric"]: r["data-after"] for r in rows} == fin


def test_hbal_report_when_nothing_to_do(tmp_path):
    data = tmp_path / "c.data"
    generator.write(str(data), nodes=5, instances=5, seed=27, empty_nodes=0)
    out = tmp_path / "plan.html"
    proc = run("hbal", "-t", str(data), "-e", "1000", "--html-report=" + str(out),
               cwd=tmp_path)
    assert "Nothing to do" in proc.stdout
    page = parse(out)
    assert not having(page, "data-step")
    assert "already well balanced" in "".join(page.text)


# ------------------------------------------------------------------- hspace

def test_hspace_report_has_every_machine_readable_key(clusters, tmp_path):
    out = tmp_path / "m.html"
    proc = run("hspace", "-t", str(clusters["roomy"]), "--machine-readable",
               "--no-capacity-checks", "--html-report=" + str(out), cwd=tmp_path)
    printed = [tuple(ln.split("=", 1)) for ln in proc.stdout.splitlines()]
    page = parse(out)
    keys = [(e["data-hts"], e["data-value"]) for e in having(page, "data-hts")]
    assert keys == [(k, v.strip("'")) for k, v in printed]
    # the human run collects the same keys
    human = tmp_path / "h.html"
    run("hspace", "-t", str(clusters["roomy"]), "--no-capacity-checks",
        "--html-report=" + str(human), cwd=tmp_path)
    assert [(e["data-hts"], e["data-value"]) for e in having(parse(human), "data-hts")] \
        == keys
    # resource cells carry the keys' values; "new" is FIN - INI
    values = dict((k[4:], v) for k, v in keys)
    spans = [e for e in page.elements if e["<tag>"] == "span" and "data-key" in e]
    assert len(spans) >= 12
    for e in spans:
        assert e["data-key"] in values
    raw = out.read_text()
    for key in ("CLUSTER_MEM", "INI_MEM_INST", "INI_MEM_FREE", "FIN_MEM_FREE"):
        assert '<span data-key="%s">%s</span>' % (key, values[key]) in raw
    new = int(values["FIN_MEM_INST"]) - int(values["INI_MEM_INST"])
    assert '<span data-derived="FIN_MEM_INST-INI_MEM_INST">%d</span>' % new in raw


def test_hspace_report_has_the_printed_results(clusters, tmp_path):
    out = tmp_path / "h.html"
    proc = run("hspace", "-t", str(clusters["roomy"]), "--no-capacity-checks",
               "--html-report=" + str(out), cwd=tmp_path)
    page = parse(out)
    tiered = re.findall(r"^  - +(\d+) instances of spec (.*)$", proc.stdout, re.M)
    assert len(tiered) > 3
    assert [(e["data-spec"], e["data-count"]) for e in having(page, "data-spec")] == \
        [(s, c) for c, s in tiered]
    allocated = re.search(r"^  - +(\d+) instances allocated$", proc.stdout, re.M).group(1)
    cards = {e["data-key"]: e["data-value"] for e in having(page, "data-key")
             if "data-value" in e}
    assert cards["ALLOC_INSTANCES"] == allocated
    assert cards["tiered-total"] == str(sum(int(c) for c, _ in tiered))
    reasons = re.findall(r"most likely failure reason: (\w+)", proc.stdout)
    # each phase's refusals, most frequent first: the printed reason leads
    first, kind = {}, None
    for e in page.elements:
        if "data-limits" in e:
            kind = e["data-limits"]
        elif "data-reason" in e and kind not in first:
            first[kind] = e["data-reason"]
    assert first == {"tiered": reasons[0], "standard": reasons[1]}
    text = "".join(page.text)
    for line in proc.stdout.splitlines():
        if "usage efficiency" in line or "cluster score" in line:
            assert line in text
    # per node: -p's free memory before and after the standard allocation
    proc = run("hspace", "-t", str(clusters["roomy"]), "--no-capacity-checks", "-p",
               cwd=tmp_path)
    tables = node_tables(proc.stderr)
    before, after = tables["Initial cluster"], tables["Standard allocation"]
    for e in having(page, "data-node"):
        assert e["data-fmem"] == before[e["data-node"]]["f_mem"]
        assert e["data-fmem-after"] == after[e["data-node"]]["f_mem"]


# ------------------------------------------------------------ hinfo, hcheck

def test_hinfo_report_has_the_printed_health(clusters, tmp_path):
    out = tmp_path / "i.html"
    proc = run("hinfo", "-t", str(clusters["busy"]), "-v", "-v", "-p",
               "--html-report=" + str(out), cwd=tmp_path)
    page = parse(out)
    row = re.search(r"^   (group-01) +(\d+) +(\d+) +(\d+) +(\d+) (\w+) +(\S+)$",
                    proc.stdout, re.M).groups()
    g = having(page, "data-group")[0]
    assert (g["data-group"], g["data-nodes"], g["data-instances"], g["data-bad-nodes"],
            g["data-bad-instances"], g["data-np1"], g["data-score"]) == row
    assert coefficients(proc.stdout, "Cluster coefficients") == \
        {r["data-metric"]: r["data-before"] for r in having(page, "data-metric")}
    cards = {e["data-key"]: e["data-value"] for e in having(page, "data-key")}
    assert "Cluster score: %s" % cards["score"] in proc.stdout
    nodes = node_tables(proc.stderr)["Cluster"]
    flagged = {n for n, r in nodes.items() if r["F"] == "*"}
    assert flagged and {e["data-n1-node"] for e in having(page, "data-n1-node")} == flagged
    assert cards["n1-fail"] == row[3] == str(len(flagged))
    for e in having(page, "data-n1-node"):
        assert e["data-peers"]
    for e in having(page, "data-node"):
        for header, f in P_FIELDS.items():
            assert e["data-" + f] == nodes[e["data-node"]][header]
    assert "Cluster is N+1 unhappy" in "".join(page.text)


def check_cells(path: Path) -> Dict[tuple, str]:
    """{(phase, level, check key): value} of an hcheck page."""
    raw = path.read_text()
    return {(ph, lv, k): v for lv, k, ph, v in re.findall(
        r'data-level="([^"]+)" data-check="([^"]+)" data-phase="([^"]+)">([^<]*)<', raw)}


def test_hcheck_report_has_the_printed_statistics(clusters, tmp_path):
    """Every printed "description: value" line has its value in the page
    under the same phase and level."""
    out = tmp_path / "c.html"
    proc = run("hcheck", "-t", str(clusters["busy"]), "--html-report=" + str(out),
               cwd=tmp_path, status=1)
    descr = dict(re.findall(r'<tr data-key="([^"]+)"><td>([^<]+)</td>', out.read_text()))
    page = {(ph, lv, descr[k]): v for (ph, lv, k), v in check_cells(out).items()}
    n = 0
    for block in proc.stdout.split("\n\n")[1:]:
        lines = block.strip().splitlines()
        m = re.match(r"(?:Statistics for group (\S+)|Cluster statistics) "
                     r"(initially|after rebalancing)", lines[0])
        level = m.group(1) or "cluster"
        phase = "init" if m.group(2) == "initially" else "final"
        for ln in lines[1:]:
            d, v = ln.strip().rsplit(": ", 1)
            assert page.pop((phase, level, d)) == v, (phase, level, d)
            n += 1
    assert n >= 20 and not page
    assert proc.stdout.splitlines()[0] == "Cluster needs rebalancing."
    assert "Cluster needs rebalancing." in "".join(parse(out).text)


def test_hcheck_report_has_the_machine_readable_keys(clusters, tmp_path):
    out = tmp_path / "m.html"
    proc = run("hcheck", "-t", str(clusters["busy"]), "--machine-readable",
               "--html-report=" + str(out), cwd=tmp_path, status=1)
    keys = dict(ln.split("=", 1) for ln in proc.stdout.splitlines())
    cells = check_cells(out)
    for (phase, level, check), value in cells.items():
        key = "HCHECK_%s_%s_%s" % ("INIT" if phase == "init" else "FINAL",
                                   "CLUSTER" if level == "cluster" else "GROUP_0",
                                   check)
        assert keys.pop(key) == value, key
    assert set(keys) == {"HCHECK_GROUP_UUID_0", "HCHECK_OK"}


# ------------------------------------------------------------------ hroller

def test_hroller_report_has_the_printed_groups(clusters, tmp_path):
    out = tmp_path / "r.html"
    proc = run("hroller", "-t", str(clusters["roomy"]), "--print-moves",
               "--html-report=" + str(out), cwd=tmp_path)
    groups = []
    for ln in proc.stdout.splitlines()[1:]:
        if ln.startswith("  "):
            inst, pri, *sec = ln.split()
            groups[-1][1].append((inst, pri + (":" + sec[0] if sec else "")))
        else:
            groups.append((ln, []))
    page = parse(out)
    rows = having(page, "data-reboot-group")
    assert [(r["data-nodes"], r["data-moves"]) for r in rows] == \
        [(names, str(len(mv))) for names, mv in groups]
    moves = []
    grp = None
    for e in page.elements:
        if "data-group-moves" in e:
            grp = int(e["data-group-moves"])
        elif "data-instance" in e and grp is not None:
            moves.append((grp, e["data-instance"], e["data-to"]))
    assert moves == [(k, i, to) for k, (_, mv) in enumerate(groups, 1)
                     for i, to in mv]
    assert moves


def test_hroller_report_has_the_rebalance_plan(clusters, tmp_path):
    out = tmp_path / "r.html"
    proc = run("hroller", "-t", str(clusters["roomy"]), "--rebalance-after",
               "--html-report=" + str(out), cwd=tmp_path)
    plan = proc.stdout.split("'Rebalance After Maintenance'\n", 1)[1]
    group, ini = re.match(r"Group (\S+): score (\S+)\n", plan).groups()
    lines = [ln for ln in plan.splitlines() if MOVE.match(ln)]
    fin = re.search(r"improved from \S+ to (\S+)", plan).group(1)
    assert len(lines) > 5
    raw = out.read_text()
    assert 'data-plan="%s"' % group in raw
    assert "Group %s: score %s to %s" % (group, ini, fin) in raw
    text = "".join(parse(out).text)
    for ln in lines:
        assert ln in text


# ------------------------------------------------------------ large clusters

def test_a_thousand_nodes_aggregate(tmp_path):
    data = tmp_path / "big.data"
    generator.write(str(data), nodes=1000, instances=3000, seed=5)
    out = tmp_path / "big.html"
    run("hinfo", "-t", str(data), "--html-report=" + str(out), cwd=tmp_path)
    page = parse(out)
    assert len(having(page, "data-bar-node")) == 40
    assert len(having(page, "data-node")) == 1000
    assert having(page, "data-histograms")
    assert out.stat().st_size < 2_000_000


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("tool", ["hbal", "hspace", "hinfo", "hcheck", "hroller"])
def test_bad_paths_are_one_error_line(clusters, tmp_path, tool):
    data = str(clusters["busy"])
    for target, why in ((tmp_path / "no" / "such" / "x.html", "no directory"),
                        (tmp_path, "is a directory")):
        proc = run(tool, "-t", data, "--html-report=" + str(target), cwd=tmp_path,
                   status=1)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: ")
        assert why in proc.stderr and "html report" in proc.stderr.lower()
    if os.geteuid() != 0:      # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        proc = run(tool, "-t", data, "--html-report=" + str(ro / "x.html"),
                   cwd=tmp_path, status=1)
        assert proc.stderr.startswith("Error: ")


def test_the_write_is_atomic(clusters, tmp_path):
    out = tmp_path / "r.html"
    out.write_text("old")
    run("hinfo", "-t", str(clusters["roomy"]), "--html-report=" + str(out), cwd=tmp_path)
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_write_failure_leaves_no_temporary(tmp_path, monkeypatch):
    from htools.errors import HtoolsError
    from htools.html import page
    target = tmp_path / "x.html"

    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(page.os, "replace", boom)
    with pytest.raises(HtoolsError) as err:
        page.write_report(str(target), "<p>x</p>")
    assert "No space left on device" in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("tool", ["hbal", "hspace", "hinfo", "hcheck", "hroller"])
def test_the_option_stays_out_of_help(tool, tmp_path):
    proc = run(tool, "--help", cwd=tmp_path)
    assert "html-report" not in proc.stdout
    proc = run(tool, "--help-completion", cwd=tmp_path)
    assert "html-report" not in proc.stdout


@pytest.mark.parametrize("tool", ["hbal", "hinfo"])
def test_names_are_escaped(clusters, tmp_path, tool):
    weird = 'n<01>&"x'
    data = tmp_path / "weird.data"
    data.write_text(clusters["busy"].read_text().replace("node-01", weird))
    out = tmp_path / "w.html"
    run(tool, "-t", str(data), "--html-report=" + str(out), cwd=tmp_path)
    raw = out.read_text()
    assert weird not in raw and "<01>" not in raw
    page = parse(out)
    assert weird in {e["data-node"] for e in having(page, "data-node")}
    assert weird in {e["data-bar-node"] for e in having(page, "data-bar-node")}


@pytest.mark.parametrize("report", [False, True])
def test_the_report_code_loads_only_with_the_option(clusters, tmp_path, report):
    """Start-up stays lean: htools.html is imported only for the option."""
    args = ["-t", str(clusters["busy"])] + \
        (["--html-report=" + str(tmp_path / "r.html")] if report else [])
    code = ("import sys, atexit\n"
            "atexit.register(lambda: sys.stderr.write('HTML=' + str(any(\n"
            "    m.startswith('htools.html') for m in sys.modules)) + '\\n'))\n"
            "from htools.cli.main import main\n"
            "main('hbal', " + repr(args) + ")\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=run_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-1] == "HTML=%s" % report
