"""Haskell-``show`` renderings of policies, as htools prints them verbosely."""
from __future__ import annotations

from htools.hsfmt import show_double
from htools.types import DiskTemplate, IPolicy, ISpec, MinMaxISpecs

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
