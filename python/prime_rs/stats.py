"""Interval arithmetic the mode tables and evaluations share (computed by the engine, the
same function that fills the mode tables' ``accuracy_low`` / ``accuracy_high``)."""

from __future__ import annotations

import functools
from statistics import NormalDist

import numpy as np

import prime_rs._engine as _engine

__all__ = ["wilson_interval", "z_of"]


def wilson_interval(
    n_correct: np.ndarray, n: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the accuracy ``n_correct / n`` at ``confidence``.

    Arrays of any shape that broadcast together; ``NaN`` where ``n`` is 0.

    Examples
    --------
    >>> low, high = wilson_interval(np.array([8]), np.array([10]))
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.4902, 0.9433)
    """
    z = z_of(confidence)
    k, total = np.broadcast_arrays(
        np.asarray(n_correct, dtype=np.float64), np.asarray(n, dtype=np.float64)
    )
    low, high = _engine.wilson_interval(
        np.ascontiguousarray(k.ravel()), np.ascontiguousarray(total.ravel()), z
    )
    return low.reshape(k.shape), high.reshape(k.shape)


@functools.lru_cache(maxsize=8)
def z_of(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95).

    >>> round(z_of(0.95), 3)
    1.96
    """
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)
