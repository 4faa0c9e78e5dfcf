"""``prime search``: a samples table in, failure modes out, with a summary on screen."""

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
from prime_rs.io import write_table
from prime_rs.search import (
    DEFAULT_NECESSITY,
    RANKINGS,
    SEARCH_METHODS,
    TagIndex,
    check_params,
    check_trust_params,
)

__all__ = ["search"]


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
    default=4,
    show_default=True,
    help="Largest tag set searched (l in the paper).",
)
@click.option(
    "--min-support",
    type=int,
    default=30,
    show_default=True,
    help="Fewest samples a mode must have (s).",
)
@click.option(
    "--min-drop",
    callback=fraction_option,
    metavar="FRACTION",
    default="0.30",
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
    help="Search only these classes (comma-separated; class numbers when the labels are).",
)
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Worker threads [default: one per core]; the result does not depend on it.",
)
@click.option(
    "--search",
    "method",
    type=click.Choice(SEARCH_METHODS),
    default="exhaustive",
    show_default=True,
    help="exhaustive: every tag set; greedy: a beam search (faster, may miss modes).",
)
@click.option(
    "--beam-width",
    type=int,
    default=100,
    show_default=True,
    help="Sets kept per size and class by --search greedy.",
)
@click.option(
    "--confidence",
    callback=fraction_option,
    default="0.95",
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
    default="drop",
    show_default=True,
    help="Order of modes within a class: drop, q_value, or impact (errors accounted for).",
)
@click.option(
    "--null-runs",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Also run N searches with correctness shuffled within classes, and print how many "
    "modes noise alone gives.",
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
    max_tags: int,
    min_support: int,
    min_drop: float,
    necessity: tuple[float, ...],
    min_tag_count: int | None,
    labels: str | None,
    threads: int | None,
    method: str,
    beam_width: int,
    confidence: float,
    max_q: float | None,
    rank_by: str,
    null_runs: int,
    split_column: str | None,
    detect_split: str | None,
    holdout_split: str | None,
) -> None:
    """Search a samples table for failure modes and print a summary.

    SAMPLES is a Parquet, CSV or JSON-lines file with one row per image: id, label,
    tags (a list of strings; in CSV one string of tags separated by "|"), and
    prediction or correct. An empty result is not an error: the summary says why.

    \b
    Examples:
      prime search samples.parquet -o modes.parquet
      prime search samples.csv --min-support 50 --min-drop 25% -o modes.csv
      prime search samples.jsonl --labels fox,wolf --necessity 0.1,0.05 -o modes.jsonl
      prime search samples.parquet --max-q 0.05 --null-runs 20 --rank-by impact
      prime search samples.parquet --split-column split --detect val --holdout test
    """
    check_params(
        max_tags=max_tags,
        min_support=min_support,
        min_drop=min_drop,
        necessity=necessity,
        min_tag_count=min_tag_count,
        threads=threads,
    )
    trust: dict[str, Any] = {
        "search": method,
        "beam_width": beam_width,
        "confidence": confidence,
        "max_q": max_q,
        "rank_by": rank_by,
    }
    check_trust_params(**trust)
    check_output(output)
    t0 = time.perf_counter()
    detect_rows, holdout_rows, split_lines = search_splits(
        samples, split_column, detect_split, holdout_split
    )
    index = TagIndex.from_samples(samples if detect_rows is None else detect_rows)
    t1 = time.perf_counter()
    wanted = class_labels(index, labels, samples)
    modes, reason = run_search(
        index,
        max_tags=max_tags,
        min_support=min_support,
        min_drop=min_drop,
        necessity=necessity,
        min_tag_count=min_tag_count,
        labels=wanted,
        threads=threads,
        **trust,
    )
    t2 = time.perf_counter()
    null = None
    if null_runs:
        null = index.noise_control(
            runs=null_runs,
            max_tags=max_tags,
            min_support=min_support,
            min_drop=min_drop,
            necessity=necessity,
            min_tag_count=min_tag_count,
            labels=wanted,
            threads=threads,
            search=method,
            beam_width=beam_width,
            max_q=max_q,
        )
    held: list[str] = []
    if holdout_rows is not None:
        from prime_rs.evaluate.generalization import generalization

        modes = generalization(modes, holdout_rows, confidence=confidence)
        where = f"{split_column} == {holdout_split!r}"
        held = ["", *generalization_lines(modes, holdout=where, thresholds=(min_drop, 0.25))]
    _echo(
        [
            f"samples     {samples}",
            *split_lines,
            *data_lines(index),
            params_line(max_tags, min_support, min_drop, necessity, min_tag_count, threads),
            f"time        load + index build {t1 - t0:.2f} s, search {t2 - t1:.2f} s",
            "",
            *modes_lines(index, modes, max_tags),
            *(noise_lines(modes.height, null) if null is not None else []),
            *held,
        ]
    )
    if reason:
        click.echo(reason)
    if output is not None:
        write_table(modes, output)
        click.echo("")
        click.echo(f"wrote {_plural(modes.height, 'failure mode')} to {output}")
