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
:func:`htools.fastalloc.eligible`).

Failure modes are ``htools.types.FailMode`` values.
"""

cdef enum:
    F_MEM = 0
    F_DISK = 1
    F_CPU = 2
    F_N1 = 3
    F_TAGS = 4
    F_SPINDLES = 7
    NFAIL = 9


cdef struct ANode:
    # constants
    double t_mem
    long long t_mem_i          # hs_truncate(t_mem)
    long long n_mem
    long long x_mem_pos        # max(0, x_mem)
    double t_dsk
    long long lo_dsk
    double t_cpu
    double speed
    double l_cpu               # ipolicy.vcpu_ratio
    double hi_sp
    double t_sp_f              # float(t_spindles)
    int excl
    double pool[4]
    # state
    long long i_mem
    long long f_dsk
    long long f_dsk_forth
    long long f_mem_forth
    long long u_cpu
    long long u_cpu_forth
    long long f_sp
    long long f_sp_forth
    long long r_mem
    long long npri
    long long nsec
    long long loc_score
    int fail_n1
    double p_mem
    double p_dsk
    double p_rem
    double p_cpu
    double p_mem_forth
    double p_dsk_forth
    double p_cpu_forth
    double isp
    double isp_forth
    double load[4]
    double load_f[4]


cdef struct AInst:
    long long mem
    long long dsk
    long long vcpus
    long long spindle_use
    long long tot_sp
    int has_tot_sp
    int uses_memory
    int not_offline
    int uses_sec_mem
    int local
    int has_sec
    long long iloc             # the instance's own location score
    double util[4]


cdef inline double _a_pdsk(const ANode *n, long long sp, long long dsk) noexcept nogil:
    """Node.new_pdsk (compute_pdsk)."""
    if n.excl:
        return _pdsk(sp, n.t_sp_f)
    return _pdsk(dsk, n.t_dsk)


cdef inline long long _a_nfs(const ANode *n, const AInst *I, bint forth) noexcept nogil:
    """Node._new_free_spindles(add=True)."""
    if not n.excl:
        return 0
    if not I.has_tot_sp:
        return -1
    return (n.f_sp_forth if forth else n.f_sp) - I.tot_sp


cdef inline double _a_su(const ANode *n, const AInst *I, bint forth) noexcept nogil:
    """Node._spindle_use(add=True)."""
    cdef double cur
    if n.excl:
        return 0.0
    cur = n.isp_forth if forth else n.isp
    if not I.local:
        return cur
    return cur + <double>I.spindle_use


cdef int _a_add_pri(ANode *n, const AInst *I, long long iloc, bint strict) noexcept nogil:
    """Node.add_pri of a new (not forthcoming, tag-less) instance, in place
    on ``n``; -1 on success, else the failure mode (``n`` is then
    unchanged).  ``iloc``: the instance's location score."""
    cdef bint local = I.local
    cdef double l_cpu = n.l_cpu
    cdef long long new_mem_forth = n.f_mem_forth - I.mem
    cdef long long new_dsk_forth = n.f_dsk_forth - I.dsk if local else n.f_dsk_forth
    cdef long long new_sp_forth = _a_nfs(n, I, True)
    cdef double new_isp_forth = _a_su(n, I, True)
    cdef long long new_ucpu_forth = (n.u_cpu_forth + I.vcpus if I.not_offline
                                     else n.u_cpu_forth)
    cdef double new_pcpu_forth = _div(<double>new_ucpu_forth, n.t_cpu)
    cdef long long new_i_mem = n.i_mem + I.mem if I.uses_memory else n.i_mem
    cdef long long new_free = n.t_mem_i - n.n_mem - new_i_mem - n.x_mem_pos
    cdef bint new_failn1 = new_free <= n.r_mem
    cdef long long new_dsk = n.f_dsk - I.dsk if local else n.f_dsk
    cdef long long new_sp = _a_nfs(n, I, False)
    cdef double new_isp = _a_su(n, I, False)
    cdef long long new_ucpu = n.u_cpu + I.vcpus if I.not_offline else n.u_cpu
    cdef double new_pcpu = _div(<double>new_ucpu, n.t_cpu)
    cdef int k
    if new_free <= 0:
        return F_MEM
    if local and new_dsk <= 0:
        return F_DISK
    if strict and local and new_dsk < n.lo_dsk:
        return F_DISK
    if local and n.excl and new_sp < 0:
        return F_SPINDLES
    if strict and local and new_isp > n.hi_sp:
        return F_DISK
    if strict and new_failn1 and not n.fail_n1:
        return F_MEM
    if strict and l_cpu >= 0 and l_cpu < new_pcpu:
        return F_CPU
    if strict:
        if new_mem_forth <= 0:
            return F_MEM
        if local and new_dsk_forth <= 0:
            return F_DISK
        if local and new_dsk_forth < n.lo_dsk:
            return F_DISK
        if local and n.excl and new_sp_forth < 0:
            return F_SPINDLES
        if local and new_isp_forth > n.hi_sp:
            return F_DISK
        if l_cpu >= 0 and l_cpu < new_pcpu_forth:
            return F_CPU
    n.npri += 1
    n.i_mem = new_i_mem
    n.f_dsk = new_dsk
    n.fail_n1 = 1 if new_failn1 else 0
    n.p_mem = _div(<double>new_free, n.t_mem)
    n.p_dsk = _a_pdsk(n, new_sp, new_dsk)
    n.u_cpu = new_ucpu
    n.p_cpu = new_pcpu
    for k in range(4):
        n.load[k] = n.load[k] + I.util[k]
    n.isp = new_isp
    n.f_sp = new_sp
    n.loc_score = n.loc_score + iloc
    n.f_mem_forth = new_mem_forth
    n.f_dsk_forth = new_dsk_forth
    n.p_mem_forth = _div(<double>new_mem_forth, n.t_mem)
    n.p_dsk_forth = _a_pdsk(n, new_sp_forth, new_dsk_forth)
    n.u_cpu_forth = new_ucpu_forth
    n.p_cpu_forth = new_pcpu_forth
    for k in range(4):
        n.load_f[k] = n.load_f[k] + I.util[k]
    n.isp_forth = new_isp_forth
    n.f_sp_forth = new_sp_forth
    return -1


