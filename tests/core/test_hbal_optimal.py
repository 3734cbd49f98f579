"""hbal --search=optimal: the OR-Tools target placement and its legal path.

* every step of optimal runs on generated clusters (DRBD/plain mixes,
  exclusion, migration and location tags, offline nodes, and the options
  --no-disk-moves, -O, --exclude-instances, --restricted-migration,
  --no-instance-moves) replays through the pure-Python specification: the
  move is legal on the state before it (``apply_move``, soft errors as the
  options say), lands where the step says, and its score is bit-identical
  to ``comp_cv`` of the moved model; the run ends at most at htools' final
  score;
* the cost-aware sequences (:mod:`htools.balance.costaware`): the
  compiled cost-aware step is the best value over every move a greedy
  step tries, scored one by one, and its top-k the k best values; under
  each option the sequences and the beam searches, pruned and cheapened,
  replay legal and exact, every move one a greedy step would try from
  where the instance is, and end at most at htools' score; a beam wider
  than every level finds the fewest improving moves that a breadth-first
  enumeration finds (fewer than htools' on those clusters); condensing
  replaces pairs by one cheaper move and keeps the sequence legal;
* the hard rules on small clusters, by enumeration of a sample of the
  combinations of candidate moves (one per instance, every 17th, at most
  about 400) and
  every order of them: the model admits every sampled combination some
  order makes legal (it forbids nothing the rules allow), the
  solver's own target is legal in some order and the path applies all of
  it, and with no move costs it ends no higher than the initial score (the
  proxy's optimum is the exact one on about half of these clusters, up to
  a third above it on others);
* the options keep their meaning (no disk move with --no-disk-moves,
  nothing onto an -O node, excluded instances stay);
* the command line: hidden options, the one-line error without OR-Tools,
  and that the other modes never import it.
"""
from __future__ import annotations

import itertools
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ortools")

from htools import metrics  # noqa: E402
from htools import moves as mv  # noqa: E402
from htools.balance import costaware, optimal, path  # noqa: E402
from htools.types import FailMode  # noqa: E402
from simulate.generator import generate  # noqa: E402
from tests.harness.balancing import hbal_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

CLUSTERS = {
    "mix": dict(nodes=8, instances=50, seed=11),
    "drbd": dict(nodes=8, instances=50, seed=12, templates={"drbd": 80, "plain": 20}),
    "tags": dict(nodes=8, instances=50, seed=13, location_tags=True,
                 migration_tags=True, desired_location=True, ipolicy=True),
    "offline": dict(nodes=8, instances=40, seed=14, offline_frac=0.15,
                    templates={"drbd": 80, "plain": 20}),
}


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _file(cluster_dir, name, params=None):
    path = cluster_dir / ("opt-" + name + ".data")
    if not path.exists():
        path.write_text(generate(**(params or CLUSTERS[name])))
    return path


def _run(data, options=(), limit="3"):
    """An optimal run: (algo, initial table, steps, greedy final score)."""
    opts, algo, tbl, min_score = hbal_table(
        ["-t", str(data), "--search=optimal", "--opt-time-limit", limit]
        + list(options))
    run = path.OptimalRun(algo, tbl, opts.max_length, min_score)
    return algo, tbl, list(run), run


def _greedy_final(algo, tbl, max_rounds, min_score):
    from htools.balance import steps
    fin = tbl
    for _, fin in steps(algo.replace(search="exhaustive", optimal=None), tbl,
                        max_rounds, min_score):
        pass
    return fin.score


def _replay(algo, tbl, out):
    """Every step legal on the model and exactly scored."""
    cur = tbl
    for old, new in out:
        assert old is cur
        plc = new.plc[-1]
        inst = old.insts[plc.idx]
        res = mv.apply_move(algo.ignore_soft_errors, old.nodes, inst, plc.move)
        assert not isinstance(res, FailMode), (inst.name, plc.move, res)
        changed, new_inst, pdx, sdx = res
        assert (pdx, sdx) == (plc.pnode, plc.snode)
        nodes = dict(old.nodes)
        nodes.update(changed)
        exact = metrics.comp_cv([nodes[i] for i in sorted(nodes)])
        assert bits(exact) == bits(plc.score) == bits(new.score)
        assert new.insts[plc.idx].pnode == new_inst.pnode
        cur = new
    return cur


# ---------------------------------------------------------------------------
# legal, exactly scored steps, ending at most at htools' score

