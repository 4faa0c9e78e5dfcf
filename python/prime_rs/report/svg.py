"""Inline SVG figures of the report (no plotting library, no network)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

__all__ = ["accuracy_bar", "generalization_scatter"]

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#393b79", "#ad494a", "#637939", "#7b4173", "#3182bd", "#e6550d",
    "#31a354", "#756bb1",
)  # fmt: skip


def _f(x: float) -> str:
    return f"{x:.1f}"


def accuracy_bar(
    accuracy: float,
    low: float | None,
    high: float | None,
    class_accuracy: float,
    *,
    width: int = 240,
) -> str:
    """A 0-100% bar: the mode's accuracy with its interval, and a mark at the class accuracy.

    Examples
    --------
    >>> accuracy_bar(0.2, 0.1, 0.35, 0.8).startswith('<svg')
    True
    """
    h = 18

    def x(v: float) -> float:
        return 4 + (width - 8) * min(max(v, 0.0), 1.0)

    parts = [
        f'<svg class="bar" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
        f'role="img" aria-label="accuracy {accuracy:.0%} against class {class_accuracy:.0%}">',
        f'<rect x="4" y="7" width="{width - 8}" height="4" rx="2" fill="#e5e7eb"/>',
        f'<rect x="4" y="7" width="{_f(x(class_accuracy) - 4)}" height="4" rx="2" fill="#9ca3af"/>',
    ]
    if low is not None and high is not None:
        parts.append(
            f'<rect x="{_f(x(low))}" y="4" width="{_f(max(x(high) - x(low), 1))}" height="10" '
            'rx="2" fill="#fca5a5" opacity="0.8"/>'
        )
    parts += [
        f'<line x1="{_f(x(class_accuracy))}" x2="{_f(x(class_accuracy))}" y1="1" y2="17" '
        'stroke="#111827" stroke-width="2"/>',
        f'<circle cx="{_f(x(accuracy))}" cy="9" r="4.5" fill="#dc2626"/>',
        "</svg>",
    ]
    return "".join(parts)


def generalization_scatter(
    drops: Sequence[float],
    holdout_drops: Sequence[float],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    classes: Sequence[int],
    titles: Sequence[str],
    anchors: Sequence[str],
    class_names: Sequence[str],
    *,
    width: int = 640,
    height: int = 440,
) -> str:
    """Detect drop against holdout drop, one point per mode (linked to its card), with
    the interval of each holdout drop and the line ``y = x`` (paper Fig. 4).

    ``lows`` / ``highs`` bound the holdout drop; ``classes`` index ``class_names`` (colours).

    Examples
    --------
    >>> svg = generalization_scatter([0.3], [0.25], [0.1], [0.4], [0], ["a"], ["m0"], ["fox"])
    >>> svg.count('class="pt"')
    1
    """
    left, right, top, bottom = 56, 150, 16, 44
    pw, ph = width - left - right, height - top - bottom
    values = [*drops, *holdout_drops, *(v for v in lows if v is not None)]
    values += [v for v in highs if v is not None]
    lo = min(0.0, math.floor(min(values, default=0.0) * 10) / 10)
    hi = max(0.5, math.ceil(max(values, default=0.5) * 10) / 10)
    hi = min(hi, 1.0)
    lo = max(lo, -1.0)

    def sx(v: float) -> float:
        return left + pw * (min(max(v, lo), hi) - lo) / (hi - lo)

    def sy(v: float) -> float:
        return top + ph * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))

    out = [
        f'<svg class="scatter" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="detect drop against holdout drop" '
        'font-family="system-ui, sans-serif" font-size="11">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#d1d5db"/>',
    ]
    step = 0.1 if hi - lo <= 1.0 else 0.2
    k = math.ceil(lo / step - 1e-9)
    while k * step <= hi + 1e-9:
        v = k * step
        out.append(
            f'<line x1="{_f(sx(v))}" x2="{_f(sx(v))}" y1="{top}" y2="{top + ph}" '
            'stroke="#eee"/>'
            f'<line x1="{left}" x2="{left + pw}" y1="{_f(sy(v))}" y2="{_f(sy(v))}" '
            'stroke="#eee"/>'
            f'<text x="{_f(sx(v))}" y="{top + ph + 14}" text-anchor="middle">{v:.0%}</text>'
            f'<text x="{left - 6}" y="{_f(sy(v) + 4)}" text-anchor="end">{v:.0%}</text>'
        )
        k += 1
    out.append(
        f'<line x1="{_f(sx(lo))}" y1="{_f(sy(lo))}" x2="{_f(sx(hi))}" y2="{_f(sy(hi))}" '
        'stroke="#6b7280" stroke-dasharray="4 3"/>'
        f'<line x1="{left}" x2="{left + pw}" y1="{_f(sy(0))}" y2="{_f(sy(0))}" '
        'stroke="#9ca3af"/>'
        f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">'
        "drop on the detect split</text>"
        f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
        "drop on the holdout split</text>"
    )
    for d, h, lw, hg, c, t, a in zip(
        drops, holdout_drops, lows, highs, classes, titles, anchors, strict=True
    ):
        color = PALETTE[c % len(PALETTE)]
        x = sx(d)
        out.append(f'<a href="#{html.escape(a)}"><g class="pt"><title>{html.escape(t)}</title>')
        if lw is not None and hg is not None:
            out.append(
                f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(sy(lw))}" y2="{_f(sy(hg))}" '
                f'stroke="{color}" stroke-opacity="0.35"/>'
            )
        out.append(
            f'<circle cx="{_f(x)}" cy="{_f(sy(h))}" r="4" fill="{color}" '
            'fill-opacity="0.8" stroke="#fff" stroke-width="0.8"/></g></a>'
        )
    used = sorted(set(classes))
    for i, c in enumerate(used[:24]):
        y = top + 8 + 15 * i
        out.append(
            f'<circle cx="{width - right + 16}" cy="{y}" r="4" '
            f'fill="{PALETTE[c % len(PALETTE)]}"/>'
            f'<text x="{width - right + 26}" y="{y + 4}">{html.escape(class_names[c][:20])}</text>'
        )
    if len(used) > 24:
        out.append(
            f'<text x="{width - right + 10}" y="{top + 8 + 15 * 24 + 4}">'
            f"+ {len(used) - 24} more</text>"
        )
    out.append("</svg>")
    return "".join(out)
