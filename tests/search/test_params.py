"""One parameter spec: :class:`prime_rs.SearchParams`, the results a search returns, and the
command line's options checked against it."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import click
import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import prime_rs
from prime_rs import SearchParams, synthetic
from prime_rs.cli import cli
from prime_rs.cli._params import take_params
from prime_rs.cli.search import search as search_command
from prime_rs.cli.vision import run as run_command


@pytest.fixture(scope="module")
def small() -> pl.DataFrame:
    return synthetic.generate(synthetic.SMALL).samples


@pytest.fixture(scope="module")
def index(small: pl.DataFrame) -> prime_rs.TagIndex:
    return prime_rs.TagIndex.from_samples(small)


@pytest.mark.parametrize(
    ("command", "args", "fields"),
    [
        (search_command, ["samples.parquet"], SearchParams.field_names()),
        (
            run_command,
            ["photos", "-o", "out", "--model", "m.pt"],
            tuple(f for f in SearchParams.field_names() if f != "labels"),
        ),
    ],
    ids=["prime search", "prime run"],
)
def test_every_field_has_one_cli_option_with_its_name_and_default(
    command: click.Command, args: list[str], fields: tuple[str, ...]
) -> None:
    """``prime search`` has one flag per SearchParams field, named after it, whose default
    (parsed as the command parses it) is the field's default; ``prime run`` the same, but
    for --labels (its classes are not known before the images are read)."""
    flags = {p.name: [o for o in p.opts if o.startswith("--")] for p in command.params}
    ctx = command.make_context(command.name, list(args))
    defaults = SearchParams()
    by_flag = {flag: name for name, fl in flags.items() for flag in fl}
    for field in SearchParams.field_names():
        flag = "--" + field.replace("_", "-")
        if field not in fields:
            assert flag not in by_flag
            continue
        assert flag in by_flag, f"{command.name} has no {flag} for SearchParams.{field}"
        assert list(by_flag.values()).count(by_flag[flag]) == 1
        value = ctx.params[by_flag[flag]]
        expected = getattr(defaults, field)
        if field == "labels":
            assert value == ()  # nothing given: every class, as labels=None
            assert expected is None
        elif field == "necessity":
            assert tuple(value) == expected
        else:
            assert value == expected, (field, value, expected)
    # What the command makes of its defaults is the default parameters.
    options = dict(ctx.params)
    if "labels" in options:
        options.pop("labels")
    assert take_params(options) == defaults


def test_search_params_normalise_and_refuse() -> None:
    p = SearchParams(
        max_tags=np.int64(3),
        min_drop=np.float32(0.25),
        necessity=0.1,
        labels="fox",
        threads=np.int32(2),
    )
    assert (p.max_tags, p.necessity, p.labels, p.threads) == (3, (0.1,), ("fox",), 2)
    assert type(p.max_tags) is int and type(p.min_drop) is float
    assert p.min_drop == pytest.approx(0.25)
    with pytest.raises(prime_rs.ParameterError, match="necessity"):
        SearchParams(necessity="0.1")  # not a list of characters
    with pytest.raises(prime_rs.ParameterError, match="necessity"):
        SearchParams(necessity=[])
    with pytest.raises(prime_rs.ParameterError, match=r"rank_by.*q-values"):
        SearchParams(rank_by="q_value", q_values=False)
    with pytest.raises(prime_rs.ParameterError, match=r"max_q.*q-values"):
        SearchParams(max_q=0.05, q_values=False)
    with pytest.raises(prime_rs.ParameterError, match="labels: selects no class"):
        SearchParams(labels=[])
    with pytest.raises(prime_rs.ParameterError, match=r"min_tag_count: must be below 2\*\*32"):
        SearchParams(min_tag_count=10**12)
    with pytest.raises(prime_rs.ParameterError, match="min_drop"):
        SearchParams(min_drop=True)
    with pytest.raises(prime_rs.ParameterError, match="unknown parameter min_supp"):
        SearchParams.of(min_supp=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_tags = 2  # type: ignore[misc]


def test_numpy_numbers_and_scalar_necessity_give_the_same_modes(small: pl.DataFrame) -> None:
    plain = prime_rs.find_failure_modes(small, max_tags=3, min_drop=0.3, necessity=[0.1])
    numpy = prime_rs.find_failure_modes(
        small, max_tags=np.int64(3), min_drop=np.float32(0.3), necessity=np.float64(0.1)
    )
    assert plain.height > 0
    # float32(0.3) is 0.30000001192...: the same modes here (no drop lands between the two).
    assert numpy.select("label", "tags").equals(plain.select("label", "tags"))


def test_params_object_and_keywords_agree(small: pl.DataFrame) -> None:
    p = SearchParams(max_tags=3, min_support=20)
    assert prime_rs.find_failure_modes(small, p).equals(
        prime_rs.find_failure_modes(small, max_tags=3, min_support=20)
    )
    assert prime_rs.find_failure_modes(small, p, min_drop=0.4).equals(
        prime_rs.find_failure_modes(small, max_tags=3, min_support=20, min_drop=0.4)
    )


def test_empty_labels_is_a_parameter_error_not_an_empty_table(small: pl.DataFrame) -> None:
    with pytest.raises(prime_rs.ParameterError, match="labels"):
        prime_rs.find_failure_modes(small, labels=[])


def test_search_returns_modes_and_a_per_class_summary(index: prime_rs.TagIndex) -> None:
    result = index.search(max_tags=3, min_support=20)
    assert isinstance(result, prime_rs.SearchResult)
    s = result.summary
    assert s.columns == [
        "label",
        "n_samples",
        "n_correct",
        "accuracy",
        "sets_tested",
        "hypotheses",
        "n_modes",
    ]
    assert s["label"].to_list() == index.labels
    assert s["n_modes"].sum() == result.modes.height > 0
    counts = dict(result.modes.group_by("label").len().iter_rows())
    for row in s.iter_rows(named=True):
        assert row["n_modes"] == counts.get(row["label"], 0)
        assert row["sets_tested"] >= row["n_modes"]
    assert result.empty_reason is None
    # The index keeps nothing of the search.
    assert not [a for a in vars(index) if a.startswith("last")]


def test_summary_of_selected_classes_and_empty_reason(index: prime_rs.TagIndex) -> None:
    one = index.labels[0]
    result = index.search(labels=[one], min_drop=0.99)
    assert result.summary["label"].to_list() == [one]
    assert result.modes.height == 0
    assert result.empty_reason is not None and "lower min_drop" in result.empty_reason


def test_classes_table_is_a_copy_each_time(index: prime_rs.TagIndex) -> None:
    """The class table is made once per index; what a caller does to it in place changes
    neither the next call's table nor a search's summary."""
    first = index.classes()
    expected = first.clone()
    first.insert_column(0, pl.Series("mine", range(first.height)))
    first.drop_in_place("accuracy")
    assert index.classes().equals(expected)
    summary = index.search(max_tags=2).summary
    assert summary.select(expected.columns).equals(expected)


def test_one_index_searched_from_two_threads(index: prime_rs.TagIndex) -> None:
    """The index is immutable: concurrent searches with different parameters each get their
    own result, equal to the same search run alone."""
    params = [SearchParams(max_tags=3, min_support=20), SearchParams(max_tags=2, min_drop=0.2)]
    alone = [index.search(p) for p in params]
    got: dict[int, Any] = {}

    def work(i: int) -> None:
        for _ in range(5):
            got[i] = index.search(params[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert got[i].modes.equals(alone[i].modes)
        assert got[i].summary.equals(alone[i].summary)


def test_cli_labels_with_commas_quoted_or_repeated(tmp_path: Path) -> None:
    """Class names holding commas can be chosen: quoted, or with the option repeated."""
    df = synthetic.generate(synthetic.SMALL).samples
    names = sorted(df["label"].unique().to_list())
    renamed = {names[0]: "big, red fox", names[1]: "wolf"}
    df = df.with_columns(pl.col("label").replace(renamed), pl.col("prediction").replace(renamed))
    path = tmp_path / "samples.parquet"
    df.write_parquet(path)
    runner = CliRunner()
    quoted = runner.invoke(
        cli,
        ["search", str(path), "--labels", '"big, red fox",wolf', "-o", str(tmp_path / "a.parquet")],
    )
    assert quoted.exit_code == 0, quoted.output
    repeated = runner.invoke(
        cli,
        [
            "search",
            str(path),
            "--labels",
            '"big, red fox"',
            "--labels",
            "wolf",
            "-o",
            str(tmp_path / "b.parquet"),
        ],
    )
    assert repeated.exit_code == 0, repeated.output
    a = pl.read_parquet(tmp_path / "a.parquet")
    b = pl.read_parquet(tmp_path / "b.parquet")
    assert a.equals(b)
    assert set(a["label"].unique().to_list()) <= {"big, red fox", "wolf"}
    expected = prime_rs.find_failure_modes(df, labels=["big, red fox", "wolf"])
    assert a.select("label", "tags").equals(expected.select("label", "tags"))
    unknown = runner.invoke(cli, ["search", str(path), "--labels", "big"])
    assert unknown.exit_code == 2
    assert "unknown label 'big'" in unknown.stderr
    assert "'big, red fox', " in unknown.stderr  # class names quoted: they may hold commas
