"""The ``--simulate`` backend: empty clusters built from short specs.

A spec is ``alloc_policy,node_count,disk,memory,cpus[,spindles[,excl]]``
(htools' ``Backend.Simu``).  Every spec becomes one node group; the groups
are numbered from 1 in the order of the spec list *as htools keeps it*: the
option parser prepends each ``--simulate`` value, so the last spec given on
the command line is group 1 (``htools.cli.options`` already stores
``node_sim`` in that reversed order, and :func:`load` takes it as is).

Group *g* is named ``group-%02d`` with UUID ``fake-uuid-%02d``; its nodes
are ``node-%02d-%03d`` (group, node number from 1); node-01-001 is the
master.  Every node gets the spec's memory as total and free memory (no
node memory), the disk as total and free disk, the CPU count as total CPUs
with one CPU reserved for the node OS, the spindle count (default 1) as
total spindles with no free spindles, and the exclusive-storage flag
(default False).  Sizes go through ``parse_unit``; counts and the flag are
read with Haskell's ``read`` rules and htools' messages.

The returned data is raw (no instances, default policies); the common
pipeline merges it.  Groups and nodes get 0-based indices here (htools
numbers them from 1; only the order matters to every output).
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Sequence, Tuple

from backends.text import sep_split
from htools.loader import LoadError
from htools.model import ClusterData, Group, Node
from htools.types import DEFAULT_IPOLICY, AllocPolicy
from htools.haskell.read import ReadError, try_read_int
from htools.units import parse_unit
from htools.haskell.show import show_string

_SPEC_ERROR = ("Invalid cluster specification, expected 6 comma-separated "
               "sections (allocation policy, node count, disk size, memory "
               "size, number of CPUs, spindles) but got %d: '%s'")

_APOL_ABBREV = {"p": AllocPolicy.PREFERRED, "a": AllocPolicy.LAST_RESORT,
                "u": AllocPolicy.UNALLOCABLE}


# ---------------------------------------------------------------- Read Bool

_HS_SPACE = " \t\n\r\f\v\xa0"


def _hs_isspace(c: str) -> bool:
    if c in _HS_SPACE:
        return True
    if ord(c) <= 0x377:
        return False
    import unicodedata
    return unicodedata.category(c) == "Zs"


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and _hs_isspace(s[i]):
        i += 1
    return i


def _lex_ident(s: str, i: int):
    """A GHC identifier token at ``i`` (after white space): (name, end)."""
    i = _skip_ws(s, i)
    if i < len(s) and (s[i].isalpha() or s[i] == "_"):
        j = i + 1
        while j < len(s) and (s[j].isalnum() or s[j] in "_'"):
            j += 1
        return s[i:j], j
    return None, i


def _reads_bool(s: str, i: int = 0, depth: int = 0) -> List[Tuple[bool, int]]:
    """``reads`` at type Bool (with GHC's optional parentheses)."""
    out: List[Tuple[bool, int]] = []
    name, end = _lex_ident(s, i)
    if name is not None:
        if name in ("True", "False"):
            out.append((name == "True", end))
        return out
    j = _skip_ws(s, i)
    if j < len(s) and s[j] == "(" and depth < 1000:
        for val, k in _reads_bool(s, j + 1, depth + 1):
            k2 = _skip_ws(s, k)
            if k2 < len(s) and s[k2] == ")":
                out.append((val, k2 + 1))
    return out


def try_read_bool(name: str, s: str) -> bool:
    """Ganeti's ``tryRead name s`` at type Bool."""
    res = _reads_bool(s)
    if len(res) == 1:
        val, end = res[0]
        if end == len(s):
            return val
        raise LoadError("%s: leftover characters when parsing '%s': '%s'"
                        % (name, s, s[end:]))
    raise LoadError("%s: cannot parse string '%s'" % (name, s))


# ---------------------------------------------------------------- specs

def _alloc_policy(raw: str) -> AllocPolicy:
    try:
        return AllocPolicy.from_raw(raw)
    except ValueError:
        pass
    if raw in _APOL_ABBREV:
        return _APOL_ABBREV[raw]
    # both alternatives failed: htools' mplus joins the two messages
    raise LoadError("Invalid string value for type AllocPolicy: %s; "
                    "Cannot parse AllocPolicy abbreviation '%s'"
                    % (show_string(raw), raw))


def _read_int(name: str, s: str) -> int:
    try:
        return try_read_int(name, s)
    except ReadError as err:
        raise LoadError(str(err)) from None


def _unit(name: str, s: str) -> int:
    try:
        return parse_unit(s)
    except ReadError as err:
        raise LoadError("%s: %s" % (name, err)) from None


def parse_desc(desc: str, fields: Sequence[str]):
    """htools' ``parseDesc``: (policy, count, disk, mem, cpu, spindles, excl)."""
    fields = list(fields)
    if len(fields) == 5:
        fields.append("1")
    if len(fields) == 6:
        fields.append("False")
    if len(fields) != 7:
        raise LoadError(_SPEC_ERROR % (len(fields), desc))
    a, n, d, m, c, s, exstor = fields
    apol = _alloc_policy(a)
    ncount = _read_int("node count", n)
    disk = _unit("disk size", d)
    mem = _unit("memory size", m)
    cpu = _read_int("cpu count", c)
    spindles = _read_int("spindles", s)
    excl = try_read_bool("exclusive storage", exstor)
    return apol, ncount, disk, mem, cpu, spindles, excl


def create_group(grp_index: int, spec: str) -> Tuple[Group, List[Node]]:
    """One simulated group (``grp_index`` counts from 1) and its nodes."""
    apol, ncount, disk, mem, cpu, spindles, excl = parse_desc(
        spec, sep_split(",", spec))
    nodes = []
    for idx in range(1, ncount + 1):
        node = Node("node-%02d-%03d" % (grp_index, idx), float(mem), 0, mem,
                    float(disk), disk, float(cpu), 1, False, spindles, 0,
                    grp_index - 1, excl)
        node.is_master = grp_index == 1 and idx == 1
        nodes.append(node)
    grp = Group(name="group-%02d" % grp_index, uuid="fake-uuid-%02d" % grp_index,
                alloc_policy=apol, networks=[], ipolicy=DEFAULT_IPOLICY, tags=[])
    grp.idx = grp_index - 1
    return grp, nodes


def load(specs: Sequence[str]) -> ClusterData:
    """Raw cluster data for the specs (in htools' ``optNodeSim`` order)."""
    groups: List[Group] = []
    nodes: List[Node] = []
    for pos, spec in enumerate(specs):
        grp, gnodes = create_group(pos + 1, spec)
        groups.append(grp)
        nodes.extend(gnodes)
    for idx, node in enumerate(nodes):
        node.idx = idx
    return ClusterData(groups=groups, nodes=nodes, instances=[], tags=[],
                       ipolicy=DEFAULT_IPOLICY)
