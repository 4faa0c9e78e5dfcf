"""``prime report``: the HTML report of a mode table, a thin click command over
:func:`prime_rs.report.report_from_files`."""

from __future__ import annotations

import time

import click

from prime_rs.cli._options import CONTEXT

__all__ = ["report"]


@click.command(context_settings=CONTEXT, short_help="Write the HTML report of failure modes.")
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
    from prime_rs.report.render import report_from_files

    for name, value in (("--detect", detect), ("--holdout", holdout)):
        if value is not None and split_column is None:
            raise click.UsageError(f"{name} needs --split-column (the column holding it)")
    t0 = time.perf_counter()
    done = report_from_files(
        modes,
        samples,
        output,
        split_column=split_column,
        detect=detect,
        holdout=holdout,
        thumbnails=thumbnails,
        image_root=image_root,
        images_per_mode=images_per_mode,
        title=title,
    )
    out = done["path"]
    click.echo(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB): {done['n_modes']:,} modes, "
        f"{done['n_images']:,} images available, in {time.perf_counter() - t0:.2f} s"
    )
