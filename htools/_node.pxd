# The node and instance of the compiled core, written once: the C structs
# that _alloc.pxi (allocation, in _core) and _balance.pyx (balancing) pack
# from htools.model objects, the packing itself, and htools' per-node
# placement rules (Node.add_pri / add_sec / remove_pri / remove_sec) on
# those structs, with the model's integer and floating operations in the
# model's order.  Everything here is ``inline``: each extension module gets
# its own copy of the machine code, so the hot loops keep calling plain C.
from libc.string cimport memset

from htools._inline cimport hs_div, pdsk

# htools.types.FailMode values returned by the placement checks (-1: fits)
cdef enum:
    F_MEM = 0
    F_DISK = 1
    F_CPU = 2
    F_N1 = 3
    F_TAGS = 4
    F_SPINDLES = 7
    NFAIL = 9
    FITS = -1

# mirror types (htools.types.MirrorType)
cdef enum:
    MIR_NONE = 0
    MIR_INTERNAL = 1
    MIR_EXTERNAL = 2

# storage pools (htools.model: Node.pools, Instance.pools): at most MAXP
# volume groups per cluster, by their htools.model.pool_id bit
cdef enum:
    MAXP = 8

# the metrics: htools.metrics.METRICS order
cdef enum:
    NV = 20
    M_PTAGS = 11        # primary exclusion tags: kept outside the struct
    M_MAP = 18          # the location/exclusion map: a cluster value


cdef struct NodeS:
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
    int offline
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
    long long ptag_val         # sum(p_tags.values()) - len(p_tags)
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
    # storage pools: has_pools 0 = unknown (no pool rule); pmask: the
    # node's volume groups; free space (forthcoming included) and reserve
    int has_pools
    unsigned int pmask
    long long pfree[MAXP]
    long long plo[MAXP]
    double ptot[MAXP]          # float(total): the pool metric's denominator


cdef struct InstS:
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
    int mirror
    int forthcoming
    double util[4]
    # balancing only (0 for a new instance): interned exclusion and
    # desired location tags, nodes
    int ex_off
    int ex_len
    int ds_off
    int ds_len
    long long loc_score        # the instance's location score
    int pnode
    int snode
    long long idx
    # storage pools: the volume groups of the demand and the MiB on each
    unsigned int dmask
    long long dem[MAXP]


# ---------------------------------------------------------------------------
# packing (Python -> C).  Values the C types cannot hold exactly raise
# NotImplementedError: the caller then runs the Python specification.

cdef inline long long to_int(object v) except? -1:
    if type(v) is bool or not isinstance(v, int):
        if isinstance(v, float) and v == v and v == int(v):
            raise NotImplementedError("float where an int is expected")
        raise NotImplementedError("unexpected value %r" % (v,))
    if v > 4611686018427387904 or v < -4611686018427387904:
        raise NotImplementedError("integer out of range")
    return <long long>v


cdef inline double to_double(object v) except? -1.0:
    return <double>float(v)


cdef inline int pack_node(NodeS *n, object node, object hs_truncate) except -1:
    """Fill ``n`` from an htools.model.Node (peer maps, tags: the caller)."""
    n.t_mem = to_double(node.t_mem)
    n.t_mem_i = to_int(hs_truncate(node.t_mem))
    n.n_mem = to_int(node.n_mem)
    n.x_mem_pos = to_int(max(0, node.x_mem))
    n.t_dsk = to_double(node.t_dsk)
    n.lo_dsk = to_int(node.lo_dsk)
    n.t_cpu = to_double(node.t_cpu)
    n.speed = to_double(node.t_cpu_speed)
    n.l_cpu = to_double(node.ipolicy.vcpu_ratio)
    n.hi_sp = to_double(node.hi_spindles)
    n.t_sp_f = <double>to_int(node.t_spindles)
    n.excl = 1 if node.excl_storage else 0
    n.offline = 1 if node.offline else 0
    up = node.util_pool
    n.pool[0] = to_double(up.cpu); n.pool[1] = to_double(up.mem)
    n.pool[2] = to_double(up.dsk); n.pool[3] = to_double(up.net)
    n.i_mem = to_int(node.i_mem)
    n.f_dsk = to_int(node.f_dsk)
    n.f_dsk_forth = to_int(node.f_dsk_forth)
    n.f_mem_forth = to_int(node.f_mem_forth)
    n.u_cpu = to_int(node.u_cpu)
    n.u_cpu_forth = to_int(node.u_cpu_forth)
    n.f_sp = to_int(node.f_spindles)
    n.f_sp_forth = to_int(node.f_spindles_forth)
    n.r_mem = to_int(node.r_mem)
    n.npri = len(node.p_list)
    n.nsec = len(node.s_list)
    n.loc_score = to_int(node.location_score)
    n.ptag_val = 0
    n.fail_n1 = 1 if node.fail_n1 else 0
    n.p_mem = to_double(node.p_mem)
    n.p_dsk = to_double(node.p_dsk)
    n.p_rem = to_double(node.p_rem)
    n.p_cpu = to_double(node.p_cpu)
    n.p_mem_forth = to_double(node.p_mem_forth)
    n.p_dsk_forth = to_double(node.p_dsk_forth)
    n.p_cpu_forth = to_double(node.p_cpu_forth)
    n.isp = to_double(node.inst_spindles)
    n.isp_forth = to_double(node.inst_spindles_forth)
    ul = node.util_load
    n.load[0] = to_double(ul.cpu); n.load[1] = to_double(ul.mem)
    n.load[2] = to_double(ul.dsk); n.load[3] = to_double(ul.net)
    ul = node.util_load_forth
    n.load_f[0] = to_double(ul.cpu); n.load_f[1] = to_double(ul.mem)
    n.load_f[2] = to_double(ul.dsk); n.load_f[3] = to_double(ul.net)
    n.has_pools = 0
    n.pmask = 0
    if node.pools is not None:
        pack_node_pools(n, node)
    return 0


