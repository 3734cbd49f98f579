"""harep: the pure repair logic, and ours against the reference on the fixture.

Unit tests hold :mod:`htools.repair` to the rules of Ganeti 3.0.2's
``Program/Harep.hs`` (tag parsing, initial state, policy scopes, detection,
the texts harep prints).

The differential tests run the reference harep and ours against the Luxi
fixture (tests/harness/luxi_fixture.py), each on a fresh fixture with the same
cluster and script, and compare: standard output, standard error, exit
status, every request made (method and arguments), the jobs submitted (their
opcodes, with the reason-trail timestamps zeroed) and the instance tags the
cluster ends with.  What is random or time-dependent in harep's output is
normalised the same way for both: the uuid of a new repair task (numbered in
order of appearance) and the timestamps harep writes into tags (``NOW``).
The cases run in parallel threads (harep waits 0.5 s for each tag job).
"""
from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from htools import repair as rp  # noqa: E402
from htools.types import DiskTemplate  # noqa: E402
from htools.haskell.json import encode

REF = "/usr/lib/ganeti/3.0/usr/bin/harep"
OURS = os.path.join(os.path.dirname(sys.executable), "harep")
P = rp.TAG_PREFIX


# ================================================================ unit tests

def test_chomp_prefix_and_sep_split():
    assert rp.chomp_prefix("a:b:", "a:b:c") == "c"
    assert rp.chomp_prefix("a:b:", "a:b") == ""          # Ganeti's quirk
    assert rp.chomp_prefix("a:b:", "a:bc") is None
    assert rp.sep_split(":", "") == []
    assert rp.sep_split(":", "a") == ["a"]
    assert rp.sep_split(":", "a::b:") == ["a", "", "b", ""]


@pytest.mark.parametrize("text,value", [
    ("12", 12), ("-3", -3), ("0x1f", 31), ("0o17", 15), ("(7)", 7),
    (" 5", 5), ("- 4", -4), ("5 ", None), ("1e3", None), ("", None),
    ("1.5", None), ("12a", None), ("0x", None), ("99999999999999999999",
                                                 99999999999999999999)])
def test_read_integer(text, value):
    assert rp.read_integer(text) == value


def test_read_int_wraps():
    assert rp.read_int("18446744073709551617") == 1
    assert rp.read_int("9223372036854775808") == -(1 << 63)


def test_parse_init_tag():
    d = rp.parse_init_tag(P + "pending:failover:u1:100:3+4")
    assert (d.rtype, d.uuid, d.time, d.jobs, d.result) == (rp.FAILOVER, "u1", 100, (3, 4), None)
    d = rp.parse_init_tag(P + "result:fix-storage:u2:7:enoperm:")
    assert (d.rtype, d.time, d.jobs, d.result) == (rp.FIX_STORAGE, 7, (), rp.ENOPERM)
    assert d.tag == P + "result:fix-storage:u2:7:enoperm:"
    for bad in ["pending:failover:u1:100", "pending:bogus:u1:100:1",
                "pending:failover:u1:x:1", "pending:failover:u1:1:-1",
                "pending:failover:u1:1:1+", "result:failover:u1:1:done:1",
                "result:failover:u1:1:1", "failover", "pending", "suspend:"]:
        assert rp.parse_init_tag(P + bad) is None, bad
    assert rp.parse_init_tag("other:tag") is None


def test_update_tag_roundtrip():
    d = rp.RepairData(rp.REINSTALL, "abc", 1234, (5, 6), rp.FAILURE).with_tag()
    assert d.tag == P + "result:reinstall:abc:1234:failure:5+6"
    assert rp.parse_init_tag(d.tag) == d
    p = rp.RepairData(rp.MIGRATE, "x", 9).with_tag()
    assert p.tag == P + "pending:migrate:x:9:"


def _tags(*items):
    return [P + t for t in items]


def test_initial_state_rules():
    st = rp.initial_state("i", ["foo"])
    assert (st.state, st.data, st.to_remove) == (rp.HEALTHY, None, [])
    # newest success wins, older success tag to be removed
    st = rp.initial_state("i", _tags("result:failover:b:200:success:1",
                                     "result:failover:a:100:success:2"))
    assert st.state == rp.HEALTHY and st.data.uuid == "b"
    assert st.to_remove == [P + "result:failover:a:100:success:2"]
    # the earliest failure wins
    st = rp.initial_state("i", _tags("result:failover:a:100:failure:1",
                                     "result:failover:b:200:success:2",
                                     "pending:failover:c:300:3"))
    assert st.state == rp.FAILED and st.data.uuid == "a"
    # pending after success
    st = rp.initial_state("i", _tags("pending:failover:c:300:3",
                                     "result:failover:b:200:success:2"))
    assert st.state == rp.PENDING and st.data.uuid == "c"
    # within one task the highest result counts: failure > success > enoperm > pending
    st = rp.initial_state("i", _tags("pending:failover:a:100:1",
                                     "result:failover:a:50:failure:1",
                                     "result:failover:a:900:success:1"))
    assert st.state == rp.FAILED and st.data.time == 50
    # enoperm counts as healthy
    assert rp.initial_state("i", _tags("result:reinstall:a:1:enoperm:")).state == rp.HEALTHY


