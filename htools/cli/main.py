"""Entry points of the nine htools programs.

Each program is one :class:`HtoolsCommand` (a ``click.Command``) whose
argument parsing and help are replaced by the GetOpt-compatible layer of
:mod:`htools.cli.options`, so that every byte of help, version and error
output matches the reference.  After parsing, the positional arguments are
checked the way the reference's ``main`` functions do first thing, then
``htools.cli.<prog>.run(opts, args)`` is imported lazily and called; its
return value (int, None = 0) is the exit status.

Error convention: :class:`htools.errors.HtoolsError` raised below ``run()``
prints ``Error: <message>`` on stderr and exits with its status;
``KeyboardInterrupt`` (SIGINT) ends the process by SIGINT (status 130) without a
traceback, as the GHC runtime does.  Standard output failing while the
program runs ends it as GHC's top handler does: quietly with status 0 on a
broken pipe, with ``<prog>: <stdout>: commitBuffer: ...`` and status 1 on
any other error (a full disk); a failure of the final flush is ignored.

Start-up cost matters (Ganeti runs ``hail`` for every instance creation):
the console scripts import only the option table and the program's module;
click, which defines the programs as commands (:data:`COMMANDS`, the
multi-call entry :func:`multi_main`, ``python -m htools.cli``), is imported
when those are first used.  Both paths parse and run the same way.
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Sequence

from htools.cli.options import (PROGRAMS, CommandLineExit, Options,
                                parse_cmdline, usage_help)
from htools.errors import HtoolsError, MissingKey, UncaughtIOError, crash_text

__all__ = ["main", "run_tool", "check_args",
           "multi_main", "hail", "harep", "hbal", "hcheck", "hinfo",
           "hroller", "hscan", "hspace", "hsqueeze"]


def check_args(prog: str, args: Sequence[str]) -> None:
    """The positional-argument checks each reference program starts with."""
    if prog == "hscan":
        return
    if prog == "hail":
        if not args:
            raise HtoolsError("This program needs an input file.")
        if len(args) > 1:
            raise HtoolsError("Only one argument is accepted (the input file)")
        return
    if args:
        if prog == "harep":
            raise HtoolsError("this program doesn't take any arguments.")
        raise HtoolsError("This program doesn't take any arguments.")


def run_tool(prog: str, opts: Options, args: List[str]) -> int:
    """Check ``args`` and run ``htools.cli.<prog>.run(opts, args)``."""
    check_args(prog, args)
    modname = "htools.cli." + prog
    try:
        __import__(modname)     # importlib itself costs start-up time
        module = sys.modules[modname]
    except ModuleNotFoundError as e:
        if e.name != modname:
            raise
        raise HtoolsError("%s is not implemented yet" % prog) from None
    rv = module.run(opts, args)
    return 0 if rv is None else int(rv)


def _write(stream, text: str) -> None:
    stream.write(text)


def _silence_stdout() -> None:
    """After EPIPE on stdout: point fd 1 at /dev/null so exit is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _silence_stderr() -> None:
    """After EPIPE on stderr: fd 2 to /dev/null, the buffer dropped."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())
        os.close(devnull)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


#: status of a run stopped by SIGINT (the process then dies of SIGINT,
#: like the GHC runtime's top handler does: the shell sees 130)
_INTERRUPTED = 130


def _die_of_sigint() -> None:
    import signal
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


class StdoutError(Exception):
    """Writing the standard output failed (``errno`` of the failure)."""

    def __init__(self, err: OSError) -> None:
        super().__init__(err.errno)
        self.errno = err.errno
        self.strerror = err.strerror or os.strerror(err.errno or 0)


class _GuardedStdout:
    """The standard output, with its write failures told apart from any
    other I/O error (GHC's top handler treats them specially).

    GHC writes stdout (not a terminal) through an 8 KiB buffer and does
    not flush it on its own before exit: a broken or full output is
    noticed only when that buffer first fills.  Ours may write earlier
    (explicit flushes that keep stdout in order with stderr, or an
    unbuffered stdout under PYTHONUNBUFFERED); a failure before 8 KiB
    have been written is kept pending, with stdout pointed at /dev/null,
    and raised once as much has been written as would have filled GHC's
    buffer."""

    GHC_BUFFER = 8192

    def __init__(self, stream) -> None:
        self._stream = stream
        self._written = 0
        self._pending: Optional[OSError] = None

    def _count(self, text) -> None:
        self._written += len(text.encode("utf-8", "surrogateescape")) \
            if not text.isascii() else len(text)

    def write(self, text):
        self._count(text)
        if self._pending is not None and self._written > self.GHC_BUFFER:
            raise StdoutError(self._pending)
        try:
            return self._stream.write(text)
        except OSError as err:
            self._failed(err)
            return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as err:
            self._failed(err)

    def _failed(self, err: OSError) -> None:
        if self._written > self.GHC_BUFFER:
            raise StdoutError(err) from None
        if self._pending is None:
            self._pending = err
            _silence_stdout()

    def __getattr__(self, name):
        return getattr(self._stream, name)


#: GHC's description of an I/O error type, by errno (``show IOErrorType``)
def _ghc_error_kind(errno_: int) -> str:
    import errno as e
    kinds = {
        e.ENOSPC: "resource exhausted", e.EDQUOT: "resource exhausted",
        e.EFBIG: "resource exhausted", e.ENOMEM: "resource exhausted",
        e.EIO: "hardware fault", e.EBADF: "invalid argument",
        e.EINVAL: "invalid argument", e.EACCES: "permission denied",
        e.EPERM: "permission denied", e.EPIPE: "resource vanished",
        e.ECONNRESET: "resource vanished", e.EAGAIN: "resource exhausted",
        e.EINTR: "interrupted",
    }
    return kinds.get(errno_, "failed")


def _stdout_failed(prog: str, err: StdoutError) -> int:
    """A write to stdout failed while the program ran: GHC's top handler
    exits 0 quietly on EPIPE (the reader went away), else it shows
    ``<prog>: <stdout>: commitBuffer: <kind> (<reason>)`` and exits 1."""
    import errno
    _silence_stdout()
    if err.errno == errno.EPIPE:
        return 0
    try:
        sys.stderr.write("%s: <stdout>: commitBuffer: %s (%s)\n"
                         % (prog, _ghc_error_kind(err.errno or 0), err.strerror))
        sys.stderr.flush()
    except OSError:
        pass
    return 1


def _final_flush() -> None:
    """Flush stdout at exit; like GHC's ``hFlush stdout`` in ``hs_exit``,
    a failure there is ignored (the status stays the program's)."""
    try:
        sys.stdout.flush()
    except (OSError, StdoutError, ValueError):
        _silence_stdout()


def _execute(prog: str, run: Callable[[], int]) -> int:
    """Parse and run (``run()``), mapping every outcome to an exit status."""
    saved = sys.stdout
    guarded = _GuardedStdout(saved)
    sys.stdout = guarded
    try:
        return _execute_guarded(prog, run)
    finally:
        if sys.stdout is guarded:
            sys.stdout = saved


def _execute_guarded(prog: str, run: Callable[[], int]) -> int:
    try:
        try:
            status = run()
        except CommandLineExit as e:
            _write(sys.stdout if e.to_stdout else sys.stderr, e.text)
            status = e.status
        except UncaughtIOError as e:
            sys.stdout.flush()
            _write(sys.stderr, "%s: %s\n" % (prog, e.message))
            status = e.status
        except HtoolsError as e:
            sys.stdout.flush()
            _write(sys.stderr, "Error: %s\n" % e.message)
            status = e.status
        except MissingKey as e:
            # where htools crashes on a missing map key, say what it says
            sys.stdout.flush()
            _write(sys.stderr, crash_text(prog, e))
            status = 1
        _final_flush()
    except KeyboardInterrupt:
        status = _INTERRUPTED
    except StdoutError as e:
        status = _stdout_failed(prog, e)
    except BrokenPipeError:
        # stderr went away: the error cannot even be shown
        _silence_stdout()
        _silence_stderr()
        status = 1
    return status


def _exit(status: int) -> None:
    """End the process with ``status`` (by SIGINT after an interrupt)."""
    if status == _INTERRUPTED:
        _die_of_sigint()
    sys.exit(status)


def main(prog: str, args: Optional[Sequence[str]] = None,
         standalone_mode: bool = True) -> int:
    """Run ``prog`` with ``args`` (default: the command line); exits, or
    returns the status if not standalone."""
    argv = list(sys.argv[1:] if args is None else args)

    def run() -> int:
        opts, rest = parse_cmdline(prog, argv)
        return run_tool(prog, opts, rest)
    status = _execute(prog, run)
    if not standalone_mode:
        return status
    _exit(status)
    return status


def _command_class():
    import functools
    import click

    class HtoolsCommand(click.Command):
        """A click command whose parsing/help follow Haskell GetOpt exactly."""

        def __init__(self, prog: str):
            super().__init__(
                prog,
                callback=functools.partial(run_tool, prog),
                help=PROGRAMS[prog].description,
                add_help_option=False,
            )

        # --- click hooks -------------------------------------------------
        def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
            opts, rest = parse_cmdline(self.name, args)
            ctx.params["opts"] = opts
            ctx.params["args"] = rest
            ctx.args = []
            return []

        def get_usage(self, ctx: click.Context) -> str:
            return "Usage: %s [OPTION...]" % self.name

        def get_help(self, ctx: click.Context) -> str:
            return usage_help(self.name).rstrip("\n")

        def format_help(self, ctx, formatter) -> None:  # pragma: no cover
            formatter.write(usage_help(self.name))

        def main(self, args: Optional[Sequence[str]] = None,
                 prog_name: Optional[str] = None, complete_var=None,
                 standalone_mode: bool = True, **extra):
            """Run the program; exits (or returns the status if not standalone)."""
            argv = list(sys.argv[1:] if args is None else args)

            def run() -> int:
                with self.make_context(self.name, argv, **extra) as ctx:
                    return self.invoke(ctx)
            status = _execute(self.name, run)
            if not standalone_mode:
                return status
            _exit(status)

    return HtoolsCommand


def __getattr__(name: str):
    """``HtoolsCommand`` and ``COMMANDS`` (one click command per program),
    built on first use."""
    if name in ("HtoolsCommand", "COMMANDS"):
        cls = _command_class()
        globals()["HtoolsCommand"] = cls
        globals()["COMMANDS"] = {prog: cls(prog) for prog in PROGRAMS}
        return globals()[name]
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _entry(prog: str):
    def entry() -> None:
        main(prog)
    entry.__name__ = prog
    entry.__doc__ = "Console entry point of %s." % prog
    return entry


hail = _entry("hail")
harep = _entry("harep")
hbal = _entry("hbal")
hcheck = _entry("hcheck")
hinfo = _entry("hinfo")
hroller = _entry("hroller")
hscan = _entry("hscan")
hspace = _entry("hspace")
hsqueeze = _entry("hsqueeze")


# ---------------------------------------------------------------- multi-call

def _wrap(max_width: int, text: str) -> List[str]:
    """Ganeti's ``Utils.wrap``."""
    out = []
    while True:
        if len(text) <= max_width:
            out.append(text)
            break
        line, rest = text[:max_width], text[max_width:]
        cut = len(line)
        while cut > 0 and not line[cut - 1].isspace():
            cut -= 1
        rev_line_empty = cut == 0
        rev_extra_empty = cut == len(line)
        if rev_line_empty or rev_extra_empty or rest[:1].isspace():
            out.append(line)
            text = rest
        else:
            out.append(line[:cut])
            text = line[cut:] + rest
    return [t for t in (s.strip() for s in out) if t]


def format_commands() -> List[str]:
    """Ganeti's ``formatCommands`` over the htools personalities."""
    names = sorted(PROGRAMS)
    mlen = min(60, max(len(n) for n in names))
    width = 79 - 3 - mlen
    rows = []
    for name in names:
        cmd, sep = name, "-"
        for d in _wrap(width, PROGRAMS[name].description):
            rows.append(" %s %s %s" % (cmd.ljust(mlen), sep, d))
            cmd, sep = "", " "
    return rows


def multi_main(argv: Optional[Sequence[str]] = None) -> None:
    """The reference's single ``htools`` binary: role from ``$HTOOLS`` or
    the program name (lower-cased)."""
    if argv is None:
        argv = sys.argv
    name = os.environ.get("HTOOLS")
    if name is None:
        name = os.path.basename(argv[0]) if argv else ""
    name = name.lower()
    commands = __getattr__("COMMANDS")
    if name not in commands:
        sys.stderr.write("Unrecognised personality '%s'.\n" % name)
        sys.stderr.write("This program must be installed under one of the "
                         "following names:\n")
        sys.stderr.write("".join(r + "\n" for r in format_commands()) + "\n")
        sys.stderr.write("Error: Please either rename/symlink the program or "
                         "set\nthe environment variable HTOOLS to the desired "
                         "role.\n")
        sys.exit(1)
    commands[name].main(list(argv[1:]))
