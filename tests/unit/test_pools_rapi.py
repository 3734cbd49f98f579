"""``-m CLUSTER --storage-pools``: the pools read over RAPI, through the
jobs RAPI makes of the node storage and static instance-info resources
(a small RAPI server on 127.0.0.1 serving Ganeti's RAPI test data)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backends.text import parse_data
from tests.harness.refdiff import DATA

RAPI_DIR = DATA / "rapi"
VGS = {"node1": [["xenvg", 500000, 400000], ["vg_ganeti_hdd", 900000, 800000],
                 ["vg_system", 20480, 1024]],
       "node2": [["xenvg", 500000, 300000], ["vg_system", 20480, 1024]],
       "node3": [["xenvg", 500000, 200000], ["vg_ganeti_hdd", 900000, 700000]],
       "node4": [["xenvg", 500000, 100000]]}


def _disks(inst):
    out = []
    for k, size in enumerate(inst["disk.sizes"]):
        if inst["disk_template"] == "drbd":
            vg = "vg_ganeti_hdd" if inst["name"] == "instance2" else "xenvg"
            out.append({"dev_type": "drbd", "size": size,
                        "logical_id": [inst["pnode"], inst["snodes"][0], 1, 0, 0, "s"],
                        "children": [
                            {"dev_type": "plain", "size": size,
                             "logical_id": [vg, "d%d_data" % k]},
                            {"dev_type": "plain", "size": 128,
                             "logical_id": ["xenvg", "d%d_meta" % k]}]})
        elif inst["disk_template"] == "plain":
            out.append({"dev_type": "plain", "size": size,
                        "logical_id": ["xenvg", "d%d" % k]})
    return out


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        srv = self.server
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        srv.paths.append(self.path)
        if parts[1] in ("groups", "nodes", "instances", "info") and len(parts) == 2:
            name = parts[1] + ".json"
            self._send(json.loads((RAPI_DIR / name).read_text()))
        elif parts[1] == "nodes" and parts[3] == "storage":
            assert "storage_type=lvm-vg" in query
            self._send(srv.new_job(VGS[parts[2]]))
        elif parts[1] == "instances" and parts[3] == "info":
            assert query == "static=1"
            insts = json.loads((RAPI_DIR / "instances.json").read_text())
            inst = next(i for i in insts if i["name"] == parts[2])
            self._send(srv.new_job({inst["name"]: {"disks": _disks(inst)}}))
        elif parts[1] == "jobs":
            jid = int(parts[2])
            polls = srv.polls.get(jid, 0)
            srv.polls[jid] = polls + 1
            status = "running" if polls == 0 else srv.outcome
            self._send({"id": jid, "status": status,
                        "opresult": [srv.results[jid]]})
        else:
            self.send_error(404)


@pytest.fixture
def rapi():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.paths, srv.results, srv.polls, srv.outcome = [], {}, {}, "success"

    def new_job(result):
        jid = len(srv.results) + 1
        srv.results[jid] = result
        return jid
    srv.new_job = new_job
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _run(args):
    out = subprocess.run([str(Path(sys.executable).parent / "hbal")] + args,
                         capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


@pytest.mark.skipif(not RAPI_DIR.is_dir(), reason="test data not available")
def test_rapi_reads_the_pools(rapi, tmp_path):
    master = "http://127.0.0.1:%d" % rapi.server_address[1]
    rc, _, err = _run(["-m", master, "--storage-pools", "-l", "1",
                       "-S", str(tmp_path / "out")])
    assert rc == 0, err
    cd = parse_data((tmp_path / "out.original").read_text())
    pools = {n.name: n.pools for n in cd.nodes}
    assert pools["node1"] == {"xenvg": (500000, 400000),
                              "vg_ganeti_hdd": (900000, 800000)}
    assert pools["node4"] == {"xenvg": (500000, 100000)}
    inst2 = next(i for i in cd.instances if i.name == "instance2")
    assert inst2.pool_disks[0][1:] == ("vg_ganeti_hdd", "xenvg")
    assert inst2.pools["vg_ganeti_hdd"] == inst2.pool_disks[0][0] > 0
    assert inst2.pools["xenvg"] == 128
    assert all(any("/jobs/%d" % j in p for p in rapi.paths) for j in rapi.results)
    # without the option: the four resources only
    rapi.paths.clear()
    rc, _, _ = _run(["-m", master, "-l", "1"])
    assert rc == 0 and len(rapi.paths) == 4


@pytest.mark.skipif(not RAPI_DIR.is_dir(), reason="test data not available")
def test_rapi_failed_job_is_one_error_line(rapi):
    rapi.outcome = "error"
    master = "http://127.0.0.1:%d" % rapi.server_address[1]
    rc, out, err = _run(["-m", master, "--storage-pools"])
    assert rc == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "cannot read the storage pools: job 1 error" in err
