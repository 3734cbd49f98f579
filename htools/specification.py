"""One switch between the compiled core and the pure-Python specification.

The compiled core is part of every build (``setup.py`` compiles every
``htools/*.pyx``) and is always imported.  The plain-Python paths it is
held to - the metrics of :mod:`htools.metrics`, the exhaustive search of
:mod:`htools.balance.search`, the model's ``tryAlloc`` - stay runnable:
with ``HTOOLS_PURE=1`` in the environment, balancing and allocation take
them instead (slowly), which is how the two are compared end to end.
"""
from __future__ import annotations

import os

__all__ = ["pure"]


def pure() -> bool:
    """Whether the pure-Python specification is asked for (``HTOOLS_PURE``)."""
    return os.environ.get("HTOOLS_PURE", "") not in ("", "0")
