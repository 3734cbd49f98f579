"""The RAPI backend: htools' ``Backend.Rapi`` (``-m CLUSTER``, hscan).

``load(master)`` returns *raw* cluster data (like ``text.parse_data``); the
common pipeline merges it afterwards.

* ``file://DIR`` reads ``DIR/{groups,nodes,instances,info}.json``;
* anything else is a cluster name or URL: ``https://HOST:5080`` unless the
  argument contains a ``:`` (then it is used as given), and the resources
  ``/2/groups?bulk=1``, ``/2/nodes?bulk=1``, ``/2/instances?bulk=1`` and
  ``/2/info`` are fetched with TLS verification off, a 15 s connection
  timeout and a 60 s total timeout (the reference's curl options) by the
  shared reader of :mod:`backends.http`; an HTTP status of 400 or more is
  the reference's ``CurlHttpReturnedError``.

All four sources are read first; they are then parsed in the order groups,
nodes, instances, info, so the first error reported is the reference's
first error, with its text (JSON decoding and key errors reuse the
``json-0.10``/Ganeti-compatible helpers of :mod:`backends.iallocator`).
"""
from __future__ import annotations

import os
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from htools.haskell.json import (
    JSObject, _annotate, _Bad, as_jsobject, from_obj_with_default, maybe_from_obj,
    pp_value, r_bool, r_double, r_enum, r_int, r_list, r_object, r_string, r_value,
    read_either_string, try_from_obj,
)
from backends.iallocator import (
    _r_strings, r_alloc_policy, r_disk_template, r_hypervisor, r_ipolicy,
)
from htools.loader import LoadError, with_master
from htools.model import ClusterData, Disk, Group, Instance, Node
from htools.types import NO_SECONDARY, InstanceStatus
from htools.haskell.show import show_string_list

FILE_PREFIX = "file://"
DEFAULT_RAPI_PORT = 5080
DEFAULT_GROUP_ID = "00000000-0000-0000-0000-000000000000"

r_instance_status = r_enum("InstanceStatus",
                           {st.value: st for st in InstanceStatus})

#: a source body: (ok, text-or-error-message)
if TYPE_CHECKING:
    Body = Tuple[bool, str]


# ---------------------------------------------------------------- reading

def format_host(master: str) -> str:
    if ":" in master:
        return master
    return "https://%s:%d" % (master, DEFAULT_RAPI_PORT)


def _read_file(path: str) -> Body:
    from htools.haskell.io import open_file_error
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as err:
        return False, open_file_error(path, err)
    return True, raw.decode("utf-8", errors="surrogateescape")


def read_data_file(path: str) -> List[Body]:
    return [_read_file(os.path.join(path, name) if path else name)
            for name in ("groups.json", "nodes.json", "instances.json",
                         "info.json")]


def get_url(url: str) -> Body:
    """GET ``url`` like the reference's curl call: the body, or its error.

    Transport, timeouts (15 s to connect, 60 s in all), the body bound and
    the HTTP status rule (any status of 400 or more fails) are those of
    :mod:`backends.http`."""
    from backends import http
    try:
        return True, http.get_text(url, "rapi")
    except http.CurlError as err:
        return False, "Curl error for '%s', error %s" % (url, err.code)


def read_data_http(master: str) -> List[Body]:
    url = format_host(master)
    return [get_url(url + res) for res in
            ("/2/groups?bulk=1", "/2/nodes?bulk=1", "/2/instances?bulk=1",
             "/2/info")]


def read_data(url: str) -> List[Body]:
    if url.startswith(FILE_PREFIX):
        return read_data_file(url[len(FILE_PREFIX):])
    return read_data_http(url)


# ---------------------------------------------------------------- parsing

def _body(b: Body) -> str:
    ok, text = b
    if not ok:
        raise _Bad(text)
    return text


