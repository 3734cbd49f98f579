"""A protocol-level Luxi server standing in for a Ganeti 3.0.2 master.

The fixture serves a Ganeti text-format cluster file (read with the project's
``backends.text`` parser) over a Unix stream socket, speaking Luxi as the
Ganeti 3.0.2 query daemon does: a request is ``{"method": M, "args": A}``, a
reply ``{"success": bool, "result": R}``, each JSON message terminated by the
byte 0x03.  It answers the queries htools makes (``Query`` over node,
instance and group, ``QueryClusterInfo``) and runs jobs (``SubmitManyJobs``,
``QueryJobs``, ``WaitForJobChange``, ``CancelJob``, ``Query`` over jobs) with
scripted outcomes; successful opcodes change the served cluster, so a rerun
of ``hbal -L`` sees the new placement.  Every request is recorded, and
protocol faults (dropped connection mid-reply, garbage, ``success: false``,
delays, closing before answering) can be scripted.

Python API::

    with LuxiFixture("tests/data/luxi/drbd.data", script={...}) as fx:
        subprocess.run(["hbal", "-L" + fx.socket, "-X"])
        fx.requests        # [(method, args), ...] in arrival order
        fx.submitted_jobs  # [Job, ...] in submission order (.id, .ops, .status)
        fx.placement()     # {instance: (primary, secondary or "")}
        fx.cluster_text()  # the served cluster, in the text format

Command line (runs until SIGINT/SIGTERM, one JSON line per request on stdout)::

    python tests/harness/luxi_fixture.py SOCKET CLUSTER.data [--script JSON|FILE] [--dump OUT]

Script (a dict, or JSON text/file for the command line), all keys optional::

    {"master": "node1",                  # default: the "M" node, else the first node
     "default_hypervisor": "xen-pvm",
     "nodes": {"node3": {"offline": true, "drained": false, "vm_capable": true}},
     "jobs": [                           # first matching rule wins
        {"match": {"index": 0}, ...},    # 0-based submission index (whole run)
        {"match": {"id": 12}, ...},
        {"match": {"instance": "inst3"}, ...},
        {"match": {"op": "OP_INSTANCE_REPLACE_DISKS"}, ...},
        # rule body: "outcome": "success" | "error" | "canceled" | "reject"
        #            "polls": N      observations before the outcome (default 0:
        #                            the first QueryJobs already sees it final;
        #                            intermediate answers are waiting, running...)
        #            "fail_op": K    opcode that fails (outcome error, default 0)
        #            "error": [...]  its encoded error (default an OpExecError)
        #            "hold": "running" (or "queued", "waiting"): after its polls
        #                            the job keeps this status until
        #                            fx.release(job_id, outcome)
        #            "message": str  rejection text (outcome reject)
        #            "log": [str]    extra job log messages
     ],
     "job_defaults": {"outcome": "success", "polls": 0},
     "first_job_id": 1,
     "existing_jobs": [{"ops": [...], "status": "running"}],   # left by an earlier run
     "faults": [
        {"method": "Query", "what": "node", "nth": 1, "count": 1,
         "after_submit": false,          # true: count only requests made after
                                         # the first job was submitted
         "action": "drop_mid_reply" | "no_terminator" | "garbage" | "error" |
                   "delay" | "close" | "hang" | "reply",
         "seconds": 3,                   # delay
         "data": "text", "data_hex": "ff00",   # garbage (0x03 appended)
         "error": ["OpPrereqError", ["msg", "wrong_input"]],   # error
         "result": ...}                  # reply (success: true, this result)
     ]}

A fault applies to the ``nth`` request (1-based) matching its method (and,
for ``Query``/``QueryJobs``, ``what``: the first argument) and to ``count``
matching requests from there (``"always"`` for all).  The request is still
executed (a job submitted under a dropped reply exists) unless the action is
``close``.

What is served, and where it differs from a real master
---------------------------------------------------------
The Luxi loader of htools (``Backend/Luxi.hs``) and the text loader build
the same cluster from the values below, so ``TOOL -L SOCKET`` prints what
``TOOL -t FILE`` prints, with these derived-value rules (all measured by
tests/test_luxi_fixture.py against the reference binaries):

* Order: nodes, instances and groups are served in file order (a real master
  sorts names "nicely"); htools numbers them in arrival order, and ties in
  its searches follow those numbers, so file order keeps ``-L`` == ``-t``.
* Offline nodes: the text format has one flag ("Y"); Luxi has ``offline``,
  ``drained`` and ``vm_capable`` and htools marks a node offline when it is
  offline, drained or not vm_capable.  For a node that is offline or not
  vm_capable ("not live") Ganeti reports the live fields (mtotal, mnode,
  mfree, dtotal, dfree, ctotal, cnos, sptotal, spfree) with status 4
  (RSOffline) and value null, and htools reads them as 0.  So a "Y" node
  whose resources are all 0 (as hscan writes it) or unknown ("?") is served
  ``offline: true``; a "Y" node with resources is served ``drained: true``
  with its values, which is the only Luxi state that keeps them.  The
  script's ``nodes`` entry overrides these flags.
* Master: Luxi names the master in ``QueryClusterInfo`` and htools requires
  it to be a known node ("Master node X unknown" otherwise); the text format
  may name none.  The fixture serves the "M" node, else the first node; on a
  file without "M" the master-dependent results (hroller's last group,
  hsqueeze candidates, ``-S`` output) can then differ from ``-t``.
* Disks: the text format keeps one number per instance (``dsk`` = Ganeti's
  ``disk_usage``, which for DRBD includes 128 MiB of metadata per disk) and
  makes it one disk of that size; the fixture serves ``disk_usage`` = dsk,
  ``disk.sizes`` = [dsk] and ``disk.spindles`` = [spindles or null].  A
  real master serves the visible sizes (without DRBD metadata).
* Spindles: for nodes without exclusive storage htools uses
  ``ndp/spindle_count``; ``sptotal`` is served unavailable (status 2) there
  and ``spfree`` unavailable when 0 (it is read as 0 either way), as Ganeti
  does on clusters without exclusive storage.
* Hypervisor: Luxi sets every node's hypervisor to the cluster's default;
  the text format sets none.  The fixture serves "xen-pvm" (only kvm changes
  htools results, through the static node memory option).
* Group networks are not read over Luxi (htools' TODO); instance status
  strings are served as written in the file (a real master derives them).

Jobs follow Ganeti 3.0.2 (``Query/Server.hs``, ``JQueue.hs``,
``lib/jqueue``): job status from the opcode statuses (queued, waiting,
running, canceling, canceled, success, error), log entries
``[serial, [secs, usecs], "message", text]``, ``WaitForJobChange`` answers
``[field values, new log entries]`` as soon as they differ from the
previous ones, and after the timeout (capped at 29 s) the unchanged values
(luxid never answers "nochange"; the old Python master did), errors encoded
``[class, [args...]]``.  A job's ``ops`` are the submitted opcodes with the
reason trail extended by luxid's ``["gnt:opcode:<op>", "job=N;index=I", ts]``
(no parameter defaults are filled in).  Successful opcodes: migrate and
failover swap primary and secondary (DRBD) or move to ``target_node``;
replace-disks ``replace_new_secondary`` sets the secondary to
``remote_node``; tags set/del change tags; node set-params changes
offline/drained/vm_capable; OOB commands are recorded
(``fx.oob_commands``).  Free memory, disk and spindles follow: each node's
free value is its file value plus what the file's placement used minus what
the current placement uses (htools' accounting: memory of running primaries,
disk of plain/drbd instances on their nodes, spindles on exclusive-storage
nodes).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid as _uuid
from typing import Any, Dict, List, Optional, Tuple

if __name__ == "__main__":  # runnable as a script: make the project importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from backends import text as text_backend  # noqa: E402

EOM = b"\x03"
WFJC_TIMEOUT = 29  # luxiWfjcTimeout = (luxiDefRwto - 1) / 2

USES_MEMORY = frozenset(["running", "ERROR_up", "ERROR_nodedown",
                         "ERROR_nodeoffline", "ERROR_wrongnode"])
LOCAL_DISK = frozenset(["plain", "drbd"])

JOB_FINAL = ("canceled", "success", "error")


def _num(v):
    """Numbers as Ganeti's JSON writes them: integral values without '.0'."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _ts(t: Optional[float] = None) -> List[int]:
    t = time.time() if t is None else t
    secs = int(t)
    return [secs, int(round((t - secs) * 1e6)) % 1000000]


