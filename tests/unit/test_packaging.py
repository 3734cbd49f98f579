"""The source distribution builds, installs in a fresh environment and runs.

The sdist is built without isolation (with the Cython, setuptools and numpy
of this environment), installed with pip into a new virtual environment
that sees this environment's third-party packages but not the project's
editable install, and its ``hinfo``/``hbal`` are run outside the checkout:
their output is the checkout's.
"""
from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cluster.data"


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=1200, **kw)


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    for mod in ("build", "Cython", "setuptools"):
        try:
            __import__(mod)
        except ImportError:
            pytest.skip("%s is not installed (make venv installs it)" % mod)
    out = tmp_path_factory.mktemp("sdist")
    res = _run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                "--outdir", str(out), str(ROOT)])
    assert res.returncode == 0, res.stdout + res.stderr
    (tarball,) = out.glob("*.tar.gz")
    return tarball


def test_sdist_holds_the_sources(sdist):
    with tarfile.open(sdist) as tar:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in tar.getnames()}
    tracked = _run(["git", "ls-files", "htools", "backends", "cluster", "simulate"],
                   cwd=ROOT).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    missing = [f for f in tracked if f.endswith((".py", ".pyx", ".pxi", ".pxd", ".pyi"))
               and f not in names]
    assert not missing, missing
    assert not [n for n in names if n.endswith((".so", ".html"))]


def test_sdist_installs_and_runs(sdist, tmp_path):
    env_dir = tmp_path / "venv"
    res = _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    assert res.returncode == 0, res.stderr
    # this environment's third-party packages, without the editable install
    # of the checkout (its .pth file is not read from an added directory)
    site_dirs = [p for p in sys.path if p.endswith("site-packages")] or \
        [sysconfig.get_paths()["purelib"]]
    py = env_dir / "bin" / "python"
    target = Path(_run([str(py), "-c", "import sysconfig;print(sysconfig.get_paths()"
                                      "['purelib'])"]).stdout.strip())
    (target / "deps.pth").write_text("".join(d + "\n" for d in site_dirs))
    res = _run([sys.executable, "-m", "pip", "--python", str(py), "install",
                "--no-deps", "--no-build-isolation", "--no-index", str(sdist)])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    where = _run([str(py), "-c", "import htools._core as c, htools.haskell as h;"
                                 "print(c.__file__);print(h.__file__)"], cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert all(str(target) in line for line in where.stdout.split()), where.stdout
    for tool, args in (("hinfo", ["-t", str(EXAMPLE)]),
                       ("hbal", ["-t", str(EXAMPLE), "-C"])):
        got = _run([str(env_dir / "bin" / tool)] + args, cwd=tmp_path)
        want = _run([str(Path(sys.executable).parent / tool)] + args, cwd=tmp_path)
        assert got.returncode == want.returncode == 0, got.stderr
        assert got.stdout == want.stdout and got.stdout


#: import names of the distributions pyproject.toml names
_IMPORT_NAMES = {"pytest-benchmark": "pytest_benchmark", "Cython": "Cython"}


def test_every_dependency_is_used():
    """Each distribution named in pyproject.toml is imported (or, for the
    build tools and pytest plugins, used) by the project."""
    text = (ROOT / "pyproject.toml").read_text()
    names = set()
    for block in re.findall(r"(?:^dependencies|^test|^requires) = \[(.*?)\]", text, re.M | re.S):
        names |= {re.split(r"[<>=!~\[ ]", n.strip().strip('"'))[0]
                  for n in block.split(",") if n.strip()}
    sources = "\n".join(p.read_text() for d in ("htools", "backends", "cluster", "simulate",
                                                "tests", "bench")
                        for p in (ROOT / d).rglob("*.py*") if p.suffix in (".py", ".pyx")
                        and p.name != "test_packaging.py")
    sources += (ROOT / "setup.py").read_text()
    used = {
        "setuptools": "from setuptools import" in sources,
        "wheel": True,              # setuptools' wheel builds (pip install -e)
        "build": True,              # the sdist test above runs "python -m build"
        "pytest-benchmark": re.search(r"def test_\w+\(benchmark\b", sources) is not None,
    }
    unused = []
    for name in sorted(names):
        if name in used:
            ok = used[name]
        else:
            mod = _IMPORT_NAMES.get(name, name.replace("-", "_"))
            ok = re.search(r"^\s*(?:c?import|from) %s\b" % re.escape(mod), sources, re.M)
        if not ok:
            unused.append(name)
    assert names and not unused, unused
