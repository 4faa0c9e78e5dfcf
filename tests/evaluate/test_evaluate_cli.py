"""``prime search --split-column``, ``prime evaluate ...`` and ``prime inspect``, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
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
    embeddings_table,
    generalization,
    generalization_summary,
    ladder,
    read_modes,
    read_prompts,
    tag_overlap_summary,
)

SYNTHETIC = {
    "samples_per_class": 4000,
    "planted_support": 80,
    "pair_support": 120,
    "single_support": 200,
    "seed": 3,
}
PLANTED = synthetic.generate(synthetic.SMALL, **SYNTHETIC).planted  # type: ignore[arg-type]


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_usage_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert "Error" in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic data with planted modes and a split column: 'val' (detect) and 'test'."""
    data = synthetic.generate(synthetic.SMALL, **SYNTHETIC)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    split = np.where(rng.random(data.samples.height) < 0.5, "val", "test")
    path = tmp_path_factory.mktemp("data") / "samples.parquet"
    data.samples.with_columns(split=pl.Series(split)).write_parquet(path)
    return path


def _split(path: Path, value: str) -> pl.DataFrame:
    return prime_rs.load_samples(path).filter(pl.col("split") == value)


def test_search_with_a_holdout_split(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "modes.parquet"
    result = invoke(
        "search", samples, "--split-column", "split", "--detect", "val", "--holdout", "test",
        "--max-tags", 3, "--min-support", 25, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    detect, holdout = _split(samples, "val"), _split(samples, "test")
    modes = prime_rs.find_failure_modes(detect, max_tags=3, min_support=25)
    expected = generalization(modes, holdout)
    written = prime_rs.read_table(out)
    assert written.columns == [*modes.columns, *HOLDOUT_COLUMNS]
    assert written.equals(expected)
    text = result.stdout
    assert f"split == 'val': {detect.height:,} samples searched" in text
    assert f"split == 'test': {holdout.height:,} unseen samples" in text
    s = generalization_summary(expected)
    assert f"generalization to split == 'test': {s['n_measured']} of {s['n_modes']}" in text
    share = s["share_generalize"] * 100
    assert f"holdout drop >= 25%: {s['n_generalize']} of {s['n_measured']} ({share:.1f}%)" in text
    assert "holdout drop >= 30%" in text  # the search's own min_drop too
    assert f"correlation {s['correlation']:.2f}" in text
    assert "modes on the holdout (top 10 by detect drop)" in text
    # The detect data line counts the detect rows only.
    assert f"data        {detect.height:,} samples" in text


def test_search_split_without_holdout_searches_the_detect_rows(
    samples: Path, tmp_path: Path
) -> None:
    out = tmp_path / "modes.csv"
    result = invoke(
        "search", samples, "--split-column", "split", "--detect", "test", "--max-tags", 3, "-o", out
    )
    assert result.exit_code == 0, result.output
    expected = prime_rs.find_failure_modes(_split(samples, "test"), max_tags=3)
    assert read_modes(out)["tags"].to_list() == expected["tags"].to_list()
    assert "generalization" not in result.stdout


def test_search_split_errors(samples: Path) -> None:
    assert_usage_error(invoke("search", samples, "--holdout", "test"), "--split-column")
    assert_usage_error(
        invoke("search", samples, "--split-column", "fold", "--holdout", "test"),
        "no column 'fold'",
    )
    assert_usage_error(
        invoke(
            "search", samples, "--split-column", "split", "--detect", "val", "--holdout", "tset"
        ),
        "no row has split == 'tset'",
        "'test', 'val'",
    )
    # The default detect split is called "detect": this table has none.
    assert_usage_error(
        invoke("search", samples, "--split-column", "split", "--holdout", "test"),
        "no row has split == 'detect'",
    )
    assert_usage_error(
        invoke("search", samples, "--split-column", "split", "--detect", "val", "--holdout", "val"),
        "unseen",
    )


def test_evaluate_generalization_command(samples: Path, tmp_path: Path) -> None:
    modes_path = tmp_path / "modes.csv"
    detect = _split(samples, "val")
    modes = prime_rs.find_failure_modes(detect, max_tags=3, min_support=25)
    prime_rs.write_table(modes, modes_path)
    holdout_path = tmp_path / "test.parquet"
    _split(samples, "test").write_parquet(holdout_path)
    out = tmp_path / "g.parquet"
    result = invoke(
        "evaluate", "generalization", modes_path, holdout_path, "--min-drop", "20%",
        "-o", out, "--plot", tmp_path / "fig4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = generalization(read_modes(modes_path), holdout_path)
    assert prime_rs.read_table(out).equals(expected)
    s = generalization_summary(expected, min_drop=0.2)
    assert f"holdout drop >= 20%: {s['n_generalize']} of {s['n_measured']}" in result.stdout
    assert (tmp_path / "fig4.png").is_file() and (tmp_path / "fig4.svg").is_file()
    # The holdout as a split of the whole table gives the same numbers.
    split = invoke(
        "evaluate", "generalization", modes_path, samples, "--split-column", "split",
        "--holdout", "test", "-o", tmp_path / "g2.parquet",
    )  # fmt: skip
    assert split.exit_code == 0, split.output
    assert prime_rs.read_table(tmp_path / "g2.parquet").equals(expected)
    assert_usage_error(
        invoke("evaluate", "generalization", samples, holdout_path), "a samples table"
    )


def test_sweep_command(samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    result = invoke(
        "evaluate", "sweep", samples, "--split-column", "split", "--detect", "val",
        "--holdout", "test", "--min-support", "25,50", "--min-drop", "30%,0.4",
        "--max-tags", 3, "-o", out, "--plot", tmp_path / "fig10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sweep: " in result.stderr and "it/s" not in result.stdout  # the progress bar
    grid = pl.read_csv(out)
    assert grid.select("min_support", "min_drop").rows() == [
        (25, 0.3),
        (25, 0.4),
        (50, 0.3),
        (50, 0.4),
    ]
    for r in grid.iter_rows(named=True):
        n = prime_rs.find_failure_modes(
            _split(samples, "val"),
            max_tags=3,
            min_support=r["min_support"],
            min_drop=r["min_drop"],
        ).height
        assert r["n_modes"] == n
    assert (tmp_path / "fig10.svg").is_file()
    assert_usage_error(
        invoke("evaluate", "sweep", samples, "--min-support", "25,x"), "integers separated"
    )
    both = invoke(
        "evaluate", "sweep", samples, "--split-column", "split", "--detect", "val",
        "--holdout", "test", "--holdout-samples", samples,
    )  # fmt: skip
    assert_usage_error(both, "not both")


def test_inspect_prints_the_ladder(samples: Path, tmp_path: Path) -> None:
    label, tags = PLANTED.filter(pl.col("tags").list.len() == 3).row(0)
    out = tmp_path / "ladder.csv"
    result = invoke(
        "inspect", samples, "--label", label, "--tags", ",".join(tags),
        "--split-column", "split", "--detect", "val", "--holdout", "test", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = ladder(_split(samples, "val"), label, tags, holdout=_split(samples, "test"))
    assert expected.height == 8
    lines = result.stdout.splitlines()
    assert lines[0] == f"{label}: {' + '.join(sorted(tags))}"
    full = next(line for line in lines if line.strip().startswith(" + ".join(sorted(tags))))
    row = expected.row(7, named=True)
    assert f"{row['support']:,}" in full and f"{row['holdout_support']:,}" in full
    assert f"{row['accuracy'] * 100:.1f}%" in full and f"{row['holdout_drop'] * 100:.1f}%" in full
    assert "(whole class)" in result.stdout
    back = pl.read_csv(out)
    assert back["support"].to_list() == expected["support"].to_list()
    # The planted triple: much harder than any of its pairs, on both splits.
    assert row["drop"] > 0.3 and row["holdout_drop"] > 0.3
    assert all(d < row["drop"] for d in expected["drop"].to_list()[:-1])
    assert_usage_error(
        invoke("inspect", samples, "--label", label, "--tags", "nosuchtag"), "unknown tag"
    )
    assert_usage_error(invoke("inspect", samples, "--label", "nosuchclass", "--tags", tags[0]))


def test_tag_overlap_command(samples: Path, tmp_path: Path) -> None:
    modes_path = tmp_path / "modes.parquet"
    prime_rs.write_table(
        prime_rs.find_failure_modes(_split(samples, "val"), max_tags=3, min_support=25),
        modes_path,
    )
    out = tmp_path / "table2.parquet"
    result = invoke(
        "evaluate", "tag-overlap", modes_path, samples, "--split-column", "split",
        "--holdout", "test", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = prime_rs.read_table(out)
    assert set(table["n_tags"].to_list()) == {2, 3}
    assert "all k tags" in result.stdout and ">= 1 tag" in result.stdout
    # Modes need all their tags: on average the full set drops far more than groups with
    # fewer of them (Table 2), and every planted triple does.
    summary = tag_overlap_summary(table)
    for r in summary.iter_rows(named=True):
        assert r["mean_drop_all"] > r["mean_drop_k_minus_1"] + 0.1
        assert r["mean_drop_all"] > r["mean_drop_any"] + 0.1
    planted = table.join(PLANTED, on=["label", "tags"], how="semi")
    assert planted.height == 6
    assert (planted["drop_all"] > planted["drop_k_minus_1"] + 0.3).all()


def test_prompts_and_generated_commands(samples: Path, tmp_path: Path) -> None:
    modes_path = tmp_path / "modes.parquet"
    detect = _split(samples, "val")
    modes = prime_rs.find_failure_modes(detect, max_tags=3, min_support=25)
    prime_rs.write_table(modes, modes_path)
    out = tmp_path / "prompts.json"
    result = invoke(
        "evaluate", "prompts", modes_path, samples, "--split-column", "split", "--detect", "val",
        "--top", 3, "--min-support", 15, "--negative-prompt", "blurry", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = read_prompts(out)
    assert data == json.loads(out.read_text())
    failures = [p for p in data["prompts"] if p["kind"] == "failure"]
    successes = [p for p in data["prompts"] if p["kind"] == "success"]
    top = modes.sort("drop", descending=True, maintain_order=True).head(3)
    assert [p["tags"] for p in failures] == top["tags"].to_list()
    assert failures[0]["prompt"] == f"a photo of a {failures[0]['label']}, " + ", ".join(
        failures[0]["tags"]
    )
    assert len(successes) == 3
    index = prime_rs.TagIndex.from_samples(detect)
    for p in successes:
        st = index.stats(p["label"], p["tags"])
        assert st["accuracy"] == 1.0 and st["support"] >= 15
        pair = next(f for f in failures if f["id"] == p["pair"])
        assert p["label"] == pair["label"]
    assert {p["negative_prompt"] for p in data["prompts"]} == {"blurry"}
    assert len({p["seed"] for p in data["prompts"]}) == len(data["prompts"])
    assert f"wrote 3 failure and 3 success prompts to {out}" in result.stdout

    # The model classified 4 images per prompt: failures fool it, successes do not.
    rows = []
    for p in data["prompts"]:
        for i in range(4):
            ok = p["kind"] == "success" or i == 0
            rows.append({"prompt_id": p["id"], "prediction": p["label"] if ok else "other"})
    preds = tmp_path / "generated.csv"
    pl.DataFrame(rows).write_csv(preds)
    gen = invoke("evaluate", "generated", out, preds, "-o", tmp_path / "per_prompt.csv")
    assert gen.exit_code == 0, gen.output
    assert "failure" in gen.stdout and "25.0%" in gen.stdout and "100.0%" in gen.stdout
    per_prompt = pl.read_csv(tmp_path / "per_prompt.csv")
    assert per_prompt["n_images"].to_list() == [4] * 6
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"prompt_id": ["nope"], "prediction": ["x"]}).write_csv(bad)
    assert_usage_error(invoke("evaluate", "generated", out, bad), "'nope'")


def test_embedding_space_command_with_a_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 200
    topic = rng.integers(0, 4, n)
    tags = [[f"t{k}", f"u{k}"] if rng.random() < 0.8 else [f"t{k}"] for k in topic]
    samples = pl.DataFrame(
        {"id": range(n), "label": ["a"] * n, "correct": [True] * n, "tags": tags}
    )
    # Embeddings cluster by topic, so images sharing tags are close.
    centres = rng.normal(size=(4, 8)) * 3
    emb = centres[topic] + rng.normal(size=(n, 8))
    spath, epath = tmp_path / "s.parquet", tmp_path / "e.parquet"
    samples.write_parquet(spath)
    embeddings_table(samples["id"], emb).write_parquet(epath)
    out, near = tmp_path / "t3.csv", tmp_path / "t5.csv"
    result = invoke(
        "evaluate", "embedding-space", spath, "--embeddings", epath, "--neighbors", "1,10",
        "-o", out, "--neighbors-output", near, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    t3 = pl.read_csv(out)
    distances = t3.sort("shared_tags")["mean_distance"].to_list()
    assert distances == sorted(distances, reverse=True)  # more shared tags: closer
    t5 = pl.read_csv(near)
    assert (t5["shared_embedding"] > t5["shared_random"] + 0.5).all()
    assert (t5["shared_tag_space"] >= t5["shared_embedding"] - 1e-9).all()
    assert_usage_error(invoke("evaluate", "embedding-space", spath), "--embeddings")


def test_evaluate_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "prime_rs", "evaluate", "generalization", tmp_path / "nope.parquet",
         tmp_path / "nope2.parquet"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Error:" in proc.stderr and "file not found" in proc.stderr
    helped = invoke("evaluate", "--help")
    assert helped.exit_code == 0
    for name in ("generalization", "quality", "compare", "sweep", "prompts"):
        assert name in helped.stdout
    assert "Examples" in invoke("inspect", "--help").stdout


def test_inspect_tags_holding_commas_quoted_or_repeated(tmp_path: Path) -> None:
    """A tag whose name holds a comma can be given: quoted, or with --tags repeated."""
    rows = []
    for i in range(40):
        tags = (["red, white", "stripe"] if i % 2 else ["stripe"]) if i % 5 else []
        rows.append((i, "shirt", i % 4 != 1 or "red, white" not in tags, tags))
    ids, labels, correct, tags = map(list, zip(*rows, strict=True))
    path = tmp_path / "samples.parquet"
    pl.DataFrame({"id": ids, "label": labels, "correct": correct, "tags": tags}).write_parquet(path)
    quoted = invoke(
        "inspect",
        path,
        "--label",
        "shirt",
        "--tags",
        '"red, white",stripe',
        "-o",
        tmp_path / "a.parquet",
    )
    assert quoted.exit_code == 0, quoted.output
    repeated = invoke(
        "inspect",
        path,
        "--label",
        "shirt",
        "--tags",
        '"red, white"',
        "--tags",
        "stripe",
        "-o",
        tmp_path / "b.parquet",
    )
    assert repeated.exit_code == 0, repeated.output
    a, b = pl.read_parquet(tmp_path / "a.parquet"), pl.read_parquet(tmp_path / "b.parquet")
    assert a.equals(b)
    assert ["red, white", "stripe"] in a["tags"].to_list()
    assert_usage_error(
        invoke("inspect", path, "--label", "shirt", "--tags", "stripe,,x"), "empty tag name"
    )
