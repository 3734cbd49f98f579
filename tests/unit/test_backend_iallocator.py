"""IAllocator requests (backends/iallocator.py).

Unit tests: the json-0.10 compatible decoder, every request type, node
liveness, defaults and htools' error texts (as printed by the reference).
Differential tests, when the reference binaries are installed:
``hinfo -v -p --print-instances -I FILE`` for every request in the Ganeti
test data (``$HTOOLS_TESTDATA``, default /work/shared/ganeti-testdata/htools;
read in place, never copied), then for broken variants of a request built
here (missing keys, wrong types, malformed JSON).  stdout, stderr and the
exit status are compared separately.
"""
import copy
import json
import os
import subprocess
from htools.haskell.jsvalue import Ratio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends import iallocator as ia
from htools.haskell import json as hjson
from htools.haskell.json import JSNULL, JSObject, decode_value
from htools.haskell.pretty import pp_value
from backends.iallocator import (
    Allocate, AllocateSecondary, ChangeGroup, EvacMode, IAllocError, MultiAllocate,
    NodeEvacuate, Relocate, parse_request,
)
from htools.cli.main import COMMANDS
from htools.types import (DiskTemplate, Hypervisor, InstanceStatus, ISpec,
                          NO_SECONDARY, AllocPolicy)

REF_HINFO = Path("/usr/lib/ganeti/3.0/usr/bin/hinfo")
TESTDATA = Path(os.environ.get("HTOOLS_TESTDATA",
                               "/work/shared/ganeti-testdata/htools"))
needs_ref = pytest.mark.skipif(not REF_HINFO.exists(),
                               reason="reference hinfo not installed")
REQUEST_FILES = sorted(TESTDATA.glob("*.json")) if TESTDATA.is_dir() else []

N1, N2 = "node1.example.com", "node2.example.com"
I1 = "inst1.example.com"


def ispec(mem, cpu, dsize, dcount, nics, su):
    return {"memory-size": mem, "cpu-count": cpu, "disk-size": dsize,
            "disk-count": dcount, "nic-count": nics, "spindle-use": su}


def base_doc():
    """A small, valid allocation request."""
    node = {"offline": False, "drained": False, "group": "uuid-1",
            "vm_capable": True, "tags": [],
            "ndparams": {"exclusive_storage": False, "spindle_count": 1},
            "total_memory": 4096, "reserved_memory": 512,
            "free_memory": 3584, "total_disk": 102400, "free_disk": 102400,
            "total_cpus": 4, "reserved_cpus": 1, "total_spindles": 4,
            "free_spindles": 4}
    return {
        "cluster_tags": ["htools:iextags:service"],
        "enabled_hypervisors": ["kvm"],
        "nodegroups": {"uuid-1": {
            "name": "default", "alloc_policy": "preferred", "networks": [],
            "tags": [],
            "ipolicy": {"minmax": [{"min": ispec(128, 1, 1024, 1, 1, 1),
                                    "max": ispec(32768, 8, 1048576, 16, 8, 12)}],
                        "std": ispec(128, 1, 1024, 1, 1, 1),
                        "disk-templates": ["drbd", "plain"],
                        "vcpu-ratio": 4.0, "spindle-ratio": 32.0}}},
        "nodes": {N1: dict(node), N2: copy.deepcopy(node)},
        "instances": {I1: {
            "disk_space_total": 1024, "disks": [{"size": 1024, "spindles": 1}],
            "memory": 512, "vcpus": 1, "tags": ["service:web"],
            "disk_template": "drbd", "spindle_use": 1,
            "nics": [{"mac": "aa:00:00:00:00:01", "mode": "bridged",
                      "link": "br0"}],
            "admin_state": "up", "nodes": [N1, N2]}},
        "request": {"type": "allocate", "name": "new1", "required_nodes": 2,
                    "disk_space_total": 2048, "disks": [{"size": 2048}],
                    "memory": 1024, "vcpus": 2, "tags": ["service:db"],
                    "disk_template": "drbd", "spindle_use": 1, "nics": []},
    }


def parse(doc, **kw):
    return parse_request(json.dumps(doc), **kw)


