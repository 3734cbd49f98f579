"""The cluster model: groups, nodes, instances and the cluster data set.

The model mirrors the state htools keeps per node and instance.  Node
operations (``set_pri``/``set_sec`` at load time; ``add_pri``/``add_sec``/
``remove_pri``/``remove_sec`` for moves) follow htools' resource accounting
rule for rule, including its integer/float mix, so that scores computed from
this model are bit-identical to the reference's.  They return new nodes and
leave their arguments untouched; the compiled core does the same work on
typed arrays for speed, and this module stays the readable specification.
"""
from __future__ import annotations

from htools.record import field, record
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple, Union

from htools.haskell.prelude import fdiv as _fdiv
from htools.haskell.prelude import floor_int as _floor
from htools.haskell.prelude import truncate_int as hs_truncate
from htools.haskell.prelude import wrap_int64 as _wrap
from htools.types import (
    DEFAULT_IPOLICY, LOCAL_STORAGE_TEMPLATES, MOVABLE_TEMPLATES, AllocPolicy,
    DiskTemplate, DynUtil, FailMode, Hypervisor, InstanceStatus, IPolicy, MirrorType,
    base_util, mirror_type, zero_util,
)

DEF_RESERVED_DISK_RATIO = 0.0


# --------------------------------------------------------------------------
# Peer maps: primary node index -> memory needed on failover, kept sorted by
# decreasing value (the first element is the maximum), as htools does.

if TYPE_CHECKING:
    PeerMap = List[Tuple[int, int]]


def _pm_insert(lst: PeerMap, key: int, value: int) -> PeerMap:
    # insert before the first element whose value is <= the new value
    for pos, (_, v) in enumerate(lst):
        if v <= value:
            return lst[:pos] + [(key, value)] + lst[pos:]
    return lst + [(key, value)]


def pm_find(pm: PeerMap, key: int) -> int:
    for k, v in pm:
        if k == key:
            return v
    return 0


def pm_remove(pm: PeerMap, key: int) -> PeerMap:
    for pos, (k, _) in enumerate(pm):
        if k == key:
            return pm[:pos] + pm[pos + 1:]
    return list(pm)


def pm_add_with(pm: PeerMap, key: int, value: int, merge) -> PeerMap:
    for k, v in pm:
        if k == key:
            return _pm_insert(pm_remove(pm, key), key, merge(v, value))
    return _pm_insert(pm, key, value)


def pm_add(pm: PeerMap, key: int, value: int) -> PeerMap:
    """Set ``key`` to ``value`` (replacing any previous value)."""
    return pm_add_with(pm, key, value, lambda _old, new: new)


def pm_accum(pairs: Sequence[Tuple[int, int]]) -> PeerMap:
    """Build a peer map summing values per key (last pair inserted first)."""
    pm: PeerMap = []
    for key, value in reversed(pairs):
        pm = pm_add_with(pm, key, value, lambda old, new: _wrap(old + new))
    return pm


def pm_max(pm: PeerMap) -> int:
    return pm[0][1] if pm else 0


def pm_sum(pm: PeerMap) -> int:
    return _wrap(sum(v for _, v in pm))


# --------------------------------------------------------------------------
# Tag multisets (exclusion tags of primaries, location/exclusion pairs)

def add_tags(tm: dict, tags) -> dict:
    new = dict(tm)
    for t in tags:
        new[t] = new.get(t, 0) + 1
    return new


def del_tags(tm: dict, tags) -> dict:
    new = dict(tm)
    for t in tags:
        v = new.get(t)
        if v is None:
            continue
        if v > 1:
            new[t] = v - 1
        else:
            del new[t]
    return new


def _list_delete(lst: List[int], item: int) -> List[int]:
    new = list(lst)
    try:
        new.remove(item)
    except ValueError:
        pass
    return new


# --------------------------------------------------------------------------

@record
class Disk:
    size: int
    spindles: Optional[int] = None


@record
class Nic:
    mac: Optional[str] = None
    ip: Optional[str] = None
    mode: Optional[str] = None
    link: Optional[str] = None
    bridge: Optional[str] = None
    network: Optional[str] = None


@record
class Group:
    name: str
    uuid: str
    alloc_policy: AllocPolicy = AllocPolicy.PREFERRED
    networks: List[str] = field(default_factory=list)
    ipolicy: IPolicy = DEFAULT_IPOLICY
    tags: List[str] = field(default_factory=list)
    idx: int = -1

    def all_names(self) -> Tuple[str, str]:
        return (self.name, self.uuid)

    @property
    def is_allocable(self) -> bool:
        return self.alloc_policy != AllocPolicy.UNALLOCABLE


