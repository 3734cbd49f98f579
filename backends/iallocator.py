"""IAllocator requests: the load side of htools' ``Backend.IAlloc``.

An IAllocator request is the JSON document Ganeti hands to ``hail``; the
other tools also accept one as a cluster data source (``-I FILE``).  This
module parses it exactly as htools does:

* the JSON text is decoded with the rules and messages of the Haskell
  ``json-0.10`` package (``decodeStrict``: the top level must be an object
  or array starting at the very first character, objects are association
  lists and keep duplicate keys, numbers are exact rationals, integers are
  rounded half-to-even from them);
* groups (``nodegroups``), nodes, instances, ``cluster_tags`` and
  ``enabled_hypervisors`` are read key by key in htools' order, so the first
  error reported is htools' first error, with its text;
* a node is *live* unless offline or not ``vm_capable``; the resources of a
  non-live node are not read (all zero) and non-live or drained nodes are
  marked offline; spindles come from ``total_spindles`` with exclusive
  storage, from ``ndparams/spindle_count`` otherwise;
* the first enabled hypervisor becomes every node's hypervisor;
* like htools, the cluster data are then merged (``merge_data``) and the
  memory statistics computed (``update_missing``) *before* the request
  itself is read: lookups by name in the request use the merged names and
  aliases;
* the request becomes one of the small dataclasses below (``Allocate``,
  ``Relocate``, ``ChangeGroup``, ``NodeEvacuate``, ``MultiAllocate``,
  ``AllocateSecondary``).

Entry points: :func:`parse_request` (text -> :class:`Request`, raising
:class:`IAllocError`), :func:`read_request` (htools' ``readRequest``: file
or ``-`` for stdin, warnings on stderr, exit 1 with ``Error: ...`` on a
parse error) and :func:`load_cluster` (htools' ``IAlloc.loadData``, the
``-I`` backend).

Note on ``-I``: htools' ``loadData`` returns the request's cluster data
already merged, and ``loadExternalData`` merges it a second time; instances
are therefore accounted twice on their nodes (the reference's ``hinfo -I``
shows doubled ``pcnt``/``vcpu``/loads).  :func:`load_cluster` returns the
once-merged data so that the common pipeline reproduces this.
"""
from __future__ import annotations

import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from htools.errors import HtoolsError
from htools.haskell.prelude import wrap_int64
from htools.loader import (
    BulkLoad, LoadError, extract_desired_locations, extract_ex_tags, merge_data,
    update_missing,
)
from htools.model import (
    ClusterData, Disk, Group, Instance, Nic, Node, set_pool_disks,
)
from htools.types import (
    DEFAULT_IPOLICY, NO_SECONDARY, AllocPolicy, DiskTemplate, EvacMode, Hypervisor,
    InstanceStatus, IPolicy, ISpec, MinMaxISpecs,
)
from htools.haskell.json import (
    JSObject, _Bad, _annotate, _dict_object, as_jsobject,
    decode_strict_object, from_obj, from_obj_with_default, maybe_from_obj, r_bool,
    r_double, r_enum, r_int, r_list, r_object, r_string, r_value,
    read_either_string, to_array, try_from_obj,
)
if TYPE_CHECKING:
    from htools.haskell.json import Reader
from htools.alloc.requests import (
    AllocateSecondary, AllocDetails, Allocate, ChangeGroup, MultiAllocate, NodeEvacuate,
    Relocate, Request,
)
if TYPE_CHECKING:
    from htools.alloc.requests import RequestType


class IAllocError(HtoolsError):
    """The request could not be parsed; the message is htools' own."""


_ISPEC_FIELDS = _dict_object([
    ("memory-size", r_int), ("cpu-count", r_int), ("disk-size", r_int),
    ("disk-count", r_int), ("nic-count", r_int), ("spindle-use", r_int),
])


def r_ispec(v) -> ISpec:
    mem, cpu, dsize, dcount, nics, su = _ISPEC_FIELDS(v)
    return ISpec(memory_size=mem, cpu_count=cpu, disk_size=dsize,
                 disk_count=dcount, nic_count=nics, spindle_use=su)


_MINMAX_FIELDS = _dict_object([("min", r_ispec), ("max", r_ispec)])


def r_minmax(v) -> MinMaxISpecs:
    mn, mx = _MINMAX_FIELDS(v)
    return MinMaxISpecs(min_spec=mn, max_spec=mx)


