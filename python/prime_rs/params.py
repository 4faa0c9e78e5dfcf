"""The search's parameters, declared once: :class:`SearchParams`.

Every entry point (:func:`prime_rs.find_failure_modes`, :meth:`prime_rs.TagIndex.search`,
:func:`prime_rs.noise_control`, ``prime search``) builds one ``SearchParams`` and so validates
its arguments in one place; a test checks that the command line has one option per field,
with the same name and default.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Iterable
from typing import Any

from prime_rs.errors import ParameterError

__all__ = [
    "DEFAULT_NECESSITY",
    "RANKINGS",
    "SEARCH_METHODS",
    "SearchParams",
    "default_threads",
]

#: The paper's ``b_2, b_3, b_4``.
DEFAULT_NECESSITY = (0.10, 0.05, 0.025)
#: Values of ``search``.
SEARCH_METHODS = ("exhaustive", "greedy")
#: Values of ``rank_by``.
RANKINGS = ("drop", "q_value", "impact")

_U32 = 2**32


def _bad(name: str, msg: str) -> ParameterError:
    return ParameterError(f"{name}: {msg}")


def _integer(name: str, value: Any, low: int, high: int = _U32 - 1, what: str = "") -> int:
    """``value`` as an int in ``[low, high]``; numpy integers are integers, bools are not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _bad(name, f"must be an integer{what}, got {value!r}")
    v = int(value)
    if v < low:
        at_least = "a positive integer" if what and low == 1 else f"at least {low}"
        raise _bad(name, f"must be {at_least}{what}, got {v}")
    if v > high:
        limit = "below 2**32" if high == _U32 - 1 else f"at most {high:,}"
        raise _bad(name, f"must be {limit}, got {v:,}")
    return v


