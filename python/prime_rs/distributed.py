"""The failure-mode search on a Ray cluster, for samples tables larger than one machine.

Classes are independent in PRIME's search, so the work is split by class: the driver (this
process) reads the ``label`` column only, to know the classes and their sizes; one Ray task
per class reads that class's rows (from a Parquet file or a folder of Parquet files, with
the label filter pushed down into the reader), builds its :class:`~prime_rs.TagIndex`,
searches it and sends back its modes, its counts and its share of the q-values' family (the
distinct p-values of its frequent tag sets, with their multiplicities). The driver computes
the Benjamini–Hochberg q-values once, over every class's hypotheses, exactly as the local
search does, so the result is the local result, row for row and bit for bit, whatever the
number of nodes and workers. A worker needs the memory of its class, not of the table.

Two things cross classes and are handled on the driver: the q-values (above), and
``tag_lift``, which needs a mode's support in the class it is mistaken for; a second, small
round of tasks counts those supports on the classes concerned.

Tables in memory, and CSV or JSON files, are read on the driver and each class is shipped
to its task through Ray's object store; only Parquet is read on the workers.

The functions here run inside :func:`prime_rs._ray.connect` (``ray=True``: the cluster that
``RAY_ADDRESS`` names, else a local one; a string: that address). Call them through
``find_failure_modes(..., ray=...)`` and ``noise_control(..., ray=...)``, or ``prime search
--ray``.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import os
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prime_rs._ray import RayOption, connect
from prime_rs.errors import InputError, ParameterError, PrimeError
from prime_rs.index import (
    SearchResult,
    TagIndex,
    class_summary,
    empty_sentence,
    select_modes,
)
from prime_rs.io import SamplesLike, load_samples, parquet_files, source_name
from prime_rs.params import SearchParams

__all__ = ["ClusterSearch", "Progress", "labels_of", "q_values", "search"]

logger = logging.getLogger("prime_rs")

#: Called on the driver as classes finish: ``(classes done, classes in all)``.
Progress = Callable[[int, int], None]

_PARQUET = (".parquet", ".pq")


@dataclasses.dataclass(frozen=True)
class ClusterSearch:
    """What :func:`search` returns.

    Attributes
    ----------
    result
        The search's :class:`~prime_rs.SearchResult`, equal to the local search's.
    classes
        Every class of the table (searched or not): ``label, n_samples, n_correct,
        accuracy``, as :meth:`TagIndex.classes` gives them.
    n_tags
        Distinct tags in the whole table.
    noise
        The noise control's table (``run, label, n_modes``, as
        :meth:`TagIndex.noise_control` gives it), or ``None`` without noise runs.
    nodes
        How many of the cluster's nodes ran a class's task.
    """

    result: SearchResult
    classes: pl.DataFrame
    n_tags: int
    noise: pl.DataFrame | None = None
    nodes: int = 0


# -- what the driver reads ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Parquet:
    """A Parquet file or dataset that every node reads itself."""

    files: tuple[str, ...]
    schema: pl.Schema
    name: str


def _parquet_files(path: Path) -> list[Path] | None:
    """The Parquet files of ``path`` in the order a local read takes them, or ``None`` when
    the path is a table file of another format (read on the driver)."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        return parquet_files(path)
    if path.suffix.lower() in _PARQUET and path.stat().st_size > 0:
        return [path]
    return None  # other formats, and the messages of broken files, are the local reader's


def _dataset_schema(files: Sequence[Path], name: str) -> pl.Schema:
    """The schema a local read of these files gives (their columns, the widest types)."""
    schemas = []
    for f in files:
        try:
            schemas.append(pl.read_parquet_schema(f))
        except Exception as e:
            raise InputError(f"{f}: not a readable Parquet file ({e})") from None
    first = schemas[0]
    for f, schema in zip(files[1:], schemas[1:], strict=True):
        if set(schema) != set(first):
            raise InputError(
                f"{f}: its columns differ from those of {files[0].name}, the first file of the "
                "same folder; every file of a Parquet dataset needs the same columns"
            )
    try:
        empty = [pl.DataFrame(schema=s).select(list(first)) for s in schemas]
        return pl.concat(empty, how="vertical_relaxed").schema
    except Exception as e:
        raise InputError(
            f"{name}: the .parquet files in this folder do not fit together ({e}); every file "
            "of a Parquet dataset needs the same columns of the same types"
        ) from None


