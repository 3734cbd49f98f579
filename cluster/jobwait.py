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
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, List, Sequence, Tuple

from backends.luxi import JOB_PENDING, JOB_SUCCESS, LuxiClient, LuxiError
from cluster.execute import POLL_FIRST, POLL_MAX


class JobsError(Exception):
    """A job could not be submitted, checked, or did not succeed."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def submit_jobs(client: LuxiClient, jobs: Sequence[Sequence[dict]]) -> List[int]:
    """``submitJobs``: SubmitManyJobs, the job ids in order."""
    try:
        return client.submit_many_jobs(jobs)
    except LuxiError as err:
        raise JobsError("Job submission error: " + err.message) from None


def query_jobs_status(client: LuxiClient, ids: Sequence[int]) -> List[str]:
    """``Luxi.queryJobsStatus``: one status per job (LuxiError otherwise)."""
    return client.query_jobs_status(ids)


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
