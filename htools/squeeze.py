"""hsqueeze's algorithm: choose nodes to power off or on (``Hsqueeze.hs``).

Offline candidates are online, non-master nodes without secondaries whose
primaries all use non-local storage, ordered by number of primaries
(descending, stable).  Deciding greedily from the end of that list, a node
joins the set to power off if, after marking the whole set offline and
balancing the cluster (hbal's step with min-gain 0, no length limit), every
instance's primary is online and every node can still host the *target*
instance (factor x the cluster ipolicy's standard spec).

Online candidates are offline nodes with a ``htools:standby:`` tag.  If
some node cannot host the *minimal* instance now, the shortest prefix of
the online candidates whose onlining (followed by balancing) fixes that is
chosen, or all of them if none suffices.

The balancing runs over the whole cluster (all groups), as htools does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

from htools import balance
from htools.haskell.prelude import floor_int
from htools.model import Instance, Node
from htools.moves import compute_moves
from htools.metrics import comp_cv
from htools.types import NO_SECONDARY, DiskTemplate, FailMode, InstanceStatus, ISpec

STANDBY_PREFIX = "htools:standby:"
STANDBY_AUTO = "htools:standby:auto"

if TYPE_CHECKING:
    NodeMap = Dict[int, Node]
if TYPE_CHECKING:
    InstMap = Dict[int, Instance]


def has_standby_tag(node: Node) -> bool:
    """htools' ``Tags.hasStandbyTag``."""
    return any(t.startswith(STANDBY_PREFIX) for t in node.tags)



def instance_from_spec(name: str, factor: float, spec: ISpec) -> Instance:
    """``instanceFromSpecAndFactor``: factor x spec (floored), ext, no disks."""
    return Instance(name=name, mem=floor_int(factor * spec.memory_size), dsk=0,
                    disks=[], vcpus=floor_int(factor * spec.cpu_count),
                    run_st=InstanceStatus.RUNNING, tags=[], auto_balance=False,
                    pnode=NO_SECONDARY, snode=NO_SECONDARY,
                    disk_template=DiskTemplate.EXT,
                    spindle_use=floor_int(factor * spec.spindle_use),
                    nics=[], forthcoming=False)


# ---------------------------------------------------------------- predicates

def only_external(insts: InstMap, node: Node) -> bool:
    """The node's primaries all use non-local storage."""
    return not any(insts[i].uses_local_storage for i in node.p_list)


def all_instances_on_online_nodes(nodes: NodeMap, insts: InstMap) -> bool:
    return all(not nodes[i.pnode].offline for i in insts.values())


def all_nodes_capacity_for(inst: Instance, nodes: NodeMap) -> bool:
    """Every node (offline ones included) could take ``inst`` as primary."""
    return all(not isinstance(n.add_pri(inst), FailMode) for n in nodes.values())


# ---------------------------------------------------------------- balancing

@dataclass
class Balanced:
    """A configuration after balancing and the moves that led there."""

    nodes: NodeMap
    insts: InstMap
    moves: List[balance.MoveJob] = field(default_factory=list)  # newest first


def balance_conf(nodes: NodeMap, insts: InstMap) -> Balanced:
    """Balance until no step improves the score (``Hsqueeze.balance``)."""
    algo = balance.AlgorithmOptions(min_gain=0.0, min_gain_limit=0.0)
    order = sorted(nodes)
    tbl = balance.Table(dict(nodes), dict(insts),
                        comp_cv([nodes[i] for i in order]), [])
    moves: List[balance.MoveJob] = []
    for old_tbl, new_tbl in balance.steps(algo, tbl):
        plc = new_tbl.plc[-1]
        inst = old_tbl.insts[plc.idx]
        npri = new_tbl.nodes[plc.pnode].alias
        nsec = new_tbl.nodes[plc.snode].alias if plc.snode in new_tbl.nodes else ""
        # htools' getMoves names the instance by its full name
        _, cmds = compute_moves(inst, inst.name, plc.move, npri, nsec)
        moves.insert(0, balance.MoveJob(balance.involved_nodes(inst, plc),
                                        plc.idx, plc.move, cmds))
        tbl = new_tbl
    return Balanced(tbl.nodes, tbl.insts, moves)


def set_offline(nodes: NodeMap, ndxs: Sequence[int], offline: bool) -> NodeMap:
    out = dict(nodes)
    for ndx in ndxs:
        n = out[ndx].copy()
        n.offline = offline
        out[ndx] = n
    return out


class Squeezer:
    """One cluster configuration and memoised online/offline balancings."""

    def __init__(self, nodes: NodeMap, insts: InstMap) -> None:
        self.nodes = nodes
        self.insts = insts
        self._cache: Dict[Tuple[bool, FrozenSet[int]], Balanced] = {}

    def node_list(self) -> List[Node]:
        return [self.nodes[i] for i in sorted(self.nodes)]

    def online_offline(self, offline: bool, ndxs: Sequence[int]) -> Balanced:
        """``onlineOfflineNodes``: set the flag on ``ndxs``, then balance."""
        key = (offline, frozenset(ndxs))
        res = self._cache.get(key)
        if res is None:
            res = balance_conf(set_offline(self.nodes, ndxs, offline), self.insts)
            self._cache[key] = res
        return res

    def can_online_offline(self, offline: bool, inst: Instance,
                           nds: Sequence[Node]) -> bool:
        res = self.online_offline(offline, [n.idx for n in nds])
        return (all_instances_on_online_nodes(res.nodes, res.insts)
                and all_nodes_capacity_for(inst, res.nodes))

    # candidates
    def offline_candidates(self) -> List[Node]:
        cands = [n for n in self.node_list()
                 if not n.offline and not n.is_master and not n.s_list
                 and only_external(self.insts, n)]
        # stable sort, most primaries first
        return sorted(cands, key=lambda n: -len(n.p_list))

    def online_candidates(self) -> List[Node]:
        return [n for n in self.node_list() if n.offline and has_standby_tag(n)]

    def greedy_offline(self, inst: Instance, cands: Sequence[Node]) -> List[Node]:
        """``greedyOfflineNodes``: decided from the last candidate backwards."""
        chosen: List[Node] = []
        for nd in reversed(cands):
            if self.can_online_offline(True, inst, [nd] + chosen):
                chosen = [nd] + chosen
        return chosen

    def try_online(self, inst: Instance, cands: Sequence[Node]) -> Optional[List[Node]]:
        """``tryOnline``: the shortest sufficient prefix, or None."""
        for k in range(len(cands) + 1):
            if self.can_online_offline(False, inst, cands[:k]):
                return list(cands[:k])
        return None