cdef int _a_add_sec(ANode *n, const AInst *I, long long peem, bint strict) noexcept nogil:
    """Node.add_sec (``peem``: the peer-map entry of the primary), in place;
    -1 on success, else the failure mode (``n`` then unchanged)."""
    cdef long long sec_mem = I.mem if I.uses_sec_mem else 0
    cdef long long new_peem = peem + sec_mem
    cdef long long old_mem_forth = n.f_mem_forth
    cdef long long new_dsk_forth = n.f_dsk_forth - I.dsk
    cdef long long new_sp_forth = _a_nfs(n, I, True)
    cdef double new_isp_forth = _a_su(n, I, True)
    cdef long long old_mem = n.t_mem_i - n.n_mem - n.i_mem - n.x_mem_pos
    cdef long long new_dsk = n.f_dsk - I.dsk
    cdef long long new_sp = _a_nfs(n, I, False)
    cdef double new_isp = _a_su(n, I, False)
    cdef long long new_rmem = n.r_mem if n.r_mem >= new_peem else new_peem
    cdef bint new_failn1 = old_mem <= new_rmem
    if not I.has_sec:
        return F_DISK
    if new_dsk <= 0:
        return F_DISK
    if strict and new_dsk < n.lo_dsk:
        return F_DISK
    if n.excl and new_sp < 0:
        return F_SPINDLES
    if strict and new_isp > n.hi_sp:
        return F_DISK
    if strict and sec_mem >= old_mem:
        return F_MEM
    if strict and new_failn1 and not n.fail_n1:
        return F_MEM
    if strict:
        if new_dsk_forth <= 0:
            return F_DISK
        if new_dsk_forth < n.lo_dsk:
            return F_DISK
        if n.excl and new_sp_forth < 0:
            return F_SPINDLES
        if new_isp_forth > n.hi_sp:
            return F_DISK
        if sec_mem >= old_mem_forth:
            return F_MEM
    n.nsec += 1
    n.f_dsk = new_dsk
    n.fail_n1 = 1 if new_failn1 else 0
    n.r_mem = new_rmem
    n.p_dsk = _a_pdsk(n, new_sp, new_dsk)
    n.p_rem = _div(<double>new_rmem, n.t_mem)
    n.load[2] = n.load[2] + I.util[2]
    n.isp = new_isp
    n.f_sp = new_sp
    n.f_dsk_forth = new_dsk_forth
    n.p_dsk_forth = _a_pdsk(n, new_sp_forth, new_dsk_forth)
    n.load_f[2] = n.load_f[2] + I.util[2]
    n.isp_forth = new_isp_forth
    n.f_sp_forth = new_sp_forth
    return -1


