"""The htools cluster score, written plainly: the executable specification.

Twenty metrics, each a statistic over per-node values; the score is their
weighted sum.  Standard deviations are population deviations computed in two
passes (mean, then squared deviations) over the nodes in index order, and
sums are left folds, exactly as htools computes them, so the floating-point
results agree bit for bit.  The compiled core (``htools._core``) must agree
with this module; property tests hold it to that.
"""
from __future__ import annotations

import math
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Sequence, Tuple

from htools.haskell.fmt import fmt_f
from htools.model import Node, compute_pdsk, pm_sum
from htools.haskell.prelude import fdiv

RESERVED_MEM_RTOTAL_COEFF = 0.25

# (weight, name, aggregation, computed over online nodes?)
SUM, STDDEV, MAP = "sum", "stddev", "map"
METRICS: Tuple[Tuple[float, str, str, bool], ...] = (
    (0.5, "free_mem_cv", STDDEV, True),
    (0.5, "free_disk_cv", STDDEV, True),
    (1.0, "n1_cnt", SUM, True),
    (1.0, "reserved_mem_cv", STDDEV, True),
    (4.0, "offline_all_cnt", SUM, False),
    (16.0, "offline_pri_cnt", SUM, False),
    (0.5, "vcpu_ratio_cv", STDDEV, True),
    (1.0, "cpu_load_cv", STDDEV, True),
    (1.0, "mem_load_cv", STDDEV, True),
    (1.0, "disk_load_cv", STDDEV, True),
    (1.0, "net_load_cv", STDDEV, True),
    (2.0, "pri_tags_score", SUM, True),
    (0.5, "spindles_cv", STDDEV, True),
    (0.5, "free_mem_cv_forth", STDDEV, True),
    (0.5, "free_disk_cv_forth", STDDEV, True),
    (0.5, "vcpu_ratio_cv_forth", STDDEV, True),
    (0.5, "spindles_cv_forth", STDDEV, True),
    (1.0, "location_score", SUM, True),
    (1.0, "location_exclusion_score", MAP, True),
    (RESERVED_MEM_RTOTAL_COEFF, "reserved_mem_rtotal", SUM, True),
)
WEIGHTS = tuple(m[0] for m in METRICS)
NAMES = tuple(m[1] for m in METRICS)


# --- per-node values, one function per metric -----------------------------

def free_mem(n: Node) -> float:
    return n.p_mem


def free_disk(n: Node) -> float:
    return n.p_dsk


def n1_count(n: Node) -> float:
    return float(len(n.s_list) + len(n.p_list)) if n.fail_n1 else 0.0


def reserved_mem(n: Node) -> float:
    return n.p_rem


def offline_all(n: Node) -> float:
    return float(len(n.p_list) + len(n.s_list))


def offline_pri(n: Node) -> float:
    return float(len(n.p_list))


def vcpu_ratio(n: Node) -> float:
    return n.p_cpu_eff


def cpu_load(n: Node) -> float:
    return fdiv(n.util_load.cpu, n.util_pool.cpu)


def mem_load(n: Node) -> float:
    return fdiv(n.util_load.mem, n.util_pool.mem)


def disk_load(n: Node) -> float:
    return fdiv(n.util_load.dsk, n.util_pool.dsk)


def net_load(n: Node) -> float:
    return fdiv(n.util_load.net, n.util_pool.net)


def pri_tags(n: Node) -> float:
    return float(n.conflicting_primaries())


def spindles(n: Node) -> float:
    return fdiv(n.inst_spindles, n.hi_spindles)


def free_mem_forth(n: Node) -> float:
    return n.p_mem_forth


def free_disk_forth(n: Node) -> float:
    return n.p_dsk_forth


def vcpu_ratio_forth(n: Node) -> float:
    return n.p_cpu_eff_forth


def spindles_forth(n: Node) -> float:
    return fdiv(n.inst_spindles_forth, n.hi_spindles)


def location(n: Node) -> float:
    return float(n.location_score)


def location_exclusion(n: Node) -> Dict[Tuple[str, str], int]:
    return n.instance_map


def reserved_mem_total(n: Node) -> float:
    return n.p_rem


NODE_VALUES = (
    free_mem, free_disk, n1_count, reserved_mem, offline_all, offline_pri,
    vcpu_ratio, cpu_load, mem_load, disk_load, net_load, pri_tags, spindles,
    free_mem_forth, free_disk_forth, vcpu_ratio_forth, spindles_forth,
    location, location_exclusion, reserved_mem_total,
)


