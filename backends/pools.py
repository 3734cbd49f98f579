"""Storage pools from Ganeti: the two read-only jobs and their answers.

No query field of Ganeti 3.0 carries per-VG data, so the volume groups come
from two opcodes run as one job (``--storage-pools``, ours):

* ``OP_NODE_QUERY_STORAGE`` (``storage_type`` ``lvm-vg``, fields node,
  name, size, free): every volume group of every reachable node, system
  VGs included (offline or unreachable nodes are silently left out: their
  pools stay unknown);
* ``OP_INSTANCE_QUERY_DATA`` with ``static`` (no locks, no RPC): each
  disk's ``logical_id`` is ``[vg, lv]`` for plain, and a DRBD disk's two
  children are its data and meta LVs, each ``[vg, lv]``.

Only the volume groups some instance uses, the cluster's VG and the
allow-listed ones count: a system VG no instance uses is never a pool.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Sequence, Tuple

from htools.model import ClusterData, set_pool_disks

STORAGE_FIELDS = ["node", "name", "size", "free"]

#: polling of the job: first look after POLL_FIRST s, doubling up to
#: POLL_MAX s, given up after TIMEOUT s
POLL_FIRST, POLL_MAX, TIMEOUT = 0.05, 2.0, 300.0

#: Ganeti's unfinished job statuses
PENDING = frozenset(["queued", "waiting", "canceling", "running"])


def wait_finished(status_of: Callable[[], object]) -> Optional[object]:
    """Call ``status_of`` until it answers a status outside PENDING (that
    status), backing off; None after TIMEOUT seconds."""
    import time
    delay, waited = POLL_FIRST, 0.0
    while True:
        status = status_of()
        if status not in PENDING:
            return status
        if waited > TIMEOUT:
            return None
        time.sleep(delay)
        waited += delay
        delay = min(delay * 2, POLL_MAX)


def read_ops() -> List[dict]:
    """The job's two opcodes."""
    return [
        {"OP_ID": "OP_NODE_QUERY_STORAGE", "nodes": [],
         "storage_type": "lvm-vg", "output_fields": list(STORAGE_FIELDS),
         "name": None},
        {"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": [], "static": True,
         "use_locking": False},
    ]


class PoolDataError(Exception):
    """The jobs' answers cannot be read (the message says what)."""


def _vg_of(disk: dict) -> Optional[str]:
    lid = disk.get("logical_id")
    if isinstance(lid, list) and len(lid) == 2 and isinstance(lid[0], str):
        return lid[0]
    return None


def disk_vgs(disk: dict) -> Optional[Tuple[int, str, Optional[str]]]:
    """``(size, data vg, meta vg)`` of one disk of the instance data, None
    for a disk not on LVM."""
    size = disk.get("size")
    if not isinstance(size, int) or isinstance(size, bool):
        raise PoolDataError("disk without a size: %r" % (disk,))
    children = disk.get("children") or []
    if disk.get("dev_type") == "drbd" and len(children) >= 2:
        data, meta = _vg_of(children[0]), _vg_of(children[1])
        if data is None or meta is None:
            return None
        return size, data, meta
    vg = _vg_of(disk) if disk.get("dev_type") in (None, "plain") else None
    return None if vg is None else (size, vg, None)


def apply_pools(cdata: ClusterData, storage_rows: Sequence, inst_data: dict,
                cluster_vg: Optional[str], extra: Sequence[str] = ()) -> None:
    """Give ``cdata``'s nodes their pools and its instances their disks'
    volume groups from the two answers."""
    if not isinstance(inst_data, dict):
        raise PoolDataError("instance data is not a dictionary")
    by_inst = {i.name: i for i in cdata.instances}
    wanted = set(extra)
    if cluster_vg:
        wanted.add(cluster_vg)
    for name, data in inst_data.items():
        inst = by_inst.get(name)
        if inst is None or not isinstance(data, dict):
            continue
        disks = [disk_vgs(d) for d in data.get("disks") or []
                 if isinstance(d, dict)]
        disks = [d for d in disks if d is not None]
        if disks:
            set_pool_disks(inst, disks)
            for _, vg, meta in disks:
                wanted.add(vg)
                if meta:
                    wanted.add(meta)
    by_node = {n.name: n for n in cdata.nodes}
    pools: Dict[str, Dict[str, Tuple[int, int]]] = {}
    for row in storage_rows:
        if not isinstance(row, list) or len(row) != len(STORAGE_FIELDS):
            raise PoolDataError("storage row %r has not the fields %s"
                                % (row, ",".join(STORAGE_FIELDS)))
        node, vg, size, free = row
        if node not in by_node:
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in (size, free)):
            raise PoolDataError("storage row %r: size and free must be "
                                "numbers" % (row,))
        pools.setdefault(node, {})
        if vg in wanted:
            pools[node][vg] = (int(size), int(free))
    for name, p in pools.items():
        by_node[name].pools = p
