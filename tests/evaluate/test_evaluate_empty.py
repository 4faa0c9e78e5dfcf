"""Empty inputs: no modes, no prompts, no predictions, an empty holdout.

``prime evaluate prompts`` writes a prompts file without prompts when the search found no
modes; every later step must take such files (and empty mode tables and holdouts) and give an
empty result with the right columns, never a polars error about join keys of type null.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result

import prime_rs
from prime_rs import synthetic
from prime_rs.cli import cli
from prime_rs.evaluate import (
    HOLDOUT_COLUMNS,
    generalization,
    generalization_summary,
    generated_accuracy,
    generation_prompts,
    ladder,
    read_prompts,
    retrieval_generalization,
    sweep,
    tag_overlap,
    tag_overlap_summary,
    write_prompts,
)

PER_PROMPT = {
    "id": pl.String,
    "kind": pl.String,
    "label": pl.String,
    "tags": pl.List(pl.String),
    "n_images": pl.Int64,
    "accuracy": pl.Float64,
}
PER_KIND = {
    "kind": pl.String,
    "n_prompts": pl.Int64,
    "n_images": pl.Int64,
    "accuracy": pl.Float64,
    "mean_prompt_accuracy": pl.Float64,
}


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(samples, their modes) of the small synthetic set."""
    samples = synthetic.generate(synthetic.SMALL).samples
    return samples, prime_rs.find_failure_modes(samples, max_tags=3)


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory, data: tuple[pl.DataFrame, pl.DataFrame]
) -> dict[str, Path]:
    """The samples, their modes, no modes (Parquet, CSV, JSON and JSON lines) and an empty
    holdout, as files."""
    samples, modes = data
    d = tmp_path_factory.mktemp("empty")
    paths = {
        "samples": d / "samples.parquet",
        "modes": d / "modes.parquet",
        "no_modes": d / "no_modes.parquet",
        "no_modes_csv": d / "no_modes.csv",
        "no_modes_json": d / "no_modes.json",
        "no_modes_jsonl": d / "no_modes.jsonl",
        "no_holdout": d / "no_holdout.parquet",
    }
    prime_rs.write_table(samples, paths["samples"])
    prime_rs.write_table(modes, paths["modes"])
    prime_rs.write_table(modes.head(0), paths["no_modes"])
    prime_rs.write_table(modes.head(0), paths["no_modes_csv"])
    prime_rs.write_table(modes.head(0), paths["no_modes_json"])
    prime_rs.write_table(modes.head(0), paths["no_modes_jsonl"])
    prime_rs.write_table(samples.head(0), paths["no_holdout"])
    return paths


def _no_prompts(data: tuple[pl.DataFrame, pl.DataFrame]) -> dict[str, object]:
    samples, modes = data
    prompts = generation_prompts(modes.head(0), samples)
    assert prompts["prompts"] == []
    return prompts


# -- the library ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "predictions",
    [
        pl.DataFrame({"prompt_id": [], "prediction": []}),  # columns of type null
        pl.DataFrame(schema={"prompt_id": pl.String, "prediction": pl.String}),
        pl.DataFrame(schema={"prompt_id": pl.Int64, "prediction": pl.Int64}),
    ],
)
def test_generated_accuracy_without_prompts(
    data: tuple[pl.DataFrame, pl.DataFrame], predictions: pl.DataFrame
) -> None:
    per_prompt, per_kind = generated_accuracy(_no_prompts(data), predictions)
    assert per_prompt.height == 0 and dict(per_prompt.schema) == PER_PROMPT
    assert per_kind.height == 0 and dict(per_kind.schema) == PER_KIND


