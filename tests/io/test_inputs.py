"""Every kind of table a user may hold reads as the same samples table (prime_rs.io).

The reference is the synthetic table as a Polars DataFrame: each other form of the same data
(LazyFrame, pyarrow with large types or many chunks, a RecordBatchReader, pandas with lists
or numpy arrays in its cells, an object that only exports an Arrow stream, files, a folder of
Parquet files) must give exactly the same failure modes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import prime_rs
from prime_rs import InputError, load_samples, read_table, write_table
from prime_rs.cli import cli
from prime_rs.evaluate import generalization


class StreamOnly:
    """A table known only by its Arrow stream: the PyCapsule interface and nothing else."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._table.__arrow_c_stream__(requested_schema)


def large_types(df: pl.DataFrame) -> pa.Table:
    """The table in pyarrow with 64-bit offsets: large_string and large_list<large_string>."""
    table = df.to_arrow()
    fields = []
    for field in table.schema:
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            field = field.with_type(pa.large_string())
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            field = field.with_type(pa.large_list(pa.large_string()))
        fields.append(field)
    out = table.cast(pa.schema(fields))
    assert out.schema.field("tags").type == pa.large_list(pa.large_string())
    assert out.schema.field("label").type == pa.large_string()
    return out


def chunked(df: pl.DataFrame) -> pa.Table:
    """The table in pyarrow as several chunks of uneven sizes."""
    table = df.to_arrow()
    cuts = [0, 1, 1000, 1001, 4000, table.num_rows]
    out = pa.concat_tables([table.slice(a, b - a) for a, b in itertools.pairwise(cuts)])
    assert out.column("tags").num_chunks == len(cuts) - 1
    return out


def reader(df: pl.DataFrame) -> pa.RecordBatchReader:
    table = df.to_arrow()
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=999))


def pandas_lists(df: pl.DataFrame) -> pd.DataFrame:
    """pandas as a user builds it: plain Python lists in an object column."""
    out = pd.DataFrame({c: df[c].to_list() for c in df.columns})
    assert out["tags"].dtype == object and isinstance(out["tags"].iloc[0], list)
    return out


def pandas_arrays(df: pl.DataFrame) -> pd.DataFrame:
    """pandas as pandas reads Parquet: numpy arrays in an object column."""
    out = df.to_pandas()
    assert isinstance(out["tags"].iloc[0], np.ndarray)
    return out


def pandas_id_index(df: pl.DataFrame) -> pd.DataFrame:
    """pandas with the ids as its index (``set_index("id")``)."""
    return pandas_lists(df).set_index("id")


def parquet_folder(tmp_path: Path) -> Callable[[pl.DataFrame], Path]:
    def write(df: pl.DataFrame) -> Path:
        folder = tmp_path / "dataset"
        folder.mkdir()
        cuts = [0, 2000, 2001, df.height]
        for i, (a, b) in enumerate(itertools.pairwise(cuts)):
            df.slice(a, b - a).write_parquet(folder / f"part-{i}.parquet")
        return folder

    return write


def file_as(suffix: str, tmp_path: Path) -> Callable[[pl.DataFrame], Path]:
    return lambda df: write_table(df, tmp_path / f"samples{suffix}")


FORMS: dict[str, Callable[[pl.DataFrame], Any]] = {
    "polars LazyFrame": lambda df: df.lazy(),
    "pyarrow Table": lambda df: df.to_arrow(),
    "pyarrow large_string and large_list": large_types,
    "pyarrow chunked Table": chunked,
    "pyarrow RecordBatchReader": reader,
    "pandas with lists": pandas_lists,
    "pandas with numpy arrays": pandas_arrays,
    "pandas with the ids as index": pandas_id_index,
    "__arrow_c_stream__ only": lambda df: StreamOnly(df.to_arrow()),
    "__arrow_c_stream__ with large types": lambda df: StreamOnly(large_types(df)),
}
FILES = {
    "Parquet folder": parquet_folder,
    "Parquet file": lambda tmp: file_as(".parquet", tmp),
    "CSV file": lambda tmp: file_as(".csv", tmp),
    "JSON-lines file": lambda tmp: file_as(".jsonl", tmp),
    "JSON file": lambda tmp: file_as(".json", tmp),
}


def make_form(name: str, df: pl.DataFrame, tmp_path: Path) -> Any:
    return FORMS[name](df) if name in FORMS else FILES[name](tmp_path)(df)


@pytest.mark.parametrize("form", [*FORMS, *FILES])
def test_every_form_finds_the_same_modes(
    tmp_path: Path, samples: pl.DataFrame, modes: pl.DataFrame, form: str
) -> None:
    table = make_form(form, samples, tmp_path)
    assert_frame_equal(prime_rs.find_failure_modes(table), modes)


