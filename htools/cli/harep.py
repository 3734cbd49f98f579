"""harep: the auto-repair tool (Ganeti 3.0.2 ``Program/Harep.hs``).

Reads the cluster over Luxi (``-L``, by default the master's query socket)
with htools' loader, then:

1. derives each instance's repair state from its
   ``ganeti:watcher:autorepair:*`` tags (:mod:`htools.repair`);
2. for each pending repair, asks the master for its jobs' status: when all
   are finished, the instance moves to Healthy (all succeeded) or Failure,
   and its tags are updated;
3. detects instances on failed (offline or drained) nodes and, for those
   that are Healthy, applies their policy: submits the repair job (preceded
   by a ``OP_TEST_DELAY`` of ``--job-delay`` seconds when positive) and
   records it in a pending tag, or records an ``enoperm`` result when the
   policy allows only less destructive repairs, or says why nothing is done;
4. prints the number of instances in each state.

Tag changes are jobs too (``OP_TAGS_SET``/``OP_TAGS_DEL``), each waited
for; a failure ends the run (``Error: The following jobs failed: ...``).
``--dry-run`` prints the repair jobs as ``jobs: <json>`` and the tag
changes, and changes nothing.  Output and exit status are the reference's.
"""
from __future__ import annotations

import sys
import time
import uuid as uuidlib
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Sequence

from backends.luxi import JOB_PENDING, LuxiClient, LuxiError
from cluster.jobs import Annotation, reason_timestamp
from cluster.jobwait import JobsError, exec_jobs_wait_ok, query_jobs_status, submit_jobs
from htools import repair as rp
from htools.cli.options import VERSION, Options, default_query_socket
from htools.errors import HtoolsError
from htools.haskell.json import encode
from htools.haskell.show import show_string


def _out(text: str) -> None:
    sys.stdout.write(text)


class Harep:
    """One run: the options, the Luxi socket and the clock."""

    def __init__(self, opts: Options, socket_path: str):
        self.opts = opts
        self.path = socket_path
        self.dry_run = bool(opts.dry_run)

    # -- helpers ---------------------------------------------------------------
    def annotation(self) -> Annotation:
        """``annotateOpCode`` with the reason timestamp of now."""
        return Annotation("harep", "automated repairs by harep " + VERSION,
                          self.opts.reason, None, reason_timestamp())

    @staticmethod
    def now() -> int:
        """``getClockTime`` in whole seconds (what a tag records)."""
        return int(time.time())

    def _exec(self, client: LuxiClient, ann: Annotation, ops: List[dict]) -> None:
        if self.dry_run:
            return
        try:
            exec_jobs_wait_ok(client, [[ann.annotate(op) for op in ops]])
        except JobsError as err:
            raise HtoolsError(err.message) from None

    def commit(self, client: LuxiClient, st: rp.RepairState) -> rp.RepairState:
        """``commitChange``: add the current tag, remove the superseded ones."""
        ann = self.annotation()
        if st.data is not None:
            tag = st.data.tag
            _out(">>> Adding the following tag to %s:\n%s\n"
                 % (st.name, show_string(tag)))
            self._exec(client, ann, [rp.op_tags("OP_TAGS_SET", st.name, [tag])])
        if st.to_remove:
            _out(">>> Removing the following tags from %s:\n%s"
                 % (st.name, "".join(show_string(t) + "\n"
                                     for t in st.to_remove)))
            self._exec(client, ann,
                       [rp.op_tags("OP_TAGS_DEL", st.name, st.to_remove)])
        return rp.RepairState(st.name, st.state, st.data, [])

    # -- the steps -------------------------------------------------------------
    def process_pending(self, client: LuxiClient, st: rp.RepairState
                        ) -> rp.RepairState:
        """``processPending``: settle a pending repair whose jobs are done."""
        if st.state != rp.PENDING or st.data is None:
            return st
        try:
            sts = query_jobs_status(client, st.data.jobs)
        except LuxiError as err:
            raise HtoolsError("could not check job status: " + err.message) from None
        if any(s in JOB_PENDING for s in sts):
            return st
        new = rp.after_jobs(st, sts, self.now())
        _out("Moving %s from %s to %s\n" % (
            st.name, show_string(st.state_name),
            show_string(new.state_name)))
        return self.commit(client, new)

    def do_repair(self, client: LuxiClient, st: rp.RepairState,
                  policy: rp.Policy, rtype: int, ops: List[dict]
                  ) -> rp.RepairState:
        """``doRepair``: repair if the policy allows it, else say why not."""
        if policy.kind != "enabled":
            _out("Not repairing %s because it's in state %s\n"
                 % (st.name, policy.show()))
            return st
        if rtype > policy.max_type:
            data = rp.RepairData(rtype, str(uuidlib.uuid4()), self.now(), (),
                                 rp.ENOPERM).with_tag()
            _out("Not performing a repair of type %s on %s because only "
                 "repairs up to %s are allowed\n"
                 % (rp.TYPE_SHOW[rtype], st.name, rp.TYPE_SHOW[policy.max_type]))
            return self.commit(client, st.moved_to(rp.NEEDS_REPAIR, data))
        ann = self.annotation()
        _out("Executing %s repair on %s\n" % (rp.TYPE_SHOW[rtype], st.name))
        delay = self.opts.job_delay
        if delay > 0:
            ops = [rp.op_test_delay(delay)] + ops
        ident = str(uuidlib.uuid4())
        when = self.now()
        if self.dry_run:
            _out("jobs: %s\n" % encode([ops]))
            ids: Sequence[int] = ()
        else:
            wire = [dict(op, duration=rp.wire_number(op["duration"]))
                    if op["OP_ID"] == "OP_TEST_DELAY" else op for op in ops]
            try:
                ids = submit_jobs(client, [[ann.annotate(op) for op in wire]])
            except JobsError as err:
                raise HtoolsError(err.message) from None
        data = rp.RepairData(rtype, ident, when, tuple(ids)).with_tag()
        return self.commit(client, st.moved_to(rp.PENDING, data))

    def run(self) -> None:
        from htools.extloader import load_external_data
        self.opts.luxi = self.path
        cdata = load_external_data(self.opts)
        policies = rp.instance_policies(cdata, time.time_ns())
        states = []
        try:
            for inst in cdata.instances:
                states.append(rp.initial_state(inst.name, inst.tags))
        except rp.RepairTagError as err:
            raise HtoolsError("when parsing auto-repair tags: " + err.message) from None

        with LuxiClient(self.path) as client:
            states = [self.process_pending(client, st) for st in states]

        done = []
        with LuxiClient(self.path) as client:
            for inst, pol, st in zip(cdata.instances, policies, states):
                broken = rp.detect_broken(cdata.nodes, inst)
                if broken is not None and st.state == rp.HEALTHY:
                    st = self.do_repair(client, st, pol, broken[0], broken[1])
                done.append(st)

        _out("---------------------\nInstance status count\n"
             "---------------------\n")
        _out("".join(line + "\n" for line in rp.status_counts(done)))


def run(opts: Options, args: list) -> int:
    """Entry point called by :mod:`htools.cli.main` after option parsing."""
    socket_path = opts.luxi if opts.luxi is not None else default_query_socket()
    Harep(opts, socket_path).run()
    return 0
