"""Do failure modes found on one split hold on unseen data? (PRIME 4.1, Fig. 4; A.5, Fig. 10).

A mode ``S`` of class ``c`` found on the detect split is re-measured on the holdout split:
its holdout group is the holdout samples of ``c`` carrying every tag of ``S``; its holdout
drop is the holdout accuracy of ``c`` minus the accuracy of that group.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError, ParameterError
from prime_rs.evaluate._common import check_fraction, pearson, progress
from prime_rs.index import TagIndex
from prime_rs.io import SamplesLike
from prime_rs.params import DEFAULT_NECESSITY
from prime_rs.stats import wilson_interval

__all__ = [
    "HOLDOUT_COLUMNS",
    "generalization",
    "generalization_summary",
    "sweep",
]

#: Columns :func:`generalization` adds to a mode table.
HOLDOUT_COLUMNS = (
    "holdout_support",
    "holdout_accuracy",
    "holdout_class_accuracy",
    "holdout_drop",
    "holdout_accuracy_low",
    "holdout_accuracy_high",
)

#: The paper's threshold: a mode generalizes when its holdout drop is at least 25 points.
DEFAULT_GENERALIZES = 0.25


def _index(samples: SamplesLike | TagIndex) -> TagIndex:
    return samples if isinstance(samples, TagIndex) else TagIndex.from_samples(samples)


def _check_modes(modes: pl.DataFrame) -> None:
    if not isinstance(modes, pl.DataFrame):
        raise InputError(f"modes must be a polars DataFrame, not {type(modes).__name__}")
    missing = [c for c in ("label", "tags") if c not in modes.columns]
    if missing:
        raise InputError(
            f"modes: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}; a mode table needs 'label' and 'tags' "
            "(the output of prime search)"
        )
    if not isinstance(modes.schema["tags"], pl.List):
        raise InputError(
            f"modes: column 'tags' must hold lists of strings, not {modes.schema['tags']}; "
            "read a CSV mode table with prime_rs.evaluate.read_modes"
        )


class _Measure:
    """Support and correct count of (label, tags) groups in an index, memoized."""

    def __init__(self, index: TagIndex) -> None:
        self.index = index
        classes = index.classes()
        self.class_accuracy = dict(zip(classes["label"], classes["accuracy"], strict=True))
        self.vocabulary = set(index.vocabulary)
        self._memo: dict[tuple[Any, tuple[str, ...]], tuple[int, int]] = {}

    def __call__(self, label: Any, tags: Sequence[str]) -> tuple[int, int]:
        key = (label, tuple(sorted(tags)))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if label not in self.class_accuracy or any(t not in self.vocabulary for t in tags):
            out = (0, 0)
        else:
            st = self.index.stats(label, list(tags))
            out = (int(st["support"]), int(st["n_correct"]))
        self._memo[key] = out
        return out


def _label_key(label: Any, measure: _Measure) -> Any:
    """Labels compare across tables even when one table stored class numbers as text."""
    if label in measure.class_accuracy:
        return label
    for known in measure.class_accuracy:
        if str(known) == str(label):
            return known
    return label


def generalization(
    modes: pl.DataFrame,
    holdout: SamplesLike | TagIndex,
    *,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Re-measure failure modes on unseen data.

    Parameters
    ----------
    modes
        A mode table (``label``, ``tags``, and usually ``drop``), e.g. from
        :func:`prime_rs.find_failure_modes` on the detect split.
    holdout
        The unseen samples: a samples table, a path, or a :class:`prime_rs.TagIndex`.
    confidence
        Level of the Wilson interval of the holdout accuracy.

    Returns
    -------
    polars.DataFrame
        ``modes`` with :data:`HOLDOUT_COLUMNS` added (replaced when already there):
        ``holdout_support`` (holdout samples of the class carrying every tag of the mode),
        ``holdout_accuracy`` (null without samples), ``holdout_class_accuracy`` (null when
        the class has no holdout samples), ``holdout_drop`` (class accuracy minus group
        accuracy), and ``holdout_accuracy_low`` / ``holdout_accuracy_high`` (Wilson interval).

    Examples
    --------
    >>> import polars as pl
    >>> holdout = pl.DataFrame({"id": range(4), "label": ["fox"] * 4,
    ...                         "correct": [False, True, True, True],
    ...                         "tags": [["snow"], ["snow"], [], []]})
    >>> modes = pl.DataFrame({"label": ["fox"], "tags": [["snow"]], "drop": [0.4]})
    >>> g = generalization(modes, holdout)
    >>> g.select("holdout_support", "holdout_accuracy", "holdout_drop").row(0)
    (2, 0.5, 0.25)
    """
    _check_modes(modes)
    check_fraction("confidence", confidence)
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence: must be in (0, 1), e.g. 0.95, got {confidence!r}")
    measure = _Measure(_index(holdout))
    support = np.zeros(modes.height, dtype=np.int64)
    correct = np.zeros(modes.height, dtype=np.int64)
    class_acc: list[float | None] = []
    for i, (label, tags) in enumerate(modes.select("label", "tags").iter_rows()):
        key = _label_key(label, measure)
        support[i], correct[i] = measure(key, tags or [])
        class_acc.append(measure.class_accuracy.get(key))
    measured = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(measured, correct / np.maximum(support, 1), np.nan)
    low, high = wilson_interval(correct, support, confidence)

    def column(values: np.ndarray) -> pl.Series:
        return pl.Series(np.where(measured, values, np.nan), dtype=pl.Float64, nan_to_null=True)

    out = modes.drop([c for c in HOLDOUT_COLUMNS if c in modes.columns]).with_columns(
        holdout_support=pl.Series(support, dtype=pl.Int64),
        holdout_accuracy=column(accuracy),
        holdout_class_accuracy=pl.Series(class_acc, dtype=pl.Float64),
    )
    return out.with_columns(
        holdout_drop=pl.col("holdout_class_accuracy") - pl.col("holdout_accuracy"),
        holdout_accuracy_low=column(low),
        holdout_accuracy_high=column(high),
    )


