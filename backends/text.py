"""Ganeti's htools text format: ``load`` and ``save``.

The file has blank-line separated sections: groups, nodes, instances, cluster
tags and (optionally) instance policies; columns are ``|``-separated and
lists ``,``-separated.  Short rows get htools' defaults.  ``save`` writes the
same bytes the reference writes with ``-S``.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Sequence, Tuple

from htools.errors import UncaughtIOError
from htools.haskell.fmt import fmt_f, show_double
from htools.haskell.io import open_file_error
from htools.haskell.prelude import lines as hs_lines
from htools.haskell.read import try_read_double, try_read_int
from htools.loader import LoadError
from htools.model import ClusterData, Disk, Group, Instance, Node, set_pool_disks
from htools.types import (
    DEFAULT_IPOLICY, NO_SECONDARY, AllocPolicy, DiskTemplate, InstanceStatus,
    IPolicy, ISpec, MinMaxISpecs,
)
from htools.haskell.show import show_string


def sep_split(sep, seq) -> list:
    """htools' ``sepSplit``: split on a separator, [] for empty input (a
    trailing separator leaves an empty last part, as ``str.split``)."""
    if not seq:
        return []
    if isinstance(seq, str):
        return seq.split(sep)
    out = []
    start = 0
    for pos, item in enumerate(seq):
        if item == sep:
            out.append(list(seq[start:pos]))
            start = pos + 1
    out.append(list(seq[start:]))
    return out


def comma_split(s: str) -> List[str]:
    return sep_split(",", s)


def _show_fields(fields: Sequence[str]) -> str:
    return "[" + ",".join(show_string(f) for f in fields) + "]"


def _enum(cls, kind: str, raw: str):
    try:
        return cls.from_raw(raw)
    except ValueError:
        raise LoadError("Invalid string value for type %s: %s"
                        % (kind, show_string(raw))) from None


# ---------------------------------------------------------------- loading

def _load_group(fields: List[str]) -> Tuple[str, Group]:
    if len(fields) == 4:
        fields = fields + [""]
    if len(fields) < 5:
        raise LoadError("Invalid/incomplete group data: '%s'" % _show_fields(fields))
    name, gid, apol, tags, nets = fields[:5]
    policy = _enum(AllocPolicy, "AllocPolicy", apol)
    return gid, Group(name=name, uuid=gid, alloc_policy=policy,
                      networks=comma_split(nets), ipolicy=DEFAULT_IPOLICY,
                      tags=comma_split(tags))


_NODE_DEFAULTS = ["1", "", "N", "0", "1", "1.0"]


def _load_node(ktg: Dict[str, int], fields: List[str]) -> Tuple[str, Node]:
    if 9 <= len(fields) < 15:
        fields = fields + _NODE_DEFAULTS[len(fields) - 9:]
    if len(fields) < 15:
        raise LoadError("Invalid/incomplete node data: '%s'" % _show_fields(fields))
    (name, tm, nm, fm, td, fd, tc, fo, gu, spindles, tags, excl,
     free_sp, nos_cpu, cpu_speed) = fields[:15]
    if gu not in ktg:
        raise LoadError("Unknown group '%s' for node %s" % (gu, name))
    gdx = ktg[gu]
    if "?" in (tm, nm, fm, td, fd, tc):
        node = Node(name, 0.0, 0, 0, 0.0, 0, 0.0, 0, True, 0, 0, gdx, False)
        return name, node
    vtags = comma_split(tags)
    vtm = try_read_double(name, tm)
    vnm = try_read_int(name, nm)
    vfm = try_read_int(name, fm)
    vtd = try_read_double(name, td)
    vfd = try_read_int(name, fd)
    vtc = try_read_double(name, tc)
    vnc = try_read_int(name, nos_cpu)
    vsp = try_read_int(name, spindles)
    vspeed = try_read_double(name, cpu_speed)
    vfsp = try_read_int(name, free_sp)
    if excl == "Y":
        vexcl = True
    elif excl == "N":
        vexcl = False
    else:
        raise LoadError("Invalid exclusive_storage value for node '%s': %s"
                        % (name, excl))
    node = Node(name, vtm, vnm, vfm, vtd, vfd, vtc, vnc, fo == "Y", vsp, vfsp,
                gdx, vexcl)
    node.t_cpu_speed = vspeed
    node.tags = vtags
    node.is_master = fo == "M"
    return name, node


_INST_DEFAULTS = ["1", "-", "N"]


def _load_inst(ktn: Dict[str, int], fields: List[str]) -> Tuple[str, Instance]:
    if 10 <= len(fields) < 13:
        fields = fields + _INST_DEFAULTS[len(fields) - 10:]
    if len(fields) < 13:
        raise LoadError("Invalid/incomplete instance data: '%s'"
                        % _show_fields(fields))
    (name, mem, dsk, vcpus, status, auto_bal, pnode, snode, dt, tags, su,
     spindles, forth) = fields[:13]
    if pnode not in ktn:
        raise LoadError("Unknown node '%s' for instance %s" % (pnode, name))
    pidx = ktn[pnode]
    if snode == "":
        sidx = NO_SECONDARY
    elif snode in ktn:
        sidx = ktn[snode]
    else:
        raise LoadError("Unknown node '%s' for instance %s" % (snode, name))
    vmem = try_read_int(name, mem)
    dsize = try_read_int(name, dsk)
    vvcpus = try_read_int(name, vcpus)
    vstatus = _enum(InstanceStatus, "InstanceStatus", status)
    if auto_bal == "Y":
        abal = True
    elif auto_bal == "N":
        abal = False
    else:
        raise LoadError("Invalid auto_balance value '%s' for instance %s"
                        % (auto_bal, name))
    try:
        template = DiskTemplate.from_raw(dt)
    except ValueError:
        raise LoadError('Instance %s: Invalid string value for type '
                        'DiskTemplate: %s' % (name, show_string(dt))) from None
    spindle_use = try_read_int(name, su)
    vspindles = None if spindles == "-" else try_read_int(name, spindles)
    if forth == "Y":
        vforth = True
    elif forth == "N":
        vforth = False
    else:
        raise LoadError("Invalid forthcoming value '%s' for instance %s"
                        % (forth, name))
    inst = Instance(name=name, mem=vmem, dsk=dsize,
                    disks=[Disk(dsize, vspindles)], vcpus=vvcpus,
                    run_st=vstatus, tags=comma_split(tags), auto_balance=abal,
                    pnode=pidx, snode=sidx, disk_template=template,
                    spindle_use=spindle_use, nics=[], forthcoming=vforth)
    if inst.has_secondary and sidx == pidx:
        raise LoadError("Instance %s has same primary and secondary node - %s"
                        % (name, pnode))
    return name, inst


def _load_ispec(owner: str, fields: List[str]) -> ISpec:
    if len(fields) < 6:
        raise LoadError("Invalid ispec data for %s: %s"
                        % (owner, _show_fields(fields)))
    m, c, ds, dc, nc, su = fields[:6]
    return ISpec(try_read_int(owner + "/memsize", m), try_read_int(owner + "/cpucount", c),
                 try_read_int(owner + "/disksize", ds), try_read_int(owner + "/diskcount", dc),
                 try_read_int(owner + "/niccount", nc), try_read_int(owner + "/spindleuse", su))


def _load_ipolicy(fields: List[str]) -> Tuple[str, IPolicy]:
    if len(fields) < 6:
        raise LoadError("Invalid ipolicy data: '%s'" % _show_fields(fields))
    owner, std, minmax, dts, vcpu, spindle = fields[:6]
    xstd = _load_ispec(owner + "/stdspec", comma_split(std))
    specs = sep_split(";", minmax)
    if len(specs) % 2:
        raise LoadError("Odd number of min/max specs for %s" % owner)
    pairs = []
    for k in range(0, len(specs), 2):
        pairs.append(MinMaxISpecs(
            _load_ispec(owner + "/minspec", comma_split(specs[k])),
            _load_ispec(owner + "/maxspec", comma_split(specs[k + 1]))))
    templates = tuple(_enum(DiskTemplate, "DiskTemplate", t)
                      for t in comma_split(dts))
    return owner, IPolicy(minmax=tuple(pairs), std=xstd,
                          disk_templates=templates,
                          vcpu_ratio=try_read_double(owner + "/vcpu_ratio", vcpu),
                          spindle_ratio=try_read_double(owner + "/spindle_ratio", spindle))


def load_pool_rows(lines: List[str], nodes: List[Node],
                   insts: List[Instance], unresolved: bool = False) -> None:
    """The storage-pool section (an extension of ours, a sixth section the
    reference never reads): ``pool|node|vg|total|free`` rows give a node's
    volume groups, ``disk|instance|size|vg|metavg`` rows an instance's
    disks in order (an empty metavg: the data VG).  With ``unresolved``
    the disks are only recorded (``Instance.pool_disks``), the demand is
    left to the caller."""
    by_node = {n.name: n for n in nodes}
    by_inst = {i.name: i for i in insts}
    disks: Dict[str, list] = {}
    for line in lines:
        fields = sep_split("|", line)
        kind = fields[0] if fields else ""
        if kind == "pool" and len(fields) >= 5:
            name, vg, total, free = fields[1:5]
            node = by_node.get(name)
            if node is None:
                raise LoadError("Unknown node '%s' in storage pool data" % name)
            if node.pools is None:
                node.pools = {}
            node.pools[vg] = (try_read_int(name + "/" + vg, total),
                              try_read_int(name + "/" + vg, free))
        elif kind == "disk" and len(fields) >= 5:
            name, size, vg, metavg = fields[1:5]
            if name not in by_inst:
                raise LoadError("Unknown instance '%s' in storage pool data"
                                % name)
            disks.setdefault(name, []).append(
                (try_read_int(name, size), vg, metavg or None))
        else:
            raise LoadError("Invalid storage pool data: '%s'"
                            % _show_fields(fields))
    for name, dl in disks.items():
        if unresolved:
            # an empty metavg is the data VG here too
            by_inst[name].pool_disks = tuple((size, vg, meta or vg)
                                             for size, vg, meta in dl)
        else:
            set_pool_disks(by_inst[name], dl)


def parse_data(text: str) -> ClusterData:
    """Parse the text format into raw (not yet merged) cluster data."""
    sections = sep_split("", hs_lines(text))
    if len(sections) < 4:
        raise LoadError("Invalid format of the input file: %d sections "
                        "instead of 4 or more" % len(sections))
    glines, nlines, ilines, ctags = sections[:4]
    pollines = sections[4] if len(sections) > 4 else []
    poolines = sections[5] if len(sections) > 5 else []
    groups: List[Group] = []
    ktg: Dict[str, int] = {}
    for line in glines:
        key, grp = _load_group(sep_split("|", line))
        grp.idx = len(groups)
        ktg[key] = grp.idx
        groups.append(grp)
    nodes: List[Node] = []
    ktn: Dict[str, int] = {}
    for line in nlines:
        key, node = _load_node(ktg, sep_split("|", line))
        node.idx = len(nodes)
        ktn[key] = node.idx
        nodes.append(node)
    insts: List[Instance] = []
    for line in ilines:
        _, inst = _load_inst(ktn, sep_split("|", line))
        inst.idx = len(insts)
        insts.append(inst)
    cpol = DEFAULT_IPOLICY
    for line in pollines:
        owner, pol = _load_ipolicy(sep_split("|", line))
        if owner == "":
            cpol = pol
        else:
            matches = [g for g in groups if owner in g.all_names()]
            if len(matches) != 1:
                raise LoadError("Wrong number of elems found with name %s" % owner)
            matches[0].ipolicy = pol
    # a sixth section is ours only if it holds pool data (the reference
    # never reads one: anything else there is ignored, as it does)
    if any(sep_split("|", line)[0] in ("pool", "disk") for line in poolines):
        load_pool_rows(poolines, nodes, insts)
    return ClusterData(groups=groups, nodes=nodes, instances=insts,
                       tags=list(ctags), ipolicy=cpol)


def load(path: str) -> ClusterData:
    """Read and parse a text-format file (raw data, see ``parse_data``).

    Bytes that are not text in the locale's encoding stop the program the
    way the reference's lazy ``readFile`` does (:func:`check_sections`)."""
    try:
        raw = read_file_bytes(path)
    except OSError as err:
        raise LoadError(open_file_error(path, err)) from None
    text, complete = decode_prefix(raw)
    if not complete:
        check_sections(path, text)
    return parse_data(text)