r_disk_template = r_enum("DiskTemplate", {dt.value: dt for dt in DiskTemplate})
r_alloc_policy = r_enum("AllocPolicy", {ap.value: ap for ap in AllocPolicy})
r_hypervisor = r_enum("Hypervisor", {hv.value: hv for hv in Hypervisor})


r_evac_mode = r_enum("EvacMode", {m.value: m for m in EvacMode})

_IPOLICY_FIELDS = _dict_object([
    ("minmax", r_list(r_minmax)), ("std", r_ispec),
    ("disk-templates", r_list(r_disk_template)),
    ("vcpu-ratio", r_double), ("spindle-ratio", r_double),
])


def r_ipolicy(v) -> IPolicy:
    minmax, std, dts, vcpu, spindle = _IPOLICY_FIELDS(v)
    return IPolicy(minmax=tuple(minmax), std=std, disk_templates=tuple(dts),
                   vcpu_ratio=vcpu, spindle_ratio=spindle)


# ======================================================================
# The cluster parts of the message

_ADMIN_STATES = {
    "offline": InstanceStatus.ADMIN_OFFLINE,
    "down": InstanceStatus.ADMIN_DOWN,
    "up": InstanceStatus.RUNNING,
}
_NIC_MODES = ("bridged", "routed", "openvswitch")
_r_strings = r_list(r_string)


def _parse_nic(iname: str, obj: JSObject) -> Nic:
    mac = maybe_from_obj(obj, "mac", r_string)
    ip = maybe_from_obj(obj, "ip", r_string)
    mode = maybe_from_obj(obj, "mode", r_string)
    if mode is not None and mode not in _NIC_MODES:
        raise _Bad("invalid NIC mode in instance " + iname)
    link = maybe_from_obj(obj, "link", r_string)
    bridge = maybe_from_obj(obj, "bridge", r_string)
    network = maybe_from_obj(obj, "network", r_string)
    return Nic(mac=mac, ip=ip, mode=mode, link=link, bridge=bridge,
               network=network)


_DISK_TEMPLATES = {dt.value: dt for dt in DiskTemplate}
_NIC_KEYS = ("mac", "ip", "mode", "link", "bridge", "network")


def _is_ints(*vals) -> bool:
    return all(type(v) is int for v in vals)


def _quick_base_instance(name: str, obj: JSObject) -> Optional[Instance]:
    """:func:`_parse_base_instance` for the common well-formed object (every
    field present with its plain JSON type), read without the checked
    path's error annotations; None for anything else, which the checked
    path then reads (and reports) exactly."""
    f = obj.first()
    try:
        disk, mem, vcpus = f["disk_space_total"], f["memory"], f["vcpus"]
        spindle_use, tags = f["spindle_use"], f["tags"]
        dtemplate = _DISK_TEMPLATES[f["disk_template"]]
        jsdisks, jsnics = f["disks"], f["nics"]
    except (KeyError, TypeError):
        return None
    if (not _is_ints(disk, mem, vcpus, spindle_use) or type(tags) is not list
            or type(jsdisks) is not list or type(jsnics) is not list
            or not all(type(t) is str for t in tags)):
        return None
    disks = []
    for d in jsdisks:
        if type(d) is not JSObject:
            return None
        df = d.first()
        if "vg" in df or "metavg" in df:    # volume groups: the checked path
            return None
        size, spindles = df.get("size"), df.get("spindles")
        if type(size) is not int or not (spindles is None or type(spindles) is int):
            return None
        disks.append(Disk(wrap_int64(size), None if spindles is None
                          else wrap_int64(spindles)))
    nics = []
    for x in jsnics:
        if type(x) is not JSObject:
            return None
        nf = x.first()
        vals = [nf.get(k) for k in _NIC_KEYS]
        if not all(v is None or type(v) is str for v in vals):
            return None
        if vals[2] is not None and vals[2] not in _NIC_MODES:
            return None
        nics.append(Nic(*vals))
    run_st, forthcoming = _instance_state(obj)
    return Instance(name=name, mem=wrap_int64(mem), dsk=wrap_int64(disk), disks=disks,
                    vcpus=wrap_int64(vcpus), run_st=run_st, tags=tags,
                    auto_balance=True, pnode=0, snode=0, disk_template=dtemplate,
                    spindle_use=wrap_int64(spindle_use), nics=nics,
                    forthcoming=forthcoming)


