"""Ganeti's htools shelltests, run against our console scripts.

Runs tests/shelltests/run_shelltests.py --impl ours once for the test files
in EXPECTED_PASSING and asserts that each of them passes completely.  Add a
file to EXPECTED_PASSING once the tools it exercises pass it; the full
picture is given by running the harness by hand:

    .venv/bin/python tests/shelltests/run_shelltests.py --impl ours --details

Skipped when shelltest (package shelltestrunner), the reference htools
(needed: the fixtures are generated with the reference hspace) or Ganeti's
test data are not available.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
HARNESS = HERE / "shelltests" / "run_shelltests.py"

sys.path.insert(0, str(HARNESS.parent))
import run_shelltests  # noqa: E402

# Test files that pass completely with our implementation.
EXPECTED_PASSING = [
    "htools-balancing.test",
    "htools-basic.test",
    "htools-dynutil.test",
    "htools-excl.test",
    "htools-hail.test",
    "htools-hbal-evac.test",
    "htools-hbal.test",
    "htools-hcheck.test",
    "htools-hroller.test",
    "htools-hspace.test",
    "htools-hsqueeze.test",
    "htools-invalid.test",
    "htools-multi-group.test",
    "htools-no-backend.test",
    "htools-rapi.test",
    "htools-single-group.test",
    "htools-text-backend.test",
]

# Per-test timeout given to shelltest (seconds) and overall limit.
PER_TEST_TIMEOUT = 60
TOTAL_TIMEOUT = 600


def _skip_reason():
    if shutil.which("shelltest") is None:
        return "shelltest (shelltestrunner) is not installed"
    if not run_shelltests.reference_available():
        return "reference htools (needed for the fixtures) not installed"
    if run_shelltests.default_data_root() is None:
        return "Ganeti test data (shared/ganeti-testdata) not found"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None,
                                reason=_skip_reason() or "")


def _bin_dir():
    return run_shelltests.default_ours_bin_dir()


@pytest.fixture(scope="module")
def shelltest_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("shelltests") / "results.json"
    cmd = [sys.executable, str(HARNESS), "--impl", "ours",
           "--bin-dir", str(_bin_dir()),
           "--tests", ",".join(EXPECTED_PASSING),
           "--timeout", str(PER_TEST_TIMEOUT),
           "--details", "--json-out", str(out)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=TOTAL_TIMEOUT,
                          env=dict(os.environ))
    text = proc.stdout.decode("utf-8", "replace")
    if not out.exists():
        pytest.fail("the shelltest harness produced no results "
                    "(exit %d):\n%s" % (proc.returncode, text))
    with open(out, encoding="utf-8") as fh:
        return json.load(fh), text


@pytest.mark.parametrize("test_file", EXPECTED_PASSING)
def test_shelltest_file_passes(shelltest_results, test_file):
    results, text = shelltest_results
    res = results["files"].get(test_file)
    assert res is not None, "no results for %s:\n%s" % (test_file, text)
    if not res["ok"]:
        lines = ["%s: %d passed, %d failed" % (test_file, res["passed"],
                                               res["failed"])]
        if res["error"]:
            lines.append("error: %s" % res["error"])
        for failure in res["failures"]:
            lines.append("FAILED %s" % failure["name"])
            lines.extend("    " + ln
                         for ln in failure["details"].splitlines()[:30])
        pytest.fail("\n".join(lines), pytrace=False)


def test_test_file_parser_matches_shelltest():
    """Our numbering of the tests (used to name failures) is shelltest's."""
    data_root = run_shelltests.default_data_root()
    for name in EXPECTED_PASSING:
        path = data_root / "shelltests" / name
        proc = subprocess.run(["shelltest", "--list", str(path)],
                              stdout=subprocess.PIPE, check=True)
        listed = [ln for ln in proc.stdout.decode().splitlines()
                  if ln.strip().startswith(":")]
        assert len(listed) == len(run_shelltests.parse_test_file(path)), name
