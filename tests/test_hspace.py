"""hspace against the reference: Ganeti's hspace-*.data files × options and
a few --simulate clusters (stdout, stderr, exit status and -S files)."""
import pytest

from tests.refdiff import DATA, compare

DATA_FILES = sorted(p.name for p in DATA.glob("hspace-*.data")) if DATA.is_dir() else []

OPTION_SETS = [
    [], ["--machine-readable"],
    ["--machine-readable", "--no-capacity-checks", "-l", "3"],
    ["-v", "-v", "-v", "-v", "-p"], ["--independent-groups"],
    ["--accept-existing-errors", "--machine-readable"],
]

#: slower (tens of seconds on the tiered files): only on small clusters
SLOW_SETS = [
    ["--no-capacity-checks"],
    ["-pname,pcnt", "--standard-alloc", "1024,10240,1",
     "--tiered-alloc", "4096,102400,2"],
]
SLOW_FILES = ["hspace-existing.data", "hspace-groups-one.data",
              "hspace-groups-two.data"]

SIMU_CASES = [
    ["--simu", "p,4,8T,64g,16", "--machine-readable", "--disk-template", "drbd",
     "-l", "8"],
    ["--simu", "p,4,8T,64g,16", "--disk-template", "plain"],
    ["--simu", "p,2,100g,8g,4", "--machine-readable", "--disk-template", "plain",
     "--standard-alloc", "2048,20480,2"],
]


def _check(exp, got):
    assert got["stdout"] == exp["stdout"]
    assert got["stderr"] == exp["stderr"]
    assert got["status"] == exp["status"]
    assert got["files"] == exp["files"]


@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: " ".join(o) or "default")
@pytest.mark.parametrize("name", DATA_FILES)
def test_hspace_data(name, opts, tmp_path):
    _check(*compare("diff-hspace", "hspace", ["-t", "{D}/" + name] + opts, tmp_path))


@pytest.mark.parametrize("opts", SLOW_SETS, ids=lambda o: " ".join(o))
@pytest.mark.parametrize("name", SLOW_FILES)
def test_hspace_data_slow(name, opts, tmp_path):
    _check(*compare("diff-hspace", "hspace", ["-t", "{D}/" + name] + opts, tmp_path))


@pytest.mark.parametrize("name", ["hspace-tiered.data", "hspace-existing.data"])
def test_hspace_save(name, tmp_path):
    args = ["-t", "{D}/" + name, "-S", "{T}/out", "--machine-readable"]
    _check(*compare("diff-hspace", "hspace", args, tmp_path,
                    files=["out.tiered", "out.standard"]))


@pytest.mark.parametrize("args", SIMU_CASES, ids=lambda a: " ".join(a))
def test_hspace_simu(args, tmp_path):
    _check(*compare("diff-hspace", "hspace", args, tmp_path))


def test_hspace_args(tmp_path):
    _check(*compare("diff-hspace", "hspace", ["-t", "{D}/hspace-tiered.data", "extra"],
                    tmp_path))
