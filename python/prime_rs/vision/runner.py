"""The batched, resumable inference loop behind ``prime tag`` and ``prime predict``.

:func:`run_images` walks the shards an output still lacks (:class:`ShardedOutput`), has
DataLoader workers decode and resize their images, calls a model step on each batch on the
device, and writes each shard as soon as its last batch is done. Images that cannot be used
become rows of the errors table (``--strict`` stops at the first one instead); a run killed
at any moment continues with ``resume=True`` and ends with the same tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError
from prime_rs.vision.device import default_workers
from prime_rs.vision.images import Preprocess, iter_batches
from prime_rs.vision.progress import Progress
from prime_rs.vision.shards import ShardedOutput
from prime_rs.vision.sources import ImageSource
from prime_rs.vision.taggers import TAG_COLUMNS, Tagger, apply_selection, order_tag_columns

if TYPE_CHECKING:
    import torch

    from prime_rs.vision.classifier import Classifier

__all__ = [
    "RunResult",
    "Step",
    "default_workers",
    "finished",
    "open_output",
    "predict_images",
    "prediction_columns",
    "prediction_settings",
    "prediction_step",
    "record_outputs",
    "run_images",
    "shard_rows",
    "strict_stop",
    "tag_images",
    "write_complete_shard",
]

#: A model step: ``uint8`` batch -> one list (or array) per output column, one item per image.
Step = Callable[["torch.Tensor"], Mapping[str, Any]]


@dataclass
class RunResult:
    """What a run wrote and how it went.

    Attributes
    ----------
    table : polars.DataFrame
        The output table (images that could be used), in source order.
    errors : polars.DataFrame
        ``id, path, error`` for each image that could not be used.
    output, errors_file : Path
        Where they were written.
    n_images : int
        Images in the source.
    processed : int
        Images processed by this call (less than ``n_images`` when resumed).
    resumed_shards : int
        Shards found done when the run resumed.
    seconds : float
        Time spent processing images in this call (model loading excluded).
    already_complete : bool
        ``resume`` found the output already finished: nothing was processed.
    """

    table: pl.DataFrame
    errors: pl.DataFrame
    output: Path
    errors_file: Path
    n_images: int
    processed: int
    resumed_shards: int
    total_shards: int
    seconds: float
    already_complete: bool = False

    @property
    def images_per_second(self) -> float:
        """Processed images per second in this call."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def _column(values: list[Any], dtype: pl.DataType, name: str) -> pl.Series:
    return pl.Series(name, values, dtype=dtype)


