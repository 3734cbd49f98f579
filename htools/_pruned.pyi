"""Type stub of the compiled pruned balancing search (htools/_pruned.pyx)."""
from typing import Dict, List, Optional, Tuple

from htools._balance import BalanceState, BestMove


class PrunedBalanceState(BalanceState):
    """:class:`~htools._balance.BalanceState` with ``hbal --search=pruned``."""

    #: pruned search (hbal --search=pruned) tuning: victim pairs and
    #: targets per role at level 0 (doubled per level), probe pairs per
    #: role, searches between full refreshes of the pair values, pool size
    #: and pool entries re-evaluated per search
    pr_victims: int
    pr_targets: int
    pr_probes: int
    pr_refresh: int
    pr_pool: int
    pr_pool_eval: int

    def best_move_pruned(self, cur_score: float, level: int = ...) -> Optional[BestMove]:
        """A move from the pruned neighbourhood of width ``level`` (exact
        score strictly below ``cur_score``), or None."""
    def pruned_full(self, level: int) -> bool:
        """Whether ``level``'s neighbourhood is the full one."""
    def pruned_work(self, level: int) -> int:
        """Pair-target combinations tried at ``level`` (an upper bound)."""
    @property
    def pool_size(self) -> int: ...
    def _pairs(self) -> List[Tuple[int, int, float]]: ...
    def _targets(self, role: int) -> Dict[int, float]: ...
