"""The bounded HTTP reader shared by the RAPI and MonD backends.

* unit tests of :mod:`backends.http` against a scripted raw server on
  127.0.0.1 (tests/harness/http_scripted.py): the total deadline cuts a trickling
  body, the TLS handshake counts against the connect timeout, the body
  bound holds whether or not the size is announced, status >= 400 fails,
  and each broken answer maps to the curl error name the reference shows;
* differential tests: ``hinfo -m`` and ``hscan`` of the reference and of
  ours against the same scripted answers (HTTP and HTTPS), identical
  stdout, stderr and exit status (recorded in tests/golden/http-reader
  for machines without the reference).
"""
from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time

import pytest

from backends import http
from tests.harness.http_scripted import ScriptedServer
from tests.harness import refdiff
from tests.harness.refdiff import GOLDEN, have_data, ours_bin

SUITE = GOLDEN / "http-reader"


@pytest.fixture(scope="module")
def server():
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    proc = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
         "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip("cannot make a test certificate: %s" % proc.stderr[-200:])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    srv = ScriptedServer(tls_context=ctx)
    yield srv
    srv.close()


def _code(url, conn=2.0, total=5.0, body=1 << 20):
    try:
        http.get(url, conn, total, body)
    except http.CurlError as err:
        return err.code
    return "CurlOK"


# ---------------------------------------------------------------- unit

#: script -> curl code, as the reference's curl reports each one
EXPECTED_CODES = {
    "ok": "CurlOK", "noreason": "CurlOK", "lowercase": "CurlOK",
    "http10": "CurlOK", "continue": "CurlOK", "e399": "CurlOK",
    "e302": "CurlOK", "e204": "CurlOK", "extrabody": "CurlOK",
    "chunked": "CurlOK", "partialhead": "CurlOK", "statusonly": "CurlOK",
    "http12": "CurlUnspportedProtocol", "garbage": "CurlUnspportedProtocol",
    "h09": "CurlUnspportedProtocol", "badstatus": "CurlUnspportedProtocol",
    "e500": "CurlHttpReturnedError", "e404": "CurlHttpReturnedError",
    "e400": "CurlHttpReturnedError", "nothing": "CurlGotNothing",
    "partialbody": "CurlPartialFile", "chunkcut": "CurlPartialFile",
    "badchunk": "CurlRecvError", "badlength": "CurlFtpWeirdServerReply",
}


@pytest.mark.parametrize("script,code", sorted(EXPECTED_CODES.items()))
def test_codes(server, script, code):
    assert _code("127.0.0.1:%d/%s/x" % (server.port, script)) == code


def test_bodies(server):
    base = "http://127.0.0.1:%d/" % server.port
    assert http.get(base + "ok", 2, 5) == b"[]"
    assert http.get(base + "chunked", 2, 5) == b"[]"
    assert http.get(base + "extrabody", 2, 5) == b"[]"   # Content-Length wins
    assert http.get(base + "continue", 2, 5) == b"[]"
    assert http.get(base + "e302", 2, 5) == b"moved"     # not followed
    assert http.get(base + "e204", 2, 5) == b""
    assert http.get(base + "partialhead", 2, 5) == b""


def test_total_deadline_cuts_a_trickle(server):
    """One byte every 0.2 s: stopped at the deadline, not at the end."""
    start = time.monotonic()
    assert _code("127.0.0.1:%d/drip" % server.port, total=1.0) == \
        "CurlOperationTimeout"
    assert time.monotonic() - start < 2.0


def test_total_deadline_on_silence(server):
    start = time.monotonic()
    assert _code("127.0.0.1:%d/silent" % server.port, total=0.5) == \
        "CurlOperationTimeout"
    assert time.monotonic() - start < 1.5


def test_tls_handshake_counts_against_connect_timeout():
    """https to a listener that never answers the handshake (the kernel
    accepts the connection; nobody reads it)."""
    import socket
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4)
        start = time.monotonic()
        assert _code("https://127.0.0.1:%d/x" % lsock.getsockname()[1],
                     conn=0.5, total=5) == "CurlOperationTimeout"
        assert time.monotonic() - start < 1.5