def test_initial_state_two_pending_is_an_error():
    with pytest.raises(rp.RepairTagError) as ei:
        rp.initial_state("inst1", _tags("pending:failover:a:100:1",
                                        "result:failover:b:200:success:2"))
    assert ei.value.message == (
        'An unfinished repair was found in instance inst1: found tag "%s'
        'result:failover:b:200:success:2", but older pending tag "%s'
        'pending:failover:a:100:1"exists.' % (P, P))


def test_after_jobs():
    st = rp.initial_state("i", _tags("result:failover:a:1:success:1",
                                     "pending:failover:b:5:7+8"))
    ok = rp.after_jobs(st, ["success", "success"], 99)
    assert ok.state == rp.HEALTHY
    assert ok.data.tag == P + "result:failover:b:99:success:7+8"
    assert ok.to_remove == [P + "pending:failover:b:5:7+8",
                            P + "result:failover:a:1:success:1"]
    bad = rp.after_jobs(st, ["success", "canceled"], 99)
    assert bad.state == rp.FAILED and bad.data.result == rp.FAILURE


def test_get_policy():
    now = 1000 * 10**9
    assert rp.get_policy(["x"], now) is None
    assert rp.get_policy(_tags("failover", "migrate", "bogus"), now) == \
        rp.Policy("enabled", max_type=rp.MIGRATE)
    assert rp.get_policy(_tags("reinstall", "suspend"), now) == rp.Policy("suspended")
    assert rp.get_policy(_tags("suspend:"), now) == rp.Policy("suspended")
    assert rp.get_policy(_tags("suspend:2000", "suspend:3000", "suspend:500"), now) == \
        rp.Policy("suspended", until=3000)
    # past or unreadable suspensions do not count
    assert rp.get_policy(_tags("suspend:1000", "suspend:soon", "fix-storage"), now) == \
        rp.Policy("enabled", max_type=rp.FIX_STORAGE)
    assert rp.get_policy(_tags("suspend:0x7d0"), now) == rp.Policy("suspended", until=2000)


