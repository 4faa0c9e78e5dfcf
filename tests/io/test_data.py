"""Reading and validating samples tables (prime_rs.io), in the library and on the CLI.

Every bad input is a real file written into tmp_path; the library must raise InputError
naming the file, the column and the rows, and ``prime search`` must turn it into exit
status 2 with the same message and no traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import prime_rs
from prime_rs import InputError, load_samples, read_table, write_table
from prime_rs.cli import cli
from prime_rs.io import output_format


def write_text(text: str) -> Callable[[Path], None]:
    return lambda p: p.write_text(text)


def write_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def write_parquet(df: pl.DataFrame) -> Callable[[Path], None]:
    return lambda p: df.write_parquet(p)


def write_jsonl(rows: list[dict[str, object]]) -> Callable[[Path], None]:
    return lambda p: p.write_text("".join(json.dumps(r) + "\n" for r in rows))


GOOD_ROWS = [
    {"id": 0, "label": "fox", "prediction": "fox", "tags": ["snow"]},
    {"id": 1, "label": "fox", "prediction": "wolf", "tags": ["snow", "night"]},
]

# name -> (file name, writer, pieces the message must contain: file, column, rows, reason)
BAD_INPUTS: dict[str, tuple[str, Callable[[Path], None], list[str]]] = {
    "garbage parquet": (
        "s.parquet",
        write_bytes(b"this is not parquet" * 10),
        ["not a readable Parquet file"],
    ),
    "binary junk csv": ("s.csv", write_bytes(bytes(range(256)) * 8), ["not a readable CSV file"]),
    "broken json lines": ("s.jsonl", write_text('{"id": 0, "label": \n'), ["not a readable JSON"]),
    "unknown extension": ("s.xlsx", write_text("id,label\n"), ["unknown file type '.xlsx'"]),
    "no extension": ("samples", write_text("id,label\n"), ["unknown file type"]),
    "empty csv": ("s.csv", write_text(""), ["the file is empty"]),
    "empty parquet": ("s.parquet", write_bytes(b""), ["the file is empty"]),
    "ragged csv": (
        "s.csv",
        write_text("id,label,prediction,tags\n0,a,a,x,extra,more\n"),
        ["not a readable CSV file", "more fields"],
    ),
    "missing tags column": (
        "s.csv",
        write_text("id,label,prediction\n0,fox,fox\n"),
        ["missing column 'tags'", "it has 'id', 'label', 'prediction'"],
    ),
    "missing id and label": (
        "s.parquet",
        write_parquet(pl.DataFrame({"tags": [["a"]], "correct": [True]})),
        ["missing columns 'id', 'label'"],
    ),
    "null label": (
        "s.csv",
        write_text("id,label,prediction,tags\n0,fox,fox,snow\n1,,fox,snow\n2,,wolf,\n"),
        ["column 'label'", "null", "rows 1, 2"],
    ),
    "null id": (
        "s.parquet",
        write_parquet(
            pl.DataFrame(
                {
                    "id": [0, None],
                    "label": ["a", "a"],
                    "correct": [True, False],
                    "tags": [["x"], []],
                }
            )
        ),
        ["column 'id'", "null", "row 1"],
    ),
    "duplicate ids": (
        "s.csv",
        write_text("id,label,prediction,tags\n7,fox,fox,snow\n8,fox,fox,\n7,fox,wolf,night\n"),
        ["column 'id'", "unique", "7", "rows 0, 2"],
    ),
    "integer tags in parquet": (
        "s.parquet",
        write_parquet(
            pl.DataFrame(
                {
                    "id": [0, 1, 2],
                    "label": ["a"] * 3,
                    "correct": [True, True, False],
                    "tags": [[], [3], [1, 2]],
                }
            )
        ),
        ["column 'tags'", "lists of strings", "Int64", "rows 1, 2"],
    ),
    "integer tags in json lines": (
        "s.jsonl",
        write_jsonl(
            [
                {"id": 0, "label": "a", "correct": True, "tags": [1]},
                {"id": 1, "label": "a", "correct": True, "tags": [2, 3]},
            ]
        ),
        ["column 'tags'", "lists of strings", "Int64", "rows 0, 1"],
    ),
    "tags of another type": (
        "s.parquet",
        write_parquet(pl.DataFrame({"id": [0], "label": ["a"], "correct": [True], "tags": [1.5]})),
        ["column 'tags'", "Float64"],
    ),
    "null tag inside a list": (
        "s.parquet",
        write_parquet(
            pl.DataFrame(
                {
                    "id": [0, 1],
                    "label": ["a", "a"],
                    "correct": [True, False],
                    "tags": [["x"], ["y", None]],
                }
            )
        ),
        ["column 'tags'", "null tag", "row 1"],
    ),
    "tags as JSON text in csv": (
        "s.csv",
        write_text("id,label,correct,tags\n0,a,true,x|y\n1,a,false,\"['x', 'y']\"\n"),
        ["column 'tags'", "list written as text", "row 1"],
    ),
    "json lines mixing lists and strings": (
        "s.jsonl",
        write_jsonl(
            [
                {"id": 0, "label": "a", "correct": True, "tags": "x|y"},
                {"id": 1, "label": "a", "correct": True, "tags": ["x"]},
            ]
        ),
        ["column 'tags'", "list written as text", "row 1"],
    ),
    "neither prediction nor correct": (
        "s.csv",
        write_text("id,label,tags\n0,fox,snow\n"),
        ["'correct'", "'prediction'", "it has 'id', 'label', 'tags'"],
    ),
    "null prediction": (
        "s.csv",
        write_text("id,label,prediction,tags\n0,fox,fox,snow\n1,fox,fox,\n2,fox,,night\n"),
        ["column 'prediction'", "null", "row 2"],
    ),
    "label and prediction of different kinds": (
        "s.csv",
        write_text("id,label,prediction,tags\n0,1,fox,snow\n"),
        ["'label' is Int64", "'prediction' is String"],
    ),
    "correct as words": (
        "s.csv",
        write_text("id,label,correct,tags\n0,fox,true,snow\n1,fox,yes,snow\n2,fox,no,\n"),
        ["column 'correct'", "boolean", "row 1", "'yes'", "1 more row"],
    ),
    "correct as other numbers": (
        "s.csv",
        write_text("id,label,correct,tags\n0,fox,1,snow\n1,fox,0,snow\n2,fox,2,\n"),
        ["column 'correct'", "boolean", "row 2", "holds 2"],
    ),
    "correct as floats": (
        "s.parquet",
        write_parquet(
            pl.DataFrame(
                {"id": [0, 1], "label": ["a", "a"], "correct": [1.0, 0.0], "tags": [["x"], []]}
            )
        ),
        ["column 'correct'", "boolean", "Float64", "row 0"],
    ),
    "null correct": (
        "s.parquet",
        write_parquet(
            pl.DataFrame(
                {"id": [0, 1], "label": ["a", "a"], "correct": [True, None], "tags": [["x"], []]}
            )
        ),
        ["column 'correct'", "null", "row 1"],
    ),
    "float ids": (
        "s.parquet",
        write_parquet(
            pl.DataFrame(
                {
                    "id": [0.0, 1.0],
                    "label": ["a", "a"],
                    "correct": [True, False],
                    "tags": [["x"], []],
                }
            )
        ),
        ["column 'id'", "strings or integers", "Float64", "cast it"],
    ),
    "list labels": (
        "s.jsonl",
        write_jsonl([{"id": 0, "label": ["a"], "correct": True, "tags": ["x"]}]),
        ["column 'label'", "strings or integers", "row 0"],
    ),
}


def make(tmp_path: Path, case: str) -> Path:
    name, writer, _ = BAD_INPUTS[case]
    path = tmp_path / name
    writer(path)
    return path


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_in_the_library(tmp_path: Path, case: str) -> None:
    path = make(tmp_path, case)
    with pytest.raises(InputError) as info:
        load_samples(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message  # the file is named first
    for piece in BAD_INPUTS[case][2]:
        assert piece in message, (piece, message)
    assert "\n" not in message  # one paragraph
    # The search functions raise the same error; InputError is also a ValueError.
    with pytest.raises(ValueError, match="^" + str(path).replace(".", r"\.")):
        prime_rs.find_failure_modes(path)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_on_the_command_line(tmp_path: Path, case: str) -> None:
    path = make(tmp_path, case)
    result = CliRunner().invoke(cli, ["search", str(path), "-o", str(tmp_path / "m.parquet")])
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: {path}:")
    for piece in BAD_INPUTS[case][2]:
        assert piece in result.stderr
    assert not (tmp_path / "m.parquet").exists()


def test_bad_inputs_in_a_real_process(tmp_path: Path) -> None:
    for case in ("garbage parquet", "binary junk csv", "duplicate ids", "null label"):
        path = make(tmp_path, case)
        proc = subprocess.run(
            [sys.executable, "-m", "prime_rs", "search", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, (case, proc.stderr)
        assert proc.stderr.startswith(f"Error: {path}:")
        assert "Traceback" not in proc.stderr
        assert proc.stdout == ""


def test_missing_file_and_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    with pytest.raises(InputError, match=f"^{missing}: file not found$"):
        load_samples(missing)
    with pytest.raises(InputError, match="is a folder"):
        load_samples(tmp_path)
    result = CliRunner().invoke(cli, ["search", str(missing)])
    assert result.exit_code == 2
    assert f"{missing}: file not found" in result.stderr


def test_not_a_table() -> None:
    with pytest.raises(InputError, match=r"^samples: must be a table: a polars DataFrame") as info:
        load_samples({"id": [1]})  # type: ignore[arg-type]
    assert "got dict; build a table from the dict first" in str(info.value)


def test_dataframe_errors_name_the_table() -> None:
    df = pl.DataFrame(
        {"id": [1, 1], "label": ["a", "a"], "correct": [True, False], "tags": [[], []]}
    )
    with pytest.raises(InputError, match=r"^samples: column 'id' must be unique"):
        load_samples(df)
    with pytest.raises(InputError, match=r"^train split: column 'id'"):
        load_samples(df, source="train split")


def test_many_bad_rows_are_summarized(tmp_path: Path) -> None:
    n = 50
    df = pl.DataFrame(
        {"id": range(n), "label": [None] * n, "correct": [True] * n, "tags": [[]] * n},
        schema_overrides={"label": pl.String},
    )
    with pytest.raises(InputError, match=r"rows 0, 1, 2, 3, 4 and 45 more \(counting from 0\)"):
        load_samples(df)


def test_many_junk_columns_are_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(
        ",".join(f"column_{i}_" + "x" * 50 for i in range(30)) + "\n" + "1," * 29 + "1\n"
    )
    with pytest.raises(InputError, match="missing columns") as info:
        load_samples(path)
    assert "and 18 more" in str(info.value)
    assert len(str(info.value)) < 1000


# -- the CSV path and other good inputs ------------------------------------------------


def test_csv_tags_separated_by_bars(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "id,label,prediction,tags\n"
        "a.jpg,fox,fox,snow|night\n"
        "b.jpg,fox,wolf, snow | tree |\n"
        "c.jpg,wolf,wolf,\n"
        "d.jpg,wolf,fox,7\n"
    )
    df = load_samples(path)
    assert df["tags"].dtype == pl.List(pl.String)
    assert df["tags"].to_list() == [["snow", "night"], ["snow", "tree"], [], ["7"]]
    assert df["correct"].to_list() == [True, False, True, False]
    assert df["id"].to_list() == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


def test_prediction_only_derives_correct(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    write_jsonl(GOOD_ROWS)(path)
    df = load_samples(path)
    assert df["correct"].to_list() == [True, False]
    assert df["prediction"].to_list() == ["fox", "wolf"]


def test_correct_only(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id,label,correct,tags\n0,fox,true,snow\n1,fox,FALSE,\n2,fox,True,x\n")
    df = load_samples(path)
    assert df["correct"].dtype == pl.Boolean
    assert df["correct"].to_list() == [True, False, True]
    assert "prediction" not in df.columns

    ints = tmp_path / "ints.csv"
    ints.write_text("id,label,correct,tags\n0,fox,1,snow\n1,fox,0,\n")
    assert load_samples(ints)["correct"].to_list() == [True, False]


def test_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id,label,prediction,tags\n0,3,3,snow\n1,3,5,snow\n2,5,5,\n")
    df = load_samples(path)
    assert df["label"].dtype == pl.Int64
    assert df["correct"].to_list() == [True, False, True]
    index = prime_rs.TagIndex.from_samples(path)
    assert index.labels == [3, 5]
    assert index.stats(3, ["snow"]) == {"support": 2, "n_correct": 1, "accuracy": 0.5}


def test_empty_tag_lists(tmp_path: Path) -> None:
    df = pl.DataFrame(
        {
            "id": [0, 1, 2],
            "label": ["a"] * 3,
            "correct": [True, False, True],
            "tags": [[], None, ["x"]],
        }
    )
    path = tmp_path / "s.parquet"
    df.write_parquet(path)
    assert load_samples(path)["tags"].to_list() == [[], [], ["x"]]
    none = tmp_path / "none.csv"
    none.write_text("id,label,correct,tags\n0,a,true,\n1,a,false,\n")
    assert load_samples(none)["tags"].to_list() == [[], []]
    # A table where no sample has a tag searches fine and finds nothing.
    result = CliRunner().invoke(cli, ["search", str(none), "--min-support", "1"])
    assert result.exit_code == 0, result.output
    assert "No failure modes" in result.stdout


def test_header_only_file_is_an_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id,label,prediction,tags\n")
    assert load_samples(path).height == 0
    result = CliRunner().invoke(cli, ["search", str(path)])
    assert result.exit_code == 0, result.output
    assert "the samples table is empty" in result.stdout


def test_late_values_of_another_type(tmp_path: Path) -> None:
    # Types are inferred from the whole file, not only its first rows.
    lines = ["id,label,correct,tags"] + [f"{i},a,true,x" for i in range(12_000)]
    lines.append("img-last,a,false,x|y")
    path = tmp_path / "s.csv"
    path.write_text("\n".join(lines) + "\n")
    df = load_samples(path)
    assert df.height == 12_001
    assert df["id"].dtype == pl.String
    assert df["tags"][-1].to_list() == ["x", "y"]

    rows = [{"id": i, "label": "a", "correct": True, "tags": ["x"]} for i in range(300)]
    rows[250]["tags"] = ["x", "y"]
    rows[299]["correct"] = False
    jsonl = tmp_path / "s.jsonl"
    write_jsonl(rows)(jsonl)
    assert load_samples(jsonl)["correct"].sum() == 299


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(GOOD_ROWS))
    df = load_samples(path)
    assert df["tags"].to_list() == [["snow"], ["snow", "night"]]


def test_categorical_and_string_columns(tmp_path: Path) -> None:
    df = pl.DataFrame(
        {
            "id": ["x", "y"],
            "label": ["a", "b"],
            "prediction": ["a", "a"],
            "tags": [["t"], ["t", "u"]],
        }
    ).with_columns(
        pl.col("label").cast(pl.Categorical), pl.col("tags").cast(pl.List(pl.Categorical))
    )
    out = load_samples(df)
    assert out["correct"].to_list() == [True, False]
    assert out["tags"].dtype == pl.List(pl.String)


# -- read_table / write_table ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".csv", ".json", ".jsonl", ".ndjson"])
def test_write_read_round_trip(tmp_path: Path, suffix: str) -> None:
    df = pl.DataFrame(
        {"label": ["a", "b"], "tags": [["x", "y"], []], "support": [3, 4], "drop": [0.5, 0.25]}
    )
    path = write_table(df, tmp_path / "deep" / f"t{suffix}")
    assert path.exists()
    back = read_table(path)
    if suffix == ".csv":
        assert back["tags"].to_list() == ["x|y", ""]
        back = back.with_columns(
            pl.col("tags")
            .fill_null("")
            .str.split("|")
            .list.eval(pl.element().filter(pl.element() != ""))
        )
    assert back.equals(df)


def test_output_format() -> None:
    assert output_format("m.PARQUET") == "parquet"
    assert output_format(Path("m.csv")) == "csv"
    assert output_format("m.json") == "json"
    assert output_format("m.jsonl") == "jsonl"
    with pytest.raises(InputError, match=r"m\.xlsx: unknown output type '\.xlsx'"):
        output_format("m.xlsx")
    with pytest.raises(InputError, match="unknown output type"):
        write_table(pl.DataFrame({"a": [1]}), "m.txt")
