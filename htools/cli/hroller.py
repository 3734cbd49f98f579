"""hroller: cluster rolling maintenance helper.

Computes groups of nodes that can be rebooted together (see
:mod:`htools.roller`).  Output and errors as Ganeti 3.0.2's hroller; two
extensions:

* ``--rebalance-after``: after the reboot groups, the hbal plan for the
  cluster once every group is back (each node group balanced with hbal's
  loop, moves printed in hbal's format);
* ``--json``: groups, moves and the rebalance plan as one JSON document on
  stdout (instead of the text output).
"""
from __future__ import annotations

import json
import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List

from htools.errors import HtoolsError
from htools.haskell.show import show_string_list


def _after_maintenance(nodes, conf):
    """Nodes and instances once the last reboot group is back.

    hroller plans every group from the original state, so the cluster after
    the maintenance is the original one with the moves of the last group
    applied (those instances are not moved back).  The placement is rebuilt
    from the original nodes (forced placements, as hroller's), so that the
    reference's bookkeeping quirks do not leak into the balancing.
    """
    from htools.model import Node
    by_idx = {n.idx: n for n in nodes}
    insts = {i: conf.base_il[i] for i in conf.base_il}
    for ix in (conf.changed_instances() if conf is not None else []):
        old, new = conf.base_il[ix], conf.il[ix]
        if (old.pnode, old.snode) == (new.pnode, new.snode):
            continue
        trial = dict(by_idx)
        trial[old.pnode] = trial[old.pnode].remove_pri(old)
        if old.has_secondary:
            trial[old.snode] = trial[old.snode].remove_sec(old)
        moved = trial[new.pnode].add_pri(new, True)
        if not isinstance(moved, Node):
            continue
        trial[new.pnode] = moved
        if new.has_secondary:
            moved = trial[new.snode].add_sec(new, new.pnode, True)
            if not isinstance(moved, Node):
                continue
            trial[new.snode] = moved
        by_idx = trial
        insts[ix] = new
    return ([by_idx[i] for i in sorted(by_idx)],
            [insts[i] for i in sorted(insts)])


def _rebalance_plan(opts, cdata, nodes, insts) -> List[dict]:
    """hbal's plan, group by group (only ``-G``'s group if given)."""
    from htools import balance, metrics
    from htools.cluster_info import split_cluster_lists as split_cluster

    want = None
    if opts.group is not None:
        for g in cdata.groups:
            if opts.group in g.all_names():
                want = g.idx
    plans = []
    for gdx, gnodes, ginsts in split_cluster(nodes, insts):
        if want is not None and gdx != want:
            continue
        gname = cdata.groups[gdx].name
        ini_cv = metrics.comp_cv(gnodes)
        opt_cv = metrics.optimal_cv_score(gnodes)
        plan = {"group": gname, "initial_score": ini_cv, "final_score": ini_cv,
                "moves": [], "lines": [], "commands": []}
        plans.append(plan)
        if not ginsts or ini_cv - opt_cv < opts.min_score:
            continue
        algo = balance.AlgorithmOptions.from_cli(opts)
        node_map: Dict[int, object] = {n.idx: n for n in gnodes}
        by_idx = {i.idx: i for i in ginsts}
        tbl = balance.Table(node_map, dict(by_idx), ini_cv, [])
        imlen = max(len(i.alias) for i in ginsts)
        nmlen = max(len(n.alias) for n in gnodes)
        min_score = opt_cv + opts.min_score
        for old_tbl, new_tbl in balance.steps(algo, tbl, opts.max_length, min_score):
            plc = new_tbl.plc[-1]
            inst = old_tbl.insts[plc.idx]
            sol = balance.solution_line(old_tbl, new_tbl, nmlen, imlen)
            plan["lines"].append(sol.line)
            plan["moves"].append({"instance": inst.name, "from": sol.old,
                                  "to": sol.new, "score": plc.score,
                                  "code": sol.code})
            plan["commands"].extend("gnt-instance " + c for c in sol.cmds)
            tbl = new_tbl
        plan["final_score"] = tbl.score
    return plans


def _rolling_reboot(opts, groups) -> int:
    """``--reboot-command``: execute the maintenance (cluster.rolling)."""
    if opts.luxi is None:
        raise HtoolsError("hroller: Execution of reboots possible only on LUXI")
    from cluster.jobs import Annotation
    from cluster.rolling import RollingOptions, RollingReboot, default_state_file
    from htools.cli.options import VERSION
    sys.stdout.write("\n'Rolling Reboot'\n")
    ropts = RollingOptions(command=opts.reboot_command,
                           timeout=float(opts.reboot_timeout),
                           state_file=opts.state_file or default_state_file(),
                           dry_run=opts.dry_run,
                           full_evacuation=opts.full_evacuation)
    annotation = Annotation("hroller", "rolling reboot via hroller " + VERSION,
                            opts.reason, opts.priority)
    driver = RollingReboot(opts.luxi, [names for names, _ in groups], ropts,
                           annotation, opts.verbose)
    return driver.run()


