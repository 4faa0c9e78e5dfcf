"""The reusable per-class index of a samples table: :class:`TagIndex`, and what its searches
return: :class:`SearchResult`.

The method (PRIME, section 3): for each class ``c`` with accuracy ``A_c``, a tag set ``S``
with ``|S| <= max_tags`` is a *failure mode* when its group ``I_S`` (samples of ``c``
carrying every tag of ``S``) has at least ``min_support`` samples, its accuracy
``A_S <= A_c - min_drop``, and ``S`` is minimal: removing any one tag ``t`` leaves an
easier group, ``A_{S-t} >= A_S + b_|S|`` (``b_1 = 0``; ``necessity`` lists ``b_2, b_3, ...``
and longer sets reuse its last value).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import logging
import numbers
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np
import polars as pl

import prime_rs._engine as _engine
from prime_rs._columns import SMALL_TABLE
from prime_rs.errors import InputError, ParameterError
from prime_rs.io import SamplesLike, load_samples
from prime_rs.params import SearchParams
from prime_rs.stats import z_of

__all__ = [
    "CONFUSION_COLUMNS",
    "MODE_COLUMNS",
    "TRUST_COLUMNS",
    "SearchResult",
    "TagIndex",
]

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
#: Columns added to every mode table: the Wilson interval of the accuracy, the one-sided
#: binomial p-value, its Benjamini–Hochberg q-value, and the errors the mode accounts for.
TRUST_COLUMNS = ("accuracy_low", "accuracy_high", "p_value", "q_value", "impact")
#: Columns added when predictions are known: what the mode's errors are mistaken for.
CONFUSION_COLUMNS = ("confused_with", "confused_share", "tag_lift")


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What one search found.

    Attributes
    ----------
    modes
        One row per failure mode (see :func:`prime_rs.find_failure_modes`).
    summary
        One row per searched class: ``label, n_samples, n_correct, accuracy, sets_tested``
        (tag sets whose support the search counted), ``hypotheses`` (frequent sets behind the
        q-values) and ``n_modes``.
    empty_reason
        Why there are no modes (a sentence saying which threshold to lower), or ``None``.
    """

    modes: pl.DataFrame
    summary: pl.DataFrame
    empty_reason: str | None = None


