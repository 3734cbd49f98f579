"""Live MonD (``--mond=yes``, ``--mond-xen``, ``--exit-on-missing-mond-data``).

Stand-in ganeti-mond daemons (tests/harness/mond_server.py) listen on port 1815 of
addresses in 203.0.113.0/24 inside a network namespace of our own, whose
/etc/hosts (``/etc/netns/NS/hosts``, bind-mounted by ``ip netns exec``)
maps the node names of a text-format cluster to them.  The reference and
ours run inside the namespace on the same cluster and the same daemons;
stdout, stderr and exit status must be identical.  Daemons answer well,
not at all (nothing listening, name not resolvable, connection held open),
slowly, with garbage, HTTP 404/500, reports missing a field or with bad
data, and Xen per-instance maps missing an instance.

Without the reference the outputs recorded from it (tests/golden/mond-live)
are compared instead.  The namespace is created per module and always
removed; without root or ``ip netns`` the tests skip with the reason.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import refdiff
from tests.harness.refdiff import DATA, GOLDEN, REPO, ours_bin

NS = "htmond%d" % os.getpid()
NETNS_ETC = Path("/etc/netns") / NS
SUITE = GOLDEN / "mond-live"

_IPOLICY = ("|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|"
            "diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext|4.0|32.0\n"
            "group-01|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|"
            "diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext|4.0|32.0\n")

#: instance, vcpus, index of its primary node
_INSTS = ((1, 2, 0), (2, 1, 0), (3, 4, 0), (4, 1, 0), (5, 2, 0), (6, 1, 2))


def _cluster(names) -> str:
    """Four nodes (the last one offline), six ext instances, most on one
    node, so that CPU load decides the moves."""
    used = [0] * 4
    for _, _, pidx in _INSTS:
        used[pidx] += 1024
    nodes = "".join(
        "%s|32768|1024|%d|409600|409600|%d|%s|fake-uuid-01|1\n"
        % (name, 32768 - 1024 - used[i], cpus, flag) for i, (name, cpus, flag)
        in enumerate(zip(names, (8, 8, 4, 4), "MNNY")))
    insts = "".join(
        "inst-%d|1024|0|%d|running|Y|%s||ext||1\n" % (i, vcpus, names[pidx])
        for i, vcpus, pidx in _INSTS)
    return ("group-01|fake-uuid-01|preferred||\n\n" + nodes + "\n" + insts
            + "\n" + _IPOLICY)


_DROP = object()


def report(name: str, data, **changes) -> str:
    rep = {"name": name, "version": "B", "format_version": 1,
           "timestamp": 1379507272000000000, "category": None, "kind": 0,
           "data": data}
    for key, val in changes.items():
        if val is _DROP:
            del rep[key]
        else:
            rep[key] = val
    return json.dumps(rep)


def cpu(total: float, ncpu: int = 4) -> str:
    return report("cpu-avg-load", {"cpu_number": ncpu,
                                   "cpus": [total / ncpu] * ncpu,
                                   "cpu_total": total})


def ok(body: str, **extra) -> dict:
    return dict({"status": 200, "body": body}, **extra)


_SMALL = {"cpu_number": 1, "cpus": [0.1], "cpu_total": 0.1}
#: per node role: collector -> answer; None: nothing listens
GOOD = {"a": {"cpu-avg-load": ok(cpu(0.9))},
        "b": {"cpu-avg-load": ok(cpu(0.1))},
        "c": {"cpu-avg-load": ok(cpu(0.5))},
        "d": {"cpu-avg-load": ok(cpu(0.2))}}


def with_role(role: str, spec) -> dict:
    roles = dict(GOOD)
    roles[role] = None if spec is None else {"cpu-avg-load": spec}
    return roles


def xen_roles(missing=()) -> dict:
    loads = {"a": {"inst-1": 0.5, "inst-2": 0.25, "inst-3": 1.5,
                   "inst-4": 0.1, "inst-5": 0.7},
             "b": {}, "c": {"inst-6": 0.05}, "d": {}}
    return {role: {"xen-cpu-avg-load": ok(report(
        "xen-cpu-avg-load", {k: v for k, v in m.items() if k not in missing}))}
        for role, m in loads.items()}


BOTH = [("hbal", []), ("hinfo", ["-v"])]
HBAL = [("hbal", [])]
# (case id, answers per node role, runs [(tool, args)], environment,
#  role whose name is not in the hosts file)
CASES = [
    ("good", GOOD, BOTH, {}, None),
    ("offline-node-silent", with_role("d", None), HBAL, {}, None),
    ("down", with_role("b", None), BOTH, {}, None),
    ("unresolvable", GOOD, HBAL, {}, "c"),
    ("garbage", with_role("b", ok("<html>not json</html>")), BOTH, {}, None),
    ("http404", with_role("b", {"status": 404, "body": cpu(0.1)}), HBAL, {},
     None),
    ("http500", with_role("b", {"status": 500, "body": cpu(0.1)}), BOTH, {},
     None),
    ("no-timestamp", with_role("b", ok(report("cpu-avg-load", _SMALL,
                                              timestamp=_DROP))),
     HBAL, {}, None),
    ("bad-category", with_role("b", ok(report("cpu-avg-load", _SMALL,
                                              category="x"))),
     HBAL, {}, None),
    ("cpu-total-nan-string",
     with_role("b", ok(report("cpu-avg-load", dict(_SMALL, cpu_total="NaN")))),
     HBAL, {}, None),
    # the live path does not check the report's name (the file path does)
    ("other-collector-name", with_role("b", ok(report("other", _SMALL))),
     HBAL, {}, None),
    ("slow", with_role("b", ok(cpu(0.1), delay=0.7)), HBAL, {}, None),
    # held open without an answer: the reference waits until the daemon
    # gives up (2 s); ours stops at its own timeout (0.5 s here)
    ("hang", with_role("b", {"hang": 2}), HBAL,
     {"HTOOLS_MOND_TIMEOUT": "0.5"}, None),
    ("exit-on-missing-down", with_role("b", None),
     [("hbal", ["--exit-on-missing-mond-data"])], {}, None),
    ("exit-on-missing-good", GOOD,
     [("hbal", ["--exit-on-missing-mond-data"])], {}, None),
    ("ignore-dynu", with_role("b", None),
     [("hbal", ["--ignore-dynu", "--exit-on-missing-mond-data"])], {}, None),
    ("xen-good", xen_roles(), [("hbal", ["--mond-xen"])], {}, None),
    ("xen-missing-instance", xen_roles(missing=("inst-3",)),
     [("hbal", ["--mond-xen"]),
      ("hbal", ["--mond-xen", "--exit-on-missing-mond-data"])], {}, None),
    ("xen-node-down", dict(xen_roles(), c=None), [("hbal", ["--mond-xen"])],
     {}, None),
]

HAIL_REQUEST = "hail-alloc-drbd.json"
HAIL_GOOD = {"node%d" % i: {"cpu-avg-load": ok(cpu(0.2 * i))}
             for i in range(1, 5)}
HAIL_CASES = [
    ("hail-good", HAIL_GOOD),
    ("hail-node-down", dict(HAIL_GOOD, node2=None)),
]


def _layout():
    """Node names per case, their addresses, the hosts file and the
    daemons' table (one process serves every case)."""
    names, hosts, table = {}, {}, {}
    serial = iter(range(11, 251))

    def place(name, answers, resolvable=True):
        addr = "203.0.113.%d" % next(serial)
        if resolvable:
            hosts[name] = addr
        if answers is not None:
            table[addr] = answers

    for case, roles, _, _, hidden in CASES:
        tag = case
        names[case] = ["node-%s.%s.test" % (r, tag) for r in "abcd"]
        for role, name in zip("abcd", names[case]):
            place(name, roles[role], role != hidden)
    for case, roles in HAIL_CASES:
        names[case] = {old: "%s.%s.test" % (old, case) for old in roles}
        for old, new in names[case].items():
            place(new, roles[old])
    return names, hosts, table


