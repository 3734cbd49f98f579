"""Storage pools (several volume groups per node): the rule, the compiled
core against the specification, and hbal on multi-VG clusters.

* every candidate move of generated multi-VG clusters: the specification
  (``moves.apply_move``) fails exactly when the compiled evaluation does,
  with the same score bits, and no feasible move gives a node that gains
  the instance's storage a missing volume group or a full one;
* whole balancing runs: the compiled and the Python balancer make the same
  moves on multi-VG clusters;
* allocation (hail's tryAlloc): compiled and model agree, and no placement
  lands on a node lacking a volume group of the new instance or its space;
* hbal's move list on multi-VG clusters replays without a failing move.
"""
from __future__ import annotations

import os
import struct
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import htools._balance  # noqa: F401 - the compiled core is required

from backends.text import parse_data
from htools import balance, metrics
from htools import moves as mv
from htools._balance import BalanceState
from htools.alloc import capacity as cap
from htools.alloc.place import gen_alloc_nodes
from htools.alloc.solution import AllocFailure
from htools.loader import merge_data, update_missing
from htools.model import pool_shortage, set_pool_disks
from htools.params import AlgorithmOptions
from htools.types import DiskTemplate, FailMode
from simulate import pools as gen
from tests.harness.balancing import hbal_table

