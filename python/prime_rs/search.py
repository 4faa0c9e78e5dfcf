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
import functools
import logging
import math
import os
from collections.abc import Hashable, Iterable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from prime_rs import _engine
from prime_rs._columns import SMALL_TABLE
from prime_rs.errors import InputError, ParameterError
from prime_rs.io import SamplesLike, load_samples

__all__ = [
    "CONFUSION_COLUMNS",
    "MODE_COLUMNS",
    "TRUST_COLUMNS",
    "TagIndex",
    "find_failure_modes",
    "noise_control",
    "wilson_interval",
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
SEARCH_METHODS = ("exhaustive", "greedy")
RANKINGS = ("drop", "q_value", "impact")
DEFAULT_NECESSITY = (0.10, 0.05, 0.025)


def check_params(
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
        isinstance(min_tag_count, bool)
        or not isinstance(min_tag_count, (int, np.integer))
        or not 1 <= min_tag_count < 2**32
    ):
        raise bad("min_tag_count", f"must be a positive integer or None, got {min_tag_count!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1
    ):
        raise bad("threads", f"must be a positive integer or None (all cores), got {threads!r}")


def check_trust_params(
    *, search: str, beam_width: int, confidence: float, max_q: float | None, rank_by: str
) -> None:
    if search not in SEARCH_METHODS:
        raise ParameterError(f"search: must be one of {', '.join(SEARCH_METHODS)}, got {search!r}")
    if (
        isinstance(beam_width, bool)
        or not isinstance(beam_width, (int, np.integer))
        or beam_width < 1
    ):
        raise ParameterError(f"beam_width: must be a positive integer, got {beam_width!r}")
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ParameterError(f"confidence: must be in (0, 1), e.g. 0.95, got {confidence!r}")
    if max_q is not None and (
        not isinstance(max_q, (int, float)) or math.isnan(max_q) or not 0 <= max_q <= 1
    ):
        raise ParameterError(f"max_q: must be in [0, 1], e.g. 0.05, got {max_q!r}")
    if rank_by not in RANKINGS:
        raise ParameterError(f"rank_by: must be one of {', '.join(RANKINGS)}, got {rank_by!r}")


def wilson_interval(
    n_correct: np.ndarray, n: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the accuracy ``n_correct / n`` at ``confidence``.

    Examples
    --------
    >>> low, high = wilson_interval(np.array([8]), np.array([10]))
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.4902, 0.9433)
    """
    z = _z_of(confidence)
    k = np.asarray(n_correct, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z * z / n
        center = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


@functools.lru_cache(maxsize=8)
def _z_of(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95)."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


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
        self.last_sets_tested: dict[Any, int] = {}
        self.last_hypotheses: dict[Any, int] = {}
        #: Why the last search returned no modes (``None`` when it found some).
        self.last_empty_reason: str | None = None

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
        check_params(max_tags=1, min_support=1, min_tag_count=min_tag_count)
        df = load_samples(samples)
        return cls._from_validated(df, min_tag_count=min_tag_count)

    @classmethod
    def _from_validated(cls, df: pl.DataFrame, *, min_tag_count: int | None) -> TagIndex:
        label = df["label"]
        if label.dtype == pl.Categorical or isinstance(label.dtype, pl.Enum):
            label = label.cast(pl.String)
        # String labels: encoded by the engine, read in place; other types through Polars.
        encoded = (
            _engine.encode_strings(label.__arrow_c_stream__()) if label.dtype == pl.String else None
        )
        if encoded is not None:
            labels = pl.Series(label.name, encoded[0], dtype=pl.String)
            class_ids = encoded[1]
        else:
            labels = label.unique().sort()
            class_ids = _codes(label, labels)

        # Rows may repeat a tag: the engine counts it once.
        tags = df["tags"]
        correct = np.ascontiguousarray(df["correct"].to_numpy(), dtype=np.bool_)
        class_ids = np.ascontiguousarray(class_ids, dtype=np.uint32)
        build_min = min_tag_count or 1
        # The engine reads the strings in place (Arrow C stream) and encodes them itself;
        # a layout it does not know takes the Polars path below, with the same result.
        built = _engine.TagIndex.from_arrow_tags(
            tags.__arrow_c_stream__(), class_ids, correct, len(labels), build_min
        )
        if built is not None:
            engine, vocabulary_list = built
            vocabulary = pl.Series("tags", vocabulary_list, dtype=pl.String)
        else:
            engine, vocabulary = _build_from_polars(
                tags, class_ids, correct, len(labels), build_min
            )
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
        n, k = self._engine.class_counts()
        return pl.DataFrame(
            {
                "label": self._labels,
                "n_samples": pl.Series(n, dtype=pl.Int64),
                "n_correct": pl.Series(k, dtype=pl.Int64),
            }
        ).with_columns(accuracy=pl.col("n_correct") / pl.col("n_samples"))

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

    def search(
        self,
        *,
        max_tags: int = 4,
        min_support: int = 30,
        min_drop: float = 0.30,
        necessity: Sequence[float] = DEFAULT_NECESSITY,
        min_tag_count: int | None = None,
        labels: Iterable[Any] | None = None,
        threads: int | None = None,
        search: str = "exhaustive",
        beam_width: int = 100,
        confidence: float = 0.95,
        max_q: float | None = None,
        rank_by: str = "drop",
        q_values: bool = True,
    ) -> pl.DataFrame:
        """Find every failure mode; see :func:`find_failure_modes` for the parameters.

        The number of tag sets tested per class is left in :attr:`last_sets_tested`, and the
        number of hypotheses behind the q-values (frequent sets) in :attr:`last_hypotheses`.

        Examples
        --------
        >>> from prime_rs import synthetic
        >>> data = synthetic.generate(synthetic.SMALL)
        >>> modes = TagIndex.from_samples(data.samples).search(max_tags=3)
        >>> modes.columns[:4]
        ['label', 'tags', 'n_tags', 'support']
        """
        necessity = tuple(float(b) for b in necessity) if necessity is not None else ()
        check_params(
            max_tags=max_tags,
            min_support=min_support,
            min_drop=min_drop,
            necessity=necessity,
            min_tag_count=min_tag_count,
            threads=threads,
        )
        check_trust_params(
            search=search,
            beam_width=beam_width,
            confidence=confidence,
            max_q=max_q,
            rank_by=rank_by,
        )
        if max_q is not None and not q_values:
            raise ParameterError("max_q: needs q-values; leave q_values=True")
        class_ids = self._class_ids_of(labels)
        confusion = self._confusion_inputs if self._predictions is not None else None
        out = self._run(
            self._engine,
            max_tags=max_tags,
            min_support=min_support,
            min_drop=min_drop,
            necessity=necessity,
            min_tag_count=min_tag_count,
            class_ids=class_ids,
            threads=threads,
            beam_width=beam_width if search == "greedy" else None,
            q_values=q_values,
            names=self._tag_names,
            label_names=self._label_names,
            z=_z_of(confidence),
            predictions=None if confusion is None else confusion[0],
        )
        tested = out["sets_tested"].tolist()
        hypotheses = out["hypotheses"].tolist()
        wanted = range(len(self._labels)) if class_ids is None else sorted(set(class_ids))
        names = self._label_list
        self.last_sets_tested = {names[i]: tested[i] for i in wanted}
        self.last_hypotheses = {names[i]: hypotheses[i] for i in wanted}
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
        found = modes.height
        if max_q is not None:
            smallest_q = float(modes["q_value"].to_numpy().min()) if found else 0.0
            modes = modes.filter(pl.col("q_value") <= max_q)
        modes = _rank(modes, rank_by)
        self.last_empty_reason = None
        if modes.height == 0:
            if found:
                self.last_empty_reason = (
                    f"No failure modes with q_value <= {max_q}: the search found "
                    f"{found} mode{'s' if found > 1 else ''}, the smallest q-value being "
                    f"{smallest_q:.2g}; they may be noise (raise max_q to see them)."
                )
            else:
                self.last_empty_reason = self.explain_empty(
                    max_tags=max_tags,
                    min_support=min_support,
                    min_drop=min_drop,
                    min_tag_count=min_tag_count,
                    labels=labels,
                )
            logger.warning(self.last_empty_reason)
        return modes

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
        *,
        max_tags: int,
        min_support: int,
        min_drop: float,
        necessity: Sequence[float],
        min_tag_count: int | None,
        class_ids: list[int] | None,
        threads: int | None,
        beam_width: int | None,
        q_values: bool,
        names: _engine.TagNames | None = None,
        label_names: _engine.TagNames | None = None,
        z: float = 1.959963984540054,
        predictions: _engine.Predictions | None = None,
    ) -> dict[str, Any]:
        return engine.search(
            max_tags=int(max_tags),
            min_support=int(min_support),
            min_drop=float(min_drop),
            necessity=[float(b) for b in necessity],
            min_tag_count=None if min_tag_count is None else int(min_tag_count),
            classes=class_ids,
            threads=None if threads is None else int(threads),
            beam_width=None if beam_width is None else int(beam_width),
            q_values=q_values,
            names=names,
            label_names=label_names,
            z=z,
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
        *,
        runs: int = 20,
        seed: int = 0,
        max_tags: int = 4,
        min_support: int = 30,
        min_drop: float = 0.30,
        necessity: Sequence[float] = DEFAULT_NECESSITY,
        min_tag_count: int | None = None,
        labels: Iterable[Any] | None = None,
        threads: int | None = None,
        search: str = "exhaustive",
        beam_width: int = 100,
        max_q: float | None = None,
    ) -> pl.DataFrame:
        """How many modes the same search finds when errors have nothing to do with tags.

        Each run permutes ``correct`` among the samples of each class (the tags, and so the
        structure of the lattice, stay as they are; only the link between tags and errors is
        broken) and counts the modes found. Cheap: the index's tag bitmaps are shared, only
        the correctness bitmaps are replaced.

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
        if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
            raise ParameterError(f"runs: must be a positive integer, got {runs!r}")
        necessity = tuple(float(b) for b in necessity)
        check_params(
            max_tags=max_tags,
            min_support=min_support,
            min_drop=min_drop,
            necessity=necessity,
            min_tag_count=min_tag_count,
            threads=threads,
        )
        check_trust_params(
            search=search, beam_width=beam_width, confidence=0.95, max_q=max_q, rank_by="drop"
        )
        assert self._class_ids is not None and self._correct is not None
        class_ids = self._class_ids_of(labels)
        wanted = list(range(len(self._labels))) if class_ids is None else sorted(set(class_ids))
        by_class = np.argsort(self._class_ids, kind="stable")
        rows: dict[str, list[Any]] = {"run": [], "label": [], "n_modes": []}
        for run in range(runs):
            rng = np.random.default_rng([seed, run])
            # Shuffle within each class: sort by (class, random key).
            shuffled = np.lexsort((rng.random(len(self._class_ids)), self._class_ids))
            permuted = np.empty_like(self._correct)
            permuted[by_class] = self._correct[shuffled]
            engine = self._engine.with_correct(
                np.ascontiguousarray(self._class_ids, dtype=np.uint32),
                np.ascontiguousarray(permuted, dtype=np.bool_),
            )
            out = self._run(
                engine,
                max_tags=max_tags,
                min_support=min_support,
                min_drop=min_drop,
                necessity=necessity,
                min_tag_count=min_tag_count,
                class_ids=class_ids,
                threads=threads,
                beam_width=beam_width if search == "greedy" else None,
                q_values=max_q is not None,
            )
            keep = np.ones(len(out["class_id"]), dtype=bool)
            if max_q is not None:
                keep = out["q_value"] <= max_q
            found = np.bincount(out["class_id"][keep], minlength=len(self._labels))
            for c in wanted:
                rows["run"].append(run)
                rows["label"].append(self._labels[c])
                rows["n_modes"].append(int(found[c]))
        return pl.DataFrame(
            rows,
            schema={"run": pl.Int64, "label": self._labels.dtype, "n_modes": pl.Int64},
        )

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
        worst = (
            lattice.join(classes.select("label", "accuracy"), on="label")
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
        check_params(
            max_tags=max_tags,
            min_support=min_support,
            min_tag_count=min_tag_count,
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
        offsets = out["offsets"]
        data: dict[str, pl.Series] = {
            "label": self._label_column(out["class_id"]),
            # The tag lists come from the engine as one Arrow array (no Python object per tag).
            "tags": pl.Series(
                "tags",
                self._tag_names.lists(
                    np.ascontiguousarray(offsets, dtype=np.uint64),
                    np.ascontiguousarray(out["tags"], dtype=np.uint32),
                ),
            ),
            "n_tags": pl.Series(np.diff(offsets.astype(np.int64)), dtype=pl.Int64),
            "support": pl.Series(out["support"], dtype=pl.Int64),
            "n_correct": pl.Series(out["n_correct"], dtype=pl.Int64),
        }
        for col in extra:
            data[col] = pl.Series(out[col], dtype=pl.Float64)
        return pl.DataFrame(data)

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


def _build_from_polars(
    tags: pl.Series, class_ids: np.ndarray, correct: np.ndarray, n_classes: int, build_min: int
) -> tuple[_engine.TagIndex, pl.Series]:
    """The index and the sorted vocabulary, with the tag ids computed by Polars."""
    lengths = tags.list.len().to_numpy().astype(np.uint64)
    flat = tags.explode().drop_nulls()
    vocabulary = flat.unique().sort()
    indices = _codes(flat, vocabulary)
    indptr = np.zeros(len(lengths) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=indptr[1:])
    engine = _engine.TagIndex.from_csr(
        indptr, indices, class_ids, correct, n_classes, len(vocabulary), build_min
    )
    return engine, vocabulary


def _codes(values: pl.Series, sorted_unique: pl.Series) -> np.ndarray:
    """Position of each value in ``sorted_unique`` (which holds every value), as uint32."""
    if values.dtype == pl.String:
        # A hash look-up through an Enum is several times faster than a binary search.
        codes = values.cast(pl.Enum(sorted_unique.to_list())).to_physical()
    else:
        codes = sorted_unique.search_sorted(values, side="left")
    return np.ascontiguousarray(codes.cast(pl.UInt32).to_numpy(), dtype=np.uint32)


def find_failure_modes(
    samples: SamplesLike,
    *,
    max_tags: int = 4,
    min_support: int = 30,
    min_drop: float = 0.30,
    necessity: Sequence[float] = DEFAULT_NECESSITY,
    min_tag_count: int | None = None,
    labels: Iterable[Any] | None = None,
    threads: int | None = None,
    search: str = "exhaustive",
    beam_width: int = 100,
    confidence: float = 0.95,
    max_q: float | None = None,
    rank_by: str = "drop",
    q_values: bool = True,
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
    search
        ``"exhaustive"`` (every set; the default) or ``"greedy"``: a beam search (paper
        appendix A.6) keeping, at each size, the ``beam_width`` sets of largest drop that meet
        the support. Greedy modes are always exhaustive modes with the same statistics, but
        greedy may miss some.
    beam_width
        Sets kept per size and class by the greedy search.
    confidence
        Level of the Wilson interval ``accuracy_low`` .. ``accuracy_high``.
    max_q
        Keep only modes whose ``q_value`` is at most this (e.g. 0.05).
    rank_by
        Order of modes within a class: ``"drop"`` (largest first), ``"q_value"`` (smallest
        first) or ``"impact"`` (most errors accounted for first).
    q_values
        Compute q-values (one more walk of the lattice of each class that has a mode, the
        price of an exact false-discovery rate); ``False`` leaves ``q_value`` null and is
        faster for parameter sweeps.

    Returns
    -------
    polars.DataFrame
        One row per mode: ``label, tags, n_tags, support, accuracy, class_accuracy, drop,
        necessity`` (the smallest ``A_{S-t} - A_S``), then ``accuracy_low, accuracy_high``
        (Wilson interval), ``p_value`` (one-sided binomial probability of an accuracy this low
        in a group this size at the class's accuracy), ``q_value`` (Benjamini–Hochberg over
        every frequent set of the searched classes), ``impact`` (``support * (class_accuracy -
        accuracy)``: the errors beyond the class's rate), and, when predictions are known,
        ``confused_with`` (most common wrong prediction in the group), ``confused_share`` (its
        share of the group's errors) and ``tag_lift`` (how much more frequent the tag set is
        in the ``confused_with`` class than in its own). Sorted by label, then the ranking,
        then tags. An empty result is an empty table with these columns; the reason is
        logged on the ``prime_rs`` logger.

    Notes
    -----
    The q-values treat every frequent tag set of every searched class (at most ``max_tags``
    tags, support at least ``min_support``; the counts are in ``TagIndex.last_hypotheses``)
    as one family of hypotheses, each tested against its own class's accuracy: a family
    fixed by the tags alone, before looking at which predictions are correct, and one family
    for all classes so that false discoveries do not add up across classes.

    What a q-value promises: among modes kept with ``q_value <= 0.05``, the expected share
    of groups whose true accuracy is not below their class's accuracy is at most 5%, *if*
    the tests are independent or positively dependent. They are not independent
    (overlapping tag sets share samples); positive dependence is plausible but not
    guaranteed. A q-value says nothing about the size of the drop, nor whether the tags
    *cause* the errors. Use :func:`noise_control` to see how many modes the same search
    finds when errors are unrelated to tags.

    Examples
    --------
    >>> import prime_rs
    >>> from prime_rs import synthetic
    >>> data = synthetic.generate(synthetic.SMALL)
    >>> modes = prime_rs.find_failure_modes(data.samples, max_tags=3, min_support=20)
    >>> bool((modes["drop"] >= 0.3).all())
    True
    """
    check_params(
        max_tags=max_tags,
        min_support=min_support,
        min_drop=min_drop,
        necessity=necessity,
        min_tag_count=min_tag_count,
        threads=threads,
    )
    check_trust_params(
        search=search,
        beam_width=beam_width,
        confidence=confidence,
        max_q=max_q,
        rank_by=rank_by,
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
        search=search,
        beam_width=beam_width,
        confidence=confidence,
        max_q=max_q,
        rank_by=rank_by,
        q_values=q_values,
    )


def noise_control(
    samples: SamplesLike | TagIndex,
    *,
    runs: int = 20,
    seed: int = 0,
    **search_params: Any,
) -> pl.DataFrame:
    """Count the modes a search finds when errors are shuffled within each class.

    A cheap null model: it keeps the tags (so the lattice is the same) and breaks only their
    link to errors. Compare ``n_modes`` per run with the real search's count: modes the
    real data has far beyond this are unlikely to be noise. See :meth:`TagIndex.noise_control`.

    Parameters
    ----------
    samples
        A samples table or path, or a :class:`TagIndex` already built.
    runs
        Number of shuffles.
    seed
        Seed of the shuffles; the same seed gives the same table.
    **search_params
        The search's parameters (``max_tags``, ``min_support``, ``min_drop``, ``necessity``,
        ``min_tag_count``, ``labels``, ``threads``, ``search``, ``beam_width``, ``max_q``).

    Returns
    -------
    polars.DataFrame
        ``run, label, n_modes``.

    Examples
    --------
    >>> import prime_rs
    >>> from prime_rs import synthetic
    >>> null = prime_rs.noise_control(synthetic.generate(synthetic.SMALL).samples, runs=2)
    >>> sorted(null["run"].unique().to_list())
    [0, 1]
    """
    index = samples if isinstance(samples, TagIndex) else TagIndex.from_samples(samples)
    allowed = {
        "max_tags",
        "min_support",
        "min_drop",
        "necessity",
        "min_tag_count",
        "labels",
        "threads",
        "search",
        "beam_width",
        "max_q",
    }
    unknown = sorted(set(search_params) - allowed)
    if unknown:
        raise ParameterError(
            f"noise_control: unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}; it takes {', '.join(sorted(allowed))}"
        )
    return index.noise_control(runs=runs, seed=seed, **search_params)


def default_threads() -> int:
    """Threads a search uses when none is given: one per available core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
