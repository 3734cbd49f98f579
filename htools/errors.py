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
