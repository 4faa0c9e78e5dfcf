"""The search's options, one per :class:`prime_rs.SearchParams` field with the field's name
and default (``tests/search/test_params.py`` checks this), shared by ``prime search`` and
``prime run``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from prime_rs.cli._options import fraction_option, fractions_option
from prime_rs.params import DEFAULT_NECESSITY, RANKINGS, SEARCH_METHODS, SearchParams

__all__ = ["search_options", "take_params"]

F = TypeVar("F", bound=Callable[..., Any])
_DEFAULTS = SearchParams()

#: The options by field name, in the order ``--help`` shows them.
_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "max_tags": click.option(
        "--max-tags",
        type=int,
        default=_DEFAULTS.max_tags,
        show_default=True,
        help="Largest tag set searched (l in the paper).",
    ),
    "min_support": click.option(
        "--min-support",
        type=int,
        default=_DEFAULTS.min_support,
        show_default=True,
        help="Fewest samples a mode must have (s).",
    ),
    "min_drop": click.option(
        "--min-drop",
        callback=fraction_option,
        metavar="FRACTION",
        default=f"{_DEFAULTS.min_drop:g}",
        show_default=True,
        help="Accuracy drop below the class accuracy a mode needs (a): 0.3 or 30%.",
    ),
    "necessity": click.option(
        "--necessity",
        callback=fractions_option,
        metavar="B2,B3,...",
        default=",".join(f"{b:g}" for b in DEFAULT_NECESSITY),
        show_default=True,
        help="How much more accurate every subset with one tag fewer must be, for sets of "
        "2, 3, ... tags (b_2, b_3, ...; longer sets reuse the last value).",
    ),
    "min_tag_count": click.option(
        "--min-tag-count",
        type=int,
        default=None,
        help="Search only tags carried by at least this many samples of a class "
        "[default: min-support, which loses nothing].",
    ),
    "labels": click.option(
        "--labels",
        metavar="A,B,...",
        multiple=True,
        help="Search only these classes: comma-separated (class numbers when the labels are); "
        'quote a name holding a comma ("big, dog"), or repeat the option.',
    ),
    "threads": click.option(
        "--threads",
        type=int,
        default=None,
        help="Worker threads [default: one per core]; the result does not depend on it.",
    ),
    "search": click.option(
        "--search",
        "search_method",
        type=click.Choice(SEARCH_METHODS),
        default=_DEFAULTS.search,
        show_default=True,
        help="exhaustive: every tag set; greedy: a beam search (faster, may miss modes).",
    ),
    "beam_width": click.option(
        "--beam-width",
        type=int,
        default=_DEFAULTS.beam_width,
        show_default=True,
        help="Sets kept per size and class by --search greedy.",
    ),
    "confidence": click.option(
        "--confidence",
        callback=fraction_option,
        default=f"{_DEFAULTS.confidence:g}",
        metavar="FRACTION",
        show_default=True,
        help="Level of the accuracy interval (accuracy_low, accuracy_high): 0.95 or 95%.",
    ),
    "max_q": click.option(
        "--max-q",
        callback=fraction_option,
        default=None,
        metavar="FRACTION",
        help="Keep only modes whose q-value (false-discovery rate) is at most this, e.g. 0.05.",
    ),
    "rank_by": click.option(
        "--rank-by",
        type=click.Choice(RANKINGS),
        default=_DEFAULTS.rank_by,
        show_default=True,
        help="Order of modes within a class: drop, q_value, or impact (errors accounted for).",
    ),
    "q_values": click.option(
        "--q-values/--no-q-values",
        default=_DEFAULTS.q_values,
        show_default=True,
        help="Compute q-values (Benjamini-Hochberg); --no-q-values is faster and leaves them "
        "empty.",
    ),
}


def search_options(*, labels: bool = True) -> Callable[[F], F]:
    """Add the search's options to a command (``labels=False``: all but ``--labels``, for a
    command whose classes are not known before it runs)."""

    def decorate(f: F) -> F:
        for name, option in reversed(_OPTIONS.items()):
            if labels or name != "labels":
                f = option(f)
        return f

    return decorate


def take_params(options: dict[str, Any]) -> SearchParams:
    """Remove the search's options from a command's ``options`` and make them parameters
    (``--labels`` is left out: its names become labels only once the table is read)."""
    fields = {name: options.pop(name) for name in SearchParams.field_names() if name in options}
    if "search_method" in options:
        fields["search"] = options.pop("search_method")
    fields.pop("labels", None)
    return SearchParams(**fields)
