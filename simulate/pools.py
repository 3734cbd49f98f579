"""Multi-VG clusters: a generated cluster plus storage pools.

Takes a cluster of :mod:`simulate.generator` and gives its nodes several
LVM volume groups, unevenly: every node has the default VG (``xenvg``),
only some have the HDD VG (``vg_ganeti_hdd``), optionally a third one
(``vg_ganeti_nvme``) on a few.  ``hdd_frac`` of all instances (as far as
there are plain/DRBD instances whose nodes all have the HDD VG) get their
disks on it; a DRBD disk there keeps
its meta LV on the default VG unless ``meta_on_hdd``.  Volume group sizes
are what the disks use plus a random headroom, so some VGs are nearly full.
The result is written in the text format with the storage-pool section
(loadable by the reference, which ignores that section)::

    python -m simulate.pools --nodes 20 --instances 200 --without-hdd 8 \\
        --hdd-frac 0.33 --seed 1 -o multivg.data
"""
from __future__ import annotations

import argparse
import sys
from random import Random
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import List, Optional

DEFAULT_VG = "xenvg"
HDD_VG = "vg_ganeti_hdd"
NVME_VG = "vg_ganeti_nvme"


def add_pools(text: str, without_hdd: int, hdd_frac: float, seed: int,
              nvme_nodes: int = 0, meta_on_hdd_frac: float = 0.0) -> str:
    """``text`` (a text-format cluster) with storage pools."""
    from backends.text import parse_data, serialize_cluster
    from htools.model import pool_demand, set_pool_disks
    from htools.types import DiskTemplate

    rng = Random(seed)
    cdata = parse_data(text)
    nodes = cdata.nodes
    order = sorted(range(len(nodes)), key=lambda _: rng.random())
    no_hdd = set(order[:without_hdd])
    nvme = set(order[without_hdd:without_hdd + nvme_nodes])
    local = (DiskTemplate.PLAIN, DiskTemplate.DRBD)
    used = [dict() for _ in nodes]
    eligible = [i.idx for i in cdata.instances
                if i.disk_template in local
                and all(n not in no_hdd for n in i.all_nodes())]
    eligible.sort(key=lambda _: rng.random())
    hdd = set(eligible[:int(round(hdd_frac * len(cdata.instances)))])
    for inst in cdata.instances:
        if inst.disk_template not in local:
            continue
        holders = inst.all_nodes()
        on_hdd = inst.idx in hdd
        on_nvme = (not on_hdd and all(n in nvme for n in holders)
                   and rng.random() < 0.5)
        vg = HDD_VG if on_hdd else NVME_VG if on_nvme else DEFAULT_VG
        meta = None
        if inst.disk_template == DiskTemplate.DRBD:
            meta = (HDD_VG if on_hdd and rng.random() < meta_on_hdd_frac
                    else DEFAULT_VG)
        size = inst.dsk
        if inst.disk_template == DiskTemplate.DRBD:
            size = max(1, inst.dsk - 128)   # dsk counts the meta LV
        set_pool_disks(inst, [(size, vg, meta)])
        demand = pool_demand(inst.disk_template, inst.pool_disks)
        for ndx in holders:
            for pvg, amt in demand.items():
                used[ndx][pvg] = used[ndx].get(pvg, 0) + amt
    for ndx, node in enumerate(nodes):
        vgs = [DEFAULT_VG]
        if ndx not in no_hdd:
            vgs.append(HDD_VG)
        if ndx in nvme:
            vgs.append(NVME_VG)
        base = max(1, int(node.t_dsk) // len(vgs))
        pools = {}
        for vg in vgs:
            u = used[ndx].get(vg, 0)
            total = max(base, int(u * (1.1 + rng.random())))
            pools[vg] = (total, total - u)
        node.pools = pools
    return serialize_cluster(cdata)


_MOVE_RE = r"^\s*\d+\. (\S+)\s+(\S+)\s+=> (\S+)"


def failing_moves(text: str, hbal_output: str) -> List[str]:
    """Replay the moves of an ``hbal`` output on the pools of cluster
    ``text``, in order: the moves that would create storage on a node
    lacking the volume group or its free space (as Ganeti's replace-disks
    would fail), one line each (``step instance node: reason``)."""
    return replay(text, hbal_output)[0]


def replay(text: str, hbal_output: str):
    """``failing_moves`` and the nodes with their pools after the moves
    (a failing move still takes the space it would have taken)."""
    import re
    from backends.text import parse_data
    from htools.loader import common_suffix
    from htools.model import pool_shortage

    cdata = parse_data(text)
    # hbal shows names without the cluster's common domain suffix
    suffix = common_suffix(cdata)
    nodes = {n.name: n for n in cdata.nodes}
    insts = {i.name: i for i in cdata.instances}
    for table in (nodes, insts):
        for name in list(table):
            if suffix and name.endswith(suffix):
                table[name[:-len(suffix)]] = table[name]
    bad = []
    step = 0
    for line in hbal_output.splitlines():
        m = re.match(_MOVE_RE, line)
        if not m:
            continue
        step += 1
        inst = insts[m.group(1)]
        old = [x for x in m.group(2).split(":") if x]
        new = [x for x in m.group(3).split(":") if x]
        if not inst.pools:
            continue
        for name in old:
            if name not in new:
                nodes[name].pools = nodes[name]._pools_with(inst, -1)
        for name in new:
            if name in old:
                continue
            why = pool_shortage(nodes[name], inst, strict=False)
            if why is not None:
                bad.append("%d %s %s: %s" % (step, inst.name, nodes[name].name,
                                             why))
            nodes[name].pools = nodes[name]._pools_with(inst, 1)
    return bad, cdata.nodes


def spreads(nodes) -> List[str]:
    """Per volume group (by name): the deviation of its free share over
    the online nodes having it, and the pool metric (their mean), one line
    each."""
    from htools import metrics
    online = [n for n in nodes if not n.offline]
    if not metrics.pools_known(online):
        return []
    lines = []
    for vg in metrics.pool_names(online):
        sd = metrics.agg_stddev([metrics.pool_free(n, vg) for n in online
                                 if n.pools and vg in n.pools])
        lines.append("spread %s %.4f" % (vg, sd))
    lines.append("pool metric %.4f" % metrics.pool_free_cv(online))
    return lines


def single_pool(text: str, vg: str = DEFAULT_VG) -> str:
    """``text`` with one volume group per node holding exactly the node's
    disk figures and every plain/DRBD disk on it: the pool rule then says
    what the disk rule says (the reference's results, bit for bit)."""
    from backends.text import parse_data, serialize_cluster
    from htools.model import set_pool_disks
    from htools.types import DiskTemplate

    cdata = parse_data(text)
    for node in cdata.nodes:
        node.pools = {vg: (int(node.t_dsk), node.f_dsk)}
    for inst in cdata.instances:
        if inst.disk_template == DiskTemplate.DRBD:
            set_pool_disks(inst, [(inst.dsk - 128, vg, vg)])
        elif inst.disk_template == DiskTemplate.PLAIN:
            set_pool_disks(inst, [(inst.dsk, vg, None)])
    return serialize_cluster(cdata)


def generate(nodes: int = 20, instances: int = 200, without_hdd: int = 8,
             hdd_frac: float = 0.33, seed: int = 1, nvme_nodes: int = 0,
             meta_on_hdd_frac: float = 0.0, domain: str = "",
             **params) -> str:
    """A generated cluster (:func:`simulate.generator.generate`, with its
    other ``params``) with pools."""
    from simulate.generator import generate as gen_cluster
    text = gen_cluster(nodes=nodes, instances=instances, seed=seed,
                       domain=domain, **params)
    return add_pools(text, without_hdd, hdd_frac, seed, nvme_nodes,
                     meta_on_hdd_frac)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulate.pools",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--without-hdd", type=int, default=8)
    ap.add_argument("--hdd-frac", type=float, default=0.33)
    ap.add_argument("--nvme-nodes", type=int, default=0)
    ap.add_argument("--meta-on-hdd-frac", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--domain", default="", help="e.g. .torproject.org")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--check", metavar="HBAL_OUTPUT",
                    help="instead: replay the moves of an hbal output on "
                         "the pools of the cluster file given by --cluster "
                         "and list those that would fail")
    ap.add_argument("--cluster", help="the cluster file of --check")
    ap.add_argument("--spread", action="store_true",
                    help="with --check: also print each volume group's "
                         "spread of free space after the moves")
    a = ap.parse_args(argv)
    if a.check:
        with open(a.cluster) as fh:
            text = fh.read()
        with open(a.check) as fh:
            out = fh.read()
        bad, nodes = replay(text, out)
        for line in bad:
            print(line)
        print("%d failing move(s)" % len(bad))
        if a.spread:
            for line in spreads(nodes):
                print(line)
        return 1 if bad else 0
    text = generate(a.nodes, a.instances, a.without_hdd, a.hdd_frac, a.seed,
                    a.nvme_nodes, a.meta_on_hdd_frac, a.domain)
    out = sys.stdout if a.output == "-" else open(a.output, "w")
    with out:
        out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
