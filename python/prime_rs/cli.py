"""The ``prime`` command line: a thin layer over the library.

Every command parses its options, calls library functions (:class:`prime_rs.TagIndex`,
:func:`prime_rs.write_table`, :mod:`prime_rs.synthetic`) and prints what they return; the
method itself lives in the library, where the tests call it directly.

Bad input (a :class:`prime_rs.PrimeError`, or a usage error click detects) ends the command
with a one-paragraph message on stderr and exit status 2; Ctrl-C prints ``Interrupted`` and
exits with 130.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import polars as pl

from prime_rs import synthetic
from prime_rs._engine import __version__, build_profile
from prime_rs._text import count as _count
from prime_rs._text import echo_lines as _echo
from prime_rs._text import join_tags
from prime_rs._text import pct as _pct
from prime_rs._text import plural as _plural
from prime_rs._text import table as _table
from prime_rs.data import output_format, write_table
from prime_rs.errors import PrimeError, SearchCancelled
from prime_rs.search import (
    DEFAULT_NECESSITY,
    RANKINGS,
    SEARCH_METHODS,
    TagIndex,
    check_params,
    check_trust_params,
    default_threads,
)

__all__ = ["cli", "main"]

_TOP = 10  # strongest modes shown
_TAGS_WIDTH = 60  # widest tag list shown before it is cut


class CliError(click.ClickException):
    """Bad input or parameters: a one-paragraph message on stderr and exit status 2."""

    exit_code = 2


class _PrimeGroup(click.Group):
    """Turns library errors and Ctrl-C into clean exits for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, SearchCancelled):
            click.echo("Interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except PrimeError as e:
            raise CliError(str(e)) from None


def _fraction_option(ctx: click.Context, param: click.Parameter, value: str | float) -> float:
    """``--min-drop``: a fraction written as ``0.3`` or ``30%``; the range is the library's."""
    if isinstance(value, float):
        return value
    try:
        return _parse_fraction(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a fraction; write it as 0.3 or 30%", ctx, param
        ) from None


def _optional_fraction_option(
    ctx: click.Context, param: click.Parameter, value: str | float | None
) -> float | None:
    """``--max-q``: like ``--min-drop``, but may be left out."""
    return None if value is None else _fraction_option(ctx, param, value)


def _fractions_option(
    ctx: click.Context, param: click.Parameter, value: str | tuple[float, ...]
) -> tuple[float, ...]:
    """``--necessity``: fractions separated by commas, e.g. ``0.10,0.05,0.025`` or ``10%,5%``."""
    if isinstance(value, tuple):
        return value
    text = value.strip()
    if not text:
        return ()  # the library says why an empty list cannot work
    out = []
    for i, part in enumerate(text.split(","), start=1):
        try:
            out.append(_parse_fraction(part))
        except ValueError:
            what = "is empty" if not part.strip() else f"{part.strip()!r} is not a fraction"
            raise click.BadParameter(
                f"value {i} of {text!r} {what}; write fractions separated by commas, "
                "e.g. 0.10,0.05,0.025 or 10%,5%,2.5%",
                ctx,
                param,
            ) from None
    return tuple(out)


def _parse_fraction(text: str) -> float:
    """``"0.3"`` -> 0.3, ``"30%"`` -> 0.3; raises ValueError for anything else."""
    t = text.strip()
    if t.endswith("%"):
        return float(t[:-1].strip()) / 100.0
    return float(t)


def _pct_short(x: float) -> str:
    return f"{x * 100:g}%"


@contextmanager
def _captured_log() -> Iterator[list[logging.LogRecord]]:
    """Collect what the library logs on ``prime_rs`` instead of letting it print."""
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("prime_rs")
    handler = _Keep()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _data_lines(index: TagIndex) -> list[str]:
    classes = index.classes()
    n = int(classes["n_samples"].sum())
    correct = int(classes["n_correct"].sum())
    accuracy = f", accuracy {_pct(correct / n)}" if n else ""
    return [
        f"data        {_plural(n, 'sample')}, {_plural(classes.height, 'class')}, "
        f"{_plural(len(index.vocabulary), 'distinct tag')}{accuracy}"
    ]


def _params_line(
    max_tags: int,
    min_support: int,
    min_drop: float,
    necessity: Sequence[float],
    min_tag_count: int | None,
    threads: int | None,
) -> str:
    parts = [
        f"max_tags {max_tags}",
        f"min_support {min_support}",
        f"min_drop {_pct_short(min_drop)}",
        f"necessity {' / '.join(_pct_short(b) for b in necessity)}",
    ]
    if min_tag_count is not None:
        parts.append(f"min_tag_count {min_tag_count}")
    used = f"{threads}" if threads else f"{default_threads()} (one per core)"
    return f"parameters  {', '.join(parts)}\nthreads     {used}"


def _modes_lines(index: TagIndex, modes: pl.DataFrame, max_tags: int) -> list[str]:
    """Modes per class and size, the strongest modes, and the tag sets tested."""
    tested = index.last_sets_tested
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

    top = modes.sort("drop", descending=True, maintain_order=True).head(_TOP)
    lines += ["", f"strongest modes (top {top.height} of {modes.height}, by drop)"]
    confused = "confused_with" in modes.columns
    rows = [
        [
            str(r["label"]),
            _join_tags(r["tags"]),
            _count(r["support"]),
            _pct(r["accuracy"]),
            f"{r['accuracy_low'] * 100:.0f}-{r['accuracy_high'] * 100:.0f}%",
            _pct(r["class_accuracy"]),
            _pct(r["drop"]),
            f"{r['q_value']:.1e}",
            *([str(r["confused_with"]) if r["confused_with"] is not None else "-"] * confused),
        ]
        for r in top.iter_rows(named=True)
    ]
    header = ["class", "tags", "support", "accuracy", "interval", "class acc.", "drop", "q"]
    lines += _table(header + ["mistaken for"] * confused, rows, left=2)
    return lines


def _noise_lines(found: int, null: pl.DataFrame) -> list[str]:
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


def _search(
    index: TagIndex,
    *,
    max_tags: int,
    min_support: int,
    min_drop: float,
    necessity: Sequence[float],
    min_tag_count: int | None,
    labels: list[Any] | None,
    threads: int | None,
    **trust: Any,
) -> tuple[pl.DataFrame, str | None]:
    """Run the search; return the modes and, when there are none, the reason (printed once)."""
    with _captured_log() as records:
        modes = index.search(
            max_tags=max_tags,
            min_support=min_support,
            min_drop=min_drop,
            necessity=necessity,
            min_tag_count=min_tag_count,
            labels=labels,
            threads=threads,
            **trust,
        )
    reason = index.last_empty_reason
    for record in records:
        message = record.getMessage()
        if message != reason:
            click.echo(f"{record.levelname.lower()}: {message}", err=True)
    return modes, reason


def _check_output(output: str | None) -> None:
    """Fail before a long search, not after it, when the output cannot be written."""
    if output is None:
        return
    if Path(output).is_dir():
        raise CliError(f"{output}: is a folder; give a file name such as modes.parquet")
    output_format(output)


def _class_labels(index: TagIndex, labels: str | None, source: str) -> list[Any] | None:
    """``--labels a,b`` as the label column's values (integers when the labels are)."""
    if labels is None:
        return None
    names = [x.strip() for x in labels.split(",")]
    if not any(names) or not all(names):
        raise click.BadParameter(
            f"{labels!r} has an empty class name; separate names with commas, e.g. cat,dog",
            param_hint="'--labels'",
        )
    if not index.classes()["label"].dtype.is_integer():
        return names
    out = []
    for name in names:
        try:
            out.append(int(name))
        except ValueError:
            first = ", ".join(str(x) for x in index.labels[:3])
            raise CliError(
                f"--labels: {name!r} is not a class number, but the classes in {source} are "
                f"numbered ({first}, ...); give numbers, e.g. --labels {index.labels[0]}"
            ) from None
    return out


_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=_PrimeGroup, context_settings=_CONTEXT)
@click.version_option(
    __version__,
    "-V",
    "--version",
    prog_name="prime",
    message=f"%(prog)s %(version)s (prime_rs engine, {build_profile} build)",
)
def cli() -> None:
    """Find the failure modes of an image classifier, the PRIME way.

    A failure mode is a small set of tags (concepts seen in the images, such as "snow" +
    "night") whose samples the classifier gets much more often wrong than the rest of
    their class. The input is a samples table (Parquet, CSV or JSON lines) with the
    columns id, label, tags, and prediction or correct.

    \b
    Examples:
      prime demo                                   # synthetic data, in seconds
      prime search samples.parquet -o modes.parquet
      prime search samples.csv --min-drop 25% --max-tags 3 -o modes.csv
    """


