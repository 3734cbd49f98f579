"""htools-py: a Python re-implementation of Ganeti's htools."""

__version__ = "0.1.0"

# The reference reads integers of any length (Haskell's Integer) and wraps
# or rounds them afterwards; lift Python's limit on decimal conversions
# (4300 digits) so that such input is read the same way.
import sys as _sys

if hasattr(_sys, "set_int_max_str_digits"):
    _sys.set_int_max_str_digits(0)
del _sys
