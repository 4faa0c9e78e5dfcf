"""Interval arithmetic the mode tables and evaluations share."""

from __future__ import annotations

import functools
from statistics import NormalDist

import numpy as np

__all__ = ["wilson_interval", "z_of"]


def wilson_interval(
    n_correct: np.ndarray, n: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the accuracy ``n_correct / n`` at ``confidence``.

    Examples
    --------
    >>> low, high = wilson_interval(np.array([8]), np.array([10]))
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.4902, 0.9433)
    """
    z = z_of(confidence)
    k = np.asarray(n_correct, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z * z / n
        center = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


@functools.lru_cache(maxsize=8)
def z_of(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95).

    >>> round(z_of(0.95), 3)
    1.96
    """
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)