NAMES, HOSTS, TABLE = _layout()


# ---------------------------------------------------------------- fixture

def _skip_reason():
    if os.geteuid() != 0:
        return "live MonD tests need root (network namespace)"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True)
    if probe.returncode != 0:
        return "ip netns is not available: " + probe.stderr.decode().strip()
    return None


def _remove_stale_namespaces():
    """Namespaces left by an earlier run of these tests killed outright
    (named after a process that no longer exists)."""
    import re
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True,
                             text=True, timeout=30).stdout
    for line in listing.splitlines():
        m = re.match(r"(htmond(\d+))\b", line)
        if not m or m.group(1) == NS:
            continue
        try:
            os.kill(int(m.group(2)), 0)
            continue                      # its test run is still going
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        subprocess.run(["ip", "netns", "del", m.group(1)], capture_output=True,
                       timeout=30)
        shutil.rmtree(Path("/etc/netns") / m.group(1), ignore_errors=True)


def _ip(*args):
    subprocess.run(["ip"] + list(args), check=True, capture_output=True,
                   timeout=30)


@pytest.fixture(scope="module")
def netns(tmp_path_factory):
    """The namespace with every address, the hosts file and the daemons."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    daemons = None
    _remove_stale_namespaces()
    try:
        try:
            _ip("netns", "add", NS)
            NETNS_ETC.mkdir(parents=True, exist_ok=True)
            (NETNS_ETC / "hosts").write_text(
                "127.0.0.1 localhost\n"
                + "".join("%s %s\n" % (addr, name)
                          for name, addr in HOSTS.items()))
            _ip("-n", NS, "link", "set", "lo", "up")
            addrs = sorted(set(HOSTS.values()) | set(TABLE))
            batch = "".join("addr add %s/32 dev lo\n" % a for a in addrs)
            subprocess.run(["ip", "-n", NS, "-batch", "-"], input=batch.encode(),
                           check=True, capture_output=True, timeout=30)
        except (subprocess.CalledProcessError, OSError) as err:
            pytest.skip("cannot set up network namespace %s: %s" % (NS, err))
        daemons = Daemons(NS, TABLE, tmp_path_factory.mktemp("mond"))
        yield NS
    finally:
        if daemons is not None:
            daemons.stop()
        _teardown()


def _teardown():
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, timeout=30)
    shutil.rmtree(NETNS_ETC, ignore_errors=True)


class Daemons:
    """tests/harness/mond_server.py inside the namespace."""

    def __init__(self, ns: str, config: dict, tmp: Path):
        cfg = tmp / "mond.json"
        cfg.write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable,
             str(REPO / "tests" / "harness" / "mond_server.py"), str(cfg),
             "--lifetime", "600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError("stand-in MonD failed: " + self.proc.stderr.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def _run_in(ns: str, binary: str, args, env_extra=None, cwd=None) -> dict:
    env = dict(os.environ)
    env.pop("HTOOLS_MOND_TIMEOUT", None)
    env.update(env_extra or {})
    start = time.monotonic()
    proc = subprocess.run(["ip", "netns", "exec", ns, binary] + list(args),
                          capture_output=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL, cwd=cwd)
    return {"stdout": proc.stdout.decode("utf-8", "replace"),
            "stderr": proc.stderr.decode("utf-8", "replace"),
            "status": proc.returncode,
            "seconds": time.monotonic() - start}


def _expected(case: str, ns: str, tool: str, args, env_extra, cwd) -> dict:
    def run_reference(ref):
        res = _run_in(ns, ref, args, env_extra, cwd)
        res.pop("seconds")
        return res
    digest = hashlib.sha1(" ".join(args).encode()).hexdigest()[:8]
    return refdiff.reference_result("mond-live", tool, args, run_reference,
                                    name="%s-%s-%s" % (case, tool, digest))


def _check(case, ns, tool, args, env_extra, cwd) -> dict:
    exp = _expected(case, ns, tool, args, env_extra, cwd)
    got = _run_in(ns, ours_bin(tool), args, env_extra, cwd)
    assert got["stdout"] == exp["stdout"]
    assert got["stderr"] == exp["stderr"]
    assert got["status"] == exp["status"]
    return got


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("case,runs,env_extra",
                         [(c[0], c[2], c[3]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_mond_live(netns, tmp_path, case, runs, env_extra):
    (tmp_path / "cluster.data").write_text(_cluster(NAMES[case]))
    for tool, extra in runs:
        # a relative data file: its path stays out of the recorded outputs
        args = ["-t", "cluster.data", "--mond=yes"] + extra
        got = _check(case, netns, tool, args, env_extra, str(tmp_path))
        if case == "hang":
            assert got["seconds"] < 2.0, "our MonD timeout was not applied"


@pytest.mark.parametrize("case", [c[0] for c in HAIL_CASES])
def test_mond_live_hail(netns, tmp_path, case):
    """hail reads MonD when the request is its only data source."""
    src = DATA / HAIL_REQUEST
    if not src.exists():
        pytest.skip("Ganeti test data not available")
    text = src.read_text()
    for old, new in NAMES[case].items():
        text = text.replace('"%s"' % old, '"%s"' % new)
    (tmp_path / HAIL_REQUEST).write_text(text)
    _check(case, netns, "hail", ["--mond=yes", HAIL_REQUEST], {},
           str(tmp_path))


def test_mond_live_answers_reach_the_result(netns, tmp_path):
    """The daemons' answers change the result (guards the fixture itself)."""
    outs = {}
    for case in ("good", "down"):
        (tmp_path / "cluster.data").write_text(_cluster(NAMES[case]))
        outs[case] = _run_in(netns, ours_bin("hinfo"),
                             ["-v", "-t", "cluster.data", "--mond=yes"],
                             cwd=str(tmp_path))
    assert outs["good"]["stderr"] == ""
    assert ("Failed to contact node's %s MonD for DC cpu-avg-load"
            % NAMES["down"][1]) in outs["down"]["stderr"]
    assert outs["good"]["stdout"].replace("good.test", "") != \
        outs["down"]["stdout"].replace("down.test", "")