def run_images(
    source: ImageSource,
    step: Step,
    *,
    preprocess: Preprocess,
    columns: Mapping[str, pl.DataType],
    output: str | Path,
    command: str,
    settings: dict[str, Any],
    device: torch.device,
    batch_size: int = 64,
    workers: int | None = None,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    finish_rows: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    metadata: dict[str, Any] | None = None,
) -> RunResult:
    """Run ``step`` over every image of ``source`` and write the resumable output.

    Parameters
    ----------
    source
        The images (their ``id``, ``path``, ``label``, ``split`` columns lead every row).
    step
        Called with each ``uint8`` batch on the CPU (``(n, 3, size, size)``); returns one
        list or array per column of ``columns``, an item per image.
    preprocess
        How images become tensors.
    columns
        Output columns of ``step`` and their types.
    output
        The output table; see :class:`ShardedOutput` for what resume and overwrite do.
    command, settings
        The run's identity (``--resume`` refuses to continue a different run).
    device
        Where the model runs (for pinned memory and the default worker count).
    batch_size, workers, shard_size
        Images per forward pass, decoding processes, images per shard.
    resume, overwrite, strict, progress
        The command-line flags of the same names.
    finish_rows
        Applied to each shard's rows before it is written (``prime tag`` selects tags there).
    metadata
        More JSON for the finished Parquet output's metadata (see :class:`ShardedOutput`).

    Raises
    ------
    InputError
        ``strict`` and an image cannot be used; an output that exists; a resume that does
        not match.

    Examples
    --------
    >>> import tempfile, pathlib, torch, polars as pl
    >>> from prime_rs.vision.sources import open_images
    >>> from prime_rs.vision.testing import make_image_folder
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> source = open_images(make_image_folder(d / "img", {"a": 2, "b": 1}))
    >>> mean = lambda x: {"brightness": x.float().mean(dim=(1, 2, 3)).tolist()}
    >>> result = run_images(source, mean, preprocess=Preprocess(size=8),
    ...                     columns={"brightness": pl.Float64}, output=d / "out.parquet",
    ...                     command="demo", settings={}, device=torch.device("cpu"),
    ...                     progress=False)
    >>> result.table.columns, result.errors.height
    (['id', 'path', 'label', 'brightness'], 0)
    """
    if workers is not None and (isinstance(workers, bool) or workers < 0):
        raise InputError(f"--workers must be 0 or more, got {workers!r}")
    out = open_output(
        source,
        output,
        command=command,
        settings=settings,
        batch_size=batch_size,
        shard_size=shard_size,
        metadata=metadata,
        resume=resume,
        overwrite=overwrite,
    )
    with out.locked():
        if out.complete:
            return finished(out, source, already_complete=True)
        pending = out.pending()
        todo = sum(len(out.positions(k)) for k in pending)
        n_workers = default_workers(device, todo) if workers is None else workers
        batches: list[list[int]] = []
        shard_of_batch: list[int] = []
        for k in pending:
            positions = list(out.positions(k))
            for i in range(0, len(positions), batch_size):
                batches.append(positions[i : i + batch_size])
                shard_of_batch.append(k)
        remaining = {k: len(out.positions(k)) for k in pending}
        results: dict[int, dict[str, Any]] = {}
        failures: dict[int, str] = {}
        paths = source.paths
        bar = Progress(todo, label=command, enabled=progress)
        start = time.perf_counter()
        for b, batch in enumerate(
            iter_batches(
                paths,
                preprocess,
                batches,
                workers=n_workers,
                pin_memory=device.type == "cuda",
            )
        ):
            if batch.failures and strict:
                i, reason = batch.failures[0]
                raise strict_stop(paths[i], reason)
            for i, reason in batch.failures:
                failures[i] = reason
            if batch.indices:
                record_outputs(step(batch.pixels), batch.indices, columns, results, command)
            bar.update(len(batch.indices) + len(batch.failures), failed=len(batch.failures))
            k = shard_of_batch[b]
            remaining[k] -= len(batches[b])
            if remaining[k] == 0:
                write_complete_shard(source, out, k, columns, results, failures, finish_rows)
        seconds = time.perf_counter() - start
        bar.close()
        return finished(out, source, processed=todo, seconds=seconds)