@record
class Instance:
    name: str
    mem: int
    dsk: int
    disks: List[Disk]
    vcpus: int
    run_st: InstanceStatus
    tags: List[str]
    auto_balance: bool
    pnode: int
    snode: int
    disk_template: DiskTemplate
    spindle_use: int = 1
    nics: List[Nic] = field(default_factory=list)
    forthcoming: bool = False
    alias: str = ""
    idx: int = -1
    util: DynUtil = field(default_factory=base_util)
    movable: bool = True
    excl_tags: List[str] = field(default_factory=list)
    dsrd_loc_tags: frozenset = frozenset()
    location_score: int = 0
    # storage pools (an extension): the disks' volume groups when known,
    # ``(size, data vg, meta vg or None)`` each, and the demand they make on
    # every node holding the instance's storage (``pool_demand``)
    pool_disks: tuple = ()
    pools: Dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.alias:
            self.alias = self.name
        self.movable = self.disk_template in MOVABLE_TEMPLATES

    def copy(self) -> "Instance":
        new = Instance.__new__(Instance)
        new.__dict__.update(self.__dict__)
        return new

    # run state predicates
    @property
    def is_running(self) -> bool:
        return self.run_st in (InstanceStatus.RUNNING, InstanceStatus.ERROR_UP)

    @property
    def is_offline(self) -> bool:
        return self.run_st == InstanceStatus.ADMIN_OFFLINE

    @property
    def not_offline(self) -> bool:
        return self.run_st != InstanceStatus.ADMIN_OFFLINE

    @property
    def uses_sec_mem(self) -> bool:
        return self.not_offline and self.auto_balance

    @property
    def uses_memory(self) -> bool:
        if self.forthcoming:
            return False
        return self.run_st in _USES_MEMORY

    @property
    def uses_local_storage(self) -> bool:
        return self.disk_template in LOCAL_STORAGE_TEMPLATES

    @property
    def has_secondary(self) -> bool:
        return self.disk_template == DiskTemplate.DRBD

    @property
    def mirror_type(self) -> MirrorType:
        return mirror_type(self.disk_template)

    def total_spindles(self) -> Optional[int]:
        total = 0
        for d in self.disks:
            if d.spindles is None:
                return None
            total += d.spindles
        return total

    def all_nodes(self) -> List[int]:
        if self.disk_template == DiskTemplate.DRBD:
            return [self.pnode, self.snode]
        return [self.pnode]


_USES_MEMORY = frozenset({
    InstanceStatus.ERROR_UP, InstanceStatus.NODE_DOWN,
    InstanceStatus.NODE_OFFLINE, InstanceStatus.RUNNING,
    InstanceStatus.WRONG_NODE,
})


# --------------------------------------------------------------------------
# Storage pools (an extension of ours): several LVM volume groups per node.
# A node's ``pools`` maps each volume group to (total, free) MiB, or is None
# when unknown; an instance's ``pools`` maps each volume group to the MiB
# its disks take on every node holding its storage (a DRBD disk takes its
# size on the data VG and DRBD_META_SIZE on the meta VG, on both nodes).
# Without pool data on either side, nothing changes.

DRBD_META_SIZE = 128

_POOL_IDS: Dict[str, int] = {}


def pool_id(vg: str) -> int:
    """A small number per volume group name, the same for the process's
    life (the compiled core's bit of the pool)."""
    pid = _POOL_IDS.get(vg)
    if pid is None:
        pid = _POOL_IDS[vg] = len(_POOL_IDS)
    return pid


def pool_demand(template: DiskTemplate,
                pool_disks: Sequence[Tuple[int, str, Optional[str]]]
                ) -> Dict[str, int]:
    """The per-node demand of disks ``(size, vg, metavg)``; metavg None
    means the data VG."""
    demand: Dict[str, int] = {}
    if template not in LOCAL_STORAGE_TEMPLATES:
        return demand
    for size, vg, metavg in pool_disks:
        demand[vg] = demand.get(vg, 0) + size
        if template == DiskTemplate.DRBD:
            mvg = metavg or vg
            demand[mvg] = demand.get(mvg, 0) + DRBD_META_SIZE
    return demand


def set_pool_disks(inst: "Instance",
                   pool_disks: Sequence[Tuple[int, str, Optional[str]]]) -> None:
    """Record the volume groups of ``inst``'s disks (and its demand)."""
    inst.pool_disks = tuple(pool_disks)
    inst.pools = pool_demand(inst.disk_template, inst.pool_disks)


