"""The Luxi fixture (tests/harness/luxi_fixture.py) and htools' behaviour against it.

The fixture stands in for a Ganeti 3.0.2 master where the live testbed cannot
(DRBD, LVM/plain, exclusive storage, several groups; protocol faults).  These
tests hold it to the reference binaries and record, as facts, how the
reference (htools 3.0.2, /usr/lib/ganeti/3.0/usr/bin) behaves over Luxi, so
that our own client can be held to the same behaviour
(``run_against_fixture`` runs any binary against the fixture).

Facts observed on the reference against the fixture (asserted below):

* Loading: one connection, four requests in this order: ``Query node``
  (18 fields), ``Query instance`` (14 fields), ``QueryClusterInfo``,
  ``Query group`` (5 fields), filter null.  ``-X`` does not open another
  connection for its queries: the same four requests, then one new
  connection per job set.
* Every ``TOOL -L SOCKET`` prints exactly what ``TOOL -t FILE`` prints for
  hbal, hinfo, hspace, hcheck, hroller on the DRBD, plain/sharedfile,
  multi-group (exclusive storage, "?" and offline nodes, location and
  migration tags, ipolicies) and wide clusters under tests/data/luxi.
* ``hbal -L -X``: per job set, ``SubmitManyJobs [[job...]]`` then, after
  0.5 s, ``QueryJobs [[ids], ["status"]]`` (doubling the delay) until no job
  is queued/waiting/running; stdout gets ``Got job IDs 1`` (several jobs:
  ``Got job IDs 1,2``, comma without space) after the plan.  Each opcode
  carries ``priority 0``, ``depends null``, comment ``rebalancing via hbal
  (ganeti) version 3.0.2-3``, reason ``[["hbal", "hbal (ganeti) version
  3.0.2-3 called", <ns timestamp>]]`` (same timestamp for the whole run).
  Migrate: ``allow_runtime_changes false, ignore_ipolicy false, cleanup
  false, allow_failover true, ignore_hvversions true``, with
  ``target_node`` only for non-DRBD instances (absent, not null, for DRBD).
  Replace disks: ``early_release false, ignore_ipolicy false, mode
  replace_new_secondary, disks [], remote_node``.  A move ``f r:N f`` is one
  job of three opcodes (migrate, replace, migrate).
* A job ending in error/canceled: the whole job set is waited for, then
  stderr ``Error: hbal: Not all jobs completed successfully: [(JobId
  {fromJobId = N},JOB_STATUS_ERROR)]\\nAborting.\\n\\n`` (or
  ``JOB_STATUS_CANCELED``), exit 1, no further job set is submitted.
* A job refused at submission (``[false, msg]``): ``Error: hbal: Job
  submission error: Unhandled exception: LuxiError "msg"``, exit 1.
* Protocol faults while loading: connection closed before or during the
  reply, or a reply without its 0x03: ``Error: failed to load data,
  aborting: <socket: 3>: hWaitForInput: end of file`` (exit 1, no further
  request); garbage: ``... aborting: Unhandled Ganeti error: Parsing LUXI
  response: Invalid JSON: a JSON text a serialized object or array at the
  top level.`` (the other queries are still made); ``success: false`` with
  ``["OpPrereqError", [msg, "wrong_input"]]``: ``... aborting: Failure:
  prerequisites not met for this operation:\\nerror type: ECodeInval, error
  details:\\nmsg``.  A delayed reply (1 s) changes nothing.
* Faults during ``-X``: connection dropped on SubmitManyJobs or QueryJobs:
  ``hbal: <socket: 3>: hWaitForInput: end of file`` (no "Error:"), exit 1;
  garbage or ``success: false`` on SubmitManyJobs: ``Error: hbal: Job
  submission error: <as above>``; on QueryJobs: ``Error: hbal: Checking job
  status: <as above>``; a null status: ``... Unhandled exception: LuxiError
  "Can't parse value for 'JobStatus': Unable to read String"``; an empty
  row: ``... LuxiError "Missing job status field"``.
* After a full ``-X`` run, ``hbal -L`` on the changed cluster starts from the
  score the first run announced and finds nothing to do.
* SIGINT while a job set runs: ``Cancel request registered, will exit at the
  end of the current job set...``, the set is waited for, then ``Exiting
  early due to user request, `` / ``1jobset(s) submitted: `` / the Haskell
  ``show`` of the done sets / ``1 jobset(s) not submitted:`` / the ``show``
  of the rest, all on stdout, exit 0.  SIGTERM: exit 2 at once, nothing on
  stderr, and stdout (a pipe) loses what was still buffered: it ends with
  the plan, without ``Cluster score improved``, ``Solution length``, ``Got
  job IDs`` or ``Double cancel request, exiting now...``.
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.harness.luxi_fixture import EOM, LuxiFixture  # noqa: E402

REF_BIN = "/usr/lib/ganeti/3.0/usr/bin"
OUR_BIN = os.path.join(ROOT, ".venv", "bin")
DATA = os.path.join(ROOT, "tests", "data", "luxi")
CLUSTERS = {name: os.path.join(DATA, name + ".data")
            for name in ("drbd", "plain", "multigroup", "wide")}

COMMENT = "rebalancing via hbal (ganeti) version 3.0.2-3"
REASON_TEXT = "hbal (ganeti) version 3.0.2-3 called"

NODE_FIELDS = ["name", "mtotal", "mnode", "mfree", "dtotal", "dfree", "ctotal",
               "cnos", "offline", "drained", "vm_capable", "ndp/spindle_count",
               "group.uuid", "tags", "ndp/exclusive_storage", "sptotal", "spfree",
               "ndp/cpu_speed"]
INSTANCE_FIELDS = ["name", "disk_usage", "be/memory", "be/vcpus", "status", "pnode",
                   "snodes", "tags", "be/auto_balance", "disk_template",
                   "be/spindle_use", "disk.sizes", "disk.spindles", "forthcoming"]
GROUP_FIELDS = ["uuid", "name", "alloc_policy", "ipolicy", "tags"]
LOAD_REQUESTS = [("Query", ["node", NODE_FIELDS, None]),
                 ("Query", ["instance", INSTANCE_FIELDS, None]),
                 ("QueryClusterInfo", []),
                 ("Query", ["group", GROUP_FIELDS, None])]


def ref(tool: str) -> str:
    return os.path.join(REF_BIN, tool)


def ours(tool: str) -> str:
    return os.path.join(OUR_BIN, tool)


def have_reference(*tools: str) -> bool:
    return all(os.access(ref(t), os.X_OK) for t in tools or ("hbal",))


need_ref = pytest.mark.skipif(
    not have_reference("hbal", "hinfo", "hspace", "hcheck", "hroller"),
    reason="reference htools binaries (ganeti-htools 3.0) not installed in " + REF_BIN)


# ----------------------------------------------------------------- helpers

@dataclass
class FixtureRun:
    """What one binary did against the fixture."""

    stdout: str
    stderr: str
    status: int
    requests: List[Tuple[str, Any]]
    connections: List[int]
    opcodes: List[List[dict]]
    placement: Dict[str, Tuple[str, str]]
    cluster_text: str
    jobs: List[Any] = field(default_factory=list)


def run_fixture(binary: str, args: Sequence[str], cluster_file: str,
                script: Optional[dict] = None, timeout: float = 60,
                fixture: Optional[LuxiFixture] = None) -> FixtureRun:
    """Run ``binary`` against a fixture serving ``cluster_file``.

    ``{socket}`` in an argument is replaced by the fixture's socket; when no
    argument mentions it, ``-L<socket>`` is put first.  With ``fixture``
    given, that (running) fixture is used and keeps its state.
    """
    own = fixture is None
    fx = fixture or LuxiFixture(cluster_file, script).start()
    try:
        start = len(fx.requests)
        jstart = len(fx.submitted_jobs)
        argv = [a.replace("{socket}", fx.socket) for a in args]
        if not any("{socket}" in a for a in args):
            argv = ["-L" + fx.socket] + argv
        proc = subprocess.run([binary] + argv, capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT)
        time.sleep(0.05)  # let the server record a request sent just before exit
        return FixtureRun(proc.stdout, proc.stderr, proc.returncode,
                          list(fx.requests[start:]),
                          list(fx.request_connections[start:]),
                          [job.submitted_ops for job in fx.submitted_jobs[jstart:]],
                          fx.placement(), fx.cluster_text(),
                          list(fx.submitted_jobs[jstart:]))
    finally:
        if own:
            fx.stop()


def run_against_fixture(binary: str, args: Sequence[str], cluster_file: str,
                        script: Optional[dict] = None, timeout: float = 60
                        ) -> Tuple[str, str, int, List[Tuple[str, Any]]]:
    """(stdout, stderr, exit status, requests) of ``binary`` against the fixture."""
    r = run_fixture(binary, args, cluster_file, script, timeout)
    return r.stdout, r.stderr, r.status, r.requests


_REFERENCE_RUNS: Dict[str, FixtureRun] = {}


def reference_run(tool: str, args: Sequence[str], cluster: str,
                  script: Optional[dict] = None) -> FixtureRun:
    """The reference's run against a fresh fixture, computed once per session."""
    key = json.dumps([tool, list(args), cluster, script], sort_keys=True)
    if key not in _REFERENCE_RUNS:
        _REFERENCE_RUNS[key] = run_fixture(ref(tool), args, CLUSTERS[cluster], script)
    return _REFERENCE_RUNS[key]


