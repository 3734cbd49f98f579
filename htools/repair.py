"""Auto-repair logic of harep (Ganeti 3.0.2 ``Program/Harep.hs``), pure.

harep keeps its memory in instance tags under ``ganeti:watcher:autorepair:``:

* ``ganeti:watcher:autorepair:<type>`` (instance, group or cluster tag):
  repairs up to ``<type>`` are allowed (types, least destructive first:
  ``fix-storage``, ``migrate``, ``failover``, ``reinstall``);
* ``ganeti:watcher:autorepair:suspend[:<timestamp>]``: repairs suspended
  (forever, or until a future timestamp);
* ``ganeti:watcher:autorepair:pending:<type>:<uuid>:<ts>:<jobs>``: a repair
  was submitted as the jobs ``<jobs>`` (``+``-separated ids);
* ``ganeti:watcher:autorepair:result:<type>:<uuid>:<ts>:<result>:<jobs>``:
  its outcome (``success``, ``failure``, or ``enoperm`` when the policy did
  not allow the repair that was needed).

This module derives an instance's :class:`RepairState` from those tags
(:func:`initial_state`), its policy from the tags of the instance, its node
group and the cluster (:func:`instance_policies`), the repair a broken
instance needs with its opcodes (:func:`detect_broken`), and renders the
tags, opcodes and Haskell ``show`` texts harep prints.  Everything that
talks to the cluster lives in :mod:`htools.cli.harep` and
:mod:`cluster.jobwait`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from htools.types import NO_SECONDARY, DiskTemplate
from htools.haskell.prelude import wrap_int64
from htools.haskell.read import read_int_maybe as read_int
from htools.haskell.read import read_integer
from htools.haskell.json import encode_double
from htools.haskell.show import show_string

# ---------------------------------------------------------------- constants

TAG_PREFIX = "ganeti:watcher:autorepair:"
TAG_ENABLED = TAG_PREFIX
TAG_PENDING = TAG_PREFIX + "pending:"
TAG_RESULT = TAG_PREFIX + "result:"
TAG_SUSPENDED = TAG_PREFIX + "suspend:"

#: repair types, from least to most destructive (``AutoRepairType``)
FIX_STORAGE, MIGRATE, FAILOVER, REINSTALL = range(4)
TYPE_RAW = ("fix-storage", "migrate", "failover", "reinstall")
TYPE_SHOW = ("ArFixStorage", "ArMigrate", "ArFailover", "ArReinstall")

#: repair results; higher ones take precedence (``AutoRepairResult``)
ENOPERM, SUCCESS, FAILURE = range(3)
RESULT_RAW = ("enoperm", "success", "failure")

#: repair states (``AutoRepairStatus``) and their names in the summary
HEALTHY, NEEDS_REPAIR, PENDING, FAILED = ("healthy", "needs-repair",
                                          "pending", "failed")
STATE_NAME = {HEALTHY: "Healthy", FAILED: "Failure",
              PENDING: "Pending repair", NEEDS_REPAIR: "Needs repair"}

#: Ganeti's default shutdown timeout (seconds), used by the failover opcode
DEFAULT_SHUTDOWN_TIMEOUT = 120
#: the iallocator harep asks for new nodes
IALLOCATOR = "hail"


class RepairTagError(Exception):
    """The auto-repair tags of an instance contradict each other."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- Haskell helpers

def chomp_prefix(prefix: str, s: str) -> Optional[str]:
    """Ganeti's ``chompPrefix``: also accepts ``s`` == prefix minus its last
    character (so ``...:suspend`` counts as ``...:suspend:``)."""
    if s.startswith(prefix) or s == prefix[:-1]:
        return s[len(prefix):]
    return None


def sep_split(sep: str, s: str) -> List[str]:
    """Ganeti's ``sepSplit``: the empty string has no fields."""
    return s.split(sep) if s else []


_DAYS_C = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
           "Oct", "Nov", "Dec")


