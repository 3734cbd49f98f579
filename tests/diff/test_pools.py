"""Storage pools against the reference (run live; skipped without it).

* the reference loads our files with a storage-pool section and answers
  exactly as without it (the section is invisible to it);
* single-pool data (one VG per node holding the node's disk figures, every
  disk on it) gives the reference's output byte for byte, for hbal, hspace,
  hinfo and hcheck;
* on a generated multi-VG cluster the reference's move list contains moves
  that would fail for a missing or full volume group, ours none.
"""
from __future__ import annotations

import subprocess

import pytest

from simulate import pools as gen
from simulate.generator import generate
from tests.harness.refdiff import have_reference, ours_bin, ref_bin

pytestmark = pytest.mark.skipif(not have_reference(),
                                reason="reference htools not installed")

PARAMS = dict(nodes=10, instances=60, seed=5)


def _run(binary, args):
    out = subprocess.run([binary] + list(args), capture_output=True, text=True,
                         timeout=600)
    return out.returncode, out.stdout, out.stderr


def _strip_pools(text: str) -> str:
    return text[:text.index("\npool|")]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pools")
    base = generate(**PARAMS)
    multi = gen.add_pools(base, without_hdd=4, hdd_frac=0.33, seed=5,
                          nvme_nodes=2, meta_on_hdd_frac=0.3)
    single = gen.single_pool(base)
    paths = {}
    for name, text in [("base", base), ("multi", multi), ("single", single),
                       ("multi-stripped", _strip_pools(multi))]:
        paths[name] = tmp / (name + ".data")
        paths[name].write_text(text)
    return {k: str(v) for k, v in paths.items()}


CASES = [
    ("hinfo", []), ("hcheck", []), ("hbal", ["-C", "-p", "--print-instances"]),
    ("hspace", ["--tiered-alloc=102400,4096,2"]),
]


@pytest.mark.parametrize("tool,args", CASES, ids=[c[0] for c in CASES])
def test_reference_ignores_the_pool_section(files, tool, args):
    want = _run(ref_bin(tool), ["-t", files["multi-stripped"]] + args)
    got = _run(ref_bin(tool), ["-t", files["multi"]] + args)
    assert want[1] and got == want


@pytest.mark.parametrize("tool,args", CASES, ids=[c[0] for c in CASES])
def test_single_pool_is_the_reference(files, tool, args):
    want = _run(ref_bin(tool), ["-t", files["base"]] + args)
    got = _run(ours_bin(tool), ["-t", files["single"]] + args)
    assert got == want


def test_multi_vg_hbal_moves_never_fail(files):
    with open(files["multi"]) as fh:
        text = fh.read()
    ref = _run(ref_bin("hbal"), ["-t", files["multi"]])
    ours = _run(ours_bin("hbal"), ["-t", files["multi"]])
    assert ref[0] == 0 and ours[0] == 0
    assert gen.failing_moves(text, ours[1]) == []
    assert len(gen.failing_moves(text, ref[1])) > 0
    # and the pools were read: without them ours is the reference
    plain = _run(ours_bin("hbal"), ["-t", files["multi-stripped"]])
    assert plain == _run(ref_bin("hbal"), ["-t", files["multi-stripped"]])


def test_reference_hail_ignores_the_storage_keys(tmp_path):
    """The request keys of ours (per-node storage, per-disk vg/metavg,
    volume_group_name) leave the reference's answer unchanged."""
    import json
    from tests.harness.refdiff import DATA
    src = DATA / "hail-alloc-drbd.json"
    if not src.exists():
        pytest.skip("test data not available")
    req = json.loads(src.read_text())
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(req))
    req["volume_group_name"] = "xenvg"
    for node in req["nodes"].values():
        node["storage"] = [{"name": "xenvg", "size": 400000, "free": 300000}]
    req["request"]["disks"][0].update(vg="xenvg", metavg="xenvg")
    ext = tmp_path / "ext.json"
    ext.write_text(json.dumps(req))
    want = _run(ref_bin("hail"), [str(plain)])
    assert want[0] == 0 and _run(ref_bin("hail"), [str(ext)]) == want
