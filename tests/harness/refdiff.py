"""The differential harness: run a tool of ours and of the reference on the
same input and compare.

Each case is (tool, argv) where argv may use ``{D}`` (Ganeti's htools test
data under ../shared/ganeti-testdata/htools), ``{S}`` (the shared folder) and
``{T}`` (the run's directory, also its working directory).  ``inputs`` names
files to create in the run's directory first (see :func:`input_text`), so
that a case can pass them by bare name.  When the reference binaries are
installed they are run live; their outputs are also kept as golden files,
one JSON file per case, ``tests/golden/<suite>/<case id>.json`` (tool, args,
inputs, stdout, stderr, status, files), so that machines without the
reference still compare against the reference's facts.
``HTOOLS_REGEN_GOLDEN=1`` rewrites them; ``HTOOLS_NO_REFERENCE=1`` forces
the golden files even where the reference is installed.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
DATA = SHARED / "ganeti-testdata" / "htools"
REF_BIN = Path("/usr/lib/ganeti/3.0/usr/bin")
REF_HAIL = Path("/usr/lib/ganeti/iallocators/hail")
GOLDEN = REPO / "tests" / "golden"


def ours_bin(tool: str) -> str:
    return str(Path(sys.executable).parent / tool)


def ref_bin(tool: str) -> Optional[str]:
    if os.environ.get("HTOOLS_NO_REFERENCE"):
        return None
    path = REF_HAIL if tool == "hail" else REF_BIN / tool
    return str(path) if path.exists() else None


def have_reference() -> bool:
    return ref_bin("hbal") is not None


def have_data() -> bool:
    return DATA.is_dir()


# --------------------------------------------------------------------------
# inputs created in the run directory

#: an input file: {"testdata": NAME} (Ganeti's test data), {"generator":
#: PARAMS} (``simulate.generator.generate_cluster(**PARAMS)``) or
#: {"golden": PATH} (a file under tests/golden/)
InputSpec = Dict[str, object]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def input_text(spec: InputSpec) -> Optional[str]:
    """The text of an input file; None if it is not available here."""
    if "testdata" in spec:
        path = DATA / str(spec["testdata"])
        return path.read_text() if path.is_file() else None
    if "generator" in spec:
        from simulate import generator
        return generator.generate_cluster(**spec["generator"]).to_text()
    if "golden" in spec:
        return (GOLDEN / str(spec["golden"])).read_text()
    raise ValueError("unknown input kind %r" % (spec,))


def input_record(inputs: Dict[str, InputSpec]) -> Dict[str, InputSpec]:
    """What a golden file keeps of its inputs: the specs, and the digest of
    generated ones (to notice a changed generator)."""
    out = {}
    for name, spec in sorted(inputs.items()):
        rec = dict(spec)
        if "generator" in spec:
            rec["sha256"] = sha256_text(input_text(spec))
        out[name] = rec
    return out


def generator_drift(record: Dict[str, InputSpec]) -> List[str]:
    """The generated inputs of a golden record whose text changed since."""
    return [name for name, rec in sorted(record.items())
            if "generator" in rec
            and sha256_text(input_text(rec)) != rec.get("sha256")]


def needs_data(args: Sequence[str], inputs: Optional[Dict[str, InputSpec]]) -> bool:
    return (any("{D}" in a for a in args)
            or any("testdata" in spec for spec in (inputs or {}).values()))


def run_env() -> Dict[str, str]:
    """The environment of every run (stable locale and time zone)."""
    env = dict(os.environ)
    env.pop("HTOOLS", None)
    env.pop("GANETI_ROOTDIR", None)
    env["LC_ALL"] = env["LANG"] = "C.UTF-8"
    env["TZ"] = "UTC"
    return env


def expand(args: Sequence[str], tmp: Path) -> List[str]:
    return [a.replace("{D}", str(DATA)).replace("{S}", str(SHARED))
            .replace("{T}", str(tmp)) for a in args]


def normalise(text: str, tmp: Path) -> str:
    return (text.replace(str(tmp), "{T}").replace(str(DATA), "{D}")
            .replace(str(SHARED), "{S}"))


def run(binary, args: Sequence[str], tmp: Path, files: Sequence[str] = (),
        inputs: Optional[Dict[str, InputSpec]] = None) -> Dict:
    """Run ``binary`` (a path, or a callable ``(argv, cwd) -> (stdout,
    stderr, status)`` running ours in-process) in ``tmp`` with ``inputs``
    created there first; outputs and ``files`` normalised."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name, spec in (inputs or {}).items():
        (tmp / name).write_text(input_text(spec))
    argv = expand(args, tmp)
    if callable(binary):
        stdout, stderr, status = binary(argv, tmp)
    else:
        proc = subprocess.run([binary] + argv, cwd=str(tmp), env=run_env(),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=600)
        stdout = proc.stdout.decode("utf-8", "replace")
        stderr = proc.stderr.decode("utf-8", "replace")
        status = proc.returncode
    out = {"stdout": normalise(stdout, tmp), "stderr": normalise(stderr, tmp),
           "status": status, "files": {}}
    for name in files:
        p = tmp / name
        out["files"][name] = (p.open(encoding="utf-8", newline="").read()
                              if p.exists() else None)
    return out