def run_text(binary: str, args: Sequence[str], cluster_file: str,
             timeout: float = 60) -> Tuple[str, str, int]:
    proc = subprocess.run([binary, "-t" + cluster_file] + list(args),
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return proc.stdout, proc.stderr, proc.returncode


def normalise_opcodes(jobs: List[List[dict]]) -> List[List[dict]]:
    """Opcodes with the reason trail's timestamps blanked."""
    out = copy.deepcopy(jobs)
    for ops in out:
        for op in ops:
            for entry in op.get("reason") or []:
                if len(entry) == 3:
                    entry[2] = "<ts>"
    return out


def diff_text(a: str, b: str, la: str, lb: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), la, lb))


def luxi_call(sock_path: str, method: str, args, timeout: float = 10.0,
              conn: Optional[socket.socket] = None):
    """Minimal Luxi client for the fixture's own tests: (success, result)."""
    s = conn or socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if conn is None:
            s.settimeout(timeout)
            s.connect(sock_path)
        s.sendall(json.dumps({"method": method, "args": args}).encode() + EOM)
        buf = b""
        while EOM not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed after %r" % buf[:80])
            buf += chunk
        reply = json.loads(buf.split(EOM, 1)[0])
        return reply["success"], reply["result"]
    finally:
        if conn is None:
            s.close()


def score_line(stdout: str) -> str:
    m = re.search(r"Cluster score improved from \S+ to (\S+)", stdout)
    assert m, stdout
    return m.group(1)


# ----------------------------------------------------------------- -L == -t

QUERY_CASES = [
    ("hbal", ["-C", "-v", "-v"]),
    ("hinfo", ["-v", "-p"]),
    ("hspace", ["-l", "20", "--independent-groups"]),
    ("hcheck", []),
    ("hroller", []),
]
MULTI_EXTRA = [("hbal", ["-G", "group-01", "-C", "-v", "-v"]),
               ("hbal", ["-G", "group-04", "-C"]),
               ("hroller", ["-G", "group-02"])]

QUERY_PARAMS = [(c, t, a) for c in ("drbd", "plain", "multigroup") for t, a in QUERY_CASES] + \
    [("multigroup", t, a) for t, a in MULTI_EXTRA]


def _case_id(c, t, a):
    return "%s-%s%s" % (c, t, "".join(a).replace("-", "_"))


