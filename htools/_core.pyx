# cython: language_level=3, boundscheck=False, wraparound=False
# cython: initializedcheck=False, cdivision=True
# distutils: extra_compile_args = -ffp-contract=off -fopenmp
# distutils: extra_link_args = -fopenmp
"""Compiled core of htools-py: the cluster score on typed C arrays.

:class:`ClusterState` packs, for every node of a node list, the twenty
per-node values of htools' metrics (``htools.metrics.NODE_VALUES``) into a
C array, one row of :data:`NUM_METRICS` doubles per node, plus the
location/exclusion tag-pair counts of the map metric interned to integer ids.
It computes the metrics and the score of the list, and of the list with a
few nodes replaced (a candidate move), without touching Python objects in
its loops over the nodes.

Exactness
---------
``metrics()``, ``score()``, ``metrics_with()`` and ``score_with()`` perform
the floating operations of :mod:`htools.metrics` (and of htools' own
``compDetailedCV``/``compCV``) one for one: per metric a left fold from
``0.0`` over the online nodes in index order, the mean ``s / n``, a second
left fold of squared deviations in index order, ``sqrt(var / n)``; the score
is ``0.0 + w0*v0 + w1*v1 + ...`` left to right.  Per-node values are the
same expressions as the scorer's per-node functions (divisions by zero
follow ``haskell.prelude.fdiv``).  The loops over the nodes keep one accumulator per
metric (a row of twenty doubles updated per node), which the C compiler may
vectorise *across metrics* but never reorders *within* a metric, so each
sum is the same sequence of IEEE additions.  The module is compiled with
``-ffp-contract=off`` so that ``acc + d * d`` and ``total + w * v`` are not
fused into FMA instructions (which would round once instead of twice); do
not build it with ``-ffast-math``.

``score_with_fast()`` is different on purpose: it applies htools'
incremental ``updateStatistics`` formulas (running count, sum and variance,
O(changed nodes) per metric) to the statistics of the current state, exactly
as ``Cluster.AllocatePrimitives.allocateOnPair`` does in htools 3.0.2
(``compCVfromStats (updateClusterStatisticsTwice stats (p, p') (s, s'))``).
Its result may differ from the full recomputation in the last bits (more
when a standard deviation is close to zero): it is a screening estimate for
an opt-in faster search, and the bit-exact emulation of hail's/hspace's
scores of two-node allocations (build the state from the same node list as
htools' ``tryAlloc`` gets).  The map metric is integer arithmetic and is
computed exactly in both variants.
"""

from libc.math cimport sqrt, fabs, NAN, INFINITY
from libc.float cimport DBL_MAX
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset
from cpython cimport array as carray
from cython.parallel cimport prange
import array as _pyarray

from htools._node cimport (
    NV, M_PTAGS, NFAIL, FITS, NodeS, InstS, pack_node, pack_instance, add_pri,
    add_sec, node_values, remove_pri, remove_sec,
)

# ---------------------------------------------------------------------------
# Metric layout (the order of htools.metrics.METRICS)

cdef enum:
    MAXCH = 16       # most changed nodes per score_with call
    SPCAP = 64       # most volume groups (storage pools) per state

NUM_METRICS = NV
MAX_CHANGES = MAXCH

cdef double[NV] _WEIGHTS
_WEIGHTS[:] = [0.5, 0.5, 1.0, 1.0, 4.0, 16.0, 0.5, 1.0, 1.0, 1.0, 1.0, 2.0,
               0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 0.25]

#: aggregation kind per metric: 0 stddev (online), 1 sum (online),
#: 2 sum (offline nodes), 3 map (online)
cdef int[NV] _KIND
_KIND[:] = [0, 0, 1, 0, 2, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 1]

cdef enum:
    K_STDDEV = 0
    K_SUM = 1
    K_OFFSUM = 2
    K_MAP = 3
    MAP_METRIC = 18

WEIGHTS = tuple([_WEIGHTS[m] for m in range(NV)])

# event actions when walking a compacted row array with substitutions
cdef enum:
    A_REPLACE = 0    # the row at `rank` is replaced by `row`
    A_SKIP = 1       # the row at `rank` is left out (node left the pool)
    A_INSERT = 2     # `row` is inserted before the row at `rank`


cdef struct Ev:
    Py_ssize_t rank
    int action
    const double *row


def core_version():
    return 1