def test_policy_show(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert rp.Policy("suspended", until=4102444900).show() == \
            "ArSuspended (Until Fri Jan  1 00:01:40 UTC 2100)"
        assert rp.Policy("suspended").show() == "ArSuspended Forever"
        assert rp.NOT_ENABLED.show() == "ArNotEnabled"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@dataclass
class _N:
    offline: bool
    group: int = 0


@dataclass
class _I:
    name: str
    disk_template: DiskTemplate
    pnode: int
    snode: int = -1
    tags: List[str] = field(default_factory=list)


def test_detect_broken():
    nodes = [_N(False), _N(True), _N(True)]
    drbd = DiskTemplate.DRBD
    assert rp.detect_broken(nodes, _I("a", drbd, 0, 1))[0] == rp.FIX_STORAGE
    assert rp.detect_broken(nodes, _I("a", drbd, 1, 0)) == (
        rp.FAILOVER, [rp.op_failover("a")])
    rtype, ops = rp.detect_broken(nodes, _I("a", drbd, 1, 2))
    assert rtype == rp.REINSTALL
    assert [o["OP_ID"] for o in ops] == ["OP_INSTANCE_RECREATE_DISKS",
                                         "OP_INSTANCE_REINSTALL"]
    assert rp.detect_broken(nodes, _I("a", drbd, 0, 0)) is None
    assert rp.detect_broken(nodes, _I("a", DiskTemplate.PLAIN, 1))[0] == rp.REINSTALL
    assert rp.detect_broken(nodes, _I("a", DiskTemplate.PLAIN, 0)) is None
    for dt in (DiskTemplate.DISKLESS, DiskTemplate.FILE, DiskTemplate.SHAREDFILE,
               DiskTemplate.BLOCK, DiskTemplate.RBD, DiskTemplate.EXT):
        assert rp.detect_broken(nodes, _I("a", dt, 1)) is None
    from htools.errors import MissingKey
    with pytest.raises(MissingKey):
        rp.detect_broken(nodes, _I("a", drbd, 0, -1))


def test_instance_policies_scopes():
    @dataclass
    class G:
        tags: List[str]

    @dataclass
    class C:
        tags: List[str]
        groups: List[G]
        nodes: List[_N]
        instances: List[_I]
    cd = C(_tags("fix-storage"), [G([]), G(_tags("reinstall")), G(_tags("suspend"))],
           [_N(False, 0), _N(False, 1), _N(False, 2)],
           [_I("a", DiskTemplate.DRBD, 0, 1), _I("b", DiskTemplate.DRBD, 1, 0),
            _I("c", DiskTemplate.DRBD, 2, 0), _I("d", DiskTemplate.DRBD, 2, 0,
                                                 _tags("migrate"))])
    pols = rp.instance_policies(cd, 0)
    assert [p.show() for p in pols] == ["ArEnabled ArFixStorage", "ArEnabled ArReinstall",
                                        "ArSuspended Forever", "ArEnabled ArMigrate"]
    cd.tags = []
    cd.groups[1].tags = []
    assert rp.instance_policies(cd, 0)[1] == rp.NOT_ENABLED


def test_json_encode():
    assert encode([[rp.op_test_delay(2.5)]]) == (
        '[[{"OP_ID":"OP_TEST_DELAY","duration":2.5,"on_master":true,"on_nodes":[],'
        '"repeat":0,"interruptible":false,"no_locks":false}]]')
    assert encode(10.0) == "10"
    assert encode(0.01) == "1.0e-2"
    assert encode('a"\\\n\x01\x1f\xe9') == '"a\\"\\\\\\n\\u0001\\u001f\xe9"'
    assert encode(float("inf")) == "%d" % (1 << 1024)
    assert rp.wire_number(3.0) == 3 and rp.wire_number(0.5) == 0.5


def test_status_counts():
    sts = [rp.RepairState("a"), rp.RepairState("b", rp.PENDING),
           rp.RepairState("c"), rp.RepairState("d", rp.NEEDS_REPAIR),
           rp.RepairState("e", rp.FAILED)]
    assert rp.status_counts(sts) == ["Failure: 1", "Healthy: 2", "Needs repair: 1",
                                     "Pending repair: 1"]


# ================================================================ the clusters

@dataclass
class Inst:
    name: str
    pnode: str
    snode: str = ""
    template: str = "drbd"
    tags: Sequence[str] = ()
    status: str = "running"
    mem: int = 1024
    dsk: int = 10240


def cluster_text(groups: Dict[str, Sequence[str]], nodes: Dict[str, str],
                 insts: Sequence[Inst], ctags: Sequence[str] = ()) -> str:
    """A text-format cluster: ``groups`` name -> tags, ``nodes`` name ->
    group (the first node is the master); free memory and disk consistent
    with the instances."""
    guuid = {g: "fa1e0000-0000-0000-0000-%012d" % (k + 1) for k, g in enumerate(groups)}
    used_mem = {n: 0 for n in nodes}
    used_dsk = {n: 0 for n in nodes}
    for i in insts:
        if i.status == "running":
            used_mem[i.pnode] += i.mem
        if i.template in ("plain", "drbd"):
            for n in [i.pnode] + ([i.snode] if i.snode else []):
                used_dsk[n] += i.dsk
    glines = ["%s|%s|preferred|%s|" % (g, guuid[g], ",".join(t)) for g, t in groups.items()]
    nlines = []
    for k, (n, g) in enumerate(nodes.items()):
        nlines.append("%s|65536|1024|%d|1000000|%d|16|%s|%s|4||N|0|1|1.0" % (
            n, 65536 - 1024 - used_mem[n], 1000000 - used_dsk[n], "M" if k == 0 else "N",
            guuid[g]))
    ilines = ["%s|%d|%d|1|%s|Y|%s|%s|%s|%s|1|-|N" % (
        i.name, i.mem, i.dsk, i.status, i.pnode, i.snode, i.template, ",".join(i.tags))
        for i in insts]
    return "\n".join("".join(line + "\n" for line in block)
                     for block in (glines, nlines, ilines, list(ctags)))


def _nodes(groups: Dict[str, int]) -> Dict[str, str]:
    out, k = {}, 1
    for g, count in groups.items():
        for _ in range(count):
            out["node-%02d" % k] = g
            k += 1
    return out


# Scopes: g1 enables failover, g2 inherits the cluster's fix-storage, g3 is
# suspended forever, g4 suspended until 2100 (and enables reinstall), g5
# enables reinstall.  node-02 offline, node-06 offline, node-09 drained,
# node-11 offline, node-13 and node-14 offline.
SCOPES_GROUPS = {"g1": [P + "failover"], "g2": [], "g3": [P + "suspend"],
                 "g4": [P + "suspend:4102444800", P + "suspend:4102444900", P + "reinstall"],
                 "g5": [P + "reinstall", "other:tag"]}
SCOPES_NODES = _nodes({"g1": 4, "g2": 4, "g3": 2, "g4": 2, "g5": 4})
SCOPES_DOWN = {"node-02": {"offline": True}, "node-06": {"offline": True},
               "node-09": {"drained": True}, "node-11": {"offline": True},
               "node-13": {"offline": True}, "node-14": {"offline": True}}
SCOPES_INSTS = [
    Inst("inst-a", "node-02", "node-03"),                      # g1 primary down: failover
    Inst("inst-b", "node-03", "node-02"),                      # g1 secondary down: fix-storage
    Inst("inst-c", "node-01", "node-03"),                      # healthy
    Inst("inst-d", "node-02", "node-04", tags=[P + "reinstall"]),
    Inst("inst-e", "node-02", "node-01", tags=[P + "fix-storage"]),  # enoperm
    Inst("inst-f", "node-02", template="plain"),               # plain: reinstall > failover
    Inst("inst-g", "node-02", template="plain", tags=[P + "reinstall", "x:y"]),
    Inst("inst-h", "node-02", template="diskless"),
    Inst("inst-i", "node-02", template="file"),
    Inst("inst-j", "node-02", template="sharedfile"),
    Inst("inst-k", "node-06", "node-05"),                      # g2: cluster fix-storage
    Inst("inst-l", "node-05", "node-06"),
    Inst("inst-m", "node-07", "node-08", tags=[P + "suspend"]),
    Inst("inst-n", "node-06", "node-07", tags=[P + "suspend:100", P + "failover"]),
    Inst("inst-o", "node-10", "node-09"),                      # g3 suspended forever
    Inst("inst-p", "node-09", "node-10", tags=[P + "migrate"]),
    Inst("inst-q", "node-12", "node-11"),                      # g4 suspended until 2100
    Inst("inst-r", "node-13", "node-14"),                      # g5 both down: reinstall
    Inst("inst-s", "node-13", "node-15"),
    Inst("inst-t", "node-15", "node-14", status="ADMIN_down"),
    Inst("inst-u", "node-16", "node-15"),
]

PLAIN_GROUPS = {"default": []}
PLAIN_NODES = _nodes({"default": 4})
PLAIN_INSTS = [
    Inst("p1", "node-02", template="plain"),
    Inst("p2", "node-03", template="plain"),
    Inst("p3", "node-02", template="plain", tags=[P + "failover"]),
    Inst("p4", "node-02", template="sharedfile"),
    Inst("p5", "node-04", "node-02"),
    Inst("p6", "node-02", template="plain", status="ADMIN_down",
         tags=[P + "result:reinstall:old1:100:success:1"]),
]

OP = [{"OP_ID": "OP_TEST_DELAY", "duration": 1}]


def _job(status: str) -> dict:
    return {"status": status, "ops": OP}


# Tag states, on g1 (failover allowed): jobs 1 success, 2 running, 3 error,
# 4 canceled, 5 queued, 6 success.
STATES_JOBS = [_job("success"), _job("running"), _job("error"), _job("canceled"),
               _job("queued"), _job("success")]
STATES_INSTS = [
    Inst("s-done", "node-02", "node-03", tags=[P + "pending:failover:aaaa:100:1"]),
    Inst("s-running", "node-02", "node-03", tags=[P + "pending:failover:bbbb:100:2"]),
    Inst("s-error", "node-02", "node-04", tags=[P + "pending:failover:cccc:100:3+1"]),
    Inst("s-canceled", "node-01", "node-03", tags=[P + "pending:fix-storage:dddd:100:4"]),
    Inst("s-queued", "node-01", "node-03", tags=[P + "pending:failover:eeee:100:6+5"]),
    Inst("s-multi", "node-03", "node-04", tags=[P + "pending:failover:ffff:100:1+6"]),
    Inst("s-success", "node-01", "node-04",
         tags=[P + "result:failover:g1:100:success:1", P + "result:failover:g2:200:success:1"]),
    Inst("s-success-broken", "node-02", "node-04",
         tags=[P + "result:failover:h1:100:success:1", P + "result:failover:h2:200:success:6"]),
    Inst("s-failure", "node-02", "node-03",
         tags=[P + "result:failover:i1:100:failure:1", P + "result:failover:i2:200:success:1"]),
    Inst("s-enoperm", "node-02", "node-01",
         tags=[P + "result:reinstall:j1:100:enoperm:"]),
    Inst("s-junk", "node-02", "node-01",
         tags=[P + "pending:failover:k1:x:1", P + "result:failover:k2:1:ok:1",
               P + "pending", P + "bogus", "ganeti:watcher:autorepair"]),
    Inst("s-nojobs", "node-01", "node-04", tags=[P + "pending:failover:l1:100:"]),
    Inst("s-pending-newer", "node-02", "node-03",
         tags=[P + "result:failover:m1:100:success:1", P + "pending:failover:m2:200:6"]),
]
STATES_GROUPS = {"g1": [P + "failover"]}
STATES_NODES = _nodes({"g1": 4})
STATES_DOWN = {"node-02": {"offline": True}}

# How harep reads the numbers in tags (Haskell's reader: hex, octal,
# negative, parentheses; no exponent) and shows suspension times (local
# time zone; a year that does not fit glibc's struct tm).
LEX_GROUPS = {"g1": [P + "failover"], "g2": [P + "suspend:999999999999"],
              "g3": [P + "suspend:99999999999999999999"],
              "g4": [P + "suspend:18446744073709551615"]}
LEX_NODES = _nodes({"g1": 3, "g2": 2, "g3": 2, "g4": 2})
LEX_DOWN = {"node-02": {"offline": True}, "node-05": {"offline": True},
            "node-07": {"offline": True}, "node-09": {"offline": True}}
LEX_INSTS = [
    Inst("l-plain", "node-02", "node-01"),
    Inst("l-year-33658", "node-05", "node-04"),
    # (a suspension beyond year 2^31 is shown from uninitialised memory by
    # the reference: "Jan  0" or "illegal month value: 21563928", at random)
    Inst("l-wrapped", "node-09", "node-08"),
    Inst("l-exponent", "node-02", "node-01", tags=[P + "suspend:1e10"]),
    Inst("l-hex", "node-02", "node-01", tags=[P + "suspend:0xF4865700"]),
    Inst("l-octal", "node-02", "node-01", tags=[P + "suspend:0o36441053400"]),
    Inst("l-parens", "node-02", "node-01", tags=[P + "suspend:(4102444800)"]),
    Inst("l-negative", "node-02", "node-01",
         tags=[P + "suspend:-5", P + "suspend: 4102444801"]),
    Inst("l-pending-hex", "node-01", "node-03",
         tags=[P + "pending:failover:hx:0x10:0x1"]),
    Inst("l-pending-zeros", "node-01", "node-03",
         tags=[P + "pending:fix-storage:z0:-7:002+(1)"]),
    Inst("l-pending-space", "node-01", "node-03",
         tags=[P + "pending:fix-storage:z1:7 :1"]),
]

TWO_PENDING = [Inst("bad", "node-01", "node-02",
                    tags=[P + "pending:failover:a:100:1", P + "pending:failover:b:200:2"])]
PENDING_THEN_SUCCESS = [Inst("ok", "node-01", "node-02"),
                        Inst("bad2", "node-01", "node-02",
                             tags=[P + "pending:failover:a:100:1",
                                   P + "result:failover:b:200:success:2"])]


@dataclass
class Case:
    name: str
    groups: Dict[str, Sequence[str]]
    nodes: Dict[str, str]
    insts: Sequence[Inst]
    args: Sequence[str] = ()
    script: dict = field(default_factory=dict)
    ctags: Sequence[str] = ()
    socket: Optional[str] = None        # -L argument; None: the fixture's
    tz: str = "UTC"
    rootdir: bool = False               # serve at $GANETI_ROOTDIR's default socket
    runs: int = 1                       # runs in a row on the same fixture


def _cases() -> List[Case]:
    out = []
    for dry in (True, False):
        sfx = "-dry" if dry else ""
        a = ["--dry-run"] if dry else []
        out += [
            Case("scopes" + sfx, SCOPES_GROUPS, SCOPES_NODES, SCOPES_INSTS,
                 a + ["--job-delay=0"] if not dry else a,
                 {"nodes": SCOPES_DOWN}, [P + "fix-storage"]),
            Case("plain" + sfx, PLAIN_GROUPS, PLAIN_NODES, PLAIN_INSTS, a,
                 {"nodes": {"node-02": {"drained": True}}}, [P + "reinstall"]),
            Case("states" + sfx, STATES_GROUPS, STATES_NODES, STATES_INSTS, a,
                 {"nodes": STATES_DOWN, "existing_jobs": STATES_JOBS}),
        ]
    out += [
        Case("not-enabled", PLAIN_GROUPS, PLAIN_NODES, PLAIN_INSTS, ["--dry-run"],
             {"nodes": {"node-02": {"offline": True}}}),
        Case("cluster-suspended-group-enabled", {"a": [P + "migrate"], "b": []},
             _nodes({"a": 3, "b": 3}),
             [Inst("x1", "node-01", "node-02"), Inst("x2", "node-04", "node-05"),
              Inst("x3", "node-02", "node-03")],
             ["--dry-run"], {"nodes": {"node-02": {"offline": True},
                                       "node-05": {"offline": True}}},
             [P + "suspend", P + "failover"]),
        Case("job-delay-fraction", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], ["--dry-run", "--job-delay=2.5"],
             {"nodes": STATES_DOWN}),
        Case("job-delay-small", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], ["--dry-run", "--job-delay=0.001"],
             {"nodes": STATES_DOWN}),
        Case("job-delay-negative", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], ["--dry-run", "--job-delay=-1"],
             {"nodes": STATES_DOWN}),
        Case("reason", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03"), Inst("d2", "node-01", "node-02")],
             ["--reason=disk \"died\"", "--job-delay=1.5"], {"nodes": STATES_DOWN}),
        Case("slow-tag-job", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], [],
             {"nodes": STATES_DOWN, "job_defaults": {"polls": 2}}),
        Case("tag-job-fails", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03"), Inst("d2", "node-01", "node-02")], [],
             {"nodes": STATES_DOWN, "jobs": [{"match": {"op": "OP_TAGS_SET"},
                                              "outcome": "error"}]}),
        Case("tag-del-fails", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03", tags=[P + "pending:failover:z:5:1"])], [],
             {"nodes": STATES_DOWN, "existing_jobs": [_job("success")],
              "jobs": [{"match": {"op": "OP_TAGS_DEL"}, "outcome": "canceled"}]}),
        Case("repair-rejected", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], [],
             {"nodes": STATES_DOWN, "jobs": [{"match": {"index": 0}, "outcome": "reject",
                                              "message": "Job queue is drained"}]}),
        Case("submit-error", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], [],
             {"nodes": STATES_DOWN, "faults": [{"method": "SubmitManyJobs", "action": "error"}]}),
        Case("submit-bad-id", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], [],
             {"nodes": STATES_DOWN, "faults": [{"method": "SubmitManyJobs", "action": "reply",
                                                "result": [[True, "x"]]}]}),
        *[Case("submit-reply-%d" % k, STATES_GROUPS, STATES_NODES,
               [Inst("d1", "node-02", "node-03")], [],
               {"nodes": STATES_DOWN, "faults": [{"method": "SubmitManyJobs",
                                                  "action": "reply", "result": res}]})
          for k, res in enumerate([[[True, -2]], [[True, True]], [[True, 2.5]], [1],
                                   {"a": 1}, [[True, "0x10"]], [[True, 1], [False, "no"]],
                                   None, [[True, 1], [True, 2]]])],
        *[Case("poll-reply-%d" % k, STATES_GROUPS, STATES_NODES,
               [Inst("d1", "node-02", "node-03")], [],
               {"nodes": STATES_DOWN, "faults": [{"method": "QueryJobs", "action": "reply",
                                                  "result": res}]})
          for k, res in enumerate([{}, [["bogus"]], [["success", 1]], [5]])],
        Case("submit-drop", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], [],
             {"nodes": STATES_DOWN, "faults": [{"method": "SubmitManyJobs", "nth": 2,
                                                "action": "drop_mid_reply"}]}),
        Case("tag-submit-garbage", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], [],
             {"nodes": STATES_DOWN, "faults": [{"method": "SubmitManyJobs", "nth": 2,
                                                "action": "garbage"}]}),
        Case("poll-null", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], [],
             {"nodes": STATES_DOWN, "faults": [{"method": "QueryJobs", "action": "reply",
                                                "result": [[None]]}]}),
        Case("pending-poll-error", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03", tags=[P + "pending:failover:z:5:1"])], [],
             {"nodes": STATES_DOWN, "existing_jobs": [_job("success")],
              "faults": [{"method": "QueryJobs", "action": "error"}]}),
        Case("pending-poll-empty", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03", tags=[P + "pending:failover:z:5:1"])], [],
             {"nodes": STATES_DOWN, "existing_jobs": [_job("success")],
              "faults": [{"method": "QueryJobs", "action": "reply", "result": [[]]}]}),
        Case("pending-poll-drop", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03", tags=[P + "pending:failover:z:5:1"])], [],
             {"nodes": STATES_DOWN, "existing_jobs": [_job("success")],
              "faults": [{"method": "QueryJobs", "action": "drop_mid_reply"}]}),
        Case("tag-numbers-ist", LEX_GROUPS, LEX_NODES, LEX_INSTS, ["--job-delay=0"],
             {"nodes": LEX_DOWN, "existing_jobs": [_job("success"), _job("error")]},
             tz="Asia/Kolkata"),
        Case("tag-numbers-newyork", LEX_GROUPS, LEX_NODES, LEX_INSTS,
             ["--dry-run", "--job-delay=Infinity"],
             {"nodes": LEX_DOWN, "existing_jobs": [_job("running"), _job("success")]},
             tz="America/New_York"),
        Case("job-delay-nan", LEX_GROUPS, LEX_NODES, LEX_INSTS[:1],
             ["--dry-run", "--job-delay=NaN"], {"nodes": LEX_DOWN}),
        Case("two-pending", STATES_GROUPS, STATES_NODES, TWO_PENDING, []),
        Case("pending-then-success", STATES_GROUPS, STATES_NODES, PENDING_THEN_SUCCESS, []),
        Case("drbd-no-secondary", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-01", "node-02"), Inst("d0", "node-02", ""),
              Inst("d2", "node-02", "node-03")], ["--dry-run"], {"nodes": STATES_DOWN}),
        Case("load-error", STATES_GROUPS, STATES_NODES, [Inst("d1", "node-02", "node-03")], [],
             {"faults": [{"method": "Query", "what": "instance", "action": "error"}]}),
        Case("no-socket", STATES_GROUPS, STATES_NODES, [], [], {},
             socket="/nonexistent/ganeti-query"),
        # three runs on one cluster: a failover is submitted; the fixture
        # carries it out when the next run asks for its status (after that
        # run has loaded the cluster): Healthy, failover again; the third
        # run loads the failed-over instance: Healthy, fix-storage
        Case("three-runs", STATES_GROUPS, STATES_NODES,
             [Inst("c1", "node-02", "node-03"), Inst("c2", "node-01", "node-04"),
              Inst("c3", "node-02", template="plain", tags=[P + "reinstall"])],
             ["--job-delay=0"], {"nodes": STATES_DOWN}, runs=3),
        Case("default-socket", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], ["--dry-run"], {"nodes": STATES_DOWN},
             rootdir=True),
        Case("default-socket-L", STATES_GROUPS, STATES_NODES,
             [Inst("d1", "node-02", "node-03")], ["-L", "--job-delay", "3"],
             {"nodes": STATES_DOWN}, rootdir=True),
        Case("argument", STATES_GROUPS, STATES_NODES, [], ["extra"]),
        Case("empty", STATES_GROUPS, STATES_NODES, []),
    ]
    return out


