"""hbal --search=pruned: the opt-in faster search of large clusters.

* quality: on generated 40-node / 400-instance clusters (several seeds)
  the pruned run's final score is within 1 % of the exhaustive one;
* every step of pruned runs on generated clusters (plain and with all
  features: offline nodes, forthcoming instances, location, migration and
  exclusion tags, cpu speeds, ipolicies) is a legal move (``apply_move``
  on the model succeeds, with soft errors enforced unless
  --ignore-soft-errors), its score is bit-identical to ``comp_cv`` of the
  moved model, scores strictly decrease, and the compiled state agrees
  with the model after every move;
* hbal's options keep their meaning (--no-disk-moves,
  --no-instance-moves, -E, -O, --restricted-migration, -g/--min-gain-limit,
  -l) and a run ends only where the exhaustive search has no acceptable
  move either (also when the pruned neighbourhood is made tiny, so that
  nearly every step has to widen it), or, above the widening bound, where
  the widest level has none;
* the command line: ``--search`` values, the one-line error for a bad
  one, and the unchanged output format.
"""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

import htools._balance  # noqa: E402,F401 - the compiled core is required

from htools import balance, metrics  # noqa: E402
from htools.balance import compiled as fastbalance  # noqa: E402
from htools.balance import search  # noqa: E402
from htools import moves as mv  # noqa: E402
from htools.cli.options import CommandLineExit, parse_cmdline  # noqa: E402
from htools.types import FailMode  # noqa: E402
from simulate.generator import generate  # noqa: E402
from tests.harness.balancing import hbal_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

FEATURES = dict(location_tags=True, migration_tags=True, desired_location=True,
                ipolicy=True, cpu_speed=True)

CLUSTERS = {
    "plain40a": dict(nodes=40, instances=400, seed=1),
    "plain40b": dict(nodes=40, instances=400, seed=2),
    "plain40c": dict(nodes=40, instances=400, seed=3, skew=0.9),
    "feat30": dict(nodes=30, instances=240, seed=4, offline_frac=0.1,
                   forthcoming_frac=0.05, overcommit=True, **FEATURES),
    "feat20": dict(nodes=20, instances=150, seed=5, offline_frac=0.15,
                   **FEATURES),
}


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _file(cluster_dir, name):
    path = cluster_dir / (name + ".data")
    if not path.exists():
        path.write_text(generate(**CLUSTERS[name]))
    return path


def _table(path, options=()):
    return hbal_table(["-t", str(path)] + list(options))


def _run(algo, tbl, min_score, max_rounds=-1, check=False, tune=None):
    """hbal's loop; with ``check`` every step is verified against the
    model.  Returns the final table and the metrics."""
    sc = fastbalance.make_scorer(algo, tbl)
    assert isinstance(sc, fastbalance.FastBalancer)
    if tune:
        for k, v in tune.items():
            setattr(sc.state, k, v)
    while balance.do_next_balance(tbl, max_rounds, min_score):
        new = fastbalance.try_balance(algo, tbl, sc)
        if new is None:
            break
        if check:
            _verify_step(algo, tbl, new, sc)
        tbl = new
    return tbl, sc


def _verify_step(algo, old, new, sc):
    plc = new.plc[-1]
    inst = old.insts[plc.idx]
    assert len(new.plc) == len(old.plc) + 1
    # legal: the model accepts the move (soft errors as the options say)
    res = mv.apply_move(algo.ignore_soft_errors, old.nodes, inst, plc.move)
    assert not isinstance(res, FailMode), (inst.name, plc.move, res)
    changed, new_inst, pdx, sdx = res
    assert (pdx, sdx) == (plc.pnode, plc.snode)
    assert new.insts[plc.idx].pnode == new_inst.pnode
    # exact score, strictly lower, min-gain rule
    order = sorted(new.nodes)
    exact = metrics.comp_cv([new.nodes[i] for i in order])
    assert bits(exact) == bits(plc.score) == bits(new.score)
    assert new.score < old.score
    assert old.score > algo.min_gain_limit or old.score - new.score >= algo.min_gain
    # the compiled state follows the model
    fastbalance._check(sc.state, new.nodes, new.insts[plc.idx], plc.score)


def _exhaustive_done(algo, tbl):
    """Whether htools' exhaustive search has no acceptable move left."""
    st = fastbalance.make_scorer(algo, tbl).state
    best = st.best_move(tbl.score)
    return best is None or not fastbalance._acceptable(algo, tbl.score, best[0])


# ---------------------------------------------------------------------------
# quality against the exhaustive search