def run(opts, args) -> int:
    if args:
        raise HtoolsError("This program doesn't take any arguments.")
    from htools import extloader, roller

    verbose = opts.verbose
    out = sys.stdout
    page = None
    if opts.html_report is not None:
        from htools.html.reboot import RebootReport
        page = RebootReport(opts.html_report)
    cdata = extloader.load_external_data(opts)
    masters = [n.name for n in cdata.nodes if n.is_master]
    if not masters:
        msg = "No master node found (maybe not supported by backend)."
        if opts.force:
            out.flush()
            sys.stderr.write("Warning: " + msg + "\n")
            sys.stderr.flush()
        else:
            raise HtoolsError(msg)
    elif len(masters) > 1:
        raise HtoolsError("Found more than one master node: " + show_string_list(masters))

    nodes = extloader.set_node_status(opts, cdata.nodes)
    nodes = sorted(nodes, key=lambda n: n.idx)
    extloader.maybe_save(opts.save_cluster, "original", "before hroller run", cdata)

    group_idx = None
    if opts.group is not None:
        for g in sorted(cdata.groups, key=lambda g: g.idx):
            if opts.group in g.all_names():
                group_idx = g.idx
                break
        else:
            raise HtoolsError("Cannot find target group.")

    insts = {i.idx: i for i in cdata.instances}
    selected = roller.select_nodes(nodes, insts, group_idx, opts.node_tags,
                                   opts.skip_non_redundant)
    graph = roller.build_graph(nodes, insts, selected, opts.offline_maintenance)
    if graph is None:
        raise HtoolsError("Cannot create node graph")
    as_json = getattr(opts, "json", False)
    if verbose > 2 and not as_json:
        out.write("Node Graph: " + graph.show() + "\n")
        out.flush()
    try:
        res = roller.compute(nodes, insts, selected, graph,
                             opts.ignore_non_redundant, opts.full_evacuation)
    except roller.RollerError as err:
        raise HtoolsError(str(err)) from None

    groups = [([n.name for n in ns], [
        (inst.name, pn.name, sn.name if sn is not None else None)
        for inst, pn, sn in roller.get_moves(conf)]) for ns, conf in res.groups]
    if opts.one_step_only:
        groups = groups[:1]
    plans = None
    if getattr(opts, "rebalance_after", False):
        last = res.groups[:1] if opts.one_step_only else res.groups[-1:]
        fin_nodes, fin_insts = _after_maintenance(
            nodes, last[0][1] if last else None)
        plans = _rebalance_plan(opts, cdata, fin_nodes, fin_insts)
    if page is not None:
        page.cluster(nodes, cdata.instances)
        page.groups, page.plans = groups, plans
        page.write()

    if as_json:
        doc = {
            "coloring": res.chosen(),
            "colorings": {name: [len(c) for c in cls] for name, cls in res.colorings},
            "groups": [{"nodes": names,
                        "moves": [{"instance": i, "primary": p, "secondary": s}
                                  for i, p, s in mv]}
                       for names, mv in groups],
        }
        if plans is not None:
            doc["rebalance"] = [{k: p[k] for k in ("group", "initial_score",
                                                   "final_score", "moves",
                                                   "commands")} for p in plans]
        out.write(json.dumps(doc, indent=2) + "\n")
        return 0

    if verbose > 1:
        out.write(res.stats + "\n")

    def show(names, mv):
        if opts.one_step_only:
            out.write("".join(n + "\n" for n in names))
        else:
            out.write(",".join(names) + "\n")
        if opts.print_moves:
            for i, p, s in mv:
                out.write("  %s %s %s\n" % (i, p, s) if s is not None
                          else "  %s %s\n" % (i, p))

    if opts.one_step_only:
        if not opts.no_headers:
            out.write("'First Reboot Group'\n")
    elif not opts.no_headers:
        out.write("'Node Reboot Groups'\n")
    for names, mv in groups:
        show(names, mv)

    if opts.reboot_command is not None:
        return _rolling_reboot(opts, groups)
    if plans is not None:
        out.write("\n'Rebalance After Maintenance'\n")
        for p in plans:
            out.write("Group %s: score %.8f\n" % (p["group"], p["initial_score"]))
            if not p["lines"]:
                out.write("  No moves needed\n")
                continue
            out.write("".join(line + "\n" for line in p["lines"]))
            out.write("  Cluster score improved from %.8f to %.8f\n"
                      % (p["initial_score"], p["final_score"]))
    return 0
