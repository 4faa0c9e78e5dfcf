"""Tagging and prediction on a Ray cluster: the same tables as a local run, from many machines.

:func:`run_images_on_ray` is :func:`~prime_rs.vision.runner.run_images` spread over a Ray
cluster with Ray Data:

1. the images of the shards still to do become a Ray Dataset, one row per batch of images
   (the same batches, of the same images, as a local run makes);
2. Ray tasks decode and resize each batch where the cluster has room (``DECODE_CPUS`` each);
3. an actor pool (``map_batches`` with ``concurrency``) holds the model, loaded once per actor
   on its own node: one GPU per actor on GPU nodes, ``ACTOR_CPUS`` (a fraction of a CPU) on
   CPU-only nodes, so the decoding tasks always find a CPU;
4. the driver gathers the outputs, keyed by image position, draws the progress bar and writes
   each shard (the local runner's :class:`~prime_rs.vision.shards.ShardedOutput`) as soon as
   its last image is back.

So the parts folder, the shard files, ``--resume`` and the final tables are exactly those of a
local run: a run started locally can be finished on a cluster and the other way round, and the
result is byte for byte the table a local run writes. Ray re-runs lost decoding tasks; a lost
model actor fails the attempt and the driver runs the shards it has not written again (up to
``ATTEMPTS`` times); a shard is written once, atomically, by the driver.

Only the image files and the model files must be readable from every node (the same paths);
the output lives on the driver.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from prime_rs._ray import RayOption, connect
from prime_rs.errors import InputError, ParameterError
from prime_rs.vision.images import Preprocess, prepare_image
from prime_rs.vision.progress import Progress
from prime_rs.vision.runner import (
    RunResult,
    Step,
    finished,
    open_output,
    prediction_columns,
    prediction_settings,
    prediction_step,
    record_outputs,
    strict_stop,
    write_complete_shard,
)
from prime_rs.vision.shards import ShardedOutput
from prime_rs.vision.sources import ImageSource
from prime_rs.vision.taggers import (
    TAG_COLUMNS,
    Tagger,
    apply_selection,
    load_tagger,
    order_tag_columns,
)

if TYPE_CHECKING:
    from prime_rs.vision.classifier import Classifier

__all__ = [
    "ACTOR_CPUS",
    "ATTEMPTS",
    "DECODE_CPUS",
    "ClassifierStep",
    "Placement",
    "TaggerStep",
    "plan_actors",
    "predict_images_on_ray",
    "run_images_on_ray",
    "tag_images_on_ray",
]

#: CPUs a model actor asks for on a CPU-only node: a fraction, so that an actor never takes
#: the last CPU the decoding tasks need (on a 2-core node a whole-CPU actor starves them and
#: the pipeline stalls).
ACTOR_CPUS = 0.5
#: CPUs a decoding task asks for.
DECODE_CPUS = 0.25
#: Attempts at a run: after a lost node or actor, the unfinished shards run again.
ATTEMPTS = 3

logger = logging.getLogger("prime_rs")


@dataclass(frozen=True)
class Placement:
    """Where the model runs on the cluster.

    Attributes
    ----------
    actors : int
        Model actors (each holds one copy of the model).
    gpus : bool
        One GPU per actor (else ``ACTOR_CPUS`` CPUs).
    device : str
        The device each actor loads its model on (``cuda``: the GPU Ray gave it).
    threads : int | None
        CPU actors: torch's threads in each actor, those of the driver's torch, so that the
        values are bit for bit those of a local run (a float sum split over another number
        of threads differs in its last bits). ``None`` on GPUs.
    """

    actors: int
    gpus: bool
    device: str
    threads: int | None = None

    def remote_args(self) -> dict[str, Any]:
        """The resources of one actor, for ``map_batches``."""
        if self.gpus:
            return {"num_gpus": 1, "num_cpus": ACTOR_CPUS}
        return {"num_cpus": ACTOR_CPUS}


def plan_actors(
    resources: Mapping[str, float], device: str, actors: int | None, *, threads: int = 1
) -> Placement:
    """Choose the actors for a cluster with ``resources`` (``ray.cluster_resources()``).

    ``device="auto"`` uses GPUs when the cluster has any, one actor per GPU; ``cuda`` (or
    ``cuda:N``) requires them. On CPUs each actor runs torch on ``threads`` threads (those
    a local run uses) and the default is one actor per ``threads`` CPUs of the cluster (at
    least one); Ray reserves only ``ACTOR_CPUS`` for each, so the decoding tasks always
    find a CPU.

    Raises
    ------
    InputError
        A CUDA device on a cluster without GPUs, or more GPU actors than GPUs.
    ParameterError
        ``actors`` is not a positive integer.

    Examples
    --------
    >>> plan_actors({"CPU": 32.0}, "auto", None, threads=8)
    Placement(actors=4, gpus=False, device='cpu', threads=8)
    >>> plan_actors({"CPU": 64.0, "GPU": 8.0}, "auto", None)
    Placement(actors=8, gpus=True, device='cuda', threads=None)
    >>> plan_actors({"CPU": 2.0}, "cpu", 2, threads=2)
    Placement(actors=2, gpus=False, device='cpu', threads=2)
    """
    bad = isinstance(actors, bool) or not isinstance(actors, int) or actors < 1
    if actors is not None and bad:
        raise ParameterError(f"actors must be a positive integer, got {actors!r}")
    gpus_there = int(resources.get("GPU", 0))
    cpus_there = float(resources.get("CPU", 0))
    wants_gpu = device.startswith("cuda")
    if wants_gpu and gpus_there == 0:
        raise InputError(
            f"--device {device}: the Ray cluster has no GPU; add GPU nodes, or use --device cpu"
        )
    if wants_gpu or (device == "auto" and gpus_there > 0):
        n = actors or gpus_there
        if n > gpus_there:
            raise InputError(
                f"{n} GPU actors asked for, but the Ray cluster has {gpus_there} GPUs; "
                f"use at most {gpus_there}"
            )
        return Placement(actors=n, gpus=True, device="cuda")
    threads = max(1, threads)
    n = actors or max(1, int(cpus_there // threads))
    cpu = "cpu" if device == "auto" else device
    return Placement(actors=n, gpus=False, device=cpu, threads=threads)


# -- what runs on the cluster --------------------------------------------------------------


def _decode(row: dict[str, Any], *, preprocess: Preprocess) -> dict[str, Any]:
    """A Ray task: decode one batch of images (``row["job"]``: positions and paths)."""
    positions, paths = pickle.loads(row["job"])
    good: list[int] = []
    tensors: list[np.ndarray] = []
    failures: list[tuple[int, str]] = []
    for i, path in zip(positions, paths, strict=True):
        pixels, error = prepare_image(path, preprocess)
        if pixels is not None:
            good.append(i)
            tensors.append(pixels)
        else:
            failures.append((i, error or "cannot be prepared"))
    size = preprocess.size
    stacked = np.stack(tensors) if tensors else np.empty((0, 3, size, size), dtype=np.uint8)
    return {"batch": row["batch"], "job": pickle.dumps((good, stacked, failures), protocol=5)}


class _ModelActor:
    """A Ray actor: loads the model once (``make_step(device)``), then runs it on decoded
    batches."""

    def __init__(
        self,
        make_step: Callable[[str], Step],
        device: str,
        threads: int | None,
        columns: list[str],
    ) -> None:
        if threads is not None:
            import torch

            # Ray starts workers with one thread (OMP_NUM_THREADS=1); a local run uses more.
            torch.set_num_threads(threads)
        self.step = make_step(device)
        self.columns = columns

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        out = np.empty(len(batch["job"]), dtype=object)
        for n, job in enumerate(batch["job"]):
            good, pixels, failures = pickle.loads(job)
            produced: dict[str, Any] = {}
            if good:
                values = self.step(torch.from_numpy(pixels))
                produced = {
                    c: values[c].tolist() if isinstance(values[c], np.ndarray) else list(values[c])
                    for c in self.columns
                }
            out[n] = pickle.dumps((good, produced, failures), protocol=5)
        return {"batch": batch["batch"], "job": out}


@dataclass(frozen=True)
class TaggerStep:
    """Builds a tagger on a Ray worker: ``load_tagger(**load, device=device)``; its ``tag``
    is the step."""

    load: Mapping[str, Any]

    def __call__(self, device: str) -> Step:
        return load_tagger(**{**self.load, "device": device}).tag


@dataclass(frozen=True)
class ClassifierStep:
    """Builds the classifier under test on a Ray worker: ``load_classifier(**load)`` with the
    preprocessing the driver settled on; its prediction step is the step."""

    load: Mapping[str, Any]
    preprocess: Preprocess
    by_index: bool

    def __call__(self, device: str) -> Step:
        from prime_rs.vision.classifier import load_classifier

        classifier = load_classifier(**{**self.load, "device": device})
        classifier.preprocess = self.preprocess
        return prediction_step(classifier, by_index=self.by_index)


def absolute_paths(load: Mapping[str, Any]) -> dict[str, Any]:
    """Model arguments with the files that exist here made absolute (workers may start
    elsewhere); names and other values unchanged.

    Examples
    --------
    >>> absolute_paths({"model": "resnet18", "device": "cpu"})
    {'model': 'resnet18', 'device': 'cpu'}
    """
    out: dict[str, Any] = {}
    for key, value in load.items():
        if isinstance(value, (str, Path)) and os.path.exists(value):
            out[key] = os.path.abspath(value)
        else:
            out[key] = value
    return out


# -- the driver ------------------------------------------------------------------------------


def _threads() -> int:
    """torch's intra-op threads here (what a local run uses); 1 when torch is not loaded."""
    import sys

    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else 1


