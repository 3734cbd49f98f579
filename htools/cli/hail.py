"""hail: the IAllocator plugin (htools' ``Program/Hail.hs``).

Reads an IAllocator request (a file, or ``-`` for stdin), answers it on
stdout with one JSON line exactly like the reference::

    {"success":true,"info":"Request successful: ...","result":[...]}

and exits 0 (also when ``success`` is false); a request that cannot be
parsed is an ``Error: ...`` with status 1.

Beyond the reference, failures are explained: when the answer reports
failures (a failed request, instances that could not be moved or
allocated) an extra key ``"explanation"`` is appended *last* to the JSON
object, a list of sentences such as ``"node3: memory short by 1.5 GiB
(needs 4 GiB, 2.5 GiB unallocated)"``.  Ganeti's IAllocator client reads
only ``success``, ``info`` and ``result`` and ignores it; removing the key
gives the reference's answer byte for byte (:func:`strip_explanation`).
With ``-v`` the same sentences are printed on stderr after the answer,
under the line ``Explanation of the failures:``.
"""
from __future__ import annotations

import sys
import time
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Optional

from htools.alloc.dedicated import is_dedicated
from htools.alloc.groups import show_group
from htools.alloc import requests as rq_types
from htools.alloc.requests import (
    allocation_group, explain, needs_explanation, process_dedicated, process_request,
)
from htools.alloc.solution import Trace
from htools.params import AlgorithmOptions
from htools.model import ClusterData, Instance, Node
from htools.types import NO_SECONDARY, DiskTemplate, InstanceStatus
from htools.haskell.json import encode, encode_string
from htools.haskell.show import show_string, show_string_list

EXPLANATION_KEY = "explanation"
EXPLANATION_HEADER = "Explanation of the failures:"


# ==========================================================================
# JSON output (Text.JSON's encodeStrict)

def format_response(success: bool, info: str, result,
                    explanation: Optional[List[str]] = None) -> str:
    text = ('{"success":%s,"info":%s,"result":%s' % (
        encode(success), encode_string(info), encode(result)))
    if explanation:
        text += ',"%s":%s' % (EXPLANATION_KEY, encode(explanation))
    return text + "}"


def strip_explanation(text: str) -> str:
    """``text`` with the explanation key removed from every answer line
    (what the reference prints)."""
    marker = ',"%s":' % EXPLANATION_KEY
    out = []
    for line in text.splitlines(True):
        body = line.rstrip("\n")
        pos = body.rfind(marker)
        if pos >= 0 and body.endswith("}"):
            line = body[:pos] + "}" + line[len(body):]
        out.append(line)
    return "".join(out)


def strip_explanation_stderr(text: str) -> str:
    """``text`` (stderr) without our explanation block."""
    out = []
    skipping = False
    for line in text.splitlines(True):
        if line.rstrip("\n") == EXPLANATION_HEADER:
            skipping = True
            continue
        if skipping and line.startswith("  - "):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


# ==========================================================================
# Haskell ``show`` of requests and cluster data (-v -v / -v -v -v)

_s = show_string
_slist = show_string_list


def _b(x: bool) -> str:
    return "True" if x else "False"


def _d(x: float) -> str:
    from htools.haskell.fmt import show_double
    return show_double(x)


def _maybe(v, show, prec: bool = True) -> str:
    if v is None:
        return "Nothing"
    inner = "Just " + show(v)
    return "(" + inner + ")" if prec else inner


def _arg_int(n: int) -> str:
    return "(%d)" % n if n < 0 else "%d" % n


_RUN_ST = {
    InstanceStatus.ADMIN_DOWN: "StatusDown", InstanceStatus.ADMIN_OFFLINE: "StatusOffline",
    InstanceStatus.ERROR_DOWN: "ErrorDown", InstanceStatus.ERROR_UP: "ErrorUp",
    InstanceStatus.NODE_DOWN: "NodeDown", InstanceStatus.NODE_OFFLINE: "NodeOffline",
    InstanceStatus.RUNNING: "Running", InstanceStatus.USER_DOWN: "UserDown",
    InstanceStatus.WRONG_NODE: "WrongNode",
}
_NIC_MODE = {"bridged": "Bridged", "routed": "Routed", "openvswitch": "OpenVSwitch"}
_HV = {"kvm": "Kvm", "xen-pvm": "XenPvm", "xen-hvm": "XenHvm", "chroot": "Chroot",
       "fake": "Fake", "lxc": "Lxc"}


