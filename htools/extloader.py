"""Load cluster data from whichever backend the options select.

The pipeline is htools' ``loadExternalData``: read the utilisation file,
load raw data from one backend, clear or merge utilisation, merge tags and
names (:func:`htools.loader.merge_data`), then compute memory statistics and
show the consistency warnings.
"""
from __future__ import annotations

import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Sequence, Tuple

from htools.errors import HtoolsError, UncaughtIOError
from htools.haskell.read import try_read_double as read_float
from htools.loader import BulkLoad, clear_dynu, merge_data, update_missing
from htools.model import ClusterData, Node
from htools.report import show_warnings
from htools.types import DynUtil


def parse_utilisation(line: str) -> Tuple[str, DynUtil]:
    fields = line.split(" ")
    if len(fields) != 5:
        raise HtoolsError("Cannot parse line " + line)
    name, cpu, mem, dsk, net = fields
    return name, DynUtil(read_float(name, cpu), read_float(name, mem),
                         read_float(name, dsk), read_float(name, net))


def _read_util_file(path: str) -> List[Tuple[str, DynUtil]]:
    from htools.haskell.io import open_file_error
    from backends.text import decode_error, decode_prefix, read_file_bytes
    from htools.haskell.prelude import lines as hs_lines
    try:
        text, complete = decode_prefix(read_file_bytes(path))
    except OSError as err:
        raise UncaughtIOError(open_file_error(path, err)) from None
    lines = hs_lines(text)
    if not complete and lines and not text.endswith("\n"):
        lines.pop()    # the line the bad byte is in is never complete
    try:
        out = [parse_utilisation(line) for line in lines]
    except HtoolsError as err:
        raise HtoolsError("can't parse utilisation data: " + err.message) from None
    if not complete:
        # every line before the bad byte parsed: reading on fails
        raise UncaughtIOError(decode_error(path))
    return out


def _backend(name: str, what: str):
    try:
        __import__("backends." + name)
        return sys.modules["backends." + name]
    except ModuleNotFoundError as err:
        if err.name != "backends." + name:
            raise
        raise HtoolsError("%s is not implemented yet" % what, status=2) from None


def load_raw(opts) -> ClusterData:
    """Raw data from the selected backend (errors are htools' messages)."""
    master = getattr(opts, "master", "") or ""
    luxi = getattr(opts, "luxi", None)
    data_file = getattr(opts, "data_file", None)
    node_sim = getattr(opts, "node_sim", None) or []
    ialloc_src = getattr(opts, "ialloc_src", None)
    if master:
        backend = _backend("rapi", "the RAPI backend (-m)")
        pools = getattr(opts, "storage_pools", None)
        return backend.load(master) if pools is None else backend.load(master, pools)
    if luxi is not None:
        backend = _backend("luxi", "the Luxi backend (-L)")
        pools = getattr(opts, "storage_pools", None)
        return backend.load(luxi) if pools is None else backend.load(luxi, pools)
    if node_sim:
        from backends import simu
        return simu.load(node_sim)
    if data_file is not None:
        from backends import text
        return text.load(data_file)
    if ialloc_src is not None:
        from backends import iallocator
        return iallocator.load_cluster(ialloc_src)
    raise HtoolsError("No backend selected! Exiting.")


def load_external_data(opts) -> ClusterData:
    master = getattr(opts, "master", "") or ""
    all_set = [bool(master), getattr(opts, "luxi", None) is not None,
               getattr(opts, "data_file", None) is not None]
    if sum(all_set) > 1:
        raise HtoolsError("Only one of the rapi, luxi, and data files options "
                          "should be given.")
    ex_tags = [t + ":" for t in (getattr(opts, "exclusion_tags", None) or [])]
    dynu_file = getattr(opts, "dynu_file", None)
    util = _read_util_file(dynu_file) if dynu_file else []
    ignore_dynu = getattr(opts, "ignore_dynu", False)
    try:
        with BulkLoad():
            cdata = load_raw(opts)
            if ignore_dynu:
                clear_dynu(cdata)
            merge_data(cdata, [] if ignore_dynu else util, ex_tags,
                       getattr(opts, "select_instances", None) or [],
                       getattr(opts, "exclude_instances", None) or [])
    except HtoolsError as err:
        if err.status != 1 or (isinstance(err, UncaughtIOError)
                               and not getattr(err, "caught_by_loader", False)):
            raise
        raise HtoolsError("failed to load data, aborting: " + err.message) from None
    if getattr(opts, "mond", False):
        from backends import mond
        all_ok = mond.apply(cdata, opts)
        if getattr(opts, "mond_exit_missing", False) and not all_ok:
            raise HtoolsError("Not all required data available")
    msgs = update_missing(cdata, getattr(opts, "static_kvm_node_memory", 4096))
    if getattr(opts, "verbose", 1) != 0:
        show_warnings(msgs)
    return cdata


def set_node_status(opts, nodes: Sequence[Node]) -> List[Node]:
    """Apply ``-O``, ``--max-cpu`` and ``--min-disk``; returns new nodes.

    The loaded data stay untouched (``-S FILE.original`` saves them as
    loaded).
    """
    from htools.loader import good_lookup, lookup_name
    names = [n.name for n in nodes]
    lkps = [lookup_name(names, o) for o in (getattr(opts, "offline", None) or [])]
    wrong = [r[1] for r in lkps if not good_lookup(r)]
    if wrong:
        raise HtoolsError("wrong node name(s) set as offline: %s\n" % ",".join(wrong))
    offline_names = {r[1] for r in lkps}
    mcpu = getattr(opts, "max_cpu", None)
    mdsk = getattr(opts, "min_disk", 0.0)
    out = []
    for old in nodes:
        n = old.copy()
        if mcpu is not None:
            n.set_mcpu(mcpu)
        n.set_mdsk(mdsk)
        if n.name in offline_names:
            n.offline = True
        out.append(n)
    return out


def maybe_save(path, suffix: str, msg: str, cdata: ClusterData) -> None:
    if not path:
        return
    from backends.text import save
    out = path + "." + suffix
    save(cdata, out)
    sys.stderr.write("The cluster state %s has been written to file '%s'\n"
                     % (msg, out))
