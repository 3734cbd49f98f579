"""hroller's algorithm: node graph, colourings and reboot-group computation.

Mirrors Ganeti 3.0.2 ``HTools.Graph``, ``Node.mkNodeGraph`` /
``Node.mkRebootNodeGraph`` and ``Program.Hroller`` exactly, including the
orders and tie-breaks that decide which groups come out:

* the graph is ``Data.Graph.buildG`` over the index range ``[min, max]`` of
  the selected nodes: every index in that range is a vertex (also nodes that
  were filtered out - they are isolated); adjacency lists hold the edge
  targets in *reverse* order of the edge list, duplicates included (degrees
  count them);
* LF colours the vertices by degree descending, equal degrees by index
  descending (``foldr`` over a stable ascending sort);
* Dsatur/Dcolor pick the maximum of (saturation|coloured-neighbour count,
  degree) and among ties the *highest* index (``maximumBy`` keeps the last);
* the smallest colouring wins, the first of LF, Dsatur, Dcolor on ties.

The cluster configuration is a copy-on-write overlay (:class:`Conf`) over
the loaded nodes and instances, with an undo log so that failing
relocations can be rolled back cheaply.  The reference's quirks are kept:
``replaceSecondary`` stores the *primary* node (minus the instance as
secondary) at the old secondary's index, moves are forced (``addPriEx
True``) and reported relative to the original configuration.
"""
from __future__ import annotations

import heapq
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

from htools.model import Instance, Node

__all__ = ["NodeGraph", "mk_node_graph", "color_lf", "color_dsatur",
           "color_dcolor", "color_vert_map", "COLOR_ALGORITHMS", "get_stats",
           "Conf", "RollerError", "reboot_groups", "master_last", "get_moves",
           "RollerResult", "compute"]

_MISSING = object()


class RollerError(Exception):
    """One of hroller's fatal errors (message without the ``Error:``)."""


# ----------------------------------------------------------------- graph

class NodeGraph:
    """``Data.Graph.Graph``: vertices ``lo..hi``, adjacency lists."""

    __slots__ = ("lo", "hi", "adj")

    def __init__(self, lo: int, hi: int, adj: Dict[int, List[int]]) -> None:
        self.lo = lo
        self.hi = hi
        self.adj = adj

    def vertices(self) -> range:
        return range(self.lo, self.hi + 1)

    def degree(self, v: int) -> int:
        return len(self.adj[v])

    def show(self) -> str:
        """Haskell's ``show`` of the array."""
        return "array (%d,%d) [%s]" % (
            self.lo, self.hi,
            ",".join("(%d,[%s])" % (v, ",".join(map(str, self.adj[v])))
                     for v in self.vertices()))

    def to_networkx(self):
        """The graph as a ``networkx.MultiGraph`` (for analysis only)."""
        import networkx as nx
        g = nx.MultiDiGraph()
        g.add_nodes_from(self.vertices())
        for v in self.vertices():
            for u in self.adj[v]:
                g.add_edge(v, u)
        return g


def _instance_edges(insts: Sequence[Instance]) -> List[Tuple[int, int]]:
    edges = []
    for inst in insts:
        if inst.has_secondary:
            edges.append((inst.pnode, inst.snode))
            edges.append((inst.snode, inst.pnode))
    return edges


def mk_node_graph(all_nodes: Sequence[Node], selected: Dict[int, Node],
                  insts: Dict[int, Instance], reboot: bool) -> Optional[NodeGraph]:
    """``mkRebootNodeGraph`` (``reboot``) or ``mkNodeGraph``; None if empty.

    ``all_nodes`` in index order, ``insts`` by index.
    """
    if not selected:
        return None
    ilist = [insts[i] for i in sorted(insts)]
    edges = _instance_edges(ilist)
    if reboot:
        # Data.List.union: xs ++ (nub ys \\ xs)
        have = set(edges)
        seen = set()
        extra = []
        for node in all_nodes:
            prims = [insts[i].pnode for i in node.s_list]
            if not prims:
                continue
            for a in prims:
                for b in prims:
                    e = (a, b)
                    if e in seen:
                        continue
                    seen.add(e)
                    if e not in have:
                        extra.append(e)
        edges = edges + extra
    lo, hi = min(selected), max(selected)
    adj: Dict[int, List[int]] = {v: [] for v in range(lo, hi + 1)}
    for x, y in edges:
        if x in selected and y in selected:
            adj[x].append(y)
    for v in adj:
        adj[v].reverse()
    return NodeGraph(lo, hi, adj)


