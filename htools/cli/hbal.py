"""hbal: cluster balancer.

Identical to htools 3.0.2's hbal, plus one option not listed in ``--help``
(whose text stays the reference's; see ``options.HIDDEN_OPTIONS``):

``--search=MODE``
    ``exhaustive`` (the default): htools' search, every move of every
    instance to every node in each step, with the reference's moves and
    output.  ``pruned``: a faster search for large clusters; each step
    tries only the most promising instances (by the score change of
    taking them off their nodes) on the most promising targets (ranked by
    trying the best candidates on every node), and re-scores exactly the
    best few, so that it may choose other moves than htools.  A step
    whose neighbourhood has no acceptable move widens it (twice the
    instances and targets per widening) before hbal stops: up to the full
    neighbourhood when it has at most 4 million instance/target
    combinations (about 200 nodes and 3000 instances), so that the run
    ends only where the exhaustive search would find no move either; on
    larger clusters up to 4 million combinations of the most promising
    ones.
    Every move is checked like in the default mode and strictly lowers the
    exact cluster score; all other options apply unchanged.  Only the long
    name is recognised (no abbreviation).
    ``optimal``: a target placement chosen by OR-Tools' CP-SAT
    (:mod:`htools.balance.optimal`), reached by legal, exactly scored
    moves (:mod:`htools.balance.path`); the cheapest of the candidate
    plans that ends at most at htools' final score is printed, followed by
    a line with the solver's objective and bound.  Its knobs are
    ``--opt-time-limit``, ``--opt-move-cost``, ``--opt-disk-cost``,
    ``--opt-mem-cost`` and ``--opt-disk-budget`` (also unlisted).  Needs
    the ``optimal`` extra (ortools); without it one error line says so.
"""
from __future__ import annotations

import sys
import time
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List

from htools.commands import save_commands
from htools.errors import HtoolsError
from htools.haskell.show import show_string, show_string_list


def _select_group(opts, groups, nodes, insts):
    from htools.cluster_info import split_cluster_lists as split_cluster
    ngroups = split_cluster(nodes, insts)
    if len(ngroups) > 1 and opts.group is None:
        sys.stdout.flush()
        sys.stderr.write("Found multiple node groups:\n")
        for gdx, _, _ in ngroups:
            sys.stderr.write("  " + groups[gdx].name + "\n")
        raise HtoolsError("Aborting.")
    if opts.group is None:
        if not ngroups:
            raise HtoolsError("No groups found by splitCluster?!")
        gdx, gnodes, ginsts = ngroups[0]
        return groups[gdx].name, gnodes, ginsts
    matches = [g for g in groups if opts.group in g.all_names()]
    if len(matches) != 1:
        sys.stdout.flush()
        sys.stderr.write("Node group %s not found. Node group list is:\n" % opts.group)
        for g in groups:
            sys.stderr.write("  " + g.name + "\n")
        raise HtoolsError("Aborting.")
    grp = matches[0]
    for gdx, gnodes, ginsts in ngroups:
        if gdx == grp.idx:
            return grp.name, gnodes, ginsts
    return grp.name, [], []


def _fmt_g(x: float) -> str:
    """printf("%.6g") as htools prints it."""
    from htools.haskell.fmt import fmt_g
    return fmt_g(x, 6)


