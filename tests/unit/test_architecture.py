"""The project's layering, read from the imports of its source files.

Layers, lowest first: ``htools.haskell`` (what the reference inherits from
GHC and its libraries), the core (``htools``: model, metrics, algorithms),
``backends`` (data sources), ``cluster`` (the operations layer), and the
programs (``htools.cli``).  A module may import its own layer and the ones
below it.  Module-level imports form no cycle; function-level ones only where
listed, each with the reason it is still there.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Tuple

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("htools", "backends", "cluster")

LAYERS = ("haskell", "core", "backends", "cluster", "cli")

#: Imports against the layering that are part of the design.
EXCEPTIONS = {
    # the loader that selects a data source (-t, -m, -L, -I, --simulate)
    # and applies the optional ones (-U, --mond) is where the core meets
    # the backends
    ("htools.extloader", "backends.text"),
    ("htools.extloader", "backends.simu"),
    ("htools.extloader", "backends.iallocator"),
    ("htools.extloader", "backends.mond"),
    ("htools.extloader", "backends.luxi"),
    ("htools.extloader", "backends.rapi"),
    # hroller's rolling reboot runs hbal -X on each group, as an operator
    # would, with hbal's own output and checks
    ("cluster.rolling", "htools.cli.hbal"),
    ("cluster.rolling", "htools.cli.options"),
    # the error convention: one class for every fatal error
    ("htools.haskell.read", "htools.errors"),
}

#: Cycles through function-level imports still to be removed.
LAZY_CYCLES: List[set] = []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> Dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(path: Path, modules) -> List[Tuple[str, bool]]:
    """(imported project module, at module level?) for each import."""
    tree = ast.parse(path.read_text())
    top = set()
    for node in tree.body:
        top.add(id(node))
        if isinstance(node, (ast.If, ast.Try)):  # guarded module-level imports
            for sub in node.body + node.orelse + \
                    sum((h.body for h in getattr(node, "handlers", [])), []):
                top.add(id(sub))
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for a in node.names:
                sub = "%s.%s" % (node.module, a.name)
                names.append(sub if sub in modules else node.module)
        for name in names:
            if name.split(".")[0] in PACKAGES:
                found.append((name, id(node) in top))
    return found


def _layer(module: str) -> str:
    if module.startswith("htools.haskell"):
        return "haskell"
    if module.startswith("htools.cli"):
        return "cli"
    if module.startswith("htools"):
        return "core"
    return module.split(".")[0]


def _graph(lazy: bool) -> nx.DiGraph:
    modules = _modules()
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for name, path in modules.items():
        for target, at_top in _imports(path, modules):
            if target != name and target in modules and (lazy or at_top):
                g.add_edge(name, target)
    return g


def test_imports_follow_the_layers():
    wrong = []
    for src, dst in _graph(lazy=True).edges:
        if LAYERS.index(_layer(dst)) > LAYERS.index(_layer(src)) \
                or (_layer(src) == "haskell" and _layer(dst) != "haskell"):
            if (src, dst) not in EXCEPTIONS:
                wrong.append("%s -> %s" % (src, dst))
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle_at_module_level():
    cycles = [sorted(c) for c in nx.strongly_connected_components(_graph(lazy=False))
              if len(c) > 1]
    assert not cycles, cycles


def test_function_level_cycles_are_the_known_ones():
    cycles = [set(c) for c in nx.strongly_connected_components(_graph(lazy=True))
              if len(c) > 1]
    assert all(c in LAZY_CYCLES for c in cycles), cycles


def test_the_checks_see_the_imports():
    g = _graph(lazy=True)
    assert g.has_edge("htools.cli.hbal", "cluster.execute")
    assert g.has_edge("backends.luxi", "htools.haskell.json")
    assert g.number_of_edges() > 200