# ---------------------------------------------------------------- decoder

def test_decoder_values():
    v = decode_value('{"a": [1, -2.5, 1e3, 1E-2, 0, true, false, null, "x"],'
                     ' "a": {}, "b\\u00e9\\n": "\\"\\\\\\/"}')
    assert isinstance(v, JSObject)
    assert v.keys() == ["a", "a", "b\xe9\n"]          # duplicates are kept
    assert v.lookup("a")[1] == [Ratio(1), Ratio(-5, 2), Ratio(1000),
                                Ratio(1, 100), Ratio(0), True, False,
                                JSNULL, "x"]
    assert v.pairs[2][1] == '"\\/'
    # "1." is 1 (the dot is dropped), numbers are exact
    assert decode_value('[1., 0.1]') == [Ratio(1), Ratio(1, 10)]


def test_int_and_double_reading():
    assert hjson.r_int(Ratio(5, 2)) == 2 and hjson.r_int(Ratio(7, 2)) == 4
    assert hjson.r_int(Ratio(-5, 2)) == -2
    assert hjson.r_int(Ratio(2 ** 64 + 3)) == 3            # Int wraps
    assert hjson.r_double(Ratio(1, 10)) == 0.1
    assert hjson.r_double(Ratio(10 ** 400)) == float("inf")
    assert hjson.r_string(["a", "b"]) == "ab"                 # [Char]
    with pytest.raises(hjson._Bad) as ei:
        hjson.r_string(["ab"])
    assert ei.value.msg == "Unable to read Char"


DECODE_ERRORS = [
    (" {}", "Invalid JSON: a JSON text a serialized object or array at the "
            "top level."),
    ("[1,2] ", "Unable to read JSObject"),
    ("{", "Malformed JSON: expecting string: "),
    ('{"a"', "Malformed JSON labelled field: "),
    ('{"a":', "Malformed JSON: invalid token in this context "),
    ('{"a":1', "Unable to parse JSON object: unterminated sequence: "),
    ('{"a" 1}', "Malformed JSON labelled field:  1}"),
    ("{a:1}", "Malformed JSON: expecting string: a:1}"),
    ('{"a":01}', "Unable to parse JSON object: unterminated sequence: 1}"),
    ('{"a":"\\x"}', "Unable to parse JSON String: invalid escape char: 'x'"),
    ('{"a":"\\u12g4"}', 'Unable to parse JSON String: invalid hex: [(18,"g4'),
    ('{"a":"\\uZZ"}', "Unable to parse JSON String: invalid hex: []"),
    ('{"a":tru}', "Unable to parse JSON Bool: tru}"),
    ('{"a":-}', "Unable to parse JSON Rational: "),
    ('{"a":-x1}', "Unable to parse JSON Rational: 1}"),
    ('{"a":[1,]}', "Malformed JSON: invalid token in this context ]}"),
    ('{"a":[1 2]}', "Unable to parse JSON array: unterminated array:  2]}"),
    ('{"a":1e}', "Unable to parse JSON exponential: }"),
    ('{"a":"x\x01y"}', 'Illegal unescaped character in string: \x01y"}'),
    ('{"a":"abc', "Unable to parse JSON String: unterminated String: "),
    ('{"a":nul}', "Malformed JSON: invalid token in this context nul}"),
    ('{"a":.5}', "Malformed JSON: invalid token in this context .5}"),
    ('{"a":1}}', 'Invalid tokens at end of JSON string: "}"'),
]


@pytest.mark.parametrize("text,msg", DECODE_ERRORS)
def test_decode_errors(text, msg):
    with pytest.raises(IAllocError) as ei:
        parse_request(text)
    assert ei.value.message == "Parsing input IAllocator message: " + msg


PP_CASES = [
    ('{"a": 1}', '{"a": 1}'),
    ("[]", "[]"),
    ('[[], {}, [1], "x\\u0001\\"", 1.5, 1e-5, true, null]',
     '[[], {}, [1], "x\\u0001\\"", 1.5, 1.0e-5, true, null]'),
    ('{"k": "%s", "k2": "%s"}' % ("v" * 30, "w" * 30),
     '{"k": "%s",\n "k2": "%s"}' % ("v" * 30, "w" * 30)),
    ('{"%s": %s}' % ("x" * 50, [1, 2, 3] * 10),
     '{"%s": [1, 2, 3, 1,\n%s2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1,\n%s'
     '2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]}' % ("x" * 50, " " * 56, " " * 56)),
]