def read_file_bytes(path: str) -> bytes:
    """All of ``path``, opened the way GHC's ``openFile`` does.

    GHC opens files non-blocking: a FIFO without a writer opens at once
    and reads as empty instead of waiting for a writer.  The descriptor
    is made blocking again for the reads, so a FIFO whose writer is slow
    is still read to its end."""
    import fcntl
    import os
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        import errno
        import stat
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)


# ---------------------------------------------------------------- decoding

#: GHC's text for input that is not valid in the locale's encoding
DECODE_ERROR = "hGetContents: invalid argument (invalid byte sequence)"


def input_codec() -> str:
    """The codec GHC decodes files with: the locale's (``LC_CTYPE``) codeset."""
    import codecs
    try:
        import _locale      # the C module: ``locale`` costs a millisecond
        codeset = _locale.nl_langinfo(_locale.CODESET)
    except (ImportError, AttributeError, ValueError):  # pragma: no cover - non-POSIX
        return "utf-8"
    if codeset in ("ANSI_X3.4-1968", "ASCII", "US-ASCII", ""):
        return "ascii"
    try:
        return codecs.lookup(codeset).name
    except LookupError:  # pragma: no cover - exotic locale
        return "utf-8"


def decode_prefix(raw: bytes) -> Tuple[str, bool]:
    """``(text, complete)``: ``raw`` decoded up to its first byte that is
    not valid in the locale's encoding (all of it when ``complete``).

    GHC decodes a lazily read file chunk by chunk and raises the decoding
    error only when the program reads past the last good character; the
    callers decide from the prefix whether the reference gets that far."""
    codec = input_codec()
    try:
        return raw.decode(codec), True
    except UnicodeDecodeError as err:
        return raw[:err.start].decode(codec), False


