"""Helpers shared by the evaluation modules: splits, group membership, metrics, progress."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl

from prime_rs.errors import InputError, ParameterError
from prime_rs.index import CONFUSION_COLUMNS, MODE_COLUMNS, TRUST_COLUMNS
from prime_rs.io import SamplesLike, load_samples, read_table, source_name, tags_from_text

__all__ = [
    "DEFAULT_TEMPLATE",
    "Groups",
    "auroc",
    "caption",
    "check_fraction",
    "load_split",
    "load_splits",
    "pearson",
    "progress",
    "read_modes",
    "select_split",
    "split_samples",
]

T = TypeVar("T")

#: The caption of a mode: its class and its tags.
DEFAULT_TEMPLATE = "a photo of a {label}, {tags}"


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", enabled: bool = True
) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar on stderr when tqdm is installed.

    Without tqdm (it comes with the vision extra), or with ``enabled=False``, the items are
    passed through unchanged.

    Examples
    --------
    >>> list(progress(range(3), enabled=False))
    [0, 1, 2]
    """
    if enabled:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
        except ImportError:  # pragma: no cover - tqdm ships with the vision extra
            pass
        else:
            yield from tqdm(items, total=total, desc=desc, leave=False)
            return
    yield from items


def check_fraction(name: str, value: float, *, low: float = 0.0, high: float = 1.0) -> None:
    """Raise :class:`ParameterError` unless ``low <= value <= high``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating))
        or math.isnan(value)
        or not low <= value <= high
    ):
        raise ParameterError(f"{name}: must be a number in [{low:g}, {high:g}], got {value!r}")


def caption(label: Any, tags: Sequence[str], template: str = DEFAULT_TEMPLATE) -> str:
    """The text describing a group: ``template`` filled with its class and tags.

    ``{label}`` is the class, ``{tags}`` the tags joined with ", ".

    Examples
    --------
    >>> caption("fox", ["snow", "white"])
    'a photo of a fox, snow, white'
    >>> caption("fox", [])
    'a photo of a fox'
    """
    try:
        # Without tags, "a photo of a fox, " loses its trailing separator.
        return template.format(label=label, tags=", ".join(tags)).rstrip(" ,;:")
    except (KeyError, IndexError) as e:
        raise ParameterError(
            f"template {template!r}: unknown field {e}; use {{label}} and {{tags}}"
        ) from None
    except (ValueError, AttributeError) as e:
        raise ParameterError(
            f"template {template!r}: {e}; write the fields as plain {{label}} and {{tags}} "
            "(double a brace to keep it: {{ or }})"
        ) from None


def select_split(
    df: pl.DataFrame, column: str, value: str, source: str = "samples"
) -> pl.DataFrame:
    """The rows of ``df`` whose ``column`` equals ``value`` (compared as text).

    Raises :class:`InputError` naming the values present when the column is missing or no
    row has the value.

    Examples
    --------
    >>> df = pl.DataFrame({"id": [1, 2, 3], "split": ["detect", "test", "test"]})
    >>> select_split(df, "split", "test")["id"].to_list()
    [2, 3]
    """
    if column not in df.columns:
        raise InputError(
            f"{source}: no column {column!r} to split on; it has "
            f"{', '.join(repr(c) for c in df.columns[:12])}"
        )
    dtype = df[column].dtype
    if dtype.is_nested() or dtype == pl.Binary:
        raise InputError(
            f"{source}: column {column!r} holds {dtype}, not one value per row; split on a "
            "column of text or numbers (e.g. split)"
        )
    values = df[column].cast(pl.String)
    rows = df.filter(values == str(value))
    if rows.height == 0:
        present = values.drop_nulls().unique().sort().to_list()
        shown = ", ".join(repr(v) for v in present[:10]) + (", ..." if len(present) > 10 else "")
        raise InputError(
            f"{source}: no row has {column} == {value!r}; the column holds {shown or 'nothing'}"
        )
    return rows


def split_samples(
    samples: SamplesLike,
    column: str,
    detect: str,
    holdout: str | None,
    *,
    source: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Read and validate a samples table and cut it into its detect and holdout splits.

    Examples
    --------
    >>> df = pl.DataFrame({"id": [1, 2], "label": ["a", "a"], "correct": [True, False],
    ...                    "tags": [["x"], ["x"]], "split": ["detect", "test"]})
    >>> d, h = split_samples(df, "split", "detect", "test")
    >>> d.height, h.height
    (1, 1)
    """
    name = source or source_name(samples)
    df = load_samples(samples, source=name)
    if holdout is not None and str(holdout) == str(detect):
        raise ParameterError(
            f"the detect and holdout splits are both {detect!r}; a holdout must be unseen data"
        )
    d = select_split(df, column, detect, name)
    h = select_split(df, column, holdout, name) if holdout is not None else None
    return d, h