@pytest.mark.parametrize("text,shown", PP_CASES)
def test_pp_value_layout(text, shown):
    # Text.JSON.Pretty + HughesPJ's default rendering (as the reference)
    assert pp_value(decode_value(text)) == shown


# ---------------------------------------------------------------- cluster data

def test_allocate_request_and_cluster():
    req = parse(base_doc())
    cd = req.cdata
    assert [g.name for g in cd.groups] == ["default"]
    g = cd.groups[0]
    assert g.uuid == "uuid-1" and g.alloc_policy == AllocPolicy.PREFERRED
    assert g.ipolicy.std == ISpec(128, 1, 1024, 1, 1, 1)
    assert g.ipolicy.minmax[0].max_spec == ISpec(32768, 8, 1048576, 16, 8, 12)
    assert g.ipolicy.disk_templates == (DiskTemplate.DRBD, DiskTemplate.PLAIN)
    assert [n.name for n in cd.nodes] == [N1, N2]
    n = cd.nodes[0]
    assert (n.t_mem, n.n_mem, n.f_mem, n.t_dsk, n.f_dsk, n.t_cpu, n.n_cpu) == (
        4096.0, 512, 3584, 102400.0, 102400, 4.0, 1)
    assert n.t_spindles == 1 and n.f_spindles == 4     # spindle_count
    assert n.hypervisor == Hypervisor.KVM and not n.offline
    assert n.alias == "node1"                          # merged once
    assert cd.tags == ["htools:iextags:service"]
    inst = cd.instances[0]
    assert (inst.name, inst.pnode, inst.snode, inst.mem, inst.dsk) == (
        I1, 0, 1, 512, 1024)
    assert inst.run_st == InstanceStatus.RUNNING and inst.auto_balance
    assert inst.nics[0].mode == "bridged" and inst.nics[0].ip is None
    assert inst.disks[0].size == 1024 and inst.disks[0].spindles == 1
    assert inst.excl_tags == ["service:web"]
    assert n.p_list == [0] and cd.nodes[1].s_list == [0]
    rq = req.rqtype
    assert isinstance(rq, Allocate)
    new = rq.instance
    assert (new.name, new.mem, new.dsk, new.vcpus, new.idx) == (
        "new1", 1024, 2048, 2, -1)
    assert (new.pnode, new.snode) == (0, 0)
    assert new.excl_tags == ["service:db"] and new.disks[0].spindles is None
    assert rq.details.required_nodes == 2 and rq.details.group_name is None
    assert rq.restrict_to_nodes is None


def test_node_liveness_and_storage():
    doc = base_doc()
    off = doc["nodes"][N1]
    off["offline"] = True
    for key in ("total_memory", "free_memory", "total_disk", "free_spindles"):
        del off[key]                       # not read for non-live nodes
    nvm = doc["nodes"][N2]
    nvm["vm_capable"] = False
    nvm["ndparams"]["exclusive_storage"] = True
    del nvm["total_spindles"]
    doc["instances"] = {}
    cd = parse(doc).cdata
    a, b = cd.nodes
    assert a.offline and a.t_mem == 0.0 and a.f_dsk == 0 and a.t_spindles == 1
    assert b.offline and b.excl_storage and b.t_spindles == 0
    doc = base_doc()
    doc["nodes"][N1]["drained"] = True
    doc["nodes"][N2]["ndparams"]["exclusive_storage"] = True
    doc["nodes"][N2].pop("vm_capable")
    cd = parse(doc).cdata
    assert cd.nodes[0].offline and cd.nodes[0].t_mem == 4096.0
    assert not cd.nodes[1].offline and cd.nodes[1].t_spindles == 4


