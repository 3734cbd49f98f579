"""htools-py: a Python re-implementation of Ganeti's htools."""

__version__ = "0.1.0"
