"""Type stub of the compiled balancing step (htools/_balance.pyx)."""
from typing import Dict, List, Mapping, Optional, Tuple

from htools.balance import AlgorithmOptions
from htools.model import Instance, Node

#: (exact score, instance index, move kind (htools.moves), target node
#: index or -1 for a failover)
BestMove = Tuple[float, int, int, int]


class BalanceState:
    """One node group packed for hbal's balancing step.

    ``nodes``/``insts`` are a balancing table's node and instance maps
    (``balance.Table.nodes``/``.insts``); the movable, auto-balanced
    instances are the candidates.  Raises ``NotImplementedError`` for data
    it cannot represent exactly (use the pure-Python balancer then).
    """

    #: counters since construction
    n_evaluated: int
    n_feasible: int
    n_exact: int
    n_steps: int
    #: debugging: cross-check every candidate's shared-part evaluation
    #: against the full simulation; mismatches are counted in debug_errors
    debug: bool
    debug_errors: int

    def __init__(self, nodes: Mapping[int, Node], insts: Mapping[int, Instance],
                 opts: AlgorithmOptions) -> None: ...
    def best_move(self, cur_score: float) -> Optional[BestMove]:
        """The move ``balance.try_balance`` picks (its exact score strictly
        below ``cur_score``), ignoring the min-gain rule; None if none."""
    def best_weighted(self, cur: float, costs, lam: float,
                      ratio: bool = ...) -> Optional[BestMove]:
        """The improving move with the best gain for its cost
        (``costs[inst_idx, kind]``): gain minus ``lam`` times the cost, or
        with ``ratio`` gain per cost; None if no move improves."""
    def top_weighted(self, cur: float, costs, lam: float, ratio: bool = ...,
                     k: int = ...) -> List[BestMove]:
        """The ``k`` improving moves with the best values (as
        :meth:`best_weighted`), best first, ties to the first found."""
    def apply(self, inst_idx: int, kind: int, target: int = ...) -> None:
        """Apply a move to the packed state."""
    def evaluate(self, inst_idx: int, kind: int, target: int = ...) -> Optional[float]:
        """Exact ``comp_cv`` after a move; None if a placement check fails."""
    def interval(self, inst_idx: int, kind: int,
                 target: int = ...) -> Optional[Tuple[float, float]]:
        """Rigorous bounds ``(lo, hi)`` of ``evaluate(...)``."""
    def score(self) -> float:
        """Exact ``comp_cv`` of the packed state."""
    def node_values(self, node_idx: int) -> List[float]:
        """The 20 per-node metric values (``metrics.NODE_VALUES``; the map
        metric's slot is 0.0)."""
    def map_value(self) -> int:
        """The location/exclusion map metric."""
    def instance_nodes(self, inst_idx: int) -> Tuple[int, int, int]:
        """(primary, secondary or -1, location score) of a candidate."""
    @property
    def n_candidates(self) -> int: ...
    def counters(self) -> Dict[str, int]: ...
    def _debug_candidate(self, inst_idx: int, kind: int, target: int
                         ) -> Tuple[Optional[dict], Optional[dict]]: ...
