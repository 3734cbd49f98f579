"""Ours against the reference on a real Ganeti 3.0.2 cluster (the testbed).

* Every ``-L`` tool prints what the reference prints, on several cluster
  states: the reference runs through a recording proxy, ours is served the
  very replies it got (a live cluster's free memory changes between two
  queries, so this is the only way to give both the same cluster).
* ``hbal -L -X`` and ``hsqueeze -L -X``: the reference and ours start from
  the same placement and plan on the same data, then execute on the live
  cluster; they must submit the same opcodes, print the same lines and end
  in the same placement.
* Faults during execution: a job that fails, a job cancelled by someone
  else, SIGINT, SIGTERM, SIGKILL and a rerun, the master daemons restarted
  while jobs run, an instance moved by hand between plan and execution, a
  socket that is missing or not permitted.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from tests.harness.luxi_proxy import RecordingProxy, ReplayServer, submitted_opcodes
from tests.harness.refdiff import ours_bin, ref_bin

pytestmark = pytest.mark.skipif(ref_bin("hbal") is None,
                                reason="reference htools 3.0.2 not installed")

TIMEOUT = 300


def run(binary: str, args: Sequence[str], cwd: Optional[str] = None,
        timeout: float = TIMEOUT) -> Tuple[str, str, int]:
    proc = subprocess.run([binary] + list(args), capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)
    return proc.stdout, proc.stderr, proc.returncode


def compare(tool: str, args: Sequence[str], socket_path: str, tmp: Path,
            files: Sequence[str] = ()) -> None:
    """Reference through a recording proxy, ours on the recorded replies."""
    (tmp / "ref").mkdir(parents=True, exist_ok=True)
    (tmp / "ours").mkdir(parents=True, exist_ok=True)
    with RecordingProxy(socket_path) as proxy:
        ref = run(ref_bin(tool), ["-L" + proxy.socket] + list(args), cwd=str(tmp / "ref"))
        recorded = proxy.recorded()
    with ReplayServer(recorded) as replay:
        ours = run(ours_bin(tool), ["-L" + replay.socket] + list(args),
                   cwd=str(tmp / "ours"))
        assert not replay.unknown, "ours asked what the reference did not: %r" % replay.unknown
    norm = (lambda t: t.replace(proxy.socket, "SOCK").replace(replay.socket, "SOCK"))
    assert (norm(ours[0]), norm(ours[1]), ours[2]) == \
        (norm(ref[0]), norm(ref[1]), ref[2]), "%s %s" % (tool, " ".join(args))
    for name in files:
        assert (tmp / "ours" / name).read_bytes() == (tmp / "ref" / name).read_bytes()


# ---------------------------------------------------------------- states

def _spread(tb) -> Dict[str, str]:
    """Instances round-robin over all nodes but the last two."""
    insts = sorted(tb.placement())
    usable = tb.nodes[:-2] or tb.nodes
    return {name: usable[i % len(usable)] for i, name in enumerate(insts)}


def _on_master(tb) -> Dict[str, str]:
    return {name: tb.master for name in tb.placement()}


STATES = {
    # name: (placement function, offline nodes, drained nodes, tag instances)
    "unbalanced": (_on_master, (), (), False),
    "spread": (_spread, (), (), False),
    "drained": (_on_master, (), ("node2",), False),
    "offline": (_spread, ("last",), (), False),
    "tagged": (_on_master, (), (), True),
}


def set_state(tb, name: str) -> None:
    placement_fn, offline, drained, tagged = STATES[name]
    offline = tuple(tb.nodes[-1] if n == "last" else n for n in offline)
    tags = None
    if tagged:
        insts = sorted(tb.placement())
        tags = {insts[0]: ["htools:iextags:web", "web"],
                insts[1 % len(insts)]: ["htools:iextags:web", "web"]}
    tb.reset(placement=placement_fn(tb), offline=offline, drained=drained,
             instance_tags=tags)
    if tagged:
        tb.gnt("gnt-cluster", "add-tags", "htools:iextags:web")


TOOL_ARGS = [
    ("hbal", []),
    ("hbal", ["-C", "-v", "-v", "-p", "--print-instances"]),
    ("hbal", ["-v", "-v", "-v", "-v", "--no-disk-moves", "-l", "1"]),
    ("hinfo", ["-v", "-v", "-p", "--print-instances"]),
    ("hspace", []),
    ("hspace", ["--machine-readable", "-v", "-p"]),
    ("hspace", ["--tiered-alloc=1024,10240,1"]),
    ("hroller", ["-v", "--print-moves"]),
    ("hroller", ["--full-evacuation"]),
    ("hcheck", ["-v"]),
    ("hcheck", ["--machine-readable"]),
    ("hsqueeze", ["-v", "-v", "-C"]),
]


SHORT_TOOL_ARGS = [TOOL_ARGS[i] for i in (1, 3, 5, 7, 9, 11)]


@pytest.mark.parametrize("state", sorted(STATES))
def test_tools_identical(testbed, state, tmp_path):
    set_state(testbed, state)
    cases = TOOL_ARGS if state in ("unbalanced", "drained") else SHORT_TOOL_ARGS
    for k, (tool, args) in enumerate(cases):
        compare(tool, args, testbed.socket, tmp_path / str(k))


def test_hscan_identical(testbed, tmp_path):
    set_state(testbed, "spread")
    compare("hscan", ["-d", "."], testbed.socket, tmp_path, files=["LOCAL.data"])
    compare("hscan", ["-p", "--no-headers", "-d", "."], testbed.socket,
            tmp_path / "p", files=["LOCAL.data"])


def test_hbal_multi_group(testbed, tmp_path):
    """A second node group with one node: hbal needs -G, hinfo shows both."""
    set_state(testbed, "spread")
    last = testbed.nodes[-1]
    testbed.gnt("gnt-group", "add", "solo")
    try:
        testbed.gnt("gnt-group", "assign-nodes", "--force", "solo", last)
        for k, (tool, args) in enumerate([
                ("hbal", []), ("hbal", ["-G", "solo"]), ("hbal", ["-G", "default", "-C"]),
                ("hinfo", ["-v", "-v"]), ("hcheck", ["-v"]), ("hspace", ["-v"]),
                ("hroller", ["-G", "solo"])]):
            compare(tool, args, testbed.socket, tmp_path / str(k))
    finally:
        testbed.gnt("gnt-group", "assign-nodes", "--force", "default", last,
                    check=False)
        testbed.gnt("gnt-group", "remove", "solo", check=False)


# ---------------------------------------------------------------- -X

_JOB_IDS = re.compile(r"^Got job IDs [0-9,]+$", re.M)


def _norm_ids(text: str) -> str:
    return _JOB_IDS.sub("Got job IDs N", text)


def _execute(tb, tool: str, binary: str, args: Sequence[str],
             replay=None) -> Tuple[Tuple[str, str, int], RecordingProxy]:
    with RecordingProxy(tb.socket, replay=replay) as proxy:
        res = run(binary, ["-L" + proxy.socket, "-X"] + list(args))
    tb.wait_idle()
    return res, proxy


@pytest.mark.parametrize("state", ["unbalanced", "drained"])
def test_hbal_execution_same_as_reference(testbed, state):
    set_state(testbed, state)
    start = testbed.placement()
    ref, ref_proxy = _execute(testbed, "hbal", ref_bin("hbal"), [])
    ref_final = testbed.placement()
    set_state(testbed, state)
    assert testbed.placement() == start
    ours, our_proxy = _execute(testbed, "hbal", ours_bin("hbal"), [],
                               replay=[e for e in ref_proxy.recorded()
                                       if b'"SubmitManyJobs"' not in e[0]
                                       and b'"QueryJobs"' not in e[0]])
    assert ours[2] == ref[2] == 0, (ours, ref)
    assert _norm_ids(ours[0]) == _norm_ids(ref[0])
    assert ours[1] == ref[1]
    assert submitted_opcodes(our_proxy.requests) == submitted_opcodes(ref_proxy.requests)
    assert submitted_opcodes(ref_proxy.requests), "the state must need moves"
    assert testbed.placement() == ref_final


def test_hsqueeze_execution_same_as_reference(testbed):
    set_state(testbed, "spread")
    ref, ref_proxy = _execute(testbed, "hsqueeze", ref_bin("hsqueeze"), [])
    ref_nodes = testbed.query("node", ["name", "offline", "tags"])
    ref_final = testbed.placement()
    set_state(testbed, "spread")
    ours, our_proxy = _execute(testbed, "hsqueeze", ours_bin("hsqueeze"), [],
                               replay=[e for e in ref_proxy.recorded()
                                       if b'"SubmitManyJobs"' not in e[0]
                                       and b'"QueryJobs"' not in e[0]])
    assert (_norm_ids(ours[0]), ours[1], ours[2]) == (_norm_ids(ref[0]), ref[1], ref[2])
    assert submitted_opcodes(our_proxy.requests) == submitted_opcodes(ref_proxy.requests)
    assert testbed.query("node", ["name", "offline", "tags"]) == ref_nodes
    assert testbed.placement() == ref_final
    set_state(testbed, "spread")


# ---------------------------------------------------------------- faults

_FAILED = re.compile(r"Error: hbal: Not all jobs completed successfully: "
                     r"\[\(JobId \{fromJobId = \d+\},JOB_STATUS_(ERROR|CANCELED)\)\]\n"
                     r"Aborting\.\n\n\Z")


def _start(binary: str, args: Sequence[str]) -> subprocess.Popen:
    return subprocess.Popen([binary] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def _wait_submitted(tb, proc: subprocess.Popen, before, timeout: float = 120) -> int:
    """The id of the first job ``proc`` submits (seen in the job queue:
    the reference's stdout is block-buffered on a pipe)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in tb.query("job", ["id", "summary"]):
            jid, summary = row
            if jid not in before and any("INSTANCE_MIGRATE" in x for x in summary or []):
                return jid
        assert proc.poll() is None, "the tool ended before submitting a job"
        time.sleep(0.2)
    raise AssertionError("no job submitted")


def _job_ids(tb):
    return {row[0] for row in tb.query("job", ["id"])}


def _converged(tb) -> None:
    """hbal finds nothing worth doing: no move, or one that changes the
    score by less than the free-memory jitter of a live cluster."""
    out, _, rc = run(ours_bin("hbal"), ["-L" + tb.socket])
    assert rc == 0
    m = re.search(r"^Cluster score improved from ([0-9.]+) to ([0-9.]+)$", out, re.M)
    if m:
        assert float(m.group(1)) - float(m.group(2)) < 1e-3, out
    else:
        assert ("No solution found" in out or "Nothing to do" in out), out


def _wait_line(proc: subprocess.Popen, prefix: str, timeout: float = 120) -> List[str]:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError("no line %r in %r" % (prefix, lines))


def _all_running(tb) -> bool:
    rows = tb.query("instance", ["name", "status"])
    return all(r[1] == "running" for r in rows)


def _hold_lock(tb, node: str, seconds: int) -> int:
    """A job holding ``node``'s lock for a while (OpTestDelay on it)."""
    return tb.submit({"OP_ID": "OP_TEST_DELAY", "duration": seconds,
                      "on_master": False, "on_nodes": [node]})


def _job_target(tb, jid: int) -> str:
    """The node a submitted move job takes its instance to."""
    ops = tb.luxi("QueryJobs", [jid], ["ops"])[0][0]
    targets = [op.get("target_node") for op in ops if op.get("target_node")]
    assert targets, ops
    return targets[0]


def fail_first_job(tb, locks, proc: subprocess.Popen, before) -> Tuple[str, str]:
    """Make the first job ``proc`` submits fail: it waits for a lock on the
    master (where every instance of the 'unbalanced' state lives) while the
    daemons of its target node are stopped; then ``locks`` (held on the
    master by :meth:`Testbed.hold_node_locks`) are released.
    Returns the tool's (stdout, stderr); the node is up again afterwards."""
    target = None
    try:
        jid = _wait_submitted(tb, proc, before | {locks.job_id})
        target = _job_target(tb, jid)
        tb.stop_node_daemons(target)
        locks.release()
        return proc.communicate(timeout=TIMEOUT)
    finally:
        locks.release()
        if proc.poll() is None:
            proc.kill()
        if target:
            tb.start_node_daemons(target)


@pytest.mark.parametrize("binary", ["ours", "reference"])
def test_failed_job_aborts(testbed, binary):
    """The target node's daemons stop while the job waits for its lock."""
    exe = ours_bin("hbal") if binary == "ours" else ref_bin("hbal")
    set_state(testbed, "unbalanced")
    before = _job_ids(testbed)
    locks = testbed.hold_node_locks([testbed.master])
    proc = _start(exe, ["-L" + testbed.socket, "-X"])
    out, err = fail_first_job(testbed, locks, proc, before)
    assert proc.returncode == 1, out + err
    assert _FAILED.search(err) and "JOB_STATUS_ERROR" in err, err
    assert len(re.findall(r"^Got job IDs", out, re.M)) == 1, out
    testbed.wait_idle()
    assert set(testbed.placement()) == set(_on_master(testbed))
    assert _all_running(testbed)


@pytest.mark.parametrize("binary", ["ours", "reference"])
def test_job_cancelled_by_someone_else(testbed, binary):
    exe = ours_bin("hbal") if binary == "ours" else ref_bin("hbal")
    set_state(testbed, "unbalanced")
    locks = testbed.hold_node_locks([testbed.master])
    before = _job_ids(testbed)
    proc = _start(exe, ["-L" + testbed.socket, "-X"])
    try:
        jid = _wait_submitted(testbed, proc, before)
        for _ in range(50):  # a job just submitted may not be in the queue yet
            res = testbed.luxi("CancelJob", jid, False)
            if res[0] is True or "not found" not in str(res[1]):
                break
            time.sleep(0.1)
        assert res[0] is True, res
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        locks.release()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert _FAILED.search(err) and "JOB_STATUS_CANCELED" in err, err
    testbed.wait_idle()
    assert testbed.placement() == {n: (testbed.master, []) for n in testbed.placement()}


@pytest.mark.parametrize("binary", ["ours", "reference"])
def test_sigint_finishes_current_jobset(testbed, binary):
    exe = ours_bin("hbal") if binary == "ours" else ref_bin("hbal")
    set_state(testbed, "unbalanced")
    before = _job_ids(testbed)
    proc = _start(exe, ["-L" + testbed.socket, "-X"])
    _wait_submitted(testbed, proc, before)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "Cancel request registered, will exit at the end of the current job set...\n" in out
    assert "Exiting early due to user request, \n1jobset(s) submitted: \n" in out
    assert re.search(r'^\[\("Executing jobset for instances [^"]+",\[\(\d+,JOB_STATUS_SUCCESS\)\]\)\]$',
                     out, re.M), out
    assert re.search(r"^\d+ jobset\(s\) not submitted:\n\[\(\"Executing jobset for instances .*"
                     r"OpInstanceMigrate \{opInstanceName = ", out, re.M), out
    testbed.wait_idle()
    moved = [n for n, (p, _) in testbed.placement().items() if p != testbed.master]
    assert len(moved) == 1  # the first job set only


def test_sigterm_exits_now(testbed):
    set_state(testbed, "unbalanced")
    proc = _start(ours_bin("hbal"), ["-L" + testbed.socket, "-X"])
    _wait_line(proc, "Got job IDs")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert out.endswith("Double cancel request, exiting now...\n")
    testbed.wait_idle()  # the submitted job still runs to its end
    assert _all_running(testbed)


def test_sigkill_then_rerun_converges(testbed):
    set_state(testbed, "unbalanced")
    proc = _start(ours_bin("hbal"), ["-L" + testbed.socket, "-X"])
    _wait_line(proc, "Got job IDs")
    proc.kill()
    proc.communicate(timeout=60)
    out, err, rc = run(ours_bin("hbal"), ["-L" + testbed.socket, "-X"])
    assert rc == 0, err
    assert re.search(r"^hbal: waiting for 1 unfinished job\(s\) of an earlier run: \d+ \(",
                     err, re.M), err
    testbed.wait_idle()
    _converged(testbed)


def test_pending_jobs_refuse(testbed):
    set_state(testbed, "unbalanced")
    proc = _start(ours_bin("hbal"), ["-L" + testbed.socket, "-X"])
    lines = _wait_line(proc, "Got job IDs")
    jid = lines[-1].split()[-1]
    proc.kill()
    proc.communicate(timeout=60)
    out, err, rc = run(ours_bin("hbal"), ["-L" + testbed.socket, "-X",
                                          "--pending-jobs=refuse"])
    assert rc == 1
    assert err.startswith("Error: hbal: jobs of an earlier hbal/hsqueeze run are "
                          "not finished: %s (" % jid), err
    assert out == ""
    testbed.wait_idle()


def test_master_restart_while_waiting(testbed):
    """Ours reconnects and follows its jobs when the master daemons restart."""
    set_state(testbed, "unbalanced")
    _hold_lock(testbed, testbed.master, 6)
    proc = _start(ours_bin("hbal"), ["-L" + testbed.socket, "-X"])
    _wait_line(proc, "Got job IDs")
    testbed.restart_master_daemons()
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "Lost the connection to the master daemon" in err
    assert "Reconnected to the master daemon" in err
    testbed.wait_idle()
    _converged(testbed)


def test_instance_moved_between_plan_and_execution(testbed):
    """Ours plans on data recorded before a manual move: nothing is submitted."""
    set_state(testbed, "unbalanced")
    with RecordingProxy(testbed.socket) as proxy:
        out, _, rc = run(ref_bin("hbal"), ["-L" + proxy.socket, "-C"])
        plan = proxy.recorded()
    # an instance of the first job set, and a node no move of that set touches
    first = out.split("echo jobset 1,", 1)[1].split("echo jobset 2,", 1)[0]
    insts = re.findall(r"gnt-instance \S+ .*?(\S+)$", first, re.M)
    assert insts, out
    inst = insts[0]
    busy = set(re.findall(r"-n (\S+)", first)) | {testbed.master}
    other = [n for n in testbed.nodes if n not in busy][0]
    testbed.move_to({inst: other})
    with RecordingProxy(testbed.socket, replay=plan) as proxy:
        out, err, rc = run(ours_bin("hbal"), ["-L" + proxy.socket, "-X"])
    assert rc == 1
    # (the load warnings of the recorded data come first)
    assert err.endswith("Error: hbal: Cluster changed since the plan was computed, job "
                        "set 1 not submitted: instance %s is on %s, the plan expected %s\n"
                        % (inst, other, testbed.master)), err
    assert not submitted_opcodes(proxy.requests)
    assert "Got job IDs" not in out


@pytest.mark.parametrize("tool", ["hbal", "hinfo", "hscan", "hspace"])
def test_socket_missing(tool, tmp_path):
    args = ["-L" + str(tmp_path / "nosuch.sock")]
    assert run(ours_bin(tool), args, cwd=str(tmp_path)) == \
        run(ref_bin(tool), args, cwd=str(tmp_path))


def test_socket_not_permitted(testbed, tmp_path):
    """Without CAP_DAC_OVERRIDE a 0000 socket cannot be opened."""
    if subprocess.run(["setpriv", "--help"], capture_output=True).returncode != 0:
        pytest.skip("setpriv not available")
    with RecordingProxy(testbed.socket) as proxy:
        os.chmod(proxy.socket, 0)
        drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
        ours = run(drop[0], drop[1:] + [ours_bin("hbal"), "-L" + proxy.socket])
        ref = run(drop[0], drop[1:] + [ref_bin("hbal"), "-L" + proxy.socket])
    assert ours == ref
    assert ours[2] == 1
    assert "permission denied" in ours[1]


def test_harep_identical(testbed, tmp_path):
    """harep on the testbed: sharedfile/diskless instances are outside its
    scope, so it reports them all healthy; same output as the reference,
    with and without --dry-run, plus a drained node."""
    set_state(testbed, "drained")
    compare("harep", [], testbed.socket, tmp_path / "a")
    compare("harep", ["--dry-run"], testbed.socket, tmp_path / "b")
