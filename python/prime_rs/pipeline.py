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
from typing import Any

import numpy as np
import polars as pl

import prime_rs.synthetic as synthetic
from prime_rs.datasets import fashion_mnist, fashion_mnist_thumbnails
from prime_rs.evaluate.generalization import (
    DEFAULT_GENERALIZES,
    generalization,
    generalization_summary,
)
from prime_rs.index import SearchResult, TagIndex
from prime_rs.params import DEFAULT_NECESSITY, SearchParams
from prime_rs.report import write_report
from prime_rs.stats import wilson_interval

__all__ = [
    "DEMO_PARAMS",
    "PAPER_GENERALIZES",
    "SYNTHETIC_PARAMS",
    "DemoResult",
    "demo",
    "paper_statistic",
    "paper_statistic_line",
]

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
    >>> from prime_rs.pipeline import demo
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
