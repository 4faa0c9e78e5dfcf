"""``prime evaluate ...`` and ``prime inspect``: thin click commands over prime_rs.evaluate.

Every command reads the tables other commands write (samples, modes, embeddings, prompts),
prints a short summary, and writes its numbers as a table (``-o``) and its figures as PNG and
SVG (``--plot``). Library errors become ``Error: ...`` with exit status 2 through the
``prime`` group; torch and matplotlib are imported only by the commands that need them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np
import polars as pl

from prime_rs.data import load_samples, output_format, write_table
from prime_rs.errors import InputError
from prime_rs.evaluate._common import read_modes, select_split
from prime_rs.evaluate.generalization import DEFAULT_GENERALIZES

__all__ = ["evaluate", "generalization_lines", "inspect"]

_TAGS_WIDTH = 50
_TOP = 10


# -- small helpers -------------------------------------------------------------------------


def _parse_fraction(text: str) -> float:
    t = text.strip()
    return float(t[:-1].strip()) / 100.0 if t.endswith("%") else float(t)


def _fraction(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A fraction written as ``0.3`` or ``30%``."""
    if value is None or isinstance(value, float):
        return value
    try:
        return _parse_fraction(str(value))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a fraction; write 0.3 or 30%") from None


def _fractions(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Fractions separated by commas: ``0.2,0.3`` or ``20%,30%``."""
    if value is None or isinstance(value, tuple):
        return value
    try:
        return tuple(_parse_fraction(v) for v in str(value).split(","))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: write fractions separated by commas, e.g. 0.2,0.3 or 20%,30%"
        ) from None


def _integers(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Integers separated by commas: ``30,50,100``."""
    if value is None or isinstance(value, tuple):
        return value
    try:
        out = tuple(int(v) for v in str(value).split(","))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: write integers separated by commas, e.g. 30,50,100"
        ) from None
    if any(v < 1 for v in out):
        raise click.BadParameter(f"{value!r}: every value must be at least 1")
    return out


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x * 100:.{digits}f}%"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _join_tags(tags: Sequence[str]) -> str:
    text = " + ".join(tags)
    return text if len(text) <= _TAGS_WIDTH else text[: _TAGS_WIDTH - 3] + "..."


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned text columns: the first ``left`` columns to the left, the others right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _echo(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line)


def _check_output(output: str | None) -> None:
    if output is None:
        return
    if Path(output).is_dir():
        raise InputError(f"{output}: is a folder; give a file name such as result.parquet")
    output_format(output)


def _write(df: pl.DataFrame, output: str | None, what: str) -> None:
    if output is not None:
        write_table(df, output)
        click.echo(f"wrote {what} to {output}")


def _plot_written(paths: Sequence[Path]) -> None:
    click.echo(f"wrote the figure to {', '.join(str(p) for p in paths)}")


def _samples(path: str, split_column: str | None, value: str | None, role: str) -> pl.DataFrame:
    """A samples file, cut to the rows of one split when a split column is given."""
    df = load_samples(path)
    if split_column is None:
        if value is not None:
            raise click.UsageError(f"--{role} needs --split-column (the column holding it)")
        return df
    return select_split(df, split_column, value or role, path)


def _where(path: str, split_column: str | None, value: str | None, role: str) -> str:
    """How a split is named in a summary: the file, and the split when there is one."""
    if split_column is None:
        return path
    return f"{path} ({split_column} == {value or role!r})"


