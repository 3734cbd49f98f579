"""``python -m htools.cli [PROG] ...``: run one of the htools programs.

The role comes from ``$HTOOLS`` (like the reference's multi-call binary);
otherwise the first argument names the program.
"""
import os
import sys

from htools.cli.main import COMMANDS, multi_main


def _main() -> None:
    if "HTOOLS" not in os.environ and len(sys.argv) > 1 \
            and sys.argv[1].lower() in COMMANDS:
        COMMANDS[sys.argv[1].lower()].main(sys.argv[2:])
    multi_main(sys.argv)


if __name__ == "__main__":
    _main()
