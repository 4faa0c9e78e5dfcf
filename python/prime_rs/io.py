"""Reading and validating samples tables: the only module that knows file formats.

A *samples table* has one row per image:

========== ====================== ===================================================
column     type                   meaning
========== ====================== ===================================================
id         str or int, unique     the sample
label      str or int             true class
prediction same type as label     the classifier's output (optional if ``correct``)
correct    bool                   derived as ``label == prediction`` when absent
tags       list[str]              concepts present in the image (may be empty)
split      str, optional          e.g. ``detect`` / ``holdout``
path       str, optional          image file
========== ====================== ===================================================

Files may be Parquet (``.parquet``, ``.pq``), CSV (``.csv``; tags as one string separated by
``|``, RAM's own separator) or JSON lines (``.jsonl``, ``.ndjson``; ``.json`` holding either
JSON lines or one array of records).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import prime_rs._engine as _engine
from prime_rs.errors import InputError

__all__ = ["TAG_SEPARATOR", "SamplesLike", "load_samples", "read_table", "write_table"]

#: Separator of tags inside one CSV cell.
TAG_SEPARATOR = "|"

#: What the API accepts as a samples table.
SamplesLike = pl.DataFrame | str | Path

_PARQUET = {".parquet", ".pq"}
_CSV = {".csv"}
_JSON = {".jsonl", ".ndjson", ".json"}
_SHOW = 5  # rows named in an error message
_MAX_COLUMNS = 12  # column names listed in an error message


def _rows(mask: pl.Series) -> str:
    """Human-readable list of the first rows where ``mask`` is true (rows count from 0)."""
    idx = mask.arg_true()
    shown = ", ".join(str(i) for i in idx.head(_SHOW).to_list())
    more = f" and {len(idx) - _SHOW} more" if len(idx) > _SHOW else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more} (counting from 0)"


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a Parquet, CSV or JSON-lines file into a DataFrame, as-is.

    The format follows the extension: ``.parquet``/``.pq``, ``.csv``, ``.jsonl``/``.ndjson``,
    or ``.json`` (JSON lines or one array of records). Column types are inferred from the whole
    file, so a value of another type late in the file is not an error; in a CSV file the
    ``tags`` column is always read as text (tags separated by ``|``).

    Raises
    ------
    InputError
        The file is missing, a folder, empty, unreadable, or not of the format its extension
        announces; the message names the file.

    Examples
    --------
    >>> import polars as pl, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> pl.DataFrame({"id": [1], "tags": ["a|b"]}).write_csv(p)
    >>> read_table(p).columns
    ['id', 'tags']
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a table file (.parquet, .csv or .jsonl)")
    if suffix not in _PARQUET | _CSV | _JSON:
        raise InputError(
            f"{p}: unknown file type {suffix or '(no extension)'!r}; "
            "use .parquet, .csv, .jsonl (JSON lines) or .json"
        )
    kind = "Parquet" if suffix in _PARQUET else "CSV" if suffix in _CSV else "JSON"
    try:
        if p.is_file() and p.stat().st_size == 0:
            need = " (a CSV file needs at least its header line)" if kind == "CSV" else ""
            raise InputError(f"{p}: the file is empty{need}")
        if suffix in _PARQUET:
            return pl.read_parquet(p)
        if suffix in _CSV:
            return _read_csv(p)
        return _read_json(p)
    except InputError:
        raise
    except PermissionError as e:
        raise InputError(f"{p}: cannot be read ({e.strerror})") from None
    except Exception as e:  # polars raises many kinds for a broken file
        raise InputError(f"{p}: not a readable {kind} file ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    """The first paragraph of an exception's message on one line, short enough for an error.

    Polars follows its first paragraph with hints about its own API ("try increasing
    infer_schema_length"), which mean nothing to the user of a command line.
    """
    text = str(e).strip()
    first = " ".join(text.split("\n\n")[0].split()) if text else type(e).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def _read_csv(p: Path) -> pl.DataFrame:
    # Tags are text in a CSV file, even when a tag looks like a number.
    overrides = {"tags": pl.String}
    try:
        return pl.read_csv(p, infer_schema_length=10_000, schema_overrides=overrides)
    except pl.exceptions.ComputeError as e:
        if "could not parse" not in str(e):
            raise
    # A value of another type after the rows used to guess the types: read it all first.
    return pl.read_csv(p, infer_schema_length=None, schema_overrides=overrides)


def _read_json(p: Path) -> pl.DataFrame:
    with p.open("rb") as f:
        head = f.read(64).lstrip()
    if not head:
        raise InputError(f"{p}: the file is empty (only blanks)")
    if head.startswith(b"["):
        return pl.read_json(p, infer_schema_length=None)
    return pl.read_ndjson(p, infer_schema_length=None)


def output_format(path: str | Path) -> str:
    """The format :func:`write_table` uses for ``path``: parquet, csv, json or jsonl.

    Raises :class:`InputError` for an extension it cannot write, so a caller can check an
    output path before a long computation.

    Examples
    --------
    >>> output_format("modes.pq"), output_format("modes.ndjson")
    ('parquet', 'jsonl')
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in _PARQUET:
        return "parquet"
    if suffix in _CSV:
        return "csv"
    if suffix == ".json":
        return "json"
    if suffix in _JSON:
        return "jsonl"
    raise InputError(
        f"{p}: unknown output type {suffix or '(no extension)'!r}; "
        "use .parquet, .csv, .jsonl or .json"
    )


def write_table(df: pl.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as Parquet, CSV or JSON lines, chosen by the extension of ``path``.

    CSV cannot hold lists: list columns of strings are joined with ``|``, other lists are
    written as JSON text.

    Examples
    --------
    >>> import polars as pl, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "modes.csv"
    >>> _ = write_table(pl.DataFrame({"tags": [["a", "b"]]}), p)
    >>> p.read_text().splitlines()
    ['tags', 'a|b']
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give a file name such as modes.parquet")
    fmt = output_format(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        df.write_parquet(p)
    elif fmt == "csv":
        flat = df.with_columns(
            [
                pl.col(name).list.join(TAG_SEPARATOR)
                if dtype == pl.List(pl.String)
                else pl.col(name).map_elements(
                    lambda v: json.dumps(list(v)), return_dtype=pl.String
                )
                for name, dtype in df.schema.items()
                if isinstance(dtype, pl.List)
            ]
        )
        flat.write_csv(p)
    elif fmt == "json":
        df.write_json(p)
    else:
        df.write_ndjson(p)
    return p


def load_samples(samples: SamplesLike, *, source: str | None = None) -> pl.DataFrame:
    """Read and validate a samples table.

    Parameters
    ----------
    samples
        A Polars DataFrame, or the path of a Parquet, CSV or JSON-lines file.
    source
        Name used for the table in error messages (defaults to the file path, or
        ``"samples"``).

    Returns
    -------
    polars.DataFrame
        The table with ``correct`` (Boolean, derived from ``label == prediction`` when
        absent) and ``tags`` (``List(String)``, an empty list for a missing cell); every
        other column is kept unchanged.

    Raises
    ------
    InputError
        Missing columns, null labels, duplicate ids, tags that are not strings, neither
        ``prediction`` nor ``correct``, and so on; the message names the table, the column
        and the rows.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"id": [0, 1], "label": ["cat", "cat"],
    ...                    "prediction": ["cat", "dog"], "tags": [["indoor"], []]})
    >>> load_samples(df)["correct"].to_list()
    [True, False]
    """
    if isinstance(samples, (str, Path)):
        name = source or str(samples)
        df = read_table(samples)
    elif isinstance(samples, pl.DataFrame):
        name = source or "samples"
        df = samples
    else:
        kind = type(samples).__name__
        hint = " (convert it with polars.from_pandas)" if kind == "DataFrame" else ""
        raise InputError(f"samples must be a polars DataFrame or a file path, not {kind}{hint}")
    return _validate(df, name)


def _columns(df: pl.DataFrame) -> str:
    """The table's column names for a message; a few, each cut short (junk has long names)."""
    names = [repr(c if len(c) <= 40 else c[:37] + "...") for c in df.columns[:_MAX_COLUMNS]]
    more = f" and {df.width - _MAX_COLUMNS} more" if df.width > _MAX_COLUMNS else ""
    return (", ".join(names) + more) if names else "no columns"


def _holds(s: pl.Series, mask: pl.Series, *, count: bool = True) -> str:
    """``row i (counting from 0) holds value`` for the first row where ``mask`` is true, and
    how many more rows are like it."""
    idx = mask.arg_true()
    i = int(idx[0])
    value = s[i]
    text = repr(value.to_list() if isinstance(value, pl.Series) else value)
    if len(text) > 60:
        text = text[:57] + "..."
    rest = len(idx) - 1
    more = f" ({rest} more row{'s' if rest > 1 else ''} like it)" if rest and count else ""
    return f"row {i} (counting from 0) holds {text}{more}"


def _require(df: pl.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"{name}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)}; it has {_columns(df)}. "
            "A samples table needs 'id', 'label', 'tags', and 'correct' or 'prediction'."
        )


def _validate(df: pl.DataFrame, name: str) -> pl.DataFrame:
    _require(df, name, ["id", "label", "tags"])
    if "correct" not in df.columns and "prediction" not in df.columns:
        raise InputError(
            f"{name}: needs a 'correct' column (bool) or a 'prediction' column to compare with "
            f"'label'; it has {_columns(df)}"
        )
    _check_scalar(df, name, "id")
    _check_scalar(df, name, "label")
    for col in ("id", "label"):
        nulls = df[col].is_null()
        if nulls.any():
            raise InputError(f"{name}: column {col!r} is empty (null) in {_rows(nulls)}")
    # n_unique is a cheap test (a sorted id column answers at once); the mask is for the message.
    if df["id"].n_unique() < len(df):
        dup = df["id"].is_duplicated()
        first = df["id"].filter(dup).head(1).item()
        raise InputError(
            f"{name}: column 'id' must be unique, but {first!r} appears in "
            f"{_rows(df['id'] == first)} ({int(dup.sum())} rows share an id with another)"
        )
    out = df.with_columns(tags=_tags(df, name))
    out = out.with_columns(correct=_correct(out, name))
    return out


def _check_scalar(df: pl.DataFrame, name: str, col: str) -> None:
    s = df[col]
    dtype = s.dtype
    if dtype.is_integer() or dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return
    present = s.is_not_null()
    where = f"; {_holds(s, present, count=False)}" if present.any() else ""
    hint = ""
    if dtype.is_float():
        whole = s.drop_nulls().drop_nans()
        if whole.len() == s.drop_nulls().len() and (whole == whole.round(0)).all():
            hint = f"; its values are whole numbers, so cast it: pl.col({col!r}).cast(pl.Int64)"
    raise InputError(
        f"{name}: column {col!r} must hold strings or integers, not {dtype}{where}{hint}"
    )


def _tags(df: pl.DataFrame, name: str) -> pl.Series:
    tags = df["tags"]
    dtype = tags.dtype
    if dtype == pl.String:
        # A list written as text (pandas' to_csv, or a JSON file mixing lists and strings,
        # which polars reads as text) would silently become one odd tag.
        as_text = tags.str.strip_chars_start().str.starts_with("[").fill_null(False)
        if as_text.any():
            raise InputError(
                f"{name}: column 'tags' holds a list written as text: {_holds(tags, as_text)};"
                f" give each sample's tags as one string separated by '{TAG_SEPARATOR}' (CSV) "
                "or as a list of strings (Parquet, JSON), not both in one file"
            )
        # One string per cell, tags separated by "|"; blanks around a tag are dropped.
        split = tags.str.split(TAG_SEPARATOR).list.eval(
            pl.element().str.strip_chars().filter(pl.element() != "")
        )
        return split.fill_null([]).alias("tags")
    if dtype == pl.Null:
        return pl.Series("tags", [[] for _ in range(len(df))], dtype=pl.List(pl.String))
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        if inner in (pl.Categorical, pl.Null) or isinstance(inner, pl.Enum):
            tags = tags.cast(pl.List(pl.String))
        elif inner != pl.String:
            bad = tags.list.len() > 0
            raise InputError(
                f"{name}: column 'tags' must hold lists of strings, but its elements are "
                f"{inner} (first in {_rows(bad)}); convert them to text, e.g. "
                "pl.col('tags').cast(pl.List(pl.String))"
            )
        null_inside = _null_tags(tags)
        if null_inside.any():
            raise InputError(
                f"{name}: column 'tags' has a null tag inside the list in {_rows(null_inside)}; "
                "remove it (a sample without tags is an empty list)"
            )
        # A null list is a sample without tags (filled only when there is one: a copy of a
        # large column costs milliseconds).
        return (tags.fill_null([]) if tags.null_count() else tags).alias("tags")
    raise InputError(
        f"{name}: column 'tags' must be a list of strings, or one string of tags separated by "
        f"'{TAG_SEPARATOR}', not {dtype}"
    )


def _null_tags(tags: pl.Series) -> pl.Series:
    """Whether each row's list holds a null tag; read in place by the engine when it knows
    the column's Arrow layout (a bitmap scan), else with a Polars expression."""
    rows = _engine.rows_with_null_tags(tags.__arrow_c_stream__())
    if rows is None:
        return tags.list.eval(pl.element().is_null().any()).list.first().fill_null(False)
    mask = np.zeros(len(tags), dtype=np.bool_)
    mask[rows] = True
    return pl.Series(mask)


def _correct(df: pl.DataFrame, name: str) -> pl.Series:
    if "correct" in df.columns:
        c = df["correct"]
        if c.dtype != pl.Boolean:
            if c.dtype.is_integer():
                bad = ~c.is_in([0, 1])
            elif c.dtype == pl.String:
                bad = ~c.str.to_lowercase().is_in(["true", "false"])
            else:
                bad = pl.Series([True] * len(c))
            bad = bad.fill_null(False)
            if bad.any():
                raise InputError(
                    f"{name}: column 'correct' must be boolean (true/false or 1/0), but it is "
                    f"{c.dtype} and {_holds(c, bad)}"
                )
            c = c.cast(pl.Boolean) if c.dtype.is_integer() else c.str.to_lowercase() == "true"
        nulls = c.is_null()
        if nulls.any():
            raise InputError(f"{name}: column 'correct' is empty (null) in {_rows(nulls)}")
        return c.alias("correct")
    pred, label = df["prediction"], df["label"]
    nulls = pred.is_null()
    if nulls.any():
        raise InputError(
            f"{name}: column 'prediction' is empty (null) in {_rows(nulls)}; "
            "every sample needs the classifier's output (or give a 'correct' column)"
        )
    _check_scalar(df, name, "prediction")
    lt, pt = label.dtype, pred.dtype
    if lt.is_integer() != pt.is_integer():
        raise InputError(
            f"{name}: 'label' is {lt} (e.g. {label[0]!r}) but 'prediction' is {pt} "
            f"(e.g. {pred[0]!r}); they must be the same kind of value (both class names or "
            "both class numbers) to be compared"
        )
    if not lt.is_integer():
        label, pred = label.cast(pl.String), pred.cast(pl.String)
    return (label == pred).alias("correct")


def describe(df: pl.DataFrame) -> dict[str, Any]:
    """Small summary of a validated samples table (rows, classes, tags, accuracy).

    Examples
    --------
    >>> import polars as pl
    >>> df = load_samples(pl.DataFrame({"id": [0, 1], "label": [1, 1],
    ...                                 "correct": [True, False], "tags": [["a"], ["a", "b"]]}))
    >>> describe(df)["distinct_tags"]
    2
    """
    tags = df["tags"]
    per_sample = tags.list.len().mean() if df.height else 0.0
    accuracy = df["correct"].cast(pl.Float64).mean() if df.height else 0.0
    return {
        "samples": df.height,
        "classes": df["label"].n_unique(),
        "distinct_tags": tags.explode().drop_nulls().n_unique(),
        "tags_per_sample": float(per_sample) if isinstance(per_sample, (int, float)) else 0.0,
        "accuracy": float(accuracy) if isinstance(accuracy, (int, float)) else 0.0,
    }