def run(opts, args) -> int:
    if args:
        raise HtoolsError("This program doesn't take any arguments.")
    from htools import balance, extloader, report, metrics
    from htools.cli.progress import Progress
    from htools.cluster_info import bad_items, find_split_instances
    from htools.haskell.fmt import fmt_f
    from htools.types import show_ipolicy
    from htools.loader import common_suffix

    out = sys.stdout
    verbose = opts.verbose
    force = opts.ignore_soft_errors
    page = None
    if opts.html_report is not None:
        from htools.html.plan import PlanReport
        page = PlanReport(opts.html_report)
    if opts.exec_jobs and (opts.luxi is not None or opts.master):
        from cluster.execute import connector, wait_for_earlier_runs
        wait_for_earlier_runs(connector(opts), "hbal", opts.pending_jobs, verbose,
                              strict=opts.luxi is None)
    # --opt-time-limit counts from here: reading the cluster included
    started = time.monotonic()
    cdata = extloader.load_external_data(opts)
    if verbose > 1:
        out.write("Loaded cluster tags: " + ",".join(cdata.tags) + "\n")
        out.write("Loaded cluster ipolicy: " + show_ipolicy(cdata.ipolicy) + "\n")
    nodes = extloader.set_node_status(opts, cdata.nodes)
    insts = cdata.instances
    # checkCluster
    if not insts:
        out.write("Cluster is empty, exiting.\n")
        if page is not None:
            page.start("", nodes, 0, 0.0)
            page.note("Cluster is empty, exiting.")
            page.write()
        return 0
    split = find_split_instances(nodes, insts)
    if split and verbose > 1:
        out.flush()
        sys.stderr.write("Found instances belonging to multiple node groups:\n")
        for inst in split:
            sys.stderr.write("  " + inst.name + "\n")
        sys.stderr.write("These instances will not be moved.\n")
    out.write("Loaded %d nodes, %d instances\n" % (len(nodes), len(insts)))
    csf = common_suffix(cdata)
    if csf and verbose > 1:
        out.write("Note: Stripping common suffix of '%s' from names\n" % csf)
    out.flush()
    extloader.maybe_save(opts.save_cluster, "original", "before balancing", cdata)
    gname, gnodes, ginsts = _select_group(opts, cdata.groups, nodes, insts)
    # checkGroup
    out.write("Group size %d nodes, %d instances\n" % (len(gnodes), len(ginsts)))
    out.write("Selected node group: %s\n" % gname)
    by_idx = {i.idx: i for i in ginsts}
    # htools counts the bad instances without looking them up: a bad node's
    # instance may live in another group (split DRBD), so count indices only
    bad_nodes, bad_inst_idxs = bad_items(gnodes)
    if verbose >= 1:
        out.write("Initial check done: %d bad nodes, %d bad instances.\n"
                  % (len(bad_nodes), len(bad_inst_idxs)))
    bad_names = {n.name for n in bad_nodes}
    other = [n for n in gnodes if n.name not in bad_names]
    node_status = [(n.name, n.policy_health()) for n in other]
    policy_bad = [n for n, health in zip(other, node_status) if health[1] is not None]
    if verbose > 4:
        out.write("Bad nodes: %s\n" % show_string_list([n.name for n in bad_nodes]))
        out.write("N+1 happy nodes: %s\n" % show_string_list([n.name for n in other]))
        out.write("Node policy status: [%s]\n" % ",".join(
            "(%s,%s)" % (show_string(name),
                         "Ok ()" if health is None else "Bad " + health.name)
            for name, health in node_status))
    if bad_nodes:
        out.write("Cluster is not N+1 happy, continuing but no guarantee "
                  "that the cluster will end N+1 happy.\n")
    if policy_bad:
        out.write("The cluster contains %d policy-violating nodes.\n" % len(policy_bad))
        out.write("Continuing, ignoring soft errors.\n" if force else
                  "Continuing, but the set of moves might be too restricted; "
                  "consider using the --ignore-soft-errors option.\n")
    out.flush()
    report.maybe_print_insts(opts.print_instances, "Initial", nodes, ginsts)
    report.maybe_print_nodes(opts.print_nodes, "Initial cluster", gnodes)
    ini_cv = metrics.comp_cv(gnodes)
    opt_cv = metrics.optimal_cv_score(gnodes)
    if verbose > 2:
        out.write("Initial coefficients: overall %s\n%s"
                  % (fmt_f(ini_cv, 8), metrics.print_stats("  ", gnodes)))
    else:
        out.write("Initial score: %s\n" % fmt_f(ini_cv, 8))
    min_cv = opts.min_score
    if page is not None:
        page.start(gname, gnodes, len(ginsts), ini_cv)
    if ini_cv - opt_cv < min_cv:
        out.write("Cluster is already well balanced (initial score %s,\n"
                  "optimum score due to N+1 reservations %s,\n"
                  "minimum score %s).\nNothing to do, exiting\n"
                  % (_fmt_g(ini_cv), _fmt_g(opt_cv), _fmt_g(min_cv)))
        if page is not None:
            page.note("Cluster is already well balanced (initial score %s, optimum "
                      "score due to N+1 reservations %s, minimum score %s): "
                      "nothing to do." % (_fmt_g(ini_cv), _fmt_g(opt_cv), _fmt_g(min_cv)))
            page.write()
        return 0
    out.write("Trying to minimize the CV...\n")
    out.flush()
    imlen = max(len(i.alias) for i in ginsts) if ginsts else 0
    nmlen = max(len(n.alias) for n in gnodes) if gnodes else 0
    algo = balance.AlgorithmOptions.from_cli(opts)
    if algo.optimal is not None:
        algo = algo.replace(optimal=dict(algo.optimal, started=started))
    node_map: Dict[int, object] = {n.idx: n for n in gnodes}
    tbl = balance.Table(node_map, dict(by_idx), ini_cv, [])
    cmd_strs: List[balance.MoveJob] = []
    progress = Progress.create()
    progress.update(0, ini_cv)
    run_steps = balance.steps(algo, tbl, opts.max_length, opt_cv + min_cv)
    for old_tbl, tbl in run_steps:
        plc = tbl.plc[-1]
        inst = old_tbl.insts[plc.idx]
        sol = balance.solution_line(old_tbl, tbl, nmlen, imlen)
        progress.clear()
        out.write(sol.line + "\n")
        out.flush()
        progress.update(len(tbl.plc), plc.score)
        if page is not None:
            page.add_move(old_tbl, tbl, sol)
        cmd_strs.insert(0, balance.MoveJob(balance.involved_nodes(inst, plc),
                                           plc.idx, plc.move, sol.cmds))
    progress.clear()
    fin_nodes = [tbl.nodes[i] for i in sorted(tbl.nodes)]
    if not tbl.plc:
        out.write("No solution found\n")
    elif verbose > 2:
        out.write("Final coefficients:   overall %s\n%s"
                  % (fmt_f(tbl.score, 8), metrics.print_stats("  ", fin_nodes)))
    else:
        out.write("Cluster score improved from %s to %s\n"
                  % (fmt_f(ini_cv, 8), fmt_f(tbl.score, 8)))
    summary = getattr(run_steps, "summary", None)
    if summary is not None and summary() is not None:
        out.write(summary() + "\n")
    if verbose >= 1:
        out.write("Solution length=%d\n" % len(tbl.plc))
    jobsets = balance.split_jobs(cmd_strs)
    if opts.first_job_group:
        jobsets = jobsets[:1]
    if page is not None:
        page.finish(fin_nodes, tbl.score, jobsets)
        if not tbl.plc:
            page.note("No solution found")
    save_commands("First set of jobs:" if opts.first_job_group else
                   "Commands to run to reach the above solution:",
                   opts.print_commands, balance.format_cmds(jobsets))
    if opts.save_cluster:
        from htools.model import ClusterData
        # htools saves only the selected group; an instance split across
        # groups keeps its outside node (htools 3.0.2 crashes there)
        saved = {n.idx: n for n in fin_nodes}
        for inst in tbl.insts.values():
            for ndx in inst.all_nodes():
                if ndx >= 0 and ndx not in saved:
                    saved[ndx] = nodes[ndx]
        fin = ClusterData(groups=cdata.groups,
                          nodes=[saved[i] for i in sorted(saved)],
                          instances=[tbl.insts[i] for i in sorted(tbl.insts)],
                          tags=cdata.tags, ipolicy=cdata.ipolicy)
        out.flush()
        extloader.maybe_save(opts.save_cluster, "balanced", "after balancing", fin)
    fin_insts = [tbl.insts[i] for i in sorted(tbl.insts)]
    out.flush()
    report.maybe_print_insts(opts.print_instances, "Final", _all_nodes(nodes, tbl), fin_insts)
    report.maybe_print_nodes(opts.print_nodes, "Final cluster", fin_nodes)
    if verbose > 3:
        ini_fm, ini_fd = balance.total_free(gnodes)
        fin_fm, fin_fd = balance.total_free(fin_nodes)
        out.write("Original: mem=%d disk=%d\n" % (ini_fm, ini_fd))
        out.write("Final:    mem=%d disk=%d\n" % (fin_fm, fin_fd))
    if page is not None:
        page.write()
    if opts.exec_jobs and tbl.plc:
        from cluster import execute, jobs
        execute.check_executable(opts, "hbal")
        sets = jobs.move_jobsets(
            {n.idx: n for n in nodes}, {i.idx: i for i in insts}, jobsets,
            lambda names: "Executing jobset for instances " + ",".join(names))
        return execute.run_jobsets(opts, sets, jobs.hbal_annotation(opts), "hbal")
    return 0


def _all_nodes(nodes, tbl):
    return [tbl.nodes.get(n.idx, n) for n in nodes]
