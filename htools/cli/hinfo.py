"""hinfo: cluster information printer."""
from __future__ import annotations

import sys

from htools.errors import HtoolsError


def show_ipolicy(pol) -> str:
    from htools.types import show_ipolicy as _show
    return _show(pol)


def run(opts, args) -> int:
    if args:
        raise HtoolsError("This program doesn't take any arguments.")
    from htools import extloader, report, metrics
    from htools.cluster_info import bad_items, find_split_instances
    from htools.cluster_info import split_cluster_lists as split_cluster
    from htools.haskell.fmt import fmt_f
    from htools.loader import common_suffix

    verbose = opts.verbose
    out = sys.stdout
    page = None
    if opts.html_report is not None:
        from htools.html.health import HealthReport
        page = HealthReport(opts.html_report, "hinfo")
    cdata = extloader.load_external_data(opts)
    out.write("Loaded cluster tags: " + ",".join(cdata.tags) + "\n")
    if verbose > 2:
        out.write("Loaded cluster ipolicy: " + show_ipolicy(cdata.ipolicy) + "\n")
    nodes = extloader.set_node_status(opts, cdata.nodes)
    insts, groups = cdata.instances, cdata.groups

    # common information
    if not insts and verbose > 1:
        out.write("Cluster is empty.\n")
    out.write("Loaded %d %s, %d %s, %d %s\n" % (
        len(nodes), report.plural(len(nodes), "node", "nodes"),
        len(insts), report.plural(len(insts), "instance", "instances"),
        len(groups), report.plural(len(groups), "node group", "node groups")))
    suffix = common_suffix(cdata)
    if suffix and verbose > 2:
        out.write("Note: Stripping common suffix of '%s' from names\n" % suffix)

    # split instances
    split = find_split_instances(nodes, insts)
    if not split:
        if verbose > 1:
            out.write("No split instances found\n")
    else:
        out.write("Found instances belonging to multiple node groups:\n")
        out.flush()
        for inst in split:
            sys.stderr.write("  " + inst.name + "\n")
        sys.stderr.flush()

    # group information
    rows = []
    all_happy = True
    for gdx, gnodes, ginsts in split_cluster(nodes, insts):
        bad_nodes, bad_insts = bad_items(gnodes)
        happy = not bad_nodes
        all_happy = all_happy and happy
        rows.append([groups[gdx].name, "%d" % len(gnodes), "%d" % len(ginsts),
                     "%d" % len(bad_nodes), "%d" % len(bad_insts),
                     "True" if happy else "False",
                     fmt_f(metrics.comp_cv(gnodes), 8)])
    if verbose > 1:
        out.write("Node group information:\n")
        out.write(report.print_table(
            "  ", ["Group", "Nodes", "Instances", "Bad_Nodes", "Bad_Instances",
                   "N+1", "Score"], rows,
            [False, True, True, True, True, False, True]))
    happy_line = "Cluster is N+1 %s" % ("happy" if all_happy else "unhappy")
    out.write(happy_line + "\n")
    out.flush()
    report.maybe_print_insts(opts.print_instances, "Instances", nodes, insts)
    report.maybe_print_nodes(opts.print_nodes, "Cluster", nodes)
    sys.stderr.flush()
    out.write("Cluster coefficients:\n" + metrics.print_stats("  ", nodes))
    score_line = "Cluster score: %s" % fmt_f(metrics.comp_cv(nodes), 8)
    out.write(score_line + "\n")
    if opts.print_pools:
        out.write(report.print_pools(nodes))
    if page is not None:
        page.cluster(nodes, len(insts), groups)
        page.group_table = (["Group", "Nodes", "Instances", "Bad_Nodes",
                             "Bad_Instances", "N+1", "Score"], rows)
        page.line(happy_line)
        page.line(score_line)
        page.write()
    return 0
