"""The ``--simulate`` backend (backends/simu.py).

Unit tests for naming, ordering, defaults, units and error texts; when the
reference ``hspace`` is installed, differential checks: the simulated
cluster is saved by ``hspace --simulate=... -l 0 -S FILE`` (with no
allocation round the ``FILE.tiered`` state is the initial cluster) and
compared with our serialised data, and error messages are compared with
hspace's ``Error: failed to load data, aborting: ...``.
"""
import os
import subprocess
from pathlib import Path

import pytest

from backends import simu
from backends.text import serialize_cluster
from htools.errors import HtoolsError
from htools.loader import LoadError, merge_data
from htools.types import DEFAULT_IPOLICY, AllocPolicy

REF_HSPACE = Path("/usr/lib/ganeti/3.0/usr/bin/hspace")
needs_ref = pytest.mark.skipif(not REF_HSPACE.exists(),
                               reason="reference hspace not installed")


def ref_env():
    env = dict(os.environ)
    env.pop("GANETI_ROOTDIR", None)
    env.pop("HTOOLS", None)
    env["LANG"] = env["LC_ALL"] = "C.UTF-8"
    return env


def cmdline_order(specs):
    """--simulate values as given -> htools' optNodeSim list (prepended)."""
    return list(reversed(specs))


def ours_text(cmdline_specs):
    cdata = simu.load(cmdline_order(cmdline_specs))
    merge_data(cdata)
    return serialize_cluster(cdata)


# ---------------------------------------------------------------- unit tests

def test_single_group_basics():
    cd = simu.load(["p,3,100G,64g,8"])
    assert [g.name for g in cd.groups] == ["group-01"]
    assert [g.uuid for g in cd.groups] == ["fake-uuid-01"]
    assert cd.groups[0].alloc_policy == AllocPolicy.PREFERRED
    assert cd.groups[0].ipolicy == DEFAULT_IPOLICY
    assert cd.ipolicy == DEFAULT_IPOLICY
    assert cd.instances == [] and cd.tags == []
    names = [n.name for n in cd.nodes]
    assert names == ["node-01-001", "node-01-002", "node-01-003"]
    assert [n.idx for n in cd.nodes] == [0, 1, 2]
    assert [n.is_master for n in cd.nodes] == [True, False, False]
    n = cd.nodes[1]
    assert (n.t_mem, n.n_mem, n.f_mem) == (65536.0, 0, 65536)
    assert (n.t_dsk, n.f_dsk) == (95367.0, 95367)      # 100G is SI
    assert (n.t_cpu, n.n_cpu) == (8.0, 1)
    assert (n.t_spindles, n.f_spindles) == (1, 0)
    assert n.excl_storage is False and n.offline is False
    assert n.group == 0


def test_groups_follow_list_order():
    # the list is in optNodeSim order: its first spec is group 1
    cd = simu.load(["u,1,1TB,2GiB,16,3", "a,2,100G,1000M,4,12,True"])
    assert [(g.name, g.alloc_policy, g.idx) for g in cd.groups] == [
        ("group-01", AllocPolicy.UNALLOCABLE, 0),
        ("group-02", AllocPolicy.LAST_RESORT, 1)]
    assert [n.name for n in cd.nodes] == ["node-01-001", "node-02-001",
                                          "node-02-002"]
    assert [n.group for n in cd.nodes] == [0, 1, 1]
    assert [n.is_master for n in cd.nodes] == [True, False, False]
    n2 = cd.nodes[1]
    assert n2.excl_storage is True and n2.t_spindles == 12
    assert n2.t_mem == 953.0   # 1000M is SI
    assert cd.nodes[0].t_dsk == 953674.0 and cd.nodes[0].t_mem == 2048.0


@pytest.mark.parametrize("spec,excl,spindles", [
    ("p,1,1T,1g,1", False, 1),
    ("p,1,1T,1g,1,7", False, 7),
    ("p,1,1T,1g,1,7,True", True, 7),
    ("p,1,1T,1g,1,7,(False)", False, 7),
    ("p,1,1T,1g,1,7, ( True )", True, 7),
])
def test_optional_sections(spec, excl, spindles):
    n = simu.load([spec]).nodes[0]
    assert n.excl_storage is excl and n.t_spindles == spindles


def test_empty_groups_and_haskell_numbers():
    cd = simu.load(["p,0,1T,64g,8", "preferred,0x2,1t,0o10,(4)"])
    assert len(cd.groups) == 2
    assert [n.name for n in cd.nodes] == ["node-02-001", "node-02-002"]
    assert not any(n.is_master for n in cd.nodes)
    assert cd.nodes[0].t_mem == 8.0 and cd.nodes[0].t_cpu == 4.0
    assert simu.load(["p,-3,1T,1g,1"]).nodes == []


_SPEC6 = ("Invalid cluster specification, expected 6 comma-separated sections "
          "(allocation policy, node count, disk size, memory size, number of "
          "CPUs, spindles) but got %d: '%s'")

