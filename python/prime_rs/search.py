"""The failure-mode search: :func:`find_failure_modes` and the reusable :class:`TagIndex`.

The method (PRIME, section 3): for each class ``c`` with accuracy ``A_c``, a tag set ``S``
with ``|S| <= max_tags`` is a *failure mode* when its group ``I_S`` (samples of ``c``
carrying every tag of ``S``) has at least ``min_support`` samples, its accuracy
``A_S <= A_c - min_drop``, and ``S`` is minimal: removing any one tag ``t`` leaves an
easier group, ``A_{S-t} >= A_S + b_|S|`` (``b_1 = 0``; ``necessity`` lists ``b_2, b_3, ...``
and longer sets reuse its last value).
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl

from prime_rs import _engine
from prime_rs._columns import list_column
from prime_rs.data import SamplesLike, load_samples
from prime_rs.errors import InputError, ParameterError

__all__ = ["MODE_COLUMNS", "TagIndex", "find_failure_modes"]

logger = logging.getLogger("prime_rs")

#: Columns of a failure-mode table, in order.
MODE_COLUMNS = (
    "label",
    "tags",
    "n_tags",
    "support",
    "accuracy",
    "class_accuracy",
    "drop",
    "necessity",
)
_DEFAULT_NECESSITY = (0.10, 0.05, 0.025)


def _check_params(
    *,
    max_tags: int,
    min_support: int,
    min_drop: float | None = None,
    necessity: Sequence[float] | None = None,
    min_tag_count: int | None = None,
    threads: int | None = None,
) -> None:
    def bad(name: str, msg: str) -> ParameterError:
        return ParameterError(f"{name}: {msg}")

    if isinstance(max_tags, bool) or not isinstance(max_tags, (int, np.integer)) or max_tags < 1:
        raise bad("max_tags", f"must be an integer of at least 1, got {max_tags!r}")
    if max_tags > 64:
        raise bad("max_tags", f"must be at most 64, got {max_tags}")
    if isinstance(min_support, bool) or not isinstance(min_support, (int, np.integer)):
        raise bad("min_support", f"must be an integer, got {min_support!r}")
    if min_support < 1:
        raise bad("min_support", f"must be at least 1 (a group needs samples), got {min_support}")
    if min_support > 2**32 - 1:
        raise bad("min_support", f"must be below 2**32, got {min_support}")
    if min_drop is not None and (
        not isinstance(min_drop, (int, float)) or math.isnan(min_drop) or not 0 <= min_drop <= 1
    ):
        raise bad(
            "min_drop", f"must be a fraction in [0, 1] (0.3 means 30 points), got {min_drop!r}"
        )
    if necessity is not None:
        values = list(necessity)
        if not values:
            raise bad("necessity", "needs at least one value (b_2, then b_3, ...)")
        for b in values:
            if not isinstance(b, (int, float)) or math.isnan(b) or not 0 <= b <= 1:
                raise bad("necessity", f"values must be fractions in [0, 1], got {b!r}")
    if min_tag_count is not None and (
        isinstance(min_tag_count, bool) or not isinstance(min_tag_count, (int, np.integer))
        or not 1 <= min_tag_count < 2**32
    ):
        raise bad("min_tag_count", f"must be a positive integer or None, got {min_tag_count!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1
    ):
        raise bad("threads", f"must be a positive integer or None (all cores), got {threads!r}")


class TagIndex:
    """Per-class index of a samples table, built once and searched many times.

    Building the index (reading, validating, mapping labels and tags to ids, and the
    engine's bitmaps) is the expensive, parameter-free part; :meth:`search`,
    :meth:`frequent_sets` and :meth:`stats` then run on it with any parameters.

    Examples
    --------
    >>> import polars as pl
    >>> from prime_rs import TagIndex
    >>> df = pl.DataFrame({
    ...     "id": range(6), "label": ["fox"] * 6,
    ...     "correct": [False, False, True, True, True, True],
    ...     "tags": [["snow"], ["snow"], ["snow"], [], [], []],
    ... })
    >>> index = TagIndex.from_samples(df)
    >>> index.stats("fox", ["snow"])
    {'support': 3, 'n_correct': 1, 'accuracy': 0.3333333333333333}
    >>> index.search(min_support=2, min_drop=0.3)["tags"].to_list()
    [['snow']]
    """

    def __init__(
        self,
        engine: _engine.TagIndex,
        labels: pl.Series,
        vocabulary: pl.Series,
        *,
        class_ids: np.ndarray | None = None,
        build_min_tag_count: int = 1,
    ) -> None:
        self._engine = engine
        self._class_ids = class_ids
        self._labels = labels
        self._vocabulary = vocabulary
        self._build_min_tag_count = build_min_tag_count
        self.last_sets_tested: dict[Any, int] = {}

    @classmethod
    def from_samples(
        cls, samples: SamplesLike, *, min_tag_count: int | None = None
    ) -> TagIndex:
        """Build the index of a samples table (a DataFrame or a Parquet/CSV/JSON-lines path).

        Parameters
        ----------
        samples
            The samples table; see :mod:`prime_rs.data`.
        min_tag_count
            Leave tags carried by fewer samples of a class out of that class's index
            (saves memory); ``None`` keeps every tag, so :meth:`stats` is exact for all.
            Searches can still raise the threshold.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"id": [1, 2], "label": ["a", "b"],
        ...                    "correct": [True, False], "tags": [["x"], ["x", "y"]]})
        >>> TagIndex.from_samples(df).classes()["n_samples"].to_list()
        [1, 1]
        """
        _check_params(max_tags=1, min_support=1, min_tag_count=min_tag_count)
        df = load_samples(samples)
        return cls._from_validated(df, min_tag_count=min_tag_count)

    @classmethod
    def _from_validated(cls, df: pl.DataFrame, *, min_tag_count: int | None) -> TagIndex:
        label = df["label"]
        if label.dtype == pl.Categorical or isinstance(label.dtype, pl.Enum):
            label = label.cast(pl.String)
        labels = label.unique().sort()
        class_ids = labels.search_sorted(label, side="left").cast(pl.UInt32).to_numpy()

        tags = df["tags"].list.unique()
        lengths = tags.list.len().to_numpy().astype(np.uint64)
        flat = tags.explode().drop_nulls()
        vocabulary = flat.unique().sort()
        indices = vocabulary.search_sorted(flat, side="left").cast(pl.UInt32).to_numpy()
        indptr = np.zeros(len(lengths) + 1, dtype=np.uint64)
        np.cumsum(lengths, out=indptr[1:])
        correct = df["correct"].to_numpy().astype(np.bool_)
        build_min = min_tag_count or 1
        engine = _engine.TagIndex.from_csr(
            np.ascontiguousarray(indptr, dtype=np.uint64),
            np.ascontiguousarray(indices, dtype=np.uint32),
            np.ascontiguousarray(class_ids, dtype=np.uint32),
            np.ascontiguousarray(correct, dtype=np.bool_),
            len(labels),
            len(vocabulary),
            build_min,
        )
        return cls(
            engine, labels, vocabulary, class_ids=class_ids, build_min_tag_count=build_min
        )

    # -- introspection -------------------------------------------------------------------

    @property
    def labels(self) -> list[Any]:
        """The class labels, sorted."""
        return self._labels.to_list()

    @property
    def vocabulary(self) -> list[str]:
        """Every distinct tag, sorted."""
        return self._vocabulary.to_list()

    def classes(self) -> pl.DataFrame:
        """One row per class: ``label, n_samples, n_correct, accuracy``.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"id": [1, 2], "label": ["a", "a"],
        ...                    "correct": [True, False], "tags": [[], []]})
        >>> TagIndex.from_samples(df).classes()["accuracy"].to_list()
        [0.5]
        """
        n, k = self._engine.class_counts()
        return pl.DataFrame(
            {
                "label": self._labels,
                "n_samples": pl.Series(n, dtype=pl.Int64),
                "n_correct": pl.Series(k, dtype=pl.Int64),
            }
        ).with_columns(accuracy=pl.col("n_correct") / pl.col("n_samples"))

    def _class_id(self, label: Any) -> int:
        try:
            i = self._labels.search_sorted(label, side="left") if len(self._labels) else 0
        except Exception:  # a value of another type than the labels
            i = len(self._labels)
        if isinstance(i, int) and i < len(self._labels) and self._labels[i] == label:
            return i
        known = [str(x) for x in self._labels.head(10).to_list()]
        close = difflib.get_close_matches(str(label), [str(x) for x in self._labels], n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InputError(
            f"unknown label {label!r}{hint} (the samples have {len(self._labels)} classes: "
            f"{', '.join(known)}{', ...' if len(self._labels) > 10 else ''})"
        )

    def _class_ids_of(self, labels: Iterable[Any] | None) -> list[int] | None:
        if labels is None:
            return None
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
            labels = [labels]
        return [self._class_id(x) for x in labels]

    def _tag_ids(self, tags: Iterable[str]) -> list[int]:
        if isinstance(tags, str):
            tags = [tags]
        ids = []
        for t in tags:
            if not isinstance(t, str):
                raise InputError(f"tags must be strings, got {t!r}")
            i = self._vocabulary.search_sorted(t, side="left") if len(self._vocabulary) else 0
            if not (isinstance(i, int) and i < len(self._vocabulary) and self._vocabulary[i] == t):
                close = difflib.get_close_matches(str(t), self.vocabulary, n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise InputError(f"unknown tag {t!r}: no sample carries it{hint}")
            ids.append(i)
        return ids

    def stats(self, label: Any, tags: Iterable[str]) -> dict[str, Any]:
        """Support, correct count and accuracy of the samples of ``label`` carrying all ``tags``.

        ``accuracy`` is ``None`` for an empty group. With an empty ``tags``, the whole class.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"id": [1, 2, 3], "label": ["a"] * 3,
        ...                    "correct": [True, False, False], "tags": [["x"], ["x"], []]})
        >>> TagIndex.from_samples(df).stats("a", ["x"])
        {'support': 2, 'n_correct': 1, 'accuracy': 0.5}
        """
        class_id = self._class_id(label)
        ids = self._tag_ids(tags)
        if self._build_min_tag_count > 1 and ids:
            raise InputError(
                "stats needs every tag in the index: build it with min_tag_count=None "
                f"(this one left out tags in fewer than {self._build_min_tag_count} samples)"
            )
        support, n_correct = self._engine.stats(class_id, ids)
        return {
            "support": support,
            "n_correct": n_correct,
            "accuracy": n_correct / support if support else None,
        }

    # -- search --------------------------------------------------------------------------

    def search(
        self,
        *,
        max_tags: int = 4,
        min_support: int = 30,
        min_drop: float = 0.30,
        necessity: Sequence[float] = _DEFAULT_NECESSITY,
        min_tag_count: int | None = None,
        labels: Iterable[Any] | None = None,
        threads: int | None = None,
    ) -> pl.DataFrame:
        """Find every failure mode; see :func:`find_failure_modes` for the parameters.

        The number of tag sets tested per class is left in :attr:`last_sets_tested`.

        Examples
        --------
        >>> from prime_rs import synthetic
        >>> data = synthetic.generate(synthetic.SMALL)
        >>> modes = TagIndex.from_samples(data.samples).search(max_tags=3)
        >>> modes.columns[:4]
        ['label', 'tags', 'n_tags', 'support']
        """
        necessity = tuple(float(b) for b in necessity) if necessity is not None else ()
        _check_params(
            max_tags=max_tags,
            min_support=min_support,
            min_drop=min_drop,
            necessity=necessity,
            min_tag_count=min_tag_count,
            threads=threads,
        )
        class_ids = self._class_ids_of(labels)
        out = self._engine.search(
            max_tags=int(max_tags),
            min_support=int(min_support),
            min_drop=float(min_drop),
            necessity=list(necessity),
            min_tag_count=None if min_tag_count is None else int(min_tag_count),
            classes=class_ids,
            threads=None if threads is None else int(threads),
        )
        tested = out.pop("sets_tested")
        wanted = range(len(self._labels)) if class_ids is None else sorted(set(class_ids))
        self.last_sets_tested = {self._labels[i]: int(tested[i]) for i in wanted}
        # The engine sorts by class, drop (largest first), then tag ids; class ids and tag ids
        # follow the sorted labels and tag names, so this is the documented order.
        modes = self._frame(out, extra=("accuracy", "class_accuracy", "drop", "necessity"))
        modes = modes.select(MODE_COLUMNS)
        if modes.height == 0:
            logger.warning(
                self.explain_empty(
                    max_tags=max_tags, min_support=min_support, min_drop=min_drop,
                    min_tag_count=min_tag_count, labels=labels,
                )
            )
        return modes

    def explain_empty(
        self,
        *,
        max_tags: int = 4,
        min_support: int = 30,
        min_drop: float = 0.30,
        min_tag_count: int | None = None,
        labels: Iterable[Any] | None = None,
    ) -> str:
        """A sentence saying why a search with these parameters can find nothing.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"id": [1, 2], "label": ["a", "a"],
        ...                    "correct": [True, False], "tags": [["x"], []]})
        >>> print(TagIndex.from_samples(df).explain_empty(min_support=5))
        No failure modes: no class has a tag carried by at least 5 of its samples \
