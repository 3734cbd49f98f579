"""Rolling reboots that run themselves (``hroller --reboot-command``) on the
testbed: a "reboot" of a virtual node is an outage of its Ganeti daemons
(``python -m tests.harness.testbed reboot NODE``).

While hroller runs, a sampler watches the cluster and records every moment
at which a node is down while a running instance has its primary there.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple


from tests.harness.refdiff import ours_bin

REPO = Path(__file__).resolve().parents[2]


def _spread(tb) -> Dict[str, str]:
    insts = sorted(tb.placement())
    usable = tb.nodes[:-1] if len(tb.nodes) > 2 else tb.nodes
    return {name: usable[i % len(usable)] for i, name in enumerate(insts)}


def _score(tb) -> float:
    out = subprocess.run([ours_bin("hbal"), "-L" + tb.socket], capture_output=True,
                         text=True, timeout=120).stdout
    m = re.search(r"^Initial score: ([0-9.]+)$", out, re.M)
    assert m, out
    return float(m.group(1))


class Sampler(threading.Thread):
    """Watches which nodes are down and where the running instances are."""

    def __init__(self, tb):
        super().__init__(daemon=True)
        self.tb = tb
        self.stop = threading.Event()
        self.violations: List[Tuple[str, str]] = []
        self.samples = 0
        self.down_seen: Dict[str, int] = {}

    def run(self):
        placement: Dict[str, Tuple[str, str]] = {}
        while not self.stop.is_set():
            try:
                rows = self.tb.query("instance", ["name", "pnode", "status"])
                placement = {r[0]: (r[1], r[2]) for r in rows}
            except Exception:  # noqa: BLE001 - the master may be down
                pass
            for node in self.tb.nodes:
                if not self.tb.daemons_running(node):
                    self.down_seen[node] = self.down_seen.get(node, 0) + 1
                    for inst, (pnode, status) in placement.items():
                        if pnode == node and status == "running":
                            self.violations.append((inst, node))
            self.samples += 1
            time.sleep(0.3)


def _hroller(tb, tmp: Path, extra=(), reboot_log: Path = None, command: str = None):
    log = reboot_log or tmp / "reboots.log"
    cmd = command or ("echo {node} >> %s && %s -m tests.harness.testbed reboot {node}"
                      % (log, sys.executable))
    argv = [ours_bin("hroller"), "-L" + tb.socket, "--reboot-command=" + cmd,
            "--state-file=%s" % (tmp / "roll.state"), "--reboot-timeout=240"] + list(extra)
    return argv, log


def _run(argv, timeout=1200):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          cwd=str(REPO), stdin=subprocess.DEVNULL)


def _rebooted(log: Path) -> List[str]:
    return log.read_text().split() if log.exists() else []


def _check_end(tb, start_score: float, log: Path, sampler: Sampler):
    assert sorted(_rebooted(log)) == sorted(tb.nodes), _rebooted(log)
    assert not sampler.violations, sampler.violations
    assert set(sampler.down_seen) == set(tb.nodes), sampler.down_seen
    rows = tb.query("instance", ["name", "status"])
    assert all(r[1] == "running" for r in rows), rows
    rows = tb.query("node", ["name", "drained", "offline"])
    assert not any(r[1] or r[2] for r in rows), rows
    assert _score(tb) <= start_score + 1e-3  # free-memory jitter


def test_full_rolling_reboot(testbed, tmp_path):
    testbed.reset(placement=_spread(testbed))
    start = _score(testbed)
    argv, log = _hroller(testbed, tmp_path)
    sampler = Sampler(testbed)
    sampler.start()
    try:
        res = _run(argv)
    finally:
        sampler.stop.set()
        sampler.join()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "'Rolling Reboot'" in res.stdout
    assert "Rolling reboot complete" in res.stdout
    assert not (tmp_path / "roll.state").exists()
    _check_end(testbed, start, log, sampler)


def test_dry_run_changes_nothing(testbed, tmp_path):
    testbed.reset(placement=_spread(testbed))
    before = testbed.placement()
    argv, log = _hroller(testbed, tmp_path, extra=["--dry-run"])
    res = _run(argv)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "would drain" in res.stdout and "would run: echo" in res.stdout
    assert testbed.placement() == before
    assert not log.exists()
    assert not (tmp_path / "roll.state").exists()


def _interrupted_then_rerun(testbed, tmp_path, interrupt):
    """Start, interrupt with ``interrupt(proc)``, rerun; check the end state."""
    testbed.reset(placement=_spread(testbed))
    start = _score(testbed)
    argv, log = _hroller(testbed, tmp_path)
    sampler = Sampler(testbed)
    sampler.start()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=str(REPO), stdin=subprocess.DEVNULL)
        first = interrupt(proc)
        testbed.wait_idle()
        assert (tmp_path / "roll.state").exists()
        res = _run(argv)
    finally:
        sampler.stop.set()
        sampler.join()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Resuming the rolling reboot recorded in" in res.stdout
    _check_end(testbed, start, log, sampler)
    return first, res


def _wait_for(proc, text: str, timeout=600) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError("%r not seen in %r" % (text, "".join(seen)))


def test_sigint_then_rerun(testbed, tmp_path):
    def interrupt(proc):
        _wait_for(proc, "is back")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 1, out + err
        assert "Stopped: interrupted" in out
        return out
    _interrupted_then_rerun(testbed, tmp_path, interrupt)


def test_sigkill_then_rerun(testbed, tmp_path):
    def interrupt(proc):
        _wait_for(proc, "Reboot group 2/")
        proc.kill()
        proc.communicate(timeout=60)
        return ""
    _interrupted_then_rerun(testbed, tmp_path, interrupt)


def test_node_not_back_then_rerun(testbed, tmp_path):
    """A reboot command that leaves the node down: hroller stops after the
    timeout, the node stays drained; once it is back, the rerun completes."""
    testbed.reset(placement=_spread(testbed))
    start = _score(testbed)
    log = tmp_path / "reboots.log"
    broken = ("echo {node} >> %s && %s -m tests.harness.testbed stop {node}"
              % (log, sys.executable))
    argv, _ = _hroller(testbed, tmp_path, command=broken)
    argv = [a if not a.startswith("--reboot-timeout") else "--reboot-timeout=10"
            for a in argv]
    res = _run(argv)
    assert res.returncode == 1
    assert re.search(r"Stopped: node\S* did not come back within 10 s", res.stdout), res.stdout
    down = _rebooted(log)
    assert len(down) >= 1
    for node in down:
        testbed.start_node_daemons(node)
    # the node that never came back was not really rebooted: the rerun's
    # command log must hold every node once more than the broken run left
    log.unlink()
    argv, log = _hroller(testbed, tmp_path, reboot_log=log)
    sampler = Sampler(testbed)
    sampler.start()
    try:
        res = _run(argv)
    finally:
        sampler.stop.set()
        sampler.join()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Resuming the rolling reboot" in res.stdout
    rebooted = _rebooted(log)
    # groups done before the failure are not rebooted again
    assert sorted(rebooted) == sorted(n for n in testbed.nodes
                                      if n not in _done_before(res.stdout, testbed))
    assert not sampler.violations
    rows = testbed.query("instance", ["name", "status"])
    assert all(r[1] == "running" for r in rows)
    assert _score(testbed) <= start + 1e-3


def _done_before(out: str, tb) -> List[str]:
    """Nodes of the groups the resumed run skipped."""
    groups = re.findall(r"^Reboot group \d+/\d+: (\S+)$", out, re.M)
    run_nodes = {n for g in groups for n in g.split(",")}
    return [n for n in tb.nodes if n not in run_nodes]


def test_failed_job_then_rerun(testbed, tmp_path):
    """A job of the maintenance fails (cancelled by someone else while it
    waits for a lock): hroller stops with the abort text, the rerun
    completes."""
    def interrupt(proc):
        locks = testbed.hold_node_locks(testbed.nodes)
        deadline = time.monotonic() + 120
        cancelled = None
        try:
            while cancelled is None and time.monotonic() < deadline:
                for jid, ops in testbed.query("job", ["id", "ops"]):
                    if jid > locks.job_id and any("hroller" in str(op.get("comment", ""))
                                                  for op in ops):
                        res = testbed.luxi("CancelJob", jid, False)
                        if res[0] is True:
                            cancelled = jid
                        break
                time.sleep(0.2)
        finally:
            locks.release()
        assert cancelled, "no hroller job to cancel"
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 1, out + err
        assert re.search(r"Stopped: (draining|evacuating) failed: Not all jobs completed "
                         r"successfully: \[\(JobId \{fromJobId = %d\},JOB_STATUS_CANCELED\)\]"
                         % cancelled, out), out
        testbed.wait_idle()
        return out
    _interrupted_then_rerun(testbed, tmp_path, interrupt)