CASES = _cases()


# ================================================================ running

@dataclass
class Run:
    stdout: str
    stderr: str
    status: int
    requests: list
    jobs: list
    tags: Dict[str, list]


def run_harep(binary: str, case: Case, data_file: str) -> Run:
    from tests.harness.luxi_fixture import LuxiFixture
    script = json.loads(json.dumps(case.script))
    env = dict(os.environ, TZ=case.tz)
    env.pop("GANETI_ROOTDIR", None)
    root = tempfile.mkdtemp(prefix="harep-root-")
    sock_path = None
    if case.rootdir:
        env["GANETI_ROOTDIR"] = root
        sock_dir = os.path.join(root, "var", "run", "ganeti", "socket")
        os.makedirs(sock_dir)
        sock_path = os.path.join(sock_dir, "ganeti-query")
    try:
        with LuxiFixture(data_file, script, socket_path=sock_path) as fx:
            argv = list(case.args) if case.rootdir else \
                ["-L" + (case.socket or fx.socket)] + list(case.args)
            outs, errs, codes = [], [], []
            for _ in range(case.runs):
                p = subprocess.run([binary] + argv, capture_output=True,
                                   text=True, timeout=120, env=env)
                outs.append(p.stdout)
                errs.append(p.stderr)
                codes.append(p.returncode)
            # harep has exited: the fixture's records are complete
            requests = json.loads(json.dumps(fx.requests))
            jobs = [(j.id, json.loads(json.dumps(j.submitted_ops)))
                    for j in fx.submitted_jobs]
            tags = {i["name"]: list(i["tags"]) for i in fx.cluster.instances.values()}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    sep = "\n=== next run ===\n"
    return Run(sep.join(outs), sep.join(errs), codes[0] if len(codes) == 1 else codes,
               requests, jobs, tags)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TAGTIME = re.compile(r"(ganeti:watcher:autorepair:(?:pending|result):[a-z-]+:[^:\"\s]*:)"
                      r"([0-9]+)")


