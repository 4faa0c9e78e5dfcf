"""The Rust engine against the plain-Python reference (tests/reference.py), exactly.

Random small tables and parameters (hypothesis), then hand-built cases whose parameters land
exactly on the bounds of the method's inequalities.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import prime_rs
import reference
from prime_rs import MODE_COLUMNS, TagIndex

EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Names chosen to stress sorting: shared prefixes, a space, upper case, non-ASCII.
TAG_POOL = (
    "a", "a b", "ab", "b", "grass", "snow", "Snow", "sky", "sky blue", "tree",
    "water", "café", "caf", "zebra crossing",
)  # fmt: skip
STR_LABELS = ("cat", "dog", "fox", "Zebra", "ñu")
INT_LABELS = (-3, 0, 1, 7, 42)


# -- tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """The same samples twice: for the reference, and as a samples table for the engine."""

    samples: list[reference.Sample]
    frame: pl.DataFrame

    @property
    def labels(self) -> list[Any]:
        """Distinct labels, sorted."""
        return sorted({s[0] for s in self.samples})

    @property
    def vocabulary(self) -> list[str]:
        """Distinct tags, sorted."""
        return sorted({t for s in self.samples for t in s[2]})


def make_table(
    samples: Sequence[tuple[Hashable, bool, list[str]]],
    *,
    with_prediction: bool = False,
    str_ids: bool = False,
) -> Table:
    """Build a :class:`Table`; with ``with_prediction`` correctness comes from a prediction."""
    labels = [s[0] for s in samples]
    int_labels = all(isinstance(x, int) for x in labels)
    data: dict[str, Any] = {
        "id": [f"img-{i}" for i in range(len(samples))] if str_ids else list(range(len(samples))),
        "label": pl.Series(labels, dtype=pl.Int64 if int_labels else pl.String),
        "tags": pl.Series([list(s[2]) for s in samples], dtype=pl.List(pl.String)),
    }
    if with_prediction:
        # A wrong prediction is a value no label has.
        wrong: Hashable = -(10**9) if int_labels else "<wrong>"
        data["prediction"] = pl.Series(
            [s[0] if s[1] else wrong for s in samples], dtype=data["label"].dtype
        )
    else:
        data["correct"] = pl.Series([s[1] for s in samples], dtype=pl.Boolean)
    return Table([(s[0], s[1], list(s[2])) for s in samples], pl.DataFrame(data))


def groups(label: Hashable, spec: Iterable[tuple[Sequence[str], int, int]]) -> list[Any]:
    """Samples of one class: ``(tags, n, n_correct)`` gives ``n`` samples, the first correct."""
    out = []
    for tags, n, n_correct in spec:
        assert 0 <= n_correct <= n
        out += [(label, i < n_correct, list(tags)) for i in range(n)]
    return out


@st.composite
def tables(draw: st.DrawFn, large: bool = False) -> Table:
    """Small random tables: a few classes, <= 10 tags per class, <= 200 samples.

    Hypothesis draws the shape; a seeded generator fills in the samples. Correctness is
    skewed: samples carrying a class's "hard" tags are mostly wrong, so modes exist.
    ``large`` tables have 300 to 3000 samples and 8 to 14 tags per class, sparse or dense,
    for the engine's other representations.
    """
    n_classes = draw(st.integers(1, 3))
    pool = STR_LABELS if draw(st.booleans()) else INT_LABELS
    labels = draw(
        st.lists(st.sampled_from(pool), min_size=n_classes, max_size=n_classes, unique=True)
    )
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    samples: list[tuple[Hashable, bool, list[str]]] = []
    for label in labels:
        if large:
            n = draw(st.integers(300, 3000))
            vocab = rng.sample(TAG_POOL, draw(st.integers(8, len(TAG_POOL))))
            probs = [0.02, 0.05, 0.1, 0.3] if draw(st.booleans()) else [0.1, 0.3, 0.5, 0.9]
        else:
            n = draw(
                st.sampled_from([1, 5, 10, 20, 25, 40])
                | st.integers(1, 200 // n_classes)
                | st.integers(30, 200 // n_classes)
            )
            vocab = rng.sample(TAG_POOL, draw(st.integers(0, 10) | st.integers(3, 10)))
            probs = [0.1, 0.3, 0.5, 0.5, 0.7, 0.7, 1.0]
        tag_prob = {t: rng.choice(probs) for t in vocab}
        hard = set(rng.sample(vocab, min(len(vocab), rng.randint(1, 3))))
        tag_prob.update({t: rng.choice([0.5, 0.7]) for t in hard})
        base = draw(st.sampled_from([0.0, 0.5, 0.75, 0.8, 0.9, 1.0]) | st.floats(0.4, 1))
        hard_accuracy = draw(st.sampled_from([0.0, 0.1, 0.25, 0.5]) | st.floats(0, 0.4))
        for _ in range(n):
            tags = [t for t in vocab if rng.random() < tag_prob[t]]
            if tags and rng.random() < 0.05:
                tags.append(rng.choice(tags))  # a repeated tag counts once
            rng.shuffle(tags)
            p = hard_accuracy if hard and hard <= set(tags) else base
            samples.append((label, rng.random() < p, tags))
    rng.shuffle(samples)
    return make_table(samples, with_prediction=draw(st.booleans()), str_ids=draw(st.booleans()))


# Round values that land on bounds, small ones that leave modes to find, and anything.
FRACTIONS = (
    st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.3, 0.5, 1.0]) | st.floats(0, 0.5) | st.floats(0, 1)
)
MARGINS = st.sampled_from([0.0, 0.025, 0.05, 0.1, 0.2, 0.25]) | st.floats(0, 0.3) | st.floats(0, 1)


@st.composite
def lattice_params(draw: st.DrawFn, table: Table, large: bool = False) -> dict[str, Any]:
    """``max_tags``, ``min_support``, ``min_tag_count`` and ``labels`` for ``table``."""
    counts = st.integers(1, 15) | st.integers(15, 200) if large else st.integers(1, 15)
    labels: Any = None
    choice = draw(st.sampled_from(["all", "subset", "scalar"]))
    if choice == "subset":
        labels = draw(st.lists(st.sampled_from(table.labels), min_size=1, unique=True))
    elif choice == "scalar":
        labels = draw(st.sampled_from(table.labels))
    return {
        "max_tags": draw(st.integers(1, 4)),
        "min_support": draw(counts),
        "min_tag_count": draw(st.none() | (counts if large else st.integers(1, 20))),
        "labels": labels,
    }


@st.composite
def search_cases(draw: st.DrawFn, large: bool = False) -> tuple[Table, dict[str, Any]]:
    """A table and search parameters for it."""
    table = draw(tables(large))
    params = draw(lattice_params(table, large))
    params["min_drop"] = draw(FRACTIONS)
    params["necessity"] = draw(st.lists(MARGINS, min_size=1, max_size=3))
    return table, params


@st.composite
def lattice_cases(draw: st.DrawFn) -> tuple[Table, dict[str, Any]]:
    """A table and frequent-set parameters for it."""
    table = draw(tables())
    return table, draw(lattice_params(table))


# -- comparisons -------------------------------------------------------------------------


def _ref_labels(labels: Any) -> list[Any] | None:
    """The ``labels`` argument as the reference takes it (a scalar means one class)."""
    if labels is None or isinstance(labels, list):
        return labels
    return [labels]


def expected_modes(table: Table, params: dict[str, Any]) -> list[reference.Mode]:
    """The reference's modes for ``params`` (search keyword arguments)."""
    return reference.failure_modes(
        table.samples, **{**params, "labels": _ref_labels(params.get("labels"))}
    )


