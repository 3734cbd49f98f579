"""Hostile input: out-of-range numbers, bad encodings, odd sizes, broken
output streams.  Each case is one regression of issue 15, compared with
the reference (live when installed, else the golden files in
tests/golden/hostile-input) and, where the answer is known, asserted
outright so that it holds on machines without either.

The inputs are made in each case's temporary directory from Ganeti's
htools test data (a text file, an IAllocator request, RAPI answers).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness.refdiff import DATA, compare, have_data, ours_bin, ref_bin

SUITE = "hostile-input"

pytestmark = pytest.mark.skipif(not have_data(), reason="Ganeti test data not available")

TEXT = "hbal-excl-tags.data"      # 2 nodes, 5 DRBD instances, one group
REQ = "hail-alloc-drbd.json"      # a DRBD allocation on 4 nodes


def _text_lines():
    return (DATA / TEXT).read_text().split("\n")


def _place(tmp: Path, name: str, data: bytes) -> None:
    """``name`` in the directories both runs see as ``{T}``."""
    for sub in ("ref", "ours"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        (tmp / sub / name).write_bytes(data)


def _write_text(tmp: Path, name: str, edit) -> None:
    lines = _text_lines()
    edit(lines)
    _place(tmp, name, "\n".join(lines).encode())


def _node_field(idx: int, value: str):
    """Edit: field ``idx`` of the first node line set to ``value``."""
    def edit(lines):
        row = lines[2].split("|")
        row[idx] = value
        lines[2] = "|".join(row)
    return edit


def _inst_field(idx: int, value: str):
    def edit(lines):
        row = lines[5].split("|")
        row[idx] = value
        lines[5] = "|".join(row)
    return edit


def _write_request(tmp: Path, name: str, old: str, new: str, count: int = 1) -> None:
    text = (DATA / REQ).read_text()
    assert old in text
    _place(tmp, name, text.replace(old, new, count).encode())


def _node1_key(key: str, value: str):
    """(old, new) replacing ``key`` of node1 in the request."""
    text = (DATA / REQ).read_text()
    start = text.index('"node1": {')
    pos = text.index('"%s": ' % key, start)
    end = re.compile(r"[-0-9.eE+]+").match(text, pos + len(key) + 4).end()
    return text[:end], text[:pos] + '"%s": %s' % (key, value)


def _strip_hail(res):
    from htools.cli.hail import strip_explanation, strip_explanation_stderr
    res = dict(res)
    res["stdout"] = strip_explanation(res["stdout"])
    res["stderr"] = strip_explanation_stderr(res["stderr"])
    return res


def _same(tool, args, tmp):
    exp, got = compare(SUITE, tool, args, tmp)
    if tool == "hail":
        got = _strip_hail(got)
    assert "Traceback" not in got["stderr"], got["stderr"][-2000:]
    assert (got["status"], got["stdout"], got["stderr"]) == \
        (exp["status"], exp["stdout"], exp["stderr"])
    return got


# ------------------------------------------------------------ text files

TEXT_CASES = {
    # group 1: a double that is infinite or NaN, an int beyond 64 bits
    "node-tmem-1e400": _node_field(1, "1e400"),
    "node-tmem-nan": _node_field(1, "NaN"),
    "node-tmem-2e70": _node_field(1, str(2 ** 70)),
    "node-tdsk-inf": _node_field(4, "Infinity"),
    "node-tcpu-1e30": _node_field(6, "1e30"),
    "node-fmem-2e64+5": _node_field(3, str(2 ** 64 + 5)),
    "node-fmem-5000digits": _node_field(3, "9" * 5000),
    "inst-mem-2e70": _inst_field(1, str(2 ** 70)),
    "inst-vcpu-2e70": _inst_field(3, str(2 ** 70)),
    "inst-dsk-minus-2e63": _inst_field(2, str(-2 ** 63 - 1)),
    # group 7: Haskell's reads (hex, octal, parentheses, spaces)
    "node-tmem-hex": _node_field(1, "0x4000"),
    "node-fmem-octal-parens": _node_field(3, " (0o34000)"),
    "node-nmem-negative-parens": _node_field(2, "(-5)"),
    "node-tmem-leftover": _node_field(1, "16384.5x"),
    "inst-mem-exponent": _inst_field(1, "1e3"),
    # group 8: a carriage return in a value
    "inst-status-cr": _inst_field(4, "running\r"),
    "inst-template-escape": _inst_field(8, "dr\\bd\u00e9"),
}


@pytest.mark.parametrize("name", sorted(TEXT_CASES))
def test_text_numbers(name, tmp_path):
    _write_text(tmp_path, name + ".data", TEXT_CASES[name])
    _same("hbal", ["-t", "{T}/%s.data" % name], tmp_path)


def test_text_hex_in_policy_and_hinfo(tmp_path):
    def edit(lines):
        lines[2] = lines[2].replace("|16384|", "|0x4000|", 1)
        lines.append("|0x80,1,1024,1,1,1|128,1,1024,1,1,1;0x8000,8,1048576,16,8,12|"
                     "plain,drbd|4.0|32.0")
    _write_text(tmp_path, "hexpol.data", edit)
    _same("hinfo", ["-t", "{T}/hexpol.data", "-p"], tmp_path)


def test_text_infinite_memory_known_answer(tmp_path):
    """Without the reference: the infinite memory becomes minBound, wrapped."""
    _write_text(tmp_path, "inf.data", _node_field(1, "1e400"))
    got = _same("hbal", ["-t", "{T}/inf.data"], tmp_path)
    assert got["status"] == 0
    assert "node node-01 is missing 9223372036854759424 MB ram" in got["stderr"]


# ------------------------------------------------------------ requests

REQUEST_CASES = {
    "req-mem-5000digits": ('"memory": 1024', '"memory": ' + "9" * 5000),
    "req-mem-fraction-5000digits": ('"memory": 1024', '"memory": 1024.' + "7" * 5000),
    "req-mem-1e99999": ('"memory": 1024', '"memory": 1e99999'),
    "req-mem-1e-99999": ('"memory": 1024', '"memory": 1e-99999'),
    "req-mem-2e64+1024": ('"memory": 1024', '"memory": %d' % (2 ** 64 + 1024)),
    "req-vcpus-2e70": ('"vcpus": 1,\n    "spindle_use"', '"vcpus": %d,\n    "spindle_use"' % 2 ** 70),
}


@pytest.mark.parametrize("name", sorted(REQUEST_CASES))
def test_request_numbers(name, tmp_path):
    old, new = REQUEST_CASES[name]
    _write_request(tmp_path, name + ".json", old, new)
    _same("hail", ["{T}/%s.json" % name], tmp_path)


@pytest.mark.parametrize("key,value", [
    ("total_memory", str(2 ** 70)), ("total_memory", "1e30"),
    ("total_memory", "3e400"), ("total_memory", "1" * 5000 + ".5"),
    ("free_memory", "-" + "9" * 5000), ("total_cpus", "1e-400"),
    ("total_disk", "12345678901234567890123"), ("reserved_memory", "1e20"),
])
def test_request_node_numbers(key, value, tmp_path):
    old, new = _node1_key(key, value)
    name = "node1-%s-%s.json" % (key, hashlib.sha1(value.encode()).hexdigest()[:8])
    _write_request(tmp_path, name, old, new)
    _same("hail", ["{T}/" + name], tmp_path)
    _same("hinfo", ["-I", "{T}/" + name, "-p"], tmp_path)


def test_request_huge_exponent_is_quick(tmp_path):
    """``1e999999999``: the reference computes 10^999999999 (about 85 s and
    2.4 GB) and then answers with the memory wrapped to 0 (FailMem, the
    policy minimum); ours gives that answer at once."""
    _write_request(tmp_path, "req.json", '"memory": 1024', '"memory": 1e999999999')
    req = str(tmp_path / "ours" / "req.json")
    for args in ([ours_bin("hail"), req], [ours_bin("hinfo"), "-I", req]):
        t0 = time.monotonic()
        proc = subprocess.run(args, capture_output=True, timeout=60)
        assert time.monotonic() - t0 < 10
        assert proc.returncode == 0, proc.stderr
        assert b"Traceback" not in proc.stderr
    # the hail answer of the last-but-one run
    proc = subprocess.run([ours_bin("hail"), req],
                          capture_output=True, timeout=60)
    assert proc.stdout.startswith(
        b'{"success":false,"info":"Request failed: Group default (preferred): '
        b'No valid allocation solutions, failure reasons: FailMem: 12","result":[]')


def test_json_number_parts():
    from htools.haskell.jsvalue import Ratio
    from htools.haskell.json import decode_value, r_double, r_int
    v = decode_value('[1e999999999, -2.5e-999999999, 0.0e99999999999999999999,'
                     ' 12, 1.5, 2.5e1, %s]' % ("9" * 5000))
    assert r_int(v[0]) == 0 and r_double(v[0]) == float("inf")
    assert r_int(v[1]) == 0 and r_double(v[1]) == 0.0
    assert v[2] == 0 and v[3] == 12 and isinstance(v[3], int)
    assert v[4] == Ratio(3, 2) and v[5] == 25
    assert r_int(v[6]) == -1 and r_double(v[6]) == float("inf")


# ------------------------------------------------------------ encodings

def _bad_bytes(tmp: Path, name: str, data: bytes) -> None:
    _place(tmp, name, data)


def test_text_not_utf8(tmp_path):
    data = (DATA / TEXT).read_bytes().replace(b"node-01", b"node-\xff01")
    _bad_bytes(tmp_path, "nonutf8.data", data)
    got = _same("hbal", ["-t", "{T}/nonutf8.data"], tmp_path)
    assert got["status"] == 1
    assert got["stderr"] == ("hbal: {T}/nonutf8.data: hGetContents: invalid argument "
                             "(invalid byte sequence)\n")


@pytest.mark.parametrize("tail,name", [
    (b"G|g1|preferred||\n\nn1|1|2|3|4|5|6|N|g1|1\n\n\n\n\nx\xff\n", "sixth-section"),
    (b"G|g1|preferred||\n\nn1|1|2|3|4|5|6|N|g1|1\n\n\n\n\xff\n", "fifth-section"),
    (b"G|g1|preferred||\n\nn1|1|2|3|4|5|6|N|g1|1\n\n\n\nx\n\n\xff\n", "after-fifth"),
    (b"G|g1|bad||\n\nn1|1|2|3|4|5|6|N|g1|1\n\n\n\xc3", "truncated-sequence"),
])
def test_text_bad_byte_where_read(tail, name, tmp_path):
    """The reference reads lazily: a bad byte past what it reads is harmless."""
    _bad_bytes(tmp_path, name + ".data", tail)
    _same("hinfo", ["-t", "{T}/%s.data" % name], tmp_path)


def test_request_not_utf8(tmp_path):
    data = (DATA / REQ).read_bytes().replace(b'"name": "instance1"',
                                             b'"name": "inst\xfe1"')
    _bad_bytes(tmp_path, "nonutf8.json", data)
    got = _same("hail", ["{T}/nonutf8.json"], tmp_path)
    assert got["stderr"].startswith("hail: {T}/nonutf8.json: hGetContents:")
    _same("hinfo", ["-I", "{T}/nonutf8.json"], tmp_path)


@pytest.mark.parametrize("util", [
    b"node-01 1 2 3 4\nnode-\xff02 1 2 3 4\n",
    b"node-01 1 2 3\nnode-\xff02 1 2 3 4\n",
    b"node-01 1 2 3 4\nnode-02 1 2 3 4\xff",
], ids=["bad-second-line", "parse-error-first", "bad-last-byte"])
def test_util_file_not_utf8(util, tmp_path):
    name = "u-%s.util" % hashlib.sha1(util).hexdigest()[:8]
    _bad_bytes(tmp_path, name, util)
    _same("hbal", ["-t", "{D}/" + TEXT, "-U", "{T}/" + name], tmp_path)


def test_ascii_locale(tmp_path):
    """Under LC_ALL=C, GHC decodes files as ASCII: UTF-8 text is refused."""
    data = (DATA / TEXT).read_bytes().replace(b"node-01", "n\u00f6de-01".encode())
    _bad_bytes(tmp_path, "in.data", data)
    path = str(tmp_path / "ours" / "in.data")
    env = dict(os.environ, LC_ALL="C")
    proc = subprocess.run([ours_bin("hbal"), "-t", path],
                          capture_output=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.endswith(b"hGetContents: invalid argument (invalid byte sequence)\n")
    ref = ref_bin("hbal")
    if ref is not None:
        rproc = subprocess.run([ref, "-t", path],
                               capture_output=True, env=env, timeout=60)
        assert (rproc.returncode, rproc.stdout, rproc.stderr) == \
            (proc.returncode, proc.stdout, proc.stderr)


# ------------------------------------------------------------ hspace 0,0,0

@pytest.mark.parametrize("args", [
    ["--tiered-alloc", "0,0,0"], ["--standard-alloc", "0,0,0"],
    ["--standard-alloc", "0,0,0", "--tiered-alloc", "0,0,0", "--machine-readable"],
    ["--tiered-alloc", "0,1024,1", "-l", "2"],
], ids=["tiered", "standard", "both-machine-readable", "tiered-limit"])
def test_hspace_zero_memory(args, tmp_path):
    got = _same("hspace", ["-t", "{D}/hspace-tiered.data"] + args, tmp_path)
    assert got["status"] == 0


def test_hspace_zero_memory_allocated(tmp_path):
    """A policy that lets an instance of no memory in: the big-step size
    (total memory `div` 0) is needed, and the reference dies of it."""
    text = (DATA / "hspace-tiered.data").read_text().replace(
        "group-01|129024,4,1047552,1,1,1|129024,4,1047552,1,1,1;",
        "group-01|129024,4,1047552,1,1,1|0,0,0,1,0,1;")
    _place(tmp_path, "zero-min.data", text.encode())
    got = _same("hspace", ["-t", "{T}/zero-min.data", "--standard-alloc", "0,0,0"],
                tmp_path)
    assert (got["status"], got["stderr"]) == (1, "hspace: divide by zero\n")


# ------------------------------------------------------------ stdout failures

def _many_nodes(tmp: Path) -> str:
    """A cluster whose hroller answer is far beyond one 8 KiB buffer."""
    rows = ["g|g1|preferred||", ""]
    rows += ["node-%05d.example.com|1024|0|1024|100|100|4|%s|g1|1"
             % (i, "M" if i == 0 else "N") for i in range(1500)]
    rows += ["", "", ""]
    path = tmp / "many.data"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def _run_closed(args, close_out: bool, close_err: bool, env=None):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    if close_out:
        proc.stdout.close()
    if close_err:
        proc.stderr.close()
    err = b"" if close_err else proc.stderr.read()
    out = b"" if close_out else proc.stdout.read()
    return proc.wait(timeout=120), out, err


def _both(tool, args):
    """(ours, reference or None) command lines."""
    ref = ref_bin(tool)
    return [ours_bin(tool)] + args, ([ref] + args if ref else None)


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize("which", ["out", "err", "both"])
def test_closed_pipes(which, unbuffered, tmp_path):
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    args = ["-t", str(DATA / "hspace-tiered.data"), "-p", "-v", "-v", "-v"]
    expect = {"out": 0, "err": 1, "both": 1}[which]
    ours, ref = _both("hinfo", args)
    got = _run_closed(ours, which != "err", which != "out", env)
    assert got[0] == expect
    assert b"Traceback" not in got[2]
    if ref:
        assert _run_closed(ref, which != "err", which != "out", env) == got


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_stdout_full_and_broken(unbuffered, tmp_path):
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    many = _many_nodes(tmp_path)
    cases = [
        # (tool, args, expected status, expected stderr) to /dev/full
        ("hroller", ["-t", many], 1,
         b"hroller: <stdout>: commitBuffer: resource exhausted (No space left on device)\n"),
        ("hinfo", ["-t", str(DATA / TEXT)], 0, b""),
        ("hbal", ["-t", str(DATA / TEXT), "-C"], 0, b""),
    ]
    for tool, args, status, err in cases:
        for cmd in _both(tool, args):
            if cmd is None:
                continue
            with open("/dev/full", "wb") as full:
                proc = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE,
                                      env=env, timeout=120)
            assert (proc.returncode, proc.stderr) == (status, err), cmd[0]
        for cmd in _both(tool, args):
            if cmd is not None:
                # a reader gone away: quiet, status 0 (GHC ignores EPIPE on stdout)
                assert _run_closed(cmd, True, False, env) == (0, b"", b""), cmd[0]


# ------------------------------------------------------------ FIFOs, directories

@pytest.mark.parametrize("tool,args", [
    ("hbal", ["-t", "{T}/fifo"]), ("hinfo", ["-I", "{T}/fifo"]), ("hail", ["{T}/fifo"]),
    ("hbal", ["-t", "{D}/" + TEXT, "-U", "{T}/fifo"]),
    ("hbal", ["-t", "{T}"]), ("hail", ["{T}"]), ("hinfo", ["-I", "{T}"]),
], ids=["text", "request", "hail", "util", "text-dir", "hail-dir", "request-dir"])
def test_fifo_without_writer_and_directories(tool, args, tmp_path):
    """GHC opens non-blocking: a FIFO nobody writes to reads as empty."""
    for sub in ("ref", "ours"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        os.mkfifo(str(tmp_path / sub / "fifo"))
    t0 = time.monotonic()
    got = _same(tool, args, tmp_path)
    assert time.monotonic() - t0 < 30
    assert got["status"] == (0 if "-U" in args else 1)


# ------------------------------------------------------------ sizes

def test_sep_split_is_linear():
    """sepSplit on 400 000 tags: one pass (slicing the rest each time was
    quadratic: 2.5 s for one instance of 200 000 tags)."""
    from backends.text import sep_split
    text = ",".join("t%d" % i for i in range(400000))
    t0 = time.monotonic()
    parts = sep_split(",", text)
    assert time.monotonic() - t0 < 1.0
    assert len(parts) == 400000 and parts[-1] == "t399999"
    assert sep_split(",", "") == [] and sep_split(",", "a,") == ["a", ""]
    assert sep_split("", ["a", "", "b", ""]) == [["a"], ["b"], []]


def test_instance_with_200000_tags(tmp_path):
    def edit(lines):
        row = lines[5].split("|")
        row[9] = ",".join("tag%d:v%d" % (i % 7, i) for i in range(200000))
        lines[5] = "|".join(row)
    _write_text(tmp_path, "tags200k.data", edit)
    t0 = time.monotonic()
    _same("hbal", ["-t", "{T}/tags200k.data", "--exclusion-tags=tag1,tag2"], tmp_path)
    assert time.monotonic() - t0 < 30


# ------------------------------------------------------------ RAPI answers

@pytest.fixture(scope="module")
def rapi_server():
    from tests.harness.http_scripted import SCRIPTS, ScriptedServer, _resp

    def serve(edit):
        def script(conn, path):
            res = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            try:
                body = (DATA / "rapi" / (res + ".json")).read_bytes()
            except OSError:
                body = b"{}"
            conn.sendall(_resp("200 OK", edit(res, body)))
        return script

    def bignum_top(res, body):
        return b"[" + b"9" * 5000 + b"]"

    def bignum_field(res, body):
        if res != "nodes":
            return body
        nodes = json.loads(body)
        nodes[0]["mtotal"] = "@@"
        nodes[0]["dfree"] = "@@@"
        return (json.dumps(nodes).replace('"@@"', "9" * 5000)
                .replace('"@@@"', "1." + "5" * 5000).encode())

    def huge_exponent(res, body):
        if res != "instances":
            return body
        insts = json.loads(body)
        insts[0]["beparams"]["maxmem"] = "@@"
        return json.dumps(insts).replace('"@@"', "1e999999999").encode()

    def not_utf8(res, body):
        if res != "groups":
            return body
        return (body.replace(b"[", b"[\xff", 1).replace(b'"name"', b'"na\xfeme"', 1)
                .replace(b'"uuid": "', b'"uuid": "\xc3', 1))

    SCRIPTS["hostile-not-utf8"] = serve(not_utf8)
    SCRIPTS["hostile-bignum"] = serve(bignum_top)
    SCRIPTS["hostile-bigfield"] = serve(bignum_field)
    SCRIPTS["hostile-exponent"] = serve(huge_exponent)
    srv = ScriptedServer()
    yield srv
    srv.close()


def _live_pair(tool, args, tmp_path):
    """Ours and the reference (live only: the port is in the output)."""
    ours = subprocess.run([ours_bin(tool)] + args, capture_output=True,
                          cwd=str(tmp_path), timeout=60)
    assert b"Traceback" not in ours.stderr
    ref = ref_bin(tool)
    if ref is not None:
        rproc = subprocess.run([ref] + args, capture_output=True,
                               cwd=str(tmp_path), timeout=120)
        assert (ours.returncode, ours.stdout, ours.stderr) == \
            (rproc.returncode, rproc.stdout, rproc.stderr)
    return ours


@pytest.mark.parametrize("script,status", [
    ("hostile-bignum", 1), ("hostile-bigfield", 0)])
def test_rapi_big_numbers(script, status, rapi_server, tmp_path):
    url = "127.0.0.1:%d/%s" % (rapi_server.port, script)
    got = _live_pair("hbal", ["-m", url], tmp_path)
    assert got.returncode == status
    got = _live_pair("hscan", ["-d", str(tmp_path), url], tmp_path)
    assert got.returncode == (2 if status else 0)


def test_rapi_huge_exponent_is_quick(rapi_server, tmp_path):
    """The reference takes minutes here (10^999999999 computed exactly);
    ours reads the memory as the wrapped 0 at once."""
    url = "127.0.0.1:%d/hostile-exponent" % rapi_server.port
    t0 = time.monotonic()
    proc = subprocess.run([ours_bin("hinfo"), "-m", url], capture_output=True,
                          timeout=60)
    assert time.monotonic() - t0 < 20
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr


def test_rapi_not_utf8_bytes_dropped(rapi_server, tmp_path):
    """The reference's curl binding drops bytes that are not UTF-8."""
    url = "127.0.0.1:%d/hostile-not-utf8" % rapi_server.port
    got = _live_pair("hinfo", ["-m", url, "-v"], tmp_path)
    assert got.returncode == 0
    assert b"   default " in got.stdout