(min_support=5); lower min_support.
        """
        class_ids = self._class_ids_of(labels)
        classes = self.classes()
        if class_ids is not None:
            classes = classes[sorted(set(class_ids))]
        if classes.height == 0:
            return "No failure modes: the samples table is empty."
        threshold = max(min_support, min_tag_count or min_support)
        lattice = self.frequent_sets(
            max_tags=1, min_support=threshold, labels=None if class_ids is None else labels
        )
        if lattice.height == 0:
            knob = "min_support" if threshold == min_support else "min_tag_count"
            return (
                f"No failure modes: no class has a tag carried by at least {threshold} of its "
                f"samples ({knob}={threshold}); lower {knob}."
            )
        worst = lattice.join(classes.select("label", "accuracy"), on="label").with_columns(
            drop=pl.col("accuracy_right") - pl.col("accuracy")
        ).sort("drop", descending=True).row(0, named=True)
        return (
            f"No failure modes: no tag set of at most {max_tags} tags with at least "
            f"{min_support} samples is {min_drop:.0%} less accurate than its class (and minimal). "
            f"The largest drop of a single tag is {worst['drop']:.1%} "
            f"(class {worst['label']!r}, tag {worst['tags'][0]!r}); lower min_drop or "
            "min_support to see more."
        )

    def frequent_sets(
        self,
        *,
        max_tags: int = 4,
        min_support: int = 30,
        min_tag_count: int | None = None,
        labels: Iterable[Any] | None = None,
        threads: int | None = None,
    ) -> pl.DataFrame:
        """Every tag set of at most ``max_tags`` tags with at least ``min_support`` samples.

        Returns one row per set: ``label, tags, n_tags, support, accuracy``, sorted by label,
        size, then tags. This is the whole lattice PRIME searches, for analysis.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"id": [1, 2], "label": ["a", "a"],
        ...                    "correct": [True, False], "tags": [["x", "y"], ["x"]]})
        >>> TagIndex.from_samples(df).frequent_sets(min_support=1)["tags"].to_list()
        [['x'], ['y'], ['x', 'y']]
        """
        _check_params(
            max_tags=max_tags, min_support=min_support, min_tag_count=min_tag_count,
            threads=threads,
        )
        out = self._engine.frequent_sets(
            max_tags=int(max_tags),
            min_support=int(min_support),
            min_tag_count=None if min_tag_count is None else int(min_tag_count),
            classes=self._class_ids_of(labels),
            threads=None if threads is None else int(threads),
        )
        sets = self._frame(out, extra=())
        sets = sets.with_columns(accuracy=pl.col("n_correct") / pl.col("support"))
        return sets.select("label", "tags", "n_tags", "support", "accuracy")

    def _frame(self, out: dict[str, np.ndarray], extra: Sequence[str]) -> pl.DataFrame:
        """Columns from the engine -> a frame with labels and tag names."""
        offsets = out["offsets"].astype(np.int64)
        sizes = np.diff(offsets)
        n = len(sizes)
        tag_names = self._vocabulary.gather(out["tags"].astype(np.int64)) if n else pl.Series(
            [], dtype=pl.String
        )
        tags = list_column(tag_names, offsets, sizes)
        data: dict[str, Any] = {
            "label": self._labels.gather(out["class_id"].astype(np.int64))
            if n
            else pl.Series("label", [], dtype=self._labels.dtype),
            "tags": tags,
            "n_tags": pl.Series(sizes, dtype=pl.Int64),
            "support": pl.Series(out["support"], dtype=pl.Int64),
            "n_correct": pl.Series(out["n_correct"], dtype=pl.Int64),
        }
        for col in extra:
            data[col] = pl.Series(out[col], dtype=pl.Float64)
        return pl.DataFrame(data)


def find_failure_modes(
    samples: SamplesLike,
    *,
    max_tags: int = 4,
    min_support: int = 30,
    min_drop: float = 0.30,
    necessity: Sequence[float] = _DEFAULT_NECESSITY,
    min_tag_count: int | None = None,
    labels: Iterable[Any] | None = None,
    threads: int | None = None,
) -> pl.DataFrame:
    """Find the failure modes of a classifier, the PRIME way.

    Parameters
    ----------
    samples
        A samples table: a Polars DataFrame or the path of a Parquet / CSV / JSON-lines file
        with ``id``, ``label``, ``tags``, and ``correct`` or ``prediction``.
    max_tags
        ``l``: largest tag set considered (the paper uses 4).
    min_support
        ``s``: smallest group, in samples.
    min_drop
        ``a``: a mode's accuracy is at most the class accuracy minus this (0.30 = 30 points).
    necessity
        ``b_2, b_3, ...``: every subset with one tag fewer must be this much more accurate;
        longer sets reuse the last value.
    min_tag_count
        Only tags carried by at least this many samples of a class are searched in it
        (default: ``min_support``, which loses nothing).
    labels
        Search only these classes.
    threads
        Worker threads (default: one per core). The result does not depend on it.

    Returns
    -------
    polars.DataFrame
        One row per mode: ``label, tags, n_tags, support, accuracy, class_accuracy, drop,
        necessity`` (the smallest ``A_{S-t} - A_S``), sorted by label, drop (largest first)
        and tags. An empty result is an empty table with these columns; the reason is logged
        on the ``prime_rs`` logger.

    Examples
    --------
    >>> import prime_rs
    >>> from prime_rs import synthetic
    >>> data = synthetic.generate(synthetic.SMALL)
    >>> modes = prime_rs.find_failure_modes(data.samples, max_tags=3, min_support=20)
    >>> bool((modes["drop"] >= 0.3).all())
    True
    """
    _check_params(
        max_tags=max_tags, min_support=min_support, min_drop=min_drop,
        necessity=necessity, min_tag_count=min_tag_count, threads=threads,
    )
    index = TagIndex.from_samples(samples)
    return index.search(
        max_tags=max_tags,
        min_support=min_support,
        min_drop=min_drop,
        necessity=necessity,
        min_tag_count=min_tag_count,
        labels=labels,
        threads=threads,
    )


def default_threads() -> int:
    """Threads a search uses when none is given: one per available core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
