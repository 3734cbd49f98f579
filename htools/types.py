"""Basic htools types: enumerations, instance policies, dynamic utilisation.

Names and orders follow Ganeti's own vocabulary, because several outputs
(failure counters, policy dumps, disk template lists) depend on enum order.
"""
from __future__ import annotations

from htools import enumtype as enum
from htools.record import record, replace
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Tuple

from htools.haskell.fmt import show_double


class DiskTemplate(enum.Enum):
    """Disk templates, in Ganeti's enumeration order."""

    DISKLESS = "diskless"
    FILE = "file"
    SHAREDFILE = "sharedfile"
    PLAIN = "plain"
    BLOCK = "blockdev"
    DRBD = "drbd"
    RBD = "rbd"
    EXT = "ext"
    GLUSTER = "gluster"

    @classmethod
    def from_raw(cls, raw: str) -> "DiskTemplate":
        try:
            return _DT_BY_RAW[raw]
        except KeyError:
            raise ValueError("Invalid disk template: '%s'" % raw) from None


_DT_BY_RAW = {dt.value: dt for dt in DiskTemplate}
ALL_DISK_TEMPLATES: Tuple[DiskTemplate, ...] = tuple(DiskTemplate)


class MirrorType(enum.Enum):
    NONE = "none"
    INTERNAL = "internal"
    EXTERNAL = "external"


_MIRROR = {
    DiskTemplate.DISKLESS: MirrorType.EXTERNAL,
    DiskTemplate.FILE: MirrorType.NONE,
    DiskTemplate.SHAREDFILE: MirrorType.EXTERNAL,
    DiskTemplate.PLAIN: MirrorType.NONE,
    DiskTemplate.BLOCK: MirrorType.EXTERNAL,
    DiskTemplate.DRBD: MirrorType.INTERNAL,
    DiskTemplate.RBD: MirrorType.EXTERNAL,
    DiskTemplate.EXT: MirrorType.EXTERNAL,
    DiskTemplate.GLUSTER: MirrorType.EXTERNAL,
}


def mirror_type(dt: DiskTemplate) -> MirrorType:
    return _MIRROR[dt]


#: templates whose disks live on the node's local volume group
LOCAL_STORAGE_TEMPLATES = frozenset({DiskTemplate.DRBD, DiskTemplate.PLAIN})
#: templates whose instances hbal may move
MOVABLE_TEMPLATES = frozenset({
    DiskTemplate.DRBD, DiskTemplate.BLOCK, DiskTemplate.SHAREDFILE,
    DiskTemplate.GLUSTER, DiskTemplate.RBD, DiskTemplate.EXT,
})


class InstanceStatus(enum.Enum):
    """Instance run states, in Ganeti's enumeration order."""

    ADMIN_DOWN = "ADMIN_down"
    ADMIN_OFFLINE = "ADMIN_offline"
    ERROR_DOWN = "ERROR_down"
    ERROR_UP = "ERROR_up"
    NODE_DOWN = "ERROR_nodedown"
    NODE_OFFLINE = "ERROR_nodeoffline"
    RUNNING = "running"
    USER_DOWN = "USER_down"
    WRONG_NODE = "ERROR_wrongnode"

    @classmethod
    def from_raw(cls, raw: str) -> "InstanceStatus":
        try:
            return _ST_BY_RAW[raw]
        except KeyError:
            raise ValueError("Invalid instance status: '%s'" % raw) from None


_ST_BY_RAW = {st.value: st for st in InstanceStatus}


class AllocPolicy(enum.Enum):
    PREFERRED = "preferred"
    LAST_RESORT = "last_resort"
    UNALLOCABLE = "unallocable"

    @classmethod
    def from_raw(cls, raw: str) -> "AllocPolicy":
        try:
            return _AP_BY_RAW[raw]
        except KeyError:
            raise ValueError("Invalid alloc policy: '%s'" % raw) from None

    @property
    def order(self) -> int:
        return _AP_ORDER[self]


_AP_BY_RAW = {ap.value: ap for ap in AllocPolicy}
_AP_ORDER = {ap: i for i, ap in enumerate(AllocPolicy)}


class FailMode(enum.IntEnum):
    """Reasons a placement fails, in Ganeti's enumeration order."""

    FailMem = 0
    FailDisk = 1
    FailCPU = 2
    FailN1 = 3
    FailTags = 4
    FailMig = 5
    FailDiskCount = 6
    FailSpindles = 7
    FailInternal = 8


class Hypervisor(enum.Enum):
    KVM = "kvm"
    XEN_PVM = "xen-pvm"
    XEN_HVM = "xen-hvm"
    CHROOT = "chroot"
    FAKE = "fake"
    LXC = "lxc"