def assert_modes_equal(got: pl.DataFrame, expected: list[reference.Mode], table: Table) -> None:
    """Same modes, same numbers bit for bit, same row order, same column types.

    Only the method's columns are compared; later columns (intervals, p-values, ...) are
    other features' business.
    """
    assert got.columns[: len(MODE_COLUMNS)] == list(MODE_COLUMNS)
    got = got.select(MODE_COLUMNS)
    assert got.schema == pl.Schema(
        {
            "label": table.frame["label"].dtype,
            "tags": pl.List(pl.String),
            "n_tags": pl.Int64,
            "support": pl.Int64,
            "accuracy": pl.Float64,
            "class_accuracy": pl.Float64,
            "drop": pl.Float64,
            "necessity": pl.Float64,
        }
    )
    got_rows = {(r[0], tuple(r[1])): r for r in got.rows()}
    want_rows = {(m.label, m.tags): m.row() for m in expected}
    assert len(got_rows) == got.height, "a mode appears twice"
    missing = sorted(set(want_rows) - set(got_rows), key=repr)
    extra = sorted(set(got_rows) - set(want_rows), key=repr)
    assert not missing and not extra, (
        f"missing modes {[want_rows[k] for k in missing]}; extra modes "
        f"{[got_rows[k] for k in extra]}"
    )
    for key, want in want_rows.items():
        assert got_rows[key] == want, f"{key}: got {got_rows[key]}, expected {want}"
    assert got.rows() == [m.row() for m in expected], "rows out of order"


