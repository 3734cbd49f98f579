"""Balancing: hbal's search for moves that lower the cluster score.

- :mod:`.table`: the state of a run (:class:`Table`); its options are
  :class:`htools.params.AlgorithmOptions`;
- :mod:`.search`: one step by exhaustive search in plain Python, the
  specification;
- :mod:`.compiled`: the same step on the compiled core (and the pruned
  search of ``hbal --search=pruned``);
- :mod:`.jobs`: the plan as printed lines, job sets and commands.

:func:`steps` is the one balancing loop (htools' ``iterateDepth``), used by
hbal, hroller, hcheck and hsqueeze.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Iterator, Optional, Tuple

from htools.balance.compiled import greedy_steps, make_scorer, try_balance
from htools.balance.jobs import (
    MoveJob, SolutionLine, format_cmds, involved_nodes, solution_line, split_jobs,
)
from htools.balance.table import Placement, Table, do_next_balance, total_free
from htools.params import AlgorithmOptions

__all__ = ["AlgorithmOptions", "Placement", "Table", "MoveJob", "SolutionLine",
           "steps", "do_next_balance", "total_free", "involved_nodes", "split_jobs",
           "format_cmds", "solution_line"]


def steps(algo: AlgorithmOptions, tbl: Table, max_rounds: int = -1,
          min_score: Optional[float] = None) -> Iterator[Tuple[Table, Table]]:
    """The balancing steps from ``tbl``: (state before, state after) each.

    Stops when no move is acceptable, after ``max_rounds`` moves (negative:
    no limit) or once the score is at most ``min_score`` (None: no bound).
    Each step is the compiled search where it applies, else the Python one.
    With ``algo.search == "optimal"`` the steps are those of
    :class:`htools.balance.path.OptimalRun` (whose ``summary()`` hbal prints).
    """
    if algo.search == "optimal":
        from htools.balance.path import OptimalRun
        return OptimalRun(algo, tbl, max_rounds, min_score)
    return greedy_steps(algo, tbl, max_rounds, min_score, make_scorer, try_balance)
