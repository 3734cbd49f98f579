"""Text reports shared by the tools: tables, node lists, instance maps."""
from __future__ import annotations

import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Optional, Sequence

from htools.haskell.fmt import fmt_f
from htools.model import Instance, Node
from htools.types import NO_SECONDARY

DEFAULT_FIELDS = [
    "status", "name", "tmem", "nmem", "imem", "xmem", "fmem", "umem",
    "rmem", "tdsk", "fdsk", "tcpu", "ucpu", "pcnt", "scnt",
    "pfmem", "pfdsk", "rcpu", "cload", "mload", "dload", "nload",
]
UNKNOWN_FIELD = "<unknown field>"


def format_table(rows: Sequence[Sequence[str]], isnum: Sequence[bool]) -> List[List[str]]:
    if not rows:
        return []
    ncols = min(len(r) for r in rows)
    widths = [max(len(r[c]) for r in rows) for c in range(ncols)]
    out = []
    for r in rows:
        line = []
        for c in range(ncols):
            val = r[c]
            num = isnum[c] if c < len(isnum) else isnum[-1]
            if num:
                line.append(val.rjust(widths[c]))
            else:
                line.append(val.ljust(widths[c]))
        out.append(line)
    return out


def print_table(prefix: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                isnum: Sequence[bool]) -> str:
    """htools' ``printTable``: aligned columns, each row prefixed by a space."""
    table = format_table([list(header)] + [list(r) for r in rows], isnum)
    return "".join(prefix + " " + " ".join(line) + "\n" for line in table)


def hs_show_int_list(vals: Sequence[int]) -> str:
    return "[" + ",".join(str(v) for v in vals) + "]"