def _dt_con(dt: DiskTemplate) -> str:
    from htools.types import _DT_CON
    return _DT_CON[dt]


def _show_util(u) -> str:
    return ("DynUtil {cpuWeight = %s, memWeight = %s, dskWeight = %s, "
            "netWeight = %s}" % (_d(u.cpu), _d(u.mem), _d(u.dsk), _d(u.net)))


def _show_set(items) -> str:
    return "fromList " + _slist(sorted(items))


def _show_nic(n) -> str:
    return ("Nic {mac = %s, ip = %s, mode = %s, link = %s, bridge = %s, "
            "network = %s}" % (
                _maybe(n.mac, _s, False), _maybe(n.ip, _s, False),
                _maybe(n.mode, lambda m: _NIC_MODE.get(m, m), False),
                _maybe(n.link, _s, False), _maybe(n.bridge, _s, False),
                _maybe(n.network, _s, False)))


def show_instance(i: Instance, ar_policy: str = "ArNotEnabled") -> str:
    disks = ",".join("Disk {dskSize = %d, dskSpindles = %s}" % (
        d.size, _maybe(d.spindles, lambda v: "%d" % v, False)) for d in i.disks)
    return (
        "Instance {name = %s, alias = %s, mem = %d, dsk = %d, disks = [%s], "
        "vcpus = %d, runSt = %s, pNode = %d, sNode = %d, idx = %d, util = %s, "
        "movable = %s, autoBalance = %s, diskTemplate = %s, spindleUse = %d, "
        "allTags = %s, exclTags = %s, dsrdLocTags = %s, locationScore = %d, "
        "arPolicy = %s, nics = [%s], forthcoming = %s}" % (
            _s(i.name), _s(i.alias), i.mem, i.dsk, disks, i.vcpus,
            _RUN_ST[i.run_st], i.pnode, i.snode, i.idx, _show_util(i.util),
            _b(i.movable), _b(i.auto_balance), _dt_con(i.disk_template),
            i.spindle_use, _slist(i.tags), _slist(i.excl_tags),
            _show_set(i.dsrd_loc_tags), i.location_score, ar_policy,
            ",".join(_show_nic(n) for n in i.nics), _b(i.forthcoming)))


def _show_details(d) -> str:
    return "AllocDetails %s %s" % (_arg_int(d.required_nodes),
                                   _maybe(d.group_name, _s, True))


def show_request(rq) -> str:
    if isinstance(rq, rq_types.Allocate):
        return "Allocate (%s) (%s) %s" % (
            show_instance(rq.instance), _show_details(rq.details),
            _maybe(rq.restrict_to_nodes, _slist, True))
    if isinstance(rq, rq_types.Relocate):
        return "Relocate %s %s [%s]" % (_arg_int(rq.instance),
                                        _arg_int(rq.required_nodes),
                                        ",".join("%d" % x for x in rq.exclude_nodes))
    if isinstance(rq, rq_types.ChangeGroup):
        return "ChangeGroup [%s] [%s]" % (
            ",".join("%d" % x for x in rq.instances),
            ",".join("%d" % x for x in rq.target_groups))
    if isinstance(rq, rq_types.NodeEvacuate):
        mode = {"primary-only": "ChangePrimary", "secondary-only": "ChangeSecondary",
                "all": "ChangeAll"}[rq.mode.value]
        return "NodeEvacuate [%s] %s" % (",".join("%d" % x for x in rq.instances), mode)
    if isinstance(rq, rq_types.MultiAllocate):
        return "MultiAllocate [%s]" % ",".join(
            "(%s,%s)" % (show_instance(i), _show_details(d)) for i, d in rq.requests)
    if isinstance(rq, rq_types.AllocateSecondary):
        return "AllocateSecondary %s" % _arg_int(rq.instance)
    return repr(rq)


def _show_peers(pm) -> str:
    return "[" + ",".join("(%d,%d)" % kv for kv in pm) + "]"


def _show_tagmap(tm) -> str:
    return "fromList [" + ",".join("(%s,%d)" % (_s(k), tm[k]) for k in sorted(tm)) + "]"


