"""``prime search``: a samples table in, failure modes out, with a summary on screen.

Its options are the fields of :class:`prime_rs.SearchParams`, one flag each with the same name
and default (``tests/cli/test_cli.py`` checks this), plus what only the command line has: the
output file, the noise control's runs and the split options.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from prime_rs import distributed
from prime_rs.cli._options import CONTEXT, captured_log, check_output, ray_options, take_ray
from prime_rs.cli._params import search_options
from prime_rs.cli._summary import (
    class_labels,
    data_lines,
    modes_lines,
    noise_lines,
    params_line,
    run_search,
    table_lines,
)
from prime_rs.cli._text import echo_lines as _echo
from prime_rs.cli._text import plural as _plural
from prime_rs.cli.evaluate import generalization_lines, search_splits
from prime_rs.evaluate.generalization import generalization
from prime_rs.index import TagIndex
from prime_rs.io import write_table
from prime_rs.noise import noise_control
from prime_rs.params import SearchParams

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
@search_options()
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
@ray_options
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

    With --ray, each class is searched by a task on a Ray cluster, which reads only that
    class's rows of a Parquet file or folder (a path every node can read); the result is the
    local one.

    \b
    Examples:
      prime search samples.parquet -o modes.parquet
      prime search samples.csv --min-support 50 --min-drop 25% -o modes.csv
      prime search samples.jsonl --labels fox,wolf --necessity 0.1,0.05 -o modes.jsonl
      prime search samples.parquet --max-q 0.05 --noise-runs 20 --rank-by impact
      prime search samples.parquet --split-column split --detect val --holdout test
      prime search samples/ --ray -o modes.parquet
    """
    ray = take_ray(options)
    params = SearchParams(**options, search=search_method)  # checked before any reading
    check_output(output)
    t0 = time.perf_counter()
    detect_rows, holdout_rows, split_lines = search_splits(
        samples, split_column, detect_split, holdout_split
    )
    table = samples if detect_rows is None else detect_rows
    if ray is None:
        index = TagIndex.from_samples(table)
        t1 = time.perf_counter()
        params = params.replace(labels=class_labels(index, labels, samples))
        result = run_search(index, params)
        t2 = time.perf_counter()
        null = None
        if noise_runs:
            null = noise_control(
                index, params, runs=noise_runs, progress=_progress_line("noise", "runs done")
            )
        data = data_lines(index)
        timing = f"load + index build {t1 - t0:.2f} s, search {t2 - t1:.2f} s"
    else:
        if labels:
            params = params.replace(
                labels=class_labels(distributed.labels_of(table), labels, samples)
            )
        found = _search_on_ray(table, params, ray, noise_runs)
        result, null = found.result, found.noise
        data = table_lines(found.classes, found.n_tags)
        n = found.classes.height
        timing = (
            f"search on Ray {time.perf_counter() - t0:.2f} s "
            f"(reading, index builds and searches of {_plural(n, 'class')} "
            f"on {_plural(found.nodes, 'node')})"
        )
    modes = result.modes
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
            *data,
            params_line(params),
            f"time        {timing}",
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


def _progress_line(step: str, what: str) -> Callable[[int, int], None]:
    """A progress callback printing ``step  done/total what`` on stderr: rewritten in place
    at most five times a second on a terminal, a line every 30 s otherwise (a log), and
    always the last."""
    tty = sys.stderr.isatty()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and (now - last[0] < (0.2 if tty else 30.0)):
            return
        last[0] = now
        text = f"{step:<11} {done}/{total} {what}"
        if tty:
            click.echo(f"\r{text}", err=True, nl=done == total)
        else:
            click.echo(text, err=True)

    return progress


def _search_on_ray(
    table: Any, params: SearchParams, ray: bool | str, noise_runs: int
) -> distributed.ClusterSearch:
    """The search on Ray with the classes searched so far on stderr; what the library logs
    is printed there too, except the reason for an empty result (the summary prints it)."""
    progress = _progress_line("search", "classes searched")
    with captured_log() as records:
        found = distributed.search(table, params, ray=ray, noise_runs=noise_runs, progress=progress)
    for record in records:
        message = record.getMessage()
        if message != found.result.empty_reason:
            click.echo(f"{record.levelname.lower()}: {message}", err=True)
    return found
