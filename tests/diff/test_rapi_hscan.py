"""RAPI backend (file://) and hscan against the reference (suite diff-rapi)."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.refdiff import DATA, REPO, compare, have_reference

RAPI = "file://{D}/rapi"


def _data_name() -> str:
    """hscan's output file for RAPI: the URL with '/' replaced by '_'."""
    return ("file://%s/rapi" % DATA).replace("/", "_") + ".data"


def _squash(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


def _check(exp, got, files_by_value=False):
    if files_by_value and not have_reference():
        # golden outputs: hscan's column widths follow the length of the
        # data path, which differs between machines
        assert _squash(got["stdout"]) == _squash(exp["stdout"])
    else:
        assert got["stdout"] == exp["stdout"]
    assert got["stderr"] == exp["stderr"]
    assert got["status"] == exp["status"]
    if files_by_value:
        # the file name embeds the data path: compare the contents only
        assert sorted(map(str, got["files"].values())) == \
            sorted(map(str, exp["files"].values()))
    else:
        assert got["files"] == exp["files"]


def test_hinfo_rapi(tmp_path):
    _check(*compare("diff-rapi", "hinfo",
                    ["-v", "-v", "-p", "--print-instances", "-m", RAPI],
                    tmp_path))


@pytest.mark.parametrize("extra", [[], ["-p"], ["--no-headers"]],
                         ids=["default", "print-nodes", "no-headers"])
def test_hscan_rapi(extra, tmp_path):
    _check(*compare("diff-rapi", "hscan", ["-d", "{T}"] + extra + [RAPI],
                    tmp_path, files=[_data_name()]), files_by_value=True)


def test_hscan_missing_dir(tmp_path):
    _check(*compare("diff-rapi", "hscan",
                    ["-d", "{T}", RAPI, "file:///nonexistent-htools-rapi"], tmp_path,
                    files=[_data_name()]), files_by_value=True)


def test_hinfo_rapi_unreachable(tmp_path):
    _check(*compare("diff-rapi", "hinfo", ["-m", "127.0.0.1:1"], tmp_path))


def test_hscan_roundtrip(tmp_path):
    """hinfo on hscan's output equals hinfo on the RAPI data (shelltest)."""
    if not DATA.is_dir():
        pytest.skip("Ganeti test data not available")
    bindir = Path(sys.executable).parent
    url = "file://%s/rapi" % DATA
    subprocess.run([str(bindir / "hscan"), "-d", str(tmp_path), url],
                   check=True, capture_output=True)
    out = tmp_path / (url.replace("/", "_") + ".data")
    direct = subprocess.run([str(bindir / "hinfo"), "-p", "--print-instances",
                             "-m", url], capture_output=True, text=True)
    text = subprocess.run([str(bindir / "hinfo"), "-p", "--print-instances",
                           "-t", str(out)], capture_output=True, text=True)
    assert direct.returncode == text.returncode == 0
    assert direct.stdout == text.stdout
    assert direct.stderr == text.stderr


def test_shelltest_rapi():
    if not (REPO.parent / "shared" / "ganeti-testdata" / "shelltests").is_dir():
        pytest.skip("shelltests not available")
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "shelltests" /
                                               "run_shelltests.py"),
                           "--impl", "ours", "--tests", "rapi"],
                          capture_output=True, text=True, cwd=str(REPO))
    assert proc.returncode == 0, proc.stdout + proc.stderr
