# The balancing state's declarations (htools/_balance.pyx), so that other
# compiled modules extend it: htools/_pruned.pyx (hbal --search=pruned)
# subclasses BalanceState and reuses its packing, move simulation, estimates
# and exact scoring.
from htools._node cimport NV, MAXP, NodeS, InstS

# ---------------------------------------------------------------------------
# metric layout.  Rows are kept in an internal order with the metrics
# grouped by aggregation (so the per-candidate loops are branch free):
# internal 0..12 the standard deviations, 13..16 the sums over online
# nodes, 17..18 the sums over offline nodes, 19 the map metric.  Exact
# scores are folded in htools' metric order (htools.metrics.METRICS).
cdef enum:
    NSD = 13          # internal [0, NSD): stddev metrics
    SUM_HI = 17       # internal [NSD, SUM_HI): sums over online nodes
    OFF_HI = 19       # internal [SUM_HI, OFF_HI): sums over offline nodes
    MAPI = 19         # internal index of the map metric

# move kinds (htools.moves)
cdef enum:
    FAILOVER = 0
    FAILOVER_TO_ANY = 1
    REPLACE_PRIMARY = 2
    REPLACE_SECONDARY = 3
    REPLACE_AND_FAILOVER = 4
    FAILOVER_AND_REPLACE = 5


cdef struct Cand:
    long long key      # htools' candidate order
    int vi
    int kind
    int t
    double lo


cdef struct Acc:
    # per-metric contributions of changed nodes to a candidate's estimate
    double dlt[NV]     # sum (y - x) over online changed nodes
    double dd[NV]      # sum ((y - mu)^2 - (x - mu)^2)
    double A[NV]       # max |value| bound
    double ab[NV]      # sum |y| (online)
    double doff[NV]    # sum (y - x) over offline changed nodes
    double aboff[NV]   # sum |y| (offline)
    int diff[NV]       # some changed node's value differs


cdef struct Work:
    # one search's candidates and counters (one per thread when parallel)
    Cand *cands
    Py_ssize_t ncand
    Py_ssize_t ccap
    long long n_evaluated
    long long n_feasible
    double best_hi
    int failed         # an allocation failed


cdef struct Fixed:
    # the part of a move on the old primary/secondary, shared by targets
    int valid
    int ok
    long long sig
    int nf
    int fpos[2]
    NodeS fw[2]
    Acc acc
    double mapv


