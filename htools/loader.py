"""Post-processing shared by all backends.

A backend returns raw :class:`ClusterData` (nodes and instances with their
reported figures and indices).  :func:`merge_data` then does what htools does
after every load: exclusion and location tags, movability, common-suffix
aliases, placing instances on their nodes, peer maps and group policies; and
:func:`update_missing` computes the memory statistics and the load warnings.
"""
from __future__ import annotations

import gc
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from htools.errors import HtoolsError
from htools.model import ClusterData, Instance, Node, hs_truncate
from htools.haskell.prelude import wrap_int64
from htools.types import NO_SECONDARY, DynUtil, Hypervisor, zero_util
from htools.haskell.show import show_string_list

EX_TAGS_PREFIX = "htools:iextags:"
STANDBY_PREFIX = "htools:standby:"
MIGRATION_PREFIX = "htools:migration:"
ALLOW_MIGRATION_PREFIX = "htools:allowmigration:"
LOCATION_PREFIX = "htools:nlocation:"
DESIRED_LOCATION_PREFIX = "htools:desiredlocation:"


class LoadError(HtoolsError):
    """A data set could not be loaded; the message is htools' own."""


class BulkLoad:
    """``with BulkLoad():`` around the loading of a cluster.

    Loading builds a large graph of objects and frees almost none of them,
    so the cyclic garbage collector finds nothing there while re-scanning
    the growing graph again and again (half of the parse time of a
    1000-node iallocator request).  It is paused while loading; the loaded
    objects then go to the permanent generation (``gc.freeze``), which the
    collections of the algorithms that follow skip."""

    __slots__ = ("enabled",)

    def __enter__(self) -> "BulkLoad":
        self.enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc) -> None:
        gc.freeze()
        if self.enabled:
            gc.enable()


# ---------------------------------------------------------------- name lookup

EXACT, MULTIPLE, PARTIAL, FAIL = 0, 1, 2, 3


def with_master(groups: List, nodes: List[Node], insts: List[Instance],
                tags: Sequence[str], ipolicy, ktn: Dict[str, int], master: str,
                hypervisor) -> ClusterData:
    """The raw cluster data of the live backends (Luxi, RAPI): the master
    marked (htools' ``setMaster``: "Master node X unknown" when it is not a
    node) and every node given the cluster's hypervisor."""
    if master not in ktn:
        raise LoadError("Master node %s unknown" % master)
    nodes[ktn[master]].is_master = True
    for node in nodes:
        node.hypervisor = hypervisor
    return ClusterData(groups=groups, nodes=nodes, instances=insts,
                       tags=list(tags), ipolicy=ipolicy)


def lookup_name(names: Sequence[str], key: str) -> Tuple[int, str]:
    """Look ``key`` up among ``names``: exact, or unique ``key.`` prefix.

    Returns (priority, content) where content is the canonical name on a
    good match and the lookup key otherwise.
    """
    result = (FAIL, key)
    for cand in reversed(names):
        if cand == key:
            new = (EXACT, cand)
        elif cand.startswith(key + "."):
            new = (PARTIAL, cand)
        else:
            new = (FAIL, key)
        if new[0] == EXACT:
            result = new
        elif new[0] == PARTIAL and result[0] == PARTIAL:
            result = (MULTIPLE, key)
        else:
            result = min(new, result, key=lambda r: r[0])
    return result


def good_lookup(res: Tuple[int, str]) -> bool:
    return res[0] in (EXACT, PARTIAL)


# ---------------------------------------------------------------- tag helpers

def chomp_prefix(prefix: str, s: str) -> Optional[str]:
    if s.startswith(prefix) or s == prefix[:-1]:
        return s[len(prefix):]
    return None


def extract_ex_tags(ctags: Iterable[str]) -> List[str]:
    out = []
    for t in ctags:
        v = chomp_prefix(EX_TAGS_PREFIX, t)
        if v:
            out.append(v)
    return out


def extract_desired_locations(ctags: Iterable[str]) -> List[str]:
    out = []
    for t in ctags:
        v = chomp_prefix(DESIRED_LOCATION_PREFIX, t)
        if v:
            out.append(v)
    return out


def _get_tags(prefix: str, ctags: Sequence[str], ntags: Sequence[str]) -> frozenset:
    out = set()
    for ct in ctags:
        if ct.startswith(prefix):
            p = ct[len(prefix):] + ":"
            out.update(t for t in ntags if t.startswith(p))
    return frozenset(out)


def get_locations(ctags, ntags) -> frozenset:
    return _get_tags(LOCATION_PREFIX, ctags, ntags)


def get_mig_restrictions(ctags, ntags) -> frozenset:
    return _get_tags(MIGRATION_PREFIX, ctags, ntags)


def _split_at_colons(s: str) -> Optional[Tuple[str, str]]:
    pos = s.find("::")
    if pos < 0:
        return None
    rest = s[pos + 2:]
    if "::" in rest:
        return None
    return s[:pos], rest


def get_recv_mig_restrictions(ctags, ntags) -> frozenset:
    migs = []
    for ct in ctags:
        if ct.startswith(ALLOW_MIGRATION_PREFIX):
            pair = _split_at_colons(ct[len(ALLOW_MIGRATION_PREFIX):])
            if pair is not None:
                migs.append(pair)
    out = set()
    for tag in get_mig_restrictions(ctags, ntags):
        out.add(tag)
        out.update(a for a, b in migs if b == tag)
    return frozenset(out)


