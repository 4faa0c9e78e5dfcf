"""What write_table writes reads back as the same table: tags in CSV, empty tables in every
format, for mode tables (read_modes) and samples tables (load_samples)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import prime_rs
from prime_rs import MODE_COLUMNS, TRUST_COLUMNS, InputError, load_samples, read_table, write_table
from prime_rs.cli import cli
from prime_rs.evaluate import read_modes
from prime_rs.io import tags_from_text

FORMATS = [".parquet", ".csv", ".json", ".jsonl"]

# Tags made of the characters that break naive CSV: the separator, commas, quotes, line
# breaks, blanks, brackets; empty strings included.
TAG = st.text(
    alphabet=st.sampled_from([*"ab|,\"'\n\r\t []{}\\é", "\u2028"]), min_size=0, max_size=6
)
TAG_LISTS = st.lists(st.lists(TAG, max_size=4), min_size=1, max_size=6)


def samples_table(tags: list[list[str]]) -> pl.DataFrame:
    n = len(tags)
    return pl.DataFrame(
        {
            "id": list(range(n)),
            "label": ["fox"] * n,
            "prediction": ["fox" if i % 2 else "wolf" for i in range(n)],
            "tags": tags,
        },
        schema_overrides={"tags": pl.List(pl.String)},
    )


def mode_table(tags: list[list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"label": ["fox"] * len(tags), "tags": tags, "support": list(range(len(tags)))},
        schema_overrides={"tags": pl.List(pl.String)},
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TAG_LISTS)
def test_csv_tags_round_trip(tags: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        modes = mode_table(tags)
        path = write_table(modes, Path(tmp) / "modes.csv")
        assert_frame_equal(read_modes(path), modes)

        samples = samples_table(tags)
        path = write_table(samples, Path(tmp) / "samples.csv")
        back = load_samples(path)
        assert back["tags"].to_list() == tags
        assert back["id"].to_list() == samples["id"].to_list()
        assert back["correct"].to_list() == (samples["prediction"] == "fox").to_list()


def test_csv_cells_stay_plain_when_they_can(tmp_path: Path) -> None:
    tags = [["a|b", "c,d"], ["snow", "night"], [], [""], [" x"], ["[unk]"], ['say "hi"']]
    path = write_table(mode_table(tags), tmp_path / "modes.csv")
    assert read_modes(path)["tags"].to_list() == tags
    # The plain cells are exactly what a user (or RAM) writes: tags joined with "|".
    cells = pl.read_csv(path, schema_overrides={"tags": pl.String})["tags"].to_list()
    assert cells == [
        '["a|b", "c,d"]',
        "snow|night",
        "",
        '[""]',
        '[" x"]',
        '["[unk]"]',
        'say "hi"',
    ]
    # Joined naively the first row would have read back as three tags.
    assert "a|b|c,d" not in path.read_text()


def test_tags_from_text() -> None:
    cells = pl.Series(["snow|night", " snow | tree |", "", None, '["a|b", ""]', '  ["x"]'])
    assert tags_from_text(cells, "t").to_list() == [
        ["snow", "night"],
        ["snow", "tree"],
        [],
        [],
        ["a|b", ""],
        ["x"],
    ]
    for bad in ("['x', 'y']", "[1, 2]", '["x", null]', ' [{"a": 1}]', "[unclosed"):
        with pytest.raises(InputError) as info:
            tags_from_text(pl.Series(["ok", bad]), "t.csv")
        message = str(info.value)
        assert message.startswith("t.csv: column 'tags' holds a list written as text")
        assert "row 1 (counting from 0)" in message
        assert "JSON list" in message
    with pytest.raises(InputError, match="not both in one file"):
        tags_from_text(pl.Series(['["x"]']), "t.jsonl", json_cells=False)


def test_other_lists_in_csv(tmp_path: Path) -> None:
    df = pl.DataFrame({"label": ["a"], "tags": [["x"]], "scores": [[0.5, 0.25]]})
    path = write_table(df, tmp_path / "t.csv")
    assert read_table(path)["scores"].to_list() == ["[0.5, 0.25]"]
    # Categorical tags are text like any other.
    tags = [["a|b", "c"], ["d"]]
    modes = mode_table(tags).with_columns(pl.col("tags").cast(pl.List(pl.Categorical)))
    path = write_table(modes, tmp_path / "modes.csv")
    assert read_modes(path)["tags"].to_list() == tags
    assert pl.read_csv(path)["tags"].to_list() == ['["a|b", "c"]', "d"]


# -- empty tables --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_empty_mode_table_round_trips(tmp_path: Path, samples: pl.DataFrame, suffix: str) -> None:
    empty = prime_rs.find_failure_modes(samples, min_support=10**6)
    assert empty.height == 0
    path = write_table(empty, tmp_path / f"modes{suffix}")
    back = read_modes(path)
    assert back.height == 0
    assert back.schema["tags"] == pl.List(pl.String)
    if suffix in (".json", ".jsonl"):
        # No record, so no column names in the file: the columns every mode table has.
        assert back.columns == list(MODE_COLUMNS + TRUST_COLUMNS)
        assert_frame_equal(back, empty.select(back.columns))
    else:
        # Parquet keeps the types; a CSV header only names the columns.
        assert_frame_equal(back, empty)


@pytest.mark.parametrize("suffix", FORMATS)
def test_empty_samples_table_round_trips(
    tmp_path: Path, samples: pl.DataFrame, suffix: str
) -> None:
    path = write_table(samples.head(0), tmp_path / f"samples{suffix}")
    back = load_samples(path)
    assert back.height == 0
    assert {"id", "label", "correct", "tags"} <= set(back.columns)
    assert back.schema["tags"] == pl.List(pl.String)
    assert back.schema["correct"] == pl.Boolean
    assert prime_rs.find_failure_modes(path).height == 0
    assert prime_rs.TagIndex.from_samples(path).labels == []
    # The command line says so, as it does for an empty Parquet file.
    result = CliRunner().invoke(cli, ["search", str(path)])
    assert result.exit_code == 0, result.output
    assert "the samples table is empty" in result.stdout


@pytest.mark.parametrize(
    "text", ["", "\n", "\n  \n", "[]", " [ ]\n"], ids=["empty", "newline", "blank", "[]", "[ ]"]
)
@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".ndjson"])
def test_json_without_records_is_an_empty_table(tmp_path: Path, text: str, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    path.write_text(text)
    assert read_table(path).shape == (0, 0)
    assert load_samples(path).height == 0
    assert read_modes(path).height == 0


def test_empty_tables_in_memory() -> None:
    for table in (
        pl.DataFrame(),
        pl.LazyFrame(),
        pd.DataFrame(),
        pd.DataFrame({"id": [], "label": [], "correct": [], "tags": []}),
        pl.DataFrame({"id": [], "label": [], "prediction": [], "tags": []}),
    ):
        out = load_samples(table)  # type: ignore[arg-type]
        assert out.height == 0
        assert out.schema["tags"] == pl.List(pl.String)
        assert prime_rs.find_failure_modes(table).height == 0  # type: ignore[arg-type]
    # Without rows a table still needs its columns, once it has any.
    with pytest.raises(InputError, match="missing column 'tags'"):
        load_samples(
            pl.DataFrame(schema={"id": pl.Int64, "label": pl.String, "correct": pl.Boolean})
        )


def test_empty_csv_files_are_still_refused(tmp_path: Path) -> None:
    # Not even a header: nothing says it is a table (write_table always writes one).
    path = tmp_path / "modes.csv"
    path.write_text("")
    with pytest.raises(InputError, match="the file is empty"):
        read_modes(path)


def test_a_failed_write_leaves_the_old_file_and_no_part(tmp_path: Path) -> None:
    """A table that cannot be written is an InputError; the file that was there stays whole
    and no temporary file is left beside it."""
    path = tmp_path / "modes.csv"
    path.write_text("label,tags\na,x\n")
    nested = pl.DataFrame({"label": ["a"], "s": [{"x": 1, "y": [1, 2]}]})
    with pytest.raises(prime_rs.InputError, match="cannot write the table as csv"):
        prime_rs.write_table(nested, path)
    assert path.read_text() == "label,tags\na,x\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modes.csv"]
    prime_rs.write_table(pl.DataFrame({"label": ["b"], "tags": [["y"]]}), path)
    assert path.read_text() == "label,tags\nb,y\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["modes.csv"]
