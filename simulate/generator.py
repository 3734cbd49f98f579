"""Deterministic random cluster generator for the Ganeti htools text backend.

The generator produces *unbalanced* but realistic clusters in the text format
read by ``hbal -t FILE`` & co. (see ``Ganeti/HTools/Backend/Text.hs``): a
groups section, a nodes section, an instances section, the cluster tags and an
optional ipolicy section, separated by empty lines.

Everything is derived from ``random.Random(seed)`` and only ``random()`` /
``getrandbits()`` are used (never ``choices``/``shuffle``/``randint``) so that
the output is byte-identical for a given ``(seed, params)`` across Python
versions.

Python API::

    from simulate.generator import generate, write, PRESETS
    text = generate(nodes=20, instances=200, groups=1, seed=3)
    write("cluster.data", **PRESETS["20x200"], seed=7)

CLI::

    python -m simulate.generator --nodes 20 --instances 200 --groups 1 \\
        --seed 3 -o file.data
    python -m simulate.generator --preset 1000x20000 --seed 1 -o big.data
"""

from __future__ import annotations

import argparse
import math
import sys
from bisect import bisect_right
from dataclasses import dataclass, field
from random import Random
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence

__all__ = [
    "generate", "generate_cluster", "write", "Cluster", "GenNode",
    "GenInstance", "GenGroup", "DEFAULTS", "PRESETS", "NODE_CLASSES",
    "resolve_params", "main",
]

# --------------------------------------------------------------------------
# Realistic hardware and instance size classes

#: (label, memory MiB, disk MiB, physical cpus, spindles)
NODE_CLASSES = [
    ("s", 32768, 524288, 8, 2),          # 32 GiB, 0.5 TiB
    ("m", 65536, 1048576, 16, 4),        # 64 GiB, 1 TiB
    ("l", 131072, 2097152, 24, 6),       # 128 GiB, 2 TiB
    ("xl", 262144, 4194304, 32, 8),      # 256 GiB, 4 TiB
    ("xxl", 393216, 6291456, 48, 12),    # 384 GiB, 6 TiB
    ("xxxl", 524288, 8388608, 64, 16),   # 512 GiB, 8 TiB
]

#: (memory MiB, vcpus, weight)
INSTANCE_MEM = [
    (512, 1, 8), (1024, 1, 20), (2048, 1, 22), (2048, 2, 8), (4096, 2, 18),
    (8192, 4, 12), (16384, 4, 6), (16384, 8, 3), (32768, 8, 2),
    (65536, 16, 1),
]

#: (disk MiB, weight)
INSTANCE_DISK = [
    (5120, 6), (10240, 20), (20480, 24), (51200, 20), (102400, 14),
    (204800, 8), (512000, 3), (1048576, 1),
]

SERVICES = ["web", "db", "dns", "mail", "cache", "ldap", "ci", "mq"]
EXTRA_TAGS = ["owner:alice", "owner:bob", "env:prod", "env:staging",
              "backup:daily", "team:infra"]

ALL_TEMPLATES = ["diskless", "file", "sharedfile", "plain", "blockdev",
                 "drbd", "rbd", "ext", "gluster"]

DEFAULTS: Dict[str, object] = dict(
    nodes=20,
    instances=200,
    groups=1,
    seed=0,
    offline_frac=0.0,        # fraction of (non-master) nodes marked offline
    offline_unknown=False,   # write '?' resources for some offline nodes
    group_policies=None,     # None: mixed policies when groups > 1
    empty_nodes=None,        # None: ~10% of the nodes (>=1 if nodes >= 4)
    skew=0.6,                # 0 = uniform placement, 1 = very skewed
    templates=None,          # dict template -> weight
    statuses=None,           # dict status -> weight
    no_autobalance_frac=0.05,
    exclusion_tags=True,     # htools:iextags:service + service:* tags
    location_tags=False,     # htools:nlocation:power + power:a/b nodes
    migration_tags=False,    # htools:migration:hv + hv:kvm* nodes
    desired_location=False,  # htools:desiredlocation:power + power:a insts
    ipolicy=False,           # write an ipolicy section
    cpu_speed=False,         # vary the cpu_speed column
    excl_storage_nodes=0,    # nodes in an extra exclusive-storage group
    unaccounted_mem=0.1,     # fraction of nodes with unaccounted memory
    overcommit=False,        # allow a few memory-overcommitted nodes
    forthcoming_frac=0.0,    # fraction of forthcoming instances
    split_drbd_frac=0.0,     # drbd instances with their secondary in
                             # another group (needs groups > 1)
    samenode_frac=0.0,       # non-drbd instances listing their primary
                             # node as secondary too ("n1|n1")
    tight_cpu=False,         # few physical cpus: the vcpu ratio binds, so
                             # tiered allocation shrinks specs to 1 vcpu
    domain="",               # e.g. ".example.com" appended to all names
    columns="full",          # "full" (15/13 columns) or "trim"
)

