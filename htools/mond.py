"""Dynamic CPU load from Ganeti's monitoring daemons (``--mond``).

Reports come from each node's MonD over HTTP
(``http://NODE:1815/1/report/<category>/<collector>``) or, with
``--mond-data FILE``, from a JSON array of ``{"node": ..., "reports": [...]}``.
One collector is used: ``cpu-avg-load`` (node total CPU load, spread over the
node's instances by vcpus) or, with ``--mond-xen``, ``xen-cpu-avg-load``
(per-instance CPU).  If any node does not answer, the collector's data are
ignored with a warning and ``--exit-on-missing-mond-data`` makes that fatal.
"""
from __future__ import annotations

import json
import sys
from typing import Dict, List, Optional

from htools.errors import HtoolsError, UncaughtIOError
from htools.model import ClusterData

MOND_PORT = 1815
MOND_API = 1
CPU_AVG_LOAD = "cpu-avg-load"
XEN_CPU_AVG_LOAD = "xen-cpu-avg-load"


def _warn(msg: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def parse_mond_data(text: str) -> Dict[str, List[dict]]:
    """Parse a ``--mond-data`` file into node name -> reports."""
    try:
        data = json.loads(text)
    except ValueError:
        raise HtoolsError("can't parse MonD data: Parsing MonD's answer: Invalid "
                          "JSON: a JSON text a serialized object or array at "
                          "the top level.") from None
    if not isinstance(data, list):
        raise HtoolsError("can't parse MonD data: Parsing MonD's answer: "
                          "Expected array")
    out: Dict[str, List[dict]] = {}
    for item in data:
        if not isinstance(item, dict) or "node" not in item:
            raise HtoolsError("can't parse MonD data: Parsing node's name: "
                              "key 'node' not found")
        if "reports" not in item or not isinstance(item["reports"], list):
            raise HtoolsError("can't parse MonD data: Parsing node's reports: "
                              "key 'reports' not found")
        out[str(item["node"])] = item["reports"]
    return out


def _from_file(collector: str, node_name: str, data: Dict[str, List[dict]]) -> Optional[dict]:
    for rep in data.get(node_name, []):
        if isinstance(rep, dict) and rep.get("name") == collector:
            return rep
    return None


def _from_http(collector: str, node_name: str) -> Optional[dict]:
    import urllib.request
    url = "http://%s:%d/%d/report/default/%s" % (node_name, MOND_PORT, MOND_API,
                                                  collector)
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except Exception:  # any transport or decoding failure: no report
        _warn("Failed to contact node's %s MonD for DC %s" % (node_name, collector))
        return None


def _cpu_total(rep: dict) -> Optional[float]:
    data = rep.get("data")
    if not isinstance(data, dict):
        return None
    try:
        int(data["cpu_number"])
        [float(x) for x in data["cpus"]]
        return float(data["cpu_total"])
    except (KeyError, TypeError, ValueError):
        return None


def _instance_map(rep: dict) -> Optional[Dict[str, float]]:
    data = rep.get("data")
    if not isinstance(data, dict):
        return None
    try:
        return {str(k): float(v) for k, v in data.items()}
    except (TypeError, ValueError):
        return None


def apply(cdata: ClusterData, opts) -> bool:
    """Query the collectors and update utilisation; False if data missing."""
    file_data = None
    if getattr(opts, "mond_file", None):
        path = opts.mond_file
        try:
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8", errors="replace")
        except OSError as err:
            from backends.text import _io_error_text
            raise UncaughtIOError(_io_error_text(path, err)) from None
        file_data = parse_mond_data(text)
    if getattr(opts, "ignore_dynu", False):
        collectors: List[str] = []
    elif getattr(opts, "mond_xen", False):
        collectors = [XEN_CPU_AVG_LOAD]
    else:
        collectors = [CPU_AVG_LOAD]
    all_ok = True
    for coll in collectors:
        reports = []
        for node in cdata.nodes:
            rep = (_from_file(coll, node.name, file_data) if file_data is not None
                   else _from_http(coll, node.name))
            parsed = None
            if rep is not None:
                parsed = _cpu_total(rep) if coll == CPU_AVG_LOAD else _instance_map(rep)
            reports.append(parsed)
        if any(r is None for r in reports):
            _warn("Didn't receive an answer by all MonDs, %s's data will be "
                  "ignored." % coll)
            all_ok = False
            continue
        if coll == CPU_AVG_LOAD:
            _use_node_total(cdata, reports)
        else:
            if not _use_instance_cpu(cdata, reports):
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
                u.cpu = ct / node.u_cpu * inst.vcpus if node.u_cpu else (
                    float("nan") if ct == 0 else float("inf"))
                inst.util = u


def _use_instance_cpu(cdata: ClusterData, maps: List[Dict[str, float]]) -> bool:
    usage: Dict[str, float] = {}
    for m in maps:
        for k, v in m.items():
            usage.setdefault(k, v)
    missing = sorted({i.name for i in cdata.instances} - set(usage))
    if missing:
        _warn("No CPU information available for [%s]"
              % ",".join('"%s"' % n for n in missing))
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