def _rank(modes: pl.DataFrame, rank_by: str) -> pl.DataFrame:
    """Order rows within each label by the ranking, the engine's order breaking ties."""
    if rank_by == "drop" or modes.height == 0:
        return modes
    order = pl.int_range(pl.len()).alias("_order")
    key = pl.col("q_value") if rank_by == "q_value" else -pl.col("impact")
    return (
        modes.with_columns(order).sort(["label", key, "_order"], maintain_order=True).drop("_order")
    )


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
    >>> index.search(min_support=2, min_drop=0.3).modes["tags"].to_list()
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
        predictions: pl.Series | None = None,
        correct: np.ndarray | None = None,
    ) -> None:
        self._engine = engine
        self._class_ids = class_ids
        self._predictions = predictions
        self._correct = correct
        self._labels = labels
        self._vocabulary = vocabulary
        self._build_min_tag_count = build_min_tag_count

    @classmethod
    def from_samples(cls, samples: SamplesLike, *, min_tag_count: int | None = None) -> TagIndex:
        """Build the index of a samples table (a DataFrame or a Parquet/CSV/JSON-lines path).

        Parameters
        ----------
        samples
            The samples table; see :mod:`prime_rs.io`.
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
        SearchParams(min_tag_count=min_tag_count)  # checks it
        df = load_samples(samples)
        return cls._from_validated(df, min_tag_count=min_tag_count)

    @classmethod
    def _from_validated(cls, df: pl.DataFrame, *, min_tag_count: int | None) -> TagIndex:
        label = df["label"]
        # String labels (categoricals too): encoded by the engine, read in place; other types
        # through Polars.
        if label.dtype in (pl.String, pl.Categorical) or isinstance(label.dtype, pl.Enum):
            values, class_ids = _engine.encode_strings(label.__arrow_c_stream__())
            labels = pl.Series(label.name, values, dtype=pl.String)
        else:
            labels = label.unique().sort()
            class_ids = _codes(label, labels)

        # Rows may repeat a tag: the engine counts it once. It reads the strings in place
        # (the Arrow C stream of the column, whatever its Arrow layout) and encodes them. The
        # Series' own stream, not a DataFrame's: Polars rebuilds a frame's chunks to export
        # it as record batches, which costs a third of a second on a million rows.
        correct = np.ascontiguousarray(df["correct"].to_numpy(), dtype=np.bool_)
        class_ids = np.ascontiguousarray(class_ids, dtype=np.uint32)
        build_min = min_tag_count or 1
        engine, vocabulary_list = _engine.TagIndex.from_arrow_tags(
            df["tags"].__arrow_c_stream__(), class_ids, correct, len(labels), build_min
        )
        vocabulary = pl.Series("tags", vocabulary_list, dtype=pl.String)
        predictions = None
        if "prediction" in df.columns:
            predictions = df["prediction"]
            if predictions.dtype == pl.Categorical or isinstance(predictions.dtype, pl.Enum):
                predictions = predictions.cast(pl.String)
        return cls(
            engine,
            labels,
            vocabulary,
            class_ids=class_ids,
            build_min_tag_count=build_min,
            predictions=predictions,
            correct=correct,
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
        # A copy (shallow, free): the caller may change it in place.
        return self._classes.clone()

    @functools.cached_property
    def _classes(self) -> pl.DataFrame:
        """:meth:`classes`' table, made once per index (its counts never change)."""
        n, k = self._engine.class_counts()
        n, k = np.asarray(n, dtype=np.int64), np.asarray(k, dtype=np.int64)
        # Built at once, without a query: a search makes this table, and a Polars query
        # costs a few hundred microseconds. (numpy's float64 division is Polars' own.)
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = k / n
        return pl.DataFrame(
            [
                self._labels.alias("label"),
                pl.Series("n_samples", n, dtype=pl.Int64),
                pl.Series("n_correct", k, dtype=pl.Int64),
                pl.Series("accuracy", accuracy, dtype=pl.Float64),
            ]
        )

    @functools.cached_property
    def _label_ids(self) -> dict[Any, int]:
        return {label: i for i, label in enumerate(self._labels.to_list())}

    @functools.cached_property
    def _vocabulary_ids(self) -> dict[str, int]:
        return {tag: i for i, tag in enumerate(self._vocabulary.to_list())}

    def _class_id(self, label: Any) -> int:
        i = self._label_ids.get(label) if isinstance(label, Hashable) else None
        # bool is an int: a True label must not match class 1
        if i is not None and type(label) is not bool:
            return i
        known = [repr(x) for x in self._labels.head(10).to_list()]  # quoted: names may hold commas
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
            i = self._vocabulary_ids.get(t)
            if i is None:
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

    def search(self, params: SearchParams | None = None, **keywords: Any) -> SearchResult:
        """Find every failure mode; the parameters are :class:`~prime_rs.SearchParams`' fields.

        Give a :class:`~prime_rs.SearchParams`, keywords (``max_tags=3``), or both (the
        keywords change the given parameters). The index is not changed: two threads may
        search one index at once.

        Returns
        -------
        SearchResult
            ``modes`` (the table :func:`~prime_rs.find_failure_modes` returns), ``summary``
            (one row per searched class: samples, accuracy, tag sets tested, hypotheses behind
            the q-values, modes found) and ``empty_reason`` (why there are no modes, or ``None``).

        Examples
        --------
        >>> from prime_rs import synthetic
        >>> data = synthetic.generate(synthetic.SMALL)
        >>> result = TagIndex.from_samples(data.samples).search(max_tags=3)
        >>> result.modes.columns[:4]
        ['label', 'tags', 'n_tags', 'support']
        >>> result.summary.columns
        ['label', 'n_samples', 'n_correct', 'accuracy', 'sets_tested', 'hypotheses', 'n_modes']
        """
        p = SearchParams.of(params, **keywords)
        class_ids = self._class_ids_of(p.labels)
        confusion = self._confusion_inputs if self._predictions is not None else None
        out = self._run(
            self._engine,
            p,
            class_ids=class_ids,
            q_values=p.q_values,
            names=self._tag_names,
            label_names=self._label_names,
            predictions=None if confusion is None else confusion[0],
        )
        # The engine sorts by class, drop (largest first), then tag ids; class ids and tag ids
        # follow the sorted labels and tag names, so this is the documented order. It also
        # makes the table, as one Arrow array: a Polars call costs tens of microseconds (and
        # hundreds on the caches a search leaves), which a search of milliseconds notices.
        modes = pl.DataFrame(out["table"])
        if self._label_names is None:
            # Labels that are not strings.
            modes.insert_column(0, self._label_column(out["class_id"]))
        if confusion is not None and confusion[2] is None:
            # Predictions that are not strings: after `impact`, by name (the null after the
            # names for a mode without errors).
            top, predicted = out["top"], confusion[1]
            confused = predicted.gather(np.where(top < 0, len(predicted) - 1, top))
            at = modes.get_column_index("impact") + 1
            modes.insert_column(at, confused.alias("confused_with"))
        # Modes per class, from the engine's class ids of the rows `select_modes` keeps.
        kept = kept_by_max_q(modes, p)
        class_id = out["class_id"] if kept is None else out["class_id"][kept]
        n_modes = np.bincount(class_id, minlength=len(self._labels))
        modes, reason = select_modes(modes, p, lambda: self.explain_empty(p))
        if class_ids is None:
            # Every class: no row selection (a Polars gather costs a search ~0.2 ms).
            summary = class_summary(
                self._classes, modes, out["sets_tested"], out["hypotheses"], n_modes=n_modes
            )
        else:
            wanted = sorted(set(class_ids))
            summary = class_summary(
                self._classes[wanted],
                modes,
                out["sets_tested"][wanted],
                out["hypotheses"][wanted],
                n_modes=n_modes[wanted],
            )
        return SearchResult(modes=modes, summary=summary, empty_reason=reason)

    def mode_columns(self) -> tuple[str, ...]:
        """Columns of this index's mode tables, in order.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"id": [1], "label": ["a"], "correct": [True], "tags": [["x"]]})
        >>> TagIndex.from_samples(df).mode_columns()[8:]
        ('accuracy_low', 'accuracy_high', 'p_value', 'q_value', 'impact')
        """
        extra = CONFUSION_COLUMNS if self._predictions is not None else ()
        return MODE_COLUMNS + TRUST_COLUMNS + extra

    @staticmethod
    def _run(
        engine: _engine.TagIndex,
        p: SearchParams,
        *,
        class_ids: list[int] | None,
        q_values: bool,
        names: _engine.TagNames | None = None,
        label_names: _engine.TagNames | None = None,
        predictions: _engine.Predictions | None = None,
    ) -> dict[str, Any]:
        return engine.search(
            max_tags=p.max_tags,
            min_support=p.min_support,
            min_drop=p.min_drop,
            necessity=list(p.necessity),
            min_tag_count=p.min_tag_count,
            classes=class_ids,
            threads=p.threads,
            beam_width=p.beam_width if p.search == "greedy" else None,
            q_values=q_values,
            names=names,
            label_names=label_names,
            z=z_of(p.confidence),
            predictions=predictions,
        )

    @functools.cached_property
    def _prediction_codes(
        self,
    ) -> tuple[np.ndarray, np.ndarray, pl.Series, _engine.TagNames | None]:
        """Each sample's prediction as a code into the sorted distinct predictions, the
        samples grouped by class (each class in input order); the class each code names (-1:
        none); the distinct predictions with a null after them (the name of "none"); and
        those as the engine's strings, when they are strings."""
        assert self._predictions is not None and self._class_ids is not None
        values = self._predictions.unique().sort()
        codes = _codes(self._predictions, values)
        order = np.argsort(self._class_ids, kind="stable")
        grouped = np.ascontiguousarray(codes[order], dtype=np.uint32)
        code_class = np.array(
            [-1 if (c := self._find_class(v)) is None else c for v in values.to_list()],
            dtype=np.int64,
        )
        names = pl.concat([values, pl.Series([None], dtype=values.dtype)])
        strings = (
            _engine.TagNames(values.to_list())
            if values.dtype == pl.String and values.null_count() == 0
            else None
        )
        return grouped, code_class, names, strings

    @functools.cached_property
    def _confusion_inputs(
        self,
    ) -> tuple[_engine.Predictions, pl.Series, _engine.TagNames | None]:
        """What every search with predictions needs, made once per index: the codes as the
        engine holds them (checked once), the names of the codes, and those as the engine's
        strings (then the engine names the confusions) or ``None``."""
        grouped, code_class, names, strings = self._prediction_codes
        return self._engine.predictions(grouped, code_class, strings), names, strings

    def _find_class(self, label: Any) -> int | None:
        try:
            return self._class_id(label)
        except InputError:
            return None

    def noise_control(
        self,
        params: SearchParams | None = None,
        *,
        runs: int = 20,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
        **keywords: Any,
    ) -> pl.DataFrame:
        """How many modes the same search finds when errors have nothing to do with tags.

        Each run permutes ``correct`` among the samples of each class (the tags, and so the
        structure of the lattice, stay as they are; only the link between tags and errors is
        broken) and counts the modes found. Cheap: the index's tag bitmaps are shared, only
        the correctness bitmaps are replaced. The search's parameters are those of
        :meth:`search` (``confidence``, ``rank_by`` and ``q_values`` do not change a count).
        Each run is a whole search: ``progress(done, runs)``, if given, is called after each.

        Returns
        -------
        polars.DataFrame
            ``run, label, n_modes``: one row per run and searched class (zeros included).

        Examples
        --------
        >>> from prime_rs import synthetic
        >>> index = TagIndex.from_samples(synthetic.generate(synthetic.SMALL).samples)
        >>> null = index.noise_control(runs=3, max_tags=3)
        >>> null.columns, null["run"].n_unique()
        (['run', 'label', 'n_modes'], 3)
        """
        if isinstance(runs, bool) or not isinstance(runs, numbers.Integral) or runs < 1:
            raise ParameterError(f"runs: must be a positive integer, got {runs!r}")
        p = SearchParams.of(params, **keywords)
        assert self._class_ids is not None and self._correct is not None
        class_ids = self._class_ids_of(p.labels)
        wanted = list(range(len(self._labels))) if class_ids is None else sorted(set(class_ids))
        by_class = np.argsort(self._class_ids, kind="stable")
        rows: dict[str, list[Any]] = {"run": [], "label": [], "n_modes": []}
        for run in range(int(runs)):
            rng = np.random.default_rng([seed, run])
            # Shuffle within each class: sort by (class, random key).
            shuffled = np.lexsort((rng.random(len(self._class_ids)), self._class_ids))
            permuted = np.empty_like(self._correct)
            permuted[by_class] = self._correct[shuffled]
            engine = self._engine.with_correct(
                np.ascontiguousarray(self._class_ids, dtype=np.uint32),
                np.ascontiguousarray(permuted, dtype=np.bool_),
            )
            out = self._run(engine, p, class_ids=class_ids, q_values=p.max_q is not None)
            keep = np.ones(len(out["class_id"]), dtype=bool)
            if p.max_q is not None:
                keep = out["q_value"] <= p.max_q
            found = np.bincount(out["class_id"][keep], minlength=len(self._labels))
            for c in wanted:
                rows["run"].append(run)
                rows["label"].append(self._labels[c])
                rows["n_modes"].append(int(found[c]))
            if progress is not None:
                progress(run + 1, int(runs))
        return pl.DataFrame(
            rows,
            schema={"run": pl.Int64, "label": self._labels.dtype, "n_modes": pl.Int64},
        )

    def explain_empty(self, params: SearchParams | None = None, **keywords: Any) -> str:
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
        p = SearchParams.of(params, **keywords)
        max_tags, min_support, min_drop, labels = p.max_tags, p.min_support, p.min_drop, p.labels
        min_tag_count = p.min_tag_count
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
        return empty_sentence(
            classes,
            lattice,
            threshold=threshold,
            max_tags=max_tags,
            min_support=min_support,
            min_drop=min_drop,
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
        p = SearchParams(
            max_tags=max_tags,
            min_support=min_support,
            min_tag_count=min_tag_count,
            labels=labels,
            threads=threads,
        )
        out = self._engine.frequent_sets(
            max_tags=p.max_tags,
            min_support=p.min_support,
            min_tag_count=p.min_tag_count,
            classes=self._class_ids_of(p.labels),
            threads=p.threads,
            names=self._tag_names,
            label_names=self._label_names,
        )
        # The engine makes the table, as one Arrow table built in parallel (tag lists as
        # string views: no Python object per tag).
        sets = pl.DataFrame(out["table"])
        if self._label_names is None:
            # Labels that are not strings.
            sets.insert_column(0, self._label_column(out["class_id"]))
        return sets

    def _label_column(self, class_id: np.ndarray) -> pl.Series:
        """The ``label`` column of rows of these class ids."""
        if len(class_id) <= SMALL_TABLE:
            # A few rows (most mode tables): labels looked up in a Python list, which beats
            # a Polars gather on caches that the search has just filled with its own data.
            labels = self._label_list
            return pl.Series(
                "label", [labels[c] for c in class_id.tolist()], dtype=self._labels.dtype
            )
        return self._labels.gather(class_id.astype(np.int64)).alias("label")

    @functools.cached_property
    def _label_list(self) -> list[Any]:
        """The labels as a Python list."""
        return self._labels.to_list()

    @functools.cached_property
    def _label_names(self) -> _engine.TagNames | None:
        """String labels as the engine's strings (``None`` for other labels)."""
        if self._labels.dtype != pl.String:
            return None
        return _engine.TagNames(self._label_list)

    @functools.cached_property
    def _tag_names(self) -> _engine.TagNames:
        """The vocabulary as the engine's Arrow string views."""
        return _engine.TagNames(self._vocabulary.to_list())


def _codes(values: pl.Series, sorted_unique: pl.Series) -> np.ndarray:
    """Position of each value in ``sorted_unique`` (which holds every value), as uint32."""
    if values.dtype == pl.String:
        # A hash look-up through an Enum is several times faster than a binary search.
        codes = values.cast(pl.Enum(sorted_unique.to_list())).to_physical()
    else:
        codes = sorted_unique.search_sorted(values, side="left")
    return np.ascontiguousarray(codes.cast(pl.UInt32).to_numpy(), dtype=np.uint32)


def empty_sentence(
    classes: pl.DataFrame,
    singletons: pl.DataFrame,
    *,
    threshold: int,
    max_tags: int,
    min_support: int,
    min_drop: float,
) -> str:
    """Why a search found no modes: the sentence of :meth:`TagIndex.explain_empty`, from the
    classes searched (``label``, ``accuracy``) and their single tags carried by at least
    ``threshold`` samples (``label``, ``tags``, ``accuracy``; the frequent sets' columns).

    Examples
    --------
    >>> classes = pl.DataFrame({"label": ["fox"], "accuracy": [0.9]})
    >>> ones = pl.DataFrame({"label": ["fox"], "tags": [["snow"]], "accuracy": [0.8]})
    >>> empty_sentence(classes, ones, threshold=30, max_tags=4, min_support=30, min_drop=0.3)[:63]
    'No failure modes: no tag set of at most 4 tags with at least 30'
    >>> empty_sentence(classes, ones.clear(), threshold=30, max_tags=4, min_support=30,
    ...                min_drop=0.3)[:59]
    'No failure modes: no class has a tag carried by at least 30'
    """
    if singletons.height == 0:
        knob = "min_support" if threshold == min_support else "min_tag_count"
        return (
            f"No failure modes: no class has a tag carried by at least {threshold} of its "
            f"samples ({knob}={threshold}); lower {knob}."
        )
    worst = (
        singletons.join(classes.select("label", "accuracy"), on="label")
        .with_columns(drop=pl.col("accuracy_right") - pl.col("accuracy"))
        .sort("drop", descending=True)
        .row(0, named=True)
    )
    return (
        f"No failure modes: no tag set of at most {max_tags} tags with at least "
        f"{min_support} samples is {min_drop:.0%} less accurate than its class (and minimal). "
        f"The largest drop of a single tag is {worst['drop']:.1%} "
        f"(class {worst['label']!r}, tag {worst['tags'][0]!r}); lower min_drop or "
        "min_support to see more."
    )


def kept_by_max_q(modes: pl.DataFrame, p: SearchParams) -> np.ndarray | None:
    """Which rows of a search's modes ``p.max_q`` keeps (a null q-value is not kept), or
    ``None`` when it keeps them all.

    Examples
    --------
    >>> modes = pl.DataFrame({"q_value": [0.01, 0.2, None]})
    >>> kept_by_max_q(modes, SearchParams(max_q=0.05)).tolist()
    [True, False, False]
    >>> kept_by_max_q(modes, SearchParams()) is None
    True
    """
    if p.max_q is None or modes.height == 0:
        return None
    return modes["q_value"].to_numpy() <= p.max_q


def select_modes(
    modes: pl.DataFrame, p: SearchParams, explain: Callable[[], str]
) -> tuple[pl.DataFrame, str | None]:
    """A search's modes after ``p.max_q`` and ``p.rank_by``, and when none is left, why
    (``explain()`` when the search found none), also logged as a warning."""
    found = modes.height
    smallest_q = 0.0
    kept = kept_by_max_q(modes, p)
    if kept is not None:
        smallest_q = float(modes["q_value"].to_numpy().min())
        modes = modes.filter(pl.Series(kept))
    modes = _rank(modes, p.rank_by)
    if modes.height:
        return modes, None
    if found:
        reason = (
            f"No failure modes with q_value <= {p.max_q}: the search found "
            f"{found} mode{'s' if found > 1 else ''}, the smallest q-value being "
            f"{smallest_q:.2g}; they may be noise (raise max_q to see them)."
        )
    else:
        reason = explain()
    logger.warning(reason)
    return modes, reason


def class_summary(
    classes: pl.DataFrame,
    modes: pl.DataFrame,
    sets_tested: Any,
    hypotheses: Any,
    n_modes: Any | None = None,
) -> pl.DataFrame:
    """The per-class summary of a search: ``classes`` (the searched classes' rows of
    :meth:`TagIndex.classes`) with the sets tested, the hypotheses behind the q-values and
    the number of modes, per class (``n_modes`` where the caller has counted them, in the
    order of ``classes``; otherwise counted from ``modes``).

    Examples
    --------
    >>> classes = pl.DataFrame({"label": ["a", "b"], "n_samples": [3, 4]})
    >>> modes = pl.DataFrame({"label": ["b", "b"]})
    >>> class_summary(classes, modes, [5, 6], [7, 8])["n_modes"].to_list()
    [0, 2]
    >>> class_summary(classes, modes, [5, 6], [7, 8], n_modes=[0, 2]).row(1)
    ('b', 4, 6, 8, 2)
    """
    if n_modes is None:
        found = dict(modes.group_by("label").len("n").iter_rows())
        n_modes = [found.get(label, 0) for label in classes["label"].to_list()]
    # Eager columns, no query (see `TagIndex.classes`).
    return classes.hstack(
        [
            pl.Series("sets_tested", sets_tested, dtype=pl.Int64),
            pl.Series("hypotheses", hypotheses, dtype=pl.Int64),
            pl.Series("n_modes", n_modes, dtype=pl.Int64),
        ]
    )
