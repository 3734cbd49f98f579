# Included by _core.pyx (one extension module: AllocState extends
# ClusterState and shares its C helpers).
"""Allocation of a new instance on C arrays (htools' ``tryAlloc``).

:class:`AllocState` adds to :class:`ClusterState` (the per-node metric rows
and the cluster statistics) what htools' placement checks read: per node
the resource fields of :class:`htools.model.Node`, the peer map (primary
node index -> memory reserved for its failover, sorted by key here) and
the location tags (interned, sorted).  For a new instance it evaluates
every target of an allocation list in htools' order:

* ``Node.add_pri`` / ``Node.add_sec`` transcribed with their failure modes,
  the same checks in the same order, the same integer and floating
  operations, so that the new node's metric row is bit-identical to
  ``_extract`` of the node the model would build;
* two-node candidates scored with htools' incremental statistics update,
  exactly as :meth:`ClusterState.score_with_fast` (the primary's update is
  shared by all its secondaries: the updates are sequential, so this is the
  same arithmetic);
* one-node candidates scored exactly, as :meth:`ClusterState.score_with`.

The chosen candidate is the one htools' ``collectionToSolution`` and
``sumAllocs`` pick when no capacity predicate filters them: the minimal
score, ties to the candidate evaluated last.  A NaN score makes the
evaluation return None (the caller then uses the model's path, which sorts
as GHC does).  Instances with exclusion tags, desired location tags or
forthcoming status are not handled here (the caller checks
:func:`htools.alloc.compiled.eligible`).

Failure modes are ``htools.types.FailMode`` values.
"""

cdef inline void _a_row(const NodeS *n, const double *base, double *r) noexcept nogil:
    """The node's 20 values (``_extract``'s layout); the exclusion-tag
    metric is taken from ``base`` (the node's current row: a tag-less
    instance does not change it)."""
    node_values(n, r)
    r[M_PTAGS] = base[M_PTAGS]


cdef inline void _a_update(double *s, double *var, const double *x,
                           const double *y, double n) noexcept nogil:
    """htools' ``updateStatistics`` of one online node (x -> y), all
    metrics (the arithmetic of ``ClusterState._eval_fast``)."""
    cdef int m
    cdef double ds, dss, dnnvar, v
    for m in range(NV):
        if _KIND[m] == K_STDDEV:
            ds = y[m] - x[m]
            dss = y[m] * y[m] - x[m] * x[m]
            dnnvar = (n * dss - 2 * s[m] * ds) - ds * ds
            s[m] = s[m] + ds
            v = var[m] + dnnvar / (n * n)
            var[m] = v if 0.0 <= v else 0.0
        elif _KIND[m] == K_SUM:
            s[m] = s[m] + (y[m] - x[m])


cdef inline bint _a_out(const double *s1, const double *v1, const double *bval,
                        double *out) noexcept nogil:
    """The metric values after an update (as ``_eval_fast``); whether all
    updated statistics are finite."""
    cdef int m
    cdef bint fin = True
    for m in range(NV):
        if _KIND[m] == K_STDDEV:
            out[m] = sqrt(v1[m])
        elif _KIND[m] == K_SUM:
            out[m] = s1[m]
        else:
            out[m] = bval[m]
        if _KIND[m] == K_STDDEV or _KIND[m] == K_SUM:
            if not (fabs(s1[m]) <= DBL_MAX and fabs(v1[m]) <= DBL_MAX):
                fin = False
    return fin


cdef inline int _a_changed(const double *x, const double *y, int *idx) noexcept nogil:
    """The indices of the updated metrics (stddev and sum kinds) whose value
    differs bitwise between ``x`` and ``y`` or is large (|x| > 1e150, so
    that ``x * x`` might overflow) or not finite in ``x``.

    For the others htools' update adds exact zeros to finite running sums
    and variances: the result equals the value before the update but for the
    sign of a zero, which the weighted total (a left fold from +0.0, never
    -0.0) cannot see; so they are left out of the update."""
    cdef int m, c = 0
    for m in range(NV):
        if _KIND[m] == K_STDDEV or _KIND[m] == K_SUM:
            if not (fabs(x[m]) <= 1e150) or not _same_bits(x[m], y[m]):
                idx[c] = m
                c += 1
    return c


cdef inline bint _row_max(const double *row, bint offline, double *maxabs) noexcept nogil:
    """Fold the magnitudes of the row's values that count (an online
    node's spreads and sums, an offline node's offline sums) into
    ``maxabs``; True if one of them is huge or not finite."""
    cdef int m
    cdef double x
    for m in range(NV):
        if offline != (_KIND[m] == K_OFFSUM) or _KIND[m] == K_MAP:
            continue
        x = fabs(row[m])
        if not (x <= 1e150):
            return True
        if x > maxabs[m]:
            maxabs[m] = x
    return False


cdef inline bint _same_bits(double a, double b) noexcept nogil:
    cdef unsigned long long ua, ub
    memcpy(&ua, &a, 8)
    memcpy(&ub, &b, 8)
    return ua == ub


cdef inline double _a_score2(const double *s1, const double *v1,
                             const double *out1, const double *x,
                             const double *y, const int *chg, int cnt,
                             double n) noexcept nogil:
    """The score after the second update (x -> y) of the listed metrics,
    from the statistics ``s1``/``v1`` after the first one (``out1``: its
    metric values)."""
    cdef double out[NV]
    cdef double ds, dss, dnnvar, v, s
    cdef int t, m
    memcpy(out, out1, NV * sizeof(double))
    for t in range(cnt):
        m = chg[t]
        s = s1[m]
        ds = y[m] - x[m]
        if _KIND[m] == K_STDDEV:
            dss = y[m] * y[m] - x[m] * x[m]
            dnnvar = (n * dss - 2 * s * ds) - ds * ds
            v = v1[m] + dnnvar / (n * n)
            out[m] = sqrt(v if 0.0 <= v else 0.0)
        else:
            out[m] = s + ds
    return _weighted(out)


cdef inline double _a_delta2(const double *s1, const double *v1,
                             const double *out1, const double *x,
                             const double *y, const int *chg, int cnt,
                             double n, double *dabs) noexcept nogil:
    """What the second update (x -> y) of the listed metrics adds to the
    weighted total of ``out1``, each metric's new value computed as
    :func:`_a_score2` does; ``dabs``: the sum of the listed metrics'
    weighted magnitudes, old and new.  The total plus this differs from
    ``_a_score2``'s by rounding only: at most a few ulps of the weighted
    magnitudes (``1e-12`` of them bounds it)."""
    cdef double ds, dss, dnnvar, v, s, val, d = 0.0, a = 0.0
    cdef int t, m
    for t in range(cnt):
        m = chg[t]
        s = s1[m]
        ds = y[m] - x[m]
        if _KIND[m] == K_STDDEV:
            dss = y[m] * y[m] - x[m] * x[m]
            dnnvar = (n * dss - 2 * s * ds) - ds * ds
            v = v1[m] + dnnvar / (n * n)
            val = sqrt(v if 0.0 <= v else 0.0)
        else:
            val = s + ds
        d = d + _WEIGHTS[m] * (val - out1[m])
        a = a + fabs(_WEIGHTS[m]) * (fabs(val) + fabs(out1[m]))
    dabs[0] = a
    return d


cdef inline double _weighted_abs(const double *vals) noexcept nogil:
    cdef double total = 0.0
    cdef int m
    for m in range(NV):
        total = total + fabs(_WEIGHTS[m] * vals[m])
    return total


cdef class _SecCache:
    """Per secondary position: its placement with a zero peer-map entry
    (failure mode, -2 not computed yet), new row and changed metrics."""

    cdef int *fm
    cdef double *row
    cdef int *idx
    cdef int *cnt

    def __cinit__(self, Py_ssize_t n):
        cdef Py_ssize_t i, sz = n if n > 0 else 1
        self.fm = <int *>malloc(sz * sizeof(int))
        self.row = <double *>malloc(sz * NV * sizeof(double))
        self.idx = <int *>malloc(sz * NV * sizeof(int))
        self.cnt = <int *>malloc(sz * sizeof(int))
        if (self.fm == NULL or self.row == NULL or self.idx == NULL
                or self.cnt == NULL):
            raise MemoryError()
        for i in range(sz):
            self.fm[i] = -2

    def __dealloc__(self):
        free(self.fm)
        free(self.row)
        free(self.idx)
        free(self.cnt)