@cli.command()
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
    callback=_fraction_option,
    metavar="FRACTION",
    default="0.30",
    show_default=True,
    help="Accuracy drop below the class accuracy a mode needs (a): 0.3 or 30%.",
)
@click.option(
    "--necessity",
    callback=_fractions_option,
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
    callback=_fraction_option,
    default="0.95",
    metavar="FRACTION",
    show_default=True,
    help="Level of the accuracy interval (accuracy_low, accuracy_high): 0.95 or 95%.",
)
@click.option(
    "--max-q",
    callback=_optional_fraction_option,
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
    _check_output(output)
    t0 = time.perf_counter()
    detect_rows, holdout_rows, split_lines = search_splits(
        samples, split_column, detect_split, holdout_split
    )
    index = TagIndex.from_samples(samples if detect_rows is None else detect_rows)
    t1 = time.perf_counter()
    wanted = _class_labels(index, labels, samples)
    modes, reason = _search(
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
            *_data_lines(index),
            _params_line(max_tags, min_support, min_drop, necessity, min_tag_count, threads),
            f"time        load + index build {t1 - t0:.2f} s, search {t2 - t1:.2f} s",
            "",
            *_modes_lines(index, modes, max_tags),
            *(_noise_lines(modes.height, null) if null is not None else []),
            *held,
        ]
    )
    if reason:
        click.echo(reason)
    if output is not None:
        write_table(modes, output)
        click.echo("")
        click.echo(f"wrote {_plural(modes.height, 'failure mode')} to {output}")