def _fraction(name: str, value: Any, hint: str) -> float:
    """``value`` as a float in ``[0, 1]``; numpy floats are numbers, bools and strings not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad(name, f"must be a fraction in [0, 1]{hint}, got {value!r}")
    v = float(value)
    if math.isnan(v) or not 0 <= v <= 1:
        raise _bad(name, f"must be a fraction in [0, 1]{hint}, got {value!r}")
    return v


@dataclasses.dataclass(frozen=True)
class SearchParams:
    """The parameters of a failure-mode search, validated when made.

    Parameters
    ----------
    max_tags
        ``l``: largest tag set considered (the paper uses 4).
    min_support
        ``s``: smallest group, in samples.
    min_drop
        ``a``: a mode's accuracy is at most the class accuracy minus this (0.30 = 30 points).
    necessity
        ``b_2, b_3, ...``: every subset with one tag fewer must be this much more accurate;
        longer sets reuse the last value. One number means the same ``b`` for every size.
    min_tag_count
        Only tags carried by at least this many samples of a class are searched in it
        (default: ``min_support``, which loses nothing).
    labels
        Search only these classes (default: all).
    threads
        Worker threads (default: one per core). The result does not depend on it.
    search
        ``"exhaustive"`` (every set) or ``"greedy"`` (a beam search, paper appendix A.6).
    beam_width
        Sets kept per size and class by the greedy search.
    confidence
        Level of the Wilson interval ``accuracy_low .. accuracy_high``.
    max_q
        Keep only modes whose ``q_value`` is at most this (e.g. 0.05).
    rank_by
        Order of modes within a class: ``"drop"``, ``"q_value"`` or ``"impact"``.
    q_values
        Compute q-values; ``False`` leaves ``q_value`` null and is faster for sweeps.

    Examples
    --------
    >>> p = SearchParams(min_support=20, necessity=0.1)
    >>> p.necessity, p.min_drop
    ((0.1,), 0.3)
    >>> SearchParams(min_drop=1.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    prime_rs.errors.ParameterError: min_drop: must be a fraction in [0, 1] ... got 1.5
    """

    max_tags: int = 4
    min_support: int = 30
    min_drop: float = 0.30
    necessity: tuple[float, ...] = DEFAULT_NECESSITY
    min_tag_count: int | None = None
    labels: Iterable[Any] | None = None  # a tuple once made
    threads: int | None = None
    search: str = "exhaustive"
    beam_width: int = 100
    confidence: float = 0.95
    max_q: float | None = None
    rank_by: str = "drop"
    q_values: bool = True

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise the values once, here
        put(self, "max_tags", _integer("max_tags", self.max_tags, 1, 64))
        put(self, "min_support", _integer("min_support", self.min_support, 1))
        put(
            self,
            "min_drop",
            _fraction("min_drop", self.min_drop, " (0.3 means 30 points)"),
        )
        put(self, "necessity", _necessity(self.necessity))
        if self.min_tag_count is not None:
            put(
                self,
                "min_tag_count",
                _integer("min_tag_count", self.min_tag_count, 1, what=" or None"),
            )
        put(self, "labels", _labels(self.labels))
        if self.threads is not None:
            put(
                self,
                "threads",
                _integer("threads", self.threads, 1, 4096, what=" or None (all cores)"),
            )
        if self.search not in SEARCH_METHODS:
            raise _bad("search", f"must be one of {', '.join(SEARCH_METHODS)}, got {self.search!r}")
        put(self, "beam_width", _integer("beam_width", self.beam_width, 1))
        confidence = self.confidence
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, numbers.Real)
            or not 0 < float(confidence) < 1
        ):
            raise _bad("confidence", f"must be in (0, 1), e.g. 0.95, got {confidence!r}")
        put(self, "confidence", float(confidence))
        if self.max_q is not None:
            put(self, "max_q", _fraction("max_q", self.max_q, ", e.g. 0.05"))
        if self.rank_by not in RANKINGS:
            raise _bad("rank_by", f"must be one of {', '.join(RANKINGS)}, got {self.rank_by!r}")
        if not isinstance(self.q_values, bool):
            raise _bad("q_values", f"must be True or False, got {self.q_values!r}")
        if not self.q_values:
            if self.max_q is not None:
                raise _bad("max_q", "needs q-values; leave q_values=True")
            if self.rank_by == "q_value":
                raise _bad("rank_by", "'q_value' needs q-values; leave q_values=True")

    def replace(self, **changes: Any) -> SearchParams:
        """A copy with some fields changed (validated again).

        >>> SearchParams().replace(max_tags=2).max_tags
        2
        """
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The parameters' names, in order.

        >>> SearchParams.field_names()[:3]
        ('max_tags', 'min_support', 'min_drop')
        """
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, params: SearchParams | None = None, **keywords: Any) -> SearchParams:
        """``params`` with ``keywords`` applied, or new parameters from ``keywords`` alone;
        an unknown keyword is a :class:`~prime_rs.ParameterError` naming the known ones.

        >>> SearchParams.of(max_tags=3).max_tags
        3
        """
        unknown = sorted(set(keywords) - set(cls.field_names()))
        if unknown:
            raise ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"the search's parameters are {', '.join(cls.field_names())}"
            )
        if params is None:
            return cls(**keywords)
        if not isinstance(params, SearchParams):
            raise ParameterError(f"params: must be a SearchParams, got {type(params).__name__}")
        return params.replace(**keywords) if keywords else params


def _necessity(value: Any) -> tuple[float, ...]:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        values: list[Any] = [value]
    elif isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise _bad(
            "necessity",
            f"must be a fraction or a list of fractions (b_2, b_3, ...), got {value!r}",
        )
    else:
        values = list(value)
    if not values:
        raise _bad("necessity", "needs at least one value (b_2, then b_3, ...)")
    out = []
    for b in values:
        if isinstance(b, bool) or not isinstance(b, numbers.Real) or not 0 <= float(b) <= 1:
            raise _bad("necessity", f"values must be fractions in [0, 1], got {b!r}")
        out.append(float(b))
    return tuple(out)


def _labels(value: Any) -> tuple[Any, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        value = [value]  # one class
    out = tuple(value)
    if not out:
        raise _bad(
            "labels",
            "selects no class (an empty list); leave it None to search every class",
        )
    return out


def default_threads() -> int:
    """Threads a search uses when none is given: one per available core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
