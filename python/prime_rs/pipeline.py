"""Whole jobs as library functions: :func:`run` tags and predicts images, joins them into a
samples table and searches it for failure modes, in one call (``prime run``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from prime_rs.errors import InputError
from prime_rs.io import write_table
from prime_rs.search import DEFAULT_NECESSITY, TagIndex, check_params
from prime_rs.vision._deps import require_vision
from prime_rs.vision.jobs import Observer, join_samples, predict, tag
from prime_rs.vision.runner import RunResult
from prime_rs.vision.sources import ImageSource, open_images

__all__ = ["PipelineObserver", "PipelineResult", "run"]


class PipelineObserver(Observer):
    """What :func:`run` reports as it goes: the hooks of its jobs
    (:class:`~prime_rs.vision.jobs.Observer`), plus the stages; every hook does nothing here.

    Stages come in the order ``predict``, ``tag``, then :meth:`samples_joined`, then
    ``search``, whose engine call runs inside :meth:`searching`.
    """

    def stage(self, name: str) -> None:
        """Stage ``name`` (``predict``, ``tag`` or ``search``) starts."""

    def samples_joined(self, samples: pl.DataFrame, path: Path, left_out: int) -> None:
        """The samples table was written to ``path``; ``left_out`` images had an error in a
        model stage and are not in it."""

    def searching(self) -> contextlib.AbstractContextManager[object]:
        """A context the search runs in (the command line collects the search's log
        messages there)."""
        return contextlib.nullcontext()


@dataclass
class PipelineResult:
    """What :func:`run` found and wrote.

    Attributes
    ----------
    modes : polars.DataFrame
        The failure modes (one row each; see :func:`prime_rs.find_failure_modes`).
    samples : polars.DataFrame
        The samples table: predictions joined with tags on ``id``.
    index : TagIndex
        The index the search ran on (per-class counts, sets tested).
    predictions, tags : RunResult
        The two model stages (tables, errors tables, timings).
    samples_path, modes_path : Path
        Where the samples and the modes were written.
    left_out : int
        Images missing from the samples table because a model stage could not use them.
    empty_reason : str | None
        Why there are no modes, when there are none.
    index_seconds, search_seconds : float
        Time spent building the index and searching.
    """

    modes: pl.DataFrame
    samples: pl.DataFrame
    index: TagIndex
    predictions: RunResult
    tags: RunResult
    samples_path: Path
    modes_path: Path
    left_out: int
    empty_reason: str | None
    index_seconds: float
    search_seconds: float


def run(
    images: str | Path | ImageSource,
    output: str | Path,
    *,
    model: str,
    weights: str | Path | None = None,
    classes: str | Path | Sequence[str] | None = None,
    size: int | None = None,
    resize: int | None = None,
    resize_mode: str | None = None,
    interpolation: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    tagger: str = "classifier",
    model_name: str | None = None,
    checkpoint: str | Path | None = None,
    model_config: str | Path | None = None,
    vocabulary: str | Path | None = None,
    tokenizer: str | Path | None = None,
    image_size: int | None = None,
    vit: str = "swin_l",
    threshold: float | None = None,
    top_k: int | None = None,
    floor: float | None = None,
    max_tags: int = 4,
    min_support: int = 30,
    min_drop: float = 0.30,
    necessity: Sequence[float] = DEFAULT_NECESSITY,
    min_tag_count: int | None = None,
    threads: int | None = None,
    root: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    observer: PipelineObserver | None = None,
) -> PipelineResult:
    """Predict and tag images, join them into a samples table, and search it (``prime run``).

    Writes into the folder ``output``: ``predictions.parquet``, ``tags.parquet`` (and their
    ``.errors`` tables), ``samples.parquet`` and ``modes.parquet``. Both model stages are
    resumable: after an interruption, call again with ``resume=True``.

    Parameters
    ----------
    images
        Labelled images: a folder with one sub-folder per class, a manifest with ``path``
        and ``label``, or an :class:`~prime_rs.vision.sources.ImageSource`.
    output
        The folder for every table (made when missing).
    model, weights, classes, size, resize, resize_mode, interpolation, mean, std
        The classifier under test; see :func:`prime_rs.vision.jobs.predict`.
    tagger, model_name, checkpoint, model_config, vocabulary, tokenizer, image_size, vit
        The tagger; see :func:`prime_rs.vision.jobs.tag`.
    threshold, top_k, floor
        Which tags are kept.
    max_tags, min_support, min_drop, necessity, min_tag_count, threads
        The search; see :func:`prime_rs.find_failure_modes`. Checked before any model runs.
    root, device, precision, batch_size, workers, shard_size, resume, overwrite, strict, progress
        As for :func:`prime_rs.vision.jobs.tag`.
    observer
        Hears how the run goes (see :class:`PipelineObserver`).

    Returns
    -------
    PipelineResult
        The modes, the samples table, the index, both model stages, and where each table is.

    Raises
    ------
    ParameterError
        A search parameter out of range.
    InputError
        ``output`` is a file; its tables exist and neither ``resume`` nor ``overwrite`` is
        given; bad images or model files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from prime_rs.vision.testing import make_image_folder, make_tiny_clip, save_tiny_cnn
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> clip = make_tiny_clip(d)
    >>> found = run(make_image_folder(d / "img", {"cat": 4, "dog": 4}), d / "results",
    ...             model=str(save_tiny_cnn(d / "cnn.ts", kind="torchscript")), size=32,
    ...             classes=["cat", "dog", "fox"], tagger="clip", model_name=clip.model_name,
    ...             checkpoint=clip.checkpoint, model_config=clip.config, threshold=0.0,
    ...             top_k=2, min_support=2, max_tags=2, device="cpu", progress=False)
    >>> found.samples.height, found.modes.columns[:2]
    (8, ['label', 'tags'])
    >>> sorted(p.name for p in (d / "results").glob("*.parquet"))  # doctest: +NORMALIZE_WHITESPACE
    ['modes.parquet', 'predictions.errors.parquet', 'predictions.parquet', 'samples.parquet',
     'tags.errors.parquet', 'tags.parquet']
    """
    necessity = tuple(float(b) for b in necessity)
    check_params(
        max_tags=max_tags,
        min_support=min_support,
        min_drop=min_drop,
        necessity=necessity,
        min_tag_count=min_tag_count,
        threads=threads,
    )
    require_vision("the pipeline")
    watch = observer or PipelineObserver()
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    samples_path, modes_path = out / "samples.parquet", out / "modes.parquet"
    for p in (samples_path, modes_path):
        if p.exists() and not (resume or overwrite):
            raise InputError(f"{p}: already exists; add --overwrite to replace it (or --resume)")
    out.mkdir(parents=True, exist_ok=True)
    watch.stage("predict")
    # Found once for both stages (a large folder is not walked twice).
    source = images if isinstance(images, ImageSource) else open_images(images, root=root)
    preds = predict(
        source,
        out / "predictions.parquet",
        model=model,
        weights=weights,
        classes=classes,
        size=size,
        resize=resize,
        resize_mode=resize_mode,
        interpolation=interpolation,
        mean=mean,
        std=std,
        device=device,
        precision=precision,
        batch_size=batch_size,
        workers=workers,
        shard_size=shard_size,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        progress=progress,
        observer=watch,
    )
    watch.stage("tag")
    tags = tag(
        source,
        out / "tags.parquet",
        tagger=tagger,
        model_name=model_name,
        checkpoint=checkpoint,
        model_config=model_config,
        vocabulary=vocabulary,
        tokenizer=tokenizer,
        image_size=image_size,
        vit=vit,
        threshold=threshold,
        top_k=top_k,
        floor=floor,
        device=device,
        precision=precision,
        batch_size=batch_size,
        workers=workers,
        shard_size=shard_size,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        progress=progress,
        observer=watch,
    )
    samples = join_samples(tags.table, preds.table)
    write_table(samples, samples_path)
    left_out = len(set(preds.errors["id"].to_list()) | set(tags.errors["id"].to_list()))
    watch.samples_joined(samples, samples_path, left_out)
    watch.stage("search")
    t0 = time.perf_counter()
    index = TagIndex.from_samples(samples)
    t1 = time.perf_counter()
    with watch.searching():
        modes = index.search(
            max_tags=max_tags,
            min_support=min_support,
            min_drop=min_drop,
            necessity=necessity,
            min_tag_count=min_tag_count,
            threads=threads,
        )
    t2 = time.perf_counter()
    write_table(modes, modes_path)
    return PipelineResult(
        modes=modes,
        samples=samples,
        index=index,
        predictions=preds,
        tags=tags,
        samples_path=samples_path,
        modes_path=modes_path,
        left_out=left_out,
        empty_reason=index.last_empty_reason,
        index_seconds=t1 - t0,
        search_seconds=t2 - t1,
    )