@need_ref
@pytest.mark.parametrize("cluster,tool,args", QUERY_PARAMS,
                         ids=[_case_id(*p) for p in QUERY_PARAMS])
def test_reference_luxi_equals_text(cluster, tool, args):
    path = CLUSTERS[cluster]
    r = reference_run(tool, args, cluster)
    want = run_text(ref(tool), args, path)
    assert r.stdout == want[0], diff_text(want[0], r.stdout, "-t", "-L")
    assert (r.stderr, r.status) == (want[1], want[2])
    assert r.requests == LOAD_REQUESTS
    assert set(r.connections) == {r.connections[0]}  # one connection


@need_ref
def test_reference_save_equals_text(tmp_path):
    """``hbal -S`` writes the same cluster from -L as from -t (master included)."""
    path = CLUSTERS["multigroup"]
    run_fixture(ref("hbal"), ["-G", "group-01", "-S", str(tmp_path / "luxi")], path)
    run_text(ref("hbal"), ["-G", "group-01", "-S", str(tmp_path / "text")], path)
    for suffix in ("original", "balanced"):
        a = (tmp_path / ("luxi." + suffix)).read_text()
        b = (tmp_path / ("text." + suffix)).read_text()
        assert a == b, diff_text(b, a, "-t", "-L")
    # and what the fixture serves, written in the text format, loads the same
    with LuxiFixture(path) as fx:
        served = tmp_path / "served.data"
        served.write_text(fx.cluster_text())
        got = run_fixture(ref("hbal"), ["-G", "group-01", "-C"], path, fixture=fx)
    assert got.stdout == run_text(ref("hbal"), ["-G", "group-01", "-C"], str(served))[0]


# ----------------------------------------------------------------- -X

def _check_common_op(op: dict) -> None:
    assert op["priority"] == 0
    assert op["depends"] is None
    assert op["comment"] == COMMENT
    assert len(op["reason"]) == 1
    src, text, ts = op["reason"][0]
    assert (src, text) == ("hbal", REASON_TEXT)
    assert isinstance(ts, int) and abs(ts / 1e9 - time.time()) < 600


MIGRATE_KEYS = {"priority", "depends", "comment", "reason", "OP_ID", "instance_name",
                "allow_runtime_changes", "ignore_ipolicy", "cleanup", "allow_failover",
                "ignore_hvversions"}
REPLACE_KEYS = {"priority", "depends", "comment", "reason", "OP_ID", "instance_name",
                "early_release", "ignore_ipolicy", "mode", "disks", "remote_node"}


def check_hbal_opcodes(jobs: List[List[dict]], templates: Dict[str, str]) -> None:
    """The shape of every opcode hbal 3.0.2 submits (see the module facts)."""
    stamps = set()
    for ops in jobs:
        names = {op["instance_name"] for op in ops}
        assert len(names) == 1
        for op in ops:
            _check_common_op(op)
            stamps.add(op["reason"][0][2])
            if op["OP_ID"] == "OP_INSTANCE_MIGRATE":
                if templates[op["instance_name"]] == "drbd":
                    assert set(op) == MIGRATE_KEYS
                else:
                    assert set(op) == MIGRATE_KEYS | {"target_node"}
                assert (op["allow_runtime_changes"], op["ignore_ipolicy"], op["cleanup"],
                        op["allow_failover"], op["ignore_hvversions"]) == \
                    (False, False, False, True, True)
            else:
                assert op["OP_ID"] == "OP_INSTANCE_REPLACE_DISKS"
                assert set(op) == REPLACE_KEYS
                assert (op["early_release"], op["ignore_ipolicy"], op["mode"], op["disks"]) \
                    == (False, False, "replace_new_secondary", [])
    assert len(stamps) <= 1


def templates_of(path: str) -> Dict[str, str]:
    with LuxiFixture(path) as fx:
        return {i["name"]: i["template"] for i in fx.cluster.instances.values()}


def plan_moves(stdout: str) -> List[Tuple[str, str, str]]:
    """(instance, new primary, new secondary) of each move in hbal's plan."""
    out = []
    for m in re.finditer(r"^\s+\d+\. (\S+)\s+\S+\s+=> (\S+)\s", stdout, re.M):
        pri, _, sec = m.group(2).partition(":")
        out.append((m.group(1), pri, sec))
    return out


@need_ref
def test_reference_exec_drbd():
    path = CLUSTERS["drbd"]
    with LuxiFixture(path) as fx:
        before = fx.placement()
        r = run_fixture(ref("hbal"), ["-X", "-l", "3"], path, fixture=fx)
        assert r.status == 0 and r.stderr == ""
        assert r.stdout.endswith("Got job IDs 1\nGot job IDs 2\nGot job IDs 3\n")
        # requests: the load on one connection, then one connection per job set
        assert r.requests[:4] == LOAD_REQUESTS
        assert [m for m, _ in r.requests[4:]] == ["SubmitManyJobs", "QueryJobs"] * 3
        assert len(set(r.connections)) == 4
        assert r.connections[:4] == [r.connections[0]] * 4
        for k in range(3):
            assert r.requests[5 + 2 * k] == ("QueryJobs", [[k + 1], ["status"]])
            assert r.requests[4 + 2 * k][1] == [[r.opcodes[k]]]
        check_hbal_opcodes(r.opcodes, templates_of(path))
        # a move "f r:N f" is one job: migrate, replace, migrate
        first = r.opcodes[0]
        assert [op["OP_ID"] for op in first] == ["OP_INSTANCE_MIGRATE",
                                                 "OP_INSTANCE_REPLACE_DISKS",
                                                 "OP_INSTANCE_MIGRATE"]
        assert all(j.status == "success" for j in r.jobs)
        # the final placement is the plan's
        after = fx.placement()
        moves = plan_moves(r.stdout)
        assert len(moves) == 3
        for inst, pri, sec in moves:
            assert after[inst] == (pri, sec), (inst, before[inst], after[inst])
        untouched = set(before) - {m[0] for m in moves}
        assert all(after[i] == before[i] for i in untouched)
        # a rerun starts from the score the first run ended with
        again = run_fixture(ref("hbal"), ["-l", "1"], path, fixture=fx)
        assert "Initial score: %s\n" % score_line(r.stdout) in again.stdout