def test_instance_defaults():
    doc = base_doc()
    i = doc["instances"][I1]
    i["admin_state"] = "sideways"          # unknown state: running
    i["nodes"] = [N2]
    i["forthcoming"] = "yes"               # unreadable: not forthcoming
    cd = parse(doc).cdata
    inst = cd.instances[0]
    assert inst.run_st == InstanceStatus.RUNNING and not inst.forthcoming
    assert inst.pnode == 1 and inst.snode == NO_SECONDARY
    for state, status in (("down", InstanceStatus.ADMIN_DOWN),
                      ("offline", InstanceStatus.ADMIN_OFFLINE)):
        i["admin_state"] = state
        assert parse(doc).cdata.instances[0].run_st == status


def test_other_request_types():
    doc = base_doc()
    doc["request"] = {"type": "relocate", "name": I1, "required_nodes": 1,
                      "relocate_from": ["node2"]}      # alias lookup
    assert parse(doc).rqtype == Relocate(0, 1, [1])
    doc["request"] = {"type": "change-group", "instances": ["inst1"],
                      "target_groups": ["uuid-1"]}
    assert parse(doc).rqtype == ChangeGroup([0], [0])
    doc["request"] = {"type": "node-evacuate", "instances": [I1],
                      "evac_mode": "secondary-only"}
    assert parse(doc).rqtype == NodeEvacuate([0], EvacMode.CHANGE_SECONDARY)
    doc["request"] = {"type": "allocate-secondary", "name": I1}
    assert parse(doc).rqtype == AllocateSecondary(0)
    one = {k: v for k, v in base_doc()["request"].items() if k != "type"}
    doc["request"] = {"type": "multi-allocate", "group_name": "default",
                      "instances": [dict(one, name="a"), dict(one, name="b")]}
    rq = parse(doc).rqtype
    assert isinstance(rq, MultiAllocate)
    assert [(i.name, d.group_name) for i, d in rq.requests] == [
        ("a", "default"), ("b", "default")]


def test_static_node_memory_and_warnings():
    doc = base_doc()
    doc["nodes"][N1]["free_memory"] = 1024
    req = parse(doc, static_n_mem=0)
    assert req.warnings == ["node node1.example.com is missing 2048 MB ram "
                            "and -1 GB disk"]
    req = parse(doc, static_n_mem=1000)
    assert req.cdata.nodes[0].n_mem == 1000


def _mut(fn):
    doc = base_doc()
    fn(doc)
    return doc


_KEYS_NODE = ('["drained","group","vm_capable","tags","ndparams",'
              '"total_memory","reserved_memory","free_memory","total_disk",'
              '"free_disk","total_cpus","reserved_cpus","total_spindles",'
              '"free_spindles"]')
_KEYS_RQ = ('"disk_space_total","disks","memory","vcpus","tags",'
            '"disk_template","spindle_use","nics"]')

