"""Explanations: which constraint refused a node, and by how much (ours).

:func:`explain_trace` turns a :class:`~htools.alloc.solution.Trace` into
readable reasons ("node3: memory short by 1.5 GiB ...").
"""
from __future__ import annotations

import math
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from htools import moves as mv
from htools.alloc import globaln1
from htools.alloc.primitives import extract_nl, inst_matches_policy, update_il
from htools.alloc.solution import Rejection, Trace
from htools.params import AlgorithmOptions
from htools.model import Instance, Node, pm_find, pool_shortage
from htools.types import DiskTemplate, FailMode

# ==========================================================================
# Explanations: which constraint refused a node, and by how much

def fmt_mib(mib: float) -> str:
    """A memory/disk amount for humans: ``512 MiB``, ``1.5 GiB``, ``2 TiB``."""
    a = abs(mib)
    for unit, size in (("TiB", 1024.0 * 1024), ("GiB", 1024.0)):
        if a >= size:
            v = "%.1f" % (mib / size)
            if v.endswith(".0"):
                v = v[:-2]
            return "%s %s" % (v, unit)
    return "%d MiB" % mib


def _peer_name(nl: Optional[Mapping[int, Node]], node: Node) -> str:
    if not node.peers:
        return "?"
    pdx = node.peers[0][0]
    if nl is not None and pdx in nl:
        return nl[pdx].name
    return "node #%d" % pdx


def explain_policy(inst: Instance, ipol, excl_stor: bool) -> str:
    """Why ``inst`` does not fit the instance policy (its first min/max
    pair if none fits, as htools reports)."""
    if ipol.minmax:
        results = []
        for mm in ipol.minmax:
            results.append(_explain_minmax(inst, mm, excl_stor))
        if all(r is not None for r in results):
            return results[0]
    if inst.disk_template not in ipol.disk_templates:
        return "instance policy: disk template %s not allowed (allowed: %s)" % (
            inst.disk_template.value,
            ", ".join(d.value for d in ipol.disk_templates) or "none")
    return "instance policy"


def _explain_minmax(inst: Instance, mm, excl_stor: bool) -> Optional[str]:
    for which, spec in (("below the minimum", mm.min_spec),
                        ("above the maximum", mm.max_spec)):
        lo = which.startswith("below")

        def bad(v: int, lim: int) -> bool:
            return v < lim if lo else v > lim
        if bad(inst.mem, spec.memory_size):
            return "instance policy: memory %s %s %s" % (
                fmt_mib(inst.mem), which, fmt_mib(spec.memory_size))
        for d in inst.disks:
            if bad(d.size, spec.disk_size):
                return "instance policy: disk of %s %s %s" % (
                    fmt_mib(d.size), which, fmt_mib(spec.disk_size))
        if bad(inst.vcpus, spec.cpu_count):
            return "instance policy: %d vcpus %s %d" % (inst.vcpus, which,
                                                       spec.cpu_count)
        if excl_stor:
            total = inst.total_spindles()
            if total is None:
                return ("instance policy: exclusive storage needs the spindles "
                        "of every disk, some are unknown")
            if bad(total, spec.spindle_use):
                return "instance policy: %d spindles %s %d" % (total, which,
                                                              spec.spindle_use)
        elif bad(inst.spindle_use, spec.spindle_use):
            return "instance policy: spindle use %d %s %d" % (
                inst.spindle_use, which, spec.spindle_use)
        if (inst.disk_template != DiskTemplate.DISKLESS
                and bad(len(inst.disks), spec.disk_count)):
            return "instance policy: %d disks %s %d" % (len(inst.disks), which,
                                                       spec.disk_count)
    return None


def _short(what: str, need: int, have: int) -> str:
    if have <= 0:
        return "no free %s left (%s)" % (what, fmt_mib(have))
    if need > have:
        return "%s short by %s (needs %s, %s free)" % (
            what, fmt_mib(need - have), fmt_mib(need), fmt_mib(have))
    return "%s: needs %s, exactly the %s free (some must remain)" % (
        what, fmt_mib(need), fmt_mib(have))


