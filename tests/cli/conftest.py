"""Shared fixtures of the command-line tests: samples tables of every documented kind.

A *kind* of samples table is what a user may hand to ``prime``: string or integer labels;
``correct`` only, ``prediction`` only, or both; with or without a ``split`` column; with
planted failure modes or with none at all (a classifier that is always right). Every kind
is written once per input format (.parquet, .csv with tags joined by ``|``, .json, .jsonl),
so the journey tests only run commands on them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from prime_rs import synthetic
from prime_rs.io import TAG_SEPARATOR

#: Input formats a samples table may come in, and output formats ``-o`` may write.
FORMATS = ("parquet", "csv", "json", "jsonl")

#: The split values of tables with a ``split`` column.
DETECT, HOLDOUT = "detect", "test"

#: A small data set (3 classes x 2,000 samples) whose planted modes keep at least 30 samples
#: in the detect split (two thirds of the rows), so the default parameters find them there.
CONFIG = synthetic.Config(
    n_classes=3,
    samples_per_class=2000,
    tags_per_class=40,
    tags_per_sample=6.0,
    vocabulary_size=80,
    topics_per_class=5,
    planted_support=60,
    pair_support=100,
    single_support=150,
    seed=7,
)


@dataclass(frozen=True)
class Kind:
    """One kind of samples table."""

    labels: str  # "str" or "int"
    outcome: str  # "correct", "prediction" or "both"
    split: bool  # a split column (detect / test)
    modes: bool = True  # planted failure modes; False: the classifier is always right

    @property
    def name(self) -> str:
        """What the kind is, for test ids: ``int-labels,correct-only,split``."""
        outcome = "correct+prediction" if self.outcome == "both" else f"{self.outcome}-only"
        parts = [f"{self.labels}-labels", outcome, "split" if self.split else "no-split"]
        if not self.modes:
            parts.append("always-right")
        return ",".join(parts)


@dataclass(frozen=True)
class Table:
    """A kind of samples table, in memory and on disk."""

    kind: Kind
    #: Every row, as written (with the split column when the kind has one).
    frame: pl.DataFrame
    #: The rows a search sees (the detect split, or every row) and the unseen rows.
    detect: pl.DataFrame
    holdout: pl.DataFrame
    #: The samples file per input format.
    files: dict[str, Path]
    #: Without a split column, the holdout rows in a file of their own, per format.
    holdout_files: dict[str, Path]
    #: The planted modes (label as the table writes it, tags).
    planted: pl.DataFrame


def write_samples(df: pl.DataFrame, path: Path) -> Path:
    """Write a samples table as a user would: CSV cells hold tags joined with ``|``."""
    fmt = path.suffix.lstrip(".")
    if fmt == "parquet":
        df.write_parquet(path)
    elif fmt == "csv":
        df.with_columns(pl.col("tags").list.join(TAG_SEPARATOR)).write_csv(path)
    elif fmt == "json":
        df.write_json(path)
    elif fmt == "jsonl":
        df.write_ndjson(path)
    else:
        raise AssertionError(fmt)
    return path


def _base() -> tuple[pl.DataFrame, pl.DataFrame]:
    data = synthetic.generate(CONFIG)
    df = data.samples
    # Some rows without any tag (an empty list; an empty cell in CSV).
    df = df.with_columns(
        pl.when(pl.col("id") % 37 == 5)
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(pl.col("tags"))
        .alias("tags")
    )
    rng = np.random.default_rng(1)
    split = np.where(rng.random(df.height) < 2 / 3, DETECT, HOLDOUT)
    return df.with_columns(split=pl.Series(split.tolist(), dtype=pl.String)), data.planted


def _table(kind: Kind, base: pl.DataFrame, planted: pl.DataFrame, folder: Path) -> Table:
    df = base
    if not kind.modes:
        df = df.with_columns(prediction=pl.col("label"), correct=pl.lit(True))
    if kind.labels == "int":
        names = sorted(df["label"].unique().to_list())
        number = {name: 10 + i for i, name in enumerate(names)}
        df = df.with_columns(
            pl.col("label").replace_strict(number, return_dtype=pl.Int64),
            pl.col("prediction").replace_strict(number, return_dtype=pl.Int64),
        )
        planted = planted.with_columns(
            pl.col("label").replace_strict(number, return_dtype=pl.Int64)
        )
    if kind.outcome == "correct":
        df = df.drop("prediction")
    elif kind.outcome == "prediction":
        df = df.drop("correct")
    detect = df.filter(pl.col("split") == DETECT).drop("split")
    holdout = df.filter(pl.col("split") == HOLDOUT).drop("split")
    if not kind.split:
        df = df.drop("split")
        detect = df
    folder.mkdir(parents=True)
    files = {fmt: write_samples(df, folder / f"samples.{fmt}") for fmt in FORMATS}
    holdout_files = (
        {}
        if kind.split
        else {fmt: write_samples(holdout, folder / f"holdout.{fmt}") for fmt in FORMATS}
    )
    return Table(kind, df, detect, holdout, files, holdout_files, planted)


@pytest.fixture(scope="module")
def samples_table(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Table]:
    """A factory of samples tables: ``samples_table(labels="int", outcome="correct",
    split=True, modes=True)`` gives that kind, written in every input format; each kind is
    built once per test module."""
    base, planted = _base()
    root = tmp_path_factory.mktemp("tables")
    made: dict[Kind, Table] = {}

    def make(labels: str, outcome: str, split: bool, modes: bool = True) -> Table:
        kind = Kind(labels, outcome, split, modes)
        if kind not in made:
            made[kind] = _table(kind, base, planted, root / kind.name.replace(",", "_"))
        return made[kind]

    return make


@pytest.fixture(scope="session")
def prime() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`run_prime`: the ``prime`` command in a real process."""
    return run_prime


@pytest.fixture(scope="session")
def samples_writer() -> Callable[[pl.DataFrame, Path], Path]:
    """:func:`write_samples`: a samples table written as a user writes one."""
    return write_samples


def run_prime(
    *args: object, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m prime_rs ARGS`` in a real process, as a user runs ``prime``.

    The environment (``PYTHONPATH`` included) is passed on, so this runs the package under
    test both from a checkout and where it is installed.
    """
    return subprocess.run(
        [sys.executable, "-m", "prime_rs", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=os.environ.copy(),
        check=False,
    )


@pytest.fixture(scope="session")
def assert_clean() -> Callable[[subprocess.CompletedProcess[str], Sequence[object]], None]:
    """:func:`assert_clean_exit`."""
    return assert_clean_exit


def assert_clean_exit(proc: subprocess.CompletedProcess[str], args: Sequence[object]) -> None:
    """Exit status 0 and no traceback anywhere."""
    shown = " ".join(map(str, args))
    assert proc.returncode == 0, (shown, proc.returncode, proc.stdout[-3000:], proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr, (shown, proc.stderr)
