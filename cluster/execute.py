"""Executing a plan on a live cluster (``-X``): htools' ``execWithCancel``.

The plan arrives as :class:`cluster.jobs.JobSet` s.  Job sets run one after
the other; the jobs of a set are submitted together (``SubmitManyJobs``)
on a fresh Luxi connection, ``Got job IDs ...`` is printed, and the jobs
are waited for.  A job that does not succeed ends the run
(``Not all jobs completed successfully: ...``); SIGINT lets the current
set finish and then prints the reference's summary; SIGTERM exits at once
with status 2.  Standard output is the reference's, line for line.

Beyond the reference (standard error only, or options of ours):

* **progress**: on a terminal, or with ``-v`` when piped, each job's state
  changes and log messages as they arrive, and a running count of moves;
* **no stale plans**: before each set, the instances and nodes it touches
  are read again; if an instance is no longer where the plan expects it, a
  target node went offline or drained, or a new primary lacks the memory,
  nothing more is submitted and the reason is printed;
* **crash-safe reruns**: :func:`wait_for_earlier_runs` finds jobs of an
  earlier hbal/hsqueeze run still queued, waiting or running, and waits for
  them (or refuses), so that a rerun never submits conflicting jobs.

Everything is reachable as a plain API too: :class:`Executor` takes a
socket path, job sets, an :class:`~cluster.jobs.Annotation` and an event
callback, and returns a :class:`Report`.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

from backends.luxi import (JOB_PENDING, JOB_STATUS_SHOW, JOB_SUCCESS,
                           LuxiClient, LuxiError, LuxiIOError, format_error)
from cluster.jobs import Annotation, JobSet, MoveCheck
from htools.errors import HtoolsError
from htools.haskell.show import show_string

#: htools' polling schedule: first look after 0.5 s, doubling up to 15 s
POLL_FIRST = 0.5
POLL_MAX = 15.0

#: how long a lost master connection is retried while waiting for jobs
RECONNECT_FOR = 120.0

#: the comments / reason sources that mark jobs of our executing tools
OWN_SOURCES = ("hbal", "hsqueeze")
OWN_COMMENTS = ("rebalancing via hbal", "condensing by ", "expanding by ")


@dataclass
class Event:
    kind: str           # submitted, status, log, jobset-done, stale, interrupted
    jobset: int = 0
    job_id: Optional[int] = None
    data: object = None


@dataclass
class Report:
    """What happened: submitted sets with their job results, and the rest."""

    submitted: List[Tuple[str, List[Tuple[int, str]]]] = field(default_factory=list)
    not_submitted: List[JobSet] = field(default_factory=list)
    error: Optional[str] = None
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _hs_show_submitted(submitted) -> str:
    return "[%s]" % ",".join(
        "(%s,[%s])" % (show_string(descr), ",".join(
            "(%d,%s)" % (jid, JOB_STATUS_SHOW[st]) for jid, st in jobs))
        for descr, jobs in submitted)


def _hs_show_pending(jobsets: Sequence[JobSet]) -> str:
    from htools.opcodes import show_opcode
    return "[%s]" % ",".join(
        "(%s,[%s])" % (show_string(js.description), ",".join(
            "[%s]" % ",".join(show_opcode(op) for op in job) for job in js.jobs))
        for js in jobsets)


class Progress:
    """Our view of a running execution, on standard error."""

    def __init__(self, enabled: bool, total_moves: int, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.total = total_moves
        self.done = 0
        self.names: Dict[int, str] = {}

    def _say(self, text: str) -> None:
        if self.enabled:
            sys.stdout.flush()
            self.stream.write(text + "\n")
            self.stream.flush()

    def __call__(self, ev: Event) -> None:
        if ev.kind == "submitted":
            ids, js = ev.data
            for jid, job in zip(ids, js.jobs):
                self.names[jid] = ", ".join(
                    "%s %s" % (op["OP_ID"].replace("OP_", "").lower(),
                               op.get("instance_name") or op.get("node_name") or
                               ",".join(op.get("node_names", [])) or op.get("name", ""))
                    for op in job)
            self._say("[jobset %d] submitted %s %s" % (
                ev.jobset, "job" if len(ids) == 1 else "jobs",
                "; ".join("%d (%s)" % (j, self.names[j]) for j in ids)))
        elif ev.kind == "status":
            self._say("[job %d] %s" % (ev.job_id, ev.data))
        elif ev.kind == "log":
            _serial, ts, _typ, msg = ev.data
            when = ""
            if isinstance(ts, list) and ts:
                when = time.strftime("%H:%M:%S ", time.localtime(ts[0]))
            self._say("[job %d] %s%s" % (ev.job_id, when, msg))
        elif ev.kind == "failed":
            for i, line in enumerate(str(ev.data).split("\n")):
                self._say("[job %d] %s%s" % (ev.job_id, "" if i == 0 else "  ", line))
        elif ev.kind == "jobset-done":
            self.done += ev.data
            self._say("[jobset %d] done: %d of %d moves executed"
                      % (ev.jobset, self.done, self.total))
        elif ev.kind == "stale":
            pass  # reported as the error


class _Signals:
    """SIGINT: finish the current job set; SIGTERM: leave now (status 2)."""

    def __init__(self, out):
        self.out = out
        self.cancel = 0
        self._old: Dict[int, object] = {}

    def __enter__(self) -> "_Signals":
        for sig, fn in ((signal.SIGINT, self._int), (signal.SIGTERM, self._term)):
            self._old[sig] = signal.signal(sig, fn)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _int(self, signum, frame) -> None:
        self.cancel = 1
        self.out.write("Cancel request registered, will exit at the end of "
                       "the current job set...\n")
        self.out.flush()

    def _term(self, signum, frame) -> None:
        self.cancel = 2
        self.out.write("Double cancel request, exiting now...\n")
        try:
            self.out.flush()
            sys.stderr.flush()
        finally:
            os._exit(2)


class Executor:
    """Run job sets on the cluster behind a Luxi socket."""

    def __init__(self, connect, annotation: Annotation,
                 on_event: Optional[Callable[[Event], None]] = None,
                 out=None, precheck: bool = True,
                 poll_first: float = POLL_FIRST, poll_max: float = POLL_MAX,
                 summary: bool = True):
        """``connect``: a Luxi socket path, or a callable that opens a
        client (a :class:`LuxiClient` or a :class:`cluster.rapi.RapiClient`).
        ``summary``: print htools' summary when SIGINT stops the run (other
        drivers report it their own way; :attr:`cancelled` tells them)."""
        self.connect = (lambda: LuxiClient(connect)) if isinstance(connect, str) \
            else connect
        self.annotation = annotation
        self.on_event = on_event or (lambda ev: None)
        self.out = out or sys.stdout
        self.precheck = precheck
        self.poll_first = poll_first
        self.poll_max = poll_max
        self.follow_logs = getattr(self.on_event, "enabled", True)
        self.summary = summary
        self.cancelled = False
        self._status: Dict[int, Dict[int, Optional[str]]] = {}
        self._serial: Dict[int, Dict[int, Optional[int]]] = {}

    # -- the run ----------------------------------------------------------------
    def run(self, jobsets: Sequence[JobSet]) -> Report:
        report = Report()
        with _Signals(self.out) as sigs:
            try:
                return self._run(jobsets, report, sigs)
            finally:
                self.cancelled = bool(sigs.cancel)

    def _run(self, jobsets: Sequence[JobSet], report: Report, sigs) -> Report:
        try:
            with self.connect() as probe:
                probe.query_cluster_info()
        except LuxiError as err:
            report.error = err.message
            report.not_submitted = list(jobsets)
            return report
        for n, js in enumerate(jobsets, 1):
            if sigs.cancel:
                report.interrupted = True
                report.not_submitted = list(jobsets[n - 1:])
                if self.summary:
                    self._print_summary(report)
                return report
            results = self._run_jobset(n, js, report)
            if results is None:
                report.not_submitted = list(jobsets[n - 1:])
                return report
            failures = [(jid, st) for jid, st in results if st != JOB_SUCCESS]
            if failures:
                report.submitted.append((js.description, results))
                report.not_submitted = list(jobsets[n:])
                report.error = (
                    "Not all jobs completed successfully: [%s]\nAborting.\n"
                    % ",".join("(JobId {fromJobId = %d},%s)"
                               % (jid, JOB_STATUS_SHOW[st])
                               for jid, st in failures))
                return report
            report.submitted.append((js.description, results))
            self.on_event(Event("jobset-done", n, data=len(js.jobs)))
        return report

    def _print_summary(self, report: Report) -> None:
        out = self.out
        out.write("Exiting early due to user request, \n")
        out.write("%djobset(s) submitted: \n" % len(report.submitted))
        out.write(_hs_show_submitted(report.submitted) + "\n")
        out.write("%d jobset(s) not submitted:\n" % len(report.not_submitted))
        out.write(_hs_show_pending(report.not_submitted) + "\n")
        out.flush()

    def _run_jobset(self, n: int, js: JobSet, report: Report
                    ) -> Optional[List[Tuple[int, str]]]:
        with self.connect() as client:
            if self.precheck and js.checks:
                problem = check_moves(client, js.checks)
                if problem:
                    self.on_event(Event("stale", n, data=problem))
                    report.error = ("Cluster changed since the plan was "
                                    "computed, job set %d not submitted: %s"
                                    % (n, problem))
                    return None
            metaops = [[self.annotation.annotate(op) for op in job]
                       for job in js.jobs]
            try:
                ids = client.submit_many_jobs(metaops)
            except LuxiError as err:
                report.error = "Job submission error: " + err.message
                return None
            self.out.write("Got job IDs %s\n" % ",".join(map(str, ids)))
            self.out.flush()
            self.on_event(Event("submitted", n, data=(ids, js)))
        return self._wait_reconnecting(n, ids, report)

    def _wait_reconnecting(self, n: int, ids: List[int], report: Report
                           ) -> Optional[List[Tuple[int, str]]]:
        """Wait for the jobs; ride out a master daemon restart.

        The reference dies when the master goes away while it waits (its
        jobs go on without it); we reconnect for up to ``RECONNECT_FOR``
        seconds, saying so on stderr, and keep following the same jobs."""
        lost_since = None
        first = True
        while True:
            try:
                with self.connect() as client:
                    if lost_since is not None:
                        sys.stderr.write("Reconnected to the master daemon\n")
                        sys.stderr.flush()
                    lost_since = None
                    return self._wait(client, n, ids, first)
            except LuxiError as err:
                report.error = "Checking job status: " + err.message
                return None
            except LuxiIOError as err:
                now = time.monotonic()
                if lost_since is None:
                    lost_since = now
                    sys.stdout.flush()
                    sys.stderr.write("Lost the connection to the master daemon "
                                     "(%s), reconnecting...\n" % err.message)
                    sys.stderr.flush()
                elif now - lost_since > RECONNECT_FOR:
                    raise
                first = False
                time.sleep(1.0)

    def _wait(self, client: LuxiClient, n: int, ids: List[int],
              first: bool = True) -> List[Tuple[int, str]]:
        """Wait until no job is pending; follow their logs meanwhile."""
        status = self._status.setdefault(n, {j: None for j in ids})
        serial = self._serial.setdefault(n, {j: None for j in ids})
        delay = self.poll_first
        if first:
            time.sleep(delay)
        while True:
            sts = client.query_jobs_status(ids)
            if self.follow_logs:
                self._fetch_logs(client, n, ids, serial)
            for jid, st in zip(ids, sts):
                if st != status[jid]:
                    status[jid] = st
                    self.on_event(Event("status", n, jid, st))
            if not any(st in JOB_PENDING for st in sts):
                if self.follow_logs:
                    self._explain_failures(client, n, ids, sts)
                return list(zip(ids, sts))
            delay = min(delay * 2, self.poll_max)
            self._pause(client, n, ids, status, serial, delay)

    def _explain_failures(self, client, n, ids, sts) -> None:
        failed = [j for j, st in zip(ids, sts) if st != JOB_SUCCESS]
        if not failed:
            return
        rows = client.query_jobs(failed, ["opstatus", "opresult"])
        for jid, row in zip(failed, rows or []):
            if not (isinstance(row, list) and len(row) == 2):
                continue
            for st, res in zip(row[0] or [], row[1] or []):
                if st in ("error", "canceled"):
                    msg = format_error(res) if isinstance(res, list) else str(res)
                    self.on_event(Event("failed", n, jid, "%s: %s" % (st, msg)))
                    break

    def _fetch_logs(self, client, n, ids, serial) -> None:
        rows = client.query_jobs(ids, ["oplog"])
        for jid, row in zip(ids, rows or []):
            if not (isinstance(row, list) and row and isinstance(row[0], list)):
                continue
            entries = [e for oplog in row[0] if isinstance(oplog, list)
                       for e in oplog if isinstance(e, list) and len(e) == 4]
            for entry in sorted(entries, key=lambda e: e[0] if isinstance(e[0], int) else 0):
                if serial[jid] is None or entry[0] > serial[jid]:
                    serial[jid] = entry[0]
                    self.on_event(Event("log", n, jid, entry))

    def _pause(self, client, n, ids, status, serial, delay: float) -> None:
        """Sleep up to ``delay``, waking early when a pending job changes."""
        pending = [j for j in ids if status[j] in JOB_PENDING]
        if not pending:
            return
        jid = pending[0]
        deadline = time.monotonic() + delay
        try:
            res = client.wait_for_job_change(jid, ["status"], [status[jid]],
                                             serial[jid], max(1, int(delay)))
        except LuxiError:
            res = None
        rest = deadline - time.monotonic()
        if res is None and rest > 0:
            time.sleep(rest)


# ---------------------------------------------------------------- precheck

def _rows(client: LuxiClient, what: str, fields: List[str]) -> List[list]:
    res = client.query(what, fields)
    out = []
    for row in res.get("data", []) if isinstance(res, dict) else []:
        out.append([v if st == 0 else None for st, v in row])
    return out


def check_moves(client: LuxiClient, checks: Sequence[MoveCheck]) -> Optional[str]:
    """The first reason why a planned move no longer applies, or None."""
    insts = {r[0]: r for r in _rows(client, "instance",
                                    ["name", "pnode", "snodes", "status"])}
    nodes = {r[0]: r for r in _rows(client, "node",
                                    ["name", "offline", "drained", "mfree"])}
    for c in checks:
        row = insts.get(c.instance)
        if row is None:
            return "instance %s no longer exists" % c.instance
        pnode, snodes = row[1], row[2] or []
        snode = snodes[0] if snodes else None
        if pnode != c.pnode or snode != c.snode:
            return ("instance %s is on %s, the plan expected %s"
                    % (c.instance, _pair(pnode, snode), _pair(c.pnode, c.snode)))
        for name in c.targets:
            node = nodes.get(name)
            if node is None:
                return "node %s no longer exists" % name
            if node[1]:
                return "target node %s of instance %s is offline" % (name, c.instance)
            if node[2]:
                return "target node %s of instance %s is drained" % (name, c.instance)
        if c.running and c.new_pnode != c.pnode:
            node = nodes.get(c.new_pnode)
            mfree = node[3] if node else None
            if isinstance(mfree, int) and mfree < c.mem:
                return ("node %s has %d MiB free, instance %s needs %d MiB"
                        % (c.new_pnode, mfree, c.instance, c.mem))
    return None


def _pair(p: Optional[str], s: Optional[str]) -> str:
    return "%s:%s" % (p, s) if s else str(p)


# ---------------------------------------------------------------- earlier runs

def pending_own_jobs(client: LuxiClient, sources: Sequence[str] = OWN_SOURCES
                     ) -> List[Tuple[int, str, str]]:
    """Unfinished jobs submitted by hbal/hsqueeze: (id, status, summary)."""
    rows = client.query_jobs(None, ["id", "status", "ops", "summary"])
    out = []
    for row in rows or []:
        if not (isinstance(row, list) and len(row) == 4):
            continue
        jid, st, ops, summary = row
        if st not in JOB_PENDING:
            continue
        if any(_is_own(op, sources) for op in ops or []):
            text = ",".join(summary) if isinstance(summary, list) else str(summary)
            out.append((int(jid), st, text))
    return sorted(out)


def _is_own(op, sources) -> bool:
    if not isinstance(op, dict):
        return False
    for entry in op.get("reason") or []:
        if isinstance(entry, list) and entry and entry[0] in sources:
            return True
    comment = op.get("comment") or ""
    return isinstance(comment, str) and comment.startswith(OWN_COMMENTS)


def wait_for_earlier_runs(connect, prog: str, mode: str, verbose: int,
                          poll: float = 2.0, strict: bool = False) -> None:
    """Before ``-X``: handle jobs of an earlier run that are still pending.

    ``mode`` ``wait`` waits for them (telling so on stderr), ``refuse``
    raises HtoolsError naming them, ``ignore`` does nothing.  ``strict``
    (RAPI): a failure to list the jobs is fatal, so that bad credentials or
    certificates stop the run before anything is computed."""
    if mode == "ignore":
        return
    if isinstance(connect, str):
        path = connect
        connect = lambda: LuxiClient(path)  # noqa: E731
    try:
        with connect() as client:
            pending = pending_own_jobs(client)
            if not pending:
                return
            desc = ", ".join("%d (%s: %s)" % p for p in pending)
            if mode == "refuse":
                raise HtoolsError(
                    "%s: jobs of an earlier hbal/hsqueeze run are not finished: "
                    "%s; wait for them or rerun with --pending-jobs=wait" % (prog, desc))
            sys.stdout.flush()
            sys.stderr.write("%s: waiting for %d unfinished job(s) of an earlier "
                             "run: %s\n" % (prog, len(pending), desc))
            sys.stderr.flush()
            while pending:
                time.sleep(poll)
                pending = pending_own_jobs(client)
    except LuxiError as err:
        if strict:  # over RAPI: a refusal here (401, 403) refuses -X too
            raise HtoolsError("%s: %s" % (prog, err.message)) from None
        return  # no job list to look at: the reference does not look either
    except LuxiIOError:
        if strict:
            raise
        return  # the load that follows reports the socket failure


def connector(opts):
    """The client factory for ``-X``: Luxi with ``-L``, else RAPI (``-m``)."""
    if getattr(opts, "luxi", None) is not None:
        path = opts.luxi
        return lambda: LuxiClient(path)
    from cluster import rapi
    return rapi.connector(opts)


def check_executable(opts, prog: str) -> None:
    """``-X`` needs Luxi (the reference) or, ours, RAPI (``-m``)."""
    if getattr(opts, "luxi", None) is None and not getattr(opts, "master", ""):
        raise HtoolsError("%s: Execution of commands possible only on LUXI" % prog)


def run_jobsets(opts, jobsets: Sequence[JobSet], annotation: Annotation,
                prog: str) -> int:
    """``-X`` for a tool: execute, print like the reference, exit status."""
    verbose = getattr(opts, "verbose", 1)
    show = sys.stderr.isatty() or verbose >= 2
    progress = Progress(show, sum(len(js.jobs) for js in jobsets))
    ex = Executor(connector(opts), annotation, progress,
                  precheck=getattr(opts, "precheck", True))
    try:
        report = ex.run(jobsets)
    except LuxiIOError:
        raise
    if report.error is not None:
        raise HtoolsError("%s: %s" % (prog, report.error))
    return 0