@need_ref
def test_reference_exec_until_balanced():
    """plain/sharedfile cluster: migrations with target_node, then nothing to do."""
    path = CLUSTERS["plain"]
    with LuxiFixture(path) as fx:
        r = run_fixture(ref("hbal"), ["-X"], path, fixture=fx)
        assert (r.status, r.stderr) == (0, "")
        n = len(plan_moves(r.stdout))
        assert n >= 2
        assert r.stdout.endswith("".join("Got job IDs %d\n" % (k + 1) for k in range(n)))
        check_hbal_opcodes(r.opcodes, templates_of(path))
        for ops, (inst, pri, _) in zip(r.opcodes, plan_moves(r.stdout)):
            assert [(op["OP_ID"], op["instance_name"], op["target_node"]) for op in ops] \
                == [("OP_INSTANCE_MIGRATE", inst, pri)]
        final = score_line(r.stdout)
        again = run_fixture(ref("hbal"), [], path, fixture=fx)
        assert "Initial score: %s\n" % final in again.stdout
        assert again.stdout.endswith("No solution found\nSolution length=0\n")
        assert again.opcodes == []


@need_ref
def test_reference_exec_jobset_of_two_and_failure():
    """Several jobs in one set: ``Got job IDs 1,2``; one fails -> abort after the set."""
    path = CLUSTERS["wide"]
    ok = run_fixture(ref("hbal"), ["-X", "-l", "4"], path)
    assert ok.status == 0
    assert "\nGot job IDs 1,2\nGot job IDs 3\nGot job IDs 4\n" in ok.stdout
    assert ok.requests[4][0] == "SubmitManyJobs" and len(ok.requests[4][1][0]) == 2
    assert ok.requests[5] == ("QueryJobs", [[1, 2], ["status"]])
    bad = run_fixture(ref("hbal"), ["-X", "-l", "4"], path,
                      {"jobs": [{"match": {"index": 1}, "outcome": "error"}]})
    assert bad.status == 1
    assert bad.stdout.endswith("Got job IDs 1,2\n")
    assert bad.stderr == ("Error: hbal: Not all jobs completed successfully: "
                          "[(JobId {fromJobId = 2},JOB_STATUS_ERROR)]\nAborting.\n\n")
    assert [m for m, _ in bad.requests[4:]] == ["SubmitManyJobs", "QueryJobs"]
    assert [j.status for j in bad.jobs] == ["success", "error"]


FAIL_CASES = [
    ("error", {"jobs": [{"match": {"index": 0}, "outcome": "error"}]}, 1,
     "Error: hbal: Not all jobs completed successfully: "
     "[(JobId {fromJobId = 1},JOB_STATUS_ERROR)]\nAborting.\n\n", 1),
    ("canceled", {"jobs": [{"match": {"index": 1}, "outcome": "canceled"}]}, 2,
     "Error: hbal: Not all jobs completed successfully: "
     "[(JobId {fromJobId = 2},JOB_STATUS_CANCELED)]\nAborting.\n\n", 1),
    ("second-op-fails", {"jobs": [{"match": {"index": 0}, "outcome": "error", "fail_op": 1,
                                   "error": ["OpExecError", ["Disk replacement failed"]]}]}, 1,
     "Error: hbal: Not all jobs completed successfully: "
     "[(JobId {fromJobId = 1},JOB_STATUS_ERROR)]\nAborting.\n\n", 1),
    ("rejected", {"jobs": [{"match": {"index": 0}, "outcome": "reject",
                            "message": "Job queue is drained, refusing job"}]}, 0,
     "Error: hbal: Job submission error: Unhandled exception: "
     "LuxiError \"Job queue is drained, refusing job\"\n", 1),
    ("slow-job", {"jobs": [{"match": {"index": 0}, "polls": 1}]}, 2, "", 0),
]


@need_ref
@pytest.mark.parametrize("name,script,got_ids,stderr,status", FAIL_CASES,
                         ids=[c[0] for c in FAIL_CASES])
def test_reference_exec_job_outcomes(name, script, got_ids, stderr, status):
    path = CLUSTERS["drbd"]
    r = run_fixture(ref("hbal"), ["-X", "-l", "2"], path, script)
    assert (r.stderr, r.status) == (stderr, status)
    tail = "".join("Got job IDs %d\n" % (k + 1) for k in range(got_ids))
    assert r.stdout.endswith("Solution length=2\n" + tail)
    if name == "second-op-fails":
        job = r.jobs[0]
        assert job.op_status == ["success", "error", "error"]
        assert job.op_result[1:] == [["OpExecError", ["Disk replacement failed"]],
                                     ["OpExecError", ["Preceding opcode failed"]]]
        inst = job.ops[0]["instance_name"]
        before = LuxiFixture(path).placement()[inst]
        assert r.placement[inst] == (before[1], before[0])  # only the first migrate
    if name == "slow-job":
        assert [m for m, _ in r.requests[4:7]] == ["SubmitManyJobs", "QueryJobs", "QueryJobs"]


