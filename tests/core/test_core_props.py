"""Property tests: the compiled core against the pure-Python metrics.

Random small clusters are written in the text format (offline and unknown
'?' nodes, drbd/plain/diskless/file/shared instances, exclusion, location
and desired-location tags, zero-disk and zero-spindle nodes, exclusive
storage, forthcoming instances, cpu speeds, dynamic utilisation), loaded
through backends.text + loader.merge_data + update_missing, and then:

* ``ClusterState.metrics()``/``score()`` equal ``metrics.detailed_cv``/
  ``comp_cv`` bit for bit (NaN matching NaN);
* ``score_with``/``metrics_with`` of a real move (htools.moves.apply_move,
  falling back to forced remove_pri/add_pri or to arbitrary node
  replacements, which may flip offline flags) equal the scorer on the
  modified node list bit for bit, and do not mutate the state;
* ``set_nodes`` then ``metrics()`` equals the scorer on the new list;
* ``score_with_fast`` equals a literal Python transcription of htools'
  ``updateStatistics`` bit for bit, and is close to the exact score.
"""
from __future__ import annotations

import math
import os
import struct
from typing import Dict, List

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import htools._core as core  # noqa: E402 - the compiled core is required

from backends.text import parse_data  # noqa: E402
from htools import moves as mv  # noqa: E402
from htools import metrics  # noqa: E402
from htools.loader import merge_data, update_missing  # noqa: E402
from htools.model import Node  # noqa: E402
from htools.types import DynUtil, FailMode  # noqa: E402

ClusterState = core.ClusterState

# HTOOLS_PROPS_EXAMPLES=3000 for a longer run
SETTINGS = settings(max_examples=int(os.environ.get("HTOOLS_PROPS_EXAMPLES",
                                                    "200")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])

# ---------------------------------------------------------------------------
# cluster generation (text format)

LOC_TAGS = ["power:a", "power:b", "rack:1"]
INST_TAGS = ["svc:web", "svc:db", "svc:dns", "power:a", "power:b", "other"]
CTAGS = ["htools:iextags:svc", "htools:nlocation:power",
         "htools:nlocation:rack", "htools:desiredlocation:power"]
TEMPLATES = ["drbd", "drbd", "drbd", "plain", "plain", "diskless", "file",
             "sharedfile", "blockdev", "rbd", "ext"]
STATUSES = ["running", "running", "running", "ADMIN_down", "ADMIN_offline",
            "ERROR_up", "ERROR_down", "ERROR_nodedown", "USER_down"]
SPEEDS = ["1.0", "1.0", "0.5", "2.0", "1.5", "3.0"]


