"""Whole jobs as library functions: :func:`run` tags and predicts images, joins them into a
samples table and searches it for failure modes, in one call (``prime run``); :func:`demo`
runs the bundled demos (``prime demo``).

The Fashion-MNIST demo searches a real classifier's errors with real tags (bundled data),
re-measures every mode on the holdout split, runs the noise control and writes the HTML
report; the synthetic demo searches Living17-shaped data with planted modes, to show the
speed at scale and how many planted modes come back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import prime_rs.synthetic as synthetic
from prime_rs._ray import RayOption, connect, require_ray, wanted
from prime_rs.datasets import fashion_mnist, fashion_mnist_thumbnails
from prime_rs.errors import InputError
from prime_rs.evaluate.generalization import (
    DEFAULT_GENERALIZES,
    generalization,
    generalization_summary,
)
from prime_rs.index import SearchResult, TagIndex
from prime_rs.io import write_table
from prime_rs.params import DEFAULT_NECESSITY, SearchParams
from prime_rs.report import write_report
from prime_rs.stats import wilson_interval
from prime_rs.vision._deps import require_vision
from prime_rs.vision.jobs import Observer, join_samples, predict, tag
from prime_rs.vision.runner import RunResult
from prime_rs.vision.sources import ImageSource, open_images

__all__ = [
    "DEMO_PARAMS",
    "PAPER_GENERALIZES",
    "SYNTHETIC_PARAMS",
    "DemoResult",
    "PipelineObserver",
    "PipelineResult",
    "demo",
    "paper_statistic",
    "paper_statistic_line",
    "run",
]


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
        The index the search ran on (per-class counts).
    search : SearchResult
        The search's result: its modes, its per-class summary and why it found none.
    params : SearchParams
        The search's parameters.
    predictions, tags : RunResult
        The two model stages (tables, errors tables, timings).
    samples_path, modes_path : Path
        Where the samples and the modes were written.
    left_out : int
        Images missing from the samples table because a model stage could not use them.
    index_seconds, search_seconds : float
        Time spent building the index and searching.
    """

    modes: pl.DataFrame
    samples: pl.DataFrame
    index: TagIndex
    search: SearchResult
    params: SearchParams
    predictions: RunResult
    tags: RunResult
    samples_path: Path
    modes_path: Path
    left_out: int
    index_seconds: float
    search_seconds: float

    @property
    def empty_reason(self) -> str | None:
        """Why there are no modes, when there are none."""
        return self.search.empty_reason


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
    params: SearchParams | None = None,
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
    ray: RayOption = None,
    actors: int | None = None,
    **search: Any,
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
    params
        The search's parameters (:class:`~prime_rs.SearchParams`); checked before any model
        runs.
    root, device, precision, batch_size, workers, shard_size, resume, overwrite, strict, progress
        As for :func:`prime_rs.vision.jobs.tag`.
    observer
        Hears how the run goes (see :class:`PipelineObserver`).
    ray, actors
        Predict and tag on a Ray cluster (one connection for both stages); see
        :func:`prime_rs.vision.jobs.tag`. The tables are those a local run writes; the
        search runs here.
    **search
        Fields of :class:`~prime_rs.SearchParams` (``max_tags=3``), alone or changing
        ``params``.

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
    p = SearchParams.of(params, **search)
    require_vision("the pipeline")
    if wanted(ray):
        require_ray("--ray")
    watch = observer or PipelineObserver()
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    samples_path, modes_path = out / "samples.parquet", out / "modes.parquet"
    for table in (samples_path, modes_path):
        if table.exists() and not (resume or overwrite):
            raise InputError(
                f"{table}: already exists; add --overwrite to replace it (or --resume)"
            )
    out.mkdir(parents=True, exist_ok=True)
    # Found once for both stages (a large folder is not walked twice).
    source = images if isinstance(images, ImageSource) else open_images(images, root=root)
    cluster = connect(ray) if wanted(ray) else contextlib.nullcontext()
    with cluster:
        preds, tags = _model_stages(
            source,
            out,
            watch,
            predict_options={
                "model": model,
                "weights": weights,
                "classes": classes,
                "size": size,
                "resize": resize,
                "resize_mode": resize_mode,
                "interpolation": interpolation,
                "mean": mean,
                "std": std,
            },
            tag_options={
                "tagger": tagger,
                "model_name": model_name,
                "checkpoint": checkpoint,
                "model_config": model_config,
                "vocabulary": vocabulary,
                "tokenizer": tokenizer,
                "image_size": image_size,
                "vit": vit,
                "threshold": threshold,
                "top_k": top_k,
                "floor": floor,
            },
            common={
                "device": device,
                "precision": precision,
                "batch_size": batch_size,
                "workers": workers,
                "shard_size": shard_size,
                "resume": resume,
                "overwrite": overwrite,
                "strict": strict,
                "progress": progress,
                "ray": True if wanted(ray) else None,
                "actors": actors,
            },
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
        found = index.search(p)
    modes = found.modes
    t2 = time.perf_counter()
    write_table(modes, modes_path)
    return PipelineResult(
        modes=modes,
        samples=samples,
        index=index,
        search=found,
        params=p,
        predictions=preds,
        tags=tags,
        samples_path=samples_path,
        modes_path=modes_path,
        left_out=left_out,
        index_seconds=t1 - t0,
        search_seconds=t2 - t1,
    )


def _model_stages(
    source: ImageSource,
    out: Path,
    watch: PipelineObserver,
    *,
    predict_options: dict[str, Any],
    tag_options: dict[str, Any],
    common: dict[str, Any],
) -> tuple[RunResult, RunResult]:
    """``run``'s two model stages: predictions, then tags."""
    watch.stage("predict")
    preds = predict(
        source, out / "predictions.parquet", **predict_options, **common, observer=watch
    )
    watch.stage("tag")
    tags = tag(source, out / "tags.parquet", **tag_options, **common, observer=watch)
    return preds, tags


#: Search parameters of the Fashion-MNIST demo (the bundled thumbnails were chosen with them).
DEMO_PARAMS = SearchParams(max_tags=3, min_support=20, min_drop=0.20, necessity=DEFAULT_NECESSITY)
#: Search parameters of the synthetic demo: the paper's defaults.
SYNTHETIC_PARAMS = SearchParams(max_tags=4, min_support=30, min_drop=0.30)
#: Shuffles of the Fashion-MNIST demo's noise control.
NOISE_RUNS = 20
#: The paper's generalization statistic on Living17: the share of modes that keep a drop of
#: at least 25 points on the holdout.
PAPER_GENERALIZES = 0.86

#: Called after each step with its name, its seconds and a note.
StepCallback = Callable[[str, float, str], None]


@dataclass(frozen=True)
class DemoResult:
    """What a demo found and wrote.

    Attributes
    ----------
    params
        The search's parameters.
    index
        The index of the searched (detect) samples.
    result
        The search's result; ``result.modes`` without holdout columns.
    modes
        The modes; in the Fashion-MNIST demo with the holdout columns of
        :func:`prime_rs.evaluate.generalization`.
    steps
        ``(name, seconds, note)`` of each step, in order.
    holdout
        The holdout samples (Fashion-MNIST demo), else ``None``.
    holdout_classes
        ``TagIndex.classes()`` of the holdout samples (Fashion-MNIST demo), else ``None``.
    noise
        The noise control's ``run, label, n_modes`` (Fashion-MNIST demo), else ``None``.
    report
        The HTML report written (Fashion-MNIST demo with a report folder), else ``None``.
    planted
        The planted modes (synthetic demo), else ``None``.
    generalizes
        The paper's generalization statistic at the demo's settings (Fashion-MNIST demo),
        else ``None``: see :func:`paper_statistic`.
    """

    params: SearchParams
    index: TagIndex
    result: SearchResult
    modes: pl.DataFrame
    steps: list[tuple[str, float, str]]
    holdout: pl.DataFrame | None = None
    holdout_classes: pl.DataFrame | None = None
    noise: pl.DataFrame | None = None
    report: Path | None = None
    planted: pl.DataFrame | None = None
    generalizes: dict[str, Any] | None = None


def paper_statistic(modes: pl.DataFrame, confidence: float = 0.95) -> dict[str, Any]:
    """The paper's generalization statistic, with its uncertainty: how many modes keep a drop
    of at least 25 points on the holdout.

    Parameters
    ----------
    modes
        The output of :func:`prime_rs.evaluate.generalization`.
    confidence
        Level of the intervals.

    Returns
    -------
    dict
        ``n_measured``, ``n_generalize``, ``share`` (as
        :func:`~prime_rs.evaluate.generalization.generalization_summary` counts them);
        ``share_low`` / ``share_high``: the Wilson interval of the share, the measured modes
        taken as a sample; ``n_surely`` / ``n_possibly``: the modes that keep the drop at the
        pessimistic / optimistic end of their own holdout accuracy interval (a holdout group
        of tens of images leaves each mode's drop uncertain); ``confidence``; ``min_drop``
        (0.25) and ``paper_share`` (0.86, Living17).

    Examples
    --------
    >>> t = pl.DataFrame({"holdout_support": [40, 30, 0], "holdout_drop": [0.4, 0.2, None],
    ...                   "holdout_accuracy_low": [0.3, 0.5, None],
    ...                   "holdout_accuracy_high": [0.6, 0.8, None],
    ...                   "holdout_class_accuracy": [0.9, 0.9, 0.9]})
    >>> s = paper_statistic(t)
    >>> s["n_measured"], s["n_generalize"], s["n_surely"], s["n_possibly"]
    (2, 1, 1, 2)
    """
    summary = generalization_summary(modes, min_drop=DEFAULT_GENERALIZES)
    n, k = summary["n_measured"], summary["n_generalize"]
    measured = modes.filter(pl.col("holdout_support") > 0)
    cls = measured["holdout_class_accuracy"]
    eps = 1e-12
    surely = int(((cls - measured["holdout_accuracy_high"]) >= DEFAULT_GENERALIZES - eps).sum())
    possibly = int(((cls - measured["holdout_accuracy_low"]) >= DEFAULT_GENERALIZES - eps).sum())
    low = high = None
    if n:
        lo, hi = wilson_interval(np.array([k]), np.array([n]), confidence)
        low, high = float(lo[0]), float(hi[0])
    return {
        "n_measured": n,
        "n_generalize": k,
        "share": summary["share_generalize"],
        "share_low": low,
        "share_high": high,
        "n_surely": surely,
        "n_possibly": possibly,
        "confidence": confidence,
        "min_drop": DEFAULT_GENERALIZES,
        "paper_share": PAPER_GENERALIZES,
    }


def paper_statistic_line(s: dict[str, Any]) -> str:
    """:func:`paper_statistic` in one sentence (the demo prints it, the report shows it).

    Examples
    --------
    >>> s = {"n_measured": 20, "n_generalize": 12, "share": 0.6, "share_low": 0.39,
    ...      "share_high": 0.78, "n_surely": 5, "n_possibly": 18, "confidence": 0.95,
    ...      "min_drop": 0.25, "paper_share": 0.86}
    >>> print(paper_statistic_line(s))  # doctest: +NORMALIZE_WHITESPACE
    12 of 20 modes (60%, 95% interval 39-78%) keep a drop of at least 25 points on the
    holdout; within each mode's own interval, between 5 and 18 do. The paper reports 86%
    on Living17.
    """
    if not s["n_measured"]:
        return "no mode has holdout images: the paper's generalization statistic is undefined."
    return (
        f"{s['n_generalize']} of {s['n_measured']} modes ({s['share'] * 100:.0f}%, "
        f"{s['confidence'] * 100:g}% interval {s['share_low'] * 100:.0f}-"
        f"{s['share_high'] * 100:.0f}%) keep a drop of at least "
        f"{s['min_drop'] * 100:g} points on the holdout; within each mode's own interval, "
        f"between {s['n_surely']} and {s['n_possibly']} do. The paper reports "
        f"{s['paper_share'] * 100:.0f}% on Living17."
    )


class _Clock:
    def __init__(self, on_step: StepCallback | None) -> None:
        self.steps: list[tuple[str, float, str]] = []
        self.on_step = on_step
        self.t = time.perf_counter()

    def __call__(self, name: str, note: str = "") -> None:
        now = time.perf_counter()
        self.steps.append((name, now - self.t, note))
        if self.on_step is not None:
            self.on_step(name, now - self.t, note)
        self.t = now


def demo(
    *,
    synthetic_data: bool = False,
    dense: bool = False,
    seed: int = 0,
    threads: int | None = None,
    report_dir: str | Path | None = "prime-demo",
    on_step: StepCallback | None = None,
) -> DemoResult:
    """Run a demo end to end, as ``prime demo`` does, and return what it found.

    Parameters
    ----------
    synthetic_data
        ``False``: the bundled Fashion-MNIST data (a small CNN's predictions, tags from
        EfficientNet-Lite0); ``True``: synthetic Living17-shaped data with planted modes.
    dense
        With ``synthetic_data``: denser tags (:data:`prime_rs.synthetic.DENSE`).
    seed
        With ``synthetic_data``: the generator's seed.
    threads
        Worker threads (default: one per core).
    report_dir
        Folder of the Fashion-MNIST demo's ``report.html``; ``None`` writes no report.
    on_step
        Called after each step with its name, seconds and a note (for progress output).

    Examples
    --------
    >>> from prime_rs import demo
    >>> out = demo(report_dir=None)
    >>> out.modes.height > 0, out.holdout is not None, out.report is None
    (True, True, True)
    """
    clock = _Clock(on_step)
    if synthetic_data:
        return _synthetic(clock, dense=dense, seed=seed, threads=threads)
    params = DEMO_PARAMS.replace(threads=threads)
    samples = fashion_mnist()
    detect = samples.filter(pl.col("split") == "detect")
    holdout = samples.filter(pl.col("split") == "holdout")
    clock("load", f"{detect.height:,} detect + {holdout.height:,} holdout images")
    index = TagIndex.from_samples(detect)
    held_index = TagIndex.from_samples(holdout)
    clock("index build")
    result = index.search(params)
    clock("search", f"{result.modes.height:,} failure modes")
    modes = generalization(result.modes, held_index)
    clock("generalization", f"re-measured on {holdout.height:,} unseen images")
    noise = index.noise_control(params, runs=NOISE_RUNS)
    clock("noise control", f"{NOISE_RUNS} shuffles of correctness within classes")
    generalizes = paper_statistic(modes)
    report = None
    if report_dir is not None:
        report = write_report(
            Path(report_dir) / "report.html",
            modes,
            detect,
            holdout=holdout,
            thumbnails=fashion_mnist_thumbnails(),
            title="Fashion-MNIST: failure modes of a small CNN",
            subtitle="prime demo: tags from EfficientNet-Lite0's ImageNet labels; detect = "
            f"held-out training images, holdout = the official test set ({holdout.height:,} "
            "images). " + paper_statistic_line(generalizes),
            parameters={
                "max_tags": params.max_tags,
                "min_support": params.min_support,
                "min_drop": f"{params.min_drop * 100:g}%",
                "necessity": " / ".join(f"{b * 100:g}%" for b in params.necessity),
            },
        )
        clock("report", str(report))
    return DemoResult(
        params=params,
        index=index,
        result=result,
        modes=modes,
        steps=clock.steps,
        holdout=holdout,
        holdout_classes=held_index.classes(),
        noise=noise,
        report=report,
        generalizes=generalizes,
    )


def _synthetic(clock: _Clock, *, dense: bool, seed: int, threads: int | None) -> DemoResult:
    params = SYNTHETIC_PARAMS.replace(threads=threads)
    data = synthetic.generate(synthetic.DENSE if dense else synthetic.SPARSE, seed=seed)
    clock(
        "generate",
        f"{data.samples.height:,} samples, {data.planted.height:,} planted modes",
    )
    index = TagIndex.from_samples(data.samples)
    clock("index build")
    result = index.search(params)
    clock("search")
    return DemoResult(
        params=params,
        index=index,
        result=result,
        modes=result.modes,
        steps=clock.steps,
        planted=data.planted,
    )