@dataclass
class _Pending:
    """What the driver holds until a shard is complete."""

    remaining: dict[int, int]
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)


@contextmanager
def _data_context(ray: ModuleType, *, ordered: bool) -> Iterator[None]:
    """Ray Data's settings for one run (restored afterwards): no Ray progress bars (the
    driver draws its own), results in order only when ``--strict`` needs the first failure."""
    with warnings.catch_warnings():
        # Ray's own default settings warn about its own deprecated names.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ray.data.DataContext.get_current()
    before = (ctx.enable_progress_bars, ctx.execution_options.preserve_order)
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = ordered
    # Ray Data logs each execution's plan at INFO on the driver; the bar says what matters.
    log = logging.getLogger("ray.data")
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        ctx.enable_progress_bars, ctx.execution_options.preserve_order = before
        log.setLevel(level)


def _execute(
    mod: ModuleType,
    shards: list[int],
    out: ShardedOutput,
    paths: list[str],
    preprocess: Preprocess,
    make_step: Callable[[str], Step],
    place: Placement,
    columns: list[str],
    batch_size: int,
) -> Iterator[dict[str, Any]]:
    """One attempt: the batches of ``shards`` through the decoding tasks and the actor pool."""
    jobs: list[dict[str, Any]] = []
    for k in shards:
        positions = list(out.positions(k))
        for i in range(0, len(positions), batch_size):
            part = positions[i : i + batch_size]
            job = pickle.dumps((part, [paths[p] for p in part]), protocol=5)
            jobs.append({"batch": len(jobs), "job": job})
    data = mod.data.from_items(jobs, override_num_blocks=max(1, len(jobs)))
    decoded = data.map(_decode, fn_kwargs={"preprocess": preprocess}, num_cpus=DECODE_CPUS)
    with warnings.catch_warnings():
        # max_restarts has no named parameter in Ray 2.60; passing it warns.
        warnings.simplefilter("ignore", DeprecationWarning)
        done = decoded.map_batches(
            _ModelActor,
            fn_constructor_kwargs={
                "make_step": make_step,
                "device": place.device,
                "threads": place.threads,
                "columns": columns,
            },
            batch_size=1,
            compute=mod.data.ActorPoolStrategy(size=place.actors),
            # A lost actor fails the attempt (the driver runs the unfinished shards again)
            # rather than being restarted: a restarted actor pool can stall on a lost node.
            max_restarts=0,
            **place.remote_args(),
        )
    yield from done.iter_batches(batch_size=None, batch_format="numpy")