@pytest.mark.parametrize("form", [*FORMS, *FILES])
def test_every_form_loads_the_same_table(tmp_path: Path, samples: pl.DataFrame, form: str) -> None:
    loaded = load_samples(make_form(form, samples, tmp_path))
    reference = load_samples(samples)
    # The same rows in the same order, each column with the same values.
    assert loaded.select(reference.columns).to_dicts() == reference.to_dicts()
    assert loaded["tags"].dtype == pl.List(pl.String)
    assert loaded["correct"].dtype == pl.Boolean


@pytest.mark.parametrize(
    "form", ["pyarrow chunked Table", "pandas with lists", "__arrow_c_stream__ only"]
)
def test_index_and_evaluation_take_every_form(
    tmp_path: Path, samples: pl.DataFrame, modes: pl.DataFrame, form: str
) -> None:
    index = prime_rs.TagIndex.from_samples(make_form(form, samples, tmp_path))
    assert_frame_equal(index.search().modes, modes)
    # An evaluation reads its samples through the same door.
    held = generalization(modes, make_form(form, samples, tmp_path))
    assert_frame_equal(held, generalization(modes, samples))


def test_a_lazy_query_is_collected(samples: pl.DataFrame) -> None:
    lazy = samples.lazy().filter(pl.col("label") == samples["label"][0]).select(pl.all())
    assert (
        load_samples(lazy).height == samples.filter(pl.col("label") == samples["label"][0]).height
    )
    broken = samples.lazy().select(pl.col("no such column"))
    with pytest.raises(InputError, match=r"^samples: the LazyFrame could not be collected \("):
        load_samples(broken)


def test_pandas_with_missing_tags_and_categories() -> None:
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "label": pd.Categorical(["fox", "fox", "wolf"]),
            "prediction": ["fox", "wolf", "wolf"],
            "tags": [["snow"], None, []],
        }
    )
    out = load_samples(df)
    assert out["tags"].to_list() == [["snow"], [], []]
    assert out["correct"].to_list() == [True, False, True]
    assert out["id"].to_list() == ["a", "b", "c"]


def test_an_index_column_is_not_added_twice(samples: pl.DataFrame) -> None:
    # A named index that is also a column stays out; an unnamed one is not a column.
    df = pandas_lists(samples.head(5))
    assert load_samples(df).columns == load_samples(samples.head(5)).columns
    named = df.set_index("id", drop=False)
    assert load_samples(named).columns == load_samples(samples.head(5)).columns


# -- Parquet folders ---------------------------------------------------------------------------