def assert_sets_equal(
    got: pl.DataFrame, expected: list[reference.FrequentSet], table: Table
) -> None:
    """Same frequent sets, supports and accuracies, in order."""
    assert got.schema == pl.Schema(
        {
            "label": table.frame["label"].dtype,
            "tags": pl.List(pl.String),
            "n_tags": pl.Int64,
            "support": pl.Int64,
            "accuracy": pl.Float64,
        }
    )
    got_rows = {(r[0], tuple(r[1])): r for r in got.rows()}
    want_rows = {(f.label, f.tags): f.row() for f in expected}
    missing = sorted(set(want_rows) - set(got_rows), key=repr)
    extra = sorted(set(got_rows) - set(want_rows), key=repr)
    assert not missing and not extra, f"missing sets {missing}; extra sets {extra}"
    assert got.rows() == [f.row() for f in expected]


# -- random tables -----------------------------------------------------------------------


@settings(EXAMPLES, max_examples=300)
@given(search_cases())
def test_search_matches_reference(case: tuple[Table, dict[str, Any]]) -> None:
    table, params = case
    expected = expected_modes(table, params)
    event(f"modes: {min(len(expected), 5)}{'+' if len(expected) >= 5 else ''}")
    event(f"largest mode: {max((len(m.tags) for m in expected), default=0)} tags")
    index = TagIndex.from_samples(table.frame)
    one = index.search(**params, threads=1).modes
    two = index.search(**params, threads=2).modes
    assert_modes_equal(one, expected, table)
    assert one.equals(two)
    assert prime_rs.find_failure_modes(table.frame, **params).equals(one)


@settings(EXAMPLES, max_examples=100)
@given(search_cases(large=True))
def test_larger_tables_match_reference(case: tuple[Table, dict[str, Any]]) -> None:
    table, params = case
    expected = expected_modes(table, params)
    event(f"modes: {min(len(expected), 5)}{'+' if len(expected) >= 5 else ''}")
    index = TagIndex.from_samples(table.frame)
    modes = index.search(**params, threads=2).modes
    assert_modes_equal(modes, expected, table)
    assert modes.equals(index.search(**params, threads=1).modes)
    lattice = {k: v for k, v in params.items() if k not in ("min_drop", "necessity")}
    assert_sets_equal(
        index.frequent_sets(**lattice),
        reference.frequent_sets(
            table.samples, **{**lattice, "labels": _ref_labels(lattice["labels"])}
        ),
        table,
    )


@EXAMPLES
@given(lattice_cases())
def test_frequent_sets_match_reference(case: tuple[Table, dict[str, Any]]) -> None:
    table, params = case
    expected = reference.frequent_sets(
        table.samples, **{**params, "labels": _ref_labels(params["labels"])}
    )
    index = TagIndex.from_samples(table.frame)
    one = index.frequent_sets(**params, threads=1)
    assert_sets_equal(one, expected, table)
    assert one.equals(index.frequent_sets(**params, threads=2))


