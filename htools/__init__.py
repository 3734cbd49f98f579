"""htools-py: a Python re-implementation of Ganeti's htools."""

__version__ = "0.1.0"

# The reference reads integers of any length (Haskell's Integer) and wraps
# or rounds them afterwards; lift Python's limit on decimal conversions
# (4300 digits) so that such input is read the same way.
import sys as _sys

if hasattr(_sys, "set_int_max_str_digits"):
    _sys.set_int_max_str_digits(0)
del _sys

# The compiled balancing step runs its candidate loop on several OpenMP
# threads.  Between steps the threads sleep instead of spinning: a master
# is shared with Ganeti's daemons, and spinning threads that lose their CPU
# stall every step (hbal measured 6x slower on a loaded 2-core machine).
# The OpenMP runtime reads this when the compiled core is first loaded.
import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
del _os
