"""The clusters of the recorded differential suites (tests/diff/test_golden.py).

Inputs are Ganeti's own test data (``*.data`` under
``../shared/ganeti-testdata/htools``, never copied here) and the generated
clusters below (regenerated from their parameters; the golden files keep a
digest of each to notice a changed generator).
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Tuple  # noqa: F401 (the table)

from simulate import generator
from tests.harness.refdiff import DATA, InputSpec

#: generated clusters: (label, generator params).  Sizes 5-60 nodes.
GENERATED: List[Tuple[str, Dict[str, object]]] = [
    ("basic-small", dict(nodes=5, instances=20, seed=1)),
    ("skewed", dict(nodes=8, instances=40, seed=2, skew=1.0)),
    ("preset-10x80", dict(nodes=10, instances=80, seed=3)),
    ("location", dict(nodes=12, instances=90, seed=4, location_tags=True)),
    ("migration", dict(nodes=12, instances=100, seed=5,
                       migration_tags=True)),
    ("desired-loc", dict(nodes=15, instances=120, seed=6,
                         location_tags=True, desired_location=True)),
    ("offline", dict(nodes=6, instances=30, seed=7, offline_frac=0.2)),
    ("offline-unknown", dict(nodes=10, instances=60, seed=8,
                             offline_frac=0.2, offline_unknown=True)),
    ("preset-20x200", dict(nodes=20, instances=200, seed=9)),
    ("groups2", dict(nodes=16, instances=100, groups=2, seed=10)),
    ("groups3", dict(nodes=24, instances=150, groups=3, seed=11)),
    ("groups4-offline", dict(nodes=30, instances=200, groups=4, seed=12,
                             offline_frac=0.1)),
    ("ipolicy", dict(nodes=10, instances=50, seed=13, ipolicy=True)),
    ("ipolicy-groups2", dict(nodes=14, instances=100, groups=2, seed=14,
                             ipolicy=True)),
    ("cpu-speed", dict(nodes=10, instances=70, seed=15, cpu_speed=True)),
    ("excl-storage", dict(nodes=12, instances=60, seed=16,
                          excl_storage_nodes=4)),
    ("excl-storage-groups2", dict(nodes=20, instances=120, groups=2,
                                  seed=17, excl_storage_nodes=5)),
    ("overcommit", dict(nodes=8, instances=90, seed=18, overcommit=True,
                        skew=1.0)),
    ("forthcoming", dict(nodes=10, instances=60, seed=19,
                         forthcoming_frac=0.1)),
    ("domain", dict(nodes=12, instances=80, seed=20,
                    domain=".example.com")),
    ("trim-columns", dict(nodes=10, instances=80, seed=21, columns="trim")),
    ("all-features-trim", dict(nodes=9, instances=100, seed=22,
                               columns="trim", location_tags=True,
                               migration_tags=True, desired_location=True,
                               ipolicy=True, cpu_speed=True)),
    ("all-features-40", dict(nodes=40, instances=120, seed=23,
                             location_tags=True, migration_tags=True,
                             desired_location=True, ipolicy=True,
                             cpu_speed=True, offline_frac=0.05)),
    ("big-60", dict(nodes=60, instances=180, seed=24, skew=0.8)),
    ("groups3-50", dict(nodes=50, instances=270, groups=3, seed=25,
                        location_tags=True)),
    ("no-instances", dict(nodes=5, instances=0, seed=26)),
    ("tiny", dict(nodes=5, instances=5, seed=27, empty_nodes=0)),
    ("drbd-only", dict(nodes=7, instances=40, seed=28,
                       templates={"drbd": 1})),
    ("statuses", dict(nodes=8, instances=60, seed=29,
                      statuses={"running": 10, "ADMIN_down": 2,
                                "ERROR_up": 2, "ADMIN_offline": 2,
                                "ERROR_down": 1, "USER_down": 1,
                                "ERROR_nodedown": 1,
                                "ERROR_wrongnode": 1})),
    ("unaccounted", dict(nodes=12, instances=100, seed=30,
                         unaccounted_mem=0.6, no_autobalance_frac=0.3)),
    ("new-empty-nodes", dict(nodes=6, instances=40, seed=31, skew=0.0,
                             empty_nodes=3)),
    ("mixed-25", dict(nodes=25, instances=180, groups=2, seed=32,
                      location_tags=True, ipolicy=True, cpu_speed=True,
                      domain=".example.org")),
]


#: no ``-p --print-instances`` run for generated clusters bigger than this
VP_MAX_NODES = 40
VP_MAX_INSTANCES = 200


class Cluster(NamedTuple):
    stem: str            # td-<basename> or genNN-<label>
    file: str            # the bare file name it is passed by
    spec: InputSpec
    big: bool


def testdata_clusters() -> List[Cluster]:
    if not DATA.is_dir():
        return []
    return [Cluster("td-" + p.stem, p.name, {"testdata": p.name}, False)
            for p in sorted(DATA.glob("*.data"))]


def generated_clusters() -> List[Cluster]:
    out = []
    for k, (label, params) in enumerate(GENERATED, 1):
        full = generator.resolve_params(**params)
        stem = "gen%02d-%s" % (k, label)
        big = full["nodes"] > VP_MAX_NODES or full["instances"] > VP_MAX_INSTANCES
        out.append(Cluster(stem, stem + ".data", {"generator": full}, big))
    return out
