"""``--storage-pools`` over Luxi (the scripted fixture answers the two
read-only opcodes): the pools read equal the file's, system VGs no
instance uses are left out, the job is read-only and without locks, and
without the option nothing is submitted."""
from __future__ import annotations

import subprocess
import sys

import pytest

from backends.text import parse_data
from simulate import pools as gen
from simulate.generator import generate
from tests.harness.luxi_fixture import LuxiFixture


def _bin(tool: str) -> str:
    from pathlib import Path
    return str(Path(sys.executable).parent / tool)


def _run(tool, args):
    out = subprocess.run([_bin(tool)] + list(args), capture_output=True,
                         text=True, timeout=300)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    path = tmp_path_factory.mktemp("lx") / "multi.data"
    path.write_text(gen.generate(nodes=8, instances=40, without_hdd=3,
                                 hdd_frac=0.3, seed=9, nvme_nodes=2,
                                 meta_on_hdd_frac=0.5))
    return str(path)


def _pool_rows(text):
    return sorted(line for line in text.splitlines()
                  if line.startswith(("pool|", "disk|")))


def test_luxi_reads_the_pools(multi, tmp_path):
    with LuxiFixture(multi) as fx:
        rc, out, err = _run("hbal", ["-L" + fx.socket, "--storage-pools",
                                     "-S", str(tmp_path / "lx"), "-C"])
        jobs = fx.submitted_jobs
    assert rc == 0, err
    assert len(jobs) == 1
    ops = jobs[0].submitted_ops
    assert [op["OP_ID"] for op in ops] == ["OP_NODE_QUERY_STORAGE",
                                           "OP_INSTANCE_QUERY_DATA"]
    assert ops[0]["storage_type"] == "lvm-vg"
    assert ops[1]["static"] is True and ops[1]["use_locking"] is False
    with open(multi) as fh:
        want = fh.read()
    saved = (tmp_path / "lx.original").read_text()
    assert _pool_rows(saved) == _pool_rows(want)
    assert "vg_system" not in saved
    # same moves as from the file, none failing for a VG
    rc, tout, _ = _run("hbal", ["-t", multi, "-C"])
    assert rc == 0
    assert out.splitlines()[-20:] == tout.splitlines()[-20:]
    assert gen.failing_moves(want, out) == []


def test_allow_list_and_no_option(multi, tmp_path):
    with LuxiFixture(multi) as fx:
        rc, _, err = _run("hbal", ["-L" + fx.socket, "-l", "1",
                                    "--storage-pools=vg_system",
                                    "-S", str(tmp_path / "al")])
    assert rc == 0, err
    cd = parse_data((tmp_path / "al.original").read_text())
    assert any(n.pools for n in cd.nodes)
    assert all("vg_system" in n.pools for n in cd.nodes if n.pools is not None)
    with LuxiFixture(multi) as fx:
        rc, _, _ = _run("hbal", ["-L" + fx.socket, "-l", "1", "-S", str(tmp_path / "no")])
        assert rc == 0 and fx.submitted_jobs == []
    assert "\npool|" not in (tmp_path / "no.original").read_text()


def test_single_pool_cluster_unchanged(tmp_path):
    """A cluster whose disks all live on the cluster VG, sized as the node
    reports: the same hbal answer with and without the pools."""
    path = tmp_path / "plain.data"
    path.write_text(generate(nodes=8, instances=40, seed=4))
    with LuxiFixture(str(path)) as fx:
        with_pools = _run("hbal", ["-L" + fx.socket, "--storage-pools", "-C"])
    with LuxiFixture(str(path)) as fx:
        without = _run("hbal", ["-L" + fx.socket, "-C"])
    assert with_pools[0] == 0 and with_pools[1:] == without[1:]


def test_job_failure_is_one_error_line(multi):
    script = {"jobs": [{"match": {"op": "OP_NODE_QUERY_STORAGE"},
                        "outcome": "error"}]}
    with LuxiFixture(multi, script) as fx:
        rc, out, err = _run("hbal", ["-L" + fx.socket, "--storage-pools"])
    assert rc == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "cannot read the storage pools" in err


