"""Command-line layer of htools-py (option parsing and program entry points)."""

# A program's start-up creates tens of thousands of long-lived objects
# (modules, functions, classes, the option table); with the default
# young-generation threshold (700 allocations) the cyclic collector runs
# dozens of times over them and finds nothing: about 5 % of a small run.
import gc as _gc

_gc.set_threshold(100000)
del _gc
