"""A table with both ``correct`` and ``prediction`` must not contradict itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import prime_rs
from prime_rs import InputError, load_samples
from prime_rs.cli import cli


def table(correct: list[bool], predictions: list[str] | None = None) -> pl.DataFrame:
    n = len(correct)
    labels = ["fox"] * n
    return pl.DataFrame(
        {
            "id": [f"img{i}.jpg" for i in range(n)],
            "label": labels,
            "prediction": predictions or ["fox" if i % 2 else "wolf" for i in range(n)],
            "correct": correct,
            "tags": [["snow"]] * n,
        }
    )


def agreeing(n: int) -> list[bool]:
    return [bool(i % 2) for i in range(n)]


def test_agreeing_columns_are_accepted(samples: pl.DataFrame) -> None:
    out = load_samples(table(agreeing(6)))
    assert out["correct"].to_list() == agreeing(6)
    # The synthetic table has both columns, and they agree.
    assert {"correct", "prediction"} <= set(samples.columns)
    assert load_samples(samples)["correct"].equals(samples["correct"])


def test_contradiction_names_rows_ids_and_the_fix() -> None:
    correct = agreeing(8)
    for i in (1, 4, 6):
        correct[i] = not correct[i]
    with pytest.raises(InputError) as info:
        load_samples(table(correct), source="val.parquet")
    message = str(info.value)
    assert message.startswith("val.parquet: columns 'correct' and 'prediction' disagree in 3 rows")
    assert "rows 1, 4, 6 (counting from 0; ids 'img1.jpg', 'img4.jpg', 'img6.jpg')" in message
    assert "drop 'correct'" in message
    assert "drop 'prediction'" in message
    assert "\n" not in message
    # Every door to the search refuses it.
    with pytest.raises(InputError, match="disagree in 3 rows"):
        prime_rs.find_failure_modes(table(correct))
    with pytest.raises(InputError, match="disagree in 3 rows"):
        prime_rs.TagIndex.from_samples(table(correct).to_arrow())


def test_one_contradiction_and_many() -> None:
    correct = agreeing(4)
    correct[2] = not correct[2]
    with pytest.raises(InputError, match=r"disagree in 1 row \('correct'.*: row 2 \(.*; id 'img2"):
        load_samples(table(correct))
    everything_wrong = [not c for c in agreeing(40)]
    with pytest.raises(InputError, match=r"disagree in 40 rows .*rows 0, 1, 2, 3, 4 and 35 more"):
        load_samples(table(everything_wrong))


def test_columns_that_cannot_be_compared_are_left_alone() -> None:
    # Class numbers against class names, or a row without a prediction: nothing to compare.
    df = pl.DataFrame(
        {
            "id": [0, 1],
            "label": [3, 3],
            "prediction": ["fox", "cat"],
            "correct": [True, False],
            "tags": [["x"], []],
        }
    )
    assert load_samples(df)["correct"].to_list() == [True, False]
    df = table([True, False, True], ["wolf", "fox", None])  # type: ignore[list-item]
    df = df.with_columns(label=pl.Series(["wolf", "wolf", "fox"]))
    assert load_samples(df)["correct"].to_list() == [True, False, True]


def test_categorical_predictions_compared_as_text() -> None:
    df = table(agreeing(4)).with_columns(pl.col("prediction").cast(pl.Categorical))
    assert load_samples(df)["correct"].to_list() == agreeing(4)
    df = df.with_columns(correct=pl.Series([True] * 4))
    with pytest.raises(InputError, match="disagree in 2 rows"):
        load_samples(df)


def test_contradiction_on_the_command_line(tmp_path: Path) -> None:
    correct = agreeing(6)
    correct[3] = not correct[3]
    path = tmp_path / "samples.csv"
    table(correct).with_columns(pl.col("tags").list.join("|")).write_csv(path)
    result = CliRunner().invoke(cli, ["search", str(path), "-o", str(tmp_path / "m.parquet")])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {path}: columns 'correct' and 'prediction' disagree")
    assert "row 3 (counting from 0; id 'img3.jpg')" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "m.parquet").exists()
    # And in a real process, as a user runs it.
    proc = subprocess.run(
        [sys.executable, "-m", "prime_rs", "search", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"Error: {path}: columns 'correct' and 'prediction' disagree")
    assert len(proc.stderr.strip().splitlines()) == 1
