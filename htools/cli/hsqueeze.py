"""hsqueeze: dynamic power management (``Program/Hsqueeze.hs``).

Prints ``'Nodes to offline'`` / ``'Nodes to online'`` / ``'No action'``
(unless ``--no-headers``) and the chosen node names; ``-C`` adds the shell
commands (moves in hbal's format, standby tags, power commands), ``-S``
saves the cluster before (``.original``) and after (``.squeezed``), ``-X``
executes the opcodes (Luxi only).
"""
from __future__ import annotations

import sys
from typing import List, Optional

from htools.commands import save_commands
from htools.errors import HtoolsError, UncaughtIOError

#: version text used in opcode comments and reason trails
_VERSION = "3.0.2"


def _maybe_exec(opts, comment: str, make_opcodes) -> None:
    """``maybeExecJobs`` followed by ``exitIfBad "hsqueeze"``.

    Execution is delegated to ``cluster.execute.exec_opcode_jobsets(opts,
    jobs, annotation)`` once a Luxi executor exists: ``jobs`` is a list of
    ``(jobset, description)`` with ``jobset`` a list of jobs, each a list
    of opcode dicts (``OP_ID`` + fields); ``annotation`` carries the opcode
    comment and the reason-trail entry (source, text; the executor adds the
    timestamp).  It returns a false value on success, else the error text.
    """
    if not opts.exec_jobs:
        return
    if opts.luxi is None:
        raise HtoolsError("hsqueeze: Execution of commands possible only on LUXI")
    jobs = make_opcodes()
    try:
        from cluster import execute  # type: ignore[attr-defined]
        runner = execute.exec_opcode_jobsets
    except (ImportError, AttributeError):
        raise HtoolsError("hsqueeze: job execution via Luxi is not "
                          "implemented yet") from None
    annotation = {"comment": "%s %s" % (comment, _VERSION),
                  "reason": ("hsqueeze", "hsqueeze %s called" % _VERSION)}
    status = runner(opts, jobs, annotation)
    if status:
        raise HtoolsError("hsqueeze: %s" % status)


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
                    lambda: squeeze.online_opcodes(p, nodes, insts))
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
                    lambda: squeeze.offline_opcodes(p, nodes, insts))
        _save(opts, "squeezed", "after hsqueeze run", cdata,
              p.result.nodes, p.result.insts)
    return 0