def load_js_array(desc: str, text: str) -> List[JSObject]:
    """Ganeti's ``loadJSArray`` (decodeStrict at type [JSObject JSValue])."""
    from htools.haskell.json import decode_any
    try:
        val = decode_any(text)
        if not isinstance(val, list):
            raise _Bad("Unable to read list")
        for v in val:
            if not isinstance(v, JSObject):
                raise _Bad("Unable to read JSObject")
        return val
    except _Bad as err:
        raise _Bad("%s: %s" % (desc, err.msg)) from None


def _lookup_node(ktn: Dict[str, int], iname: str, node: str) -> int:
    try:
        return ktn[node]
    except KeyError:
        raise _Bad("Unknown node '%s' for instance %s" % (node, iname)) from None


def _is_number(v) -> bool:
    from htools.haskell.jsvalue import Ratio
    return isinstance(v, (int, Ratio)) and not isinstance(v, bool)


def parse_instance(ktn: Dict[str, int], a: JSObject) -> Tuple[str, Instance]:
    name = try_from_obj("Parsing new instance", a, "name", r_string)
    owner = "Instance '%s', error while parsing data" % name

    def extract(key, reader, obj=a):
        return try_from_obj(owner, obj, key, reader)

    disk = extract("disk_usage", r_int)
    dsizes = extract("disk.sizes", r_list(r_int))
    dspindles = _annotate(owner, lambda: _array_maybe(a, "disk.spindles"))
    beparams = extract("beparams", r_object)
    omem = extract("oper_ram", r_value)
    if _is_number(omem):
        mem = r_int(omem)
    else:
        try:
            mem = extract("memory", r_int, beparams)
        except _Bad as err1:
            try:
                mem = extract("maxmem", r_int, beparams)
            except _Bad as err2:
                raise _Bad(err1.msg + "; " + err2.msg) from None
    vcpus = extract("vcpus", r_int, beparams)
    pnode = _lookup_node(ktn, name, extract("pnode", r_string))
    snodes = extract("snodes", r_list(r_value))
    if not snodes:
        snode = NO_SECONDARY
    else:
        snode = _lookup_node(ktn, name, read_either_string(snodes[0]))
    running = extract("status", r_instance_status)
    tags = extract("tags", _r_strings)
    auto_balance = extract("auto_balance", r_bool, beparams)
    dt = extract("disk_template", r_disk_template)
    su = extract("spindle_use", r_int, beparams)
    try:
        forthcoming = extract("forthcoming", r_bool)
    except _Bad:
        forthcoming = False
    disks = [Disk(s, sp) for s, sp in zip(dsizes, dspindles)]
    inst = Instance(name=name, mem=mem, dsk=disk, disks=disks, vcpus=vcpus,
                    run_st=running, tags=tags, auto_balance=auto_balance,
                    pnode=pnode, snode=snode, disk_template=dt,
                    spindle_use=su, nics=[], forthcoming=forthcoming)
    return name, inst


def _array_maybe(obj: JSObject, key: str) -> List[Optional[int]]:
    """Ganeti's ``arrayMaybeFromObj`` at type [Maybe Int]."""
    found, val = obj.lookup(key)
    if not found:
        raise _Bad("key '%s' not found, object contains only %s"
                   % (key, show_string_list(obj.keys())))
    if not isinstance(val, list):
        raise _Bad("Expecting array, got '%s'" % _show_doc(val))
    out: List[Optional[int]] = []
    for x in val:
        if x is None:
            out.append(None)
        else:
            try:
                out.append(r_int(x))
            except _Bad as err:
                raise _Bad("Cannot convert value '%s', error: %s"
                           % (_show_doc(x), err.msg)) from None
    return out


def _show_doc(v) -> str:
    """``show (pp_value v)``: a Doc shows as its rendering."""
    return pp_value(v)