def _uuid_for(kind: str, name: str) -> str:
    return str(_uuid.uuid5(_uuid.NAMESPACE_DNS, "%s.%s.luxi-fixture" % (name, kind)))


def _err(cls: str, *args) -> list:
    return [cls, list(args)]


class LuxiError(Exception):
    """A Ganeti exception to send back as ``success: false``."""

    def __init__(self, encoded):
        super().__init__(encoded)
        self.encoded = encoded


# ----------------------------------------------------------------- fields

_NODE_FIELDS = {
    "name": ("Node", "text", "Node name"),
    "mtotal": ("MTotal", "unit", "Total amount of memory of physical machine"),
    "mnode": ("MNode", "unit", "Amount of memory used by node (dom0 for Xen)"),
    "mfree": ("MFree", "unit", "Memory available for instance allocations"),
    "dtotal": ("DTotal", "unit", "Total storage space on storage unit for instance disk allocation"),
    "dfree": ("DFree", "unit", "Available storage space on storage unit"),
    "ctotal": ("CTotal", "number", "Number of logical processors"),
    "cnos": ("CNOs", "number", "Number of logical processors used by the node OS (dom0 for Xen)"),
    "offline": ("Offline", "bool", "Whether node is marked offline"),
    "drained": ("Drained", "bool", "Whether node is drained"),
    "vm_capable": ("VMCapable", "bool", "Whether node can host instances"),
    "master_candidate": ("MasterC", "bool", "Whether node is a master candidate"),
    "master": ("IsMaster", "bool", "Whether node is master"),
    "role": ("Role", "text", "Node role; \"M\" for master, \"C\" for master candidate, \"R\" for regular, \"D\" for drained, \"O\" for offline"),
    "ndp/spindle_count": ("SpindleCount", "number", "The \"spindle_count\" node parameter"),
    "group.uuid": ("GroupUUID", "text", "UUID of node group"),
    "group": ("Group", "text", "Node group"),
    "tags": ("Tags", "other", "Tags"),
    "ndp/exclusive_storage": ("ExclusiveStorage", "bool", "The \"exclusive_storage\" node parameter"),
    "sptotal": ("SpTotal", "number", "Total spindles in volume group (exclusive storage only)"),
    "spfree": ("SpFree", "number", "Available spindles in volume group (exclusive storage only)"),
    "ndp/cpu_speed": ("ndp/cpu_speed", "float", "The \"cpu_speed\" node parameter"),
    "pinst_list": ("PriInstances", "other", "List of instances with this node as primary"),
    "sinst_list": ("SecInstances", "other", "List of instances with this node as secondary"),
    "pinst_cnt": ("Pinst", "number", "Number of instances with this node as primary"),
    "sinst_cnt": ("Sinst", "number", "Number of instances with this node as secondary"),
    "uuid": ("UUID", "text", "Node UUID"),
}
_NODE_LIVE = frozenset(["mtotal", "mnode", "mfree", "dtotal", "dfree", "ctotal",
                        "cnos", "sptotal", "spfree"])

_INSTANCE_FIELDS = {
    "name": ("Instance", "text", "Instance name"),
    "disk_usage": ("DiskUsage", "unit", "Total disk space used by instance on each of its nodes; this is not the disk size visible to the instance, but the usage on the node"),
    "be/memory": ("ConfigMaxMem", "unit", "The \"maxmem\" backend parameter"),
    "be/maxmem": ("ConfigMaxMem", "unit", "The \"maxmem\" backend parameter"),
    "be/minmem": ("ConfigMinMem", "unit", "The \"minmem\" backend parameter"),
    "be/vcpus": ("ConfigVCPUs", "number", "The \"vcpus\" backend parameter"),
    "status": ("Status", "text", "Instance status"),
    "admin_state": ("InstanceState", "text", "Desired state of instance"),
    "oper_state": ("Running", "bool", "Actual state of instance"),
    "pnode": ("Primary_node", "text", "Primary node"),
    "snodes": ("Secondary_Nodes", "other", "Secondary nodes; usually this will just be one node"),
    "tags": ("Tags", "other", "Tags"),
    "be/auto_balance": ("Auto_balance", "bool", "The \"auto_balance\" backend parameter"),
    "disk_template": ("Disk_template", "text", "Instance disk template"),
    "be/spindle_use": ("be/spindle_use", "number", "The \"spindle_use\" backend parameter"),
    "disk.sizes": ("Disk_sizes", "other", "List of disk sizes"),
    "disk.spindles": ("Disk_spindles", "other", "List of disk spindles"),
    "disk.count": ("Disks", "number", "Number of disks"),
    "forthcoming": ("Forthcoming", "bool", "whether the Instance is forthcoming"),
    "uuid": ("UUID", "text", "Instance UUID"),
}

_GROUP_FIELDS = {
    "uuid": ("UUID", "text", "Group UUID"),
    "name": ("Group", "text", "Group name"),
    "alloc_policy": ("AllocPolicy", "text", "Allocation policy for group"),
    "ipolicy": ("InstancePolicy", "other", "Instance policy limitations (merged)"),
    "tags": ("Tags", "other", "Tags"),
    "node_list": ("NodeList", "other", "List of nodes"),
    "node_cnt": ("Nodes", "number", "Number of nodes"),
    "networks": ("Networks", "other", "Networks connected to the group"),
}

_JOB_FIELDS = {
    "id": ("ID", "number", "Job ID"),
    "status": ("Status", "text", "Job status"),
    "priority": ("Priority", "number", "Current job priority"),
    "archived": ("Archived", "bool", "Whether job is archived"),
    "ops": ("OpCodes", "other", "List of all opcodes"),
    "opresult": ("OpCode_result", "other", "List of opcodes results"),
    "opstatus": ("OpCode_status", "other", "List of opcodes status"),
    "oplog": ("OpCode_log", "other", "List of opcode output logs"),
    "opstart": ("OpCode_start", "other", "List of opcode start timestamps (before acquiring locks)"),
    "opexec": ("OpCode_exec", "other", "List of opcode execution start timestamps (after acquiring locks)"),
    "opend": ("OpCode_end", "other", "List of opcode execution end timestamps"),
    "oppriority": ("OpCode_prio", "other", "List of opcode priorities"),
    "summary": ("Summary", "other", "List of per-opcode summaries"),
    "received_ts": ("Received", "other", "Timestamp of when job was received"),
    "start_ts": ("Start", "other", "Timestamp of job start"),
    "end_ts": ("End", "other", "Timestamp of job end"),
}


