"""Text backend: parsing, defaults for short rows, errors, byte-exact saving."""
import pytest

from backends import text
from htools.errors import HtoolsError
from htools.loader import merge_data, update_missing
from htools.types import DiskTemplate, InstanceStatus

SAMPLE = """\
group-01|fake-uuid-01|preferred||
group-02|fake-uuid-02|last_resort|gtag|net1

node1|16384|1024|13312|409600|307200|16|M|fake-uuid-01|2|power:a|N|0|2|1.5
node2|16384|1024|15360|409600|409600|16|N|fake-uuid-01
node3|32768|0|32768|819200|819200|32|Y|fake-uuid-02|1

inst1|1024|51200|2|running|Y|node1|node2|drbd|web,service:a|2|-|N
inst2|1024|51200|1|ADMIN_down|N|node1||plain|
inst3|512|0|1|running|Y|node2||diskless||1

htools:iextags:service

|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|plain,drbd|4.0|32.0
group-02|256,2,2048,1,1,1|128,1,1024,1,1,1;65536,16,1048576,16,8,12|drbd|8.0|16.0
"""


def load(tmp_path, content=SAMPLE):
    path = tmp_path / "c.data"
    path.write_text(content)
    cdata = text.load(str(path))
    merge_data(cdata)
    update_missing(cdata, 4096)
    return cdata


def test_sections_and_defaults(tmp_path):
    c = load(tmp_path)
    assert [g.name for g in c.groups] == ["group-01", "group-02"]
    assert c.groups[1].networks == ["net1"] and c.groups[1].tags == ["gtag"]
    n1, n2, n3 = c.nodes
    assert n1.is_master and not n1.offline and n1.tags == ["power:a"]
    assert n1.t_cpu_speed == 1.5 and n1.n_cpu == 2 and n1.t_spindles == 2
    # short rows get htools' defaults
    assert n2.t_spindles == 1 and n2.tags == [] and not n2.excl_storage
    assert n2.n_cpu == 1 and n2.t_cpu_speed == 1.0
    assert n3.offline and n3.group == 1
    i1, i2, i3 = c.instances
    assert i1.disk_template == DiskTemplate.DRBD and i1.snode == 1
    assert i1.excl_tags == ["service:a"] and i1.spindle_use == 2
    assert i2.run_st == InstanceStatus.ADMIN_DOWN and not i2.auto_balance
    assert i2.snode == -1 and i2.spindle_use == 1 and i2.disks[0].spindles is None
    assert c.tags == ["htools:iextags:service"]
    assert c.ipolicy.disk_templates == (DiskTemplate.PLAIN, DiskTemplate.DRBD)
    assert c.groups[1].ipolicy.vcpu_ratio == 8.0
    assert c.groups[0].ipolicy.vcpu_ratio == 4.0  # not inherited


def test_accounting_after_merge(tmp_path):
    c = load(tmp_path)
    n1, n2, _ = c.nodes
    assert n1.p_list == [1, 0] and n2.s_list == [0]
    assert n1.i_mem == 1024          # ADMIN_down does not use memory
    assert n1.u_cpu == 2 + 2 + 1     # node OS cpus + vcpus of primaries
    assert n2.r_mem == 1024 and n2.peers == [(0, 1024)]
    assert n1.x_mem == 16384 - 1024 - 1024 - 13312


def test_round_trip_is_stable(tmp_path):
    c = load(tmp_path)
    out = text.serialize_cluster(c)
    path = tmp_path / "again.data"
    path.write_text(out)
    c2 = text.load(str(path))
    merge_data(c2)
    update_missing(c2, 4096)
    assert text.serialize_cluster(c2) == out
    first_node = out.split("\n\n")[1].splitlines()[0]
    assert first_node == ("node1|16384|1024|13312|409600|307200|16|M|fake-uuid-01"
                          "|2|power:a|N|0|2|1.5")


def test_save_is_atomic_and_reports_errors(tmp_path):
    c = load(tmp_path)
    target = tmp_path / "out.original"
    text.save(c, str(target))
    assert target.read_text() == text.serialize_cluster(c)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".htools-")]
    with pytest.raises(HtoolsError):
        text.save(c, str(tmp_path / "missing-dir" / "x"))


@pytest.mark.parametrize("content,message", [
    ("g|u|preferred||\n", "Invalid format of the input file: 1 sections instead of 4 or more"),
    ("g|u|bogus||\n\n\n\n", 'Invalid string value for type AllocPolicy: "bogus"'),
    ("g|u\n\n\n\n", "Invalid/incomplete group data: '[\"g\",\"u\"]'"),
    ("g|u|preferred||\n\nn1|1|0|1|1|1|1|N|x\n\n\n", "Unknown group 'x' for node n1"),
    ("g|u|preferred||\n\nn1|1|0|1|1|1|1|N\n\n\n",
     "Invalid/incomplete node data: '[\"n1\",\"1\",\"0\",\"1\",\"1\",\"1\",\"1\",\"N\"]'"),
    ("g|u|preferred||\n\nn1|1|0|1|1|1|1|N|u|1|t|Q\n\n\n",
     "Invalid exclusive_storage value for node 'n1': Q"),
    ("g|u|preferred||\n\nn1|1024|0|1.5|100|100|4|N|u\n\n\n",
     "n1: cannot parse string '1.5'"),
    ("g|u|preferred||\n\nn1|1024|0|12|100|100|4|N|u\n\ni1|128|10|1|running|Y|n2||plain|\n\n",
     "Unknown node 'n2' for instance i1"),
    ("g|u|preferred||\n\nn1|1024|0|12|100|100|4|N|u\n\ni1|128|10|1|running|Y|n1|n1|drbd|\n\n",
     "Instance i1 has same primary and secondary node - n1"),
    ("g|u|preferred||\n\nn1|1024|0|12|100|100|4|N|u\n\ni1|128|10|1|running|Y|n1||foo|\n\n",
     'Instance i1: Invalid string value for type DiskTemplate: "foo"'),
    ("g|u|preferred||\n\nn1|1024|0|12|100|100|4|N|u\n\ni1|128|10|1|running|X|n1||plain|\n\n",
     "Invalid auto_balance value 'X' for instance i1"),
])
def test_errors_are_htools_messages(tmp_path, content, message):
    path = tmp_path / "bad.data"
    path.write_text(content)
    with pytest.raises(HtoolsError) as err:
        text.load(str(path))
    assert err.value.message == message


def test_missing_file_message(tmp_path):
    with pytest.raises(HtoolsError) as err:
        text.load(str(tmp_path / "nope"))
    assert err.value.message.endswith(
        "nope: openFile: does not exist (No such file or directory)")


def test_unknown_values_make_offline_node(tmp_path):
    c = load(tmp_path, "g|u|preferred||\n\nn1|?|0|1|1|1|1|M|u\n\n\n")
    n = c.nodes[0]
    assert n.offline and n.t_mem == 0 and not n.is_master
