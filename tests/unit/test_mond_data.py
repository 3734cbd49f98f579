"""``--mond-data`` read exactly as strictly as the reference reads it.

Reports come through one parser (:func:`backends.mond.read_report`, Ganeti's
``DCReport`` JSON instance) for files and for live daemons.  Each case
below mutates a good MonD data file for hbal-dyn.data (a field missing, a
wrong type, a bad category or kind, superfluous keys, bad collector data,
deep nesting, ...) and compares ``hbal``'s stdout, stderr and exit status
with the reference's (recorded in tests/golden/mond-data for machines
without it).  Plus unit tests of the parser pieces that have no CLI-visible
output of their own.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness import refdiff
from tests.harness.refdiff import DATA, GOLDEN, SHARED, have_data, ours_bin

SUITE = GOLDEN / "mond-data"
BAD_INPUT = SHARED / "regressions" / "bad-input"

_BASE = {"name": "cpu-avg-load", "version": "B", "format_version": 1,
         "timestamp": 1379507272000000000, "category": None, "kind": 0,
         "data": {"cpu_number": 4, "cpus": [0.04, 0.04, 0.06, 0.05],
                  "cpu_total": 0.9}}


def _file(rep0=None) -> list:
    r0 = copy.deepcopy(_BASE) if rep0 is None else rep0
    r1 = copy.deepcopy(_BASE)
    r1["data"]["cpu_total"] = 0.1
    return [{"node": "node-01-000", "reports": [r0]},
            {"node": "node-01-001", "reports": [r1]}]


def _mut(**changes) -> list:
    rep = copy.deepcopy(_BASE)
    for key, val in changes.items():
        if val is None and key.startswith("no_"):
            del rep[key[3:]]
        else:
            rep[key] = val
    return _file(rep)


def _data(**changes) -> list:
    rep = copy.deepcopy(_BASE)
    for key, val in changes.items():
        if key == "drop":
            del rep["data"][val]
        else:
            rep["data"][key] = val
    return _file(rep)


CASES = {
    "good": _file(),
    "no-name": _mut(no_name=None),
    "no-version": _mut(no_version=None),
    "no-timestamp": _mut(no_timestamp=None),
    "no-category": _mut(no_category=None),
    "no-data": _mut(no_data=None),
    "name-number": _mut(name=5),
    "name-chars": _mut(name=list("cpu-avg-load")),
    "version-number": _mut(version=5),
    "version-object": _mut(version={"a": [1.5, -2, None, True, "x"]}),
    "format_version-string": _mut(format_version="1"),
    "timestamp-list": _mut(timestamp=[]),
    "category-unknown": _mut(category="x"),
    "category-storage": _mut(category="storage"),
    "category-number": _mut(category=5),
    "kind-status": _mut(kind=1),
    "kind-2": _mut(kind=2),
    "kind-negative": _mut(kind=-1),
    "kind-fraction": _mut(kind=-1.5),
    "kind-string": _mut(kind="0"),
    "kind-wraps": _mut(kind=2 ** 64 + 1),
    "superfluous-keys": _mut(zz=1, extra=2),
    "cpu_total-nan-string": _data(cpu_total="NaN"),
    "cpu_total-huge": _data(cpu_total=1e300 * 10),
    "cpu_number-fraction": _data(cpu_number=1.5),
    "data-superfluous": _data(extra=1),
    "data-no-cpus": _data(drop="cpus"),
    "node-number": [{"node": 5, "reports": []}],
    "no-node": [{"reports": []}],
    "reports-object": [{"node": "x", "reports": {}}],
    "report-list": [{"node": "x", "reports": [[]]}],
    "top-object": {"node": "x"},
    "top-number-list": [1],
    "empty-list": [],
    "other-collector": _mut(name="xen-cpu-avg-load"),
    "duplicate-node": _file() + [{"node": "node-01-000", "reports": []}],
}
RAW_CASES = {
    "garbage": "not json",
    "empty": "",
    "nested": "[" * 100000 + "]" * 100000,
    "nested-unterminated": "[" * 100000,
    "nested-version": ('[{"node":"node-01-000","reports":[{"name":"cpu-avg-'
                       'load","version":' + "[" * 3000 + "]" * 3000
                       + ',"format_version":1,"timestamp":1,"kind":0,'
                       '"data":1}]}]'),
    "kind-float-zero": json.dumps(_file()).replace('"kind": 0', '"kind": 0.0', 1),
    "kind-exponent": json.dumps(_file()).replace('"kind": 0', '"kind": 1e0', 1),
}


def _texts():
    out = {name: json.dumps(val) for name, val in CASES.items()}
    out.update(RAW_CASES)
    return out


TEXTS = _texts()
REPRODUCERS = sorted(p.name for p in BAD_INPUT.glob("mond-*.json")) \
    if BAD_INPUT.is_dir() else []


def _start(binary: str, args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([binary] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            cwd=str(cwd))


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    return {"stdout": out.decode("utf-8", "replace"),
            "stderr": err.decode("utf-8", "replace"),
            "status": proc.returncode}


def _ours_in_process(args, cwd: Path) -> dict:
    """hbal of ours run in this process (no interpreter start-up per case)."""
    import contextlib
    import io
    from htools.cli.main import COMMANDS
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(str(cwd))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = COMMANDS["hbal"].main(list(args), standalone_mode=False)
    finally:
        os.chdir(old)
    return {"stdout": out.getvalue(), "stderr": err.getvalue(),
            "status": status}


def _compare(name: str, mond_file: Path, tmp: Path, extra=(),
             in_process=False):
    """Ours and the reference on the same file (run at the same time)."""
    if not have_data():
        pytest.skip("Ganeti test data not available")
    (tmp / "hbal-dyn.data").write_bytes((DATA / "hbal-dyn.data").read_bytes())
    args = ["-t", "hbal-dyn.data", "--mond=yes", "--mond-data",
            mond_file.name] + list(extra)
    ours = None if in_process else _start(ours_bin("hbal"), args, tmp)
    try:
        exp = refdiff.reference_result(
            "mond-data", "hbal", args, lambda ref: _finish(_start(ref, args, tmp)),
            name="%s%s" % (name, "".join(extra)))
    except pytest.skip.Exception:
        if ours is not None:
            _finish(ours)
        raise
    got = _ours_in_process(args, tmp) if ours is None else _finish(ours)
    assert got == exp
    return got


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_mond_data_against_reference(tmp_path, name):
    path = tmp_path / (name + ".json")
    path.write_text(TEXTS[name])
    # hbal of ours in this process for speed; the reproducers and the
    # --exit-on-missing-mond-data cases below run it as a program
    got = _compare(name, path, tmp_path, in_process=True)
    assert "Traceback" not in got["stderr"]


@pytest.mark.parametrize("name", REPRODUCERS)
def test_mond_reproducers_against_reference(tmp_path, name):
    path = tmp_path / name
    path.write_bytes((BAD_INPUT / name).read_bytes())
    _compare(name[:-5], path, tmp_path)


@pytest.mark.parametrize("name", ["good", "cpu_total-nan-string"])
def test_mond_data_exit_on_missing(tmp_path, name):
    path = tmp_path / (name + ".json")
    path.write_text(TEXTS[name])
    _compare(name, path, tmp_path, ["--exit-on-missing-mond-data"])


# ---------------------------------------------------------------- units

def test_report_reader_messages():
    from htools.haskell.json import _Bad
    from htools.haskell.json import decode_any
    from backends.mond import read_report

    def err(changes):
        rep = dict(_BASE, **changes)
        with pytest.raises(_Bad) as info:
            read_report(decode_any(json.dumps(rep)))
        return info.value.msg

    assert err({"version": 5}) == ("Can't parse value for 'version': Invalid "
                                   "JSON value JSRational False (5 % 1) for "
                                   "type DCVersion")
    assert err({"kind": -1.5}) == ("Can't parse value for 'kind': Invalid "
                                   "JSON value (-3) % 2 for type DCKind")
    assert err({"kind": 7}) == ("Can't parse value for 'kind': Invalid JSON "
                                "value 7 for type DCKind")
    assert err({"category": "x"}) == ("Can't parse value for 'category': "
                                      "Invalid category name x for type "
                                      "DCCategory")
    rep = read_report(decode_any(json.dumps(_BASE)))
    assert rep.name == "cpu-avg-load"
    assert float(rep.data.lookup("cpu_total")[1]) == 0.9


def test_show_jsvalue_deep_and_shapes():
    from htools.haskell.json import decode_any
    from htools.haskell.json import show_jsvalue as hs_show_jsvalue
    val = decode_any('[null, true, "a\\"b", {"k": [-2.5]}]')
    assert hs_show_jsvalue(val) == (
        'JSArray [JSNull,JSBool True,JSString (JSONString {fromJSString = '
        '"a\\"b"}),JSObject (JSONObject {fromJSObject = [("k",JSArray '
        '[JSRational False ((-5) % 2)])]})]')
    deep = decode_any("[" * 50000 + "]" * 50000)
    text = hs_show_jsvalue(deep)
    assert text.startswith("JSArray [JSArray [") and len(text) > 50000 * 9


def test_nan_string_is_no_answer():
    from htools.haskell.json import decode_any
    from backends.mond import CPU_AVG_LOAD, Report, _use_report

    def use(data):
        return _use_report(CPU_AVG_LOAD, Report("cpu-avg-load",
                                                decode_any(json.dumps(data))))
    assert use({"cpu_number": 1, "cpus": [0.1], "cpu_total": "NaN"}) is None
    assert use({"cpu_number": 1, "cpus": [0.1], "cpu_total": 0.25}) == 0.25