@st.composite
def node_line(draw, i: int, guuid: str) -> str:
    name = "node%d" % i
    role = draw(st.sampled_from(["N", "N", "N", "Y", "M"]))
    if role == "Y" and draw(st.integers(0, 3)) == 0:
        return "%s|?|?|?|?|?|?|Y|%s" % (name, guuid)
    t_mem = draw(st.sampled_from([1024, 4096, 8192, 16384, 32768]))
    n_mem = draw(st.sampled_from([0, 128, 512]))
    f_mem = draw(st.integers((t_mem - n_mem) // 2, t_mem - n_mem))
    zero_disk = draw(st.integers(0, 7)) == 0
    t_dsk = 0 if zero_disk else draw(st.sampled_from([10240, 102400, 512000]))
    f_dsk = 0 if zero_disk else draw(st.integers(t_dsk // 2, t_dsk))
    t_cpu = draw(st.sampled_from([1, 2, 4, 8, 16]))
    spindles = draw(st.sampled_from([0] + [1, 2, 4, 4] + [12] * 15))
    excl = "Y" if draw(st.integers(0, 5)) == 0 else "N"
    free_sp = draw(st.integers(0, spindles))
    tags = ",".join(draw(st.lists(st.sampled_from(LOC_TAGS), min_size=1,
                                  max_size=2, unique=True)))
    nos_cpu = draw(st.sampled_from([0, 1, 2]))
    speed = draw(st.sampled_from(SPEEDS))
    return "|".join(str(x) for x in (
        name, t_mem, n_mem, f_mem, t_dsk, f_dsk, t_cpu, role, guuid,
        spindles, tags, excl, free_sp, nos_cpu, speed))


@st.composite
def inst_line(draw, i: int, nnodes: int) -> str:
    tmpl = draw(st.sampled_from(TEMPLATES))
    if tmpl == "drbd" and nnodes < 2:
        tmpl = "plain"
    pnode = draw(st.integers(0, nnodes - 1))
    snode = ""
    if tmpl == "drbd":
        s = draw(st.integers(0, nnodes - 2))
        snode = "node%d" % (s if s < pnode else s + 1)
    mem = draw(st.sampled_from([128, 128, 512, 1024, 2048]))
    dsk = draw(st.sampled_from([0, 128, 1024, 1024, 10240]))
    vcpus = draw(st.integers(1, 4))
    status = draw(st.sampled_from(STATUSES))
    abal = draw(st.sampled_from(["Y", "Y", "N"]))
    tags = ",".join(draw(st.lists(st.sampled_from(INST_TAGS), max_size=3,
                                  unique=True)))
    su = draw(st.integers(0, 3))
    spindles = draw(st.sampled_from(["-", "1", "2"]))
    forth = "Y" if draw(st.integers(0, 6)) == 0 else "N"
    return "|".join(str(x) for x in (
        "inst%d" % i, mem, dsk, vcpus, status, abal, "node%d" % pnode, snode,
        tmpl, tags, su, spindles, forth))


@st.composite
def cluster_text(draw) -> str:
    ngroups = draw(st.integers(1, 2))
    guuids = ["uuid-%d" % g for g in range(ngroups)]
    groups = ["group%d|%s|preferred||" % (g, u) for g, u in enumerate(guuids)]
    nnodes = draw(st.integers(1, 7))
    nodes = [draw(node_line(i, draw(st.sampled_from(guuids))))
             for i in range(nnodes)]
    ninst = draw(st.integers(0, 14))
    insts = [draw(inst_line(i, nnodes)) for i in range(ninst)]
    ctags = draw(st.lists(st.sampled_from(CTAGS), unique=True,
                          min_size=draw(st.integers(0, 2))))
    sections = [groups, nodes, insts, ctags]
    if draw(st.booleans()):
        vr = draw(st.sampled_from(["4.0", "1.0", "8.0", "-1.0"]))
        sr = draw(st.sampled_from(["32.0", "1.0", "2.5", "32.0"] * 3 + ["0.0"]))
        sections.append(["group0|128,1,1024,1,1,1|128,1,1024,1,1,1;"
                         "32768,8,1048576,16,8,12|drbd,plain,diskless,file,"
                         "sharedfile,blockdev,rbd,ext|%s|%s" % (vr, sr)])
    # sections are separated by one empty line; an empty section is empty
    lines: List[str] = []
    for sec in sections:
        lines.extend(sec)
        lines.append("")
    return "\n".join(lines[:-1]) + "\n"


UTIL_VALUES = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.7, 10.0, 0.1])


@st.composite
def cluster(draw):
    text = draw(cluster_text())
    cdata = parse_data(text)
    util = []
    for inst in cdata.instances:
        if draw(st.integers(0, 2)) == 0:
            util.append((inst.name, DynUtil(draw(UTIL_VALUES), draw(UTIL_VALUES),
                                            draw(UTIL_VALUES), draw(UTIL_VALUES))))
    merge_data(cdata, util=util)
    update_missing(cdata, 0)
    return cdata


# ---------------------------------------------------------------------------
# helpers

def same(a: float, b: float) -> bool:
    """Bit-level float equality, any NaN matching any NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def same_list(xs: List[float], ys: List[float]) -> bool:
    return len(xs) == len(ys) and all(same(x, y) for x, y in zip(xs, ys))


def replaced(nodes: List[Node], changes: Dict[int, Node]) -> List[Node]:
    return [changes.get(i, n) for i, n in enumerate(nodes)]


def draw_changes(data, cdata) -> Dict[int, Node]:
    """A change set: a real move if one applies, else forced primary moves
    or arbitrary node replacements (copies of other nodes)."""
    nodes = cdata.nodes
    nl = dict(enumerate(nodes))
    n = len(nodes)
    insts = cdata.instances
    kinds = [mv.FAILOVER, mv.FAILOVER_TO_ANY, mv.REPLACE_PRIMARY,
             mv.REPLACE_SECONDARY, mv.REPLACE_AND_FAILOVER,
             mv.FAILOVER_AND_REPLACE]
    movable = [i for i in insts if i.snode >= 0 or
               i.mirror_type.value == "external"]
    if movable and n >= 2 and data.draw(st.integers(0, 4), label="try") > 0:
        for _ in range(3):
            inst = data.draw(st.sampled_from(movable), label="inst")
            force = data.draw(st.booleans(), label="force")
            tdx = data.draw(st.integers(0, n - 1), label="target")
            kind = data.draw(st.sampled_from(
                kinds if inst.snode >= 0 else [mv.FAILOVER_TO_ANY]),
                label="kind")
            if kind != mv.FAILOVER and tdx in (inst.pnode, inst.snode):
                continue
            res = mv.apply_move(force, nl, inst, mv.IMove(kind, tdx))
            if not isinstance(res, FailMode):
                event("change: move")
                return dict(res[0])
    if insts and n >= 2:
        # forced primary move between two nodes
        inst = data.draw(st.sampled_from(insts), label="inst")
        tdx = data.draw(st.integers(0, n - 1), label="target")
        if tdx != inst.pnode and tdx != inst.snode:
            src = nodes[inst.pnode].remove_pri(inst)
            moved = inst.copy()
            moved.pnode = tdx
            dst = nodes[tdx].add_pri(moved, force=True)
            if not isinstance(dst, FailMode):
                event("change: forced primary move")
                return {inst.pnode: src, tdx: dst}
    event("change: node replacement")
    k = data.draw(st.integers(1, min(3, n)), label="nchanged")
    pos = data.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k,
                             unique=True), label="positions")
    return {p: nodes[data.draw(st.integers(0, n - 1), label="src")].copy()
            for p in pos}


# ---------------------------------------------------------------------------
# a literal transcription of htools' Utils/Statistics.hs + Metrics.hs

def hs_stats(nodes):
    online = [n for n in nodes if not n.offline]
    offline = [n for n in nodes if n.offline]
    if not online:
        return []
    stats = []
    for (_w, _name, agg, on), fn in zip(metrics.METRICS, metrics.NODE_VALUES):
        vals = [fn(n) for n in (online if on else offline)]
        if agg == metrics.SUM:
            s = 0.0
            for x in vals:
                s = s + x
            stats.append(("sum", s))
        elif agg == metrics.STDDEV:
            nt, s = 0.0, 0.0
            for x in vals:
                nt, s = nt + 1, s + x
            mean = s / nt
            nvar = 0.0
            for x in vals:
                d = x - mean
                nvar = nvar + d * d
            stats.append(("sd", nt, s, nvar / nt))
        else:
            m: dict = {}
            for x in vals:
                for k, v in x.items():
                    m[k] = m[k] + v if k in m else v
            stats.append(("map", m))
    return stats


def hs_update(stats, old: Node, new: Node):
    online = not old.offline
    out = []
    for st_, (_w, _n, _a, on), fn in zip(stats, metrics.METRICS,
                                         metrics.NODE_VALUES):
        if on != online:
            out.append(st_)
            continue
        x, y = fn(old), fn(new)
        if st_[0] == "sum":
            out.append(("sum", st_[1] + (y - x)))
        elif st_[0] == "sd":
            _, n, s, var = st_
            ds = y - x
            dss = y * y - x * x
            dnnvar = (n * dss - 2 * s * ds) - ds * ds
            s2 = s + ds
            v = var + dnnvar / (n * n)
            out.append(("sd", n, s2, v if 0 <= v else 0.0))  # max 0 v
        else:
            m = dict(st_[1])
            for k, v in x.items():           # Map.unionWith (-) m x
                m[k] = m[k] - v if k in m else v
            for k, v in y.items():           # Map.unionWith (+) _ y
                m[k] = m[k] + v if k in m else v
            out.append(("map", m))
    return out


def hs_value(st_) -> float:
    if st_[0] == "sum":
        return st_[1]
    if st_[0] == "sd":
        return math.sqrt(st_[3])
    return float(sum(st_[1].values()) - len(st_[1]))


def hs_score(stats) -> float:
    total = 0.0
    for w, st_ in zip(metrics.WEIGHTS, stats):
        total = total + w * hs_value(st_)
    return total


# ---------------------------------------------------------------------------
# properties

def test_constants():
    assert core.WEIGHTS == metrics.WEIGHTS
    assert core.NUM_METRICS == len(metrics.METRICS)
    assert core.core_version() >= 1


@SETTINGS
@given(cluster())
def test_metrics_and_score_exact(cdata):
    nodes = cdata.nodes
    cs = ClusterState(nodes)
    assert len(cs) == len(nodes)
    assert cs.n_online == sum(1 for n in nodes if not n.offline)
    expect = metrics.detailed_cv(nodes)
    assert same_list(cs.metrics(), expect)
    assert same(cs.score(), metrics.comp_cv(nodes))
    event("non-finite metric" if not all(map(math.isfinite, expect))
          else "finite metrics")
    event("offline nodes" if len(nodes) > cs.n_online else "all online")
    event("map metric > 0" if expect and expect[18] > 0 else "map metric 0")
    event("pri_tags > 0" if expect and expect[11] > 0 else "pri_tags 0")
    event("location > 0" if expect and expect[17] > 0 else "location 0")


@SETTINGS
@given(cluster(), st.data())
def test_score_with_exact(cdata, data):
    nodes = cdata.nodes
    cs = ClusterState(nodes)
    before = cs.metrics()
    changes = draw_changes(data, cdata)
    new_nodes = replaced(nodes, changes)
    if any(nodes[i].offline != n.offline for i, n in changes.items()):
        event("offline flag flips")
    assert same(cs.score_with(changes), metrics.comp_cv(new_nodes))
    assert same_list(cs.metrics_with(changes), metrics.detailed_cv(new_nodes))
    # pairs in any order address the same nodes
    pairs = list(changes.items())[::-1]
    assert same(cs.score_with(pairs), metrics.comp_cv(new_nodes))
    # no mutation
    assert same_list(cs.metrics(), before)
    assert same(cs.score_with({}), metrics.comp_cv(nodes))
    # applying the change gives the same figures
    cs.set_nodes(changes)
    assert same_list(cs.metrics(), metrics.detailed_cv(new_nodes))
    assert same(cs.score(), metrics.comp_cv(new_nodes))
    # and back again
    cs.set_nodes({i: nodes[i] for i in changes})
    assert same_list(cs.metrics(), before)


@SETTINGS
@given(cluster(), st.data())
def test_keys(cdata, data):
    nodes = cdata.nodes
    keys = [10 * n.idx + 7 for n in nodes]
    cs = ClusterState(nodes, keys=keys)
    changes = draw_changes(data, cdata)
    keyed = {keys[i]: n for i, n in changes.items()}
    assert same(cs.score_with(keyed), metrics.comp_cv(replaced(nodes, changes)))
    assert cs.position(keys[-1]) == len(nodes) - 1


@SETTINGS
@given(cluster(), st.data())
def test_score_with_fast_is_htools_update(cdata, data):
    nodes = cdata.nodes
    cs = ClusterState(nodes)
    changes = draw_changes(data, cdata)
    new_nodes = replaced(nodes, changes)
    if any(nodes[i].offline != n.offline for i, n in changes.items()):
        # outside htools' update: score_with_fast falls back to score_with
        assert same(cs.score_with_fast(changes), metrics.comp_cv(new_nodes))
        return
    stats = hs_stats(nodes)
    for i, new in changes.items():
        if stats:
            stats = hs_update(stats, nodes[i], new)
    hs_vals = [hs_value(s) for s in stats]
    fast = cs.metrics_with_fast(changes)
    exact = metrics.detailed_cv(new_nodes)
    assert len(fast) == len(hs_vals)
    if not fast:
        assert cs.score_with_fast(changes) == 0.0
        return
    for m in range(len(fast)):
        if m == 18:
            # exact; htools' map update counts keys whose count fell to 0
            assert fast[m] == exact[m] >= hs_vals[m]
        else:
            assert same(fast[m], hs_vals[m]), (m, fast[m], hs_vals[m])
    if fast[18] == hs_vals[18]:
        assert same(cs.score_with_fast(changes), hs_score(stats))


@SETTINGS
@given(cluster(), st.data())
def test_score_with_fast_close(cdata, data):
    nodes = cdata.nodes
    cs = ClusterState(nodes)
    changes = draw_changes(data, cdata)
    # htools' update only follows nodes staying online (or offline)
    if any(nodes[i].offline != n.offline for i, n in changes.items()):
        return
    new_nodes = replaced(nodes, changes)
    exact = metrics.detailed_cv(new_nodes)
    fast = cs.metrics_with_fast(changes)
    old_vals = cs.values()
    if not exact:
        assert fast == []
        return
    if not all(math.isfinite(x) for x in exact + list(old_vals.flat)):
        event("fast: non-finite, skipped")
        return   # NaN/inf inputs: the update's `max 0` differs by design
    ill = False
    for m, (_w, _n, agg, on) in enumerate(metrics.METRICS):
        col = [abs(x) for x in old_vals[:, m]] + \
            [abs(v) for v in (cs_row(n)[m] for n in changes.values())]
        big = max(col, default=0.0)
        if agg == metrics.STDDEV:
            # variance-level bound of the running update
            assert abs(fast[m] ** 2 - exact[m] ** 2) <= 1e-12 * (1 + big * big)
            if exact[m] ** 2 < 1e-6 * (1 + big * big) and fast[m] != exact[m]:
                ill = True
        elif agg == metrics.SUM:
            assert abs(fast[m] - exact[m]) <= 1e-12 * (1 + sum(col))
        else:
            assert fast[m] == exact[m]
    event("fast: ill-conditioned deviation" if ill else "fast: score compared")
    if not ill:
        assert math.isclose(cs.score_with_fast(changes), metrics.comp_cv(new_nodes),
                            rel_tol=1e-9, abs_tol=1e-12)


def cs_row(node: Node) -> List[float]:
    return ClusterState([node]).node_values(0)


@SETTINGS
@given(cluster())
def test_node_values_match_scorer(cdata):
    cs = ClusterState(cdata.nodes)
    for i, n in enumerate(cdata.nodes):
        row = cs.node_values(i)
        for m, fn in enumerate(metrics.NODE_VALUES):
            if m == 18:
                continue
            assert same(row[m], fn(n)), (m, row[m], fn(n))


def test_errors():
    text = ("g|u|preferred||\n\n"
            "n0|1024|0|512|1024|512|4|N|u\nn1|1024|0|512|1024|512|4|N|u\n\n\n\n")
    cdata = parse_data(text)
    merge_data(cdata)
    update_missing(cdata, 0)
    cs = ClusterState(cdata.nodes)
    with pytest.raises(IndexError):
        cs.score_with({5: cdata.nodes[0]})
    with pytest.raises(ValueError):
        cs.score_with([(0, cdata.nodes[0]), (0, cdata.nodes[1])])
    with pytest.raises(ValueError):
        ClusterState(cdata.nodes, keys=[1])


def test_no_online_nodes():
    text = ("g|u|preferred||\n\n"
            "n0|1024|0|512|1024|512|4|Y|u\nn1|?|?|?|?|?|?|Y|u\n\n"
            "i0|128|10|1|running|Y|n0||plain|\n\n")
    cdata = parse_data(text)
    merge_data(cdata)
    update_missing(cdata, 0)
    cs = ClusterState(cdata.nodes)
    assert cs.metrics() == [] == metrics.detailed_cv(cdata.nodes)
    assert cs.score() == 0.0 == metrics.comp_cv(cdata.nodes)
    assert cs.score_with_fast({}) == 0.0
    empty = ClusterState([])
    assert empty.metrics() == [] and empty.score() == 0.0
    # bringing a node online through a change
    online = cdata.nodes[0].copy()
    online.offline = False
    new_nodes = [online, cdata.nodes[1]]
    assert same_list(cs.metrics_with({0: online}), metrics.detailed_cv(new_nodes))
    assert same(cs.score_with({0: online}), metrics.comp_cv(new_nodes))