def parse_node(ktg: Dict[str, int], a: JSObject) -> Tuple[str, Node]:
    name = try_from_obj("Parsing new node", a, "name", r_string)
    desc = "Node '%s', error while parsing data" % name

    def extract(key, reader):
        return try_from_obj(desc, a, key, reader)

    offline = extract("offline", r_bool)
    drained = extract("drained", r_bool)
    vm_cap = _annotate(desc, lambda: maybe_from_obj(a, "vm_capable", r_bool))
    vm_cap = True if vm_cap is None else vm_cap
    ndparams = as_jsobject(extract("ndparams", r_value))
    excl_stor = try_from_obj(desc, ndparams, "exclusive_storage", r_bool)
    guuid = _annotate(desc, lambda: maybe_from_obj(a, "group.uuid", r_string))
    guuid = DEFAULT_GROUP_ID if guuid is None else guuid
    try:
        gidx = ktg[guuid]
    except KeyError:
        raise _Bad("Unknown group '%s' for node %s" % (guuid, name)) from None
    live = not offline and vm_cap

    def lvextract(default, key, reader):
        return extract(key, reader) if live else default

    def lvextract_def(default, key, reader):
        return from_obj_with_default(a, key, default, reader) if live else default

    if excl_stor:
        sptotal = lvextract(0, "sptotal", r_int)
    else:
        sptotal = try_from_obj(desc, ndparams, "spindle_count", r_int)
    spfree = lvextract_def(0, "spfree", r_int)
    mtotal = lvextract(0.0, "mtotal", r_double)
    mnode = lvextract(0, "mnode", r_int)
    mfree = lvextract(0, "mfree", r_int)
    dtotal = lvextract_def(0.0, "dtotal", r_double)
    dfree = lvextract_def(0, "dfree", r_int)
    ctotal = lvextract(0.0, "ctotal", r_double)
    cnos = lvextract(0, "cnos", r_int)
    tags = extract("tags", _r_strings)
    node = Node(name, mtotal, mnode, mfree, dtotal, dfree, ctotal, cnos,
                (not live) or drained, sptotal, spfree, gidx, excl_stor)
    node.tags = tags
    return name, node


def parse_group(a: JSObject) -> Tuple[str, Group]:
    name = try_from_obj("Parsing new group", a, "name", r_string)
    owner = "Group '%s'" % name

    def extract(key, reader):
        return try_from_obj(owner, a, key, reader)

    uuid = extract("uuid", r_string)
    apol = extract("alloc_policy", r_alloc_policy)
    ipol = extract("ipolicy", r_ipolicy)
    tags = extract("tags", _r_strings)
    return uuid, Group(name=name, uuid=uuid, alloc_policy=apol, networks=[],
                       ipolicy=ipol, tags=tags)


def parse_cluster(obj: JSObject):
    def extract(key, reader):
        return try_from_obj("Parsing cluster data", obj, key, reader)

    master = extract("master", r_string)
    tags = extract("tags", _r_strings)
    ipolicy = extract("ipolicy", r_ipolicy)
    hypervisor = extract("default_hypervisor", r_hypervisor)
    return tags, ipolicy, master, hypervisor


def _assign(items):
    """``assignIndices``: (name -> index map, elements with their index).

    Later duplicates win in the map (``M.fromList``)."""
    names: Dict[str, int] = {}
    out = []
    for idx, (key, elem) in enumerate(items):
        elem.idx = idx
        names[key] = idx
        out.append(elem)
    return names, out


def parse_data(bodies: List[Body]) -> ClusterData:
    """Build raw cluster data from the four bodies (htools' ``parseData``)."""
    group_body, node_body, inst_body, info_body = bodies
    try:
        group_data = [parse_group(o) for o in
                      load_js_array("Parsing group data", _body(group_body))]
        ktg, groups = _assign(group_data)
        node_data = [parse_node(ktg, o) for o in
                     load_js_array("Parsing node data", _body(node_body))]
        ktn, nodes = _assign(node_data)
        inst_data = [parse_instance(ktn, o) for o in
                     load_js_array("Parsing instance data", _body(inst_body))]
        _, insts = _assign(inst_data)
        info_text = _body(info_body)
        from htools.haskell.json import decode_any
        try:
            info = decode_any(info_text)
            if not isinstance(info, JSObject):
                raise _Bad("Unable to read JSObject")
        except _Bad as err:
            raise _Bad("Parsing cluster info: " + err.msg) from None
        tags, ipolicy, master, hypervisor = parse_cluster(info)
    except _Bad as err:
        raise LoadError(err.msg) from None
    return with_master(groups, nodes, insts, tags, ipolicy, ktn, master, hypervisor)