def _label_column(source: _Parquet) -> pl.Series:
    """The ``label`` column of the whole dataset, checked as a local read checks it."""
    parts = [pl.read_parquet(f, columns=["label"]) for f in source.files]
    label = pl.concat(
        [pl.DataFrame(schema={"label": source.schema["label"]}), *parts], how="vertical_relaxed"
    )["label"]
    dtype = label.dtype
    if not (dtype.is_integer() or dtype in (pl.String, pl.Categorical, pl.Enum)):
        raise InputError(
            f"{source.name}: column 'label' must hold strings or integers, not {dtype}"
        )
    nulls = label.is_null()
    if nulls.any():
        first = int(nulls.arg_true()[0])
        raise InputError(
            f"{source.name}: column 'label' is empty (null) in row {first} (counting from 0)"
        )
    return label


def _classes_of(label: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """The sorted distinct labels (as the local index sorts them) and each row's class id."""
    if label.dtype == pl.Categorical or isinstance(label.dtype, pl.Enum):
        label = label.cast(pl.String)
    labels = label.unique().sort()
    if label.dtype == pl.String:
        codes = label.cast(pl.Enum(labels.to_list())).to_physical()
    else:
        codes = labels.search_sorted(label, side="left")
    return labels, np.ascontiguousarray(codes.cast(pl.UInt32).to_numpy(), dtype=np.uint32)


def labels_of(samples: SamplesLike) -> pl.Series:
    """The sorted distinct labels of a samples table, as the index sorts them; of a Parquet
    file or folder only the ``label`` column is read.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"id": [1, 2, 3], "label": ["b", "a", "b"],
    ...                    "correct": [True] * 3, "tags": [[]] * 3})
    >>> labels_of(df).to_list()
    ['a', 'b']
    """
    name = source_name(samples)
    files = _parquet_files(Path(samples)) if isinstance(samples, (str, os.PathLike)) else None
    if files is None:
        return _classes_of(load_samples(samples)["label"])[0]
    schema = _dataset_schema(files, name)
    load_samples(pl.DataFrame(schema=schema), source=name)
    return _classes_of(_label_column(_Parquet(tuple(map(os.fspath, files)), schema, name)))[0]


# -- what a worker does --------------------------------------------------------------------


def _class_rows(source: _Parquet | pl.DataFrame, value: Any, name: str) -> pl.DataFrame:
    """One class's rows, validated as a local read validates them (on the worker)."""
    if isinstance(source, pl.DataFrame):
        return source  # shipped by the driver, validated there
    where = pl.col("label") == pl.lit(value)
    parts = [pl.scan_parquet(f).filter(where).collect() for f in source.files]
    columns = list(source.schema)
    df = pl.concat(
        [pl.DataFrame(schema=source.schema), *(p.select(columns) for p in parts)],
        how="vertical_relaxed",
    )
    return load_samples(df, source=f"{name} (rows of class {value!r})")


def _class_index(source: _Parquet | pl.DataFrame, value: Any, name: str) -> TagIndex:
    return TagIndex._from_validated(_class_rows(source, value, name), min_tag_count=None)


def _family(engine: Any, p: SearchParams) -> tuple[np.ndarray, np.ndarray]:
    """One class's share of the q-values' family: distinct p-values and multiplicities."""
    _, values, counts = engine.q_value_family(
        max_tags=p.max_tags,
        min_support=p.min_support,
        min_tag_count=p.min_tag_count,
        threads=p.threads,
    )
    return values, counts


def _search_class(
    source: _Parquet | pl.DataFrame,
    value: Any,
    name: str,
    p: SearchParams | None,
    orders: np.ndarray | None,
) -> dict[str, Any]:
    """The task of one class: read, index and (when ``p`` is given) search it, and run the
    noise control's searches on the given within-class permutations ``orders``."""
    import ray  # on a worker, which has it

    index = _class_index(source, value, name)
    n, k = index._engine.class_counts()
    out: dict[str, Any] = {
        "n_samples": int(n[0]) if len(n) else 0,
        "n_correct": int(k[0]) if len(k) else 0,
        "tags": index.vocabulary,
        "node": ray.get_runtime_context().get_node_id(),
    }
    if p is None:
        return out
    local = p.replace(labels=None, q_values=False, max_q=None, rank_by="drop")
    quiet = logging.getLogger("prime_rs")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # an empty class is no news here; the driver says why
    try:
        found = index.search(local)
    finally:
        quiet.setLevel(level)
    out["modes"] = found.modes
    out["sets_tested"] = int(found.summary["sets_tested"][0])
    out["family"] = _family(index._engine, p) if p.q_values else None
    out["singletons"] = None
    if found.modes.height == 0:
        threshold = max(p.min_support, p.min_tag_count or p.min_support)
        out["singletons"] = index.frequent_sets(max_tags=1, min_support=threshold)
    if orders is not None:
        assert index._correct is not None and index._class_ids is not None
        class_ids = np.ascontiguousarray(index._class_ids, dtype=np.uint32)
        runs: list[tuple[int, Any, Any]] = []
        for order in orders:
            permuted = np.ascontiguousarray(index._correct[order], dtype=np.bool_)
            engine = index._engine.with_correct(class_ids, permuted)
            res = TagIndex._run(engine, p, class_ids=None, q_values=False)
            if p.max_q is None:
                runs.append((len(res["class_id"]), None, None))
            else:
                runs.append((len(res["class_id"]), res["p_value"], _family(engine, p)))
        out["noise"] = runs
    return out


def _supports(
    source: _Parquet | pl.DataFrame, value: Any, name: str, sets: list[list[str]]
) -> list[int]:
    """The support of each tag set in one class (for ``tag_lift``)."""
    index = _class_index(source, value, name)
    known = set(index.vocabulary)
    return [
        index.stats(value, tags)["support"] if all(t in known for t in tags) else 0 for tags in sets
    ]


# -- the driver ----------------------------------------------------------------------------


def q_values(p_values: np.ndarray, family: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values of ``p_values`` within a family given as distinct
    p-values ``family`` with multiplicities ``counts``: the engine's arithmetic, float for
    float (``p * (m / rank)`` at the last copy of each value, the running minimum from the
    top, read at the first copy).

    Examples
    --------
    >>> q_values(np.array([0.01, 0.5]), np.array([0.5, 0.01, 0.03]), np.array([1, 2, 1]))
    array([0.02, 0.5 ])
    """
    order = np.argsort(family, kind="stable")
    values = np.asarray(family, dtype=np.float64)[order]
    counts = np.asarray(counts, dtype=np.uint64)[order]
    if len(values) == 0:
        return np.ones(len(p_values))
    m = float(counts.sum())
    rank = np.cumsum(counts).astype(np.float64)
    scaled = values * (m / rank)
    running = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    at = np.searchsorted(values, np.asarray(p_values, dtype=np.float64), side="left")
    out = np.ones(len(at))
    inside = at < len(values)
    out[inside] = running[at[inside]]
    return out


def _ray_get(ray: Any, refs: Any) -> Any:
    """``ray.get``, with a library error raised on a worker re-raised here as itself."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, PrimeError):
            raise cause from None
        raise


def _wanted_ids(labels: pl.Series, p: SearchParams) -> list[int]:
    """The class ids ``p.labels`` names (all when ``None``), errors as the local index's."""
    if p.labels is None:
        return list(range(len(labels)))
    ids = {label: i for i, label in enumerate(labels.to_list())}
    out = []
    wanted = p.labels if not isinstance(p.labels, (str, bytes)) else [p.labels]
    for label in wanted:
        i = ids.get(label) if isinstance(label, Hashable) else None
        if i is None or type(label) is bool:
            # The local index's message (did you mean ..., the classes it has).
            return _local_ids(labels, p)
        out.append(i)
    return sorted(set(out))


def _local_ids(labels: pl.Series, p: SearchParams) -> list[int]:
    probe = TagIndex(None, labels, pl.Series("tags", [], dtype=pl.String))  # type: ignore[arg-type]
    ids = probe._class_ids_of(p.labels)
    raise AssertionError(f"unreachable: {ids}")  # _class_ids_of raised for an unknown label


# Most bytes of shuffles the driver makes for the noise control before sending them out.
_NOISE_ORDERS_BYTES = 1 << 30


def _check_noise_size(runs: int, rows: int) -> None:
    """Refuses a noise control whose shuffles (4 bytes per run and searched row, all made
    here before the tasks start) would not fit :data:`_NOISE_ORDERS_BYTES`."""
    need = 4 * runs * rows
    if need > _NOISE_ORDERS_BYTES:
        most = max(_NOISE_ORDERS_BYTES // (4 * rows), 1)
        raise ParameterError(
            f"noise_runs: {runs} shuffles of {rows:,} rows take {need / 1e9:.1f} GB in this "
            f"process before they go to the workers (at most {_NOISE_ORDERS_BYTES / 1e9:.1f} "
            f"GB); ask for at most {most} runs, or run the noise control in several calls "
            "with other seeds"
        )


def _noise_orders(
    codes: np.ndarray, wanted: list[int], runs: int, seed: int
) -> dict[int, np.ndarray]:
    """Per searched class, the within-class permutation of each run: the local noise
    control's random streams (one key per row of the whole table, rows of a class sorted
    by key), as positions within the class."""
    by_class = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=int(codes.max()) + 1))])
    rows = {c: by_class[starts[c] : starts[c + 1]] for c in wanted}
    orders = {c: np.empty((runs, len(rows[c])), dtype=np.uint32) for c in wanted}
    for run in range(runs):
        keys = np.random.default_rng([seed, run]).random(len(codes))
        for c in wanted:
            orders[c][run] = np.argsort(keys[rows[c]], kind="stable")
    return orders


