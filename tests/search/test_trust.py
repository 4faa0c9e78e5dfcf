"""Intervals, p- and q-values, the noise control, confusion columns, greedy search, ranking.

Statistics are checked against scipy and statsmodels; everything else against direct
computations on the samples table.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

import prime_rs
from prime_rs import synthetic

# -- p-values and intervals --------------------------------------------------------------


def _single_tag_modes(cases: list[tuple[int, int, int]]) -> pl.DataFrame:
    """The modes of a table with one class per case ``(support, k, extra)``: ``support``
    samples carry the tag ``t``, ``k`` of them correct, and ``extra`` correct samples carry
    no tag, so the class accuracy is ``(k + extra) / (support + extra)``. With ``min_drop=0``
    each class has the one mode ``{t}``, whose p-value is the binomial CDF."""
    label, correct, tags = [], [], []
    for c, (support, k, extra) in enumerate(cases):
        label += [c] * (support + extra)
        correct += [True] * k + [False] * (support - k) + [True] * extra
        tags += [["t"]] * support + [[]] * extra
    df = pl.DataFrame({"id": range(len(label)), "label": label, "correct": correct, "tags": tags})
    index = prime_rs.TagIndex.from_samples(df)
    return index.search(max_tags=1, min_support=1, min_drop=0.0).modes.sort("label")


def test_binomial_cdf_matches_scipy_on_many_random_cases() -> None:
    """The p-values of the mode table (the engine's binomial CDF) against scipy."""
    rng = np.random.default_rng(7)
    support = rng.integers(1, 3000, size=400)
    support[:5] = [100_000, 50_000, 20_000, 1, 2]
    k = (rng.random(400) * (support + 1)).astype(np.int64)
    extra = rng.integers(1, 400, size=400)
    modes = _single_tag_modes(list(zip(support.tolist(), k.tolist(), extra.tolist(), strict=True)))
    assert modes["label"].to_list() == list(range(400))
    class_accuracy = (k + extra) / (support + extra)
    np.testing.assert_array_equal(modes["class_accuracy"].to_numpy(), class_accuracy)
    want = binom.cdf(k, support, class_accuracy)
    # Below 1e-250 scipy itself loses digits (checked with mpmath), so compare absolutely.
    np.testing.assert_allclose(modes["p_value"].to_numpy(), want, rtol=1e-9, atol=1e-250)


@given(
    n=st.integers(1, 20_000),
    frac=st.floats(0, 1),
    extra=st.integers(1, 20_000),
)
@settings(max_examples=60, deadline=None)
def test_binomial_cdf_matches_scipy_property(n: int, frac: float, extra: int) -> None:
    k = min(int(frac * n), n)
    modes = _single_tag_modes([(n, k, extra)])
    p = (k + extra) / (n + extra)
    got, want = modes["p_value"][0], float(binom.cdf(k, n, p))
    assert math.isclose(got, want, rel_tol=1e-8, abs_tol=1e-250), (k, n, p, got, want)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels(confidence: float) -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(1, 2000, size=500)
    k = (rng.random(500) * (n + 1)).astype(np.int64)
    low, high = prime_rs.wilson_interval(k, n, confidence)
    want_low, want_high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    np.testing.assert_allclose(low, want_low, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(high, want_high, rtol=1e-12, atol=1e-14)


def _error_bound(a_c: float, s: int, a: float) -> int:
    """Fewest errors a mode can keep (the engine's pruning bound, taken a hair low)."""
    return max(math.ceil(s * (1 - (a_c - a)) - s * 1e-9 - 1e-9), 0)


def test_q_values_are_benjamini_hochberg_over_every_frequent_set() -> None:
    """One family: every frequent set of every searched class, each with its class's p."""
    data = synthetic.generate(synthetic.SMALL)
    index = prime_rs.TagIndex.from_samples(data.samples)
    result = index.search(max_tags=3, min_support=20, min_drop=0.25)
    modes = result.modes
    assert modes.height > 0
    summary = {r["label"]: r for r in result.summary.iter_rows(named=True)}
    classes = index.classes()
    family = index.frequent_sets(max_tags=3, min_support=20).join(
        classes.select("label", class_accuracy="accuracy"), on="label"
    )
    n = family["support"].to_numpy()
    k = np.rint(family["accuracy"].to_numpy() * n).astype(np.int64)
    p = binom.cdf(k, n, family["class_accuracy"].to_numpy())
    _, q_all, _, _ = multipletests(p, method="fdr_bh")
    for label in classes["label"].to_list():
        mine = family["label"] == label
        a_c = classes.filter(pl.col("label") == label)["accuracy"].item()
        # The search tests the frequent sets with enough errors to possibly be a mode.
        errors = (n - k)[mine.to_numpy()]
        assert summary[label]["sets_tested"] == int((errors >= _error_bound(a_c, 20, 0.25)).sum())
        assert summary[label]["hypotheses"] == int(mine.sum())
    keys = {(lab, tuple(t)): i for i, (lab, t) in enumerate(family.select("label", "tags").rows())}
    for row in modes.iter_rows(named=True):
        i = keys[(row["label"], tuple(row["tags"]))]
        assert math.isclose(row["p_value"], p[i], rel_tol=1e-9), (row, p[i])
        assert math.isclose(row["q_value"], q_all[i], rel_tol=1e-9), (row, q_all[i])


def test_q_values_can_be_skipped() -> None:
    index = prime_rs.TagIndex.from_samples(synthetic.generate(synthetic.SMALL).samples)
    fast = index.search(max_tags=3, min_support=20, q_values=False).modes
    full = index.search(max_tags=3, min_support=20).modes
    assert fast["q_value"].null_count() == fast.height > 0
    assert fast.drop("q_value").equals(full.drop("q_value"))
    with pytest.raises(prime_rs.ParameterError, match="max_q"):
        index.search(max_q=0.05, q_values=False)


def test_mode_table_has_intervals_impact_and_significance_columns() -> None:
    modes = prime_rs.find_failure_modes(
        synthetic.generate(synthetic.SMALL).samples, max_tags=3, min_support=20
    )
    assert modes.columns == [
        *prime_rs.MODE_COLUMNS,
        *prime_rs.TRUST_COLUMNS,
        *prime_rs.CONFUSION_COLUMNS,
    ]
    assert (
        (modes["accuracy_low"] <= modes["accuracy"]) & (modes["accuracy"] <= modes["accuracy_high"])
    ).all()
    impact = modes["support"] * (modes["class_accuracy"] - modes["accuracy"])
    assert (modes["impact"] - impact).abs().max() < 1e-12
    support = modes["support"].to_numpy()
    low, high = prime_rs.wilson_interval(np.rint(modes["accuracy"] * support), support)
    assert modes["accuracy_low"].to_list() == pytest.approx(low.tolist(), rel=1e-12)
    assert modes["accuracy_high"].to_list() == pytest.approx(high.tolist(), rel=1e-12)
    assert ((modes["p_value"] <= modes["q_value"]) & (modes["q_value"] <= 1)).all()
    narrow = prime_rs.find_failure_modes(
        synthetic.generate(synthetic.SMALL).samples, max_tags=3, min_support=20, confidence=0.5
    )
    assert (
        narrow["accuracy_high"] - narrow["accuracy_low"]
        < modes["accuracy_high"] - modes["accuracy_low"]
    ).all()


# -- planted modes, the noise control and the null ----------------------------------------


@pytest.fixture(scope="module")
def sparse() -> synthetic.Synthetic:
    return synthetic.generate(synthetic.SPARSE)


@pytest.fixture(scope="module")
def sparse_index(sparse: synthetic.Synthetic) -> prime_rs.TagIndex:
    return prime_rs.TagIndex.from_samples(sparse.samples)


def test_planted_modes_have_small_q_values(
    sparse: synthetic.Synthetic, sparse_index: prime_rs.TagIndex
) -> None:
    modes = sparse_index.search().modes
    planted = modes.join(sparse.planted, on=["label", "tags"], how="semi")
    assert planted.height == sparse.planted.height
    assert planted["q_value"].max() < 1e-6


def test_noise_control_finds_far_fewer_modes(
    sparse: synthetic.Synthetic, sparse_index: prime_rs.TagIndex
) -> None:
    real = sparse_index.search().modes.height
    null = prime_rs.noise_control(sparse_index, runs=8, seed=1)
    assert null.columns == ["run", "label", "n_modes"]
    assert null.height == 8 * 17  # every run and class, zeros included
    per_run = null.group_by("run").agg(pl.col("n_modes").sum())["n_modes"]
    assert per_run.max() * 5 < real, (per_run.to_list(), real)
    again = prime_rs.noise_control(sparse_index, runs=8, seed=1)
    assert again.equals(null)  # seeded
    calls: list[tuple[int, int]] = []
    with_progress = prime_rs.noise_control(
        sparse_index, runs=8, seed=1, progress=lambda done, total: calls.append((done, total))
    )
    assert with_progress.equals(null)
    assert calls == [(k, 8) for k in range(1, 9)]  # after each run, a whole search each


def test_noise_control_keeps_tags_and_shuffles_correct_within_classes(
    sparse_index: prime_rs.TagIndex,
) -> None:
    """A shuffle keeps each class's accuracy, so the same class accuracies come out."""
    null = sparse_index.noise_control(runs=2, max_tags=2, min_drop=0.0, min_support=200)
    assert null["n_modes"].sum() >= 0
    with pytest.raises(prime_rs.ParameterError, match="runs"):
        sparse_index.noise_control(runs=0)
    with pytest.raises(prime_rs.ParameterError, match="unknown parameter"):
        prime_rs.noise_control(sparse_index, runs=1, min_supp=3)


def test_max_q_returns_nothing_when_errors_ignore_tags() -> None:
    base = synthetic.generate(synthetic.SMALL).samples.drop("prediction")
    empty = 0
    seeds = 20
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        df = base.with_columns(correct=pl.Series(rng.random(base.height) < 0.85))
        modes = prime_rs.find_failure_modes(df, max_tags=3, min_support=20, max_q=0.05)
        empty += modes.height == 0
    assert empty >= 0.9 * seeds, empty


# -- what a mode is mistaken for ----------------------------------------------------------


def test_confused_with_and_tag_lift_against_direct_computation() -> None:
    rng = np.random.default_rng(11)
    n = 1200
    label = rng.choice(["cat", "dog", "fox"], size=n)
    snow = rng.random(n) < np.where(label == "fox", 0.5, 0.15)
    night = rng.random(n) < 0.3
    prediction = label.copy()
    # Cats in snow are taken for foxes, mostly; a few for dogs.
    hard = (label == "cat") & snow
    flip = rng.random(n)
    prediction[hard & (flip < 0.6)] = "fox"
    prediction[hard & (flip >= 0.6) & (flip < 0.75)] = "dog"
    tags = [
        [t for t, on in (("snow", s), ("night", g)) if on] for s, g in zip(snow, night, strict=True)
    ]
    df = pl.DataFrame({"id": range(n), "label": label, "prediction": prediction, "tags": tags})
    modes = prime_rs.find_failure_modes(df, max_tags=2, min_support=20, min_drop=0.3)
    assert modes.height > 0
    for row in modes.iter_rows(named=True):
        has = np.array([set(row["tags"]) <= set(t) for t in tags])
        group = (label == row["label"]) & has
        wrong = group & (prediction != label)
        values, counts = np.unique(prediction[wrong], return_counts=True)
        top = values[np.lexsort((values, -counts))][0]
        assert row["confused_with"] == top
        assert math.isclose(row["confused_share"], counts.max() / wrong.sum(), rel_tol=1e-12)
        rate_other = (has & (label == top)).sum() / (label == top).sum()
        rate_own = group.sum() / (label == row["label"]).sum()
        assert math.isclose(row["tag_lift"], rate_other / rate_own, rel_tol=1e-12)
    cats = modes.filter(pl.col("label") == "cat", pl.col("tags") == ["snow"])
    assert cats.height == 1 and cats["confused_with"].item() == "fox"
    assert cats["tag_lift"].item() > 2  # snow is far more typical of foxes


def test_no_confusion_columns_without_predictions() -> None:
    df = synthetic.generate(synthetic.SMALL).samples.drop("prediction")
    modes = prime_rs.find_failure_modes(df, max_tags=2, min_support=20)
    assert modes.columns == [*prime_rs.MODE_COLUMNS, *prime_rs.TRUST_COLUMNS]


# -- greedy search ------------------------------------------------------------------------

_COMPARED = [*prime_rs.MODE_COLUMNS, "accuracy_low", "accuracy_high", "p_value", "impact"]


@pytest.mark.parametrize("beam_width", [1, 5, 30])
def test_greedy_modes_are_exhaustive_modes_with_identical_statistics(
    sparse_index: prime_rs.TagIndex, beam_width: int
) -> None:
    exhaustive = sparse_index.search(max_tags=4).modes.select(_COMPARED)
    greedy = sparse_index.search(max_tags=4, search="greedy", beam_width=beam_width).modes
    assert greedy.height > 0
    joined = greedy.select(_COMPARED).join(
        exhaustive, on=["label", "tags"], how="left", suffix="_x"
    )
    for col in _COMPARED[2:]:
        assert (joined[col] == joined[f"{col}_x"]).all(), col


@given(seed=st.integers(0, 10_000), max_tags=st.integers(1, 4), s=st.integers(2, 12))
@settings(max_examples=60, deadline=None)
def test_unbounded_beam_finds_every_mode(seed: int, max_tags: int, s: int) -> None:
    rng = np.random.default_rng(seed)
    n = 150
    vocab = [f"t{i}" for i in range(7)]
    tags = [[t for t in vocab if rng.random() < 0.35] for _ in range(n)]
    df = pl.DataFrame(
        {
            "id": range(n),
            "label": rng.choice(["a", "b"], size=n),
            "correct": rng.random(n) < 0.7,
            "tags": tags,
        }
    )
    index = prime_rs.TagIndex.from_samples(df)
    params = {"max_tags": max_tags, "min_support": s, "min_drop": 0.2}
    exhaustive = index.search(**params).modes.select(prime_rs.MODE_COLUMNS)
    greedy = index.search(**params, search="greedy", beam_width=10_000).modes
    assert greedy.select(prime_rs.MODE_COLUMNS).equals(exhaustive)


def test_greedy_rejects_bad_beam() -> None:
    df = synthetic.generate(synthetic.SMALL).samples
    with pytest.raises(prime_rs.ParameterError, match="beam_width"):
        prime_rs.find_failure_modes(df, search="greedy", beam_width=0)
    with pytest.raises(prime_rs.ParameterError, match="search"):
        prime_rs.find_failure_modes(df, search="quick")


# -- ranking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rank_by", "key", "descending"),
    [
        ("drop", "drop", True),
        ("q_value", "q_value", False),
        ("impact", "impact", True),
    ],
)
def test_rank_by_orders_modes_within_each_class(
    sparse_index: prime_rs.TagIndex, rank_by: str, key: str, descending: bool
) -> None:
    modes = sparse_index.search(rank_by=rank_by).modes
    assert modes["label"].to_list() == sorted(modes["label"].to_list())
    for _, group in modes.group_by("label", maintain_order=True):
        values = group[key].to_list()
        assert values == sorted(values, reverse=descending)
    assert modes.sort("label", "tags").equals(sparse_index.search().modes.sort("label", "tags"))


def test_max_q_filters(sparse_index: prime_rs.TagIndex) -> None:
    everything = sparse_index.search(min_support=20, min_drop=0.2).modes
    kept = sparse_index.search(min_support=20, min_drop=0.2, max_q=1e-10).modes
    assert 0 < kept.height < everything.height
    assert (kept["q_value"] <= 1e-10).all()


# -- the command line ---------------------------------------------------------------------


def test_cli_noise_runs_greedy_and_max_q(tmp_path: Path, sparse: synthetic.Synthetic) -> None:
    path = tmp_path / "samples.parquet"
    sparse.samples.write_parquet(path)
    out = tmp_path / "modes.parquet"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "prime_rs",
            "search",
            str(path),
            "-o",
            str(out),
            "--noise-runs",
            "3",
            "--max-q",
            "5%",
            "--search",
            "greedy",
            "--beam-width",
            "20",
            "--rank-by",
            "impact",
            "--labels",
            "fox,wolf",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "expected from noise:" in proc.stdout
    assert "over 3 shuffles" in proc.stdout
    # The shuffled searches' progress on stderr (not a terminal: the last line at least).
    assert "noise       3/3 runs done" in proc.stderr.splitlines()
    got = pl.read_parquet(out)
    index = prime_rs.TagIndex.from_samples(path)
    want = index.search(
        labels=["fox", "wolf"], search="greedy", beam_width=20, max_q=0.05, rank_by="impact"
    ).modes
    assert got.equals(want)
    bad = subprocess.run(
        [sys.executable, "-m", "prime_rs", "search", str(path), "--max-q", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "max_q" in bad.stderr and "Traceback" not in bad.stderr


# Integer labels and predictions, in the same order as the strings they replace.
_AS_INTS = {"a": 1, "b": 2, "c": 3, "zz other": 99}


@given(seed=st.integers(0, 10_000), other=st.floats(0, 0.5), as_ints=st.booleans())
@settings(max_examples=60, deadline=None)
def test_confusion_columns_on_random_data(seed: int, other: float, as_ints: bool) -> None:
    """Every mode's confusion columns against a direct count, including modes with no
    errors (all three null), predictions that name no class (lift null) and ties (the
    smallest prediction wins); string labels and predictions (named by the engine) and
    integer ones (named in Python)."""
    rng = np.random.default_rng(seed)
    n = 160
    labels = np.array(["b", "a", "c"])
    label = rng.choice(labels, size=n)
    tags = [[t for t in ("x", "y", "z") if rng.random() < 0.5] for _ in range(n)]
    # Every "c" sample carries "x": {"x"} is then as accurate as its class, a mode whatever
    # the errors (other sets can all be more accurate than their class).
    tags = [sorted({*t, "x"}) if lab == "c" else t for t, lab in zip(tags, label, strict=True)]
    wrong_to = rng.choice(np.array(["a", "b", "c", "zz other"]), size=n)
    flip = rng.random(n) < other
    prediction = np.where(flip & (wrong_to != label), wrong_to, label)
    if as_ints:
        labels, label, wrong_to, prediction = (
            np.vectorize(_AS_INTS.__getitem__)(a) for a in (labels, label, wrong_to, prediction)
        )
    df = pl.DataFrame({"id": range(n), "label": label, "prediction": prediction, "tags": tags})
    # Every set at most as accurate as its class is a mode, error-free ones included.
    modes = prime_rs.find_failure_modes(
        df, max_tags=2, min_support=1, min_drop=0.0, necessity=(0.0, 0.0)
    )
    assert modes.height > 0
    for row in modes.iter_rows(named=True):
        has = np.array([set(row["tags"]) <= set(t) for t in tags])
        group = (label == row["label"]) & has
        wrong = group & (prediction != label)
        if not wrong.any():
            assert (row["confused_with"], row["confused_share"], row["tag_lift"]) == (None,) * 3
            continue
        values, counts = np.unique(prediction[wrong], return_counts=True)
        top = values[np.lexsort((values, -counts))][0]
        assert row["confused_with"] == top
        assert math.isclose(row["confused_share"], counts.max() / wrong.sum(), rel_tol=1e-12)
        if top not in labels:
            assert row["tag_lift"] is None
            continue
        rate_other = (has & (label == top)).sum() / (label == top).sum()
        rate_own = group.sum() / (label == row["label"]).sum()
        assert math.isclose(row["tag_lift"], rate_other / rate_own, rel_tol=1e-12)