def test_parquet_folder_reads_files_in_name_order(tmp_path: Path, samples: pl.DataFrame) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    # Written in another order than their names sort in; only *.parquet counts.
    samples.slice(2000, 100).write_parquet(folder / "c.parquet")
    samples.slice(0, 100).write_parquet(folder / "a.parquet")
    samples.slice(1000, 100).write_parquet(folder / "b.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / "README.txt").write_text("not a table")
    samples.slice(5000, 7).write_parquet(folder / ".hidden.parquet")
    # A writer's scratch folder and a folder without tables are not part of the dataset.
    (folder / "_temporary" / "0").mkdir(parents=True)
    samples.slice(6000, 7).write_parquet(folder / "_temporary" / "0" / "d.parquet")
    (folder / "logs").mkdir()
    (folder / "logs" / "run.txt").write_text("written by the job")
    expected = pl.concat(
        [samples.slice(0, 100), samples.slice(1000, 100), samples.slice(2000, 100)]
    )
    assert_frame_equal(read_table(folder), expected)
    assert load_samples(folder)["id"].to_list() == expected["id"].to_list()


@pytest.mark.parametrize("top_level_file", [True, False])
def test_parquet_folder_with_subfolders_of_tables_is_refused(
    tmp_path: Path, samples: pl.DataFrame, top_level_file: bool
) -> None:
    """A partitioned dataset (tables in subfolders, here by label) is not read in part: the
    subfolders' rows, and the column their names carry, would be lost without a word."""
    folder = tmp_path / "dataset"
    for label in ("lizard", "turtle"):
        (folder / f"label={label}").mkdir(parents=True)
        part = samples.filter(pl.col("label") == label).head(50).drop("label")
        part.write_parquet(folder / f"label={label}" / "part-0.parquet")
    if top_level_file:
        samples.head(20).write_parquet(folder / "extra.parquet")
    want = (
        f"{folder}: has subfolders with .parquet files ('label=lizard', 'label=turtle'); "
        "prime_rs reads the .parquet files directly inside a folder"
    )
    with pytest.raises(InputError) as info:
        load_samples(folder)
    assert str(info.value).startswith(want)
    assert "give one subfolder" in str(info.value)
    with pytest.raises(InputError, match=r"has subfolders with \.parquet files"):
        read_table(folder)
    result = CliRunner().invoke(cli, ["search", str(folder)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {want}")
    assert "Traceback" not in result.output
    # One subfolder is a folder of Parquet files like any other.
    assert read_table(folder / "label=lizard").height == 50


def test_parquet_folder_with_relaxed_types(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    base = {"label": ["a"], "correct": [True], "tags": [["x"]]}
    pl.DataFrame({"id": [1], **base}).write_parquet(folder / "1.parquet")
    pl.DataFrame({"id": [2], **base}, schema_overrides={"id": pl.Int32}).write_parquet(
        folder / "2.parquet"
    )
    # A file whose tags are all missing has a column of nulls: it fits too.
    pl.DataFrame({"id": [4], "label": ["a"], "correct": [False], "tags": [None]}).write_parquet(
        folder / "4.parquet"
    )
    # Columns in another order are the same columns.
    pl.DataFrame({**base, "id": [3]}).write_parquet(folder / "3.parquet")
    out = load_samples(folder)
    assert out["id"].to_list() == [1, 2, 3, 4]
    assert out["tags"].to_list() == [["x"], ["x"], ["x"], []]


def test_folder_without_parquet_files(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.csv").write_text("id,label\n")
    with pytest.raises(InputError) as info:
        load_samples(folder)
    message = str(info.value)
    assert message.startswith(f"{folder}: is a folder without .parquet files")
    assert "folder of .parquet files" in message
    result = CliRunner().invoke(cli, ["search", str(folder)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {folder}: is a folder without .parquet files")
    assert "Traceback" not in result.output


def test_folder_with_files_that_do_not_fit(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    pl.DataFrame({"id": [1], "label": ["a"], "correct": [True], "tags": [["x"]]}).write_parquet(
        folder / "a.parquet"
    )
    pl.DataFrame({"id": [2], "label": ["a"], "correct": [True]}).write_parquet(folder / "b.parquet")
    with pytest.raises(InputError) as info:
        load_samples(folder)
    message = str(info.value)
    assert message.startswith(f"{folder / 'b.parquet'}: its columns differ from those of a.parquet")
    assert "it lacks 'tags'" in message

    pl.DataFrame(
        {"id": [2], "label": ["a"], "correct": [True], "tags": [["y"]], "x": [1], "y": [2]}
    ).write_parquet(folder / "b.parquet")
    with pytest.raises(InputError, match=r"\(it also has 'x', 'y'\); every file"):
        load_samples(folder)

    (folder / "b.parquet").write_bytes(b"")
    with pytest.raises(InputError, match=f"^{folder / 'b.parquet'}: the file is empty"):
        load_samples(folder)

    pl.DataFrame({"id": [2], "label": ["a"], "correct": [True], "tags": [[1.5]]}).write_parquet(
        folder / "b.parquet"
    )
    with pytest.raises(InputError) as info:
        load_samples(folder)
    assert str(info.value).startswith(
        f"{folder / 'b.parquet'}: column 'tags' is List(Float64), but List(String) in a.parquet"
    )


def test_search_a_parquet_folder_on_the_command_line(
    tmp_path: Path, samples: pl.DataFrame, modes: pl.DataFrame
) -> None:
    folder = parquet_folder(tmp_path)(samples)
    assert len(list(folder.glob("*.parquet"))) == 3
    out = tmp_path / "modes.parquet"
    result = CliRunner().invoke(cli, ["search", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert_frame_equal(pl.read_parquet(out), modes)


# -- what is not a table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "hint"),
    [
        ([{"id": 1}], "list", "build a table from the list first"),
        ({"id": [1]}, "dict", "build a table from the dict first"),
        (42, "int", ""),
        (3.5, "float", ""),
        (None, "NoneType", ""),
        (pl.Series("tags", [["a"]]), "Series", "a Series is one column"),
        (np.zeros((2, 2)), "ndarray", ""),
    ],
)
def test_not_a_table_names_the_type_and_what_is_accepted(
    value: object, kind: str, hint: str
) -> None:
    with pytest.raises(InputError) as info:
        load_samples(value)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("samples: must be a table: ")
    assert f"got {kind}" in message
    for accepted in (
        "polars DataFrame or LazyFrame",
        "pyarrow Table or RecordBatchReader",
        "pandas DataFrame",
        "__arrow_c_stream__",
        "folder of .parquet files",
    ):
        assert accepted in message
    assert hint in message
    with pytest.raises(InputError, match=r"^samples: must be a table"):
        prime_rs.find_failure_modes(value)  # type: ignore[arg-type]


def test_an_arrow_stream_that_is_not_a_table() -> None:
    column = StreamOnly(pa.chunked_array([[1, 2, 3]]))  # type: ignore[arg-type]
    with pytest.raises(InputError) as info:
        load_samples(column, source="scores")
    message = str(info.value)
    assert message.startswith("scores: the StreamOnly could not be read as a table")
    assert "one struct per row" in message
    assert "\n" not in message


def test_read_table_takes_tables_in_memory(samples: pl.DataFrame) -> None:
    assert_frame_equal(read_table(samples.to_arrow()), samples)
    assert_frame_equal(read_table(samples.lazy()), samples)
    with pytest.raises(InputError, match=r"^table: must be a table"):
        read_table([1, 2])  # type: ignore[arg-type]