def load_split(
    samples: SamplesLike,
    column: str | None = None,
    value: str | None = None,
    *,
    source: str | None = None,
) -> pl.DataFrame:
    """Read and validate a samples table, cut to the rows of one split when ``column`` is given.

    Parameters
    ----------
    samples
        A samples table or its file.
    column
        The column naming each row's split; ``None``: the whole table.
    value
        The split to keep (compared as text); it needs ``column``.
    source
        The table's name in error messages (default: the file, or ``"samples"``).

    Raises
    ------
    ParameterError
        ``value`` without ``column``.
    InputError
        No such column, or no row of that split (the message names the splits present).

    Examples
    --------
    >>> df = pl.DataFrame({"id": [1, 2, 3], "label": ["a"] * 3, "correct": [True] * 3,
    ...                    "tags": [["x"], [], ["x"]], "split": ["detect", "test", "test"]})
    >>> load_split(df, "split", "test")["id"].to_list()
    [2, 3]
    >>> load_split(df).height
    3
    """
    if column is None:
        if value is not None:
            raise ParameterError(
                f"split {value!r}: give the column holding the splits (split_column) too"
            )
        return load_samples(samples, source=source)
    if value is None:
        raise ParameterError(f"split_column {column!r}: name the split to keep")
    name = source or source_name(samples)
    return select_split(load_samples(samples, source=name), column, value, name)


