"""A deliberately simple, pure-Python PRIME search, for the benchmark's baseline.

It follows the definitions of ARCHITECTURE.md literally: Python sets of row numbers, a
depth-first walk over the frequent sets of each class (support pruning only), then the
three conditions on every stored set. No error-count pruning, no bitmaps, no tricks: it
shows what the method costs without an engine. The test suite has its own oracle; this one
only has to be right and obviously so.
"""

from __future__ import annotations

import time
from collections.abc import Sequence


class BudgetExceeded(Exception):
    """Raised inside a class's walk when the time budget is spent."""

    def __init__(self, visited: int) -> None:
        super().__init__(visited)
        self.visited = visited


def frequent_sets(
    rows_of_tag: dict[str, set[int]],
    correct_rows: set[int],
    *,
    max_tags: int,
    min_support: int,
    deadline: float = float("inf"),
) -> dict[tuple[str, ...], tuple[int, int]]:
    """Every tag set (sorted tuple) with ``support >= min_support``: ``(support, n_correct)``."""
    tags = sorted(t for t, rows in rows_of_tag.items() if len(rows) >= min_support)
    found: dict[tuple[str, ...], tuple[int, int]] = {}

    def visit(prefix: tuple[str, ...], rows: set[int], start: int) -> None:
        if time.perf_counter() > deadline:
            raise BudgetExceeded(len(found))
        for j in range(start, len(tags)):
            group = rows & rows_of_tag[tags[j]]
            if len(group) >= min_support:
                key = (*prefix, tags[j])
                found[key] = (len(group), len(group & correct_rows))
                if len(key) < max_tags:
                    visit(key, group, j + 1)

    for i, tag in enumerate(tags):
        rows = rows_of_tag[tag]
        found[(tag,)] = (len(rows), len(rows & correct_rows))
        if max_tags > 1:
            visit((tag,), rows, i + 1)
        if time.perf_counter() > deadline:
            raise BudgetExceeded(len(found))
    return found


def failure_modes(
    lattice: dict[tuple[str, ...], tuple[int, int]],
    *,
    n_samples: int,
    n_correct: int,
    min_drop: float,
    necessity: Sequence[float],
) -> list[tuple[tuple[str, ...], int, float]]:
    """The sets of ``lattice`` that are failure modes: ``(tags, support, accuracy)``."""
    class_accuracy = n_correct / n_samples
    modes = []
    for tags, (support, k) in lattice.items():
        accuracy = k / support
        if not accuracy <= class_accuracy - min_drop:
            continue
        b = 0.0 if len(tags) == 1 else necessity[min(len(tags) - 2, len(necessity) - 1)]
        minimal = True
        for i in range(len(tags)):
            subset = tags[:i] + tags[i + 1 :]
            if subset:
                sub_support, sub_k = lattice[subset]
                sub_accuracy = sub_k / sub_support
            else:
                sub_accuracy = class_accuracy
            if not sub_accuracy >= accuracy + b:
                minimal = False
                break
        if minimal:
            modes.append((tags, support, accuracy))
    return modes
