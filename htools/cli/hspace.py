"""hspace: cluster capacity planning (htools' ``Program/Hspace.hs``, 3.0.2).

Both phases (tiered, then standard) run from the initial state; output is
human-readable or ``--machine-readable`` shell assignments (``HTS_*``).
"""
from __future__ import annotations

from htools import record
import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Sequence, Tuple

from htools.cli.options import Options
from htools.errors import HtoolsError
from htools.haskell.prelude import fdiv
from htools.haskell.show import show_string_list

PREFIX = "HTS"

STATS_KEYS = ("SCORE", "INST_CNT", "MEM_FREE", "MEM_AVAIL", "MEM_RESVD",
              "MEM_INST", "MEM_OVERHEAD", "MEM_EFF", "DSK_FREE", "DSK_AVAIL",
              "DSK_RESVD", "DSK_INST", "DSK_EFF", "SPN_FREE", "SPN_INST",
              "SPN_EFF", "CPU_INST", "CPU_EFF", "MNODE_MEM_AVAIL",
              "MNODE_DSK_AVAIL")


def _ensure_quoted(v: str) -> str:
    if all(c.isalnum() or c == "." for c in v):
        return v
    return "'" + v + "'"


def _keys(out, pairs: Sequence[Tuple[str, str]]) -> None:
    for k, v in pairs:
        out.write("%s_%s=%s\n" % (PREFIX, k.upper(), _ensure_quoted(v)))


def mem_eff(cs) -> float:
    return fdiv(cs.imem, cs.tmem)


def dsk_eff(cs) -> float:
    return fdiv(cs.idsk, cs.tdsk)


def cpu_eff(cs) -> float:
    return fdiv(cs.icpu, float(cs.vcpu))


def spn_eff(cs) -> float:
    return fdiv(cs.ispn, cs.tspn)


def stats_data(cs) -> List[Tuple[str, str]]:
    from htools.haskell.fmt import fmt_f
    vals = [fmt_f(cs.score, 8), "%d" % cs.ninst, "%d" % cs.fmem,
            "%d" % cs.amem, "%d" % (cs.fmem - cs.amem), "%d" % cs.imem,
            "%d" % (cs.xmem + cs.nmem), fmt_f(mem_eff(cs), 8),
            "%d" % cs.fdsk, "%d" % cs.adsk, "%d" % (cs.fdsk - cs.adsk),
            "%d" % cs.idsk, fmt_f(dsk_eff(cs), 8), "%d" % cs.fspn,
            "%d" % cs.ispn, fmt_f(spn_eff(cs), 8), "%d" % cs.icpu,
            fmt_f(cpu_eff(cs), 8), "%d" % cs.mmem, "%d" % cs.mdsk]
    return list(zip(STATS_KEYS, vals))


def _cluster_data(cs, spn: bool) -> List[Tuple[str, str]]:
    from htools.haskell.fmt import fmt_f
    d = [("MEM", fmt_f(cs.tmem, 0)), ("DSK", fmt_f(cs.tdsk, 0)),
         ("CPU", fmt_f(cs.tcpu, 0)), ("VCPU", "%d" % cs.vcpu)]
    if spn:
        d.append(("SPN", fmt_f(cs.tspn, 0)))
    return d


def _spec_data(spec, spn: bool) -> List[Tuple[str, str]]:
    mem, dsk, cpu, sp = spec
    d = [("MEM", "%d" % mem), ("DSK", "%d" % dsk), ("CPU", "%d" % cpu)]
    if spn:
        d.append(("SPN", "%d" % sp))
    return d


def _fmt_resources(d: Sequence[Tuple[str, str]]) -> str:
    return ", ".join("%s %s" % (a, v) for a, v in d)


def _have_excl(nodes) -> bool:
    return any(n.excl_storage for n in nodes)


def _show_allocnodes(an) -> str:
    kind, targets = an
    if kind == "single":
        return "Left [" + ",".join("%d" % x for x in targets) + "]"
    return "Right [" + ",".join(
        "(%d,[%s])" % (p, ",".join("%d" % s for s in ss)) for p, ss in targets) + "]"


def fr_scores(ini_nodes, fin_nodes, sreason) -> List[str]:
    """The lines of an allocation's failure reason, scores and efficiency."""
    from htools import metrics
    from htools.alloc.capacity import total_resources
    from htools.haskell.fmt import fmt_f
    lines = ["  - most likely failure reason: %s" % sreason[0][0].name,
             "  - initial cluster score: %s" % fmt_f(metrics.comp_cv(ini_nodes), 8),
             "  -   final cluster score: %s" % fmt_f(metrics.comp_cv(fin_nodes), 8)]
    cs = total_resources(fin_nodes)
    fmt = [("memory", mem_eff), ("disk", dsk_eff), ("vcpu", cpu_eff)]
    if _have_excl(fin_nodes):
        fmt.append(("spindles", spn_eff))
    width = max(len(s) for s, _ in fmt)
    for s, fn in fmt:
        lines.append("  - %s usage efficiency: %s%%"
                     % (s.rjust(width), fmt_f(fn(cs) * 100, 2, 5)))
    return lines