# ---------------------------------------------------------------------------
# C helpers (no Python objects)

from htools._inline cimport hs_div as _div


cdef inline void _add_row(double *acc, const double *x) noexcept nogil:
    cdef int m
    for m in range(NV):
        acc[m] = acc[m] + x[m]


cdef inline void _add_sq_row(double *acc, const double *x,
                             const double *mean) noexcept nogil:
    cdef int m
    cdef double d
    for m in range(NV):
        d = x[m] - mean[m]
        acc[m] = acc[m] + d * d


cdef void _fold(const double *rows, Py_ssize_t n, const Ev *ev, int nev,
                double *acc_out, const double *mean_in) noexcept nogil:
    """Left fold over the compacted rows (with substitutions), index order.

    ``mean_in`` NULL: acc[m] = sum of x[m]; else sum of (x[m] - mean[m])^2.
    Events must be sorted by rank (by node index).  The accumulators are
    local so that the compiler can keep them in registers."""
    cdef double acc[NV]
    cdef double mean[NV]
    cdef Py_ssize_t k = 0, j, r
    cdef int e, m
    for m in range(NV):
        acc[m] = 0.0
    if mean_in == NULL:
        for e in range(nev):
            r = ev[e].rank
            for j in range(k, r):
                _add_row(acc, rows + j * NV)
            k = r
            if ev[e].action == A_REPLACE:
                _add_row(acc, ev[e].row)
                k += 1
            elif ev[e].action == A_SKIP:
                k += 1
            else:
                _add_row(acc, ev[e].row)
        for j in range(k, n):
            _add_row(acc, rows + j * NV)
    else:
        for m in range(NV):
            mean[m] = mean_in[m]
        for e in range(nev):
            r = ev[e].rank
            for j in range(k, r):
                _add_sq_row(acc, rows + j * NV, mean)
            k = r
            if ev[e].action == A_REPLACE:
                _add_sq_row(acc, ev[e].row, mean)
                k += 1
            elif ev[e].action == A_SKIP:
                k += 1
            else:
                _add_sq_row(acc, ev[e].row, mean)
        for j in range(k, n):
            _add_sq_row(acc, rows + j * NV, mean)
    for m in range(NV):
        acc_out[m] = acc[m]


cdef void _aggregate(const double *on_rows, Py_ssize_t n_on_base,
                     const Ev *on_ev, int n_on_ev, Py_ssize_t n_on,
                     const double *off_rows, Py_ssize_t n_off_base,
                     const Ev *off_ev, int n_off_ev,
                     double *out, double *sums, double *var) noexcept nogil:
    """The 20 metric values (the map metric excepted) by two-pass folds.

    ``n_on`` is the number of online rows after substitution (> 0).
    ``sums``/``var`` receive the first-pass sums and the variances
    (htools' ``StdDevStatistics`` count/sum/var) of the online pool."""
    cdef double mean[NV]
    cdef double acc[NV]
    cdef double offacc[NV]
    cdef double cnt = <double>n_on
    cdef int m
    _fold(on_rows, n_on_base, on_ev, n_on_ev, sums, NULL)
    for m in range(NV):
        mean[m] = sums[m] / cnt
    _fold(on_rows, n_on_base, on_ev, n_on_ev, acc, mean)
    _fold(off_rows, n_off_base, off_ev, n_off_ev, offacc, NULL)
    for m in range(NV):
        var[m] = acc[m] / cnt
        if _KIND[m] == K_STDDEV:
            out[m] = sqrt(var[m])
        elif _KIND[m] == K_SUM:
            out[m] = sums[m]
        elif _KIND[m] == K_OFFSUM:
            out[m] = offacc[m]
        else:
            out[m] = 0.0


cdef inline double _weighted(const double *vals) noexcept nogil:
    cdef double total = 0.0
    cdef int m
    for m in range(NV):
        total = total + _WEIGHTS[m] * vals[m]
    return total


# ---------------------------------------------------------------------------
# Per-node values (the scorer's NODE_VALUES, read from a model Node)