def decode_error(path: str) -> str:
    return "%s: %s" % (path, DECODE_ERROR)


def check_sections(path: str, prefix: str) -> None:
    """Raise the reference's decoding error unless ``prefix`` (the good
    part of a file that goes on with a bad byte) holds all that htools
    reads before its sections are known.

    ``parseData`` matches ``sepSplit "" (lines text)`` against five
    sections; that reads the file up to its fifth empty line and the first
    character after it (to know whether a line follows), or to its end.
    Whatever lies beyond is never read (a sixth section is ignored)."""
    pos, seps, n = 0, 0, len(prefix)
    while True:
        if pos >= n:
            break
        if prefix[pos] == "\n":
            seps += 1
            if seps == 5:
                if pos + 1 < n:
                    return
                break
            pos += 1
            continue
        nl = prefix.find("\n", pos)
        if nl < 0:
            break
        pos = nl + 1
    raise UncaughtIOError(decode_error(path))


# ---------------------------------------------------------------- saving

def serialize_ispec(s: ISpec) -> str:
    return ",".join(str(v) for v in (s.memory_size, s.cpu_count, s.disk_size,
                                     s.disk_count, s.nic_count, s.spindle_use))


def serialize_ipolicy(owner: str, pol: IPolicy) -> str:
    minmax = ";".join(serialize_ispec(mm.min_spec) + ";" + serialize_ispec(mm.max_spec)
                      for mm in pol.minmax)
    return "|".join([owner, serialize_ispec(pol.std), minmax,
                     ",".join(dt.value for dt in pol.disk_templates),
                     show_double(pol.vcpu_ratio), show_double(pol.spindle_ratio)])