def normalise(run: Run, started: float) -> Run:
    """uuids numbered by first appearance; harep's own tag times -> NOW;
    reason-trail timestamps -> 0."""
    names: Dict[str, str] = {}

    def fix(text: str) -> str:
        text = _UUID.sub(lambda m: names.setdefault(m.group(0), "U%d" % (len(names) + 1)),
                         text)
        return _TAGTIME.sub(lambda m: m.group(1) + (
            "NOW" if abs(int(m.group(2)) - started) < 600 else m.group(2)), text)

    def fix_ops(ops):
        out = []
        for op in ops:
            op = dict(op)
            if isinstance(op.get("reason"), list):
                op["reason"] = [[r[0], r[1], 0] for r in op["reason"]]
            out.append(json.loads(fix(json.dumps(op))))
        return out

    stdout = fix(run.stdout)
    reqs = []
    for method, args in run.requests:
        if method == "SubmitManyJobs":
            args = [[fix_ops(job) for job in args[0]]]
        reqs.append((method, args))
    jobs = [(jid, fix_ops(ops)) for jid, ops in run.jobs]
    tags = {k: [fix(t) for t in v] for k, v in run.tags.items()}
    return Run(stdout, fix(run.stderr), run.status, reqs, jobs, tags)


_RESULTS: Dict[str, Tuple[Run, Run]] = {}


