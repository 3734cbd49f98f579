"""Rolling reboots that run themselves (``hroller --reboot-command``; ours).

For each reboot group, in hroller's order:

1. drain the group's nodes (no new instance lands there);
2. move every instance off them: DRBD instances migrate to their secondary
   (with ``--full-evacuation`` their secondaries on the group move too),
   shared-storage and diskless instances migrate to the online node outside
   the group where they fit best; all through :mod:`cluster.execute`, with
   its checks, progress and signal handling;
3. check that no instance is left on the group's nodes, run the operator's
   reboot command for every node of the group at once (``{node}`` in the
   template is the node's name) and wait, up to ``--reboot-timeout``
   seconds, until every node's daemon answers the master again;
4. undrain the nodes;

and after the last group, move the instances the evacuations displaced
back to their primary node of before the maintenance (where they still
fit), so that the cluster ends no worse than it started, then run hbal
(``-X``) on every node group.

Progress is kept in a small JSON state file (``--state-file``) so that a
run stopped at any point (SIGINT: after the current step; a failed job; a
node that does not come back; SIGKILL) continues, when rerun with the
same arguments, from where the cluster is: groups already done are not
rebooted again.  The file is checked against the cluster (its name and
nodes) and removed when the whole maintenance is done.  ``--dry-run``
prints the steps without doing any of them.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from backends.luxi import LuxiClient, LuxiError, LuxiIOError
from cluster.execute import Executor, Progress
from cluster.jobs import Annotation, JobSet, MoveCheck
from htools.opcodes import op_migrate, op_replace
from htools.errors import HtoolsError

STATE_VERSION = 1


@dataclass
class RollingOptions:
    command: str
    timeout: float = 1800.0
    state_file: str = "hroller.state"
    dry_run: bool = False
    full_evacuation: bool = False
    poll: float = 2.0


class Stop(Exception):
    """The maintenance stops here; the message says where it stands."""


def default_state_file() -> str:
    base = os.environ.get("GANETI_ROOTDIR", "") + "/var/lib/ganeti"
    if os.path.isdir(base) and os.access(base, os.W_OK):
        return os.path.join(base, "htools-hroller.state")
    return "hroller.state"


# ---------------------------------------------------------------- state file

class State:
    def __init__(self, path: str, cluster: str, groups: List[List[str]]):
        self.path = path
        self.cluster = cluster
        self.groups = groups
        self.done: List[int] = []
        self.current: Optional[int] = None
        self.phase: Optional[str] = None
        self.origin: Dict[str, str] = {}

    @classmethod
    def load_or_new(cls, path: str, cluster: str, groups: List[List[str]],
                    nodes: Sequence[str]) -> Tuple["State", bool]:
        """The saved state if it belongs to this cluster, else a new one."""
        try:
            with open(path) as fh:
                doc = json.load(fh)
        except FileNotFoundError:
            return cls(path, cluster, groups), False
        except (OSError, ValueError) as err:
            raise HtoolsError("cannot read the state file %s: %s" % (path, err)) from None
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise HtoolsError("%s is not a state file of this hroller" % path)
        if doc.get("cluster") != cluster:
            raise HtoolsError("the state file %s belongs to cluster %s, not %s; "
                              "remove it to start anew" % (path, doc.get("cluster"), cluster))
        saved = [list(g) for g in doc.get("groups", [])]
        missing = sorted({n for g in saved for n in g} - set(nodes))
        if missing:
            raise HtoolsError("the state file %s names nodes the cluster does not "
                              "have: %s; remove it to start anew" % (path, ", ".join(missing)))
        st = cls(path, cluster, saved)
        st.done = [int(i) for i in doc.get("done", [])]
        st.current = doc.get("current")
        st.phase = doc.get("phase")
        st.origin = dict(doc.get("origin") or {})
        return st, True

    def save(self) -> None:
        doc = {"version": STATE_VERSION, "cluster": self.cluster, "groups": self.groups,
               "done": self.done, "current": self.current, "phase": self.phase,
               "origin": self.origin,
               "updated": time.strftime("%Y-%m-%d %H:%M:%S")}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- the driver

def _op_drain(node: str, drained: bool) -> Dict:
    return {"OP_ID": "OP_NODE_SET_PARAMS", "node_name": node, "force": False,
            "drained": drained, "auto_promote": False}


class RollingReboot:
    def __init__(self, socket_path: str, groups: List[List[str]], ropts: RollingOptions,
                 annotation: Annotation, verbose: int = 1, out=None, hbal_args=()):
        self.path = socket_path
        self.groups = groups
        self.ropts = ropts
        self.annotation = annotation
        self.verbose = verbose
        self.out = out or sys.stdout
        self.hbal_args = list(hbal_args)
        self.interrupted = False
        self.master = ""

    # -- output ---------------------------------------------------------------
    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- cluster access -------------------------------------------------------
    def _client(self) -> LuxiClient:
        return LuxiClient(self.path)

    def _nodes(self) -> Dict[str, dict]:
        with self._client() as c:
            res = c.query("node", ["name", "offline", "drained", "mfree", "group.uuid"])
        out = {}
        for row in res["data"]:
            (_, name), off, dr, mfree, grp = row
            out[name] = {"offline": off[1], "drained": dr[1],
                         "alive": mfree[0] == 0, "group": grp[1]}
        return out

    def _load(self):
        from backends.luxi import load
        from htools.loader import merge_data, update_missing
        cdata = load(self.path)
        merge_data(cdata)
        update_missing(cdata, 4096)
        return cdata

    def cluster_name(self) -> str:
        with self._client() as c:
            info = c.query_cluster_info()
        self.master = str(info.get("master", ""))
        return str(info.get("name", ""))

    # -- steps ------------------------------------------------------------------
    def _execute(self, jobsets: List[JobSet], what: str) -> None:
        if not jobsets:
            return
        if self.ropts.dry_run:
            for js in jobsets:
                for job in js.jobs:
                    self.say("  would submit: " + "; ".join(_describe(op) for op in job))
            return
        show = sys.stderr.isatty() or self.verbose >= 2
        ex = Executor(self.path, self.annotation,
                      Progress(show, sum(len(js.jobs) for js in jobsets)),
                      out=self.out, summary=False)
        report = ex.run(jobsets)
        if ex.cancelled:
            self.interrupted = True
        if report.error is not None:
            raise Stop("%s failed: %s" % (what, report.error.rstrip("\n")))
        if report.not_submitted:
            raise Stop("interrupted during %s" % what)

    def drain(self, group: List[str], drained: bool) -> None:
        """(Un)drain ``group``; the master cannot be drained (Ganeti keeps
        the master role off drained nodes) and is left as it is."""
        nodes = self._nodes()
        todo = [n for n in group if nodes.get(n, {}).get("drained") != drained
                and not (drained and n == self.master)]
        if not todo:
            return
        self.say("  %s %s" % ("draining" if drained else "undraining", ",".join(todo)))
        self._execute([JobSet([[_op_drain(n, drained) for n in todo]],
                              "drain" if drained else "undrain")],
                      "draining" if drained else "undraining")

    def evacuation(self, group: List[str]) -> List[JobSet]:
        """The moves that empty ``group``, planned on the live cluster."""
        cdata = self._load()
        by_name = {n.name: n for n in cdata.nodes}
        names = {n.idx: n.name for n in cdata.nodes}
        in_group = {by_name[g].idx for g in group if g in by_name}
        nl = {n.idx: n for n in cdata.nodes}
        jobs, checks, problems = [], [], []
        for inst in cdata.instances:
            if inst.pnode in in_group:
                if inst.has_secondary:
                    if inst.snode in in_group:
                        problems.append("%s has both nodes in the group" % inst.name)
                        continue
                    ops = [op_migrate(inst, None)]
                    new_p, new_s = inst.snode, inst.pnode
                    if self.ropts.full_evacuation:
                        tgt = self._best(nl, inst, in_group | {inst.snode}, secondary_of=inst.snode)
                        if tgt is None:
                            problems.append("no new secondary for %s" % inst.name)
                            continue
                        ops.append(op_replace(inst, names[tgt]))
                        new_s = tgt
                elif inst.uses_local_storage:
                    problems.append("%s keeps its disks on %s (%s) and cannot be "
                                    "migrated; move it by hand (gnt-instance move)"
                                    % (inst.name, names[inst.pnode], inst.disk_template.value))
                    continue
                else:
                    tgt = self._best(nl, inst, in_group)
                    if tgt is None:
                        problems.append("no node outside the group can take %s" % inst.name)
                        continue
                    ops = [op_migrate(inst, names[tgt])]
                    new_p, new_s = tgt, inst.snode
                    nl[tgt] = nl[tgt].add_pri(inst, True)
                jobs.append(ops)
                checks.append(MoveCheck(inst.name, names[inst.pnode],
                                        names.get(inst.snode), names[new_p],
                                        names.get(new_s), inst.mem, inst.is_running))
            elif (self.ropts.full_evacuation and inst.has_secondary
                  and inst.snode in in_group):
                tgt = self._best(nl, inst, in_group | {inst.pnode}, secondary_of=inst.pnode)
                if tgt is None:
                    problems.append("no new secondary for %s" % inst.name)
                    continue
                jobs.append([op_replace(inst, names[tgt])])
                checks.append(MoveCheck(inst.name, names[inst.pnode], names[inst.snode],
                                        names[inst.pnode], names[tgt], 0, False))
        if problems:
            raise Stop("cannot empty %s: %s" % (",".join(group), "; ".join(problems)))
        # one job set per move: instances leave one after the other
        return [JobSet([job], "Evacuating " + job[0]["instance_name"], [chk])
                for job, chk in zip(jobs, checks)]

    @staticmethod
    def _best(nl, inst, exclude, secondary_of=None) -> Optional[int]:
        """The node outside ``exclude`` (same node group, online) that takes
        the instance with the most free memory left."""
        from htools.model import Node
        group = nl[inst.pnode].group
        best, best_free = None, None
        for idx in sorted(nl):
            node = nl[idx]
            if idx in exclude or node.offline or node.group != group:
                continue
            if secondary_of is None:
                new = node.add_pri(inst, False)
            else:
                new = node.add_sec(inst, secondary_of, False)
            if not isinstance(new, Node):
                continue
            free = new.f_mem
            if best is None or free > best_free:
                best, best_free = idx, free
        return best

    def reboot(self, group: List[str]) -> None:
        with self._client() as c:
            rows = c.query("instance", ["name", "pnode", "status"])["data"]
        left = [r[0][1] for r in rows if r[1][1] in group and r[2][1] == "running"]
        if left and not self.ropts.dry_run:
            raise Stop("not rebooting %s: running instance(s) still there: %s"
                       % (",".join(group), ", ".join(sorted(left))))
        cmds = [(n, self.ropts.command.replace("{node}", shlex.quote(n))) for n in group]
        if self.ropts.dry_run:
            for n, cmd in cmds:
                self.say("  would run: %s" % cmd)
            return
        self.say("  rebooting %s" % ",".join(group))
        started = time.monotonic()
        procs = [(n, subprocess.Popen(cmd, shell=True, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)) for n, cmd in cmds]
        for n, proc in procs:
            try:
                output, _ = proc.communicate(timeout=self.ropts.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise Stop("the reboot command for %s did not end within %d s"
                           % (n, self.ropts.timeout)) from None
            if proc.returncode != 0:
                self.say("  reboot command for %s exited with status %d%s"
                         % (n, proc.returncode,
                            (": " + output.strip().splitlines()[-1]) if output.strip() else ""))
        self.wait_back(group, started)

    def wait_back(self, group: List[str], started: float) -> None:
        deadline = started + self.ropts.timeout
        pending = set(group)
        while pending:
            if self.interrupted:
                raise Stop("interrupted while waiting for %s to come back"
                           % ",".join(sorted(pending)))
            try:
                nodes = self._nodes()
            except (LuxiIOError, LuxiError):
                nodes = {}  # the master itself may be rebooting
            for n in sorted(pending):
                if nodes.get(n, {}).get("alive"):
                    pending.discard(n)
                    self.say("  %s is back (%.0f s)" % (n, time.monotonic() - started))
            if not pending:
                return
            if time.monotonic() > deadline:
                raise Stop("%s did not come back within %d s"
                           % (",".join(sorted(pending)), self.ropts.timeout))
            time.sleep(self.ropts.poll)

    # -- the whole maintenance ------------------------------------------------
    def run(self) -> int:
        cluster = self.cluster_name()
        nodes = self._nodes()
        state, resumed = State.load_or_new(self.ropts.state_file, cluster,
                                           self.groups, list(nodes))
        if resumed:
            self.say("Resuming the rolling reboot recorded in %s: %d of %d group(s) done"
                     % (state.path, len(state.done), len(state.groups)))
        elif not self.ropts.dry_run:
            state.origin = self._placement()
        groups = state.groups
        old = {}
        for sig in (signal.SIGINT,):
            old[sig] = signal.signal(sig, self._on_sigint)
        try:
            for k, group in enumerate(groups):
                if k in state.done:
                    continue
                self.say("Reboot group %d/%d: %s" % (k + 1, len(groups), ",".join(group)))
                if self.ropts.dry_run:
                    self.say("  would drain %s" % ",".join(group))
                    self._execute(self.evacuation(group), "evacuating")
                    self.reboot(group)
                    self.say("  would undrain %s" % ",".join(group))
                    continue
                rebooted = state.current == k and state.phase == "rebooted"
                if not rebooted:
                    state.current, state.phase = k, "evacuating"
                    state.save()
                    self.drain(group, True)
                    self._check_interrupt("after draining %s" % ",".join(group))
                    self._execute(self.evacuation(group), "evacuating")
                    self._check_interrupt("after evacuating %s" % ",".join(group))
                    state.phase = "rebooting"
                    state.save()
                    self.reboot(group)
                    state.phase = "rebooted"
                    state.save()
                self.drain(group, False)
                state.done.append(k)
                state.current, state.phase = None, None
                state.save()
                self._check_interrupt("after group %d" % (k + 1))
            if not self.ropts.dry_run:
                self.restore(state.origin)
                self._check_interrupt("after moving instances back")
            self.say("Rebalancing")
            self.rebalance()
        except Stop as err:
            text = " ".join(str(err).split("\n")).strip()
            self.say("Stopped: %s%s" % (text, "" if text.endswith(".") else "."))
            self.say("The cluster is safe: nodes of an unfinished group stay drained. "
                     "Rerun with the same arguments to continue (state in %s)."
                     % state.path)
            return 1
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
        if not self.ropts.dry_run:
            state.remove()
        self.say("Rolling reboot complete: %d group(s), %d node(s)"
                 % (len(groups), sum(len(g) for g in groups)))
        return 0

    def _placement(self) -> Dict[str, str]:
        with self._client() as c:
            rows = c.query("instance", ["name", "pnode"])["data"]
        return {r[0][1]: r[1][1] for r in rows}

    def restore(self, origin: Dict[str, str]) -> None:
        """Instances the evacuations moved go back to their primary node of
        before the maintenance (where it still fits), so that the cluster
        ends no worse than it started; hbal then improves on that."""
        if not origin:
            return
        cdata = self._load()
        by_name = {n.name: n for n in cdata.nodes}
        names = {n.idx: n.name for n in cdata.nodes}
        nl = {n.idx: n for n in cdata.nodes}
        jobsets = []
        from htools.model import Node
        for inst in cdata.instances:
            want = origin.get(inst.name)
            if want is None or want == names[inst.pnode] or want not in by_name:
                continue
            tgt = by_name[want].idx
            if nl[tgt].offline:
                continue
            if inst.has_secondary:
                if inst.snode != tgt:
                    continue  # its old primary holds no disks of it now
                op, new_p, new_s = op_migrate(inst, None), tgt, inst.pnode
            elif inst.uses_local_storage:
                continue
            else:
                moved = nl[tgt].add_pri(inst, False)
                if not isinstance(moved, Node):
                    continue
                nl[tgt] = moved
                op, new_p, new_s = op_migrate(inst, want), tgt, inst.snode
            check = MoveCheck(inst.name, names[inst.pnode], names.get(inst.snode),
                              names[new_p], names.get(new_s), inst.mem, inst.is_running)
            jobsets.append(JobSet([[op]], "Moving %s back" % inst.name, [check]))
        if jobsets:
            self.say("Moving %d instance(s) back to their nodes" % len(jobsets))
            self._execute(jobsets, "moving instances back")

    def _on_sigint(self, signum, frame) -> None:
        self.interrupted = True
        self.say("Interrupt registered, stopping after the current step...")

    def _check_interrupt(self, where: str) -> None:
        if self.interrupted:
            raise Stop("interrupted " + where)

    def rebalance(self) -> None:
        """hbal -X on every node group (its own output, its own checks)."""
        from htools.cli.hbal import run as hbal_run
        from htools.cli.options import parse_cmdline
        cdata = self._load()
        groups = sorted({g.name for g in cdata.groups
                         if any(n.group == g.idx for n in cdata.nodes)})
        for gname in groups:
            args = ["-L" + self.path, "-G", gname] + self.hbal_args
            if not self.ropts.dry_run:
                args.append("-X")
            opts, _ = parse_cmdline("hbal", args)
            opts.pending_jobs = "wait"
            try:
                status = hbal_run(opts, [])
            except HtoolsError as err:
                raise Stop("rebalancing group %s: %s" % (gname, err.message)) from None
            if status:
                raise Stop("rebalancing group %s failed" % gname)


def _describe(op: Dict) -> str:
    name = op["OP_ID"].replace("OP_", "").lower()
    target = op.get("target_node") or op.get("remote_node")
    obj = op.get("instance_name") or op.get("node_name") or ""
    extra = ""
    if "drained" in op:
        extra = " drained=%s" % op["drained"]
    return "%s %s%s%s" % (name, obj, " -> " + target if target else "", extra)
