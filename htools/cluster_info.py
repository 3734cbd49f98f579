"""Cluster-wide queries shared by the tools (bad items, groups, splits)."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from htools.loader import instance_group
from htools.model import Instance, Node


def bad_items(nodes: Sequence[Node]) -> Tuple[List[Node], List[int]]:
    """``computeBadItems`` without the instance look-up: online nodes failing
    N+1 and the sorted indices of all their primary/secondary instances
    (which need not be in the node set's own instance list)."""
    bad_nodes = [n for n in nodes if not n.offline and n.fail_n1]
    return bad_nodes, sorted({i for n in bad_nodes for i in n.s_list + n.p_list})


def split_cluster(nodes: Sequence[Node], insts: Sequence[Instance]
                  ) -> List[Tuple[int, List[Node], List[Instance]]]:
    """Per group (by index): its nodes and the instances whose primary is there."""
    by_group: Dict[int, List[Node]] = {}
    for n in nodes:
        by_group.setdefault(n.group, []).append(n)
    out = []
    for gdx in sorted(by_group):
        gnodes = by_group[gdx]
        nidx = {n.idx for n in gnodes}
        out.append((gdx, gnodes, [i for i in insts if i.pnode in nidx]))
    return out


def find_split_instances(nodes: Sequence[Node], insts: Sequence[Instance]) -> List[Instance]:
    return [i for i in insts if instance_group(nodes, i) is None]
