"""Generalization to unseen data, the parameter sweep and their figures: real engine, real files.

The synthetic data has planted failure modes; a random half of it is the holdout. Planted
modes must keep their drop on the holdout; modes found where errors are pure noise must not.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import prime_rs
from prime_rs import InputError, ParameterError, synthetic
from prime_rs.evaluate import (
    HOLDOUT_COLUMNS,
    generalization,
    generalization_plot,
    generalization_summary,
    read_modes,
    sweep,
    sweep_plot,
)


@pytest.fixture(scope="module")
def planted() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(detect, holdout, planted modes): SMALL with larger planted groups, split in halves."""
    data = synthetic.generate(
        synthetic.SMALL,
        samples_per_class=4000,
        planted_support=80,
        pair_support=120,
        single_support=200,
        seed=3,
    )
    rng = np.random.default_rng(0)
    detect = rng.random(data.samples.height) < 0.5
    samples = data.samples.with_columns(split=pl.Series(np.where(detect, "detect", "holdout")))
    return (
        samples.filter(pl.col("split") == "detect"),
        samples.filter(pl.col("split") == "holdout"),
        data.planted,
    )


def test_generalization_hand_computed() -> None:
    holdout = pl.DataFrame(
        {
            "id": range(7),
            "label": ["fox"] * 5 + ["cat"] * 2,
            "correct": [False, True, True, True, False, True, True],
            "tags": [["snow", "night"], ["snow"], ["snow", "night"], [], ["night"], ["x"], []],
        }
    )
    modes = pl.DataFrame(
        {
            "label": ["fox", "fox", "fox", "wolf", "cat"],
            "tags": [["night", "snow"], ["snow"], ["rain"], ["snow"], ["x"]],
            "drop": [0.5, 0.4, 0.3, 0.3, 0.2],
        }
    )
    g = generalization(modes, holdout)
    assert g.columns == [*modes.columns, *HOLDOUT_COLUMNS]
    assert g["holdout_support"].to_list() == [2, 3, 0, 0, 1]
    assert g["holdout_accuracy"].to_list() == pytest.approx([0.5, 2 / 3, None, None, 1.0])
    # fox: 3 of 5 correct; wolf has no holdout sample at all.
    assert g["holdout_class_accuracy"].to_list() == pytest.approx([0.6, 0.6, 0.6, None, 1.0])
    assert g["holdout_drop"].to_list() == pytest.approx([0.1, 0.6 - 2 / 3, None, None, 0.0])
    low, high = prime_rs.wilson_interval(np.array([1, 2, 1]), np.array([2, 3, 1]))
    measured = g.filter(pl.col("holdout_support") > 0)
    assert measured["holdout_accuracy_low"].to_list() == pytest.approx(low.tolist())
    assert measured["holdout_accuracy_high"].to_list() == pytest.approx(high.tolist())
    assert g["holdout_accuracy_low"].null_count() == 2

    s = generalization_summary(g, min_drop=0.1)
    assert (s["n_modes"], s["n_measured"], s["n_without_holdout"]) == (5, 3, 2)
    assert s["n_generalize"] == 1 and s["share_generalize"] == pytest.approx(1 / 3)
    assert s["mean_drop"] == pytest.approx((0.5 + 0.4 + 0.2) / 3)
    assert s["mean_holdout_drop"] == pytest.approx((0.1 + 0.6 - 2 / 3 + 0.0) / 3)
    expected = np.corrcoef([0.5, 0.4, 0.2], [0.1, 0.6 - 2 / 3, 0.0])[0, 1]
    assert s["correlation"] == pytest.approx(expected)
    assert s["n_confirmed"] == 0  # no interval of 1-3 samples excludes the class accuracy

    # Running it again replaces the columns instead of adding more.
    assert generalization(g, holdout).columns == g.columns


def test_generalization_agrees_with_the_engine(
    planted: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
) -> None:
    detect, holdout, _ = planted
    modes = prime_rs.find_failure_modes(detect, max_tags=3, min_support=25)
    g = generalization(modes, holdout)
    index = prime_rs.TagIndex.from_samples(holdout)
    classes = dict(index.classes().select("label", "accuracy").iter_rows())
    for r in g.iter_rows(named=True):
        st = index.stats(r["label"], r["tags"])
        assert r["holdout_support"] == st["support"]
        assert r["holdout_accuracy"] == st["accuracy"]
        assert r["holdout_drop"] == pytest.approx(classes[r["label"]] - st["accuracy"])
    # A TagIndex is accepted as the holdout, and the same data re-measures exactly.
    assert generalization(modes, index).equals(g)
    same = generalization(modes, detect)
    assert same["holdout_drop"].to_list() == pytest.approx(modes["drop"].to_list())
    assert same["holdout_support"].to_list() == modes["support"].to_list()


def test_planted_modes_generalize(
    planted: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
) -> None:
    detect, holdout, truth = planted
    modes = prime_rs.find_failure_modes(detect, max_tags=3, min_support=25, min_drop=0.3)
    g = generalization(modes, holdout)
    found = g.join(truth, on=["label", "tags"], how="semi")
    assert found.height == truth.height == 6  # every planted mode is found on the detect half
    assert (found["holdout_support"] >= 25).all()
    # Each keeps its drop on unseen data: within 0.15 of the detect drop, and >= 0.25.
    gap = (found["holdout_drop"] - found["drop"]).abs()
    assert gap.max() < 0.15, found.select("label", "tags", "drop", "holdout_drop")
    s = generalization_summary(found)
    assert s["share_generalize"] == 1.0
    assert s["n_confirmed"] == 6  # every holdout interval lies below the class accuracy
    assert s["mean_holdout_drop"] > 0.45