# (mutation, reference's message)
PARSE_ERRORS = [
    (lambda d: d.pop("request"),
     "invalid iallocator message: key 'request' not found, object contains "
     'only ["cluster_tags","enabled_hypervisors","nodegroups","nodes",'
     '"instances"]'),
    (lambda d: d.__setitem__("request", []),
     "invalid iallocator message: key 'request': Unable to read JSObject"),
    (lambda d: d["nodegroups"].__setitem__("uuid-1", 5), "not an object"),
    (lambda d: d["nodegroups"]["uuid-1"].__setitem__("alloc_policy", "x"),
     "invalid data for group 'uuid-1': key 'alloc_policy': Invalid string "
     'value for type AllocPolicy: "x"'),
    (lambda d: d["nodegroups"]["uuid-1"].__setitem__("alloc_policy", 3),
     "invalid data for group 'uuid-1': key 'alloc_policy': Can't parse value "
     "for 'AllocPolicy': Unable to read String"),
    (lambda d: d["nodegroups"]["uuid-1"]["ipolicy"].pop("std"),
     "invalid data for group 'uuid-1': key 'ipolicy': key 'std' not found, "
     'object contains only ["minmax","disk-templates","vcpu-ratio",'
     '"spindle-ratio"]'),
    (lambda d: d["nodegroups"]["uuid-1"]["ipolicy"]["std"].__setitem__(
        "cpu-count", "1"),
     "invalid data for group 'uuid-1': key 'ipolicy': Can't parse value for "
     "'std': Can't parse value for 'cpu-count': Unable to read Int"),
    (lambda d: d["nodegroups"]["uuid-1"]["ipolicy"].__setitem__("foo", 1),
     "invalid data for group 'uuid-1': key 'ipolicy': Superfluous dictionary "
     'keys: ["foo"], but only ["disk-templates","minmax","spindle-ratio",'
     '"std","vcpu-ratio"] allowed.'),
    (lambda d: d["nodegroups"]["uuid-1"]["ipolicy"].__setitem__(
        "disk-templates", ["drbd", "floppy"]),
     "invalid data for group 'uuid-1': key 'ipolicy': Can't parse value for "
     "'disk-templates': Invalid string value for type DiskTemplate: "
     '"floppy"'),
    (lambda d: d["nodegroups"]["uuid-1"]["ipolicy"].__setitem__("minmax", {}),
     "invalid data for group 'uuid-1': key 'ipolicy': Can't parse value for "
     "'minmax': Unable to read list"),
    (lambda d: d["nodes"][N1].__setitem__("group", "nope"),
     "Unknown group 'nope' for node node1.example.com"),
    (lambda d: d["nodes"][N1].pop("offline"),
     "invalid data for node 'node1.example.com': key 'offline' not found, "
     "object contains only " + _KEYS_NODE),
    (lambda d: d["nodes"][N1].__setitem__("vm_capable", "yes"),
     "invalid data for node 'node1.example.com': key 'vm_capable': Unable to "
     "read Bool"),
    (lambda d: d["nodes"][N1].__setitem__("ndparams", []), "not an object"),
    (lambda d: d["nodes"][N1]["ndparams"].pop("exclusive_storage"),
     "invalid data for node 'node1.example.com': key 'exclusive_storage' not "
     'found, object contains only ["spindle_count"]'),
    (lambda d: d["nodes"][N1].__setitem__("tags", [1]),
     "key 'tags': Unable to read String"),
    (lambda d: d["nodes"][N1].__setitem__("total_memory", "4096"),
     "invalid data for node 'node1.example.com': key 'total_memory': Unable "
     "to read Double"),
    (lambda d: d["instances"][I1].pop("nodes"),
     'key \'nodes\' not found, object contains only ["disk_space_total",'
     '"disks","memory","vcpus","tags","disk_template","spindle_use","nics",'
     '"admin_state"]'),
    (lambda d: d["instances"][I1].__setitem__("nodes", []),
     "empty node list for instance inst1.example.com"),
    (lambda d: d["instances"][I1].__setitem__("nodes", [1]), "Wrong JSON type"),
    (lambda d: d["instances"][I1].__setitem__("nodes", ["node9"]),
     "Unknown node 'node9' for instance inst1.example.com"),
    (lambda d: d["instances"][I1].__setitem__("disks", {"a": 1}),
     'Invalid input, expected array but got {"a": 1}'),
    (lambda d: d["instances"][I1]["disks"][0].pop("size"),
     "invalid data for instance 'inst1.example.com': key 'size' not found, "
     'object contains only ["spindles"]'),
    (lambda d: d["instances"][I1]["disks"][0].__setitem__("spindles", "x"),
     "invalid data for instance 'inst1.example.com': key 'spindles': Unable "
     "to read Int"),
    (lambda d: d["instances"][I1]["nics"][0].__setitem__("mode", "bonded"),
     "invalid NIC mode in instance inst1.example.com"),
    (lambda d: d["instances"][I1]["nics"][0].__setitem__("mac", 5),
     "key 'mac': Unable to read String"),
    (lambda d: d["instances"][I1].__setitem__("disk_template", "floppy"),
     "invalid data for instance 'inst1.example.com': key 'disk_template': "
     'Invalid string value for type DiskTemplate: "floppy"'),
    (lambda d: d.__setitem__("cluster_tags", "x"),
     "invalid iallocator message: key 'cluster_tags': Unable to read list"),
    (lambda d: d.__setitem__("enabled_hypervisors", ["vmware"]),
     "invalid iallocator message: key 'enabled_hypervisors': Invalid string "
     'value for type Hypervisor: "vmware"'),
    (lambda d: d["request"].pop("type"),
     "invalid request dict: key 'type' not found, object contains only "
     '["name","required_nodes",' + _KEYS_RQ),
    (lambda d: d["request"].__setitem__("type", "explode"),
     "Invalid request type 'explode'"),
    (lambda d: d["request"].pop("memory"),
     "invalid data for instance 'new1': key 'memory' not found, object "
     'contains only ["type","name","required_nodes","disk_space_total",'
     '"disks","vcpus","tags","disk_template","spindle_use","nics"]'),
    (lambda d: d.__setitem__("request", {"type": "relocate", "name": "nope",
                                         "required_nodes": 1,
                                         "relocate_from": [N1]}),
     "Unknown instance 'nope'"),
    (lambda d: d.__setitem__("request", {"type": "relocate", "name": I1,
                                         "required_nodes": 1,
                                         "relocate_from": ["node9"]}),
     "Wrong number of elems found with name node9"),
    (lambda d: d.__setitem__("request", {"type": "node-evacuate",
                                         "instances": [I1],
                                         "evac_mode": "sideways"}),
     "invalid request dict: key 'evac_mode': Invalid string value for type "
     'EvacMode: "sideways"'),
    (lambda d: d.__setitem__("request", {"type": "change-group",
                                         "instances": [I1],
                                         "target_groups": ["nope"]}),
     "Wrong number of elems found with name nope"),
    (lambda d: d.__setitem__("request", {"type": "change-group",
                                         "instances": [I1, "ghost"],
                                         "target_groups": []}),
     "Wrong number of elems found with name ghost"),
    (lambda d: d.__setitem__("request", {"type": "node-evacuate",
                                         "instances": ["ghost", I1],
                                         "evac_mode": "all"}),
     "Wrong number of elems found with name ghost"),
    (lambda d: d.__setitem__("request", {"type": "multi-allocate",
                                         "instances": {}}),
     "invalid request dict: key 'instances': Unable to read list"),
    (lambda d: d.__setitem__("request", {"type": "multi-allocate",
                                         "instances": [{"required_nodes": 1}]}),
     "invalid request dict: key 'name' not found, object contains only "
     '["required_nodes"]'),
    (lambda d: d.__setitem__("request", {"type": "allocate-secondary",
                                         "name": "nope"}),
     "Unknown instance 'nope'"),
]