def run_images_on_ray(
    source: ImageSource,
    make_step: Callable[[str], Step],
    *,
    preprocess: Preprocess,
    columns: Mapping[str, pl.DataType],
    output: str | Path,
    command: str,
    settings: dict[str, Any],
    device: str = "auto",
    actors: int | None = None,
    ray: RayOption = True,
    batch_size: int = 64,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    finish_rows: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    metadata: dict[str, Any] | None = None,
) -> RunResult:
    """Run a model step over every image of ``source`` on a Ray cluster; write the
    resumable output exactly as :func:`~prime_rs.vision.runner.run_images` does.

    Parameters
    ----------
    make_step
        Called once in each model actor (on its node) with the device to load the model on
        (``cpu``, ``cuda``); returns the step. It must pickle (:class:`TaggerStep`,
        :class:`ClassifierStep`).
    device
        ``auto``, ``cpu`` or ``cuda``: where the actors run their model (see
        :func:`plan_actors`).
    actors
        Model actors [default: one per GPU, else one per two CPUs of the cluster].
    ray
        ``True`` (the cluster ``RAY_ADDRESS`` names, else a local one) or an address; see
        :func:`prime_rs._ray.connect`.
    source, preprocess, columns, output, command, settings, batch_size, shard_size, resume,
    overwrite, strict, progress, finish_rows, metadata
        As for :func:`~prime_rs.vision.runner.run_images`.

    Raises
    ------
    InputError
        As the local runner; a CUDA device on a cluster without GPUs.
    MissingDependency
        Ray is not installed (``pip install 'prime_rs[ray]'``).
    """
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
        paths = source.paths
        state = _Pending(remaining={k: len(out.positions(k)) for k in pending})
        shard_of = {i: k for k in pending for i in out.positions(k)}
        todo = sum(state.remaining.values())
        with connect(ray) as mod, _data_context(mod, ordered=strict):
            place = plan_actors(mod.cluster_resources(), device, actors, threads=_threads())
            bar = Progress(todo, label=command, enabled=progress)
            start = time.perf_counter()
            for attempt in range(1, ATTEMPTS + 1):
                left = [k for k, n in state.remaining.items() if n]
                if not left:
                    break
                # Shards the lost attempt left half done start again from their first image.
                redo = 0
                for k in left:
                    for i in out.positions(k):
                        redo += state.results.pop(i, None) is not None
                        redo += state.failures.pop(i, None) is not None
                    state.remaining[k] = len(out.positions(k))
                bar.update(-redo)
                try:
                    for batch in _execute(
                        mod,
                        left,
                        out,
                        paths,
                        preprocess,
                        make_step,
                        place,
                        list(columns),
                        batch_size,
                    ):
                        for blob in batch["job"]:
                            good, produced, failures = pickle.loads(blob)
                            if failures and strict:
                                i, reason = failures[0]
                                raise strict_stop(paths[i], reason)
                            _receive(
                                source,
                                out,
                                state,
                                shard_of,
                                columns,
                                good,
                                produced,
                                failures,
                                command=command,
                                finish_rows=finish_rows,
                            )
                            bar.update(len(good) + len(failures), failed=len(failures))
                except mod.exceptions.RayError as e:
                    if attempt == ATTEMPTS:
                        raise
                    logger.warning(
                        "%s: the cluster lost work (%s); running the %d unfinished shards again",
                        command,
                        type(e).__name__,
                        sum(1 for n in state.remaining.values() if n),
                    )
            seconds = time.perf_counter() - start
            bar.close()
        missing = [k for k, n in state.remaining.items() if n]
        if missing:
            raise RuntimeError(f"{command}: no results came back for shards {missing[:5]}")
        return finished(out, source, processed=todo, seconds=seconds)