def longest_domain(names: Sequence[str]) -> str:
    if not names:
        return ""
    first, rest = names[0], names[1:]
    best = ""
    # candidate suffixes of the first name starting with '.', longest first
    for pos in range(len(first)):
        if first[pos] == ".":
            suffix = first[pos:]
            if all(n.endswith(suffix) for n in rest):
                return suffix
    return best


def common_suffix(cdata: ClusterData) -> str:
    return longest_domain([n.name for n in cdata.nodes]
                          + [i.name for i in cdata.instances])


def _alias(name: str, dom: str) -> str:
    return name[:len(name) - len(dom)] if dom else name


def instance_group(nodes: Sequence[Node], inst: Instance) -> Optional[int]:
    """The group of an instance, or None if it is split across groups."""
    pgroup = nodes[inst.pnode].group
    if inst.snode == NO_SECONDARY:
        return pgroup
    return pgroup if nodes[inst.snode].group == pgroup else None


# ---------------------------------------------------------------- merge

def merge_data(cdata: ClusterData,
               util: Sequence[Tuple[str, DynUtil]] = (),
               ex_tags: Sequence[str] = (),
               sel_insts: Sequence[str] = (),
               ex_insts: Sequence[str] = ()) -> ClusterData:
    """Finish a freshly loaded data set (htools' ``mergeData``)."""
    nodes, insts, ctags = cdata.nodes, cdata.instances, cdata.tags
    by_name: Dict[str, Instance] = {}
    for inst in insts:
        by_name.setdefault(inst.name, inst)
        by_name.setdefault(inst.alias, inst)
    for name, u in util:
        inst = by_name.get(name)
        if inst is not None:
            inst.util = u
    allextags = list(ex_tags) + extract_ex_tags(ctags)
    dsrd = extract_desired_locations(ctags)
    inst_names = [i.name for i in insts]
    sel_lkp = [lookup_name(inst_names, s) for s in sel_insts]
    ex_lkp = [lookup_name(inst_names, s) for s in ex_insts]
    unknown = [r[1] for r in sel_lkp + ex_lkp if not good_lookup(r)]
    sel_names = {r[1] for r in sel_lkp}
    ex_names = {r[1] for r in ex_lkp}
    suffix = longest_domain([n.name for n in nodes] + inst_names)
    for inst in insts:
        if inst.name in ex_names or (sel_lkp and inst.name not in sel_names):
            inst.movable = False
        inst.dsrd_loc_tags = frozenset(
            t for t in inst.tags if any(t.startswith(p) for p in dsrd))
        inst.excl_tags = [t for t in inst.tags
                          if any(t.startswith(p) for p in allextags)]
        inst.alias = _alias(inst.name, suffix)
    for node in nodes:
        node.location_tags = get_locations(ctags, node.tags)
    for inst in insts:
        if inst.snode == NO_SECONDARY or not (0 <= inst.snode < len(nodes)):
            inst.location_score = 0
        else:
            inst.location_score = len(nodes[inst.pnode].location_tags
                                      & nodes[inst.snode].location_tags)
    for inst in insts:
        # htools' fixNodes takes the secondary's state from *before* the
        # primary was set: an instance (not DRBD, which is refused when
        # loading) with the same node as primary and secondary ends up as
        # that node's secondary only
        if inst.snode != inst.pnode:
            nodes[inst.pnode].set_pri(inst)
        if inst.snode != NO_SECONDARY:
            nodes[inst.snode].set_sec(inst)
    groups = cdata.groups
    for node in nodes:
        node.build_peers(insts)
        node.alias = _alias(node.name, suffix)
        node.set_policy(groups[node.group].ipolicy)
    for inst in insts:
        if instance_group(nodes, inst) is None:
            inst.movable = False
    for node in nodes:
        node.mig_tags = get_mig_restrictions(ctags, node.tags)
        node.rmig_tags = get_recv_mig_restrictions(ctags, node.tags)
    if unknown:
        raise LoadError("Unknown instance(s): %s" % show_string_list(unknown))
    return cdata


def clear_dynu(cdata: ClusterData) -> None:
    for inst in cdata.instances:
        inst.util = zero_util()


# ---------------------------------------------------------------- memory stats

def node_imem(node: Node, insts: Sequence[Instance]) -> int:
    return wrap_int64(sum(insts[i].mem for i in node.p_list
                          if insts[i].uses_memory))


def node_idsk(node: Node, insts: Sequence[Instance]) -> int:
    return wrap_int64(sum(insts[i].dsk for i in node.p_list + node.s_list))


def update_missing(cdata: ClusterData, static_node_mem: int) -> List[str]:
    """Compute i_mem/x_mem/p_mem; return the inconsistency warnings."""
    msgs: List[str] = []
    insts = cdata.instances
    for node in cdata.nodes:
        if static_node_mem > 0 and node.hypervisor == Hypervisor.KVM:
            node.n_mem = static_node_mem
        node.i_mem = node_imem(node, insts)
        node.x_mem = node.missing_mem()
        node.p_mem = node.unallocated_mem() / node.t_mem if node.t_mem else (
            float("nan") if node.unallocated_mem() == 0 else
            (float("inf") if node.unallocated_mem() > 0 else float("-inf")))
        delta_mem = node.x_mem
        delta_dsk = wrap_int64(hs_truncate(node.t_dsk) - node.f_dsk
                               - node_idsk(node, insts))
        if delta_mem > 512 or delta_dsk > 1024:
            msgs.append("node %s is missing %d MB ram and %d GB disk"
                        % (node.name, delta_mem, delta_dsk // 1024))
    # htools accumulates the messages by prepending
    msgs.reverse()
    return msgs
