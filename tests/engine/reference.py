"""A plain-Python reference of the PRIME definitions (ARCHITECTURE.md, "The method, exactly").

Deliberately naive: every tag set is enumerated with :func:`itertools.combinations` and
every quantity is computed straight from its definition, so the code can be checked by
reading it next to the method. The tests compare the Rust engine with it, exactly.

A sample is ``(label, correct, tags)``; ``tags`` is any iterable of strings (a sample
carries a tag or not, so repeats count once).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import Any

Sample = tuple[Hashable, bool, Iterable[str]]


@dataclass(frozen=True)
class ClassData:
    """The samples ``D_c`` of one class: correctness flags and tag sets, in input order."""

    correct: tuple[bool, ...]
    tags: tuple[frozenset[str], ...]

    @property
    def n(self) -> int:
        """``|D_c|``."""
        return len(self.correct)

    @property
    def n_correct(self) -> int:
        """Correct predictions in ``D_c``."""
        return sum(self.correct)

    @property
    def accuracy(self) -> float:
        """``A_c``, computed in floating point from the integer counts."""
        return self.n_correct / self.n

    @cached_property
    def carriers(self) -> dict[str, frozenset[int]]:
        """For each tag, the positions of the samples carrying it."""
        out: dict[str, set[int]] = {}
        for i, tags in enumerate(self.tags):
            for t in tags:
                out.setdefault(t, set()).add(i)
        return {t: frozenset(members) for t, members in out.items()}

    def group(self, tag_set: Iterable[str]) -> frozenset[int]:
        """``I_S``: positions of the samples carrying every tag of ``tag_set`` (all for ∅)."""
        tags = list(tag_set)
        if not tags:
            return frozenset(range(self.n))
        return frozenset.intersection(*(self.carriers.get(t, frozenset()) for t in tags))

    def count(self, tag: str) -> int:
        """Samples of the class carrying ``tag``."""
        return len(self.carriers.get(tag, ()))


@dataclass(frozen=True)
class Mode:
    """One failure mode, with the columns of a result table."""

    label: Hashable
    tags: tuple[str, ...]
    support: int
    accuracy: float
    class_accuracy: float
    drop: float
    necessity: float

    def row(self) -> tuple[Any, ...]:
        """The mode as a result-table row: ``label, tags, n_tags, support, ...``."""
        return (
            self.label,
            list(self.tags),
            len(self.tags),
            self.support,
            self.accuracy,
            self.class_accuracy,
            self.drop,
            self.necessity,
        )


@dataclass(frozen=True)
class FrequentSet:
    """One set of the lattice: ``label, tags, n_tags, support, accuracy``."""

    label: Hashable
    tags: tuple[str, ...]
    support: int
    accuracy: float

    def row(self) -> tuple[Any, ...]:
        """The set as a row of :meth:`TagIndex.frequent_sets`."""
        return (self.label, list(self.tags), len(self.tags), self.support, self.accuracy)


def by_class(samples: Iterable[Sample]) -> dict[Hashable, ClassData]:
    """Split the samples into classes, keyed by label, in sorted label order."""
    correct: dict[Hashable, list[bool]] = {}
    tags: dict[Hashable, list[frozenset[str]]] = {}
    for label, ok, sample_tags in samples:
        correct.setdefault(label, []).append(bool(ok))
        tags.setdefault(label, []).append(frozenset(sample_tags))
    return {
        label: ClassData(tuple(correct[label]), tuple(tags[label])) for label in sorted(correct)
    }


def margin(necessity: Sequence[float], size: int) -> float:
    """``b_size``: 0 for one tag, then ``necessity`` = ``b_2, b_3, ...``, the last one reused."""
    if size == 1:
        return 0.0
    return float(necessity[min(size - 2, len(necessity) - 1)])


def candidate_tags(data: ClassData, min_support: int, min_tag_count: int | None) -> list[str]:
    """``T_c``: tags carried by at least ``max(min_tag_count or s, s)`` samples, sorted."""
    threshold = max(min_tag_count or min_support, min_support)
    return sorted(t for t in data.carriers if data.count(t) >= threshold)


def accuracy_of(data: ClassData, tag_set: Sequence[str]) -> tuple[int, int, float]:
    """``(|I_S|, correct in I_S, A_S)``; ``A_∅`` is the class accuracy. Needs a non-empty group."""
    members = data.group(tag_set)
    n_correct = sum(data.correct[i] for i in members)
    return len(members), n_correct, n_correct / len(members)


def _classes(
    samples: Iterable[Sample], labels: Iterable[Hashable] | None
) -> dict[Hashable, ClassData]:
    classes = by_class(samples)
    if labels is None:
        return classes
    wanted = set(labels)
    return {label: data for label, data in classes.items() if label in wanted}


def failure_modes(
    samples: Iterable[Sample],
    *,
    max_tags: int,
    min_support: int,
    min_drop: float,
    necessity: Sequence[float],
    min_tag_count: int | None = None,
    labels: Iterable[Hashable] | None = None,
) -> list[Mode]:
    """Every failure mode, sorted by label, drop (largest first), then tags."""
    modes = []
    for label, data in _classes(samples, labels).items():
        class_accuracy = data.accuracy
        threshold = class_accuracy - min_drop
        tags = candidate_tags(data, min_support, min_tag_count)
        for size in range(1, max_tags + 1):
            b = margin(necessity, size)
            for tag_set in combinations(tags, size):
                support = len(data.group(tag_set))
                if support < min_support:
                    continue
                _, _, acc = accuracy_of(data, tag_set)
                if not acc <= threshold:
                    continue
                # A_{S∖t} for every t; the empty set's accuracy is the class accuracy.
                without = [
                    accuracy_of(data, rest)[2] if rest else class_accuracy
                    for rest in combinations(tag_set, size - 1)
                ]
                if all(a_sub >= acc + b for a_sub in without):
                    modes.append(
                        Mode(
                            label=label,
                            tags=tag_set,
                            support=support,
                            accuracy=acc,
                            class_accuracy=class_accuracy,
                            drop=class_accuracy - acc,
                            necessity=min(a_sub - acc for a_sub in without),
                        )
                    )
    return sorted(modes, key=lambda m: (m.label, -m.drop, m.tags))


def frequent_sets(
    samples: Iterable[Sample],
    *,
    max_tags: int,
    min_support: int,
    min_tag_count: int | None = None,
    labels: Iterable[Hashable] | None = None,
) -> list[FrequentSet]:
    """Every ``S ⊆ T_c`` with ``1 <= |S| <= max_tags`` and ``|I_S| >= s``; by label, size, tags."""
    out = []
    for label, data in _classes(samples, labels).items():
        tags = candidate_tags(data, min_support, min_tag_count)
        for size in range(1, max_tags + 1):
            for tag_set in combinations(tags, size):
                if len(data.group(tag_set)) >= min_support:
                    support, _, acc = accuracy_of(data, tag_set)
                    out.append(FrequentSet(label, tag_set, support, acc))
    return sorted(out, key=lambda f: (f.label, len(f.tags), f.tags))


def stats(samples: Iterable[Sample], label: Hashable, tags: Iterable[str]) -> dict[str, Any]:
    """``support``, ``n_correct`` and ``accuracy`` (``None`` when empty) of ``I_S`` in ``label``."""
    data = by_class(samples)[label]
    members = data.group(tags)
    n_correct = sum(data.correct[i] for i in members)
    return {
        "support": len(members),
        "n_correct": n_correct,
        "accuracy": n_correct / len(members) if members else None,
    }


def classes(samples: Iterable[Sample]) -> list[tuple[Hashable, int, int, float]]:
    """One row per class, sorted by label: ``label, n_samples, n_correct, accuracy``."""
    return [
        (label, data.n, data.n_correct, data.accuracy) for label, data in by_class(samples).items()
    ]