cdef inline int pack_node_pools(NodeS *n, object node) except -1:
    from htools.model import pool_id
    from htools.haskell.prelude import floor_int
    cdef int b
    n.has_pools = 1
    for vg, (total, free) in node.pools.items():
        b = pool_id(vg)
        if b >= MAXP:
            raise NotImplementedError("too many storage pools")
        n.pmask |= 1u << b
        n.pfree[b] = to_int(free)
        n.plo[b] = to_int(floor_int(node.m_dsk * total))
        n.ptot[b] = to_double(total)
    return 0


cdef inline int pack_instance_pools(InstS *I, object inst) except -1:
    from htools.model import pool_id
    cdef int b
    for vg, amt in inst.pools.items():
        b = pool_id(vg)
        if b >= MAXP:
            raise NotImplementedError("too many storage pools")
        I.dmask |= 1u << b
        I.dem[b] = to_int(amt)
    return 0


cdef inline int pack_instance(InstS *I, object inst) except -1:
    """Fill ``I`` from an htools.model.Instance (resources, flags, util;
    the balancing fields are zero: the caller sets them)."""
    cdef object tot = inst.total_spindles()
    cdef object util = inst.util
    memset(I, 0, sizeof(InstS))
    I.mem = to_int(inst.mem)
    I.dsk = to_int(inst.dsk)
    I.vcpus = to_int(inst.vcpus)
    I.spindle_use = to_int(inst.spindle_use)
    I.has_tot_sp = 0 if tot is None else 1
    I.tot_sp = 0 if tot is None else to_int(tot)
    I.uses_memory = 1 if inst.uses_memory else 0
    I.not_offline = 1 if inst.not_offline else 0
    I.uses_sec_mem = 1 if inst.uses_sec_mem else 0
    I.local = 1 if inst.uses_local_storage else 0
    I.has_sec = 1 if inst.has_secondary else 0
    I.forthcoming = 1 if inst.forthcoming else 0
    I.loc_score = to_int(inst.location_score)
    I.util[0] = to_double(util.cpu)
    I.util[1] = to_double(util.mem)
    I.util[2] = to_double(util.dsk)
    I.util[3] = to_double(util.net)
    I.pnode = -1
    I.snode = -1
    if inst.pools:
        pack_instance_pools(I, inst)
    return 0


# ---------------------------------------------------------------------------
# the node rules (htools.model.Node)

cdef inline double new_pdsk(const NodeS *n, long long sp, long long dsk) noexcept nogil:
    """Node.compute_pdsk of the new free disk/spindles."""
    if n.excl:
        return pdsk(sp, n.t_sp_f)
    return pdsk(dsk, n.t_dsk)


cdef inline long long new_free_spindles(const NodeS *n, const InstS *I, bint add,
                                        bint forth) noexcept nogil:
    """Node._new_free_spindles."""
    cdef long long cur
    if not n.excl:
        return 0
    cur = n.f_sp_forth if forth else n.f_sp
    if not I.has_tot_sp:
        return -1 if add else cur
    return cur - I.tot_sp if add else cur + I.tot_sp