def _overflowed_tm(t: int) -> Tuple[int, int, int, int, int, int, int, str]:
    """What glibc's ``localtime_r`` leaves in a zeroed ``struct tm`` when the
    year does not fit an int (old-time ignores the failure): hour, minute,
    second and weekday (Sunday = 0) computed, the year truncated to 32 bits,
    month and day of month untouched (January, day 0).  The zone is the
    local standard one."""
    offset, zone = -time.timezone, time.tzname[0]
    days = abs(t) // 86400 * (1 if t >= 0 else -1)      # C division
    rem = t - days * 86400 + offset
    while rem < 0:
        rem += 86400
        days -= 1
    while rem >= 86400:
        rem -= 86400
        days += 1
    wday = (4 + days) % 7

    def leaps(y: int) -> int:
        return y // 4 - y // 100 + y // 400

    def is_leap(y: int) -> bool:
        return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)

    y = 1970
    while days < 0 or days >= (366 if is_leap(y) else 365):
        yg = y + days // 365
        days -= (yg - y) * 365 + leaps(yg - 1) - leaps(y - 1)
        y = yg
    tm_year = ((y - 1900 + (1 << 31)) % (1 << 32)) - (1 << 31)
    return (wday, 1, 0, rem // 3600, rem % 3600 // 60, rem % 60, zone,
            tm_year + 1900)


def show_clock_time(secs: int) -> str:
    """``show`` of a ``ClockTime`` (old-time): the local time as
    ``%a %b %e %H:%M:%S %Z %Y`` in the default (English) locale; the
    seconds pass through a 64-bit ``time_t`` first."""
    t = wrap_int64(secs)
    try:
        tm = time.localtime(t)
        fields = (tm.tm_wday, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
                  tm.tm_sec, tm.tm_zone or "", tm.tm_year)
        wday = (fields[0] + 1) % 7          # Python: Monday = 0
    except (OverflowError, OSError, ValueError):
        fields = _overflowed_tm(t)
        wday = fields[0]                    # C: Sunday = 0
    _, mon, mday, hour, minute, sec, zone, year = fields
    return "%s %s %2d %02d:%02d:%02d %s %d" % (
        _DAYS_C[wday], _MONTHS[mon - 1], mday, hour, minute, sec, zone, year)


def wire_number(x: float):
    """A double as it travels in a Luxi request: integral values as integers
    (Ganeti's encoder), infinities and NaN as the integers Text.JSON makes
    of them; other values stay floats."""
    if math.isnan(x) or math.isinf(x) or x.is_integer():
        return int(encode_double(x))
    return x


# ---------------------------------------------------------------- repair data

@dataclass(frozen=True)
class RepairData:
    """``AutoRepairData``: one repair task as recorded in a tag."""

    rtype: int                      # FIX_STORAGE .. REINSTALL
    uuid: str
    time: int                       # seconds since the epoch
    jobs: Tuple[int, ...] = ()
    result: Optional[int] = None    # None: pending; else ENOPERM..FAILURE
    tag: str = ""

    def with_tag(self) -> "RepairData":
        """``updateTag``: the tag that records this data."""
        head = [TYPE_RAW[self.rtype], self.uuid, "%d" % self.time]
        jobs = "+".join("%d" % j for j in self.jobs)
        if self.result is None:
            text = TAG_PENDING + ":".join(head + [jobs])
        else:
            text = TAG_RESULT + ":".join(head + [RESULT_RAW[self.result], jobs])
        return replace(self, tag=text)


def _make_data(tag: str, rtype: str, uuid: str, ts: str, jobs: str,
               result: Optional[int] = None) -> Optional[RepairData]:
    if rtype not in TYPE_RAW:
        return None
    secs = read_integer(ts)
    if secs is None:
        return None
    ids = []
    for text in sep_split("+", jobs):
        jid = read_int(text)
        if jid is None or jid < 0:
            return None
        ids.append(jid)
    return RepairData(TYPE_RAW.index(rtype), uuid, secs, tuple(ids), result, tag)


