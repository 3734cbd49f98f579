# Inline C helpers shared by the compiled modules (cimported by _core.pyx,
# its _alloc.pxi and _balance.pyx): one definition of each arithmetic rule
# of the reference that the hot loops need.
from libc.math cimport NAN, INFINITY


cdef inline double hs_div(double a, double b) noexcept nogil:
    """``haskell.prelude.fdiv``: IEEE division, x/0 by the sign of x alone."""
    if b == 0.0:
        if a == 0.0 or a != a:
            return NAN
        return INFINITY if a > 0.0 else -INFINITY
    return a / b


cdef inline double pdsk(long long free_, double total) noexcept nogil:
    """``model.compute_pdsk``: the free share of a node's disk (1 when it has none)."""
    if total == 0.0:
        return 1.0
    return <double>free_ / total