def open_output(
    source: ImageSource,
    output: str | Path,
    *,
    command: str,
    settings: dict[str, Any],
    batch_size: int,
    shard_size: int,
    metadata: dict[str, Any] | None,
    resume: bool,
    overwrite: bool,
) -> ShardedOutput:
    """Check ``batch_size`` and open a run's sharded output (local and Ray runs alike).

    Raises
    ------
    InputError
        ``batch_size`` is not a positive integer, or the output cannot be used (see
        :class:`~prime_rs.vision.shards.ShardedOutput`).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"--batch-size must be a positive integer, got {batch_size!r}")
    return ShardedOutput(
        output,
        ids=source.ids,
        command=command,
        settings=settings,
        fingerprint=source.fingerprint(),
        shard_size=shard_size,
        metadata=metadata,
        resume=resume,
        overwrite=overwrite,
    )


def finished(
    out: ShardedOutput,
    source: ImageSource,
    *,
    processed: int = 0,
    seconds: float = 0.0,
    already_complete: bool = False,
) -> RunResult:
    """The result of a run whose shards are all written: its tables read back from ``out``
    (``already_complete``: the output was found complete, nothing was run)."""
    table, errors = out.finish()
    return RunResult(
        table=table,
        errors=errors,
        output=out.output,
        errors_file=out.errors,
        n_images=len(source),
        processed=processed,
        resumed_shards=out.n_shards if already_complete else out.resumed.shards,
        total_shards=out.n_shards,
        seconds=seconds,
        already_complete=already_complete,
    )


def strict_stop(path: str, reason: str) -> InputError:
    """The error ``--strict`` stops with at the first image that cannot be used."""
    return InputError(
        f"{path}: {reason} (--strict stops at the first image that cannot be used; without "
        "it, such images go to the errors table)"
    )


def write_complete_shard(
    source: ImageSource,
    out: ShardedOutput,
    k: int,
    columns: Mapping[str, pl.DataType],
    results: dict[int, dict[str, Any]],
    failures: dict[int, str],
    finish_rows: Callable[[pl.DataFrame], pl.DataFrame] | None,
) -> None:
    """Write shard ``k``, every image of which is in ``results`` or ``failures``, and
    forget those images."""
    rows = shard_rows(source, out.positions(k), columns, results, failures)
    if finish_rows is not None:
        rows = finish_rows(rows)
    out.write_shard(k, rows)
    for i in out.positions(k):
        results.pop(i, None)
        failures.pop(i, None)


def record_outputs(
    produced: Mapping[str, Any],
    indices: list[int],
    columns: Mapping[str, pl.DataType],
    results: dict[int, dict[str, Any]],
    command: str,
) -> None:
    """Store a step's outputs for the images at ``indices`` into ``results[position]``.

    Examples
    --------
    >>> results: dict[int, dict[str, Any]] = {}
    >>> record_outputs({"x": np.array([1.5, 2.0])}, [4, 7], {"x": pl.Float64}, results, "demo")
    >>> results
    {4: {'x': 1.5}, 7: {'x': 2.0}}
    """
    for name in columns:
        values = produced[name]
        if isinstance(values, np.ndarray):
            values = values.tolist()
        if len(values) != len(indices):
            raise RuntimeError(f"{command}: step returned {len(values)} {name!r}")
        for i, v in zip(indices, values, strict=True):
            results.setdefault(i, {})[name] = v


def shard_rows(
    source: ImageSource,
    positions: range,
    columns: Mapping[str, pl.DataType],
    results: dict[int, dict[str, Any]],
    failures: dict[int, str],
) -> pl.DataFrame:
    """The rows of one shard: the source's columns, the step's outputs, and ``error``."""
    base = source.table.slice(positions.start, len(positions))
    extra = [
        _column([results.get(i, {}).get(name) for i in positions], dtype, name)
        for name, dtype in columns.items()
    ]
    error = pl.Series("error", [failures.get(i) for i in positions], dtype=pl.String)
    return base.with_columns(*extra, error)


def tag_images(
    source: ImageSource,
    tagger: Tagger,
    output: str | Path,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> RunResult:
    """Tag every image of ``source`` and write the resumable tags table (``prime tag``).

    The table holds ``id, path, label (, split), tags, tag_scores, candidates,
    candidate_scores``; the tagger's full selection rule and floor are stored in a Parquet
    output's metadata, for ``prime retag``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from prime_rs.vision.sources import open_images
    >>> from prime_rs.vision.taggers import ClipTagger, Selection
    >>> from prime_rs.vision.testing import load_tiny_clip, make_image_folder
    >>> from prime_rs.vision.vocabulary import Group
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> tagger = ClipTagger(load_tiny_clip(d), [Group("t", ("dog", "cat"))],
    ...                     selection=Selection(top_k=1))
    >>> result = tag_images(open_images(make_image_folder(d / "img", {"a": 2})), tagger,
    ...                     d / "tags.parquet", progress=False)
    >>> result.table["tags"].list.len().to_list()
    [1, 1]
    """
    return run_images(
        source,
        tagger.tag,
        preprocess=tagger.preprocess,
        columns={k: TAG_COLUMNS[k] for k in ("candidates", "candidate_scores")},
        output=output,
        command="tag",
        settings=tagger.settings(),
        device=tagger.device,
        batch_size=batch_size,
        workers=workers,
        shard_size=shard_size,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        progress=progress,
        finish_rows=lambda rows: order_tag_columns(apply_selection(rows, tagger.selection)),
        metadata={"selection": tagger.selection.settings(), "floor": tagger.floor},
    )


def predict_images(
    source: ImageSource,
    classifier: Classifier,
    output: str | Path,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> RunResult:
    """Classify every image of ``source`` and write the resumable predictions table
    (``prime predict``): ``id, path, label (, split), prediction, confidence``.

    Predictions are class indices when the labels are integers, class names otherwise (which
    needs ``classifier.classes``).

    Raises
    ------
    InputError
        String labels but no class names.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from prime_rs.vision.classifier import load_classifier
    >>> from prime_rs.vision.sources import open_images
    >>> from prime_rs.vision.testing import make_image_folder
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> source = open_images(make_image_folder(d / "img", {"a": 1, "b": 1, "c": 1}))
    >>> c = load_classifier("prime_rs.vision.testing:tiny_cnn", device="cpu",
    ...                     fallback_classes=source.classes, preprocess=Preprocess(size=16))
    >>> predict_images(source, c, d / "p.parquet", progress=False).table.columns
    ['id', 'path', 'label', 'prediction', 'confidence']
    """
    label_dtype = source.table["label"].dtype
    by_index = label_dtype.is_integer()
    names = classifier.classes
    if not by_index and names is None:
        raise InputError(
            f"{classifier.description}: the labels are class names, but the model's class "
            "names are unknown; give them with --classes (one per line, in output order)"
        )

    columns = prediction_columns(source)
    settings = prediction_settings(source, classifier)
    return run_images(
        source,
        prediction_step(classifier, by_index=by_index),
        preprocess=classifier.preprocess,
        columns=columns,
        output=output,
        command="predict",
        settings=settings,
        device=classifier.device,
        batch_size=batch_size,
        workers=workers,
        shard_size=shard_size,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        progress=progress,
    )


def prediction_columns(source: ImageSource) -> dict[str, pl.DataType]:
    """The columns ``prime predict`` adds: ``prediction`` (the labels' type when they are
    class indices, else names) and ``confidence``."""
    label_dtype = source.table["label"].dtype
    by_index = label_dtype.is_integer()
    return {
        "prediction": label_dtype if by_index else pl.String(),
        "confidence": pl.Float32(),
    }


def prediction_settings(source: ImageSource, classifier: Classifier) -> dict[str, Any]:
    """What identifies a ``prime predict`` run's values (for ``--resume``)."""
    by_index = source.table["label"].dtype.is_integer()
    return {**classifier.settings, "prediction": "index" if by_index else "name"}


def prediction_step(classifier: Classifier, *, by_index: bool) -> Step:
    """The model step of ``prime predict``: ``prediction`` (an index, or a class name) and
    ``confidence`` (the top probability, float32) per image of a ``uint8`` batch."""
    names = classifier.classes

    def step(pixels: torch.Tensor) -> dict[str, Any]:
        probs = classifier.probabilities(pixels)
        index = probs.argmax(axis=1)
        confidence = probs.max(axis=1).astype(np.float32)
        if by_index:
            prediction: list[Any] = index.astype(np.int64).tolist()
        else:
            assert names is not None
            prediction = [names[i] for i in index]
        return {"prediction": prediction, "confidence": confidence.tolist()}

    return step
