"""Cluster-wide queries shared by the tools (bad items, groups, splits)."""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Sequence, Tuple

from htools.loader import instance_group
from htools.model import Instance, Node


def bad_items(nodes: Sequence[Node]) -> Tuple[List[Node], List[int]]:
    """``computeBadItems`` without the instance look-up: online nodes failing
    N+1 and the sorted indices of all their primary/secondary instances
    (which need not be in the node set's own instance list)."""
    bad_nodes = [n for n in nodes if not n.offline and n.fail_n1]
    return bad_nodes, sorted({i for n in bad_nodes for i in n.s_list + n.p_list})


def split_cluster(nl: Mapping[int, Node], il: Mapping[int, Instance]
                  ) -> List[Tuple[int, Dict[int, Node], Dict[int, Instance]]]:
    """``splitCluster``: per group (ascending index) its nodes (by index)
    and the instances whose primary is among them (in ``il``'s order)."""
    by_group: Dict[int, Dict[int, Node]] = {}
    for k in sorted(nl):
        n = nl[k]
        by_group.setdefault(n.group, {})[k] = n
    return [(gdx, gnl, {i: inst for i, inst in il.items() if inst.pnode in gnl})
            for gdx, gnl in sorted(by_group.items())]


def split_cluster_lists(nodes: Sequence[Node], insts: Sequence[Instance]
                        ) -> List[Tuple[int, List[Node], List[Instance]]]:
    """:func:`split_cluster` of node and instance lists, as lists."""
    return [(gdx, list(gnl.values()), list(gil.values())) for gdx, gnl, gil in
            split_cluster({n.idx: n for n in nodes}, {i.idx: i for i in insts})]


def find_split_instances(nodes: Sequence[Node], insts: Sequence[Instance]) -> List[Instance]:
    return [i for i in insts if instance_group(nodes, i) is None]
