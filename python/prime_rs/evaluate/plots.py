"""Figures of the evaluation, each written as PNG and SVG (matplotlib, imported lazily).

No pyplot: every figure is a :class:`matplotlib.figure.Figure` drawn on its own Agg canvas,
so plotting neither needs a display nor changes the caller's matplotlib state.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["generalization_plot", "quality_plot", "save_figure", "sweep_plot"]

_FORMATS = ("png", "svg")


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        from prime_rs.vision._deps import require

        require("matplotlib", feature="plotting", hint="pip install 'prime_rs[evaluate]'")
        raise  # pragma: no cover - require raises
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``fig`` as ``STEM.png`` and ``STEM.svg``; returns the two paths.

    A suffix ``.png`` or ``.svg`` on ``stem`` is dropped, so ``fig4.png`` writes both too.
    """
    stem = Path(stem)
    if stem.suffix.lower() in (".png", ".svg"):
        stem = stem.with_suffix("")
    if stem.is_dir():
        raise InputError(f"{stem}: is a folder; give a file name such as plots/fig4")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in _FORMATS:
        path = stem.with_name(stem.name + "." + fmt)
        fig.savefig(path, dpi=150, metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    return paths


def generalization_plot(
    table: pl.DataFrame, stem: str | Path, *, min_drop: float = 0.25, title: str | None = None
) -> list[Path]:
    """Fig. 4: detect drop against holdout drop, one point per mode, with the line y = x.

    Bars show the holdout drop's 95% interval (from the Wilson interval of the holdout
    accuracy); the dashed line marks ``min_drop``. Modes without holdout samples are left
    out (the title counts them).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> table = pl.DataFrame({"drop": [0.4, 0.5], "holdout_support": [30, 0],
    ...                       "holdout_drop": [0.35, None]})
    >>> stem = pathlib.Path(tempfile.mkdtemp()) / "fig4"
    >>> [p.name for p in generalization_plot(table, stem)]
    ['fig4.png', 'fig4.svg']
    """
    for col in ("drop", "holdout_drop", "holdout_support"):
        if col not in table.columns:
            raise InputError(f"the plot needs column {col!r}: plot the output of generalization()")
    measured = table.filter(pl.col("holdout_support") > 0)
    x = measured["drop"].to_numpy().astype(float)
    y = measured["holdout_drop"].to_numpy().astype(float)
    fig = _figure(5.0, 5.0)
    ax = fig.add_subplot()
    if "holdout_accuracy_low" in measured.columns and measured.height:
        cls = measured["holdout_class_accuracy"].to_numpy().astype(float)
        lo = cls - measured["holdout_accuracy_high"].to_numpy().astype(float)
        hi = cls - measured["holdout_accuracy_low"].to_numpy().astype(float)
        ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="none", ecolor="0.7", elinewidth=0.8, zorder=1)
    ax.scatter(x, y, s=18, color="tab:blue", zorder=2)
    values = np.concatenate([x, y, [0.0, min_drop]])
    low, high = min(0.0, float(values.min()) - 0.05), max(1.0, float(values.max())) + 0.02
    low = min(low, -0.05)
    ax.plot([low, high], [low, high], color="0.3", linewidth=1, label="y = x")
    ax.axhline(min_drop, color="tab:red", linestyle="--", linewidth=1, label=f"drop {min_drop:g}")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("accuracy drop on the detect split")
    ax.set_ylabel("accuracy drop on unseen data")
    skipped = table.height - measured.height
    ax.set_title(
        title
        or f"{measured.height} modes" + (f" ({skipped} without holdout samples)" if skipped else "")
    )
    ax.legend(loc="upper left", frameon=False)
    return save_figure(fig, stem)


def sweep_plot(grid: pl.DataFrame, stem: str | Path) -> list[Path]:
    """Fig. 10: modes found, and the share that generalize, against ``min_support``.

    One line per ``min_drop``; the second panel is drawn when the sweep had a holdout.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> grid = pl.DataFrame({"min_support": [30, 50], "min_drop": [0.3, 0.3],
    ...                      "n_modes": [12, 5]})
    >>> [p.suffix for p in sweep_plot(grid, pathlib.Path(tempfile.mkdtemp()) / "fig10")]
    ['.png', '.svg']
    """
    for col in ("min_support", "min_drop", "n_modes"):
        if col not in grid.columns:
            raise InputError(f"the plot needs column {col!r}: plot the output of sweep()")
    panels = 2 if "share_generalize" in grid.columns else 1
    fig = _figure(5.0 * panels, 4.0)
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    for (a,), part in grid.sort("min_support").group_by(["min_drop"], maintain_order=True):
        label = f"min_drop {float(a):g}"
        axes[0].plot(part["min_support"], part["n_modes"], marker="o", label=label)
        if panels == 2:
            share = part["share_generalize"].cast(pl.Float64).to_numpy()
            axes[1].plot(part["min_support"], share, marker="o", label=label)
    axes[0].set_xlabel("min_support (s)")
    axes[0].set_ylabel("failure modes found")
    axes[0].legend(frameon=False)
    if panels == 2:
        axes[1].set_xlabel("min_support (s)")
        axes[1].set_ylabel("share of modes that generalize")
        axes[1].set_ylim(-0.02, 1.02)
    return save_figure(fig, stem)


def quality_plot(tables: dict[str, pl.DataFrame], stem: str | Path) -> list[Path]:
    """Fig. 6: per method, the distribution of caption similarity and of AUROC over groups.

    ``tables`` maps a method's name to its per-group quality table (e.g. ``compare``'s
    ``"prime"`` and ``"domino"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> q = pl.DataFrame({"similarity_mean": [0.3, 0.25], "auroc": [0.8, 0.7]})
    >>> stem = pathlib.Path(tempfile.mkdtemp()) / "fig6"
    >>> len(quality_plot({"PRIME": q, "DOMINO": q}, stem))
    2
    """
    if not tables:
        raise InputError("quality_plot: no tables to plot")
    fig = _figure(8.0, 3.5)
    names = list(tables)
    for i, (col, title) in enumerate(
        (("similarity_mean", "caption-image similarity"), ("auroc", "AUROC"))
    ):
        ax = fig.add_subplot(1, 2, i + 1)
        data: list[Any] = [tables[n][col].drop_nulls().to_numpy() for n in names]
        keep = [j for j, d in enumerate(data) if len(d)]
        if keep:
            ax.boxplot([data[j] for j in keep], tick_labels=[names[j] for j in keep])
        ax.set_title(title)
        if col == "auroc":
            ax.axhline(0.5, color="0.5", linestyle=":", linewidth=1)
    return save_figure(fig, stem)