ERRORS = [
    ("x,2,100G,64g,8", 'Invalid string value for type AllocPolicy: "x"; '
     "Cannot parse AllocPolicy abbreviation 'x'"),
    ("p,2,100G", _SPEC6 % (3, "p,2,100G")),
    ("", _SPEC6 % (0, "")),
    ("p,2,100G,64g,8,1,True,3", _SPEC6 % (8, "p,2,100G,64g,8,1,True,3")),
    ("p,a,100G,64g,8", "node count: cannot parse string 'a'"),
    ("p,2,100Q,64g,8", "disk size: Unknown unit 'Q'"),
    ("p,2,abc,64g,8", "disk size: Can't parse string 'abc'"),
    ("p,2,1.5T,64g,8", "disk size: Can't parse string '1.5T'"),
    ("p,2,100G,x,8", "memory size: Can't parse string 'x'"),
    ("preferred,2,1T,64g,8.0", "cpu count: cannot parse string '8.0'"),
    ("p,2,1T,64g,8,z", "spindles: cannot parse string 'z'"),
    ("p,2,1T,64g,8,4,true", "exclusive storage: cannot parse string 'true'"),
    ("p,2,1T,64g,8,4,True ",
     "exclusive storage: leftover characters when parsing 'True ': ' '"),
    ("p,2,1T,64g,8,4,Truex", "exclusive storage: cannot parse string 'Truex'"),
]


@pytest.mark.parametrize("spec,msg", ERRORS)
def test_error_messages(spec, msg):
    with pytest.raises(LoadError) as ei:
        simu.load([spec])
    assert ei.value.message == msg
    assert isinstance(ei.value, HtoolsError) and ei.value.status == 1


def test_first_bad_spec_in_list_order_wins():
    with pytest.raises(LoadError) as ei:
        simu.load(["p,a,1T,1g,1", "p,2,1Q,1g,1"])
    assert ei.value.message == "node count: cannot parse string 'a'"


# ---------------------------------------------------------------- reference

def ref_saved_state(cmdline_specs, tmp_path):
    prefix = tmp_path / "state"
    args = [str(REF_HSPACE)] + ["--simulate=" + s for s in cmdline_specs] + [
        "-l", "0", "-S", str(prefix)]
    subprocess.run(args, cwd=str(tmp_path), env=ref_env(),
                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, timeout=60)
    return (tmp_path / "state.tiered").read_text()


DIFF_CASES = [
    ["p,3,100G,64g,8"],
    ["p,2,8T,64g,8", "a,3,100G,1000M,4,12,True", "u,1,1TB,2GiB,16,3"],
    ["preferred,1,1t,1g,1"],
    ["last_resort,4,500,256,2,5"],
    ["unallocable,2,1 T,64 gib,(8)"],
    ["p,0,1T,64g,8", "p,2,1T,64g,8"],
    ["p,2,0x10,0o10,8"],
    ["p,2,1T,64g,8,4,(True)"],
    ["p,2,1T,64g,8,4, False"],
    ["p,12,2TiB,128GB,32,24,True"],
    ["a,1,100M,100MB,1", "p,1,1G,1GB,2,2", "u,1,1g,1GiB,3,3,True"],
]


@needs_ref
@pytest.mark.parametrize("specs", DIFF_CASES, ids=lambda s: "|".join(s))
def test_reference_state(specs, tmp_path):
    assert ours_text(specs) == ref_saved_state(specs, tmp_path)


@needs_ref
@pytest.mark.parametrize("spec", [e[0] for e in ERRORS] + [
    "P,2,1T,64g,8", "p,2 ,1T,64g,8", "p,2,1T ,64g,8",
    "p,2,1T,64g,8,4,(True", "p,2,1T,64g,8,4,True)", "p,2,1T,64g,8,4,1",
    "p,1e3,1T,64g,8", "p,2,1T,64g,8,", "p,2,,64g,8", "p,2,1T,64g,",
    "p\"q,2,1T,64g,8", "p,2,1T,64g,8,4,True.", "p,2,1 T B,64g,8",
    "p,2,1T,64g,8,4,False,"])
def test_reference_errors(spec, tmp_path):
    r = subprocess.run([str(REF_HSPACE), "--simulate=" + spec, "-l", "0"],
                       cwd=str(tmp_path), env=ref_env(),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    with pytest.raises(LoadError) as ei:
        simu.load([spec])
    assert r.returncode == 1
    assert r.stderr.decode() == ("Error: failed to load data, aborting: %s\n"
                                 % ei.value.message)


@needs_ref
@pytest.mark.parametrize("spec", ["p, 2,1T,64g,8", "p,( 2 ),1T,64g,8"])
def test_reference_accepts(spec, tmp_path):
    assert ours_text([spec]) == ref_saved_state([spec], tmp_path)


@needs_ref
def test_reference_error_order(tmp_path):
    # the last --simulate is parsed first
    r = subprocess.run([str(REF_HSPACE), "--simulate=p,a,1T,1g,1",
                        "--simulate=p,2,1Q,1g,1", "-l", "0"],
                       cwd=str(tmp_path), env=ref_env(),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    with pytest.raises(LoadError) as ei:
        simu.load(cmdline_order(["p,a,1T,1g,1", "p,2,1Q,1g,1"]))
    assert ei.value.message == "disk size: Unknown unit 'Q'"
    assert r.stderr.decode() == ("Error: failed to load data, aborting: %s\n"
                                 % ei.value.message)
