"""The README's layout section lists every source module, and only those."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("htools", "backends", "cluster", "simulate")


def _listed():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    listed, folder = set(), None
    for line in block.splitlines():
        m = re.match(r"(\S+/)\s", line + " ")
        if m:
            folder = m.group(1)
            continue
        names = re.findall(r"\b([\w]+\.(?:py|pyx|pxi|pxd))\b", line.split("  ", 2)[1]
                           if line.startswith("  ") else "")
        for name in names:
            listed.add(folder + name)
    return listed


def _tree():
    found = set()
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*"):
            if p.suffix in (".py", ".pyx", ".pxi", ".pxd") and p.name != "__init__.py" \
                    and p.name != "__main__.py":
                found.add(p.relative_to(ROOT).as_posix())
    return found


def test_readme_layout_matches_the_tree():
    listed, tree = _listed(), _tree()
    assert listed - tree == set(), "listed but missing: %s" % sorted(listed - tree)
    assert tree - listed == set(), "not in the README's layout: %s" % sorted(tree - listed)
