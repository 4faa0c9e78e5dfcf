"""The library functions behind the ``prime evaluate`` commands: splits, DOMINO's vocabulary,
the comparison's files, prompt counts."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

import prime_rs
from prime_rs import InputError, ParameterError, synthetic
from prime_rs.cli import cli
from prime_rs.evaluate import (
    generation_prompts,
    load_split,
    load_splits,
    prompt_counts,
    read_vocabulary,
    split_samples,
    write_comparison,
)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small synthetic set with a split column: val, test and other, in turn."""
    data = synthetic.generate(synthetic.SMALL).samples
    split = pl.Series(["val", "test", "other"] * (data.height // 3 + 1)).head(data.height)
    path = tmp_path_factory.mktemp("splits") / "samples.parquet"
    data.with_columns(split=split).write_parquet(path)
    return path


def test_load_split(samples: Path) -> None:
    whole = prime_rs.load_samples(samples)
    assert load_split(samples).equals(whole)
    test = load_split(samples, "split", "test")
    assert test.equals(whole.filter(pl.col("split") == "test"))
    assert load_split(whole, "split", "val").height == whole.height // 3 + (whole.height % 3 > 0)
    with pytest.raises(ParameterError, match="split_column"):
        load_split(samples, None, "test")
    with pytest.raises(ParameterError, match="name the split"):
        load_split(samples, "split")
    with pytest.raises(InputError, match=r"no row has split == 'tset'.*'other', 'test', 'val'"):
        load_split(samples, "split", "tset")
    with pytest.raises(InputError, match="no column 'fold'"):
        load_split(samples, "fold", "test")


def test_load_splits(samples: Path, tmp_path: Path) -> None:
    whole = prime_rs.load_samples(samples)
    d, h = load_splits(samples, split_column="split", detect="val", holdout="test")
    expected = split_samples(samples, "split", "val", "test")
    assert d.equals(expected[0]) and h is not None and h.equals(expected[1])  # type: ignore[arg-type]
    # Without a holdout; the detect split's default name is "detect" (this table has none).
    d, h = load_splits(samples, split_column="split", detect="other")
    assert h is None and d.equals(whole.filter(pl.col("split") == "other"))
    with pytest.raises(InputError, match="no row has split == 'detect'"):
        load_splits(samples, split_column="split")
    # Without a split column: all of it, and the holdout from its own file.
    held = tmp_path / "held.csv"
    prime_rs.write_table(whole.filter(pl.col("split") == "test").drop("split"), held)
    d, h = load_splits(samples, holdout_samples=held)
    assert d.equals(whole) and h is not None and h.height == whole.height // 3
    assert h.equals(prime_rs.load_samples(held))
    d, h = load_splits(whole, split_column="split", detect="val", holdout_samples=held)
    assert d.height == whole.filter(pl.col("split") == "val").height and h is not None
    with pytest.raises(ParameterError, match="not both"):
        load_splits(samples, split_column="split", holdout="test", holdout_samples=held)
    for named in ({"detect": "val"}, {"holdout": "test"}):
        with pytest.raises(ParameterError, match="split_column"):
            load_splits(samples, **named)
    with pytest.raises(ParameterError, match="unseen"):
        load_splits(samples, split_column="split", detect="val", holdout="val")


def test_split_options_need_a_split_column(samples: Path) -> None:
    for args in (
        ["evaluate", "sweep", samples, "--holdout", "test"],
        ["evaluate", "sweep", samples, "--detect", "val"],
        ["inspect", samples, "--label", "x", "--tags", "y", "--holdout", "test"],
        ["evaluate", "prompts", samples, samples, "--detect", "val", "-o", "p.json"],
        ["evaluate", "tag-overlap", samples, samples, "--holdout", "test"],
        ["report", samples, samples, "--detect", "val"],
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "needs --split-column" in result.stderr and "Traceback" not in result.output


def test_read_vocabulary(tmp_path: Path) -> None:
    p = tmp_path / "vocabulary.txt"
    p.write_text("snow\n\n  a dark night  \r\nsnow\n", encoding="utf-8")
    assert read_vocabulary(p) == ["snow", "a dark night", "snow"]
    with pytest.raises(InputError, match="vocabulary file not found"):
        read_vocabulary(tmp_path / "nope.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00snow")
    with pytest.raises(InputError, match="UTF-8"):
        read_vocabulary(bad)


def test_write_comparison(tmp_path: Path) -> None:
    prime_t = pl.DataFrame(
        {"label": ["a", "b"], "tags": [["x"], ["y"]], "similarity_mean": [0.3, 0.2],
         "auroc": [0.8, 0.6]}
    )  # fmt: skip
    domino_t = pl.DataFrame(
        {"label": ["a"], "description": ["x"], "similarity_mean": [0.1], "auroc": [0.5]}
    )
    summary = pl.DataFrame({"method": ["PRIME", "DOMINO"], "n_groups": [2, 1]})
    tables = {"summary": summary, "prime": prime_t, "domino": domino_t}
    out = tmp_path / "new" / "cmp"
    paths = write_comparison(tables, out)
    assert [p.name for p in paths] == [
        "summary.csv", "prime.parquet", "domino.parquet", "fig6.png", "fig6.svg",
    ]  # fmt: skip
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths)
    assert pl.read_csv(out / "summary.csv").equals(summary)
    assert pl.read_parquet(out / "prime.parquet").equals(prime_t)
    assert pl.read_parquet(out / "domino.parquet").equals(domino_t)
    with pytest.raises(InputError, match="'domino'"):
        write_comparison({"summary": summary, "prime": prime_t}, tmp_path / "x")
    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="is a file"):
        write_comparison(tables, a_file)


def test_prompt_counts() -> None:
    data = synthetic.generate(synthetic.SMALL).samples
    modes = prime_rs.find_failure_modes(data, max_tags=3)
    prompts = generation_prompts(modes, data, top=3, min_support=20, success_per_mode=2)
    kinds = [p["kind"] for p in prompts["prompts"]]
    n = prompt_counts(prompts, success_per_mode=2)
    assert n["n_failure"] == kinds.count("failure") == 3
    assert n["n_success"] == kinds.count("success")
    assert n["n_missing_success"] == 6 - n["n_success"]
    assert prompt_counts({"prompts": []}) == {
        "n_failure": 0,
        "n_success": 0,
        "n_missing_success": 0,
    }


def test_every_command_takes_h() -> None:
    from prime_rs.cli.evaluate import evaluate

    for name, command in evaluate.commands.items():
        # Each command on its own, outside the group: -h still shows its help.
        result = CliRunner().invoke(command, ["-h"])
        assert result.exit_code == 0, (name, result.output)
        assert "Examples" in result.stdout, name
    report = CliRunner().invoke(cli, ["report", "-h"])
    assert report.exit_code == 0 and "Examples" in report.stdout