def test_body_bound_streamed(server):
    """No Content-Length: the bound is checked while reading."""
    start = time.monotonic()
    assert _code("127.0.0.1:%d/bigstream" % server.port, body=1 << 20) == \
        "CurlFilesizeExceeded"
    assert time.monotonic() - start < 5.0


def test_body_bound_announced(server):
    """A Content-Length over the bound fails before any body is read."""
    assert _code("127.0.0.1:%d/bigdeclared" % server.port) == \
        "CurlFilesizeExceeded"


def test_connection_refused():
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    assert _code("127.0.0.1:%d/x" % port) == "CurlCouldntConnect"


@pytest.mark.parametrize("url,code", [
    ("foo://127.0.0.1/x", "CurlUnspportedProtocol"),
    ("127.0.0.2:/x", "CurlUnspportedProtocol"),       # "127.0.0.2" a scheme
    ("http://127.0.0.1:99999/x", "CurlUrlMalformat"),
    ("http://:18401/x", "CurlUrlMalformat"),
    ("http://a b:1/", "CurlUrlMalformat"),
    ("http:////127.0.0.1:1/x", "CurlUrlMalformat"),
    ("http:127.0.0.1:1/x", "CurlUrlMalformat"),
    ("http://[zz]:1/x", "CurlUrlMalformat"),
    ("http://no-such-host.invalid:1/x", "CurlCouldntResolveHost"),
    ("http:///no-such-host.invalid:1/x", "CurlCouldntResolveHost"),
    ("file:///nonexistent-htools/x", "CurlFileCouldntReadFile"),
])
def test_urls(url, code):
    assert _code(url) == code


def test_file_url(tmp_path):
    (tmp_path / "f").write_bytes(b"[1]")
    assert http.get("file://%s/f" % tmp_path, 1, 1) == b"[1]"
    assert http.get("FILE:%s/f?q" % tmp_path, 1, 1) == b"[1]"


def test_tls(server, tls_server):
    assert http.get("https://127.0.0.1:%d/ok" % tls_server.port, 2, 5) == b"[]"
    assert _code("https://127.0.0.1:%d/e500" % tls_server.port) == \
        "CurlHttpReturnedError"
    assert _code("https://127.0.0.1:%d/nothing" % tls_server.port) == \
        "CurlRecvError"
    assert _code("http://127.0.0.1:%d/ok" % tls_server.port) in \
        ("CurlRecvError",)
    assert _code("https://127.0.0.1:%d/ok" % server.port) == \
        "CurlSSLConnectError"


def test_limits_defaults_and_overrides(monkeypatch):
    for var in ("HTOOLS_RAPI_CONNECT_TIMEOUT", "HTOOLS_RAPI_TIMEOUT",
                "HTOOLS_MOND_CONNECT_TIMEOUT", "HTOOLS_MOND_TIMEOUT",
                "HTOOLS_HTTP_MAX_BODY"):
        monkeypatch.delenv(var, raising=False)
    assert http.limits("rapi") == (15.0, 60.0, http.MAX_BODY)
    assert http.limits("mond") == (15.0, 60.0, http.MAX_BODY)
    monkeypatch.setenv("HTOOLS_RAPI_TIMEOUT", "2.5")
    monkeypatch.setenv("HTOOLS_HTTP_MAX_BODY", "1000")
    monkeypatch.setenv("HTOOLS_MOND_CONNECT_TIMEOUT", "nonsense")
    assert http.limits("rapi") == (15.0, 2.5, 1000)
    assert http.limits("mond") == (15.0, 60.0, 1000)


def test_rapi_error_text(server):
    from backends import rapi
    url = "127.0.0.1:%d/e500/2/info" % server.port
    assert rapi.get_url(url) == \
        (False, "Curl error for '%s', error CurlHttpReturnedError" % url)


# ---------------------------------------------------------------- reference