@record(frozen=True)
class ISpec:
    memory_size: int
    cpu_count: int
    disk_size: int
    disk_count: int
    nic_count: int
    spindle_use: int


@record(frozen=True)
class MinMaxISpecs:
    min_spec: ISpec
    max_spec: ISpec


DEF_MIN_ISPEC = ISpec(128, 1, 1024, 1, 1, 1)
DEF_STD_ISPEC = ISpec(128, 1, 1024, 1, 1, 1)
DEF_MAX_ISPEC = ISpec(32768, 8, 1024 * 1024, 16, 8, 12)


@record(frozen=True)
class IPolicy:
    minmax: Tuple[MinMaxISpecs, ...] = (MinMaxISpecs(DEF_MIN_ISPEC, DEF_MAX_ISPEC),)
    std: ISpec = DEF_STD_ISPEC
    disk_templates: Tuple[DiskTemplate, ...] = ALL_DISK_TEMPLATES
    vcpu_ratio: float = 4.0
    spindle_ratio: float = 32.0

    def with_vcpu_ratio(self, ratio: float) -> "IPolicy":
        return replace(self, vcpu_ratio=ratio)


DEFAULT_IPOLICY = IPolicy()


@record
class DynUtil:
    """Dynamic utilisation (cpu, mem, disk, net) of an instance or node."""

    cpu: float = 1.0
    mem: float = 1.0
    dsk: float = 1.0
    net: float = 1.0

    def copy(self) -> "DynUtil":
        return DynUtil(self.cpu, self.mem, self.dsk, self.net)

    def add(self, other: "DynUtil") -> "DynUtil":
        return DynUtil(self.cpu + other.cpu, self.mem + other.mem,
                       self.dsk + other.dsk, self.net + other.net)

    def sub(self, other: "DynUtil") -> "DynUtil":
        return DynUtil(self.cpu - other.cpu, self.mem - other.mem,
                       self.dsk - other.dsk, self.net - other.net)


def zero_util() -> DynUtil:
    return DynUtil(0.0, 0.0, 0.0, 0.0)


def base_util() -> DynUtil:
    return DynUtil(1.0, 1.0, 1.0, 1.0)


# resource shrink units used by tiered allocation
UNIT_MEM = 64
UNIT_DSK = 256
UNIT_CPU = 1
UNIT_SPINDLE = 1

DEFAULT_GROUP_ID = "00000000-0000-0000-0000-000000000000"
NO_SECONDARY = -1



class EvacMode(enum.Enum):
    """Node evacuation modes (Ganeti's ``EvacMode``)."""

    CHANGE_PRIMARY = "primary-only"
    CHANGE_SECONDARY = "secondary-only"
    CHANGE_ALL = "all"


# ---------------------------------------------------------------- show
# Haskell's derived ``show`` of the policy records, as htools prints them
# verbosely.

_DT_CON = {
    DiskTemplate.DISKLESS: "DTDiskless", DiskTemplate.FILE: "DTFile",
    DiskTemplate.SHAREDFILE: "DTSharedFile", DiskTemplate.PLAIN: "DTPlain",
    DiskTemplate.BLOCK: "DTBlock", DiskTemplate.DRBD: "DTDrbd8",
    DiskTemplate.RBD: "DTRbd", DiskTemplate.EXT: "DTExt",
    DiskTemplate.GLUSTER: "DTGluster",
}


def _num(v: int) -> str:
    # record fields show negative numbers bare
    return str(v)


def show_ispec(s: ISpec) -> str:
    return ("ISpec {iSpecMemorySize = %s, iSpecCpuCount = %s, iSpecDiskSize = %s, "
            "iSpecDiskCount = %s, iSpecNicCount = %s, iSpecSpindleUse = %s}" % (
                _num(s.memory_size), _num(s.cpu_count), _num(s.disk_size),
                _num(s.disk_count), _num(s.nic_count), _num(s.spindle_use)))


def show_minmax(mm: MinMaxISpecs) -> str:
    return ("MinMaxISpecs {minMaxISpecsMinSpec = %s, minMaxISpecsMaxSpec = %s}"
            % (show_ispec(mm.min_spec), show_ispec(mm.max_spec)))


def _dbl(x: float) -> str:
    s = show_double(x)
    return "(%s)" % s if s.startswith("-") else s


def show_ipolicy(p: IPolicy) -> str:
    return ("IPolicy {iPolicyMinMaxISpecs = [%s], iPolicyStdSpec = %s, "
            "iPolicyDiskTemplates = [%s], iPolicyVcpuRatio = %s, "
            "iPolicySpindleRatio = %s}" % (
                ",".join(show_minmax(m) for m in p.minmax), show_ispec(p.std),
                ",".join(_DT_CON[d] for d in p.disk_templates),
                _dbl(p.vcpu_ratio), _dbl(p.spindle_ratio)))