# ----------------------------------------------------------------- colouring

def _color_node(g: NodeGraph, cmap: Dict[int, int], v: int) -> int:
    used = {cmap[u] for u in g.adj[v] if u in cmap}
    c = 0
    while c in used:
        c += 1
    return c


def color_lf(g: NodeGraph) -> Dict[int, int]:
    """``colorLF``: largest degree first, ties by index descending."""
    order = sorted(g.vertices(), key=lambda v: (-len(g.adj[v]), -v))
    cmap: Dict[int, int] = {}
    for v in order:
        cmap[v] = _color_node(g, cmap, v)
    return cmap


def _color_dynamic(g: NodeGraph, saturation: bool) -> Dict[int, int]:
    """``colorDynamicOrder`` with ``vertexSaturation`` or ``vertexColorDegree``.

    Keys only grow, so a lazy max-heap gives the reference's choice: the
    maximum (key, degree) and among equal ones the highest vertex.
    """
    radj: Dict[int, List[int]] = {v: [] for v in g.vertices()}
    for v in g.vertices():
        for u in g.adj[v]:
            radj[u].append(v)
    deg = {v: len(g.adj[v]) for v in g.vertices()}
    key = {v: 0 for v in g.vertices()}
    sets: Dict[int, set] = {v: set() for v in g.vertices()} if saturation else {}
    heap = [(0, -deg[v], -v) for v in g.vertices()]
    heapq.heapify(heap)
    cmap: Dict[int, int] = {}
    while heap:
        k, _, nv = heapq.heappop(heap)
        v = -nv
        if v in cmap or -k != key[v]:
            continue
        c = _color_node(g, cmap, v)
        cmap[v] = c
        for w in radj[v]:
            if w in cmap:
                continue
            if saturation:
                s = sets[w]
                if c in s:
                    continue
                s.add(c)
                key[w] = len(s)
            else:
                key[w] += 1
            heapq.heappush(heap, (-key[w], -deg[w], -w))
    return cmap


def color_dsatur(g: NodeGraph) -> Dict[int, int]:
    return _color_dynamic(g, True)


def color_dcolor(g: NodeGraph) -> Dict[int, int]:
    return _color_dynamic(g, False)


COLOR_ALGORITHMS: Tuple[Tuple[str, Callable[[NodeGraph], Dict[int, int]]], ...] = (
    ("LF", color_lf), ("Dsatur", color_dsatur), ("Dcolor", color_dcolor))


def color_vert_map(vcmap: Dict[int, int]) -> List[List[int]]:
    """``IntMap.elems . colorVertMap``: classes by colour, vertices ascending."""
    classes: Dict[int, List[int]] = {}
    for v in sorted(vcmap):
        classes.setdefault(vcmap[v], []).append(v)
    return [classes[c] for c in sorted(classes)]


def get_stats(colorings: Sequence[Tuple[str, List[List[int]]]]) -> str:
    """``getStats``: smallest first; equal sizes in reverse algorithm order."""
    by_size = sorted(colorings, key=lambda c: -len(c[1]))  # stable
    out = ""
    old = 0
    for name, classes in reversed(by_size):
        stat = "%s: %d (%s)" % (name, len(classes),
                                ",".join(str(len(c)) for c in classes))
        size = len(classes)
        if old == 0:
            out = stat
        elif old == size:
            out += " TIE " + stat
        else:
            out += " LOOSE " + stat
        old = size
    return out


