"""``prime demo``: prints what :func:`prime_rs.pipeline.demo` finds, as it goes."""

from __future__ import annotations

import textwrap

import click
import polars as pl

from prime_rs.cli._options import CONTEXT, TOP, check_output
from prime_rs.cli._summary import (
    data_lines,
    modes_lines,
    noise_lines,
    params_line,
    short_tags,
)
from prime_rs.cli._text import count as _count
from prime_rs.cli._text import echo_lines as _echo
from prime_rs.cli._text import pct as _pct
from prime_rs.cli._text import plural as _plural
from prime_rs.cli._text import table as _table
from prime_rs.cli.evaluate import generalization_lines
from prime_rs.io import write_table
from prime_rs.pipeline import DEMO_PARAMS, DemoResult, paper_statistic_line
from prime_rs.pipeline import demo as run_demo

__all__ = ["DEMO_PARAMS", "demo"]


def _step(name: str, seconds: float, note: str) -> None:
    click.echo(f"{name:<15}{seconds:6.2f} s   {note}".rstrip())


def _fashion_mnist(out: DemoResult, output: str | None) -> None:
    """The summary of the Fashion-MNIST demo: per class, the strongest modes, noise, report."""
    index, modes, holdout, noise, report = out.index, out.modes, out.holdout, out.noise, out.report
    assert holdout is not None and noise is not None and out.holdout_classes is not None
    assert report is not None
    click.echo(f"{'total':<15}{sum(t for _, t, _ in out.steps):6.2f} s")
    click.echo("")
    held_acc = float((holdout["label"] == holdout["prediction"]).mean())  # type: ignore[arg-type]
    _echo(
        [
            *data_lines(index),
            f"holdout     {_plural(holdout.height, 'sample')}, accuracy {_pct(held_acc)}",
            params_line(out.params),
            "",
        ]
    )
    if out.result.empty_reason:
        click.echo(out.result.empty_reason)
        click.echo("")
    classes = index.classes()
    h_classes = {r["label"]: r for r in out.holdout_classes.iter_rows(named=True)}
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
            best = f"{short_tags(m['tags'])} ({_pct(m['accuracy'])}{hold})"
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
        top = modes.sort("drop", descending=True, maintain_order=True).head(TOP)
        click.echo("")
        click.echo(f"strongest modes (top {top.height} of {modes.height}, by drop)")
        rows = []
        for r in top.iter_rows(named=True):
            h = r["holdout_accuracy"]
            rows.append(
                [
                    str(r["label"]),
                    short_tags(r["tags"]),
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
    if out.generalizes is not None:
        click.echo("")
        text = "the paper's statistic: " + paper_statistic_line(out.generalizes)
        _echo(textwrap.wrap(text, width=96, subsequent_indent="  "))
    _echo(noise_lines(modes.height, noise))
    click.echo("")
    size = report.stat().st_size / 1e6
    click.echo(f"report      {report} ({size:.1f} MB); open it in a browser")
    if output is not None:
        write_table(modes, output)
        click.echo(f"wrote {_plural(modes.height, 'failure mode')} to {output}")


@click.command(
    context_settings=CONTEXT,
    short_help="Find a real classifier's failure modes on bundled Fashion-MNIST data.",
)
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
    if not use_synthetic and (dense or seed != 0):
        raise click.UsageError("--dense and --seed go with --synthetic")
    DEMO_PARAMS.replace(threads=threads)  # bad --threads fails here, before any work
    check_output(output)
    if use_synthetic:
        preset = "DENSE" if dense else "SPARSE"
        click.echo(f"prime demo: synthetic Living17-shaped data ({preset} preset, seed {seed})")
    else:
        click.echo(
            "prime demo: a small CNN's failure modes on Fashion-MNIST, tags from "
            "EfficientNet-Lite0 (bundled data)"
        )
    click.echo("")
    out = run_demo(
        synthetic_data=use_synthetic,
        dense=dense,
        seed=seed,
        threads=threads,
        report_dir=report_dir,
        on_step=_step,
    )
    if not use_synthetic:
        _fashion_mnist(out, output)
        return
    modes, planted = out.modes, out.planted
    assert planted is not None
    click.echo(f"{'total':<15}{sum(t for _, t, _ in out.steps):6.2f} s")
    click.echo("")
    _echo(
        [
            *data_lines(out.index),
            params_line(out.params),
            "",
            *modes_lines(out.result, out.params.max_tags),
        ]
    )
    if out.result.empty_reason:
        click.echo(out.result.empty_reason)
    found = planted.join(modes.select("label", "tags"), on=["label", "tags"], how="semi")
    click.echo("")
    click.echo(f"planted modes recovered: {found.height} / {planted.height}")
    missed = planted.join(modes.select("label", "tags"), on=["label", "tags"], how="anti")
    for label, tags in missed.head(TOP).iter_rows():
        click.echo(f"  missed: {label}: {short_tags(tags)}")
    others = modes.height - found.height
    if others:
        click.echo(f"other modes found: {others} (not planted; they pass the thresholds too)")
    if output is not None:
        write_table(modes, output)
        click.echo(f"wrote {_plural(modes.height, 'failure mode')} to {output}")
