# cython: language_level=3, boundscheck=False, wraparound=False
# cython: initializedcheck=False, cdivision=True, nonecheck=False
# distutils: extra_compile_args = -ffp-contract=off -fno-fast-math -fno-math-errno
"""The pruned balancing search (``hbal --search=pruned``, not reference-identical).

:class:`PrunedBalanceState` extends :class:`htools._balance.BalanceState`
(packing, move simulation, the estimates with their error bounds and the
exact choice among candidates are the base class's) with
``best_move_pruned``.

``best_move_pruned`` (``hbal --search=pruned``, not reference-identical)
evaluates a subset of the candidates with the same estimates and picks
among them exactly as above, so its move is feasible and its score
bit-identical to ``comp_cv``.  The subset: the victim/kind "pairs" whose
part of the move on their current nodes improves the score most (cached
per pair, refreshed for the instances on nodes a move changed), each on
the best targets for its role (new primary or new secondary), the targets
being ranked by trying a few of the best pairs (of different kinds and
sizes) on every node; plus a pool of improving candidates remembered from
wider searches.  ``level`` doubles the pairs and targets; the last level
is the full neighbourhood (see the comment before ``_pr_alloc``).
"""
from libc.math cimport INFINITY
from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from libc.string cimport memset

from htools._node cimport NV, NodeS, InstS, MIR_INTERNAL
from htools._balance cimport (
    BalanceState, Cand, Fixed, FAILOVER, REPLACE_SECONDARY, FAILOVER_AND_REPLACE,
)

cdef extern from "math.h":
    bint c_isfinite "isfinite"(double) nogil

cdef enum:
    PSLOT = 5         # pruned search: failover + up to four kinds per victim


cdef struct PoolE:
    # a candidate kept between pruned searches, with the instance's nodes
    # when it was found (stale once the instance moved)
    Cand c
    int P
    int S


cdef struct VI:
    # a value with its id (pruned search: pair and target rankings)
    double v
    int id


cdef inline bint _vi_lt(const VI *a, const VI *b) noexcept nogil:
    return a.v < b.v or (a.v == b.v and a.id < b.id)


cdef int _vi_cmp(const void *a, const void *b) noexcept nogil:
    if _vi_lt(<const VI *>a, <const VI *>b):
        return -1
    if _vi_lt(<const VI *>b, <const VI *>a):
        return 1
    return 0


