"""``hbal -m CLUSTER -X`` (ours) against the testbed's RAPI.

The tools run inside the testbed's network namespace, where RAPI listens
on the cluster address (https, port 5080) with a self-signed certificate.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import List, Sequence

import pytest

from tests.live.test_live_tools import _converged, _job_ids, fail_first_job, set_state
from tests.harness.refdiff import ours_bin


def _cert(tb, tmp: Path) -> Path:
    """The RAPI server's certificate (rapi.pem holds key and certificate)."""
    pem = Path(tb.node_root(tb.master)) / "var/lib/ganeti/rapi.pem"
    text = pem.read_text()
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?",
                  text, re.S)
    assert m, "no certificate in %s" % pem
    out = tmp / "rapi-ca.crt"
    out.write_text(m.group(0))
    return out


def _auth(tb, tmp: Path, password: str = None) -> Path:
    path = tmp / "rapi-auth"
    path.write_text("%s %s\n" % (tb.rapi_user, password or tb.rapi_password))
    os.chmod(path, 0o600)
    return path


def _hbal(tb, args: Sequence[str], timeout: float = 600):
    proc = subprocess.run(tb.in_netns([ours_bin("hbal")] + list(args)),
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return proc.stdout, proc.stderr, proc.returncode


def _submitted_since(tb, before) -> List[int]:
    return sorted(j for j in _job_ids(tb) - before)


def test_rapi_execution_balances(testbed, tmp_path):
    set_state(testbed, "unbalanced")
    before = _job_ids(testbed)
    out, err, rc = _hbal(testbed, ["-m", testbed.cluster_ip, "-X", "--rapi-auth",
                                   str(_auth(testbed, tmp_path)), "--rapi-ca",
                                   str(_cert(testbed, tmp_path))])
    assert rc == 0, out + err
    moves = re.findall(r"^\s+\d+\. ", out, re.M)
    ids = [int(x) for line in re.findall(r"^Got job IDs ([0-9,]+)$", out, re.M)
           for x in line.split(",")]
    assert moves and ids
    assert set(ids) <= set(_submitted_since(testbed, before))
    testbed.wait_idle()
    _converged(testbed)
    # the jobs carry hbal's comment (RAPI replaces the reason trail's source)
    rows = testbed.query("job", ["id", "ops"])
    ops = [op for jid, oplist in rows if jid in ids for op in oplist]
    assert ops and all(op.get("comment", "").startswith("rebalancing via hbal")
                       for op in ops)


def test_rapi_credentials_from_environment(testbed, tmp_path):
    set_state(testbed, "unbalanced")
    env = ["env", "HTOOLS_RAPI_USER=%s" % testbed.rapi_user,
           "HTOOLS_RAPI_PASSWORD=%s" % testbed.rapi_password]
    proc = subprocess.run(testbed.in_netns(env + [ours_bin("hbal"), "-m", testbed.cluster_ip,
                                                  "-X", "--rapi-insecure", "-l", "1"]),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.startswith("WARNING: --rapi-insecure: the RAPI server's "
                                  "certificate is NOT verified")
    assert "Got job IDs" in proc.stdout
    testbed.wait_idle()


@pytest.mark.parametrize("fault", ["password", "certificate", "unreachable", "no-credentials"])
def test_rapi_refusals_submit_nothing(testbed, tmp_path, fault):
    set_state(testbed, "unbalanced")
    before = _job_ids(testbed)
    host = testbed.cluster_ip
    auth = ["--rapi-auth", str(_auth(testbed, tmp_path, "wrong" if fault == "password" else None))]
    ca = ["--rapi-ca", str(_cert(testbed, tmp_path))]
    if fault == "certificate":
        other = tmp_path / "other.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(tmp_path / "k.pem"), "-out", str(other),
                        "-days", "1", "-subj", "/CN=other"], check=True,
                       capture_output=True, timeout=60)
        ca = ["--rapi-ca", str(other)]
    if fault == "unreachable":
        host = testbed.net + ".99"
    if fault == "no-credentials":
        auth = []
    out, err, rc = _hbal(testbed, ["-m", host, "-X"] + auth + ca)
    assert rc == 1, out + err
    assert len(err.strip().splitlines()) == 1, err
    expected = {"password": "401 Unauthorized",
                "certificate": "the server certificate does not verify",
                "unreachable": "RAPI https://%s:5080" % host,
                "no-credentials": "execution over RAPI needs credentials"}[fault]
    assert expected in err, err
    assert out == ""  # stopped before computing anything
    assert _submitted_since(testbed, before) == []


def test_rapi_failed_job_stops(testbed, tmp_path):
    """A job that fails over RAPI: the reference's abort message, and no job
    set after it is submitted."""
    set_state(testbed, "unbalanced")
    before = _job_ids(testbed)
    locks = testbed.hold_node_locks([testbed.master])
    proc = subprocess.Popen(testbed.in_netns(
        [ours_bin("hbal"), "-m", testbed.cluster_ip, "-X", "--rapi-auth",
         str(_auth(testbed, tmp_path)), "--rapi-ca", str(_cert(testbed, tmp_path))]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = fail_first_job(testbed, locks, proc, before)
    assert proc.returncode == 1, out + err
    assert re.search(r"Error: hbal: Not all jobs completed successfully: "
                     r"\[\(JobId \{fromJobId = \d+\},JOB_STATUS_ERROR\)\]", err), err
    assert len(re.findall(r"^Got job IDs", out, re.M)) == 1
    testbed.wait_idle()
    assert len(_submitted_since(testbed, before)) == 2  # the lock, one move