LOAD_FAULTS = [
    ("node-close", {"method": "Query", "what": "node", "action": "close"}, 1,
     "Error: failed to load data, aborting: <socket: 3>: hWaitForInput: end of file\n"),
    ("node-drop", {"method": "Query", "what": "node", "action": "drop_mid_reply"}, 1,
     "Error: failed to load data, aborting: <socket: 3>: hWaitForInput: end of file\n"),
    ("node-noterm", {"method": "Query", "what": "node", "action": "no_terminator"}, 1,
     "Error: failed to load data, aborting: <socket: 3>: hWaitForInput: end of file\n"),
    ("cinfo-close", {"method": "QueryClusterInfo", "action": "close"}, 3,
     "Error: failed to load data, aborting: <socket: 3>: hWaitForInput: end of file\n"),
    ("node-garbage", {"method": "Query", "what": "node", "action": "garbage"}, 4,
     "Error: failed to load data, aborting: Unhandled Ganeti error: Parsing LUXI "
     "response: Invalid JSON: a JSON text a serialized object or array at the top level.\n"),
    ("instance-error", {"method": "Query", "what": "instance", "action": "error",
                        "error": ["OpPrereqError", ["Scripted failure", "wrong_input"]]}, 4,
     "Error: failed to load data, aborting: Failure: prerequisites not met for this "
     "operation:\nerror type: ECodeInval, error details:\nScripted failure\n"),
]


@need_ref
@pytest.mark.parametrize("name,fault,nreq,stderr", LOAD_FAULTS, ids=[c[0] for c in LOAD_FAULTS])
def test_reference_load_faults(name, fault, nreq, stderr):
    r = run_fixture(ref("hbal"), [], CLUSTERS["drbd"], {"faults": [fault]})
    assert (r.stdout, r.stderr, r.status) == ("", stderr, 1)
    assert r.requests == LOAD_REQUESTS[:nreq]


@need_ref
def test_reference_delayed_reply():
    t0 = time.time()
    r = run_fixture(ref("hbal"), [], CLUSTERS["drbd"],
                    {"faults": [{"method": "Query", "what": "group", "action": "delay",
                                 "seconds": 1}]})
    assert time.time() - t0 >= 1
    assert (r.stdout, r.stderr, r.status) == run_text(ref("hbal"), [], CLUSTERS["drbd"])


GARBAGE_TAIL = ("Unhandled Ganeti error: Parsing LUXI response: Invalid JSON: a JSON text "
                "a serialized object or array at the top level.\n")
PREREQ_TAIL = ("Failure: prerequisites not met for this operation:\nerror type: ECodeInval, "
               "error details:\nScripted failure\n")
EXEC_FAULTS = [
    ("submit-drop", {"method": "SubmitManyJobs", "action": "drop_mid_reply"},
     "hbal: <socket: 3>: hWaitForInput: end of file\n"),
    ("submit-garbage", {"method": "SubmitManyJobs", "action": "garbage"},
     "Error: hbal: Job submission error: " + GARBAGE_TAIL),
    ("submit-error", {"method": "SubmitManyJobs", "action": "error"},
     "Error: hbal: Job submission error: " + PREREQ_TAIL),
    ("submit-bad-id", {"method": "SubmitManyJobs", "action": "reply", "result": [[True, "x"]]},
     "Error: hbal: Job submission error: Unhandled exception: "
     "LuxiError \"parsing job id: cannot parse string 'x'\"\n"),
    ("poll-drop", {"method": "QueryJobs", "action": "drop_mid_reply", "after_submit": True},
     "hbal: <socket: 3>: hWaitForInput: end of file\n"),
    ("poll-garbage", {"method": "QueryJobs", "action": "garbage", "after_submit": True},
     "Error: hbal: Checking job status: " + GARBAGE_TAIL),
    ("poll-error", {"method": "QueryJobs", "action": "error", "after_submit": True},
     "Error: hbal: Checking job status: " + PREREQ_TAIL),
    ("poll-null", {"method": "QueryJobs", "action": "reply", "result": [[None]],
                   "after_submit": True},
     "Error: hbal: Checking job status: Unhandled exception: LuxiError "
     "\"Can't parse value for 'JobStatus': Unable to read String\"\n"),
    ("poll-empty", {"method": "QueryJobs", "action": "reply", "result": [[]],
                    "after_submit": True},
     "Error: hbal: Checking job status: Unhandled exception: LuxiError "
     "\"Missing job status field\"\n"),
]


@need_ref
@pytest.mark.parametrize("name,fault,stderr", EXEC_FAULTS, ids=[c[0] for c in EXEC_FAULTS])
def test_reference_exec_faults(name, fault, stderr):
    r = run_fixture(ref("hbal"), ["-X", "-l", "2"], CLUSTERS["drbd"], {"faults": [fault]})
    assert (r.stderr, r.status) == (stderr, 1)
    got = "" if name.startswith("submit") else "Got job IDs 1\n"
    assert r.stdout.endswith("Solution length=2\n" + got)
    assert [m for m, _ in r.requests[4:]] == (
        ["SubmitManyJobs"] if name.startswith("submit") else ["SubmitManyJobs", "QueryJobs"])
    # the fixture carried out the submission whatever it answered: the job
    # exists on the "master" even when the client saw an error
    assert len(r.jobs) == 1


