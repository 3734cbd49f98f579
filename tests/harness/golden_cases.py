"""Golden (reference-output) test cases for differential testing.

Layout (written by ``tests/tools/make_golden.py``)::

    tests/golden/<tool>/<case>/case.json     metadata (see below)
    tests/golden/<tool>/<case>/stdout.txt    reference stdout
    tests/golden/<tool>/<case>/stderr.txt    reference stderr
    tests/golden/<tool>/<case>/files/<name>  files written by the tool
                                             (e.g. hbal -S: out.original)

``case.json`` keys: ``tool``, ``case``, ``args`` (argv after the program
name; the input is referenced by its bare file name and the tool runs with
the working directory set to a scratch dir holding the input), ``input``
(``{"kind": "testdata", "file": "x.data"}`` for Ganeti's own test data, or
``{"kind": "generated", "file": "gen-...data", "params": {...},
"sha256": "..."}`` for clusters produced by ``simulate.generator``),
``exit_status``, ``files`` (name -> path relative to the case dir),
``reference`` (binary and version) and optionally ``variant_of`` and
``note``.

Typical differential test::

    import pytest
    from tests.harness import golden_cases as gc   # or: import golden_cases

    CASES = gc.list_cases("hinfo")

    @pytest.mark.parametrize("case", CASES, ids=gc.case_ids(CASES))
    def test_hinfo(case, tmp_path):
        if not case.input_available():
            pytest.skip("input not available")
        if not gc.ours_available(case.tool):
            pytest.skip("console script not installed")
        got = gc.run_case(case, gc.run_ours, tmp_path)
        assert gc.compare(case, got) == []

Ganeti's test data is *not* part of this repository: it is looked up in
``<repo>/../shared/ganeti-testdata/htools`` (override with the environment
variable ``HTOOLS_TESTDATA``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = REPO_ROOT / "tests" / "golden"
TESTDATA_DIR = Path(os.environ.get(
    "HTOOLS_TESTDATA",
    str(REPO_ROOT.parent / "shared" / "ganeti-testdata" / "htools")))
REFERENCE_BIN_DIR = Path(os.environ.get(
    "HTOOLS_REFERENCE_BIN", "/usr/lib/ganeti/3.0/usr/bin"))
REFERENCE_HAIL = Path("/usr/lib/ganeti/iallocators/hail")
REFERENCE_VERSION = "3.0.2"

#: tools that have golden cases produced by make_golden.py
GOLDEN_TOOLS = ("hinfo", "hbal")

DEFAULT_TIMEOUT = 900


# --------------------------------------------------------------------------
# Results and cases

@dataclass
class RunResult:
    """Outcome of running a tool: stdout, stderr, exit status and the
    contents of the files it was expected to write (None if missing)."""
    stdout: str
    stderr: str
    returncode: int
    files: Dict[str, Optional[str]] = field(default_factory=dict)


class GeneratorDrift(RuntimeError):
    """The generator no longer reproduces a golden case's input."""