@EXAMPLES
@given(tables(), st.data())
def test_stats_and_classes_match_reference(table: Table, data: st.DataObject) -> None:
    index = TagIndex.from_samples(table.frame)
    assert index.labels == table.labels
    assert index.vocabulary == table.vocabulary
    assert index.classes().rows() == reference.classes(table.samples)
    for label in table.labels:
        assert index.stats(label, []) == reference.stats(table.samples, label, [])
        for _ in range(5 if table.vocabulary else 0):
            tags = data.draw(st.lists(st.sampled_from(table.vocabulary), max_size=4))
            assert index.stats(label, tags) == reference.stats(table.samples, label, tags), tags


@EXAMPLES
@given(search_cases(), st.integers(1, 20))
def test_index_built_with_min_tag_count(case: tuple[Table, dict[str, Any]], build_min: int) -> None:
    """An index built without rare tags searches as if ``min_tag_count`` were raised to it."""
    table, params = case
    index = TagIndex.from_samples(table.frame, min_tag_count=build_min)
    effective = {**params, "min_tag_count": max(build_min, params["min_tag_count"] or 1)}
    assert_modes_equal(
        index.search(**params, threads=2).modes, expected_modes(table, effective), table
    )
    lattice = {k: v for k, v in effective.items() if k not in ("min_drop", "necessity")}
    lattice_in = {k: v for k, v in params.items() if k not in ("min_drop", "necessity")}
    assert_sets_equal(
        index.frequent_sets(**lattice_in),
        reference.frequent_sets(
            table.samples, **{**lattice, "labels": _ref_labels(lattice["labels"])}
        ),
        table,
    )


# -- parameters exactly on the bounds ----------------------------------------------------


def check(table: Table, **params: Any) -> pl.DataFrame:
    """Search ``table`` with 1 and 2 threads, assert both equal the reference, return it."""
    got = prime_rs.find_failure_modes(table.frame, threads=1, **params)
    assert_modes_equal(got, expected_modes(table, params), table)
    assert got.equals(prime_rs.find_failure_modes(table.frame, threads=2, **params))
    return got


def mode_keys(modes: pl.DataFrame) -> set[tuple[Any, tuple[str, ...]]]:
    """``(label, tags)`` of every row."""
    return {(r[0], tuple(r[1])) for r in modes.select("label", "tags").rows()}


def boundary_class() -> list[Any]:
    """A_c = 80/100 = 0.8; I_{x,y} = 30 samples, 18 correct (0.6); x, y alone stay easy.

    A_x = A_y = 38/50 = 0.76, and I_x keeps exactly ceil((1 - 0.8 + 0.2) * 30) = 12 wrong
    predictions: the error bound of a=0.2, s=30 is met with no room to spare.
    """
    return groups(
        "fox",
        [(["x", "y"], 30, 18), (["x"], 20, 20), (["y"], 20, 20), (["z"], 10, 8), ([], 20, 14)],
    )


def test_boundary_drop_support_and_error_bound_all_exact() -> None:
    table = make_table(boundary_class())
    assert reference.by_class(table.samples)["fox"].accuracy == 0.8
    modes = check(table, max_tags=2, min_support=30, min_drop=0.2, necessity=[0.1])
    assert mode_keys(modes) == {("fox", ("x", "y"))}
    row = modes.row(0, named=True)
    assert (row["support"], row["accuracy"], row["class_accuracy"]) == (30, 0.6, 0.8)
    assert row["drop"] == 0.8 - 0.6
    assert row["necessity"] == 38 / 50 - 0.6
    # One sample more, or a larger drop, and the group no longer qualifies.
    assert check(table, max_tags=2, min_support=31, min_drop=0.2, necessity=[0.1]).height == 0
    assert check(table, max_tags=2, min_support=30, min_drop=0.21, necessity=[0.1]).height == 0


