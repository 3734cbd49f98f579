"""hscan: scan clusters via RAPI (or LUXI) and write their text data files.

htools' ``Program/Hscan.hs``: a header line (unless ``--no-headers``), then
for each cluster (``LOCAL`` via Luxi when no argument is given, first) one
summary row, the optional node table (``-p``) and ``<dir>/<name>.data``
holding the data *as loaded* (before merging / memory fix-ups).  A failing
cluster prints ``Error for X: ...`` on stdout; the exit status is 2 if any
cluster failed.
"""
from __future__ import annotations

import os
import sys

from htools.cli.options import Options, default_query_socket
from htools.errors import HtoolsError, UncaughtIOError

LOCAL = "LOCAL"


def print_cluster(nodes, insts) -> str:
    from htools.cluster_info import bad_items
    from htools.haskell.fmt import fmt_f
    from htools.metrics import comp_cv
    bad_nodes, bad_insts = bad_items(nodes)
    t_ram = sum(n.t_mem for n in nodes)
    t_dsk = sum(n.t_dsk for n in nodes)
    f_ram = sum(n.f_mem for n in nodes)
    f_dsk = sum(n.f_dsk for n in nodes)
    return "%5d %5d %5d %5d %s %6d %s %6d %s" % (
        len(nodes), len(insts), len(bad_nodes), len(bad_insts),
        fmt_f(t_ram, 0, 6), f_ram, fmt_f(t_dsk / 1024, 0, 6), f_dsk // 1024,
        fmt_f(comp_cv(nodes), 8))


def fix_slash(name: str) -> str:
    return name.replace("/", "_")


def _load_luxi(opts: Options):
    """Luxi data for LOCAL (raises HtoolsError/LoadError on failure)."""
    import importlib
    sock = opts.luxi if opts.luxi is not None else default_query_socket()
    try:
        luxi = importlib.import_module("backends.luxi")
    except ModuleNotFoundError as err:
        if err.name != "backends.luxi":
            raise
        luxi = None
    if luxi is None:
        if not os.path.exists(sock):
            # the reference dies with an uncaught socket exception
            raise UncaughtIOError("Network.Socket.connect: <socket: 3>: does "
                                  "not exist (No such file or directory)")
        raise HtoolsError("the Luxi backend is not implemented yet", status=2)
    if opts.storage_pools is not None:
        return luxi.load(sock, opts.storage_pools)
    return luxi.load(sock)


def write_data(nlen: int, name: str, opts: Options, loader) -> bool:
    out = sys.stdout
    from htools.loader import LoadError, merge_data, update_missing
    try:
        cdata = loader()
    except LoadError as err:
        out.write("\nError for %s: failed to load data. Details:\n%s\n"
                  % (name, err.message))
        return False
    from backends.text import serialize_cluster
    # the file holds the data as loaded: serialise before merging
    text = serialize_cluster(cdata)
    try:
        merge_data(cdata)
    except LoadError as err:  # pragma: no cover - no filters given
        out.write("\nError for %s: failed to process data. Details:\n%s\n"
                  % (name, err.message))
        return False
    update_missing(cdata, opts.static_kvm_node_memory)
    out.write("%-*s " % (nlen, name))
    out.flush()
    out.write(print_cluster(cdata.nodes, cdata.instances) + "\n")
    out.flush()
    if opts.print_nodes is not None:
        from htools.report import print_nodes
        out.write(print_nodes(cdata.nodes, opts.print_nodes))
    oname = os.path.join(opts.output_dir, fix_slash(name)) + ".data"
    try:
        with open(oname, "wb") as fh:
            fh.write(text.encode("utf-8", errors="surrogateescape"))
    except OSError as err:
        from htools.haskell.io import open_file_error
        raise UncaughtIOError(open_file_error(oname, err)) from None
    return True


def run(opts: Options, args: list) -> int:
    """Entry point called by :mod:`htools.cli.main` after option parsing."""
    from backends import rapi
    out = sys.stdout
    nlen = len(LOCAL) if not args else max(len(a) for a in args)
    if not opts.no_headers:
        out.write("%-*s %5s %5s %5s %5s %6s %6s %6s %6s %10s\n" % (
            nlen, "Name", "Nodes", "Inst", "BNode", "BInst", "t_mem", "f_mem",
            "t_disk", "f_disk", "Score"))
    if not args:
        if not write_data(nlen, LOCAL, opts, lambda: _load_luxi(opts)):
            out.flush()
            return 2
    def load(name):
        if opts.storage_pools is None:
            return rapi.load(name)
        return rapi.load(name, opts.storage_pools)
    results = [write_data(nlen, name, opts, lambda name=name: load(name))
               for name in args]
    out.flush()
    return 0 if all(results) else 2
