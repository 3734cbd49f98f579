"""hroller: placeholder until the program is implemented."""
import sys

from htools.cli.options import Options


def run(opts: Options, args: list) -> int:
    """Entry point called by :mod:`htools.cli.main` after option parsing."""
    sys.stderr.write("Error: hroller is not implemented yet\n")
    return 1