def _fdef(table: dict, name: str) -> dict:
    if name in table:
        title, kind, doc = table[name]
        return {"name": name, "title": title, "kind": kind, "doc": doc}
    return {"name": name, "title": name, "kind": "unknown",
            "doc": "Unknown field '%s'" % name}


def _ispec_json(s) -> dict:
    return {"memory-size": s.memory_size, "disk-size": s.disk_size,
            "disk-count": s.disk_count, "cpu-count": s.cpu_count,
            "nic-count": s.nic_count, "spindle-use": s.spindle_use}


def ipolicy_json(pol) -> dict:
    return {"minmax": [{"min": _ispec_json(mm.min_spec), "max": _ispec_json(mm.max_spec)}
                       for mm in pol.minmax],
            "std": _ispec_json(pol.std),
            "spindle-ratio": _num(pol.spindle_ratio),
            "vcpu-ratio": _num(pol.vcpu_ratio),
            "disk-templates": [dt.value for dt in pol.disk_templates]}


# ----------------------------------------------------------------- filters

def _eval_filter(flt, getter) -> bool:
    """Ganeti's query filter language over ``getter(field) -> value``."""
    if flt is None:
        return True
    op = flt[0]
    if op == "|":
        return any(_eval_filter(f, getter) for f in flt[1:])
    if op == "&":
        return all(_eval_filter(f, getter) for f in flt[1:])
    if op == "!":
        return not _eval_filter(flt[1], getter)
    if op == "?":
        return bool(getter(flt[1]))
    field, value = flt[1], flt[2]
    cur = getter(field)
    if op in ("=", "=="):
        return cur == value
    if op == "!=":
        return cur != value
    if op == "=~":
        return cur is not None and re.search(value, str(cur)) is not None
    if op == "=[]":
        return isinstance(cur, list) and value in cur
    if cur is None:
        return False
    if op == "<":
        return cur < value
    if op == ">":
        return cur > value
    if op == "<=":
        return cur <= value
    if op == ">=":
        return cur >= value
    raise LuxiError(_err("QueryFilterParseError", "Unknown filter operator '%s'" % op))


def _filter_ids(flt, field: str) -> Optional[List]:
    """Names an (``|`` of) ``=`` filter asks for, None if it is anything else."""
    if flt is None:
        return None
    if flt[0] in ("=", "==") and flt[1] == field:
        return [flt[2]]
    if flt[0] == "|":
        out = []
        for sub in flt[1:]:
            ids = _filter_ids(sub, field)
            if ids is None:
                return None
            out.extend(ids)
        return out
    return None


# ----------------------------------------------------------------- jobs

class Job:
    """A job in the fixture's queue (opcode statuses, results and logs)."""

    def __init__(self, job_id: int, ops: List[dict], rule: dict, index: int):
        self.id = job_id
        self.index = index
        self.rule = rule
        now = time.time()
        self.submitted_ops = [json.loads(json.dumps(op)) for op in ops]
        self.ops = []
        for i, op in enumerate(self.submitted_ops):
            op2 = json.loads(json.dumps(op))
            opid = str(op2.get("OP_ID", "OP_INVALID"))
            reason = list(op2.get("reason") or [])
            reason.append(["gnt:opcode:%s" % opid[3:].lower(),
                           "job=%d;index=%d" % (job_id, i),
                           int(now * 1e6) * 1000])
            op2["reason"] = reason
            self.ops.append(op2)
        self.op_status = ["queued"] * len(ops)
        self.op_result: List[Any] = [None] * len(ops)
        self.op_log: List[List[list]] = [[] for _ in ops]
        self.op_start: List[Optional[list]] = [None] * len(ops)
        self.op_exec: List[Optional[list]] = [None] * len(ops)
        self.op_end: List[Optional[list]] = [None] * len(ops)
        self.received_ts = _ts(now)
        self.start_ts: Optional[list] = None
        self.end_ts: Optional[list] = None
        self.observations = 0
        self.log_serial = 0
        self.archived = False

    # Ganeti's CalcStatus
    @property
    def status(self) -> str:
        status = "queued"
        all_success = True
        for st in self.op_status:
            if st == "success":
                continue
            all_success = False
            if st == "waiting":
                status = "waiting"
            elif st == "running":
                status = "running"
            elif st in ("canceling", "error", "canceled"):
                status = st
                break
        return "success" if all_success else status

    @property
    def finalized(self) -> bool:
        return self.status in JOB_FINAL

    @property
    def priority(self) -> int:
        prios = [op.get("priority", 0) for op, st in zip(self.ops, self.op_status)
                 if st not in ("success", "error", "canceled")]
        return min(prios) if prios else 0

    def summary(self) -> List[str]:
        out = []
        for op in self.ops:
            opid = str(op.get("OP_ID", "OP_INVALID_OP"))[3:]
            for key in ("instance_name", "node_name", "group_name", "name"):
                if op.get(key):
                    out.append("%s(%s)" % (opid, op[key]))
                    break
            else:
                out.append(opid)
        return out

    def add_log(self, op_idx: int, message: str, log_type: str = "message") -> None:
        self.log_serial += 1
        self.op_log[op_idx].append([self.log_serial, _ts(), log_type, message])

    def all_logs(self) -> List[list]:
        return [entry for log in self.op_log for entry in log]

    def field(self, name: str) -> Tuple[int, Any]:
        """(result status, value) of a job query field."""
        if name == "id":
            return 0, self.id
        if name == "status":
            return 0, self.status
        if name == "priority":
            return 0, self.priority
        if name == "archived":
            return 0, self.archived
        if name == "ops":
            return 0, self.ops
        if name == "opresult":
            return 0, self.op_result
        if name == "opstatus":
            return 0, self.op_status
        if name == "oplog":
            return 0, self.op_log
        if name == "opstart":
            return 0, self.op_start
        if name == "opexec":
            return 0, self.op_exec
        if name == "opend":
            return 0, self.op_end
        if name == "oppriority":
            return 0, [op.get("priority", 0) for op in self.ops]
        if name == "summary":
            return 0, self.summary()
        if name in ("received_ts", "start_ts", "end_ts"):
            val = getattr(self, name)
            return (2, None) if val is None else (0, val)
        return 1, None


# ----------------------------------------------------------------- the cluster

