"""Run a tool of ours and of the reference on the same input and compare.

Each case is (tool, argv) where argv may use ``{D}`` (Ganeti's htools test
data under ../shared/ganeti-testdata/htools), ``{S}`` (the shared folder) and
``{T}`` (a per-case temporary directory).  When the reference binaries are
installed they are run live; their outputs are also kept as golden files in
tests/golden/<suite>/ so that machines without the reference still compare
against the reference's facts.  ``HTOOLS_REGEN_GOLDEN=1`` rewrites them; ``HTOOLS_NO_REFERENCE=1``
forces the golden files even where the reference is installed.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

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


def expand(args: Sequence[str], tmp: Path) -> List[str]:
    return [a.replace("{D}", str(DATA)).replace("{S}", str(SHARED))
            .replace("{T}", str(tmp)) for a in args]


def normalise(text: str, tmp: Path) -> str:
    return (text.replace(str(tmp), "{T}").replace(str(DATA), "{D}")
            .replace(str(SHARED), "{S}"))


def run(binary: str, args: Sequence[str], tmp: Path, files: Sequence[str] = ()) -> Dict:
    tmp.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([binary] + expand(args, tmp), cwd=str(tmp),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=600)
    out = {"stdout": normalise(proc.stdout.decode("utf-8", "replace"), tmp),
           "stderr": normalise(proc.stderr.decode("utf-8", "replace"), tmp),
           "status": proc.returncode, "files": {}}
    for name in files:
        p = tmp / name
        out["files"][name] = p.read_text() if p.exists() else None
    return out


def case_id(tool: str, args: Sequence[str]) -> str:
    text = " ".join([tool] + list(args))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]
    return "%s-%s" % (safe, hashlib.sha1(text.encode()).hexdigest()[:8])


def expected(suite: str, tool: str, args: Sequence[str], tmp: Path,
             files: Sequence[str] = ()) -> Optional[Dict]:
    """The reference's outputs: live if installed, else the golden file."""
    gfile = GOLDEN / suite / (case_id(tool, args) + ".json")
    ref = ref_bin(tool)
    if ref is not None and have_data():
        res = run(ref, args, tmp / "ref", files)
        res = json.loads(json.dumps(res).replace("{T}/ref", "{T}"))
        if os.environ.get("HTOOLS_REGEN_GOLDEN") or not gfile.exists():
            gfile.parent.mkdir(parents=True, exist_ok=True)
            gfile.write_text(json.dumps({"tool": tool, "args": list(args), **res},
                                        indent=1, sort_keys=True) + "\n")
        return res
    if gfile.exists():
        data = json.loads(gfile.read_text())
        return {k: data[k] for k in ("stdout", "stderr", "status", "files")}
    return None


def compare(suite: str, tool: str, args: Sequence[str], tmp: Path,
            files: Sequence[str] = ()) -> Tuple[Dict, Dict]:
    import pytest
    if not have_data():
        pytest.skip("Ganeti test data not available")
    exp = expected(suite, tool, args, tmp, files)
    if exp is None:
        pytest.skip("no reference binary and no golden file")
    got = run(ours_bin(tool), args, tmp / "ours", files)
    got = json.loads(json.dumps(got).replace("{T}/ours", "{T}"))
    return exp, got