def run_with_signal(binary: str, sig: int, cluster: str,
                    args: Sequence[str] = ("-X", "-l", "2")) -> FixtureRun:
    """Run ``binary -L -X`` with job 1 held running; send ``sig`` while it
    waits for that job, then let the job succeed."""
    script = {"jobs": [{"match": {"index": 0}, "hold": "running"}]}
    with LuxiFixture(CLUSTERS[cluster], script) as fx:
        proc = subprocess.Popen([binary, "-L" + fx.socket] + list(args), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not any(j.status == "running" for j in fx.submitted_jobs):
            assert time.time() < deadline and proc.poll() is None, "no job started"
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(sig)
        time.sleep(0.3)
        fx.release(fx.submitted_jobs[0].id)
        out, err = proc.communicate(timeout=30)
        return FixtureRun(out, err, proc.returncode, list(fx.requests),
                          list(fx.request_connections), fx.submitted_opcodes(),
                          fx.placement(), fx.cluster_text(), list(fx.submitted_jobs))


@need_ref
def test_reference_sigint_finishes_job_set():
    """SIGINT: the current job set is finished, the rest reported, exit 0."""
    r = run_with_signal(ref("hbal"), signal.SIGINT, "drbd")
    assert (r.stderr, r.status) == ("", 0)
    out = r.stdout[r.stdout.index("Solution length=2\n"):]
    assert out.startswith(
        "Solution length=2\nGot job IDs 1\n"
        "Cancel request registered, will exit at the end of the current job set...\n"
        "Exiting early due to user request, \n"
        "1jobset(s) submitted: \n"
        "[(\"Executing jobset for instances inst-017\",[(1,JOB_STATUS_SUCCESS)])]\n"
        "1 jobset(s) not submitted:\n"
        "[(\"Executing jobset for instances inst-022\",[[OpInstanceMigrate {")
    assert len(r.jobs) == 1 and r.jobs[0].status == "success"


@need_ref
def test_reference_sigterm_exits_now():
    """SIGTERM: exit 2 at once; stdout loses what was still buffered (the
    "Got job IDs" line and "Double cancel request, exiting now...")."""
    r = run_with_signal(ref("hbal"), signal.SIGTERM, "drbd")
    assert (r.stderr, r.status) == ("", 2)
    assert r.stdout.endswith(
        "    2. inst-022 node-02:node-01 => node-03:node-01  93.05423919 a=f r:node-03 f\n")
    assert "Got job IDs" not in r.stdout
    assert len(r.jobs) == 1


# ----------------------------------------------------------------- ours vs reference

HAVE_OURS = os.path.exists(os.path.join(ROOT, "backends", "luxi.py")) and \
    os.access(ours("hbal"), os.X_OK)
need_ours = pytest.mark.skipif(not (HAVE_OURS and have_reference()),
                               reason="needs backends/luxi.py, .venv/bin tools and the "
                                      "reference binaries")

OURS_QUERY = [(c, t, a) for c in ("drbd", "plain", "multigroup") for t, a in QUERY_CASES
              if t != "hspace" or c == "plain"]


def compare(tool: str, args: Sequence[str], cluster: str, script: Optional[dict] = None):
    """Run the reference and ours against the same fixture setup; list the differences."""
    a = reference_run(tool, args, cluster, script)
    b = run_fixture(ours(tool), args, CLUSTERS[cluster], script)
    problems = []
    if a.stdout != b.stdout:
        problems.append("stdout differs:\n" + diff_text(a.stdout, b.stdout, "reference", "ours"))
    if a.stderr != b.stderr:
        problems.append("stderr differs:\n reference %r\n ours      %r" % (a.stderr, b.stderr))
    if a.status != b.status:
        problems.append("status: reference %d, ours %d" % (a.status, b.status))
    if normalise_opcodes(a.opcodes) != normalise_opcodes(b.opcodes):
        problems.append("opcodes differ:\n reference %s\n ours      %s" % (
            json.dumps(normalise_opcodes(a.opcodes)), json.dumps(normalise_opcodes(b.opcodes))))
    if a.placement != b.placement:
        problems.append("final placement differs")
    return a, b, problems


@need_ours
@pytest.mark.parametrize("cluster,tool,args", OURS_QUERY,
                         ids=[_case_id(*p) for p in OURS_QUERY])
def test_ours_query_like_reference(cluster, tool, args):
    _, _, problems = compare(tool, args, cluster)
    assert not problems, "\n".join(problems)


OURS_EXEC = [
    ("drbd-ok", "drbd", ["-X", "-l", "2"], None),
    ("wide-set-of-two", "wide", ["-X", "-l", "2"], None),
    ("plain-ok", "plain", ["-X", "-l", "1"], None),
    ("job-error", "drbd", ["-X", "-l", "1"], FAIL_CASES[0][1]),
    ("job-canceled", "drbd", ["-X", "-l", "1"],
     {"jobs": [{"match": {"index": 0}, "outcome": "canceled"}]}),
    ("job-rejected", "drbd", ["-X", "-l", "1"], FAIL_CASES[3][1]),
    ("load-drop", "drbd", [], {"faults": [LOAD_FAULTS[1][1]]}),
    ("load-garbage", "drbd", [], {"faults": [LOAD_FAULTS[4][1]]}),
    ("load-error", "drbd", [], {"faults": [LOAD_FAULTS[5][1]]}),
    ("master-unknown", "drbd", [], {"master": "no-such-node"}),
    ("submit-garbage", "drbd", ["-X", "-l", "1"], {"faults": [EXEC_FAULTS[1][1]]}),
    ("poll-error", "drbd", ["-X", "-l", "1"], {"faults": [EXEC_FAULTS[6][1]]}),
]


@need_ours
@pytest.mark.parametrize("name,cluster,args,script", OURS_EXEC,
                         ids=[(c.values if hasattr(c, "marks") else c)[0] for c in OURS_EXEC])
def test_ours_exec_like_reference(name, cluster, args, script):
    _, _, problems = compare("hbal", args, cluster, script)
    assert not problems, "\n".join(problems)


@need_ours
def test_ours_sigint_like_reference():
    a = run_with_signal(ref("hbal"), signal.SIGINT, "drbd")
    b = run_with_signal(ours("hbal"), signal.SIGINT, "drbd")
    assert (b.stdout, b.stderr, b.status) == (a.stdout, a.stderr, a.status), \
        diff_text(a.stdout, b.stdout, "reference", "ours") + "\nstderr %r / %r" % (
            a.stderr, b.stderr)
    assert normalise_opcodes(a.opcodes) == normalise_opcodes(b.opcodes)


@need_ours
def test_ours_sigterm_exits_2_and_keeps_its_output():
    """Both exit 2 at once after the same submissions; the reference loses
    its buffered stdout on a pipe (GHC's exitImmediately), ours flushes it:
    the reference's lines are a prefix of ours, which end with the
    'Double cancel request' line."""
    a = run_with_signal(ref("hbal"), signal.SIGTERM, "drbd")
    b = run_with_signal(ours("hbal"), signal.SIGTERM, "drbd")
    assert a.status == b.status == 2
    assert (a.stderr, b.stderr) == ("", "")
    assert b.stdout.startswith(a.stdout)
    assert "Got job IDs " in b.stdout
    assert b.stdout.endswith("Double cancel request, exiting now...\n")
    assert normalise_opcodes(a.opcodes) == normalise_opcodes(b.opcodes)


@need_ours
def test_ours_reconnects_when_the_master_drops_the_connection():
    """The reference dies when the master closes the connection while it
    polls a job ('hbal: <socket: 3>: hWaitForInput: end of file', exit 1);
    ours reconnects, follows the same job to its end and finishes the plan."""
    script = {"faults": [EXEC_FAULTS[4][1]]}
    a = reference_run("hbal", ["-X", "-l", "1"], "drbd", script)
    b = run_fixture(ours("hbal"), ["-X", "-l", "1"], CLUSTERS["drbd"], script)
    assert (a.status, a.stderr) == (1, "hbal: <socket: 3>: hWaitForInput: end of file\n")
    assert b.status == 0, b.stderr
    assert b.stdout == a.stdout
    assert "Lost the connection to the master daemon" in b.stderr
    assert "Reconnected to the master daemon" in b.stderr
    assert normalise_opcodes(a.opcodes) == normalise_opcodes(b.opcodes)


# ----------------------------------------------------------------- the fixture itself

def _submit(sock, ops_per_job):
    ok, res = luxi_call(sock, "SubmitManyJobs", [ops_per_job])
    assert ok
    return [jid for _, jid in res]


MIGRATE = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "inst-002"}  # running, drbd