def _instance_state(obj: JSObject) -> Tuple[InstanceStatus, bool]:
    """The run state and the forthcoming flag: both fall back to their
    default on any error (missing, wrong type)."""
    found, val = obj.lookup("admin_state")
    run_st = InstanceStatus.RUNNING
    if found and isinstance(val, str):
        run_st = _ADMIN_STATES.get(val, InstanceStatus.RUNNING)
    elif found and isinstance(val, list):
        try:
            run_st = _ADMIN_STATES.get(r_string(val), InstanceStatus.RUNNING)
        except _Bad:
            pass
    found, val = obj.lookup("forthcoming")
    return run_st, found and val is True


def _parse_base_instance(name: str, obj: JSObject) -> Instance:
    """Fields shared by cluster instances and instances to allocate."""
    quick = _quick_base_instance(name, obj)
    return quick if quick is not None else _checked_base_instance(name, obj)


def _checked_base_instance(name: str, obj: JSObject) -> Instance:
    owner = "invalid data for instance '%s'" % name

    def extract(key: str, reader: Reader):
        return try_from_obj(owner, obj, key, reader)

    disk = extract("disk_space_total", r_int)
    jsdisks = [as_jsobject(d) for d in to_array(extract("disks", r_value))]
    dsizes = [try_from_obj(owner, d, "size", r_int) for d in jsdisks]
    dspindles = [_annotate(owner, lambda d=d: maybe_from_obj(d, "spindles", r_int))
                 for d in jsdisks]
    disks = [Disk(size, sp) for size, sp in zip(dsizes, dspindles)]
    vgs = [_annotate(owner, lambda d=d: (maybe_from_obj(d, "vg", r_string),
                                         maybe_from_obj(d, "metavg", r_string)))
           for d in jsdisks]
    mem = extract("memory", r_int)
    vcpus = extract("vcpus", r_int)
    tags = extract("tags", _r_strings)
    dtemplate = extract("disk_template", r_disk_template)
    spindle_use = extract("spindle_use", r_int)
    nics = [_parse_nic(name, as_jsobject(x))
            for x in to_array(extract("nics", r_value))]
    run_st, forthcoming = _instance_state(obj)
    inst = Instance(name=name, mem=mem, dsk=disk, disks=disks, vcpus=vcpus,
                    run_st=run_st, tags=tags, auto_balance=True, pnode=0,
                    snode=0, disk_template=dtemplate, spindle_use=spindle_use,
                    nics=nics, forthcoming=forthcoming)
    if any(vg is not None or mvg is not None for vg, mvg in vgs):
        # the disks' volume groups (an extension): resolved by _set_pools
        inst.pool_disks = tuple((size, vg, mvg)
                                for size, (vg, mvg) in zip(dsizes, vgs))
    return inst


def _lookup_node(ktn: Dict[str, int], iname: str, node: str) -> int:
    try:
        return ktn[node]
    except KeyError:
        raise _Bad("Unknown node '%s' for instance %s" % (node, iname)) from None


def _parse_instance(ktn: Dict[str, int], name: str, obj: JSObject) -> Instance:
    inst = _parse_base_instance(name, obj)
    nodes = from_obj(obj, "nodes", r_list(r_value))
    if not nodes:
        raise _Bad("empty node list for instance " + name)
    pnode = read_either_string(nodes[0])
    pidx = _lookup_node(ktn, name, pnode)
    if len(nodes) > 1:
        sidx = _lookup_node(ktn, name, read_either_string(nodes[1]))
    else:
        sidx = NO_SECONDARY
    inst.pnode = pidx
    inst.snode = sidx
    return inst