def explain_primary(node: Node, inst: Instance, force: bool,
                    nl: Optional[Mapping[int, Node]] = None) -> str:
    """Why ``node`` refuses ``inst`` as a primary (``Node.addPriEx``'s
    checks in their order)."""
    strict = not force
    uses_disk = inst.uses_local_storage
    tags = [t for t in inst.excl_tags if t in node.p_tags]
    if not inst.forthcoming:
        free = node.unallocated_mem()
        need = inst.mem if inst.uses_memory else 0
        new_free = free - need
        if new_free <= 0:
            return _mem_text(need, free)
        new_dsk = node.f_dsk - inst.dsk if uses_disk else node.f_dsk
        figure = uses_disk and not node._pooled(inst)
        if figure and new_dsk <= 0:
            return _short("disk", inst.dsk, node.f_dsk)
        if strict and figure and new_dsk < node.lo_dsk:
            return ("disk: would leave %s free, below the %s kept free"
                    % (fmt_mib(new_dsk), fmt_mib(node.lo_dsk)))
        why = pool_shortage(node, inst, strict) if uses_disk else None
        if why is not None:
            return why
        if uses_disk and node.excl_storage:
            total = inst.total_spindles()
            if total is None:
                return ("spindles of the instance's disks unknown (exclusive "
                        "storage needs them)")
            if node.f_spindles - total < 0:
                return "spindles short by %d (needs %d, %d free)" % (
                    total - node.f_spindles, total, node.f_spindles)
        if strict and uses_disk and not node.excl_storage:
            new_isp = node.inst_spindles + inst.spindle_use
            if new_isp > node.hi_spindles:
                return ("spindle use would be %s, above the limit %s (spindle "
                        "ratio x spindles)" % (_num(new_isp), _num(node.hi_spindles)))
        if strict and new_free <= node.r_mem and not node.fail_n1:
            return ("N+1: would leave %s unallocated, not more than the %s reserved "
                    "for a failover of %s's instances" % (
                        fmt_mib(new_free), fmt_mib(node.r_mem),
                        _peer_name(nl, node)))
        if strict:
            ucpu = node.u_cpu + (inst.vcpus if inst.not_offline else 0)
            ratio = ucpu / node.t_cpu if node.t_cpu else math.inf
            lim = node.ipolicy.vcpu_ratio
            if lim >= 0 and lim < ratio:
                return ("vcpus: %d virtual on %s physical cpus is a ratio of %s, "
                        "above the limit %s" % (ucpu, _num(node.t_cpu),
                                                "%.2f" % ratio, _num(lim)))
        if strict and tags:
            return "exclusion tag(s) %s already used by a primary instance" % (
                ", ".join(tags))
    if strict:
        return ("counting stopped and forthcoming instances too: "
                + _explain_forth_pri(node, inst))
    return "refused (%s)" % "?"


def _mem_text(need: int, free: int) -> str:
    if free <= 0:
        return "no unallocated memory left (%s)" % fmt_mib(free)
    if need > free:
        return "memory short by %s (needs %s, %s unallocated)" % (
            fmt_mib(need - free), fmt_mib(need), fmt_mib(free))
    return ("memory: needs %s, exactly the %s unallocated (some must remain)"
            % (fmt_mib(need), fmt_mib(free)))


def _num(x: float) -> str:
    if isinstance(x, float) and x.is_integer():
        return "%d" % x
    return ("%.2f" % x) if isinstance(x, float) else "%d" % x