def _split_options(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--split-column`` plus one ``--ROLE VALUE`` option per role (detect, holdout)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for role in reversed(roles):
            f = click.option(
                f"--{role}",
                f"{role}_split",
                metavar="VALUE",
                default=None,
                help=f"The {role} split: rows whose split column holds VALUE [default: {role}].",
            )(f)
        return click.option(
            "--split-column",
            metavar="COLUMN",
            default=None,
            help="Column naming each row's split (e.g. split); with it, only the rows of the "
            f"{' / '.join(roles)} split{'s' if len(roles) > 1 else ''} are used.",
        )(f)

    return decorate


def _clip_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The CLIP model and the image-embedding cache."""
    options = [
        click.option(
            "--model",
            "model_name",
            default="ViT-B-32",
            show_default=True,
            help="open_clip architecture (or any name with --model-config).",
        ),
        click.option(
            "--checkpoint",
            type=click.Path(dir_okay=False),
            required=True,
            help="Local weights file of the CLIP model (nothing is downloaded).",
        ),
        click.option(
            "--model-config",
            type=click.Path(dir_okay=False),
            default=None,
            help="JSON open_clip config for an architecture open_clip does not ship.",
        ),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda[:N]."),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False),
            default=None,
            help="Folder of the image-embedding cache [default: ~/.cache/prime_rs/embeddings].",
        ),
        click.option(
            "--image-root",
            type=click.Path(file_okay=False),
            default=None,
            help="Folder that relative image paths start from [default: the current folder].",
        ),
        click.option(
            "--template",
            "templates",
            multiple=True,
            metavar="TEXT",
            help='Caption template with {label} and {tags}; repeat to average several '
            '[default: "a photo of a {label}, {tags}"].',
        ),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _load_clip(model_name: str, checkpoint: str, model_config: str | None, device: str) -> Any:
    from prime_rs.vision.clip import ClipModel

    return ClipModel.load(model_name, checkpoint, device=device, model_config=model_config)


def _templates(templates: tuple[str, ...]) -> Sequence[str]:
    from prime_rs.evaluate.quality import DEFAULT_TEMPLATES

    return list(templates) if templates else DEFAULT_TEMPLATES


# -- the text the commands print -----------------------------------------------------------


def generalization_lines(
    table: pl.DataFrame,
    *,
    holdout: str,
    thresholds: Sequence[float] = (DEFAULT_GENERALIZES,),
    top: int = _TOP,
) -> list[str]:
    """The generalization summary printed by ``prime search --holdout`` and ``prime evaluate
    generalization``: counts, shares of modes keeping a drop, the correlation, the top modes.
    """
    from prime_rs.evaluate.generalization import generalization_summary

    levels = sorted({float(t) for t in thresholds}, reverse=True)
    main = generalization_summary(table, min_drop=levels[0] if levels else DEFAULT_GENERALIZES)
    n, measured = main["n_modes"], main["n_measured"]
    lines = [f"generalization to {holdout}: {measured} of {n} modes measured"]
    if main["n_without_holdout"]:
        lines[-1] += f" ({main['n_without_holdout']} without holdout samples, counted apart)"
    if not measured:
        return lines
    for level in levels:
        s = generalization_summary(table, min_drop=level)
        lines.append(
            f"  holdout drop >= {level * 100:g}%: {s['n_generalize']} of {measured} "
            f"({_pct(s['share_generalize'])})"
        )
    lines.append(
        f"  mean drop {_pct(main['mean_drop'])} detect, {_pct(main['mean_holdout_drop'])} "
        f"holdout; correlation {_num(main['correlation'], 2)}; "
        f"{main['n_confirmed']} of {measured} with the holdout interval below the class"
    )
    shown = table.filter(pl.col("holdout_support") > 0)
    if "drop" in shown.columns:
        shown = shown.sort("drop", descending=True, maintain_order=True)
    shown = shown.head(top)
    rows = []
    for r in shown.iter_rows(named=True):
        rows.append(
            [
                str(r["label"]),
                _join_tags(r["tags"]),
                _pct(r.get("drop")),
                str(r["holdout_support"]),
                _pct(r["holdout_accuracy"]),
                f"{r['holdout_accuracy_low'] * 100:.0f}-{r['holdout_accuracy_high'] * 100:.0f}%",
                _pct(r["holdout_drop"]),
            ]
        )
    header = ["class", "tags", "drop", "holdout n", "accuracy", "interval", "holdout drop"]
    lines += ["", f"modes on the holdout (top {len(rows)} by detect drop)"]
    lines += _table(header, rows, left=2)
    return lines


# -- prime evaluate ------------------------------------------------------------------------

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=_CONTEXT)
def evaluate() -> None:
    """Measure the failure modes: generalization, description quality, baselines, analyses.

    \b
    Examples:
      prime evaluate generalization modes.parquet test.parquet --plot fig4
      prime evaluate sweep samples.parquet --split-column split --holdout test
      prime evaluate quality modes.parquet samples.parquet --checkpoint clip.pt
      prime evaluate compare modes.parquet samples.parquet --checkpoint clip.pt \\
          --split-column split --holdout test -o compare/
      prime evaluate prompts modes.parquet samples.parquet --top 10 -o prompts.json
    """


@evaluate.command("generalization")
@click.argument("modes", metavar="MODES")
@click.argument("holdout", metavar="HOLDOUT")
@_split_options("holdout")
@click.option(
    "--min-drop",
    callback=_fraction,
    default="0.25",
    show_default=True,
    metavar="FRACTION",
    help="A mode generalizes when its holdout drop is at least this (the paper: 25%).",
)
@click.option("--confidence", callback=_fraction, default="0.95", show_default=True)
@click.option("-o", "--output", metavar="OUT", help="Write the modes with holdout columns.")
@click.option("--plot", metavar="STEM", help="Write Fig. 4 as STEM.png and STEM.svg.")
def generalization_command(
    modes: str,
    holdout: str,
    split_column: str | None,
    holdout_split: str | None,
    min_drop: float,
    confidence: float,
    output: str | None,
    plot: str | None,
) -> None:
    """Re-measure failure modes (MODES, from prime search) on unseen samples (HOLDOUT).

    For a mode S of class c, the holdout group is the holdout samples of c carrying every
    tag of S; its holdout drop is c's holdout accuracy minus the group's. Modes whose group
    is empty on the holdout are counted apart.

    \b
    Examples:
      prime evaluate generalization modes.parquet test.parquet -o modes_test.parquet
      prime evaluate generalization modes.parquet samples.parquet --split-column split \\
          --holdout test --plot fig4
    """
    from prime_rs.evaluate.generalization import generalization

    _check_output(output)
    held = _samples(holdout, split_column, holdout_split, "holdout")
    table = generalization(read_modes(modes), held, confidence=confidence)
    _echo(generalization_lines(table, holdout=_where(holdout, split_column, holdout_split, "holdout"), thresholds=(min_drop,)))
    click.echo("")
    _write(table, output, f"{table.height} modes with holdout columns")
    if plot:
        from prime_rs.evaluate.plots import generalization_plot

        _plot_written(generalization_plot(table, plot, min_drop=min_drop))