# ----------------------------------------------------------------- configuration

class Conf:
    """(Node.List, Instance.List) as an overlay over the loaded data."""

    __slots__ = ("base_nl", "base_il", "nl", "il", "log", "group_changed")

    def __init__(self, base_nl: Dict[int, Node], base_il: Dict[int, Instance],
                 nl: Optional[dict] = None, il: Optional[dict] = None) -> None:
        self.base_nl = base_nl
        self.base_il = base_il
        self.nl = nl if nl is not None else {}
        self.il = il if il is not None else {}
        self.log: List[Tuple[dict, int, object]] = []
        self.group_changed = False

    def fork(self) -> "Conf":
        c = Conf(self.base_nl, self.base_il, dict(self.nl), dict(self.il))
        c.group_changed = self.group_changed
        return c

    def node(self, k: int) -> Node:
        n = self.nl.get(k)
        return n if n is not None else self.base_nl[k]

    def inst(self, k: int) -> Instance:
        i = self.il.get(k)
        return i if i is not None else self.base_il[k]

    def _set(self, d: dict, k: int, v) -> None:
        self.log.append((d, k, d.get(k, _MISSING)))
        d[k] = v

    def set_node(self, k: int, n: Node) -> None:
        if n.group != self.base_nl[k].group:
            self.group_changed = True   # sticky, also across rollbacks
        self._set(self.nl, k, n)

    def set_inst(self, k: int, i: Instance) -> None:
        self._set(self.il, k, i)

    def mark(self) -> int:
        return len(self.log)

    def rollback(self, mark: int) -> None:
        log = self.log
        while len(log) > mark:
            d, k, old = log.pop()
            if old is _MISSING:
                del d[k]
            else:
                d[k] = old

    def commit(self) -> None:
        self.log = []

    def changed_instances(self) -> List[int]:
        return sorted(self.il)


def _with_nodes(inst: Instance, pnode: int, snode: int) -> Instance:
    new = inst.copy()
    new.pnode = pnode
    new.snode = snode
    return new


def _move(idx: int, new_ndx: int, conf: Conf) -> bool:
    """Hroller ``move``: forced primary move of a non-redundant instance."""
    inst = conf.inst(idx)
    old_ndx = inst.pnode
    new_node = conf.node(new_ndx).add_pri(inst, True)
    if not isinstance(new_node, Node):
        return False
    old_node = conf.node(old_ndx).remove_pri(inst)
    conf.set_node(new_ndx, new_node)      # Container.addTwo: first key wins
    conf.set_node(old_ndx, old_node)
    conf.set_inst(idx, _with_nodes(inst, new_ndx, inst.snode))
    return True


def _locate_instances(idxs: Sequence[int], ndxs: Sequence[int], conf: Conf) -> bool:
    for idx in idxs:
        for n in ndxs:
            if _move(idx, n, conf):
                break
        else:
            return False
    return True


def _replace_secondary(idx: int, new_ndx: int, conf: Conf) -> bool:
    inst = conf.inst(idx)
    old_ndx = inst.snode
    pdx = inst.pnode
    if pdx == new_ndx:
        return False
    new_sec = conf.node(new_ndx).add_sec(inst, pdx, True)
    if not isinstance(new_sec, Node):
        return False
    # reference quirk: the "old secondary" is looked up at the primary index
    old_sec = conf.node(pdx).remove_sec(inst)
    conf.set_node(new_ndx, new_sec)
    conf.set_node(old_ndx, old_sec)
    conf.set_inst(idx, _with_nodes(inst, pdx, new_ndx))
    return True


def _find_secondaries(idxs: Sequence[int], ndxs: Sequence[int], conf: Conf) -> bool:
    for idx in idxs:
        for n in ndxs:
            if _replace_secondary(idx, n, conf):
                break
        else:
            return False
    return True


