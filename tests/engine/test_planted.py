"""Planted failure modes are found, and only the minimal sets are reported.

A hand-built table (numpy, fixed seed, exact correct counts per group) plants a 3-tag mode
whose pairs stay easy, and a 2-tag mode with a tag riding along; then the synthetic SMALL
data set's own planted modes are looked for at several supports.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import polars as pl
import pytest

import prime_rs
import reference
from prime_rs import MODE_COLUMNS, TagIndex, synthetic

BACKGROUND = [f"background {i}" for i in range(12)]
TRIPLE = ("close-up", "night", "snow")  # sorted
PAIR = ("dusk", "mud")
RIDER = "fence"  # carried by most of the PAIR group, and by easy samples


def _planted_class(
    rng: np.random.Generator, label: str, spec: list[tuple[tuple[str, ...], int, int]]
) -> list[tuple[str, bool, list[str]]]:
    """Disjoint groups ``(tags, n, n_correct)``; the untagged group gets background tags.

    Correct predictions are placed at random inside each group, but their count is exact,
    so every accuracy below is known in advance. Background tags stay off the planted
    groups, so they cannot combine with a planted tag into a mode of their own.
    """
    samples = []
    for tags, n, n_correct in spec:
        correct = np.zeros(n, dtype=bool)
        correct[rng.permutation(n)[:n_correct]] = True
        background = rng.random((n, len(BACKGROUND))) < (0.0 if tags else 0.2)
        for i in range(n):
            extra = [t for t, has in zip(BACKGROUND, background[i], strict=True) if has]
            samples.append((label, bool(correct[i]), [*tags, *extra]))
    order = rng.permutation(len(samples))
    return [samples[i] for i in order]


def planted_samples() -> list[tuple[str, bool, list[str]]]:
    """Class "fox" hides TRIPLE (50 samples, 10% accurate) among easy pairs and singles.

    Class "cat" hides PAIR (60 samples, 10% accurate); RIDER sits on 50 of them, and on
    easy samples of each of PAIR's tags, so {PAIR + RIDER} is as bad as PAIR but not minimal.
    """
    rng = np.random.default_rng(7)
    a, b, c = TRIPLE
    fox = _planted_class(
        rng,
        "fox",
        [
            ((a, b, c), 50, 5),
            ((a, b), 100, 90),
            ((a, c), 100, 90),
            ((b, c), 100, 90),
            ((a,), 100, 90),
            ((b,), 100, 90),
            ((c,), 100, 90),
            ((), 1350, 1215),
        ],
    )
    d, e = PAIR
    cat = _planted_class(
        rng,
        "cat",
        [
            ((d, e, RIDER), 50, 5),
            ((d, e), 10, 1),
            ((d, RIDER), 100, 90),
            ((e, RIDER), 100, 90),
            ((d,), 50, 45),
            ((e,), 50, 45),
            ((RIDER,), 100, 90),
            ((), 1540, 1386),
        ],
    )
    return fox + cat


def frame(samples: list[tuple[str, bool, list[str]]]) -> pl.DataFrame:
    """The samples as a samples table."""
    return pl.DataFrame(
        {
            "id": range(len(samples)),
            "label": [s[0] for s in samples],
            "correct": [s[1] for s in samples],
            "tags": pl.Series([s[2] for s in samples], dtype=pl.List(pl.String)),
        }
    )


def keys(modes: pl.DataFrame) -> set[tuple[Any, tuple[str, ...]]]:
    """``(label, tags)`` of every row."""
    return {(r[0], tuple(r[1])) for r in modes.select("label", "tags").rows()}


def rows(modes: pl.DataFrame) -> list[tuple[Any, ...]]:
    """Rows of the method's columns (later columns are other features' business)."""
    return modes.select(MODE_COLUMNS).rows()


def ref_rows(samples: list[Any], **params: Any) -> list[tuple[Any, ...]]:
    """The reference's result rows."""
    return [m.row() for m in reference.failure_modes(samples, **params)]


