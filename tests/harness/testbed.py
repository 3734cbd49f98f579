"""A real Ganeti 3.0.2 cluster on this machine, for the live tests.

Everything runs as root inside one network namespace (default ``htpytb``)
that has no link to the outside: a veth pair with both ends inside carries
the node addresses (``<net>.11`` ... ``<net>.19``) and the cluster address
(``<net>.1``), and a bridge serves as the default NIC link.  On the host a
blackhole route for ``<net>.0/24`` makes sure that a Ganeti command started
outside the namespace by mistake cannot reach anything.

The nodes are Ganeti "virtual cluster" nodes: each has its own root
(``<root>/vc/nodeN``, given to every Ganeti program through
``GANETI_ROOTDIR``/``GANETI_HOSTNAME``) with its own configuration, state,
sockets and daemons, bound to its own address.  ``ip netns exec`` overlays
``/etc/netns/<netns>/{hosts,resolv.conf,ssh}`` on ``/etc`` for the processes
in the namespace only, which gives the nodes and instances names and gives
``gnt-node add`` an sshd with a key pair of its own.  File and sharedfile
disks live on a private tmpfs (``<root>/vc/storage``) shared by all nodes,
so sharedfile and diskless instances can migrate; the hypervisor is
Ganeti's ``fake`` one.

The Luxi socket of the master (``Testbed.socket``) is a plain Unix socket
that the host can use directly.  RAPI (port 5080 on the cluster address)
and each node's MonD (port 1815 on the node address) are reachable only
inside the namespace: run a program there with ``Testbed.in_netns``.

Command line (as root)::

    python -m tests.harness.testbed up [NODES]   # start (tears an old one down first)
    python -m tests.harness.testbed down
    python -m tests.harness.testbed status
    python -m tests.harness.testbed gnt [nodeN] gnt-node list
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket as _socket
import subprocess
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

GANETI_LIB = "/usr/lib/ganeti"
DAEMON_UTIL = GANETI_LIB + "/daemon-util"
ENSURE_DIRS = GANETI_LIB + "/ensure-dirs"
NODE_DAEMON_SETUP = GANETI_LIB + "/node-daemon-setup"
NOOP_OS_DIR = "/usr/share/ganeti/os/noop"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LUXI_VERSION = 3000000
MAX_NODES = 9
MAX_INSTANCE_NAMES = 50          # inst1 .. inst50 resolve inside the netns
CLUSTER_NAME = "cluster"
RAPI_USER = "htpytb"
RAPI_PASSWORD = "htpytb-rapi"
BRIDGE = "htpybr0"
DEV = "htpy0"
STORAGE_SIZE = "100g"            # a cap only: disk files are sparse
IPOLICY = ("min:disk-size=0,cpu-count=1,disk-count=0,memory-size=1,"
           "nic-count=0,spindle-use=0/max:disk-size=1048576,cpu-count=8,"
           "disk-count=16,memory-size=32768,nic-count=8,spindle-use=12")
MASTER_DAEMONS = ("ganeti-wconfd", "ganeti-luxid", "ganeti-rapi")
NODE_DAEMONS = ("ganeti-noded", "ganeti-confd", "ganeti-mond")
JOB_ACTIVE = ("queued", "waiting", "running", "canceling")
JOB_FINAL = ("success", "error", "canceled")


class TestbedError(Exception):
    """Setting up or driving the testbed failed (message says why)."""


class TestbedBusy(TestbedError):
    """Another live process owns the testbed (its lock is held)."""


def missing_requirements() -> Optional[str]:
    """Why a testbed cannot run here, or None when it can."""
    if os.environ.get("HTOOLS_NO_TESTBED") == "1":
        return "HTOOLS_NO_TESTBED=1 is set"
    if os.geteuid() != 0:
        return "the Ganeti testbed needs root (network namespaces, mounts)"
    if shutil.which("ip") is None:
        return "iproute2 ('ip') is not installed"
    try:
        r = subprocess.run(["ip", "netns", "list"], capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "'ip netns' is unavailable: %s" % e
    if r.returncode != 0:
        return "'ip netns' is unavailable: %s" % r.stderr.strip()
    for what, path in (("gnt-cluster", shutil.which("gnt-cluster", path=PATH)),
                       ("daemon-util", DAEMON_UTIL),
                       ("ensure-dirs", ENSURE_DIRS),
                       ("node-daemon-setup", NODE_DAEMON_SETUP)):
        if not path or not os.access(path, os.X_OK):
            return ("the Ganeti 3.0 package is not installed (%s missing); "
                    "install the Debian package 'ganeti'" % what)
    if not os.path.isdir(NOOP_OS_DIR):
        return "the noop OS is not installed (package 'ganeti-os-noop')"
    for tool in ("sshd", "ssh", "ssh-keygen"):
        if shutil.which(tool, path=PATH) is None:
            return "%s is not installed (openssh-server/openssh-client)" % tool
    return None


def _run(argv: Sequence[str], *, timeout: float = 60, check: bool = True,
         input: Optional[str] = None, env=None) -> subprocess.CompletedProcess:
    """Run a command with a timeout, text output captured."""
    try:
        r = subprocess.run(list(argv), capture_output=True, text=True,
                           timeout=timeout, input=input, env=env,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise TestbedError("timed out after %ss: %s" % (timeout, " ".join(argv))) from e
    if check and r.returncode != 0:
        raise TestbedError("%s failed (exit %d): %s" % (
            " ".join(argv), r.returncode, (r.stderr or r.stdout).strip()[-2000:]))
    return r


# --- a small Luxi client (independent of the project's own backends.luxi) ---

class LuxiFailure(TestbedError):
    """The master answered success: false."""


def luxi_call(path: str, method: str, args, timeout: float = 60):
    """One Luxi request on a fresh connection; returns the result."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(json.dumps({"method": method, "args": args,
                              "version": LUXI_VERSION}).encode() + b"\x03")
        buf = b""
        while not buf.endswith(b"\x03"):
            chunk = s.recv(65536)
            if not chunk:
                raise TestbedError("Luxi %s: connection closed mid-reply" % method)
            buf += chunk
    except OSError as e:
        raise TestbedError("Luxi %s on %s: %s" % (method, path, e)) from e
    finally:
        s.close()
    reply = json.loads(buf[:-1].decode())
    if not reply.get("success"):
        raise LuxiFailure("Luxi %s failed: %s" % (method, reply.get("result")))
    return reply["result"]


