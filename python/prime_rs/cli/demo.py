"""``prime demo``: the bundled Fashion-MNIST data (or synthetic data) searched end to end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import polars as pl

from prime_rs import synthetic
from prime_rs.cli._options import CONTEXT, TOP, check_output, pct_short
from prime_rs.cli._summary import (
    _join_tags,
    data_lines,
    modes_lines,
    noise_lines,
    params_line,
    run_search,
)
from prime_rs.cli._text import count as _count
from prime_rs.cli._text import echo_lines as _echo
from prime_rs.cli._text import pct as _pct
from prime_rs.cli._text import plural as _plural
from prime_rs.cli._text import table as _table
from prime_rs.cli.evaluate import generalization_lines
from prime_rs.io import write_table
from prime_rs.search import DEFAULT_NECESSITY, TagIndex, check_params

__all__ = ["DEMO_PARAMS", "demo"]


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
    from prime_rs.datasets import fashion_mnist, fashion_mnist_thumbnails
    from prime_rs.evaluate.generalization import generalization
    from prime_rs.report import write_report

    params = dict(DEMO_PARAMS)
    check_params(**params, threads=threads)
    check_output(output)
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
    modes, reason = run_search(index, **params, labels=None, threads=threads)
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
            "min_drop": pct_short(params["min_drop"]),
            "necessity": " / ".join(pct_short(b) for b in params["necessity"]),
        },
    )
    step("report", str(report))
    click.echo(f"{'total':<15}{time.perf_counter() - t0:6.2f} s")
    click.echo("")
    held_acc = float((holdout["label"] == holdout["prediction"]).mean())  # type: ignore[arg-type]
    _echo(
        [
            *data_lines(index),
            f"holdout     {_plural(holdout.height, 'sample')}, accuracy {_pct(held_acc)}",
            params_line(**params, threads=threads),
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
        top = modes.sort("drop", descending=True, maintain_order=True).head(TOP)
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
    _echo(noise_lines(modes.height, null))
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
    check_output(output)
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
    modes, reason = run_search(index, **params, labels=None, threads=threads)
    t3 = time.perf_counter()
    click.echo(f"search        {t3 - t2:6.2f} s")
    click.echo(f"total         {t3 - t0:6.2f} s")
    click.echo("")
    _echo(
        [
            *data_lines(index),
            params_line(**params, threads=threads),
            "",
            *modes_lines(index, modes, params["max_tags"]),
        ]
    )
    if reason:
        click.echo(reason)
    found = data.planted.join(modes.select("label", "tags"), on=["label", "tags"], how="semi")
    click.echo("")
    click.echo(f"planted modes recovered: {found.height} / {data.planted.height}")
    missed = data.planted.join(modes.select("label", "tags"), on=["label", "tags"], how="anti")
    for label, tags in missed.head(TOP).iter_rows():
        click.echo(f"  missed: {label}: {_join_tags(tags)}")
    others = modes.height - found.height
    if others:
        click.echo(f"other modes found: {others} (not planted; they pass the thresholds too)")
    if output is not None:
        write_table(modes, output)
        click.echo(f"wrote {_plural(modes.height, 'failure mode')} to {output}")
