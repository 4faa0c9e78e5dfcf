"""The failure-mode search in one call: :func:`find_failure_modes` (the method itself is
described in :mod:`prime_rs.index`, whose :class:`~prime_rs.TagIndex` runs it)."""

from __future__ import annotations

from typing import Any

import polars as pl

from prime_rs._ray import RayOption, wanted
from prime_rs.index import TagIndex
from prime_rs.io import SamplesLike
from prime_rs.params import SearchParams

__all__ = ["find_failure_modes"]


def find_failure_modes(
    samples: SamplesLike,
    params: SearchParams | None = None,
    *,
    ray: RayOption = None,
    **keywords: Any,
) -> pl.DataFrame:
    """Find the failure modes of a classifier, the PRIME way.

    Parameters
    ----------
    samples
        A samples table with ``id``, ``label``, ``tags``, and ``correct`` or
        ``prediction``: any table :func:`prime_rs.load_samples` reads (Polars, pyarrow,
        pandas, Arrow streams, or a Parquet / CSV / JSON-lines file).
    params
        The search's parameters (:class:`~prime_rs.SearchParams`; default: the paper's).
    **keywords
        Any field of :class:`~prime_rs.SearchParams` (``max_tags``, ``min_support``,
        ``min_drop``, ``necessity``, ``min_tag_count``, ``labels``, ``threads``, ``search``,
        ``beam_width``, ``confidence``, ``max_q``, ``rank_by``, ``q_values``), given alone or
        changing ``params``.
    ray
        Run on a Ray cluster, one task per class (needs ``prime_rs[ray]``): ``True`` joins
        the cluster that ``RAY_ADDRESS`` names, else starts a local one; a string is a
        cluster's address. ``samples`` may then be a Parquet file or a folder of Parquet files
        that every node can read, and each worker reads only its class's rows. The result is
        the local search's, row for row (see :mod:`prime_rs.distributed`).

    Returns
    -------
    polars.DataFrame
        One row per mode: ``label, tags, n_tags, support, accuracy, class_accuracy, drop,
        necessity`` (the smallest ``A_{S-t} - A_S``), then ``accuracy_low, accuracy_high``
        (Wilson interval), ``p_value`` (one-sided binomial probability of an accuracy this low
        in a group this size at the class's accuracy), ``q_value`` (Benjamini–Hochberg over
        every frequent set of the searched classes), ``impact`` (``support * (class_accuracy -
        accuracy)``: the errors beyond the class's rate), and, when predictions are known,
        ``confused_with`` (most common wrong prediction in the group), ``confused_share`` (its
        share of the group's errors) and ``tag_lift`` (how much more frequent the tag set is
        in the ``confused_with`` class than in its own). Sorted by label, then the ranking,
        then tags. An empty result is an empty table with these columns; the reason is
        logged on the ``prime_rs`` logger.

    Notes
    -----
    The q-values treat every frequent tag set of every searched class (at most ``max_tags``
    tags, support at least ``min_support``; the counts are the ``hypotheses`` column of
    ``TagIndex.search(...).summary``)
    as one family of hypotheses, each tested against its own class's accuracy: a family
    fixed by the tags alone, before looking at which predictions are correct, and one family
    for all classes so that false discoveries do not add up across classes.

    What a q-value promises: among modes kept with ``q_value <= 0.05``, the expected share
    of groups whose true accuracy is not below their class's accuracy is at most 5%, *if*
    the tests are independent or positively dependent. They are not independent
    (overlapping tag sets share samples); positive dependence is plausible but not
    guaranteed. A q-value says nothing about the size of the drop, nor whether the tags
    *cause* the errors. Use :func:`noise_control` to see how many modes the same search
    finds when errors are unrelated to tags.

    Examples
    --------
    >>> import prime_rs
    >>> from prime_rs import synthetic
    >>> data = synthetic.generate(synthetic.SMALL)
    >>> modes = prime_rs.find_failure_modes(data.samples, max_tags=3, min_support=20)
    >>> bool((modes["drop"] >= 0.3).all())
    True
    """
    p = SearchParams.of(params, **keywords)  # bad parameters fail before the table is read
    if wanted(ray):
        from prime_rs import distributed

        return distributed.search(samples, p, ray=ray).result.modes
    return TagIndex.from_samples(samples, min_tag_count=None).search(p).modes
