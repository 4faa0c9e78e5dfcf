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

A table may come as a Polars DataFrame or LazyFrame, a pyarrow Table or RecordBatchReader, a
pandas DataFrame, any object that exports an Arrow stream (``__arrow_c_stream__``, the Arrow
PyCapsule interface: DuckDB, Ibis, ...), or a path: a Parquet (``.parquet``, ``.pq``), CSV
(``.csv``) or JSON-lines (``.jsonl``, ``.ndjson``; ``.json`` holding either JSON lines or one
array of records) file, or a folder of Parquet files (a Parquet dataset, read in file-name
order).

In CSV, a cell of tags is one string with the tags separated by ``|`` (RAM's own separator),
or, when a tag could not survive that (it holds ``|``, is empty, starts with ``[`` or has
blanks at either end), the list as JSON text (``["a|b", "c"]``); :func:`write_table` picks the
second form only for such cells, so every list reads back exactly as written.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl

import prime_rs._engine as _engine
from prime_rs.errors import InputError

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

__all__ = [
    "TAG_SEPARATOR",
    "ArrowStreamExportable",
    "SamplesLike",
    "TableLike",
    "load_samples",
    "read_table",
    "write_table",
]

#: Separator of tags inside one CSV cell.
TAG_SEPARATOR = "|"


class ArrowStreamExportable(Protocol):
    """A table that exports itself as an Arrow stream (the Arrow PyCapsule interface).

    pyarrow Tables and RecordBatchReaders, pandas (2.2 and later), Polars, DuckDB and many
    more have this method; an object of one's own only needs it.
    """

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...


#: What the API accepts as a table: a Polars DataFrame or LazyFrame, a pyarrow Table or
#: RecordBatchReader, a pandas DataFrame, any object with ``__arrow_c_stream__``, or the path
#: of a table file or of a folder of Parquet files.
TableLike = pl.DataFrame | pl.LazyFrame | str | os.PathLike[str] | ArrowStreamExportable
#: What the API accepts as a samples table (any :data:`TableLike`).
SamplesLike = TableLike

#: What :func:`load_samples` accepts, for messages.
ACCEPTED = (
    "a polars DataFrame or LazyFrame, a pyarrow Table or RecordBatchReader, a pandas DataFrame, "
    "any object with __arrow_c_stream__ (the Arrow PyCapsule interface), or the path of a "
    ".parquet, .csv, .jsonl or .json file or of a folder of .parquet files"
)

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


def read_table(path: TableLike) -> pl.DataFrame:
    """Read a Parquet, CSV or JSON-lines file, or a folder of Parquet files, as-is.

    ``path`` may also be a table in memory, of any kind :func:`load_samples` takes; it comes
    back as a Polars DataFrame, unchanged.

    The format follows the extension: ``.parquet``/``.pq``, ``.csv``, ``.jsonl``/``.ndjson``,
    or ``.json`` (JSON lines or one array of records). Column types are inferred from the whole
    file, so a value of another type late in the file is not an error; in a CSV file the
    ``tags`` column is always read as text (see :func:`tags_from_text`). A JSON or JSON-lines
    file without records (``[]``, or no line at all: what :func:`write_table` writes for an
    empty table) is a table without rows or columns.

    A folder is a Parquet dataset: every ``*.parquet`` (or ``*.pq``) file directly inside it,
    in file-name order, one after the other (names starting with ``.`` or ``_``, such as
    ``_SUCCESS`` or ``_metadata``, are left out). The files must have the same columns;
    their types may differ where one fits the other (integers and floats, say).

    Raises
    ------
    InputError
        The file is missing, empty, unreadable, or not of the format its extension
        announces, or the folder holds no Parquet file or files that do not fit together;
        the message names the file. Not a table at all (a list, a number).

    Examples
    --------
    >>> import polars as pl, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> pl.DataFrame({"id": [1], "tags": ["a|b"]}).write_csv(p)
    >>> read_table(p).columns
    ['id', 'tags']
    """
    if isinstance(path, (str, os.PathLike)):
        return _read_path(Path(path))
    return _as_frame(path, "table")


def _read_path(p: Path) -> pl.DataFrame:
    suffix = p.suffix.lower()
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        return _read_parquet_folder(p)
    if suffix not in _PARQUET | _CSV | _JSON:
        raise InputError(
            f"{p}: unknown file type {suffix or '(no extension)'!r}; "
            "use .parquet, .csv, .jsonl (JSON lines) or .json, or a folder of .parquet files"
        )
    kind = "Parquet" if suffix in _PARQUET else "CSV" if suffix in _CSV else "JSON"
    try:
        if p.is_file() and p.stat().st_size == 0:
            if kind == "JSON":
                return pl.DataFrame()  # JSON lines without a line: a table without rows
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


def parquet_files(folder: Path) -> list[Path]:
    """The Parquet files directly inside ``folder``, in file-name order (names starting
    with ``.`` or ``_`` left out, as Parquet writers use them for metadata).

    A folder whose subfolders hold Parquet files (a partitioned dataset) is refused rather
    than read in part: its subfolders would be left out, and with them any column that only
    their names carry.

    Examples
    --------
    >>> import tempfile
    >>> import polars as pl
    >>> d = Path(tempfile.mkdtemp())
    >>> pl.DataFrame({"id": [1]}).write_parquet(d / "b.parquet")
    >>> pl.DataFrame({"id": [2]}).write_parquet(d / "a.parquet")
    >>> [f.name for f in parquet_files(d)]
    ['a.parquet', 'b.parquet']
    """
    try:
        entries = sorted(f for f in folder.iterdir() if not f.name.startswith((".", "_")))
        files = [f for f in entries if f.suffix.lower() in _PARQUET and f.is_file()]
        nested = [f for f in entries if f.is_dir() and _holds_parquet(f)]
    except PermissionError as e:
        raise InputError(f"{folder}: cannot be read ({e.strerror})") from None
    if nested:
        names = ", ".join(repr(f.name) for f in nested[:3]) + (", ..." if len(nested) > 3 else "")
        raise InputError(
            f"{folder}: has subfolders with .parquet files ({names}); prime_rs reads the "
            ".parquet files directly inside a folder, not a partitioned dataset: give one "
            "subfolder, or write the table as files in one folder"
        )
    if not files:
        raise InputError(
            f"{folder}: is a folder without .parquet files; give a table file (.parquet, .csv, "
            ".jsonl or .json) or a folder of .parquet files (a Parquet dataset)"
        )
    return files


def _holds_parquet(folder: Path) -> bool:
    """Whether ``folder`` or a folder below it holds a Parquet file (hidden names aside)."""
    for _root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        if any(Path(n).suffix.lower() in _PARQUET and not n.startswith((".", "_")) for n in names):
            return True
    return False


def _read_parquet_folder(folder: Path) -> pl.DataFrame:
    """Every Parquet file directly inside ``folder``, in file-name order, as one table."""
    files = parquet_files(folder)
    frames = [_read_path(f) for f in files]
    first = frames[0]
    for f, df in zip(files[1:], frames[1:], strict=True):
        if set(df.columns) != set(first.columns):
            extra = [c for c in df.columns if c not in first.columns]
            lacking = [c for c in first.columns if c not in df.columns]
            what = "; ".join(
                part
                for part in (
                    f"it also has {', '.join(map(repr, extra[:_MAX_COLUMNS]))}" if extra else "",
                    f"it lacks {', '.join(map(repr, lacking[:_MAX_COLUMNS]))}" if lacking else "",
                )
                if part
            )
            raise InputError(
                f"{f}: its columns differ from those of {files[0].name}, the first file of the "
                f"same folder ({what}); every file of a Parquet dataset needs the same columns"
            )
    if len(frames) == 1:
        return first
    # Types may differ where one holds the other (Int32 and Int64, a column of nulls), never
    # in kind: text in one file and numbers in another would silently become text.
    for col, dtype in first.schema.items():
        for f, df in zip(files[1:], frames[1:], strict=True):
            other = df.schema[col]
            if None not in (_kind(dtype), _kind(other)) and _kind(dtype) != _kind(other):
                raise InputError(
                    f"{f}: column {col!r} is {other}, but {dtype} in {files[0].name}, the "
                    "first file of the same folder; every file of a Parquet dataset needs the "
                    "same columns of the same types"
                )
    try:
        return pl.concat([df.select(first.columns) for df in frames], how="vertical_relaxed")
    except Exception as e:
        raise InputError(
            f"{folder}: the .parquet files in this folder do not fit together ({_reason(e)}); "
            "every file of a Parquet dataset needs the same columns of the same types"
        ) from None


def _kind(dtype: PolarsDataType) -> str | None:
    """What a column holds, whatever its width: number, text, list of ..., or None for a
    column of nulls (which fits any other)."""
    if dtype == pl.Null:
        return None
    if dtype.is_numeric():
        return "number"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "text"
    if isinstance(dtype, (pl.List, pl.Array)):
        inner = _kind(dtype.inner)
        return None if inner is None else f"list of {inner}"
    return str(dtype)


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
        while not head:  # blank lines first (or only)
            block = f.read(1 << 16)
            if not block:
                return pl.DataFrame()  # no record: a table without rows
            head = block.lstrip()
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


def write_table(df: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` as Parquet, CSV or JSON lines, chosen by the extension of ``path``.

    CSV cannot hold lists, so a list of strings (``tags``) becomes one cell of text that
    reads back as exactly the same list (:func:`read_table` then
    :func:`load_samples`, or ``prime_rs.evaluate.read_modes``):

    * the tags joined with ``|`` (``snow|night``; an empty list is an empty cell) when every
      tag is plain: not empty, without ``|``, without blanks at either end and not starting
      with ``[``, so the cell means the same to anyone who splits it on ``|``;
    * otherwise the list as JSON text (``["a|b", "c,d"]``, ``[""]``), which the readers tell
      apart by its leading ``[`` (a plain cell never starts with one).

    Joining alone would be ambiguous: ``["a|b", "c,d"]`` and ``["a", "b", "c,d"]`` would both
    be ``a|b|c,d``, and ``[""]`` would read back as ``[]``. Commas, quotes and line breaks
    inside a cell are CSV's own business (the cell is quoted). Other lists (numbers) are
    written as JSON text. Parquet and JSON keep lists as they are.

    A table without rows keeps its columns in Parquet and CSV (the header), not in JSON,
    which names columns only inside rows: it is written as ``[]`` (``.json``) or as an
    empty file (``.jsonl``), which :func:`read_table` reads back as a table without columns.

    Examples
    --------
    >>> import polars as pl, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "modes.csv"
    >>> _ = write_table(pl.DataFrame({"tags": [["a", "b"], ["a|b", "c"]]}), p)
    >>> p.read_text().splitlines()
    ['tags', 'a|b', '"[""a|b"", ""c""]"']
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give a file name such as modes.parquet")
    fmt = output_format(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target, then renamed over it: an interrupted or failed write never
    # leaves half a table under the name (nor destroys the table that was there).
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if fmt == "parquet":
            df.write_parquet(tmp)
        elif fmt == "csv":
            lists = [name for name, dtype in df.schema.items() if isinstance(dtype, pl.List)]
            flat = df.with_columns([_list_as_text(df[name]) for name in lists]) if lists else df
            flat.write_csv(tmp)
        elif fmt == "json":
            df.write_json(tmp)
        else:
            df.write_ndjson(tmp)
        os.replace(tmp, p)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"{p}: cannot write the table as {fmt}: {_reason(e)}") from e
    finally:
        tmp.unlink(missing_ok=True)
    return p


def _list_as_text(s: pl.Series) -> pl.Series:
    """A list column as one CSV cell per row (see :func:`write_table`)."""
    inner = s.dtype.inner if isinstance(s.dtype, pl.List) else None
    if inner == pl.Categorical or isinstance(inner, pl.Enum):
        s = s.cast(pl.List(pl.String))
    if s.dtype != pl.List(pl.String):
        return s.map_elements(lambda v: json.dumps(list(v)), return_dtype=pl.String)
    e = pl.element()
    plain = (
        (e != "")
        & ~e.str.contains(TAG_SEPARATOR, literal=True)
        & (e.str.strip_chars() == e)
        & ~e.str.starts_with("[")
    ).fill_null(False)
    needs_json = (~s.list.eval(plain).list.all()).fill_null(False)
    text = s.list.join(TAG_SEPARATOR)
    if needs_json.any():
        rows = needs_json.arg_true()
        as_json = [json.dumps(v, ensure_ascii=False) for v in s.gather(rows).to_list()]
        text = text.scatter(rows, pl.Series(as_json, dtype=pl.String))
    return text.alias(s.name)


def tags_from_text(tags: pl.Series, name: str, *, json_cells: bool = True) -> pl.Series:
    """Lists of tags from cells of text, as :func:`write_table` writes them in CSV.

    A cell is either tags separated by ``|`` (blanks around a tag and empty tags are
    dropped, so `` snow | tree |`` is ``["snow", "tree"]``; an empty or missing cell is no
    tag), or, when it starts with ``[``, a JSON list of strings, read exactly.

    Parameters
    ----------
    tags
        A column of text.
    name
        The table's name, for messages.
    json_cells
        Read cells starting with ``[`` as JSON lists; when false (a table that holds lists
        elsewhere, where text holding a list is a mistake) they are an error.

    Raises
    ------
    InputError
        A cell starts with ``[`` but is not a JSON list of strings (pandas' ``to_csv``
        writes ``['a', 'b']``, which is not JSON), or ``json_cells`` is false.

    Examples
    --------
    >>> import polars as pl
    >>> tags_from_text(pl.Series(["snow|night", "", '["a|b", ""]']), "modes").to_list()
    [['snow', 'night'], [], ['a|b', '']]
    """
    tags = tags.cast(pl.String)
    split = (
        tags.str.split(TAG_SEPARATOR)
        .list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))
        .fill_null([])
    )
    as_text = tags.str.strip_chars_start().str.starts_with("[").fill_null(False)
    if not as_text.any():
        return split.alias("tags")
    if not json_cells:
        raise InputError(
            f"{name}: column 'tags' holds a list written as text: {_holds(tags, as_text)};"
            f" give each sample's tags as one string separated by '{TAG_SEPARATOR}' (CSV) "
            "or as a list of strings (Parquet, JSON), not both in one file"
        )
    rows = as_text.arg_true()
    decoded: list[list[str]] = []
    for i, cell in zip(rows.to_list(), tags.gather(rows).to_list(), strict=True):
        try:
            value = json.loads(cell)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            bad = pl.Series([False] * len(tags)).scatter(i, True)
            raise InputError(
                f"{name}: column 'tags' holds a list written as text that is not a JSON list "
                f"of strings: {_holds(tags, bad, count=False)}; write each sample's tags as one "
                f"string separated by '{TAG_SEPARATOR}', or as a JSON list such as "
                '["snow", "night"] (prime_rs.write_table does this)'
            )
        decoded.append(value)
    # Lists cannot be scattered into place: gather both parts back into the rows' order.
    rest = (~as_text).arg_true()
    parts = pl.concat([split.gather(rest), pl.Series(decoded, dtype=pl.List(pl.String))])
    return parts.gather(pl.concat([rest, rows]).arg_sort()).alias("tags")


def source_name(samples: object) -> str:
    """The name of a samples table in messages: its path, or ``"samples"`` for a table in
    memory.

    Examples
    --------
    >>> source_name("data/s.parquet"), source_name(pl.DataFrame())
    ('data/s.parquet', 'samples')
    """
    return os.fspath(samples) if isinstance(samples, (str, os.PathLike)) else "samples"


def load_samples(samples: SamplesLike, *, source: str | None = None) -> pl.DataFrame:
    """Read and validate a samples table.

    Parameters
    ----------
    samples
        The table: a Polars DataFrame or LazyFrame (collected), a pyarrow Table or
        RecordBatchReader, a pandas DataFrame (a named index, such as ``id`` after
        ``set_index("id")``, becomes a column), any object with ``__arrow_c_stream__`` (the
        Arrow PyCapsule interface), or the path of a Parquet, CSV or JSON-lines file or of a
        folder of Parquet files (see :func:`read_table`).
    source
        Name used for the table in error messages (defaults to the file path, or
        ``"samples"``).

    Returns
    -------
    polars.DataFrame
        The table with ``correct`` (Boolean, derived from ``label == prediction`` when
        absent) and ``tags`` (``List(String)``, an empty list for a missing cell); every
        other column is kept unchanged. A table without rows (even without columns, as an
        empty JSON file reads) is an empty samples table, which searches find nothing in.

    Raises
    ------
    InputError
        Not a table; missing columns, null labels, duplicate ids, tags that are not strings,
        neither ``prediction`` nor ``correct``, or both but disagreeing, and so on; the
        message names the table, the column and the rows.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"id": [0, 1], "label": ["cat", "cat"],
    ...                    "prediction": ["cat", "dog"], "tags": [["indoor"], []]})
    >>> load_samples(df)["correct"].to_list()
    [True, False]
    >>> load_samples(df.lazy())["correct"].to_list()
    [True, False]
    """
    name = source or source_name(samples)
    df = _as_frame(samples, name)
    csv = False
    if isinstance(samples, (str, os.PathLike)):
        p = Path(samples)
        csv = p.suffix.lower() in _CSV and not p.is_dir()
    return _validate(df, name, csv=csv)


def _as_frame(samples: object, name: str) -> pl.DataFrame:
    """Any table :func:`read_table` accepts, as a Polars DataFrame."""
    if isinstance(samples, pl.DataFrame):
        return samples
    if isinstance(samples, pl.LazyFrame):
        try:
            return samples.collect()
        except Exception as e:
            raise InputError(
                f"{name}: the LazyFrame could not be collected ({_reason(e)})"
            ) from None
    if isinstance(samples, (str, os.PathLike)):
        return _read_path(Path(samples))
    kind = type(samples).__name__
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(samples, pandas.DataFrame):
        index = samples.index.name
        keep_index = index is not None and index not in samples.columns
        try:
            return pl.from_pandas(samples, include_index=keep_index)
        except Exception as e:
            raise InputError(
                f"{name}: the pandas DataFrame could not be converted ({_reason(e)})"
            ) from None
    if not isinstance(samples, pl.Series) and callable(
        getattr(samples, "__arrow_c_stream__", None)
    ):
        stream: Any = samples
        try:
            return pl.DataFrame(stream)
        except Exception as e:
            raise InputError(
                f"{name}: the {kind} could not be read as a table through its Arrow stream "
                f"({_reason(e)}); a table is a stream of records (one struct per row)"
            ) from None
    hint = ""
    if isinstance(samples, pl.Series):
        hint = "; a Series is one column, a table has several"
    elif isinstance(samples, (dict, list, tuple)):
        hint = f"; build a table from the {kind} first, e.g. polars.DataFrame(...)"
    raise InputError(f"{name}: must be a table: {ACCEPTED}; got {kind}{hint}")


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


#: The columns of a samples table without rows or columns (an empty JSON file).
_EMPTY_SAMPLES = pl.Schema(
    {"id": pl.String(), "label": pl.String(), "correct": pl.Boolean(), "tags": pl.List(pl.String)}
)


def _empty(df: pl.DataFrame) -> pl.DataFrame:
    """A table without rows as an empty samples table: without columns (an empty JSON file)
    it gets the required ones; a column whose type says nothing (null, or float from an empty
    pandas frame) gets the type a samples table needs."""
    if df.width == 0:
        return pl.DataFrame(schema=_EMPTY_SAMPLES)
    want: dict[str, pl.DataType] = {"correct": pl.Boolean(), "tags": pl.List(pl.String)}
    fixes = []
    for col, dtype in df.schema.items():
        if col in ("id", "label", "prediction"):
            plain = dtype.is_integer() or dtype in (pl.String, pl.Categorical)
            if not plain and not isinstance(dtype, pl.Enum):
                fixes.append(pl.Series(col, [], dtype=pl.String))
        elif col in want and dtype in (pl.Null, pl.Float64, pl.Object):
            fixes.append(pl.Series(col, [], dtype=want[col]))
    return df.with_columns(fixes) if fixes else df


def _validate(df: pl.DataFrame, name: str, *, csv: bool = False) -> pl.DataFrame:
    if df.height == 0:
        df = _empty(df)
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
    out = df.with_columns(tags=_tags(df, name, csv=csv))
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


def _tags(df: pl.DataFrame, name: str, *, csv: bool) -> pl.Series:
    tags = df["tags"]
    dtype = tags.dtype
    if dtype == pl.String:
        # One string per cell, tags separated by "|" (blanks around a tag are dropped), or in
        # a CSV file a JSON list (write_table's form for tags "|" would break). Elsewhere a
        # list written as text (a JSON file mixing lists and strings, which polars reads as
        # text) is a mistake that would silently become one odd tag.
        return tags_from_text(tags, name, json_cells=csv)
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
    """Whether each row's list holds a null tag, read in place by the engine (a scan of the
    null buffers)."""
    rows = _engine.rows_with_null_tags(tags.__arrow_c_stream__())
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
        if "prediction" in df.columns:
            _check_agreement(df, name, c)
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
    return _matches(label, pred).alias("correct")


def _matches(label: pl.Series, pred: pl.Series) -> pl.Series:
    """``label == prediction``, row by row (categorical and text compared as text)."""
    if not label.dtype.is_integer():
        label, pred = label.cast(pl.String), pred.cast(pl.String)
    return label == pred


def _check_agreement(df: pl.DataFrame, name: str, correct: pl.Series) -> None:
    """Refuse a table whose ``correct`` says otherwise than ``label == prediction``.

    Rows without a prediction, and a prediction of another kind than the label (class
    numbers against names), cannot be compared and are left alone.
    """
    label, pred = df["label"], df["prediction"]
    comparable = pred.dtype.is_integer() or pred.dtype in (pl.String, pl.Categorical)
    comparable = comparable or isinstance(pred.dtype, pl.Enum)
    if not comparable or label.dtype.is_integer() != pred.dtype.is_integer():
        return
    wrong = (_matches(label, pred) != correct).fill_null(False)
    n = int(wrong.sum())
    if n == 0:
        return
    rows = wrong.arg_true().head(_SHOW)
    ids = ", ".join(repr(v) for v in df["id"].gather(rows).to_list())
    shown = ", ".join(str(i) for i in rows.to_list())
    more = f" and {n - _SHOW} more" if n > _SHOW else ""
    raise InputError(
        f"{name}: columns 'correct' and 'prediction' disagree in {n} row{'s' if n > 1 else ''}"
        f" ('correct' is not label == prediction): row{'s' if n > 1 else ''} {shown}{more}"
        f" (counting from 0; id{'s' if n > 1 else ''} {ids}); keep one of the two columns: "
        "drop 'correct' to derive it from the predictions, or drop 'prediction' if "
        "'correct' is what counts"
    )


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