@dataclass
class GoldenCase:
    tool: str
    name: str
    dir: Path
    args: List[str]
    input: Dict[str, object]
    exit_status: int
    files: Dict[str, str]
    meta: Dict[str, object]

    @property
    def id(self) -> str:
        return "%s/%s" % (self.tool, self.name)

    @property
    def input_kind(self) -> str:
        return str(self.input["kind"])

    @property
    def input_file(self) -> str:
        """Bare file name the args refer to (materialized in the cwd)."""
        return str(self.input["file"])

    @property
    def params(self) -> Optional[Dict[str, object]]:
        """Generator parameters (generated inputs only)."""
        return self.input.get("params")  # type: ignore[return-value]

    # -- expected outputs
    @property
    def stdout(self) -> str:
        return _read(self.dir / "stdout.txt")

    @property
    def stderr(self) -> str:
        return _read(self.dir / "stderr.txt")

    def file(self, name: str) -> str:
        return _read(self.dir / self.files[name])

    def expected(self) -> RunResult:
        return RunResult(self.stdout, self.stderr, self.exit_status,
                         {k: self.file(k) for k in self.files})

    # -- input
    def input_available(self) -> bool:
        if self.input_kind == "testdata":
            return testdata_path(self.input_file).is_file()
        try:
            _generator()
        except ImportError:
            return False
        return True

    def input_text(self, check_drift: bool = True) -> str:
        """The input file's content (generated inputs are regenerated)."""
        if self.input_kind == "testdata":
            return testdata_path(self.input_file).read_text()
        text = generate_input(self.params or {})
        if check_drift and sha256_text(text) != self.input.get("sha256"):
            raise GeneratorDrift(
                "%s: generator output differs from the golden input "
                "(sha256 %s != %s); rerun tests/tools/make_golden.py"
                % (self.id, sha256_text(text), self.input.get("sha256")))
        return text

    def generator_drift(self) -> bool:
        """True if a generated input no longer matches its stored sha256."""
        if self.input_kind != "generated":
            return False
        return sha256_text(generate_input(self.params or {})) != \
            self.input.get("sha256")

    def materialize(self, cwd, check_drift: bool = True) -> Path:
        """Put the input file into directory ``cwd`` (as ``input_file``)."""
        cwd = Path(cwd)
        cwd.mkdir(parents=True, exist_ok=True)
        dest = cwd / self.input_file
        if self.input_kind == "testdata":
            src = testdata_path(self.input_file)
            if not src.is_file():
                raise FileNotFoundError(
                    "Ganeti test data %s not found (looked in %s)"
                    % (self.input_file, TESTDATA_DIR))
            dest.write_bytes(src.read_bytes())
        else:
            with open(dest, "w", encoding="ascii", newline="\n") as fh:
                fh.write(self.input_text(check_drift=check_drift))
        return dest

    def __repr__(self) -> str:
        return "GoldenCase(%s)" % self.id


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


def load_case(tool: str, name: str) -> GoldenCase:
    """Load ``tests/golden/<tool>/<name>/case.json``."""
    cdir = GOLDEN_DIR / tool / name
    with open(cdir / "case.json", encoding="utf-8") as fh:
        meta = json.load(fh)
    return GoldenCase(tool=meta["tool"], name=meta["case"], dir=cdir,
                      args=list(meta["args"]), input=dict(meta["input"]),
                      exit_status=int(meta["exit_status"]),
                      files=dict(meta.get("files", {})), meta=meta)


def list_cases(tool: Optional[str] = None, kind: Optional[str] = None,
               names: Optional[Iterable[str]] = None) -> List[GoldenCase]:
    """All golden cases, sorted by (tool, name).

    ``tool`` restricts to one tool ("hinfo", "hbal", ...), ``kind`` to
    "testdata" or "generated", ``names`` to the given case names.
    """
    tools = [tool] if tool else sorted(
        p.name for p in GOLDEN_DIR.iterdir() if p.is_dir()) \
        if GOLDEN_DIR.is_dir() else []
    wanted = set(names) if names is not None else None
    out = []
    for t in tools:
        tdir = GOLDEN_DIR / t
        if not tdir.is_dir():
            continue
        for cdir in sorted(tdir.iterdir()):
            if not (cdir / "case.json").is_file():
                continue
            if wanted is not None and cdir.name not in wanted:
                continue
            try:
                case = load_case(t, cdir.name)
            except (KeyError, ValueError):
                continue  # not a case in this format
            if kind is not None and case.input_kind != kind:
                continue
            out.append(case)
    return out


def case_ids(cases: Sequence[GoldenCase]) -> List[str]:
    """pytest ids for ``cases``."""
    return [c.id for c in cases]


def testdata_path(name: str) -> Path:
    return TESTDATA_DIR / name


# --------------------------------------------------------------------------
# Generated inputs

def _generator():
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from simulate import generator  # noqa: WPS433
    return generator


def generate_input(params: Dict[str, object]) -> str:
    """Regenerate a cluster text from the stored generator params."""
    return _generator().generate_cluster(**params).to_text()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------
# Running tools