# --- aggregations ----------------------------------------------------------

def agg_sum(values: Sequence[float]) -> float:
    s = 0.0
    for x in values:
        s = s + x
    return s


def agg_stddev(values: Sequence[float]) -> float:
    n = 0.0
    s = 0.0
    for x in values:
        n = n + 1
        s = s + x
    mean = fdiv(s, n)
    var = 0.0
    for x in values:
        d = x - mean
        var = var + d * d
    return math.sqrt(fdiv(var, n)) if n else math.nan


def agg_map(maps: Sequence[Dict]) -> float:
    merged: Dict = {}
    for m in maps:
        for k, v in m.items():
            merged[k] = merged.get(k, 0) + v
    return float(sum(merged.values()) - len(merged))


_AGG = {SUM: agg_sum, STDDEV: agg_stddev, MAP: agg_map}


# --- storage pools (an extension of ours) ----------------------------------
# When the nodes carry their volume groups (``Node.pools``), the two disk
# metrics (free_disk_cv and free_disk_cv_forth) are the storage-pool metric
# of doc/design-multi-storage-htools.rst: per volume group, the standard
# deviation of its free share over the online nodes having it; then the
# mean of those over the volume groups (by name).  A pool's free space
# counts its forthcoming instances (the figure the pool rule checks), so
# both metrics take the same value; their weights add up to the single
# figure's.  Without pool data the metrics are htools' own.

DISK_METRICS = (1, 14)      # free_disk_cv, free_disk_cv_forth


def pools_known(online: Sequence[Node]) -> bool:
    """Whether the disk metrics are the pool metric: some online node
    has a volume group."""
    for n in online:
        if n.pools:
            return True
    return False


def pool_names(online: Sequence[Node]) -> List[str]:
    """The volume groups of the online nodes, by name."""
    names = set()
    for n in online:
        if n.pools:
            names.update(n.pools)
    return sorted(names)


def pool_free(n: Node, vg: str) -> float:
    """The free share of volume group ``vg`` on ``n`` (1 if empty)."""
    total, free = n.pools[vg]
    return compute_pdsk(free, float(total))


def pool_free_cv(online: Sequence[Node]) -> float:
    """The storage-pool metric: the mean over the volume groups (by name)
    of the standard deviation of their free share over the online nodes
    having them (population deviations, as every htools metric)."""
    names = pool_names(online)
    total = 0.0
    for vg in names:
        total = total + agg_stddev([pool_free(n, vg) for n in online
                                    if n.pools and vg in n.pools])
    return total / float(len(names))


def detailed_cv(nodes: Sequence[Node]) -> List[float]:
    """The 20 metric values of a node list (htools' ``compDetailedCV``)."""
    online = [n for n in nodes if not n.offline]
    offline = [n for n in nodes if n.offline]
    if not online:
        # htools zips the metric list with the transposed per-node values;
        # without online nodes that zip is empty: no metrics, score 0
        return []
    out = []
    for (weight, name, agg, on), fn in zip(METRICS, NODE_VALUES):
        pool = online if on else offline
        out.append(_AGG[agg]([fn(n) for n in pool]))
    if pools_known(online):
        pv = pool_free_cv(online)
        for m in DISK_METRICS:
            out[m] = pv
    return out


def comp_cv(nodes: Sequence[Node]) -> float:
    """The cluster score (htools' ``compCV``)."""
    total = 0.0
    for w, v in zip(WEIGHTS, detailed_cv(nodes)):
        total = total + w * v
    return total


def optimal_cv_score(nodes: Sequence[Node]) -> float:
    """Lower bound of the score imposed by N+1 reservations."""
    if len(nodes) <= 1:
        return 0.0
    mems = [n.t_mem for n in nodes]
    total = agg_sum(mems)
    one_less = total - max(mems)
    if not one_less > 0:
        return 0.0
    drbd = float(sum(pm_sum(n.peers) for n in nodes))
    return RESERVED_MEM_RTOTAL_COEFF * (drbd / one_less - drbd / total)


def print_stats(prefix: str, nodes: Sequence[Node]) -> str:
    """The coefficient table printed by hinfo and ``hbal -v -v -v``."""
    from htools.report import print_table
    rows = [[name, fmt_f(val, 8), "x" + fmt_f(w, 2)]
            for w, name, val in zip(WEIGHTS, NAMES, detailed_cv(nodes))]
    return print_table(prefix, ["Field", "Value", "Weight"], rows,
                       [False] + [True] * 2)