def generalization_summary(
    table: pl.DataFrame, *, min_drop: float = DEFAULT_GENERALIZES
) -> dict[str, Any]:
    """Summarize a :func:`generalization` table.

    Parameters
    ----------
    table
        The output of :func:`generalization` (needs ``drop`` for the correlation).
    min_drop
        A mode *generalizes* when its holdout drop is at least this (the paper: 0.25).

    Returns
    -------
    dict
        ``n_modes``; ``n_measured`` and ``n_without_holdout`` (modes with no holdout
        samples are counted apart and left out of every share and mean); ``n_generalize``
        and ``share_generalize`` (holdout drop >= ``min_drop``); ``n_confirmed`` (the whole
        holdout interval lies below the holdout class accuracy); ``mean_drop`` and
        ``mean_holdout_drop`` (over measured modes); ``correlation`` (Pearson, detect vs
        holdout drop; ``None`` under 3 modes); ``min_drop``.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"drop": [0.4, 0.3, 0.5], "holdout_support": [10, 0, 8],
    ...                   "holdout_drop": [0.35, None, 0.1],
    ...                   "holdout_accuracy_high": [0.5, None, 0.9],
    ...                   "holdout_class_accuracy": [0.9, 0.9, 0.9]})
    >>> s = generalization_summary(t)
    >>> s["n_measured"], s["n_without_holdout"], s["n_generalize"], s["share_generalize"]
    (2, 1, 1, 0.5)
    """
    check_fraction("min_drop", min_drop, low=-1.0)
    need = ["holdout_support", "holdout_drop"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
            "summarize the output of generalization()"
        )
    measured = table.filter(pl.col("holdout_support") > 0)
    n = measured.height
    holdout_drop = measured["holdout_drop"].to_numpy().astype(np.float64)
    n_generalize = int((holdout_drop >= min_drop - 1e-12).sum())
    confirmed = 0
    if "holdout_accuracy_high" in measured.columns and n:
        confirmed = int(
            (measured["holdout_accuracy_high"] < measured["holdout_class_accuracy"]).sum()
        )
    out: dict[str, Any] = {
        "n_modes": table.height,
        "n_measured": n,
        "n_without_holdout": table.height - n,
        "min_drop": float(min_drop),
        "n_generalize": n_generalize,
        "share_generalize": n_generalize / n if n else None,
        "n_confirmed": confirmed,
        "mean_holdout_drop": float(holdout_drop.mean()) if n else None,
        "mean_drop": None,
        "correlation": None,
    }
    if "drop" in measured.columns and n:
        drop = measured["drop"].to_numpy().astype(np.float64)
        out["mean_drop"] = float(drop.mean())
        out["correlation"] = pearson(drop, holdout_drop)
    return out