def test_fixture_job_progress_and_queries():
    script = {"jobs": [{"match": {"index": 0}, "polls": 2, "log": ["extra"]}]}
    with LuxiFixture(CLUSTERS["drbd"], script) as fx:
        before = fx.placement()["inst-002"]
        [jid] = _submit(fx.socket, [[dict(MIGRATE, reason=[["t", "x", 1]])]])
        assert jid == 1
        seen = [luxi_call(fx.socket, "QueryJobs", [[jid], ["status"]])[1] for _ in range(3)]
        assert seen == [[["waiting"]], [["running"]], [["success"]]]
        assert fx.placement()["inst-002"] == (before[1], before[0])
        ok, rows = luxi_call(fx.socket, "QueryJobs",
                             [None, ["id", "status", "opstatus", "opresult", "oplog",
                                     "summary", "received_ts", "ops"]])
        assert ok and len(rows) == 1
        jid_, status, opstatus, opresult, oplog, summary, received, ops = rows[0]
        assert (jid_, status, opstatus, opresult) == (1, "success", ["success"], [None])
        assert summary == ["INSTANCE_MIGRATE(inst-002)"]
        assert [e[0] for e in oplog[0]] == [1, 2] and oplog[0][1][2:] == ["message", "extra"]
        assert isinstance(received, list) and len(received) == 2
        assert ops[0]["reason"][0] == ["t", "x", 1]
        assert ops[0]["reason"][1][:2] == ["gnt:opcode:instance_migrate", "job=1;index=0"]
        ok, res = luxi_call(fx.socket, "Query", ["job", ["id", "status", "end_ts"],
                                                 ["=", "id", 1]])
        assert ok and res["data"] == [[[0, 1], [0, "success"], [0, res["data"][0][2][1]]]]
        assert res["fields"][0] == {"name": "id", "title": "ID", "kind": "number",
                                    "doc": "Job ID"}
        # unknown job ids give null rows, unknown fields an OpPrereqError
        assert luxi_call(fx.socket, "QueryJobs", [[99], ["status"]]) == (True, [[None]])
        assert luxi_call(fx.socket, "QueryJobs", [[1], ["nope"]]) == (
            False, ["OpPrereqError", ["Unknown output fields selected: nope", "wrong_input"]])
        # mfree follows: inst-002 (running) moved its memory to the new primary
        ok, res = luxi_call(fx.socket, "Query", ["node", ["name", "mfree"],
                                                 ["|", ["=", "name", before[0]],
                                                  ["=", "name", before[1]]]])
        mfree = {row[0][1]: row[1] for row in res["data"]}
        base = LuxiFixture(CLUSTERS["drbd"]).cluster.nodes
        mem = fx.cluster.instances["inst-002"]["mem"]
        for name, delta in ((before[0], mem), (before[1], -mem)):
            want = [4, None] if not fx.cluster.live(base[name]) else [0, base[name]["mfree"] + delta]
            assert mfree[name] == want


def test_fixture_wait_for_job_change_and_cancel():
    script = {"jobs": [{"match": {"index": 0}, "hold": "running", "polls": 1},
                       {"match": {"index": 1}, "hold": "waiting"},
                       {"match": {"index": 2}, "hold": "queued"}]}
    with LuxiFixture(CLUSTERS["drbd"], script) as fx:
        j1, j2, j3, j4 = _submit(fx.socket, [[MIGRATE]] * 4)
        ok, (vals, logs) = luxi_call(fx.socket, "WaitForJobChange",
                                     [j1, ["status"], None, None, 10])
        assert ok and vals == ["waiting"] and logs == []
        ok, (vals, logs) = luxi_call(fx.socket, "WaitForJobChange",
                                     [j1, ["status"], ["waiting"], None, 10])
        assert vals == ["running"] and logs[0][0] == 1 and logs[0][2:] == [
            "message", "Migrating instance inst-002"]
        t0 = time.time()  # held: unchanged values after the timeout (no "nochange")
        res = luxi_call(fx.socket, "WaitForJobChange", [j1, ["status"], ["running"], 1, 1])
        assert res == (True, [["running"], []]) and time.time() - t0 >= 0.9
        assert luxi_call(fx.socket, "CancelJob", [j1, False]) == (
            True, [False, "Job no longer waiting, can't cancel (informed it anyway)"])
        fx.release(j1, "error", error=["OpExecError", ["boom"]])
        ok, (vals, _) = luxi_call(fx.socket, "WaitForJobChange",
                                  [j1, ["status", "opresult"], ["running", None], 1, 5])
        assert vals == ["error", [["OpExecError", ["boom"]]]]
        luxi_call(fx.socket, "QueryJobs", [[j2, j3], ["status"]])
        assert luxi_call(fx.socket, "CancelJob", [j2, False]) == (
            True, [True, "Job successfully cancelled"])
        assert luxi_call(fx.socket, "CancelJob", [j3]) == (True, [True, "Dequeued job 3"])
        assert luxi_call(fx.socket, "CancelJob", [j1, False]) == (
            True, [False, "Job 1 not found in queue"])
        ok, rows = luxi_call(fx.socket, "QueryJobs", [[j2, j3, j4], ["status", "opresult"]])
        assert rows == [["canceled", ["Job canceled by request"]], ["canceled", [None]],
                        ["success", [None]]]
        assert luxi_call(fx.socket, "WaitForJobChange", [77, ["status"], None, None, 1]) == (
            False, ["JobLost", ["Job 77 not found"]])