def _rows(result) -> List[list]:
    """Values of a Luxi Query result (status markers dropped)."""
    return [[v for (_st, v) in row] for row in result["data"]]


class Testbed:
    """A virtual Ganeti cluster of ``nodes`` nodes in network namespace ``netns``."""

    def __init__(self, nodes: int = 5, root: str = "/tmp/htools-py-testbed",
                 netns: str = "htpytb", net: str = "203.0.113"):
        if not 1 <= nodes <= MAX_NODES:
            raise ValueError("nodes must be 1..%d" % MAX_NODES)
        self.nnodes = nodes
        self.root = root
        self.netns = netns
        self.net = net
        self.vc = os.path.join(root, "vc")
        self.storage = os.path.join(self.vc, "storage")
        self.rundir = os.path.join(root, "run")
        self.nsetc = "/etc/netns/" + netns
        self.nodes = ["node%d" % i for i in range(1, nodes + 1)]
        self.master = "node1"
        self.cluster_ip = net + ".1"
        self.rapi_user = RAPI_USER
        self.rapi_password = RAPI_PASSWORD
        self.timings: Dict[str, float] = {}
        self._ensure_dirs: Dict[str, subprocess.Popen] = {}
        self.lockfile = root.rstrip("/") + ".lock"
        self._lock_fd: Optional[int] = None

    # --- paths and addresses ---
    @property
    def socket(self) -> str:
        return self.node_root(self.master) + "/var/run/ganeti/socket/ganeti-query"

    def node_root(self, node: str) -> str:
        return os.path.join(self.vc, node)

    def node_ip(self, node: str) -> str:
        return "%s.%d" % (self.net, 10 + int(node[len("node"):]))

    def instance_ip(self, index: int) -> str:
        return "%s.%d" % (self.net, 100 + index)

    @property
    def rapi_url(self) -> str:
        return "https://%s:5080" % self.cluster_ip

    def mond_url(self, node: str) -> str:
        return "http://%s:1815" % self.node_ip(node)

    # --- running things in the namespace ---
    def env(self, node: str = "node1") -> Dict[str, str]:
        return {"GANETI_ROOTDIR": self.node_root(node), "GANETI_HOSTNAME": node,
                "PATH": PATH}

    def in_netns(self, argv: Sequence[str], node: str = "node1") -> List[str]:
        """``argv`` prefixed to run inside the netns as virtual node ``node``."""
        return (["ip", "netns", "exec", self.netns, "env"] +
                ["%s=%s" % kv for kv in self.env(node).items()] + list(argv))

    def run(self, argv: Sequence[str], node: str = "node1", check: bool = True,
            timeout: float = 120, input: Optional[str] = None):
        return _run(self.in_netns(argv, node), check=check, timeout=timeout,
                    input=input)

    def gnt(self, *argv: str, node: str = "node1", check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
        """A gnt-* command (``gnt("gnt-node", "list")``) run as ``node``."""
        return self.run(argv, node=node, check=check, timeout=timeout)

    # --- Luxi ---
    def luxi(self, method: str, *args, timeout: float = 60):
        return luxi_call(self.socket, method, list(args), timeout=timeout)

    def query(self, what: str, fields: Sequence[str], qfilter=None) -> List[list]:
        return _rows(self.luxi("Query", what, list(fields), qfilter))

    def exists(self) -> bool:
        r = _run(["ip", "netns", "list"], timeout=10, check=False)
        return any(line.split()[:1] == [self.netns] for line in r.stdout.splitlines())

    # --- jobs ---
    def submit(self, *ops: dict) -> int:
        """Submit one job made of ``ops``; returns its id."""
        return int(self.luxi("SubmitJob", [_op(o) for o in ops]))

    def submit_many(self, jobs: Sequence[Sequence[dict]]) -> List[int]:
        if not jobs:
            return []
        res = self.luxi("SubmitManyJobs", [[_op(o) for o in ops] for ops in jobs])
        ids = []
        for ok, val in res:
            if not ok:
                raise TestbedError("job submission refused: %s" % (val,))
            ids.append(int(val))
        return ids

    def hold_node_locks(self, nodes: Sequence[str], timeout: float = 60) -> "NodeLocks":
        """A job holding the locks of ``nodes`` until released.

        An interruptible OpTestDelay: its job process listens on a Unix
        socket named in the job log ("delay-test" entry); one byte sent
        there ends the delay.  Returns once the job holds the locks.
        """
        jid = self.submit({"OP_ID": "OP_TEST_DELAY", "duration": 900.0,
                           "on_master": False, "on_nodes": list(nodes),
                           "interruptible": True})
        deadline = time.monotonic() + timeout
        while True:
            row = self.luxi("QueryJobs", [jid], ["status", "oplog"])[0]
            for entry in (row[1] or [[]])[0] if row else []:
                if entry[2] == "delay-test":
                    return NodeLocks(self, jid, entry[3][0])
            if row is None or row[0] in JOB_FINAL or time.monotonic() > deadline:
                raise TestbedError("lock job %d did not start: %s" % (jid, row))
            time.sleep(0.1)

    def wait_jobs(self, ids: Sequence[int], timeout: float = 300,
                  check: bool = True) -> Dict[int, Tuple[str, object]]:
        """Wait until every job is final; returns id -> (status, opresult)."""
        pending = list(ids)
        done: Dict[int, Tuple[str, object]] = {}
        deadline = time.monotonic() + timeout
        delay = 0.05
        while pending:
            res = self.luxi("QueryJobs", pending, ["id", "status", "opresult"])
            still = []
            for jid, row in zip(pending, res):
                if row is None:            # archived: it had finished
                    done[jid] = ("success", None)
                elif row[1] in JOB_FINAL:
                    done[jid] = (row[1], row[2])
                else:
                    still.append(jid)
            pending = still
            if pending:
                if time.monotonic() > deadline:
                    raise TestbedError("jobs %s still not finished after %ss"
                                       % (pending, timeout))
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
        if check:
            bad = {j: v for j, v in done.items() if v[0] != "success"}
            if bad:
                raise TestbedError("job(s) failed: " + "; ".join(
                    "%d %s %s" % (j, st, _short(res)) for j, (st, res) in sorted(bad.items())))
        return done

    def run_jobs(self, jobs: Sequence[Sequence[dict]], timeout: float = 300,
                 check: bool = True):
        return self.wait_jobs(self.submit_many(jobs), timeout=timeout, check=check)

    def active_jobs(self) -> List[Tuple[int, str]]:
        return [(int(j), st) for j, st in self.query("job", ["id", "status"])
                if st in JOB_ACTIVE]

    def wait_idle(self, timeout: float = 120) -> None:
        """Wait until no job is queued, waiting, running or being cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            active = self.active_jobs()
            if not active:
                return
            if time.monotonic() > deadline:
                raise TestbedError("job queue not idle after %ss: %s" % (timeout, active))
            time.sleep(0.1)

    # --- bringing the cluster up ---
    def up(self) -> None:
        """Start the cluster; a testbed of ours left behind is removed first."""
        why = missing_requirements()
        if why:
            raise TestbedError(why)
        self._lock()
        try:
            self._check_net_free()
        except BaseException:
            self._unlock()
            raise
        t0 = time.monotonic()
        try:
            if self.exists() or os.path.exists(self.root) or os.path.exists(self.nsetc):
                self._down()                 # left behind by a dead owner
            self._phase("netns", self._setup_netns)
            self._phase("storage", self._setup_storage)
            self._phase("etc+sshd", self._setup_etc)
            self._phase("node dirs", self._setup_node_dirs)
            self._phase("cluster init", self._init_cluster)
            self._phase("node add", self._add_nodes)
        except BaseException:
            self.down()
            raise
        self.timings["up"] = time.monotonic() - t0

    def _phase(self, name, fn):
        t = time.monotonic()
        fn()
        self.timings[name] = time.monotonic() - t

    def _check_net_free(self) -> None:
        """Refuse an address range the host itself uses (its routes would break)."""
        prefix = self.net + "."
        r = _run(["ip", "-o", "addr", "show"], timeout=10)
        for line in r.stdout.splitlines():
            if " " + prefix in line:
                raise TestbedError("%s.0/24 is in use on this host (%s); "
                                   "choose another net" % (self.net, line.split()[1]))
        r = _run(["ip", "route", "show"], timeout=10)
        for line in r.stdout.splitlines():
            dst = line.split()[0] if line.split() else ""
            if dst.startswith(prefix) and not line.startswith("blackhole"):
                raise TestbedError("%s.0/24 is routed on this host (%s); "
                                   "choose another net" % (self.net, line))

    def _setup_netns(self) -> None:
        _run(["ip", "netns", "add", self.netns], timeout=20)
        # anything addressed to our /24 from outside the netns is dropped here
        _run(["ip", "route", "replace", "blackhole", self.net + ".0/24"], timeout=10)
        cmds = ["link set lo up",
                "link add %s type veth peer name %sp" % (DEV, DEV),
                "link set %s up" % DEV, "link set %sp up" % DEV,
                "link add %s type bridge" % BRIDGE, "link set %s up" % BRIDGE]
        cmds += ["addr add %s/24 dev %s" % (self.node_ip(n), DEV) for n in self.nodes]
        _run(["ip", "-n", self.netns, "-batch", "-"], input="\n".join(cmds) + "\n",
             timeout=20)

    def _setup_storage(self) -> None:
        # before any process enters the netns: each 'ip netns exec' gets a
        # mount namespace of its own
        os.makedirs(self.storage, exist_ok=True)
        _run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=755" % STORAGE_SIZE,
              "htpytb-storage", self.storage], timeout=20)
        for d in ("file", "shared"):
            os.makedirs(os.path.join(self.storage, d), exist_ok=True)

    def _setup_etc(self) -> None:
        ssh = os.path.join(self.nsetc, "ssh")
        os.makedirs(ssh, exist_ok=True)
        os.makedirs(self.rundir, exist_ok=True)
        os.makedirs("/run/sshd", exist_ok=True)
        hosts = ["127.0.0.1 localhost", "%s %s" % (self.cluster_ip, CLUSTER_NAME)]
        hosts += ["%s node%d" % (self.node_ip("node%d" % i), i)
                  for i in range(1, MAX_NODES + 1)]
        hosts += ["%s inst%d" % (self.instance_ip(i), i)
                  for i in range(1, MAX_INSTANCE_NAMES + 1)]
        _write(os.path.join(self.nsetc, "hosts"), "\n".join(hosts) + "\n")
        _write(os.path.join(self.nsetc, "resolv.conf"), "nameserver 127.0.0.1\n")
        # gnt-cluster init wants an RSA (or DSA) host key in /etc/ssh
        keygens = [subprocess.Popen(["ssh-keygen", "-q", "-t", kind, "-N", "",
                                     "-f", os.path.join(ssh, name)] + extra,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
                   for kind, name, extra in (
                       ("rsa", "ssh_host_rsa_key", ["-b", "2048"]),
                       ("ed25519", "ssh_host_ed25519_key", []),
                       ("ed25519", "root_id_ed25519", []))]
        for p in keygens:
            if p.wait(timeout=30) != 0:
                raise TestbedError("ssh-keygen failed")
        shutil.copy(os.path.join(ssh, "root_id_ed25519.pub"),
                    os.path.join(ssh, "root_authorized_keys"))
        _write(os.path.join(ssh, "sshd_config"), "\n".join([
            "Port 22", "ListenAddress 0.0.0.0",
            "HostKey /etc/ssh/ssh_host_rsa_key",
            "HostKey /etc/ssh/ssh_host_ed25519_key",
            "PermitRootLogin prohibit-password", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "UsePAM no", "StrictModes no",
            "AuthorizedKeysFile /etc/ssh/root_authorized_keys",
            "PidFile %s/sshd.pid" % self.rundir,
            "Subsystem sftp /usr/lib/openssh/sftp-server", ""]))
        _write(os.path.join(ssh, "ssh_config"), "\n".join([
            "Host *", "  IdentityFile /etc/ssh/root_id_ed25519",
            "  UserKnownHostsFile /dev/null", "  StrictHostKeyChecking no",
            "  LogLevel ERROR", ""]))
        _run(["ip", "netns", "exec", self.netns, "/usr/sbin/sshd",
              "-f", "/etc/ssh/sshd_config"], timeout=20)

    def _setup_node_dirs(self) -> None:
        """Each virtual node's root; ensure-dirs runs in the background
        (node1's is awaited before gnt-cluster init, the others' before
        the nodes join)."""
        self._ensure_dirs = {}
        for node in self.nodes:
            nr = self.node_root(node)
            for d in ("etc/default", "etc/ganeti", "var/lock", "var/lib/ganeti",
                      "var/log/ganeti", "var/run/ganeti"):
                os.makedirs(os.path.join(nr, d), exist_ok=True)
            ip = self.node_ip(node)
            _write(os.path.join(nr, "etc/default/ganeti"), "\n".join([
                "NODED_ARGS='--no-mlock -b %s'" % ip, "RAPI_ARGS=''",
                "CONFD_ARGS='-b %s'" % ip, "MOND_ARGS='-b %s'" % ip,
                "WCONFD_ARGS=''", "LUXID_ARGS=''", "KVMD_ARGS=''",
                "export GANETI_ROOTDIR='%s'" % nr, "export GANETI_HOSTNAME='%s'" % node,
                ""]))
            _write(os.path.join(nr, "etc/ganeti/file-storage-paths"),
                   "%s/file\n%s/shared\n" % (self.storage, self.storage))
            env = dict(os.environ, GANETI_ROOTDIR=nr, GANETI_HOSTNAME=node)
            self._ensure_dirs[node] = subprocess.Popen(
                [ENSURE_DIRS], env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def _wait_ensure_dirs(self, nodes) -> None:
        _wait_all([self._ensure_dirs.pop(n) for n in nodes if n in self._ensure_dirs],
                  "ensure-dirs", 60)

    def _init_cluster(self) -> None:
        self._wait_ensure_dirs([self.master])
        # init first makes sure nobody answers on the cluster address; an
        # unreachable route makes that check fail at once instead of after
        # ARP's 3 s (the address, once local, takes precedence over it)
        unreach = ["ip", "-n", self.netns, "route", "replace", "unreachable",
                   self.cluster_ip + "/32"]
        _run(unreach, timeout=10)
        self.gnt("gnt-cluster", "init", "--no-etc-hosts", "--no-ssh-init",
                 "--master-netdev=" + DEV, "--enabled-hypervisors=fake",
                 "--nic-parameters=mode=bridged,link=" + BRIDGE,
                 "--enabled-disk-templates=file,sharedfile,diskless",
                 "--file-storage-dir=%s/file" % self.storage,
                 "--shared-file-storage-dir=%s/shared" % self.storage,
                 "--ipolicy-bounds-specs=" + IPOLICY, CLUSTER_NAME, timeout=180)
        unreach[4] = "del"
        _run(unreach, timeout=10, check=False)
        users = self.node_root(self.master) + "/var/lib/ganeti/rapi/users"
        _write(users, "%s %s write\n" % (RAPI_USER, RAPI_PASSWORD))
        os.chmod(users, 0o640)
        _run(["chown", "gnt-rapi:gnt-masterd", users], timeout=10, check=False)
        # RAPI started with the cluster, before its users file existed
        self.run([DAEMON_UTIL, "stop", "ganeti-rapi"], timeout=60, check=False)
        self.run([DAEMON_UTIL, "start", "ganeti-rapi"], timeout=60, check=False)
        self._wait_luxi()

    def _add_nodes(self) -> None:
        """Join nodes 2..N: what 'gnt-node add' does, for all nodes at once.

        gnt-node add ssh'es to the new node to feed node-daemon-setup (which
        writes the certificates and ssconf and starts noded and mond), then
        submits OpNodeAdd.  Here node-daemon-setup runs directly as each
        virtual node, all nodes in parallel, followed by the rest of their
        daemons; the OpNodeAdd jobs then go to the master in one submission
        (they serialise on the cluster lock), and the nodes' remaining
        daemons are started once they are members.
        """
        new = self.nodes[1:]
        if not new:
            return
        self._wait_ensure_dirs(new)
        t = time.monotonic()
        procs = []
        for node in new:
            data = json.dumps(self._node_setup_data(node))
            p = subprocess.Popen(self.in_netns([NODE_DAEMON_SETUP], node),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
            p.stdin.write(data.encode())
            p.stdin.close()
            p.stdin = None
            procs.append(p)
        _wait_all(procs, "node-daemon-setup", 120)
        self._wait_ports([(self.node_ip(n), 1811) for n in new])
        self.timings["node setup"] = time.monotonic() - t
        t = time.monotonic()
        self.run_jobs([[{"OP_ID": "OP_NODE_ADD", "node_name": node, "readd": False,
                         "node_setup": False, "disk_state": {}, "hv_state": {}}]
                       for node in new], timeout=60 + 30 * len(new))
        self.timings["node add jobs"] = time.monotonic() - t
        t = time.monotonic()
        # confd needs the files OpNodeAdd distributed (noded and mond run
        # already; wconfd, luxid and rapi run on the master only)
        _wait_all([subprocess.Popen(self.in_netns([DAEMON_UTIL, "start", "ganeti-confd"], node),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT) for node in new],
                  "daemon-util start ganeti-confd", 120)
        self.timings["node confd"] = time.monotonic() - t

    def _node_setup_data(self, node: str) -> dict:
        """node-daemon-setup's input, as gnt-node add builds it on the master."""
        lib = self.node_root(self.master) + "/var/lib/ganeti"
        ssconf = {}
        for fn in os.listdir(lib):
            if fn.startswith("ssconf_"):
                with open(os.path.join(lib, fn)) as f:
                    ssconf[fn[len("ssconf_"):]] = f.read().rstrip("\n")
        with open(lib + "/server.pem") as f:
            cert = f.read()
        with open(lib + "/hmac.key") as f:
            hmac = f.read()
        return {"cluster_name": CLUSTER_NAME, "node_daemon_certificate": cert,
                "hmac_key": hmac, "ssconf": ssconf, "start_node_daemon": True,
                "node_name": node}

    def _wait_ports(self, addrs, timeout: float = 60) -> None:
        """Until every (ip, port) accepts TCP connections inside the netns."""
        checks = " && ".join("(exec 2>/dev/null; : </dev/tcp/%s/%d)" % a for a in addrs)
        script = "for i in $(seq %d); do if %s; then exit 0; fi; sleep 0.1; done; exit 1" % (
            int(timeout * 10), checks)
        r = _run(["ip", "netns", "exec", self.netns, "bash", "-c", script],
                 timeout=timeout + 30, check=False)
        if r.returncode != 0:
            raise TestbedError("daemons not listening after %ss: %s" % (timeout, addrs))

    def _wait_luxi(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.luxi("QueryClusterInfo", timeout=10)
                return
            except TestbedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    # --- tearing down ---
    # --- ownership: one testbed per machine, one owner at a time ---
    def _lock(self) -> None:
        """Become the testbed's owner, or raise TestbedBusy naming the owner.

        The lock (an flock on ``<root>.lock``) is held from up() to the end
        of down(); a testbed whose owner died is free to be torn down."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.lockfile, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise TestbedBusy("the testbed (netns %s) is in use by another process "
                              "(pid %s); wait for it to finish" % (self.netns, owner or "?"))
        os.ftruncate(fd, 0)
        os.pwrite(fd, ("%d\n" % os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)
            self._lock_fd = None

    def down(self, force: bool = False) -> None:
        """Stop every process of the netns, unmount, remove all state.

        Always completes for the owner (the process that ran up()) and for
        a testbed left behind by a dead owner; a testbed owned by another
        live process raises TestbedBusy unless ``force``."""
        try:
            self._lock()
        except TestbedBusy:
            if not force:
                raise
        try:
            self._down()
        finally:
            self._unlock()

    def _down(self) -> None:
        errors = []
        try:
            if self.exists():
                self._kill_netns_processes()
                _run(["ip", "netns", "del", self.netns], timeout=20, check=False)
        except Exception as e:             # keep going: the rest must go too
            errors.append(str(e))
        bh = _run(["ip", "route", "show", "type", "blackhole"], timeout=10, check=False)
        if any(line.split()[1:2] == [self.net + ".0/24"] for line in bh.stdout.splitlines()):
            _run(["ip", "route", "del", "blackhole", self.net + ".0/24"],
                 timeout=10, check=False)
        for _ in range(3):
            r = _run(["mountpoint", "-q", self.storage], timeout=10, check=False)
            if r.returncode != 0:
                break
            if _run(["umount", self.storage], timeout=20, check=False).returncode != 0:
                _run(["umount", "-l", self.storage], timeout=20, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.nsetc, ignore_errors=True)
        if errors:
            print("testbed down: " + "; ".join(errors), file=sys.stderr)

    def netns_pids(self) -> List[int]:
        r = _run(["ip", "netns", "pids", self.netns], timeout=10, check=False)
        return [int(p) for p in r.stdout.split() if p.isdigit()]

    def _kill_netns_processes(self) -> None:
        # every process in our namespace was started by us (daemons of all
        # virtual nodes, sshd, gnt-* clients)
        pids = self.netns_pids()
        _signal(pids, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            time.sleep(0.1)
            pids = self.netns_pids()
        for _ in range(5):
            if not pids:
                break
            _signal(pids, signal.SIGKILL)
            time.sleep(0.2)
            pids = self.netns_pids()

    # --- status ---
    def status(self) -> str:
        if not self.exists():
            return "no testbed (netns %s does not exist)" % self.netns
        out = ["netns %s, master socket %s" % (self.netns, self.socket)]
        pids = self.netns_pids()
        if pids:
            r = _run(["ps", "-o", "pid,args", "-p", ",".join(map(str, pids))],
                     timeout=10, check=False)
            out.append(r.stdout.rstrip())
        try:
            out.append(self.gnt("gnt-node", "list", timeout=60).stdout.rstrip())
            out.append(self.gnt("gnt-instance", "list", "-o",
                                "name,pnode,snodes,disk_template,status,be/maxmem",
                                timeout=60).stdout.rstrip())
        except TestbedError as e:
            out.append(str(e))
        return "\n".join(out)

    # --- daemons ---
    def daemon_pids(self, node: str) -> Dict[str, Optional[int]]:
        """Daemon -> pid (None when its pid file is missing or stale)."""
        rund = self.node_root(node) + "/var/run/ganeti"
        names = NODE_DAEMONS + (MASTER_DAEMONS if node == self.master else ())
        res: Dict[str, Optional[int]] = {}
        for name in names:
            try:
                with open("%s/%s.pid" % (rund, name)) as f:
                    pid = int(f.read().strip())
                os.kill(pid, 0)
                res[name] = pid
            except (OSError, ValueError):
                res[name] = None
        return res

    def daemons_running(self, node: str) -> bool:
        return all(self.daemon_pids(node).values())

    def stop_node_daemons(self, node: str) -> None:
        """A node outage: all daemons of ``node`` stopped (daemon-util stop-all)."""
        self.run([DAEMON_UTIL, "stop-all"], node=node, timeout=120, check=False)
        left = [p for p in self.daemon_pids(node).values() if p]
        if left:
            raise TestbedError("daemons of %s still running: %s" % (node, left))

    def start_node_daemons(self, node: str) -> None:
        self.run([DAEMON_UTIL, "start-all"], node=node, timeout=120, check=False)
        if node == self.master:
            self._wait_luxi()
        self._wait_node_alive(node)

    def restart_master_daemons(self) -> None:
        """wconfd, luxid and rapi of the master stopped and started again."""
        self.run([DAEMON_UTIL, "stop-master"], timeout=120, check=False)
        self.run([DAEMON_UTIL, "start-master"], timeout=120)
        self._wait_luxi()

    def _wait_node_alive(self, node: str, timeout: float = 60) -> None:
        """Until the master gets live data from ``node`` (noded answering)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                rows = self.luxi("Query", "node", ["name", "mtotal"],
                                 ["=", "name", node])["data"]
                if rows and rows[0][1][0] == 0:      # RS_NORMAL
                    return
            except TestbedError:
                pass
            if time.monotonic() > deadline:
                raise TestbedError("node %s not answering after %ss" % (node, timeout))
            time.sleep(0.2)

    # --- instances ---
    def instance_op(self, name: str, node: str, template: str = "diskless",
                    mem: int = 1024, vcpus: int = 1, disk_mb: int = 64,
                    tags: Iterable[str] = (), start: bool = True) -> dict:
        """The OpInstanceCreate gnt-instance add builds for our options."""
        if template not in ("diskless", "sharedfile", "file"):
            raise ValueError("template must be diskless, sharedfile or file")
        return {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": name,
                "mode": "create", "disk_template": template,
                "disks": [] if template == "diskless" else [{"size": disk_mb}],
                "nics": [], "os_type": "noop", "pnode": node,
                "beparams": {"maxmem": mem, "minmem": mem, "vcpus": vcpus},
                "hvparams": {}, "name_check": False, "ip_check": False,
                "wait_for_sync": False, "start": start, "tags": list(tags)}

    def add_instance(self, name: str, node: str, template: str = "diskless",
                     mem: int = 1024, vcpus: int = 1, disk_mb: int = 64,
                     tags: Iterable[str] = ()) -> None:
        self.run_jobs([[self.instance_op(name, node, template, mem, vcpus,
                                         disk_mb, tags)]])

    def add_instances(self, specs: Sequence[dict]) -> None:
        """Several instances at once (dicts of add_instance's arguments)."""
        self.run_jobs([[self.instance_op(**s)] for s in specs])

    def remove_instance(self, name: str) -> None:
        self.run_jobs([[{"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": name,
                         "ignore_failures": True, "shutdown_timeout": 10}]])

    def instances(self) -> List[str]:
        return [r[0] for r in self.query("instance", ["name"])]

    def placement(self) -> Dict[str, Tuple[str, List[str]]]:
        return {name: (pnode, list(snodes)) for name, pnode, snodes in
                self.query("instance", ["name", "pnode", "snodes"])}

    def move_to(self, placement: Dict[str, str], timeout: float = 300) -> None:
        """Migrate (or fail over) instances so each runs on the given primary."""
        rows = self.query("instance", ["name", "pnode", "disk_template", "admin_state"])
        offline = {n: off for n, off in self.query("node", ["name", "offline"])}
        jobs = []
        for name, pnode, template, admin in rows:
            target = placement.get(name)
            if target is None or target == pnode:
                continue
            if template not in ("diskless", "sharedfile"):
                # file disks sit at the same path of the one shared tmpfs
                # on every node: Ganeti cannot copy them to "another" node
                raise TestbedError("cannot move %s (%s disks) from %s to %s"
                                   % (name, template, pnode, target))
            if admin == "up" and not offline.get(pnode, True):
                op = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": name,
                      "target_node": target, "allow_failover": True}
            else:
                op = {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": name,
                      "target_node": target, "ignore_consistency": True}
            jobs.append([op])
        missing = set(placement) - {r[0] for r in rows}
        if missing:
            raise TestbedError("no such instance(s): %s" % ", ".join(sorted(missing)))
        self.run_jobs(jobs, timeout=timeout)

    # --- back to a known state ---
    def reset(self, placement: Optional[Dict[str, str]] = None,
              offline: Iterable[str] = (), drained: Iterable[str] = (),
              instance_tags: Optional[Dict[str, Iterable[str]]] = None) -> None:
        """Bring the cluster back to a known state (cheap when nothing changed).

        Restarts stopped daemons, cancels queued jobs and waits for running
        ones, sets exactly ``offline``/``drained`` nodes (others online,
        master candidates), removes all tags except ``instance_tags``
        (instance -> tags, which are set), starts instances that are not
        running (unless their primary is to be offline), and
        moves instances to ``placement`` (instance -> primary node).
        """
        offline, drained = set(offline), set(drained)
        self.settle()
        # node flags
        jobs = []
        for name, off, drn, mc in self.query(
                "node", ["name", "offline", "drained", "master_candidate"]):
            want_off, want_drn = name in offline, name in drained
            op = {}
            if off != want_off:
                op["offline"] = want_off
            if drn != want_drn:
                op["drained"] = want_drn
            if not want_off and not want_drn and not mc:
                op["master_candidate"] = True
            if op:
                op.update(OP_ID="OP_NODE_SET_PARAMS", node_name=name, force=True,
                          auto_promote=True)
                jobs.append([op])
        # ordered: bringing nodes back first, then taking others down
        jobs.sort(key=lambda j: (j[0].get("offline") is True, j[0].get("drained") is True))
        for job in jobs:
            self.run_jobs([job])
            if job[0].get("offline") is False:
                self._wait_node_alive(job[0]["node_name"])
        # tags
        jobs = []
        ctags = self.luxi("QueryClusterInfo").get("tags") or []
        if ctags:
            jobs.append([{"OP_ID": "OP_TAGS_DEL", "kind": "cluster", "name": None,
                          "tags": list(ctags)}])
        for name, tags in self.query("node", ["name", "tags"]):
            if tags:
                jobs.append([{"OP_ID": "OP_TAGS_DEL", "kind": "node", "name": name,
                              "tags": list(tags)}])
        want_tags = {k: set(v) for k, v in (instance_tags or {}).items()}
        for name, tags, status, pnode in self.query(
                "instance", ["name", "tags", "status", "pnode"]):
            want = want_tags.get(name, set())
            extra, miss = set(tags) - want, want - set(tags)
            ops = []
            if extra:
                ops.append({"OP_ID": "OP_TAGS_DEL", "kind": "instance", "name": name,
                            "tags": sorted(extra)})
            if miss:
                ops.append({"OP_ID": "OP_TAGS_SET", "kind": "instance", "name": name,
                            "tags": sorted(miss)})
            if status != "running" and pnode not in offline:
                ops.append({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": name})
            if ops:
                jobs.append(ops)
        self.run_jobs(jobs)
        if placement:
            self.move_to(placement)

    def settle(self) -> None:
        """Daemons of every node running again, job queue idle."""
        for node in self.nodes:
            if not self.daemons_running(node):
                self.run([DAEMON_UTIL, "start-all"], node=node, timeout=120, check=False)
                if node == self.master:
                    self._wait_luxi()
                self._wait_node_alive(node)
        self._settle_jobs()

    def _settle_jobs(self, timeout: float = 120) -> None:
        """Cancel jobs that have not started, wait for the running ones."""
        for jid, st in self.active_jobs():
            if st in ("queued", "waiting"):
                try:
                    self.luxi("CancelJob", jid)
                except LuxiFailure:
                    pass                    # it started meanwhile: waited for below
        self.wait_idle(timeout)


def _op(o: dict) -> dict:
    op = dict(o)
    op.setdefault("reason", [])
    return op


def _short(v, n: int = 400) -> str:
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= n else s[:n] + "..."


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _wait_all(procs, what: str, timeout: float, check: bool = True) -> None:
    deadline = time.monotonic() + timeout
    failed = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise TestbedError("%s timed out after %ss" % (what, timeout))
        if p.returncode != 0:
            failed.append((out or b"").decode(errors="replace").strip())
    if failed and check:
        raise TestbedError("%s failed: %s" % (what, " | ".join(failed)))


def main(argv: Sequence[str]) -> int:
    usage = ("usage: python -m tests.harness.testbed up [NODES] | down | status | "
             "gnt [nodeN] COMMAND... | reboot|stop|start NODE")
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    cmd, rest = argv[0], list(argv[1:])
    if cmd == "up":
        try:
            n = int(rest[0]) if rest else int(os.environ.get("HTOOLS_TESTBED_NODES", "3"))
            tb = Testbed(nodes=n)
        except ValueError as e:
            print("error: %s" % e, file=sys.stderr)
            return 2
        try:
            tb.up()
        except TestbedError as e:
            print("error: %s" % e, file=sys.stderr)
            return 1
        print("testbed up: %d node(s) in %.1fs (%s)" % (n, tb.timings["up"], ", ".join(
            "%s %.1fs" % kv for kv in tb.timings.items() if kv[0] != "up")))
        print("Luxi socket: %s" % tb.socket)
        print("in the netns: %s" % " ".join(tb.in_netns(["CMD"])))
        return 0
    tb = Testbed(nodes=1)
    if cmd == "down":
        try:
            tb.down(force="--force" in rest)
        except TestbedBusy as e:
            print("error: %s (down --force to tear it down anyway)" % e, file=sys.stderr)
            return 1
        return 0
    if cmd == "status":
        print(tb.status())
        return 0
    if cmd in ("reboot", "stop", "start") and len(rest) == 1:
        # a node "reboot" is an outage of its Ganeti daemons (the rolling
        # reboot tests give "python -m tests.harness.testbed reboot {node}" to hroller)
        node = rest[0]
        if node not in ["node%d" % i for i in range(1, MAX_NODES + 1)]:
            print("error: no such node %s" % node, file=sys.stderr)
            return 2
        tb = Testbed(nodes=MAX_NODES)
        try:
            if cmd in ("reboot", "stop"):
                tb.stop_node_daemons(node)
            if cmd == "reboot":
                time.sleep(float(os.environ.get("HTOOLS_TESTBED_DOWNTIME", "2")))
            if cmd in ("reboot", "start"):
                tb.start_node_daemons(node)
        except TestbedError as e:
            print("error: %s" % e, file=sys.stderr)
            return 1
        return 0
    if cmd == "gnt":
        node = "node1"
        if rest and rest[0].startswith("node"):
            node = rest.pop(0)
        if not rest:
            print(usage, file=sys.stderr)
            return 2
        return subprocess.call(tb.in_netns(rest, node))
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


class NodeLocks:
    """The locks taken by :meth:`Testbed.hold_node_locks`."""

    def __init__(self, tb: "Testbed", job_id: int, path: str):
        self.tb, self.job_id, self.path = tb, job_id, path

    def release(self) -> None:
        """End the delay; returns when the job has finished."""
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(30)
            sock.connect(self.path)
            sock.sendall(b"x")
        except OSError:
            pass  # already ended
        finally:
            sock.close()
        self.tb.wait_jobs([self.job_id], timeout=60, check=False)
