"""What the reference inherits from GHC and the Haskell libraries it uses.

htools' output, messages and arithmetic come partly from Haskell itself:
``Int`` wrap-around and the x86 conversions of ``floor``/``truncate``, the
``Read`` instances behind ``tryRead``, ``show`` of strings and doubles,
``printf``, json-0.10 (``Text.JSON``) and the ``pretty`` package's
HughesPJ rendering.  Each has exactly one imitation, here:

- :mod:`.prelude`: ``Int`` arithmetic (64-bit wrap, floor, truncate, division)
  and ``lines``;
- :mod:`.read`: ``reads``/``tryRead`` at ``Int``, ``Integer`` and ``Double``;
- :mod:`.show`: ``show`` of strings, characters and lists of strings;
- :mod:`.fmt`: ``printf`` and ``show`` of doubles (shortest digits);
- :mod:`.jsvalue`: json-0.10's ``JSValue`` as Python values;
- :mod:`.json`: json-0.10's parser, writer and derived ``show``, Ganeti's
  JSON readers;
- :mod:`.pretty`: ``Text.JSON.Pretty`` rendered by HughesPJ;
- :mod:`.io`: the texts of GHC's IOErrors;
- :mod:`.ordering`: ``compare`` and GHC's ``Data.List.sortBy``;
- :mod:`.getopt`: ``System.Console.GetOpt`` (``getOpt Permute``, ``usageInfo``).

Nothing here knows about clusters (only :mod:`htools.errors` is imported,
for the error convention); the rest of the project imports these modules,
never the other way round.
"""