#: Search parameters of the Fashion-MNIST demo (the bundled thumbnails were chosen with them).
DEMO_PARAMS: dict[str, Any] = {
    "max_tags": 3,
    "min_support": 20,
    "min_drop": 0.20,
    "necessity": DEFAULT_NECESSITY,
    "min_tag_count": None,
}


def _fashion_mnist_demo(*, threads: int | None, output: str | None, report_dir: str) -> None:
    """``prime demo``: search the bundled Fashion-MNIST data, re-measure on the holdout,
    print a summary per class and write the HTML report."""
    from prime_rs.data.fashion_mnist import fashion_mnist, fashion_mnist_thumbnails
    from prime_rs.evaluate.generalization import generalization
    from prime_rs.report import write_report

    params = dict(DEMO_PARAMS)
    check_params(**params, threads=threads)
    _check_output(output)
    click.echo(
        "prime demo: a small CNN's failure modes on Fashion-MNIST, tags from "
        "EfficientNet-Lite0 (bundled data)"
    )
    click.echo("")
    steps: list[tuple[str, float, str]] = []
    t = time.perf_counter()

    def step(name: str, note: str = "") -> None:
        nonlocal t
        now = time.perf_counter()
        steps.append((name, now - t, note))
        click.echo(f"{name:<15}{now - t:6.2f} s   {note}".rstrip())
        t = now

    t0 = t
    samples = fashion_mnist()
    detect = samples.filter(pl.col("split") == "detect")
    holdout = samples.filter(pl.col("split") == "holdout")
    step("load", f"{detect.height:,} detect + {holdout.height:,} holdout images")
    index = TagIndex.from_samples(detect)
    held_index = TagIndex.from_samples(holdout)
    step("index build")
    modes, reason = _search(index, **params, labels=None, threads=threads)
    step("search", _plural(modes.height, "failure mode"))
    modes = generalization(modes, held_index)
    step("generalization", f"re-measured on {holdout.height:,} unseen images")
    null = index.noise_control(runs=20, **params, threads=threads)
    step("noise control", "20 shuffles of correctness within classes")
    thumbs = fashion_mnist_thumbnails()
    out_dir = Path(report_dir)
    report = write_report(
        out_dir / "report.html",
        modes,
        detect,
        holdout=holdout,
        thumbnails=thumbs,
        title="Fashion-MNIST: failure modes of a small CNN",
        subtitle="prime demo: tags from EfficientNet-Lite0's ImageNet labels; detect = "
        "held-out training images, holdout = the official test set",
        parameters={
            "max_tags": params["max_tags"],
            "min_support": params["min_support"],
            "min_drop": _pct_short(params["min_drop"]),
            "necessity": " / ".join(_pct_short(b) for b in params["necessity"]),
        },
    )
    step("report", str(report))
    click.echo(f"{'total':<15}{time.perf_counter() - t0:6.2f} s")
    click.echo("")
    held_acc = float((holdout["label"] == holdout["prediction"]).mean())  # type: ignore[arg-type]
    _echo(
        [
            *_data_lines(index),
            f"holdout     {_plural(holdout.height, 'sample')}, accuracy {_pct(held_acc)}",
            _params_line(**params, threads=threads),
            "",
        ]
    )
    if reason:
        click.echo(reason)
        click.echo("")
    classes = index.classes()
    h_classes = {r["label"]: r for r in held_index.classes().iter_rows(named=True)}
    counts = dict(modes.group_by("label").len().iter_rows()) if modes.height else {}
    rows = []
    for r in classes.sort("accuracy").iter_rows(named=True):
        label = r["label"]
        h = h_classes.get(label)
        mine = modes.filter(pl.col("label") == label).sort("drop", descending=True)
        best = ""
        if mine.height:
            m = mine.row(0, named=True)
            hold = f", holdout {_pct(m['holdout_accuracy'])}" if m["holdout_accuracy"] else ""
            best = f"{_join_tags(m['tags'])} ({_pct(m['accuracy'])}{hold})"
        rows.append(
            [
                str(label),
                _pct(r["accuracy"]),
                _pct(h["n_correct"] / h["n_samples"]) if h and h["n_samples"] else "-",
                str(counts.get(label, 0)),
                best,
            ]
        )
    click.echo("per class (weakest first)")
    _echo(_table(["class", "accuracy", "holdout", "modes", "strongest mode (accuracy)"], rows))
    if modes.height:
        top = modes.sort("drop", descending=True, maintain_order=True).head(_TOP)
        click.echo("")
        click.echo(f"strongest modes (top {top.height} of {modes.height}, by drop)")
        rows = []
        for r in top.iter_rows(named=True):
            h = r["holdout_accuracy"]
            rows.append(
                [
                    str(r["label"]),
                    _join_tags(r["tags"]),
                    _count(r["support"]),
                    _pct(r["accuracy"]),
                    _pct(r["class_accuracy"]),
                    f"{r['q_value']:.1e}",
                    "-" if h is None else f"{_pct(h)} of {r['holdout_support']}",
                    "-"
                    if h is None
                    else f"{r['holdout_accuracy_low'] * 100:.0f}-"
                    f"{r['holdout_accuracy_high'] * 100:.0f}%",
                    _pct(r["holdout_class_accuracy"]) if h is not None else "-",
                    str(r["confused_with"]) if r["confused_with"] is not None else "-",
                ]
            )
        header = ["class", "tags", "support", "accuracy", "class acc.", "q", "holdout"]
        header += ["interval", "class", "mistaken for"]
        _echo(_table(header, rows, left=2))
        click.echo("")
        lines = generalization_lines(modes, holdout="the holdout split", top=0)
        _echo(lines[: lines.index("")] if "" in lines else lines)
    _echo(_noise_lines(modes.height, null))
    click.echo("")
    size = report.stat().st_size / 1e6
    click.echo(f"report      {report} ({size:.1f} MB); open it in a browser")
    if output is not None:
        write_table(modes, output)
        click.echo(f"wrote {_plural(modes.height, 'failure mode')} to {output}")


