"""hbal and hinfo against the reference: Ganeti's data files × options."""
import pytest

from tests.harness.refdiff import DATA, compare

DATA_FILES = sorted(p.name for p in DATA.glob("*.data")) if DATA.is_dir() else []
MULTI_GROUP = {"hspace-groups-one.data", "hspace-groups-two.data",
               "hspace-bad-group.data", "hbal-cpu-speed.data"}

HBAL_OPTION_SETS = [
    [], ["-C"], ["--no-disk-moves"], ["--no-instance-moves"], ["-E"],
    ["--restricted-migration"], ["--ignore-soft-errors"], ["-l", "2", "-C"],
    ["-v", "-v", "-v"], ["-p", "--print-instances"], ["-g", "0", "--min-gain-limit", "0"],
    ["--ignore-dynu"], ["-e", "0.5"], ["--first-job-group", "-C"],
]


def _check(exp, got):
    assert got["stdout"] == exp["stdout"]
    assert got["stderr"] == exp["stderr"]
    assert got["status"] == exp["status"]
    assert got["files"] == exp["files"]


@pytest.mark.parametrize("name", DATA_FILES)
def test_hinfo(name, tmp_path):
    _check(*compare("diff-hinfo", "hinfo", ["-v", "-p", "--print-instances",
                                       "-t", "{D}/" + name], tmp_path))


@pytest.mark.parametrize("name", DATA_FILES)
def test_hbal_save(name, tmp_path):
    args = ["-t", "{D}/" + name, "-S", "{T}/out", "-C{T}/cmds.sh"]
    _check(*compare("diff-hbal", "hbal", args, tmp_path,
                    files=["out.original", "out.balanced", "cmds.sh"]))


@pytest.mark.parametrize("opts", HBAL_OPTION_SETS, ids=lambda o: " ".join(o) or "default")
@pytest.mark.parametrize("name", ["hbal-excl-tags.data", "hbal-split-insts.data",
                                  "hbal-migration-1.data", "hbal-location-1.data",
                                  "hbal-desiredlocation-1.data", "hbal-soft-errors.data",
                                  "hbal-evac.data", "n1-failure.data",
                                  "hbal-location-exclusion.data", "hbal-forth.data"])
def test_hbal_options(name, opts, tmp_path):
    _check(*compare("diff-hbal", "hbal", ["-t", "{D}/" + name] + opts, tmp_path))


@pytest.mark.parametrize("args", [
    ["--mond=yes", "--mond-data", "{S}/ganeti-testdata/mond-data.txt"],
    ["-G", "group-01"], ["-G", "nosuchgroup"], ["-O", "node-01-001"],
    ["-O", "nosuchnode"], ["--select-instances", "inst-00"],
    ["--exclude-instances", "nosuch"], ["-U", "{D}/nonexistent"],
])
def test_hbal_misc(args, tmp_path):
    _check(*compare("diff-hbal", "hbal", ["-t", "{D}/hbal-dyn.data"] + args, tmp_path))


@pytest.mark.parametrize("name", sorted(MULTI_GROUP))
def test_hbal_multi_group(name, tmp_path):
    _check(*compare("diff-hbal", "hbal", ["-t", "{D}/" + name], tmp_path))
    _check(*compare("diff-hbal", "hbal", ["-t", "{D}/" + name, "-G", "group-01"], tmp_path))
