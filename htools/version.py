"""The version htools-py presents: that of the reference build it replaces."""

#: Version text printed after the program name (``hbal (ganeti) version ...``),
#: also the version in the reason trail of submitted jobs.
VERSION = "(ganeti) version 3.0.2-3"
#: Compiler line of ``--version`` (we mirror the reference build).
COMPILER = ("ghc", "9.0")