@pytest.mark.parametrize("mutation,msg", PARSE_ERRORS)
def test_parse_errors(mutation, msg):
    with pytest.raises(IAllocError) as ei:
        parse(_mut(mutation))
    assert ei.value.message == msg


def test_load_cluster_exits_like_exiterr(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(SystemExit) as ei:
        ia.load_cluster(str(bad))
    assert ei.value.code == 1
    assert capsys.readouterr().err == ("Error: Parsing input IAllocator "
                                       "message: Unable to read JSObject\n")
    with pytest.raises(ia.LoadError) as ei2:
        ia.load_cluster(str(tmp_path / "missing.json"))
    assert ei2.value.message.endswith(
        "missing.json: openFile: does not exist (No such file or directory)")
    # hail does not catch the I/O error: GHC's handler prints it
    with pytest.raises(SystemExit) as ei3:
        ia.read_request(str(tmp_path / "missing.json"), prog="hail")
    assert ei3.value.code == 1
    assert capsys.readouterr().err == (
        "hail: %s: openFile: does not exist (No such file or directory)\n"
        % (tmp_path / "missing.json"))


def test_read_request_stdin_and_warnings(monkeypatch, capsys):
    import io as _io
    doc = base_doc()
    doc["nodes"][N1]["free_memory"] = 1024
    data = json.dumps(doc).encode()
    monkeypatch.setattr("sys.stdin", _io.TextIOWrapper(_io.BytesIO(data)))
    req = ia.read_request("-")
    assert isinstance(req.rqtype, Allocate)
    assert capsys.readouterr().err == (
        "Warning: cluster has inconsistent data:\n  - node node1.example.com "
        "is missing 2048 MB ram and -1 GB disk\n\n")


# ---------------------------------------------------------------- reference

def ref_env():
    env = dict(os.environ)
    env.pop("GANETI_ROOTDIR", None)
    env.pop("HTOOLS", None)
    env["LANG"] = env["LC_ALL"] = "C.UTF-8"
    return env


def run_ref(args, cwd):
    r = subprocess.run([str(REF_HINFO)] + list(args), cwd=str(cwd),
                       env=ref_env(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return (r.stdout.decode("utf-8", "surrogateescape"),
            r.stderr.decode("utf-8", "surrogateescape"), r.returncode)


def run_ours(args, capsys):
    capsys.readouterr()
    try:
        status = COMMANDS["hinfo"].main(list(args), standalone_mode=False)
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return out, err, status


def compare(args, tmp_path, capsys):
    ref = run_ref(args, tmp_path)
    ours = run_ours(args, capsys)
    assert ours[1] == ref[1], "stderr differs"
    assert ours[0] == ref[0], "stdout differs"
    assert ours[2] == ref[2], "exit status differs"


HINFO_ARGS = ["-v", "-p", "--print-instances"]


@needs_ref
@pytest.mark.skipif(not REQUEST_FILES, reason="Ganeti test data not found")
@pytest.mark.parametrize("path", REQUEST_FILES, ids=lambda p: p.name)
def test_reference_hinfo_testdata(path, tmp_path, capsys):
    compare(HINFO_ARGS + ["-I", str(path)], tmp_path, capsys)


@needs_ref
@pytest.mark.skipif(not REQUEST_FILES, reason="Ganeti test data not found")
@pytest.mark.parametrize("extra", [["-v", "-v", "-p", "all"], ["-q"],
                                   ["--static-kvm-node-memory=0"]],
                         ids=["verbose", "quiet", "static0"])
def test_reference_hinfo_options(extra, tmp_path, capsys):
    for path in REQUEST_FILES:
        compare(extra + ["--print-instances", "-I", str(path)], tmp_path, capsys)


def _variants():
    """Broken/edge variants of the base request: (id, JSON text)."""
    out = [("base", json.dumps(base_doc()))]
    for i, (mutation, _) in enumerate(PARSE_ERRORS):
        out.append(("err%d" % i, json.dumps(_mut(mutation))))
    wrong = [None, "x", 1.5, 2.5, [], {}, True, -1, ["a"]]
    paths = [(), ("request",), ("nodegroups", "uuid-1"),
             ("nodegroups", "uuid-1", "ipolicy"), ("nodes", N1),
             ("nodes", N1, "ndparams"), ("instances", I1)]
    for path in paths:
        obj = base_doc()
        for p in path:
            obj = obj[p]
        for key in list(obj):
            for j, w in enumerate([None] + wrong):
                doc = base_doc()
                target = doc
                for p in path:
                    target = target[p]
                if j == 0:
                    del target[key]
                else:
                    target[key] = w
                out.append(("%s/%s/%d" % ("/".join(path), key, j),
                            json.dumps(doc)))
    text = json.dumps(base_doc(), separators=(",", ":"))
    for cut in range(0, len(text), 97):
        out.append(("cut%d" % cut, text[:cut]))
    for num in ["01", "1.", "-0", "1e-3", "2.5", "3.5", "1E2", "1e+1", "-",
                "99999999999"]:
        out.append(("num" + num, text.replace('"memory":512',
                                              '"memory":%s' % num)))
    return out


def _random_value(rnd, depth=0):
    r = rnd.random()
    if depth > 3 or r < 0.35:
        c = rnd.randrange(5)
        if c == 0:
            return rnd.randint(-10 ** rnd.randint(1, 12), 10 ** rnd.randint(1, 12))
        if c == 1:
            return rnd.choice([0.5, 1.25, 1e-5, 123456.75, 1e22, -3.5])
        if c == 2:
            return "s" * rnd.randint(0, 40) + rnd.choice(["", "\u0001", "\xe9",
                                                          '"', "\\"])
        if c == 3:
            return rnd.choice([True, False, None])
        return "k%d" % rnd.randint(0, 10 ** rnd.randint(0, 8))
    if r < 0.65:
        return [_random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 12))]
    return {"key%d" % rnd.randint(0, 10 ** rnd.randint(0, 10)):
            _random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 8))}