def test_boundary_with_other_classes_and_tags_around() -> None:
    """The exact-bound group keeps being found among other classes and deeper sets."""
    samples = boundary_class()
    # Every sample of "fox" also carries "w" (so {w, x, y} has I = I_{x,y}, not minimal).
    samples = [(lab, ok, [*tags, "w"]) for lab, ok, tags in samples]
    samples += groups("cat", [(["x", "y"], 40, 4), (["x"], 40, 36), ([], 20, 20)])
    table = make_table(samples, with_prediction=True)
    modes = check(table, max_tags=4, min_support=30, min_drop=0.2, necessity=[0.1, 0.05])
    assert ("fox", ("x", "y")) in mode_keys(modes)
    assert ("fox", ("w", "x", "y")) not in mode_keys(modes)


def test_groups_exactly_on_the_drop_bound_are_found() -> None:
    """Sweep A_c, a and s; plant {x, y} with the largest accuracy j/s that still passes.

    ``I_x`` and ``I_y`` keep exactly the s - j errors of ``I_{x,y}``, so an error-count bound
    that rounds the wrong way (or a strict comparison) loses the mode.
    """
    lost = []
    for class_accuracy in ("0.5", "0.6", "0.7", "0.75", "0.8", "0.9"):
        a_c = Fraction(class_accuracy)
        for min_drop in (0.1, 0.2, 0.25, 0.3):
            for min_support in (10, 20, 30, 50):
                s = min_support
                j = max(j for j in range(s + 1) if j / s <= float(a_c) - min_drop)
                scale = 1
                while not (
                    a_c.numerator * scale >= 2 * s + j
                    and (a_c.denominator - a_c.numerator) * scale >= s - j
                ):
                    scale += 1
                n, k = a_c.denominator * scale, a_c.numerator * scale
                spec = [
                    (["x", "y"], s, j),
                    (["x"], s, s),
                    (["y"], s, s),
                    ([], n - 3 * s, k - j - 2 * s),
                ]
                table = make_table(groups("c", spec))
                assert reference.by_class(table.samples)["c"].accuracy == float(a_c)
                params = {"max_tags": 2, "min_drop": min_drop, "necessity": [0.0]}
                modes = check(table, min_support=s, **params)
                if ("c", ("x", "y")) not in mode_keys(modes):
                    lost.append((class_accuracy, min_drop, s, f"{j}/{s}"))
                # One sample more than the group has: gone.
                assert ("c", ("x", "y")) not in mode_keys(check(table, min_support=s + 1, **params))
    assert not lost, f"modes on the bound lost (A_c, a, s, A_S): {lost}"


def test_dyadic_bounds_are_inclusive() -> None:
    """A_c = 0.75, A_S = 0.5, a = 0.25 and A_x = 0.75 = A_S + b with b = 0.25: all exact."""
    samples = groups(
        "dog",
        [(["x", "y"], 8, 4), (["x"], 8, 8), (["y"], 8, 8), ([], 8, 4)],
    )
    table = make_table(samples)
    assert reference.by_class(table.samples)["dog"].accuracy == 0.75
    modes = check(table, max_tags=2, min_support=8, min_drop=0.25, necessity=[0.25])
    assert mode_keys(modes) == {("dog", ("x", "y"))}
    assert modes.row(0, named=True)["necessity"] == 0.25
    # The next float above either margin and the pair is out (0.5 + b must move off 0.75).
    a_up = math.nextafter(0.25, 1.0)
    b_up = math.nextafter(0.75, 1.0) - 0.5
    assert 0.75 - a_up < 0.5 and 0.5 + b_up > 0.75
    assert check(table, max_tags=2, min_support=8, min_drop=a_up, necessity=[0.25]).height == 0
    assert check(table, max_tags=2, min_support=8, min_drop=0.25, necessity=[b_up]).height == 0


