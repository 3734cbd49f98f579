"""Haskell's ``Ordering``, ``compare`` and GHC's ``Data.List.sortBy``.

htools sorts candidates with ``sortBy`` and comparisons on Doubles; with
NaN scores the comparison is inconsistent and GHC's merge sort makes
particular choices, which :func:`ghc_sort_by` reproduces.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing stays out of start-up
if TYPE_CHECKING:
    from typing import Callable, List, Sequence, TypeVar

__all__ = ["LT", "EQ", "GT", "compare_int", "compare_double", "ghc_sort_by"]

if TYPE_CHECKING:
    T = TypeVar("T")

LT, EQ, GT = -1, 0, 1


def compare_int(a: int, b: int) -> int:
    return LT if a < b else (EQ if a == b else GT)


def compare_double(a: float, b: float) -> int:
    """GHC's ``compare`` on Double (NaN compares GT to everything)."""
    if a < b:
        return LT
    if a == b:
        return EQ
    return GT


def ghc_sort_by(cmp: Callable[[T, T], int], xs: Sequence[T]) -> List[T]:
    """``Data.List.sortBy`` exactly as GHC's base implements it.

    Stable; with a consistent ordering it agrees with ``sorted``, and with
    an inconsistent one (NaN scores) it makes the same choices as htools.
    """
    xs = list(xs)

    def sequences(lst: List[T], i: int) -> List[List[T]]:
        runs: List[List[T]] = []
        n = len(lst)
        while True:
            if n - i < 2:
                runs.append(lst[i:])
                return runs
            a, b = lst[i], lst[i + 1]
            i += 2
            if cmp(a, b) == GT:
                # descending run: b, a, ...
                run = [a]
                cur = b
                while i < n and cmp(cur, lst[i]) == GT:
                    run.append(cur)
                    cur = lst[i]
                    i += 1
                run.append(cur)
                run.reverse()
                runs.append(run)
            else:
                run = [a]
                cur = b
                while i < n and cmp(cur, lst[i]) != GT:
                    run.append(cur)
                    cur = lst[i]
                    i += 1
                run.append(cur)
                runs.append(run)

    def merge(a: List[T], b: List[T]) -> List[T]:
        out: List[T] = []
        i = j = 0
        while i < len(a) and j < len(b):
            if cmp(a[i], b[j]) == GT:
                out.append(b[j])
                j += 1
            else:
                out.append(a[i])
                i += 1
        out.extend(a[i:])
        out.extend(b[j:])
        return out

    runs = sequences(xs, 0)
    while len(runs) > 1:
        paired = []
        for k in range(0, len(runs) - 1, 2):
            paired.append(merge(runs[k], runs[k + 1]))
        if len(runs) % 2:
            paired.append(runs[-1])
        runs = paired
    return runs[0]