def _pp_variants(count=60):
    """Non-array disks/nics: the error shows the value laid out by pretty."""
    import random
    rnd = random.Random(20240601)
    out = []
    for i in range(count):
        v = _random_value(rnd)
        if isinstance(v, list):
            v = {"wrap": v}
        doc = base_doc()
        doc["instances"][I1]["disks" if i % 2 else "nics"] = v
        out.append(("pp%d" % i, json.dumps(doc)))
    return out


VARIANTS = _variants() + _pp_variants()


@needs_ref
@pytest.mark.parametrize("name,text", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_reference_hinfo_variants(name, text, tmp_path, capsys):
    path = tmp_path / "req.json"
    path.write_text(text)
    compare(HINFO_ARGS + ["-I", str(path)], tmp_path, capsys)


_INSTANCE_FIELDS = {
    "disk_space_total": [1024, 0, -5, 2**63, True, 1.5, "1", None],
    "memory": [512, 0, 2**64 + 3, False, 2.0, [1]],
    "vcpus": [2, -1, None, "x"],
    "spindle_use": [1, 7, 1.0],
    "tags": [[], ["a", "b"], ["a", 1], "tag", [["x"]]],
    "disk_template": ["drbd", "plain", "nonsense", ["d", "r", "b", "d"], 3],
    "disks": [[], [{"size": 128}], [{"size": 128, "spindles": None}],
              [{"size": 64, "spindles": 2}], [{"size": 1.5}], [{"spindles": 1}],
              [7], {"size": 1}],
    "nics": [[], [{"mac": "aa:00", "mode": "bridged", "link": "br0"}],
             [{"mode": "nope"}], [{"ip": 3}], [{"ip": None, "network": "n"}], [1]],
    "admin_state": ["up", "down", "offline", ["d", "o", "w", "n"], 5],
    "forthcoming": [True, False, "yes"],
}


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    k: st.sampled_from(v) for k, v in _INSTANCE_FIELDS.items()}))
def test_quick_instance_reader_agrees_with_checked_path(fields):
    """The well-formed-object reader of instances returns what the checked
    reader returns, or declines (the checked reader then answers)."""
    from backends import iallocator as ia
    from htools.haskell.json import decode_strict_object, _Bad
    obj = decode_strict_object(json.dumps(fields))
    quick = ia._quick_base_instance("i1", obj)
    try:
        checked = ia._checked_base_instance("i1", obj)
    except _Bad:
        assert quick is None
        return
    if quick is not None:
        assert repr(quick) == repr(checked)


