"""GHC's ``System.Console.GetOpt`` as htools uses it (``getOpt Permute``, ``usageInfo``).

Option descriptions carry, besides GetOpt's fields, Ganeti's completion
type and the function that applies the value to the options record.
Error texts, their order and the help table's alignment are GetOpt's.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Sequence, Tuple, Union

from htools.haskell.prelude import lines

__all__ = ["NO_ARG", "REQ_ARG", "OPT_ARG", "OptionValueError", "OptDescr",
           "usage_info", "getopt"]

NO_ARG, REQ_ARG, OPT_ARG = 0, 1, 2


class OptionValueError(Exception):
    """A bad option value; ``str(exc)`` is the reference's message."""


class OptDescr:
    """One option: GetOpt's ``Option`` plus Ganeti's completion type."""
    __slots__ = ("key", "shorts", "longs", "kind", "metavar", "_help",
                 "completion", "apply")

    def __init__(self, key: str, shorts: str, longs: Sequence[str], kind: int,
                 metavar: Optional[str], help: Union[str, Callable[[], str]],
                 completion: str,
                 apply: Callable[[object, Optional[str]], None]):
        self.key = key
        self.shorts = shorts
        self.longs = tuple(longs)
        self.kind = kind
        self.metavar = metavar
        self._help = help
        self.completion = completion
        self.apply = apply

    @property
    def help(self) -> str:
        h = self._help
        return h() if callable(h) else h

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "OptDescr(%r)" % self.key


def _fmt_short(d: OptDescr, c: str) -> str:
    if d.kind == NO_ARG:
        return "-" + c
    if d.kind == REQ_ARG:
        return "-%s %s" % (c, d.metavar)
    return "-%s[%s]" % (c, d.metavar)


def _fmt_long(d: OptDescr, lo: str) -> str:
    if d.kind == NO_ARG:
        return "--" + lo
    if d.kind == REQ_ARG:
        return "--%s=%s" % (lo, d.metavar)
    return "--%s[=%s]" % (lo, d.metavar)


def usage_info(header: str, descrs: Sequence[OptDescr]) -> str:
    """GetOpt's ``usageInfo``: header line(s) + aligned option table."""
    rows = []
    for d in descrs:
        sos = ", ".join(_fmt_short(d, c) for c in d.shorts)
        los = ", ".join(_fmt_long(d, lo) for lo in d.longs)
        dlines = lines(d.help)
        if not dlines:
            rows.append((sos, los, ""))
        else:
            rows.append((sos, los, dlines[0]))
            rows.extend(("", "", extra) for extra in dlines[1:])
    ws = max((len(r[0]) for r in rows), default=0)
    wl = max((len(r[1]) for r in rows), default=0)
    out = [header]
    out.extend("  %s  %s  %s" % (s.ljust(ws), lo.ljust(wl), z)
               for s, lo, z in rows)
    return "\n".join(out) + "\n"


def getopt(descrs: Sequence[OptDescr], argv: Sequence[str],
           hidden: Sequence[OptDescr] = ()):
    """``getOpt Permute``: returns ``(opts, non_options, errors)``.

    ``opts`` is a list of ``(OptDescr, value)`` in command-line order
    (value None for flags and for optional arguments not given), ``errors``
    the list of GetOpt error texts (each ending in a newline), with the
    "unrecognized option" ones last, as GetOpt orders them.  ``hidden``
    options match their exact long names only, never an abbreviation.
    """
    args = list(argv)
    opts: List[Tuple[OptDescr, Optional[str]]] = []
    nonopts: List[str] = []
    errs: List[str] = []
    unrec: List[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            nonopts.extend(args[i:])
            break
        if arg.startswith("--"):
            ls = arg[2:]
            name, eq, val = ls.partition("=")
            opt_str = "--" + name
            matches = [d for d in descrs if name in d.longs]
            if not matches:
                matches = [d for d in hidden if name in d.longs]
            if not matches:
                matches = [d for d in descrs
                           if any(lo.startswith(name) for lo in d.longs)]
            if len(matches) > 1:
                errs.append(usage_info("option `%s' is ambiguous; could be one of:"
                                       % opt_str, matches))
            elif len(matches) == 1:
                d = matches[0]
                if d.kind == NO_ARG:
                    if eq:
                        errs.append("option `%s' doesn't allow an argument\n"
                                    % opt_str)
                    else:
                        opts.append((d, None))
                elif d.kind == REQ_ARG:
                    if eq:
                        opts.append((d, val))
                    elif i < len(args):
                        opts.append((d, args[i]))
                        i += 1
                    else:
                        errs.append("option `%s' requires an argument %s\n"
                                    % (opt_str, d.metavar))
                else:
                    opts.append((d, val if eq else None))
            else:
                unrec.append("--" + ls)
        elif len(arg) >= 2 and arg[0] == "-":
            y, ys = arg[1], arg[2:]
            opt_str = "-" + y
            matches = [d for d in descrs if y in d.shorts]
            if len(matches) > 1:
                errs.append(usage_info("option `%s' is ambiguous; could be one of:"
                                       % opt_str, matches))
            elif not matches:
                unrec.append(opt_str)
                if ys:
                    i -= 1
                    args[i] = "-" + ys
            else:
                d = matches[0]
                if d.kind == NO_ARG:
                    opts.append((d, None))
                    if ys:
                        i -= 1
                        args[i] = "-" + ys
                elif d.kind == REQ_ARG:
                    if ys:
                        opts.append((d, ys))
                    elif i < len(args):
                        opts.append((d, args[i]))
                        i += 1
                    else:
                        errs.append("option `%s' requires an argument %s\n"
                                    % (opt_str, d.metavar))
                else:
                    opts.append((d, ys if ys else None))
        else:
            nonopts.append(arg)
    errs.extend("unrecognized option `%s'\n" % u for u in unrec)
    return opts, nonopts, errs