@pytest.mark.parametrize("name", sorted(CLUSTERS))
def test_steps_replay_legal_and_exact(cluster_dir, name):
    path_ = _file(cluster_dir, name)
    algo, tbl, out, run = _run(path_)
    fin = _replay(algo, tbl, out)
    opts, algo2, tbl2, min_score = hbal_table(["-t", str(path_)])
    assert fin.score <= _greedy_final(algo2, tbl2, -1, min_score)
    assert run.summary().startswith("Optimal search: ")


@pytest.mark.parametrize("options", [
    ["--no-disk-moves"], ["--restricted-migration"], ["--no-instance-moves"],
    ["-O", "node-02"], ["--exclude-instances", "inst-001,inst-002,inst-003"],
    ["--ignore-soft-errors"],
])
def test_options_keep_their_meaning(cluster_dir, options):
    path_ = _file(cluster_dir, "drbd")
    algo, tbl, out, _ = _run(path_, options)
    _replay(algo, tbl, out)
    for old, new in out:
        plc = new.plc[-1]
        inst = old.insts[plc.idx]
        if "--no-disk-moves" in options:
            assert plc.move.kind in (mv.FAILOVER, mv.FAILOVER_TO_ANY)
        if "--no-instance-moves" in options:
            assert plc.move.kind == mv.REPLACE_SECONDARY
        if "-O" in options:
            node = [n for n in tbl.nodes.values() if n.name == "node-02"][0]
            assert node.idx not in (plc.pnode, plc.snode)
        if "--exclude-instances" in options:
            assert inst.name not in ("inst-001", "inst-002", "inst-003")


# ---------------------------------------------------------------------------
# cost-aware sequences: legal under the options, exact, ending at the goal

def _cost(inst, move):
    return (0.01 + 0.002 * optimal.copied_mib(inst, move) / 1024.0
            + 0.0005 * optimal.migrated_mib(inst, move) / 1024.0)


def test_best_weighted_is_the_best_value(cluster_dir):
    from htools._balance import BalanceState
    from htools.balance.search import instance_moves, victims
    _, algo, tbl, _ = hbal_table(["-t", str(_file(cluster_dir, "drbd"))])
    costs = costaware.cost_table(tbl, _cost)
    online = [i for i in sorted(tbl.nodes) if not tbl.nodes[i].offline]
    st = BalanceState(tbl.nodes, tbl.insts, algo)
    cur = st.score()
    for lam, ratio in [(0.0, False), (3.0, False), (0.0, True)]:
        # every improving move, in the compiled search's order (instance,
        # then failover before the targets by position, then kind)
        found = []
        for inst in victims(algo, tbl):
            for move in instance_moves(algo, online, frozenset(online),
                                       tbl.nodes, inst):
                cv = st.evaluate(inst.idx, move.kind, move.target)
                if cv is None or not cv < cur or not costaware.allowed(
                        algo, tbl, inst, inst.pnode, inst.snode, move):
                    continue
                c = costs[inst.idx, move.kind]
                val = (cur - cv) / c if ratio else (cur - cv) - lam * c
                found.append((val, cv, inst.idx, move.kind, move.target))
        assert len(found) > 10
        best = None
        for f in found:
            if best is None or f[0] > best[0]:
                best = f
        assert st.best_weighted(cur, costs, lam, ratio) == best[1:]
        for k in (1, 2, 7, len(found), len(found) + 5):
            top = st.top_weighted(cur, costs, lam, ratio, k)
            assert len(top) == min(k, len(found))
            vals = [(cur - cv) / costs[i, kd] if ratio
                    else (cur - cv) - lam * costs[i, kd] for cv, i, kd, _ in top]
            # the k best values, best first, each a real move's exact score
            assert vals == sorted((f[0] for f in found), reverse=True)[:len(top)]
            assert all(t in [f[1:] for f in found] for t in top)
            assert len(set(top)) == len(top)
        assert st.top_weighted(cur, costs, lam, ratio, 0) == []


