"""hcheck: cluster checker (htools' ``Program/Hcheck.hs``, Ganeti 3.0.2).

Per node group (of ``splitCluster``) it reports: nodes failing N+1,
nodes with conflicting primaries, instances with an offline primary, the
number of offline nodes (the reference labels it "instances having a
secondary node offline"), nodes that cannot be evacuated (global N+1,
unless ``--no-capacity-checks``) and the group score; the cluster line sums
them.  If any is non-zero and ``--no-simulation`` is not given, each group
whose score is above its optimum + ``-e`` is balanced with hbal's loop and
the statistics are shown again (always in machine-readable mode; the final
NEED_REBALANCE repeats the initial one, as the reference does).  Exit
status 1 iff a rebalance was needed and simulated.

The reference evaluates lazily: a group's global-N+1 count is computed
only when first printed or summed, and where that computation crashes
(a DRBD instance whose secondary is in another group) the output stops at
that point.  The statistics below are computed on demand in the same
order so that output, crash message and exit status agree.
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

from htools.errors import HtoolsError

PREFIX = "HCHECK"

#: (machine-readable key, description) of the statistics of every level
COMMON_DATA = (
    ("N1_FAIL", "Nodes not N+1 happy"),
    ("CONFLICT_TAGS", "Nodes with conflicting instances"),
    ("OFFLINE_PRI", "Instances having the primary node offline"),
    ("OFFLINE_SEC", "Instances having a secondary node offline"),
    ("GN1_FAIL", "Nodes not directly evacuateable"),   # only with capacity checks
)
GN1_COLUMN = 4


def ensure_quoted(v: str) -> str:
    """Ganeti's ``ensureQuoted``."""
    if all(c.isalnum() or c == "." for c in v):
        return v
    return "'" + v + "'"


def _key_line(key: str, value: str) -> str:
    return "%s_%s=%s\n" % (PREFIX, key.upper(), ensure_quoted(value))


class GroupStats:
    """Statistics of one group; the global-N+1 count is computed on demand
    (and memoized, crash included)."""

    def __init__(self, opts, group, nodes, insts) -> None:
        from htools import metrics
        self.opts = opts
        self.group = group
        self.nodes = nodes            # Dict[int, Node]
        self.insts = insts            # Dict[int, Instance]
        nlist = [nodes[k] for k in sorted(nodes)]
        offline = [n for n in nlist if n.offline]
        self.n1_fail = sum(1 for n in nlist if not n.offline and n.fail_n1)
        self.conflict_tags = sum(1 for n in nlist if n.conflicting_primaries() > 0)
        self.offline_pri = sum(len(n.p_list) for n in offline)
        self.offline_sec = len(offline)   # sic: the reference counts nodes
        self.score = metrics.comp_cv(nlist)
        self._gn1: Optional[int] = None
        self._crash = None

    def gn1_fail(self) -> int:
        if self._crash is not None:
            raise self._crash
        if self._gn1 is None:
            from htools.alloc import n1
            from htools.alloc.globaln1 import MissingKey, count_not_evacuable
            from htools.specification import pure
            try:
                self._gn1 = count_not_evacuable(
                    self.nodes, self.insts, None if pure() else n1.can_evacuate_node)
            except MissingKey as err:
                self._crash = err
                raise
        return self._gn1

    def value_fns(self):
        """The (key, description, value thunk) of each statistic."""
        return [(key, descr, lambda c=c: str(self.stat(c)))
                for c, (key, descr) in enumerate(_common_data(self.opts))]

    def stat(self, col: int) -> int:
        """The integer statistic of column ``col`` (only that one forced)."""
        if col == GN1_COLUMN:
            return self.gn1_fail()
        return (self.n1_fail, self.conflict_tags, self.offline_pri,
                self.offline_sec)[col]

    def stat_values(self) -> List[int]:
        """The integer statistics (forcing all of them, in order)."""
        return [self.stat(c) for c in range(len(_common_data(self.opts)))]


def _common_data(opts) -> List[Tuple[str, str]]:
    return list(COMMON_DATA if opts.capacity else COMMON_DATA[:GN1_COLUMN])


def _forced(fn) -> str:
    """A statistic's value for the HTML report ("-" where htools crashes;
    the crash stays memoized for the printed output)."""
    from htools.alloc.globaln1 import MissingKey
    try:
        return fn()
    except MissingKey:
        return "-"


