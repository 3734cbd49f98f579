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


#: the environment's own store (``os.environ`` encodes each key it is
#: asked for; hot paths ask once per allocation)
_DATA = getattr(os.environ, "_data", None)
_KEY = b"HTOOLS_PURE" if isinstance(_DATA, dict) and all(
    isinstance(k, bytes) for k in list(_DATA)[:1]) else None


def pure() -> bool:
    """Whether the pure-Python specification is asked for (``HTOOLS_PURE``)."""
    if _KEY is not None:
        return _DATA.get(_KEY, b"") not in (b"", b"0")
    return os.environ.get("HTOOLS_PURE", "") not in ("", "0")
