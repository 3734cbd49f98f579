"""Constants of Ganeti that the programs present or submit.

Kept apart from the domain types so that the command-line layer can read
them without importing the model.
"""

#: Version text printed after the program name (``hbal (ganeti) version ...``),
#: also the version in the reason trail of submitted jobs.
VERSION = "(ganeti) version 3.0.2-3"
#: Compiler line of ``--version`` (we mirror the reference build).
COMPILER = ("ghc", "9.0")

#: Job priorities by name (``--priority``) and their opcode values.
PRIORITY_VALUES = {"low": 10, "normal": 0, "high": -10}