@pytest.mark.parametrize("key,value", [
    ("vcpus", 2 ** 63), ("vcpus", 2 ** 62), ("memory", 2 ** 62),
    ("memory", 2 ** 63 - 1), ("memory", -2 ** 63), ("disk_space_total", -2 ** 62 - 1),
])
def test_request_sums_wrap(key, value, tmp_path):
    """Two instances whose figures add up beyond 64 bits on one node: the
    node's totals (used vCPUs, peer memory, ...) wrap as htools' Int."""
    doc = json.loads((DATA / "hail-node-evac.json").read_text())
    for name in ("instance18", "instance2"):
        doc["instances"][name][key] = "@@"
    name = "sum-%s-%d.json" % (key, value)
    _place(tmp_path, name, json.dumps(doc).replace('"@@"', str(value)).encode())
    _same("hinfo", ["-I", "{T}/" + name, "-p"], tmp_path)
    _same("hbal", ["-I", "{T}/" + name], tmp_path)


@pytest.mark.parametrize("field,value", [
    (4, "1e400"), (4, "NaN"), (4, "-Infinity"), (6, "1e30"), (6, "-1e30"),
    (6, "NaN"), (1, str(2 ** 63 - 1)), (5, str(-2 ** 63)),
])
def test_hspace_out_of_range_node(field, value, tmp_path):
    """Doubles floored/truncated to Int as GHC does (NaN, infinities and
    out-of-range values to minBound, or maxBound below the range), Int
    figures per node wrapped, the cluster sums unbounded (Integer)."""
    name = "node-%d-%s.data" % (field, hashlib.sha1(value.encode()).hexdigest()[:8])
    _write_text(tmp_path, name, _node_field(field, value))
    _same("hspace", ["-t", "{T}/" + name, "--machine-readable"], tmp_path)
    _same("hspace", ["-t", "{T}/" + name], tmp_path)