#: scripts the reference and ours are run against (all answer at once)
DIFF_SCRIPTS = sorted(EXPECTED_CODES) + ["rapi"]


def _run(binary, args, port, cwd) -> dict:
    proc = subprocess.run([binary] + args, capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=str(cwd))

    def norm(b: bytes) -> str:
        return b.decode("utf-8", "replace").replace(":%d/" % port, ":PORT/")
    return {"stdout": norm(proc.stdout), "stderr": norm(proc.stderr),
            "status": proc.returncode}


def _differential(name, tool, args, port, tmp):
    def run_reference(ref):
        (tmp / "ref").mkdir(parents=True)
        return _run(ref, args, port, tmp / "ref")
    exp = refdiff.reference_result("http-reader", tool, args, run_reference,
                                   name="%s-%s" % (tool, name))
    (tmp / "ours").mkdir(parents=True)
    got = _run(ours_bin(tool), args, port, tmp / "ours")
    assert got == exp
    return got


@pytest.mark.parametrize("script", DIFF_SCRIPTS)
def test_hinfo_against_reference(server, tmp_path, script):
    if script == "rapi" and not have_data():
        pytest.skip("Ganeti test data not available")
    _differential(script, "hinfo",
                  ["-m", "127.0.0.1:%d/%s" % (server.port, script)],
                  server.port, tmp_path)


@pytest.mark.parametrize("script", ["e500", "nothing", "badstatus", "rapi"])
def test_hscan_against_reference(server, tmp_path, script):
    """hscan: status 2 on a failed cluster, the data file on success."""
    if script == "rapi" and not have_data():
        pytest.skip("Ganeti test data not available")
    got = _differential(script, "hscan",
                        ["-d", ".", "127.0.0.1:%d/%s" % (server.port, script)],
                        server.port, tmp_path)
    written = sorted(p.name for p in (tmp_path / "ours").iterdir())
    if script == "rapi":
        assert got["status"] == 0 and len(written) == 1
    else:
        assert got["status"] == 2 and written == []


@pytest.mark.parametrize("script", ["ok", "e500", "nothing"])
def test_hinfo_tls_against_reference(tls_server, tmp_path, script):
    _differential("tls-" + script, "hinfo",
                  ["-m", "https://127.0.0.1:%d/%s" % (tls_server.port, script)],
                  tls_server.port, tmp_path)


def test_rapi_deadline_end_to_end(server, tmp_path):
    """hinfo -m on a trickling server stops at our (lowered) deadline for
    each of its four requests, with the reference's message."""
    env = dict(os.environ, HTOOLS_RAPI_TIMEOUT="0.5")
    start = time.monotonic()
    proc = subprocess.run([ours_bin("hinfo"), "-m",
                           "127.0.0.1:%d/drip" % server.port],
                          capture_output=True, text=True, timeout=60, env=env)
    assert time.monotonic() - start < 8
    assert proc.returncode == 1
    assert proc.stderr == ("Error: failed to load data, aborting: Curl error "
                           "for '127.0.0.1:%d/drip/2/groups?bulk=1', error "
                           "CurlOperationTimeout\n" % server.port)
    assert proc.stdout == ""




def test_hinfo_scheme_mismatch_against_reference(server, tls_server, tmp_path):
    """https to a plain server, http to a TLS server."""
    _differential("https-to-plain", "hinfo",
                  ["-m", "https://127.0.0.1:%d/ok" % server.port],
                  server.port, tmp_path / "a")
    _differential("http-to-tls", "hinfo",
                  ["-m", "http://127.0.0.1:%d/ok" % tls_server.port],
                  tls_server.port, tmp_path / "b")


@pytest.mark.parametrize("script", ["e500", "rapi"])
def test_hbal_against_reference(server, tmp_path, script):
    """hbal -m: a status >= 400 aborts loading (exit 1), as curl fails."""
    if script == "rapi" and not have_data():
        pytest.skip("Ganeti test data not available")
    _differential(script, "hbal",
                  ["-m", "127.0.0.1:%d/%s" % (server.port, script)],
                  server.port, tmp_path)
