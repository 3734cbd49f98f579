"""The texts of the IOErrors GHC's runtime raises, as htools prints them."""
from __future__ import annotations

import errno

__all__ = ["open_file_error"]


def open_file_error(path: str, err: OSError) -> str:
    """``openFile``'s IOError for ``path``: ``<path>: openFile: <reason> (<strerror>)``."""
    reason = {
        errno.ENOENT: "does not exist",
        errno.EACCES: "permission denied",
        errno.EISDIR: "inappropriate type",
    }.get(err.errno or 0, "failed")
    return "%s: openFile: %s (%s)" % (path, reason, err.strerror)
