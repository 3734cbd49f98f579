"""Random IAllocator requests (the JSON document Ganeti hands to ``hail``).

Builds a random cluster (node groups with instance policies and networks,
nodes, instances, cluster tags) and one request of any of the six types
htools understands: ``allocate``, ``relocate``, ``node-evacuate``,
``change-group``, ``multi-allocate`` and ``allocate-secondary``.  The layout
follows Ganeti's ``lib/masterd/iallocator.py`` as seen in Ganeti's own test
requests (``hail-*.json``).

Everything is derived from ``random.Random(seed)`` through ``random()`` and
``getrandbits()`` only, so that a (seed, parameters) pair gives the same
document on every Python version: differential tests record seeds, not
files.

Python API::

    from simulate.requests import make_request, write_request, REQUEST_TYPES
    doc = make_request(seed=3, rtype="allocate")          # a dict
    text = request_text(seed=3, rtype="node-evacuate", nodes=12, groups=2)
    write_request("/tmp/r.json", seed=3)                 # random type

CLI::

    python -m simulate.requests --seed 3 --type allocate --nodes 1000 -o r.json
"""
from __future__ import annotations

import argparse
import json
import sys
from bisect import bisect_right
from random import Random
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence

__all__ = ["REQUEST_TYPES", "DEFAULTS", "make_cluster", "make_request",
           "request_text", "write_request", "main"]

REQUEST_TYPES = ("allocate", "relocate", "node-evacuate", "change-group",
                 "multi-allocate", "allocate-secondary")

#: generation parameters and their defaults
DEFAULTS: Dict[str, object] = dict(
    nodes=8,              # total number of nodes
    groups=None,          # None: 1..3 at random
    inst_per_node=None,   # None: 0.5..4 at random
    load=None,            # None: 0.2..1.1 at random (memory/disk pressure)
    hypervisor=None,      # None: xen-pvm mostly, kvm sometimes
    templates=None,       # dict template -> weight
    excl_storage=None,    # None: sometimes one group with exclusive storage
    offline_frac=None,    # None: 0..0.15
    tags=None,            # None: random exclusion/location/migration tags
    networks=None,        # None: sometimes
    policy_variety=None,  # None: sometimes non-default group policies
    node_class=None,      # None: random; else index into NODE_MEM
    samenode_frac=None,   # instances listing one node twice ("nodes": [n, n])
    split_frac=None,      # drbd instances with their secondary in another group
)

DEFAULT_TEMPLATES = {"drbd": 50, "plain": 20, "diskless": 6, "file": 4,
                     "sharedfile": 6, "rbd": 6, "ext": 6, "blockdev": 2}

ALL_TEMPLATES = ["sharedfile", "diskless", "plain", "blockdev", "drbd",
                 "file", "rbd", "ext", "gluster"]
LOCAL_TEMPLATES = ("plain", "drbd")

NODE_MEM = [4096, 8192, 16384, 32768, 65536, 131072]
NODE_DISK = [102400, 262144, 524288, 1048576, 2097152]
NODE_CPU = [2, 4, 8, 16, 24]
INST_MEM = [128, 256, 512, 1024, 2048, 4096, 8192]
INST_DISK = [128, 512, 1024, 4096, 10240, 20480, 51200, 102400]
SERVICES = ["web", "db", "dns", "mail"]


# --------------------------------------------------------------------------
# Random helpers (only Random.random / getrandbits: stable across versions)

def _pick(rng: Random, seq: Sequence):
    return seq[int(rng.random() * len(seq))]


def _randint(rng: Random, lo: int, hi: int) -> int:
    return lo + int(rng.random() * (hi - lo + 1))


def _chance(rng: Random, p: float) -> bool:
    return rng.random() < p


def _wpick(rng: Random, table: Dict[str, float]) -> str:
    items = list(table)
    cum, tot = [], 0.0
    for k in items:
        tot += table[k]
        cum.append(tot)
    return items[min(bisect_right(cum, rng.random() * tot), len(items) - 1)]