def test_hscan_saves_the_pools(multi, tmp_path):
    with LuxiFixture(multi) as fx:
        rc, out, err = _run("hscan", ["-L" + fx.socket, "--storage-pools",
                                      "-d", str(tmp_path)])
    assert rc == 0, err
    saved = (tmp_path / "LOCAL.data").read_text()
    with open(multi) as fh:
        assert _pool_rows(saved) == _pool_rows(fh.read())
    # and what hscan saved is what -t reads: hbal answers the same
    assert _run("hbal", ["-t", str(tmp_path / "LOCAL.data")])[1] == \
        _run("hbal", ["-t", multi])[1]


def _replace_targets(jobs):
    """(instance, new secondary) of every replace-disks the jobs ran."""
    return [(op["instance_name"], op["remote_node"]) for job in jobs
            for op in job.submitted_ops
            if op["OP_ID"] == "OP_INSTANCE_REPLACE_DISKS" and op.get("remote_node")]


def test_exec_never_replaces_onto_a_node_without_the_vg(tmp_path):
    """hbal -L --storage-pools -X: no replace-disks job puts an instance's
    storage on a node lacking one of its volume groups; without the option
    (the reference's moves) some do, on the same cluster."""
    path = tmp_path / "x.data"
    path.write_text(gen.generate(nodes=10, instances=60, without_hdd=4,
                                 hdd_frac=0.33, seed=5, nvme_nodes=2,
                                 meta_on_hdd_frac=0.3))
    cd = parse_data(path.read_text())
    vgs = {n.name: set(n.pools) for n in cd.nodes}
    demand = {i.name: set(i.pools) for i in cd.instances}

    def lacking(jobs):
        return [(i, n) for i, n in _replace_targets(jobs)
                if not demand[i] <= vgs[n]]

    with LuxiFixture(str(path)) as fx:
        rc, out, err = _run("hbal", ["-L" + fx.socket, "--storage-pools",
                                     "-l", "6", "-X"])
        jobs = fx.submitted_jobs
    assert rc == 0, err
    assert _replace_targets(jobs) and lacking(jobs) == []
    with LuxiFixture(str(path)) as fx:
        rc, _, err = _run("hbal", ["-L" + fx.socket, "-l", "6", "-X"])
        jobs = fx.submitted_jobs
    assert rc == 0, err
    assert lacking(jobs)


@pytest.mark.parametrize("tool,args", [("hroller", ["--full-evacuation",
                                                    "--json"]),
                                       ("hsqueeze", [])])
def test_hroller_and_hsqueeze_read_the_pools(multi, tmp_path, tool, args):
    """``--storage-pools`` on hroller and hsqueeze: the two read-only jobs,
    and the answer of the file with its pools; without the option no job
    (hroller: the cluster of test_pools_tools, whose HDD instance has one
    possible place)."""
    from tests.unit.test_pools_tools import _ROLLER, _ROLLER_POOLS
    if tool == "hroller":
        path = tmp_path / "roller.data"
        path.write_text(_ROLLER + _ROLLER_POOLS)
        multi = str(path)
    with LuxiFixture(multi) as fx:
        rc, out, err = _run(tool, ["-L" + fx.socket, "--storage-pools"] + args)
        jobs = fx.submitted_jobs
    assert rc == 0, err
    assert [[op["OP_ID"] for op in j.submitted_ops] for j in jobs] == \
        [["OP_NODE_QUERY_STORAGE", "OP_INSTANCE_QUERY_DATA"]]
    assert (rc, out) == _run(tool, ["-t", multi] + args)[:2]
    with LuxiFixture(multi) as fx:
        rc, without, _ = _run(tool, ["-L" + fx.socket] + args)
        assert rc == 0 and fx.submitted_jobs == []
    if tool == "hroller":
        assert without != out       # the HDD instance goes elsewhere
    # an option of ours: accepted, but not in the reference's --help
    assert "storage-pools" not in _run(tool, ["--help"])[1]