def _show_instmap(im) -> str:
    return "fromList [" + ",".join("((%s,%s),%d)" % (_s(a), _s(b), im[(a, b)])
                                   for a, b in sorted(im)) + "]"


def _ilist(xs) -> str:
    return "[" + ",".join("%d" % x for x in xs) + "]"


def show_node(n: Node) -> str:
    from htools.types import show_ipolicy
    return (
        "Node {name = %s, alias = %s, tMem = %s, nMem = %d, iMem = %d, fMem = %d, "
        "fMemForth = %d, xMem = %d, tDsk = %s, fDsk = %d, fDskForth = %d, "
        "tCpu = %s, tCpuSpeed = %s, nCpu = %d, uCpu = %d, uCpuForth = %d, "
        "tSpindles = %d, fSpindles = %d, fSpindlesForth = %d, pList = %s, "
        "pListForth = %s, sList = %s, sListForth = %s, idx = %d, peers = %s, "
        "failN1 = %s, failN1Forth = True, rMem = %d, rMemForth = 0, pMem = %s, "
        "pMemForth = %s, pDsk = %s, pDskForth = %s, pRem = %s, pRemForth = 0.0, "
        "pCpu = %s, pCpuForth = %s, mDsk = %s, loDsk = %d, hiCpu = %d, "
        "hiSpindles = %s, instSpindles = %s, instSpindlesForth = %s, "
        "offline = %s, isMaster = %s, nTags = %s, utilPool = %s, utilLoad = %s, "
        "utilLoadForth = %s, pTags = %s, group = %d, iPolicy = %s, "
        "exclStorage = %s, migTags = %s, rmigTags = %s, locationTags = %s, "
        "locationScore = %d, instanceMap = %s, hypervisor = %s}" % (
            _s(n.name), _s(n.alias), _d(n.t_mem), n.n_mem, n.i_mem, n.f_mem,
            n.f_mem_forth, n.x_mem, _d(n.t_dsk), n.f_dsk, n.f_dsk_forth,
            _d(n.t_cpu), _d(n.t_cpu_speed), n.n_cpu, n.u_cpu, n.u_cpu_forth,
            n.t_spindles, n.f_spindles, n.f_spindles_forth, _ilist(n.p_list),
            _ilist(n.p_list_forth), _ilist(n.s_list), _ilist(n.s_list_forth),
            n.idx, _show_peers(n.peers), _b(n.fail_n1), n.r_mem, _d(n.p_mem),
            _d(n.p_mem_forth), _d(n.p_dsk), _d(n.p_dsk_forth), _d(n.p_rem),
            _d(n.p_cpu), _d(n.p_cpu_forth), _d(n.m_dsk), n.lo_dsk, n.hi_cpu,
            _d(n.hi_spindles), _d(n.inst_spindles), _d(n.inst_spindles_forth),
            _b(n.offline), _b(n.is_master), _slist(n.tags),
            _show_util(n.util_pool), _show_util(n.util_load),
            _show_util(n.util_load_forth), _show_tagmap(n.p_tags), n.group,
            show_ipolicy(n.ipolicy), _b(n.excl_storage), _show_set(n.mig_tags),
            _show_set(n.rmig_tags), _show_set(n.location_tags), n.location_score,
            _show_instmap(n.instance_map),
            _maybe(n.hypervisor, lambda h: _HV[getattr(h, "value", h)], False)))


def show_cluster_data(cdata: ClusterData, now: Optional[int] = None) -> str:
    """``show`` of the cluster data, each instance with its auto-repair
    policy (``setArPolicy`` at ``now``, seconds since the epoch)."""
    from htools.repair import instance_policies
    from htools.types import show_ipolicy
    now_ns = time.time_ns() if now is None else now * 1000000000
    pols = instance_policies(cdata, now_ns)
    insts = ["(%d,%s)" % (i.idx, show_instance(i, pol.show()))
             for i, pol in zip(cdata.instances, pols)]
    return (
        "ClusterData {cdGroups = fromList [%s], cdNodes = fromList [%s], "
        "cdInstances = fromList [%s], cdTags = %s, cdIPolicy = %s}" % (
            ",".join("(%d,%s)" % (g.idx, show_group(g)) for g in cdata.groups),
            ",".join("(%d,%s)" % (n.idx, show_node(n)) for n in cdata.nodes),
            ",".join(insts), _slist(cdata.tags), show_ipolicy(cdata.ipolicy)))