def test_quick_instance_reader_reads_well_formed_objects():
    from backends import iallocator as ia
    from htools.haskell.json import decode_strict_object
    fields = {k: v[0] for k, v in _INSTANCE_FIELDS.items()}
    fields["disks"] = _INSTANCE_FIELDS["disks"][3]
    fields["nics"] = _INSTANCE_FIELDS["nics"][1]
    obj = decode_strict_object(json.dumps(fields))
    quick = ia._quick_base_instance("i1", obj)
    assert quick is not None
    assert repr(quick) == repr(ia._checked_base_instance("i1", obj))
    assert quick.disks[0].spindles == 2 and quick.nics[0].link == "br0"


def test_find_by_name_index_matches_the_scan():
    """The name index answers as htools' ``findByName`` scan: exactly one
    element having the name among its names (an element whose alias is
    its name counts once; a name two elements share is an error)."""
    from backends import iallocator as ia

    class It:
        def __init__(self, *names):
            self.names = names

        def all_names(self):
            return self.names
    a, b, c = It("a", "a"), It("b", "x"), It("c", "x")
    find = ia._finder([a, b, c])
    assert find("a") is a and find("b") is b and find("c") is c
    for bad in ("x", "zz"):
        with pytest.raises(ia._Bad) as err:
            find(bad)
        assert str(err.value) == "Wrong number of elems found with name " + bad
        with pytest.raises(ia._Bad):
            ia._find_by_name([a, b, c], bad)
