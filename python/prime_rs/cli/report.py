"""``prime report``: the HTML report of a mode table, a thin click command over
:func:`prime_rs.report.write_report`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import polars as pl

__all__ = ["report"]


@click.command(short_help="Write the HTML report of failure modes.")
@click.argument("modes", metavar="MODES")
@click.argument("samples", metavar="SAMPLES")
@click.option(
    "-o", "--output", metavar="HTML", default="report.html", show_default=True,
    help="The report file.",
)  # fmt: skip
@click.option("--split-column", help="Column of SAMPLES holding the split.")
@click.option("--detect", default=None, help="Split the modes were found on [default: detect].")
@click.option("--holdout", default=None, help="Unseen split: modes and ladders re-measured on it.")
@click.option(
    "--thumbnails",
    type=click.Path(dir_okay=False, exists=True),
    help="Thumbnails table (id, image: PNG/JPEG bytes) [default: images from the path column].",
)
@click.option("--image-root", type=click.Path(file_okay=False), help="Where relative paths start.")
@click.option(
    "--images-per-mode", type=click.IntRange(min=0), default=8, show_default=True,
    help="Most images per mode card (0: none).",
)  # fmt: skip
@click.option("--title", default="Failure modes", show_default=True, help="Title of the page.")
def report(
    modes: str,
    samples: str,
    output: str,
    split_column: str | None,
    detect: str | None,
    holdout: str | None,
    thumbnails: str | None,
    image_root: str | None,
    images_per_mode: int,
    title: str,
) -> None:
    """Write one self-contained HTML file explaining the failure modes in MODES.

    MODES is a table from `prime search -o`; SAMPLES the samples table it was searched on.
    The page has an overview, a card per mode (tags, support, accuracy against the class
    with intervals, q-value, what its errors are mistaken for, the accuracy ladder, holdout
    accuracy, sample images), the generalization scatter and a sortable table of all modes.
    It makes no network request.

    \b
    Examples:
      prime report modes.parquet samples.parquet -o report.html
      prime report modes.parquet samples.parquet --split-column split --holdout test
    """
    from prime_rs.evaluate._common import read_modes, split_samples
    from prime_rs.io import load_samples
    from prime_rs.report.images import load_thumbnails, make_thumbnails
    from prime_rs.report.render import write_report

    t0 = time.perf_counter()
    mode_table = read_modes(modes)
    held: pl.DataFrame | None = None
    if split_column is not None:
        d, held = split_samples(samples, split_column, detect or "detect", holdout)
    else:
        for name, value in (("--detect", detect), ("--holdout", holdout)):
            if value is not None:
                raise click.UsageError(f"{name} needs --split-column (the column holding it)")
        d = load_samples(samples, source=samples)
    thumbs: dict[Any, bytes] = {}
    if images_per_mode:
        if thumbnails is not None:
            thumbs = load_thumbnails(thumbnails)
        elif "path" in d.columns:
            from prime_rs.report.images import select_images

            wanted = {i for ids in select_images(mode_table, d, per_mode=images_per_mode)
                      for i in ids}  # fmt: skip
            paths = dict(zip(d["id"].to_list(), d["path"].to_list(), strict=True))
            thumbs = make_thumbnails({i: paths[i] for i in wanted}, root=image_root)
    out = write_report(
        output,
        mode_table,
        d,
        holdout=held,
        thumbnails=thumbs,
        images_per_mode=images_per_mode,
        title=title,
        subtitle=f"{Path(modes).name} on {Path(samples).name}",
    )
    size = out.stat().st_size
    click.echo(
        f"wrote {out} ({size / 1e6:.1f} MB): {mode_table.height:,} modes, "
        f"{len(thumbs):,} images available, in {time.perf_counter() - t0:.2f} s"
    )