def _parse_node(ktg: Dict[str, int], name: str, obj: JSObject) -> Node:
    owner = "invalid data for node '%s'" % name

    def extract(key: str, reader: Reader):
        return try_from_obj(owner, obj, key, reader)

    offline = extract("offline", r_bool)
    drained = extract("drained", r_bool)
    guuid = extract("group", r_string)
    vm_capable = _annotate(owner, lambda: maybe_from_obj(obj, "vm_capable", r_bool))
    if vm_capable is None:
        vm_capable = True
    try:
        gidx = ktg[guuid]
    except KeyError:
        raise _Bad("Unknown group '%s' for node %s" % (guuid, name)) from None
    ndparams = as_jsobject(extract("ndparams", r_value))
    tags = from_obj_with_default(obj, "tags", [], _r_strings)
    storage = _annotate(owner, lambda: maybe_from_obj(obj, "storage",
                                                      r_list(r_object)))
    excl_stor = try_from_obj(owner, ndparams, "exclusive_storage", r_bool)
    live = not offline and vm_capable

    def lvextract(default, key: str, reader: Reader):
        return extract(key, reader) if live else default

    if excl_stor:
        sptotal = lvextract(0, "total_spindles", r_int)
    else:
        sptotal = try_from_obj(owner, ndparams, "spindle_count", r_int)
    spfree = lvextract(0, "free_spindles", r_int)
    mtotal = lvextract(0.0, "total_memory", r_double)
    mnode = lvextract(0, "reserved_memory", r_int)
    mfree = lvextract(0, "free_memory", r_int)
    dtotal = lvextract(0.0, "total_disk", r_double)
    dfree = lvextract(0, "free_disk", r_int)
    ctotal = lvextract(0.0, "total_cpus", r_double)
    cnos = lvextract(0, "reserved_cpus", r_int)
    node = Node(name, mtotal, mnode, mfree, dtotal, dfree, ctotal, cnos,
                (not live) or drained, sptotal, spfree, gidx, excl_stor)
    node.tags = tags
    if storage is not None and live:
        node.pools = _parse_storage(owner, storage)
    return node


def _parse_storage(owner: str, units: List[JSObject]) -> Dict[str, Tuple[int, int]]:
    """A node's ``storage`` key (an extension): the volume groups, each
    ``{"name": vg, "size": MiB, "free": MiB}`` (``OP_NODE_QUERY_STORAGE``'s
    fields; a ``type`` other than ``lvm-vg`` is skipped)."""
    pools: Dict[str, Tuple[int, int]] = {}
    for unit in units:
        if maybe_from_obj(unit, "type", r_string) not in (None, "lvm-vg"):
            continue
        name = try_from_obj(owner, unit, "name", r_string)
        pools[name] = (try_from_obj(owner, unit, "size", r_int),
                       try_from_obj(owner, unit, "free", r_int))
    return pools


def _set_pools(inst: Instance, default_vg: Optional[str]) -> Instance:
    """Resolve the volume groups of ``inst``'s disks read from the request:
    a disk without ``vg`` is on the cluster's VG (``volume_group_name`` of
    the request), a DRBD meta LV without ``metavg`` too; without a cluster
    VG such a disk makes no demand."""
    if inst.pool_disks:
        disks = []
        for size, vg, mvg in inst.pool_disks:
            vg = vg or default_vg
            if vg is not None:
                disks.append((size, vg, mvg or default_vg or vg))
        set_pool_disks(inst, disks)
    return inst


def _parse_group(uuid: str, obj: JSObject) -> Group:
    owner = "invalid data for group '%s'" % uuid

    def extract(key: str, reader: Reader):
        return try_from_obj(owner, obj, key, reader)

    name = extract("name", r_string)
    apol = extract("alloc_policy", r_alloc_policy)
    nets = extract("networks", _r_strings)
    ipol = extract("ipolicy", r_ipolicy)
    tags = extract("tags", _r_strings)
    return Group(name=name, uuid=uuid, alloc_policy=apol, networks=nets,
                 ipolicy=ipol, tags=tags)


def _find_by_name(items, name: str):
    """htools' ``Container.findByName`` (exactly one element by any name)."""
    return _finder(items)(name)


def _finder(items):
    """``findByName`` over ``items`` for many names: the elements are
    indexed by their names once (a request names hundreds of instances)."""
    index: Dict[str, List] = {}
    for it in items:
        for n in set(it.all_names()):
            index.setdefault(n, []).append(it)

    def find(name: str):
        found = index.get(name, ())
        if len(found) != 1:
            raise _Bad("Wrong number of elems found with name " + name)
        return found[0]
    return find


class _InstNames:
    """An instance seen through htools' ``allNames`` (name and alias)."""

    __slots__ = ("inst",)

    def __init__(self, inst: Instance):
        self.inst = inst

    def all_names(self) -> Tuple[str, str]:
        return (self.inst.name, self.inst.alias)


