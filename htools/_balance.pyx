# cython: language_level=3, boundscheck=False, wraparound=False
# cython: initializedcheck=False, cdivision=True, nonecheck=False
# distutils: extra_compile_args = -ffp-contract=off -fno-fast-math -fno-math-errno -fopenmp
# distutils: extra_link_args = -fopenmp
"""Compiled hbal balancing step (htools' ``tryBalance``) on C arrays.

:class:`BalanceState` packs one node group (the nodes and the instances
whose primary is in the group) into C structures and finds the move that
:func:`htools.balance.search.try_balance` would choose - the same move and the
same score, bit for bit - without touching Python objects in its loops.

What is packed
--------------
Per node (``NodeS``): every field that htools' placement checks and the
twenty metrics read, with the model's types (Python ints as 64-bit
integers, floats as doubles): memory (``t_mem``, ``int(t_mem)``, ``n_mem``,
``i_mem``, ``max(0, x_mem)``, ``f_mem_forth``, ``r_mem``), disk, cpu,
spindles, the stored ratios ``p_*`` (recomputed by the same expressions as
:class:`htools.model.Node`), ``fail_n1``, the utilisation pool and load
vectors, the location score and the primary exclusion-tag metric.  Beside
the structs: each node's peer map (sparse ``primary -> memory`` arrays with
the cached maximum and the maximum without the top entry, so that
``remove_sec`` gets ``pm_max`` of the updated map in O(1)), each node's
exclusion-tag multiset of primaries (sorted interned tags with counts), the
location tags (sorted interned ids), migration restrictions (interned tag
sets and a ``src.mig <= dst.rmig`` matrix), and the cluster-wide
(location, exclusion) pair counts of the map metric.

Per movable, auto-balanced instance (``InstS``): memory, disk, vcpus,
spindle use and total spindles (or unknown), the run-state and template
flags the checks use (uses_memory, not_offline, uses_sec_mem, local
storage, secondary, mirror type, forthcoming), the util vector, the
exclusion tags (interned, with multiplicity), the desired location tags,
the current location score, primary and secondary.

Moves
-----
``_sim`` is :func:`htools.moves.apply_move` for the six move kinds, with
``remove_pri``/``remove_sec``/``add_pri``/``add_sec`` transcribed from the
model on copies of the 2-3 node structs a move touches: the same checks
(strict or forced per move kind exactly as in ``apply_move``), the same
integer and floating operations in the same order (the util load of a
node that loses and regains a primary goes through the same roundings as
in the model).  Primary exclusion tags, the map metric and the peer maps
are kept outside the structs: in every move, each ``add_pri`` tag check
and each peer lookup reads the node's *unmodified* map (the only earlier
map change on the same node is ``remove_sec`` of the old primary's key
before ``add_sec`` of another key), so they read the base maps, and the
metric deltas follow from the net change (old primary -> new primary).

The search splits a move into the part on the old primary/secondary and
the part on the target (``_fixed``/``_target``).  The former depends on
the target only through one integer (``_sig``: a location-tag overlap or a
peer-map entry), so it is computed once per instance, move kind and
distinct value, and each target costs one node operation.  (Debug mode,
``BalanceState.debug``, checks every candidate against ``_sim``.)

Choosing the move exactly
-------------------------
htools scores every candidate with a full ``compCV`` (two-pass population
standard deviations over the online nodes in index order, left-fold sums)
and keeps the first candidate with the strictly lowest score below the
current one.  Here each candidate gets an *estimate* in O(touched nodes)
from the current state's statistics (sum, mean and two-pass sum of squared
deviations ``M2`` per metric) and a rigorous error bound, i.e. an interval
``[lo, hi]`` that contains the exact floating-point score of the
candidate.  With ``n`` the number of online nodes, ``u = 2**-53`` and ``A``
an upper bound of ``|x|`` over the candidate's values of a metric:

* standard deviations: the estimate of the variance is
  ``(M2 + sum((y-mu)^2 - (x-mu)^2) - d^2/n) / n`` over the changed nodes
  (``d = sum(y - x)``).  Standard summation error bounds give: the exact
  two-pass variance is within ``4.01 (n+5) u A^2`` of the real variance,
  ``M2/n`` within ``4.04 (n+3) u A^2`` of its real value, and the update
  terms and final operations add at most ``(24 + 16 + 396/n^2 + 100/n) u
  A^2``; the bound used, ``delta = 32 (n + 32) u A^2``, exceeds their sum
  for every ``n >= 1``.  A variance error ``delta`` moves the square root
  by at most ``min(sqrt(delta), delta / sqrt(v))``; the two roundings of
  the square roots add ``4 u (sd + err)``;
* sums (over online or offline nodes): ``8 (N + 8) u (sum|x| + sum|y|)``
  (``N`` nodes), against ``(2N + 6) u (...)`` from the analysis;
* a metric whose values on the touched nodes are unchanged (``==``; NaN
  counts as changed) equals the current state's exact value (same inputs,
  same operations; a ``+0.0``/``-0.0`` exchange cannot change a fold that
  starts from ``+0.0``), and the map metric is integer arithmetic: both
  exact, error 0;
* the weighted total adds ``64 u sum w (|v| + err)`` (and 1e-290);
* a non-finite estimate or bound gives ``[-inf, inf]``.

Let ``H`` be the smallest ``hi`` of the candidates seen.  The candidate
htools chooses has the minimal exact score, which is ``<= H``; every
candidate with ``lo > H`` has an exact score ``> H``, so it is not a
minimum, and neither is a candidate with ``lo >= current score`` a valid
choice.  Hence the first candidate (in htools' order) with the minimal
exact score is the first one with the minimal exact score among the
candidates with ``lo <= H`` and ``lo < current``.  Those - in practice a
handful: the best candidate and exact or near ties - are re-simulated and
scored exactly (``_exact``: the operations of :func:`htools.metrics.comp_cv`
on the node list in index order with the touched rows substituted), in
candidate order, with htools' comparison ``best > cv`` starting from the
current score.  The result is the candidate a full exact scan picks, and
its score is bit-identical to ``comp_cv``.  (The cheap first pass of
``_finalize`` uses the looser ``sqrt(delta)``; a candidate it already
places above ``H`` or the current score is dropped, which by the same
argument cannot drop the chosen one.)

The pruned search (``hbal --search=pruned``) extends this class in
:mod:`htools._pruned`.  The state, the move simulation and the estimates
stay in one module on purpose: the search's inner loops call them as
``inline`` methods, which Cython turns into direct C calls only within the
defining module (from another module they go through the type's virtual
table).

Build flags: ``-ffp-contract=off`` keeps ``a + b*c`` from becoming a fused
multiply-add (one rounding instead of two); never ``-ffast-math``.
``-fno-math-errno`` only lets ``sqrt`` vectorise (IEEE results unchanged).
"""

from libc.math cimport sqrt, fabs, NAN, INFINITY

from htools.model import hs_truncate
from htools._inline cimport pdsk
from htools._node cimport (
    MAXP, NV, FITS, MIR_NONE, MIR_INTERNAL, MIR_EXTERNAL, NodeS, InstS, to_int as _int,
    to_double as _flt, pack_node, pack_instance, add_pri, add_sec, remove_pri,
    remove_sec, node_values,
)
from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset

cdef extern from "math.h":
    bint c_isfinite "isfinite"(double) nogil

# ---------------------------------------------------------------------------
# metric layout: the internal (grouped) order of the rows is described in
# _balance.pxd; exact scores are folded in htools' metric order.

#: original metric index of each internal slot
cdef int[NV] _ORIG
_ORIG[:] = [0, 1, 3, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 2, 11, 17, 19, 4, 5, 18]
#: internal slot of each original metric
cdef int[NV] _INT
cdef int _m
for _m in range(NV):
    _INT[_ORIG[_m]] = _m
#: htools' weights, original order
cdef double[NV] _W
_W[:] = [0.5, 0.5, 1.0, 1.0, 4.0, 16.0, 0.5, 1.0, 1.0, 1.0, 1.0, 2.0,
         0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 0.25]
#: weights in internal order
cdef double[NV] _WI
for _m in range(NV):
    _WI[_m] = _W[_ORIG[_m]]


cdef double U = 1.1102230246251565e-16   # 2**-53

# parallel search: fewer victims than this are searched by one thread;
# victims are handed to threads in chunks of PAR_CHUNK
cdef enum:
    PAR_MIN_VICTIMS = 64
    PAR_CHUNK = 8


# ---------------------------------------------------------------------------
# small helpers

cdef int _cand_cmp(const void *a, const void *b) noexcept nogil:
    cdef long long ka = (<const Cand *>a).key
    cdef long long kb = (<const Cand *>b).key
    return -1 if ka < kb else (1 if ka > kb else 0)


cdef inline bint memcmp_8(const double *a, const double *b) noexcept nogil:
    """Bitwise equality of two doubles (memcpy: no strict-aliasing UB)."""
    cdef unsigned long long ua, ub
    memcpy(&ua, a, 8)
    memcpy(&ub, b, 8)
    return ua == ub


cdef inline void _row(const NodeS *n, double *r) noexcept nogil:
    """The node's metric values in the internal order (``_ORIG``), spelled
    out with constant indices so that the compiler keeps the values of
    ``node_values`` in registers."""
    cdef double v[NV]
    node_values(n, v)
    r[0] = v[0]
    r[1] = v[1]
    r[2] = v[3]
    r[3] = v[6]
    r[4] = v[7]
    r[5] = v[8]
    r[6] = v[9]
    r[7] = v[10]
    r[8] = v[12]
    r[9] = v[13]
    r[10] = v[14]
    r[11] = v[15]
    r[12] = v[16]
    r[13] = v[2]
    r[14] = v[11]
    r[15] = v[17]
    r[16] = v[19]
    r[17] = v[4]
    r[18] = v[5]
    r[19] = v[18]


cdef inline int _common(const int *a, int na, const int *b, int nb) noexcept nogil:
    """|a & b| of two sorted unique int arrays."""
    cdef int i = 0, j = 0, c = 0
    while i < na and j < nb:
        if a[i] == b[j]:
            c += 1
            i += 1
            j += 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    return c


# ---------------------------------------------------------------------------

cdef inline bint _lands_offline(const NodeS *nd, const InstS *I, int kind,
                                int t) noexcept nogil:
    """Whether a move leaves the instance with a node offline."""
    cdef int p = I.pnode, s = I.snode
    if kind == FAILOVER:
        p = I.snode
        s = I.pnode
    elif kind == FAILOVER_TO_ANY or kind == REPLACE_PRIMARY:
        p = t
    elif kind == REPLACE_SECONDARY:
        s = t
    elif kind == REPLACE_AND_FAILOVER:
        p = t
        s = I.pnode
    else:
        p = I.snode
        s = t
    return nd[p].offline or (s >= 0 and nd[s].offline)


