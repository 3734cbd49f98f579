"""hbal's progress line on a terminal (ours: the reference shows none)."""
from __future__ import annotations

import sys


class Progress:
    """Step counter and score on stderr, only when it is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    @classmethod
    def create(cls) -> "Progress":
        try:
            tty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls(tty)

    def update(self, step: int, score: float) -> None:
        if not self.enabled:
            return
        sys.stderr.write("\r[hbal] step %d, score %.8f, searching next move..."
                         % (step, score))
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False