def _print_fr_scores(out, ini_nodes, fin_nodes, sreason) -> None:
    out.write("".join(line + "\n" for line in fr_scores(ini_nodes, fin_nodes, sreason)))


def _print_alloc_map(verbose: int, msg: str, nl, ixes) -> None:
    if verbose <= 1:
        return
    from htools.report import format_table
    excl = _have_excl(nl.values())
    rows = []
    for i in reversed(ixes):
        if excl:
            ts = i.total_spindles()
            sp = "?" if ts is None else "%d" % ts
        else:
            sp = ""
        rows.append([i.name, nl[i.pnode].name,
                     "" if i.snode < 0 or i.snode not in nl else nl[i.snode].name,
                     "%d" % i.mem, "%d" % i.dsk, "%d" % i.vcpus, sp])
    err = sys.stderr
    err.write(msg + " map\n")
    for line in format_table(rows, [False, False, False, True, True, True, True]):
        err.write(" " + " ".join(line) + "\n")


def _on_pool(opts: Options, inst, nodes):
    """``--pool=VG[:METAVG]`` (ours): the simulated instances' disks on
    volume group VG (a DRBD meta LV on METAVG, default VG), so that only
    nodes with that VG and its free space take them.  A VG no node has is
    an error (shrinking the disks could never make them fit)."""
    if opts.pool is None:
        return inst
    from htools.model import set_pool_disks
    vg, _, meta = opts.pool.partition(":")
    set_pool_disks(inst, [(d.size, vg, meta or None) for d in inst.disks])
    for pool in inst.pools:
        if not any(n.pools and pool in n.pools for n in nodes.values()):
            raise HtoolsError("--pool: no node has volume group %s" % pool)
    return inst


def _check_pool(opts: Options, nodes) -> None:
    """``--pool`` before any output: its volume groups exist somewhere."""
    if opts.pool is not None:
        from htools.alloc.capacity import inst_from_spec
        from htools.types import DiskTemplate
        _on_pool(opts, inst_from_spec(1, 1, 1, 1, DiskTemplate.PLAIN, 1), nodes)