def _explain_forth_pri(node: Node, inst: Instance) -> str:
    uses_disk = inst.uses_local_storage
    mem = node.f_mem_forth - inst.mem
    if mem <= 0:
        return _short("memory", inst.mem, node.f_mem_forth)
    dsk = node.f_dsk_forth - inst.dsk if uses_disk else node.f_dsk_forth
    figure = uses_disk and not node._pooled(inst)
    if figure and dsk <= 0:
        return _short("disk", inst.dsk, node.f_dsk_forth)
    if figure and dsk < node.lo_dsk:
        return "disk would drop below the %s kept free" % fmt_mib(node.lo_dsk)
    why = pool_shortage(node, inst) if uses_disk else None
    if why is not None:
        return why
    if uses_disk and node.excl_storage:
        total = inst.total_spindles()
        if total is None or node.f_spindles_forth - total < 0:
            return "not enough spindles"
    if uses_disk and not node.excl_storage and \
            node.inst_spindles_forth + inst.spindle_use > node.hi_spindles:
        return "spindle use above the limit %s" % _num(node.hi_spindles)
    return "vcpu ratio above the limit %s" % _num(node.ipolicy.vcpu_ratio)


def explain_secondary(node: Node, inst: Instance, pdx: int, force: bool,
                      nl: Optional[Mapping[int, Node]] = None,
                      ignore_disks: bool = False) -> str:
    """Why ``node`` refuses ``inst`` as a secondary (``Node.addSecExEx``)."""
    strict = not force
    if not inst.has_secondary:
        return "disk template %s has no secondary node" % inst.disk_template.value
    if inst.forthcoming:
        return "counting forthcoming instances: not enough resources"
    sec_mem = inst.mem if inst.uses_sec_mem else 0
    new_peem = pm_find(node.peers, pdx) + sec_mem
    free = node.unallocated_mem()
    new_dsk = node.f_dsk - inst.dsk
    figure = not node._pooled(inst)
    if figure and not ignore_disks and new_dsk <= 0:
        return _short("disk", inst.dsk, node.f_dsk)
    if strict and figure and new_dsk < node.lo_dsk:
        return "disk: would leave %s free, below the %s kept free" % (
            fmt_mib(new_dsk), fmt_mib(node.lo_dsk))
    why = None if ignore_disks else pool_shortage(node, inst, strict)
    if why is not None:
        return why
    if node.excl_storage:
        total = inst.total_spindles()
        if total is None:
            return ("spindles of the instance's disks unknown (exclusive "
                    "storage needs them)")
        if node.f_spindles - total < 0:
            return "spindles short by %d (needs %d, %d free)" % (
                total - node.f_spindles, total, node.f_spindles)
    if strict and not node.excl_storage and inst.uses_local_storage:
        new_isp = node.inst_spindles + inst.spindle_use
        if new_isp > node.hi_spindles:
            return ("spindle use would be %s, above the limit %s" % (
                _num(new_isp), _num(node.hi_spindles)))
    if strict and sec_mem >= free:
        return "could not host the instance after a failover: " + \
            _mem_text(sec_mem, free)
    pname = nl[pdx].name if nl is not None and pdx in nl else "its primary"
    if strict and free <= max(node.r_mem, new_peem) and not node.fail_n1:
        return ("N+1: if %s failed this node would need %s for its instances, "
                "only %s unallocated" % (pname, fmt_mib(max(node.r_mem, new_peem)),
                                         fmt_mib(free)))
    return "counting stopped and forthcoming instances too: not enough resources"


def explain_mig(src: Node, dst: Node) -> str:
    missing = sorted(src.mig_tags - dst.rmig_tags)
    return "migration from %s not allowed (missing migration tag(s) %s)" % (
        src.name, ", ".join(missing))