@cli.command(short_help="Find a real classifier's failure modes on bundled Fashion-MNIST data.")
@click.option(
    "--synthetic",
    "use_synthetic",
    is_flag=True,
    help="Search synthetic Living17-shaped data with planted modes instead (speed at scale).",
)
@click.option("--dense", is_flag=True, help="With --synthetic: denser tags (synthetic.DENSE).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --synthetic.")
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Worker threads [default: one per core].",
)
@click.option(
    "-o",
    "--output",
    metavar="OUT",
    help="Also write the failure modes (.parquet, .csv, .json or .jsonl).",
)
@click.option(
    "--report-dir",
    default="prime-demo",
    show_default=True,
    metavar="DIR",
    help="Folder of the HTML report (report.html) of the Fashion-MNIST demo.",
)
def demo(
    use_synthetic: bool,
    dense: bool,
    seed: int,
    threads: int | None,
    output: str | None,
    report_dir: str,
) -> None:
    """Find the failure modes of a real classifier, with real tags, and write a report.

    The bundled data (made by examples/fashion_mnist/run.py): a small CNN's predictions on
    Fashion-MNIST, with tags from EfficientNet-Lite0's ImageNet labels. The search runs on
    the detect split (held-out training images), every mode is re-measured on the holdout
    split (the official test set), a summary is printed per class, and the report is
    written to prime-demo/report.html. No network, no GPU.

    With --synthetic: 17 classes of 5,200 synthetic samples shaped like Living17 (about 100
    tags per class, modes planted in every class), searched with the paper's defaults
    (max_tags 4, min_support 30, min_drop 30%), to show the speed at scale and how many
    planted modes it recovers.

    \b
    Examples:
      prime demo
      prime demo --synthetic
      prime demo --synthetic --dense --threads 4
      prime demo --synthetic --seed 7 -o modes.parquet
    """
    if not use_synthetic:
        if dense or seed != 0:
            raise click.UsageError("--dense and --seed go with --synthetic")
        _fashion_mnist_demo(threads=threads, output=output, report_dir=report_dir)
        return
    params: dict[str, Any] = {
        "max_tags": 4,
        "min_support": 30,
        "min_drop": 0.30,
        "necessity": DEFAULT_NECESSITY,
        "min_tag_count": None,
    }
    check_params(**params, threads=threads)
    _check_output(output)
    preset = "DENSE" if dense else "SPARSE"
    click.echo(f"prime demo: synthetic Living17-shaped data ({preset} preset, seed {seed})")
    click.echo("")
    t0 = time.perf_counter()
    data = synthetic.generate(synthetic.DENSE if dense else synthetic.SPARSE, seed=seed)
    t1 = time.perf_counter()
    samples = data.samples
    click.echo(
        f"generate      {t1 - t0:6.2f} s   {_plural(samples.height, 'sample')}, "
        f"{_plural(data.planted.height, 'planted mode')}"
    )
    index = TagIndex.from_samples(samples)
    t2 = time.perf_counter()
    click.echo(f"index build   {t2 - t1:6.2f} s")
    modes, reason = _search(index, **params, labels=None, threads=threads)
    t3 = time.perf_counter()
    click.echo(f"search        {t3 - t2:6.2f} s")
    click.echo(f"total         {t3 - t0:6.2f} s")
    click.echo("")
    _echo(
        [
            *_data_lines(index),
            _params_line(**params, threads=threads),
            "",
            *_modes_lines(index, modes, params["max_tags"]),
        ]
    )
    if reason:
        click.echo(reason)
    found = data.planted.join(modes.select("label", "tags"), on=["label", "tags"], how="semi")
    click.echo("")
    click.echo(f"planted modes recovered: {found.height} / {data.planted.height}")
    missed = data.planted.join(modes.select("label", "tags"), on=["label", "tags"], how="anti")
    for label, tags in missed.head(_TOP).iter_rows():
        click.echo(f"  missed: {label}: {_join_tags(tags)}")
    others = modes.height - found.height
    if others:
        click.echo(f"other modes found: {others} (not planted; they pass the thresholds too)")
    if output is not None:
        write_table(modes, output)
        click.echo(f"wrote {_plural(modes.height, 'failure mode')} to {output}")