cdef bint _extract(object node, double *row) except -1:
    """Fill ``row`` with the node's 20 values; return its offline flag."""
    cdef Py_ssize_t npri = len(node.p_list)
    cdef Py_ssize_t nsec = len(node.s_list)
    cdef double p_rem = node.p_rem
    cdef double speed = node.t_cpu_speed
    cdef double hi = node.hi_spindles
    cdef long long tsum = 0
    cdef Py_ssize_t tlen
    ul = node.util_load
    up = node.util_pool
    p_tags = node.p_tags
    row[0] = node.p_mem
    row[1] = node.p_dsk
    row[2] = <double>(nsec + npri) if node.fail_n1 else 0.0
    row[3] = p_rem
    row[4] = <double>(npri + nsec)
    row[5] = <double>npri
    # p_cpu_eff: a plain division in htools (x/0 gives inf or nan)
    row[6] = <double>node.p_cpu / speed
    row[7] = _div(ul.cpu, up.cpu)
    row[8] = _div(ul.mem, up.mem)
    row[9] = _div(ul.dsk, up.dsk)
    row[10] = _div(ul.net, up.net)
    tlen = len(p_tags)
    if tlen:
        for v in p_tags.values():
            tsum += <long long>v
    row[11] = <double>(tsum - tlen)
    row[12] = _div(node.inst_spindles, hi)
    row[13] = node.p_mem_forth
    row[14] = node.p_dsk_forth
    row[15] = <double>node.p_cpu_forth / speed
    row[16] = _div(node.inst_spindles_forth, hi)
    row[17] = <double>node.location_score
    row[18] = 0.0
    row[19] = p_rem
    return bool(node.offline)


# ---------------------------------------------------------------------------