DEFAULT_TEMPLATES = {"drbd": 55, "plain": 30, "diskless": 5,
                     "sharedfile": 5, "file": 5}
DEFAULT_STATUSES = {"running": 88, "ADMIN_down": 6, "ERROR_up": 3,
                    "ADMIN_offline": 3}

#: statuses whose instances consume memory on their primary node
#: (Instance.usesMemory / instanceRunning in Ganeti)
MEM_STATUSES = frozenset(["running", "ERROR_up", "ERROR_nodedown",
                          "ERROR_nodeoffline", "ERROR_wrongnode"])

#: benchmark presets, keyed "<nodes>x<instances>" (plus short aliases)
PRESETS: Dict[str, Dict[str, object]] = {
    "10x80": dict(nodes=10, instances=80, groups=1),
    "20x200": dict(nodes=20, instances=200, groups=1),
    "50x600": dict(nodes=50, instances=600, groups=1),
    "200x3000": dict(nodes=200, instances=3000, groups=1),
    "1000x20000": dict(nodes=1000, instances=20000, groups=1),
}
PRESET_ALIASES = {"tiny": "10x80", "small": "20x200", "medium": "50x600",
                  "large": "200x3000", "huge": "1000x20000"}


# --------------------------------------------------------------------------
# Data model

@dataclass
class GenGroup:
    name: str
    uuid: str
    alloc_policy: str = "preferred"
    tags: List[str] = field(default_factory=list)
    excl: bool = False


@dataclass
class GenNode:
    name: str
    group: int                  # index into Cluster.groups
    tmem: int
    nmem: int
    tdisk: int
    tcpu: int
    spindles: int = 1
    tags: List[str] = field(default_factory=list)
    excl: bool = False
    ncpu: int = 1
    cpu_speed: float = 1.0
    role: str = "N"             # N, M (master), Y (offline)
    unknown: bool = False       # write '?' for the resources
    xmem: int = 0               # unaccounted memory
    # placement book-keeping
    weight: float = 1.0
    imem: int = 0               # memory of memory-using primaries
    allmem: int = 0             # memory of all primaries
    udisk: int = 0              # disk of primaries + drbd secondaries
    uspindles: int = 0          # spindles used (exclusive storage)
    peers: Dict[int, int] = field(default_factory=dict)
    pcount: int = 0
    scount: int = 0

    @property
    def fmem(self) -> int:
        return max(0, self.tmem - self.nmem - self.imem - self.xmem)

    @property
    def fdisk(self) -> int:
        return max(0, self.tdisk - self.udisk)

    @property
    def fspindles(self) -> int:
        return max(0, self.spindles - self.uspindles) if self.excl else 0


@dataclass
class GenInstance:
    name: str
    mem: int
    disk: int
    vcpus: int
    status: str
    template: str
    group: int
    auto_balance: bool = True
    pnode: int = -1
    snode: int = -1
    tags: List[str] = field(default_factory=list)
    spindle_use: int = 1
    spindles: Optional[int] = None
    forthcoming: bool = False


@dataclass
class Cluster:
    groups: List[GenGroup]
    nodes: List[GenNode]
    instances: List[GenInstance]
    ctags: List[str]
    ipolicies: List[str]        # already serialized policy lines
    columns: str = "full"
    write_cpu_speed: bool = False

    def to_text(self) -> str:
        return _serialize(self)


# --------------------------------------------------------------------------
# Random helpers (only Random.random / getrandbits: stable across versions)

def _pick(rng: Random, seq: Sequence):
    return seq[int(rng.random() * len(seq))]


def _randint(rng: Random, lo: int, hi: int) -> int:
    """Inclusive integer in [lo, hi]."""
    return lo + int(rng.random() * (hi - lo + 1))


def _wpick(rng: Random, items: Sequence, weights: Sequence[float]):
    total = 0.0
    cum = []
    for w in weights:
        total += w
        cum.append(total)
    r = rng.random() * total
    return items[min(bisect_right(cum, r), len(items) - 1)]