def run_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment used for all runs (stable locale and time zone)."""
    env = dict(os.environ)
    env["LC_ALL"] = "C.UTF-8"
    env["LANG"] = "C.UTF-8"
    env["TZ"] = "UTC"
    if extra:
        env.update(extra)
    return env


def our_command(tool: str) -> List[str]:
    """argv prefix for our implementation of ``tool``: the console script
    in the bin directory of ``sys.executable`` (e.g. ``.venv/bin/hbal``)."""
    return [str(Path(sys.executable).parent / tool)]


def ours_available(tool: str) -> bool:
    return Path(our_command(tool)[0]).is_file()


def reference_command(tool: str) -> List[str]:
    if tool == "hail":
        return [str(REFERENCE_HAIL)]
    return [str(REFERENCE_BIN_DIR / tool)]


def reference_available(tool: str = "hbal") -> bool:
    path = Path(reference_command(tool)[0])
    return path.is_file() and os.access(path, os.X_OK)


def _run(cmd: List[str], args: Sequence[str], cwd, env, timeout,
         stdin: Optional[str] = None) -> RunResult:
    proc = subprocess.run(
        cmd + list(args), cwd=str(cwd), env=run_env(env),
        input=stdin if stdin is not None else "",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        timeout=timeout)
    return RunResult(proc.stdout.decode("utf-8", "replace"),
                     proc.stderr.decode("utf-8", "replace"),
                     proc.returncode)


def run_ours(tool: str, args: Sequence[str], cwd,
             env: Optional[Dict[str, str]] = None,
             timeout: float = DEFAULT_TIMEOUT,
             stdin: Optional[str] = None) -> RunResult:
    """Run our console script ``tool`` (next to sys.executable)."""
    cmd = our_command(tool)
    if not Path(cmd[0]).is_file():
        raise FileNotFoundError(
            "console script %s not found (is the package installed in the "
            "environment of %s?)" % (cmd[0], sys.executable))
    return _run(cmd, args, cwd, env, timeout, stdin)


def run_reference(tool: str, args: Sequence[str], cwd,
                  env: Optional[Dict[str, str]] = None,
                  timeout: float = DEFAULT_TIMEOUT,
                  stdin: Optional[str] = None) -> RunResult:
    """Run the installed Ganeti 3.0.2 binary of ``tool``."""
    cmd = reference_command(tool)
    if not Path(cmd[0]).is_file():
        raise FileNotFoundError("reference binary %s not installed" % cmd[0])
    return _run(cmd, args, cwd, env, timeout, stdin)


Runner = Callable[..., RunResult]


def run_case(case: GoldenCase, runner: Runner = None, workdir=None,
             check_drift: bool = True, **kwargs) -> RunResult:
    """Materialize ``case``'s input in ``workdir`` (a fresh temporary
    directory if None), run ``runner(tool, args, cwd)`` there (default:
    :func:`run_ours`) and collect the files the case expects."""
    import tempfile
    runner = runner or run_ours
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="golden-")
        workdir = tmp.name
    try:
        workdir = Path(workdir)
        case.materialize(workdir, check_drift=check_drift)
        res = runner(case.tool, case.args, workdir, **kwargs)
        for name in case.files:
            fpath = workdir / name
            res.files[name] = _read(fpath) if fpath.is_file() else None
        return res
    finally:
        if tmp is not None:
            tmp.cleanup()


def _diff(what: str, expected: Optional[str], got: Optional[str],
          context: int = 3, limit: int = 80) -> Optional[str]:
    if expected == got:
        return None
    if expected is None or got is None:
        return "%s: expected %s, got %s" % (
            what, "no file" if expected is None else "a file",
            "no file" if got is None else "a file")
    lines = list(difflib.unified_diff(
        expected.splitlines(True), got.splitlines(True),
        "expected/" + what, "got/" + what, n=context))
    if len(lines) > limit:
        lines = lines[:limit] + ["... (%d more diff lines)\n"
                                 % (len(lines) - limit)]
    return "".join(lines)


def compare(case: GoldenCase, got: RunResult, stdout: bool = True,
            stderr: bool = True, files: bool = True) -> List[str]:
    """Differences between ``got`` and the golden outputs (empty = equal)."""
    exp = case.expected()
    out = []
    if got.returncode != exp.returncode:
        out.append("%s: exit status %d, expected %d"
                   % (case.id, got.returncode, exp.returncode))
    if stdout:
        d = _diff("stdout", exp.stdout, got.stdout)
        if d:
            out.append(d)
    if stderr:
        d = _diff("stderr", exp.stderr, got.stderr)
        if d:
            out.append(d)
    if files:
        for name, content in exp.files.items():
            d = _diff(name, content, got.files.get(name))
            if d:
                out.append(d)
    return out