@pytest.mark.parametrize("name", ["plain40a", "plain40b", "plain40c"])
def test_within_one_percent_of_exhaustive(cluster_dir, name):
    path = _file(cluster_dir, name)
    _, algo, tbl, min_score = _table(path)
    ex, _ = _run(algo, tbl, min_score)
    _, palgo, ptbl, _ = _table(path, ["--search=pruned"])
    assert palgo.search == "pruned" and algo.search == "exhaustive"
    pr, _ = _run(palgo, ptbl, min_score)
    assert len(ex.plc) > 50 and len(pr.plc) > 50
    assert pr.score <= ex.score * 1.01, (pr.score, ex.score)
    assert _exhaustive_done(algo, pr)


# ---------------------------------------------------------------------------
# every step, and the options

OPTION_SETS = {
    "default": [],
    "no-disk-moves": ["--no-disk-moves"],
    "no-instance-moves": ["--no-instance-moves"],
    "evac": ["-E"],
    "restricted": ["--restricted-migration"],
    "ignore-soft": ["--ignore-soft-errors"],
    "min-gain": ["-g", "0.05", "--min-gain-limit", "1000"],
}


def _kinds_ok(name, kind):
    if name == "no-disk-moves":
        return kind in (mv.FAILOVER, mv.FAILOVER_TO_ANY)
    if name == "no-instance-moves":
        return kind == mv.REPLACE_SECONDARY
    return True


@pytest.mark.parametrize("name,opt", [
    (name, opt) for name in ("feat30", "feat20") for opt in sorted(OPTION_SETS)
] + [("plain40a", "default"), ("plain40a", "no-disk-moves"),
     ("plain40a", "min-gain")])
def test_steps_and_options(cluster_dir, name, opt):
    path = _file(cluster_dir, name)
    _, algo, tbl, min_score = _table(path, OPTION_SETS[opt] + ["--search=pruned"])
    fin, _ = _run(algo, tbl, min_score, check=True)
    offline = {i for i, n in tbl.nodes.items() if n.offline}
    where = {i: (inst.pnode, inst.snode) for i, inst in tbl.insts.items()}
    for plc in fin.plc:
        opdx, osdx = where[plc.idx]
        assert _kinds_ok(opt, plc.move.kind), (opt, plc.move)
        if opt == "evac":
            assert opdx in offline or osdx in offline
        # nothing is moved onto an offline node
        for ndx in (plc.pnode, plc.snode):
            assert ndx not in offline or ndx in (opdx, osdx)
        where[plc.idx] = (plc.pnode, plc.snode)
    if opt == "min-gain":
        scores = [tbl.score] + [p.score for p in fin.plc]
        assert all(a - b >= 0.05 for a, b in zip(scores, scores[1:]))
    assert _exhaustive_done(algo, fin)
    assert fin.plc, "no move at all"


def test_offline_option(cluster_dir):
    path = _file(cluster_dir, "plain40b")
    _, algo, tbl, min_score = _table(path)
    names = sorted(n.name for n in tbl.nodes.values())[:3]
    args = []
    for n in names:
        args += ["-O", n]
    _, algo, tbl, min_score = _table(path, args + ["--search=pruned"])
    off = {i for i, n in tbl.nodes.items() if n.name in names}
    assert len(off) == 3 and all(tbl.nodes[i].offline for i in off)
    fin, _ = _run(algo, tbl, min_score, check=True)
    assert fin.plc
    for inst in fin.insts.values():
        if inst.idx in {p.idx for p in fin.plc}:
            # moved instances end on online nodes, or kept an offline one
            orig = tbl.insts[inst.idx]
            for n in (inst.pnode, inst.snode):
                assert n not in off or n in (orig.pnode, orig.snode)
    assert _exhaustive_done(algo, fin)


def test_max_length(cluster_dir):
    path = _file(cluster_dir, "plain40a")
    _, algo, tbl, min_score = _table(path, ["--search=pruned"])
    fin, _ = _run(algo, tbl, min_score, max_rounds=7, check=True)
    assert len(fin.plc) == 7


def test_tiny_neighbourhood_widens(cluster_dir):
    """One victim pair and one target per role at level 0: most steps must
    widen; the run still ends only where the exhaustive search does."""
    path = _file(cluster_dir, "feat20")
    _, algo, tbl, min_score = _table(path, ["--search=pruned"])
    fin, sc = _run(algo, tbl, min_score, check=True,
                   tune=dict(pr_victims=1, pr_targets=1, pr_probes=1,
                             pr_pool=0, pr_pool_eval=0))
    assert fin.plc
    assert _exhaustive_done(algo, fin)
    ex_algo = balance.AlgorithmOptions(**{**algo.__dict__, "search": "exhaustive"})
    ex, _ = _run(ex_algo, tbl, min_score)
    assert fin.score <= ex.score * 1.01


