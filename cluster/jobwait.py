"""Submit jobs and wait for them: Ganeti's ``Jobs.execJobsWaitOk``.

Where :mod:`cluster.execute` runs a plan as job sets (``execWithCancel``,
with signals and progress), harep needs the plain building blocks of
``Ganeti.Jobs``: submit a list of jobs on an open Luxi connection
(:func:`submit_jobs`), poll their status on the same connection at the
reference's schedule until none is queued, waiting or running
(:func:`wait_for_jobs`: first look after 0.5 s, then doubling up to 15 s),
and both together, failing unless every job succeeded
(:func:`exec_jobs_wait_ok`).

Failures raise :class:`JobsError` whose message is the reference's text
(``Job submission error: ...``, ``Checking job status: ...``, ``The
following jobs failed: 3=>error, 4=>canceled``).  Answers the master sends
that htools cannot read are reported as Ganeti's ``formatError`` shows a
client-side ``LuxiError`` (``Unhandled exception: LuxiError "..."``);
a socket failure propagates as :class:`backends.luxi.LuxiIOError`.
"""
from __future__ import annotations

import time
from fractions import Fraction
from typing import Callable, List, Sequence, Tuple

from backends.iallocator import JSNULL, hs_show_string, pp_value
from backends.luxi import (JOB_PENDING, JOB_STATUSES, JOB_SUCCESS,
                           LuxiClient, LuxiError, decode_response)
from htools.units import wrap_int64

#: htools' polling schedule (``waitForJobs``): seconds
POLL_FIRST = 0.5
POLL_MAX = 15.0


class JobsError(Exception):
    """A job could not be submitted, checked, or did not succeed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _client_error(msg: str) -> LuxiError:
    """A ``LuxiError`` raised by htools itself, as ``formatError`` shows it."""
    return LuxiError("Unhandled exception: LuxiError " + hs_show_string(msg))


def _raw_call(client: LuxiClient, method: str, args):
    """The decoded result (JSObject form); server errors are LuxiError."""
    client.send(method, args)
    return decode_response(client.recv())


def _show_js(v) -> str:
    from htools.mond import hs_show_jsvalue
    return hs_show_jsvalue(v)


def _job_id(v) -> int:
    """``parseJobId`` of a submission result's payload."""
    from htools.mond import _show_ratio
    from htools.units import ReadError, try_read_int
    if isinstance(v, str):
        try:
            jid = try_read_int("parsing job id", v)
        except ReadError as err:
            raise _client_error(str(err)) from None
    elif isinstance(v, bool) or v is JSNULL or not isinstance(v, (int, Fraction)):
        raise _client_error("Wrong type/value for job id: " + _show_js(v))
    elif isinstance(v, Fraction) and v.denominator != 1:
        raise _client_error("Got fractional job ID from master daemon?! Value:"
                            + _show_ratio(v, 0))
    else:
        jid = wrap_int64(int(v))
    if jid < 0:
        raise _client_error("Invalid value for job ID ' %d'" % jid)
    return jid


def submit_jobs(client: LuxiClient, jobs: Sequence[Sequence[dict]]) -> List[int]:
    """``submitJobs``: SubmitManyJobs, the job ids in order."""
    try:
        res = _raw_call(client, "SubmitManyJobs", [[list(j) for j in jobs]])
        if not isinstance(res, list):
            # ``show`` of the call's ``Ok x``
            shown = _show_js(res)
            raise _client_error("Cannot parse response from Ganeti: Ok "
                                + (shown if res is JSNULL else "(%s)" % shown))
        ids = []
        for item in res:
            if isinstance(item, list) and len(item) == 2 and item[0] is True:
                ids.append(_job_id(item[1]))
            elif isinstance(item, list) and len(item) == 2 and \
                    item[0] is False and isinstance(item[1], str):
                raise _client_error(item[1])
            else:
                raise _client_error("Unknown result from the master daemon: "
                                    + pp_value(item))
    except LuxiError as err:
        raise JobsError("Job submission error: " + err.message) from None
    return ids


def query_jobs_status(client: LuxiClient, ids: Sequence[int]) -> List[str]:
    """``Luxi.queryJobsStatus``: one status per job (LuxiError otherwise)."""
    res = _raw_call(client, "QueryJobs", [list(ids), ["status"]])
    if not isinstance(res, list):
        raise _client_error("Unable to read list")
    for row in res:
        if not isinstance(row, list):
            raise _client_error("Unable to read list")
        for st in row:
            if not isinstance(st, str):
                raise _client_error("Can't parse value for 'JobStatus': "
                                    "Unable to read String")
            if st not in JOB_STATUSES:
                raise _client_error("Invalid string value for type JobStatus: "
                                    + hs_show_string(st))
    if any(not row for row in res):
        raise _client_error("Missing job status field")
    return [row[0] for row in res]


def wait_for_jobs(client: LuxiClient, ids: Sequence[int],
                  sleep: Callable[[float], None] = time.sleep
                  ) -> List[Tuple[int, str]]:
    """``waitForJobs``: poll until no job is pending; (id, status) pairs."""
    delay = POLL_FIRST
    while True:
        sleep(delay)
        try:
            sts = query_jobs_status(client, ids)
        except LuxiError as err:
            raise JobsError("Checking job status: " + err.message) from None
        if not any(st in JOB_PENDING for st in sts):
            return list(zip(ids, sts))
        delay = min(delay * 2, POLL_MAX)


def exec_jobs_wait_ok(client: LuxiClient, jobs: Sequence[Sequence[dict]],
                      sleep: Callable[[float], None] = time.sleep) -> None:
    """``execJobsWaitOk``: submit, wait, fail unless all jobs succeeded."""
    ids = submit_jobs(client, jobs)
    results = wait_for_jobs(client, ids, sleep)
    failed = [(jid, st) for jid, st in results if st != JOB_SUCCESS]
    if failed:
        raise JobsError("The following jobs failed: " + ", ".join(
            "%d=>%s" % (jid, st) for jid, st in failed))
