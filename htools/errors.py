"""Error convention shared by all htools programs.

A fatal error is reported as ``Error: <message>`` on stderr and ends the
program with ``status`` (1 unless told otherwise), exactly like Ganeti's
``exitErr``.  Raise :class:`HtoolsError` anywhere below a tool's ``run()``;
the entry wrapper in :mod:`htools.cli.main` prints it and exits.
"""


class HtoolsError(Exception):
    """Fatal error: printed as ``Error: <message>``, exit with ``status``."""

    def __init__(self, message: str = "", status: int = 1):
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


def error_text(message: str) -> str:
    """The text printed on stderr for a fatal error (with final newline)."""
    return "Error: %s\n" % message


class UncaughtIOError(HtoolsError):
    """An I/O failure htools does not catch: printed as ``<prog>: <message>``."""


class MissingKey(Exception):
    """htools would have crashed on ``IntMap.!`` with this key (a lookup of
    a node or instance index that is not in the map handed in).  The entry
    wrapper prints the reference's crash text (:func:`crash_text`) and
    exits 1."""

    def __init__(self, key: int) -> None:
        super().__init__(key)
        self.key = key

    @property
    def message(self) -> str:
        return "IntMap.!: key %d is not an element of the map" % self.key


def crash_text(prog: str, err: MissingKey) -> str:
    """The reference's stderr for that crash (GHC 9.0, containers 0.6.4.1)."""
    return ("%s: %s\nCallStack (from HasCallStack):\n"
            "  error, called at libraries/containers/containers/src/Data/IntMap/"
            "Internal.hs:619:17 in containers-0.6.4.1:Data.IntMap.Internal\n"
            % (prog, err.message))
