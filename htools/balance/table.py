"""The state of a balancing run (htools' ``Table``, ``Placement``)."""
from __future__ import annotations

from htools.record import field, record
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Sequence, Tuple

from htools import moves as mv
from htools.model import Instance, Node


@record
class Placement:
    idx: int
    pnode: int
    snode: int
    move: mv.IMove
    score: float


@record
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