def _shuffled(rng: Random, seq: Sequence) -> list:
    out = list(seq)
    for i in range(len(out) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        out[i], out[j] = out[j], out[i]
    return out


def _uuid(rng: Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class _Sampler:
    """Weighted sampling over a fixed list of node indices (bisect)."""

    def __init__(self, idxs: List[int], weights: List[float]):
        self.idxs = idxs
        self.cum = []
        tot = 0.0
        for w in weights:
            tot += w
            self.cum.append(tot)
        self.total = tot

    def __bool__(self) -> bool:
        return bool(self.idxs) and self.total > 0

    def sample(self, rng: Random) -> int:
        r = rng.random() * self.total
        return self.idxs[min(bisect_right(self.cum, r), len(self.idxs) - 1)]


# --------------------------------------------------------------------------
# Parameters

def resolve_params(**params) -> Dict[str, object]:
    """Merge ``params`` with :data:`DEFAULTS` (and a ``preset`` name)."""
    unknown = set(params) - set(DEFAULTS) - {"preset"}
    if unknown:
        raise TypeError("unknown generator parameter(s): %s" %
                        ", ".join(sorted(unknown)))
    out = dict(DEFAULTS)
    preset = params.pop("preset", None)
    if preset is not None:
        preset = PRESET_ALIASES.get(preset, preset)
        if preset not in PRESETS:
            raise ValueError("unknown preset %r (known: %s)" %
                             (preset, ", ".join(PRESETS)))
        out.update(PRESETS[preset])
    out.update(params)
    if out["nodes"] < 1:
        raise ValueError("need at least one node")
    if out["groups"] < 1:
        raise ValueError("need at least one group")
    if out["instances"] < 0:
        raise ValueError("negative instance count")
    if out["columns"] not in ("full", "trim"):
        raise ValueError("columns must be 'full' or 'trim'")
    if out["excl_storage_nodes"] >= out["nodes"]:
        raise ValueError("excl_storage_nodes must leave regular nodes")
    return out


# --------------------------------------------------------------------------
# Generation

def generate_cluster(**params) -> Cluster:
    """Generate a :class:`Cluster` (see :data:`DEFAULTS` for parameters)."""
    p = resolve_params(**params)
    rng = Random(p["seed"])
    n_nodes = int(p["nodes"])
    n_inst = int(p["instances"])
    n_groups = int(p["groups"])
    n_excl = int(p["excl_storage_nodes"])
    n_regular = n_nodes - n_excl
    n_groups = min(n_groups, n_regular)
    domain = p["domain"] or ""
    skew = float(p["skew"])

    # ---- groups
    groups: List[GenGroup] = []
    mixed = p["group_policies"]
    if mixed is None:
        mixed = n_groups > 1
    for g in range(n_groups):
        pol = "preferred"
        if mixed and g > 0:
            pol = _wpick(rng, ["preferred", "last_resort", "unallocable"],
                         [6, 3, 1.5])
        groups.append(GenGroup("group-%02d" % (g + 1), _uuid(rng), pol))
    if n_excl:
        groups.append(GenGroup("group-excl", _uuid(rng), "preferred",
                               excl=True))

    # ---- nodes per group (each regular group gets >= 1, ideally >= 2)
    sizes = [1] * n_groups
    rest = n_regular - n_groups
    gweights = [0.6 + rng.random() for _ in range(n_groups)]
    # give every group a second node first when possible (drbd needs two)
    for g in range(n_groups):
        if rest > 0:
            sizes[g] += 1
            rest -= 1
    for _ in range(rest):
        sizes[_wpick(rng, list(range(n_groups)), gweights)] += 1
    if n_excl:
        sizes.append(n_excl)
    nwidth = max(2, len(str(n_nodes)))
    iwidth = max(3, len(str(n_inst)))

    nodes: List[GenNode] = []
    group_nodes: List[List[int]] = []
    for g, gsize in enumerate(sizes):
        idxs = []
        for _ in range(gsize):
            idx = len(nodes)
            name = "node-%0*d%s" % (nwidth, idx + 1, domain)
            nodes.append(GenNode(name=name, group=g, tmem=0, nmem=0,
                                 tdisk=0, tcpu=0, excl=groups[g].excl))
            idxs.append(idx)
        group_nodes.append(idxs)
    nodes[0].role = "M"

    # ---- empty (freshly added) nodes: never the master
    n_empty = p["empty_nodes"]
    if n_empty is None:
        n_empty = max(1, n_nodes // 10) if n_nodes >= 4 else 0
    n_empty = int(n_empty)
    empty = set()
    cands = [i for i in range(1, len(nodes))]
    for i in _shuffled(rng, cands):
        if len(empty) >= n_empty:
            break
        g = nodes[i].group
        # keep at least two non-empty nodes per group when possible
        nonempty = [j for j in group_nodes[g] if j not in empty and j != i]
        if len(nonempty) >= min(2, len(group_nodes[g]) - 1) and nonempty:
            empty.add(i)

    # ---- instance templates and sizes
    tmpl_w = dict(p["templates"] or DEFAULT_TEMPLATES)
    stat_w = dict(p["statuses"] or DEFAULT_STATUSES)
    t_items = sorted(tmpl_w)
    t_weights = [tmpl_w[t] for t in t_items]
    s_items = sorted(stat_w)
    s_weights = [stat_w[s] for s in s_items]
    mem_items = INSTANCE_MEM
    mem_weights = [w for (_, _, w) in INSTANCE_MEM]
    dsk_items = [d for (d, _) in INSTANCE_DISK]
    dsk_weights = [w for (_, w) in INSTANCE_DISK]

    # instance -> group, proportional to the group's non-empty nodes
    gcap = []
    for g, idxs in enumerate(group_nodes):
        gcap.append(sum(1 for i in idxs if i not in empty) or 0.3)
    gcum = []
    tot = 0.0
    for c in gcap:
        tot += c
        gcum.append(tot)
    excl_group = len(groups) - 1 if n_excl else -1

    # exclusion-tagged services are small replica sets (~4 instances each)
    n_svc = max(2, int(n_inst * 0.15) // 4)
    services = [SERVICES[i % len(SERVICES)] +
                ("" if i < len(SERVICES) else "%d" % (i // len(SERVICES) + 1))
                for i in range(n_svc)]
    instances: List[GenInstance] = []
    for k in range(n_inst):
        g = min(bisect_right(gcum, rng.random() * tot), len(groups) - 1)
        mem, vcpus, _ = _wpick(rng, mem_items, mem_weights)
        tmpl = _wpick(rng, t_items, t_weights)
        if g == excl_group and tmpl not in ("plain", "drbd"):
            tmpl = "plain" if rng.random() < 0.4 else "drbd"
        if tmpl == "drbd" and len(group_nodes[g]) < 2:
            tmpl = "plain"
        disk = 0 if tmpl == "diskless" else _wpick(rng, dsk_items,
                                                   dsk_weights)
        status = _wpick(rng, s_items, s_weights)
        inst = GenInstance(
            name="inst-%0*d%s" % (iwidth, k + 1, domain), mem=mem, disk=disk,
            vcpus=vcpus, status=status, template=tmpl, group=g)
        inst.auto_balance = rng.random() >= float(p["no_autobalance_frac"])
        if tmpl in ("plain", "drbd"):
            inst.spindle_use = 2 if rng.random() < 0.1 else 1
        if g == excl_group:
            inst.spindles = _randint(rng, 1, 2)
        if p["forthcoming_frac"] and rng.random() < p["forthcoming_frac"]:
            inst.forthcoming = True
        tags = []
        if p["exclusion_tags"] and rng.random() < 0.15:
            tags.append("service:" + _pick(rng, services))
        if p["desired_location"] and rng.random() < 0.25:
            tags.append("power:" + ("a" if rng.random() < 0.6 else "b"))
        if rng.random() < 0.08:
            tags.append(_pick(rng, EXTRA_TAGS))
        inst.tags = tags
        instances.append(inst)

    # ---- node hardware, sized from the demand of each group
    by_group: List[List[int]] = [[] for _ in groups]
    for i, inst in enumerate(instances):
        by_group[inst.group].append(i)
    for g, idxs in enumerate(group_nodes):
        _size_group(rng, p, nodes, idxs, empty,
                    [instances[i] for i in by_group[g]])

    # ---- node tags
    if p["location_tags"]:
        for n in nodes:
            n.tags.append("power:" + ("a" if rng.random() < 0.5 else "b"))
    if p["migration_tags"]:
        for n in nodes:
            n.tags.append("hv:" + ("kvm1" if rng.random() < 0.7 else "kvm2"))
    if p["cpu_speed"]:
        for n in nodes:
            n.cpu_speed = _wpick(rng, [1.0, 1.0, 1.5, 0.8, 2.0],
                                 [5, 0, 2, 1, 1])

    # ---- placement weights (deliberate imbalance)
    hot_factor = 1.0 + 6.0 * skew
    for i, n in enumerate(nodes):
        if i in empty:
            n.weight = 0.0
        else:
            r = rng.random()
            n.weight = hot_factor if r < 0.25 else (
                0.35 if r > 0.85 and skew > 0 else 1.0)
    samplers_p = []
    samplers_s = []
    for idxs in group_nodes:
        live = [i for i in idxs if nodes[i].weight > 0]
        samplers_p.append(_Sampler(live, [nodes[i].weight for i in live]))
        samplers_s.append(_Sampler(
            live, [math.sqrt(nodes[i].weight) for i in live]))

    placer = _Placer(rng, nodes, group_nodes, samplers_p, samplers_s,
                     skew, bool(p["overcommit"]))
    # place big instances first (bin-packing friendly), deterministic order
    order = sorted(range(len(instances)),
                   key=lambda i: (-instances[i].mem, -instances[i].disk, i))
    for i in order:
        placer.place(instances[i])

    # ---- unaccounted memory
    for n in nodes:
        if rng.random() < float(p["unaccounted_mem"]):
            free = n.tmem - n.nmem - n.imem
            if rng.random() < 0.8:
                x = _randint(rng, 16, 480)
            else:
                x = _randint(rng, 600, 3072)
            n.xmem = max(0, min(x, free))

    # ---- offline nodes (never the master)
    n_off = int(round(float(p["offline_frac"]) * n_nodes))
    if n_off:
        cands = _shuffled(rng, [i for i in range(1, len(nodes))])
        for i in cands[:n_off]:
            nodes[i].role = "Y"
            if p["offline_unknown"] and rng.random() < 0.5:
                nodes[i].unknown = True

    # ---- odd shapes htools accepts (each draws random numbers only when
    #      enabled, so other parameter sets stay byte-identical)
    split = float(p["split_drbd_frac"])
    if split and len(group_nodes) > 1:
        _split_drbd(rng, nodes, group_nodes, instances, split)
    same = float(p["samenode_frac"])
    if same:
        for inst in instances:
            if inst.template != "drbd" and rng.random() < same:
                inst.snode = inst.pnode
    if p["tight_cpu"]:
        for n in nodes:
            n.tcpu = max(1, n.tcpu // 8)

    # ---- cluster tags
    ctags = []
    if p["exclusion_tags"]:
        ctags.append("htools:iextags:service")
    if p["location_tags"]:
        ctags.append("htools:nlocation:power")
    if p["desired_location"]:
        ctags.append("htools:desiredlocation:power")
    if p["migration_tags"]:
        ctags.append("htools:migration:hv")
        if rng.random() < 0.5:
            ctags.append("htools:allowmigration:hv:kvm1::hv:kvm2")
    if rng.random() < 0.3:
        ctags.append("owner:ops")

    # ---- ipolicies
    ipolicies: List[str] = []
    if p["ipolicy"]:
        ipolicies.append(_ipolicy_line(rng, "", tmpl_w))
        for grp in groups:
            if rng.random() < 0.6:
                ipolicies.append(_ipolicy_line(rng, grp.name, tmpl_w))

    instances.sort(key=lambda x: x.name)
    return Cluster(groups=groups, nodes=nodes, instances=instances,
                   ctags=ctags, ipolicies=ipolicies,
                   columns=str(p["columns"]),
                   write_cpu_speed=bool(p["cpu_speed"]))


def _split_drbd(rng: Random, nodes: List[GenNode], group_nodes,
                instances: List[GenInstance], frac: float) -> None:
    """Move the secondary of about ``frac`` of the drbd instances to a node
    of another group (an instance spanning groups, as after an
    interrupted group change)."""
    for inst in instances:
        if inst.template != "drbd" or inst.snode < 0:
            continue
        if rng.random() >= frac:
            continue
        others = [i for g, idxs in enumerate(group_nodes) if g != inst.group
                  for i in idxs]
        if not others:
            continue
        new = _pick(rng, others)
        old = nodes[inst.snode]
        old.udisk -= inst.disk
        if old.excl:
            old.uspindles -= inst.spindles or 0
        left = old.peers.get(inst.pnode, 0) - inst.mem
        if left > 0:
            old.peers[inst.pnode] = left
        else:
            old.peers.pop(inst.pnode, None)
        old.scount -= 1
        sn = nodes[new]
        sn.udisk += inst.disk
        if sn.excl:
            sn.uspindles += inst.spindles or 0
        sn.peers[inst.pnode] = sn.peers.get(inst.pnode, 0) + inst.mem
        sn.scount += 1
        inst.snode = new


def _size_group(rng: Random, p, nodes: List[GenNode], idxs: List[int],
                empty, insts: List[GenInstance]) -> None:
    """Pick node classes for a group so that its instances fit (~60%)."""
    live = [i for i in idxs if i not in empty] or idxs
    nlive = len(live)
    mem_demand = sum(x.mem for x in insts)
    dsk_demand = sum(x.disk * (2 if x.template == "drbd" else 1)
                     for x in insts)
    target = 0.45 + 0.2 * rng.random()
    per_mem = mem_demand / nlive / target
    per_dsk = dsk_demand / nlive / 0.7
    base = 0
    while base < len(NODE_CLASSES) - 1 and (
            NODE_CLASSES[base][1] * 0.95 < per_mem or
            NODE_CLASSES[base][2] < per_dsk):
        base += 1
    _, bmem, bdsk, _, _ = NODE_CLASSES[base]
    # scale instances down if even the biggest class is not enough
    if bmem * 0.95 < per_mem:
        _scale_mem(insts, bmem * 0.95 / per_mem)
    if bdsk < per_dsk:
        _scale_disk(insts, bdsk / per_dsk)
    excl = bool(idxs) and nodes[idxs[0]].excl
    spn_demand = sum((x.spindles or 0) * (2 if x.template == "drbd" else 1)
                     for x in insts)
    per_spn = int(math.ceil(spn_demand / nlive / 0.75))
    for i in idxs:
        r = rng.random()
        if i in empty:
            # new hardware is usually bigger
            c = min(base + (1 if r < 0.6 else 0), len(NODE_CLASSES) - 1)
        elif r < 0.15 and base > 0:
            c = base - 1 if len(live) > 2 else base
        elif r > 0.8:
            c = min(base + 1, len(NODE_CLASSES) - 1)
        else:
            c = base
        _, cmem, cdsk, ccpu, cspn = NODE_CLASSES[c]
        n = nodes[i]
        n.tmem = cmem - _randint(rng, 0, cmem // 48)
        n.nmem = 1024 + _randint(rng, 0, max(0, cmem // 256))
        if n.role == "M":
            n.nmem += 1024
        n.tdisk = (int(cdsk * (0.93 + 0.07 * rng.random())) // 4) * 4
        n.tcpu = ccpu
        n.spindles = cspn
        if excl:
            n.spindles = max(12, per_spn) + _randint(rng, 0, 8)
        n.ncpu = 1 if rng.random() < 0.85 else 2


def _scale_mem(insts: List[GenInstance], f: float) -> None:
    for x in insts:
        x.mem = max(128, int(x.mem * f) // 128 * 128)


def _scale_disk(insts: List[GenInstance], f: float) -> None:
    for x in insts:
        if x.disk:
            x.disk = max(1024, int(x.disk * f) // 1024 * 1024)


def _mem_ok(n: GenNode, mem: int) -> bool:
    return n.allmem + mem <= (n.tmem - n.nmem) * 0.97


def _disk_ok(n: GenNode, inst: GenInstance) -> bool:
    if n.udisk + inst.disk > n.tdisk * 0.97:
        return False
    if n.excl and n.uspindles + (inst.spindles or 0) > n.spindles:
        return False
    return True


class _Placer:
    """Instance placement: with probability ``skew`` an instance goes to a
    node drawn from the (hot-spot weighted) sampler, otherwise to the least
    loaded of three uniformly drawn nodes (nearly balanced)."""

    def __init__(self, rng: Random, nodes: List[GenNode], group_nodes,
                 samplers_p, samplers_s, skew: float, overcommit: bool):
        self.rng = rng
        self.nodes = nodes
        self.group_nodes = group_nodes
        self.sp = samplers_p
        self.ss = samplers_s
        self.skew = skew
        self.overcommit = overcommit
        self.svc_home: Dict[str, int] = {}
        self.live = [[i for i in idxs if nodes[i].weight > 0]
                     for idxs in group_nodes]

    def _balanced(self, g: int, key, ok, exclude: int = -1) -> int:
        live = self.live[g]
        if not live:
            return -1
        best = -1
        bkey = None
        for _ in range(3):
            for _ in range(8):
                cand = _pick(self.rng, live)
                if cand != exclude and ok(self.nodes[cand]):
                    break
            else:
                continue
            k = key(self.nodes[cand])
            if best < 0 or k < bkey:
                best, bkey = cand, k
        return best

    def _weighted(self, sampler: _Sampler, ok, exclude: int = -1) -> int:
        if not sampler:
            return -1
        for _ in range(24):
            cand = sampler.sample(self.rng)
            if cand != exclude and ok(self.nodes[cand]):
                return cand
        return -1

    def place(self, inst: GenInstance) -> None:
        rng = self.rng
        nodes = self.nodes
        g = inst.group
        pidx = -1

        def pri_ok(n: GenNode) -> bool:
            return _mem_ok(n, inst.mem) and _disk_ok(n, inst)

        hot = rng.random() < self.skew
        svc = next((t for t in inst.tags if t.startswith("service:")), None)
        if svc is not None:
            svc = "%d/%s" % (g, svc)
        if svc is not None and svc in self.svc_home and \
                rng.random() < 0.5 * self.skew:
            # co-locate instances of one service (bad for exclusion tags)
            cand = self.svc_home[svc]
            if pri_ok(nodes[cand]):
                pidx = cand
        if pidx < 0:
            if hot:
                pidx = self._weighted(self.sp[g], pri_ok)
            else:
                pidx = self._balanced(
                    g, lambda n: (n.pcount, n.allmem / n.tmem), pri_ok)
        if pidx < 0:
            pidx = self._fallback_primary(inst)
        if svc is not None and svc not in self.svc_home:
            self.svc_home[svc] = pidx
        inst.pnode = pidx
        pn = nodes[pidx]

        if inst.template == "drbd":
            def sec_ok(n: GenNode) -> bool:
                return _disk_ok(n, inst) and n.peers.get(pidx, 0) + \
                    inst.mem <= (n.tmem - n.nmem) * 0.5
            if hot:
                sidx = self._weighted(self.ss[g], sec_ok, exclude=pidx)
            else:
                sidx = self._balanced(g, lambda n: (n.scount, n.udisk /
                                                    max(1, n.tdisk)),
                                      sec_ok, exclude=pidx)
            if sidx < 0:
                others = [i for i in self.group_nodes[g] if i != pidx]
                fitting = [i for i in others if _disk_ok(nodes[i], inst)]
                if fitting:
                    sidx = max(fitting, key=lambda i: (
                        nodes[i].tdisk - nodes[i].udisk, -i))
                else:
                    inst.template = "plain" if inst.disk else "diskless"
            if sidx >= 0:
                inst.snode = sidx
                sn = nodes[sidx]
                sn.udisk += inst.disk
                if sn.excl:
                    sn.uspindles += inst.spindles or 0
                sn.peers[pidx] = sn.peers.get(pidx, 0) + inst.mem
                sn.scount += 1

        pn.allmem += inst.mem
        if inst.status in MEM_STATUSES and not inst.forthcoming:
            pn.imem += inst.mem
        pn.udisk += inst.disk
        if pn.excl:
            pn.uspindles += inst.spindles or 0
        pn.pcount += 1

    def _fallback_primary(self, inst: GenInstance) -> int:
        """No sampled node fits: take the node with most free memory."""
        nodes = self.nodes
        g = inst.group
        live = self.live[g] or self.group_nodes[g]
        fitting = [i for i in live if _disk_ok(nodes[i], inst)] or live
        pidx = max(fitting, key=lambda i: (
            nodes[i].tmem - nodes[i].nmem - nodes[i].allmem, -i))
        n = nodes[pidx]
        if not _mem_ok(n, inst.mem) and not (self.overcommit and
                                              self.rng.random() < 0.5):
            # does not fit: keep it, but stopped
            if inst.status in MEM_STATUSES:
                inst.status = "ADMIN_down"
        if not _disk_ok(n, inst) and inst.disk:
            room = int(n.tdisk * 0.97) - n.udisk
            if inst.template == "drbd" or room < 1024:
                inst.template, inst.disk = "diskless", 0
                inst.spindles = None
            else:
                inst.disk = room // 1024 * 1024
        return pidx


def _ipolicy_line(rng: Random, owner: str, tmpl_w: Dict[str, int]) -> str:
    def spec(mem, cpu, dsk, dcnt, nic, su):
        return "%d,%d,%d,%d,%d,%d" % (mem, cpu, dsk, dcnt, nic, su)
    std = spec(_pick(rng, [1024, 2048, 4096]), _pick(rng, [1, 2]),
               _pick(rng, [10240, 20480, 51200]), 1, 1, 1)
    minmax = [spec(128, 1, 1024, 1, 1, 1),
              spec(_pick(rng, [32768, 65536, 131072]), _pick(rng, [8, 16]),
                   _pick(rng, [1048576, 2097152]), 16, 8, 12)]
    if rng.random() < 0.25:
        # a second min/max pair for big instances
        minmax += [spec(32768, 8, 102400, 1, 1, 1),
                   spec(262144, 32, 4194304, 16, 8, 12)]
    tmpls = list(ALL_TEMPLATES)
    unused = [t for t in tmpls if t not in tmpl_w]
    if rng.random() < 0.3 and unused:
        # drop a template not used by the generator
        tmpls.remove(_pick(rng, unused))
    vcpu = _pick(rng, ["4.0", "4.0", "8.0", "2.5"])
    spr = _pick(rng, ["32.0", "32.0", "16.0"])
    return "|".join([owner, std, ";".join(minmax), ",".join(tmpls), vcpu,
                     spr])


# --------------------------------------------------------------------------
# Serialisation

def _fmt_speed(v: float) -> str:
    return repr(float(v))


def _trim(cols: List[str], defaults: List[str], minlen: int) -> List[str]:
    """Drop trailing columns equal to their default (down to minlen)."""
    while len(cols) > minlen and cols[-1] == defaults[len(cols) - 1]:
        cols.pop()
    return cols


_NODE_DEFAULTS = [None] * 9 + ["1", "", "N", "0", "1", "1.0"]
_INST_DEFAULTS = [None] * 10 + ["1", "-", "N"]


def _serialize(c: Cluster) -> str:
    out: List[str] = []
    for g in c.groups:
        out.append("%s|%s|%s|%s|" % (g.name, g.uuid, g.alloc_policy,
                                     ",".join(g.tags)))
    out.append("")
    for n in c.nodes:
        grp = c.groups[n.group]
        if n.unknown:
            res = ["?"] * 6
        else:
            res = [str(n.tmem), str(n.nmem), str(n.fmem), str(n.tdisk),
                   str(n.fdisk), str(n.tcpu)]
        cols = [n.name] + res + [
            n.role, grp.uuid, str(n.spindles), ",".join(n.tags),
            "Y" if n.excl else "N", str(n.fspindles), str(n.ncpu),
            _fmt_speed(n.cpu_speed)]
        if c.columns == "trim":
            cols = _trim(cols, _NODE_DEFAULTS, 9)
        out.append("|".join(cols))
    out.append("")
    names = [n.name for n in c.nodes]
    for i in c.instances:
        cols = [i.name, str(i.mem), str(i.disk), str(i.vcpus), i.status,
                "Y" if i.auto_balance else "N", names[i.pnode],
                names[i.snode] if i.snode >= 0 else "", i.template,
                ",".join(i.tags), str(i.spindle_use),
                "-" if i.spindles is None else str(i.spindles),
                "Y" if i.forthcoming else "N"]
        if c.columns == "trim":
            cols = _trim(cols, _INST_DEFAULTS, 10)
        out.append("|".join(cols))
    out.append("")
    out.extend(c.ctags)
    out.append("")
    out.extend(c.ipolicies)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Public entry points

def generate(nodes: Optional[int] = None, instances: Optional[int] = None,
             groups: Optional[int] = None, seed: int = 0, **params) -> str:
    """Return the text-backend representation of a generated cluster.

    ``nodes``/``instances``/``groups`` default to :data:`DEFAULTS` (or to the
    ``preset`` named in ``params``, one of :data:`PRESETS`); every other
    keyword parameter is listed in :data:`DEFAULTS`.  The output is a pure
    function of ``(seed, params)``.
    """
    for key, val in (("nodes", nodes), ("instances", instances),
                     ("groups", groups)):
        if val is not None:
            params[key] = val
    return generate_cluster(seed=seed, **params).to_text()


def write(path: str, nodes: Optional[int] = None,
          instances: Optional[int] = None, groups: Optional[int] = None,
          seed: int = 0, **params) -> str:
    """Generate a cluster (see :func:`generate`), write it to ``path`` and
    return the text."""
    text = generate(nodes=nodes, instances=instances, groups=groups,
                    seed=seed, **params)
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write(text)
    return text


def _bool(s: str) -> bool:
    if s.lower() in ("1", "y", "yes", "true", "on"):
        return True
    if s.lower() in ("0", "n", "no", "false", "off"):
        return False
    raise argparse.ArgumentTypeError("not a boolean: %r" % s)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m simulate.generator",
        description="Generate an unbalanced Ganeti text-backend cluster.")
    ap.add_argument("--preset", choices=sorted(PRESETS) +
                    sorted(PRESET_ALIASES),
                    help="benchmark size preset (nodes x instances)")
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--instances", type=int)
    ap.add_argument("--groups", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="-",
                    help="output file ('-' = stdout)")
    ap.add_argument("--offline-frac", type=float)
    ap.add_argument("--offline-unknown", type=_bool)
    ap.add_argument("--group-policies", type=_bool)
    ap.add_argument("--empty-nodes", type=int)
    ap.add_argument("--skew", type=float)
    ap.add_argument("--no-autobalance-frac", type=float)
    ap.add_argument("--exclusion-tags", type=_bool)
    ap.add_argument("--location-tags", type=_bool)
    ap.add_argument("--migration-tags", type=_bool)
    ap.add_argument("--desired-location", type=_bool)
    ap.add_argument("--ipolicy", type=_bool)
    ap.add_argument("--cpu-speed", type=_bool)
    ap.add_argument("--excl-storage-nodes", type=int)
    ap.add_argument("--unaccounted-mem", type=float)
    ap.add_argument("--overcommit", type=_bool)
    ap.add_argument("--forthcoming-frac", type=float)
    ap.add_argument("--split-drbd-frac", type=float)
    ap.add_argument("--samenode-frac", type=float)
    ap.add_argument("--tight-cpu", type=_bool)
    ap.add_argument("--domain")
    ap.add_argument("--columns", choices=["full", "trim"])
    ap.add_argument("--all-features", action="store_true",
                    help="enable all tag/policy/cpu-speed features")
    args = ap.parse_args(argv)

    params: Dict[str, object] = {}
    if args.preset:
        params.update(resolve_params(preset=args.preset))
    if args.all_features:
        params.update(location_tags=True, migration_tags=True,
                      desired_location=True, ipolicy=True, cpu_speed=True)
    for key in DEFAULTS:
        val = getattr(args, key, None)
        if val is not None:
            params[key] = val
    params["seed"] = args.seed
    text = generate_cluster(**params).to_text()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