@pytest.mark.parametrize("options", [
    [], ["--no-disk-moves"], ["--restricted-migration"],
    ["--no-instance-moves"], ["-O", "node-02"],
    ["--exclude-instances", "inst-001,inst-002,inst-003"],
])
def test_cost_aware_sequences(cluster_dir, options):
    path_ = _file(cluster_dir, "drbd")
    _, algo, tbl, min_score = hbal_table(["-t", str(path_)] + options)
    greedy = algo.replace(search="exhaustive", optimal=None)
    goal = _greedy_final(algo, tbl, -1, min_score)
    costs = costaware.cost_table(tbl, _cost)
    never = float("inf")
    seqs = [costaware.cost_steps(greedy, tbl, goal, costs, lam, ratio,
                                 switch, never)
            for lam, ratio, switch in costaware.VARIANTS[:4]]
    seqs += [costaware.beam_steps(greedy, tbl, goal, costs, lam, width, never,
                                  -1, switch)
             for _, width, lam, switch in path.BEAMS]
    assert any(seq is not None for seq in seqs)
    for seq in seqs:
        if seq is None:
            continue
        assert costaware.replay(greedy, tbl, seq) <= goal
        seq = costaware.prune(greedy, tbl, seq, goal, _cost, never)
        seq = costaware.cheapen(greedy, tbl, seq, goal, _cost, never)
        plan = path.replay_steps(algo, tbl, seq)
        assert plan is not None and len(plan) == len(seq)
        fin = _replay(algo, tbl, list(zip([tbl] + plan[:-1], plan)))
        assert fin.score <= goal
        cur = tbl
        for new in plan:
            plc = new.plc[-1]
            inst = cur.insts[plc.idx]
            # a move a greedy step would try from where the instance is
            assert costaware.allowed(algo, tbl, inst, inst.pnode, inst.snode,
                                     plc.move)
            online = [i for i in sorted(cur.nodes) if not cur.nodes[i].offline]
            from htools.balance.search import instance_moves
            assert plc.move in list(instance_moves(
                algo, online, frozenset(online), cur.nodes, inst))
            if "--exclude-instances" in options:
                assert inst.name not in ("inst-001", "inst-002", "inst-003")
            cur = new


@pytest.mark.parametrize("name", ["drbd", "tags"])
def test_condense_replaces_pairs_by_one_cheaper_move(cluster_dir, name):
    """htools' own moves, pruned, then condensed: fewer moves (on these
    clusters), each replacement cheaper than the pair it replaces, the
    sequence legal and ending at most at htools' score."""
    _, algo, tbl, min_score = hbal_table(["-t", str(_file(cluster_dir, name))])
    greedy = algo.replace(search="exhaustive", optimal=None)
    ref = [new for _, new in path.greedy_steps(greedy, tbl, -1, min_score)]
    goal = ref[-1].score
    costs = costaware.cost_table(tbl, _cost)
    never = float("inf")
    seq = costaware.prune(greedy, tbl, [(t.plc[-1].idx, t.plc[-1].move)
                                        for t in ref], goal, _cost, never)
    out = costaware.condense(greedy, tbl, seq, goal, costs, never)
    assert len(out) < len(seq)
    assert costaware.replay(greedy, tbl, out) <= goal

    def total(s):
        return sum(_cost(tbl.insts[i], m) for i, m in s)
    # every pair replaced by one move costing less than the pair
    assert total(out) < total(seq)
    plan = path.replay_steps(algo, tbl, out)
    assert plan is not None and len(plan) == len(out)
    assert _replay(algo, tbl, list(zip([tbl] + plan[:-1], plan))).score <= goal
    # no time: unchanged
    assert costaware.condense(greedy, tbl, seq, goal, costs, 0.0) == seq


def _fewest_improving_moves(algo, tbl, goal, limit):
    """By breadth-first enumeration of every sequence of improving moves a
    greedy step tries (each scored exactly): the fewest that reach
    ``goal``, or None within ``limit`` moves."""
    from htools.balance.search import victims
    level = [[]]
    for depth in range(1, limit + 1):
        nxt = []
        seen = set()
        for seq in level:
            st = costaware._state(algo, tbl)
            place = {i.idx: (i.pnode, i.snode) for i in tbl.insts.values()}
            for idx, move in seq:
                st.apply(idx, move.kind, move.target)
                place[idx] = st.instance_nodes(idx)[:2]
            cur = st.score()
            for inst in victims(algo, tbl):
                p, s = place[inst.idx]
                for move in costaware.allowed_moves(algo, tbl, inst, p, s):
                    if not costaware.allowed(algo, tbl, inst, p, s, move):
                        continue
                    cv = st.evaluate(inst.idx, move.kind, move.target)
                    if cv is None or not cv < cur:
                        continue
                    if cv <= goal:
                        return depth
                    after = dict(place)
                    after[inst.idx] = costaware.lands(p, s, move)
                    key = frozenset(after.items())
                    if key not in seen:
                        seen.add(key)
                        nxt.append(seq + [(inst.idx, move)])
        level = nxt
    return None