def search(
    samples: SamplesLike,
    params: SearchParams | None = None,
    *,
    ray: RayOption = True,
    noise_runs: int = 0,
    seed: int = 0,
    progress: Progress | None = None,
    **keywords: Any,
) -> ClusterSearch:
    """Search a samples table on a Ray cluster, one task per class; equal to the local search.

    Parameters
    ----------
    samples
        A Parquet file or a folder of Parquet files (every node must be able to read the
        path: a shared file system or the same files on every node), or any samples table
        :func:`prime_rs.load_samples` reads (read on the driver, each class shipped to its
        task).
    params
        The search's parameters (:class:`~prime_rs.SearchParams`).
    ray
        ``True``: the cluster ``RAY_ADDRESS`` names, else a local one; a string: that
        cluster's address (see :mod:`prime_rs._ray`).
    **keywords
        Fields of :class:`~prime_rs.SearchParams`, alone or changing ``params``.
    noise_runs, seed
        Also run the noise control (:meth:`TagIndex.noise_control`) with this many runs and
        this seed, in the same tasks; 0 runs none.
    progress
        Called on the driver with ``(classes done, classes in all)`` as classes finish.

    Returns
    -------
    ClusterSearch
        The :class:`~prime_rs.SearchResult` (modes, summary, empty reason: the local
        search's), every class's counts, the number of distinct tags, and the noise table.

    Examples
    --------
    >>> import prime_rs
    >>> from prime_rs import distributed, synthetic
    >>> data = synthetic.generate(synthetic.SMALL)
    >>> out = distributed.search(data.samples, max_tags=2, ray=True)  # a local cluster
    >>> out.result.modes.equals(prime_rs.find_failure_modes(data.samples, max_tags=2))
    True
    >>> out.result.summary["n_modes"].to_list()
    [5, 5, 4]
    """
    if isinstance(samples, TagIndex):
        raise ParameterError(
            "ray= needs a samples table or the path of one, not a TagIndex (the workers build "
            "each class's index themselves)"
        )
    if isinstance(noise_runs, bool) or not isinstance(noise_runs, numbers.Integral):
        raise ParameterError(f"noise_runs: must be an integer >= 0, got {noise_runs!r}")
    if noise_runs < 0:
        raise ParameterError(f"noise_runs: must be an integer >= 0, got {noise_runs!r}")
    p = SearchParams.of(params, **keywords)
    name = source_name(samples)
    files = _parquet_files(Path(samples)) if isinstance(samples, (str, os.PathLike)) else None
    frames: dict[int, pl.DataFrame] | None = None
    if files is not None:
        schema = _dataset_schema(files, name)
        # The columns' checks of a local read, on a table without rows of this schema.
        load_samples(pl.DataFrame(schema=schema), source=name)
        source: _Parquet | None = _Parquet(tuple(os.fspath(f) for f in files), schema, name)
        label = _label_column(source)
        labels, codes = _classes_of(label)
        del label
    else:
        table = load_samples(samples)
        source = None
        labels, codes = _classes_of(table["label"])
        # Each class's rows in input order, as the workers would read them.
        # Each class's rows in input order, as the workers would read them.
        frames = {}
        if table.height:
            parts = table.with_columns(_class=pl.Series(codes)).partition_by(
                "_class", maintain_order=True, include_key=False, as_dict=True
            )
            frames = {int(key[0]): part for key, part in parts.items()}
    if len(labels) == 0:
        empty = TagIndex.from_samples(pl.DataFrame(schema=_empty_schema(source, frames)))
        result = empty.search(p)
        return ClusterSearch(result, empty.classes(), 0, None)
    wanted = _wanted_ids(labels, p)
    sizes = np.bincount(codes, minlength=len(labels))
    _check_noise_size(noise_runs, int(sizes[sorted(set(wanted))].sum()))
    orders = _noise_orders(codes, wanted, noise_runs, seed) if noise_runs else {}
    del codes
    values = labels.to_list()
    with connect(ray) as mod:
        task = mod.remote(_search_class).options(scheduling_strategy="SPREAD")
        searched = set(wanted)
        refs = {}
        # The largest classes first: they finish last.
        for c in sorted(range(len(values)), key=lambda c: (-int(sizes[c]), c)):
            data: Any = frames[c] if frames is not None else source
            refs[c] = task.remote(
                data,
                values[c],
                name,
                p if c in searched else None,
                orders.get(c),
            )
        outs = _gather(mod, refs, progress)
        ids = range(len(values))
        classes = pl.DataFrame(
            {
                "label": labels,
                "n_samples": pl.Series(
                    [outs[c]["n_samples"] for c in range(len(values))], dtype=pl.Int64
                ),
                "n_correct": pl.Series(
                    [outs[c]["n_correct"] for c in range(len(values))], dtype=pl.Int64
                ),
            }
        ).with_columns(accuracy=pl.col("n_correct") / pl.col("n_samples"))
        n_tags = len(set().union(*(outs[c]["tags"] for c in ids)))
        modes = _assemble(outs, wanted, labels, p)
        modes = _tag_lift(mod, modes, outs, labels, source, frames, name)
    result = _result(modes, outs, wanted, classes, p)
    noise = _noise(outs, wanted, labels, p, noise_runs) if noise_runs else None
    nodes = len({outs[c]["node"] for c in ids})
    return ClusterSearch(result, classes, n_tags, noise, nodes)