def show_node_field(n: Node, field: str) -> str:
    u = n.util_load
    if field == "idx":
        return "%4d" % n.idx
    if field == "name":
        return n.alias
    if field == "fqdn":
        return n.name
    if field == "status":
        return "-" if n.offline else ("*" if n.fail_n1 else " ")
    if field == "tmem":
        return fmt_f(n.t_mem, 0, 5)
    if field == "nmem":
        return "%5d" % n.n_mem
    if field == "xmem":
        return "%5d" % n.x_mem
    if field == "fmem":
        return "%5d" % n.f_mem
    if field == "umem":
        return "%5d" % n.unallocated_mem()
    if field == "imem":
        return "%5d" % n.i_mem
    if field == "rmem":
        return "%5d" % n.r_mem
    if field == "amem":
        return "%5d" % n.avail_mem()
    if field == "tdsk":
        return fmt_f(n.t_dsk / 1024, 0, 5)
    if field == "fdsk":
        return "%5d" % (n.f_dsk // 1024)
    if field == "tcpu":
        return fmt_f(n.t_cpu, 0, 4)
    if field == "ucpu":
        return "%4d" % n.u_cpu
    if field == "pcnt":
        return "%3d" % len(n.p_list)
    if field == "scnt":
        return "%3d" % len(n.s_list)
    if field == "plist":
        return hs_show_int_list(n.p_list)
    if field == "slist":
        return hs_show_int_list(n.s_list)
    if field == "pfmem":
        return fmt_f(n.p_mem, 4, 6)
    if field == "pfdsk":
        return fmt_f(n.p_dsk, 4, 6)
    if field == "rcpu":
        return fmt_f(n.p_cpu, 2, 5)
    if field == "cload":
        return fmt_f(u.cpu, 3, 5)
    if field == "mload":
        return fmt_f(u.mem, 3, 5)
    if field == "dload":
        return fmt_f(u.dsk, 3, 5)
    if field == "nload":
        return fmt_f(u.net, 3, 5)
    if field == "ptags":
        return ",".join("%s=%d" % (k, v) for k, v in sorted(n.p_tags.items()))
    if field == "peermap":
        return "[" + ",".join("(%d,%d)" % kv for kv in n.peers) + "]"
    if field == "spindle_count":
        return str(n.t_spindles)
    if field == "hi_spindles":
        from htools.haskell.fmt import show_double
        return show_double(n.hi_spindles)
    if field == "inst_spindles":
        from htools.haskell.fmt import show_double
        return show_double(n.inst_spindles)
    return UNKNOWN_FIELD


_HEADERS = {
    "idx": ("Index", True), "name": ("Name", False), "fqdn": ("Name", False),
    "status": ("F", False), "tmem": ("t_mem", True), "nmem": ("n_mem", True),
    "xmem": ("x_mem", True), "fmem": ("f_mem", True), "umem": ("u_mem", True),
    "amem": ("a_mem", True), "imem": ("i_mem", True), "rmem": ("r_mem", True),
    "tdsk": ("t_dsk", True), "fdsk": ("f_dsk", True), "tcpu": ("pcpu", True),
    "ucpu": ("vcpu", True), "pcnt": ("pcnt", True), "scnt": ("scnt", True),
    "plist": ("primaries", True), "slist": ("secondaries", True),
    "pfmem": ("p_fmem", True), "pfdsk": ("p_fdsk", True), "rcpu": ("r_cpu", True),
    "cload": ("lCpu", True), "mload": ("lMem", True), "dload": ("lDsk", True),
    "nload": ("lNet", True), "ptags": ("PrimaryTags", False),
    "peermap": ("PeerMap", False), "spindle_count": ("NodeSpindles", True),
    "hi_spindles": ("MaxSpindles", True), "inst_spindles": ("InstSpindles", True),
}


def expand_fields(fields: Sequence[str]) -> List[str]:
    if not fields:
        return list(DEFAULT_FIELDS)
    if fields[0] == "+":
        return DEFAULT_FIELDS + list(fields[1:])
    return list(fields)


def print_nodes(nodes: Sequence[Node], fields: Sequence[str]) -> str:
    flds = expand_fields(fields)
    header, isnum = zip(*[_HEADERS.get(f, (UNKNOWN_FIELD, False)) for f in flds])
    rows = [[show_node_field(n, f) for f in flds]
            for n in sorted(nodes, key=lambda n: n.idx)]
    return print_table("", header, rows, isnum)


def print_insts(nodes: Sequence[Node], insts: Sequence[Instance]) -> str:
    rows = []
    for inst in sorted(insts, key=lambda i: i.idx):
        u = inst.util
        rows.append([
            "R" if inst.is_running else " ", inst.name, nodes[inst.pnode].name,
            "" if inst.snode == NO_SECONDARY else nodes[inst.snode].name,
            "Y" if inst.auto_balance else "N", "%3d" % inst.vcpus,
            "%5d" % inst.mem, "%5d" % (inst.dsk // 1024),
            fmt_f(u.cpu, 3, 5), fmt_f(u.mem, 3, 5), fmt_f(u.dsk, 3, 5),
            fmt_f(u.net, 3, 5)])
    header = ["F", "Name", "Pri_node", "Sec_node", "Auto_bal", "vcpu", "mem",
              "dsk", "lCpu", "lMem", "lDsk", "lNet"]
    return print_table("", header, rows, [False] * 5 + [True] * 7)


def maybe_print_nodes(fields: Optional[Sequence[str]], msg: str,
                      nodes: Sequence[Node]) -> None:
    if fields is None:
        return
    err = sys.stderr
    err.write("\n")
    err.write(msg + " status:\n")
    err.write(print_nodes(nodes, fields) + "\n")


def maybe_print_insts(do_print: bool, msg: str, nodes: Sequence[Node],
                      insts: Sequence[Instance]) -> None:
    if not do_print:
        return
    err = sys.stderr
    err.write("\n")
    err.write(msg + " instance map:\n")
    err.write(print_insts(nodes, insts))


def print_pools(nodes: Sequence[Node]) -> str:
    """The storage pools (``--print-pools``, ours): per volume group the
    nodes having it, total and free MiB, the used share, the lowest and
    highest free share of a node and its standard deviation (the spread the
    balancing of that pool would reduce), then which online nodes lack it."""
    from statistics import pstdev
    online = [n for n in nodes if not n.offline]
    known = [n for n in online if n.pools is not None]
    if not known:
        return "Storage pools: unknown\n"
    vgs = sorted({vg for n in known for vg in n.pools})
    rows = []
    lacking = []
    for vg in vgs:
        have = [n for n in known if vg in n.pools]
        total = sum(n.pools[vg][0] for n in have)
        free = sum(n.pools[vg][1] for n in have)
        shares = [n.pools[vg][1] / n.pools[vg][0] if n.pools[vg][0] else 0.0
                  for n in have]
        rows.append([vg, "%d" % len(have), "%d" % total, "%d" % free,
                     "%.1f%%" % (100.0 * (total - free) / total if total else 0.0),
                     "%.1f%%" % (100.0 * min(shares)),
                     "%.1f%%" % (100.0 * max(shares)),
                     "%.4f" % pstdev(shares)])
        missing = [n.name for n in known if vg not in n.pools]
        if missing:
            lacking.append("  %s missing on: %s\n" % (vg, ", ".join(missing)))
    out = "Storage pools (%d of %d online nodes known):\n" % (len(known),
                                                          len(online))
    out += print_table(" ", ["Pool", "Nodes", "Total", "Free", "Used",
                             "MinFree", "MaxFree", "FreeStdDev"], rows,
                       [False] + [True] * 7)
    return out + "".join(lacking)


def show_warnings(msgs: Sequence[str]) -> None:
    if msgs:
        sys.stderr.write("Warning: cluster has inconsistent data:\n")
        sys.stderr.write("".join("  - %s\n" % m for m in msgs) + "\n")


def plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many
