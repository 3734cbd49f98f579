"""Fixtures shared by the test tree.

- ``tests/unit``: one module of ours at a time;
- ``tests/core``: the compiled core against the pure-Python specification;
- ``tests/diff``: each tool against the reference htools (live when
  installed, else the golden outputs in ``tests/golden``), through
  :mod:`tests.harness.refdiff`;
- ``tests/live``: the tools on a real Ganeti cluster (``tests/harness/testbed.py``).

Helpers that tests import (runners, fixtures' servers, the testbed) live in
``tests/harness``.
"""
import pytest


@pytest.fixture(scope="module")
def cluster_dir(tmp_path_factory, request):
    """A directory for the generated clusters of one test module."""
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
