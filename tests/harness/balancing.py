"""A balancing table as hbal builds it, for tests of the balancing core."""
from __future__ import annotations

from typing import Sequence, Tuple

from htools import balance, extloader, metrics
from htools.cli.hbal import _select_group
from htools.cli.options import parse_cmdline
from htools.params import AlgorithmOptions


def hbal_table(args: Sequence[str]) -> Tuple[object, AlgorithmOptions, balance.Table, float]:
    """hbal's options, algorithm options, initial table and minimum score
    for the command line ``args`` (``-q`` added)."""
    opts, _ = parse_cmdline("hbal", list(args) + ["-q"])
    cdata = extloader.load_external_data(opts)
    nodes = extloader.set_node_status(opts, cdata.nodes)
    _, gnodes, ginsts = _select_group(opts, cdata.groups, nodes, cdata.instances)
    algo = AlgorithmOptions.from_cli(opts)
    tbl = balance.Table({n.idx: n for n in gnodes}, {i.idx: i for i in ginsts},
                        metrics.comp_cv(gnodes), [])
    min_score = metrics.optimal_cv_score(gnodes) + opts.min_score
    return opts, algo, tbl, min_score