def _empty_schema(
    source: _Parquet | None, frames: dict[int, pl.DataFrame] | None
) -> dict[str, Any]:
    if source is not None:
        return dict(source.schema)
    return {"id": pl.String, "label": pl.String, "correct": pl.Boolean, "tags": pl.List(pl.String)}


def _gather(mod: Any, refs: dict[int, Any], progress: Progress | None) -> dict[int, Any]:
    """Wait for every class's task, reporting progress as they finish."""
    by_ref = {ref: c for c, ref in refs.items()}
    pending = list(refs.values())
    outs: dict[int, Any] = {}
    total = len(pending)
    if progress is not None:
        progress(0, total)
    while pending:
        ready, pending = mod.wait(pending, num_returns=1)
        for ref in ready:
            outs[by_ref[ref]] = _ray_get(mod, ref)
        if progress is not None:
            progress(len(outs), total)
    return outs


def _assemble(
    outs: dict[int, Any], wanted: list[int], labels: pl.Series, p: SearchParams
) -> pl.DataFrame:
    """The searched classes' modes in class order (the engine's order), q-values filled in."""
    modes: pl.DataFrame = pl.concat([outs[c]["modes"] for c in wanted], how="vertical")
    label_dtype = labels.dtype
    modes = modes.with_columns(pl.col("label").cast(label_dtype))
    if p.q_values and modes.height:
        fam = [outs[c]["family"] for c in wanted]
        values = np.concatenate([f[0] for f in fam])
        counts = np.concatenate([f[1] for f in fam])
        q = q_values(modes["p_value"].to_numpy(), values, counts)
        modes = modes.with_columns(q_value=pl.Series(q, dtype=pl.Float64))
    return modes