cdef inline void _a_row(const ANode *n, const double *base, double *r) noexcept nogil:
    """The node's 20 values (``_extract``'s layout); the exclusion-tag
    metric is taken from ``base`` (the node's current row: a tag-less
    instance does not change it)."""
    r[0] = n.p_mem
    r[1] = n.p_dsk
    r[2] = <double>(n.nsec + n.npri) if n.fail_n1 else 0.0
    r[3] = n.p_rem
    r[4] = <double>(n.npri + n.nsec)
    r[5] = <double>n.npri
    r[6] = n.p_cpu / n.speed
    r[7] = _div(n.load[0], n.pool[0])
    r[8] = _div(n.load[1], n.pool[1])
    r[9] = _div(n.load[2], n.pool[2])
    r[10] = _div(n.load[3], n.pool[3])
    r[11] = base[11]
    r[12] = _div(n.isp, n.hi_sp)
    r[13] = n.p_mem_forth
    r[14] = n.p_dsk_forth
    r[15] = n.p_cpu_forth / n.speed
    r[16] = _div(n.isp_forth, n.hi_sp)
    r[17] = <double>n.loc_score
    r[18] = 0.0
    r[19] = n.p_rem


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


cdef class AllocState(ClusterState):
    """:class:`ClusterState` plus the placement inputs of each node."""

    cdef ANode *an
    cdef long long **pk        # per node: peer keys (node indices), sorted
    cdef long long **pv        # per node: peer values
    cdef Py_ssize_t *pl        # per node: number of peers
    cdef int **lt              # per node: interned location tags, sorted
    cdef int *ltl
    cdef dict _lt_ids
    cdef list _keys_list       # position -> key (None: keys are positions)

    def __cinit__(self, *args, **kwargs):
        self.an = NULL
        self.pk = NULL
        self.pv = NULL
        self.pl = NULL
        self.lt = NULL
        self.ltl = NULL

    def __dealloc__(self):
        cdef Py_ssize_t i
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
        self._keys_list = None if keys is None else list(keys)
        self._alloc_arrays()
        self._lt_ids = {}
        cdef Py_ssize_t i
        for i in range(self.n):
            self._load_node(i, nodes[i])

    cdef int _alloc_arrays(self) except -1:
        cdef Py_ssize_t sz = self.n if self.n > 0 else 1
        self.an = <ANode *>calloc(sz, sizeof(ANode))
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
        cdef ANode *a = self.an + i
        cdef Py_ssize_t k, m
        up = node.util_pool
        ul = node.util_load
        ulf = node.util_load_forth
        a.t_mem = node.t_mem
        a.t_mem_i = hs_truncate(node.t_mem)
        a.n_mem = node.n_mem
        a.x_mem_pos = max(0, node.x_mem)
        a.t_dsk = node.t_dsk
        a.lo_dsk = node.lo_dsk
        a.t_cpu = node.t_cpu
        a.speed = node.t_cpu_speed
        a.l_cpu = node.ipolicy.vcpu_ratio
        a.hi_sp = node.hi_spindles
        a.t_sp_f = float(node.t_spindles)
        a.excl = 1 if node.excl_storage else 0
        a.pool[0] = up.cpu
        a.pool[1] = up.mem
        a.pool[2] = up.dsk
        a.pool[3] = up.net
        a.i_mem = node.i_mem
        a.f_dsk = node.f_dsk
        a.f_dsk_forth = node.f_dsk_forth
        a.f_mem_forth = node.f_mem_forth
        a.u_cpu = node.u_cpu
        a.u_cpu_forth = node.u_cpu_forth
        a.f_sp = node.f_spindles
        a.f_sp_forth = node.f_spindles_forth
        a.r_mem = node.r_mem
        a.npri = len(node.p_list)
        a.nsec = len(node.s_list)
        a.loc_score = node.location_score
        a.fail_n1 = 1 if node.fail_n1 else 0
        a.p_mem = node.p_mem
        a.p_dsk = node.p_dsk
        a.p_rem = node.p_rem
        a.p_cpu = node.p_cpu
        a.p_mem_forth = node.p_mem_forth
        a.p_dsk_forth = node.p_dsk_forth
        a.p_cpu_forth = node.p_cpu_forth
        a.isp = node.inst_spindles
        a.isp_forth = node.inst_spindles_forth
        a.load[0] = ul.cpu
        a.load[1] = ul.mem
        a.load[2] = ul.dsk
        a.load[3] = ul.net
        a.load_f[0] = ulf.cpu
        a.load_f[1] = ulf.mem
        a.load_f[2] = ulf.dsk
        a.load_f[3] = ulf.net
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
        new._alloc_arrays()
        new._lt_ids = dict(self._lt_ids)
        memcpy(new.an, self.an, sz * sizeof(ANode))
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

    # -- evaluation ----------------------------------------------------------
    cdef int _inst(self, object inst, AInst *I) except -1:
        tot = inst.total_spindles()
        util = inst.util
        I.mem = inst.mem
        I.dsk = inst.dsk
        I.vcpus = inst.vcpus
        I.spindle_use = inst.spindle_use
        I.has_tot_sp = 0 if tot is None else 1
        I.tot_sp = 0 if tot is None else tot
        I.uses_memory = 1 if inst.uses_memory else 0
        I.not_offline = 1 if inst.not_offline else 0
        I.uses_sec_mem = 1 if inst.uses_sec_mem else 0
        I.local = 1 if inst.uses_local_storage else 0
        I.has_sec = 1 if inst.has_secondary else 0
        I.iloc = inst.location_score
        I.util[0] = util.cpu
        I.util[1] = util.mem
        I.util[2] = util.dsk
        I.util[3] = util.net
        return 0

    def evaluate(self, inst, PairPlan plan, policy, bint force,
                 bint collect=False):
        """Evaluate every target of ``plan`` for the new instance ``inst``.

        ``policy``: per primary of the plan (in order), the policy failure
        mode or -1.  Returns None if a score is NaN.  Otherwise, with
        ``collect`` false: ``(fails, allocs, best)`` where ``fails`` lists
        the failure counts by mode and ``best`` is None or ``(score, pdx,
        sdx, loc)`` (``sdx`` -1 for one-node targets).  With ``collect``:
        per primary ``(pdx, fails, [(score, sdx, loc), ...])``, candidates
        in evaluation order."""
        cdef AInst I
        cdef ANode wp, ws
        cdef double base_s[NV]
        cdef double base_var[NV]
        cdef double s1[NV]
        cdef double v1[NV]
        cdef double out[NV]
        cdef double rp[NV]
        cdef double rs[NV]
        cdef double nn, score, best_score = 0.0
        cdef long long fails[NFAIL]
        cdef long long pfails[NFAIL]
        cdef long long allocs = 0, loc, cur_loc, best_loc = 0
        cdef Py_ssize_t i, j, k, pp, sp, best_p = -1, best_s = -1
        cdef int fm, m, pol
        cdef bint strict = not force, have_p
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
        cdef _SecCache sc = _SecCache(self.n)
        for m in range(NV):
            if _KIND[m] == K_STDDEV or _KIND[m] == K_SUM:
                all_idx[n_all] = m
                n_all += 1
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
        for i in range(plan.np_):
            pp = plan.p_pos[i]
            if self.offl[pp]:
                raise ValueError("offline allocation target")
            for m in range(NFAIL):
                pfails[m] = 0
            cands = [] if collect else None
            pol = policy[i]
            if plan.single:
                if pol >= 0:
                    pfails[pol] += 1
                else:
                    wp = self.an[pp]
                    fm = _a_add_pri(&wp, &I, I.iloc, strict)
                    if fm >= 0:
                        pfails[fm] += 1
                    else:
                        _a_row(&wp, self.vals + pp * NV, rp)
                        ev[0].rank = self.onrank[pp]
                        ev[0].action = A_REPLACE
                        ev[0].row = rp
                        _aggregate(self.on_rows, self.n_on, ev, 1, self.n_on,
                                   self.off_rows, self.n_off, NULL, 0,
                                   out, sums, var)
                        out[MAP_METRIC] = self.b_val[MAP_METRIC]
                        score = _weighted(out)
                        if score != score:
                            return None
                        allocs += 1
                        if collect:
                            cands.append((score, -1, 0))
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
                        fm = _a_add_pri(&wp, &I, loc, strict)
                        cur_loc = loc
                        have_p = True
                        if fm < 0:
                            _a_row(&wp, self.vals + pp * NV, rp)
                            memcpy(s1, base_s, NV * sizeof(double))
                            memcpy(v1, base_var, NV * sizeof(double))
                            _a_update(s1, v1, self.vals + pp * NV, rp, nn)
                            all_fin = _a_out(s1, v1, self.b_val, out1)
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
                            sc.fm[sp] = _a_add_sec(&ws, &I, 0, True)
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
                        k = _a_add_sec(&ws, &I, peem, True)
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
                    score = _a_score2(s1, v1, out1, self.vals + sp * NV, row,
                                      chg, cnt, nn)
                    if score != score:
                        return None
                    allocs += 1
                    if collect:
                        cands.append((score, self._keyof(sp), loc))
                    elif best_p < 0 or score <= best_score:
                        best_score = score
                        best_p = i
                        best_s = sp
                        best_loc = loc
            for m in range(NFAIL):
                fails[m] += pfails[m]
            if collect:
                res.append((plan.p_idx[i], [pfails[m] for m in range(NFAIL)],
                            cands))
        if collect:
            return res
        best = None
        if best_p >= 0:
            best = (best_score, plan.p_idx[best_p],
                    -1 if best_s < 0 else self._keyof(best_s), best_loc)
        return ([fails[m] for m in range(NFAIL)], allocs, best)

    def total_avail_mem(self):
        """Sum over all nodes of ``Node.avail_mem()``."""
        cdef Py_ssize_t i
        cdef long long tot = 0, v
        cdef const ANode *a
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