def test_generated_accuracy_without_prompts_from_a_file(
    data: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    path = write_prompts(_no_prompts(data), tmp_path / "prompts.json")
    assert read_prompts(path)["prompts"] == []
    preds = tmp_path / "preds.csv"
    pl.DataFrame(schema={"prompt_id": pl.String, "prediction": pl.String}).write_csv(preds)
    per_prompt, per_kind = generated_accuracy(path, preds)
    assert per_prompt.height == per_kind.height == 0
    # A prediction for a prompt the file does not have is still an error.
    with pytest.raises(prime_rs.InputError, match="'failure-0001' is not in the prompts file"):
        generated_accuracy(path, pl.DataFrame({"prompt_id": ["failure-0001"], "prediction": ["x"]}))


def test_generated_accuracy_without_predictions(data: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    samples, modes = data
    prompts = generation_prompts(modes, samples, top=2, min_support=20)
    n = len(prompts["prompts"])
    for predictions in (
        pl.DataFrame({"prompt_id": [], "prediction": []}),
        pl.DataFrame(schema={"prompt_id": pl.String, "prediction": pl.String}),
    ):
        per_prompt, per_kind = generated_accuracy(prompts, predictions)
        assert per_prompt.height == n
        assert per_prompt["n_images"].to_list() == [0] * n
        assert per_prompt["accuracy"].null_count() == n
        assert dict(per_prompt.schema) == PER_PROMPT
        assert per_kind.height == 0 and dict(per_kind.schema) == PER_KIND


def test_empty_mode_tables(data: tuple[pl.DataFrame, pl.DataFrame], files: dict[str, Path]) -> None:
    samples, modes = data
    for empty in (modes.head(0), prime_rs.evaluate.read_modes(files["no_modes_csv"])):
        g = generalization(empty, samples)
        assert g.height == 0 and g.columns[-len(HOLDOUT_COLUMNS) :] == list(HOLDOUT_COLUMNS)
        s = generalization_summary(g)
        assert (s["n_modes"], s["n_measured"], s["share_generalize"]) == (0, 0, None)
        t = tag_overlap(empty, samples)
        assert t.height == 0 and tag_overlap_summary(t).height == 0
        assert generation_prompts(empty, samples)["prompts"] == []


def test_empty_holdout(data: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    samples, modes = data
    none = samples.head(0)
    g = generalization(modes, none)
    assert g.height == modes.height
    assert g["holdout_support"].to_list() == [0] * modes.height
    s = generalization_summary(g)
    assert (s["n_measured"], s["n_without_holdout"]) == (0, modes.height)
    assert tag_overlap(modes, none).height == modes.height
    label, tags = modes.row(0, named=True)["label"], modes.row(0, named=True)["tags"]
    lad = ladder(samples, label, tags, holdout=none)
    assert lad["holdout_support"].to_list() == [0] * lad.height
    grid = sweep(samples, none, min_supports=(30,), min_drops=(0.3,), show_progress=False)
    assert grid["n_measured"].to_list() == [0]
    assert grid["n_modes"].to_list() == [modes.filter(pl.col("drop") >= 0.3).height]


def test_retrieval_generalization_with_empty_inputs() -> None:
    samples = pl.DataFrame(
        {"id": range(6), "label": [1, 1, 1, 2, 2, 2], "tags": [["a"]] * 6,
         "correct": [True, False, True, True, True, False]}
    )  # fmt: skip
    groups = pl.DataFrame({"label": [1, 2], "description": ["x", "y"], "support": [2, 2]})
    text = np.eye(6)[:2]
    columns = ["retrieval_support", "retrieval_accuracy", "holdout_class_accuracy"]
    r = retrieval_generalization(
        groups, samples.head(0), holdout_embeddings=np.zeros((0, 6)), text_embeddings=text,
        detect=samples,
    )  # fmt: skip
    assert r["retrieval_support"].to_list() == [0, 0]
    assert r.select(columns[1:]).null_count().row(0) == (2, 2)
    r = retrieval_generalization(
        groups.head(0), samples, holdout_embeddings=np.eye(6), text_embeddings=text[:0],
        detect=samples,
    )  # fmt: skip
    assert r.height == 0 and r.columns == ["label", "description", *columns, "retrieval_drop"]


# -- the command line -----------------------------------------------------------------------


def test_generated_command_without_prompts(files: dict[str, Path], tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.json"
    made = invoke(
        "evaluate", "prompts", files["no_modes"], files["samples"], "-o", prompts
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert f"wrote 0 failure and 0 success prompts to {prompts}" in made.stdout
    preds = tmp_path / "preds.csv"
    pl.DataFrame(schema={"prompt_id": pl.String, "prediction": pl.String}).write_csv(preds)
    out = tmp_path / "per_prompt.parquet"
    result = invoke("evaluate", "generated", prompts, preds, "-o", out)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"{prompts}: no prompts (no modes to generate for); nothing to measure"
    assert lines[1:] == [f"wrote 0 prompts to {out}"]
    written = prime_rs.read_table(out)
    assert written.height == 0 and written.columns == list(PER_PROMPT)
    # Without -o: the one line only.
    alone = invoke("evaluate", "generated", prompts, preds)
    assert alone.exit_code == 0, alone.output
    assert alone.stdout.splitlines() == lines[:1]


def test_commands_without_modes(files: dict[str, Path], tmp_path: Path) -> None:
    # JSON holds column names only in its rows: an empty table is `[]` or an empty file,
    # which every command must still read as no modes.
    assert files["no_modes_json"].read_text().strip() == "[]"
    assert files["no_modes_jsonl"].read_text() == ""
    for modes in (
        files["no_modes"], files["no_modes_csv"], files["no_modes_json"], files["no_modes_jsonl"]
    ):  # fmt: skip
        g = invoke("evaluate", "generalization", modes, files["samples"], "-o", tmp_path / "g.csv")
        assert g.exit_code == 0, g.output
        assert f"generalization to {files['samples']}: 0 of 0 modes measured" in g.stdout
        t = invoke("evaluate", "tag-overlap", modes, files["samples"])
        assert t.exit_code == 0, t.output
        assert t.stdout.splitlines() == [
            "no mode of 2 or more tags has samples in all three groups on the holdout",
            "",
        ]
        r = invoke("report", modes, files["samples"], "-o", tmp_path / "r.html")
        assert r.exit_code == 0, r.output
        assert "0 modes" in r.stdout


def test_commands_with_an_empty_holdout(
    files: dict[str, Path], data: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    n = data[1].height
    g = invoke("evaluate", "generalization", files["modes"], files["no_holdout"])
    assert g.exit_code == 0, g.output
    assert f"0 of {n} modes measured ({n} without holdout samples, counted apart)" in g.stdout
    t = invoke("evaluate", "tag-overlap", files["modes"], files["no_holdout"])
    assert t.exit_code == 0, t.output
    s = invoke(
        "evaluate", "sweep", files["samples"], "--holdout-samples", files["no_holdout"],
        "--min-support", 30, "--min-drop", "0.3", "--quiet",
    )  # fmt: skip
    assert s.exit_code == 0, s.output
    assert "0 / 0" in s.stdout
