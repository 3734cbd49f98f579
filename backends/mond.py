"""Dynamic CPU load from Ganeti's monitoring daemons (``--mond``).

htools' ``Backend.MonD``.  One collector is used: ``cpu-avg-load`` (the
node's total CPU load, spread over its primary instances by vcpus) or,
with ``--mond-xen``, ``xen-cpu-avg-load`` (CPU load per instance); none
with ``--ignore-dynu``.  Each node of the cluster -- offline ones too --
is asked for its report:

* live: ``http://NODE:1815/1/report/default/<collector>`` through the
  shared reader of :mod:`backends.http` (the reference's curl call has no
  timeout; ours bounds each request, see :func:`backends.http.limits`).
  A transport failure or an HTTP status of 400 or more prints ``Failed to
  contact node's NODE MonD for DC <collector>``; an answer that is not a
  valid report is dropped silently, as in the reference;
* ``--mond-data FILE``: a JSON array of ``{"node": name, "reports":
  [report, ...]}`` replaces the daemons; the file is read as strictly as
  the reference reads it (any malformed report aborts with its message).

A report is read by one parser for both ways (:func:`read_report`, the
``DCReport`` JSON instance); its ``data`` then has to be the collector's
(``CPUavgload`` object, or a map of instance name to number), otherwise
the node counts as not having answered.  If a node did not answer, the
collector's data are ignored with a warning; ``--exit-on-missing-mond-data``
makes that fatal (handled by the caller).

Nodes are asked concurrently; the warnings are printed in node order,
exactly as the reference prints them one request after the other.
"""
from __future__ import annotations

import sys
import threading
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

from htools.haskell.json import (
    JSObject, _Bad, from_obj, maybe_from_obj, r_double, r_int, r_list, r_object,
    r_string, r_value, try_from_obj, with_desc,
)
from htools.haskell.json import decode_any, show_jsvalue, show_ratio
from htools.haskell.jsvalue import Ratio
from htools.errors import HtoolsError, UncaughtIOError
from htools.model import ClusterData
from htools.haskell.io import open_file_error
from htools.haskell.prelude import fdiv
from htools.haskell.show import show_string_list

MOND_PORT = 1815
MOND_API = 1
CPU_AVG_LOAD = "cpu-avg-load"
XEN_CPU_AVG_LOAD = "xen-cpu-avg-load"
#: at most this many daemons are asked at the same time
MAX_PARALLEL = 16

_CATEGORIES = ("instance", "storage", "daemon", "hypervisor")
_INT64 = 1 << 64