def _receive(
    source: ImageSource,
    out: ShardedOutput,
    state: _Pending,
    shard_of: Mapping[int, int],
    columns: Mapping[str, pl.DataType],
    good: list[int],
    produced: Mapping[str, Any],
    failures: list[tuple[int, str]],
    *,
    command: str,
    finish_rows: Callable[[pl.DataFrame], pl.DataFrame] | None,
) -> None:
    """Record one batch's results; write every shard it completes."""
    if good:
        record_outputs(produced, good, columns, state.results, command)
    for i, reason in failures:
        state.failures[i] = reason
    touched: dict[int, int] = {}
    for i in [*good, *(i for i, _ in failures)]:
        touched[shard_of[i]] = touched.get(shard_of[i], 0) + 1
    for k, n in sorted(touched.items()):
        state.remaining[k] -= n
        if state.remaining[k] == 0:
            write_complete_shard(
                source, out, k, columns, state.results, state.failures, finish_rows
            )


def tag_images_on_ray(
    source: ImageSource,
    tagger: Tagger,
    load: Mapping[str, Any],
    output: str | Path,
    *,
    device: str = "auto",
    actors: int | None = None,
    ray: RayOption = True,
    batch_size: int = 64,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> RunResult:
    """:func:`~prime_rs.vision.runner.tag_images` on a Ray cluster.

    ``tagger`` (loaded on the driver) gives the run's identity, preprocessing and tag
    selection; each actor loads its own copy with ``load_tagger(**load)`` on ``device``.
    """
    return run_images_on_ray(
        source,
        TaggerStep(absolute_paths(load)),
        preprocess=tagger.preprocess,
        columns={k: TAG_COLUMNS[k] for k in ("candidates", "candidate_scores")},
        output=output,
        command="tag",
        settings=tagger.settings(),
        device=device,
        actors=actors,
        ray=ray,
        batch_size=batch_size,
        shard_size=shard_size,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        progress=progress,
        finish_rows=lambda rows: order_tag_columns(apply_selection(rows, tagger.selection)),
        metadata={"selection": tagger.selection.settings(), "floor": tagger.floor},
    )


def predict_images_on_ray(
    source: ImageSource,
    classifier: Classifier,
    load: Mapping[str, Any],
    output: str | Path,
    *,
    device: str = "auto",
    actors: int | None = None,
    ray: RayOption = True,
    batch_size: int = 64,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> RunResult:
    """:func:`~prime_rs.vision.runner.predict_images` on a Ray cluster.

    ``classifier`` (loaded and checked on the driver) gives the run's identity, class names
    and preprocessing; each actor loads its own copy with ``load_classifier(**load)``.
    """
    by_index = source.table["label"].dtype.is_integer()
    if not by_index and classifier.classes is None:
        raise InputError(
            f"{classifier.description}: the labels are class names, but the model's class "
            "names are unknown; give them with --classes (one per line, in output order)"
        )
    load = {**absolute_paths(load), "classes": classifier.classes}
    return run_images_on_ray(
        source,
        ClassifierStep(load, classifier.preprocess, by_index),
        preprocess=classifier.preprocess,
        columns=prediction_columns(source),
        output=output,
        command="predict",
        settings=prediction_settings(source, classifier),
        device=device,
        actors=actors,
        ray=ray,
        batch_size=batch_size,
        shard_size=shard_size,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        progress=progress,
    )