SETTINGS = settings(max_examples=int(os.environ.get("HTOOLS_PROPS_EXAMPLES", "25")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _gained(inst, new_p, new_s):
    """The nodes that gain ``inst``'s storage when it moves to new_p/new_s."""
    old = set(inst.all_nodes())
    new = {new_p, new_s} if inst.has_secondary else {new_p}
    return sorted(new - old)


def _cluster(tmp_path, seed, nodes, instances, without, frac, nvme=0, meta=0.0,
             **params):
    text = gen.generate(nodes=nodes, instances=instances, without_hdd=without,
                        hdd_frac=frac, seed=seed, nvme_nodes=nvme,
                        meta_on_hdd_frac=meta, **params)
    path = tmp_path / ("mv%d-%d.data" % (seed, nodes))
    path.write_text(text)
    return str(path), text


@SETTINGS
@given(seed=st.integers(0, 10000), nodes=st.integers(4, 9),
       without=st.integers(1, 3), frac=st.sampled_from([0.2, 0.4, 0.8]),
       nvme=st.integers(0, 2), meta=st.sampled_from([0.0, 0.5]),
       force=st.booleans(), forth=st.sampled_from([0.0, 0.0, 0.2]),
       offline=st.sampled_from([0.0, 0.0, 0.2]))
def test_every_candidate_rule_and_core(tmp_path, seed, nodes, without, frac,
                                       nvme, meta, force, forth, offline):
    path, _ = _cluster(tmp_path, seed, nodes, nodes * 4, without, frac, nvme,
                       meta, forthcoming_frac=forth, offline_frac=offline)
    _, algo, tbl, _ = hbal_table(["-t", path] + (["--ignore-soft-errors"]
                                                 if force else []))
    state = BalanceState(tbl.nodes, tbl.insts, algo)
    order = sorted(tbl.nodes)
    feasible = refused = 0
    for iidx in sorted(tbl.insts):
        inst = tbl.insts[iidx]
        if not (inst.movable and inst.auto_balance):
            continue
        # moves off an offline node ignore soft errors, as with force
        soft = force or any(tbl.nodes[n].offline for n in inst.all_nodes()
                            if n in tbl.nodes)
        cands = [mv.IMove(mv.FAILOVER)] if inst.has_secondary else []
        for t in order:
            if t in (inst.pnode, inst.snode):
                continue
            kinds = ([mv.FAILOVER_TO_ANY, mv.REPLACE_PRIMARY,
                      mv.REPLACE_SECONDARY, mv.REPLACE_AND_FAILOVER,
                      mv.FAILOVER_AND_REPLACE] if inst.has_secondary
                     else [mv.FAILOVER_TO_ANY])
            cands += [mv.IMove(k, t) for k in kinds]
        for move in cands:
            res = mv.apply_move(force, tbl.nodes, inst, move)
            got = state.evaluate(iidx, move.kind, move.target)
            if isinstance(res, FailMode):
                assert got is None, (inst.name, move, res)
                continue
            changed, new_inst, new_p, new_s = res
            assert got is not None, (inst.name, move)
            exact = metrics.comp_cv([changed.get(i) or tbl.nodes[i] for i in order])
            assert bits(got) == bits(exact)
            feasible += 1
            if move.kind == mv.FAILOVER_TO_ANY and inst.has_secondary:
                continue    # not a move hbal proposes for DRBD
            if inst.forthcoming and soft:
                continue    # a forthcoming instance's checks are all soft
            for ndx in _gained(inst, new_p, new_s):
                node = tbl.nodes[ndx]
                if node.pools is None or not inst.pools:
                    continue
                # the rule: every VG of the demand there, with free space
                assert pool_shortage(node, inst, strict=False) is None, (
                    inst.name, move, node.name, inst.pools, node.pools)
        for t in order:
            if inst.pools and tbl.nodes[t].pools is not None \
                    and pool_shortage(tbl.nodes[t], inst, False) \
                    and not (inst.forthcoming and soft) \
                    and inst.has_secondary and t not in inst.all_nodes():
                assert mv.apply_move(force, tbl.nodes, inst,
                                     mv.IMove(mv.REPLACE_SECONDARY, t)) \
                    == FailMode.FailDisk
                refused += 1
    assert feasible > 0


def _run(algo, tbl, min_score, steps, fast):
    from htools.balance import compiled as fastbalance
    from htools.balance import search
    sc = (fastbalance.make_scorer(algo, tbl) if fast
          else search.Scorer(tbl.nodes))
    out = []
    while balance.do_next_balance(tbl, steps, min_score):
        new = (fastbalance.try_balance(algo, tbl, sc) if fast
               else search.try_balance(algo, tbl, sc))
        if new is None:
            break
        plc = new.plc[-1]
        out.append((plc.idx, plc.move.kind, plc.move.target, plc.score.hex()))
        tbl = new
    return out, tbl


@pytest.mark.parametrize("seed", [1, 2])
def test_same_moves_as_python(tmp_path, seed):
    path, _ = _cluster(tmp_path, seed, 10, 60, 4, 0.33, nvme=2, meta=0.3)
    _, algo, tbl, min_score = hbal_table(["-t", path])
    want, wtbl = _run(algo, tbl, min_score, 15, False)
    _, algo, tbl, min_score = hbal_table(["-t", path])
    got, gtbl = _run(algo, tbl, min_score, 15, True)
    assert got == want and want
    for i in wtbl.nodes:
        assert wtbl.nodes[i].pools == gtbl.nodes[i].pools


def _load(text):
    cdata = parse_data(text)
    merge_data(cdata)
    update_missing(cdata, 0)
    return cdata


@pytest.mark.parametrize("seed", range(4))
def test_allocation_respects_pools(tmp_path, seed):
    import os
    from htools.alloc import compiled as fastalloc
    from htools.alloc.place import try_alloc
    _, text = _cluster(tmp_path, seed, 10, 40, 4, 0.33)
    cdata = _load(text)
    nl = {n.idx: n for n in cdata.nodes}
    il = {i.idx: i for i in cdata.instances}
    groups = sorted(cdata.groups, key=lambda g: g.idx)
    rng = Random(seed)
    opts = AlgorithmOptions().replace(capacity=False)
    placed = 0
    for _ in range(20):
        dt = rng.choice([DiskTemplate.DRBD, DiskTemplate.PLAIN])
        dsk = rng.choice([1024, 10240, 51200])
        inst = cap.inst_from_spec(1024, dsk, 1, 1, dt, 1)
        vg = rng.choice([gen.HDD_VG, gen.DEFAULT_VG, "vg_missing"])
        set_pool_disks(inst, [(dsk, vg, gen.DEFAULT_VG)])
        try:
            an = gen_alloc_nodes(opts, groups, nl, cap.required_nodes(dt), True)
        except AllocFailure:
            continue
        os.environ["HTOOLS_PURE"] = "1"
        try:
            want = try_alloc(opts, nl, il, inst, an)
        finally:
            del os.environ["HTOOLS_PURE"]
        # with known pools the compiled allocation leaves the choice to
        # the model's path (whose ClusterState scores the pool metric)
        assert fastalloc.try_alloc(opts, nl, il, inst, an, None) is None
        got = try_alloc(opts, nl, il, inst, an)
        assert list(got.fails) == list(want.fails)
        assert got.allocs == want.allocs
        el, wl = got.solution, want.solution
        assert (el is None) == (wl is None)
        if el is None:
            continue
        assert (el.inst.pnode, el.inst.snode, bits(el.score)) == \
            (wl.inst.pnode, wl.inst.snode, bits(wl.score))
        for ndx in el.inst.all_nodes():
            assert pool_shortage(nl[ndx], inst) is None
            assert el.changes[ndx].pools == wl.changes[ndx].pools
        if el.inst.snode < 0:
            # one-node placements are scored exactly: the specification's
            # score of the resulting cluster, pool metric included
            after = dict(nl)
            after.update(el.changes)
            assert bits(el.score) == bits(metrics.comp_cv(
                [after[k] for k in sorted(after)]))
        assert vg != "vg_missing"
        placed += 1
    assert placed


def test_text_round_trip_and_single_pool(tmp_path):
    from backends.text import serialize_cluster
    _, text = _cluster(tmp_path, 3, 8, 30, 3, 0.33, nvme=2, meta=0.5)
    cdata = parse_data(text)
    assert serialize_cluster(cdata) == text
    assert any(n.pools for n in cdata.nodes)
    assert any(i.pools for i in cdata.instances)
    # without the pool section: no pools, the rule never applies
    head = text[:text.index("\npool|")]
    plain = parse_data(head)
    assert all(n.pools is None for n in plain.nodes)
    assert all(not i.pools for i in plain.instances)
    assert serialize_cluster(plain) == head


# ---------------------------------------------------------------------------
# hail: the request's storage keys and --pool-data

HAIL_REQ = "/work/shared/ganeti-testdata/htools/hail-alloc-drbd.json"


def _hail(tmp_path, req, *opts):
    import json
    import subprocess
    import sys
    path = tmp_path / "req.json"
    path.write_text(json.dumps(req))
    out = subprocess.run([sys.executable, "-m", "htools.cli", "hail"] + list(opts)
                         + [str(path)], capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture
def hail_request():
    import json
    import os
    if not os.path.exists(HAIL_REQ):
        pytest.skip("test data not available")
    with open(HAIL_REQ) as fh:
        return json.load(fh)


def test_hail_storage_keys(tmp_path, hail_request):
    import json
    req = hail_request
    rc, plain, _ = _hail(tmp_path, req)
    assert rc == 0 and json.loads(plain)["result"] == ["node2", "node1"]
    req["volume_group_name"] = "xenvg"
    for name, node in req["nodes"].items():
        node["storage"] = [{"name": "xenvg", "size": 400000, "free": 300000}]
        if name in ("node1", "node3"):
            node["storage"].append({"type": "lvm-vg", "name": "vg_ganeti_hdd",
                                    "size": 2000000, "free": 1900000})
    rc, same, _ = _hail(tmp_path, req)
    # no disk on a named VG yet: the same placement, but the score's disk
    # metrics are now the pool metric
    assert rc == 0 and json.loads(same)["result"] == json.loads(plain)["result"]
    assert same != plain
    req["request"]["disks"][0]["vg"] = "vg_ganeti_hdd"
    rc, out, _ = _hail(tmp_path, req)
    ans = json.loads(out)
    assert rc == 0 and ans["success"]
    assert sorted(ans["result"]) == ["node1", "node3"]
    assert "FailDisk: 10" in ans["info"]
    # the meta LV stays on xenvg: with xenvg full on node3, no pair fits
    req["nodes"]["node3"]["storage"][0]["free"] = 100
    rc, out, _ = _hail(tmp_path, req)
    ans = json.loads(out)
    assert rc == 0 and not ans["success"]
    assert "node3: not enough free space in volume group xenvg" in ans["explanation"]
    assert "node2: no volume group vg_ganeti_hdd" in ans["explanation"]
    # bad extension data: one error line, the parse-error status
    req["nodes"]["node3"]["storage"][0]["free"] = "lots"
    rc, out, err = _hail(tmp_path, req)
    assert rc == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("Error: ")


def test_hail_pool_data_file(tmp_path, hail_request):
    import json
    req = hail_request
    req["request"]["disks"][0]["vg"] = "vg_ganeti_hdd"
    pools = tmp_path / "pools"
    pools.write_text("".join(
        "pool|%s|xenvg|400000|300000\n" % n for n in req["nodes"])
        + "pool|node2|vg_ganeti_hdd|900000|800000\n"
        + "pool|node4|vg_ganeti_hdd|900000|800000\n")
    rc, out, _ = _hail(tmp_path, req, "--pool-data=%s" % pools)
    ans = json.loads(out)
    assert rc == 0 and sorted(ans["result"]) == ["node2", "node4"]
    for bad, word in [("pool|node9|xenvg|1|1\n", "node9"),
                      ("disk|nosuchinst|10|xenvg|\n", "nosuchinst"),
                      ("pool|node1|xenvg|many|1\n", "many")]:
        pools.write_text(bad)
        rc, out, err = _hail(tmp_path, req, "--pool-data=%s" % pools)
        assert rc == 1 and out == "" and len(err.splitlines()) == 1
        assert word in err and err.startswith("Error: ")


def test_failing_moves_replay():
    """The replay of an hbal move list (names without the common domain, as
    hbal shows them) against the pools, in order."""
    text = gen.generate(nodes=6, instances=24, without_hdd=2, hdd_frac=0.3,
                        seed=9, domain=".torproject.org")
    cdata = parse_data(text)
    names = {n.name: n for n in cdata.nodes}
    lacking = sorted(n.name for n in cdata.nodes
                     if gen.HDD_VG not in n.pools)
    hdd = next(i for i in cdata.instances if gen.HDD_VG in i.pools
               and i.has_secondary)
    short = lambda x: x[:-len(".torproject.org")]  # noqa: E731
    p, s = cdata.nodes[hdd.pnode].name, cdata.nodes[hdd.snode].name
    with_hdd = next(n for n in sorted(names) if gen.HDD_VG in names[n].pools
                    and n not in (p, s))
    line = "    %d. %s %s:%s => %s:%s  1.0 a=r:%s\n"
    out = (line % (1, short(hdd.name), short(p), short(s), short(p),
                   short(lacking[0]), short(lacking[0]))
           + line % (2, short(hdd.name), short(p), short(lacking[0]), short(p),
                     short(with_hdd), short(with_hdd)))
    assert gen.failing_moves(text, out) == [
        "1 %s %s: no volume group %s" % (hdd.name, lacking[0], gen.HDD_VG)]