@pytest.mark.parametrize("seed", [23, 28, 31])
def test_wide_beam_finds_the_fewest_moves(cluster_dir, seed):
    """A beam wider than every level is a breadth-first search: its sequence
    has the fewest improving moves that reach the goal (here the score of
    htools' fifth step; on these clusters fewer than htools' five)."""
    data = _file(cluster_dir, "small-%d" % seed,
                 dict(nodes=4, instances=9, seed=seed,
                      templates={"drbd": 70, "plain": 30}))
    _, algo, tbl, min_score = hbal_table(["-t", str(data)])
    greedy = algo.replace(search="exhaustive", optimal=None)
    steps = [new for _, new in path.greedy_steps(greedy, tbl, 5, min_score)]
    assert len(steps) == 5
    goal = steps[-1].score
    costs = costaware.cost_table(tbl, _cost)
    seq = costaware.beam_steps(greedy, tbl, goal, costs, 0.0, 100_000,
                               float("inf"))
    assert seq is not None and len(seq) < len(steps)
    assert costaware.replay(greedy, tbl, seq) <= goal
    assert len(seq) == _fewest_improving_moves(greedy, tbl, goal, len(steps))
    # a narrow beam is never shorter than the fewest
    narrow = costaware.beam_steps(greedy, tbl, goal, costs, 0.0, 2,
                                  float("inf"))
    assert narrow is None or len(narrow) >= len(seq)


# ---------------------------------------------------------------------------
# hard rules: the model against exhaustive enumeration on small clusters

def _legal_end(algo, tbl, moves):
    """The exact score after ``moves`` in the first order in which every
    move is legal, or None."""
    for perm in itertools.permutations(sorted(moves.items())):
        nodes = dict(tbl.nodes)
        insts = dict(tbl.insts)
        for idx, move in perm:
            res = mv.apply_move(algo.ignore_soft_errors, nodes, insts[idx], move)
            if isinstance(res, FailMode):
                break
            nodes.update(res[0])
            insts[idx] = res[1]
        else:
            return metrics.comp_cv([nodes[i] for i in sorted(nodes)])
    return None


