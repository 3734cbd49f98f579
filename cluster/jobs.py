"""Plans as Ganeti jobs: annotated opcodes, job sets and their checks.

A :class:`JobSet` is what htools' ``execWithCancel`` receives for one step
of a plan: the jobs to submit together (each a list of opcodes, as built by
``iMoveToJob`` and friends), the description the reference prints when it
summarises an interrupted run, and - ours - the preconditions of each move,
checked against the live cluster just before the set is submitted.

:class:`Annotation` turns a bare opcode into the reference's ``MetaOpCode``:
``priority``, ``depends``, ``comment`` and the reason trail
``[[source, text, timestamp_ns]]`` come first, then ``OP_ID`` and the
opcode's own fields, exactly as htools serialises them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from htools import moves as mv
from htools.constants import PRIORITY_VALUES, VERSION


@dataclass
class Annotation:
    """How a tool labels its opcodes (``annotateOpCode``)."""

    source: str                     # reason-trail source: hbal, hsqueeze
    comment: str                    # opcode comment
    reason: Optional[str] = None    # --reason (None: "<prog> <version> called")
    priority: Optional[str] = None  # --priority name
    timestamp_ns: int = field(default_factory=lambda: reason_timestamp())

    def annotate(self, op: Mapping) -> Dict:
        text = self.reason if self.reason is not None else \
            "%s %s called" % (self.source, VERSION)
        meta = {"priority": PRIORITY_VALUES.get(self.priority or "normal", 0),
                "depends": None, "comment": self.comment,
                "reason": [[self.source, text, self.timestamp_ns]]}
        meta.update(op)
        return meta


def reason_timestamp() -> int:
    """``reasonTrailTimestamp`` of now: microseconds, as nanoseconds."""
    return (time.time_ns() // 1000) * 1000


def hbal_annotation(opts) -> Annotation:
    return Annotation("hbal", "rebalancing via hbal " + VERSION,
                      getattr(opts, "reason", None), getattr(opts, "priority", None))


@dataclass(frozen=True)
class MoveCheck:
    """What must still hold for one move when its job set is submitted."""

    instance: str
    pnode: str                  # where the plan expects the instance now
    snode: Optional[str]
    new_pnode: str              # where the move puts it
    new_snode: Optional[str]
    mem: int = 0                # memory the new primary must have free
    running: bool = True

    @property
    def targets(self) -> List[str]:
        """The nodes the move puts something on."""
        out = []
        if self.new_pnode != self.pnode:
            out.append(self.new_pnode)
        if self.new_snode and self.new_snode != self.snode:
            out.append(self.new_snode)
        return out


@dataclass
class JobSet:
    jobs: List[List[Dict]]
    description: str
    checks: List[MoveCheck] = field(default_factory=list)


def placement_after(kind: int, pnode: str, snode: Optional[str],
                    target: Optional[str]) -> Tuple[str, Optional[str]]:
    """(primary, secondary) after a move (``Cluster.applyMove``'s result)."""
    if kind == mv.FAILOVER:
        return (snode or pnode), pnode
    if kind == mv.FAILOVER_TO_ANY:
        return target or pnode, snode
    if kind == mv.REPLACE_PRIMARY:
        return target or pnode, snode
    if kind == mv.REPLACE_SECONDARY:
        return pnode, target
    if kind == mv.REPLACE_AND_FAILOVER:
        return target or pnode, pnode
    if kind == mv.FAILOVER_AND_REPLACE:
        return (snode or pnode), target
    raise ValueError("unknown move kind %r" % kind)


def move_jobsets(nodes: Mapping[int, object], insts: Mapping[int, object],
                 jobsets: Sequence[Sequence[object]],
                 describe) -> List[JobSet]:
    """Job sets for a list of ``balance.MoveJob`` sets (in plan order).

    ``nodes``/``insts`` describe the cluster *before* the plan; each move's
    check expects the instance where the previous moves left it.
    ``describe(names)`` gives a set's description from its instances."""
    from htools.opcodes import imove_to_job
    where: Dict[int, Tuple[str, Optional[str]]] = {}
    out = []
    for js in jobsets:
        checks = []
        for job in js:
            inst = insts[job.idx]
            cur = where.get(job.idx)
            if cur is None:
                cur = (nodes[inst.pnode].name,
                       nodes[inst.snode].name if inst.snode >= 0 else None)
            target = nodes[job.move.target].name if job.move.target >= 0 else None
            new = placement_after(job.move.kind, cur[0], cur[1], target)
            where[job.idx] = new
            checks.append(MoveCheck(inst.name, cur[0], cur[1], new[0], new[1],
                                    mem=inst.mem, running=inst.is_running))
        out.append(JobSet([imove_to_job(nodes, insts, j.idx, j.move) for j in js],
                          describe([insts[j.idx].name for j in js]), checks))
    return out