cdef class BalanceState:
    cdef int N                 # nodes
    cdef NodeS *nd
    cdef double *rows          # N x NV current per-node values
    cdef int *on_pos           # online node positions, index order
    cdef int *onlist_rank
    cdef int n_on
    cdef int n_off
    cdef int *off_pos
    cdef object node_keys      # position -> node idx
    cdef dict node_pos         # node idx -> position
    # peer maps
    cdef int **pmk
    cdef long long **pmv
    cdef int *pml
    cdef int *pmc
    cdef int *b1k
    cdef long long *b1v
    cdef long long *b2v
    # primary exclusion-tag multisets
    cdef int **ptk
    cdef long long **ptc
    cdef int *ptl
    cdef int *ptcap
    # location tags (sorted interned ids)
    cdef int **loc
    cdef int *locl
    # migration
    cdef int *mig_id
    cdef int *rmig_id
    cdef int n_rmig
    cdef unsigned char *mig_ok
    cdef bint mig_trivial
    # location/exclusion map metric
    cdef int n_lt              # interned location tag strings
    cdef int n_ex              # interned exclusion tags
    cdef long long *ktot       # n_lt * n_ex pair counts (online nodes)
    cdef long long map_S
    cdef long long map_D
    cdef bint map_active
    # instances (the movable, auto-balanced ones, by index)
    cdef int V
    cdef InstS *iv
    cdef int *ex_ids
    cdef long long *ex_mult
    cdef int *ds_ids
    cdef dict inst_vi          # instance idx -> victim number
    # options
    cdef bint o_disk_moves, o_inst_moves, o_rest_mig, o_force, o_evac
    # statistics of the current state
    cdef double b_sum[NV]
    cdef double b_mean[NV]
    cdef double b_m2[NV]
    cdef double b_val[NV]
    cdef double b_amax[NV]
    cdef double b_abs[NV]
    cdef double off_sum[NV]
    cdef double off_abs[NV]
    cdef bint stats_ok
    cdef double sd_coef        # sqrt(32 (n + 32) u), times 1 + 1e-6
    cdef double sum_coef       # 8 (n + 8) u
    cdef double inv_n
    # candidates of the last search (wk0; the threads' own in tw)
    cdef Work wk0
    cdef Work *tw
    cdef int ntw
    cdef public int threads    # candidate evaluation threads (<= 1: none)
    # counters
    cdef public long long n_evaluated, n_feasible, n_exact, n_steps
    cdef public long long debug_errors
    cdef public bint debug
    cdef double _best_score
    # storage pools (htools.metrics.pool_free_cv): on when some online node
    # has a volume group; then the two disk metrics are the pool metric
    cdef bint sp_on
    cdef int sp_n              # volume groups of the online nodes
    cdef int sp_bits[MAXP]     # their pool_id bits, by name
    cdef double *sp_val        # N x MAXP current free shares
    cdef double sp_base        # the pool metric of the current state
    # per volume group (sp_bits order), current state: online nodes having
    # it, mean, two-pass sum of squared deviations, max |share|, deviation
    # and the estimate's error coefficient (see _sp_est)
    cdef double sp_cnt[MAXP]
    cdef double sp_mean[MAXP]
    cdef double sp_m2[MAXP]
    cdef double sp_amax[MAXP]
    cdef double sp_sd[MAXP]
    cdef double sp_sdc[MAXP]

    cdef int _peer_key(self, object pk) except? -2
    cdef int _pm_set(self, int i, list entries) except -1
    cdef void _pm_top(self, int i) noexcept
    cdef int _pt_set(self, int i, list entries) except -1
    cdef inline long long _pm_find(self, int i, int key) noexcept nogil
    cdef inline long long _pm_max_excl(self, int i, int key) noexcept nogil
    cdef inline long long _pt_get(self, int i, int tag) noexcept nogil
    cdef inline bint _tags_conflict(self, int i, const InstS *I) noexcept nogil
    cdef inline long long _ptag_add_delta(self, int i, const InstS *I) noexcept nogil
    cdef inline long long _ptag_del_delta(self, int i, const InstS *I) noexcept nogil
    cdef inline long long _dsrd(self, int i, const InstS *I) noexcept nogil
    cdef inline long long _loc_common(self, int a, int b) noexcept nogil
    cdef inline bint _mig(self, int src, int dst) noexcept nogil
    cdef inline void _remove_pri(self, NodeS *n, int pos, const InstS *I,
                                 long long iloc) noexcept nogil
    cdef inline void _remove_sec(self, NodeS *n, int pos, const InstS *I,
                                 int pkey) noexcept nogil
    cdef inline bint _add_pri(self, NodeS *n, int pos, const InstS *I,
                              long long iloc, bint strict) noexcept nogil
    cdef inline bint _add_sec(self, NodeS *n, int pos, const InstS *I, int pkey,
                              bint strict, bint ignore_disks) noexcept nogil
    cdef int _sim(self, int vi, int kind, int t, NodeS *w, int *tp,
                  int *res) noexcept nogil
    cdef inline void _fix_ptags(self, int nt, NodeS *w, int *tp, int oldp,
                                int newp, const InstS *I) noexcept nogil
    cdef inline double _map_value(self, int oldp, int newp, const InstS *I) noexcept nogil
    cdef void _stats(self) noexcept
    cdef inline double _sp_at(self, int p, int b, int nt, const int *tp,
                              const NodeS **wp) noexcept nogil
    cdef double _sp_metric(self, int nt, const int *tp,
                           const NodeS **wp) noexcept nogil
    cdef double _sp_cand(self, int nt, const int *tp,
                         const NodeS **wp) noexcept nogil
    cdef void _sp_set(self, int p) noexcept nogil
    cdef void _sp_stats(self) noexcept nogil
    cdef void _sp_est(self, int nt, const int *tp, const NodeS **wp,
                      double *est, double *err) noexcept nogil
    cdef double _exact(self, int nt, const int *tp, const double *y,
                       double mapv, double poolv) noexcept nogil
    cdef inline void _acc_init(self, Acc *a) noexcept nogil
    cdef inline void _acc_add(self, Acc *a, int p, const double *yr) noexcept nogil
    cdef bint _finalize(self, const Acc *a, const double *xr, const double *yr,
                        double mapv, double poolv, double poolerr, double thr,
                        double *lo_, double *hi_, double *est_=*) noexcept nogil
    cdef void _interval(self, int nt, const int *tp, const double *y,
                        double mapv, double poolv, double *lo_,
                        double *hi_) noexcept nogil
    cdef int _moves_of(self, int vi, int *kinds) noexcept nogil
    cdef int _push(self, Work *wk, long long key, int vi, int kind, int t,
                   double lo) noexcept nogil
    cdef inline bint _victim(self, int vi) noexcept nogil
    cdef int _eval(self, int vi, int kind, int t, NodeS *w, int *tp,
                   double *y, double *mapv, double *poolv) noexcept nogil
    cdef inline long long _sig(self, int vi, int kind, int t) noexcept nogil
    cdef void _fixed(self, int vi, int kind, int t, long long sig,
                     Fixed *f) noexcept nogil
    cdef bint _target(self, int vi, int kind, int t, NodeS *w,
                      double *mapv, const Fixed *f) noexcept nogil
    cdef void _debug_check(self, int vi, int kind, int t, bint ok,
                           const Fixed *f, const NodeS *wt, double mapv) noexcept nogil
    cdef inline void _try_failover(self, Work *wk, int vi, double cur,
                                   double *best_hi) noexcept nogil
    cdef int _try_targets(self, Work *wk, int vi, int ki, int kind, const int *tg,
                          int ntg, double cur, double *best_hi,
                          double *tsc, double tbase, bint remember) noexcept nogil
    cdef void _try_victim(self, Work *wk, int vi, double cur) noexcept nogil
    cdef int _search_parallel(self, double cur) except -1
    cdef int _remember(self, const Cand *c) noexcept nogil
    cdef void _touched(self, int p) noexcept nogil
    cdef int _resolve(self, double cur, double best_hi, int *out) except -1
    cdef int _search(self, double cur, int *out) except -1
    cdef int _pm_apply_remove(self, int i, int key, const InstS *I) except -1
    cdef int _pm_put(self, int i, int key, long long val) except -1
    cdef int _pt_change(self, int i, int tag, long long d) except -1
    cdef int _commit(self, int vi, int kind, int t) except -1
    cdef int _args(self, object inst_idx, int kind, object target,
                   int *vi_, int *t_) except -1
