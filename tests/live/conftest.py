"""Fixtures for the tests against a real Ganeti 3.0.2 cluster (tests/harness/testbed.py).

``testbed`` (session): one cluster per test session, HTOOLS_TESTBED_NODES
nodes (default 5) with a few instances, always torn down at the end (pass,
fail, Ctrl-C; an atexit hook covers an interpreter that exits without
running the fixture's finaliser).  Skipped with the reason when the machine
cannot run it (not root, no ``ip netns``, Ganeti not installed) or when
HTOOLS_NO_TESTBED=1.

``clean_testbed`` (function): the same cluster, reset before the test to
the session's initial state (placement, node flags, tags, instances).
"""

import atexit
import os

import pytest

from tests.harness import testbed as tbmod

# name, primary, template, memory (MiB), tags.  The placement is deliberately
# unbalanced (hbal has work to do) and spread over the first nodes only.
INITIAL_INSTANCES = [
    ("inst1", "node1", "sharedfile", 1024, ("owner:alice",)),
    ("inst2", "node1", "sharedfile", 1024, ()),
    ("inst3", "node1", "diskless", 512, ()),
    ("inst4", "node1", "diskless", 1024, ("owner:bob", "tier:gold")),
    ("inst5", "node2", "sharedfile", 512, ()),
    ("inst6", "node2", "diskless", 512, ()),
]


class Session:
    """The session's testbed and what it looked like after setup."""

    def __init__(self, tb):
        self.tb = tb
        self.specs = []
        for name, node, template, mem, tags in INITIAL_INSTANCES:
            if node not in tb.nodes:
                node = tb.nodes[-1]
            self.specs.append(dict(name=name, node=node, template=template,
                                   mem=mem, tags=tags))
        self.initial_placement = {s["name"]: s["node"] for s in self.specs}
        self.initial_tags = {s["name"]: list(s["tags"]) for s in self.specs if s["tags"]}

    def restore(self):
        """Back to the initial state: extra instances removed, missing ones
        re-created, then Testbed.reset with the initial placement and tags."""
        tb = self.tb
        tb.settle()                          # daemons running, job queue idle
        present = set(tb.instances())
        for name in sorted(present - set(self.initial_placement)):
            tb.remove_instance(name)
        missing = [s for s in self.specs if s["name"] not in present]
        if missing:
            tb.add_instances(missing)
        tb.reset(placement=self.initial_placement, instance_tags=self.initial_tags)


_live = []


def _teardown_at_exit():
    while _live:
        try:
            _live.pop().down()
        except tbmod.TestbedError:
            pass


atexit.register(_teardown_at_exit)


@pytest.fixture(scope="session")
def testbed_session():
    why = tbmod.missing_requirements()
    if why:
        pytest.skip("live Ganeti testbed unavailable: " + why)
    try:
        nodes = int(os.environ.get("HTOOLS_TESTBED_NODES", "5"))
        tb = tbmod.Testbed(nodes=nodes)
    except ValueError as e:
        pytest.fail("HTOOLS_TESTBED_NODES: %s" % e, pytrace=False)
    _live.append(tb)
    try:
        try:
            tb.up()                          # tears itself down when it fails
        except tbmod.TestbedBusy as e:
            _live.remove(tb)
            pytest.skip("live Ganeti testbed unavailable: %s" % e)
        except tbmod.TestbedError as e:
            pytest.fail("could not start the Ganeti testbed: %s" % e, pytrace=False)
        session = Session(tb)
        try:
            tb.add_instances(session.specs)
        except tbmod.TestbedError as e:
            pytest.fail("could not create the testbed's instances: %s" % e, pytrace=False)
        yield session
    finally:
        if tb in _live:
            _live.remove(tb)
            tb.down()


@pytest.fixture(scope="session")
def testbed(testbed_session):
    """The session's Testbed (state as the previous test left it)."""
    return testbed_session.tb


@pytest.fixture
def clean_testbed(testbed_session):
    """The session's Testbed, reset to its initial state before the test."""
    testbed_session.restore()
    return testbed_session.tb


@pytest.fixture
def testbed_initial(testbed_session):
    """The initial state: {"placement": {...}, "tags": {...}, "specs": [...]}."""
    return {"placement": dict(testbed_session.initial_placement),
            "tags": dict(testbed_session.initial_tags),
            "specs": list(testbed_session.specs)}
