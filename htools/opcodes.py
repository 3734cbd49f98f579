"""The opcodes htools submits, and their Haskell ``show``.

:func:`imove_to_job` is htools' ``iMoveToJob``: the opcodes of one move of
a plan (failover or migrate, replace-disks) as Luxi job input;
:func:`show_opcode` the derived ``Show`` of those opcodes, as htools prints
pending ones when an execution is interrupted.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional

from htools import moves as mv
from htools.haskell.fmt import show_double
from htools.haskell.show import show_string
from htools.model import Instance, Node

def op_migrate(inst: Instance, target: Optional[str]) -> Dict:
    if inst.forthcoming:
        op = {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": inst.name,
              "shutdown_timeout": 120, "ignore_consistency": False}
        if target is not None:
            op["target_node"] = target
        op["ignore_ipolicy"] = False
        op["cleanup"] = False
        return op
    op = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": inst.name}
    if target is not None:
        op["target_node"] = target
    op.update([("allow_runtime_changes", False), ("ignore_ipolicy", False),
               ("cleanup", False), ("allow_failover", True),
               ("ignore_hvversions", True)])
    return op


def op_replace(inst: Instance, node: str) -> Dict:
    return {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": inst.name,
            "early_release": False, "ignore_ipolicy": False,
            "mode": "replace_new_secondary", "disks": [], "remote_node": node}


def imove_to_job(nl: Mapping[int, Node], il: Mapping[int, Instance], idx: int,
                 move: mv.IMove) -> List[Dict]:
    """The opcodes (ordered dicts) of one move of instance ``idx``."""
    inst = il[idx]
    k = move.kind
    name = (lambda n: nl[n].name)
    if k == mv.FAILOVER:
        return [op_migrate(inst, None)]
    if k == mv.FAILOVER_TO_ANY:
        return [op_migrate(inst, name(move.target))]
    if k == mv.REPLACE_PRIMARY:
        return [op_migrate(inst, None), op_replace(inst, name(move.target)),
                op_migrate(inst, None)]
    if k == mv.REPLACE_SECONDARY:
        return [op_replace(inst, name(move.target))]
    if k == mv.REPLACE_AND_FAILOVER:
        return [op_replace(inst, name(move.target)), op_migrate(inst, None)]
    if k == mv.FAILOVER_AND_REPLACE:
        return [op_migrate(inst, None), op_replace(inst, name(move.target))]
    raise ValueError(k)


# ---------------------------------------------------------------- opcodes
# Haskell ``show`` of the opcodes htools submits (``OpCodes.OpCode``'s
# derived Show): the record fields in declaration order, optional fields
# as ``Nothing``/``Just``, non-empty strings and non-negative numbers in
# their newtype wrappers.  Used where htools prints pending opcodes
# (the summary of an interrupted ``-X`` run).

def _ne(s) -> str:
    return "NonEmpty {fromNonEmpty = %s}" % show_string(s)


def _maybe(v, show) -> str:
    if v is None:
        return "Nothing"
    return "Just (%s)" % show(v) if " " in show(v) else "Just " + show(v)


def _bool(v) -> str:
    return "True" if v else "False"


def _int(v) -> str:
    return str(v) if v >= 0 else "(%d)" % v


_REPLACE_MODES = {"replace_on_primary": "ReplaceOnPrimary",
                  "replace_on_secondary": "ReplaceOnSecondary",
                  "replace_new_secondary": "ReplaceNewSecondary",
                  "replace_auto": "ReplaceAuto"}
_TAG_KINDS = {"instance": "TagKindInstance", "node": "TagKindNode",
              "nodegroup": "TagKindGroup", "cluster": "TagKindCluster",
              "network": "TagKindNetwork"}
_OOB_COMMANDS = {"power-on": "OobPowerOn", "power-off": "OobPowerOff",
                 "power-cycle": "OobPowerCycle", "power-status": "OobPowerStatus",
                 "health": "OobHealth"}

#: OP_ID -> (constructor, [(Haskell field, JSON key, shower)])
_OPCODES = {
    "OP_INSTANCE_MIGRATE": ("OpInstanceMigrate", [
        ("opInstanceName", "instance_name", show_string),
        ("opInstanceUuid", "instance_uuid", lambda v: _maybe(v, _ne)),
        ("opMigrationMode", "mode", lambda v: _maybe(v, lambda m: "Migration" + m.capitalize())),
        ("opOldLiveMode", "live", lambda v: _maybe(v, _bool)),
        ("opTargetNode", "target_node", lambda v: _maybe(v, _ne)),
        ("opTargetNodeUuid", "target_node_uuid", lambda v: _maybe(v, _ne)),
        ("opAllowRuntimeChanges", "allow_runtime_changes", _bool),
        ("opIgnoreIpolicy", "ignore_ipolicy", _bool),
        ("opMigrationCleanup", "cleanup", _bool),
        ("opIallocator", "iallocator", lambda v: _maybe(v, _ne)),
        ("opAllowFailover", "allow_failover", _bool),
        ("opIgnoreHvversions", "ignore_hvversions", _bool)]),
    "OP_INSTANCE_FAILOVER": ("OpInstanceFailover", [
        ("opInstanceName", "instance_name", show_string),
        ("opInstanceUuid", "instance_uuid", lambda v: _maybe(v, _ne)),
        ("opShutdownTimeout", "shutdown_timeout",
         lambda v: "NonNegative {fromNonNegative = %d}" % v),
        ("opIgnoreConsistency", "ignore_consistency", _bool),
        ("opTargetNode", "target_node", lambda v: _maybe(v, _ne)),
        ("opTargetNodeUuid", "target_node_uuid", lambda v: _maybe(v, _ne)),
        ("opIgnoreIpolicy", "ignore_ipolicy", _bool),
        ("opMigrationCleanup", "cleanup", _bool),
        ("opIallocator", "iallocator", lambda v: _maybe(v, _ne))]),
    "OP_INSTANCE_REPLACE_DISKS": ("OpInstanceReplaceDisks", [
        ("opInstanceName", "instance_name", show_string),
        ("opInstanceUuid", "instance_uuid", lambda v: _maybe(v, _ne)),
        ("opEarlyRelease", "early_release", _bool),
        ("opIgnoreIpolicy", "ignore_ipolicy", _bool),
        ("opReplaceDisksMode", "mode", lambda v: _REPLACE_MODES.get(v, v)),
        ("opReplaceDisksList", "disks", lambda v: "[%s]" % ",".join(map(str, v))),
        ("opRemoteNode", "remote_node", lambda v: _maybe(v, _ne)),
        ("opRemoteNodeUuid", "remote_node_uuid", lambda v: _maybe(v, _ne)),
        ("opIallocator", "iallocator", lambda v: _maybe(v, _ne))]),
    "OP_TAGS_SET": ("OpTagsSet", [
        ("opKind", "kind", lambda v: _TAG_KINDS.get(v, v)),
        ("opTagsList", "tags", lambda v: "[%s]" % ",".join(show_string(t) for t in v)),
        ("opTagsGetName", "name", lambda v: _maybe(v, show_string))]),
    "OP_NODE_SET_PARAMS": ("OpNodeSetParams", [
        ("opNodeName", "node_name", _ne),
        ("opNodeUuid", "node_uuid", lambda v: _maybe(v, _ne)),
        ("opForce", "force", _bool),
        ("opHvState", "hv_state", lambda v: _maybe(v, str)),
        ("opDiskState", "disk_state", lambda v: _maybe(v, str)),
        ("opMasterCandidate", "master_candidate", lambda v: _maybe(v, _bool)),
        ("opOffline", "offline", lambda v: _maybe(v, _bool)),
        ("opDrained", "drained", lambda v: _maybe(v, _bool)),
        ("opAutoPromote", "auto_promote", _bool),
        ("opMasterCapable", "master_capable", lambda v: _maybe(v, _bool)),
        ("opVmCapable", "vm_capable", lambda v: _maybe(v, _bool)),
        ("opSecondaryIp", "secondary_ip", lambda v: _maybe(v, _ne)),
        ("opgenericNdParams", "ndparams", lambda v: _maybe(v, str)),
        ("opPowered", "powered", lambda v: _maybe(v, _bool))]),
    "OP_OOB_COMMAND": ("OpOobCommand", [
        ("opNodeNames", "node_names", lambda v: "[%s]" % ",".join(_ne(n) for n in v)),
        ("opNodeUuids", "node_uuids", lambda v: _maybe(v, str)),
        ("opOobCommand", "command", lambda v: _OOB_COMMANDS.get(v, v)),
        ("opOobTimeout", "timeout", _int),
        ("opIgnoreStatus", "ignore_status", _bool),
        ("opPowerDelay", "power_delay", lambda v: show_double(float(v)))]),
}


def show_opcode(op) -> str:
    """Haskell ``show`` of one opcode given as its JSON fields."""
    con, fields = _OPCODES[op["OP_ID"]]
    return "%s {%s}" % (con, ", ".join(
        "%s = %s" % (hname, show(op.get(key)) if key in op or show is _bool
                     else "Nothing")
        for hname, key, show in fields))