def pool_shortage(node: "Node", inst: "Instance", strict: bool = True
                  ) -> Optional[str]:
    """Why ``node`` cannot hold ``inst``'s storage, or None: the reason in
    words (``no volume group X``, ``not enough free space in volume group
    X``)."""
    if node.pools is None or not inst.pools:
        return None
    for vg in sorted(inst.pools):
        have = node.pools.get(vg)
        if have is None:
            return "no volume group %s" % vg
        total, free = have
        new = free - inst.pools[vg]
        if new <= 0 or (strict and new < _floor(node.m_dsk * total)):
            return "not enough free space in volume group %s" % vg
    return None


def compute_pdsk(free: int, total: float) -> float:
    if total == 0:
        return 1.0
    return free / total


class Node:
    """A node with htools' full resource accounting.

    Field names follow htools (t_mem total memory, n_mem node OS memory,
    f_mem reported free memory, i_mem memory of primaries, x_mem unaccounted
    memory, r_mem memory reserved for failovers, ...).  Totals t_mem, t_dsk
    and t_cpu are floats as in htools; the rest are integers.
    """

    __slots__ = (
        "name", "alias", "t_mem", "n_mem", "i_mem", "f_mem", "f_mem_forth",
        "x_mem", "t_dsk", "f_dsk", "f_dsk_forth", "t_cpu", "t_cpu_speed",
        "n_cpu", "u_cpu", "u_cpu_forth", "t_spindles", "f_spindles",
        "f_spindles_forth", "p_list", "p_list_forth", "s_list",
        "s_list_forth", "idx", "peers", "fail_n1", "r_mem", "p_mem",
        "p_mem_forth", "p_dsk", "p_dsk_forth", "p_rem", "p_cpu",
        "p_cpu_forth", "m_dsk", "lo_dsk", "hi_cpu", "hi_spindles",
        "inst_spindles", "inst_spindles_forth", "offline", "is_master",
        "tags", "util_pool", "util_load", "util_load_forth", "p_tags",
        "group", "ipolicy", "excl_storage", "mig_tags", "rmig_tags",
        "location_tags", "location_score", "instance_map", "hypervisor",
        "drained", "pools",
    )

    def __init__(self, name: str, t_mem: float, n_mem: int, f_mem: int,
                 t_dsk: float, f_dsk: int, t_cpu: float, n_cpu: int,
                 offline: bool, t_spindles: int, f_spindles: int, group: int,
                 excl_storage: bool) -> None:
        self.name = name
        self.alias = name
        self.t_mem = float(t_mem)
        self.n_mem = n_mem
        self.i_mem = 0
        self.x_mem = 0
        self.p_mem = 0.0
        self.f_mem = f_mem
        self.f_mem_forth = f_mem
        self.t_dsk = float(t_dsk)
        self.f_dsk = f_dsk
        self.f_dsk_forth = f_dsk
        self.t_cpu = float(t_cpu)
        self.t_cpu_speed = 1.0
        self.n_cpu = n_cpu
        self.u_cpu = n_cpu
        self.u_cpu_forth = n_cpu
        self.t_spindles = t_spindles
        self.f_spindles = f_spindles
        self.f_spindles_forth = f_spindles
        self.p_list: List[int] = []
        self.p_list_forth: List[int] = []
        self.s_list: List[int] = []
        self.s_list_forth: List[int] = []
        self.fail_n1 = True
        self.idx = -1
        self.peers: PeerMap = []
        self.r_mem = 0
        self.p_mem_forth = _fdiv(f_mem, self.t_mem)
        if excl_storage:
            self.p_dsk = compute_pdsk(f_spindles, float(t_spindles))
        else:
            self.p_dsk = compute_pdsk(f_dsk, self.t_dsk)
        self.p_dsk_forth = self.p_dsk
        self.p_rem = 0.0
        self.p_cpu = _fdiv(n_cpu, self.t_cpu)
        self.p_cpu_forth = self.p_cpu
        self.offline = offline
        self.drained = False
        self.is_master = False
        self.tags: List[str] = []
        self.m_dsk = DEF_RESERVED_DISK_RATIO
        self.lo_dsk = _floor(DEF_RESERVED_DISK_RATIO * self.t_dsk)
        self.hi_cpu = _floor(DEFAULT_IPOLICY.vcpu_ratio * self.t_cpu)
        self.hi_spindles = DEFAULT_IPOLICY.spindle_ratio * t_spindles
        self.inst_spindles = 0.0
        self.inst_spindles_forth = 0.0
        self.util_pool = base_util()
        self.util_load = zero_util()
        self.util_load_forth = zero_util()
        self.p_tags: Dict[str, int] = {}
        self.group = group
        self.ipolicy = DEFAULT_IPOLICY
        self.excl_storage = excl_storage
        self.mig_tags: frozenset = frozenset()
        self.rmig_tags: frozenset = frozenset()
        self.location_tags: frozenset = frozenset()
        self.location_score = 0
        self.instance_map: Dict[Tuple[str, str], int] = {}
        self.hypervisor: Optional[Hypervisor] = None
        # storage pools (an extension): volume group -> (total, free), or
        # None when unknown (then only the single disk figure counts)
        self.pools: Optional[Dict[str, Tuple[int, int]]] = None

    def copy(self) -> "Node":
        """A shallow copy (replaced below by a generated straight-line
        version: this is on every move's and placement's path)."""
        new = Node.__new__(Node)
        for slot in Node.__slots__:
            setattr(new, slot, getattr(self, slot))
        return new

    def __repr__(self) -> str:
        return "Node(%r, idx=%d)" % (self.name, self.idx)

    # ---- derived figures -------------------------------------------------
    def all_names(self) -> Tuple[str, str]:
        return (self.name, self.alias)

    @property
    def p_cpu_eff(self) -> float:
        return _fdiv(self.p_cpu, self.t_cpu_speed)

    @property
    def p_cpu_eff_forth(self) -> float:
        return _fdiv(self.p_cpu_forth, self.t_cpu_speed)

    def recorded_free_mem(self) -> int:
        return _wrap(hs_truncate(self.t_mem) - self.n_mem - self.i_mem)

    def missing_mem(self) -> int:
        return _wrap(self.recorded_free_mem() - self.f_mem)

    def unallocated_mem(self) -> int:
        return _wrap(self.recorded_free_mem() - max(0, self.x_mem))

    def avail_mem(self) -> int:
        return max(0, _wrap(self.unallocated_mem() - self.r_mem))

    def avail_disk(self) -> int:
        return 0 if self.f_dsk < self.lo_dsk else _wrap(self.f_dsk - self.lo_dsk)

    def avail_cpu(self) -> int:
        return _wrap(self.hi_cpu - self.u_cpu) if self.hi_cpu >= self.u_cpu else 0

    def i_dsk(self) -> int:
        return _wrap(hs_truncate(self.t_dsk) - self.f_dsk)

    def conflicting_primaries(self) -> int:
        return sum(self.p_tags.values()) - len(self.p_tags)

    def policy_health(self) -> Optional[FailMode]:
        if self.inst_spindles > self.hi_spindles:
            return FailMode.FailDisk
        if self.p_cpu > self.ipolicy.vcpu_ratio:
            return FailMode.FailCPU
        return None

    # ---- setters used after loading -------------------------------------
    def set_mdsk(self, val: float) -> None:
        self.m_dsk = val
        self.lo_dsk = _floor(val * self.t_dsk)

    def set_mcpu(self, val: float) -> None:
        self.ipolicy = self.ipolicy.with_vcpu_ratio(val)
        self.hi_cpu = _floor(val * self.t_cpu)

    def set_policy(self, pol: IPolicy) -> None:
        self.ipolicy = pol
        self.hi_cpu = _floor(pol.vcpu_ratio * self.t_cpu)
        self.hi_spindles = pol.spindle_ratio * self.t_spindles

    def new_pdsk(self, free_sp: int, free_dsk: int) -> float:
        if self.excl_storage:
            return compute_pdsk(free_sp, float(self.t_spindles))
        return compute_pdsk(free_dsk, self.t_dsk)

    def _spindle_use(self, add: bool, inst: Instance, forth: bool) -> float:
        if self.excl_storage:
            return 0.0
        cur = self.inst_spindles_forth if forth else self.inst_spindles
        if not inst.uses_local_storage:
            return cur
        return cur + inst.spindle_use if add else cur - inst.spindle_use

    def _new_free_spindles(self, add: bool, inst: Instance, forth: bool) -> int:
        if not self.excl_storage:
            return 0
        cur = self.f_spindles_forth if forth else self.f_spindles
        total = inst.total_spindles()
        if total is None:
            return -1 if add else cur
        return cur - total if add else cur + total

    def _dsrd_loc_score(self, inst: Instance) -> int:
        tags = inst.dsrd_loc_tags
        return len(tags) - len(tags & self.location_tags)

    def _loc_excl_pairs(self, inst: Instance) -> List[Tuple[str, str]]:
        return [(loc, ex) for loc in sorted(self.location_tags)
                for ex in inst.excl_tags]

    def _pooled(self, inst: Instance) -> bool:
        """Whether the pools decide about ``inst``'s storage here: the
        node's volume groups and the instance's are known.  Then the single
        disk figure is not checked (it is still accounted): the pool rule
        checks every volume group the instance uses, with the same reserve,
        and charging an HDD disk to the node's one figure (Ganeti reports
        the cluster VG's) would refuse moves the volume groups allow."""
        return self.pools is not None and bool(inst.pools)

    def _pool_fail(self, inst: Instance, strict: bool) -> bool:
        """The pool rule: every volume group of the instance's demand
        exists here and keeps free space above zero (and above the disk
        reserve when strict).  Always passes with unknown pools."""
        if self.pools is None or not inst.pools:
            return False
        return pool_shortage(self, inst, strict) is not None

    def _pools_with(self, inst: Instance, sign: int):
        """The pools after adding (sign 1) or removing (-1) the instance's
        demand."""
        pools = self.pools
        if pools is None or not inst.pools:
            return pools
        new = dict(pools)
        for vg, amt in inst.pools.items():
            have = new.get(vg)
            if have is not None:
                new[vg] = (have[0], _wrap(have[1] - sign * amt))
        return new

    # ---- load-time placement (no checks) --------------------------------
    def set_pri(self, inst: Instance) -> None:
        """Account ``inst`` as a primary of this node (in place)."""
        if not inst.forthcoming:
            self.p_list = [inst.idx] + self.p_list
            if inst.not_offline:
                self.u_cpu = _wrap(self.u_cpu + inst.vcpus)
            self.p_cpu = _fdiv(self.u_cpu, self.t_cpu)
            self.util_load = self.util_load.add(inst.util)
            self.inst_spindles = self._spindle_use(True, inst, False)
            self.location_score += inst.location_score + self._dsrd_loc_score(inst)
            self.instance_map = add_tags(self.instance_map, self._loc_excl_pairs(inst))
            self._set_pri_forth(inst)
        else:
            self._set_pri_forth(inst)
            self._forth_only_disk(inst)

    def _set_pri_forth(self, inst: Instance) -> None:
        if not inst.uses_memory:
            self.f_mem_forth = _wrap(self.f_mem_forth - inst.mem)
        self.p_tags = add_tags(self.p_tags, inst.excl_tags)
        self.p_list_forth = [inst.idx] + self.p_list_forth
        if inst.not_offline:
            self.u_cpu_forth = _wrap(self.u_cpu_forth + inst.vcpus)
        self.p_cpu_forth = _fdiv(self.u_cpu_forth, self.t_cpu)
        self.util_load_forth = self.util_load_forth.add(inst.util)
        self.p_mem_forth = _fdiv(self.f_mem_forth, self.t_mem)
        self.inst_spindles_forth = self._spindle_use(True, inst, True)

    def _forth_only_disk(self, inst: Instance) -> None:
        if inst.uses_local_storage:
            self.f_dsk_forth = _wrap(self.f_dsk_forth - inst.dsk)
            self.pools = self._pools_with(inst, 1)
        sp = self._new_free_spindles(True, inst, True)
        self.p_dsk_forth = self.new_pdsk(sp, self.f_dsk_forth)
        self.f_spindles_forth = sp

    def set_sec(self, inst: Instance) -> None:
        """Account ``inst`` as a secondary of this node (in place)."""
        if not inst.forthcoming:
            self.s_list = [inst.idx] + self.s_list
            ul = self.util_load.copy()
            ul.dsk = ul.dsk + inst.util.dsk
            self.util_load = ul
            self.inst_spindles = self._spindle_use(True, inst, False)
            self._set_sec_forth(inst)
        else:
            self._set_sec_forth(inst)
            self._forth_only_disk(inst)

    def _set_sec_forth(self, inst: Instance) -> None:
        self.s_list_forth = [inst.idx] + self.s_list_forth
        ulf = self.util_load_forth.copy()
        ulf.dsk = ulf.dsk + inst.util.dsk
        self.util_load_forth = ulf
        self.inst_spindles_forth = self._spindle_use(True, inst, True)

    def build_peers(self, instances: Sequence[Instance]) -> None:
        """Compute the peer map, r_mem and (htools 3.0.2) the N+1 flag."""
        mdata = []
        for iidx in self.s_list:
            inst = instances[iidx]
            mem = inst.mem if (inst.uses_sec_mem and not inst.forthcoming) else 0
            mdata.append((inst.pnode, mem))
        pm = pm_accum(mdata)
        self.peers = pm
        self.r_mem = pm_max(pm)
        self.fail_n1 = self.f_mem < self.r_mem
        self.p_rem = _fdiv(self.r_mem, self.t_mem)

    # ---- moves: functional updates with placement checks ----------------
    def _prospective_mem(self, inst: Instance, add: bool) -> Tuple[int, int]:
        i_mem = self.i_mem
        if inst.uses_memory:
            i_mem = _wrap(i_mem + inst.mem) if add else _wrap(i_mem - inst.mem)
        free = _wrap(hs_truncate(self.t_mem) - self.n_mem - i_mem - max(0, self.x_mem))
        return i_mem, free

    def remove_pri(self, inst: Instance) -> "Node":
        n = self.copy()
        uses_disk = inst.uses_local_storage
        if not inst.forthcoming:
            n.p_list = _list_delete(self.p_list, inst.idx)
            n.i_mem, new_free = self._prospective_mem(inst, False)
            n.p_mem = _fdiv(new_free, self.t_mem)
            n.fail_n1 = new_free <= self.r_mem
            n.f_dsk = _wrap(self.f_dsk + inst.dsk) if uses_disk else self.f_dsk
            n.f_spindles = self._new_free_spindles(False, inst, False)
            n.inst_spindles = self._spindle_use(False, inst, False)
            n.p_dsk = self.new_pdsk(n.f_spindles, n.f_dsk)
            n.u_cpu = _wrap(self.u_cpu - inst.vcpus) if inst.not_offline else self.u_cpu
            n.p_cpu = _fdiv(n.u_cpu, self.t_cpu)
            n.util_load = self.util_load.sub(inst.util)
            n.location_score = (self.location_score - inst.location_score
                                - self._dsrd_loc_score(inst))
            n.instance_map = del_tags(self.instance_map, self._loc_excl_pairs(inst))
        # forthcoming-inclusive fields
        n.p_tags = del_tags(self.p_tags, inst.excl_tags)
        n.p_list_forth = _list_delete(self.p_list_forth, inst.idx)
        n.f_mem_forth = _wrap(self.f_mem_forth + inst.mem)
        n.f_dsk_forth = _wrap(self.f_dsk_forth + inst.dsk) if uses_disk else self.f_dsk_forth
        if uses_disk:
            n.pools = self._pools_with(inst, -1)
        n.f_spindles_forth = self._new_free_spindles(False, inst, True)
        n.inst_spindles_forth = self._spindle_use(False, inst, True)
        n.p_mem_forth = _fdiv(n.f_mem_forth, self.t_mem)
        n.p_dsk_forth = self.new_pdsk(n.f_spindles_forth, n.f_dsk_forth)
        n.u_cpu_forth = (_wrap(self.u_cpu_forth - inst.vcpus) if inst.not_offline
                         else self.u_cpu_forth)
        n.p_cpu_forth = _fdiv(n.u_cpu_forth, self.t_cpu)
        n.util_load_forth = self.util_load_forth.sub(inst.util)
        return n

    def remove_sec(self, inst: Instance) -> "Node":
        n = self.copy()
        uses_disk = inst.uses_local_storage
        if not inst.forthcoming:
            n.s_list = _list_delete(self.s_list, inst.idx)
            n.f_dsk = _wrap(self.f_dsk + inst.dsk) if uses_disk else self.f_dsk
            n.f_spindles = self._new_free_spindles(False, inst, False)
            n.inst_spindles = self._spindle_use(False, inst, False)
            old_peem = pm_find(self.peers, inst.pnode)
            new_peem = _wrap(old_peem - inst.mem) if inst.uses_sec_mem else old_peem
            if new_peem > 0:
                n.peers = pm_add(self.peers, inst.pnode, new_peem)
            else:
                n.peers = pm_remove(self.peers, inst.pnode)
            n.r_mem = self.r_mem if old_peem < self.r_mem else pm_max(n.peers)
            n.p_rem = _fdiv(n.r_mem, self.t_mem)
            n.fail_n1 = self.unallocated_mem() <= n.r_mem
            n.p_dsk = self.new_pdsk(n.f_spindles, n.f_dsk)
            ul = self.util_load.copy()
            ul.dsk = ul.dsk - inst.util.dsk
            n.util_load = ul
        n.s_list_forth = _list_delete(self.s_list_forth, inst.idx)
        n.f_dsk_forth = _wrap(self.f_dsk_forth + inst.dsk) if uses_disk else self.f_dsk_forth
        if uses_disk:
            n.pools = self._pools_with(inst, -1)
        n.f_spindles_forth = self._new_free_spindles(False, inst, True)
        n.inst_spindles_forth = self._spindle_use(False, inst, True)
        n.p_dsk_forth = self.new_pdsk(n.f_spindles_forth, n.f_dsk_forth)
        ulf = self.util_load_forth.copy()
        ulf.dsk = ulf.dsk - inst.util.dsk
        n.util_load_forth = ulf
        return n

    def add_pri(self, inst: Instance, force: bool = False) -> Union["Node", FailMode]:
        """Place ``inst`` as primary; a FailMode if a check fails."""
        strict = not force
        uses_disk = inst.uses_local_storage
        l_cpu = self.ipolicy.vcpu_ratio
        new_mem_forth = _wrap(self.f_mem_forth - inst.mem)
        new_dsk_forth = _wrap(self.f_dsk_forth - inst.dsk) if uses_disk else self.f_dsk_forth
        new_sp_forth = self._new_free_spindles(True, inst, True)
        new_isp_forth = self._spindle_use(True, inst, True)
        new_ucpu_forth = (_wrap(self.u_cpu_forth + inst.vcpus) if inst.not_offline
                          else self.u_cpu_forth)
        new_pcpu_forth = _fdiv(new_ucpu_forth, self.t_cpu)
        figure = uses_disk and not self._pooled(inst)

        def forth_violation() -> Optional[FailMode]:
            if new_mem_forth <= 0:
                return FailMode.FailMem
            if figure and new_dsk_forth <= 0:
                return FailMode.FailDisk
            if figure and new_dsk_forth < self.lo_dsk:
                return FailMode.FailDisk
            if uses_disk and inst.forthcoming and self._pool_fail(inst, True):
                return FailMode.FailDisk
            if uses_disk and self.excl_storage and new_sp_forth < 0:
                return FailMode.FailSpindles
            if uses_disk and new_isp_forth > self.hi_spindles:
                return FailMode.FailDisk
            if l_cpu >= 0 and l_cpu < new_pcpu_forth:
                return FailMode.FailCPU
            return None

        def with_forth(n: "Node") -> "Node":
            n.p_tags = add_tags(self.p_tags, inst.excl_tags)
            n.p_list_forth = [inst.idx] + self.p_list_forth
            n.f_mem_forth = new_mem_forth
            n.f_dsk_forth = new_dsk_forth
            if uses_disk:
                n.pools = self._pools_with(inst, 1)
            n.p_mem_forth = _fdiv(new_mem_forth, self.t_mem)
            n.p_dsk_forth = self.new_pdsk(new_sp_forth, new_dsk_forth)
            n.u_cpu_forth = new_ucpu_forth
            n.p_cpu_forth = new_pcpu_forth
            n.util_load_forth = self.util_load_forth.add(inst.util)
            n.inst_spindles_forth = new_isp_forth
            n.f_spindles_forth = new_sp_forth
            return n

        if inst.forthcoming:
            if strict:
                err = forth_violation()
                if err is not None:
                    return err
            return with_forth(self.copy())

        new_i_mem, new_free_mem = self._prospective_mem(inst, True)
        new_failn1 = new_free_mem <= self.r_mem
        new_dsk = _wrap(self.f_dsk - inst.dsk) if uses_disk else self.f_dsk
        new_sp = self._new_free_spindles(True, inst, False)
        new_isp = self._spindle_use(True, inst, False)
        new_ucpu = _wrap(self.u_cpu + inst.vcpus) if inst.not_offline else self.u_cpu
        new_pcpu = _fdiv(new_ucpu, self.t_cpu)
        if new_free_mem <= 0:
            return FailMode.FailMem
        if figure and new_dsk <= 0:
            return FailMode.FailDisk
        if strict and figure and new_dsk < self.lo_dsk:
            return FailMode.FailDisk
        if uses_disk and self._pool_fail(inst, strict):
            return FailMode.FailDisk
        if uses_disk and self.excl_storage and new_sp < 0:
            return FailMode.FailSpindles
        if strict and uses_disk and new_isp > self.hi_spindles:
            return FailMode.FailDisk
        if strict and new_failn1 and not self.fail_n1:
            return FailMode.FailMem
        if strict and l_cpu >= 0 and l_cpu < new_pcpu:
            return FailMode.FailCPU
        if strict and any(t in self.p_tags for t in inst.excl_tags):
            return FailMode.FailTags
        if strict:
            err = forth_violation()
            if err is not None:
                return err
        n = self.copy()
        n.p_list = [inst.idx] + self.p_list
        n.i_mem = new_i_mem
        n.f_dsk = new_dsk
        n.fail_n1 = new_failn1
        n.p_mem = _fdiv(new_free_mem, self.t_mem)
        n.p_dsk = self.new_pdsk(new_sp, new_dsk)
        n.u_cpu = new_ucpu
        n.p_cpu = new_pcpu
        n.util_load = self.util_load.add(inst.util)
        n.inst_spindles = new_isp
        n.f_spindles = new_sp
        n.location_score = (self.location_score + inst.location_score
                            + self._dsrd_loc_score(inst))
        n.instance_map = add_tags(self.instance_map, self._loc_excl_pairs(inst))
        return with_forth(n)

    def add_sec(self, inst: Instance, pdx: int, force: bool = False,
                ignore_disks: bool = False) -> Union["Node", FailMode]:
        """Place ``inst`` as secondary (primary on node ``pdx``)."""
        strict = not force
        sec_mem = inst.mem if inst.uses_sec_mem else 0
        new_peem = _wrap(pm_find(self.peers, pdx) + sec_mem)
        old_mem_forth = self.f_mem_forth
        new_dsk_forth = _wrap(self.f_dsk_forth - inst.dsk)
        new_sp_forth = self._new_free_spindles(True, inst, True)
        new_isp_forth = self._spindle_use(True, inst, True)
        figure = not self._pooled(inst)

        def forth_violation() -> Optional[FailMode]:
            if not inst.has_secondary:
                return FailMode.FailDisk
            if figure and new_dsk_forth <= 0:
                return FailMode.FailDisk
            if figure and new_dsk_forth < self.lo_dsk:
                return FailMode.FailDisk
            if inst.forthcoming and self._pool_fail(inst, True):
                return FailMode.FailDisk
            if self.excl_storage and new_sp_forth < 0:
                return FailMode.FailSpindles
            if new_isp_forth > self.hi_spindles:
                return FailMode.FailDisk
            if sec_mem >= old_mem_forth:
                return FailMode.FailMem
            return None

        def with_forth(n: "Node") -> "Node":
            n.s_list_forth = [inst.idx] + self.s_list_forth
            n.f_dsk_forth = new_dsk_forth
            n.pools = self._pools_with(inst, 1)
            n.p_dsk_forth = self.new_pdsk(new_sp_forth, new_dsk_forth)
            ulf = self.util_load_forth.copy()
            ulf.dsk = ulf.dsk + inst.util.dsk
            n.util_load_forth = ulf
            n.inst_spindles_forth = new_isp_forth
            n.f_spindles_forth = new_sp_forth
            return n

        if inst.forthcoming:
            if strict:
                err = forth_violation()
                if err is not None:
                    return err
            return with_forth(self.copy())

        old_mem = self.unallocated_mem()
        new_dsk = _wrap(self.f_dsk - inst.dsk)
        new_sp = self._new_free_spindles(True, inst, False)
        new_isp = self._spindle_use(True, inst, False)
        new_rmem = max(self.r_mem, new_peem)
        new_failn1 = old_mem <= new_rmem
        if not inst.has_secondary:
            return FailMode.FailDisk
        if figure and not ignore_disks and new_dsk <= 0:
            return FailMode.FailDisk
        if strict and figure and new_dsk < self.lo_dsk:
            return FailMode.FailDisk
        if not ignore_disks and self._pool_fail(inst, strict):
            return FailMode.FailDisk
        if self.excl_storage and new_sp < 0:
            return FailMode.FailSpindles
        if strict and new_isp > self.hi_spindles:
            return FailMode.FailDisk
        if strict and sec_mem >= old_mem:
            return FailMode.FailMem
        if strict and new_failn1 and not self.fail_n1:
            return FailMode.FailMem
        if strict:
            err = forth_violation()
            if err is not None:
                return err
        n = self.copy()
        n.s_list = [inst.idx] + self.s_list
        n.f_dsk = new_dsk
        n.peers = pm_add(self.peers, pdx, new_peem)
        n.fail_n1 = new_failn1
        n.r_mem = new_rmem
        n.p_dsk = self.new_pdsk(new_sp, new_dsk)
        n.p_rem = _fdiv(new_rmem, self.t_mem)
        ul = self.util_load.copy()
        ul.dsk = ul.dsk + inst.util.dsk
        n.util_load = ul
        n.inst_spindles = new_isp
        n.f_spindles = new_sp
        return with_forth(n)


def _make_node_copy():
    """``Node.copy`` as one straight-line function over the slots (several
    times faster than a getattr/setattr loop)."""
    src = ["def copy(self):", "    new = _new(_Node)"]
    src += ["    new.%s = self.%s" % (s, s) for s in Node.__slots__]
    src += ["    return new"]
    env = {"_new": object.__new__, "_Node": Node}
    from htools.gencode import define
    fn = define("\n".join(src) + "\n", env, "copy")
    fn.__doc__ = Node.copy.__doc__
    fn.__qualname__ = "Node.copy"
    return fn


Node.copy = _make_node_copy()  # type: ignore[method-assign]


@record
class ClusterData:
    """Everything a backend loads: groups, nodes, instances, tags, policy."""

    groups: List[Group]
    nodes: List[Node]
    instances: List[Instance]
    tags: List[str] = field(default_factory=list)
    ipolicy: IPolicy = DEFAULT_IPOLICY

    def node_names(self) -> List[str]:
        return [n.name for n in self.nodes]