cdef class ClusterState:
    """The per-node metric inputs of a node list, packed for fast scoring.

    ``ClusterState(nodes, keys=None)``: ``nodes`` in index order (the order
    the score is computed in).  Nodes are addressed by position, or, if
    ``keys`` is given (one hashable per node, e.g. the nodes' ``idx``), by
    key.  ``changes`` arguments are a mapping ``{key: Node}`` or an iterable
    of ``(key, Node)`` pairs (at most :data:`MAX_CHANGES`, distinct keys).
    """

    cdef Py_ssize_t n
    cdef double *vals          # n rows of NV values, node index order
    cdef unsigned char *offl   # per node offline flag
    cdef Py_ssize_t *onrank    # per node: number of online nodes before it
    cdef Py_ssize_t *offrank   # per node: number of offline nodes before it
    cdef double *on_rows       # compacted rows of the online nodes
    cdef double *off_rows      # compacted rows of the offline nodes
    cdef Py_ssize_t n_on, n_off
    # location/exclusion map metric: interned (location, exclusion) pairs
    cdef dict _key_ids
    cdef list _node_maps       # per node: tuple of (key id, count)
    cdef long long *ktot       # per key: summed count over online nodes
    cdef long long *kpres      # per key: number of online nodes having it
    cdef Py_ssize_t nkeys, kcap
    cdef long long map_sum, map_distinct
    # cached statistics of the current state
    cdef bint dirty
    cdef double b_val[NV]
    cdef double b_sum[NV]
    cdef double b_var[NV]
    cdef object _keymap
    # storage pools (htools.metrics.pool_free_cv): per node the volume
    # groups (a mask of local ids) and their free shares
    cdef dict _sp_ids          # volume group -> local id
    cdef list _sp_names
    cdef int sp_order[SPCAP]   # local ids by name
    cdef int sp_nids
    cdef bint sp_any           # some node has a volume group
    cdef unsigned long long *sp_mask
    cdef double *sp_val        # n x SPCAP

    def __cinit__(self, *args, **kwargs):
        self.sp_mask = NULL
        self.sp_val = NULL
        self.vals = NULL
        self.offl = NULL
        self.onrank = NULL
        self.offrank = NULL
        self.on_rows = NULL
        self.off_rows = NULL
        self.ktot = NULL
        self.kpres = NULL

    def __dealloc__(self):
        free(self.vals)
        free(self.offl)
        free(self.onrank)
        free(self.offrank)
        free(self.on_rows)
        free(self.off_rows)
        free(self.ktot)
        free(self.kpres)
        free(self.sp_mask)
        free(self.sp_val)

    def __init__(self, nodes, keys=None):
        nodes = list(nodes)
        cdef Py_ssize_t n = len(nodes), i, sz = n if n > 0 else 1
        if self.vals != NULL:
            raise RuntimeError("ClusterState already initialised")
        self.n = n
        self.vals = <double *>malloc(sz * NV * sizeof(double))
        self.on_rows = <double *>malloc(sz * NV * sizeof(double))
        self.off_rows = <double *>malloc(sz * NV * sizeof(double))
        self.offl = <unsigned char *>malloc(sz)
        self.onrank = <Py_ssize_t *>malloc(sz * sizeof(Py_ssize_t))
        self.offrank = <Py_ssize_t *>malloc(sz * sizeof(Py_ssize_t))
        self.kcap = 16
        self.ktot = <long long *>malloc(self.kcap * sizeof(long long))
        self.kpres = <long long *>malloc(self.kcap * sizeof(long long))
        if (self.vals == NULL or self.on_rows == NULL or self.off_rows == NULL
                or self.offl == NULL or self.onrank == NULL
                or self.offrank == NULL or self.ktot == NULL
                or self.kpres == NULL):
            raise MemoryError()
        self.nkeys = 0
        self.map_sum = 0
        self.map_distinct = 0
        self._key_ids = {}
        self._node_maps = [()] * n
        if keys is None:
            self._keymap = None
        else:
            keys = list(keys)
            if len(keys) != n:
                raise ValueError("keys and nodes differ in length")
            self._keymap = {k: i for i, k in enumerate(keys)}
            if len(self._keymap) != n:
                raise ValueError("duplicate keys")
        for i in range(n):
            node = nodes[i]
            self.offl[i] = _extract(node, self.vals + i * NV)
            ent = self._map_entries(node)
            self._node_maps[i] = ent
            if not self.offl[i]:
                self._map_add(ent)
            if node.pools:
                self._sp_node(i, node)
        self._compact()
        self.dirty = True

    # -- storage pools -----------------------------------------------------
    cdef int _sp_alloc(self) except -1:
        cdef Py_ssize_t sz = self.n if self.n > 0 else 1
        if self.sp_mask != NULL:
            return 0
        self.sp_mask = <unsigned long long *>calloc(sz, sizeof(unsigned long long))
        self.sp_val = <double *>calloc(sz * SPCAP, sizeof(double))
        if self.sp_mask == NULL or self.sp_val == NULL:
            raise MemoryError()
        self._sp_ids = {}
        self._sp_names = []
        self.sp_nids = 0
        self.sp_any = True
        return 0

    cdef int _sp_extract(self, object node, unsigned long long *mask,
                         double *vals) except -1:
        """A node's volume groups (mask) and free shares (the
        specification's ``metrics.pool_free``, computed by it)."""
        from htools.metrics import pool_free
        cdef int sid
        mask[0] = 0
        if not node.pools:
            return 0
        self._sp_alloc()
        for vg in node.pools:
            got = self._sp_ids.get(vg)
            if got is None:
                if self.sp_nids >= SPCAP:
                    raise NotImplementedError("too many volume groups")
                sid = self.sp_nids
                self._sp_ids[vg] = sid
                self._sp_names.append(vg)
                self.sp_nids += 1
                order = sorted(range(self.sp_nids), key=self._sp_names.__getitem__)
                for k in range(self.sp_nids):
                    self.sp_order[k] = order[k]
            else:
                sid = got
            mask[0] |= 1ULL << sid
            vals[sid] = pool_free(node, vg)
        return 0

    cdef int _sp_node(self, Py_ssize_t i, object node) except -1:
        cdef unsigned long long m = 0
        cdef double tmp[SPCAP]
        if not node.pools and self.sp_mask == NULL:
            return 0
        self._sp_extract(node, &m, tmp)
        self.sp_mask[i] = m
        memcpy(self.sp_val + i * SPCAP, tmp, SPCAP * sizeof(double))
        return 0

    cdef inline double _sp_at(self, Py_ssize_t i, int sid, int nc,
                              const Py_ssize_t *pos, const unsigned char *offs,
                              const unsigned long long *cmask, const double *cval,
                              bint *on, unsigned long long *m) noexcept:
        """Node ``i``'s free share of volume group ``sid``, with its online
        flag and volume-group mask, the changes substituted."""
        cdef int c
        for c in range(nc - 1, -1, -1):
            if pos[c] == i:
                on[0] = not offs[c]
                m[0] = cmask[c]
                return cval[c * SPCAP + sid]
        on[0] = not self.offl[i]
        m[0] = self.sp_mask[i]
        return self.sp_val[i * SPCAP + sid]

    cdef bint _sp_with(self, int nc, const Py_ssize_t *pos,
                       const unsigned char *offs,
                       const unsigned long long *cmask, const double *cval,
                       double *out) noexcept:
        """htools.metrics.pool_free_cv of the online nodes with the changes
        substituted, into ``out``; False (``out`` untouched) when no online
        node has a volume group (then the disk metrics are htools')."""
        cdef unsigned long long uni = 0, m, bit
        cdef Py_ssize_t i
        cdef int c, k, sid, npl = 0
        cdef bint on
        cdef double total = 0.0, s, q, cnt, mean, x, d
        if self.sp_mask == NULL:
            return False
        for i in range(self.n):
            on = not self.offl[i]
            m = self.sp_mask[i]
            for c in range(nc):
                if pos[c] == i:
                    on = not offs[c]
                    m = cmask[c]
            if on:
                uni |= m
        if uni == 0:
            return False
        for k in range(self.sp_nids):
            sid = self.sp_order[k]
            bit = 1ULL << sid
            if not (uni & bit):
                continue
            npl += 1
            s = 0.0
            cnt = 0.0
            for i in range(self.n):
                x = self._sp_at(i, sid, nc, pos, offs, cmask, cval, &on, &m)
                if on and (m & bit):
                    cnt = cnt + 1.0
                    s = s + x
            mean = s / cnt
            q = 0.0
            for i in range(self.n):
                x = self._sp_at(i, sid, nc, pos, offs, cmask, cval, &on, &m)
                if on and (m & bit):
                    d = x - mean
                    q = q + d * d
            total = total + sqrt(q / cnt)
        out[0] = total / <double>npl
        return True

    cdef int _sp_changes(self, object changes, int nc, unsigned long long *cmask,
                         double *cval) except -1:
        """The changed nodes' volume groups (the order of ``_parse``);
        returns whether pools are involved at all."""
        cdef int c = 0
        cdef bint anyp = self.sp_any
        items = changes.items() if isinstance(changes, dict) else changes
        for key, node in items:
            cmask[c] = 0
            if node.pools:
                anyp = True
                self._sp_extract(node, &cmask[c], cval + c * SPCAP)
            c += 1
        return anyp

    cdef void _sp_apply(self, double *out, int nc, const Py_ssize_t *pos,
                        const unsigned char *offs,
                        const unsigned long long *cmask,
                        const double *cval) noexcept:
        cdef double v
        if self._sp_with(nc, pos, offs, cmask, cval, &v):
            out[1] = v
            out[14] = v

    # -- bookkeeping -------------------------------------------------------
    cdef Py_ssize_t _intern(self, object key) except -1:
        cdef Py_ssize_t kid
        cdef long long *p
        got = self._key_ids.get(key)
        if got is not None:
            return got
        kid = self.nkeys
        if kid >= self.kcap:
            p = <long long *>realloc(self.ktot, 2 * self.kcap * sizeof(long long))
            if p == NULL:
                raise MemoryError()
            self.ktot = p
            p = <long long *>realloc(self.kpres, 2 * self.kcap * sizeof(long long))
            if p == NULL:
                raise MemoryError()
            self.kpres = p
            self.kcap *= 2
        self.ktot[kid] = 0
        self.kpres[kid] = 0
        self.nkeys += 1
        self._key_ids[key] = kid
        return kid

    cdef tuple _map_entries(self, object node):
        imap = node.instance_map
        if not imap:
            return ()
        return tuple([(self._intern(k), v) for k, v in imap.items()])

    cdef void _map_add(self, tuple ent) except *:
        cdef Py_ssize_t kid
        cdef long long c
        for kid, c in ent:
            self.ktot[kid] += c
            self.map_sum += c
            if self.kpres[kid] == 0:
                self.map_distinct += 1
            self.kpres[kid] += 1

    cdef void _map_del(self, tuple ent) except *:
        cdef Py_ssize_t kid
        cdef long long c
        for kid, c in ent:
            self.ktot[kid] -= c
            self.map_sum -= c
            self.kpres[kid] -= 1
            if self.kpres[kid] == 0:
                self.map_distinct -= 1

    cdef void _compact(self) noexcept:
        cdef Py_ssize_t i, non = 0, noff = 0
        for i in range(self.n):
            self.onrank[i] = non
            self.offrank[i] = noff
            if self.offl[i]:
                memcpy(self.off_rows + noff * NV, self.vals + i * NV,
                       NV * sizeof(double))
                noff += 1
            else:
                memcpy(self.on_rows + non * NV, self.vals + i * NV,
                       NV * sizeof(double))
                non += 1
        self.n_on = non
        self.n_off = noff

    cdef Py_ssize_t _pos(self, object key) except -1:
        cdef Py_ssize_t p
        if self._keymap is None:
            p = key
        else:
            p = self._keymap[key]
        if p < 0 or p >= self.n:
            raise IndexError("node position out of range: %r" % (key,))
        return p

    cdef void _ensure_base(self) noexcept:
        if not self.dirty:
            return
        if self.n_on > 0:
            _aggregate(self.on_rows, self.n_on, NULL, 0, self.n_on,
                       self.off_rows, self.n_off, NULL, 0,
                       self.b_val, self.b_sum, self.b_var)
            self.b_val[MAP_METRIC] = <double>(self.map_sum - self.map_distinct)
            self._sp_apply(self.b_val, 0, NULL, NULL, NULL, NULL)
        self.dirty = False

    # -- parsing of change sets --------------------------------------------
    cdef int _parse(self, object changes, Py_ssize_t *pos, double *rows,
                    unsigned char *offs, list maps) except -1:
        """Read the changes in the given order; return their number."""
        cdef int nc = 0, c
        cdef Py_ssize_t p
        items = changes.items() if isinstance(changes, dict) else changes
        for key, node in items:
            if nc >= MAXCH:
                raise ValueError("at most %d changed nodes" % MAXCH)
            p = self._pos(key)
            for c in range(nc):
                if pos[c] == p:
                    raise ValueError("node %r changed twice" % (key,))
            pos[nc] = p
            offs[nc] = _extract(node, rows + nc * NV)
            maps.append(self._map_entries(node))
            nc += 1
        return nc

    cdef int _eval_exact(self, object changes, double *out) except -1:
        """Metric values with the changes applied; the online node count."""
        cdef Py_ssize_t pos[MAXCH]
        cdef double rows[MAXCH * NV]
        cdef unsigned char offs[MAXCH]
        cdef int order[MAXCH]
        cdef Ev on_ev[MAXCH]
        cdef Ev off_ev[MAXCH]
        cdef double sums[NV]
        cdef double var[NV]
        cdef int nc, c, k, t, n_on_ev = 0, n_off_ev = 0
        cdef Py_ssize_t p, n_on
        cdef bint old_on, new_on
        cdef list maps = []
        cdef unsigned long long cmask[MAXCH]
        cdef double cval[MAXCH * SPCAP]
        if not isinstance(changes, (dict, list, tuple)):
            changes = list(changes)     # read twice (rows, then pools)
        nc = self._parse(changes, pos, rows, offs, maps)
        if nc == 0:
            self._ensure_base()
            if self.n_on > 0:
                memcpy(out, self.b_val, NV * sizeof(double))
            return self.n_on
        # sort the changes by node position (insertion sort, nc is tiny)
        for c in range(nc):
            order[c] = c
        for c in range(1, nc):
            t = order[c]
            k = c - 1
            while k >= 0 and pos[order[k]] > pos[t]:
                order[k + 1] = order[k]
                k -= 1
            order[k + 1] = t
        n_on = self.n_on
        for k in range(nc):
            c = order[k]
            p = pos[c]
            old_on = not self.offl[p]
            new_on = not offs[c]
            if old_on:
                on_ev[n_on_ev].rank = self.onrank[p]
                on_ev[n_on_ev].row = rows + c * NV
                if new_on:
                    on_ev[n_on_ev].action = A_REPLACE
                else:
                    on_ev[n_on_ev].action = A_SKIP
                    n_on -= 1
                    off_ev[n_off_ev].rank = self.offrank[p]
                    off_ev[n_off_ev].action = A_INSERT
                    off_ev[n_off_ev].row = rows + c * NV
                    n_off_ev += 1
                n_on_ev += 1
            else:
                off_ev[n_off_ev].rank = self.offrank[p]
                off_ev[n_off_ev].row = rows + c * NV
                if new_on:
                    off_ev[n_off_ev].action = A_SKIP
                    on_ev[n_on_ev].rank = self.onrank[p]
                    on_ev[n_on_ev].action = A_INSERT
                    on_ev[n_on_ev].row = rows + c * NV
                    n_on_ev += 1
                    n_on += 1
                else:
                    off_ev[n_off_ev].action = A_REPLACE
                n_off_ev += 1
        if n_on == 0:
            return 0
        _aggregate(self.on_rows, self.n_on, on_ev, n_on_ev, n_on,
                   self.off_rows, self.n_off, off_ev, n_off_ev,
                   out, sums, var)
        out[MAP_METRIC] = self._map_value_with(nc, pos, offs, maps)
        if self._sp_changes(changes, nc, cmask, cval):
            self._sp_apply(out, nc, pos, offs, cmask, cval)
        return <int>n_on

    cdef double _map_value_with(self, int nc, Py_ssize_t *pos,
                                unsigned char *offs, list maps) except? -1:
        """Σ counts − #distinct keys over the online nodes, changes applied."""
        cdef long long S = self.map_sum, D = self.map_distinct, cnt
        cdef Py_ssize_t kid
        cdef int c
        cdef bint any_ent = False
        for c in range(nc):
            if self._node_maps[pos[c]] or maps[c]:
                any_ent = True
                break
        if not any_ent:
            return <double>(S - D)
        # apply temporarily: removals of the old nodes, additions of the new
        for c in range(nc):
            if not self.offl[pos[c]]:
                for kid, cnt in <tuple>self._node_maps[pos[c]]:
                    S -= cnt
                    self.kpres[kid] -= 1
                    if self.kpres[kid] == 0:
                        D -= 1
        for c in range(nc):
            if not offs[c]:
                for kid, cnt in <tuple>maps[c]:
                    S += cnt
                    if self.kpres[kid] == 0:
                        D += 1
                    self.kpres[kid] += 1
        # revert
        for c in range(nc):
            if not offs[c]:
                for kid, cnt in <tuple>maps[c]:
                    self.kpres[kid] -= 1
        for c in range(nc):
            if not self.offl[pos[c]]:
                for kid, cnt in <tuple>self._node_maps[pos[c]]:
                    self.kpres[kid] += 1
        return <double>(S - D)

    # -- public API --------------------------------------------------------
    def __len__(self):
        return self.n

    @property
    def n_online(self):
        """Number of online nodes."""
        return self.n_on

    def position(self, key):
        """The position (index order) of the node addressed by ``key``."""
        return self._pos(key)

    def node_values(self, key):
        """The 20 per-node values of a node (0.0 in the map metric's slot)."""
        cdef Py_ssize_t p = self._pos(key)
        return [self.vals[p * NV + m] for m in range(NV)]

    def values(self):
        """A numpy copy (n × 20) of the per-node values, in node order."""
        import numpy as np
        out = np.empty((self.n, NV), dtype=np.float64)
        cdef double[:, ::1] mv = out
        if self.n:
            memcpy(&mv[0, 0], self.vals, self.n * NV * sizeof(double))
        return out

    def offline_flags(self):
        """Per node offline flags, in node order."""
        return [bool(self.offl[i]) for i in range(self.n)]

    def metrics(self):
        """The 20 metric values (``metrics.detailed_cv``); [] if no online node."""
        self._ensure_base()
        if self.n_on == 0:
            return []
        return [self.b_val[m] for m in range(NV)]

    def score(self):
        """The cluster score (``metrics.comp_cv``)."""
        self._ensure_base()
        if self.n_on == 0:
            return 0.0
        return _weighted(self.b_val)

    def set_node(self, key, node):
        """Replace one node's values (e.g. after a move was applied)."""
        cdef Py_ssize_t p = self._pos(key)
        cdef double row[NV]
        cdef bint off = _extract(node, row)
        ent = self._map_entries(node)
        if not self.offl[p]:
            self._map_del(<tuple>self._node_maps[p])
        if not off:
            self._map_add(ent)
        self._node_maps[p] = ent
        self._sp_node(p, node)
        memcpy(self.vals + p * NV, row, NV * sizeof(double))
        if off != self.offl[p]:
            self.offl[p] = off
            self._compact()
        elif off:
            memcpy(self.off_rows + self.offrank[p] * NV, row, NV * sizeof(double))
        else:
            memcpy(self.on_rows + self.onrank[p] * NV, row, NV * sizeof(double))
        self.dirty = True

    def set_nodes(self, changes):
        """``set_node`` for each ``(key, Node)`` of a mapping or iterable."""
        items = changes.items() if isinstance(changes, dict) else changes
        for key, node in items:
            self.set_node(key, node)

    def metrics_with(self, changes):
        """``metrics()`` as if the given nodes were replaced (no mutation)."""
        cdef double out[NV]
        if self._eval_exact(changes, out) == 0:
            return []
        return [out[m] for m in range(NV)]

    def score_with(self, changes):
        """``score()`` as if the given nodes were replaced (no mutation).

        Bit-identical to ``metrics.comp_cv`` of the modified node list: a full
        two-pass recomputation in C loops with the changed rows substituted
        on the fly (O(nodes) per call, no Python object in the loops)."""
        cdef double out[NV]
        if self._eval_exact(changes, out) == 0:
            return 0.0
        return _weighted(out)

    cdef int _eval_fast(self, object changes, double *out) except -1:
        cdef Py_ssize_t pos[MAXCH]
        cdef double rows[MAXCH * NV]
        cdef unsigned char offs[MAXCH]
        cdef double s[NV]
        cdef double var[NV]
        cdef double n, x, y, ds, dss, dnnvar, v
        cdef const double *old
        cdef int nc, c, m
        cdef list maps = []
        cdef unsigned long long cmask[MAXCH]
        cdef double cval[MAXCH * SPCAP]
        if not isinstance(changes, (dict, list, tuple)):
            changes = list(changes)     # read twice (rows, then pools)
        nc = self._parse(changes, pos, rows, offs, maps)
        for c in range(nc):
            if offs[c] != self.offl[pos[c]]:
                # htools' update cannot move a node in or out of the online
                # pool: recompute instead
                return self._eval_exact(changes, out)
        self._ensure_base()
        if self.n_on == 0:
            return 0
        n = <double>self.n_on
        memcpy(s, self.b_sum, NV * sizeof(double))
        memcpy(var, self.b_var, NV * sizeof(double))
        for m in range(NV):
            if _KIND[m] == K_OFFSUM:
                s[m] = self.b_val[m]
        # htools' updateStatistics, one changed node after the other, in the
        # given order; offline nodes update the offline sums only
        for c in range(nc):
            old = self.vals + pos[c] * NV
            if self.offl[pos[c]]:
                for m in range(NV):
                    if _KIND[m] == K_OFFSUM:
                        s[m] = s[m] + (rows[c * NV + m] - old[m])
                continue
            for m in range(NV):
                x = old[m]
                y = rows[c * NV + m]
                if _KIND[m] == K_STDDEV:
                    ds = y - x
                    dss = y * y - x * x
                    dnnvar = (n * dss - 2 * s[m] * ds) - ds * ds
                    s[m] = s[m] + ds
                    v = var[m] + dnnvar / (n * n)
                    # Haskell's max 0 v (= v if 0 <= v else 0; NaN -> 0)
                    var[m] = v if 0.0 <= v else 0.0
                elif _KIND[m] == K_SUM:
                    s[m] = s[m] + (y - x)
        for m in range(NV):
            if _KIND[m] == K_STDDEV:
                out[m] = sqrt(var[m])
            else:
                out[m] = s[m]
        # the map metric is integer arithmetic: computed exactly.  (htools'
        # map update keeps keys whose count drops to zero and so counts
        # them; that cannot happen in its only use, allocations, which add
        # an instance and never remove a (location, exclusion) pair.)
        out[MAP_METRIC] = self._map_value_with(nc, pos, offs, maps)
        # the pool metric is computed exactly (htools has none to emulate)
        if self._sp_changes(changes, nc, cmask, cval):
            self._sp_apply(out, nc, pos, offs, cmask, cval)
        return 1

    def metrics_with_fast(self, changes):
        """Metric values by htools' incremental statistics update."""
        cdef double out[NV]
        if self._eval_fast(changes, out) == 0:
            return []
        return [out[m] for m in range(NV)]

    def score_with_fast(self, changes):
        """Screening estimate of ``score_with(changes)`` in O(changes).

        Applies htools' ``updateStatistics`` (running count, sum and
        variance) to the current state's statistics, for each change in the
        given order (the map metric is exact).  May differ from
        ``score_with`` in the last bits, more when a standard deviation is
        close to zero, and a NaN variance becomes 0 (htools' ``max 0``).
        Bit-identical to htools' scores of two-node allocations
        (``allocateOnPair``) when called with ``[(pri, p'), (sec, s')]``.
        A change that flips a node's offline flag falls back to
        ``score_with``."""
        cdef double out[NV]
        if self._eval_fast(changes, out) == 0:
            return 0.0
        return _weighted(out)


include "_alloc.pxi"