def _explain_failover(nl: Mapping[int, Node], inst: Instance, force: bool) -> str:
    """Why failing ``inst`` over to its secondary fails."""
    old_p, old_s = nl[inst.pnode], nl[inst.snode]
    if not mv.check_migration(old_p, old_s):
        return explain_mig(old_p, old_s)
    int_s = old_s.remove_sec(inst)
    res = int_s.add_pri(inst, force=old_p.offline or force)
    if isinstance(res, FailMode):
        return explain_primary(int_s, inst, old_p.offline or force, nl)
    int_p = old_p.remove_pri(inst)
    return explain_secondary(int_p, inst, inst.snode, old_p.offline or force, nl,
                             ignore_disks=old_p.offline)


def diagnose_evacuation(nl: Mapping[int, Node], il: Mapping[int, Instance],
                        node: Node) -> Optional[str]:
    """Why ``node`` cannot be evacuated (GlobalN1's ``canEvacuateNode``),
    or None if it can."""
    drbd, shared, nonmove = [], [], []
    for idx in node.p_list:
        inst = il.get(idx)
        if inst is None:
            return "instance #%d unknown" % idx
        dt = inst.disk_template
        if dt == DiskTemplate.DRBD:
            drbd.append(idx)
        elif dt in globaln1.DISK_TEMPLATE_MOVABLE:
            shared.append(idx)
        else:
            nonmove.append(idx)
    cur = dict(nl)
    cil = dict(il)
    for idx in drbd:
        inst = cil[idx]
        if inst.snode not in cur:
            return "the secondary of %s is not in the node list" % inst.name
        res = mv.apply_move(True, cur, inst, mv.IMove(mv.FAILOVER))
        if isinstance(res, FailMode):
            return "failing over %s (%s) to %s: %s" % (
                inst.name, fmt_mib(inst.mem), cur[inst.snode].name,
                _explain_failover(cur, inst, True))
        cur.update(res[0])
        cil[idx] = res[1]
    gdx = node.group
    escape = [k for k in sorted(cur) if cur[k].group == gdx and k != node.idx]
    for idx in shared:
        inst = cil[idx]
        best = globaln1._evac_shared(cur, inst, gdx, escape)
        if best is None:
            return ("moving %s (%s) to another node of the group: no node can "
                    "host it%s" % (inst.name, fmt_mib(inst.mem),
                                   _why_nowhere(cur, inst, escape, False)))
        cur, new_inst = best
        cil[idx] = new_inst
    todo = sorted((cil[i] for i in nonmove), key=lambda i: -i.mem)
    for inst in todo:
        res = globaln1.recreate(cur, cil, inst, escape)
        if res is None:
            return ("re-creating %s (%s) on another node of the group: no node "
                    "can host it%s" % (inst.name, fmt_mib(inst.mem),
                                       _why_nowhere(cur, inst, escape, True)))
        cur, cil = res
    return None


def _why_nowhere(nl: Mapping[int, Node], inst: Instance, targets: Sequence[int],
                 policy: bool, limit: int = 3) -> str:
    """`` (nodeA: reason; nodeB: reason)`` for the first target nodes."""
    if not targets:
        return " (it is the only node of its group)"
    parts = []
    for ndx in targets[:limit]:
        node = nl[ndx]
        if policy and inst_matches_policy(inst, node.ipolicy,
                                          node.excl_storage) is not None:
            why = explain_policy(inst, node.ipolicy, node.excl_storage)
        elif not policy and not mv.check_migration(nl[inst.pnode], node):
            why = explain_mig(nl[inst.pnode], node)
        else:
            why = explain_primary(node, inst, True, nl)
        parts.append("%s: %s" % (node.name, why))
    more = len(targets) - limit
    return " (%s%s)" % ("; ".join(parts), "; ..." if more > 0 else "")


def _first_not_evacuable(nl, il, accept_existing: bool = False):
    for k in sorted(nl):
        n = nl[k]
        if accept_existing and n.offline:
            continue
        why = diagnose_evacuation(nl, il, n)
        if why is not None:
            return n, why
    return None, None