cdef inline double new_spindle_use(const NodeS *n, const InstS *I, bint add,
                                   bint forth) noexcept nogil:
    """Node._spindle_use."""
    cdef double cur
    if n.excl:
        return 0.0
    cur = n.isp_forth if forth else n.isp
    if not I.local:
        return cur
    if add:
        return cur + <double>I.spindle_use
    return cur - <double>I.spindle_use


cdef inline bint pooled(const NodeS *n, const InstS *I) noexcept nogil:
    """Node._pooled: the pools decide (the single disk figure unchecked)."""
    return n.has_pools and I.dmask != 0


cdef inline bint pool_fail(const NodeS *n, const InstS *I, bint strict) noexcept nogil:
    """Node._pool_fail: a volume group of the demand missing or short."""
    cdef int b
    cdef long long new
    if not n.has_pools or I.dmask == 0:
        return False
    if I.dmask & ~n.pmask:
        return True
    for b in range(MAXP):
        if I.dmask & (1u << b):
            new = n.pfree[b] - I.dem[b]
            if new <= 0 or (strict and new < n.plo[b]):
                return True
    return False


cdef inline void pools_with(NodeS *n, const InstS *I, long long sign) noexcept nogil:
    """Node._pools_with, in place."""
    cdef int b
    if not n.has_pools or I.dmask == 0:
        return
    for b in range(MAXP):
        if I.dmask & n.pmask & (1u << b):
            n.pfree[b] = n.pfree[b] - sign * I.dem[b]


cdef inline int add_pri(NodeS *n, const InstS *I, long long loc_delta,
                        bint strict, bint tags_conflict) noexcept nogil:
    """Node.add_pri, in place: FITS, or the failure mode (``n`` unchanged).

    ``loc_delta``: what the location score gains; ``tags_conflict``: the
    exclusion-tag check's answer (checked in its place, after the cpu)."""
    cdef bint local = I.local
    cdef bint figure = local and not pooled(n, I)
    cdef double l_cpu = n.l_cpu
    cdef long long new_mem_forth = n.f_mem_forth - I.mem
    cdef long long new_dsk_forth = n.f_dsk_forth - I.dsk if local else n.f_dsk_forth
    cdef long long new_sp_forth = new_free_spindles(n, I, True, True)
    cdef double new_isp_forth = new_spindle_use(n, I, True, True)
    cdef long long new_ucpu_forth = (n.u_cpu_forth + I.vcpus if I.not_offline
                                     else n.u_cpu_forth)
    cdef double new_pcpu_forth = hs_div(<double>new_ucpu_forth, n.t_cpu)
    cdef long long new_i_mem = 0, new_free = 0, new_dsk = 0, new_sp = 0, new_ucpu = 0
    cdef double new_isp = 0.0, new_pcpu = 0.0
    cdef bint new_failn1 = False
    cdef int k
    if not I.forthcoming:
        new_i_mem = n.i_mem + I.mem if I.uses_memory else n.i_mem
        new_free = n.t_mem_i - n.n_mem - new_i_mem - n.x_mem_pos
        new_failn1 = new_free <= n.r_mem
        new_dsk = n.f_dsk - I.dsk if local else n.f_dsk
        new_sp = new_free_spindles(n, I, True, False)
        new_isp = new_spindle_use(n, I, True, False)
        new_ucpu = n.u_cpu + I.vcpus if I.not_offline else n.u_cpu
        new_pcpu = hs_div(<double>new_ucpu, n.t_cpu)
        if new_free <= 0:
            return F_MEM
        if figure and new_dsk <= 0:
            return F_DISK
        if strict and figure and new_dsk < n.lo_dsk:
            return F_DISK
        if local and pool_fail(n, I, strict):
            return F_DISK
        if local and n.excl and new_sp < 0:
            return F_SPINDLES
        if strict and local and new_isp > n.hi_sp:
            return F_DISK
        if strict and new_failn1 and not n.fail_n1:
            return F_MEM
        if strict and l_cpu >= 0 and l_cpu < new_pcpu:
            return F_CPU
        if strict and tags_conflict:
            return F_TAGS
    if strict:
        if new_mem_forth <= 0:
            return F_MEM
        if figure and new_dsk_forth <= 0:
            return F_DISK
        if figure and new_dsk_forth < n.lo_dsk:
            return F_DISK
        if local and I.forthcoming and pool_fail(n, I, True):
            return F_DISK
        if local and n.excl and new_sp_forth < 0:
            return F_SPINDLES
        if local and new_isp_forth > n.hi_sp:
            return F_DISK
        if l_cpu >= 0 and l_cpu < new_pcpu_forth:
            return F_CPU
    if not I.forthcoming:
        n.npri += 1
        n.i_mem = new_i_mem
        n.f_dsk = new_dsk
        n.fail_n1 = 1 if new_failn1 else 0
        n.p_mem = hs_div(<double>new_free, n.t_mem)
        n.p_dsk = new_pdsk(n, new_sp, new_dsk)
        n.u_cpu = new_ucpu
        n.p_cpu = new_pcpu
        for k in range(4):
            n.load[k] = n.load[k] + I.util[k]
        n.isp = new_isp
        n.f_sp = new_sp
        n.loc_score = n.loc_score + loc_delta
    n.f_mem_forth = new_mem_forth
    n.f_dsk_forth = new_dsk_forth
    if local:
        pools_with(n, I, 1)
    n.p_mem_forth = hs_div(<double>new_mem_forth, n.t_mem)
    n.p_dsk_forth = new_pdsk(n, new_sp_forth, new_dsk_forth)
    n.u_cpu_forth = new_ucpu_forth
    n.p_cpu_forth = new_pcpu_forth
    for k in range(4):
        n.load_f[k] = n.load_f[k] + I.util[k]
    n.isp_forth = new_isp_forth
    n.f_sp_forth = new_sp_forth
    return FITS