def test_float_rounding_is_the_f64_rule() -> None:
    """Comparisons are in f64 exactly as written: ``A_S <= A_c - a``, ``A_{S-t} >= A_S + b``.

    Each case sits exactly on a bound in exact arithmetic; rounding decides, and decides
    differently from the rearranged forms ``A_c - A_S >= a`` and ``A_{S-t} - A_S >= b``.
    """
    common = {"max_tags": 1, "min_support": 10, "necessity": [0.1]}
    # A_c = 1/2, A_S = 2/5: 0.4 <= 0.5 - 0.1 holds (0.5 - 0.4 >= 0.1 would not).
    table = make_table(groups(0, [(["x"], 10, 4), ([], 10, 6)]))
    assert 4 / 10 <= 0.5 - 0.1 and not 0.5 - 4 / 10 >= 0.1
    assert mode_keys(check(table, **common, min_drop=0.1)) == {(0, ("x",))}
    # A_c = 1/3, A_S = 1/12: 1/12 <= 1/3 - 0.25 fails (1/3 - 1/12 >= 0.25 would hold).
    table = make_table(groups(0, [(["x"], 12, 1), ([], 12, 7)]))
    assert not 1 / 12 <= 8 / 24 - 0.25 and 8 / 24 - 1 / 12 >= 0.25
    assert check(table, **common, min_drop=0.25).height == 0
    # A_c = 3/10, A_S = 2/10: 0.2 <= 0.3 - 0.1 fails; with a = 0.09 it holds.
    table = make_table(groups(0, [(["x"], 10, 2), ([], 10, 4)]))
    assert check(table, **common, min_drop=0.1).height == 0
    assert check(table, **common, min_drop=0.09).height == 1

    common = {"max_tags": 2, "min_support": 10, "min_drop": 0.2}
    # A_{x,y} = 2/5, A_x = A_y = 1/2: 0.5 >= 0.4 + 0.1 holds (0.5 - 0.4 >= 0.1 would not).
    samples = groups(1, [(["x", "y"], 10, 4), (["x"], 10, 6), (["y"], 10, 6), ([], 10, 10)])
    table = make_table(samples)
    assert 0.5 >= 4 / 10 + 0.1 and not 0.5 - 4 / 10 >= 0.1
    assert mode_keys(check(table, **common, necessity=[0.1])) == {(1, ("x", "y"))}
    # A_{x,y} = 2/10, A_x = A_y = 3/10: 0.3 >= 0.2 + 0.1 fails; with b_2 = 0.09 it holds.
    samples = groups(1, [(["x", "y"], 10, 2), (["x"], 10, 4), (["y"], 10, 4), ([], 10, 10)])
    table = make_table(samples)
    assert not 0.3 >= 0.2 + 0.1
    assert (1, ("x", "y")) not in mode_keys(check(table, **common, necessity=[0.1]))
    assert (1, ("x", "y")) in mode_keys(check(table, **common, necessity=[0.09]))


def test_zero_drop_and_zero_necessity() -> None:
    """a = 0 makes every group no better than its class a candidate; b = 0 allows ties."""
    samples = groups("cat", [(["x", "y"], 5, 4), (["x"], 5, 4), (["y"], 5, 4), ([], 5, 4)])
    table = make_table(samples)
    modes = check(table, max_tags=2, min_support=5, min_drop=0.0, necessity=[0.0])
    # Every group has accuracy 0.8 = A_c: each single tag is a mode, and so is the pair.
    assert mode_keys(modes) == {("cat", ("x",)), ("cat", ("y",)), ("cat", ("x", "y"))}
    assert modes["drop"].to_list() == [0.0, 0.0, 0.0]
    assert modes["necessity"].to_list() == [0.0, 0.0, 0.0]


def test_single_tags_need_only_the_drop() -> None:
    """b_1 = 0: a single tag is a mode however large the necessity values are."""
    table = make_table(groups("cat", [(["x"], 10, 0), ([], 10, 10)]))
    modes = check(table, max_tags=3, min_support=10, min_drop=0.5, necessity=[1.0])
    assert mode_keys(modes) == {("cat", ("x",))}
    assert modes.row(0, named=True)["necessity"] == 0.5


