"""Mutation fuzzing of every input path, against the reference.

Hypothesis mutates good inputs from Ganeti's htools test data: text
files (``-t``), IAllocator requests (hail, ``hinfo -I``), ``--mond-data``
files and RAPI answers (``-m``, served by tests/harness/http_scripted.py).  Each
mutated input is given to our tool and, when installed, to the
reference, side by side; then:

* ours never shows a traceback and never hangs (every run is bounded by
  a timeout; a hang is only accepted where the reference hangs too);
* with the reference: the same exit status class (success or failure),
  and where both succeed the same stdout and stderr (hail's explanation
  key, an option of ours, stripped).

Bounded for CI: a fixed, derandomized set of examples (about 60 runs of
each tool pair, well under a minute).  ``HTOOLS_FUZZ_EXAMPLES=N`` runs N
random examples per input kind instead (a long manual run);
``HTOOLS_FUZZ_REPORT=FILE`` writes the counts (inputs tried, comparisons,
accepted differences by reason) as JSON.
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness.http_scripted import SCRIPTS, ScriptedServer, _resp
from tests.harness.refdiff import DATA, have_data, ours_bin, ref_bin

pytestmark = pytest.mark.skipif(not have_data(), reason="Ganeti test data not available")

_LONG = int(os.environ.get("HTOOLS_FUZZ_EXAMPLES", "0") or 0)
#: per input kind, in the default (CI) run
_DEFAULT = {"text": 24, "request": 16, "mond": 10, "http": 10}
TIMEOUT = float(os.environ.get("HTOOLS_FUZZ_TIMEOUT", "20"))

STATS: Counter = Counter()
ACCEPTED: Counter = Counter()


def _settings(kind: str):
    return settings(max_examples=_LONG or _DEFAULT[kind], derandomize=not _LONG,
                    database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    report = {"inputs": dict(STATS), "accepted": dict(ACCEPTED)}
    path = os.environ.get("HTOOLS_FUZZ_REPORT")
    if path:
        Path(path).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------- running

def _start(cmd: List[str], cwd: Path):
    return subprocess.Popen(cmd, cwd=str(cwd), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc) -> Optional[Dict]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return {"status": proc.returncode,
            "stdout": out.decode("utf-8", "replace"),
            "stderr": err.decode("utf-8", "replace")}


def _strip_hail(res: Dict) -> Dict:
    from htools.cli.hail import strip_explanation, strip_explanation_stderr
    return dict(res, stdout=strip_explanation(res["stdout"]),
                stderr=strip_explanation_stderr(res["stderr"]))


def _accepted(kind: str, ref: Dict, ours: Dict) -> Optional[str]:
    """Why a difference is acceptable (None: it is not).

    * the reference crashed where we give a clear error: GHC runtime
      errors (a partial function, an IntMap lookup, a pattern match)
      printed as ``<prog>: ...`` with a Haskell call stack or a
      ``Prelude`` message; ours exits with an error too.
    """
    rerr = ref["stderr"]
    if ref["status"] != 0 and ours["status"] != 0:
        return None     # same class
    if ref["status"] != 0 and re.search(
            r"CallStack \(from HasCallStack\)|Prelude\.|Non-exhaustive|"
            r"Irrefutable pattern|Maybe\.fromJust|divide by zero", rerr):
        return "reference crashes (GHC runtime error), ours answers"
    return None


def check(kind: str, tool: str, args: List[str], cwd: Path) -> None:
    STATS[kind] += 1
    ref = ref_bin(tool)
    ours_p = _start([ours_bin(tool)] + args, cwd)
    ref_p = _start([ref] + args, cwd) if ref else None
    ours = _finish(ours_p)
    exp = _finish(ref_p) if ref_p is not None else None
    if ours is None:
        if ref_p is not None and exp is None:
            ACCEPTED["both hang (reference times out too)"] += 1
            return
        pytest.fail("%s %s: no answer within %ss" % (tool, args, TIMEOUT))
    assert "Traceback (most recent call last)" not in ours["stderr"], \
        ours["stderr"][-3000:]
    if ref_p is None:
        return
    if exp is None:
        ACCEPTED["reference hangs, ours answers"] += 1
        return
    STATS[kind + ":compared"] += 1
    if tool == "hail":
        ours = _strip_hail(ours)
    same_class = (exp["status"] == 0) == (ours["status"] == 0)
    if exp["status"] == 0 and ours["status"] == 0:
        STATS[kind + ":both-succeed"] += 1
    if same_class and (exp["status"] != 0 or
                       (exp["stdout"], exp["stderr"]) == (ours["stdout"], ours["stderr"])):
        if exp["status"] != 0 and (exp["status"], exp["stderr"]) != \
                (ours["status"], ours["stderr"]):
            STATS[kind + ":both-fail-differently"] += 1
        return
    why = _accepted(kind, exp, ours)
    if why is not None:
        ACCEPTED[why] += 1
        return
    assert (exp["status"], exp["stdout"], exp["stderr"]) == \
        (ours["status"], ours["stdout"], ours["stderr"]), (tool, args)


# ---------------------------------------------------------------- values

#: field values that have broken or may break a reader
HOSTILE_TEXT = [
    "", "?", "-", "-1", "0", "-0", "1", "7", "1e400", "-1e400", "NaN", "-NaN",
    "Infinity", "-Infinity", "0x10", "0X1f", "0o17", "0b1", "(5)", "( -3 )",
    " 7", "7 ", "1.5", "1.", ".5", "1e3", "1e-3", "9" * 30, str(2 ** 64 + 3),
    str(2 ** 63), str(-2 ** 63 - 1), "9" * 5000, "1" + "0" * 400,
    "abc", "Y", "N", "M", "\r", "running\r", "x\ry", "\u00e9", "\x00", "\t",
    "drbd", "plain", "diskless", "up", "down", "running", "ERROR_down",
    "preferred", "unallocable", "last_resort", "a,b", ",", ",,", "tag:x",
]

#: values for a field that holds a number
HOSTILE_NUMBER_TEXT = [
    "0", "-0", "1", "-1", "2", "7", "64", "1024", "1e400", "-1e400", "NaN",
    "Infinity", "-Infinity", "0x10", "0o17", "(5)", "( -3 )", " 7", "1.5",
    "1e3", "1e-3", "9" * 30, str(2 ** 64 + 3), str(2 ** 63), str(2 ** 63 - 1),
    str(-2 ** 63), str(2 ** 62), str(2 ** 70), "9" * 5000, "1" + "0" * 400,
    "0.0001", "123456789", "-5", "?",
]

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")

#: JSON number texts (put into a document as they are)
HOSTILE_JSON_NUMBERS = [
    "0", "-0", "1", "-1", "0.5", "1.5", "2.5", "-2.5", "1e400", "-1e400",
    "1e-400", "1e99999", "1e-99999", "9" * 5000, "-" + "9" * 5000,
    "0." + "3" * 5000, str(2 ** 64), str(2 ** 63), str(2 ** 70),
    str(-2 ** 63 - 1), "1E2", "1e+2", "12345678901234567890.5", "0.0", "1.",
]

if _LONG:
    # the reference computes 10^999999999 exactly (85 s, 2.4 GB): only in
    # the long run, where its timeout is accepted
    HOSTILE_JSON_NUMBERS += ["1e999999999", "1e-999999999"]

HOSTILE_JSON = [
    None, True, False, "", "x", "\r", "\u00e9", "1", "NaN", [], {}, [1], {"a": 1},
    "preferred", "drbd", "plain", "up", "down", "allocate", "relocate",
]

BAD_BYTES = [b"\xff", b"\xfe", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
             b"\x00", b"\r", b"\n", b"\n\n", b"|", b",", b"\\", b'"']


def _byte_mutation(data, raw: bytes) -> bytes:
    op = data.draw(st.sampled_from(["insert", "truncate", "delete", "replace"]))
    if not raw:
        return raw
    pos = data.draw(st.integers(0, len(raw) - 1))
    if op == "truncate":
        return raw[:pos]
    if op == "delete":
        return raw[:pos] + raw[pos + 1:]
    chunk = data.draw(st.sampled_from(BAD_BYTES))
    if op == "insert":
        return raw[:pos] + chunk + raw[pos:]
    return raw[:pos] + chunk + raw[pos + 1:]


# ---------------------------------------------------------------- text files

TEXT_SEEDS = ["hbal-excl-tags.data", "hspace-tiered.data", "hbal-forth.data",
              "hspace-tiered-ipolicy.data", "hbal-location-1.data",
              "hsqueeze-mixed-instances.data", "common-suffix.data",
              "hbal-cpu-speed.data", "hroller-nodegroups.data"]

TEXT_TOOLS = [("hbal", []), ("hinfo", ["-p"]), ("hspace", []),
              ("hcheck", []), ("hroller", []), ("hbal", ["-C", "-v"]),
              ("hsqueeze", [])]


def _mutate_text(data, text: str) -> str:
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 2))):
        op = data.draw(st.sampled_from(
            ["number", "number", "number", "number", "field", "field",
             "drop-field", "add-field", "del-line", "dup-line", "blank-line",
             "swap"]))
        if op == "number":
            spots = [(i, j) for i, line in enumerate(lines)
                     for j, f in enumerate(line.split("|")) if _NUMBER.match(f)]
            if spots:
                i, j = data.draw(st.sampled_from(spots))
                row = lines[i].split("|")
                row[j] = data.draw(st.sampled_from(HOSTILE_NUMBER_TEXT))
                lines[i] = "|".join(row)
            continue
        idx = data.draw(st.integers(0, max(0, len(lines) - 1)))
        if op in ("field", "drop-field", "add-field"):
            row = lines[idx].split("|")
            f = data.draw(st.integers(0, len(row) - 1))
            if op == "field":
                val = data.draw(st.one_of(st.sampled_from(HOSTILE_TEXT),
                                          st.text(max_size=6)))
                row[f] = val.replace("\n", "")
            elif op == "drop-field" and len(row) > 1:
                del row[f]
            else:
                row.insert(f, data.draw(st.sampled_from(HOSTILE_TEXT)))
            lines[idx] = "|".join(row)
        elif op == "del-line" and lines:
            del lines[idx]
        elif op == "dup-line" and lines:
            lines.insert(idx, lines[idx])
        elif op == "blank-line":
            lines.insert(idx, "")
        elif op == "swap" and len(lines) > 1:
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[idx], lines[j] = lines[j], lines[idx]
    return "\n".join(lines)


@_settings("text")
@given(data=st.data())
def test_fuzz_text_files(data, tmp_path_factory):
    seed = data.draw(st.sampled_from(TEXT_SEEDS))
    text = _mutate_text(data, (DATA / seed).read_text())
    raw = text.encode("utf-8", "surrogatepass")
    if data.draw(st.integers(0, 4)) == 0:
        raw = _byte_mutation(data, raw)
    tool, extra = data.draw(st.sampled_from(TEXT_TOOLS))
    tmp = tmp_path_factory.mktemp("fuzz-text")
    (tmp / "in.data").write_bytes(raw)
    check("text", tool, ["-t", "in.data"] + extra, tmp)


# ---------------------------------------------------------------- JSON documents

def _leaves(doc, path=()):
    """Paths of every value in ``doc`` (containers included)."""
    out = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _leaves(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _leaves(v, path + (i,))
    return out


def _set(doc, path, value):
    cur = doc
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value


def _mutate_json(data, doc, mutations: int = 3) -> str:
    """A mutated document as text (numbers are spliced in as written)."""
    marks = {}
    for _ in range(data.draw(st.integers(1, mutations))):
        paths = [p for p in _leaves(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        op = data.draw(st.sampled_from(["number", "number", "value", "delete"]))
        if op == "delete":
            cur = doc
            for p in path[:-1]:
                cur = cur[p]
            del cur[path[-1]]
            continue
        if op == "number":
            mark = "@@NUM%d@@" % len(marks)
            marks[mark] = data.draw(st.sampled_from(HOSTILE_JSON_NUMBERS))
            _set(doc, path, mark)
        else:
            _set(doc, path, data.draw(st.sampled_from(HOSTILE_JSON)))
    text = json.dumps(doc, indent=data.draw(st.sampled_from([None, 1])))
    for mark, num in marks.items():
        text = text.replace('"%s"' % mark, num)
    return text


REQUEST_SEEDS = ["hail-alloc-drbd.json", "hail-reloc-drbd.json", "hail-node-evac.json",
                 "hail-change-group.json", "hail-multialloc-dedicated.json",
                 "hail-alloc-secondary.json", "hail-alloc-twodisks.json"]


@_settings("request")
@given(data=st.data())
def test_fuzz_requests(data, tmp_path_factory):
    seed = data.draw(st.sampled_from(REQUEST_SEEDS))
    doc = json.loads((DATA / seed).read_text())
    raw = _mutate_json(data, doc).encode("utf-8", "surrogatepass")
    if data.draw(st.integers(0, 4)) == 0:
        raw = _byte_mutation(data, raw)
    tmp = tmp_path_factory.mktemp("fuzz-req")
    (tmp / "req.json").write_bytes(raw)
    if data.draw(st.booleans()):
        check("request", "hail", ["req.json"], tmp)
    else:
        check("request", "hinfo", ["-I", "req.json", "-p"], tmp)


# ---------------------------------------------------------------- MonD data

def _mond_base():
    rep = {"name": "cpu-avg-load", "version": "B", "format_version": 1,
           "timestamp": 1379507272000000000, "category": None, "kind": 0,
           "data": {"cpu_number": 4, "cpus": [0.04, 0.04, 0.06, 0.05],
                    "cpu_total": 0.9}}
    rep2 = json.loads(json.dumps(rep))
    rep2["data"]["cpu_total"] = 0.1
    return [{"node": "node-01-000", "reports": [rep]},
            {"node": "node-01-001", "reports": [rep2]}]


@_settings("mond")
@given(data=st.data())
def test_fuzz_mond_data(data, tmp_path_factory):
    raw = _mutate_json(data, _mond_base(), 2).encode("utf-8", "surrogatepass")
    if data.draw(st.integers(0, 5)) == 0:
        raw = _byte_mutation(data, raw)
    tmp = tmp_path_factory.mktemp("fuzz-mond")
    (tmp / "mond.json").write_bytes(raw)
    (tmp / "hbal-dyn.data").write_bytes((DATA / "hbal-dyn.data").read_bytes())
    check("mond", "hbal", ["-t", "hbal-dyn.data", "--mond=yes", "--mond-data",
                           "mond.json"], tmp)


# ---------------------------------------------------------------- HTTP answers

_BODIES: Dict[str, Dict[str, bytes]] = {}


def _fuzz_script(conn, path: str) -> None:
    key = path.lstrip("/").split("/", 1)[0]
    res = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    conn.sendall(_BODIES.get(key, {}).get(res) or _resp("404 Not Found", b"{}"))


@pytest.fixture(scope="module")
def rapi_server():
    srv = ScriptedServer()
    yield srv
    srv.close()


RAPI_RES = ["groups", "nodes", "instances", "info"]


@_settings("http")
@given(data=st.data())
def test_fuzz_rapi_answers(data, rapi_server, tmp_path_factory):
    key = "fuzz%d" % random.Random(str(data)).randrange(10 ** 9)
    SCRIPTS[key] = _fuzz_script
    bodies = {}
    target = data.draw(st.sampled_from(RAPI_RES))
    for res in RAPI_RES:
        raw = (DATA / "rapi" / (res + ".json")).read_bytes()
        status = "200 OK"
        if res == target:
            op = data.draw(st.sampled_from(["json", "json", "json", "bytes", "status"]))
            if op == "json":
                raw = _mutate_json(data, json.loads(raw), 2).encode("utf-8", "surrogatepass")
            elif op == "bytes":
                raw = _byte_mutation(data, raw)
            else:
                status = data.draw(st.sampled_from(
                    ["404 Not Found", "500 Internal Server Error", "302 Found",
                     "204 No Content", "200", "299 Odd"]))
        bodies[res] = _resp(status, raw)
    _BODIES[key] = bodies
    tmp = tmp_path_factory.mktemp("fuzz-http")
    tool = data.draw(st.sampled_from(["hinfo", "hbal"]))
    try:
        check("http", tool, ["-m", "127.0.0.1:%d/%s" % (rapi_server.port, key)], tmp)
    finally:
        _BODIES.pop(key, None)
        SCRIPTS.pop(key, None)
