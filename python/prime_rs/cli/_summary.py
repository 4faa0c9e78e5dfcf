"""The text summaries ``prime search`` and ``prime demo`` print: data, parameters, modes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import polars as pl

from prime_rs.cli._options import TOP, CliError, captured_log, pct_short, split_names
from prime_rs.cli._text import count as _count
from prime_rs.cli._text import join_tags
from prime_rs.cli._text import pct as _pct
from prime_rs.cli._text import plural as _plural
from prime_rs.cli._text import table as _table
from prime_rs.index import SearchResult, TagIndex
from prime_rs.params import SearchParams, default_threads

_TAGS_WIDTH = 60  # widest tag list shown before it is cut


def data_lines(index: TagIndex) -> list[str]:
    return table_lines(index.classes(), len(index.vocabulary))


def table_lines(classes: pl.DataFrame, n_tags: int) -> list[str]:
    """The data line from every class's counts (:meth:`TagIndex.classes`) and the number of
    distinct tags."""
    n = int(classes["n_samples"].sum())
    correct = int(classes["n_correct"].sum())
    accuracy = f", accuracy {_pct(correct / n)}" if n else ""
    return [
        f"data        {_plural(n, 'sample')}, {_plural(classes.height, 'class')}, "
        f"{_plural(n_tags, 'distinct tag')}{accuracy}"
    ]


def params_line(p: SearchParams) -> str:
    """The parameters that shape the search, and the threads it ran on."""
    parts = [
        f"max_tags {p.max_tags}",
        f"min_support {p.min_support}",
        f"min_drop {pct_short(p.min_drop)}",
        f"necessity {' / '.join(pct_short(b) for b in p.necessity)}",
    ]
    if p.min_tag_count is not None:
        parts.append(f"min_tag_count {p.min_tag_count}")
    if p.search != "exhaustive":
        parts.append(f"search {p.search} (beam width {p.beam_width})")
    used = f"{p.threads}" if p.threads else f"{default_threads()} (one per core)"
    return f"parameters  {', '.join(parts)}\nthreads     {used}"


def modes_lines(result: SearchResult, max_tags: int) -> list[str]:
    """Modes per class and size, the strongest modes, and the tag sets tested."""
    modes, summary = result.modes, result.summary
    tested = dict(zip(summary["label"].to_list(), summary["sets_tested"].to_list(), strict=True))
    n_searched = len(tested)
    lines = []
    with_modes = modes["label"].n_unique() if modes.height else 0
    lines.append(
        f"found {_plural(modes.height, 'failure mode')} in {with_modes} of "
        f"{_plural(n_searched, 'class')}; "
        f"{_plural(sum(tested.values()), 'tag set')} tested"
    )
    if modes.height == 0:
        return lines
    sizes = list(range(1, max_tags + 1))
    per = modes.group_by("label", "n_tags").len()
    counts: dict[Any, dict[int, int]] = {}
    for label, n_tags, n in per.iter_rows():
        counts.setdefault(label, {})[n_tags] = n
    rows = []
    for label in sorted(counts):
        c = counts[label]
        rows.append([str(label), *(str(c.get(k, 0)) for k in sizes), str(sum(c.values()))])
    totals = [sum(c.get(k, 0) for c in counts.values()) for k in sizes]
    rows.append(["all", *(str(t) for t in totals), str(modes.height)])
    lines += ["", "modes per class and size (number of tags)"]
    lines += _table(["class", *(str(k) for k in sizes), "all"], rows)
    without = [str(label) for label in tested if label not in counts]
    if without:
        shown = ", ".join(without[:8]) + (", ..." if len(without) > 8 else "")
        lines.append(f"  no modes in {_plural(len(without), 'class')}: {shown}")

    top = modes.sort("drop", descending=True, maintain_order=True).head(TOP)
    lines += ["", f"strongest modes (top {top.height} of {modes.height}, by drop)"]
    confused = "confused_with" in modes.columns
    rows = [
        [
            str(r["label"]),
            short_tags(r["tags"]),
            _count(r["support"]),
            _pct(r["accuracy"]),
            f"{r['accuracy_low'] * 100:.0f}-{r['accuracy_high'] * 100:.0f}%",
            _pct(r["class_accuracy"]),
            _pct(r["drop"]),
            f"{r['q_value']:.1e}",
            # Only a table with predictions has confused_with (correct-only tables do not).
            *(
                [str(r["confused_with"]) if r["confused_with"] is not None else "-"]
                if confused
                else []
            ),
        ]
        for r in top.iter_rows(named=True)
    ]
    header = ["class", "tags", "support", "accuracy", "interval", "class acc.", "drop", "q"]
    lines += _table(header + ["mistaken for"] * confused, rows, left=2)
    return lines


def noise_lines(found: int, null: pl.DataFrame) -> list[str]:
    """The noise control's verdict: modes found against modes expected from noise."""
    per_run = null.group_by("run").agg(pl.col("n_modes").sum())["n_modes"].to_numpy()
    runs = len(per_run)
    mean = float(per_run.mean()) if runs else 0.0
    sd = float(per_run.std(ddof=1)) if runs > 1 else 0.0
    top = int(per_run.max()) if runs else 0
    return [
        "",
        f"found {_plural(found, 'mode')}; expected from noise: {mean:.1f} ± {sd:.1f} "
        f"(max {top}) over {_plural(runs, 'shuffle')} of correctness within classes",
    ]


def run_search(index: TagIndex, params: SearchParams) -> SearchResult:
    """Run the search; what the library logs is printed on stderr, except the reason for an
    empty result, which the summary prints once."""
    with captured_log() as records:
        result = index.search(params)
    for record in records:
        message = record.getMessage()
        if message != result.empty_reason:
            click.echo(f"{record.levelname.lower()}: {message}", err=True)
    return result


def class_labels(
    index: TagIndex | pl.Series, labels: Sequence[str], source: str
) -> list[Any] | None:
    """``--labels`` as the label column's values (integers when the labels are). A value that
    is a class name as a whole ("fox, red") names that class, commas and all. ``index`` may
    also be the sorted distinct labels (a search on Ray has no index on the driver)."""
    if isinstance(index, pl.Series):
        known_labels, numbered = index.to_list(), index.dtype.is_integer()
    else:
        known_labels = index.labels
        numbered = index.classes()["label"].dtype.is_integer()
    known = {str(x) for x in known_labels}
    names = split_names(labels, "--labels", "class ", whole=known)
    if names is None or not numbered:
        return names
    out = []
    for name in names:
        try:
            out.append(int(name))
        except ValueError:
            first = ", ".join(repr(x) for x in known_labels[:3])
            raise CliError(
                f"--labels: {name!r} is not a class number, but the classes in {source} are "
                f"numbered ({first}, ...); give numbers, e.g. --labels {known_labels[0]}"
            ) from None
    return out


def short_tags(tags: Sequence[str]) -> str:
    """Tags joined with `` + ``, cut to the width a summary table gives them."""
    return join_tags(tags, _TAGS_WIDTH)
