"""The analyses of PRIME section 5: why a mode needs all of its tags, and how tags relate to
the geometry of an embedding space.

* :func:`ladder` — Tables 1 and 4: the accuracy of a mode, of every subset of its tags and
  of every single tag, on the detect split and on unseen data.
* :func:`tag_overlap` — Table 2: the holdout drop of a mode of ``k`` tags against groups
  having at least ``k - 1`` of its tags and at least one.
* :func:`distance_by_shared_tags` — Table 3: distance between two images of a class,
  conditioned on how many tags they share.
* :func:`neighbor_shared_tags` — Tables 5–7: tags shared with the ``N`` nearest neighbours
  in embedding space, against random images of the class and the best possible (the ``N``
  images sharing the most tags).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError, ParameterError
from prime_rs.evaluate._common import Groups, as_samples, progress
from prime_rs.evaluate.embeddings import EmbeddingsLike, align_embeddings
from prime_rs.index import TagIndex
from prime_rs.io import SamplesLike
from prime_rs.stats import wilson_interval

__all__ = [
    "MAX_LADDER_TAGS",
    "distance_by_shared_tags",
    "ladder",
    "neighbor_shared_tags",
    "tag_overlap",
    "tag_overlap_summary",
]

#: A ladder lists 2**k subsets: more tags than this is a mistake, not a mode.
MAX_LADDER_TAGS = 10


def _index(samples: SamplesLike | TagIndex) -> TagIndex:
    return samples if isinstance(samples, TagIndex) else TagIndex.from_samples(samples)


def _clean_tags(tags: Iterable[str] | str) -> list[str]:
    if isinstance(tags, str):
        tags = [t for t in tags.split(",")]
    out = []
    for t in tags:
        if not isinstance(t, str):
            raise InputError(f"tags must be strings, got {t!r}")
        t = t.strip()
        if not t:
            raise InputError("tags: an empty tag name; separate tags with commas, e.g. snow,night")
        if t not in out:
            out.append(t)
    return sorted(out)


def _resolve_label(index: TagIndex, label: Any) -> Any:
    """``label`` as the index spells it: ``"3"`` names class 3 when the labels are numbers."""
    labels = index.labels
    if label in labels:
        return label
    for known in labels:
        if str(known) == str(label):
            return known
    return label  # the index's own error names the classes


def ladder(
    samples: SamplesLike | TagIndex,
    label: Any,
    tags: Iterable[str] | str,
    *,
    holdout: SamplesLike | TagIndex | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """The accuracy ladder of a tag set: the class, every subset, the full set (Tables 1, 4).

    Parameters
    ----------
    samples
        The detect samples (or their :class:`prime_rs.TagIndex`).
    label
        The class.
    tags
        The tag set (a list, or one string separated by commas).
    holdout
        Unseen samples to measure the same groups on.
    confidence
        Level of the Wilson intervals.

    Returns
    -------
    polars.DataFrame
        One row per subset, by size then tags (the empty set is the whole class):
        ``tags, n_tags, support, accuracy, accuracy_low, accuracy_high, drop`` (class
        accuracy minus the group's) and, with a holdout, the same measured on it with the
        prefix ``holdout_``.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"id": range(5), "label": ["ape"] * 5,
    ...                    "correct": [False, False, True, True, True],
    ...                    "tags": [["branch", "hang"], ["branch", "hang"], ["branch"],
    ...                             ["hang"], []]})
    >>> ladder(df, "ape", "hang,branch").select("tags", "support", "accuracy").rows()
    [([], 5, 0.6), (['branch'], 3, 0.3333333333333333), (['hang'], 3, 0.3333333333333333), \
(['branch', 'hang'], 2, 0.0)]
    """
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence: must be in (0, 1), e.g. 0.95, got {confidence!r}")
    wanted = _clean_tags(tags)
    if not wanted:
        raise InputError("tags: give at least one tag")
    if len(wanted) > MAX_LADDER_TAGS:
        raise InputError(
            f"tags: {len(wanted)} tags make {2 ** len(wanted):,} subsets; give at most "
            f"{MAX_LADDER_TAGS}"
        )
    index = _index(samples)
    label = _resolve_label(index, label)
    subsets = [list(c) for k in range(len(wanted) + 1) for c in combinations(wanted, k)]
    detect = _ladder_rows(index, label, subsets, confidence, strict=True)
    out = pl.DataFrame(
        {
            "tags": pl.Series(subsets, dtype=pl.List(pl.String)),
            "n_tags": pl.Series([len(s) for s in subsets], dtype=pl.Int64),
        }
    ).hstack(detect)
    if holdout is not None:
        h_index = _index(holdout)
        h_label = _resolve_label(h_index, label)
        held = _ladder_rows(h_index, h_label, subsets, confidence, strict=False)
        out = out.hstack(held.rename({c: f"holdout_{c}" for c in held.columns}))
    return out


def _ladder_rows(
    index: TagIndex, label: Any, subsets: list[list[str]], confidence: float, *, strict: bool
) -> pl.DataFrame:
    vocabulary = set(index.vocabulary)
    known_class = label in index.labels
    if strict and not known_class:
        index.stats(label, [])  # raises the index's error, which names the classes
    support = np.zeros(len(subsets), dtype=np.int64)
    correct = np.zeros(len(subsets), dtype=np.int64)
    for i, s in enumerate(subsets):
        unknown = [t for t in s if t not in vocabulary]
        if unknown and strict:
            index.stats(label, s)  # raises "unknown tag ... did you mean"
        if known_class and not unknown:
            st = index.stats(label, s)
            support[i], correct[i] = st["support"], st["n_correct"]
    measured = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.where(measured, correct / np.maximum(support, 1), np.nan)
    low, high = wilson_interval(correct, support, confidence)
    class_acc = acc[0]

    def col(v: np.ndarray) -> pl.Series:
        return pl.Series(np.where(measured, v, np.nan), dtype=pl.Float64, nan_to_null=True)

    return pl.DataFrame(
        {
            "support": pl.Series(support, dtype=pl.Int64),
            "accuracy": col(acc),
            "accuracy_low": col(low),
            "accuracy_high": col(high),
            "drop": col(class_acc - acc),
        }
    )


def tag_overlap(modes: pl.DataFrame, samples: SamplesLike) -> pl.DataFrame:
    """Holdout drop of each mode's full tag set against groups with fewer of its tags (Table 2).

    For a mode ``S`` of ``k >= 2`` tags in class ``c``, three groups of the samples of ``c``
    are measured: those carrying all ``k`` tags, those carrying at least ``k - 1`` of them,
    and those carrying at least one. If the tags *together* explain the failure, the drop
    falls steeply from the first group to the others.

    Parameters
    ----------
    modes
        A mode table (``label``, ``tags``); modes of one tag are left out.
    samples
        The samples to measure on, usually the holdout split.

    Returns
    -------
    polars.DataFrame
        ``label, tags, n_tags``, then for ``all``, ``k_minus_1`` and ``any``: the support
        (``support_all`` ...) and drop against the class accuracy (``drop_all`` ...; null
        for an empty group).

    Examples
    --------
    >>> import polars as pl
    >>> s = pl.DataFrame({"id": range(6), "label": ["a"] * 6,
    ...                   "correct": [False, True, True, True, True, True],
    ...                   "tags": [["x", "y"], ["x"], ["y"], ["x"], [], []]})
    >>> m = pl.DataFrame({"label": ["a"], "tags": [["x", "y"]]})
    >>> t = tag_overlap(m, s)
    >>> t.select("support_all", "support_k_minus_1", "support_any").row(0)
    (1, 4, 4)
    >>> round(t["drop_all"][0], 4), round(t["drop_any"][0], 4)
    (0.8333, 0.0833)
    """
    df = as_samples(samples)
    groups = Groups(df)
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "label",
            "tags",
            "n_tags",
            "support_all",
            "drop_all",
            "support_k_minus_1",
            "drop_k_minus_1",
            "support_any",
            "drop_any",
        )
    }
    labels = {str(x): x for x in groups.classes}
    for label, tags in modes.select("label", "tags").iter_rows():
        tags = sorted(set(tags or []))
        k = len(tags)
        if k < 2:
            continue
        key = label if label in groups.classes else labels.get(str(label), label)
        class_rows = groups.class_rows(key)
        counts = groups.shared_counts(key, tags)
        class_acc = groups.accuracy(class_rows)
        rows["label"].append(label)
        rows["tags"].append(tags)
        rows["n_tags"].append(k)
        for name, need in (("all", k), ("k_minus_1", k - 1), ("any", 1)):
            members = class_rows[counts >= need]
            acc = groups.accuracy(members)
            rows[f"support_{name}"].append(len(members))
            rows[f"drop_{name}"].append(
                None if acc is None or class_acc is None else class_acc - acc
            )
    schema: dict[str, Any] = {
        "label": modes.schema["label"],
        "tags": pl.List(pl.String),
        "n_tags": pl.Int64,
    }
    for name in ("all", "k_minus_1", "any"):
        schema[f"support_{name}"] = pl.Int64
        schema[f"drop_{name}"] = pl.Float64
    return pl.DataFrame(rows, schema=schema)


def tag_overlap_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Table 2 itself: mean drops per mode size, over the modes measured on all three groups.

    Examples
    --------
    >>> import polars as pl
    >>> t = pl.DataFrame({"n_tags": [2, 2], "drop_all": [0.4, 0.2],
    ...                   "drop_k_minus_1": [0.1, 0.1], "drop_any": [0.0, 0.1]})
    >>> tag_overlap_summary(t).row(0)
    (2, 2, 0.30000000000000004, 0.1, 0.05)
    """
    measured = table.drop_nulls(["drop_all", "drop_k_minus_1", "drop_any"])
    return (
        measured.group_by("n_tags")
        .agg(
            n_modes=pl.len().cast(pl.Int64),
            mean_drop_all=pl.col("drop_all").mean(),
            mean_drop_k_minus_1=pl.col("drop_k_minus_1").mean(),
            mean_drop_any=pl.col("drop_any").mean(),
        )
        .sort("n_tags")
    )