class ServedCluster:
    """The cluster the fixture serves, built from a text-format file."""

    def __init__(self, path: str, script: dict):
        cdata = text_backend.load(path)
        self.cdata = cdata
        self.cluster_tags = list(cdata.tags)
        self.ipolicy = ipolicy_json(cdata.ipolicy)
        self.groups = []
        for g in cdata.groups:
            self.groups.append({"name": g.name, "uuid": g.uuid,
                                "alloc_policy": g.alloc_policy.value,
                                "ipolicy": ipolicy_json(g.ipolicy),
                                "ipolicy_obj": g.ipolicy,
                                "tags": list(g.tags), "networks": list(g.networks)})
        raw_lines = _node_lines(path)
        self.nodes: Dict[str, dict] = {}
        master = None
        for n in cdata.nodes:
            unknown = raw_lines.get(n.name, False)
            zero = all(v == 0 for v in (n.t_mem, n.n_mem, n.f_mem, n.t_dsk, n.f_dsk,
                                        n.t_cpu, n.n_cpu, n.f_spindles)) and \
                (not n.excl_storage or n.t_spindles == 0)
            offline = n.offline and (unknown or zero)
            drained = n.offline and not offline
            self.nodes[n.name] = {
                "name": n.name, "mtotal": n.t_mem, "mnode": n.n_mem, "mfree": n.f_mem,
                "dtotal": n.t_dsk, "dfree": n.f_dsk, "ctotal": n.t_cpu, "cnos": n.n_cpu,
                "offline": offline, "drained": drained, "vm_capable": True,
                "spindle_count": n.t_spindles, "group": cdata.groups[n.group].uuid,
                "tags": list(n.tags), "excl": n.excl_storage,
                "sptotal": n.t_spindles, "spfree": n.f_spindles,
                "cpu_speed": n.t_cpu_speed, "uuid": _uuid_for("node", n.name),
            }
            if n.is_master and master is None:
                master = n.name
        for name, flags in (script.get("nodes") or {}).items():
            if name not in self.nodes:
                raise ValueError("script names unknown node %r" % name)
            for key in ("offline", "drained", "vm_capable"):
                if key in flags:
                    self.nodes[name][key] = bool(flags[key])
        self.master = script.get("master") or master or (cdata.nodes[0].name if cdata.nodes else "")
        self.default_hypervisor = script.get("default_hypervisor", "xen-pvm")
        names = [n.name for n in cdata.nodes]
        self.instances: Dict[str, dict] = {}
        for i in cdata.instances:
            self.instances[i.name] = {
                "name": i.name, "mem": i.mem, "dsk": i.dsk, "vcpus": i.vcpus,
                "status": i.run_st.value, "auto_balance": i.auto_balance,
                "pnode": names[i.pnode],
                "snode": names[i.snode] if i.snode >= 0 else "",
                "template": i.disk_template.value, "tags": list(i.tags),
                "spindle_use": i.spindle_use, "spindles": i.total_spindles(),
                "forthcoming": i.forthcoming, "uuid": _uuid_for("instance", i.name),
            }
        # free values follow the placement: file value + file usage - usage
        self._base_usage = self._usage()
        self._base_free = {n["name"]: (n["mfree"], n["dfree"], n["spfree"])
                           for n in self.nodes.values()}

    # -- accounting
    def _usage(self) -> Dict[str, List[int]]:
        use = {name: [0, 0, 0] for name in self.nodes}
        for inst in self.instances.values():
            if inst["status"] in USES_MEMORY and not inst["forthcoming"]:
                use[inst["pnode"]][0] += inst["mem"]
            nodes = [inst["pnode"]]
            if inst["template"] == "drbd" and inst["snode"]:
                nodes.append(inst["snode"])
            for nname in nodes:
                if inst["template"] in LOCAL_DISK:
                    use[nname][1] += inst["dsk"]
                if self.nodes[nname]["excl"] and inst["spindles"] is not None:
                    use[nname][2] += inst["spindles"]
        return use

    def recompute_free(self) -> None:
        use = self._usage()
        for name, node in self.nodes.items():
            bm, bd, bs = self._base_free[name]
            base = self._base_usage[name]
            node["mfree"] = bm + base[0] - use[name][0]
            node["dfree"] = bd + base[1] - use[name][1]
            node["spfree"] = bs + base[2] - use[name][2]

    # -- query rows
    @staticmethod
    def live(node: dict) -> bool:
        return not node["offline"] and node["vm_capable"]

    def node_field(self, node: dict, f: str) -> Tuple[int, Any]:
        if f in _NODE_LIVE and not self.live(node):
            return 4, None
        if f == "name":
            return 0, node["name"]
        if f in ("mtotal", "mnode", "mfree", "dtotal", "dfree", "ctotal", "cnos"):
            return 0, _num(node[f])
        if f == "sptotal":
            return (0, node["sptotal"]) if node["excl"] else (2, None)
        if f == "spfree":
            return (0, node["spfree"]) if node["excl"] or node["spfree"] else (2, None)
        if f in ("offline", "drained", "vm_capable", "tags", "uuid"):
            return 0, node[f]
        if f == "ndp/spindle_count":
            return 0, node["spindle_count"]
        if f == "ndp/exclusive_storage":
            return 0, node["excl"]
        if f == "ndp/cpu_speed":
            return 0, _num(node["cpu_speed"])
        if f == "group.uuid":
            return 0, node["group"]
        if f == "group":
            return 0, next(g["name"] for g in self.groups if g["uuid"] == node["group"])
        if f == "master":
            return 0, node["name"] == self.master
        if f == "master_candidate":
            return 0, node["name"] == self.master or not (node["offline"] or node["drained"])
        if f == "role":
            if node["name"] == self.master:
                return 0, "M"
            return 0, "O" if node["offline"] else ("D" if node["drained"] else "C")
        if f in ("pinst_list", "pinst_cnt"):
            lst = [i["name"] for i in self.instances.values() if i["pnode"] == node["name"]]
            return 0, lst if f == "pinst_list" else len(lst)
        if f in ("sinst_list", "sinst_cnt"):
            lst = [i["name"] for i in self.instances.values() if i["snode"] == node["name"]]
            return 0, lst if f == "sinst_list" else len(lst)
        return 1, None

    def instance_field(self, inst: dict, f: str) -> Tuple[int, Any]:
        if f == "name":
            return 0, inst["name"]
        if f == "disk_usage":
            return 0, inst["dsk"]
        if f in ("be/memory", "be/maxmem", "be/minmem"):
            return 0, inst["mem"]
        if f == "be/vcpus":
            return 0, inst["vcpus"]
        if f == "status":
            return 0, inst["status"]
        if f == "admin_state":
            st = inst["status"]
            return 0, ("offline" if st == "ADMIN_offline" else
                       "down" if st in ("ADMIN_down", "ERROR_up", "USER_down") else "up")
        if f == "oper_state":
            return 0, inst["status"] in ("running", "ERROR_up", "ERROR_wrongnode")
        if f == "pnode":
            return 0, inst["pnode"]
        if f == "snodes":
            return 0, [inst["snode"]] if inst["snode"] else []
        if f in ("tags", "uuid", "forthcoming"):
            return 0, inst[f]
        if f == "be/auto_balance":
            return 0, inst["auto_balance"]
        if f == "disk_template":
            return 0, inst["template"]
        if f == "be/spindle_use":
            return 0, inst["spindle_use"]
        if f == "disk.sizes":
            return 0, [inst["dsk"]]
        if f == "disk.spindles":
            return 0, [inst["spindles"]]
        if f == "disk.count":
            return 0, 1
        return 1, None

    def group_field(self, grp: dict, f: str) -> Tuple[int, Any]:
        if f in ("uuid", "name", "alloc_policy", "ipolicy", "tags", "networks"):
            return 0, grp[f]
        if f in ("node_list", "node_cnt"):
            lst = [n["name"] for n in self.nodes.values() if n["group"] == grp["uuid"]]
            return 0, lst if f == "node_list" else len(lst)
        return 1, None

    def cluster_info(self) -> dict:
        return {
            "software_version": "3.0.2", "protocol_version": 3000000,
            "config_version": 3000000, "os_api_version": 20, "export_version": 0,
            "vcs_version": "(ganeti) version 3.0.2-3",
            "architecture": ["64bits", "x86_64"], "name": "cluster",
            "master": self.master, "default_hypervisor": self.default_hypervisor,
            "enabled_hypervisors": [self.default_hypervisor], "hvparams": {},
            "os_hvp": {}, "beparams": {"default": {
                "minmem": 128, "maxmem": 128, "vcpus": 1, "auto_balance": True,
                "always_failover": False, "spindle_use": 1}},
            "osparams": {}, "ipolicy": self.ipolicy,
            "nicparams": {"default": {"mode": "bridged", "link": "br0", "vlan": ""}},
            "ndparams": {"oob_program": "", "spindle_count": 1,
                         "exclusive_storage": False, "ovs": False,
                         "ovs_name": "switch1", "ovs_link": "", "ssh_port": 22,
                         "cpu_speed": 1},
            "diskparams": {}, "candidate_pool_size": 10, "max_running_jobs": 20,
            "max_tracked_jobs": 25, "mac_prefix": "aa:00:00",
            "master_netdev": "eth0", "master_netmask": 32,
            "use_external_mip_script": False, "volume_group_name": "xenvg",
            "drbd_usermode_helper": "/bin/true", "file_storage_dir": "",
            "shared_file_storage_dir": "", "gluster_storage_dir": "",
            "maintain_node_health": False, "ctime": 0.0, "mtime": 0.0,
            "uuid": _uuid_for("cluster", "cluster"), "tags": self.cluster_tags,
            "uid_pool": [], "default_iallocator": "hail",
            "default_iallocator_params": {}, "reserved_lvs": [],
            "primary_ip_version": 4, "prealloc_wipe_disks": False,
            "hidden_os": [], "blacklisted_os": [],
            "enabled_disk_templates": sorted({i["template"] for i in self.instances.values()})
            or ["drbd"],
            "install_image": "", "instance_communication_network": "",
            "zeroing_image": "", "compression_tools": ["gzip", "gzip-fast", "gzip-slow"],
            "enabled_user_shutdown": False, "enabled_data_collectors": {},
            "data_collector_interval": {}, "modify_ssh_setup": False,
            "ssh_key_type": "rsa", "ssh_key_bits": 2048,
        }

    def tags_of(self, kind: str, name: Optional[str]) -> list:
        if kind == "cluster":
            return self.cluster_tags
        if kind == "node" and name in self.nodes:
            return self.nodes[name]["tags"]
        if kind == "instance" and name in self.instances:
            return self.instances[name]["tags"]
        if kind == "nodegroup":
            for g in self.groups:
                if name in (g["name"], g["uuid"]):
                    return g["tags"]
        raise LuxiError(_err("OpPrereqError", "%s '%s' not known" % (kind.capitalize(), name),
                             "unknown_entity"))

    # -- opcodes
    def _inst(self, op: dict) -> dict:
        name = op.get("instance_name")
        if name not in self.instances:
            raise LuxiError(_err("OpPrereqError", "Instance '%s' not known" % name,
                                 "unknown_entity"))
        return self.instances[name]

    def _node(self, name) -> dict:
        if name not in self.nodes:
            raise LuxiError(_err("OpPrereqError", "Node '%s' not known" % name,
                                 "unknown_entity"))
        return self.nodes[name]

    def apply(self, op: dict, oob_log: list) -> Any:
        """Carry out one opcode; returns its result, raises LuxiError on failure."""
        opid = op.get("OP_ID")
        if opid in ("OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER"):
            inst = self._inst(op)
            target = op.get("target_node")
            if inst["template"] == "drbd":
                if target not in (None, inst["snode"]):
                    raise LuxiError(_err(
                        "OpPrereqError",
                        "Instances with disk template drbd cannot be migrated to "
                        "arbitrary nodes", "wrong_input"))
                if not inst["snode"]:
                    raise LuxiError(_err("OpPrereqError", "Instance has no secondary node",
                                         "wrong_state"))
                inst["pnode"], inst["snode"] = inst["snode"], inst["pnode"]
            else:
                if target is None:
                    raise LuxiError(_err(
                        "OpPrereqError", "No target node given for instance '%s' and "
                        "no iallocator" % inst["name"], "wrong_input"))
                self._node(target)
                inst["pnode"] = target
        elif opid == "OP_INSTANCE_REPLACE_DISKS":
            inst = self._inst(op)
            if op.get("mode") == "replace_new_secondary":
                remote = op.get("remote_node")
                self._node(remote)
                if remote == inst["pnode"]:
                    raise LuxiError(_err(
                        "OpPrereqError", "The specified node is the primary node of "
                        "the instance", "wrong_input"))
                inst["snode"] = remote
        elif opid in ("OP_TAGS_SET", "OP_TAGS_DEL"):
            tags = self.tags_of(op.get("kind"), op.get("name"))
            for t in op.get("tags") or []:
                if opid == "OP_TAGS_SET" and t not in tags:
                    tags.append(t)
                elif opid == "OP_TAGS_DEL":
                    if t not in tags:
                        raise LuxiError(_err("OpPrereqError",
                                             "Tag(s) '%s' not found" % t, "wrong_input"))
                    tags.remove(t)
        elif opid == "OP_NODE_SET_PARAMS":
            node = self._node(op.get("node_name"))
            for key in ("offline", "drained", "vm_capable"):
                if op.get(key) is not None:
                    node[key] = bool(op[key])
                    if key in ("offline", "drained") and op[key]:
                        other = "drained" if key == "offline" else "offline"
                        node[other] = False
        elif opid == "OP_OOB_COMMAND":
            oob_log.append(json.loads(json.dumps(op)))
            return [[[0, n], [0, True]] for n in op.get("node_names") or []]
        elif opid == "OP_NODE_QUERY_STORAGE":
            return self.storage_rows(op)
        elif opid == "OP_INSTANCE_QUERY_DATA":
            return self.instance_data(op)
        self.recompute_free()
        return None

    # -- storage pools (the two read-only opcodes of --storage-pools)
    SYSTEM_VG = "vg_system"

    def storage_rows(self, op: dict) -> list:
        """OP_NODE_QUERY_STORAGE for lvm-vg: the file's pools (or one
        ``xenvg`` with the node's disk figures), plus a system VG no
        instance uses, on every online node (offline ones are skipped, as
        Ganeti does)."""
        if op.get("storage_type") != "lvm-vg":
            raise LuxiError(_err("OpPrereqError", "Unknown storage type: %s"
                                 % op.get("storage_type"), "wrong_input"))
        fields = op.get("output_fields") or []
        rows = []
        for n in self.cdata.nodes:
            if self.nodes[n.name]["offline"]:
                continue
            pools = n.pools if n.pools is not None else {
                "xenvg": (int(n.t_dsk), n.f_dsk)}
            units = sorted(pools.items()) + [(self.SYSTEM_VG, (20480, 1024))]
            for vg, (size, free) in units:
                vals = {"node": n.name, "name": vg, "size": size, "free": free,
                        "used": size - free, "allocatable": True}
                rows.append([vals.get(f) for f in fields])
        return rows

    def instance_data(self, op: dict) -> dict:
        """OP_INSTANCE_QUERY_DATA (static): the disks with their LVs (the
        file's storage-pool rows, or every plain/DRBD disk on xenvg)."""
        out = {}
        for i in self.cdata.instances:
            inst = self.instances[i.name]
            disks = list(i.pool_disks)
            if not disks and inst["template"] in ("plain", "drbd"):
                meta = 128 if inst["template"] == "drbd" else 0
                disks = [(inst["dsk"] - meta, "xenvg", "xenvg")]
            jdisks = []
            for k, (size, vg, metavg) in enumerate(disks):
                lv = "%s.disk%d" % (inst["uuid"], k)
                if inst["template"] == "drbd":
                    jdisks.append({
                        "dev_type": "drbd", "size": size,
                        "logical_id": [inst["pnode"], inst["snode"], 11000 + k,
                                       k, k, "secret"],
                        "children": [
                            {"dev_type": "plain", "size": size,
                             "logical_id": [vg, lv + "_data"], "children": []},
                            {"dev_type": "plain", "size": 128,
                             "logical_id": [metavg or vg, lv + "_meta"],
                             "children": []}]})
                else:
                    jdisks.append({"dev_type": "plain", "size": size,
                                   "logical_id": [vg, lv], "children": []})
            out[i.name] = {"name": i.name, "disk_template": inst["template"],
                           "pnode": inst["pnode"], "disks": jdisks}
        return out

    # -- text format of the served state
    def to_text(self) -> str:
        """The served cluster as the Luxi loader sees it, in the text format."""
        gl = ["%s|%s|%s|%s|%s" % (g["name"], g["uuid"], g["alloc_policy"],
                                  ",".join(g["tags"]), ",".join(g["networks"]))
              for g in self.groups]
        nl = []
        for n in self.nodes.values():
            live = self.live(n)
            role = "Y" if (not live or n["drained"]) else ("M" if n["name"] == self.master else "N")

            def v(key, fmt_float=False):
                val = n[key] if live else 0
                return text_backend.fmt_f(float(val), 0) if fmt_float else "%d" % val
            spt = (n["sptotal"] if live else 0) if n["excl"] else n["spindle_count"]
            nl.append("|".join([
                n["name"], v("mtotal", True), v("mnode"), v("mfree"), v("dtotal", True),
                v("dfree"), v("ctotal", True), role, n["group"], "%d" % spt,
                ",".join(n["tags"]), "Y" if n["excl"] else "N",
                "%d" % (n["spfree"] if live else 0), v("cnos"),
                text_backend.fmt_f(float(n["cpu_speed"]))]))
        il = []
        for i in self.instances.values():
            il.append("|".join([
                i["name"], "%d" % i["mem"], "%d" % i["dsk"], "%d" % i["vcpus"], i["status"],
                "Y" if i["auto_balance"] else "N", i["pnode"], i["snode"], i["template"],
                ",".join(i["tags"]), "%d" % i["spindle_use"],
                "-" if i["spindles"] is None else "%d" % i["spindles"],
                "Y" if i["forthcoming"] else "N"]))
        pl = [text_backend.serialize_ipolicy("", self.cdata.ipolicy)] + \
            [text_backend.serialize_ipolicy(g["name"], g["ipolicy_obj"]) for g in self.groups]

        def block(lines):
            return "".join(line + "\n" for line in lines)
        return "\n".join([block(gl), block(nl), block(il), block(self.cluster_tags), block(pl)])