def _find(ids: dict[Any, int], value: Any) -> int | None:
    """The class a prediction names, as the local index finds it."""
    if not isinstance(value, Hashable) or type(value) is bool:
        return None
    return ids.get(value)


def _tag_lift(
    mod: Any,
    modes: pl.DataFrame,
    outs: dict[int, Any],
    labels: pl.Series,
    source: _Parquet | None,
    frames: dict[int, pl.DataFrame] | None,
    name: str,
) -> pl.DataFrame:
    """Fill in ``tag_lift`` where a mode is mistaken for another class: its support there
    (counted by a task on that class) against its support in its own."""
    if "tag_lift" not in modes.columns or modes.height == 0:
        return modes
    ids = {label: i for i, label in enumerate(labels.to_list())}
    own = [ids[x] for x in modes["label"].to_list()]
    other = [_find(ids, x) for x in modes["confused_with"].to_list()]
    tags = modes["tags"].to_list()
    asked: dict[int, list[int]] = {}
    for row, (c, o) in enumerate(zip(own, other, strict=True)):
        if o is not None and o != c:
            asked.setdefault(o, []).append(row)
    if not asked:
        return modes
    task = mod.remote(_supports).options(scheduling_strategy="SPREAD")
    values = labels.to_list()
    refs = {
        o: task.remote(
            frames[o] if frames is not None else source, values[o], name, [tags[r] for r in rows]
        )
        for o, rows in asked.items()
    }
    lift = modes["tag_lift"].to_list()
    support = modes["support"].to_list()
    for o, rows in asked.items():
        found = _ray_get(mod, refs[o])
        n_other = float(outs[o]["n_samples"])
        for r, k in zip(rows, found, strict=True):
            n_own = float(outs[own[r]]["n_samples"])
            lift[r] = (float(k) / n_other) / (float(support[r]) / n_own)
    return modes.with_columns(tag_lift=pl.Series(lift, dtype=pl.Float64))