def explain_rejection(rej: Rejection, force: bool) -> str:
    """One sentence (without context) for a rejection."""
    nl = rej.nl
    if rej.stage == "policy":
        return explain_policy(rej.inst, rej.node.ipolicy, rej.node.excl_storage)
    if rej.mode == FailMode.FailMig and rej.stage != "n1":
        src = nl.get(rej.inst.pnode) if nl is not None else None
        if src is not None and src is not rej.node:
            return "%s: %s" % (rej.node.name, explain_mig(src, rej.node))
        return "%s: migration tags do not allow the move" % rej.node.name
    if rej.stage == "primary":
        return "%s: %s" % (rej.node.name, explain_primary(rej.node, rej.inst,
                                                          force, nl))
    if rej.stage == "secondary":
        return "%s (as secondary): %s" % (
            rej.node.name, explain_secondary(rej.node, rej.inst, rej.pdx, force, nl))
    if rej.stage == "failover":
        return "failover to %s: %s" % (rej.node.name,
                                       _explain_failover(nl, rej.inst, force)
                                       if nl is not None and rej.inst.snode in nl
                                       else rej.mode.name)
    if rej.stage == "n1":
        el = rej.element
        if callable(el):
            el = rej.element = el()
        where = "/".join(n.name for n in el.placed)
        new_il = update_il(rej.il, el)
        new_nl = extract_nl(rej.nl, rej.il, el)
        bad, why = _first_not_evacuable(new_nl, new_il)
        if bad is None:
            return "%s: N+1 redundancy check failed" % where
        before = diagnose_evacuation(rej.nl, rej.il, rej.nl[bad.idx]) \
            if bad.idx in rej.nl else None
        tail = " (already the case before the allocation)" if before else ""
        return ("%s: N+1: %s could then not be evacuated: %s%s"
                % (where, bad.name, why, tail))
    return "%s: %s" % (rej.node.name if rej.node else "?", rej.mode.name)


def explain_trace(opts: AlgorithmOptions, cdata, trace: Trace, rq, success: bool,
                  failed_items: Sequence, limit: int = 40) -> List[str]:
    """Sentences for the failures of a request (see ``hail``).

    One sentence per (instance, group, refusing node and role): the first
    constraint that failed there and by how much; N+1 refusals name the node
    that could not be evacuated afterwards and why.  At most ``limit``
    sentences (plus a count of the rest)."""
    failed_names = {item[0] for item in failed_items} if success else None
    force = opts.ignore_soft_errors
    out: List[str] = []
    seen = set()
    n1_per_ctx: Dict[Tuple[str, str], int] = {}
    extra = 0
    multi_inst = len({r.ctx_inst for r in trace.items}) > 1 or bool(failed_names)
    multi_group = len({r.ctx_group for r in trace.items}) > 1
    for rej in trace.items:
        if failed_names is not None and rej.ctx_inst not in failed_names:
            continue
        role = rej.stage
        key_node = rej.node.name if rej.node is not None else ""
        if rej.stage == "policy":
            key_node = ""
        if rej.stage == "n1":
            ctx = (rej.ctx_inst, rej.ctx_group)
            if n1_per_ctx.get(ctx, 0) >= 2:
                continue
            n1_per_ctx[ctx] = n1_per_ctx.get(ctx, 0) + 1
            if callable(rej.element):
                rej.element = rej.element()
            key_node = "/".join(n.name for n in rej.element.placed)
        key = (rej.ctx_inst, rej.ctx_group, role, key_node)
        if key in seen:
            continue
        seen.add(key)
        if len(out) >= limit:
            extra += 1
            continue
        text = explain_rejection(rej, force)
        prefix = []
        if multi_inst and rej.ctx_inst:
            prefix.append(rej.ctx_inst)
        if rej.ctx_group and (multi_group or rej.stage == "policy"):
            prefix.append("group " + rej.ctx_group)
        out.append(": ".join(prefix + [text]))
    if extra:
        out.append("... and %d more" % extra)
    return out
