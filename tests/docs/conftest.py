"""Fixtures of the docs test: a folder holding the files the docs name, and a summary line.

The folder is built once per session from :mod:`prime_rs.synthetic` (17 Living17-shaped
classes, so ``fox``, ``wolf`` and ``ape`` exist), and every page gets a fresh copy of it.
Two groups are planted so that the docs' examples show something real: 40 ``fox`` samples
tagged *white* + *zoo*, 14 of them right, and 60 ``ape`` samples tagged *hang* + *branch* +
*black*.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from docs_blocks import NOT_RUN

import prime_rs
from prime_rs import synthetic

CONFIG = synthetic.Config(
    n_classes=17,
    samples_per_class=1000,
    tags_per_class=40,
    tags_per_sample=6.0,
    vocabulary_size=120,
    topics_per_class=5,
    planted_support=120,
    pair_support=60,
    single_support=80,
    seed=3,
)


def _plant(df: pl.DataFrame, label: str, tags: list[str], n: int, n_correct: int, seed: int):
    """Add ``tags`` to ``n`` samples of ``label`` (first ``n_correct`` of them right)."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero((df["label"] == label).to_numpy())
    chosen = rng.choice(rows, n, replace=False)
    right = np.zeros(df.height, dtype=bool)
    wrong = np.zeros(df.height, dtype=bool)
    right[chosen[:n_correct]] = True
    wrong[chosen[n_correct:]] = True
    picked = pl.Series(right | wrong)
    other = "wolf" if label != "wolf" else "fox"
    return df.with_columns(
        pl.when(picked)
        .then(pl.col("tags").list.concat(pl.lit(tags)).list.unique().list.sort())
        .otherwise(pl.col("tags"))
        .alias("tags"),
        pl.when(pl.Series(right))
        .then(pl.lit(True))
        .when(pl.Series(wrong))
        .then(pl.lit(False))
        .otherwise(pl.col("correct"))
        .alias("correct"),
        pl.when(pl.Series(right))
        .then(pl.col("label"))
        .when(pl.Series(wrong))
        .then(pl.lit(other))
        .otherwise(pl.col("prediction"))
        .alias("prediction"),
    )


def build(folder: Path) -> None:
    """Write every file the docs' examples read into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    df = synthetic.generate(CONFIG).samples
    df = _plant(df, "fox", ["white", "zoo"], 40, 14, seed=1)
    df = _plant(df, "ape", ["hang", "branch", "black"], 60, 20, seed=2)
    rng = np.random.default_rng(0)
    df = df.with_columns(pl.Series("split", np.where(rng.random(df.height) < 0.5, "val", "test")))
    prime_rs.write_table(df, folder / "samples.parquet")
    prime_rs.write_table(df, folder / "samples.csv")
    prime_rs.write_table(df, folder / "samples.jsonl")
    detect = df.filter(pl.col("split") == "val")
    holdout = df.filter(pl.col("split") == "test")
    prime_rs.write_table(detect, folder / "detect.parquet")
    prime_rs.write_table(holdout, folder / "test.parquet")
    modes = prime_rs.find_failure_modes(detect)
    assert modes.height >= 10, "the docs' fixture data should hold failure modes"
    prime_rs.write_table(modes, folder / "modes.parquet")

    emb = rng.normal(size=(df.height, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    pl.DataFrame(
        {"id": df["id"], "embedding": pl.Series(emb.tolist(), dtype=pl.Array(pl.Float32, 16))}
    ).write_parquet(folder / "embeddings.parquet")

    from prime_rs import evaluate
    from prime_rs.evaluate.prompts import write_prompts

    prompts = evaluate.generation_prompts(modes, detect, top=10)
    write_prompts(prompts, folder / "prompts.json")
    ids = [p["id"] for p in prompts["prompts"]]
    labels = [p["label"] for p in prompts["prompts"]]
    pl.DataFrame(
        {
            "prompt_id": [i for i in ids for _ in range(4)],
            "prediction": [lab if k % 4 else "wolf" for lab in labels for k in range(4)],
        }
    ).write_csv(folder / "generated_predictions.csv")

    # A tags table as prime tag writes it (candidates and their scores kept), and a RAM one.
    small = df.head(300)
    scores = (
        small["tags"]
        .list.len()
        .map_elements(
            lambda n: sorted(rng.uniform(0.05, 0.95, n).tolist(), reverse=True),
            return_dtype=pl.List(pl.Float64),
        )
        .cast(pl.List(pl.Float32))
    )
    tags = pl.DataFrame(
        {
            "id": small["id"],
            "label": small["label"],
            "tags": small["tags"],
            "tag_scores": scores,
            "candidates": small["tags"],
            "candidate_scores": scores,
        }
    )
    tags.write_parquet(folder / "tags.parquet")
    tags.write_parquet(folder / "ram_tags.parquet")
    vocab = sorted(set(small["tags"].explode().drop_nulls().to_list()))
    pl.DataFrame({"tag": vocab, "threshold": [0.5] * len(vocab)}).write_csv(
        folder / "my_thresholds.csv"
    )

    try:
        from prime_rs.vision.testing import make_image_folder
    except ImportError:  # the vision pages need the vision extra; the others do not
        return
    make_image_folder(folder / "photos", {"fox": 3, "wolf": 3}, size=(48, 40))


@pytest.fixture(scope="session")
def docs_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of fixture files, built once."""
    folder = tmp_path_factory.mktemp("docs-data")
    build(folder)
    return folder


@pytest.fixture
def page_folder(docs_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the fixture files, made the working folder."""
    work = tmp_path / "work"
    shutil.copytree(docs_data, work)
    monkeypatch.chdir(work)
    return work


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not NOT_RUN:
        return

    def order(item: tuple[str, str, str]) -> tuple[str, int]:
        page, _, line = item[0].rpartition(":")
        return page, int(line)

    seen = sorted(set(NOT_RUN), key=order)
    counts = {m: sum(1 for _, mode, _ in seen if mode == m) for m in ("parse-only", "skip")}
    terminalreporter.section("docs blocks not run in full")
    terminalreporter.write_line(
        f"{counts['parse-only']} parse-only, {counts['skip']} skipped (each needs a reason):"
    )
    for place, mode, reason in seen:
        terminalreporter.write_line(f"  {place}  {mode}: {reason}")
