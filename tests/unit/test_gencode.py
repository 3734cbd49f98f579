"""htools.gencode: generated definitions compiled once, cached like bytecode."""
import subprocess
import sys

import pytest

from htools import gencode


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "generated.bin"
    monkeypatch.setattr(gencode, "_path", lambda: str(path))
    monkeypatch.setattr(gencode, "_cache", None)
    monkeypatch.setattr(gencode, "_added", False)
    return path


def _define(src):
    env = {}
    return gencode.define(src, env, "f")


def test_define_compiles_and_caches(cache, monkeypatch):
    monkeypatch.setattr(sys, "flags", type("F", (), {"dont_write_bytecode": False})())
    f = _define("def f(x):\n    return x + 1\n")
    assert f(1) == 2
    gencode._save()
    assert cache.exists() and cache.read_bytes().startswith(gencode._magic())
    # a fresh process state takes the code from the file, without compiling
    monkeypatch.setattr(gencode, "_cache", None)
    monkeypatch.setattr(gencode, "_added", False)
    compiled = []
    real = compile
    monkeypatch.setattr("builtins.compile", lambda *a: compiled.append(a) or real(*a))
    assert _define("def f(x):\n    return x + 1\n")(41) == 42
    assert compiled == [] and gencode._added is False


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x00" * 64,
                                     b"MAGIC" + b"\x01\x02"])
def test_unreadable_cache_is_ignored(cache, content):
    cache.write_bytes(content)
    assert _define("def f():\n    return 7\n")() == 7


def test_foreign_entries_are_not_executed(cache, monkeypatch):
    import marshal
    cache.write_bytes(gencode._magic() + marshal.dumps({"def f():\n    return 7\n": 12}))
    assert _define("def f():\n    return 7\n")() == 7


def test_nothing_written_without_bytecode_writing(cache, monkeypatch):
    monkeypatch.setattr(sys, "flags", type("F", (), {"dont_write_bytecode": True})())
    _define("def f():\n    return 1\n")
    gencode._save()
    assert not cache.exists()


def test_tools_give_the_same_answer_with_and_without_the_cache(tmp_path):
    """Two runs of a tool in fresh interpreters: the second takes the
    record initialisers from the cache; the output is the same."""
    import os
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = ("from htools.model import Node\n"
            "from htools.types import ISpec\n"
            "print(ISpec(1, 2, 3, 4, 5, 6), Node.copy.__qualname__)\n")
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True,
                           text=True, env=env) for _ in range(2)]
    assert outs[0].returncode == outs[1].returncode == 0, outs[0].stderr
    assert outs[0].stdout == outs[1].stdout and "ISpec(" in outs[0].stdout


def test_warm_compiles_every_pending_record_and_writes_the_cache(cache, monkeypatch):
    """``python -m htools.gencode``: every record class gets its compiled
    initialiser, the cache is written even where runs would not write it,
    and a later process finds every definition there."""
    from htools import record

    @record.record
    class Probe:
        a: int
        b: int = 2

    assert getattr(Probe.__dict__["__init__"], "_pending", False)
    n = gencode.warm()
    assert not getattr(Probe.__dict__["__init__"], "_pending", False)
    assert Probe(1).b == 2 and Probe(1, 3) == Probe(1, 3)
    assert cache.exists() and n == len(gencode._load()) >= 1
    assert not gencode._PENDING
    # the table on disk holds Probe's initialiser, taken without compiling
    monkeypatch.setattr(gencode, "_cache", None)
    compiled = []
    real = compile
    monkeypatch.setattr("builtins.compile", lambda *a: compiled.append(a) or real(*a))

    @record.record
    class Probe:    # noqa: F811 - the same definition again
        a: int
        b: int = 2

    assert Probe(5).a == 5 and compiled == []


def test_warm_as_a_module_reports_the_cache(tmp_path):
    import os
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run([sys.executable, "-m", "htools.gencode"], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(tuple("123456789")) and "generated definitions cached" in out.stdout