def test_fixture_existing_jobs_and_other_opcodes():
    old = [{"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "inst-002",
            "comment": COMMENT}]
    script = {"existing_jobs": [{"ops": old, "status": "running"},
                                {"ops": old, "status": "success"}],
              "first_job_id": 40}
    with LuxiFixture(CLUSTERS["drbd"], script) as fx:
        ok, res = luxi_call(fx.socket, "Query", ["job", ["id", "status", "ops"],
                                                 ["|", ["=", "status", "running"],
                                                  ["=", "status", "waiting"]]])
        assert ok and [[r[0][1], r[1][1]] for r in res["data"]] == [[40, "running"]]
        assert res["data"][0][2][1][0]["comment"] == COMMENT
        ops = [{"OP_ID": "OP_TAGS_SET", "kind": "node", "name": "node-03",
                "tags": ["htools:standby:x"]},
               {"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "node-03", "offline": True},
               {"OP_ID": "OP_OOB_COMMAND", "node_names": ["node-03"], "command": "power-off"}]
        [jid] = _submit(fx.socket, [ops])
        assert jid == 42
        assert luxi_call(fx.socket, "QueryJobs", [[jid], ["status"]]) == (True, [["success"]])
        assert luxi_call(fx.socket, "QueryTags", ["node", "node-03"]) == (
            True, ["htools:standby:x"])
        ok, res = luxi_call(fx.socket, "Query", ["node", NODE_FIELDS,
                                                 ["=", "name", "node-03"]])
        row = dict(zip(NODE_FIELDS, res["data"][0]))
        assert row["offline"] == [0, True] and row["mtotal"] == [4, None]
        assert [c["command"] for c in fx.oob_commands] == ["power-off"]
        assert "node-03|0|0|0|0|0|0|Y|" in fx.cluster_text()
        # a failing opcode precondition fails the job like Ganeti does
        [jid] = _submit(fx.socket, [[{"OP_ID": "OP_INSTANCE_MIGRATE",
                                      "instance_name": "nope"}]])
        ok, rows = luxi_call(fx.socket, "QueryJobs", [[jid], ["status", "opresult"]])
        assert rows == [["error", [["OpPrereqError", ["Instance 'nope' not known",
                                                      "unknown_entity"]]]]]


def test_fixture_served_node_states():
    """"Y" nodes with resources are served drained, zero/"?" ones offline."""
    with LuxiFixture(CLUSTERS["multigroup"], {"nodes": {"node-02": {"vm_capable": False}}}) as fx:
        ok, res = luxi_call(fx.socket, "Query", ["node", NODE_FIELDS, None])
        rows = {r[0][1]: dict(zip(NODE_FIELDS, r)) for r in res["data"]}
        assert list(rows) == ["node-%02d" % k for k in range(1, 13)]  # file order
        assert rows["node-05"]["drained"] == [0, True] and rows["node-05"]["mfree"][0] == 0
        assert rows["node-12"]["offline"] == [0, True] and rows["node-12"]["mtotal"] == [4, None]
        assert rows["node-02"]["vm_capable"] == [0, False] and rows["node-02"]["mnode"] == [4, None]
        assert rows["node-01"]["sptotal"] == [2, None]  # no exclusive storage
        assert rows["node-10"]["sptotal"] == [0, 13]
        ok, info = luxi_call(fx.socket, "QueryClusterInfo", [])
        assert (info["master"], info["default_hypervisor"]) == ("node-01", "xen-pvm")


def test_fixture_faults_raw():
    script = {"faults": [{"method": "QueryClusterInfo", "action": "garbage", "data_hex": "ff00"},
                         {"method": "QueryTags", "action": "hang"}]}
    with LuxiFixture(CLUSTERS["drbd"], script) as fx:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(fx.socket)
        s.sendall(json.dumps({"method": "QueryClusterInfo", "args": []}).encode() + EOM)
        assert s.recv(100) == b"\xff\x00\x03"
        s.close()
        with pytest.raises(socket.timeout):
            luxi_call(fx.socket, "QueryTags", ["cluster", ""], timeout=0.5)
        # the second QueryClusterInfo is answered normally (count 1)
        assert luxi_call(fx.socket, "QueryClusterInfo", [])[0] is True
        assert fx.methods() == ["QueryClusterInfo", "QueryTags", "QueryClusterInfo"]


def test_fixture_command_line(tmp_path):
    sock = str(tmp_path / "sock")
    dump = tmp_path / "dump.data"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "harness", "luxi_fixture.py"),
                             sock, CLUSTERS["plain"], "--script", '{"master": "node-02"}',
                             "--dump", str(dump)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        ok, info = luxi_call(sock, "QueryClusterInfo", [])
        assert ok and info["master"] == "node-02"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert json.loads(out.splitlines()[0])["method"] == "QueryClusterInfo"
    assert "listening on " + sock in err
    assert "node-02|" in dump.read_text() and "|M|" in dump.read_text()
