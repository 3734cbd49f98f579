"""The options of htools' algorithms, in one record (Ganeti's ``AlgorithmParams``).

Balancing (hbal, hroller, hcheck, hsqueeze) reads the move options and the
gain thresholds; allocation and evacuation (hail, hspace) the capacity
options.  :meth:`AlgorithmOptions.from_cli` takes them from parsed
command-line options, with htools' defaults for what a program lacks.
"""
from __future__ import annotations

import os
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

from htools.errors import HtoolsError
from htools.record import record, replace


@record
class AlgorithmOptions:
    # balancing: the moves allowed
    disk_moves: bool = True
    instance_moves: bool = True
    restricted_migration: bool = False
    #: placement checks' soft errors (cpu ratio, disk/spindle limits, ...) ignored
    ignore_soft_errors: bool = False
    #: balancing: only instances with an offline node move (hbal -E)
    evac_mode: bool = False
    #: balancing: the minimum gain of a step and the score under which it applies
    min_gain: float = 0.01
    min_gain_limit: float = 0.1
    #: balancing: "exhaustive" (htools' search, the default) or "pruned"
    #: (hbal --search=pruned: :mod:`htools.balance.compiled`)
    search: str = "exhaustive"
    #: balancing: threads evaluating candidates (the result never depends on it)
    threads: int = 1
    #: hbal --search=optimal: its knobs (the arguments of
    #: :class:`htools.balance.optimal.OptimalOptions`)
    optimal: Optional[dict] = None
    # allocation
    #: check the global N+1 capacity when allocating (hspace/hail --no-capacity-checks)
    capacity: bool = True
    #: only these nodes are allocation targets (hail --restrict-allocation-to)
    restrict_to_nodes: Optional[List[str]] = None
    #: existing instances count as allocatable (hspace --accept-existing-errors)
    accept_existing: bool = False
    #: groups whose capacity the allocation may ignore
    capacity_ignore_groups: Tuple[int, ...] = ()

    @classmethod
    def from_cli(cls, opts) -> "AlgorithmOptions":
        """``AlgorithmParams.fromCLIOptions``."""
        return cls(
            disk_moves=getattr(opts, "disk_moves", True),
            instance_moves=getattr(opts, "inst_moves", True),
            restricted_migration=getattr(opts, "restricted_migrate", False),
            ignore_soft_errors=bool(getattr(opts, "ignore_soft_errors", False)),
            evac_mode=getattr(opts, "evac_mode", False),
            min_gain=getattr(opts, "min_gain", 0.01),
            min_gain_limit=getattr(opts, "min_gain_limit", 0.1),
            search=getattr(opts, "search", "exhaustive"),
            threads=getattr(opts, "threads", None) or 1,
            optimal=_optimal_options(opts),
            capacity=bool(getattr(opts, "capacity", True)),
            restrict_to_nodes=getattr(opts, "restrict_to_nodes", None),
            accept_existing=bool(getattr(opts, "accept_existing", False)),
        )

    def replace(self, **kw) -> "AlgorithmOptions":
        return replace(self, **kw)


def thread_count(requested: Optional[int] = None) -> int:
    """Threads for candidate evaluation: ``requested`` (``--threads``),
    else ``$HTOOLS_THREADS``, else the CPUs this process may run on."""
    if requested is not None:
        return requested
    env = os.environ.get("HTOOLS_THREADS", "")
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise HtoolsError("Invalid value of HTOOLS_THREADS '%s' (expected "
                              "a positive integer)" % env)
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
def _optimal_options(opts):
    """The knobs of ``--search=optimal`` (None in the other modes), the
    arguments of :class:`htools.balance.optimal.OptimalOptions`."""
    if getattr(opts, "search", None) != "optimal":
        return None
    return dict(time_limit=opts.opt_time_limit, move_cost=opts.opt_move_cost,
                disk_cost=opts.opt_disk_cost, mem_cost=opts.opt_mem_cost,
                disk_budget=opts.opt_disk_budget)


#: htools' ``defaultOptions``
DEFAULT_OPTIONS = AlgorithmOptions()