def _run_case(case: Case, tmpdir: str) -> Tuple[Run, Run]:
    path = os.path.join(tmpdir, case.name + ".data")
    with open(path, "w") as fh:
        fh.write(cluster_text(case.groups, case.nodes, case.insts, case.ctags))
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        fr = ex.submit(run_harep, REF, case, path)
        fo = ex.submit(run_harep, OURS, case, path)
        return normalise(fr.result(), started), normalise(fo.result(), started)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    if not _RESULTS:
        tmp = str(tmp_path_factory.mktemp("harep"))
        # longest first: tag jobs (0.5 s each) make the non-dry runs slow
        order = sorted(CASES, key=lambda c: -c.runs * 100 - (
            0 if "--dry-run" in c.args else len(c.insts)))
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            futs = {c.name: ex.submit(_run_case, c, tmp) for c in order}
            for name, fut in futs.items():
                _RESULTS[name] = fut.result()
    return _RESULTS


need_ref = pytest.mark.skipif(not os.access(REF, os.X_OK),
                              reason="reference harep (ganeti-htools 3.0) not installed")


@need_ref
@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_same_as_reference(results, case):
    ref, ours = results[case]
    assert ours.stdout == ref.stdout
    assert ours.stderr == ref.stderr
    assert ours.status == ref.status
    assert ours.requests == ref.requests
    assert ours.jobs == ref.jobs
    assert ours.tags == ref.tags