def case_id(tool: str, args: Sequence[str]) -> str:
    text = " ".join([tool] + list(args))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]
    return "%s-%s" % (safe, hashlib.sha1(text.encode()).hexdigest()[:8])


def golden_file(suite: str, tool: str, args: Sequence[str]) -> Path:
    return GOLDEN / suite / (case_id(tool, args) + ".json")


def golden(suite: str, tool: str, args: Sequence[str]) -> Optional[Dict]:
    """The golden record of a case (None if there is none)."""
    gfile = golden_file(suite, tool, args)
    return json.loads(gfile.read_text()) if gfile.exists() else None


def reference_result(suite: str, tool: str, args: Sequence[str],
                     run_reference: Callable[[str], Dict], name: Optional[str] = None,
                     keys: Sequence[str] = ("stdout", "stderr", "status")) -> Dict:
    """The reference's result of a case its test runs itself (against a
    server, in a namespace, ...): ``run_reference(binary)`` when the
    reference is installed (recorded in the case's golden file, named
    ``name`` or by :func:`case_id`), else the recorded result; the test is
    skipped if there is neither."""
    import pytest
    gfile = GOLDEN / suite / ((name or case_id(tool, args)) + ".json")
    ref = ref_bin(tool)
    if ref is not None:
        res = run_reference(ref)
        if os.environ.get("HTOOLS_REGEN_GOLDEN") or not gfile.exists():
            rec = {"tool": tool, "args": list(args), **{k: res[k] for k in keys}}
            gfile.parent.mkdir(parents=True, exist_ok=True)
            gfile.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
        return res
    if gfile.exists():
        data = json.loads(gfile.read_text())
        return {k: data[k] for k in keys}
    pytest.skip("no reference binary and no recorded output")


def expected(suite: str, tool: str, args: Sequence[str], tmp: Path,
             files: Sequence[str] = (),
             inputs: Optional[Dict[str, InputSpec]] = None) -> Optional[Dict]:
    """The reference's outputs: live if installed, else the golden file
    (None if neither; a test skips then)."""
    import pytest
    gfile = golden_file(suite, tool, args)
    ref = ref_bin(tool)
    if ref is not None and (have_data() or not needs_data(args, inputs)):
        res = run(ref, args, tmp / "ref", files, inputs)
        res = json.loads(json.dumps(res).replace("{T}/ref", "{T}"))
        if os.environ.get("HTOOLS_REGEN_GOLDEN") or not gfile.exists():
            rec = {"tool": tool, "args": list(args), **res}
            if inputs:
                rec["inputs"] = input_record(inputs)
            gfile.parent.mkdir(parents=True, exist_ok=True)
            gfile.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
        return res
    if gfile.exists():
        data = json.loads(gfile.read_text())
        drift = generator_drift(data.get("inputs", {}))
        if drift:
            pytest.skip("generated input %s changed since the golden file "
                        "was recorded" % ", ".join(drift))
        return {k: data[k] for k in ("stdout", "stderr", "status", "files")}
    return None


def compare(suite: str, tool: str, args: Sequence[str], tmp: Path,
            files: Sequence[str] = (),
            inputs: Optional[Dict[str, InputSpec]] = None,
            ours=None) -> Tuple[Dict, Dict]:
    """(reference's outputs, ours) for one case; ``ours``: a callable running
    ours in-process (see :func:`run`), else our console script."""
    import pytest
    if needs_data(args, inputs) and not have_data():
        pytest.skip("Ganeti test data not available")
    exp = expected(suite, tool, args, tmp, files, inputs)
    if exp is None:
        pytest.skip("no reference binary and no golden file")
    got = run(ours or ours_bin(tool), args, tmp / "ours", files, inputs)
    got = json.loads(json.dumps(got).replace("{T}/ours", "{T}"))
    return exp, got