def serialize_node(groups: Sequence[Group], node: Node) -> str:
    role = "Y" if node.offline else ("M" if node.is_master else "N")
    return "%s|%s|%d|%d|%s|%d|%s|%s|%s|%d|%s|%s|%d|%d|%s" % (
        node.name, fmt_f(node.t_mem, 0), node.n_mem, node.f_mem,
        fmt_f(node.t_dsk, 0), node.f_dsk, fmt_f(node.t_cpu, 0), role,
        groups[node.group].uuid, node.t_spindles, ",".join(node.tags),
        "Y" if node.excl_storage else "N", node.f_spindles, node.n_cpu,
        fmt_f(node.t_cpu_speed))


def serialize_instance(nodes: Dict[int, Node], inst: Instance) -> str:
    """One instance row; ``nodes`` maps node indices to nodes."""
    snode = "" if inst.snode == NO_SECONDARY else nodes[inst.snode].name
    sp = inst.total_spindles()
    return "%s|%d|%d|%d|%s|%s|%s|%s|%s|%s|%d|%s|%s" % (
        inst.name, inst.mem, inst.dsk, inst.vcpus, inst.run_st.value,
        "Y" if inst.auto_balance else "N", nodes[inst.pnode].name, snode,
        inst.disk_template.value, ",".join(inst.tags), inst.spindle_use,
        "-" if sp is None else str(sp), "Y" if inst.forthcoming else "N")