@need_ref
def test_cases_exercise_harep(results):
    """The cases cover what they are meant to (guards against a silent
    fixture or a reference that does nothing)."""
    ref = {name: r for name, (r, _) in results.items()}
    assert "Executing ArFailover repair on inst-a" in ref["scopes"].stdout
    assert "Not performing a repair of type ArFailover on inst-e" in ref["scopes"].stdout
    assert "because it's in state ArSuspended Forever" in ref["scopes"].stdout
    assert "ArSuspended (Until Fri Jan  1 00:01:40 UTC 2100)" in ref["scopes"].stdout
    assert 'Moving s-done from "Pending repair" to "Healthy"' in ref["states"].stdout
    assert 'Moving s-error from "Pending repair" to "Failure"' in ref["states"].stdout
    assert ref["states-dry"].jobs == [] and ref["scopes-dry"].jobs == []
    assert any(op["OP_ID"] == "OP_TAGS_DEL" for _, ops in ref["states"].jobs for op in ops)
    assert ref["two-pending"].status == 1
    assert ref["tag-job-fails"].stderr.endswith("Error: The following jobs failed: 2=>error\n")
    runs = ref["three-runs"].stdout.split("=== next run ===")
    assert "Executing ArFailover repair on c1" in runs[0]
    assert 'Moving c1 from "Pending repair" to "Healthy"' in runs[1]
    assert "Executing ArFailover repair on c1" in runs[1]
    assert 'Moving c1 from "Pending repair" to "Healthy"' in runs[2]
    assert "Executing ArFixStorage repair on c1" in runs[2]