# ---------------------------------------------------------------- results

@dataclass
class Plan:
    """What hsqueeze decided."""

    action: str                      # "online", "offline" or "none"
    offline_cands: List[Node]
    online_cands: List[Node]
    nodes: List[Node]                # nodes to online/offline
    enough: bool = True              # onlining yields enough capacity
    result: Optional[Balanced] = None  # final configuration (None: unchanged)
    jobsets: List[List[balance.MoveJob]] = field(default_factory=list)


def plan(nodes: NodeMap, insts: InstMap, std: ISpec, min_factor: float,
         target_factor: float) -> Plan:
    """Run hsqueeze's decision on a configuration."""
    sq = Squeezer(nodes, insts)
    off_cands = sq.offline_candidates()
    on_cands = sq.online_candidates()
    target_inst = instance_from_spec("targetInstance", target_factor, std)
    min_inst = instance_from_spec("targetInstance", min_factor, std)
    if not all_nodes_capacity_for(min_inst, nodes):
        to_online = sq.try_online(min_inst, on_cands)
        chosen = on_cands if to_online is None else to_online
        res = sq.online_offline(False, [n.idx for n in chosen])
        return Plan("online", off_cands, on_cands, list(chosen),
                    enough=to_online is not None, result=res,
                    jobsets=balance.split_jobs(res.moves))
    to_offline = sq.greedy_offline(target_inst, off_cands)
    if not to_offline:
        return Plan("none", off_cands, on_cands, [])
    res = sq.online_offline(True, [n.idx for n in to_offline])
    return Plan("offline", off_cands, on_cands, to_offline, result=res,
                jobsets=balance.split_jobs(res.moves))


# ---------------------------------------------------------------- commands

def offline_commands(p: Plan) -> str:
    """The shell commands to squeeze the cluster (moves, tags, power off)."""
    return (balance.format_cmds(p.jobsets)
            + "\necho Tagging Commands\n"
            + "".join("  gnt-node add-tags %s %s\n" % (n.alias, STANDBY_AUTO)
                      for n in p.nodes)
            + "\necho Power Commands\n"
            + "".join("  gnt-node power -f off %s\n" % n.alias for n in p.nodes))


def online_commands(p: Plan) -> str:
    """The shell commands to expand the cluster (power on, then moves)."""
    return ("echo Power Commands\n"
            + "".join("  gnt-node power -f on %s\n" % n.alias for n in p.nodes)
            + balance.format_cmds(p.jobsets))


# ---------------------------------------------------------------- opcodes (-X)

OOB_TIMEOUT = 60
OOB_POWER_DELAY = 2.0


def _op_set_offline(node: Node, offline: bool) -> Dict:
    return {"OP_ID": "OP_NODE_SET_PARAMS", "node_name": node.name,
            "force": False, "offline": offline, "auto_promote": False}


def _op_oob(nodes: Sequence[Node], command: str) -> Dict:
    return {"OP_ID": "OP_OOB_COMMAND", "node_names": [n.name for n in nodes],
            "command": command, "timeout": OOB_TIMEOUT, "ignore_status": False,
            "power_delay": OOB_POWER_DELAY}


def _op_add_tags(node: Node, tags: List[str]) -> Dict:
    return {"OP_ID": "OP_TAGS_SET", "kind": "node", "tags": list(tags),
            "name": node.name}


def move_opcodes(nodes: NodeMap, insts: InstMap,
                 jobsets: Sequence[Sequence[balance.MoveJob]]
                 ) -> List[Tuple[List[List[Dict]], str]]:
    """``getMoveOpCodes``: one entry per jobset (jobs of opcodes, text)."""
    from htools.opcodes import imove_to_job
    return [([imove_to_job(nodes, insts, j.idx, j.move) for j in js],
             "Moving instances " + ",".join(insts[j.idx].name for j in js))
            for js in jobsets]


def offline_opcodes(p: Plan, nodes: NodeMap, insts: InstMap
                    ) -> List[Tuple[List[List[Dict]], str]]:
    """Moves, standby tags, then one power-off job (htools' order)."""
    out = move_opcodes(nodes, insts, p.jobsets)
    out += [([[_op_add_tags(n, [STANDBY_AUTO])]],
             "Tagging node %s with standby" % n.name) for n in p.nodes]
    out.append(([[_op_set_offline(n, True) for n in p.nodes]
                 + [_op_oob(p.nodes, "power-off")]], "Powering off nodes"))
    return out


def online_opcodes(p: Plan, nodes: NodeMap, insts: InstMap
                   ) -> List[Tuple[List[List[Dict]], str]]:
    """One power-on job, then the moves."""
    out = [([[_op_set_offline(n, False) for n in p.nodes]
             + [_op_oob(p.nodes, "power-on")]], "Powering on nodes")]
    return out + move_opcodes(nodes, insts, p.jobsets)