# -- embedding space ------------------------------------------------------------------------


def _tag_matrix(df: pl.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Dense 0/1 matrix (rows x distinct tags of these rows), float32 for matmul counting."""
    sub = df["tags"].gather(rows)
    flat = sub.explode().drop_nulls()
    vocab = flat.unique().sort()
    m = np.zeros((len(rows), max(len(vocab), 1)), dtype=np.float32)
    if len(vocab) == 0:
        return m
    lengths = sub.list.len().fill_null(0).to_numpy()
    row_of = np.repeat(np.arange(len(rows)), lengths)
    codes = vocab.search_sorted(sub.explode().drop_nulls(), side="left").to_numpy()
    m[row_of, codes] = 1.0
    return m


def _normalized(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _check_metric(metric: str) -> None:
    if metric not in ("cosine", "euclidean"):
        raise ParameterError(f"metric: must be 'cosine' or 'euclidean', got {metric!r}")


def distance_by_shared_tags(
    samples: SamplesLike,
    embeddings: EmbeddingsLike,
    *,
    max_shared: int = 4,
    pairs_per_class: int = 20_000,
    metric: str = "cosine",
    seed: int = 0,
    labels: Sequence[Any] | None = None,
) -> pl.DataFrame:
    """Mean distance between two images of a class, by the number of tags they share (Table 3).

    Pairs of distinct images are drawn at random within each class (seeded), so the cost
    does not grow with the square of the class size.

    Parameters
    ----------
    samples
        The samples table.
    embeddings
        One vector per sample: an array aligned with the table's rows, or a table with
        ``id`` and ``embedding`` columns.
    max_shared
        Pairs sharing at least this many tags are pooled into the last row.
    pairs_per_class
        Pairs drawn per class (all pairs when a class has fewer).
    metric
        ``"cosine"`` (1 - cosine similarity) or ``"euclidean"``.
    seed
        Seed of the pair sampling.
    labels
        Only these classes.

    Returns
    -------
    polars.DataFrame
        ``shared_tags`` (0 .. ``max_shared``; the last means "at least"), ``n_pairs``,
        ``mean_distance``, ``std_distance``.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> s = pl.DataFrame({"id": range(3), "label": ["a"] * 3, "correct": [True] * 3,
    ...                   "tags": [["x"], ["x"], []]})
    >>> e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> distance_by_shared_tags(s, e, max_shared=1).select("shared_tags", "n_pairs",
    ...                                                     "mean_distance").rows()
    [(0, 2, 1.0), (1, 1, 0.0)]
    """
    _check_metric(metric)
    if max_shared < 1:
        raise ParameterError(f"max_shared: must be at least 1, got {max_shared}")
    if pairs_per_class < 1:
        raise ParameterError(f"pairs_per_class: must be at least 1, got {pairs_per_class}")
    df = as_samples(samples)
    emb = align_embeddings(df, embeddings)
    if metric == "cosine":
        emb = _normalized(emb)
    groups = Groups(df)
    rng = np.random.default_rng(seed)
    shared_parts, dist_parts = [], []
    for label in _labels(groups, labels):
        rows = groups.class_rows(label)
        n = len(rows)
        if n < 2:
            continue
        total = n * (n - 1) // 2
        if total <= pairs_per_class:
            i, j = np.triu_indices(n, k=1)
        else:
            i = rng.integers(0, n, size=pairs_per_class)
            j = (i + rng.integers(1, n, size=pairs_per_class)) % n
        tags = _tag_matrix(df, rows)
        shared = (tags[i] * tags[j]).sum(axis=1).astype(np.int64)
        a, b = emb[rows[i]], emb[rows[j]]
        cosine = metric == "cosine"
        dist = 1.0 - (a * b).sum(axis=1) if cosine else np.linalg.norm(a - b, axis=1)
        shared_parts.append(np.minimum(shared, max_shared))
        dist_parts.append(dist)
    if not shared_parts:
        raise InputError("no class has two samples: there are no pairs to measure")
    frame = pl.DataFrame(
        {
            "shared_tags": pl.Series(np.concatenate(shared_parts), dtype=pl.Int64),
            "distance": pl.Series(np.concatenate(dist_parts), dtype=pl.Float64),
        }
    )
    return (
        frame.group_by("shared_tags")
        .agg(
            n_pairs=pl.len().cast(pl.Int64),
            mean_distance=pl.col("distance").mean(),
            std_distance=pl.col("distance").std(),
        )
        .sort("shared_tags")
    )


def _labels(groups: Groups, labels: Sequence[Any] | None) -> list[Any]:
    if labels is None:
        return groups.classes
    known = {str(x): x for x in groups.classes}
    out = []
    for x in labels:
        if x in groups.classes:
            out.append(x)
        elif str(x) in known:
            out.append(known[str(x)])
        else:
            raise InputError(f"unknown label {x!r}; the samples have {', '.join(known)}")
    return out


def neighbor_shared_tags(
    samples: SamplesLike,
    embeddings: EmbeddingsLike,
    *,
    n_neighbors: Sequence[int] = (1, 5, 10),
    queries_per_class: int = 1000,
    metric: str = "cosine",
    seed: int = 0,
    labels: Sequence[Any] | None = None,
    show_progress: bool = True,
) -> pl.DataFrame:
    """Tags an image shares with its nearest neighbours in embedding space (Tables 5–7).

    For query images drawn from each class, the ``N`` nearest other images of the same class
    in embedding space are compared with ``N`` random images of the class and with the ``N``
    images sharing the most tags with the query (nearest in tag space, the most any
    neighbourhood can share). Embeddings that reflect the tags share far more than random.

    Parameters
    ----------
    samples, embeddings
        As in :func:`distance_by_shared_tags`.
    n_neighbors
        The values of ``N``.
    queries_per_class
        Query images drawn per class (all images of smaller classes).
    metric
        ``"cosine"`` or ``"euclidean"``.
    seed
        Seed of the query and random-neighbour draws.
    labels
        Only these classes.
    show_progress
        Show a progress bar over the classes.

    Returns
    -------
    polars.DataFrame
        One row per ``N``: ``n_neighbors, n_queries, shared_embedding`` (mean tags shared
        with the ``N`` nearest neighbours), ``shared_random``, ``shared_tag_space``.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> s = pl.DataFrame({"id": range(4), "label": ["a"] * 4, "correct": [True] * 4,
    ...                   "tags": [["x"], ["x"], ["y"], ["y"]]})
    >>> e = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> t = neighbor_shared_tags(s, e, n_neighbors=[1], show_progress=False)
    >>> t.select("shared_embedding", "shared_tag_space").row(0)
    (1.0, 1.0)
    """
    _check_metric(metric)
    ns = sorted({int(n) for n in n_neighbors})
    if not ns or ns[0] < 1:
        raise ParameterError(f"n_neighbors: must be positive integers, got {list(n_neighbors)}")
    if queries_per_class < 1:
        raise ParameterError(f"queries_per_class: must be at least 1, got {queries_per_class}")
    df = as_samples(samples)
    emb = align_embeddings(df, embeddings).astype(np.float32)
    if metric == "cosine":
        emb = _normalized(emb)
    groups = Groups(df)
    rng = np.random.default_rng(seed)
    sums = {n: np.zeros(3) for n in ns}
    counts = dict.fromkeys(ns, 0)
    chosen = _labels(groups, labels)
    for label in progress(chosen, total=len(chosen), desc="neighbours", enabled=show_progress):
        rows = groups.class_rows(label)
        n_rows = len(rows)
        usable = [n for n in ns if n <= n_rows - 1]
        if not usable:
            continue
        top = max(usable)
        tags = _tag_matrix(df, rows)
        x = emb[rows]
        queries = (
            np.arange(n_rows)
            if n_rows <= queries_per_class
            else np.sort(rng.choice(n_rows, queries_per_class, replace=False))
        )
        for start in range(0, len(queries), 256):
            q = queries[start : start + 256]
            if metric == "cosine":
                dist = -(x[q] @ x.T)
            else:
                dist = (x[q] ** 2).sum(1)[:, None] - 2 * x[q] @ x.T + (x**2).sum(1)[None, :]
            dist[np.arange(len(q)), q] = np.inf  # never one's own neighbour
            shared = tags[q] @ tags.T
            shared[np.arange(len(q)), q] = -1.0
            near = np.argsort(dist, axis=1, kind="stable")[:, :top]
            best = -np.sort(-shared, axis=1)[:, :top]
            # Random neighbours: a random permutation of the others, per query.
            keys = rng.random((len(q), n_rows))
            keys[np.arange(len(q)), q] = np.inf
            rand = np.argsort(keys, axis=1)[:, :top]
            got_near = np.take_along_axis(shared, near, axis=1)
            got_rand = np.take_along_axis(shared, rand, axis=1)
            for n in usable:
                sums[n] += [
                    got_near[:, :n].mean(axis=1).sum(),
                    got_rand[:, :n].mean(axis=1).sum(),
                    best[:, :n].mean(axis=1).sum(),
                ]
                counts[n] += len(q)
    done = [n for n in ns if counts[n]]
    if not done:
        raise InputError(f"no class has more than {ns[0]} samples: no image has {ns[0]} neighbours")
    return pl.DataFrame(
        {
            "n_neighbors": pl.Series(done, dtype=pl.Int64),
            "n_queries": pl.Series([counts[n] for n in done], dtype=pl.Int64),
            "shared_embedding": [sums[n][0] / counts[n] for n in done],
            "shared_random": [sums[n][1] / counts[n] for n in done],
            "shared_tag_space": [sums[n][2] / counts[n] for n in done],
        }
    )
