"""hsqueeze: dynamic power management (``Program/Hsqueeze.hs``).

Prints ``'Nodes to offline'`` / ``'Nodes to online'`` / ``'No action'``
(unless ``--no-headers``) and the chosen node names; ``-C`` adds the shell
commands (moves in hbal's format, standby tags, power commands), ``-S``
saves the cluster before (``.original``) and after (``.squeezed``), ``-X``
executes the opcodes (Luxi only).
"""
from __future__ import annotations

import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List

from htools.commands import save_commands
from htools.errors import HtoolsError, UncaughtIOError

def _maybe_exec(opts, comment: str, make_jobsets) -> None:
    """``maybeExecJobs`` followed by ``exitIfBad "hsqueeze"``.

    ``make_jobsets()`` gives the :class:`cluster.jobs.JobSet` s to run;
    :mod:`cluster.execute` submits them with hsqueeze's annotation
    (comment ``<comment> <version>``, reason ``hsqueeze <version> called``)."""
    if not opts.exec_jobs:
        return
    from cluster import execute, jobs
    execute.check_executable(opts, "hsqueeze")
    from htools.cli.options import VERSION
    annotation = jobs.Annotation("hsqueeze", "%s %s" % (comment, VERSION),
                                 None, opts.priority)
    execute.run_jobsets(opts, make_jobsets(), annotation, "hsqueeze")


def _jobsets(entries, nodes, insts, move_sets):
    """JobSets for ``(jobs, description)`` entries; the move sets (listed
    first in ``entries`` from ``first``) get their preconditions."""
    from cluster import jobs
    checked = jobs.move_jobsets(nodes, insts, move_sets, lambda names: "")
    out = [jobs.JobSet(js, descr) for js, descr in entries]
    first = next((i for i, (_, d) in enumerate(entries)
                  if d.startswith("Moving instances")), None)
    if first is not None:
        for k, cs in enumerate(checked):
            out[first + k].checks = cs.checks
    return out


def _save(opts, suffix: str, msg: str, cdata, nodes=None, insts=None) -> None:
    if not opts.save_cluster:
        return
    from htools import extloader
    if nodes is not None:
        from htools.model import ClusterData
        cdata = ClusterData(groups=cdata.groups,
                            nodes=[nodes[i] for i in sorted(nodes)],
                            instances=[insts[i] for i in sorted(insts)],
                            tags=cdata.tags, ipolicy=cdata.ipolicy)
    sys.stdout.flush()
    try:
        extloader.maybe_save(opts.save_cluster, suffix, msg, cdata)
    except UncaughtIOError:
        raise
    except HtoolsError as err:
        # htools' writeFile failure is an uncaught IOError: "hsqueeze: ..."
        raise UncaughtIOError(err.message) from None


def run(opts, args: List[str]) -> int:
    """Entry point called by :mod:`htools.cli.main` after option parsing."""
    if args:
        raise HtoolsError("This program doesn't take any arguments.")
    from htools import extloader, squeeze

    out = sys.stdout
    verbose = opts.verbose
    if opts.exec_jobs and (opts.luxi is not None or opts.master):
        from cluster.execute import connector, wait_for_earlier_runs
        wait_for_earlier_runs(connector(opts), "hsqueeze", opts.pending_jobs, verbose,
                              strict=opts.luxi is None)
    cdata = extloader.load_external_data(opts)
    _save(opts, "original", "before hsqueeze run", cdata)

    nodes = {n.idx: n for n in cdata.nodes}
    insts = {i.idx: i for i in cdata.instances}
    std = cdata.ipolicy.std
    p = squeeze.plan(nodes, insts, std, opts.min_resources, opts.target_resources)
    if verbose > 1:
        out.write("Offline candidates: %s\n" % ",".join(n.name for n in p.offline_cands))
        out.write("Online candidates: %s\n" % ",".join(n.name for n in p.online_cands))
    header = not opts.no_headers

    if p.action == "online":
        if header:
            out.write("'Nodes to online'\n")
        out.write("".join(n.name + "\n" for n in p.nodes))
        if verbose > 1 and not p.enough:
            out.write("Onlining all nodes will not yield enough capacity\n")
        if opts.print_commands is not None:
            save_commands("Commands to run:", opts.print_commands,
                           squeeze.online_commands(p))
        out.flush()
        _maybe_exec(opts, "expanding by %d nodes" % len(p.nodes),
                    lambda: _jobsets(squeeze.online_opcodes(p, nodes, insts),
                                     nodes, insts, p.jobsets))
        _save(opts, "squeezed", "after hsqueeze expansion", cdata,
              p.result.nodes, p.result.insts)
    elif p.action == "none":
        if header:
            out.write("'No action'\n")
        save_commands("Commands to run:", opts.print_commands, "echo Nothing to do")
        _save(opts, "squeezed", "after hsqueeze doing nothing", cdata)
    else:
        if header:
            out.write("'Nodes to offline'\n")
        out.write("".join(n.name + "\n" for n in p.nodes))
        if opts.print_commands is not None:
            save_commands("Commands to run:", opts.print_commands,
                           squeeze.offline_commands(p))
        out.flush()
        _maybe_exec(opts, "condensing by %d nodes" % len(p.nodes),
                    lambda: _jobsets(squeeze.offline_opcodes(p, nodes, insts),
                                     nodes, insts, p.jobsets))
        _save(opts, "squeezed", "after hsqueeze run", cdata,
              p.result.nodes, p.result.insts)
    return 0