def _unlines(lines: Sequence[str]) -> str:
    return "".join(line + "\n" for line in lines)


def serialize_cluster(cdata: ClusterData) -> str:
    gdata = _unlines(["%s|%s|%s|%s|%s" % (g.name, g.uuid, g.alloc_policy.value,
                                          ",".join(g.tags), ",".join(g.networks))
                      for g in cdata.groups])
    ndata = _unlines([serialize_node(cdata.groups, n) for n in cdata.nodes])
    by_idx = {n.idx: n for n in cdata.nodes}
    idata = _unlines([serialize_instance(by_idx, i) for i in cdata.instances])
    pdata = _unlines([serialize_ipolicy("", cdata.ipolicy)]
                     + [serialize_ipolicy(g.name, g.ipolicy) for g in cdata.groups])
    sections = [gdata, ndata, idata, _unlines(cdata.tags), pdata]
    sdata = serialize_pools(cdata)
    if sdata:
        sections.append(sdata)
    return "\n".join(sections)


def serialize_pools(cdata: ClusterData) -> str:
    """The storage-pool section (empty without pool data)."""
    rows = []
    for n in cdata.nodes:
        for vg, (total, free) in sorted((n.pools or {}).items()):
            rows.append("pool|%s|%s|%d|%d" % (n.name, vg, total, free))
    for i in cdata.instances:
        for size, vg, metavg in i.pool_disks:
            rows.append("disk|%s|%d|%s|%s" % (i.name, size, vg, metavg or ""))
    return _unlines(rows)


def save(cdata: ClusterData, path: str) -> None:
    """Write ``cdata`` atomically (temporary file, then rename)."""
    import os
    import tempfile
    data = serialize_cluster(cdata).encode("utf-8", errors="surrogateescape")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".htools-", dir=directory)
    except OSError as err:
        raise UncaughtIOError(open_file_error(path, err)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UncaughtIOError(open_file_error(path, err)) from None


def _umask() -> int:
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask
