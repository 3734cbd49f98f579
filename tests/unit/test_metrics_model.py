"""Scorer, loader helpers and moves on small hand-made clusters."""

import pytest

from backends import text
from htools import moves as mv
from htools.loader import longest_domain, lookup_name, merge_data, update_missing
from htools.model import pm_accum, pm_add, pm_max, pm_remove
from htools.metrics import NAMES, WEIGHTS, comp_cv, detailed_cv, optimal_cv_score
from htools.types import FailMode

CLUSTER = """\
group-01|fake-uuid-01|preferred||

node-01|16384|0|14336|409600|153600|16|N|fake-uuid-01|1
node-02|16384|0|13312|409600|153600|16|N|fake-uuid-01|1

dns1|1024|51200|1|running|Y|node-01|node-02|drbd|service-group:dns,foo|1
dns2|1024|51200|1|running|Y|node-01|node-02|drbd|service-group:dns,foo|1
ftp1|1024|51200|1|running|Y|node-02|node-01|drbd|test:ftp,bar|1
ftp2|1024|51200|1|running|Y|node-02|node-01|drbd|test:ftp,bar|1
admin|1024|51200|1|running|Y|node-02|node-01|drbd|foo|1

htools:iextags:service-group
"""


@pytest.fixture
def cdata(tmp_path):
    p = tmp_path / "c.data"
    p.write_text(CLUSTER)
    c = text.load(str(p))
    merge_data(c)
    update_missing(c, 4096)
    return c


def test_metric_table_matches_reference_values(cdata):
    # values printed by the reference hinfo for this cluster
    vals = dict(zip(NAMES, detailed_cv(cdata.nodes)))
    assert vals["free_mem_cv"] == 0.03125
    assert vals["pri_tags_score"] == 1.0
    assert vals["cpu_load_cv"] == 0.5
    assert vals["reserved_mem_rtotal"] == 0.3125
    assert comp_cv(cdata.nodes) == 3.671875
    assert len(WEIGHTS) == 20 and WEIGHTS[5] == 16.0


def test_no_online_nodes_means_no_metrics(cdata):
    for n in cdata.nodes:
        n.offline = True
    assert detailed_cv(cdata.nodes) == []
    assert comp_cv(cdata.nodes) == 0.0


def test_optimal_score(cdata):
    # 2 nodes of 16 GiB, peers total 5 GiB
    expected = 0.25 * (5120 / 16384.0 - 5120 / 32768.0)
    assert optimal_cv_score(cdata.nodes) == expected
    assert optimal_cv_score(cdata.nodes[:1]) == 0.0


def test_failover_keeps_resources_consistent(cdata):
    nl = {n.idx: n for n in cdata.nodes}
    inst = cdata.instances[0]
    res = mv.apply_move(False, nl, inst, mv.IMove(mv.FAILOVER))
    assert not isinstance(res, FailMode)
    changed, new_inst, p, s = res
    assert (p, s) == (1, 0) and (new_inst.pnode, new_inst.snode) == (1, 0)
    assert inst.pnode == 0  # the original is untouched
    new_nodes = [changed.get(i, nl[i]) for i in sorted(nl)]
    assert sorted(new_nodes[1].p_list) == [0, 2, 3, 4]
    assert new_nodes[0].s_list.count(0) == 1
    # moving a service-group:dns instance next to its twin raises the tag score
    assert comp_cv(new_nodes) != comp_cv(cdata.nodes)


def test_tag_exclusion_blocks_strict_placement(cdata):
    n1 = cdata.nodes[0]
    twin = cdata.instances[1]
    assert n1.add_pri(twin) == FailMode.FailTags
    assert not isinstance(n1.add_pri(twin, force=True), FailMode)


def test_memory_check(cdata):
    big = cdata.instances[0].copy()
    big.mem = 20000
    assert cdata.nodes[1].add_pri(big, force=True) == FailMode.FailMem


def test_peer_map_order_and_max():
    pm = pm_accum([(1, 100), (2, 300), (1, 50), (3, 0)])
    assert pm == [(2, 300), (1, 150), (3, 0)]
    assert pm_max(pm) == 300
    assert pm_add(pm, 3, 400)[0] == (3, 400)
    assert pm_remove(pm, 2) == [(1, 150), (3, 0)]


def test_lookup_name():
    names = ["node1.example.com", "node10.example.com", "node2"]
    assert lookup_name(names, "node1") == (2, "node1.example.com")
    assert lookup_name(names, "node2") == (0, "node2")
    assert lookup_name(["a.x", "a.y"], "a")[0] == 1   # ambiguous
    assert lookup_name(names, "zzz")[0] == 3


def test_longest_domain():
    assert longest_domain(["a.b.example.com", "c.example.com"]) == ".example.com"
    assert longest_domain(["a", "b.x"]) == ""
    assert longest_domain([]) == ""


def test_possible_moves_order():
    kinds = [m.kind for m in mv.possible_moves("internal", True, True, True,
                                                False, False, 5)]
    assert kinds == [mv.REPLACE_SECONDARY, mv.REPLACE_AND_FAILOVER,
                     mv.REPLACE_PRIMARY, mv.FAILOVER_AND_REPLACE]
    assert mv.possible_moves("internal", True, False, True, False, False, 5) == \
        [mv.IMove(mv.REPLACE_SECONDARY, 5)]
    assert mv.possible_moves("external", False, True, True, False, False, 5) == \
        [mv.IMove(mv.FAILOVER_TO_ANY, 5)]
    assert mv.possible_moves("none", True, True, True, False, False, 5) == []