# ================================================================ cluster.jobwait

from backends.luxi import LuxiClient as _LuxiClient


class _FakeClient(_LuxiClient):
    """A Luxi client answering SubmitManyJobs / QueryJobs from canned results."""

    def __init__(self, answers):  # no socket: send/recv below
        self.answers = list(answers)
        self.sent = []
        self.sock = None
        self._buf = b""

    def send(self, method, args):
        self.sent.append((method, args))

    def recv(self) -> bytes:
        return json.dumps({"success": True, "result": self.answers.pop(0)}).encode()


def test_exec_jobs_wait_ok_schedule_and_failures():
    from cluster import jobwait
    pending = [["running"], ["success"]]
    answers = [[[True, 3], [True, 4]]] + [pending] * 7 + [[["error"], ["canceled"]]]
    client = _FakeClient(answers)
    slept = []
    with pytest.raises(jobwait.JobsError) as ei:
        jobwait.exec_jobs_wait_ok(client, [[{"OP_ID": "OP_TEST_DELAY"}]] * 2, slept.append)
    assert ei.value.message == "The following jobs failed: 3=>error, 4=>canceled"
    assert slept == [0.5, 1, 2, 4, 8, 15, 15, 15]
    assert client.sent[0][0] == "SubmitManyJobs"
    assert client.sent[1:] == [("QueryJobs", [[3, 4], ["status"]])] * 8


@pytest.mark.parametrize("result,message", [
    ([[False, "drained"]], 'Job submission error: Unhandled exception: LuxiError "drained"'),
    ([[True, -2]], "Job submission error: Unhandled exception: LuxiError "
                   "\"Invalid value for job ID ' -2'\""),
    ([[True, True]], "Job submission error: Unhandled exception: LuxiError "
                     "\"Wrong type/value for job id: JSBool True\""),
    ([1], "Job submission error: Unhandled exception: LuxiError "
          "\"Unknown result from the master daemon: 1\""),
    ({"a": 1}, "Job submission error: Unhandled exception: LuxiError \"Cannot parse "
               "response from Ganeti: Ok (JSObject (JSONObject {fromJSObject = "
               "[(\\\"a\\\",JSRational False (1 % 1))]}))\""),
    (None, "Job submission error: Unhandled exception: LuxiError \"Cannot parse "
           "response from Ganeti: Ok JSNull\""),
])
def test_submit_jobs_errors(result, message):
    from cluster import jobwait
    with pytest.raises(jobwait.JobsError) as ei:
        jobwait.submit_jobs(_FakeClient([result]), [[{"OP_ID": "OP_TEST_DELAY"}]])
    assert ei.value.message == message


def test_query_jobs_status_errors():
    from backends.luxi import LuxiError
    from cluster import jobwait
    for result, text in [([["bogus"]], 'Invalid string value for type JobStatus: \\"bogus\\"'),
                         ([[1]], "Can't parse value for 'JobStatus': Unable to read String"),
                         ([[], ["x"]], 'Invalid string value for type JobStatus: \\"x\\"'),
                         ([[], ["success"]], "Missing job status field"),
                         ({}, "Unable to read list")]:
        with pytest.raises(LuxiError) as ei:
            jobwait.query_jobs_status(_FakeClient([result]), [1])
        assert ei.value.message == 'Unhandled exception: LuxiError "%s"' % text
    assert jobwait.query_jobs_status(_FakeClient([[["queued"], ["error"]]]), [1, 2]) == \
        ["queued", "error"]