cdef void _vi_smallest(VI *a, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """Reorder a[0:n] so that a[0:k] are its k smallest entries, sorted
    (quickselect with a median-of-three pivot, then a sort of the k)."""
    cdef Py_ssize_t lo = 0, hi = n - 1, i, j, mid
    cdef VI piv, tmp
    if k <= 0:
        return
    if k < n:
        while hi > lo:
            mid = lo + (hi - lo) // 2
            # median of a[lo], a[mid], a[hi] as pivot
            if _vi_lt(&a[mid], &a[lo]):
                tmp = a[mid]; a[mid] = a[lo]; a[lo] = tmp
            if _vi_lt(&a[hi], &a[lo]):
                tmp = a[hi]; a[hi] = a[lo]; a[lo] = tmp
            if _vi_lt(&a[hi], &a[mid]):
                tmp = a[hi]; a[hi] = a[mid]; a[mid] = tmp
            piv = a[mid]
            i = lo
            j = hi
            while i <= j:
                while _vi_lt(&a[i], &piv):
                    i += 1
                while _vi_lt(&piv, &a[j]):
                    j -= 1
                if i <= j:
                    tmp = a[i]; a[i] = a[j]; a[j] = tmp
                    i += 1
                    j -= 1
            if k - 1 <= j:
                hi = j
            elif k - 1 >= i:
                lo = i
            else:
                break
    else:
        k = n
    qsort(a, k, sizeof(VI), _vi_cmp)


cdef class PrunedBalanceState(BalanceState):
    """:class:`~htools._balance.BalanceState` with the pruned search."""

    # pruned search (best_move_pruned)
    cdef double *pv            # V * PSLOT pair values (source-part change)
    cdef signed char *pkd      # V * PSLOT pair move kinds (-1: none)
    cdef VI *pbuf              # V * PSLOT pair ranking buffer
    cdef VI *tbuf              # N target ranking buffer
    cdef double *tsc           # 2 * N target ranks per role
    cdef double *tprobe        # N target-side values of one probe
    cdef int *tl               # 2 * N target shortlists per role
    cdef int *tall             # N all online positions (full level)
    cdef unsigned char *tmark  # N nodes changed since the pair refresh
    cdef bint pr_ready
    cdef int pr_age
    cdef int pr_last_level
    cdef PoolE *pool
    cdef Py_ssize_t npool, pcap
    cdef public int pr_victims, pr_targets, pr_probes, pr_refresh, pr_pool
    cdef public int pr_pool_eval

    def __cinit__(self, *args, **kwargs):
        self.pv = NULL
        self.pkd = NULL
        self.pbuf = NULL
        self.tbuf = NULL
        self.tsc = NULL
        self.tprobe = NULL
        self.tl = NULL
        self.tall = NULL
        self.tmark = NULL
        self.pool = NULL
        self.npool = 0
        self.pcap = 0
        self.pr_ready = False
        self.pr_age = 0
        self.pr_last_level = 0
        self.pr_victims = 128
        self.pr_targets = 16
        self.pr_probes = 3
        self.pr_refresh = 64
        self.pr_pool = 8192
        self.pr_pool_eval = 256

    def __dealloc__(self):
        free(self.pv); free(self.pkd); free(self.pbuf); free(self.tbuf)
        free(self.tsc); free(self.tprobe); free(self.tl); free(self.tall); free(self.tmark)
        free(self.pool)

    cdef int _remember(self, const Cand *c) noexcept nogil:
        """The pool keeps the improving candidates of wide searches."""
        return self._pool_add(c)

    cdef void _touched(self, int p) noexcept nogil:
        if self.tmark != NULL:
            self.tmark[p] = 1

    # ------------------------------------------------------------------
    #
    # A "pair" is a victim with one of its move kinds (slot 0: failover,
    # slot 1 + ki: the ki-th kind of _moves_of).  Its value is the
    # estimated score change of the move's part on the old nodes alone
    # (the target left untouched; for a failover the whole move), from the
    # same estimate as the exhaustive search.  Values are cached and
    # recomputed for the instances on nodes a committed move changed, and
    # all of them every pr_refresh searches or when the search widens.
    #
    # A search at level l takes the pr_victims << l best pairs; the
    # pr_probes best pairs of each target role (the target becomes the
    # primary, or the secondary) are tried on every online node, which
    # ranks the nodes as targets for that role (best target-side change
    # seen); every other pair is tried on the pr_targets << l best targets
    # of its role.  Candidates kept from earlier searches (the pool, filled
    # by searches above level 0 with every improving candidate they saw,
    # at most pr_pool) are re-evaluated too.  The level whose pairs and
    # targets cover everything is the full neighbourhood.  The choice
    # among the candidates is exact, as in _search: the returned score is
    # the exact comp_cv of the resulting cluster.

    cdef int _pr_alloc(self) except -1:
        cdef Py_ssize_t np = <Py_ssize_t>self.V * PSLOT
        cdef int N = self.N, j
        if self.pv != NULL:
            return 0
        if np < 1:
            np = 1
        if N < 1:
            N = 1
        self.pv = <double *>malloc(np * sizeof(double))
        self.pkd = <signed char *>malloc(np * sizeof(signed char))
        self.pbuf = <VI *>malloc(np * sizeof(VI))
        self.tbuf = <VI *>malloc(N * sizeof(VI))
        self.tsc = <double *>malloc(2 * N * sizeof(double))
        self.tprobe = <double *>malloc(N * sizeof(double))
        self.tl = <int *>malloc(2 * N * sizeof(int))
        self.tall = <int *>malloc(N * sizeof(int))
        self.tmark = <unsigned char *>calloc(N, sizeof(unsigned char))
        if (self.pv == NULL or self.pkd == NULL or self.pbuf == NULL
                or self.tbuf == NULL or self.tsc == NULL or self.tl == NULL
                or self.tprobe == NULL
                or self.tall == NULL or self.tmark == NULL):
            raise MemoryError()
        for j in range(self.n_on):
            self.tall[j] = self.on_pos[j]
        self.pr_ready = False
        return 0

    cdef inline int _role(self, int kind) noexcept:
        """0: the target becomes the primary, 1: the secondary."""
        if kind == REPLACE_SECONDARY or kind == FAILOVER_AND_REPLACE:
            return 1
        return 0

    cdef void _pair_refresh(self, int vi, double cur) noexcept:
        """The pair values of one victim (stats must be current)."""
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef Fixed f
        cdef int kinds[4]
        cdef int nk, ki, nt, s
        cdef double mapv, poolv, poolerr, lo, hi, v
        cdef int stp[2]
        cdef const NodeS *swp[2]
        cdef const double *z = self.rows + self.on_pos[0] * NV
        cdef InstS *I = &self.iv[vi]
        cdef Py_ssize_t b = <Py_ssize_t>vi * PSLOT
        for s in range(PSLOT):
            self.pv[b + s] = INFINITY
            self.pkd[b + s] = -1
        if not self._victim(vi):
            return
        if (I.mirror == MIR_INTERNAL and I.snode >= 0
                and not self.nd[I.snode].offline and self.o_inst_moves):
            nt = self._eval(vi, FAILOVER, -1, w, tp, y, &mapv, &poolv)
            if nt:
                self._interval(nt, tp, y, mapv, poolv, &lo, &hi)
                v = 0.5 * (lo + hi) - cur
                self.pkd[b] = FAILOVER
                self.pv[b] = v if c_isfinite(v) else INFINITY
        nk = self._moves_of(vi, kinds)
        for ki in range(nk):
            # no target yet: -2 is no node's peer key, 0 no common tag
            self._fixed(vi, kinds[ki], -2, 0, &f)
            if not f.ok:
                continue
            # the pool metric without the target's part (a ranking only)
            poolv = 0.0
            poolerr = 0.0
            if self.sp_on:
                for s in range(f.nf):
                    stp[s] = f.fpos[s]
                    swp[s] = &f.fw[s]
                self._sp_est(f.nf, stp, swp, &poolv, &poolerr)
            self._finalize(&f.acc, z, z, f.mapv, poolv, poolerr, INFINITY,
                           &lo, &hi)
            v = 0.5 * (lo + hi) - cur
            self.pkd[b + 1 + ki] = kinds[ki]
            self.pv[b + 1 + ki] = v if c_isfinite(v) else INFINITY

    cdef void _pairs_update(self, double cur, bint full) noexcept:
        cdef int vi, j
        cdef InstS *I
        if full or not self.pr_ready:
            for vi in range(self.V):
                self._pair_refresh(vi, cur)
            self.pr_ready = True
            self.pr_age = 0
        else:
            for vi in range(self.V):
                I = &self.iv[vi]
                if self.tmark[I.pnode] or (I.snode >= 0 and self.tmark[I.snode]):
                    self._pair_refresh(vi, cur)
            self.pr_age += 1
        for j in range(self.N):
            self.tmark[j] = 0

    cdef int _pool_add(self, const Cand *c) noexcept nogil:
        cdef PoolE *p
        cdef Py_ssize_t cap
        cdef InstS *I = &self.iv[c.vi]
        if self.npool >= self.pcap:
            cap = self.pcap * 2 if self.pcap > 0 else 256
            p = <PoolE *>realloc(self.pool, cap * sizeof(PoolE))
            if p == NULL:
                return -1
            self.pool = p
            self.pcap = cap
        self.pool[self.npool].c = c[0]
        self.pool[self.npool].P = I.pnode
        self.pool[self.npool].S = I.snode
        self.npool += 1
        return 0

    cdef int _pool_trim(self) except -1:
        """Keep the pool's pr_pool entries with the lowest bounds (one per
        candidate), sorted by bound."""
        cdef VI *a
        cdef PoolE *q
        cdef Py_ssize_t n = self.npool, i, k, m = 0
        cdef long long lastkey = -1
        if n == 0:
            return 0
        k = 2 * <Py_ssize_t>self.pr_pool if self.pr_pool > 0 else 0
        if k > n:
            k = n
        a = <VI *>malloc(n * sizeof(VI))
        q = <PoolE *>malloc((k if k > 0 else 1) * sizeof(PoolE))
        if a == NULL or q == NULL:
            free(a); free(q)
            raise MemoryError()
        for i in range(n):
            a[i].v = self.pool[i].c.lo
            a[i].id = <int>i
        _vi_smallest(a, n, k)
        for i in range(k):
            q[i] = self.pool[a[i].id]
        # one entry per candidate key: sort by key (ties by bound order)
        for i in range(k):
            a[i].v = <double>q[i].c.key
            a[i].id = <int>i
        _vi_smallest(a, k, k)
        for i in range(k):
            if i > 0 and q[a[i].id].c.key == lastkey:
                a[i].v = INFINITY
            else:
                lastkey = q[a[i].id].c.key
                a[i].v = q[a[i].id].c.lo
        _vi_smallest(a, k, k)
        for i in range(k):
            if m >= self.pr_pool or a[i].v == INFINITY:
                break
            self.pool[m] = q[a[i].id]
            m += 1
        self.npool = m
        free(a)
        free(q)
        return 0

    cdef void _merge_ranks(self, int role, int k) noexcept:
        """Merge one probe's target-side values (tprobe) as ranks into
        tsc[role]: a node keeps its best rank (only the k best of the
        probe are ranked)."""
        cdef int j, p, n = 0
        cdef double *ts = self.tsc + role * self.N
        for j in range(self.n_on):
            p = self.on_pos[j]
            if self.tprobe[p] < INFINITY:
                self.tbuf[n].v = self.tprobe[p]
                self.tbuf[n].id = p
                n += 1
        if k > n:
            k = n
        _vi_smallest(self.tbuf, n, k)
        for j in range(k):
            p = self.tbuf[j].id
            if j < ts[p]:
                ts[p] = <double>j

    cdef int _shortlist(self, int role, int nt) except -1:
        """The nt best targets of a role (by tsc) into tl[role]; count."""
        cdef int j, p, n = 0
        cdef double *ts = self.tsc + role * self.N
        for j in range(self.n_on):
            p = self.on_pos[j]
            if ts[p] < INFINITY:
                self.tbuf[n].v = ts[p]
                self.tbuf[n].id = p
                n += 1
        if nt > n:
            nt = n
        _vi_smallest(self.tbuf, n, nt)
        for j in range(nt):
            self.tl[role * self.N + j] = self.tbuf[j].id
        return nt

    cdef int _search_pruned(self, double cur, int level, int *out) except -1:
        cdef NodeS w[3]
        cdef int tp[3]
        cdef double y[3 * NV]
        cdef double mapv, poolv, lo, hi, best_hi = INFINITY, best, cv
        cdef Py_ssize_t np = <Py_ssize_t>self.V * PSLOT, n, i, nv, ci
        cdef long long nt_l, nv_l
        cdef int ntl[2]
        cdef int nprobe[2]
        cdef int nt, role, vi, slot, kind, k, j, ntch, m
        cdef bint full, pooling
        cdef double *ts
        cdef PoolE *pe
        cdef InstS *I
        cdef unsigned char seen[6][32]
        cdef int cls
        cdef long long mem
        out[0] = -1
        self._best_score = cur
        if self.n_on == 0 or cur != cur:
            return 0
        self._pr_alloc()
        self._stats()
        if level < 0:
            level = 0
        nv_l = <long long>self.pr_victims << (level if level < 40 else 40)
        nt_l = <long long>self.pr_targets << (level if level < 40 else 40)
        full = nv_l >= np and nt_l >= self.n_on
        pooling = level > 0
        self._pairs_update(cur, level > self.pr_last_level
                           or self.pr_age >= self.pr_refresh)
        self.pr_last_level = level
        self.wk0.ncand = 0
        # the pool: candidates of earlier searches.  It is sorted by their
        # (stale) bounds; the first pr_pool_eval still-valid ones are
        # re-evaluated (dropped if no longer improving), the others kept
        k = 0
        m = 0
        for ci in range(self.npool):
            pe = &self.pool[ci]
            vi = pe.c.vi
            I = &self.iv[vi]
            if I.pnode != pe.P or I.snode != pe.S:
                continue
            if m >= self.pr_pool_eval:
                self.pool[k] = pe[0]
                k += 1
                continue
            m += 1
            self.n_evaluated += 1
            ntch = self._eval(vi, pe.c.kind, pe.c.t, w, tp, y, &mapv, &poolv)
            if ntch == 0:
                continue
            self._interval(ntch, tp, y, mapv, poolv, &lo, &hi)
            if hi < best_hi:
                best_hi = hi
            if lo < cur:
                pe.c.lo = lo
                if lo <= best_hi:
                    self._push(&self.wk0, pe.c.key, vi, pe.c.kind, pe.c.t, lo)
                self.pool[k] = pe[0]
                k += 1
        self.npool = k
        # rank the pairs
        n = 0
        for i in range(np):
            if self.pkd[i] >= 0:
                self.pbuf[n].v = self.pv[i]
                self.pbuf[n].id = <int>i
                n += 1
        nv = n if full or nv_l >= n else <Py_ssize_t>nv_l
        if not full:
            _vi_smallest(self.pbuf, n, nv)
        # probes: every online node as a target, ranking the targets per
        # role.  The best pairs of the role, then one more per (kind, size
        # class) not seen yet, so that the targets are ranked for the
        # different move kinds and instance sizes; a node's rank is its best
        # rank in any probe (nodes no probe could use come last).
        nprobe[0] = 0
        nprobe[1] = 0
        ntl[0] = self.n_on
        ntl[1] = self.n_on
        nt = <int>(nt_l if nt_l < self.n_on else self.n_on)
        if not full:
            memset(seen, 0, sizeof(seen))
            for j in range(2 * self.N):
                self.tsc[j] = INFINITY
            for i in range(nv):
                slot = self.pbuf[i].id % PSLOT
                kind = self.pkd[self.pbuf[i].id]
                if kind == FAILOVER:
                    continue
                role = self._role(kind)
                vi = self.pbuf[i].id // PSLOT
                cls = 0
                mem = self.iv[vi].mem
                while mem > 3 and cls < 31:
                    mem >>= 2
                    cls += 1
                if nprobe[role] >= self.pr_probes and (
                        seen[kind][cls] or nprobe[role] >= 2 * self.pr_probes):
                    continue
                seen[kind][cls] = 1
                nprobe[role] += 1
                for j in range(self.N):
                    self.tprobe[j] = INFINITY
                self._try_targets(&self.wk0, vi, slot - 1, kind, self.tall, self.n_on,
                                   cur, &best_hi, self.tprobe,
                                   cur + self.pv[self.pbuf[i].id], False)
                self._merge_ranks(role, nt)
                self.pbuf[i].v = -INFINITY   # done
            # a role without probes among the selected pairs: its best
            # pairs among the others
            for role in range(2):
                while nprobe[role] < self.pr_probes:
                    ci = -1
                    for i in range(nv, n):
                        kind = self.pkd[self.pbuf[i].id]
                        if (kind != FAILOVER and self.pbuf[i].v != -INFINITY
                                and self._role(kind) == role
                                and (ci < 0 or _vi_lt(&self.pbuf[i], &self.pbuf[ci]))):
                            ci = i
                    if ci < 0:
                        break
                    nprobe[role] += 1
                    vi = self.pbuf[ci].id // PSLOT
                    slot = self.pbuf[ci].id % PSLOT
                    for j in range(self.N):
                        self.tprobe[j] = INFINITY
                    self._try_targets(&self.wk0, vi, slot - 1, self.pkd[self.pbuf[ci].id],
                                       self.tall, self.n_on, cur, &best_hi,
                                       self.tprobe,
                                       cur + self.pv[self.pbuf[ci].id], False)
                    self._merge_ranks(role, nt)
                    self.pbuf[ci].v = -INFINITY
            for role in range(2):
                for j in range(self.N):
                    if self.tsc[role * self.N + j] == INFINITY:
                        self.tsc[role * self.N + j] = 2.0 * self.N
                ntl[role] = self._shortlist(role, nt)
        # the other pairs on their role's targets
        for i in range(nv):
            if self.pbuf[i].v == -INFINITY and not full:
                continue
            vi = self.pbuf[i].id // PSLOT
            slot = self.pbuf[i].id % PSLOT
            kind = self.pkd[self.pbuf[i].id]
            if kind == FAILOVER:
                self._try_failover(&self.wk0, vi, cur, &best_hi)
                continue
            role = self._role(kind)
            self._try_targets(&self.wk0, vi, slot - 1, kind,
                               self.tall if full else self.tl + role * self.N,
                               ntl[role], cur, &best_hi, NULL, 0.0, pooling)
        self._pool_trim()
        return self._resolve(cur, best_hi, out)

    cdef bint _pr_full(self, int level) noexcept:
        cdef long long np = <long long>self.V * PSLOT
        if level < 0:
            level = 0
        if level > 40:
            level = 40
        return ((<long long>self.pr_victims << level) >= np
                and (<long long>self.pr_targets << level) >= self.n_on)

    # ------------------------------------------------------------------
    # Python API

    def best_move_pruned(self, double cur_score, int level=0):
        """A good move from a pruned neighbourhood, or None.

        The same result format as :meth:`best_move`; the score is exact.
        ``level`` widens the neighbourhood (victim pairs and targets
        doubled per level); at :meth:`pruned_full` levels every candidate
        of the exhaustive search is evaluated.  Not reference-identical:
        for ``hbal --search=pruned``."""
        cdef int out[3]
        self.n_steps += 1
        self._search_pruned(cur_score, level, out)
        if out[0] < 0:
            return None
        tgt = self.node_keys[out[2]] if out[2] >= 0 else -1
        return (self._best_score, self.iv[out[0]].idx, out[1], tgt)

    def _pairs(self):
        """The pruned search's pair values as of its last search (tests
        and tuning): (instance index, move kind, value) per pair."""
        cdef Py_ssize_t i
        if self.pv == NULL:
            return []
        return [(self.iv[i // PSLOT].idx, self.pkd[i], self.pv[i])
                for i in range(<Py_ssize_t>self.V * PSLOT) if self.pkd[i] >= 0]

    def _targets(self, int role):
        """The target ranks of the last pruned search's probes for a role
        (node index -> best rank; tests and tuning)."""
        cdef int j, p
        if self.tsc == NULL:
            return {}
        out = {}
        for j in range(self.n_on):
            p = self.on_pos[j]
            out[self.node_keys[p]] = self.tsc[role * self.N + p]
        return out

    def pruned_full(self, int level):
        """Whether the pruned search at ``level`` covers the full
        neighbourhood (every pair, every target)."""
        return bool(self._pr_full(level))

    def pruned_work(self, int level):
        """Pair-target combinations the pruned search at ``level`` tries
        (an upper bound; probes and the pool aside)."""
        cdef long long np = <long long>self.V * PSLOT
        cdef long long nv, nt
        if level < 0:
            level = 0
        if level > 40:
            level = 40
        nv = <long long>self.pr_victims << level
        nt = <long long>self.pr_targets << level
        return (nv if nv < np else np) * (nt if nt < self.n_on else self.n_on)

    @property
    def pool_size(self):
        """Candidates kept for the next pruned search."""
        return self.npool
