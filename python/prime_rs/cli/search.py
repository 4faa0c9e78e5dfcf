"""``prime search``: a samples table in, failure modes out, with a summary on screen.

Its options are the fields of :class:`prime_rs.SearchParams`, one flag each with the same name
and default (``tests/cli/test_cli.py`` checks this), plus what only the command line has: the
output file, the noise control's runs and the split options.
"""

from __future__ import annotations

import time
from typing import Any

import click

from prime_rs.cli._options import (
    CONTEXT,
    check_output,
    fraction_option,
    fractions_option,
    optional_fraction_option,
)
from prime_rs.cli._summary import (
    class_labels,
    data_lines,
    modes_lines,
    noise_lines,
    params_line,
    run_search,
)
from prime_rs.cli._text import echo_lines as _echo
from prime_rs.cli._text import plural as _plural
from prime_rs.cli.evaluate import generalization_lines, search_splits
from prime_rs.evaluate.generalization import generalization
from prime_rs.index import TagIndex
from prime_rs.io import write_table
from prime_rs.noise import noise_control
from prime_rs.params import DEFAULT_NECESSITY, RANKINGS, SEARCH_METHODS, SearchParams

__all__ = ["search"]

_DEFAULTS = SearchParams()


@click.command(context_settings=CONTEXT)
@click.argument("samples", metavar="SAMPLES")
@click.option(
    "-o",
    "--output",
    metavar="OUT",
    help="Write the failure modes here; the format follows the extension: "
    ".parquet, .csv, .json or .jsonl.",
)
@click.option(
    "--max-tags",
    type=int,
    default=_DEFAULTS.max_tags,
    show_default=True,
    help="Largest tag set searched (l in the paper).",
)
@click.option(
    "--min-support",
    type=int,
    default=_DEFAULTS.min_support,
    show_default=True,
    help="Fewest samples a mode must have (s).",
)
@click.option(
    "--min-drop",
    callback=fraction_option,
    metavar="FRACTION",
    default=f"{_DEFAULTS.min_drop:g}",
    show_default=True,
    help="Accuracy drop below the class accuracy a mode needs (a): 0.3 or 30%.",
)
@click.option(
    "--necessity",
    callback=fractions_option,
    metavar="B2,B3,...",
    default=",".join(f"{b:g}" for b in DEFAULT_NECESSITY),
    show_default=True,
    help="How much more accurate every subset with one tag fewer must be, for sets of "
    "2, 3, ... tags (b_2, b_3, ...; longer sets reuse the last value).",
)
@click.option(
    "--min-tag-count",
    type=int,
    default=None,
    help="Search only tags carried by at least this many samples of a class "
    "[default: min-support, which loses nothing].",
)
@click.option(
    "--labels",
    metavar="A,B,...",
    multiple=True,
    help="Search only these classes: comma-separated (class numbers when the labels are); "
    'quote a name holding a comma ("big, dog"), or repeat the option.',
)
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Worker threads [default: one per core]; the result does not depend on it.",
)
@click.option(
    "--search",
    "search_method",
    type=click.Choice(SEARCH_METHODS),
    default=_DEFAULTS.search,
    show_default=True,
    help="exhaustive: every tag set; greedy: a beam search (faster, may miss modes).",
)
@click.option(
    "--beam-width",
    type=int,
    default=_DEFAULTS.beam_width,
    show_default=True,
    help="Sets kept per size and class by --search greedy.",
)
@click.option(
    "--confidence",
    callback=fraction_option,
    default=f"{_DEFAULTS.confidence:g}",
    metavar="FRACTION",
    show_default=True,
    help="Level of the accuracy interval (accuracy_low, accuracy_high): 0.95 or 95%.",
)
@click.option(
    "--max-q",
    callback=optional_fraction_option,
    default=None,
    metavar="FRACTION",
    help="Keep only modes whose q-value (false-discovery rate) is at most this, e.g. 0.05.",
)
@click.option(
    "--rank-by",
    type=click.Choice(RANKINGS),
    default=_DEFAULTS.rank_by,
    show_default=True,
    help="Order of modes within a class: drop, q_value, or impact (errors accounted for).",
)
@click.option(
    "--q-values/--no-q-values",
    default=_DEFAULTS.q_values,
    show_default=True,
    help="Compute q-values (Benjamini-Hochberg); --no-q-values is faster and leaves them empty.",
)
@click.option(
    "--noise-runs",
    "noise_runs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Also run N searches with correctness shuffled within classes, and print how many "
    "modes noise alone gives (prime_rs.noise_control).",
)
@click.option(
    "--split-column",
    metavar="COLUMN",
    default=None,
    help="Column naming each row's split: search the --detect rows only, and re-measure the "
    "modes on the --holdout rows.",
)
@click.option(
    "--detect",
    "detect_split",
    metavar="VALUE",
    default=None,
    help="The split to search (with --split-column) [default: detect].",
)
@click.option(
    "--holdout",
    "holdout_split",
    metavar="VALUE",
    default=None,
    help="The unseen split (with --split-column): prints how the modes generalize and adds "
    "holdout_* columns (support, accuracy and its interval, drop) to the output.",
)
def search(
    samples: str,
    output: str | None,
    labels: tuple[str, ...],
    search_method: str,
    noise_runs: int,
    split_column: str | None,
    detect_split: str | None,
    holdout_split: str | None,
    **options: Any,
) -> None:
    """Search a samples table for failure modes and print a summary.

    SAMPLES is a Parquet, CSV or JSON-lines file, or a folder of Parquet files, with one row
    per image: id, label, tags (a list of strings; in CSV one string of tags separated by
    "|"), and prediction or correct. An empty result is not an error: the summary says why.

    \b
    Examples:
      prime search samples.parquet -o modes.parquet
      prime search samples.csv --min-support 50 --min-drop 25% -o modes.csv
      prime search samples.jsonl --labels fox,wolf --necessity 0.1,0.05 -o modes.jsonl
      prime search samples.parquet --max-q 0.05 --noise-runs 20 --rank-by impact
      prime search samples.parquet --split-column split --detect val --holdout test
    """
    params = SearchParams(**options, search=search_method)  # checked before any reading
    check_output(output)
    t0 = time.perf_counter()
    detect_rows, holdout_rows, split_lines = search_splits(
        samples, split_column, detect_split, holdout_split
    )
    index = TagIndex.from_samples(samples if detect_rows is None else detect_rows)
    t1 = time.perf_counter()
    params = params.replace(labels=class_labels(index, labels, samples))
    result = run_search(index, params)
    modes = result.modes
    t2 = time.perf_counter()
    null = noise_control(index, params, runs=noise_runs) if noise_runs else None
    held: list[str] = []
    if holdout_rows is not None:
        modes = generalization(modes, holdout_rows, confidence=params.confidence)
        where = f"{split_column} == {holdout_split!r}"
        held = [
            "",
            *generalization_lines(modes, holdout=where, thresholds=(params.min_drop, 0.25)),
        ]
    _echo(
        [
            f"samples     {samples}",
            *split_lines,
            *data_lines(index),
            params_line(params),
            f"time        load + index build {t1 - t0:.2f} s, search {t2 - t1:.2f} s",
            "",
            *modes_lines(result, params.max_tags),
            *(noise_lines(modes.height, null) if null is not None else []),
            *held,
        ]
    )
    if result.empty_reason:
        click.echo(result.empty_reason)
    if output is not None:
        write_table(modes, output)
        click.echo("")
        click.echo(f"wrote {_plural(modes.height, 'failure mode')} to {output}")