cdef class PairPlan:
    """An allocation target list in positions of one node list: for each
    primary (in order) its node index and position and its secondaries'
    positions.  Built once per (node list layout, target list)."""

    cdef Py_ssize_t np_
    cdef Py_ssize_t *p_pos
    cdef long long *p_idx
    cdef Py_ssize_t *s_off     # np_ + 1 offsets into s_pos
    cdef Py_ssize_t *s_pos
    cdef bint single

    def __cinit__(self, *args, **kwargs):
        self.p_pos = NULL
        self.p_idx = NULL
        self.s_off = NULL
        self.s_pos = NULL

    def __dealloc__(self):
        free(self.p_pos)
        free(self.p_idx)
        free(self.s_off)
        free(self.s_pos)

    def __init__(self, ClusterState cs, alloc_nodes):
        kind, targets = alloc_nodes
        cdef Py_ssize_t np_ = len(targets), tot = 0, i, j, k
        self.single = kind != "pair"
        if not self.single:
            for _p, ss in targets:
                tot += len(ss)
        self.np_ = np_
        self.p_pos = <Py_ssize_t *>malloc((np_ + 1) * sizeof(Py_ssize_t))
        self.p_idx = <long long *>malloc((np_ + 1) * sizeof(long long))
        self.s_off = <Py_ssize_t *>malloc((np_ + 1) * sizeof(Py_ssize_t))
        self.s_pos = <Py_ssize_t *>malloc((tot + 1) * sizeof(Py_ssize_t))
        if (self.p_pos == NULL or self.p_idx == NULL or self.s_off == NULL
                or self.s_pos == NULL):
            raise MemoryError()
        k = 0
        for i in range(np_):
            self.s_off[i] = k
            if self.single:
                p = targets[i]
            else:
                p, ss = targets[i]
                for s in ss:
                    self.s_pos[k] = cs._pos(s)
                    k += 1
            self.p_pos[i] = cs._pos(p)
            self.p_idx[i] = p
        self.s_off[np_] = k

    @property
    def is_single(self):
        return self.single

    def __len__(self):
        return self.np_


#: threads of the pair evaluation (set_alloc_threads); plans with fewer
#: candidates than PAR_MIN_CANDIDATES are evaluated on one
cdef int _alloc_threads = 1
cdef Py_ssize_t PAR_MIN_CANDIDATES = 4096


def set_alloc_threads(int n, Py_ssize_t min_candidates=4096):
    """The number of threads ``AllocState.evaluate`` uses for two-node
    targets with at least ``min_candidates`` candidates (results are the
    same for any number)."""
    global _alloc_threads, PAR_MIN_CANDIDATES
    if n < 1:
        raise ValueError("at least one thread")
    _alloc_threads = n
    PAR_MIN_CANDIDATES = min_candidates if min_candidates > 0 else 1


def alloc_threads():
    return _alloc_threads


#: the candidate buffers of the threaded pair evaluation, kept between
#: calls (fresh pages of a large buffer cost their faults every time);
#: one evaluation uses them at a time (checked and set under the GIL)
cdef double *_par_score = NULL
cdef long long *_par_loc = NULL
cdef unsigned char *_par_ok = NULL
cdef Py_ssize_t _par_cap = 0
cdef bint _par_busy = False


cdef void _par_grow(Py_ssize_t tot) noexcept:
    """Grow the kept buffers to ``tot`` candidates (unchanged on failure)."""
    global _par_score, _par_loc, _par_ok, _par_cap
    cdef double *a
    cdef long long *b
    cdef unsigned char *c
    if tot <= _par_cap:
        return
    a = <double *>malloc(tot * sizeof(double))
    b = <long long *>malloc(tot * sizeof(long long))
    c = <unsigned char *>malloc(tot)
    if a == NULL or b == NULL or c == NULL:
        free(a)
        free(b)
        free(c)
        return
    free(_par_score)
    free(_par_loc)
    free(_par_ok)
    _par_score = a
    _par_loc = b
    _par_ok = c
    _par_cap = tot


#: empty typed arrays: templates of the candidate sequences of evaluate
cdef carray.array _D_TEMPLATE = _pyarray.array("d")
cdef carray.array _Q_TEMPLATE = _pyarray.array("q")