def _migrate(idx: int, conf: Conf) -> bool:
    inst = conf.inst(idx)
    pdx, sdx = inst.pnode, inst.snode
    p1 = conf.node(pdx).remove_pri(inst)
    s1 = conf.node(sdx).remove_sec(inst)
    s2 = s1.add_pri(inst, True)
    if not isinstance(s2, Node):
        return False
    p2 = p1.add_sec(inst, sdx, True)
    if not isinstance(p2, Node):
        return False
    conf.set_node(sdx, s2)
    conf.set_node(pdx, p2)
    conf.set_inst(idx, _with_nodes(inst, sdx, pdx))
    return True


def _non_redundant(conf: Conf, ndx: int) -> List[int]:
    return [i for i in conf.node(ndx).p_list if not conf.inst(i).has_secondary]


def _primaries(conf: Conf, ndx: int) -> List[int]:
    return [i for i in conf.node(ndx).p_list if conf.inst(i).has_secondary]


def _secondaries(conf: Conf, ndx: int) -> List[int]:
    return list(conf.node(ndx).s_list)


def _greedy_clear(get_insts, relocate, ndxs: Sequence[int], targets: List[int],
                  conf: Conf) -> List[int]:
    """``greedyClearNodes`` (mutates ``conf``); the cleared nodes."""
    cleared = []
    # Fast path: the targets split by group, kept in order.  Valid while no
    # node changed its group (only replaceSecondary's quirk can do that, for
    # instances spanning groups); otherwise the reference's filter is used.
    by_group: Dict[int, List[int]] = {}
    for t in targets:
        by_group.setdefault(conf.node(t).group, []).append(t)
    targets = list(targets)
    for ndx in ndxs:
        grp = conf.node(ndx).group
        if conf.group_changed:
            others = list(targets)
            if ndx in others:
                others.remove(ndx)
            same = [t for t in others if conf.node(t).group == grp]
        else:
            same = [t for t in by_group.get(grp, ()) if t != ndx]
        mark = conf.mark()
        if relocate(get_insts(conf, ndx), same, conf):
            cleared.append(ndx)
            if ndx in targets:
                targets.remove(ndx)
                lst = by_group.get(conf.base_nl[ndx].group)
                if lst is not None and ndx in lst:
                    lst.remove(ndx)
        else:
            conf.rollback(mark)
    conf.commit()
    return cleared


def _partition(get_insts, relocate, ndxs: Sequence[int], targets: List[int],
               conf: Conf) -> Optional[List[Tuple[List[int], Conf]]]:
    """``partitionNodes``; None when some node cannot be cleared at all."""
    out = []
    ndxs = list(ndxs)
    while ndxs:
        c = conf.fork()
        grp = _greedy_clear(get_insts, relocate, ndxs, targets, c)
        if not grp:
            return None
        out.append((grp, c))
        gs = set(grp)
        ndxs = [x for x in ndxs if x not in gs]
    return out


def _migrate_off(ndxs: Sequence[int], conf: Conf) -> Optional[Conf]:
    c = conf.fork()
    idxs = [i for n in ndxs for i in _primaries(c, n)]
    for idx in idxs:
        if not _migrate(idx, c):
            return None
    c.commit()
    return c


def reboot_groups(coloring: List[List[int]], all_ndx: List[int], conf: Conf,
                  ignore_non_redundant: bool, full_evacuation: bool
                  ) -> List[Tuple[List[int], Conf]]:
    """Split the colour classes as hroller does; raises :class:`RollerError`."""
    if ignore_non_redundant:
        groups = [(list(c), conf) for c in coloring]
    else:
        groups = []
        for cls in coloring:
            part = _partition(_non_redundant, _locate_instances, cls, all_ndx, conf)
            if part is None:
                raise RollerError("Not enough capacity to move non-redundant instances")
            groups.extend(part)
    if not full_evacuation:
        return groups
    migrated = []
    for ndxs, c in groups:
        m = _migrate_off(ndxs, c)
        if m is None:
            raise RollerError("Failed to migrate instances off nodes")
        migrated.append((ndxs, m))
    out = []
    for ndxs, c in migrated:
        part = _partition(_secondaries, _find_secondaries, ndxs, all_ndx, c)
        if part is None:
            raise RollerError("Not enough capacity to move secondaries")
        out.extend(part)
    return out