cdef inline int add_sec(NodeS *n, const InstS *I, long long peem, bint strict,
                        bint ignore_disks) noexcept nogil:
    """Node.add_sec, in place (``peem``: the node's peer-map entry of the
    primary): FITS, or the failure mode (``n`` unchanged)."""
    cdef long long sec_mem = I.mem if I.uses_sec_mem else 0
    cdef bint figure = not pooled(n, I)
    cdef long long new_peem = peem + sec_mem
    cdef long long old_mem_forth = n.f_mem_forth
    cdef long long new_dsk_forth = n.f_dsk_forth - I.dsk
    cdef long long new_sp_forth = new_free_spindles(n, I, True, True)
    cdef double new_isp_forth = new_spindle_use(n, I, True, True)
    cdef long long old_mem = 0, new_dsk = 0, new_sp = 0, new_rmem = 0
    cdef double new_isp = 0.0
    cdef bint new_failn1 = False
    if not I.forthcoming:
        old_mem = n.t_mem_i - n.n_mem - n.i_mem - n.x_mem_pos
        new_dsk = n.f_dsk - I.dsk
        new_sp = new_free_spindles(n, I, True, False)
        new_isp = new_spindle_use(n, I, True, False)
        new_rmem = n.r_mem if n.r_mem >= new_peem else new_peem
        new_failn1 = old_mem <= new_rmem
        if not I.has_sec:
            return F_DISK
        if figure and not ignore_disks and new_dsk <= 0:
            return F_DISK
        if strict and figure and new_dsk < n.lo_dsk:
            return F_DISK
        if not ignore_disks and pool_fail(n, I, strict):
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
        if not I.has_sec:
            return F_DISK
        if figure and new_dsk_forth <= 0:
            return F_DISK
        if figure and new_dsk_forth < n.lo_dsk:
            return F_DISK
        if I.forthcoming and pool_fail(n, I, True):
            return F_DISK
        if n.excl and new_sp_forth < 0:
            return F_SPINDLES
        if new_isp_forth > n.hi_sp:
            return F_DISK
        if sec_mem >= old_mem_forth:
            return F_MEM
    if not I.forthcoming:
        n.nsec += 1
        n.f_dsk = new_dsk
        n.fail_n1 = 1 if new_failn1 else 0
        n.r_mem = new_rmem
        n.p_dsk = new_pdsk(n, new_sp, new_dsk)
        n.p_rem = hs_div(<double>new_rmem, n.t_mem)
        n.load[2] = n.load[2] + I.util[2]
        n.isp = new_isp
        n.f_sp = new_sp
    n.f_dsk_forth = new_dsk_forth
    pools_with(n, I, 1)
    n.p_dsk_forth = new_pdsk(n, new_sp_forth, new_dsk_forth)
    n.load_f[2] = n.load_f[2] + I.util[2]
    n.isp_forth = new_isp_forth
    n.f_sp_forth = new_sp_forth
    return FITS