SMALL = {
    "tags": dict(exclusion_tags=True, migration_tags=True),
    "location": dict(location_tags=True, desired_location=True),
    "tight-cpu": dict(tight_cpu=True, ipolicy=True),
    "full": dict(overcommit=True, skew=0.9),
}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("kind", sorted(SMALL))
def test_hard_rules_by_enumeration(cluster_dir, kind, seed):
    path_ = _file(cluster_dir, "small-%s-%d" % (kind, seed),
                  dict(nodes=4, instances=5, seed=seed,
                       templates={"drbd": 80, "plain": 20}, **SMALL[kind]))
    _, algo, tbl, _ = hbal_table(["-t", str(path_), "--search=optimal"])
    cands = optimal.candidates(algo, tbl)
    zero = optimal.OptimalOptions(time_limit=4, move_cost=0, disk_cost=0,
                                  mem_cost=0, workers=1)
    best = None
    checked = 0
    # a sample of the combinations: every 17th, at most about 400
    total = 1
    for cs in cands:
        total *= len(cs)
    stride = max(17, total // 400)
    for n, combo in enumerate(itertools.product(*cands)):
        if n % stride:
            continue
        moves = {c.inst.idx: c.move for c in combo if c.move is not None}
        score = _legal_end(algo, tbl, moves)
        if score is None:
            continue
        best = score if best is None else min(best, score)
        # the model admits a placement the rules allow
        hint = {c.inst.idx: (c.pnode, c.snode) for c in combo}
        assert optimal.solve(algo, zero, tbl, hint=hint, fix=True).solved
        checked += 1
    target = optimal.solve(algo, zero, tbl)
    assert target.solved
    got = _legal_end(algo, tbl, target.moves)
    assert got is not None, "the solver's target has no legal order"
    # the proxy's optimum is not always the exact score's (measured with
    # every combination: equal on about half of these clusters, up to a
    # third above the best legal combination on others); it never ends
    # above staying put
    assert best is not None and best <= tbl.score
    assert got <= tbl.score
    # the path applies the whole target, each step legal
    steps_ = list(path.follow(algo, tbl, target.moves))
    assert len(steps_) == len(target.moves)
    _replay(algo, tbl, steps_)


def test_time_limit_counts_from_the_start_of_the_run(cluster_dir):
    """``--opt-time-limit`` bounds the whole run from when it began (hbal:
    before reading the cluster), less a margin for printing; a run whose
    time is already spent still ends with a legal plan reaching htools'
    score (htools' moves or its end state), without solver runs."""
    import time
    oo = optimal.OptimalOptions(time_limit=60.0, started=100.0)
    assert oo.deadline() == 159.0
    assert optimal.OptimalOptions(time_limit=10.0, started=100.0).deadline() == 109.8
    assert oo.scaled(2.0).started == 100.0
    opts, algo, tbl, min_score = hbal_table(
        ["-t", str(_file(cluster_dir, "drbd")), "--search=optimal",
         "--opt-time-limit", "5"])
    spent = optimal.OptimalOptions(time_limit=5.0, started=time.monotonic() - 10)
    run = path.OptimalRun(algo, tbl, opts.max_length, min_score, spent)
    out = list(run)
    assert run.tries == 0
    assert run.label in ("htools' moves", "htools' end state direct")
    _replay(algo, tbl, out)
    fin = out[-1][1] if out else tbl
    assert fin.score <= _greedy_final(algo, tbl, opts.max_length, min_score)


def test_disk_budget_is_kept(cluster_dir):
    path_ = _file(cluster_dir, "drbd")
    _, algo, tbl, _ = hbal_table(["-t", str(path_), "--search=optimal"])
    oo = optimal.OptimalOptions(time_limit=5, disk_budget=20.0, move_cost=0,
                                disk_cost=0, mem_cost=0)
    target = optimal.solve(algo, oo, tbl)
    assert target.solved
    copied = sum(optimal.copied_mib(tbl.insts[i], m) for i, m in target.moves.items())
    assert copied <= 20 * 1024 and copied == target.copied_mib


# ---------------------------------------------------------------------------
# command line

def _hbal(args, env=None):
    return subprocess.run([sys.executable, "-m", "htools.cli", "hbal"] + args,
                          cwd=str(ROOT), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})))


def test_cli_output_and_quality_line(cluster_dir):
    path_ = _file(cluster_dir, "mix")
    res = _hbal(["-t", str(path_), "--search=optimal", "--opt-time-limit", "3",
                 "-C"])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any(line.startswith("Optimal search: ") and "solver bound" in line
               for line in lines)
    assert "Commands to run to reach the above solution:" in res.stdout


def test_bad_option_values_one_line(cluster_dir):
    path_ = _file(cluster_dir, "mix")
    res = _hbal(["-t", str(path_), "--search=optimal", "--opt-time-limit", "x"])
    assert res.returncode != 0 and "Traceback" not in res.stderr
    res = _hbal(["-t", str(path_), "--search=optimal", "--opt-disk-budget=-1"])
    assert res.returncode != 0 and "Traceback" not in res.stderr


def test_without_ortools_one_line(cluster_dir, tmp_path):
    # a module named ortools that cannot be imported hides the real one
    (tmp_path / "ortools").mkdir()
    (tmp_path / "ortools" / "__init__.py").write_text("raise ImportError('no')\n")
    path_ = _file(cluster_dir, "mix")
    env = {"PYTHONPATH": "%s:%s" % (tmp_path, ROOT)}
    res = subprocess.run([sys.executable, "-m", "htools.cli", "hbal", "-t",
                          str(path_), "--search=optimal"], cwd=str(ROOT),
                         capture_output=True, text=True, env=dict(os.environ, **env))
    assert res.returncode == 1
    err = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "pip install" in err[0], res.stderr


@pytest.mark.parametrize("mode", ["exhaustive", "pruned"])
def test_other_modes_do_not_import_ortools(cluster_dir, mode):
    path_ = _file(cluster_dir, "mix")
    code = ("import sys; from htools.cli.main import main\n"
            "try:\n    main('hbal')\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('ORTOOLS=%d' % any(m.startswith('ortools') "
            "for m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code, "-t", str(path_),
                          "--search=" + mode, "-l", "2"], cwd=str(ROOT),
                         capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "ORTOOLS=0" in res.stderr, res.stderr