def _uuid(rng: Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def _mac(rng: Random) -> str:
    return "aa:00:00:%02x:%02x:%02x" % (rng.getrandbits(8), rng.getrandbits(8),
                                        rng.getrandbits(8))


def _param(params: Dict[str, object], key: str, default):
    val = params.get(key)
    return default if val is None else val


# --------------------------------------------------------------------------
# Instance policies

def _spec(mem: int, cpu: int, dsk: int, dcnt: int, nic: int, spn: int) -> Dict:
    return {"memory-size": mem, "cpu-count": cpu, "disk-size": dsk,
            "disk-count": dcnt, "nic-count": nic, "spindle-use": spn}


def _ipolicy(rng: Random, variety: bool) -> Dict:
    minmax = [{"min": _spec(128, 1, 128, 1, 1, 1),
               "max": _spec(32768, 8, 1048576, 16, 8, 12)}]
    templates = list(ALL_TEMPLATES)
    vcpu_ratio = 4.0
    if variety:
        r = rng.random()
        if r < 0.25:
            minmax = [{"min": _spec(128, 1, 128, 1, 1, 1),
                       "max": _spec(_pick(rng, [2048, 4096, 8192]),
                                    _pick(rng, [2, 4]),
                                    _pick(rng, [20480, 102400]), 4, 8,
                                    _pick(rng, [2, 4, 12]))}]
        elif r < 0.4:
            minmax = [{"min": _spec(128, 1, 128, 1, 1, 1),
                       "max": _spec(1024, 2, 10240, 2, 8, 4)},
                      {"min": _spec(2048, 2, 20480, 1, 1, 1),
                       "max": _spec(32768, 8, 1048576, 16, 8, 12)}]
        if _chance(rng, 0.25):
            templates = [t for t in templates if not _chance(rng, 0.3)]
        vcpu_ratio = _pick(rng, [1.0, 2.0, 4.0, 4.0, 8.0])
    return {"minmax": minmax, "std": _spec(128, 1, 1024, 1, 1, 1),
            "disk-templates": templates, "vcpu-ratio": vcpu_ratio,
            "spindle-ratio": _pick(rng, [32.0, 32.0, 4.0]) if variety else 32.0}


# --------------------------------------------------------------------------
# Cluster

class _Node:
    def __init__(self, name, group, tmem, rmem, tdsk, tcpu, spindles, excl):
        self.name = name
        self.group = group
        self.tmem, self.rmem, self.tdsk, self.tcpu = tmem, rmem, tdsk, tcpu
        self.spindles = spindles
        self.excl = excl
        self.offline = False
        self.drained = False
        self.vm_capable = True
        self.tags: List[str] = []
        self.umem = 0       # memory of running primaries
        self.udsk = 0       # local disk of primaries and DRBD secondaries
        self.uspn = 0       # spindles used (exclusive storage)
        self.xmem = 0       # unaccounted memory

    @property
    def live(self) -> bool:
        return not self.offline and self.vm_capable


def make_cluster(rng: Random, **params) -> Dict:
    """A random cluster: the request document without its ``request``.

    Returns a dict with the iallocator keys plus private ``_nodes``,
    ``_insts`` and ``_groups`` entries (removed by :func:`make_request`).
    """
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise TypeError("unknown parameter(s): " + ", ".join(sorted(unknown)))
    n_nodes = max(1, int(_param(params, "nodes", 8)))
    n_groups = int(_param(params, "groups", _pick(rng, [1, 1, 2, 2, 3])))
    n_groups = max(1, min(n_groups, n_nodes))
    ipn = float(_param(params, "inst_per_node", 0.5 + rng.random() * 3.5))
    load = float(_param(params, "load", 0.2 + rng.random() * 0.9))
    hyper = _param(params, "hypervisor",
                   "kvm" if _chance(rng, 0.2) else "xen-pvm")
    templates = _param(params, "templates", DEFAULT_TEMPLATES)
    excl = _param(params, "excl_storage", None)
    offline_frac = float(_param(params, "offline_frac", rng.random() * 0.15))
    with_tags = _param(params, "tags", _chance(rng, 0.6))
    with_nets = _param(params, "networks", _chance(rng, 0.3))
    variety = _param(params, "policy_variety", _chance(rng, 0.5))

    # groups
    groups = []
    for g in range(n_groups):
        pol = "preferred"
        if n_groups > 1 and _chance(rng, 0.35):
            pol = _pick(rng, ["last_resort", "unallocable"])
        nets = []
        if with_nets:
            nets = ["net-%d" % k for k in range(3) if _chance(rng, 0.5)]
        groups.append({"uuid": _uuid(rng), "name": "group-%d" % (g + 1),
                       "alloc_policy": pol, "networks": nets,
                       "ipolicy": _ipolicy(rng, variety), "tags": []})
    if excl is None:
        excl_groups = {n_groups - 1} if _chance(rng, 0.15) else set()
    elif excl:
        excl_groups = set(range(n_groups))
    else:
        excl_groups = set()

    # nodes
    nodes: List[_Node] = []
    per_group = [n_nodes // n_groups + (1 if g < n_nodes % n_groups else 0)
                 for g in range(n_groups)]
    size_class = _randint(rng, 0, len(NODE_MEM) - 2)
    if params.get("node_class") is not None:
        size_class = int(params["node_class"])
    for g, cnt in enumerate(per_group):
        for k in range(cnt):
            cls = min(len(NODE_MEM) - 1, size_class + (1 if _chance(rng, 0.3) else 0))
            n = _Node("node-%02d-%03d" % (g + 1, k + 1), g, NODE_MEM[cls],
                      _pick(rng, [512, 1024, 1024, 4096]) if NODE_MEM[cls] > 8192 else 512,
                      NODE_DISK[min(cls, len(NODE_DISK) - 1)],
                      NODE_CPU[min(cls, len(NODE_CPU) - 1)],
                      _pick(rng, [1, 2, 4, 12]), g in excl_groups)
            if _chance(rng, offline_frac):
                if _chance(rng, 0.7):
                    n.offline = True
                else:
                    n.drained = True
            elif _chance(rng, 0.03):
                n.vm_capable = False
            if with_tags:
                if _chance(rng, 0.8):
                    n.tags.append("power:%s" % _pick(rng, "ab"))
                if _chance(rng, 0.2):
                    n.tags.append("hv:%s" % _pick(rng, ["v1", "v2"]))
            nodes.append(n)

    # instances
    insts: List[Dict] = []
    n_insts = int(round(ipn * n_nodes))
    by_group = {g: [i for i, n in enumerate(nodes)
                    if n.group == g and n.vm_capable]
                for g in range(n_groups)}
    for k in range(n_insts):
        tmpl = _wpick(rng, templates)
        g = _pick(rng, list(range(n_groups)))
        gnodes = by_group[g]
        if not gnodes or (tmpl == "drbd" and len(gnodes) < 2):
            continue
        pidx = _pick(rng, gnodes)
        sidx = None
        if tmpl == "drbd":
            others = [i for i in gnodes if i != pidx]
            sidx = _pick(rng, others)
        p = nodes[pidx]
        mem = _pick(rng, INST_MEM)
        vcpus = _pick(rng, [1, 1, 2, 4])
        ndisks = 1 if _chance(rng, 0.8) else 2
        disks = []
        for _ in range(ndisks):
            d = {"size": _pick(rng, INST_DISK), "mode": "rw"}
            if p.excl or _chance(rng, 0.5):
                d["spindles"] = _pick(rng, [1, 1, 2])
            disks.append(d)
        dsize = sum(d["size"] for d in disks)
        if tmpl == "drbd":
            dsize += 128 * ndisks
        state = _pick(rng, ["up"] * 8 + ["down", "offline"])
        # keep resources roughly plausible unless the cluster is overloaded
        scale = load * 2.0
        if p.live and p.umem + mem > p.tmem * scale:
            continue
        tags = []
        if with_tags and _chance(rng, 0.5):
            tags.append("service:%s" % _pick(rng, SERVICES))
        if with_tags and _chance(rng, 0.1):
            tags.append("power:%s" % _pick(rng, "ab"))
        nics = [{"mac": _mac(rng), "ip": None, "mode": "bridged",
                 "link": "br0", "bridge": "br0"}]
        name = "inst-%04d" % k
        rec = {"name": name, "memory": mem, "vcpus": vcpus, "disks": disks,
               "disk_space_total": dsize if tmpl in LOCAL_TEMPLATES else 0,
               "disk_template": tmpl, "admin_state": state,
               "admin_state_source": "admin", "tags": tags,
               "spindle_use": _pick(rng, [1, 1, 2]), "nics": nics,
               "hypervisor": hyper, "os": "debian-image",
               "nodes": [p.name] + ([nodes[sidx].name] if sidx is not None else []),
               "_p": pidx, "_s": sidx, "_g": g}
        if state == "up":
            p.umem += mem
        if tmpl in LOCAL_TEMPLATES:
            p.udsk += dsize
            if sidx is not None:
                nodes[sidx].udsk += dsize
        if p.excl:
            sp = sum(d.get("spindles", 1) for d in disks)
            p.uspn += sp
            if sidx is not None:
                nodes[sidx].uspn += sp
        insts.append(rec)

    for n in nodes:
        if _chance(rng, 0.1):
            n.xmem = _randint(rng, 1, 2048)

    ctags = []
    if with_tags:
        ctags.append("htools:iextags:service")
        if _chance(rng, 0.7):
            ctags.append("htools:nlocation:power")
        if _chance(rng, 0.2):
            ctags.append("htools:desiredlocation:power")
        if _chance(rng, 0.2):
            ctags.append("htools:migration:hv")
            if _chance(rng, 0.5):
                ctags.append("htools:allowmigration:hv:v1::hv:v2")

    jnodes = {}
    for n in nodes:
        rec = {"group": groups[n.group]["uuid"], "offline": n.offline,
               "drained": n.drained, "vm_capable": n.vm_capable,
               "master_candidate": True, "master_capable": True,
               "tags": list(n.tags),
               "ndparams": {"spindle_count": n.spindles,
                            "exclusive_storage": n.excl,
                            "oob_program": None}}
        if n.live:
            total_sp = n.spindles * (6 if n.excl else 1)
            rec.update({
                "total_memory": n.tmem, "reserved_memory": n.rmem,
                "free_memory": max(0, n.tmem - n.rmem - n.umem - n.xmem),
                "total_disk": n.tdsk, "free_disk": max(0, n.tdsk - n.udsk),
                "total_cpus": n.tcpu, "reserved_cpus": 1,
                "free_spindles": max(0, total_sp - n.uspn),
                "total_spindles": total_sp,
            })
        jnodes[n.name] = rec
    jinsts = {}
    for rec in insts:
        jinsts[rec["name"]] = {k: v for k, v in rec.items()
                               if k not in ("name",) and not k.startswith("_")}
    jgroups = {g["uuid"]: {k: v for k, v in g.items() if k != "uuid"}
               for g in groups}
    return {
        "cluster_tags": ctags,
        "nodegroups": jgroups,
        "ipolicy": groups[0]["ipolicy"],
        "enabled_hypervisors": [hyper],
        "cluster_name": "cluster",
        "instances": jinsts,
        "version": 2,
        "nodes": jnodes,
        "_nodes": nodes, "_insts": insts, "_groups": groups,
    }


# --------------------------------------------------------------------------
# Requests

def _new_instance(rng: Random, name: str, cl: Dict, tmpl: Optional[str] = None) -> Dict:
    tmpl = tmpl or _wpick(rng, DEFAULT_TEMPLATES)
    ndisks = 1 if _chance(rng, 0.8) else 2
    disks = []
    any_excl = any(n.excl for n in cl["_nodes"])
    for _ in range(ndisks):
        d = {"size": _pick(rng, INST_DISK), "mode": "rw"}
        if any_excl and _chance(rng, 0.9) or _chance(rng, 0.4):
            d["spindles"] = _pick(rng, [1, 1, 2])
        disks.append(d)
    dsize = sum(d["size"] for d in disks)
    if tmpl == "drbd":
        dsize += 128 * ndisks
    tags = []
    if cl["cluster_tags"] and _chance(rng, 0.5):
        tags.append("service:%s" % _pick(rng, SERVICES))
    nics = [{"mac": "00:11:22:33:44:55", "ip": None, "bridge": None}]
    nets = sorted({net for g in cl["_groups"] for net in g["networks"]})
    if nets and _chance(rng, 0.5):
        nics[0]["network"] = _pick(rng, nets)
    rec = {"name": name, "disk_template": tmpl,
           "disk_space_total": dsize if tmpl in LOCAL_TEMPLATES else 0,
           "disks": disks, "memory": _pick(rng, INST_MEM),
           "vcpus": _pick(rng, [1, 1, 2, 4, 8]), "tags": tags,
           "spindle_use": _pick(rng, [1, 1, 2]), "nics": nics,
           "hypervisor": "xen-pvm", "os": "debian-image",
           "required_nodes": 2 if tmpl == "drbd" else 1}
    if _chance(rng, 0.05):
        rec["admin_state"] = "down"
    return rec


def _allocate(rng: Random, cl: Dict, multi: bool = False) -> Dict:
    req = _new_instance(rng, "new-instance", cl)
    req["type"] = "allocate"
    groups = cl["_groups"]
    if not multi and _chance(rng, 0.2):
        req["group_name"] = _pick(rng, groups)["name"]
    if not multi and _chance(rng, 0.15) and cl["_nodes"]:
        names = [n.name for n in cl["_nodes"]]
        req["restrict-to-nodes"] = [n for n in names if _chance(rng, 0.6)]
    if _chance(rng, 0.02):
        req["required_nodes"] = 3
    return req


def _relocate(rng: Random, cl: Dict) -> Dict:
    insts = cl["_insts"]
    nodes = cl["_nodes"]
    if not insts:
        return _allocate(rng, cl)
    cands = [i for i in insts if i["disk_template"] == "drbd"] or insts
    if _chance(rng, 0.8):
        inst = _pick(rng, cands)
    else:
        inst = _pick(rng, insts)
    if inst["_s"] is not None:
        frm = nodes[inst["_s"]].name
    else:
        frm = nodes[inst["_p"]].name
    if _chance(rng, 0.05):
        frm = _pick(rng, nodes).name
    return {"type": "relocate", "name": inst["name"], "required_nodes": 1,
            "relocate_from": [frm]}


def _evacuate(rng: Random, cl: Dict) -> Dict:
    insts = cl["_insts"]
    nodes = cl["_nodes"]
    mode = _pick(rng, ["all", "primary-only", "secondary-only"])
    if not insts:
        return {"type": "node-evacuate", "instances": [], "evac_mode": mode}
    # prefer an offline/drained node when there is one
    bad = [i for i, n in enumerate(nodes) if n.offline or n.drained]
    nidx = _pick(rng, bad) if bad and _chance(rng, 0.6) else _pick(rng, range(len(nodes)))
    if mode == "secondary-only":
        sel = [i for i in insts if i["_s"] == nidx]
    elif mode == "primary-only":
        sel = [i for i in insts if i["_p"] == nidx]
    else:
        sel = [i for i in insts if nidx in (i["_p"], i["_s"])]
    if not sel:
        sel = [_pick(rng, insts)]
    if _chance(rng, 0.3):
        sel = sel + [_pick(rng, insts)]
    return {"type": "node-evacuate", "instances": [i["name"] for i in sel],
            "evac_mode": mode}


def _change_group(rng: Random, cl: Dict) -> Dict:
    insts = cl["_insts"]
    groups = cl["_groups"]
    if not insts:
        return {"type": "change-group", "instances": [], "target_groups": []}
    g = _pick(rng, insts)["_g"]
    sel = [i["name"] for i in insts if i["_g"] == g and _chance(rng, 0.3)]
    if not sel:
        sel = [i["name"] for i in insts if i["_g"] == g][:1]
    targets = []
    if _chance(rng, 0.5):
        targets = [x["uuid"] for x in groups if _chance(rng, 0.6)]
    return {"type": "change-group", "instances": sel, "target_groups": targets}


def _multi(rng: Random, cl: Dict) -> Dict:
    reqs = []
    for k in range(_randint(rng, 1, 4)):
        r = _allocate(rng, cl, multi=True)
        r["name"] = "new-instance-%d" % (k + 1)
        del r["type"]
        reqs.append(r)
    out = {"type": "multi-allocate", "instances": reqs}
    if _chance(rng, 0.2):
        out["group_name"] = _pick(rng, cl["_groups"])["name"]
    return out


def _alloc_secondary(rng: Random, cl: Dict) -> Dict:
    insts = cl["_insts"]
    cands = [i for i in insts if i["_s"] is None]
    if not cands:
        if not insts:
            return _allocate(rng, cl)
        cands = insts
    return {"type": "allocate-secondary", "name": _pick(rng, cands)["name"]}


_MAKERS = {
    "allocate": _allocate, "relocate": _relocate,
    "node-evacuate": _evacuate, "change-group": _change_group,
    "multi-allocate": _multi, "allocate-secondary": _alloc_secondary,
}


def make_request(seed: int, rtype: Optional[str] = None, **params) -> Dict:
    """A complete request document (a dict ready for ``json.dumps``).

    ``rtype`` is one of :data:`REQUEST_TYPES` (None: chosen from the seed);
    ``params`` override :data:`DEFAULTS`.
    """
    rng = Random(seed)
    if rtype is None:
        rtype = _pick(rng, REQUEST_TYPES)
    if rtype not in _MAKERS:
        raise ValueError("unknown request type %r" % rtype)
    cl = make_cluster(rng, **params)
    req = _MAKERS[rtype](rng, cl)
    same = float(_param(params, "samenode_frac", 0.0))
    split = float(_param(params, "split_frac", 0.0))
    if same or split:
        _odd_shapes(Random(seed * 7919 + 17), cl, req, same, split)
    for k in ("_nodes", "_insts", "_groups"):
        del cl[k]
    cl["request"] = req
    return cl


def _strings(obj) -> set:
    if isinstance(obj, str):
        return {obj}
    if isinstance(obj, dict):
        return set().union(*(_strings(v) for v in obj.values())) if obj else set()
    if isinstance(obj, (list, tuple)):
        return set().union(*(_strings(v) for v in obj)) if obj else set()
    return set()


def _odd_shapes(rng: Random, cl: Dict, req: Dict, same: float,
                split: float) -> None:
    """Shapes htools accepts but a healthy cluster does not have, on the
    instances the request does not name (its own random numbers, so that
    the rest of the document does not change): an instance listing its
    primary twice, a drbd instance whose secondary is in another group."""
    named = _strings(req)
    nodes = cl["_nodes"]
    for rec in cl["_insts"]:
        if rec["name"] in named:
            continue
        jrec = cl["instances"][rec["name"]]
        p = nodes[rec["_p"]]
        if same and _chance(rng, same):
            jrec["nodes"] = [p.name, p.name]
        elif split and rec["_s"] is not None and _chance(rng, split):
            others = [n for n in nodes if n.group != p.group]
            if others:
                jrec["nodes"] = [p.name, _pick(rng, others).name]


def request_text(seed: int, rtype: Optional[str] = None, **params) -> str:
    return json.dumps(make_request(seed, rtype, **params), sort_keys=True) + "\n"


def write_request(path: str, seed: int, rtype: Optional[str] = None,
                  **params) -> None:
    with open(path, "w") as fh:
        fh.write(request_text(seed, rtype, **params))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--type", choices=REQUEST_TYPES, default=None)
    ap.add_argument("--nodes", type=int, default=None)
    ap.add_argument("--groups", type=int, default=None)
    ap.add_argument("--inst-per-node", type=float, default=None)
    ap.add_argument("--load", type=float, default=None)
    ap.add_argument("-o", "--output", default="-")
    ns = ap.parse_args(argv)
    params = {"nodes": ns.nodes, "groups": ns.groups,
              "inst_per_node": ns.inst_per_node, "load": ns.load}
    params = {k: v for k, v in params.items() if v is not None}
    text = request_text(ns.seed, ns.type, **params)
    if ns.output == "-":
        sys.stdout.write(text)
    else:
        with open(ns.output, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
