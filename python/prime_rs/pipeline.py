"""Whole jobs as library calls: :func:`demo` (what ``prime demo`` prints and writes).

The Fashion-MNIST demo searches a real classifier's errors with real tags (bundled data),
re-measures every mode on the holdout split, runs the noise control and writes the HTML
report; the synthetic demo searches Living17-shaped data with planted modes, to show the
speed at scale and how many planted modes come back.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

import prime_rs.synthetic as synthetic
from prime_rs.datasets import fashion_mnist, fashion_mnist_thumbnails
from prime_rs.evaluate.generalization import generalization
from prime_rs.index import SearchResult, TagIndex
from prime_rs.params import DEFAULT_NECESSITY, SearchParams
from prime_rs.report import write_report

__all__ = ["DEMO_PARAMS", "SYNTHETIC_PARAMS", "DemoResult", "demo"]

#: Search parameters of the Fashion-MNIST demo (the bundled thumbnails were chosen with them).
DEMO_PARAMS = SearchParams(max_tags=3, min_support=20, min_drop=0.20, necessity=DEFAULT_NECESSITY)
#: Search parameters of the synthetic demo: the paper's defaults.
SYNTHETIC_PARAMS = SearchParams(max_tags=4, min_support=30, min_drop=0.30)
#: Shuffles of the Fashion-MNIST demo's noise control.
NOISE_RUNS = 20

#: Called after each step with its name, its seconds and a note.
StepCallback = Callable[[str, float, str], None]


@dataclasses.dataclass(frozen=True)
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
            "held-out training images, holdout = the official test set",
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