def _node_lines(path: str) -> Dict[str, bool]:
    """Node name -> whether the file gives its resources as unknown ("?")."""
    with open(path, "rb") as fh:
        sections = fh.read().decode("utf-8", "surrogateescape").split("\n\n")
    out = {}
    if len(sections) > 1:
        for line in sections[1].split("\n"):
            cols = line.split("|")
            if len(cols) >= 7:
                out[cols[0]] = "?" in cols[1:7]
    return out


# ----------------------------------------------------------------- server

class LuxiFixture:
    """The Luxi server: ``with LuxiFixture(file, script) as fx: fx.socket``."""

    def __init__(self, cluster_file: str, script: Optional[dict] = None,
                 socket_path: Optional[str] = None, log_stream=None):
        self.script = json.loads(json.dumps(script or {}))
        self.cluster = ServedCluster(cluster_file, self.script)
        self._tmpdir = None
        if socket_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="luxi-fx-")
            socket_path = os.path.join(self._tmpdir, "ganeti-query")
        self.socket = socket_path
        self.requests: List[Tuple[str, Any]] = []
        self.connections = 0
        self.request_connections: List[int] = []
        self.jobs: Dict[int, Job] = {}
        self.submitted_jobs: List[Job] = []
        self.oob_commands: List[dict] = []
        self._next_id = int(self.script.get("first_job_id", 1))
        self._submit_index = 0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._server: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._conns: List[socket.socket] = []
        self._fault_hits: Dict[int, int] = {}
        self._log_stream = log_stream
        for spec in self.script.get("existing_jobs") or []:
            self._seed_job(spec)

    # -- lifecycle
    def start(self) -> "LuxiFixture":
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.socket)
        srv.listen(64)
        srv.settimeout(0.2)
        self._server = srv
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        for conn in list(self._conns):
            try:
                conn.close()
            except OSError:
                pass
        if self._server is not None:
            self._server.close()
            self._server = None
        try:
            os.unlink(self.socket)
        except OSError:
            pass
        if self._tmpdir:
            try:
                os.rmdir(self._tmpdir)
            except OSError:
                pass

    def __enter__(self) -> "LuxiFixture":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inspection
    def placement(self) -> Dict[str, Tuple[str, str]]:
        with self._lock:
            return {i["name"]: (i["pnode"], i["snode"])
                    for i in self.cluster.instances.values()}

    def cluster_text(self) -> str:
        with self._lock:
            return self.cluster.to_text()

    def methods(self) -> List[str]:
        with self._lock:
            return [m for m, _ in self.requests]

    def submitted_opcodes(self) -> List[List[dict]]:
        """The opcodes of each submitted job, as the client sent them."""
        with self._lock:
            return [job.submitted_ops for job in self.submitted_jobs]

    def release(self, job_id: int, outcome: str = "success", **rule) -> None:
        """Finish a held job (outcome success, error or canceled)."""
        with self._changed:
            job = self.jobs[job_id]
            body = dict(job.rule)
            body.update(rule)
            body["outcome"] = outcome
            body.pop("hold", None)
            job.rule = body
            self._finish(job)
            self._changed.notify_all()

    # -- jobs
    def _rule_for(self, ops: List[dict], index: int, job_id: int) -> dict:
        base = {"outcome": "success", "polls": 0}
        base.update(self.script.get("job_defaults") or {})
        for rule in self.script.get("jobs") or []:
            m = rule.get("match") or {}
            ok = True
            if "index" in m and m["index"] != index:
                ok = False
            if "id" in m and m["id"] != job_id:
                ok = False
            if "instance" in m and m["instance"] not in [op.get("instance_name") for op in ops]:
                ok = False
            if "op" in m and m["op"] not in [op.get("OP_ID") for op in ops]:
                ok = False
            if ok:
                body = dict(base)
                body.update({k: v for k, v in rule.items() if k != "match"})
                return body
        return base

    def _seed_job(self, spec: dict) -> None:
        job_id = self._next_id
        self._next_id += 1
        rule = {"outcome": spec.get("outcome", "success"), "polls": 0}
        rule.update(spec.get("rule") or {})
        status = spec.get("status", "running")
        job = Job(job_id, spec.get("ops") or [], rule, -1)
        if status in ("queued", "waiting", "running"):
            rule["hold"] = status
            job.rule = rule
            self._set_intermediate(job, status)
        else:
            job.rule = dict(rule, outcome={"success": "success", "error": "error",
                                           "canceled": "canceled"}[status])
            self._finish(job, apply_ops=False)
        self.jobs[job_id] = job

    def _set_intermediate(self, job: Job, status: str) -> None:
        if status == "queued":
            return
        now = _ts()
        first = job.op_status.index("queued") if "queued" in job.op_status else 0
        if status == "waiting":
            job.op_status[first] = "waiting"
            job.op_start[first] = job.op_start[first] or now
        elif status == "running":
            if job.op_status[first] != "running":
                job.op_status[first] = "running"
                job.op_start[first] = job.op_start[first] or now
                job.op_exec[first] = now
                job.start_ts = job.start_ts or now
                self._default_log(job, first)

    def _default_log(self, job: Job, idx: int) -> None:
        op = job.ops[idx]
        opid = op.get("OP_ID")
        name = op.get("instance_name")
        if opid == "OP_INSTANCE_MIGRATE":
            job.add_log(idx, "Migrating instance %s" % name)
        elif opid == "OP_INSTANCE_FAILOVER":
            job.add_log(idx, "Failover instance %s" % name)
        elif opid == "OP_INSTANCE_REPLACE_DISKS":
            job.add_log(idx, "Replacing disk(s) 0 for instance '%s'" % name)
        for msg in job.rule.get("log") or []:
            job.add_log(idx, msg)

    def _observe(self, job: Job) -> None:
        """One status observation of ``job`` (QueryJobs, WaitForJobChange, Query)."""
        if job.finalized:
            return
        hold = job.rule.get("hold")
        polls = int(job.rule.get("polls", 0))
        job.observations += 1
        if job.observations <= polls:
            self._set_intermediate(job, "waiting" if job.observations == 1 else "running")
            return
        if hold:
            if job.status != hold:
                if hold == "running" and job.status == "queued":
                    self._set_intermediate(job, "waiting")
                self._set_intermediate(job, hold)
            return
        self._finish(job)

    def _finish(self, job: Job, apply_ops: bool = True) -> None:
        rule = job.rule
        outcome = rule.get("outcome", "success")
        now = _ts()
        if job.start_ts is None and outcome != "canceled":
            job.start_ts = now
        fail_op = int(rule.get("fail_op", 0)) if outcome == "error" else len(job.ops)
        for idx, op in enumerate(job.ops):
            if job.op_status[idx] in JOB_FINAL:
                continue
            if outcome == "canceled":
                job.op_status[idx] = "canceled"
                job.op_result[idx] = rule.get("result", "Job canceled by request")
                job.op_end[idx] = now
                continue
            if idx < fail_op:
                if job.op_status[idx] != "running":
                    job.op_start[idx] = job.op_start[idx] or now
                    job.op_exec[idx] = now
                    self._default_log(job, idx)
                try:
                    result = self.cluster.apply(op, self.oob_commands) if apply_ops else None
                except LuxiError as err:
                    job.op_status[idx] = "error"
                    job.op_result[idx] = err.encoded
                    job.add_log(idx, "%s: %s" % (err.encoded[0], err.encoded[1][0]), "message")
                    job.op_end[idx] = now
                    fail_op = idx
                    continue
                job.op_status[idx] = "success"
                job.op_result[idx] = result
                job.op_end[idx] = now
            elif idx == fail_op:
                job.op_start[idx] = job.op_start[idx] or now
                job.op_exec[idx] = job.op_exec[idx] or now
                job.op_status[idx] = "error"
                job.op_result[idx] = rule.get("error") or _err(
                    "OpExecError", "Could not execute %s: scripted failure"
                    % job.summary()[idx])
                job.op_end[idx] = now
            else:
                job.op_status[idx] = "error"
                job.op_result[idx] = _err("OpExecError", "Preceding opcode failed")
                job.op_end[idx] = now
        job.end_ts = now

    # -- request handling
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                cid = self.connections
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, cid), daemon=True).start()

    def _serve(self, conn: socket.socket, cid: int) -> None:
        buf = b""
        try:
            conn.settimeout(0.5)
        except OSError:  # closed by stop() before this thread ran
            return
        try:
            while not self._stop.is_set():
                while EOM not in buf:
                    try:
                        chunk = conn.recv(65536)
                    except socket.timeout:
                        if self._stop.is_set():
                            return
                        continue
                    if not chunk:
                        return
                    buf += chunk
                raw, buf = buf.split(EOM, 1)
                if not self._handle(conn, cid, raw):
                    return
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)

    def _find_fault(self, method: str, args) -> Optional[dict]:
        what = args[0] if isinstance(args, list) and args and isinstance(args[0], str) else None
        for k, spec in enumerate(self.script.get("faults") or []):
            if spec.get("method") not in (None, method):
                continue
            if spec.get("what") is not None and spec.get("what") != what:
                continue
            if spec.get("after_submit") and not self.submitted_jobs:
                continue
            seen = self._fault_hits.get(k, 0) + 1
            self._fault_hits[k] = seen
            nth = int(spec.get("nth", 1))
            count = spec.get("count", 1)
            if seen >= nth and (count == "always" or seen < nth + int(count)):
                return spec
        return None

    def _handle(self, conn: socket.socket, cid: int, raw: bytes) -> bool:
        try:
            msg = json.loads(raw.decode("utf-8"))
            method, args = msg["method"], msg["args"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            with self._lock:
                self.requests.append(("<invalid>", raw.decode("utf-8", "replace")))
                self.request_connections.append(cid)
            self._send(conn, {"success": False, "result": _err(
                "LuxiError", "Invalid LUXI request: %s" % err)})
            return True
        with self._lock:
            self.requests.append((method, args))
            self.request_connections.append(cid)
            fault = self._find_fault(method, args)
        if self._log_stream is not None:
            self._log_stream.write(json.dumps({"conn": cid, "method": method, "args": args}) + "\n")
            self._log_stream.flush()
        action = fault.get("action") if fault else None
        if action == "close":
            return False
        if action == "hang":
            self._stop.wait()
            return False
        try:
            result = self._dispatch(method, args)
            reply = {"success": True, "result": result}
        except LuxiError as err:
            reply = {"success": False, "result": err.encoded}
        if action == "delay":
            if self._stop.wait(float(fault.get("seconds", 1))):
                return False
        elif action == "error":
            reply = {"success": False,
                     "result": fault.get("error") or _err("OpPrereqError",
                                                          "Scripted failure", "wrong_input")}
        elif action == "reply":
            reply = {"success": True, "result": fault.get("result")}
        data = json.dumps(reply, separators=(",", ":")).encode("utf-8") + EOM
        if action == "drop_mid_reply":
            conn.sendall(data[:max(1, len(data) // 2)])
            return False
        if action == "no_terminator":
            conn.sendall(data[:-1])
            return False
        if action == "garbage":
            if "data_hex" in fault:
                junk = bytes.fromhex(fault["data_hex"])
            else:
                junk = fault.get("data", "\x00garbage, not JSON {").encode("utf-8")
            conn.sendall(junk + EOM)
            return True
        conn.sendall(data)
        return True

    @staticmethod
    def _send(conn: socket.socket, reply: dict) -> None:
        conn.sendall(json.dumps(reply, separators=(",", ":")).encode("utf-8") + EOM)

    def _dispatch(self, method: str, args):
        handler = getattr(self, "_m_" + method, None)
        if handler is None:
            raise LuxiError(_err("GenericError",
                                 "Unable to parse LUXI request method: %s" % method))
        if not isinstance(args, list):
            raise LuxiError(_err("GenericError", "Invalid arguments for %s" % method))
        with self._changed:
            try:
                return handler(*args)
            except TypeError as err:
                raise LuxiError(_err("GenericError", "%s: bad arguments: %s" % (method, err)))

    # queries
    def _rows(self, what: str, fields: List[str], qfilter):
        cl = self.cluster
        if what == "node":
            table, items, getf = _NODE_FIELDS, list(cl.nodes.values()), cl.node_field
        elif what == "instance":
            table, items, getf = _INSTANCE_FIELDS, list(cl.instances.values()), cl.instance_field
        elif what == "group":
            table, items, getf = _GROUP_FIELDS, cl.groups, cl.group_field
        elif what == "job":
            table, getf = _JOB_FIELDS, (lambda job, f: job.field(f))
            ids = _filter_ids(qfilter, "id")
            items = [self.jobs[i] for i in (ids if ids is not None else sorted(self.jobs))
                     if i in self.jobs and not self.jobs[i].archived]
            for job in items:
                self._observe(job)
        else:
            raise LuxiError(_err("GenericError", "Query '%s' not supported" % what))
        rows = []
        for item in items:
            if qfilter is not None and not _eval_filter(
                    qfilter, lambda f, item=item: getf(item, f)[1]):
                continue
            rows.append([list(getf(item, f)) for f in fields])
        return table, rows

    def _m_Query(self, what, fields, qfilter=None):
        table, rows = self._rows(what, fields, qfilter)
        return {"fields": [_fdef(table, f) for f in fields], "data": rows}

    def _classic(self, what, names, fields):
        table, rows = self._rows(what, ["name"] + list(fields), None)
        unknown = [f for f in fields if f not in table]
        if unknown:
            raise LuxiError(_err("OpPrereqError", "Unknown output fields selected: "
                                 + ", ".join(unknown), "wrong_input"))
        out = [[v for _, v in row[1:]] for row in rows
               if not names or row[0][1] in names]
        return out

    def _m_QueryNodes(self, names, fields, lock=False):
        return self._classic("node", names, fields)

    def _m_QueryInstances(self, names, fields, lock=False):
        return self._classic("instance", names, fields)

    def _m_QueryGroups(self, names, fields, lock=False):
        return self._classic("group", names, fields)

    def _m_QueryClusterInfo(self):
        return self.cluster.cluster_info()

    def _m_QueryTags(self, kind, name):
        return list(self.cluster.tags_of(kind, name))

    def _m_QueryFields(self, what, fields=None):
        table = {"node": _NODE_FIELDS, "instance": _INSTANCE_FIELDS,
                 "group": _GROUP_FIELDS, "job": _JOB_FIELDS}.get(what)
        if table is None:
            raise LuxiError(_err("GenericError", "QueryFields '%s' not supported" % what))
        return {"fields": [_fdef(table, f) for f in (fields or sorted(table))]}

    # jobs
    def _m_SubmitJob(self, ops):
        res = self._m_SubmitManyJobs([ops])[0]
        if not res[0]:
            raise LuxiError(_err("JobQueueError", res[1]))
        return res[1]

    def _m_SubmitManyJobs(self, jobs):
        for ops in jobs:
            if not isinstance(ops, list) or not all(
                    isinstance(op, dict) and "OP_ID" in op for op in ops):
                raise LuxiError(_err("GenericError", "SubmitManyJobs: invalid opcode list"))
        out = []
        for ops in jobs:
            index = self._submit_index
            self._submit_index += 1
            job_id = self._next_id
            rule = self._rule_for(ops, index, job_id)
            if rule.get("outcome") == "reject":
                out.append([False, rule.get("message", "Job queue is drained, refusing job")])
                continue
            self._next_id += 1
            job = Job(job_id, ops, rule, index)
            self.jobs[job_id] = job
            self.submitted_jobs.append(job)
            out.append([True, job_id])
        self._changed.notify_all()
        return out

    def _m_QueryJobs(self, ids, fields):
        unknown = [f for f in fields if f not in _JOB_FIELDS]
        if unknown:
            raise LuxiError(_err("OpPrereqError", "Unknown output fields selected: "
                                 + ", ".join(unknown), "wrong_input"))
        if ids is None or ids == []:
            ids = sorted(i for i, j in self.jobs.items() if not j.archived)
        out = []
        for jid in ids:
            job = self.jobs.get(int(jid)) if str(jid).lstrip("-").isdigit() else None
            if job is None:
                out.append([int(jid) if f == "id" else None for f in fields])
                continue
            self._observe(job)
            out.append([job.field(f)[1] for f in fields])
        return out

    def _job_update(self, job: Job, fields, prev_log):
        vals = [job.field(f)[1] for f in fields]
        logs = [e for e in job.all_logs() if prev_log is None or e[0] > prev_log]
        return [vals, logs]

    def _m_WaitForJobChange(self, jid, fields, prev_job, prev_log, timeout):
        job = self.jobs.get(jid)
        if job is None:
            raise LuxiError(_err("JobLost", "Job %s not found" % jid))
        if job.finalized:
            return self._job_update(job, fields, prev_log)
        self._observe(job)
        deadline = time.time() + min(int(timeout), WFJC_TIMEOUT)
        while True:
            upd = self._job_update(job, fields, prev_log)
            if upd[0] != prev_job or upd[1]:
                return upd
            left = deadline - time.time()
            if left <= 0 or self._stop.is_set():
                return upd
            self._changed.wait(min(left, 0.2))

    def _m_CancelJob(self, jid, kill=False):
        job = self.jobs.get(jid)
        if job is None or job.finalized:
            return [False, "Job %s not found in queue" % jid]
        status = job.status
        if status == "queued":
            job.rule = dict(job.rule, outcome="canceled", result=None)
            job.rule.pop("hold", None)
            self._finish(job)
            self._changed.notify_all()
            return [True, "Dequeued job %d" % jid]
        if kill:
            job.rule = dict(job.rule, outcome="error", fail_op=job.op_status.index(
                next(s for s in job.op_status if s not in JOB_FINAL)),
                error="detected death of job %d" % jid)
            job.rule.pop("hold", None)
            self._finish(job)
            self._changed.notify_all()
            return [True, "SIGKILL send to the process"]
        if status == "waiting":
            job.rule = dict(job.rule, outcome="canceled")
            job.rule.pop("hold", None)
            self._finish(job)
            self._changed.notify_all()
            return [True, "Job successfully cancelled"]
        return [False, "Job no longer waiting, can't cancel (informed it anyway)"]

    def _m_ArchiveJob(self, jid):
        job = self.jobs.get(jid)
        if job is None or not job.finalized:
            return False
        job.archived = True
        return True


# ----------------------------------------------------------------- command line

def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="luxi_fixture.py",
        description="Serve a Ganeti text-format cluster over Luxi (test fixture).")
    ap.add_argument("socket")
    ap.add_argument("cluster_file")
    ap.add_argument("--script", help="JSON text or a JSON file")
    ap.add_argument("--dump", help="write the final served cluster (text format) here")
    args = ap.parse_args(argv)
    script = None
    if args.script:
        if os.path.exists(args.script):
            with open(args.script) as fh:
                script = json.load(fh)
        else:
            script = json.loads(args.script)
    fx = LuxiFixture(args.cluster_file, script, socket_path=args.socket,
                     log_stream=sys.stdout)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    fx.start()
    sys.stderr.write("luxi fixture listening on %s\n" % fx.socket)
    sys.stderr.flush()
    done.wait()
    fx.stop()
    if args.dump:
        with open(args.dump, "w") as fh:
            fh.write(fx.cluster_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