class Printer:
    def __init__(self, opts, out, page=None) -> None:
        self.opts = opts
        self.out = out
        self.machine = opts.machine_readable
        self.page = page

    def write(self, text: str) -> None:
        self.out.write(text)

    def stats(self, phase: str, level: Optional[str], pairs) -> None:
        """``printStats``; ``pairs``: (key, description, value thunk);
        ``level``: the group name/index, None for the cluster."""
        if self.machine:
            pfx = "INIT" if phase == "init" else "FINAL"
            for key, _descr, fn in pairs:
                if level is None:
                    k = "%s_CLUSTER_%s" % (pfx, key)
                else:
                    k = "%s_GROUP_%s_%s" % (pfx, level, key)
                self.write(_key_line(k, fn()))
            return
        if self.opts.verbose < 1:
            return
        pdescr = "initially" if phase == "init" else "after rebalancing"
        self.write("\n")
        if level is None:
            self.write("Cluster statistics %s\n" % pdescr)
        else:
            self.write("Statistics for group %s %s\n" % (level, pdescr))
        for _key, descr, fn in pairs:
            self.write("    %s: %s\n" % (descr, fn()))

    def group_stats(self, phase: str, gs: GroupStats) -> None:
        from htools.haskell.fmt import fmt_f
        level = str(gs.group.idx) if self.machine else gs.group.name
        pairs = gs.value_fns() + [("SCORE", "Group score",
                                   lambda: fmt_f(gs.score, 8))]
        if self.page is not None:
            self.page.add_stats(phase, gs.group.name,
                                [(k, d, _forced(fn)) for k, d, fn in pairs])
        self.stats(phase, level, pairs)

    def cluster_stats(self, phase: str, groups: Sequence[GroupStats],
                      needhbal) -> None:
        """Sums per column (``map sum . transpose``), then the flag; keys
        and values zipped (no groups: only the flag, under the first key)."""
        ncols = len(_common_data(self.opts))
        col_fns = []
        if groups:
            for c in range(ncols):
                col_fns.append(lambda c=c: str(sum(g.stat(c) for g in groups)))

        def flag() -> str:
            b = needhbal()
            if self.machine:
                return "1" if b else "0"
            return "True" if b else "False"

        values = col_fns + [flag]
        keys = _common_data(self.opts) + [("NEED_REBALANCE", "Cluster is not healthy")]
        pairs = [(k, d, fn) for (k, d), fn in zip(keys, values)]
        if self.page is not None:
            self.page.add_stats(phase, None, [(k, d, _forced(fn)) for k, d, fn in pairs])
        self.stats(phase, None, pairs)


def _cluster_sums(groups: Sequence[GroupStats]) -> List[int]:
    """``map sum . transpose``, forced column by column."""
    if not groups:
        return []
    ncols = len(_common_data(groups[0].opts))
    return [sum(g.stat(c) for g in groups) for c in range(ncols)]


def _simulate_group(opts, gs: GroupStats) -> Tuple[Dict, Dict, bool]:
    """hbal's loop on one group (no output); (nodes, insts, moved)."""
    from htools import balance, metrics
    nodes = gs.nodes
    nlist = [nodes[k] for k in sorted(nodes)]
    ini_cv = metrics.comp_cv(nlist)
    min_cv = opts.min_score + metrics.optimal_cv_score(nlist)
    if ini_cv < min_cv:
        return nodes, gs.insts, False
    algo = balance.AlgorithmOptions.from_cli(opts)
    tbl = balance.Table(dict(nodes), dict(gs.insts), ini_cv, [])
    for _, tbl in balance.steps(algo, tbl, opts.max_length, min_cv):
        pass
    return tbl.nodes, tbl.insts, bool(tbl.plc)


def _prog_name() -> str:
    """GHC's ``getProgName`` (the reference prints it on a crash)."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not name or name.endswith(".py") or name.startswith("python"):
        return "hcheck"
    return name


def run(opts, args) -> int:
    if args:
        raise HtoolsError("This program doesn't take any arguments.")
    from htools.alloc.globaln1 import MissingKey, crash_text
    out = sys.stdout
    try:
        return _run(opts, out)
    except MissingKey as err:
        out.flush()
        sys.stderr.write(crash_text(_prog_name(), err))
        return 1


def _run(opts, out) -> int:
    from htools import extloader
    from htools.cluster_info import split_cluster

    verbose = opts.verbose
    machine = opts.machine_readable
    nosim = opts.no_simulation

    page = None
    if opts.html_report is not None:
        from htools.html.health import HealthReport
        page = HealthReport(opts.html_report, "hcheck")
    cdata = extloader.load_external_data(opts)
    nodes = extloader.set_node_status(opts, cdata.nodes)
    insts = cdata.instances
    groups = {g.idx: g for g in cdata.groups}
    split = split_cluster({n.idx: n for n in nodes}, {i.idx: i for i in insts})
    if page is not None:
        page.cluster(nodes, len(insts), cdata.groups)
    pr = Printer(opts, out, page)

    if machine:
        for gdx in sorted(groups):
            pr.write(_key_line("GROUP_UUID_%d" % gdx, groups[gdx].uuid))

    gstats = [GroupStats(opts, groups[gdx], gnodes, ginsts)
              for gdx, gnodes, ginsts in split]

    need_cache: List[bool] = []

    def needrebalance() -> bool:
        if not need_cache:
            need_cache.append(sum(_cluster_sums(gstats)) > 0)
        return need_cache[0]

    if verbose >= 1 and not machine:
        if nosim:
            verdict = "Running in no-simulation mode."
        elif needrebalance():
            verdict = "Cluster needs rebalancing."
        else:
            verdict = "No need to rebalance cluster, no problems found."
        pr.write(verdict + "\n")
        if page is not None:
            page.line(verdict)

    for gs in gstats:
        pr.group_stats("init", gs)
    pr.cluster_stats("init", gstats, needrebalance)

    simulate = (not nosim) and needrebalance()
    exit_ok = nosim or not needrebalance()

    shown = machine or verbose >= 1
    if simulate and shown:
        # (with nothing to show, the result of the simulation is unused)
        final = []
        for gs in gstats:
            fnodes, finsts, moved = _simulate_group(opts, gs)
            final.append(GroupStats(opts, gs.group, fnodes, finsts) if moved else gs)
    else:
        final = gstats

    if simulate or machine:
        for gs in final:
            pr.group_stats("final", gs)
        pr.cluster_stats("final", final, needrebalance)

    if getattr(opts, "print_pools", False):
        from htools.report import print_pools
        for gs in final:
            pr.write("Group %s: " % gs.group.name
                     + print_pools([gs.nodes[k] for k in sorted(gs.nodes)]))
    if machine:
        pr.write(_key_line("OK", "1"))
    if page is not None:
        page.write()
    return 0 if exit_ok else 1