def _update_tags(inst: Instance, ex_tags: Sequence[str],
                 dsrd: Sequence[str]) -> Instance:
    inst.excl_tags = [t for t in inst.tags if any(t.startswith(p) for p in ex_tags)]
    inst.dsrd_loc_tags = frozenset(
        t for t in inst.tags if any(t.startswith(p) for p in dsrd))
    return inst


# ======================================================================
# Top level

def _read_pool_file(path: str, nodes: List[Node], insts: List[Instance]) -> None:
    """hail's ``--pool-data=FILE``: storage-pool rows of the text format
    (``pool|node|vg|total|free``, ``disk|instance|size|vg|metavg``)."""
    from backends.text import load_pool_rows
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            rows = [line for line in fh.read().splitlines() if line]
        load_pool_rows(rows, nodes, insts, unresolved=True)
    except OSError as err:
        raise _Bad("cannot read pool data %s: %s" % (path, err.strerror)) from None
    except LoadError as err:
        raise _Bad("pool data %s: %s" % (path, err.message)) from None


def _parse(text: str, static_n_mem: int, pool_file: Optional[str] = None) -> Request:
    try:
        decoded = decode_strict_object(text)
    except _Bad as err:
        raise _Bad("Parsing input IAllocator message: " + err.msg) from None

    def extr_obj(key: str, reader: Reader):
        return try_from_obj("invalid iallocator message", decoded, key, reader)

    request = extr_obj("request", r_object)

    def extr_req(key: str, reader: Reader, req: JSObject = request):
        return try_from_obj("invalid request dict", req, key, reader)

    # groups
    groups: List[Group] = []
    ktg: Dict[str, int] = {}
    for uuid, val in extr_obj("nodegroups", r_object).pairs:
        grp = _parse_group(uuid, as_jsobject(val))
        grp.idx = len(groups)
        ktg[uuid] = grp.idx
        groups.append(grp)
    # nodes
    nodes: List[Node] = []
    ktn: Dict[str, int] = {}
    for name, val in extr_obj("nodes", r_object).pairs:
        node = _parse_node(ktg, name, as_jsobject(val))
        node.idx = len(nodes)
        ktn[name] = node.idx
        nodes.append(node)
    # instances
    insts: List[Instance] = []
    kti: Dict[str, int] = {}
    for name, val in extr_obj("instances", r_object).pairs:
        inst = _parse_instance(ktn, name, as_jsobject(val))
        inst.idx = len(insts)
        kti[name] = inst.idx
        insts.append(inst)
    default_vg = _annotate("invalid iallocator message", lambda: maybe_from_obj(
        decoded, "volume_group_name", r_string))
    if pool_file:
        _read_pool_file(pool_file, nodes, insts)
    for inst in insts:
        _set_pools(inst, default_vg)
    ctags = extr_obj("cluster_tags", _r_strings)
    ex_tags = extract_ex_tags(ctags)
    dsrd = extract_desired_locations(ctags)
    hypervisors = extr_obj("enabled_hypervisors", r_list(r_hypervisor))
    if hypervisors:
        for node in nodes:
            node.hypervisor = hypervisors[0]
    cdata = ClusterData(groups=groups, nodes=nodes, instances=insts,
                        tags=list(ctags), ipolicy=DEFAULT_IPOLICY)
    merge_data(cdata)
    msgs = update_missing(cdata, static_n_mem)

    def lookup_instance(name: str) -> int:
        try:
            return kti[name]
        except KeyError:
            raise _Bad("Unknown instance '%s'" % name) from None

    optype = extr_req("type", r_string)
    rqtype: RequestType
    if optype == "allocate":
        rname = extr_req("name", r_string)
        rgn = maybe_from_obj(request, "group_name", r_string)
        rest_nodes = maybe_from_obj(request, "restrict-to-nodes", _r_strings)
        req_nodes = extr_req("required_nodes", r_int)
        inew = _update_tags(_set_pools(_parse_base_instance(rname, request),
                                       default_vg), ex_tags, dsrd)
        rqtype = Allocate(inew, AllocDetails(req_nodes, rgn), rest_nodes)
    elif optype == "relocate":
        rname = extr_req("name", r_string)
        ridx = lookup_instance(rname)
        req_nodes = extr_req("required_nodes", r_int)
        ex_nodes = extr_req("relocate_from", _r_strings)
        ex_idx = [_find_by_name(nodes, n).idx for n in ex_nodes]
        rqtype = Relocate(ridx, req_nodes, ex_idx)
    elif optype == "change-group":
        rl_names = extr_req("instances", _r_strings)
        find = _finder([_InstNames(i) for i in insts])
        rl_insts = [find(n).inst.idx for n in rl_names]
        gr_uuids = extr_req("target_groups", _r_strings)
        gr_idx = [_find_by_name(groups, g).idx for g in gr_uuids]
        rqtype = ChangeGroup(rl_insts, gr_idx)
    elif optype == "node-evacuate":
        rl_names = extr_req("instances", _r_strings)
        find = _finder([_InstNames(i) for i in insts])
        rl_insts = [find(n).inst.idx for n in rl_names]
        mode = extr_req("evac_mode", r_evac_mode)
        rqtype = NodeEvacuate(rl_insts, mode)
    elif optype == "multi-allocate":
        reqs = extr_req("instances", r_list(r_object))
        prqs = []
        for req in reqs:
            rname = extr_req("name", r_string, req)
            rgn = maybe_from_obj(request, "group_name", r_string)
            req_nodes = extr_req("required_nodes", r_int, req)
            inew = _update_tags(_set_pools(_parse_base_instance(rname, req),
                                           default_vg), ex_tags, dsrd)
            prqs.append((inew, AllocDetails(req_nodes, rgn)))
        rqtype = MultiAllocate(prqs)
    elif optype == "allocate-secondary":
        rname = extr_req("name", r_string)
        rqtype = AllocateSecondary(lookup_instance(rname))
    else:
        raise _Bad("Invalid request type '%s'" % optype)
    return Request(rqtype, cdata, msgs)