def load(master: str, pools: Optional[Sequence[str]] = None) -> ClusterData:
    """htools' ``Rapi.loadData``: raw data (raises LoadError); with
    ``pools`` (a list, maybe empty, of extra volume groups) the storage
    pools too (:func:`read_pools`)."""
    bodies = read_data(master)
    cdata = parse_data(bodies)
    if pools is not None:
        read_pools(master, cdata, bodies[3], pools)
    return cdata


def read_pools(master: str, cdata: ClusterData, info_body: Body,
               extra: Sequence[str]) -> None:
    """The storage pools over RAPI: the same two opcodes as over Luxi
    (:mod:`backends.pools`), as the jobs RAPI makes of
    ``GET /2/nodes/N/storage?storage_type=lvm-vg&output_fields=name,size,free``
    (every online node) and ``GET /2/instances/I/info?static=1`` (every
    instance), read back from ``/2/jobs/ID`` once finished."""
    import json
    from backends.pools import PoolDataError, apply_pools
    if master.startswith(FILE_PREFIX):
        raise LoadError("cannot read the storage pools: not from files (%s)"
                        % master)
    url = format_host(master)
    try:
        node_jobs = [(n.name, _submit(url + "/2/nodes/%s/storage?storage_type="
                                      "lvm-vg&output_fields=name,size,free"
                                      % n.name))
                     for n in cdata.nodes if not n.offline]
        inst_jobs = [_submit(url + "/2/instances/%s/info?static=1" % i.name)
                     for i in cdata.instances]
        rows = []
        for name, jid in node_jobs:
            for unit in _job_result(url, jid) or []:
                rows.append([name] + list(unit))
        inst_data = {}
        for jid in inst_jobs:
            inst_data.update(_job_result(url, jid) or {})
        info = json.loads(info_body[1])
        vg = info.get("volume_group_name")
        apply_pools(cdata, rows, inst_data, vg if isinstance(vg, str) else None,
                    extra)
    except (PoolDataError, ValueError, TypeError, AttributeError) as err:
        raise LoadError("cannot read the storage pools: %s" % err) from None


def _get_json(url: str):
    import json
    ok, text = get_url(url)
    if not ok:
        raise PoolError(text)
    return json.loads(text)


class PoolError(LoadError):
    """The storage-pool jobs could not be submitted or read."""

    def __init__(self, message: str):
        super().__init__("cannot read the storage pools: " + message)


def _submit(url: str) -> str:
    jid = _get_json(url)
    if isinstance(jid, bool) or not isinstance(jid, (int, str)):
        raise PoolError("no job id from %s: %r" % (url, jid))
    return str(jid)


def _job_result(url: str, jid: str):
    """The first opcode result of job ``jid`` once it has finished."""
    from backends.pools import TIMEOUT, wait_finished
    last = {}

    def status_of():
        job = _get_json(url + "/2/jobs/%s" % jid)
        last["job"] = job
        return job.get("status", "unreadable") if isinstance(job, dict) \
            else "unreadable"

    status = wait_finished(status_of)
    if status is None:
        raise PoolError("job %s still unfinished after %ds" % (jid, TIMEOUT))
    if status != "success":
        raise PoolError("job %s %s" % (jid, status))
    res = last["job"].get("opresult")
    if not isinstance(res, list) or not res:
        raise PoolError("job %s has no result" % jid)
    return res[0]