cdef class BalanceState:
    """One node group packed for hbal's balancing step.

    ``BalanceState(nodes, insts, opts)``: ``nodes`` maps node index ->
    :class:`htools.model.Node` (the group's nodes, as ``Table.nodes``),
    ``insts`` maps instance index -> Instance (``Table.insts``), ``opts``
    an :class:`htools.balance.AlgorithmOptions`.  Raises
    ``NotImplementedError`` for data it cannot represent exactly (then use
    the pure-Python balancer).
    """

    def __cinit__(self, *args, **kwargs):
        self.nd = NULL
        self.rows = NULL
        self.sp_val = NULL
        self.on_pos = NULL
        self.onlist_rank = NULL
        self.off_pos = NULL
        self.pmk = NULL
        self.pmv = NULL
        self.pml = NULL
        self.pmc = NULL
        self.b1k = NULL
        self.b1v = NULL
        self.b2v = NULL
        self.ptk = NULL
        self.ptc = NULL
        self.ptl = NULL
        self.ptcap = NULL
        self.loc = NULL
        self.locl = NULL
        self.mig_id = NULL
        self.rmig_id = NULL
        self.mig_ok = NULL
        self.ktot = NULL
        self.iv = NULL
        self.ex_ids = NULL
        self.ex_mult = NULL
        self.ds_ids = NULL
        self.wk0.cands = NULL
        self.tw = NULL
        self.ntw = 0
        self.N = 0

    def __dealloc__(self):
        cdef int i
        if self.pmk != NULL:
            for i in range(self.N):
                free(self.pmk[i])
                free(self.pmv[i])
        if self.ptk != NULL:
            for i in range(self.N):
                free(self.ptk[i])
                free(self.ptc[i])
        if self.loc != NULL:
            for i in range(self.N):
                free(self.loc[i])
        free(self.nd); free(self.rows); free(self.sp_val); free(self.on_pos)
        free(self.onlist_rank); free(self.off_pos)
        free(self.pmk); free(self.pmv); free(self.pml); free(self.pmc)
        free(self.b1k); free(self.b1v); free(self.b2v)
        free(self.ptk); free(self.ptc); free(self.ptl); free(self.ptcap)
        free(self.loc); free(self.locl)
        free(self.mig_id); free(self.rmig_id); free(self.mig_ok)
        free(self.ktot); free(self.iv); free(self.ex_ids); free(self.ex_mult)
        free(self.ds_ids); free(self.wk0.cands)
        if self.tw != NULL:
            for i in range(self.ntw):
                free(self.tw[i].cands)
            free(self.tw)

    # ------------------------------------------------------------------
    # packing

    def __init__(self, nodes, insts, opts):
        from htools.types import DiskTemplate, MirrorType
        cdef int N, i, j, k, p, vi
        cdef NodeS *n
        cdef InstS *I
        keys = sorted(nodes)
        N = len(keys)
        self.N = N
        self.node_keys = keys
        self.node_pos = {}
        for i in range(N):
            self.node_pos[keys[i]] = i
        sz = N if N > 0 else 1
        self.nd = <NodeS *>calloc(sz, sizeof(NodeS))
        self.rows = <double *>calloc(sz * NV, sizeof(double))
        self.sp_val = <double *>calloc(sz * MAXP, sizeof(double))
        self.on_pos = <int *>calloc(sz, sizeof(int))
        self.off_pos = <int *>calloc(sz, sizeof(int))
        self.onlist_rank = <int *>calloc(sz, sizeof(int))
        self.pmk = <int **>calloc(sz, sizeof(int *))
        self.pmv = <long long **>calloc(sz, sizeof(long long *))
        self.pml = <int *>calloc(sz, sizeof(int))
        self.pmc = <int *>calloc(sz, sizeof(int))
        self.b1k = <int *>calloc(sz, sizeof(int))
        self.b1v = <long long *>calloc(sz, sizeof(long long))
        self.b2v = <long long *>calloc(sz, sizeof(long long))
        self.ptk = <int **>calloc(sz, sizeof(int *))
        self.ptc = <long long **>calloc(sz, sizeof(long long *))
        self.ptl = <int *>calloc(sz, sizeof(int))
        self.ptcap = <int *>calloc(sz, sizeof(int))
        self.loc = <int **>calloc(sz, sizeof(int *))
        self.locl = <int *>calloc(sz, sizeof(int))
        self.mig_id = <int *>calloc(sz, sizeof(int))
        self.rmig_id = <int *>calloc(sz, sizeof(int))
        if (self.nd == NULL or self.rows == NULL or self.sp_val == NULL
                or self.on_pos == NULL
                or self.off_pos == NULL or self.onlist_rank == NULL
                or self.pmk == NULL or self.pmv == NULL or self.pml == NULL
                or self.pmc == NULL or self.b1k == NULL or self.b1v == NULL
                or self.b2v == NULL or self.ptk == NULL or self.ptc == NULL
                or self.ptl == NULL or self.ptcap == NULL or self.loc == NULL
                or self.locl == NULL or self.mig_id == NULL
                or self.rmig_id == NULL):
            raise MemoryError()
        self.o_disk_moves = bool(opts.disk_moves)
        self.o_inst_moves = bool(opts.instance_moves)
        self.o_rest_mig = bool(opts.restricted_migration)
        self.o_force = bool(opts.ignore_soft_errors)
        self.o_evac = bool(opts.evac_mode)

        lt_ids = {}        # location/desired-location tag string -> id
        ex_idmap = {}      # exclusion tag -> id
        nodes_l = [nodes[k] for k in keys]
        # ---- nodes
        self.n_on = 0
        self.n_off = 0
        for i in range(N):
            node = nodes_l[i]
            n = &self.nd[i]
            pack_node(n, node, hs_truncate)
            if n.offline:
                self.onlist_rank[i] = -1
                self.off_pos[self.n_off] = i
                self.n_off += 1
            else:
                self.onlist_rank[i] = self.n_on
                self.on_pos[self.n_on] = i
                self.n_on += 1
            # peer map
            peers = list(node.peers)
            for pk, pv in peers:
                if _int(pv) < 0:
                    raise NotImplementedError("negative peer memory")
                if pk not in self.node_pos:
                    # a primary outside the group: keep it under a key no
                    # group node has
                    pass
            self._pm_set(i, [(self._peer_key(pk), _int(pv)) for pk, pv in peers])
            # primary exclusion tags
            ptags = node.p_tags
            tsum = 0
            tl = []
            for t, c in ptags.items():
                tid = ex_idmap.setdefault(t, len(ex_idmap))
                tl.append((tid, _int(c)))
                tsum += _int(c)
                if _int(c) <= 0:
                    raise NotImplementedError("non-positive tag count")
            n.ptag_val = tsum - len(ptags)
            tl.sort()
            self._pt_set(i, tl)
            # location tags
            ll = sorted(set(lt_ids.setdefault(t, len(lt_ids))
                            for t in node.location_tags))
            self.loc[i] = <int *>malloc((len(ll) + 1) * sizeof(int))
            if self.loc[i] == NULL:
                raise MemoryError()
            for j in range(len(ll)):
                self.loc[i][j] = ll[j]
            self.locl[i] = len(ll)
        # migration restrictions
        mig_sets = {}
        rmig_sets = {}
        for i in range(N):
            node = nodes_l[i]
            self.mig_id[i] = mig_sets.setdefault(frozenset(node.mig_tags), len(mig_sets))
            self.rmig_id[i] = rmig_sets.setdefault(frozenset(node.rmig_tags), len(rmig_sets))
        self.n_rmig = len(rmig_sets)
        self.mig_ok = <unsigned char *>malloc(max(1, len(mig_sets) * len(rmig_sets)))
        if self.mig_ok == NULL:
            raise MemoryError()
        self.mig_trivial = True
        for ms, a in mig_sets.items():
            for rs, b in rmig_sets.items():
                ok = ms <= rs
                self.mig_ok[a * self.n_rmig + b] = 1 if ok else 0
                if not ok:
                    self.mig_trivial = False

        # ---- instances: the balancing candidates, by index
        ikeys = sorted(insts)
        victims = []
        for ik in ikeys:
            if insts[ik].movable and insts[ik].auto_balance:
                victims.append(insts[ik])
        V = len(victims)
        self.V = V
        self.iv = <InstS *>calloc(V if V > 0 else 1, sizeof(InstS))
        if self.iv == NULL:
            raise MemoryError()
        ex_all = []
        ds_all = []
        self.inst_vi = {}
        for vi in range(V):
            inst = victims[vi]
            I = &self.iv[vi]
            self.inst_vi[inst.idx] = vi
            pack_instance(I, inst)
            I.idx = inst.idx
            mt = inst.mirror_type
            I.mirror = (MIR_NONE if mt == MirrorType.NONE else
                        MIR_INTERNAL if mt == MirrorType.INTERNAL else MIR_EXTERNAL)
            if inst.pnode not in self.node_pos:
                raise NotImplementedError("primary outside the group")
            I.pnode = self.node_pos[inst.pnode]
            if inst.snode in self.node_pos:
                I.snode = self.node_pos[inst.snode]
            else:
                if I.mirror == MIR_INTERNAL:
                    raise NotImplementedError("DRBD secondary outside the group")
                I.snode = -1
            # exclusion tags with multiplicity, in first-occurrence order
            mult = {}
            for t in inst.excl_tags:
                mult[t] = mult.get(t, 0) + 1
            I.ex_off = len(ex_all)
            I.ex_len = len(mult)
            for t, c in mult.items():
                ex_all.append((ex_idmap.setdefault(t, len(ex_idmap)), c))
            dl = sorted(set(lt_ids.setdefault(t, len(lt_ids))
                            for t in inst.dsrd_loc_tags))
            I.ds_off = len(ds_all)
            I.ds_len = len(dl)
            ds_all.extend(dl)
        self.ex_ids = <int *>malloc((len(ex_all) + 1) * sizeof(int))
        self.ex_mult = <long long *>malloc((len(ex_all) + 1) * sizeof(long long))
        self.ds_ids = <int *>malloc((len(ds_all) + 1) * sizeof(int))
        if self.ex_ids == NULL or self.ex_mult == NULL or self.ds_ids == NULL:
            raise MemoryError()
        for j in range(len(ex_all)):
            self.ex_ids[j] = ex_all[j][0]
            self.ex_mult[j] = ex_all[j][1]
        for j in range(len(ds_all)):
            self.ds_ids[j] = ds_all[j]

        # ---- location/exclusion pairs (the map metric)
        self.n_lt = len(lt_ids)
        self.n_ex = len(ex_idmap)
        self.map_S = 0
        self.map_D = 0
        self.map_active = False
        msize = self.n_lt * self.n_ex
        if msize > 50000000:
            raise NotImplementedError("too many location x exclusion tags")
        self.ktot = <long long *>calloc(msize if msize > 0 else 1, sizeof(long long))
        if self.ktot == NULL:
            raise MemoryError()
        for i in range(N):
            if self.nd[i].offline:
                continue
            for (lt, et), c in nodes_l[i].instance_map.items():
                key = lt_ids.get(lt, -1)
                eid = ex_idmap.get(et, -1)
                if key < 0 or eid < 0:
                    raise NotImplementedError("unknown location/exclusion pair")
                c = _int(c)
                if c <= 0:
                    raise NotImplementedError("non-positive pair count")
                if self.ktot[key * self.n_ex + eid] == 0:
                    self.map_D += 1
                self.ktot[key * self.n_ex + eid] += c
                self.map_S += c
        self.map_active = self.n_lt > 0 and self.n_ex > 0

        for i in range(N):
            _row(&self.nd[i], self.rows + i * NV)
        # ---- storage pools: the volume groups of the online nodes, by name
        from htools.model import _POOL_IDS
        vg_of = {b: vg for vg, b in _POOL_IDS.items()}
        umask = 0
        for i in range(N):
            self._sp_set(i)
            if not self.nd[i].offline:
                umask |= self.nd[i].pmask
        bl = sorted([b for b in range(MAXP) if umask & (1 << b)],
                    key=lambda b: vg_of[b])
        self.sp_n = len(bl)
        self.sp_on = self.sp_n > 0
        for j in range(self.sp_n):
            self.sp_bits[j] = bl[j]
        self.sp_base = 0.0
        self._sp_stats()
        self.wk0.ccap = 0
        self.wk0.ncand = 0
        self.threads = 1
        self.stats_ok = False
        self.n_evaluated = 0
        self.n_feasible = 0
        self.n_exact = 0
        self.n_steps = 0
        self.debug_errors = 0
        self.debug = False

    cdef int _peer_key(self, object pk) except? -2:
        got = self.node_pos.get(pk)
        if got is None:
            # outside the group: a key no group node has; distinct per node
            return -3 - <int>pk
        return <int>got

    cdef int _pm_set(self, int i, list entries) except -1:
        cdef int m = len(entries), j
        free(self.pmk[i])
        free(self.pmv[i])
        self.pmc[i] = m + 4
        self.pmk[i] = <int *>malloc(self.pmc[i] * sizeof(int))
        self.pmv[i] = <long long *>malloc(self.pmc[i] * sizeof(long long))
        if self.pmk[i] == NULL or self.pmv[i] == NULL:
            raise MemoryError()
        for j in range(m):
            self.pmk[i][j] = entries[j][0]
            self.pmv[i][j] = entries[j][1]
        self.pml[i] = m
        self._pm_top(i)
        return 0

    cdef void _pm_top(self, int i) noexcept:
        """Cache the maximum entry and the maximum of the others (>= 0)."""
        cdef int j, m = self.pml[i], bj = -1
        cdef long long b1 = 0, b2 = 0
        for j in range(m):
            if bj < 0 or self.pmv[i][j] > b1:
                b1 = self.pmv[i][j]
                bj = j
        for j in range(m):
            if j != bj and self.pmv[i][j] > b2:
                b2 = self.pmv[i][j]
        self.b1k[i] = self.pmk[i][bj] if bj >= 0 else -1
        self.b1v[i] = b1 if b1 > 0 else 0
        self.b2v[i] = b2

    cdef int _pt_set(self, int i, list entries) except -1:
        cdef int m = len(entries), j
        free(self.ptk[i])
        free(self.ptc[i])
        self.ptcap[i] = m + 4
        self.ptk[i] = <int *>malloc(self.ptcap[i] * sizeof(int))
        self.ptc[i] = <long long *>malloc(self.ptcap[i] * sizeof(long long))
        if self.ptk[i] == NULL or self.ptc[i] == NULL:
            raise MemoryError()
        for j in range(m):
            self.ptk[i][j] = entries[j][0]
            self.ptc[i][j] = entries[j][1]
        self.ptl[i] = m
        return 0

    # ------------------------------------------------------------------
    # map lookups (base state)

    cdef inline long long _pm_find(self, int i, int key) noexcept nogil:
        cdef int j
        cdef int *k = self.pmk[i]
        for j in range(self.pml[i]):
            if k[j] == key:
                return self.pmv[i][j]
        return 0

    cdef inline long long _pm_max_excl(self, int i, int key) noexcept nogil:
        if self.pml[i] == 0:
            return 0
        if self.b1k[i] == key:
            return self.b2v[i]
        return self.b1v[i]

    cdef inline long long _pt_get(self, int i, int tag) noexcept nogil:
        cdef int lo = 0, hi = self.ptl[i], mid
        cdef int *k = self.ptk[i]
        while lo < hi:
            mid = (lo + hi) >> 1
            if k[mid] < tag:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.ptl[i] and k[lo] == tag:
            return self.ptc[i][lo]
        return 0

    cdef inline bint _tags_conflict(self, int i, const InstS *I) noexcept nogil:
        cdef int j
        for j in range(I.ex_off, I.ex_off + I.ex_len):
            if self._pt_get(i, self.ex_ids[j]) > 0:
                return True
        return False

    cdef inline long long _ptag_add_delta(self, int i, const InstS *I) noexcept nogil:
        """Change of sum-minus-distinct when adding the instance's tags."""
        cdef int j
        cdef long long d = 0, k
        for j in range(I.ex_off, I.ex_off + I.ex_len):
            k = self.ex_mult[j]
            if self._pt_get(i, self.ex_ids[j]) > 0:
                d += k
            else:
                d += k - 1
        return d

    cdef inline long long _ptag_del_delta(self, int i, const InstS *I) noexcept nogil:
        cdef int j
        cdef long long d = 0, k, c
        for j in range(I.ex_off, I.ex_off + I.ex_len):
            k = self.ex_mult[j]
            c = self._pt_get(i, self.ex_ids[j])
            if c > k:
                d -= k
            elif c > 0:
                d -= c - 1
        return d

    cdef inline long long _dsrd(self, int i, const InstS *I) noexcept nogil:
        if I.ds_len == 0:
            return 0
        return I.ds_len - _common(self.ds_ids + I.ds_off, I.ds_len,
                                  self.loc[i], self.locl[i])

    cdef inline long long _loc_common(self, int a, int b) noexcept nogil:
        if self.locl[a] == 0 or self.locl[b] == 0:
            return 0
        return _common(self.loc[a], self.locl[a], self.loc[b], self.locl[b])

    cdef inline bint _mig(self, int src, int dst) noexcept nogil:
        if self.mig_trivial:
            return True
        return self.mig_ok[self.mig_id[src] * self.n_rmig + self.rmig_id[dst]] != 0

    # ------------------------------------------------------------------
    # node operations (htools.model.Node), in place on a copy

    cdef inline void _remove_pri(self, NodeS *n, int pos, const InstS *I,
                                 long long iloc) noexcept nogil:
        remove_pri(n, I, iloc + self._dsrd(pos, I))

    cdef inline void _remove_sec(self, NodeS *n, int pos, const InstS *I,
                                 int pkey) noexcept nogil:
        """Node.remove_sec; the first peer-map change on this node."""
        remove_sec(n, I, self._pm_find(pos, pkey), self._pm_max_excl(pos, pkey))

    cdef inline bint _add_pri(self, NodeS *n, int pos, const InstS *I,
                              long long iloc, bint strict) noexcept nogil:
        """Node.add_pri; False if a check fails."""
        return add_pri(n, I, iloc + self._dsrd(pos, I), strict,
                       strict and I.ex_len > 0 and self._tags_conflict(pos, I)) == FITS

    cdef inline bint _add_sec(self, NodeS *n, int pos, const InstS *I, int pkey,
                              bint strict, bint ignore_disks) noexcept nogil:
        """Node.add_sec with the primary on ``pkey``; False on failure."""
        return add_sec(n, I, self._pm_find(pos, pkey), strict, ignore_disks) == FITS

    # ------------------------------------------------------------------
    # moves (htools.moves.apply_move)

    cdef int _sim(self, int vi, int kind, int t, NodeS *w, int *tp,
                  int *res) noexcept nogil:
        """Simulate a move on copies of the touched nodes.

        Returns the number of touched nodes (their positions in ``tp``,
        new structs in ``w``) or 0 if the move is infeasible.  ``res``
        receives new primary, new secondary, old primary (whose primary
        tags/map pairs leave when it differs from the new primary), and
        the new location score in ``res[3]``."""
        cdef InstS *I = &self.iv[vi]
        cdef int P = I.pnode, S = I.snode
        cdef NodeS *nd = self.nd
        cdef bint fP, fS
        cdef long long iloc = I.loc_score, nloc
        if kind == FAILOVER:
            if not self._mig(P, S):
                return 0
            fP = nd[P].offline or self.o_force
            w[0] = nd[P]
            w[1] = nd[S]
            self._remove_pri(&w[0], P, I, iloc)
            self._remove_sec(&w[1], S, I, P)
            if not self._add_pri(&w[1], S, I, iloc, not fP):
                return 0
            if not self._add_sec(&w[0], P, I, S, not fP, nd[P].offline):
                return 0
            tp[0] = P; tp[1] = S
            res[0] = S; res[1] = P; res[2] = P; res[3] = <int>iloc
            return 2
        if kind == FAILOVER_TO_ANY:
            if not self._mig(P, t):
                return 0
            fP = nd[P].offline or self.o_force
            w[1] = nd[t]
            if not self._add_pri(&w[1], t, I, iloc, not fP):
                return 0
            w[0] = nd[P]
            self._remove_pri(&w[0], P, I, iloc)
            tp[0] = P; tp[1] = t
            res[0] = t; res[1] = S; res[2] = P; res[3] = <int>iloc
            return 2
        if kind == REPLACE_PRIMARY:
            if not self._mig(P, S) or not self._mig(S, t):
                return 0
            fP = nd[P].offline or self.o_force
            nloc = self._loc_common(t, S)
            w[0] = nd[P]
            w[1] = nd[S]
            w[2] = nd[t]
            self._remove_pri(&w[0], P, I, iloc)
            self._remove_sec(&w[1], S, I, P)
            if not self._add_pri(&w[1], S, I, nloc, not fP):
                return 0
            self._remove_pri(&w[1], S, I, nloc)
            if not self._add_pri(&w[2], t, I, nloc, not fP):
                return 0
            if not self._add_sec(&w[1], S, I, t, not fP, False):
                return 0
            tp[0] = P; tp[1] = S; tp[2] = t
            res[0] = t; res[1] = S; res[2] = P; res[3] = <int>nloc
            return 3
        if kind == REPLACE_SECONDARY:
            fS = nd[S].offline or self.o_force
            nloc = self._loc_common(P, t)
            w[2] = nd[t]
            w[1] = nd[S]
            if not self._add_sec(&w[2], t, I, P, not fS, False):
                return 0
            w[0] = nd[P]
            self._remove_pri(&w[0], P, I, iloc)
            self._remove_sec(&w[1], S, I, P)
            if not self._add_pri(&w[0], P, I, nloc, False):
                return 0
            tp[0] = P; tp[1] = S; tp[2] = t
            res[0] = P; res[1] = t; res[2] = P; res[3] = <int>nloc
            return 3
        if kind == REPLACE_AND_FAILOVER:
            if not self._mig(P, t):
                return 0
            fS = nd[S].offline or self.o_force
            nloc = self._loc_common(t, P)
            w[2] = nd[t]
            if not self._add_pri(&w[2], t, I, nloc, not self.o_force):
                return 0
            w[0] = nd[P]
            w[1] = nd[S]
            self._remove_pri(&w[0], P, I, iloc)
            self._remove_sec(&w[1], S, I, P)
            if not self._add_sec(&w[0], P, I, t, not fS, False):
                return 0
            tp[0] = P; tp[1] = S; tp[2] = t
            res[0] = t; res[1] = P; res[2] = P; res[3] = <int>nloc
            return 3
        if kind == FAILOVER_AND_REPLACE:
            if not self._mig(P, S):
                return 0
            fP = nd[P].offline or self.o_force
            nloc = self._loc_common(S, t)
            w[2] = nd[t]
            w[0] = nd[P]
            w[1] = nd[S]
            self._remove_pri(&w[0], P, I, iloc)
            self._remove_sec(&w[1], S, I, P)
            if not self._add_pri(&w[1], S, I, nloc, not fP):
                return 0
            if not self._add_sec(&w[2], t, I, S, not fP, False):
                return 0
            tp[0] = P; tp[1] = S; tp[2] = t
            res[0] = S; res[1] = t; res[2] = P; res[3] = <int>nloc
            return 3
        return 0

    cdef inline void _fix_ptags(self, int nt, NodeS *w, int *tp, int oldp,
                                int newp, const InstS *I) noexcept nogil:
        """Primary exclusion-tag metric of the touched nodes (net change)."""
        cdef int j
        if I.ex_len == 0 or oldp == newp:
            return
        for j in range(nt):
            if tp[j] == oldp:
                w[j].ptag_val += self._ptag_del_delta(oldp, I)
            elif tp[j] == newp:
                w[j].ptag_val += self._ptag_add_delta(newp, I)

    cdef inline double _map_value(self, int oldp, int newp, const InstS *I) noexcept nogil:
        """Map metric (sum - distinct) after the primary moves oldp -> newp."""
        cdef long long S = self.map_S, D = self.map_D, c, c2, d, k
        cdef int a = 0, b = 0, la, lb, l, j, na, nb
        cdef int *LA
        cdef int *LB
        cdef bint on_a, on_b
        if (not self.map_active or oldp == newp or I.ex_len == 0
                or I.forthcoming):
            return <double>(S - D)
        on_a = not self.nd[oldp].offline
        on_b = not self.nd[newp].offline
        LA = self.loc[oldp]
        LB = self.loc[newp]
        na = self.locl[oldp] if on_a else 0
        nb = self.locl[newp] if on_b else 0
        while a < na or b < nb:
            if b >= nb or (a < na and LA[a] < LB[b]):
                l = LA[a]; d = -1; a += 1
            elif a >= na or LB[b] < LA[a]:
                l = LB[b]; d = 1; b += 1
            else:
                a += 1; b += 1
                continue
            for j in range(I.ex_off, I.ex_off + I.ex_len):
                k = self.ex_mult[j] * d
                c = self.ktot[l * self.n_ex + self.ex_ids[j]]
                c2 = c + k
                S += k
                if c == 0 and c2 > 0:
                    D += 1
                elif c > 0 and c2 == 0:
                    D -= 1
        return <double>(S - D)

    # ------------------------------------------------------------------
    # statistics and scoring

    cdef void _stats(self) noexcept:
        """Exact (two-pass) statistics of the current state."""
        cdef int j, m
        cdef double cnt = <double>self.n_on
        cdef double *r
        cdef double d, a
        for m in range(NV):
            self.b_sum[m] = 0.0
            self.b_m2[m] = 0.0
            self.b_amax[m] = 0.0
            self.b_abs[m] = 0.0
            self.off_sum[m] = 0.0
            self.off_abs[m] = 0.0
        for j in range(self.n_on):
            r = self.rows + self.on_pos[j] * NV
            for m in range(NV):
                self.b_sum[m] = self.b_sum[m] + r[m]
                a = fabs(r[m])
                self.b_abs[m] = self.b_abs[m] + a
                if a != a:
                    self.b_amax[m] = INFINITY
                elif a > self.b_amax[m]:
                    self.b_amax[m] = a
        for m in range(NV):
            self.b_mean[m] = self.b_sum[m] / cnt
        for j in range(self.n_on):
            r = self.rows + self.on_pos[j] * NV
            for m in range(NV):
                d = r[m] - self.b_mean[m]
                self.b_m2[m] = self.b_m2[m] + d * d
        for j in range(self.n_off):
            r = self.rows + self.off_pos[j] * NV
            for m in range(NV):
                self.off_sum[m] = self.off_sum[m] + r[m]
                self.off_abs[m] = self.off_abs[m] + fabs(r[m])
        for m in range(NV):
            if m < NSD:
                self.b_val[m] = sqrt(self.b_m2[m] / cnt)
            elif m < SUM_HI:
                self.b_val[m] = self.b_sum[m]
            elif m < OFF_HI:
                self.b_val[m] = self.off_sum[m]
            else:
                self.b_val[m] = <double>(self.map_S - self.map_D)
        if self.sp_on:
            self._sp_stats()
            self.b_val[_INT[1]] = self.sp_base
            self.b_val[_INT[14]] = self.sp_base
        self.inv_n = 1.0 / cnt
        self.sd_coef = sqrt(32.0 * (cnt + 32.0) * U) * (1.0 + 1e-6)
        self.sum_coef = 8.0 * (<double>(self.n_on + self.n_off) + 8.0) * U
        self.stats_ok = True

    cdef inline double _sp_at(self, int p, int b, int nt, const int *tp,
                              const NodeS **wp) noexcept nogil:
        """Node ``p``'s free share of volume group bit ``b``, the touched
        nodes substituted."""
        cdef int c
        for c in range(nt - 1, -1, -1):
            if tp[c] == p:
                return pdsk(wp[c].pfree[b], wp[c].ptot[b])
        return self.sp_val[p * MAXP + b]

    cdef double _sp_metric(self, int nt, const int *tp,
                           const NodeS **wp) noexcept nogil:
        """htools.metrics.pool_free_cv of the online nodes, the touched
        nodes (positions ``tp``, structs ``wp``) substituted: per volume
        group (by name) the two-pass population deviation of its free
        share over the online nodes having it, in index order; the mean of
        those.  (A node's volume groups never change, only their free
        space.)"""
        cdef int k, b, j, p, c
        cdef unsigned int bit
        cdef double total = 0.0, s, q, cnt, mean, x, d
        for k in range(self.sp_n):
            b = self.sp_bits[k]
            bit = 1u << b
            s = 0.0
            cnt = 0.0
            for j in range(self.n_on):
                p = self.on_pos[j]
                if not (self.nd[p].pmask & bit):
                    continue
                x = self._sp_at(p, b, nt, tp, wp)
                cnt = cnt + 1.0
                s = s + x
            mean = s / cnt
            q = 0.0
            for j in range(self.n_on):
                p = self.on_pos[j]
                if not (self.nd[p].pmask & bit):
                    continue
                x = self._sp_at(p, b, nt, tp, wp)
                d = x - mean
                q = q + d * d
            total = total + sqrt(q / cnt)
        return total / <double>self.sp_n

    cdef double _sp_cand(self, int nt, const int *tp,
                         const NodeS **wp) noexcept nogil:
        """The pool metric of a candidate (0.0 without pools): the current
        one when no touched node's free space changed (same inputs, same
        operations), else recomputed."""
        cdef int c, b, p
        cdef bint same = True
        if not self.sp_on:
            return 0.0
        for c in range(nt):
            p = tp[c]
            for b in range(MAXP):
                if (self.nd[p].pmask & (1u << b)) and \
                        wp[c].pfree[b] != self.nd[p].pfree[b]:
                    same = False
        if same:
            return self.sp_base
        return self._sp_metric(nt, tp, wp)

    cdef void _sp_stats(self) noexcept nogil:
        """The per-volume-group statistics of the current state and the
        pool metric (``sp_base``: the operations of ``_sp_metric`` without
        substitutions, so the same bits)."""
        cdef int k, b, j, p
        cdef unsigned int bit
        cdef double total = 0.0, s, q, cnt, mean, x, d, a, amax
        for k in range(self.sp_n):
            b = self.sp_bits[k]
            bit = 1u << b
            s = 0.0
            cnt = 0.0
            amax = 0.0
            for j in range(self.n_on):
                p = self.on_pos[j]
                if not (self.nd[p].pmask & bit):
                    continue
                x = self.sp_val[p * MAXP + b]
                cnt = cnt + 1.0
                s = s + x
                a = fabs(x)
                if a != a:
                    amax = INFINITY
                elif a > amax:
                    amax = a
            mean = s / cnt
            q = 0.0
            for j in range(self.n_on):
                p = self.on_pos[j]
                if not (self.nd[p].pmask & bit):
                    continue
                d = self.sp_val[p * MAXP + b] - mean
                q = q + d * d
            self.sp_cnt[k] = cnt
            self.sp_mean[k] = mean
            self.sp_m2[k] = q
            self.sp_amax[k] = amax
            self.sp_sd[k] = sqrt(q / cnt)
            self.sp_sdc[k] = sqrt(32.0 * (cnt + 32.0) * U) * (1.0 + 1e-6)
            total = total + self.sp_sd[k]
        if self.sp_n > 0:
            self.sp_base = total / <double>self.sp_n

    cdef void _sp_est(self, int nt, const int *tp, const NodeS **wp,
                      double *est, double *err) noexcept nogil:
        """Estimate and error bound of a candidate's pool metric in
        O(touched nodes x volume groups), as ``_finalize`` does for the
        other deviations: per volume group, from the current state's
        statistics over its ``n`` nodes, the variance estimate
        ``(M2 + sum((y-mu)^2 - (x-mu)^2) - d^2/n) / n`` and its bound
        ``delta = 32 (n + 32) u A^2``, refined to ``min(sqrt(delta),
        delta / sd)`` plus the square root's roundings; an unchanged
        volume group keeps its exact deviation.  The mean over the volume
        groups adds ``8 (k + 2) u`` of the summed magnitudes.  A non-finite
        value gives an infinite error (the candidate is then scored
        exactly)."""
        cdef int k, b, c, p
        cdef unsigned int bit
        cdef double dlt, dd, A, x, y, t1, t2, ay, E, v, sd, se, t, e
        cdef double total = 0.0, etot = 0.0, mag = 0.0, kk
        cdef bint chg
        if not self.sp_on:
            est[0] = 0.0
            err[0] = 0.0
            return
        for k in range(self.sp_n):
            b = self.sp_bits[k]
            bit = 1u << b
            dlt = 0.0
            dd = 0.0
            A = self.sp_amax[k]
            chg = False
            for c in range(nt):
                p = tp[c]
                if self.nd[p].offline or not (self.nd[p].pmask & bit):
                    continue
                if wp[c].pfree[b] == self.nd[p].pfree[b]:
                    continue
                chg = True
                x = self.sp_val[p * MAXP + b]
                y = pdsk(wp[c].pfree[b], wp[c].ptot[b])
                dlt = dlt + (y - x)
                t1 = y - self.sp_mean[k]
                t2 = x - self.sp_mean[k]
                dd = dd + (t1 * t1 - t2 * t2)
                ay = fabs(y)
                if ay != ay:
                    A = INFINITY
                elif ay > A:
                    A = ay
            if not chg:
                sd = self.sp_sd[k]
                e = 0.0
            else:
                E = self.sp_m2[k] + dd - dlt * dlt / self.sp_cnt[k]
                v = E / self.sp_cnt[k]
                v = v if v > 0.0 else 0.0
                sd = sqrt(v)
                se = self.sp_sdc[k] * A
                t = sd if sd > se else se
                t = t if t > 1e-300 else 1e-300
                e = se * (se / t)
                e = e * 1.001 + 4.0 * U * (sd + e)
            total = total + sd
            etot = etot + e
            mag = mag + fabs(sd) + e
        kk = <double>self.sp_n
        est[0] = total / kk
        e = (etot * 1.01 + 8.0 * (kk + 2.0) * U * mag) / kk + 1e-290
        err[0] = e if c_isfinite(e) and c_isfinite(est[0]) else INFINITY

    cdef void _sp_set(self, int p) noexcept nogil:
        """Node p's free shares from its struct."""
        cdef int b
        for b in range(MAXP):
            if self.nd[p].pmask & (1u << b):
                self.sp_val[p * MAXP + b] = pdsk(self.nd[p].pfree[b],
                                                 self.nd[p].ptot[b])

    cdef double _exact(self, int nt, const int *tp, const double *y,
                       double mapv, double poolv) noexcept nogil:
        """comp_cv of the node list with the touched rows substituted.

        Per metric the same left folds as htools.metrics (sum, mean, sum of
        squared deviations, sqrt(var / n); sums from 0.0), over the online
        (offline for metrics 4-5) nodes in index order; the weighted total
        in htools' metric order.  With storage pools, ``poolv`` (the
        candidate's ``_sp_metric``) is both disk metrics."""
        cdef double s[NV]
        cdef double q[NV]
        cdef double mean[NV]
        cdef double vals[NV]
        cdef double cnt = <double>self.n_on
        cdef double d, total
        cdef const double *r
        cdef int j, m, p, c
        for m in range(NV):
            s[m] = 0.0
            q[m] = 0.0
        for j in range(self.n_on):
            p = self.on_pos[j]
            r = self.rows + p * NV
            for c in range(nt):
                if tp[c] == p:
                    r = y + c * NV
            for m in range(SUM_HI):
                s[m] = s[m] + r[m]
        for m in range(NSD):
            mean[m] = s[m] / cnt
        for j in range(self.n_on):
            p = self.on_pos[j]
            r = self.rows + p * NV
            for c in range(nt):
                if tp[c] == p:
                    r = y + c * NV
            for m in range(NSD):
                d = r[m] - mean[m]
                q[m] = q[m] + d * d
        for j in range(self.n_off):
            p = self.off_pos[j]
            r = self.rows + p * NV
            for c in range(nt):
                if tp[c] == p:
                    r = y + c * NV
            for m in range(SUM_HI, OFF_HI):
                s[m] = s[m] + r[m]
        for m in range(NSD):
            vals[m] = sqrt(q[m] / cnt)
        for m in range(NSD, OFF_HI):
            vals[m] = s[m]
        vals[MAPI] = mapv
        if self.sp_on:
            vals[_INT[1]] = poolv
            vals[_INT[14]] = poolv
        total = 0.0
        for m in range(NV):
            total = total + _W[m] * vals[_INT[m]]
        return total

    cdef inline void _acc_init(self, Acc *a) noexcept nogil:
        cdef int m
        for m in range(NV):
            a.dlt[m] = 0.0
            a.dd[m] = 0.0
            a.A[m] = self.b_amax[m]
            a.ab[m] = 0.0
            a.doff[m] = 0.0
            a.aboff[m] = 0.0
            a.diff[m] = 0

    cdef inline void _acc_add(self, Acc *a, int p, const double *yr) noexcept nogil:
        """Add the contribution of node p changing to row yr."""
        cdef const double *xr = self.rows + p * NV
        cdef const double *mean = self.b_mean
        cdef double x, yy, t1, t2, ay
        cdef int m
        for m in range(NV):
            a.diff[m] = a.diff[m] | (xr[m] != yr[m])
        if self.nd[p].offline:
            for m in range(NV):
                a.doff[m] = a.doff[m] + (yr[m] - xr[m])
                a.aboff[m] = a.aboff[m] + fabs(yr[m])
        else:
            for m in range(NV):
                x = xr[m]
                yy = yr[m]
                a.dlt[m] = a.dlt[m] + (yy - x)
                t1 = yy - mean[m]
                t2 = x - mean[m]
                a.dd[m] = a.dd[m] + (t1 * t1 - t2 * t2)
                ay = fabs(yy)
                a.ab[m] = a.ab[m] + ay
                a.A[m] = ay if ay > a.A[m] else a.A[m]

    cdef bint _finalize(self, const Acc *a, const double *xr, const double *yr,
                        double mapv, double poolv, double poolerr, double thr,
                        double *lo_, double *hi_, double *est_=NULL) noexcept nogil:
        """Interval of the exact score: the accumulated changes plus one
        more online node going from row xr to row yr (xr == yr: none).

        A first, division-free pass bounds each standard deviation's error
        by ``sqrt(delta)``; a candidate whose lower bound is then above
        ``thr`` cannot be chosen and gets False (``lo_``/``hi_`` untouched).
        Otherwise the bound is refined to ``min(sqrt(delta), delta / sd)``
        and True returned.  ``est_`` (if given) receives the estimate."""
        cdef double sdv[NSD]
        cdef double sev[NSD]
        cdef double vest[NV]
        cdef double verr[NV]
        cdef const double *mean = self.b_mean
        cdef const double *m2 = self.b_m2
        cdef const double *aA = a.A
        cdef const double *adlt = a.dlt
        cdef const double *add = a.dd
        cdef double x, yy, t1, t2, ay, dlt, dd, A, E, v, sd, se, t, e
        cdef double total, etot, eabs, est, err, etot_pool = 0.0
        cdef int m, df
        cdef double n_inv = self.inv_n
        cdef double sdc = self.sd_coef
        # pass 1 (branch free): the standard deviation estimates
        for m in range(NSD):
            x = xr[m]
            yy = yr[m]
            dlt = adlt[m] + (yy - x)
            t1 = yy - mean[m]
            t2 = x - mean[m]
            dd = add[m] + (t1 * t1 - t2 * t2)
            ay = fabs(yy)
            A = ay if ay > aA[m] else aA[m]
            E = m2[m] + dd - dlt * dlt * n_inv
            v = E * n_inv
            v = v if v > 0.0 else 0.0
            sdv[m] = sqrt(v)
            sev[m] = sdc * A
        for m in range(NSD):
            df = a.diff[m] | (xr[m] != yr[m])
            if df:
                vest[m] = sdv[m]
                verr[m] = sev[m] * 1.001 + 4.0 * U * (sdv[m] + sev[m])
            else:
                vest[m] = self.b_val[m]
                verr[m] = 0.0
        for m in range(NSD, SUM_HI):
            x = xr[m]
            yy = yr[m]
            df = a.diff[m] | (x != yy)
            if df:
                vest[m] = self.b_sum[m] + (adlt[m] + (yy - x))
                verr[m] = self.sum_coef * (self.b_abs[m] + a.ab[m] + fabs(yy))
            else:
                vest[m] = self.b_val[m]
                verr[m] = 0.0
        for m in range(SUM_HI, OFF_HI):
            if a.diff[m]:
                vest[m] = self.off_sum[m] + a.doff[m]
                verr[m] = self.sum_coef * (self.off_abs[m] + a.aboff[m])
            else:
                vest[m] = self.b_val[m]
                verr[m] = 0.0
        vest[MAPI] = mapv
        verr[MAPI] = 0.0
        if self.sp_on:
            # the pool metric: exact (poolerr 0) or _sp_est's estimate;
            # its error is final (the refinement below skips it)
            vest[_INT[1]] = poolv
            verr[_INT[1]] = 0.0
            vest[_INT[14]] = poolv
            verr[_INT[14]] = 0.0
            etot_pool = (_WI[_INT[1]] + _WI[_INT[14]]) * poolerr
        total = 0.0
        etot = 0.0
        eabs = 0.0
        for m in range(NV):
            total = total + _WI[m] * vest[m]
            etot = etot + _WI[m] * verr[m]
            eabs = eabs + _WI[m] * fabs(vest[m])
        etot = etot + etot_pool
        etot = etot * 1.01 + 64.0 * U * (eabs + etot) + 1e-290
        if est_ != NULL:
            est_[0] = total
        if not (c_isfinite(total) and c_isfinite(etot)):
            lo_[0] = -INFINITY
            hi_[0] = INFINITY
            return True
        if not (total - etot <= thr):
            return False
        # refine: |sqrt(a) - sqrt(b)| <= min(sqrt(d), d / sqrt(b))
        etot = 0.0
        for m in range(NSD):
            if verr[m] != 0.0:
                sd = sdv[m]
                se = sev[m]
                t = sd if sd > se else se
                t = t if t > 1e-300 else 1e-300
                e = se * (se / t)
                verr[m] = e * 1.001 + 4.0 * U * (sd + e)
        for m in range(NV):
            etot = etot + _WI[m] * verr[m]
        etot = etot + etot_pool
        etot = etot * 1.01 + 64.0 * U * (eabs + etot) + 1e-290
        lo_[0] = total - etot
        hi_[0] = total + etot
        return True

    cdef void _interval(self, int nt, const int *tp, const double *y,
                        double mapv, double poolv, double *lo_,
                        double *hi_) noexcept nogil:
        """[lo, hi] containing the exact score of a simulated candidate."""
        cdef Acc a
        cdef int c
        cdef const double *z
        self._acc_init(&a)
        for c in range(nt):
            self._acc_add(&a, tp[c], y + c * NV)
        z = self.rows + self.on_pos[0] * NV
        self._finalize(&a, z, z, mapv, poolv, 0.0, INFINITY, lo_, hi_)

    # ------------------------------------------------------------------
    # the search

    cdef int _moves_of(self, int vi, int *kinds) noexcept nogil:
        """possible_moves (the same for every target of the instance)."""
        cdef InstS *I = &self.iv[vi]
        cdef bint use_sec = (I.snode >= 0 and not self.nd[I.snode].offline
                             and self.o_inst_moves)
        cdef bint drained = self.nd[I.pnode].offline
        if I.mirror == MIR_NONE:
            return 0
        if I.mirror == MIR_EXTERNAL:
            if self.o_inst_moves:
                kinds[0] = FAILOVER_TO_ANY
                return 1
            return 0
        if not self.o_disk_moves:
            return 0
        if not self.o_inst_moves:
            kinds[0] = REPLACE_SECONDARY
            return 1
        if self.o_rest_mig and not drained:
            kinds[0] = REPLACE_SECONDARY
            return 1
        if use_sec and not self.o_rest_mig:
            kinds[0] = REPLACE_SECONDARY
            kinds[1] = REPLACE_AND_FAILOVER
            kinds[2] = REPLACE_PRIMARY
            kinds[3] = FAILOVER_AND_REPLACE
            return 4
        if use_sec and self.o_rest_mig and drained:
            kinds[0] = REPLACE_SECONDARY
            kinds[1] = REPLACE_AND_FAILOVER
            kinds[2] = FAILOVER_AND_REPLACE
            return 3
        kinds[0] = REPLACE_SECONDARY
        kinds[1] = REPLACE_AND_FAILOVER
        return 2

    cdef int _push(self, Work *wk, long long key, int vi, int kind, int t,
                   double lo) noexcept nogil:
        """Add a candidate to ``wk``; -1 (and ``wk.failed``) if out of memory."""
        cdef Cand *p
        cdef Py_ssize_t cap
        if wk.ncand >= wk.ccap:
            cap = wk.ccap * 2 if wk.ccap > 0 else 256
            p = <Cand *>realloc(wk.cands, cap * sizeof(Cand))
            if p == NULL:
                wk.failed = 1
                return -1
            wk.cands = p
            wk.ccap = cap
        p = &wk.cands[wk.ncand]
        p.key = key
        p.vi = vi
        p.kind = kind
        p.t = t
        p.lo = lo
        wk.ncand += 1
        return 0

    cdef inline bint _victim(self, int vi) noexcept nogil:
        """-E: only instances with a node offline (drained counts)."""
        cdef InstS *I = &self.iv[vi]
        if not self.o_evac:
            return True
        if self.nd[I.pnode].offline:
            return True
        return I.has_sec and I.snode >= 0 and self.nd[I.snode].offline

    cdef int _eval(self, int vi, int kind, int t, NodeS *w, int *tp,
                   double *y, double *mapv, double *poolv) noexcept nogil:
        """Simulate a move and produce the touched rows; 0 if infeasible."""
        cdef int res[4]
        cdef int nt, c
        cdef const NodeS *wp[3]
        cdef InstS *I = &self.iv[vi]
        nt = self._sim(vi, kind, t, w, tp, res)
        if nt == 0:
            return 0
        self._fix_ptags(nt, w, tp, res[2], res[0], I)
        for c in range(nt):
            _row(&w[c], y + c * NV)
        mapv[0] = self._map_value(res[2], res[0], I)
        for c in range(nt):
            wp[c] = &w[c]
        poolv[0] = self._sp_cand(nt, tp, wp)
        return nt

    cdef inline long long _sig(self, int vi, int kind, int t) noexcept nogil:
        """What the old-primary/secondary part of a move depends on of t."""
        cdef InstS *I = &self.iv[vi]
        if kind == REPLACE_SECONDARY:
            return self._loc_common(I.pnode, t)
        if kind == REPLACE_AND_FAILOVER:
            return self._pm_find(I.pnode, t)
        if kind == REPLACE_PRIMARY:
            return self._pm_find(I.snode, t)
        if kind == FAILOVER_AND_REPLACE:
            return self._loc_common(I.snode, t)
        return 0

    cdef void _fixed(self, int vi, int kind, int t, long long sig,
                     Fixed *f) noexcept nogil:
        """The old primary/secondary part of a move to target t.

        Identical (node structs, feasibility) for every target with the
        same ``_sig``; see ``_sim`` for the full move."""
        cdef InstS *I = &self.iv[vi]
        cdef int P = I.pnode, S = I.snode, c
        cdef NodeS *nd = self.nd
        cdef bint fP = nd[P].offline or self.o_force
        cdef bint fS = False
        cdef long long iloc = I.loc_score
        cdef double yr[NV]
        if S >= 0:
            fS = nd[S].offline or self.o_force
        f.valid = 1
        f.sig = sig
        f.ok = 0
        f.mapv = <double>(self.map_S - self.map_D)
        f.fpos[0] = P
        f.fw[0] = nd[P]
        self._remove_pri(&f.fw[0], P, I, iloc)
        if kind == FAILOVER_TO_ANY:
            f.nf = 1
            if I.ex_len:
                f.fw[0].ptag_val += self._ptag_del_delta(P, I)
        else:
            f.nf = 2
            f.fpos[1] = S
            f.fw[1] = nd[S]
            self._remove_sec(&f.fw[1], S, I, P)
            if kind == REPLACE_SECONDARY:
                if not self._add_pri(&f.fw[0], P, I, sig, False):
                    return
            elif kind == REPLACE_AND_FAILOVER:
                if not self._add_sec(&f.fw[0], P, I, t, not fS, False):
                    return
                if I.ex_len:
                    f.fw[0].ptag_val += self._ptag_del_delta(P, I)
            elif kind == REPLACE_PRIMARY:
                if not self._mig(P, S):
                    return
                # the temporary primary's location score cancels out
                if not self._add_pri(&f.fw[1], S, I, 0, not fP):
                    return
                self._remove_pri(&f.fw[1], S, I, 0)
                if not self._add_sec(&f.fw[1], S, I, t, not fP, False):
                    return
                if I.ex_len:
                    f.fw[0].ptag_val += self._ptag_del_delta(P, I)
            elif kind == FAILOVER_AND_REPLACE:
                if not self._mig(P, S):
                    return
                if not self._add_pri(&f.fw[1], S, I, sig, not fP):
                    return
                if I.ex_len:
                    f.fw[0].ptag_val += self._ptag_del_delta(P, I)
                    f.fw[1].ptag_val += self._ptag_add_delta(S, I)
                f.mapv = self._map_value(P, S, I)
        self._acc_init(&f.acc)
        for c in range(f.nf):
            _row(&f.fw[c], yr)
            self._acc_add(&f.acc, f.fpos[c], yr)
        f.ok = 1

    cdef bint _target(self, int vi, int kind, int t, NodeS *w,
                      double *mapv, const Fixed *f) noexcept nogil:
        """The target node's part of a move; False if infeasible."""
        cdef InstS *I = &self.iv[vi]
        cdef int P = I.pnode, S = I.snode
        cdef NodeS *nd = self.nd
        cdef bint fP = nd[P].offline or self.o_force
        cdef bint fS
        w[0] = nd[t]
        if kind == REPLACE_SECONDARY:
            fS = nd[S].offline or self.o_force
            if not self._add_sec(w, t, I, P, not fS, False):
                return False
            mapv[0] = f.mapv
            return True
        if kind == FAILOVER_AND_REPLACE:
            if not self._add_sec(w, t, I, S, not fP, False):
                return False
            mapv[0] = f.mapv
            return True
        if kind == FAILOVER_TO_ANY:
            if not self._mig(P, t):
                return False
            if not self._add_pri(w, t, I, I.loc_score, not fP):
                return False
        elif kind == REPLACE_AND_FAILOVER:
            if not self._mig(P, t):
                return False
            if not self._add_pri(w, t, I, self._loc_common(t, P), not self.o_force):
                return False
        elif kind == REPLACE_PRIMARY:
            if not self._mig(S, t):
                return False
            if not self._add_pri(w, t, I, self._loc_common(t, S), not fP):
                return False
        else:
            return False
        if I.ex_len:
            w[0].ptag_val += self._ptag_add_delta(t, I)
        mapv[0] = self._map_value(P, t, I)
        return True

    cdef void _debug_check(self, int vi, int kind, int t, bint ok,
                           const Fixed *f, const NodeS *wt, double mapv) noexcept nogil:
        """Cross-check the shared-part evaluation against _sim (debug)."""
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef double yr[NV]
        cdef double m2, p2
        cdef int nt, c, d, m
        cdef bint found
        nt = self._eval(vi, kind, t, w, tp, y, &m2, &p2)
        if (nt != 0) != ok:
            self.debug_errors += 1
            return
        if not ok:
            return
        if m2 != mapv:
            self.debug_errors += 1
        for c in range(nt):
            found = False
            if tp[c] == t:
                _row(wt, yr)
                found = True
            else:
                for d in range(f.nf):
                    if f.fpos[d] == tp[c]:
                        _row(&f.fw[d], yr)
                        found = True
            if not found:
                self.debug_errors += 1
                continue
            for m in range(NV):
                if not memcmp_8(&yr[m], &y[c * NV + m]):
                    self.debug_errors += 1
                    break

    cdef inline void _try_failover(self, Work *wk, int vi, double cur,
                                   double *best_hi) noexcept nogil:
        """The failover candidate of a victim (if it has one): estimate,
        bound, push."""
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef double mapv, poolv, lo, hi
        cdef int nt
        cdef InstS *I = &self.iv[vi]
        if not (I.mirror == MIR_INTERNAL and I.snode >= 0
                and not self.nd[I.snode].offline and self.o_inst_moves):
            return
        wk.n_evaluated += 1
        nt = self._eval(vi, FAILOVER, -1, w, tp, y, &mapv, &poolv)
        if nt == 0:
            return
        wk.n_feasible += 1
        self._interval(nt, tp, y, mapv, poolv, &lo, &hi)
        if hi < best_hi[0]:
            best_hi[0] = hi
        if lo < cur and lo <= best_hi[0]:
            self._push(wk, <long long>vi * (self.n_on + 1) * 8, vi, FAILOVER, -1, lo)

    cdef int _try_targets(self, Work *wk, int vi, int ki, int kind, const int *tg,
                          int ntg, double cur, double *best_hi,
                          double *tsc, double tbase, bint remember) noexcept nogil:
        """The candidates of one victim and move kind (the ki-th of
        ``_moves_of``) on the targets ``tg``: the part of the move on the
        old nodes once per ``_sig``, the target's part per target, the
        estimate and its bound, and a push of every candidate that can be
        the minimum.  With ``tsc``: each target's estimated change minus
        ``tbase`` is kept there if lower (the pruned search's target
        ranking); with ``remember``: improving candidates go to
        ``_remember`` too (its pool).  -1 if out of memory (``wk.failed``)."""
        cdef Fixed fx[2]
        cdef Fixed *f
        cdef NodeS wt
        cdef double yT[NV]
        cdef double mapv, lo, hi, thr, v = 0.0, poolv = 0.0, poolerr = 0.0
        cdef int c, t, k
        cdef int stp[3]
        cdef const NodeS *swp[3]
        cdef long long sig, base_key = <long long>vi * (self.n_on + 1)
        cdef bint ok
        cdef Cand cc
        cdef InstS *I = &self.iv[vi]
        fx[0].valid = 0
        fx[1].valid = 0
        for c in range(ntg):
            t = tg[c]
            if t == I.pnode or t == I.snode:
                continue
            wk.n_evaluated += 1
            sig = self._sig(vi, kind, t)
            if fx[0].valid and fx[0].sig == sig:
                f = &fx[0]
            elif fx[1].valid and fx[1].sig == sig:
                f = &fx[1]
            else:
                f = &fx[1] if fx[0].valid else &fx[0]
                self._fixed(vi, kind, t, sig, f)
            ok = f.ok and self._target(vi, kind, t, &wt, &mapv, f)
            if self.debug:
                self._debug_check(vi, kind, t, ok, f, &wt, mapv)
            if not ok:
                continue
            wk.n_feasible += 1
            _row(&wt, yT)
            if self.sp_on:
                for k in range(f.nf):
                    stp[k] = f.fpos[k]
                    swp[k] = &f.fw[k]
                stp[f.nf] = t
                swp[f.nf] = &wt
                self._sp_est(f.nf + 1, stp, swp, &poolv, &poolerr)
            if remember:
                thr = cur
            else:
                thr = best_hi[0] if best_hi[0] < cur else cur
            if tsc != NULL:
                ok = self._finalize(&f.acc, self.rows + t * NV, yT, mapv, poolv,
                                    poolerr, thr, &lo, &hi, &v)
                v = v - tbase
                if v < tsc[t]:
                    tsc[t] = v
            else:
                ok = self._finalize(&f.acc, self.rows + t * NV, yT, mapv, poolv,
                                    poolerr, thr, &lo, &hi)
            if not ok:
                continue
            if hi < best_hi[0]:
                best_hi[0] = hi
            if lo < cur:
                cc.key = (base_key + self.onlist_rank[t] + 1) * 8 + ki
                cc.vi = vi
                cc.kind = kind
                cc.t = t
                cc.lo = lo
                if lo <= best_hi[0]:
                    if self._push(wk, cc.key, vi, kind, t, lo) < 0:
                        return -1
                if remember and self._remember(&cc) < 0:
                    wk.failed = 1
                    return -1
        return 0

    cdef int _remember(self, const Cand *c) noexcept nogil:
        """Keep an improving candidate for later searches (none here);
        -1 if out of memory."""
        return 0

    cdef void _touched(self, int p) noexcept nogil:
        """A committed move changed node p (nothing to do here)."""
        pass

    cdef int _resolve(self, double cur, double best_hi, int *out) except -1:
        """The choice among the pushed candidates: those that can be the
        minimum re-simulated and scored exactly, in htools' order, with its
        comparison (``best > cv`` from the current score)."""
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef double mapv, poolv, best = cur, cv
        cdef int vi, kind, t, nt
        cdef Py_ssize_t ci
        cdef Work *wk = &self.wk0
        self.n_evaluated += wk.n_evaluated
        self.n_feasible += wk.n_feasible
        wk.n_evaluated = 0
        wk.n_feasible = 0
        if wk.failed:
            wk.failed = 0
            raise MemoryError()
        if wk.ncand > 1:
            qsort(wk.cands, wk.ncand, sizeof(Cand), _cand_cmp)
        for ci in range(wk.ncand):
            if not (wk.cands[ci].lo <= best_hi):
                continue
            vi = wk.cands[ci].vi
            kind = wk.cands[ci].kind
            t = wk.cands[ci].t
            nt = self._eval(vi, kind, t, w, tp, y, &mapv, &poolv)
            self.n_exact += 1
            if nt == 0:
                self.debug_errors += 1
                continue
            cv = self._exact(nt, tp, y, mapv, poolv)
            if best > cv:
                best = cv
                out[0] = vi
                out[1] = kind
                out[2] = t
        self._best_score = best
        return 0

    cdef void _try_victim(self, Work *wk, int vi, double cur) noexcept nogil:
        """All candidates of one victim (htools' order within it)."""
        cdef int kinds[4]
        cdef int nk, ki
        if not self._victim(vi):
            return
        self._try_failover(wk, vi, cur, &wk.best_hi)
        nk = self._moves_of(vi, kinds)
        for ki in range(nk):
            if self._try_targets(wk, vi, ki, kinds[ki], self.on_pos, self.n_on,
                                 cur, &wk.best_hi, NULL, 0.0, False) < 0:
                return

    cdef int _search(self, double cur, int *out) except -1:
        """The candidate htools picks: out = (vi, kind, t); -1 if none."""
        cdef Work *wk = &self.wk0
        cdef int vi
        out[0] = -1
        self._best_score = cur
        if self.n_on == 0 or cur != cur:
            return 0
        self._stats()
        wk.ncand = 0
        wk.best_hi = INFINITY
        if self.threads > 1 and not self.debug and self.V >= PAR_MIN_VICTIMS:
            self._search_parallel(cur)
        else:
            for vi in range(self.V):
                self._try_victim(wk, vi, cur)
        return self._resolve(cur, wk.best_hi, out)

    cdef int _search_parallel(self, double cur) except -1:
        """``_search``'s candidates from ``threads`` threads, into ``wk0``.

        Each thread takes victims in chunks and keeps its own candidates,
        counters and bound ``H``.  A thread's bound is never below the
        sequential scan's at the same candidate, so it keeps every
        candidate the sequential scan keeps (and maybe more); the merged
        bound is the sequential one, and ``_resolve`` re-filters with it
        and sorts by htools' order: the choice does not depend on the
        number of threads or on how victims were shared out."""
        cdef int nt = self.threads, i, vi
        cdef Py_ssize_t total = 0, c
        cdef Work *tw
        cdef Work *wk = &self.wk0
        cdef Cand *p
        if self.ntw < nt:
            tw = <Work *>realloc(self.tw, nt * sizeof(Work))
            if tw == NULL:
                raise MemoryError()
            for i in range(self.ntw, nt):
                tw[i].cands = NULL
                tw[i].ccap = 0
            self.tw = tw
            self.ntw = nt
        for i in range(nt):
            self.tw[i].ncand = 0
            self.tw[i].n_evaluated = 0
            self.tw[i].n_feasible = 0
            self.tw[i].best_hi = INFINITY
            self.tw[i].failed = 0
        for vi in prange(self.V, nogil=True, num_threads=nt, schedule="dynamic",
                         chunksize=PAR_CHUNK):
            self._try_victim(&self.tw[threadid()], vi, cur)
        for i in range(nt):
            tw = &self.tw[i]
            if tw.failed:
                raise MemoryError()
            total += tw.ncand
            wk.n_evaluated += tw.n_evaluated
            wk.n_feasible += tw.n_feasible
            if tw.best_hi < wk.best_hi:
                wk.best_hi = tw.best_hi
        if total > wk.ccap:
            p = <Cand *>realloc(wk.cands, total * sizeof(Cand))
            if p == NULL:
                raise MemoryError()
            wk.cands = p
            wk.ccap = total
        for i in range(nt):
            tw = &self.tw[i]
            for c in range(tw.ncand):
                wk.cands[wk.ncand] = tw.cands[c]
                wk.ncand += 1
        return 0

    # ------------------------------------------------------------------
    # committing a move

    cdef int _pm_apply_remove(self, int i, int key, const InstS *I) except -1:
        """remove_sec's peer-map update on the real map of node i."""
        cdef int j, m = self.pml[i]
        cdef long long old = 0, new
        cdef int at = -1
        for j in range(m):
            if self.pmk[i][j] == key:
                at = j
                old = self.pmv[i][j]
        new = old - I.mem if I.uses_sec_mem else old
        if new > 0:
            if at >= 0:
                self.pmv[i][at] = new
            else:
                self._pm_put(i, key, new)
        elif at >= 0:
            self.pmk[i][at] = self.pmk[i][m - 1]
            self.pmv[i][at] = self.pmv[i][m - 1]
            self.pml[i] = m - 1
        self._pm_top(i)
        return 0

    cdef int _pm_put(self, int i, int key, long long val) except -1:
        cdef int j, m = self.pml[i]
        cdef int *pk
        cdef long long *pv
        for j in range(m):
            if self.pmk[i][j] == key:
                self.pmv[i][j] = val
                self._pm_top(i)
                return 0
        if m >= self.pmc[i]:
            pk = <int *>realloc(self.pmk[i], 2 * self.pmc[i] * sizeof(int))
            if pk == NULL:
                raise MemoryError()
            self.pmk[i] = pk
            pv = <long long *>realloc(self.pmv[i], 2 * self.pmc[i] * sizeof(long long))
            if pv == NULL:
                raise MemoryError()
            self.pmv[i] = pv
            self.pmc[i] *= 2
        self.pmk[i][m] = key
        self.pmv[i][m] = val
        self.pml[i] = m + 1
        self._pm_top(i)
        return 0

    cdef int _pt_change(self, int i, int tag, long long d) except -1:
        """Add d (may be negative) to tag's count on node i (del at 0)."""
        cdef int lo = 0, hi = self.ptl[i], mid, j, m = self.ptl[i]
        cdef int *pk
        cdef long long *pc
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.ptk[i][mid] < tag:
                lo = mid + 1
            else:
                hi = mid
        if lo < m and self.ptk[i][lo] == tag:
            self.ptc[i][lo] += d
            if self.ptc[i][lo] <= 0:
                for j in range(lo, m - 1):
                    self.ptk[i][j] = self.ptk[i][j + 1]
                    self.ptc[i][j] = self.ptc[i][j + 1]
                self.ptl[i] = m - 1
            return 0
        if d <= 0:
            return 0
        if m >= self.ptcap[i]:
            pk = <int *>realloc(self.ptk[i], 2 * self.ptcap[i] * sizeof(int))
            if pk == NULL:
                raise MemoryError()
            self.ptk[i] = pk
            pc = <long long *>realloc(self.ptc[i], 2 * self.ptcap[i] * sizeof(long long))
            if pc == NULL:
                raise MemoryError()
            self.ptc[i] = pc
            self.ptcap[i] *= 2
        j = m
        while j > lo:
            self.ptk[i][j] = self.ptk[i][j - 1]
            self.ptc[i][j] = self.ptc[i][j - 1]
            j -= 1
        self.ptk[i][lo] = tag
        self.ptc[i][lo] = d
        self.ptl[i] = m + 1
        return 0

    cdef int _commit(self, int vi, int kind, int t) except -1:
        cdef NodeS w[3]
        cdef int tp[3]
        cdef int res[4]
        cdef int nt, c, j, l, k, a, node
        cdef InstS *I = &self.iv[vi]
        cdef int P = I.pnode, S = I.snode, oldp, newp
        cdef long long sec_mem, cnt, d
        nt = self._sim(vi, kind, t, w, tp, res)
        if nt == 0:
            raise ValueError("move is not feasible")
        oldp = res[2]
        newp = res[0]
        self._fix_ptags(nt, w, tp, oldp, newp, I)
        # map metric: pairs of the instance leave oldp and join newp
        if (self.map_active and oldp != newp and I.ex_len > 0
                and not I.forthcoming):
            for a in range(2):
                node = oldp if a == 0 else newp
                if self.nd[node].offline:
                    continue
                for l in range(self.locl[node]):
                    for j in range(I.ex_off, I.ex_off + I.ex_len):
                        k = self.loc[node][l] * self.n_ex + self.ex_ids[j]
                        d = self.ex_mult[j] if a == 1 else -self.ex_mult[j]
                        cnt = self.ktot[k]
                        self.ktot[k] = cnt + d
                        self.map_S += d
                        if cnt == 0 and cnt + d > 0:
                            self.map_D += 1
                        elif cnt > 0 and cnt + d == 0:
                            self.map_D -= 1
        # primary exclusion tags
        if oldp != newp:
            for j in range(I.ex_off, I.ex_off + I.ex_len):
                self._pt_change(oldp, self.ex_ids[j], -self.ex_mult[j])
                self._pt_change(newp, self.ex_ids[j], self.ex_mult[j])
        # peer maps: remove_sec on the old secondary, add_sec on the new one
        if kind != FAILOVER_TO_ANY and not I.forthcoming:
            sec_mem = I.mem if I.uses_sec_mem else 0
            self._pm_apply_remove(S, P, I)
            self._pm_put(res[1], newp, self._pm_find(res[1], newp) + sec_mem)
        for c in range(nt):
            self.nd[tp[c]] = w[c]
            _row(&w[c], self.rows + tp[c] * NV)
            self._sp_set(tp[c])
            self._touched(tp[c])
        if self.sp_on:
            self._sp_stats()
        I.pnode = res[0]
        I.snode = res[1]
        I.loc_score = res[3]
        self.stats_ok = False
        return 0

    # ------------------------------------------------------------------
    # Python API

    def best_move(self, double cur_score):
        """The move ``balance.search.try_balance`` would pick, or None.

        Returns ``(score, inst_idx, kind, target)`` with ``target`` the
        node index for moves that have one, else -1, and ``score`` the
        exact ``comp_cv`` of the resulting cluster (strictly below
        ``cur_score``).  None if no candidate scores strictly lower."""
        cdef int out[3]
        self.n_steps += 1
        self._search(cur_score, out)
        if out[0] < 0:
            return None
        tgt = self.node_keys[out[2]] if out[2] >= 0 else -1
        return (self._best_score, self.iv[out[0]].idx, out[1], tgt)

    cdef int _args(self, object inst_idx, int kind, object target,
                   int *vi_, int *t_) except -1:
        """Validate a move given by instance/node indices."""
        cdef int vi, t = -1
        cdef InstS *I
        if inst_idx not in self.inst_vi:
            raise KeyError("instance %r is not a balancing candidate" % (inst_idx,))
        vi = self.inst_vi[inst_idx]
        I = &self.iv[vi]
        if kind < FAILOVER or kind > FAILOVER_AND_REPLACE:
            raise ValueError("unknown move kind %r" % (kind,))
        if kind != FAILOVER:
            if target not in self.node_pos:
                raise KeyError("node %r is not in the group" % (target,))
            t = self.node_pos[target]
            if t == I.pnode or t == I.snode:
                raise ValueError("target is the instance's own node")
        if kind != FAILOVER_TO_ANY and not (I.has_sec and I.snode >= 0):
            raise ValueError("move kind %d needs a DRBD secondary" % kind)
        vi_[0] = vi
        t_[0] = t
        return 0

    def apply(self, inst_idx, int kind, target=-1):
        """Apply a move to the packed state (as ``moves.apply_move``)."""
        cdef int vi, t
        self._args(inst_idx, kind, target, &vi, &t)
        self._commit(vi, kind, t)

    def evaluate(self, inst_idx, int kind, target=-1):
        """Exact score after a move, or None if it is infeasible."""
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef double mapv, poolv
        cdef int vi, t
        cdef int nt
        self._args(inst_idx, kind, target, &vi, &t)
        if self.n_on == 0:
            return 0.0
        nt = self._eval(vi, kind, t, w, tp, y, &mapv, &poolv)
        if nt == 0:
            return None
        return self._exact(nt, tp, y, mapv, poolv)

    def best_weighted(self, double cur, double[:, ::1] costs, double lam,
                      bint ratio=False):
        """The improving move with the best value for its cost (the optimal
        search's cost-aware steps), or None: the first of
        :meth:`top_weighted` with ``k`` 1."""
        top = self.top_weighted(cur, costs, lam, ratio, 1)
        return top[0] if top else None

    def top_weighted(self, double cur, double[:, ::1] costs, double lam,
                     bint ratio=False, int k=1):
        """The ``k`` improving moves with the best values for their cost,
        best first (the optimal search's cost-aware steps and its beam).

        ``costs[inst_idx, kind]`` is the cost of a move of that kind of the
        instance (positive); a move's value is its gain ``cur - score``
        minus ``lam`` times its cost, or with ``ratio`` its gain divided by
        its cost.  Every move a greedy step tries is considered, but those
        that leave the instance with a node offline; a first pass bounds
        each one's score (as :meth:`interval`) and keeps the ``k`` best
        values each move is sure to reach, a second scores exactly (as
        :meth:`evaluate`) those whose value can reach the ``k``-th of them,
        so the choice is the one of scoring all exactly; ties go to the
        first (by instance, then target).  Returns a list of ``(score,
        inst_idx, kind, target)`` like :meth:`best_move`."""
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef double mapv, poolv, cv, val, c, lo, hi, floor = -INFINITY
        cdef int vi, ki, nk, kind, t, j, nt, idx, pss, pos, n_sure = 0, n_top = 0
        cdef int kinds[5]
        cdef InstS *I
        cdef double *sure
        cdef double *tval
        cdef double *tcv
        cdef int *tmv
        if self.n_on == 0 or cur != cur or k < 1:
            return []
        sure = <double *>malloc(k * sizeof(double))
        tval = <double *>malloc(k * sizeof(double))
        tcv = <double *>malloc(k * sizeof(double))
        tmv = <int *>malloc(3 * k * sizeof(int))
        if sure == NULL or tval == NULL or tcv == NULL or tmv == NULL:
            free(sure); free(tval); free(tcv); free(tmv)
            raise MemoryError()
        try:
            self._stats()
            for pss in range(2):
                for vi in range(self.V):
                    if not self._victim(vi):
                        continue
                    I = &self.iv[vi]
                    idx = I.idx
                    if idx < 0 or idx >= costs.shape[0]:
                        continue
                    nk = 0
                    if (I.mirror == MIR_INTERNAL and I.snode >= 0
                            and not self.nd[I.snode].offline and self.o_inst_moves):
                        kinds[0] = FAILOVER
                        nk = 1
                    nk += self._moves_of(vi, kinds + nk)
                    for j in range(-1, self.n_on):
                        t = self.on_pos[j] if j >= 0 else -1
                        if t >= 0 and (t == I.pnode or t == I.snode):
                            continue
                        for ki in range(nk):
                            kind = kinds[ki]
                            if (kind == FAILOVER) != (t < 0):
                                continue
                            if _lands_offline(self.nd, I, kind, t):
                                continue
                            nt = self._eval(vi, kind, t, w, tp, y, &mapv, &poolv)
                            if nt == 0:
                                continue
                            c = costs[idx, kind]
                            self._interval(nt, tp, y, mapv, poolv, &lo, &hi)
                            if not lo < cur:
                                continue
                            if pss == 0:
                                # the k best values moves are sure to reach
                                # (descending); the floor is the k-th
                                if hi < cur:
                                    val = (cur - hi) / c if ratio else (cur - hi) - lam * c
                                    if n_sure < k or val > sure[n_sure - 1]:
                                        pos = n_sure if n_sure < k else k - 1
                                        while pos > 0 and sure[pos - 1] < val:
                                            sure[pos] = sure[pos - 1]
                                            pos -= 1
                                        sure[pos] = val
                                        if n_sure < k:
                                            n_sure += 1
                                        if n_sure == k:
                                            floor = sure[k - 1]
                                continue
                            val = (cur - lo) / c if ratio else (cur - lo) - lam * c
                            if val < floor:
                                continue
                            cv = self._exact(nt, tp, y, mapv, poolv)
                            if not cv < cur:
                                continue
                            val = (cur - cv) / c if ratio else (cur - cv) - lam * c
                            if n_top == k and not val > tval[k - 1]:
                                continue
                            # insert after the equal values (first kept)
                            pos = n_top if n_top < k else k - 1
                            while pos > 0 and tval[pos - 1] < val:
                                tval[pos] = tval[pos - 1]
                                tcv[pos] = tcv[pos - 1]
                                tmv[3 * pos] = tmv[3 * pos - 3]
                                tmv[3 * pos + 1] = tmv[3 * pos - 2]
                                tmv[3 * pos + 2] = tmv[3 * pos - 1]
                                pos -= 1
                            tval[pos] = val
                            tcv[pos] = cv
                            tmv[3 * pos] = vi
                            tmv[3 * pos + 1] = kind
                            tmv[3 * pos + 2] = t
                            if n_top < k:
                                n_top += 1
            out = []
            for pos in range(n_top):
                t = tmv[3 * pos + 2]
                out.append((tcv[pos], self.iv[tmv[3 * pos]].idx, tmv[3 * pos + 1],
                            self.node_keys[t] if t >= 0 else -1))
            return out
        finally:
            free(sure); free(tval); free(tcv); free(tmv)

    def interval(self, inst_idx, int kind, target=-1):
        """(lo, hi) bounds of the candidate's exact score, or None."""
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef double mapv, poolv, lo, hi
        cdef int vi, t
        cdef int nt
        self._args(inst_idx, kind, target, &vi, &t)
        if self.n_on == 0:
            return None
        self._stats()
        nt = self._eval(vi, kind, t, w, tp, y, &mapv, &poolv)
        if nt == 0:
            return None
        self._interval(nt, tp, y, mapv, poolv, &lo, &hi)
        return (lo, hi)

    def pool_estimate(self, inst_idx, int kind, target=-1):
        """(estimate, error bound, exact) of a candidate's pool metric (the
        search's ``_sp_est`` and the exact ``_sp_metric``), or None."""
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef const NodeS *wp[3]
        cdef double mapv, poolv, est, err
        cdef int vi, t, nt, c
        self._args(inst_idx, kind, target, &vi, &t)
        if self.n_on == 0 or not self.sp_on:
            return None
        self._stats()
        nt = self._eval(vi, kind, t, w, tp, y, &mapv, &poolv)
        if nt == 0:
            return None
        for c in range(nt):
            wp[c] = &w[c]
        self._sp_est(nt, tp, wp, &est, &err)
        return (est, err, poolv)

    def _debug_candidate(self, inst_idx, int kind, target):
        """Rows of a candidate by the shared-part path and by _sim (tests)."""
        cdef Fixed fx
        cdef NodeS wt
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef double yr[NV]
        cdef double mapv, m2, p2
        cdef int vi, t
        cdef int nt, c, m
        cdef bint ok
        self._args(inst_idx, kind, target, &vi, &t)
        if kind == FAILOVER:
            raise ValueError("failover has no shared part")
        self._stats()
        self._fixed(vi, kind, t, self._sig(vi, kind, t), &fx)
        ok = fx.ok and self._target(vi, kind, t, &wt, &mapv, &fx)
        a = None
        if ok:
            a = {}
            for c in range(fx.nf):
                _row(&fx.fw[c], yr)
                a[self.node_keys[fx.fpos[c]]] = [yr[m] for m in range(NV)]
            _row(&wt, yr)
            a[target] = [yr[m] for m in range(NV)]
            a["map"] = mapv
        nt = self._eval(vi, kind, t, w, tp, y, &m2, &p2)
        b = None
        if nt:
            b = {}
            for c in range(nt):
                b[self.node_keys[tp[c]]] = [y[c * NV + m] for m in range(NV)]
            b["map"] = m2
        return a, b

    def score(self):
        """Exact score of the packed state (``metrics.comp_cv``)."""
        cdef int tp[1]
        if self.n_on == 0:
            return 0.0
        return self._exact(0, tp, NULL, <double>(self.map_S - self.map_D),
                           self.sp_base)

    def node_values(self, node_idx):
        """The 20 per-node values of a node (map slot 0.0)."""
        cdef int p = self.node_pos[node_idx]
        return [self.rows[p * NV + _INT[m]] for m in range(NV)]

    def map_value(self):
        """The location/exclusion map metric of the packed state."""
        return self.map_S - self.map_D

    def instance_nodes(self, inst_idx):
        """(pnode, snode, location_score) of a candidate instance."""
        cdef InstS *I = &self.iv[self.inst_vi[inst_idx]]
        return (self.node_keys[I.pnode],
                self.node_keys[I.snode] if I.snode >= 0 else -1,
                I.loc_score)

    @property
    def n_candidates(self):
        """Movable auto-balanced instances packed."""
        return self.V

    def counters(self):
        return dict(steps=self.n_steps, evaluated=self.n_evaluated,
                    feasible=self.n_feasible, exact=self.n_exact)