def parse_request(text: str, static_n_mem: int = 0,
                  pool_file: Optional[str] = None) -> Request:
    """Parse a request (htools' ``IAlloc.parseData``).

    The cluster data are merged and their memory statistics computed with
    ``static_n_mem`` (htools' ``--static-kvm-node-memory``; 0 keeps the
    reported node memory); ``Request.warnings`` holds the consistency
    warnings.  Raises :class:`IAllocError` with htools' message.
    """
    try:
        return _parse(text, static_n_mem, pool_file)
    except _Bad as err:
        raise IAllocError(err.msg) from None


def _read_input(path: str) -> str:
    from htools.haskell.io import open_file_error
    from backends.text import (decode_error, decode_prefix,
                               read_file_bytes)
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            raw = read_file_bytes(path)
    except OSError as err:
        raise LoadError(open_file_error(path, err)) from None
    text, complete = decode_prefix(raw)
    if not complete:
        # decodeStrict reads the whole document (its end is checked)
        raise LoadError(decode_error("<stdin>" if path == "-" else path))
    return text


def read_request(path: str, static_n_mem: int = 0,
                 prog: Optional[str] = None,
                 pool_file: Optional[str] = None) -> Request:
    """htools' ``readRequest``: read ``path`` (``-`` is stdin) and parse it.

    A parse error is fatal right here, as in htools: ``Error: <message>``
    on stderr and exit status 1 (no "failed to load data" prefix).
    Consistency warnings are shown on stderr regardless of the verbosity.
    A file that cannot be read raises :class:`LoadError` (``-I``: the
    common pipeline reports it as a load failure); with ``prog`` (hail,
    where the reference does not catch it) the error is printed like
    GHC's top-level handler does, ``<prog>: <message>``, and the program
    exits with status 1.
    """
    from htools.report import show_warnings
    try:
        text = _read_input(path)
    except LoadError as err:
        if prog is None:
            raise
        _die("%s: %s" % (prog, err.message))
    try:
        with BulkLoad():
            req = parse_request(text, static_n_mem, pool_file)
    except IAllocError as err:
        _die("Error: " + err.message)
    show_warnings(req.warnings)
    return req


def _die(line: str):
    sys.stdout.flush()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    raise SystemExit(1)


def load_cluster(path: str, static_n_mem: int = 0) -> ClusterData:
    """The ``-I FILE`` backend (htools' ``IAlloc.loadData``).

    Returns the request's cluster data, already merged once (see the module
    notes: the common pipeline merges it again, as htools does).
    """
    return read_request(path, static_n_mem).cdata