def load_splits(
    samples: SamplesLike,
    *,
    split_column: str | None = None,
    detect: str | None = None,
    holdout: str | None = None,
    holdout_samples: SamplesLike | None = None,
    source: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The detect samples and the unseen (holdout) samples of an evaluation, read once.

    The holdout is either a split of ``samples`` (``holdout``, with ``split_column``) or a
    table of its own (``holdout_samples``), never both; without either there is none.

    Parameters
    ----------
    samples
        The samples table (or its file).
    split_column
        The column naming each row's split; ``None``: all of ``samples`` is the detect split.
    detect
        The detect split (default ``"detect"``); it needs ``split_column``.
    holdout
        The holdout split of ``samples``; it needs ``split_column``.
    holdout_samples
        Unseen samples in a table of their own.
    source
        The table's name in error messages (default: the file, or ``"samples"``).

    Returns
    -------
    tuple
        ``(detect, holdout)``: validated samples tables; ``holdout`` is ``None`` without one.

    Raises
    ------
    ParameterError
        A split named without ``split_column``, both ``holdout`` and ``holdout_samples``, or
        a holdout split equal to the detect split.
    InputError
        A bad table, a missing split column, or a split without rows.

    Examples
    --------
    >>> df = pl.DataFrame({"id": [1, 2, 3], "label": ["a"] * 3, "correct": [True, False, True],
    ...                    "tags": [["x"], [], ["x"]], "split": ["val", "test", "test"]})
    >>> d, h = load_splits(df, split_column="split", detect="val", holdout="test")
    >>> d.height, h.height
    (1, 2)
    >>> load_splits(df)[1] is None
    True
    """
    if holdout is not None and holdout_samples is not None:
        raise ParameterError(
            "give the holdout as a split of the samples (holdout) or as a table of its own "
            "(holdout_samples), not both"
        )
    if split_column is None:
        for name, value in (("detect", detect), ("holdout", holdout)):
            if value is not None:
                raise ParameterError(
                    f"{name} split {value!r}: give the column holding the splits (split_column) too"
                )
        d = load_samples(samples, source=source)
        h = None
    else:
        d, h = split_samples(samples, split_column, detect or "detect", holdout, source=source)
    if holdout_samples is not None:
        h = load_samples(
            holdout_samples,
            source=source_name(holdout_samples),
        )
    return d, h


#: The type of each column a mode table may have (the rest are Float64), for a table read
#: without rows: a CSV header types nothing, an empty JSON file has no columns at all.
_MODE_TYPES: dict[str, pl.DataType] = {
    **{c: pl.Float64() for c in MODE_COLUMNS + TRUST_COLUMNS + CONFUSION_COLUMNS},
    "label": pl.String(),
    "tags": pl.List(pl.String),
    "n_tags": pl.Int64(),
    "support": pl.Int64(),
    "confused_with": pl.String(),
}


def read_modes(path: str | Path) -> pl.DataFrame:
    """Read a mode table written by ``prime search -o`` (Parquet, CSV or JSON lines).

    In CSV, ``tags`` is one string with the tags separated by ``|``, or a JSON list where a
    tag holds ``|`` (see :func:`prime_rs.io.write_table`); it comes back as a list, exactly
    as written. An empty mode table reads back empty in every format: from a file without
    columns (JSON ``[]``, an empty JSON-lines file) with the columns every mode table has,
    and from a CSV header with each column's type.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from prime_rs import write_table
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "modes.csv"
    >>> _ = write_table(pl.DataFrame({"label": ["fox"], "tags": [["snow", "night"]]}), p)
    >>> read_modes(p)["tags"].to_list()
    [['snow', 'night']]
    """
    df = read_table(path)
    if df.height == 0:
        df = _empty_modes(df)
    if "label" not in df.columns or "tags" not in df.columns:
        raise InputError(
            f"{path}: not a mode table: it needs 'label' and 'tags' (the output of prime search)"
        )
    sample_like = "id" in df.columns and ("correct" in df.columns or "prediction" in df.columns)
    if sample_like and "support" not in df.columns:
        raise InputError(
            f"{path}: this looks like a samples table (id, label, tags, correct/prediction), "
            "not a mode table; give the modes written by prime search -o first"
        )
    if df.schema["tags"] == pl.String:
        df = df.with_columns(tags_from_text(df["tags"], str(path)))
    elif df.schema["tags"] == pl.Null:
        df = df.with_columns(pl.col("tags").cast(pl.List(pl.String)))
    elif not isinstance(df.schema["tags"], pl.List):
        raise InputError(f"{path}: column 'tags' must hold lists of tags, not {df.schema['tags']}")
    return df


def _empty_modes(df: pl.DataFrame) -> pl.DataFrame:
    """A mode table without rows, with the columns and types of one written by a search."""
    if df.width == 0:
        return pl.DataFrame(schema={c: _MODE_TYPES[c] for c in MODE_COLUMNS + TRUST_COLUMNS})
    untyped = [
        pl.Series(c, [], dtype=_MODE_TYPES[c])
        for c, dtype in df.schema.items()
        if c in _MODE_TYPES and dtype in (pl.String, pl.Null)
    ]
    return df.with_columns(untyped) if untyped else df


def as_samples(samples: SamplesLike, source: str | None = None) -> pl.DataFrame:
    """A validated samples table (validation is cheap on a table already validated)."""
    return load_samples(samples, source=source)


def plain_labels(s: pl.Series) -> pl.Series:
    """Labels as strings or integers (categoricals are compared as text)."""
    if s.dtype == pl.Categorical or isinstance(s.dtype, pl.Enum):
        return s.cast(pl.String)
    return s


class Groups:
    """Rows of a validated samples table by class and by (class, tag), as sorted arrays.

    A group of class ``c`` and tag set ``S`` is the rows of ``c`` carrying every tag of ``S``
    (PRIME's ``I_S``); row numbers count from 0 in the table given.

    Examples
    --------
    >>> df = load_samples(pl.DataFrame({
    ...     "id": [0, 1, 2, 3], "label": ["a", "a", "a", "b"],
    ...     "correct": [True, False, True, True],
    ...     "tags": [["x", "y"], ["x"], ["y"], ["x"]]}))
    >>> g = Groups(df)
    >>> g.members("a", ["x"]).tolist(), g.members("a", ["x", "y"]).tolist()
    ([0, 1], [0])
    >>> g.shared_counts("a", ["x", "y"]).tolist()
    [2, 1, 1]
    """

    def __init__(self, samples: pl.DataFrame) -> None:
        self.samples = samples
        self.labels = plain_labels(samples["label"])
        self.correct = samples["correct"].to_numpy().astype(bool)
        # Integer codes and one numpy sort, then slices of one array: no Python object per
        # sample (a million samples with a dozen tags each explode to twelve million rows).
        n = samples.height
        class_names = self.labels.unique().sort()
        class_code = class_names.search_sorted(self.labels, side="left").to_numpy()
        class_code = class_code.astype(np.int64)
        by_class = np.lexsort((np.arange(n), class_code))
        self._by_class = _slices(by_class, class_code[by_class], class_names.to_list())
        tags = samples["tags"]
        lengths = tags.list.len().fill_null(0).to_numpy().astype(np.int64)
        flat = tags.explode().drop_nulls()
        vocabulary = flat.unique().sort()
        if len(vocabulary):
            codes = flat.cast(pl.Enum(vocabulary.to_list())).to_physical().to_numpy()
        else:
            codes = np.zeros(0, dtype=np.int64)
        row = np.repeat(np.arange(n, dtype=np.int64), lengths)
        group = class_code[row] * max(len(vocabulary), 1) + codes.astype(np.int64)
        order = np.lexsort((row, group))
        row, group = row[order], group[order]
        # A tag repeated within one row counts once.
        keep = np.ones(len(row), dtype=bool)
        keep[1:] = (row[1:] != row[:-1]) | (group[1:] != group[:-1])
        row, group = row[keep], group[keep]
        names = class_names.to_list()
        words = vocabulary.to_list()
        width = max(len(words), 1)
        keys = [(names[g // width], words[g % width]) for g in np.unique(group).tolist()]
        self._by_tag = _slices(row, group, keys)
        self._empty = np.zeros(0, dtype=np.int64)

    @property
    def classes(self) -> list[Any]:
        """Labels present, sorted."""
        return sorted(self._by_class)

    def class_rows(self, label: Any) -> np.ndarray:
        """Rows of ``label`` (empty for a class the table does not have)."""
        return self._by_class.get(label, self._empty)

    def members(self, label: Any, tags: Sequence[str]) -> np.ndarray:
        """Rows of ``label`` carrying every tag of ``tags``."""
        if not tags:
            return self.class_rows(label)
        parts = [self._by_tag.get((label, t), self._empty) for t in set(tags)]
        parts.sort(key=len)
        out = parts[0]
        for p in parts[1:]:
            if len(out) == 0:
                break
            out = np.intersect1d(out, p, assume_unique=True)
        return out

    def shared_counts(self, label: Any, tags: Sequence[str]) -> np.ndarray:
        """For each row of ``label`` (in :meth:`class_rows` order), how many of ``tags`` it has."""
        rows = self.class_rows(label)
        counts = np.zeros(len(rows), dtype=np.int64)
        for t in set(tags):
            have = self._by_tag.get((label, t), self._empty)
            counts[np.searchsorted(rows, have)] += 1
        return counts

    def accuracy(self, rows: np.ndarray) -> float | None:
        """Share of ``rows`` predicted correctly (``None`` for no rows)."""
        return float(self.correct[rows].mean()) if len(rows) else None


def _slices(rows: np.ndarray, groups: np.ndarray, keys: Sequence[Any]) -> dict[Any, np.ndarray]:
    """``{key: rows of the group}`` from rows sorted by group (``keys`` names each distinct
    group, in sorted order)."""
    if len(rows) == 0:
        return {}
    starts = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
    ends = np.append(starts[1:], len(rows))
    return {key: rows[a:b] for key, a, b in zip(keys, starts, ends, strict=True)}


def auroc(y_true: Sequence[Any] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve: the chance a positive scores above a negative (ties count 1/2).

    Computed from average ranks (the Mann–Whitney U statistic), so it equals
    ``sklearn.metrics.roc_auc_score`` without needing scikit-learn.

    Parameters
    ----------
    y_true
        1 (or True) for positives, 0 for negatives.
    scores
        Higher means more likely positive.

    Examples
    --------
    >>> auroc([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1])
    0.75
    >>> auroc([1, 0], [0.3, 0.3])
    0.5
    """
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise InputError(
            f"auroc: labels and scores must be 1-D of one length, got {y.shape}, {s.shape}"
        )
    if not np.isin(y, [0, 1]).all():
        raise InputError("auroc: labels must be 0/1 or booleans")
    if np.isnan(s).any():
        raise InputError("auroc: scores hold NaN")
    pos = y.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise InputError("auroc: needs at least one positive and one negative")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # Average ranks over ties (1-based).
    starts = np.flatnonzero(np.concatenate([[True], sorted_s[1:] != sorted_s[:-1]]))
    ends = np.append(starts[1:], len(s))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation; ``None`` with fewer than 3 points or no spread.

    Examples
    --------
    >>> pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 7.0]))  # doctest: +ELLIPSIS
    0.99...
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])