def sweep(
    detect: SamplesLike | TagIndex,
    holdout: SamplesLike | TagIndex | None = None,
    *,
    min_supports: Sequence[int] = (30, 50, 100),
    min_drops: Sequence[float] = (0.2, 0.3, 0.4),
    max_tags: int = 4,
    necessity: Sequence[float] = DEFAULT_NECESSITY,
    generalizes: float = DEFAULT_GENERALIZES,
    threads: int | None = None,
    show_progress: bool = True,
) -> pl.DataFrame:
    """Count modes, and how many generalize, over a grid of ``(min_support, min_drop)``.

    The detect index (and the holdout index) is built once; every grid point is one search
    on it (paper appendix A.5, Fig. 10).

    Parameters
    ----------
    detect
        Samples (or a :class:`prime_rs.TagIndex`) to search.
    holdout
        Unseen samples to re-measure the modes on; ``None`` counts modes only.
    min_supports, min_drops
        The grid: ``s`` and ``a`` of the paper.
    max_tags, necessity, threads
        As in :func:`prime_rs.find_failure_modes`.
    generalizes
        A mode generalizes when its holdout drop is at least this.
    show_progress
        Show a progress bar over the grid.

    Returns
    -------
    polars.DataFrame
        One row per grid point: ``min_support, min_drop, n_modes, n_classes`` (classes with
        a mode), ``mean_drop``, and with a holdout ``n_measured, n_generalize,
        share_generalize, mean_holdout_drop, correlation``.

    Examples
    --------
    >>> from prime_rs import synthetic
    >>> data = synthetic.generate(synthetic.SMALL).samples
    >>> grid = sweep(data, min_supports=[30, 60], min_drops=[0.3], max_tags=3,
    ...              show_progress=False)
    >>> grid.select("min_support", "min_drop").rows()
    [(30, 0.3), (60, 0.3)]
    """
    supports = sorted({int(s) for s in min_supports})
    drops = sorted({float(a) for a in min_drops})
    if not supports or not drops:
        raise ParameterError("sweep: give at least one min_support and one min_drop")
    for a in drops:
        check_fraction("min_drop", a)
    detect_index = _index(detect)
    holdout_index = None if holdout is None else _index(holdout)
    measure = None if holdout_index is None else _Measure(holdout_index)
    rows: list[dict[str, Any]] = []
    grid = [(s, a) for s in supports for a in drops]
    # An empty grid point is a count of 0 in the table, not a warning worth a line each.
    quiet = _WithoutEmptyReasons()
    logger = logging.getLogger("prime_rs")
    logger.addFilter(quiet)
    try:
        for s, a in progress(grid, total=len(grid), desc="sweep", enabled=show_progress):
            rows.append(
                _sweep_point(detect_index, measure, s, a, max_tags, necessity, generalizes, threads)
            )
    finally:
        logger.removeFilter(quiet)
    return _sweep_frame(rows, with_holdout=measure is not None)


class _WithoutEmptyReasons(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No failure modes")


def _sweep_point(
    detect_index: TagIndex,
    measure: _Measure | None,
    s: int,
    a: float,
    max_tags: int,
    necessity: Sequence[float],
    generalizes: float,
    threads: int | None,
) -> dict[str, Any]:
    modes = detect_index.search(
        max_tags=max_tags,
        min_support=s,
        min_drop=a,
        necessity=necessity,
        threads=threads,
        q_values=False,
    ).modes
    row: dict[str, Any] = {
        "min_support": s,
        "min_drop": a,
        "n_modes": modes.height,
        "n_classes": modes["label"].n_unique() if modes.height else 0,
        "mean_drop": float(modes["drop"].mean()) if modes.height else None,  # type: ignore[arg-type]
    }
    if measure is not None:
        table = _measure_with(modes, measure)
        summary = generalization_summary(table, min_drop=generalizes)
        row |= {
            "n_measured": summary["n_measured"],
            "n_generalize": summary["n_generalize"],
            "share_generalize": summary["share_generalize"],
            "mean_holdout_drop": summary["mean_holdout_drop"],
            "correlation": summary["correlation"],
        }
    return row


def _sweep_frame(rows: list[dict[str, Any]], *, with_holdout: bool) -> pl.DataFrame:
    schema: dict[str, Any] = {
        "min_support": pl.Int64,
        "min_drop": pl.Float64,
        "n_modes": pl.Int64,
        "n_classes": pl.Int64,
        "mean_drop": pl.Float64,
    }
    if with_holdout:
        schema |= {
            "n_measured": pl.Int64,
            "n_generalize": pl.Int64,
            "share_generalize": pl.Float64,
            "mean_holdout_drop": pl.Float64,
            "correlation": pl.Float64,
        }
    return pl.DataFrame(rows, schema=schema)


def _measure_with(modes: pl.DataFrame, measure: _Measure) -> pl.DataFrame:
    """:func:`generalization` with a memo shared across calls (the sweep repeats modes)."""
    support, drop = [], []
    for label, tags in modes.select("label", "tags").iter_rows():
        key = _label_key(label, measure)
        n, k = measure(key, tags)
        cls = measure.class_accuracy.get(key)
        support.append(n)
        drop.append(cls - k / n if n and cls is not None else None)
    return modes.with_columns(
        holdout_support=pl.Series(support, dtype=pl.Int64),
        holdout_drop=pl.Series(drop, dtype=pl.Float64),
    )