def parse_init_tag(tag: str) -> Optional[RepairData]:
    """``parseInitTag``: the repair data of a pending/result tag, else None."""
    sub = chomp_prefix(TAG_PENDING, tag)
    if sub is not None:
        parts = sep_split(":", sub)
        if len(parts) == 4:
            data = _make_data(tag, *parts)
            if data is not None:
                return data
    sub = chomp_prefix(TAG_RESULT, tag)
    if sub is not None:
        parts = sep_split(":", sub)
        if len(parts) == 5:
            rtype, uuid, ts, result, jobs = parts
            if result in RESULT_RAW:
                return _make_data(tag, rtype, uuid, ts, jobs,
                                  RESULT_RAW.index(result))
    return None


@dataclass
class RepairState:
    """``InstanceData``: an instance, its repair state and the tags to drop."""

    name: str
    state: str = HEALTHY
    data: Optional[RepairData] = None
    to_remove: List[str] = field(default_factory=list)

    @property
    def state_name(self) -> str:
        return STATE_NAME[self.state]

    def removal_with_current(self) -> List[str]:
        """``delCurTag``: the tags to remove plus the current one."""
        if self.data is not None:
            return [self.data.tag] + self.to_remove
        return list(self.to_remove)

    def moved_to(self, state: str, data: RepairData) -> "RepairState":
        """A new state replacing the current one (whose tag goes away)."""
        return RepairState(self.name, state, data, self.removal_with_current())


def _state_of(data: RepairData) -> str:
    if data.result in (SUCCESS, ENOPERM):
        return HEALTHY
    if data.result == FAILURE:
        return FAILED
    return PENDING


def initial_state(name: str, tags: Sequence[str]) -> RepairState:
    """``setInitialState``: the state an instance's tags describe.

    Tasks (tags sharing a uuid) are taken oldest first; the earliest failure
    wins, a task after a pending one is an error (:class:`RepairTagError`),
    otherwise the newest task decides; within a task the highest result
    (then the newest) counts."""
    datas = [d for d in (parse_init_tag(t) for t in tags) if d is not None]
    datas.sort(key=lambda d: d.uuid)
    groups: List[List[RepairData]] = []
    for d in datas:
        if groups and groups[-1][0].uuid == d.uuid:
            groups[-1].append(d)
        else:
            groups.append([d])
    groups.sort(key=lambda g: min(d.time for d in g))
    st = RepairState(name)
    for grp in groups:
        ordered = sorted(grp, key=lambda d: (d.result is not None,
                                             -1 if d.result is None else d.result,
                                             d.time))
        new = ordered[-1]
        if st.state == FAILED:
            continue
        if st.state == HEALTHY:
            st = st.moved_to(_state_of(new), new)
            continue
        assert st.state == PENDING and st.data is not None
        raise RepairTagError(
            "An unfinished repair was found in instance %s: found tag %s, but "
            "older pending tag %sexists." % (name, show_string(new.tag),
                                             show_string(st.data.tag)))
    return st


def after_jobs(st: RepairState, statuses: Sequence[str], now: int
               ) -> RepairState:
    """``processPending`` once the jobs are finished: Healthy with a success
    result if all succeeded, else Failure."""
    assert st.data is not None
    ok = all(s == "success" for s in statuses)
    data = replace(st.data, result=SUCCESS if ok else FAILURE,
                   time=now).with_tag()
    return st.moved_to(HEALTHY if ok else FAILED, data)


# ---------------------------------------------------------------- policy

@dataclass(frozen=True)
class Policy:
    """``AutoRepairPolicy``: enabled up to a type, suspended, or not enabled."""

    kind: str                       # "enabled", "suspended", "not-enabled"
    max_type: int = REINSTALL       # enabled: the most destructive type allowed
    until: Optional[int] = None     # suspended: None = forever, else seconds

    def show(self) -> str:
        if self.kind == "enabled":
            return "ArEnabled " + TYPE_SHOW[self.max_type]
        if self.kind == "suspended":
            if self.until is None:
                return "ArSuspended Forever"
            return "ArSuspended (Until %s)" % show_clock_time(self.until)
        return "ArNotEnabled"


NOT_ENABLED = Policy("not-enabled")