def run(opts: Options, args: list) -> int:
    if args:
        raise HtoolsError("This program doesn't take any arguments.")
    from htools.alloc.place import gen_alloc_nodes
    from htools.alloc.solution import AllocFailure
    from htools.params import AlgorithmOptions
    from htools.alloc import capacity as cap
    from htools import extloader, report, metrics
    from htools.alloc.globaln1 import redundant_grp
    from htools.haskell.fmt import fmt_f, show_double
    from htools.loader import common_suffix
    from htools.types import AllocPolicy, DiskTemplate, FailMode

    out = sys.stdout
    err = sys.stderr
    verbose = opts.verbose
    machine_r = opts.machine_readable
    independent = opts.independent_groups
    accept_existing = opts.accept_existing
    alg = AlgorithmOptions.from_cli(opts)
    page = None
    if opts.html_report is not None:
        from htools.html.capacity import CapacityReport
        page = CapacityReport(opts.html_report)

    def emit(pairs) -> None:
        """``HTS_*`` keys: printed with -m, collected for the report."""
        if page is not None:
            page.keys.extend((k.upper(), v) for k, v in pairs)
        if machine_r:
            _keys(out, pairs)

    orig = extloader.load_external_data(opts)
    fixed_nodes = orig.nodes
    nodes = extloader.set_node_status(opts, fixed_nodes)
    ipol = orig.ipolicy
    if not ipol.disk_templates:
        raise HtoolsError("null list of disk templates received from cluster")
    cluster_dt = ipol.disk_templates[0]
    nl = {n.idx: n for n in nodes}
    _check_pool(opts, nl)
    il = {i.idx: i for i in orig.instances}
    num_instances = len(il)
    node_count = len(fixed_nodes)
    dt = DiskTemplate(opts.disk_template) if opts.disk_template else cluster_dt
    req_nodes = cap.required_nodes(dt)
    csf = common_suffix(orig)
    su = opts.spindle_use if opts.spindle_use is not None else ipol.std.spindle_use

    if csf and verbose > 1:
        err.write("Note: Stripping common suffix of '%s' from names\n" % csf)
    nlist = [nl[k] for k in sorted(nl)]
    report.maybe_print_nodes(opts.print_nodes, "Initial cluster", nlist)
    if verbose > 2:
        err.write("Initial coefficients: overall %s\n%s"
                  % (fmt_f(metrics.comp_cv(nlist), 8), metrics.print_stats("  ", nlist)))

    ini_stats = cap.total_resources(nlist)
    excl = _have_excl(nlist)
    if page is not None:
        page.initial(nlist, _fmt_resources(_cluster_data(ini_stats, excl)))
    if machine_r or page is not None:
        emit([("CLUSTER_" + a, v) for a, v in _cluster_data(ini_stats, True)])
        emit([("CLUSTER_NODES", "%d" % node_count)])
        emit([("INI_" + k, v) for k, v in stats_data(ini_stats)])
    if not machine_r:
        out.write("The cluster has %d nodes and the following resources:\n  %s.\n"
                  % (node_count, _fmt_resources(_cluster_data(ini_stats, excl))))
        ic = ini_stats.ninst
        out.write("There are %s initial instances on the cluster.\n"
                  % ("%d" % ic if ic > 0 else "no"))

    bad_nodes = [n for n in nlist if not n.offline and n.fail_n1]
    groups = list(orig.groups)
    if verbose > 3 and bad_nodes:
        err.write("Bad nodes: %s\n" % show_string_list([n.name for n in bad_nodes]))
    # htools evaluates the global N+1 check of the groups only when it shows
    # them (-v x4) or uses them (--independent-groups): an instance split
    # over groups makes that check crash (MissingKey), otherwise unseen
    if verbose > 3 or independent:
        bad_grp_idxs = [g.idx for g in sorted(groups, key=lambda g: g.idx)
                        if not redundant_grp(nl, il, g.idx, alg.accept_existing,
                                             alg.capacity_ignore_groups)]
    else:
        bad_grp_idxs = []
    if verbose > 3 and bad_grp_idxs:
        by_idx = {g.idx: g for g in groups}
        err.write("Bad groups: %s\n"
                  % show_string_list([by_idx[i].name for i in bad_grp_idxs]))

    def mark(gs, idxs):
        idxs = set(idxs)
        return [record.replace(g, alloc_policy=AllocPolicy.UNALLOCABLE)
                if g.idx in idxs else g for g in gs]
    gl1 = groups if accept_existing else mark(groups, [n.group for n in bad_nodes])
    if independent:
        gl2 = mark(gl1, bad_grp_idxs)
        alg2 = alg.replace(capacity_ignore_groups=tuple(bad_grp_idxs))
    else:
        gl2, alg2 = gl1, alg
    remaining = any(g.is_allocable for g in gl2)
    if accept_existing or (independent and remaining) or not bad_nodes:
        stopped = False
    else:
        stopped = True
    limit = None if opts.max_length == -1 else opts.max_length

    # genAllocNodes indexes groups by position
    gl_by_pos = sorted(gl2, key=lambda g: g.idx)
    try:
        allocnodes = gen_alloc_nodes(alg2, gl_by_pos, nl, req_nodes, True)
    except AllocFailure as e:
        raise HtoolsError("failure during allocation: %s" % e) from None
    if verbose > 3:
        err.write("Allocatable nodes: %s\n" % _show_allocnodes(allocnodes))

    if opts.tiered_spec is not None:
        t = opts.tiered_spec
        tspecs = [(t.mem, t.dsk, t.cpu, t.spn)]
    else:
        tspecs = [(mm.max_spec.memory_size, mm.max_spec.disk_size,
                   mm.max_spec.cpu_count, mm.max_spec.spindle_use)
                  for mm in ipol.minmax]
    if not tspecs:
        raise HtoolsError("Empty list of specs received from the cluster")

    def run_alloc(fn):
        if stopped:
            return cap.AllocResult([(FailMode.FailN1, 1)], nl, il, [])
        try:
            return fn()
        except AllocFailure as e:
            raise HtoolsError("failure during allocation: %s" % e) from None

    def tiered():
        res = cap.AllocResult([], nl, il, [])
        for ts in tspecs:
            inst = _on_pool(opts, cap.inst_from_spec(ts[0], ts[1], ts[2], ts[3],
                                                     dt, su), nl)
            n = len(res.ixes)
            if limit is not None and limit <= n:
                continue
            newlimit = None if limit is None else limit - n
            res = cap.tiered_alloc(alg2, res.nl, res.il, newlimit, inst,
                                   allocnodes, res.ixes)
        return res

    def post(res, spec, kind: str):
        descr = kind + " allocation"
        new_list = [res.nl[k] for k in sorted(res.nl)]
        ex = _have_excl(new_list)
        prefix = "SPEC" if kind == "Standard" else "TSPEC_INI"
        description = ("Standard (fixed-size)" if kind == "Standard"
                       else "Tiered (initial size)")
        if page is not None:
            page.spec(kind, _fmt_resources(_spec_data(spec, ex)), dt.value)
        if machine_r or page is not None:
            emit([(prefix + "_" + a, v) for a, v in _spec_data(spec, True)])
            emit([(prefix + "_RQN", "%d" % req_nodes)])
            emit([(prefix + "_DISK_TEMPLATE", dt.value)])
        if not machine_r:
            out.write("%s instance spec is:\n  %s, using disk template '%s'.\n"
                      % (description, _fmt_resources(_spec_data(spec, ex)), dt.value))
        out.flush()
        _print_alloc_map(verbose, descr, res.nl, res.ixes)
        report.maybe_print_nodes(opts.print_nodes, descr, new_list)
        extloader.maybe_save(opts.save_cluster, kind.lower(),
                             "after " + descr.lower(),
                             record.replace(
                                 orig, nodes=new_list,
                                 instances=[res.il[k] for k in sorted(res.il)]))
        return cap.sort_reasons(res.fails), new_list

    # tiered
    tres = run_alloc(lambda: cap.run_deep(tiered))
    treason, trl_list = post(tres, tspecs[0], "Tiered")
    spec_map = cap.tiered_spec_map(tres.ixes)
    if page is not None:
        page.tiered(trl_list, [(_fmt_resources(_spec_data(s, excl)), c)
                               for s, c in spec_map], treason,
                    fr_scores(nlist, trl_list, treason) if treason else [])
    if machine_r or page is not None:
        emit([("TRL_" + k, v) for k, v in stats_data(cap.total_resources(trl_list))])
        emit([("TSPEC", " ".join("%d,%d,%d,%d=%d" % (s + (c,))
                                 for s, c in spec_map))])
        trl_stats = cap.total_resources(trl_list)
        for name, r in zip(("USED", "POOL", "UNAV"),
                           cap.compute_allocation_delta(ini_stats, trl_stats)):
            emit([("KM_%s_CPU" % name, "%d" % r.vcpus),
                  ("KM_%s_NPU" % name, show_double(r.ncpus)),
                  ("KM_%s_MEM" % name, "%d" % r.mem),
                  ("KM_%s_DSK" % name, "%d" % r.dsk),
                  ("KM_%s_SPN" % name, "%d" % r.spn)])
    if not machine_r:
        out.write("Tiered allocation results:\n")
        if not spec_map:
            out.write("  - no instances allocated\n")
        else:
            for s, c in spec_map:
                out.write("  - %3d instances of spec %s\n"
                          % (c, _fmt_resources(_spec_data(s, excl))))
        if not treason:
            raise HtoolsError("Internal error, no failure reasons?!")
        _print_fr_scores(out, nlist, trl_list, treason)

    # standard
    if opts.std_spec is not None:
        s = opts.std_spec
        ispec = (s.mem, s.dsk, s.cpu, s.spn)
    else:
        st = ipol.std
        ispec = (st.memory_size, st.disk_size, st.cpu_count, st.spindle_use)
    sinst = _on_pool(opts, cap.inst_from_spec(ispec[0], ispec[1], ispec[2],
                                              ispec[3], dt, su), nl)
    sres = run_alloc(lambda: cap.iterate_alloc(alg2, nl, il, limit, sinst,
                                               allocnodes, []))
    sreason, fin_list = post(sres, ispec, "Standard")
    allocs = len(sres.ixes)
    if page is not None:
        page.standard(fin_list, allocs, sreason,
                      fr_scores(nlist, fin_list, sreason) if sreason else [])
    if machine_r or (page is not None and sreason):
        fin_stats = cap.total_resources(fin_list)
        if machine_r and num_instances + allocs != fin_stats.ninst:
            raise HtoolsError("internal inconsistency, allocated (%d) != counted (%d)\n"
                              % (num_instances + allocs, fin_stats.ninst))
        if not sreason:
            raise HtoolsError("Internal error, no failure reasons?!")
        emit([("FIN_" + k, v) for k, v in stats_data(fin_stats)])
        emit([("ALLOC_USAGE", fmt_f(fdiv(num_instances, num_instances + allocs), 8)),
              ("ALLOC_INSTANCES", "%d" % allocs),
              ("ALLOC_FAIL_REASON", sreason[0][0].name.upper())])
        emit([("ALLOC_%s_CNT" % fm.name, "%d" % c) for fm, c in sreason])
        emit([("OK", "1")])
    if not machine_r:
        out.write("Normal (fixed-size) allocation results:\n")
        out.write("  - %3d instances allocated\n" % allocs)
        if not sreason:
            raise HtoolsError("Internal error, no failure reasons?!")
        _print_fr_scores(out, nlist, fin_list, sreason)
    if opts.print_pools and not machine_r:
        from htools.report import print_pools
        out.write("Initial " + print_pools(nlist))
        out.write("After the normal allocation: " + print_pools(fin_list))
    out.flush()
    if page is not None:
        page.write()
    return 0