def master_last(groups: List[Tuple[List[Node], object]]) -> List[Tuple[List[Node], object]]:
    """``masterLast``: the group with the master last, the master at its end."""
    split = [([n for n in ns if not n.is_master], [n for n in ns if n.is_master], x)
             for ns, x in groups]
    ordered = [g for g in split if not g[1]] + [g for g in split if g[1]]
    return [(a + b, x) for a, b, x in ordered]


def get_moves(conf: Conf) -> List[Tuple[Instance, Node, Optional[Node]]]:
    """``getMoves (nlf, ilf) conf``: moved instances, swaps excluded."""
    out = []
    for ix in conf.changed_instances():
        inst = conf.base_il[ix]
        new = conf.il[ix]
        has_sec = inst.has_secondary
        if not (inst.pnode != new.pnode or (has_sec and inst.snode != new.snode)):
            continue
        if new.pnode == inst.snode and new.snode == inst.pnode:
            continue
        out.append((new, conf.node(new.pnode),
                    conf.node(new.snode) if has_sec else None))
    return out


# ----------------------------------------------------------------- driver

class RollerResult:
    """Everything hroller computes, for printing or JSON."""

    def __init__(self, graph: NodeGraph,
                 colorings: List[Tuple[str, List[List[int]]]],
                 groups: List[Tuple[List[Node], Conf]]) -> None:
        self.graph = graph
        self.colorings = colorings
        self.groups = groups

    @property
    def stats(self) -> str:
        return get_stats(self.colorings)

    def chosen(self) -> str:
        best = min(self.colorings, key=lambda c: len(c[1]))  # first minimum
        return best[0]


def select_nodes(nodes: Sequence[Node], insts: Dict[int, Instance],
                 group_idx: Optional[int], node_tags: Optional[Sequence[str]],
                 skip_non_redundant: bool) -> Dict[int, Node]:
    sel: Dict[int, Node] = {}
    tags = set(node_tags) if node_tags is not None else None
    for n in nodes:
        if n.offline:
            continue
        if skip_non_redundant and any(not insts[i].has_secondary for i in n.p_list):
            continue
        if tags is not None and not tags.intersection(n.tags):
            continue
        if group_idx is not None and n.group != group_idx:
            continue
        sel[n.idx] = n
    return sel


def build_graph(nodes: Sequence[Node], insts: Dict[int, Instance],
                selected: Dict[int, Node], offline_maintenance: bool
                ) -> Optional[NodeGraph]:
    return mk_node_graph(nodes, selected, insts, not offline_maintenance)


def compute(nodes: Sequence[Node], insts: Dict[int, Instance],
            selected: Dict[int, Node], graph: NodeGraph,
            ignore_non_redundant: bool, full_evacuation: bool) -> RollerResult:
    """Colourings, splitting and ordering; raises :class:`RollerError`."""
    colorings = [(name, color_vert_map(fn(graph))) for name, fn in COLOR_ALGORITHMS]
    smallest = min(colorings, key=lambda c: len(c[1]))[1]
    base_nl = {n.idx: n for n in nodes}
    all_ndx = [n.idx for n in nodes if not n.offline]
    conf = Conf(base_nl, insts)
    groups = reboot_groups(smallest, all_ndx, conf, ignore_non_redundant,
                           full_evacuation)
    named = [([selected[i] for i in ndxs if i in selected], c) for ndxs, c in groups]
    named.sort(key=lambda g: -len(g[0]))  # stable, size descending
    return RollerResult(graph, colorings, master_last(named))
