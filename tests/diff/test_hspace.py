"""hspace against the reference: Ganeti's hspace-*.data files × options and
a few --simulate clusters (stdout, stderr, exit status and -S files)."""
import pytest

from tests.harness.refdiff import DATA, compare

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


# --------------------------------------------------------------------------
# Generated clusters (simulate/generator.py): every HTS_* value

GEN_CASES = [
    (1, {"groups": 2, "offline_frac": 0.1}, ["--machine-readable"]),
    (2, {"groups": 2, "location_tags": True}, ["--machine-readable"]),
    (3, {"groups": 1}, ["--machine-readable", "--disk-template=plain"]),
    (4, {"groups": 2, "excl_storage_nodes": 3},
     ["--machine-readable", "--independent-groups", "-l", "5"]),
    (5, {"groups": 1, "templates": {"drbd": 1}},
     ["--machine-readable", "--tiered-alloc=4096,102400,2", "-l", "12"]),
    (6, {"groups": 2, "overcommit": True},
     ["--machine-readable", "--accept-existing-errors"]),
    (7, {"groups": 1, "templates": {"plain": 1}},
     ["--disk-template=plain", "--standard-alloc=2048,20480,2",
      "--tiered-alloc=8192,40960,4"]),
]


@pytest.mark.parametrize("seed,params,opts", GEN_CASES,
                         ids=lambda v: ",".join(map(str, v)) if isinstance(v, list)
                         else str(v))
def test_hspace_generated(seed, params, opts, tmp_path):
    import hashlib
    from simulate.generator import generate
    text = generate(nodes=8, instances=30, seed=seed, ipolicy=True, **params)
    name = "gen-%d-%s.data" % (seed, hashlib.sha1(text.encode()).hexdigest()[:8])
    for sub in ("ref", "ours"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        (tmp_path / sub / name).write_text(text)
    _check(*compare("diff-hspace", "hspace", ["-t", "{T}/" + name] + opts, tmp_path))