def test_planted_triple_is_found_and_its_pairs_are_not() -> None:
    samples = planted_samples()
    df = frame(samples)
    index = TagIndex.from_samples(df)
    # The data is what the docstring says: exact class and group accuracies.
    assert index.classes().rows() == [("cat", 2000, 1752, 0.876), ("fox", 2000, 1760, 0.88)]
    assert index.stats("fox", TRIPLE) == {"support": 50, "n_correct": 5, "accuracy": 0.1}
    for pair in combinations(TRIPLE, 2):
        stats = index.stats("fox", pair)
        assert stats["support"] == 150
        assert stats["accuracy"] > 0.88 - 0.3  # a pair alone does not drop enough

    params = {"max_tags": 3, "min_support": 30, "min_drop": 0.3, "necessity": [0.1, 0.05]}
    modes = index.search(**params).modes
    assert keys(modes) == {("fox", TRIPLE), ("cat", PAIR)}
    assert rows(modes) == ref_rows(samples, **params)
    row = modes.filter(pl.col("label") == "fox").row(0, named=True)
    assert (row["n_tags"], row["support"], row["accuracy"]) == (3, 50, 0.1)
    assert row["class_accuracy"] == 0.88
    assert row["drop"] == 0.88 - 0.1
    assert row["necessity"] == 95 / 150 - 0.1
    # PAIR + RIDER is just as bad as PAIR (both 10%), so it is not minimal.
    assert index.stats("cat", [*PAIR, RIDER])["accuracy"] == 0.1
    assert ("cat", (RIDER, *PAIR)) not in keys(modes)

    # One tag short, the triple cannot be described; nothing else in "fox" takes its place.
    short = index.search(**{**params, "max_tags": 2}).modes
    assert keys(short) == {("cat", PAIR)}
    assert rows(short) == ref_rows(samples, **{**params, "max_tags": 2})
    # Larger sets add nothing: every superset of the triple is as bad, so not minimal.
    wide = index.search(**{**params, "max_tags": 4}, threads=2).modes
    assert rows(wide) == rows(modes)
    assert rows(wide) == ref_rows(samples, **{**params, "max_tags": 4})
    # Above the planted support the triple is out of reach.
    assert ("fox", TRIPLE) not in keys(index.search(**{**params, "min_support": 51}).modes)
    assert ("fox", TRIPLE) in keys(index.search(**{**params, "min_support": 50}).modes)


def test_planted_triple_in_the_lattice() -> None:
    samples = planted_samples()
    sets = TagIndex.from_samples(frame(samples)).frequent_sets(max_tags=3, min_support=30)
    expected = reference.frequent_sets(samples, max_tags=3, min_support=30)
    assert sets.rows() == [f.row() for f in expected]
    assert ("fox", list(TRIPLE), 3, 50, 0.1) in sets.rows()


@pytest.fixture(scope="module")
def small() -> synthetic.Synthetic:
    return synthetic.generate(synthetic.SMALL)


@pytest.mark.parametrize("min_support", [20, 30, 40])
def test_synthetic_small_planted_modes_are_found(
    small: synthetic.Synthetic, min_support: int
) -> None:
    params = {"max_tags": 3, "min_support": min_support, "min_drop": 0.3}
    modes = prime_rs.find_failure_modes(small.samples, **params, threads=1)
    planted = keys(small.planted)
    assert len(planted) == 3 * 2
    found = keys(modes)
    assert planted <= found, f"planted modes not found: {planted - found}"
    # The generator keeps the subsets of a planted set easy: only the full set is minimal.
    for label, tags in planted:
        for size in range(1, len(tags)):
            for subset in combinations(tags, size):
                assert (label, subset) not in found
    assert modes.equals(prime_rs.find_failure_modes(small.samples, **params, threads=2))
    samples = list(
        zip(
            small.samples["label"].to_list(),
            small.samples["correct"].to_list(),
            small.samples["tags"].to_list(),
            strict=True,
        )
    )
    assert rows(modes) == ref_rows(samples, **params, necessity=[0.10, 0.05, 0.025])