# The evaluation commands live with the evaluation code (prime_rs.evaluate.commands).
from prime_rs.evaluate.commands import (  # noqa: E402
    evaluate,
    generalization_lines,
    inspect,
    search_splits,
)

cli.add_command(evaluate)
cli.add_command(inspect)

# The vision commands (prime_rs.vision.commands); torch is imported only when one runs.
from prime_rs.vision.commands import predict, retag, run, tag  # noqa: E402

for _vision_command in (tag, predict, retag, run):
    cli.add_command(_vision_command)

from prime_rs.report.commands import report  # noqa: E402

cli.add_command(report)


def main(argv: Sequence[str] | None = None, prog_name: str = "prime") -> int:
    """Run the ``prime`` command line and return its exit status.

    Parameters
    ----------
    argv
        The arguments after the program name (default: ``sys.argv[1:]``).
    prog_name
        The name shown in usage and help texts.

    Returns
    -------
    int
        0 on success, 2 for bad input or parameters, 130 after Ctrl-C.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    prime ... build)
    0
    """
    try:
        cli.main(args=None if argv is None else list(argv), prog_name=prog_name)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        click.echo(str(e.code), err=True)
        return 1
    return 0


def _join_tags(tags: Sequence[str]) -> str:
    return join_tags(tags, _TAGS_WIDTH)