cdef class AllocState(ClusterState):
    """:class:`ClusterState` plus the placement inputs of each node."""

    cdef NodeS *an
    cdef long long **pk        # per node: peer keys (node indices), sorted
    cdef long long **pv        # per node: peer values
    cdef Py_ssize_t *pl        # per node: number of peers
    cdef int **lt              # per node: interned location tags, sorted
    cdef int *ltl
    cdef dict _lt_ids
    cdef list _keys_list       # position -> key (None: keys are positions)
    # an evacuation in place (``evacuate``) undoes its placements: the
    # nodes before it, the rows of the nodes it touched (in ``u_pos``
    # order) and which ones those are
    cdef NodeS *u_an
    cdef double *u_rows
    cdef Py_ssize_t *u_pos
    cdef unsigned char *u_seen
    cdef Py_ssize_t u_n
    cdef bint u_on

    def __cinit__(self, *args, **kwargs):
        self.an = NULL
        self.pk = NULL
        self.pv = NULL
        self.pl = NULL
        self.lt = NULL
        self.ltl = NULL
        self.u_an = NULL
        self.u_rows = NULL
        self.u_pos = NULL
        self.u_seen = NULL
        self.u_n = 0
        self.u_on = False

    def __dealloc__(self):
        cdef Py_ssize_t i
        free(self.u_an)
        free(self.u_rows)
        free(self.u_pos)
        free(self.u_seen)
        if self.pk != NULL:
            for i in range(self.n):
                free(self.pk[i])
                free(self.pv[i])
                free(self.lt[i])
        free(self.an)
        free(self.pk)
        free(self.pv)
        free(self.pl)
        free(self.lt)
        free(self.ltl)

    def __init__(self, nodes, keys=None):
        nodes = list(nodes)
        ClusterState.__init__(self, nodes, keys)
        if self.sp_any:
            # the pool metric is not in the incremental evaluation below:
            # the model's path (ClusterState's exact pool metric) decides
            raise NotImplementedError("storage pools")
        self._keys_list = None if keys is None else list(keys)
        self._alloc_arrays()
        self._lt_ids = {}
        cdef Py_ssize_t i
        for i in range(self.n):
            self._load_node(i, nodes[i])

    cdef int _alloc_arrays(self, bint zero_nodes=True) except -1:
        """The per-node arrays, zeroed (the nodes' structs only if
        ``zero_nodes``: a copy overwrites them)."""
        cdef Py_ssize_t sz = self.n if self.n > 0 else 1
        if zero_nodes:
            self.an = <NodeS *>calloc(sz, sizeof(NodeS))
        else:
            self.an = <NodeS *>malloc(sz * sizeof(NodeS))
        self.pk = <long long **>calloc(sz, sizeof(long long *))
        self.pv = <long long **>calloc(sz, sizeof(long long *))
        self.pl = <Py_ssize_t *>calloc(sz, sizeof(Py_ssize_t))
        self.lt = <int **>calloc(sz, sizeof(int *))
        self.ltl = <int *>calloc(sz, sizeof(int))
        if (self.an == NULL or self.pk == NULL or self.pv == NULL
                or self.pl == NULL or self.lt == NULL or self.ltl == NULL):
            raise MemoryError()
        return 0

    cdef int _load_node(self, Py_ssize_t i, object node) except -1:
        from htools.model import hs_truncate
        cdef NodeS *a = self.an + i
        cdef Py_ssize_t k, m
        pack_node(a, node, hs_truncate)
        # peers, sorted by key
        peers = sorted(node.peers)
        free(self.pk[i])
        free(self.pv[i])
        self.pk[i] = NULL
        self.pv[i] = NULL
        m = len(peers)
        self.pl[i] = m
        if m:
            self.pk[i] = <long long *>malloc(m * sizeof(long long))
            self.pv[i] = <long long *>malloc(m * sizeof(long long))
            if self.pk[i] == NULL or self.pv[i] == NULL:
                raise MemoryError()
            for k in range(m):
                self.pk[i][k] = peers[k][0]
                self.pv[i][k] = peers[k][1]
        # location tags
        ids = sorted([self._lt_intern(t) for t in node.location_tags])
        free(self.lt[i])
        self.lt[i] = NULL
        self.ltl[i] = len(ids)
        if ids:
            self.lt[i] = <int *>malloc(len(ids) * sizeof(int))
            if self.lt[i] == NULL:
                raise MemoryError()
            for k in range(len(ids)):
                self.lt[i][k] = ids[k]
        return 0

    cdef int _lt_intern(self, object tag) except -1:
        got = self._lt_ids.get(tag)
        if got is None:
            got = self._lt_ids[tag] = len(self._lt_ids)
        return got

    cdef inline long long _pm_find(self, Py_ssize_t i, long long key) noexcept nogil:
        cdef Py_ssize_t lo = 0, hi = self.pl[i], mid
        cdef const long long *ks = self.pk[i]
        while lo < hi:
            mid = (lo + hi) >> 1
            if ks[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.pl[i] and ks[lo] == key:
            return self.pv[i][lo]
        return 0

    cdef inline long long _loc_common(self, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
        cdef const int *x
        cdef const int *y
        cdef int i = 0, j = 0, na = self.ltl[a], nb = self.ltl[b]
        cdef long long c = 0
        if na == 0 or nb == 0:
            return 0
        x = self.lt[a]
        y = self.lt[b]
        while i < na and j < nb:
            if x[i] == y[j]:
                c += 1
                i += 1
                j += 1
            elif x[i] < y[j]:
                i += 1
            else:
                j += 1
        return c

    # -- copies ------------------------------------------------------------
    def derive(self, changes):
        """A copy with the given ``(key, Node)`` changes applied (the nodes
        re-read from the model)."""
        cdef AllocState new = AllocState.__new__(AllocState)
        cdef Py_ssize_t n = self.n, sz = n if n > 0 else 1, i, m
        new.n = n
        new.vals = <double *>malloc(sz * NV * sizeof(double))
        new.on_rows = <double *>malloc(sz * NV * sizeof(double))
        new.off_rows = <double *>malloc(sz * NV * sizeof(double))
        new.offl = <unsigned char *>malloc(sz)
        new.onrank = <Py_ssize_t *>malloc(sz * sizeof(Py_ssize_t))
        new.offrank = <Py_ssize_t *>malloc(sz * sizeof(Py_ssize_t))
        new.kcap = self.kcap
        new.ktot = <long long *>malloc(self.kcap * sizeof(long long))
        new.kpres = <long long *>malloc(self.kcap * sizeof(long long))
        if (new.vals == NULL or new.on_rows == NULL or new.off_rows == NULL
                or new.offl == NULL or new.onrank == NULL
                or new.offrank == NULL or new.ktot == NULL
                or new.kpres == NULL):
            raise MemoryError()
        memcpy(new.vals, self.vals, sz * NV * sizeof(double))
        memcpy(new.on_rows, self.on_rows, sz * NV * sizeof(double))
        memcpy(new.off_rows, self.off_rows, sz * NV * sizeof(double))
        memcpy(new.offl, self.offl, sz)
        memcpy(new.onrank, self.onrank, sz * sizeof(Py_ssize_t))
        memcpy(new.offrank, self.offrank, sz * sizeof(Py_ssize_t))
        memcpy(new.ktot, self.ktot, self.kcap * sizeof(long long))
        memcpy(new.kpres, self.kpres, self.kcap * sizeof(long long))
        new.n_on = self.n_on
        new.n_off = self.n_off
        new.nkeys = self.nkeys
        new.map_sum = self.map_sum
        new.map_distinct = self.map_distinct
        new._key_ids = dict(self._key_ids)
        new._node_maps = list(self._node_maps)
        new._keymap = self._keymap
        new._keys_list = self._keys_list
        new.dirty = True
        new._alloc_arrays(False)
        new._lt_ids = dict(self._lt_ids)
        memcpy(new.an, self.an, sz * sizeof(NodeS))
        for i in range(n):
            m = self.pl[i]
            new.pl[i] = m
            if m:
                new.pk[i] = <long long *>malloc(m * sizeof(long long))
                new.pv[i] = <long long *>malloc(m * sizeof(long long))
                if new.pk[i] == NULL or new.pv[i] == NULL:
                    raise MemoryError()
                memcpy(new.pk[i], self.pk[i], m * sizeof(long long))
                memcpy(new.pv[i], self.pv[i], m * sizeof(long long))
            m = self.ltl[i]
            new.ltl[i] = <int>m
            if m:
                new.lt[i] = <int *>malloc(m * sizeof(int))
                if new.lt[i] == NULL:
                    raise MemoryError()
                memcpy(new.lt[i], self.lt[i], m * sizeof(int))
        items = changes.items() if isinstance(changes, dict) else changes
        for key, node in items:
            new.set_node(key, node)
            new._load_node(new._pos(key), node)
        return new

    # -- global N+1: one node's evacuation ------------------------------------
    cdef void _reload_row(self, Py_ssize_t p) noexcept:
        """Node ``p``'s metric row from its placement inputs (after an
        in-place placement of a tag-less instance; ``set_node``'s rows)."""
        cdef double row[NV]
        if self.u_on and not self.u_seen[p]:
            self.u_seen[p] = 1
            memcpy(self.u_rows + self.u_n * NV, self.vals + p * NV,
                   NV * sizeof(double))
            self.u_pos[self.u_n] = p
            self.u_n += 1
        _a_row(self.an + p, self.vals + p * NV, row)
        memcpy(self.vals + p * NV, row, NV * sizeof(double))
        if self.offl[p]:
            memcpy(self.off_rows + self.offrank[p] * NV, row, NV * sizeof(double))
        else:
            memcpy(self.on_rows + self.onrank[p] * NV, row, NV * sizeof(double))
        self.dirty = True

    cdef object _best_of(self, object res):
        """The key of the lowest score of an ``evaluate(collect=True)``
        answer, ties to the last evaluated; None if there is none."""
        cdef double cv, best_cv = 0.0
        best = None
        for cand in res:
            for cv in cand[2]:
                if best is None or not best_cv < cv:
                    best = cand[0]
                    best_cv = cv
        return best

    cdef int _pick(self, const InstS *I, const Py_ssize_t *tpos, const int *tpol,
                   Py_ssize_t nt, double *rows, double *approx,
                   Py_ssize_t *best, bint strict=False,
                   long long *fails=NULL) except -2:
        """The target (index into ``tpos``) where the placement of ``I``
        (forced unless ``strict``) gives the lowest score - htools'
        ``compCV`` of the whole state, two-pass -, ties to the last;
        ``best`` -1 if none fits.  A target with ``tpol`` >= 0 fails its
        policy.  Returns 0, or -1 where the answer is left to ``evaluate``
        (no online node, a huge or non-finite value).  ``fails``, if
        given, receives the failure counts by mode as ``evaluate`` counts
        them (complete only when 0 is returned).

        Each candidate is first scored by htools' one-node statistics
        update (O(1)); only those whose update score is within twice a
        bound on its distance from the two-pass score of the lowest are
        scored exactly (O(nodes) each): the others cannot be the lowest.
        The bound: per standard deviation ``sqrt((n + 10) * 1e-14 *
        max|x|^2)`` (the two computations of a variance differ by a few
        ulps of ``n * max|x|^2``; square roots differ by at most the root
        of that), per sum ``(n + 10)^2 * 1e-15 * max|x|``, weighted."""
        cdef double maxabs[NV]
        cdef double s1[NV]
        cdef double v1[NV]
        cdef double out[NV]
        cdef double sums[NV]
        cdef double var[NV]
        cdef double nn, x, bound = 0.0, lo = 0.0, cv, best_cv = 0.0
        cdef Py_ssize_t i, j, pp, total = self.n_on + self.n_off, c
        cdef int m, fm
        cdef bint have = False
        cdef NodeS wp
        cdef Ev ev[1]
        cdef double *row
        best[0] = -1
        if self.n_on <= 0:
            return -1
        self._ensure_base()
        nn = <double>self.n_on
        for m in range(NV):
            maxabs[m] = 0.0
        for j in range(self.n):
            if _row_max(self.vals + j * NV, self.offl[j], maxabs):
                return -1
        for i in range(nt):
            approx[i] = NAN          # does not fit
            if tpol[i] >= 0:
                if fails != NULL:
                    fails[tpol[i]] += 1
                continue
            pp = tpos[i]
            wp = self.an[pp]
            fm = add_pri(&wp, I, I.loc_score, strict, False)
            if fm >= 0:
                if fails != NULL:
                    fails[fm] += 1
                continue
            row = rows + i * NV
            _a_row(&wp, self.vals + pp * NV, row)
            if _row_max(row, self.offl[pp], maxabs):
                return -1
            if self.offl[pp]:
                ev[0].rank = self.offrank[pp]
                ev[0].action = A_REPLACE
                ev[0].row = row
                _aggregate(self.on_rows, self.n_on, NULL, 0, self.n_on,
                           self.off_rows, self.n_off, ev, 1, out, sums, var)
            else:
                memcpy(s1, self.b_sum, NV * sizeof(double))
                memcpy(v1, self.b_var, NV * sizeof(double))
                _a_update(s1, v1, self.vals + pp * NV, row, nn)
                _a_out(s1, v1, self.b_val, out)
            out[MAP_METRIC] = self.b_val[MAP_METRIC]
            cv = _weighted(out)
            if cv != cv:
                return -1
            approx[i] = cv
            if not have or cv < lo:
                lo = cv
                have = True
        if not have:
            return 0
        for m in range(NV):
            if _KIND[m] == K_STDDEV:
                bound += _WEIGHTS[m] * sqrt((total + 10) * 1e-14 * maxabs[m] * maxabs[m])
            elif _KIND[m] == K_SUM or _KIND[m] == K_OFFSUM:
                bound += _WEIGHTS[m] * (total + 10) * (total + 10) * 1e-15 * maxabs[m]
        bound += 1e-12 * fabs(lo)
        for i in range(nt):
            cv = approx[i]
            if cv != cv or cv > lo + 2.0 * bound:
                continue
            pp = tpos[i]
            ev[0].action = A_REPLACE
            ev[0].row = rows + i * NV
            if self.offl[pp]:
                ev[0].rank = self.offrank[pp]
                _aggregate(self.on_rows, self.n_on, NULL, 0, self.n_on,
                           self.off_rows, self.n_off, ev, 1, out, sums, var)
            else:
                ev[0].rank = self.onrank[pp]
                _aggregate(self.on_rows, self.n_on, ev, 1, self.n_on,
                           self.off_rows, self.n_off, NULL, 0, out, sums, var)
            out[MAP_METRIC] = self.b_val[MAP_METRIC]
            cv = _weighted(out)
            if cv != cv:
                return -1
            if best[0] < 0 or not best_cv < cv:
                best[0] = i
                best_cv = cv
        return 0

    cdef object _place_best(self, object inst, InstS *I, list keys,
                            Py_ssize_t *tpos, int *tpol, double *rows,
                            double *approx, object policy):
        """Place ``inst`` (packed in ``I``), forced, on its best target:
        True, False if none fits, None if the model must decide.  The
        target scores come from ``_pick`` or, where it declines, from
        ``evaluate``."""
        cdef Py_ssize_t b, p, nt = len(keys)
        cdef int fm
        if self._pick(I, tpos, tpol, nt, rows, approx, &b) == 0:
            if b < 0:
                return False
            p = tpos[b]
        else:
            res = self.evaluate(inst, PairPlan(self, ("single", keys)), policy,
                                True, True, True)
            if res is None:
                return None
            best = self._best_of(res)
            if best is None:
                return False
            p = self._pos(best)
        fm = add_pri(self.an + p, I, I.loc_score, False, False)
        if fm >= 0:             # the candidate fitted a moment ago
            return None
        self._reload_row(p)
        return True

    cdef int _undo_begin(self) except -1:
        """Start an evacuation in place: keep the nodes and log the rows
        ``_reload_row`` replaces."""
        cdef Py_ssize_t sz = self.n if self.n > 0 else 1
        if self.u_an == NULL:
            self.u_an = <NodeS *>malloc(sz * sizeof(NodeS))
            self.u_rows = <double *>malloc(sz * NV * sizeof(double))
            self.u_pos = <Py_ssize_t *>malloc(sz * sizeof(Py_ssize_t))
            self.u_seen = <unsigned char *>calloc(sz, 1)
            if (self.u_an == NULL or self.u_rows == NULL or self.u_pos == NULL
                    or self.u_seen == NULL):
                free(self.u_an)
                free(self.u_rows)
                free(self.u_pos)
                free(self.u_seen)
                self.u_an = NULL
                self.u_rows = NULL
                self.u_pos = NULL
                self.u_seen = NULL
                raise MemoryError()
        memcpy(self.u_an, self.an, sz * sizeof(NodeS))
        self.u_n = 0
        self.u_on = True
        return 0

    cdef void _undo_end(self) noexcept:
        """Put back the nodes and rows as ``_undo_begin`` found them."""
        cdef Py_ssize_t k, p, sz = self.n if self.n > 0 else 1
        cdef double *row
        for k in range(self.u_n):
            p = self.u_pos[k]
            row = self.u_rows + k * NV
            memcpy(self.vals + p * NV, row, NV * sizeof(double))
            if self.offl[p]:
                memcpy(self.off_rows + self.offrank[p] * NV, row, NV * sizeof(double))
            else:
                memcpy(self.on_rows + self.onrank[p] * NV, row, NV * sizeof(double))
            self.u_seen[p] = 0
        memcpy(self.an, self.u_an, sz * sizeof(NodeS))
        self.u_n = 0
        self.u_on = False

    def evacuate(self, shared, shared_targets, recreate, recreate_targets,
                 recreate_policies):
        """Steps 2 and 3 of htools' ``canEvacuateNode`` on a copy of this
        state (which must hold exactly the nodes those steps score over).

        ``shared``: the movable primaries, in order; each leaves its
        primary and goes, forced, to the key of ``shared_targets`` whose
        score is lowest (ties: the last evaluated), as ``applyMove
        FailoverToAny`` does.  ``recreate``: the non-movable ones (already
        in htools' order); each is placed again, forced, on the best key
        of ``recreate_targets`` that its policy check (one entry of
        ``recreate_policies`` per target, as ``evaluate`` takes) allows.
        Every instance must be tag-less and not forthcoming.

        Returns 0 if all went, 1 if a movable one found no node, ``2 + i``
        if re-creation ``i`` found none, or None if a score is NaN (the
        model's path decides then).

        The state is changed in place and put back at the end (the nodes,
        their rows and the cached statistics); a nested call works on a
        copy."""
        cdef AllocState w
        cdef bint inplace = not self.u_on
        cdef bint was_dirty = self.dirty
        cdef double keep_val[NV]
        cdef double keep_sum[NV]
        cdef double keep_var[NV]
        cdef InstS I
        cdef Py_ssize_t p, i, nt = max(len(shared_targets), len(recreate_targets), 1)
        cdef Py_ssize_t *tpos = <Py_ssize_t *>malloc(nt * sizeof(Py_ssize_t))
        cdef int *tpol = <int *>malloc(nt * sizeof(int))
        cdef double *rows = <double *>malloc(nt * NV * sizeof(double))
        cdef double *approx = <double *>malloc(nt * sizeof(double))
        if tpos == NULL or tpol == NULL or rows == NULL or approx == NULL:
            free(tpos)
            free(tpol)
            free(rows)
            free(approx)
            raise MemoryError()
        if inplace:
            memcpy(keep_val, self.b_val, NV * sizeof(double))
            memcpy(keep_sum, self.b_sum, NV * sizeof(double))
            memcpy(keep_var, self.b_var, NV * sizeof(double))
            try:
                self._undo_begin()
            except MemoryError:
                free(tpos)
                free(tpol)
                free(rows)
                free(approx)
                raise
            w = self
        else:
            w = self.derive(())
        try:
            if shared:
                keys = list(shared_targets)
                for i in range(len(keys)):
                    tpos[i] = w._pos(keys[i])
                    tpol[i] = -1
                policy = [-1] * len(keys)
                for inst in shared:
                    w._inst(inst, &I)
                    p = w._pos(inst.pnode)
                    remove_pri(w.an + p, &I, I.loc_score)
                    w._reload_row(p)
                    ok = w._place_best(inst, &I, keys, tpos, tpol, rows, approx,
                                       policy)
                    if ok is None:
                        return None
                    if not ok:
                        return 1
            if recreate:
                keys = list(recreate_targets)
                for i in range(len(keys)):
                    tpos[i] = w._pos(keys[i])
                for j, inst in enumerate(recreate):
                    policy = recreate_policies[j]
                    if len(policy) != len(keys):
                        raise ValueError("one policy result per target expected")
                    for i in range(len(keys)):
                        tpol[i] = policy[i]
                    w._inst(inst, &I)
                    ok = w._place_best(inst, &I, keys, tpos, tpol, rows, approx,
                                       policy)
                    if ok is None:
                        return None
                    if not ok:
                        return 2 + j
            return 0
        finally:
            free(tpos)
            free(tpol)
            free(rows)
            free(approx)
            if inplace:
                self._undo_end()
                memcpy(self.b_val, keep_val, NV * sizeof(double))
                memcpy(self.b_sum, keep_sum, NV * sizeof(double))
                memcpy(self.b_var, keep_var, NV * sizeof(double))
                self.dirty = was_dirty

    # -- evaluation ----------------------------------------------------------
    cdef int _inst(self, object inst, InstS *I) except -1:
        return pack_instance(I, inst)

    def evaluate(self, inst, PairPlan plan, policy, bint force,
                 bint collect=False, bint offline=False, bint heads=False):
        """Evaluate every target of ``plan`` for the new instance ``inst``.

        ``policy``: per primary of the plan (in order), the policy failure
        mode or -1.  Returns None if a score is NaN.  Otherwise, with
        ``collect`` false: ``(fails, allocs, best)`` where ``fails`` lists
        the failure counts by mode and ``best`` is None or ``(score, pdx,
        sdx, loc)`` (``sdx`` -1 for one-node targets).  With ``collect``:
        per primary ``(pdx, fails, scores, sdxs, locs)``, three parallel
        sequences of its candidates in evaluation order (typed arrays of
        doubles and 64-bit integers; the node keys a list where they are
        not integers).  ``offline``: one-node targets may be offline (their
        instances count in the offline metrics); otherwise an offline
        target is a ValueError.  ``heads`` (with ``collect``, two-node
        targets): per primary ``(pdx, fails, count, score, sdx, loc)``, its
        number of candidates and the first of them in htools' sorted order
        (the lowest score, the last evaluated on ties), or None for those
        three without candidates."""
        cdef InstS I
        cdef double base_s[NV]
        cdef double base_var[NV]
        cdef double nn
        cdef long long fails[NFAIL]
        cdef long long pfails[NFAIL]
        cdef Py_ssize_t i
        cdef int m
        cdef bint strict = not force
        cdef _SecCache sc = _SecCache(self.n)
        cdef Py_ssize_t cmax = 1, nc
        cdef double *b_score = NULL
        cdef long long *b_sec = NULL
        cdef long long *b_loc = NULL
        cdef bint int_keys = True
        cdef long long *kpos = NULL
        heads = heads and collect and not plan.single
        self._inst(inst, &I)
        if len(policy) != plan.np_:
            raise ValueError("one policy result per primary expected")
        for m in range(NFAIL):
            fails[m] = 0
        self._ensure_base()
        nn = <double>self.n_on
        memcpy(base_s, self.b_sum, NV * sizeof(double))
        memcpy(base_var, self.b_var, NV * sizeof(double))
        for m in range(NV):
            if _KIND[m] == K_OFFSUM:
                base_s[m] = self.b_val[m]
        res = [] if collect else None
        if collect:
            for i in range(plan.np_):
                if plan.s_off[i + 1] - plan.s_off[i] > cmax:
                    cmax = plan.s_off[i + 1] - plan.s_off[i]
            if self._keys_list is not None:
                for key in self._keys_list:
                    if type(key) is not int:
                        int_keys = False
                        break
            if int_keys:
                kpos = <long long *>malloc((self.n if self.n > 0 else 1) * sizeof(long long))
                if kpos == NULL:
                    raise MemoryError()
                for i in range(self.n):
                    kpos[i] = self._keyof(i)
            b_score = <double *>malloc(cmax * sizeof(double))
            b_sec = <long long *>malloc(cmax * sizeof(long long))
            b_loc = <long long *>malloc(cmax * sizeof(long long))
        if (not plan.single and _alloc_threads > 1
                and plan.s_off[plan.np_] >= PAR_MIN_CANDIDATES):
            free(b_score)
            free(b_sec)
            free(b_loc)
            b_score = NULL
            b_sec = NULL
            b_loc = NULL
            try:
                return self._evaluate_pairs_par(&I, plan, policy, strict, collect,
                                                fails, base_s, base_var, nn, kpos,
                                                _alloc_threads, heads)
            finally:
                free(kpos)
        try:
            if collect and (b_score == NULL or b_sec == NULL or b_loc == NULL):
                raise MemoryError()
            return self._evaluate_loop(&I, plan, policy, strict, collect, offline,
                                       res, fails, pfails, base_s, base_var, nn, sc,
                                       b_score, b_sec, b_loc, kpos, heads)
        finally:
            free(b_score)
            free(b_sec)
            free(b_loc)
            free(kpos)

    cdef void _eval_primary(self, const InstS *I, PairPlan plan, Py_ssize_t i,
                            int pol, bint strict, const double *base_s,
                            const double *base_var, double nn, _SecCache sc,
                            const int *all_idx, int n_all, long long *pf,
                            double *c_score, long long *c_loc,
                            unsigned char *c_ok, unsigned char *ev_kind) noexcept nogil:
        """The candidates of primary ``i`` of a two-node plan, as the
        serial loop of :meth:`_evaluate_loop` evaluates them: failure counts
        into ``pf`` (NFAIL entries), per candidate ``j`` its score and
        location score and whether it fits (``c_ok``); the first NaN score
        (kind 1) or offline secondary (kind 2) stops the primary and is
        recorded in ``ev_kind``.  ``sc`` must hold every online node."""
        cdef NodeS wp, ws
        cdef double s1[NV]
        cdef double v1[NV]
        cdef double rp[NV]
        cdef double rs[NV]
        cdef double out1[NV]
        cdef int chg_tmp[NV]
        cdef const int *chg = NULL
        cdef const double *row = NULL
        cdef double score
        cdef long long loc, cur_loc = -1, peem
        cdef Py_ssize_t j, sp, pp = plan.p_pos[i]
        cdef int fm = 0, k, cnt = 0
        cdef bint have_p = False, all_fin = True
        ev_kind[i] = 0
        for j in range(plan.s_off[i], plan.s_off[i + 1]):
            c_ok[j] = 0
        if pol >= 0:
            pf[pol] += plan.s_off[i + 1] - plan.s_off[i]
            return
        for j in range(plan.s_off[i], plan.s_off[i + 1]):
            sp = plan.s_pos[j]
            loc = self._loc_common(pp, sp)
            if not have_p or loc != cur_loc:
                wp = self.an[pp]
                fm = add_pri(&wp, I, loc, strict, False)
                cur_loc = loc
                have_p = True
                if fm < 0:
                    _a_row(&wp, self.vals + pp * NV, rp)
                    memcpy(s1, base_s, NV * sizeof(double))
                    memcpy(v1, base_var, NV * sizeof(double))
                    _a_update(s1, v1, self.vals + pp * NV, rp, nn)
                    all_fin = _a_out(s1, v1, self.b_val, out1)
            if fm >= 0:
                pf[fm] += 1
                continue
            if self.offl[sp]:
                ev_kind[i] = 2
                return
            peem = self._pm_find(sp, plan.p_idx[i])
            if peem == 0:
                k = sc.fm[sp]
                row = sc.row + sp * NV
                chg = sc.idx + sp * NV
                cnt = sc.cnt[sp]
            else:
                ws = self.an[sp]
                k = add_sec(&ws, I, peem, True, False)
                if k < 0:
                    _a_row(&ws, self.vals + sp * NV, rs)
                    row = rs
                    chg = chg_tmp
                    cnt = _a_changed(self.vals + sp * NV, rs, chg_tmp)
            if k >= 0:
                pf[k] += 1
                continue
            if not all_fin:
                chg = all_idx
                cnt = n_all
            score = _a_score2(s1, v1, out1, self.vals + sp * NV, row, chg, cnt, nn)
            if score != score:
                ev_kind[i] = 1
                return
            c_ok[j] = 1
            c_score[j] = score
            c_loc[j] = loc

    cdef object _evaluate_pairs_par(self, InstS *Ip, PairPlan plan, object policy,
                                    bint strict, bint collect, long long *fails,
                                    double *base_s, double *base_var, double nn,
                                    const long long *kpos, int nt, bint heads):
        """:meth:`evaluate` of a two-node plan on ``nt`` threads: the
        primaries' candidates are evaluated independently (the secondaries'
        common placements computed first), then read in the serial loop's
        order, so the answer - scores, ties to the last evaluated, failure
        counts, the NaN or offline-target outcome that comes first - is the
        serial loop's."""
        cdef InstS I = Ip[0]
        cdef Py_ssize_t np_ = plan.np_, tot = plan.s_off[plan.np_], i, j, sp, nc
        cdef _SecCache sc = _SecCache(self.n)
        cdef NodeS ws
        cdef int m, n_all = 0
        cdef int all_idx[NV]
        cdef int *tpol = <int *>malloc((np_ if np_ > 0 else 1) * sizeof(int))
        cdef long long *pf = <long long *>calloc((np_ if np_ > 0 else 1) * NFAIL,
                                                 sizeof(long long))
        cdef double *c_score = NULL
        cdef long long *c_loc = NULL
        cdef unsigned char *c_ok = NULL
        cdef bint own = _par_busy or tot > _par_cap
        cdef unsigned char *ev_kind = <unsigned char *>malloc(np_ if np_ > 0 else 1)
        cdef long long allocs = 0, best_loc = 0
        cdef Py_ssize_t best_p = -1, best_s = -1
        cdef double best_score = 0.0
        cdef carray.array a_score, a_sec, a_loc
        global _par_busy
        if own and not _par_busy:
            _par_grow(tot)
            own = tot > _par_cap
        if own:     # in use (another thread's evaluation) or not grown
            c_score = <double *>malloc((tot if tot > 0 else 1) * sizeof(double))
            c_loc = <long long *>malloc((tot if tot > 0 else 1) * sizeof(long long))
            c_ok = <unsigned char *>malloc(tot if tot > 0 else 1)
        else:
            _par_busy = True
            c_score = _par_score
            c_loc = _par_loc
            c_ok = _par_ok
        try:
            if (tpol == NULL or pf == NULL or c_score == NULL or c_loc == NULL
                    or c_ok == NULL or ev_kind == NULL):
                raise MemoryError()
            for m in range(NV):
                if _KIND[m] == K_STDDEV or _KIND[m] == K_SUM:
                    all_idx[n_all] = m
                    n_all += 1
            for i in range(np_):
                tpol[i] = policy[i]
            for sp in range(self.n):
                if not self.offl[sp]:
                    ws = self.an[sp]
                    sc.fm[sp] = add_sec(&ws, &I, 0, True, False)
                    if sc.fm[sp] < 0:
                        _a_row(&ws, self.vals + sp * NV, sc.row + sp * NV)
                        sc.cnt[sp] = _a_changed(self.vals + sp * NV,
                                                sc.row + sp * NV, sc.idx + sp * NV)
            for i in prange(np_, nogil=True, num_threads=nt, schedule="dynamic",
                            chunksize=8):
                self._eval_primary(&I, plan, i, tpol[i], strict, base_s, base_var,
                                   nn, sc, all_idx, n_all, pf + i * NFAIL, c_score,
                                   c_loc, c_ok, ev_kind)
            res = [] if collect else None
            for i in range(np_):
                if self.offl[plan.p_pos[i]]:
                    raise ValueError("offline allocation target")
                if ev_kind[i] == 1:
                    return None
                if ev_kind[i] == 2:
                    raise ValueError("offline allocation target")
                for m in range(NFAIL):
                    fails[m] += pf[i * NFAIL + m]
                if heads:
                    nc = 0
                    for j in range(plan.s_off[i], plan.s_off[i + 1]):
                        if c_ok[j] and (nc == 0 or c_score[j] <= best_score):
                            best_score = c_score[j]
                            best_s = plan.s_pos[j]
                            best_loc = c_loc[j]
                        nc += c_ok[j]
                    if nc:
                        res.append((plan.p_idx[i], [pf[i * NFAIL + m] for m in range(NFAIL)],
                                    nc, best_score, self._keyof(best_s), best_loc))
                    else:
                        res.append((plan.p_idx[i], [pf[i * NFAIL + m] for m in range(NFAIL)],
                                    0, None, None, None))
                elif collect:
                    nc = 0
                    for j in range(plan.s_off[i], plan.s_off[i + 1]):
                        nc += c_ok[j]
                    a_score = carray.clone(_D_TEMPLATE, nc, False)
                    a_loc = carray.clone(_Q_TEMPLATE, nc, False)
                    secs = None
                    if kpos != NULL:
                        a_sec = carray.clone(_Q_TEMPLATE, nc, False)
                        secs = a_sec
                    else:
                        secs = []
                    nc = 0
                    for j in range(plan.s_off[i], plan.s_off[i + 1]):
                        if c_ok[j]:
                            a_score.data.as_doubles[nc] = c_score[j]
                            a_loc.data.as_longlongs[nc] = c_loc[j]
                            if kpos != NULL:
                                a_sec.data.as_longlongs[nc] = kpos[plan.s_pos[j]]
                            else:
                                secs.append(self._keyof(plan.s_pos[j]))
                            nc += 1
                    res.append((plan.p_idx[i], [pf[i * NFAIL + m] for m in range(NFAIL)],
                                a_score, secs, a_loc))
                else:
                    for j in range(plan.s_off[i], plan.s_off[i + 1]):
                        if c_ok[j]:
                            allocs += 1
                            if best_p < 0 or c_score[j] <= best_score:
                                best_score = c_score[j]
                                best_p = i
                                best_s = plan.s_pos[j]
                                best_loc = c_loc[j]
            if collect:
                return res
            best = None
            if best_p >= 0:
                best = (best_score, plan.p_idx[best_p], self._keyof(best_s), best_loc)
            return ([fails[m] for m in range(NFAIL)], allocs, best)
        finally:
            free(tpol)
            free(pf)
            if own:
                free(c_score)
                free(c_loc)
                free(c_ok)
            else:
                _par_busy = False
            free(ev_kind)

    cdef object _evaluate_loop(self, InstS *Ip, PairPlan plan, object policy,
                               bint strict, bint collect, bint offline, list res,
                               long long *fails, long long *pfails,
                               double *base_s, double *base_var, double nn,
                               _SecCache sc, double *b_score, long long *b_sec,
                               long long *b_loc, const long long *kpos, bint heads):
        """The candidate loop of :meth:`evaluate` (see there)."""
        cdef long long h_n = 0, h_loc = 0
        cdef double h_score = 0.0, tot1 = 0.0, a1 = 0.0, ap, dabs = 0.0
        cdef Py_ssize_t h_sp = -1
        cdef InstS I = Ip[0]
        cdef NodeS wp, ws
        cdef double s1[NV]
        cdef double v1[NV]
        cdef double out[NV]
        cdef double rp[NV]
        cdef double rs[NV]
        cdef double score, best_score = 0.0
        cdef long long allocs = 0, loc, cur_loc, best_loc = 0
        cdef Py_ssize_t i, j, k, pp, sp, best_p = -1, best_s = -1, nc = 0
        cdef int fm, m, pol
        cdef bint have_p
        cdef Ev ev[1]
        cdef double sums[NV]
        cdef double var[NV]
        cdef double out1[NV]
        cdef int chg_tmp[NV]
        cdef int all_idx[NV]
        cdef int n_all = 0, cnt = 0
        cdef const int *chg = NULL
        cdef const double *row = NULL
        cdef long long peem
        cdef bint all_fin = True
        cdef carray.array a_score, a_sec, a_loc
        for m in range(NV):
            if _KIND[m] == K_STDDEV or _KIND[m] == K_SUM:
                all_idx[n_all] = m
                n_all += 1
        for i in range(plan.np_):
            pp = plan.p_pos[i]
            if self.offl[pp] and not (offline and plan.single):
                raise ValueError("offline allocation target")
            for m in range(NFAIL):
                pfails[m] = 0
            nc = 0
            h_n = 0
            pol = policy[i]
            if plan.single:
                if pol >= 0:
                    pfails[pol] += 1
                else:
                    wp = self.an[pp]
                    fm = add_pri(&wp, &I, I.loc_score, strict, False)
                    if fm >= 0:
                        pfails[fm] += 1
                    else:
                        _a_row(&wp, self.vals + pp * NV, rp)
                        ev[0].action = A_REPLACE
                        ev[0].row = rp
                        if self.offl[pp]:
                            ev[0].rank = self.offrank[pp]
                            _aggregate(self.on_rows, self.n_on, NULL, 0, self.n_on,
                                       self.off_rows, self.n_off, ev, 1,
                                       out, sums, var)
                        else:
                            ev[0].rank = self.onrank[pp]
                            _aggregate(self.on_rows, self.n_on, ev, 1, self.n_on,
                                       self.off_rows, self.n_off, NULL, 0,
                                       out, sums, var)
                        out[MAP_METRIC] = self.b_val[MAP_METRIC]
                        score = _weighted(out)
                        if score != score:
                            return None
                        allocs += 1
                        if collect:
                            b_score[nc] = score
                            b_sec[nc] = -1
                            b_loc[nc] = 0
                            nc += 1
                        elif best_p < 0 or score <= best_score:
                            best_score = score
                            best_p = i
                            best_s = -1
                            best_loc = 0
            elif pol >= 0:
                pfails[pol] += plan.s_off[i + 1] - plan.s_off[i]
            else:
                have_p = False
                cur_loc = -1
                for j in range(plan.s_off[i], plan.s_off[i + 1]):
                    sp = plan.s_pos[j]
                    loc = self._loc_common(pp, sp)
                    if not have_p or loc != cur_loc:
                        # the primary's part depends on the secondary only
                        # through the location score
                        wp = self.an[pp]
                        fm = add_pri(&wp, &I, loc, strict, False)
                        cur_loc = loc
                        have_p = True
                        if fm < 0:
                            _a_row(&wp, self.vals + pp * NV, rp)
                            memcpy(s1, base_s, NV * sizeof(double))
                            memcpy(v1, base_var, NV * sizeof(double))
                            _a_update(s1, v1, self.vals + pp * NV, rp, nn)
                            all_fin = _a_out(s1, v1, self.b_val, out1)
                            tot1 = _weighted(out1)
                            a1 = _weighted_abs(out1)
                    if fm >= 0:
                        pfails[fm] += 1
                        continue
                    if self.offl[sp]:
                        raise ValueError("offline allocation target")
                    # htools' allocateOnPair: addPriEx force, but a strict
                    # addSec whatever the options
                    peem = self._pm_find(sp, plan.p_idx[i])
                    if peem == 0:
                        # the common case, shared by all primaries
                        if sc.fm[sp] == -2:
                            ws = self.an[sp]
                            sc.fm[sp] = add_sec(&ws, &I, 0, True, False)
                            if sc.fm[sp] < 0:
                                _a_row(&ws, self.vals + sp * NV, sc.row + sp * NV)
                                sc.cnt[sp] = _a_changed(self.vals + sp * NV,
                                                        sc.row + sp * NV,
                                                        sc.idx + sp * NV)
                        k = sc.fm[sp]
                        row = sc.row + sp * NV
                        chg = sc.idx + sp * NV
                        cnt = sc.cnt[sp]
                    else:
                        ws = self.an[sp]
                        k = add_sec(&ws, &I, peem, True, False)
                        if k < 0:
                            _a_row(&ws, self.vals + sp * NV, rs)
                            row = rs
                            chg = chg_tmp
                            cnt = _a_changed(self.vals + sp * NV, rs, chg_tmp)
                    if k >= 0:
                        pfails[k] += 1
                        continue
                    if not all_fin:
                        chg = all_idx
                        cnt = n_all
                    if heads and h_n > 0:
                        # a candidate certainly above the first one so far
                        # is counted without its exact score
                        ap = tot1 + _a_delta2(s1, v1, out1, self.vals + sp * NV,
                                              row, chg, cnt, nn, &dabs)
                        if ap > h_score + 1e-12 * (a1 + dabs):
                            allocs += 1
                            h_n += 1
                            continue
                    score = _a_score2(s1, v1, out1, self.vals + sp * NV, row,
                                      chg, cnt, nn)
                    if score != score:
                        return None
                    allocs += 1
                    if heads:
                        if h_n == 0 or score <= h_score:
                            h_score = score
                            h_sp = sp
                            h_loc = loc
                        h_n += 1
                    elif collect:
                        b_score[nc] = score
                        b_sec[nc] = sp
                        b_loc[nc] = loc
                        nc += 1
                    elif best_p < 0 or score <= best_score:
                        best_score = score
                        best_p = i
                        best_s = sp
                        best_loc = loc
            for m in range(NFAIL):
                fails[m] += pfails[m]
            if heads:
                if h_n:
                    res.append((plan.p_idx[i], [pfails[m] for m in range(NFAIL)],
                                h_n, h_score, self._keyof(h_sp), h_loc))
                else:
                    res.append((plan.p_idx[i], [pfails[m] for m in range(NFAIL)],
                                0, None, None, None))
            elif collect:
                a_score = carray.clone(_D_TEMPLATE, nc, False)
                if nc:
                    memcpy(a_score.data.as_doubles, b_score, nc * sizeof(double))
                a_loc = carray.clone(_Q_TEMPLATE, nc, False)
                if nc:
                    memcpy(a_loc.data.as_longlongs, b_loc, nc * sizeof(long long))
                if kpos != NULL:
                    a_sec = carray.clone(_Q_TEMPLATE, nc, False)
                    for j in range(nc):
                        a_sec.data.as_longlongs[j] = -1 if b_sec[j] < 0 else kpos[b_sec[j]]
                    res.append((plan.p_idx[i], [pfails[m] for m in range(NFAIL)],
                                a_score, a_sec, a_loc))
                else:
                    res.append((plan.p_idx[i], [pfails[m] for m in range(NFAIL)],
                                a_score, [-1 if b_sec[j] < 0 else self._keyof(b_sec[j])
                                          for j in range(nc)], a_loc))
        if collect:
            return res
        best = None
        if best_p >= 0:
            best = (best_score, plan.p_idx[best_p],
                    -1 if best_s < 0 else self._keyof(best_s), best_loc)
        return ([fails[m] for m in range(NFAIL)], allocs, best)

    def iterate_single(self, inst, PairPlan plan, policy, bint force, limit):
        """hspace's small-step allocation loop without capacity checks, on
        one-node targets: the best placement of ``inst`` as ``evaluate``
        picks it, applied to a copy of this state, again and again until
        none fits or ``limit`` placements are made (None: no limit).

        Every copy of ``inst`` the loop places packs like ``inst`` (they
        differ in name and index only).  Returns ``(keys, fails, state)``:
        the chosen primary of each placement in order, the failure counts
        of the last evaluation and the state after the placements (the
        copy they were made on); or None if a score is NaN (the model's
        loop decides then)."""
        cdef AllocState w
        cdef InstS I
        cdef Py_ssize_t p, b, i, nt = plan.np_
        cdef int fm, m, r
        cdef long long cfails[NFAIL]
        cdef Py_ssize_t *tpos
        cdef int *tpol
        cdef double *rows
        cdef double *approx
        if not plan.single:
            raise ValueError("one-node targets expected")
        if limit is not None and limit < 0:
            raise ValueError("negative limit")
        if len(policy) != nt:
            raise ValueError("one policy result per primary expected")
        for i in range(nt):
            if self.offl[plan.p_pos[i]]:
                raise ValueError("offline allocation target")
        w = self.derive(())
        self._inst(inst, &I)
        chosen = []
        tpos = <Py_ssize_t *>malloc((nt if nt > 0 else 1) * sizeof(Py_ssize_t))
        tpol = <int *>malloc((nt if nt > 0 else 1) * sizeof(int))
        rows = <double *>malloc((nt if nt > 0 else 1) * NV * sizeof(double))
        approx = <double *>malloc((nt if nt > 0 else 1) * sizeof(double))
        try:
            if tpos == NULL or tpol == NULL or rows == NULL or approx == NULL:
                raise MemoryError()
            for i in range(nt):
                tpos[i] = plan.p_pos[i]
                tpol[i] = policy[i]
            while True:
                # the candidates screened by the one-node update, as in the
                # global N+1 evacuation; evaluate where that declines
                for m in range(NFAIL):
                    cfails[m] = 0
                r = w._pick(&I, tpos, tpol, nt, rows, approx, &b, not force, cfails)
                if r == 0:
                    fails = [cfails[m] for m in range(NFAIL)]
                    if b < 0:
                        return chosen, fails, w
                    key = plan.p_idx[b]
                else:
                    res = w.evaluate(inst, plan, policy, force)
                    if res is None:
                        return None
                    fails, _allocs, best = res
                    if best is None:
                        return chosen, fails, w
                    key = best[1]
                if limit is not None and limit == 0:
                    return chosen, fails, w
                p = w._pos(key)
                fm = add_pri(w.an + p, &I, I.loc_score, not force, False)
                if fm >= 0:         # it fitted a moment ago
                    return None
                w._reload_row(p)
                chosen.append(key)
                if limit is not None:
                    limit -= 1
        finally:
            free(tpos)
            free(tpol)
            free(rows)
            free(approx)

    # -- evacuation of a DRBD instance to another group: (primary, secondary) --
    cdef long long _pm_max_excl(self, Py_ssize_t i, long long key) noexcept nogil:
        """The peer map's maximum without ``key``'s entry (0 if empty)."""
        cdef Py_ssize_t k
        cdef long long m = 0
        cdef bint have = False
        for k in range(self.pl[i]):
            if self.pk[i][k] != key and (not have or self.pv[i][k] > m):
                m = self.pv[i][k]
                have = True
        return m

    def evac_pair_best(self, inst, primaries, secondaries, long long old_pkey,
                       bint strict_rsec, bint strict_fo):
        """The (primary, secondary) keys that ``nodeEvacInstance ChangeAll``
        picks for the DRBD instance ``inst`` (tag-less, not forthcoming, its
        primary ``old_pkey`` and its secondary outside this state) among
        ``primaries`` (``(key, location score)`` in order: those whose
        primary-side checks passed) and ``secondaries`` (keys, in order).

        Per primary p the moves ``r:p`` and ``f`` are replayed on p's node:
        the instance joins it as secondary (strict if ``strict_rsec``; its
        peer-map entry of ``old_pkey`` grows), leaves it again and joins it
        as primary (strict if ``strict_fo``, gaining the location score); a
        failure drops p.  Then, for each other key s, ``r:s``: the instance
        leaves p and joins it again, forced; it joins s as secondary (strict
        if ``strict_fo``; s's peer-map entry of p read from this state).
        The candidate's score is htools' two-pass ``compCV`` of this state
        (which must hold exactly the nodes scored) with p and s replaced;
        the lowest wins, ties to the last evaluated.

        Returns the pair, False if no candidate fits, or None where the
        model must decide (a NaN score, a huge or non-finite value, an
        offline candidate, no online node).

        Every candidate is first scored by htools' statistics update of two
        nodes (O(1)); only those within twice a bound on its distance from
        the two-pass score of the lowest are scored exactly (O(nodes) each):
        the others cannot be the lowest.  The bound is :meth:`_pick`'s for
        each of the two updates."""
        cdef InstS I
        cdef NodeS wp, ws
        cdef Py_ssize_t np_ = len(primaries), ns = len(secondaries)
        cdef Py_ssize_t i, j, pp, sp, total = self.n_on + self.n_off
        cdef Py_ssize_t best_i = -1, best_j = -1
        cdef double maxabs[NV]
        cdef double s1[NV]
        cdef double v1[NV]
        cdef double out1[NV]
        cdef double out[NV]
        cdef double sums[NV]
        cdef double var[NV]
        cdef double rp[NV]
        cdef double rs[NV]
        cdef int all_idx[NV]
        cdef int n_all = 0, m, fmp = 0, fms
        cdef long long loc, cur_loc, peem
        cdef double nn, cv, lo = 0.0, bound = 0.0, best_cv = 0.0
        cdef bint have = False
        cdef Ev ev[2]
        cdef NodeS *pn = NULL
        cdef Py_ssize_t *ppos = NULL
        cdef Py_ssize_t *spos = NULL
        cdef long long *pkey = NULL
        cdef double *approx = NULL
        cdef unsigned char *pok = NULL
        cdef long long sec_mem
        cdef const double *srow = NULL
        cdef const int *chg = NULL
        cdef int chg_tmp[NV]
        cdef int cnt = 0
        cdef _SecCache sc
        cdef double eps[NV]
        cdef double cb, e, up, tot1 = 0.0, a1 = 0.0, dabs = 0.0, amax = 0.0
        cdef Py_ssize_t nc1, t
        cdef Py_ssize_t *c1i = NULL
        cdef double *c1b = NULL
        if self.n_on <= 0 or np_ == 0 or ns == 0:
            return None
        for m in range(NV):
            if _KIND[m] == K_STDDEV or _KIND[m] == K_SUM:
                all_idx[n_all] = m
                n_all += 1
        self._inst(inst, &I)
        sc = _SecCache(self.n)
        pn = <NodeS *>calloc(np_, sizeof(NodeS))
        ppos = <Py_ssize_t *>malloc(np_ * sizeof(Py_ssize_t))
        pkey = <long long *>malloc(np_ * sizeof(long long))
        spos = <Py_ssize_t *>malloc(ns * sizeof(Py_ssize_t))
        approx = <double *>malloc(np_ * ns * sizeof(double))
        pok = <unsigned char *>malloc(np_)
        c1i = <Py_ssize_t *>malloc(np_ * ns * sizeof(Py_ssize_t))
        c1b = <double *>malloc(np_ * ns * sizeof(double))
        try:
            if (pn == NULL or ppos == NULL or pkey == NULL or spos == NULL
                    or approx == NULL or pok == NULL or c1i == NULL or c1b == NULL):
                raise MemoryError()
            sec_mem = I.mem if I.uses_sec_mem else 0
            for i in range(np_):
                key, loc = primaries[i]
                pp = self._pos(key)
                ppos[i] = pp
                pkey[i] = key
                if self.offl[pp]:
                    return None
                # r:p and f on p's node, then the removal of r:s
                wp = self.an[pp]
                peem = self._pm_find(pp, old_pkey)
                pok[i] = False
                if add_sec(&wp, &I, peem, strict_rsec, False) >= 0:
                    continue
                remove_sec(&wp, &I, peem + sec_mem, self._pm_max_excl(pp, old_pkey))
                if add_pri(&wp, &I, loc, strict_fo, False) >= 0:
                    continue
                remove_pri(&wp, &I, loc)
                pn[i] = wp
                pok[i] = True
            for j in range(ns):
                spos[j] = self._pos(secondaries[j])
                if self.offl[spos[j]]:
                    return None
            self._ensure_base()
            nn = <double>self.n_on
            for m in range(NV):
                maxabs[m] = 0.0
            for j in range(self.n):
                if _row_max(self.vals + j * NV, self.offl[j], maxabs):
                    return None
            for i in range(np_):
                pp = ppos[i]
                cur_loc = -1
                for j in range(ns):
                    approx[i * ns + j] = NAN
                    sp = spos[j]
                    if sp == pp or not pok[i]:
                        continue
                    peem = self._pm_find(sp, pkey[i])
                    if peem == 0:
                        # the common case, shared by all primaries
                        if sc.fm[sp] == -2:
                            ws = self.an[sp]
                            sc.fm[sp] = add_sec(&ws, &I, 0, strict_fo, False)
                            if sc.fm[sp] < 0:
                                _a_row(&ws, self.vals + sp * NV, sc.row + sp * NV)
                                if _row_max(sc.row + sp * NV, False, maxabs):
                                    return None
                                sc.cnt[sp] = _a_changed(self.vals + sp * NV,
                                                        sc.row + sp * NV,
                                                        sc.idx + sp * NV)
                        if sc.fm[sp] >= 0:
                            continue
                        srow = sc.row + sp * NV
                        chg = sc.idx + sp * NV
                        cnt = sc.cnt[sp]
                    else:
                        ws = self.an[sp]
                        if add_sec(&ws, &I, peem, strict_fo, False) >= 0:
                            continue
                        _a_row(&ws, self.vals + sp * NV, rs)
                        if _row_max(rs, False, maxabs):
                            return None
                        srow = rs
                        chg = chg_tmp
                        cnt = _a_changed(self.vals + sp * NV, rs, chg_tmp)
                    loc = self._loc_common(pp, sp)
                    if loc != cur_loc:
                        # the primary's part depends on the secondary only
                        # through the location score
                        cur_loc = loc
                        wp = pn[i]
                        fmp = add_pri(&wp, &I, loc, False, False)
                        if fmp < 0:
                            _a_row(&wp, self.vals + pp * NV, rp)
                            if _row_max(rp, False, maxabs):
                                return None
                            memcpy(s1, self.b_sum, NV * sizeof(double))
                            memcpy(v1, self.b_var, NV * sizeof(double))
                            _a_update(s1, v1, self.vals + pp * NV, rp, nn)
                            if not _a_out(s1, v1, self.b_val, out1):
                                return None
                            tot1 = _weighted(out1)
                            a1 = _weighted_abs(out1)
                    if fmp >= 0:
                        continue
                    cv = tot1 + _a_delta2(s1, v1, out1, self.vals + sp * NV, srow,
                                          chg, cnt, nn, &dabs)
                    if cv != cv:
                        return None
                    if a1 + dabs > amax:
                        amax = a1 + dabs
                    approx[i * ns + j] = cv
                    if not have or cv < lo:
                        lo = cv
                        have = True
            if not have:
                return False
            for m in range(NV):
                if _KIND[m] == K_STDDEV:
                    bound += _WEIGHTS[m] * sqrt((total + 10) * 1e-14 * maxabs[m] * maxabs[m])
                elif _KIND[m] == K_SUM or _KIND[m] == K_OFFSUM:
                    bound += _WEIGHTS[m] * (total + 10) * (total + 10) * 1e-15 * maxabs[m]
            # (the scores above are rounded differently from _a_score2's:
            # 1e-12 of the largest weighted magnitudes)
            bound = 2.0 * (bound + 1e-12 * fabs(lo) + 1e-12 * amax)
            # the candidates within the uniform bound, in order, each with
            # its own bound: a standard deviation's error is at most
            # min(sqrt(e), e / sqrt(v)) for a variance error e (the uniform
            # bound's, for two updates) and an updated variance v; the
            # exact lowest is among those whose score less their bound is
            # not above the lowest score plus its bound
            for m in range(NV):
                eps[m] = 2.0 * (total + 10) * 1e-14 * maxabs[m] * maxabs[m]
            nc1 = 0
            up = INFINITY
            for i in range(np_):
                pp = ppos[i]
                for j in range(ns):
                    cv = approx[i * ns + j]
                    if cv != cv or cv > lo + 2.0 * bound:
                        continue
                    sp = spos[j]
                    ws = self.an[sp]
                    add_sec(&ws, &I, self._pm_find(sp, pkey[i]), strict_fo, False)
                    wp = pn[i]
                    add_pri(&wp, &I, self._loc_common(pp, sp), False, False)
                    _a_row(&wp, self.vals + pp * NV, rp)
                    _a_row(&ws, self.vals + sp * NV, rs)
                    memcpy(s1, self.b_sum, NV * sizeof(double))
                    memcpy(v1, self.b_var, NV * sizeof(double))
                    _a_update(s1, v1, self.vals + pp * NV, rp, nn)
                    _a_update(s1, v1, self.vals + sp * NV, rs, nn)
                    cb = 0.0
                    for m in range(NV):
                        if _KIND[m] == K_STDDEV:
                            e = sqrt(eps[m])
                            if v1[m] > 0.0 and eps[m] / sqrt(v1[m]) < e:
                                e = eps[m] / sqrt(v1[m])
                            cb += _WEIGHTS[m] * (e + 1e-15 * sqrt(v1[m] + eps[m]))
                        elif _KIND[m] == K_SUM or _KIND[m] == K_OFFSUM:
                            cb += _WEIGHTS[m] * 2.0 * (total + 10) * (total + 10) * 1e-15 * maxabs[m]
                    cb = 2.0 * (cb + 1e-12 * fabs(cv) + 1e-12 * amax)
                    c1i[nc1] = i * ns + j
                    c1b[nc1] = cb
                    nc1 += 1
                    if cv + cb < up:
                        up = cv + cb
            for t in range(nc1):
                i = c1i[t] // ns
                j = c1i[t] % ns
                cv = approx[c1i[t]]
                if cv - c1b[t] > up:
                    continue
                pp = ppos[i]
                sp = spos[j]
                ws = self.an[sp]
                add_sec(&ws, &I, self._pm_find(sp, pkey[i]), strict_fo, False)
                wp = pn[i]
                add_pri(&wp, &I, self._loc_common(pp, sp), False, False)
                _a_row(&wp, self.vals + pp * NV, rp)
                _a_row(&ws, self.vals + sp * NV, rs)
                if pp < sp:
                    ev[0].rank = self.onrank[pp]
                    ev[0].row = rp
                    ev[1].rank = self.onrank[sp]
                    ev[1].row = rs
                else:
                    ev[0].rank = self.onrank[sp]
                    ev[0].row = rs
                    ev[1].rank = self.onrank[pp]
                    ev[1].row = rp
                ev[0].action = A_REPLACE
                ev[1].action = A_REPLACE
                _aggregate(self.on_rows, self.n_on, ev, 2, self.n_on,
                           self.off_rows, self.n_off, NULL, 0, out, sums, var)
                out[MAP_METRIC] = self.b_val[MAP_METRIC]
                cv = _weighted(out)
                if cv != cv:
                    return None
                if best_i < 0 or not best_cv < cv:
                    best_i = i
                    best_j = j
                    best_cv = cv
            return (primaries[best_i][0], secondaries[best_j])
        finally:
            free(pn)
            free(ppos)
            free(pkey)
            free(spos)
            free(approx)
            free(pok)
            free(c1i)
            free(c1b)

    def total_avail_mem(self):
        """Sum over all nodes of ``Node.avail_mem()``."""
        cdef Py_ssize_t i
        cdef long long tot = 0, v
        cdef const NodeS *a
        for i in range(self.n):
            a = self.an + i
            v = a.t_mem_i - a.n_mem - a.i_mem - a.x_mem_pos - a.r_mem
            if v > 0:
                tot += v
        return tot

    @property
    def layout(self):
        """The node keys by position (shared by derived states)."""
        return self._keys_list

    cdef object _keyof(self, Py_ssize_t pos):
        if self._keymap is None:
            return pos
        return self._keys_list[pos]