def test_widening_bound(cluster_dir, monkeypatch):
    """Above MAX_WORK combinations the widest level tried is the last one
    within the bound; the run ends where that level has no move."""
    monkeypatch.setattr(fastbalance, "MAX_WORK", 10000)
    path = _file(cluster_dir, "feat30")
    _, algo, tbl, min_score = _table(path, ["--search=pruned"])
    fin, sc = _run(algo, tbl, min_score, check=True)
    st = sc.state
    top = 0
    while st.pruned_work(top + 1) <= 10000:
        top += 1
    assert not st.pruned_full(top) and top >= 1
    assert sc.level <= top
    best = st.best_move_pruned(fin.score, top)
    assert best is None or not fastbalance._acceptable(algo, fin.score, best[0])
    assert len(fin.plc) > 20
    _, ex_algo, ex_tbl, _ = _table(path)
    ex, _ = _run(ex_algo, ex_tbl, min_score)
    assert fin.score <= ex.score * 1.02


def test_full_level_and_counters(cluster_dir):
    path = _file(cluster_dir, "feat20")
    _, algo, tbl, _ = _table(path, ["--search=pruned"])
    st = fastbalance.make_scorer(algo, tbl).state
    level = 0
    while not st.pruned_full(level):
        level += 1
    assert level > 0 and st.pruned_full(level + 3)
    # the full level sees every candidate: same best score as htools' search
    full = st.best_move_pruned(tbl.score, level)
    ex = st.best_move(tbl.score)
    assert full is not None and ex is not None
    assert bits(full[0]) == bits(ex[0])
    assert st.pool_size > 0
    pairs = st._pairs()
    assert pairs and all(k in range(6) for _, k, _ in pairs)
    assert st.best_move_pruned(tbl.score, 0) is not None


def test_deterministic(cluster_dir):
    path = _file(cluster_dir, "plain40c")
    runs = []
    for _ in range(2):
        _, algo, tbl, min_score = _table(path, ["--search=pruned"])
        fin, _ = _run(algo, tbl, min_score)
        runs.append([(p.idx, p.move.kind, p.move.target, bits(p.score))
                     for p in fin.plc])
    assert runs[0] == runs[1]


# ---------------------------------------------------------------------------
# command line

def test_parse_search():
    opts, _ = parse_cmdline("hbal", [])
    assert opts.search == "exhaustive"
    opts, _ = parse_cmdline("hbal", ["--search=pruned"])
    assert opts.search == "pruned"
    opts, _ = parse_cmdline("hbal", ["--search", "exhaustive"])
    assert opts.search == "exhaustive"
    with pytest.raises(CommandLineExit) as e:
        parse_cmdline("hbal", ["--search=fast"])
    assert e.value.status == 1
    assert str(e.value) == ("Error while parsing command line arguments:\n"
                            "Unknown search mode 'fast' (expected exhaustive, "
                            "pruned or optimal)\n")
    # not listed, not abbreviated, not an option of the other programs
    with pytest.raises(CommandLineExit) as e:
        parse_cmdline("hbal", ["--help"])
    assert "--search" not in str(e.value)
    for prog, args in (("hbal", ["--sea=pruned"]), ("hcheck", ["--search=pruned"])):
        with pytest.raises(CommandLineExit) as e:
            parse_cmdline(prog, args)
        assert e.value.status == 2 and "unrecognized option" in str(e.value)


def _hbal(args):
    cmd = [sys.executable, "-m", "htools.cli", "hbal"] + args
    return subprocess.run(cmd, cwd=str(ROOT), capture_output=True, text=True)


def test_cli_output(cluster_dir):
    path = _file(cluster_dir, "plain40b")
    ex = _hbal(["-t", str(path), "-C", "-l", "3"])
    pr = _hbal(["-t", str(path), "-C", "-l", "3", "--search=pruned"])
    assert ex.returncode == pr.returncode == 0
    ex_lines, pr_lines = ex.stdout.splitlines(), pr.stdout.splitlines()
    # the same header up to the moves, the same line formats
    head = ex_lines.index("Trying to minimize the CV...") + 1
    assert pr_lines[:head] == ex_lines[:head]
    moves = [ln for ln in pr_lines if ln.startswith("    ") and ". " in ln[:8]]
    assert len(moves) == 3
    assert any(ln.startswith("Cluster score improved from ") for ln in pr_lines)
    assert "Commands to run to reach the above solution:" in pr_lines
    assert pr.stdout.count("gnt-instance ") >= 3
    bad = _hbal(["-t", str(path), "--search=nope"])
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "Unknown search mode 'nope' (expected exhaustive, pruned or optimal)")