def _result(
    modes: pl.DataFrame,
    outs: dict[int, Any],
    wanted: list[int],
    classes: pl.DataFrame,
    p: SearchParams,
) -> SearchResult:
    """The local search's finishing steps: max_q, ranking, the empty reason, the summary."""
    found = modes.height
    modes, reason = select_modes(modes, p, lambda: _explain_empty(outs, wanted, classes, p))
    hypotheses = [int(outs[c]["family"][1].sum()) if p.q_values and found else 0 for c in wanted]
    sets_tested = [outs[c]["sets_tested"] for c in wanted]
    summary = class_summary(classes[wanted], modes, sets_tested, hypotheses)
    return SearchResult(modes=modes, summary=summary, empty_reason=reason)


def _explain_empty(
    outs: dict[int, Any], wanted: list[int], classes: pl.DataFrame, p: SearchParams
) -> str:
    """:meth:`TagIndex.explain_empty`'s sentence, from the classes' frequent single tags."""
    chosen = classes[wanted]
    if chosen.height == 0:
        return "No failure modes: the samples table is empty."
    threshold = max(p.min_support, p.min_tag_count or p.min_support)
    lattice = pl.concat([outs[c]["singletons"] for c in wanted], how="vertical").with_columns(
        pl.col("label").cast(classes["label"].dtype)
    )
    return empty_sentence(
        chosen,
        lattice,
        threshold=threshold,
        max_tags=p.max_tags,
        min_support=p.min_support,
        min_drop=p.min_drop,
    )


def _noise(
    outs: dict[int, Any], wanted: list[int], labels: pl.Series, p: SearchParams, runs: int
) -> pl.DataFrame:
    """The noise control's table from every class's runs (q-values per run when max_q)."""
    rows: dict[str, list[Any]] = {"run": [], "label": [], "n_modes": []}
    values = labels.to_list()
    for run in range(runs):
        per = {c: outs[c]["noise"][run] for c in wanted}
        counts = {c: per[c][0] for c in wanted}
        if p.max_q is not None and sum(counts.values()):
            fam_p = np.concatenate([per[c][2][0] for c in wanted])
            fam_n = np.concatenate([per[c][2][1] for c in wanted])
            for c in wanted:
                q = q_values(per[c][1], fam_p, fam_n)
                counts[c] = int((q <= p.max_q).sum())
        for c in wanted:
            rows["run"].append(run)
            rows["label"].append(values[c])
            rows["n_modes"].append(int(counts[c]))
    return pl.DataFrame(rows, schema={"run": pl.Int64, "label": labels.dtype, "n_modes": pl.Int64})