def _warn(msg: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- reports

class Report:
    """A ``DCReport`` (only what htools uses is kept)."""

    __slots__ = ("name", "data")

    def __init__(self, name: str, data):
        self.name = name
        self.data = data


def _r_version(v):
    if isinstance(v, str):
        return v
    raise _Bad("Invalid JSON value %s for type DCVersion" % show_jsvalue(v))


def _r_integer(v):
    if isinstance(v, (int, Ratio)) and not isinstance(v, bool):
        return v
    raise _Bad("Unable to read Integer")


def _r_category(v):
    if isinstance(v, str):
        if v in _CATEGORIES:
            return v
        raise _Bad("Invalid category name %s for type DCCategory" % v)
    raise _Bad("Invalid JSON value %s for type DCCategory" % show_jsvalue(v))


def _r_kind(v):
    if isinstance(v, (int, Ratio)) and not isinstance(v, bool):
        x = Ratio.of(v)
        if x.denominator != 1:
            raise _Bad("Invalid JSON value %s for type DCKind"
                       % show_ratio(x, 0))
        n = (x.numerator + (1 << 63)) % _INT64 - (1 << 63)  # as an Int
        if n in (0, 1):
            return n
        raise _Bad("Invalid JSON value %d for type DCKind" % n)
    raise _Bad("Invalid JSON value %s for type DCKind" % show_jsvalue(v))


#: DCReport's fields in declaration order: (name, reader, optional)
_REPORT_FIELDS = (
    ("name", r_string, False),
    ("version", _r_version, False),
    ("format_version", r_int, False),
    ("timestamp", _r_integer, False),
    ("category", _r_category, True),
    ("kind", _r_kind, False),
    ("data", r_value, False),
)
_REPORT_KEYS = sorted(name for name, _, _ in _REPORT_FIELDS)


def read_report(v) -> Report:
    """``readJSON`` of Ganeti's ``DCReport`` (raises _Bad with its text)."""
    obj = r_object(v)
    vals = {}
    for name, reader, optional in _REPORT_FIELDS:
        if optional:
            raw = maybe_from_obj(obj, name, r_value)
            vals[name] = None if raw is None else with_desc(name, reader)(raw)
        else:
            vals[name] = with_desc(name, reader)(from_obj(obj, name, r_value))
    extra = sorted(set(obj.keys()) - set(_REPORT_KEYS))
    if extra:
        raise _Bad("Superfluous dictionary keys: %s, but only %s allowed."
                   % (show_string_list(extra), show_string_list(_REPORT_KEYS)))
    return Report(vals["name"], vals["data"])


def _cpu_avg_load(data) -> Optional[float]:
    """``cpu_total`` of a ``CPUavgload`` object, None if ``data`` is not one."""
    try:
        obj = r_object(data)
        total = None
        for name, reader in (("cpu_number", r_int), ("cpus", r_list(r_double)),
                             ("cpu_total", r_double)):
            val = with_desc(name, reader)(from_obj(obj, name, r_value))
            if name == "cpu_total":
                total = val
        if set(obj.keys()) - {"cpu_number", "cpus", "cpu_total"}:
            return None
        return total
    except _Bad:
        return None


def _instance_cpu(data) -> Optional[Dict[str, float]]:
    """``maybeParseMap`` at type Double: instance name -> CPU load."""
    if not isinstance(data, JSObject):
        return None
    out: Dict[str, float] = {}
    try:
        for key, val in data.pairs:
            out[key] = r_double(val)   # Map.fromList: the last one wins
    except _Bad:
        return None
    return out


def _use_report(collector: str, rep: Optional[Report]):
    if rep is None:
        return None
    if collector == CPU_AVG_LOAD:
        return _cpu_avg_load(rep.data)
    return _instance_cpu(rep.data)


# ---------------------------------------------------------------- sources

def parse_mond_data(text: str) -> Dict[str, List[Report]]:
    """A ``--mond-data`` file: node name -> its reports (``pMonDData``).

    Raises HtoolsError with the reference's message."""
    try:
        try:
            val = decode_any(text)
        except _Bad as err:
            raise _Bad("Parsing MonD's answer: " + err.msg) from None
        items = _annotate_list("Parsing MonD's answer", val)
        out: Dict[str, List[Report]] = {}
        for obj in items:
            node = try_from_obj("Parsing node's name", obj, "node", r_string)
            reports = try_from_obj("Parsing node's reports", obj, "reports",
                                   r_list(read_report))
            out[node] = reports           # Map.fromList: the last one wins
        return out
    except _Bad as err:
        raise HtoolsError("can't parse MonD data: " + err.msg) from None


def _annotate_list(desc: str, val) -> List[JSObject]:
    """``loadJSArray``'s type check: a list of objects."""
    if not isinstance(val, list):
        raise _Bad(desc + ": Unable to read list")
    for item in val:
        if not isinstance(item, JSObject):
            raise _Bad(desc + ": Unable to read JSObject")
    return val


def _from_file(collector: str, node_name: str,
               data: Dict[str, List[Report]]) -> Optional[Report]:
    for rep in data.get(node_name, []):
        if rep.name == collector:
            return rep
    return None


def report_url(node_name: str, collector: str) -> str:
    """The reference's URL (no scheme: curl takes it for http)."""
    return "%s:%d/%d/report/default/%s" % (node_name, MOND_PORT, MOND_API,
                                          collector)


def fetch_report(node_name: str, collector: str) -> Tuple[bool, Optional[Report]]:
    """Ask one node's MonD: (contacted, report or None)."""
    from backends import http
    try:
        body = http.get_text(report_url(node_name, collector), "mond")
    except http.CurlError:
        return False, None
    try:
        return True, read_report(decode_any(body))
    except _Bad:
        return True, None


def _ask_all(collector: str, names: List[str]):
    """fetch_report for every node, at most MAX_PARALLEL at a time.

    Daemon threads: an interrupted run (SIGINT) does not wait for the
    requests still under way."""
    answers: List[Tuple[bool, Optional[Report]]] = [(False, None)] * len(names)
    pending = iter(range(len(names)))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                idx = next(pending, None)
            if idx is None:
                return
            answers[idx] = fetch_report(names[idx], collector)

    threads = [threading.Thread(target=work, daemon=True)
               for _ in range(min(MAX_PARALLEL, len(names)))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return answers


def _query_live(collector: str, names: List[str]) -> List[Optional[Report]]:
    answers = _ask_all(collector, names)
    reports = []
    for name, (contacted, rep) in zip(names, answers):
        if not contacted:
            _warn("Failed to contact node's %s MonD for DC %s" % (name, collector))
        reports.append(rep)
    return reports


# ---------------------------------------------------------------- use

def _read_mond_file(path: str) -> Dict[str, List[Report]]:
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as err:
        raise UncaughtIOError(open_file_error(path, err)) from None
    return parse_mond_data(text)


def collectors(opts) -> List[str]:
    if getattr(opts, "ignore_dynu", False):
        return []
    if getattr(opts, "mond_xen", False):
        return [XEN_CPU_AVG_LOAD]
    return [CPU_AVG_LOAD]


def apply(cdata: ClusterData, opts) -> bool:
    """Query the collectors and update utilisation; False if data missing."""
    file_data = None
    if getattr(opts, "mond_file", None):
        file_data = _read_mond_file(opts.mond_file)
    all_ok = True
    names = [node.name for node in cdata.nodes]
    for coll in collectors(opts):
        if file_data is not None:
            reports = [_from_file(coll, name, file_data) for name in names]
        else:
            reports = _query_live(coll, names)
        parsed = [_use_report(coll, rep) for rep in reports]
        if any(p is None for p in parsed):
            _warn("Didn't receive an answer by all MonDs, %s's data will be "
                  "ignored." % coll)
            all_ok = False
            continue
        if coll == CPU_AVG_LOAD:
            _use_node_total(cdata, parsed)
        elif not _use_instance_cpu(cdata, parsed):
            all_ok = False
    return all_ok


def _use_node_total(cdata: ClusterData, totals: List[float]) -> None:
    for node, total in zip(cdata.nodes, totals):
        load = node.util_load.copy()
        load.cpu = total
        node.util_load = load
    for node in cdata.nodes:
        ct = node.util_load.cpu
        for inst in cdata.instances:
            if inst.pnode == node.idx:
                u = inst.util.copy()
                u.cpu = fdiv(ct, node.u_cpu) * inst.vcpus
                inst.util = u


def _use_instance_cpu(cdata: ClusterData, maps: List[Dict[str, float]]) -> bool:
    usage: Dict[str, float] = {}
    for m in maps:                    # Map.unions: the first one wins
        for k, v in m.items():
            usage.setdefault(k, v)
    missing = sorted({i.name for i in cdata.instances} - set(usage))
    if missing:
        _warn("No CPU information available for " + show_string_list(missing))
        return False
    for inst in cdata.instances:
        u = inst.util.copy()
        u.cpu = usage[inst.name]
        inst.util = u
    for node in cdata.nodes:
        load = node.util_load.copy()
        total = 0.0
        for i in node.p_list:
            total += cdata.instances[i].util.cpu
        load.cpu = total
        node.util_load = load
    return True
