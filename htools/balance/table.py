"""The state of a balancing run and its options (htools' ``Table``, ``AlgorithmOptions``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

from htools import moves as mv
from htools.model import Instance, Node


@dataclass
class AlgorithmOptions:
    disk_moves: bool = True
    instance_moves: bool = True
    restricted_migration: bool = False
    ignore_soft_errors: bool = False
    evac_mode: bool = False
    min_gain: float = 0.01
    min_gain_limit: float = 0.1
    #: "exhaustive" (htools' search, the default) or "pruned" (hbal
    #: --search=pruned: :func:`htools.balance.compiled.try_balance`)
    search: str = "exhaustive"

    @classmethod
    def from_cli(cls, opts) -> "AlgorithmOptions":
        return cls(disk_moves=getattr(opts, "disk_moves", True),
                   instance_moves=getattr(opts, "inst_moves", True),
                   restricted_migration=getattr(opts, "restricted_migrate", False),
                   ignore_soft_errors=getattr(opts, "ignore_soft_errors", False),
                   evac_mode=getattr(opts, "evac_mode", False),
                   min_gain=getattr(opts, "min_gain", 0.01),
                   min_gain_limit=getattr(opts, "min_gain_limit", 0.1),
                   search=getattr(opts, "search", "exhaustive"))


@dataclass
class Placement:
    idx: int
    pnode: int
    snode: int
    move: mv.IMove
    score: float


@dataclass
class Table:
    """A cluster state during balancing: nodes and instances by index."""

    nodes: Dict[int, Node]
    insts: Dict[int, Instance]
    score: float
    plc: List[Placement] = field(default_factory=list)


def do_next_balance(tbl: Table, max_rounds: int, min_score: float) -> bool:
    return (max_rounds < 0 or len(tbl.plc) < max_rounds) and tbl.score > min_score


def total_free(nodes: Sequence[Node]) -> Tuple[int, int]:
    """Free memory and disk of a node list (htools' csFmem, csFdsk)."""
    return (sum(n.unallocated_mem() for n in nodes), sum(n.f_dsk for n in nodes))