def get_policy(tags: Sequence[str], now_ns: int) -> Optional[Policy]:
    """``getArPolicy``: the policy a list of tags sets, None if none."""
    enabled = []
    suspended = []
    for tag in tags:
        sub = chomp_prefix(TAG_ENABLED, tag)
        if sub is not None and sub in TYPE_RAW:
            enabled.append(TYPE_RAW.index(sub))
        sub = chomp_prefix(TAG_SUSPENDED, tag)
        if sub is not None:
            suspended.append(sub)
    future = []
    for s in suspended:
        v = read_integer(s)
        if v is not None and v * 1000000000 > now_ns:
            future.append(v)
    if "" in suspended:
        return Policy("suspended")
    if future:
        return Policy("suspended", until=max(future))
    if enabled:
        return Policy("enabled", max_type=min(enabled))
    return None


def instance_policies(cdata, now_ns: int) -> List[Policy]:
    """``setArPolicy``: each instance's policy (instance tags, else its
    primary node's group, else the cluster)."""
    cpol = get_policy(cdata.tags, now_ns) or NOT_ENABLED
    gpols = [get_policy(g.tags, now_ns) or cpol for g in cdata.groups]
    out = []
    for inst in cdata.instances:
        pol = get_policy(inst.tags, now_ns)
        if pol is None:
            pol = gpols[cdata.nodes[inst.pnode].group]
        out.append(pol)
    return out


# ---------------------------------------------------------------- detection

def op_recreate_disks(iname: str) -> Dict:
    return {"OP_ID": "OP_INSTANCE_RECREATE_DISKS", "instance_name": iname,
            "disks": [], "nodes": [], "iallocator": IALLOCATOR}


def op_reinstall(iname: str) -> Dict:
    return {"OP_ID": "OP_INSTANCE_REINSTALL", "instance_name": iname,
            "force_variant": False}


def op_failover(iname: str) -> Dict:
    return {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": iname,
            "shutdown_timeout": DEFAULT_SHUTDOWN_TIMEOUT,
            "ignore_consistency": False, "ignore_ipolicy": False,
            "cleanup": False}


def op_replace_new_secondary(iname: str) -> Dict:
    return {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": iname,
            "early_release": False, "ignore_ipolicy": False,
            "mode": "replace_new_secondary", "disks": [],
            "iallocator": IALLOCATOR}


def op_test_delay(duration: float) -> Dict:
    return {"OP_ID": "OP_TEST_DELAY", "duration": duration, "on_master": True,
            "on_nodes": [], "repeat": 0, "interruptible": False,
            "no_locks": False}


def op_tags(opid: str, iname: str, tags: Sequence[str]) -> Dict:
    return {"OP_ID": opid, "kind": "instance", "tags": list(tags),
            "name": iname}


def detect_broken(nodes, inst) -> Optional[Tuple[int, List[Dict]]]:
    """``detectBroken``: the repair an instance needs and its opcodes.

    DRBD: both nodes offline -> reinstall (recreate disks + reinstall),
    primary offline -> failover, secondary offline -> fix-storage (new
    secondary); plain: primary offline -> reinstall.  Other templates are
    not handled.  A DRBD instance without secondary node is a lookup of
    node -1, which the reference dies of (``MissingKey``)."""
    from htools.errors import MissingKey

    def offline(idx: int) -> bool:
        if idx < 0 or idx >= len(nodes):
            raise MissingKey(idx)
        return nodes[idx].offline

    name = inst.name
    reinstall = (REINSTALL, [op_recreate_disks(name), op_reinstall(name)])
    if inst.disk_template == DiskTemplate.DRBD:
        off_pri = offline(inst.pnode)
        off_sec = offline(inst.snode if inst.snode != NO_SECONDARY else -1)
        if off_pri and off_sec:
            return reinstall
        if off_pri:
            return FAILOVER, [op_failover(name)]
        if off_sec:
            return FIX_STORAGE, [op_replace_new_secondary(name)]
        return None
    if inst.disk_template == DiskTemplate.PLAIN:
        return reinstall if offline(inst.pnode) else None
    return None


def status_counts(states: Sequence[RepairState]) -> List[str]:
    """The summary lines ``<state name>: <count>``, names sorted."""
    counts: Dict[str, int] = {}
    for st in states:
        counts[st.state_name] = counts.get(st.state_name, 0) + 1
    return ["%s: %d" % (k, counts[k]) for k in sorted(counts)]