def test_noise_modes_do_not_generalize(
    planted: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
) -> None:
    detect, holdout, _ = planted
    rng = np.random.default_rng(1)

    def noise(df: pl.DataFrame) -> pl.DataFrame:
        """Errors at each class's rate, independent of the tags."""
        rate = df.group_by("label").agg(rate=pl.col("correct").mean())
        out = df.join(rate, on="label", how="left", maintain_order="left")
        draw = pl.Series(rng.random(df.height))
        return out.with_columns(correct=draw < pl.col("rate")).drop("rate", "prediction")

    nd, nh = noise(detect), noise(holdout)
    modes = prime_rs.find_failure_modes(nd, max_tags=3, min_support=20, min_drop=0.2)
    assert modes.height >= 5  # noise passes the thresholds on the detect half...
    s = generalization_summary(generalization(modes, nh))
    assert s["n_measured"] == modes.height
    assert s["mean_drop"] >= 0.2
    # ...but not on unseen data: the holdout drop is about zero.
    assert abs(s["mean_holdout_drop"]) < 0.08, s
    assert s["share_generalize"] <= 0.2, s


def test_generalization_label_types_and_errors() -> None:
    holdout = pl.DataFrame(
        {"id": [1, 2], "label": [7, 7], "correct": [True, False], "tags": [["a"], []]}
    )
    # A CSV mode table may hold class numbers as text: they still match.
    modes = pl.DataFrame({"label": ["7"], "tags": [["a"]], "drop": [0.3]})
    assert generalization(modes, holdout)["holdout_support"].to_list() == [1]
    with pytest.raises(InputError, match="'tags'"):
        generalization(pl.DataFrame({"label": ["7"]}), holdout)
    with pytest.raises(InputError, match="lists of strings"):
        generalization(pl.DataFrame({"label": ["7"], "tags": ["a|b"]}), holdout)
    with pytest.raises(ParameterError, match="confidence"):
        generalization(modes, holdout, confidence=1.0)
    with pytest.raises(InputError, match="holdout_drop"):
        generalization_summary(modes)


def test_sweep_matches_separate_searches(
    planted: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], caplog: pytest.LogCaptureFixture
) -> None:
    detect, holdout, _ = planted
    grid = sweep(
        detect,
        holdout,
        min_supports=[50, 25],
        min_drops=[0.4, 0.3],
        max_tags=3,
        show_progress=False,
    )
    assert grid.select("min_support", "min_drop").rows() == [
        (25, 0.3),
        (25, 0.4),
        (50, 0.3),
        (50, 0.4),
    ]
    for r in grid.iter_rows(named=True):
        modes = prime_rs.find_failure_modes(
            detect, max_tags=3, min_support=r["min_support"], min_drop=r["min_drop"]
        )
        s = generalization_summary(generalization(modes, holdout))
        assert r["n_modes"] == modes.height
        assert r["n_classes"] == modes["label"].n_unique()
        assert r["n_generalize"] == s["n_generalize"]
        assert r["share_generalize"] == pytest.approx(s["share_generalize"])
        assert r["mean_holdout_drop"] == pytest.approx(s["mean_holdout_drop"])
    # More support or more drop: never more modes.
    counts = dict(zip(grid.select("min_support", "min_drop").rows(), grid["n_modes"], strict=True))
    assert counts[(25, 0.3)] >= counts[(25, 0.4)] >= counts[(50, 0.4)]
    # A grid point without modes is a 0 in the table, not a warning; plain searches still warn.
    with caplog.at_level(logging.WARNING, logger="prime_rs"):
        empty = sweep(detect, min_supports=[5000], min_drops=[0.3], show_progress=False)
        assert empty["n_modes"].to_list() == [0]
        assert not caplog.records
        prime_rs.find_failure_modes(detect, min_support=5000)
        assert "No failure modes" in caplog.records[0].getMessage()
    only = sweep(detect, min_supports=[25], min_drops=[0.3], max_tags=3, show_progress=False)
    assert "share_generalize" not in only.columns
    with pytest.raises(ParameterError, match="min_drop"):
        sweep(detect, min_drops=[1.5], show_progress=False)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_figures_are_written_as_png_and_svg(
    planted: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    detect, holdout, _ = planted
    modes = prime_rs.find_failure_modes(detect, max_tags=3, min_support=25)
    g = generalization(modes, holdout)
    paths = generalization_plot(g, tmp_path / "figs" / "fig4.png")
    assert paths == [tmp_path / "figs" / "fig4.png", tmp_path / "figs" / "fig4.svg"]
    width, height = _png_size(paths[0])
    assert width == height > 300
    svg = paths[1].read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "y = x" in svg and "unseen" in svg
    grid = sweep(detect, holdout, min_supports=[25, 50], min_drops=[0.3], show_progress=False)
    fig10 = sweep_plot(grid, tmp_path / "fig10")
    assert [p.name for p in fig10] == ["fig10.png", "fig10.svg"]
    assert _png_size(fig10[0])[0] > _png_size(fig10[0])[1]  # two panels side by side
    with pytest.raises(InputError, match="holdout_drop"):
        generalization_plot(modes, tmp_path / "bad")


def test_read_modes_round_trips_every_format(
    planted: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    detect, holdout, _ = planted
    modes = generalization(prime_rs.find_failure_modes(detect, max_tags=3, min_support=25), holdout)
    for suffix in (".parquet", ".csv", ".jsonl"):
        path = prime_rs.write_table(modes, tmp_path / f"modes{suffix}")
        back = read_modes(path)
        assert back["tags"].to_list() == modes["tags"].to_list()
        assert generalization(back, holdout)["holdout_drop"].to_list() == pytest.approx(
            modes["holdout_drop"].to_list()
        )
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a mode table"):
        read_modes(tmp_path / "bad.csv")