def test_necessity_list_reuses_its_last_value() -> None:
    """A 3-tag set uses b_3; with a one-value list, b_3 = b_2."""
    samples = groups(
        "cat",
        [
            (["x", "y", "z"], 10, 0),
            (["x", "y"], 10, 3),  # A_{x,y} = 3/20 = 0.15
            (["x", "z"], 10, 3),
            (["y", "z"], 10, 3),
            ([], 40, 40),
        ],
    )
    table = make_table(samples)
    common = {"max_tags": 3, "min_support": 10, "min_drop": 0.3}
    keys = mode_keys(check(table, **common, necessity=[0.5, 0.1]))
    assert ("cat", ("x", "y", "z")) in keys  # b_3 = 0.1 <= 0.15
    keys = mode_keys(check(table, **common, necessity=[0.1, 0.5]))
    assert ("cat", ("x", "y", "z")) not in keys  # b_3 = 0.5 > 0.15
    keys = mode_keys(check(table, **common, necessity=[0.5]))
    assert ("cat", ("x", "y", "z")) not in keys  # b_3 = b_2 = 0.5
    keys = mode_keys(check(table, **common, necessity=[0.15]))
    assert ("cat", ("x", "y", "z")) in keys  # b_3 = b_2 = 0.15, exactly met


def test_min_tag_count_above_min_support() -> None:
    """Tags in fewer than ``min_tag_count`` samples of a class are left out of its T_c."""
    samples = groups(
        "cat",
        [(["rare"], 12, 0), (["common"], 30, 3), ([], 60, 60)],
    )
    table = make_table(samples)
    common = {"max_tags": 2, "min_support": 10, "min_drop": 0.3, "necessity": [0.1]}
    assert mode_keys(check(table, **common)) == {("cat", ("common",)), ("cat", ("rare",))}
    assert mode_keys(check(table, **common, min_tag_count=12)) == {
        ("cat", ("common",)),
        ("cat", ("rare",)),
    }
    assert mode_keys(check(table, **common, min_tag_count=13)) == {("cat", ("common",))}
    assert check(table, **common, min_tag_count=31).height == 0
    # Below min_support it changes nothing.
    low = check(table, **common, min_tag_count=2).select(MODE_COLUMNS)
    assert low.equals(check(table, **common).select(MODE_COLUMNS))
    index = TagIndex.from_samples(table.frame)
    assert index.frequent_sets(max_tags=2, min_support=10, min_tag_count=13)["tags"].to_list() == [
        ["common"]
    ]


def test_labels_restriction() -> None:
    samples = groups("cat", [(["x"], 10, 0), ([], 10, 10)])
    samples += groups("dog", [(["x"], 10, 0), ([], 10, 10)])
    samples += groups("fox", [(["y"], 10, 1), ([], 10, 10)])
    table = make_table(samples)
    common = {"max_tags": 2, "min_support": 5, "min_drop": 0.3, "necessity": [0.1]}
    assert {k[0] for k in mode_keys(check(table, **common))} == {"cat", "dog", "fox"}
    assert mode_keys(check(table, **common, labels=["fox", "cat"])) == {
        ("cat", ("x",)),
        ("fox", ("y",)),
    }
    assert mode_keys(check(table, **common, labels="dog")) == {("dog", ("x",))}
    index = TagIndex.from_samples(table.frame)
    assert index.frequent_sets(max_tags=1, min_support=5, labels=["fox"])["label"].to_list() == [
        "fox"
    ]
    with pytest.raises(prime_rs.InputError):
        index.search(labels=["wolf"])


def test_empty_result_is_a_typed_empty_table() -> None:
    table = make_table(groups(3, [(["x"], 10, 10), ([], 10, 10)]))
    modes = check(table, max_tags=2, min_support=5, min_drop=0.3, necessity=[0.1])
    assert modes.height == 0
    sets = TagIndex.from_samples(table.frame).frequent_sets(max_tags=2, min_support=11)
    assert_sets_equal(sets, [], table)
