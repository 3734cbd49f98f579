"""The storage-pool options of hinfo, hcheck and hspace (ours, hidden):
``--print-pools`` and hspace's ``--pool=VG[:METAVG]``; without them a file
with a storage-pool section gives the same output as without the section
but for the disk metrics, which are then the pool metric."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulate.generator import generate
from simulate.pools import add_pools


def _run(tool, args):
    out = subprocess.run([str(Path(sys.executable).parent / tool)] + list(args),
                         capture_output=True, text=True, timeout=300)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pt")
    base = generate(nodes=12, instances=20, seed=3, skew=0.0, unaccounted_mem=0.0)
    multi = add_pools(base, 5, 0.3, 3)
    (tmp / "base.data").write_text(base)
    (tmp / "multi.data").write_text(multi)
    return str(tmp / "base.data"), str(tmp / "multi.data")


@pytest.mark.parametrize("tool,args", [("hinfo", []), ("hcheck", []),
                                       ("hspace", ["--disk-template=drbd",
                                                   "--no-capacity-checks"])])
def test_without_options_the_section_changes_only_the_disk_metrics(files, tool,
                                                                   args):
    """The pools are known: the disk metrics (and so the scores) are the
    pool metric's; nothing else changes.  (hspace's capacity checks
    re-create the existing instances elsewhere, which the pools then
    decide instead of the single disk figure: they may allow more.)"""
    base, multi = files
    want = _run(tool, ["-t", base] + args)
    got = _run(tool, ["-t", multi] + args)
    assert got[0] == want[0] == 0 and got[2] == want[2]

    def rest(out):
        return [line for line in out.splitlines()
                if "free_disk_cv" not in line and "score" not in line]
    assert rest(got[1]) == rest(want[1])
    assert got[1] != want[1]


def test_print_pools(files):
    base, multi = files
    rc, out, _ = _run("hinfo", ["-t", multi, "--print-pools"])
    assert rc == 0
    table = out[out.index("Storage pools (12 of 12 online nodes known):"):]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:4]}
    assert rows["xenvg"][1] == "12" and rows["vg_ganeti_hdd"][1] == "7"
    missing = re.search(r"vg_ganeti_hdd missing on: (.*)", table).group(1)
    assert len(missing.split(", ")) == 5
    assert "Storage pools: unknown" in _run("hinfo", ["-t", base,
                                                      "--print-pools"])[1]
    rc, out, _ = _run("hcheck", ["-t", multi, "--print-pools"])
    assert "Group group-01: Storage pools" in out


def _allocated(out):
    return int(re.search(r"- +(\d+) instances allocated", out).group(1))


def test_hspace_capacity_per_pool(files):
    _, multi = files
    args = ["-t", multi, "--disk-template=drbd"]
    plain = _allocated(_run("hspace", args)[1])
    ssd = _allocated(_run("hspace", args + ["--pool=xenvg"])[1])
    hdd = _allocated(_run("hspace", args + ["--pool=vg_ganeti_hdd:xenvg"])[1])
    assert 0 < hdd < plain and 0 < ssd <= plain
    rc, out, err = _run("hspace", args + ["--pool=vg_nope"])
    assert (rc, out) == (1, "")
    assert err.strip().splitlines() == [
        "Error: --pool: no node has volume group vg_nope"]
    rc, out, _ = _run("hspace", args + ["--pool=vg_ganeti_hdd",
                                        "--tiered-alloc=102400,4096,2",
                                        "--print-pools"])
    assert rc == 0 and "After the normal allocation: Storage pools" in out
    # tiered allocation shrank the disks, the pools followed: free stays > 0
    after = out[out.index("After the normal allocation"):]
    for line in after.splitlines()[2:4]:
        assert int(line.split()[3]) > 0


def test_sixth_section_other_than_pools_is_ignored():
    """The reference never reads a sixth section: one that holds no pool
    rows is ignored; one that does is read, and a bad row in it is an
    error of ours."""
    from backends.text import parse_data
    from htools.loader import LoadError
    base = "G|g1|preferred||\n\nn1|1000|0|1000|100|100|4|N|g1|1\n\n\n\n\n"
    assert parse_data(base + "anything|at all\nx\n").nodes[0].pools is None
    cd = parse_data(base + "pool|n1|xenvg|100|50\n")
    assert cd.nodes[0].pools == {"xenvg": (100, 50)}
    with pytest.raises(LoadError):
        parse_data(base + "pool|n1|xenvg|100|50\nbogus|row\n")


# hroller: a hand-made cluster where the HDD instance's only place is node-02
_GROUP = "cd613e30-d8f1-6adf-91b7-584a2265b1f5"
_POLICY = ("128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|"
           "diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext,gluster|4.0|32.0")
_ROLLER = """group-01|{g}|preferred||

node-01|32768|1024|31744|500000|500000|8|M|{g}|2||N|0|1|1.0
node-02|32768|1024|31744|500000|500000|8|N|{g}|2||N|0|1|1.0
node-03|32768|1024|30720|500000|400000|8|N|{g}|2||N|0|1|1.0
node-04|32768|1024|30720|500000|489760|8|N|{g}|2||N|0|1|1.0

inst-1|1024|100000|1|running|Y|node-03||plain||1|-|N
inst-2|1024|10240|1|running|Y|node-04||plain||1|-|N


|{p}
group-01|{p}
""".format(g=_GROUP, p=_POLICY)
_ROLLER_POOLS = """
pool|node-01|xenvg|250000|250000
pool|node-02|xenvg|250000|250000
pool|node-02|vg_ganeti_hdd|250000|250000
pool|node-03|xenvg|250000|250000
pool|node-03|vg_ganeti_hdd|250000|150000
pool|node-04|xenvg|250000|239760
disk|inst-1|100000|vg_ganeti_hdd|
disk|inst-2|10240|xenvg|
"""


def _roller_moves(path):
    import json
    rc, out, err = _run("hroller", ["-t", str(path), "--full-evacuation",
                                    "--json"])
    assert rc == 0, err
    return [(m["instance"], m["primary"]) for g in json.loads(out)["groups"]
            for m in g["moves"]]


def test_hroller_evacuations_respect_the_pools(tmp_path):
    """hroller --full-evacuation relocates a non-redundant instance only to
    a node with its volume groups (the reference's plan, without pools,
    puts the HDD instance on a node lacking the VG)."""
    base = tmp_path / "roller.data"
    base.write_text(_ROLLER)
    multi = tmp_path / "roller-pools.data"
    multi.write_text(_ROLLER + _ROLLER_POOLS)
    hdd_nodes = {"node-02", "node-03"}
    plain = dict(_roller_moves(base))
    assert plain["inst-1"] not in hdd_nodes
    pooled = dict(_roller_moves(multi))
    assert pooled["inst-1"] in hdd_nodes
