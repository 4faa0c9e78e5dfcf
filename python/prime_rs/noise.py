"""The noise control: how many modes a search finds when errors are unrelated to tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from prime_rs._ray import RayOption, wanted
from prime_rs.errors import ParameterError
from prime_rs.index import TagIndex
from prime_rs.io import SamplesLike
from prime_rs.params import SearchParams

__all__ = ["noise_control"]


def noise_control(
    samples: SamplesLike | TagIndex,
    params: SearchParams | None = None,
    *,
    runs: int = 20,
    seed: int = 0,
    ray: RayOption = None,
    progress: Callable[[int, int], None] | None = None,
    **keywords: Any,
) -> pl.DataFrame:
    """Count the modes a search finds when errors are shuffled within each class.

    A cheap null model: it keeps the tags (so the lattice is the same) and breaks only their
    link to errors. Compare ``n_modes`` per run with the real search's count: modes the
    real data has far beyond this are unlikely to be noise. See :meth:`TagIndex.noise_control`.

    Parameters
    ----------
    samples
        A samples table or path, or a :class:`TagIndex` already built.
    params
        The search's parameters (:class:`~prime_rs.SearchParams`).
    runs
        Number of shuffles.
    seed
        Seed of the shuffles; the same seed gives the same table.
    ray
        Run on a Ray cluster, one task per class (see :func:`~prime_rs.find_failure_modes`):
        the same shuffles, the same table, whatever the number of workers.
    progress
        Called as ``progress(done, runs)`` after each run of a local search (each run is a
        whole search); on Ray, as ``progress(done, classes)`` after each class.
    **keywords
        Fields of :class:`~prime_rs.SearchParams`, alone or changing ``params``.

    Returns
    -------
    polars.DataFrame
        ``run, label, n_modes``.

    Examples
    --------
    >>> import prime_rs
    >>> from prime_rs import synthetic
    >>> null = prime_rs.noise_control(synthetic.generate(synthetic.SMALL).samples, runs=2)
    >>> sorted(null["run"].unique().to_list())
    [0, 1]
    """
    p = SearchParams.of(params, **keywords)
    if wanted(ray):
        from prime_rs import distributed

        if isinstance(samples, TagIndex):
            raise ParameterError(
                "ray= needs a samples table or the path of one, not a TagIndex (the workers "
                "build each class's index themselves)"
            )
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
            raise ParameterError(f"runs: must be a positive integer, got {runs!r}")
        out = distributed.search(samples, p, ray=ray, noise_runs=runs, seed=seed, progress=progress)
        assert out.noise is not None
        return out.noise
    index = samples if isinstance(samples, TagIndex) else TagIndex.from_samples(samples)
    return index.noise_control(p, runs=runs, seed=seed, progress=progress)
