"""Showing or saving the ``gnt-instance`` commands of a plan (``-C``)."""
from __future__ import annotations

import sys
TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Optional

from htools.errors import UncaughtIOError

#: the header of a ``-CFILE`` script (htools' ``shTemplate``)
SH_TEMPLATE = ("#!/bin/sh\n\n"
               "# Auto-generated script for executing cluster rebalancing\n\n"
               "# To stop, touch the file /tmp/stop-htools\n\n"
               "set -e\n\n"
               "check() {\n"
               "  if [ -f /tmp/stop-htools ]; then\n"
               "    echo 'Stop requested, exiting'\n"
               "    exit 0\n"
               "  fi\n"
               "}\n\n")


def save_commands(msg: str, dest: Optional[str], cmds: str) -> None:
    """htools' ``maybeSaveCommands``: ``-C`` prints, ``-CFILE`` writes a script."""
    if dest is None:
        return
    out = sys.stdout
    if dest == "-":
        out.write("\n" + msg + "\n")
        lines = cmds.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        out.write("".join("  " + line + "\n" for line in lines if line != "  check"))
        return
    try:
        with open(dest, "w") as fh:
            fh.write(SH_TEMPLATE + cmds)
    except OSError as err:
        from htools.haskell.io import open_file_error
        raise UncaughtIOError(open_file_error(dest, err)) from None
    out.write("The commands have been written to file '%s'\n" % dest)