# ==========================================================================
# Main

def _ordered_state(cdata: ClusterData, state) -> ClusterData:
    nl, il = state
    nodes = [nl[k] for k in sorted(nl)]
    insts = [il[k] for k in sorted(il)]
    return ClusterData(groups=cdata.groups, nodes=nodes, instances=insts,
                       tags=cdata.tags, ipolicy=cdata.ipolicy)


def run(opts, args) -> int:
    """Entry point called by :mod:`htools.cli.main` after option parsing."""
    from backends import iallocator as ia
    from htools.alloc.globaln1 import MissingKey, crash_text
    # the text backend and the node report only with the options using them
    extloader = report = None
    if opts.data_file is not None or opts.node_sim or opts.save_cluster:
        from htools import extloader
    if opts.print_nodes is not None:
        from htools import report

    verbose = opts.verbose
    static = opts.static_kvm_node_memory
    req = ia.read_request(args[0], static, prog="hail", pool_file=opts.pool_data)
    rq = req.rqtype
    cdata = req.cdata
    if opts.data_file is not None or opts.node_sim:
        cdata = extloader.load_external_data(opts)
    elif opts.mond:
        from backends import mond
        mond.apply(cdata, opts)

    err = sys.stderr
    if verbose > 1:
        err.write("Received request: " + show_request(rq) + "\n")
    if verbose > 2:
        err.write("Received cluster data: " + show_cluster_data(cdata) + "\n")
    is_alloc, gname = allocation_group(rq)
    dedicated = is_alloc and is_dedicated(cdata.groups, cdata.nodes, gname)
    if verbose > 1 and dedicated:
        err.write("Allocation on a dedicated cluster; using lost-allocations "
                  "metrics.\n")
    err.flush()
    if report is not None:
        report.maybe_print_nodes(opts.print_nodes, "Initial cluster", cdata.nodes)
    if extloader is not None:
        extloader.maybe_save(opts.save_cluster, "pre-ialloc",
                             "before iallocator run", cdata)

    aopts = AlgorithmOptions.from_cli(opts)
    trace = Trace()
    try:
        if dedicated:
            out = process_dedicated(aopts, rq, cdata)
        else:
            # without a trace the allocation runs on the compiled core; the
            # rejections are recorded (a second, identical run) only when
            # there is a failure to explain
            out = process_request(aopts, rq, cdata, None)
            if needs_explanation(rq, out):
                out = process_request(aopts, rq, cdata, trace)
    except MissingKey as crash:
        # htools dies on a node/instance missing from the list it was
        # handed (one group's nodes, an instance split over groups)
        sys.stdout.flush()
        err.write(crash_text("hail", crash))
        return 1
    expl = explain(aopts, rq, cdata, out, trace)
    sys.stdout.write(format_response(out.success, out.info, out.result, expl) + "\n")
    sys.stdout.flush()
    if expl and verbose > 1:
        err.write(EXPLANATION_HEADER + "\n")
        err.write("".join("  - %s\n" % e for e in expl))
        err.flush()

    fin = cdata if out.state is None else _ordered_state(cdata, out.state)
    if report is not None:
        report.maybe_print_nodes(opts.print_nodes, "Final cluster", fin.nodes)
    if opts.save_cluster:
        missing = _missing_node(fin)
        if missing is not None:
            # htools' serializer dies on the unknown node after creating
            # the file (hail on one group's node list, see tryGroupAlloc)
            path = opts.save_cluster + ".post-ialloc"
            try:
                open(path, "w").close()
            except OSError:
                pass
            sys.stdout.flush()
            err.write(crash_text("hail", MissingKey(missing)))
            return 1
        extloader.maybe_save(opts.save_cluster, "post-ialloc",
                             "after iallocator run", fin)
    return 0


def _missing_node(cdata: ClusterData) -> Optional[int]:
    """The first node index an instance refers to that is not in the node
    list (primary before secondary), as htools' text serializer meets it."""
    known = {n.idx for n in cdata.nodes}
    for inst in cdata.instances:
        if inst.pnode not in known:
            return inst.pnode
        if inst.snode != NO_SECONDARY and inst.snode not in known:
            return inst.snode
    return None