cdef inline void remove_pri(NodeS *n, const InstS *I, long long loc_delta) noexcept nogil:
    """Node.remove_pri, in place (``loc_delta``: what the location score
    loses)."""
    cdef long long i_mem, new_free, sp
    cdef int k
    if not I.forthcoming:
        n.npri -= 1
        i_mem = n.i_mem - I.mem if I.uses_memory else n.i_mem
        new_free = n.t_mem_i - n.n_mem - i_mem - n.x_mem_pos
        n.i_mem = i_mem
        n.p_mem = hs_div(<double>new_free, n.t_mem)
        n.fail_n1 = 1 if new_free <= n.r_mem else 0
        if I.local:
            n.f_dsk = n.f_dsk + I.dsk
        sp = new_free_spindles(n, I, False, False)
        n.isp = new_spindle_use(n, I, False, False)
        n.f_sp = sp
        n.p_dsk = new_pdsk(n, n.f_sp, n.f_dsk)
        if I.not_offline:
            n.u_cpu = n.u_cpu - I.vcpus
        n.p_cpu = hs_div(<double>n.u_cpu, n.t_cpu)
        for k in range(4):
            n.load[k] = n.load[k] - I.util[k]
        n.loc_score = n.loc_score - loc_delta
    n.f_mem_forth = n.f_mem_forth + I.mem
    if I.local:
        n.f_dsk_forth = n.f_dsk_forth + I.dsk
        pools_with(n, I, -1)
    sp = new_free_spindles(n, I, False, True)
    n.isp_forth = new_spindle_use(n, I, False, True)
    n.f_sp_forth = sp
    n.p_mem_forth = hs_div(<double>n.f_mem_forth, n.t_mem)
    n.p_dsk_forth = new_pdsk(n, n.f_sp_forth, n.f_dsk_forth)
    if I.not_offline:
        n.u_cpu_forth = n.u_cpu_forth - I.vcpus
    n.p_cpu_forth = hs_div(<double>n.u_cpu_forth, n.t_cpu)
    for k in range(4):
        n.load_f[k] = n.load_f[k] - I.util[k]


cdef inline void remove_sec(NodeS *n, const InstS *I, long long old_peem,
                            long long max_other) noexcept nogil:
    """Node.remove_sec, in place: ``old_peem`` is the node's peer-map entry
    of the primary, ``max_other`` the map's maximum without that entry."""
    cdef long long sp, new_peem, r
    if not I.forthcoming:
        n.nsec -= 1
        if I.local:
            n.f_dsk = n.f_dsk + I.dsk
        sp = new_free_spindles(n, I, False, False)
        n.isp = new_spindle_use(n, I, False, False)
        n.f_sp = sp
        new_peem = old_peem - I.mem if I.uses_sec_mem else old_peem
        if old_peem < n.r_mem:
            r = n.r_mem
        elif new_peem > 0 and new_peem > max_other:
            r = new_peem
        else:
            r = max_other
        n.r_mem = r
        n.p_rem = hs_div(<double>r, n.t_mem)
        n.fail_n1 = 1 if (n.t_mem_i - n.n_mem - n.i_mem - n.x_mem_pos) <= r else 0
        n.p_dsk = new_pdsk(n, n.f_sp, n.f_dsk)
        n.load[2] = n.load[2] - I.util[2]
    if I.local:
        n.f_dsk_forth = n.f_dsk_forth + I.dsk
        pools_with(n, I, -1)
    sp = new_free_spindles(n, I, False, True)
    n.isp_forth = new_spindle_use(n, I, False, True)
    n.f_sp_forth = sp
    n.p_dsk_forth = new_pdsk(n, n.f_sp_forth, n.f_dsk_forth)
    n.load_f[2] = n.load_f[2] - I.util[2]


cdef inline void node_values(const NodeS *n, double *r) noexcept nogil:
    """The node's 20 metric values in htools.metrics.METRICS order (the
    layout of _core's ClusterState rows); the map metric is a cluster value
    (0.0 here)."""
    r[0] = n.p_mem
    r[1] = n.p_dsk
    r[2] = <double>(n.nsec + n.npri) if n.fail_n1 else 0.0
    r[3] = n.p_rem
    r[4] = <double>(n.npri + n.nsec)
    r[5] = <double>n.npri
    r[6] = n.p_cpu / n.speed
    r[7] = hs_div(n.load[0], n.pool[0])
    r[8] = hs_div(n.load[1], n.pool[1])
    r[9] = hs_div(n.load[2], n.pool[2])
    r[10] = hs_div(n.load[3], n.pool[3])
    r[11] = <double>n.ptag_val
    r[12] = hs_div(n.isp, n.hi_sp)
    r[13] = n.p_mem_forth
    r[14] = n.p_dsk_forth
    r[15] = n.p_cpu_forth / n.speed
    r[16] = hs_div(n.isp_forth, n.hi_sp)
    r[17] = <double>n.loc_score
    r[18] = 0.0
    r[19] = n.p_rem
