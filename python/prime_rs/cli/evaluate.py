"""``prime evaluate ...`` and ``prime inspect``: thin click commands over prime_rs.evaluate.

Every command reads the tables other commands write (samples, modes, embeddings, prompts),
prints a short summary, and writes its numbers as a table (``-o``) and its figures as PNG and
SVG (``--plot``). Library errors become ``Error: ...`` with exit status 2 through the
``prime`` group; torch and matplotlib are imported only by the commands that need them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
import polars as pl

from prime_rs.cli._options import (
    CONTEXT,
    TOP,
    check_output,
    fraction_option,
    fractions_option,
    split_names,
)
from prime_rs.cli._text import echo_lines as _echo
from prime_rs.cli._text import join_tags
from prime_rs.cli._text import pct as _pct
from prime_rs.cli._text import table as _table
from prime_rs.evaluate._common import load_split, load_splits, read_modes
from prime_rs.evaluate.generalization import DEFAULT_GENERALIZES
from prime_rs.io import write_table

__all__ = ["evaluate", "generalization_lines", "inspect", "search_splits"]

F = TypeVar("F", bound=Callable[..., Any])

_TAGS_WIDTH = 50


# -- small helpers -------------------------------------------------------------------------


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


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _join_tags(tags: Sequence[str]) -> str:
    return join_tags(tags, _TAGS_WIDTH)


def _write(df: pl.DataFrame, output: str | None, what: str) -> None:
    if output is not None:
        write_table(df, output)
        click.echo(f"wrote {what} to {output}")


def _plot_written(paths: Sequence[Path]) -> None:
    click.echo(f"wrote the figure to {', '.join(str(p) for p in paths)}")


def _need_split_column(split_column: str | None, **splits: str | None) -> None:
    """``--detect`` / ``--holdout`` name a split: without ``--split-column`` they mean nothing."""
    if split_column is None:
        for role, value in splits.items():
            if value is not None:
                raise click.UsageError(f"--{role} needs --split-column (the column holding it)")


def _split(path: str, split_column: str | None, value: str | None, role: str) -> pl.DataFrame:
    """A samples file, cut to the rows of one split (``--ROLE``, default ROLE) when a split
    column is given."""
    _need_split_column(split_column, **{role: value})
    return load_split(path, split_column, None if split_column is None else value or role)


def _splits(
    samples: str,
    split_column: str | None,
    detect: str | None,
    holdout: str | None,
    holdout_samples: str | None,
    *,
    default_holdout: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The detect rows of SAMPLES, and the holdout: a split of SAMPLES or a file of its own.

    With ``default_holdout``, a split column without ``--holdout`` means the split named
    ``holdout``.
    """
    if holdout_samples is not None and holdout is not None:
        raise click.UsageError("give --holdout (a split of SAMPLES) or --holdout-samples, not both")
    _need_split_column(split_column, detect=detect, holdout=holdout)
    if default_holdout and split_column is not None and holdout_samples is None:
        holdout = holdout or "holdout"
    return load_splits(
        samples,
        split_column=split_column,
        detect=detect,
        holdout=holdout,
        holdout_samples=holdout_samples,
    )


def _where(path: str, split_column: str | None, value: str | None, role: str) -> str:
    """How a split is named in a summary: the file, and the split when there is one."""
    if split_column is None:
        return path
    return f"{path} ({split_column} == {value or role!r})"


def _options(f: F, options: Sequence[Callable[[F], F]]) -> F:
    for option in reversed(options):
        f = option(f)
    return f


def _split_options(*roles: str) -> Callable[[F], F]:
    """``--split-column`` plus one ``--ROLE VALUE`` option per role (detect, holdout)."""

    def decorate(f: F) -> F:
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


_holdout_samples_option = click.option(
    "--holdout-samples",
    metavar="FILE",
    default=None,
    help="Unseen samples in a file of their own (instead of a split of SAMPLES).",
)


def _model_options(
    *, checkpoint_required: bool = True, checkpoint_help: str | None = None
) -> Callable[[F], F]:
    """The CLIP model, its device and batch size, the image-embedding cache and image root."""
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
            required=checkpoint_required,
            default=None,
            help=checkpoint_help or "Local weights file of the CLIP model (nothing is downloaded).",
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
    ]
    return lambda f: _options(f, options)


_quiet_option = click.option("--quiet", is_flag=True, help="No progress bars.")


def _clip_options(f: F) -> F:
    """The CLIP model, the image-embedding cache, the caption templates and ``--quiet``."""
    template = click.option(
        "--template",
        "templates",
        multiple=True,
        metavar="TEXT",
        help="Caption template with {label} and {tags}; repeat to average several "
        '[default: "a photo of a {label}, {tags}"].',
    )
    return _options(f, [_model_options(), template, _quiet_option])


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
    top: int = TOP,
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


def _sweep_lines(grid: pl.DataFrame, *, with_holdout: bool, generalizes: float) -> list[str]:
    """The grid of ``prime evaluate sweep``: modes per (s, a), and how many generalize."""
    rows = []
    for r in grid.iter_rows(named=True):
        row = [str(r["min_support"]), f"{r['min_drop'] * 100:g}%", str(r["n_modes"])]
        if with_holdout:
            row += [
                f"{r['n_generalize']} / {r['n_measured']}",
                _pct(r["share_generalize"]),
                _pct(r["mean_holdout_drop"]),
            ]
        rows.append(row)
    header = ["min_support", "min_drop", "modes"]
    if with_holdout:
        header += [f"drop >= {generalizes * 100:g}%", "share", "mean holdout drop"]
    return _table(header, rows, left=0)


def _quality_lines(table: pl.DataFrame, s: dict[str, Any], model_id: str) -> list[str]:
    """``prime evaluate quality``: the summary, then the first modes' scores."""
    lines = [
        f"model       {model_id}",
        f"modes       {s['n_groups']} ({s['n_measured']} with images)",
        f"similarity  mean {_num(s['mean_similarity'])}, spread {_num(s['mean_similarity_std'])}",
        f"AUROC       mean {_num(s['mean_auroc'])}, median {_num(s['median_auroc'])}",
        "",
    ]
    rows = [
        [
            str(r["label"]),
            _join_tags(r["tags"]),
            str(r["n_images"]),
            _num(r["similarity_mean"]),
            _num(r["similarity_std"]),
            _num(r["auroc"]),
        ]
        for r in table.head(TOP).iter_rows(named=True)
    ]
    return lines + _table(["class", "tags", "images", "similarity", "std", "AUROC"], rows, left=2)


def _compare_lines(tables: dict[str, pl.DataFrame], model_id: str) -> list[str]:
    """``prime evaluate compare``: both methods side by side, then DOMINO's first slices."""
    summary = tables["summary"]
    rows = []
    for r in summary.iter_rows(named=True):
        row = [
            r["method"],
            str(r["n_groups"]),
            _num(r["mean_support"], 1),
            _num(r["mean_similarity"]),
            _num(r["mean_similarity_std"]),
            _num(r["mean_auroc"]),
        ]
        if "mean_holdout_drop" in r:
            row += [_pct(r["mean_holdout_drop"]), _pct(r["share_generalize"])]
        rows.append(row)
    header = ["method", "groups", "support", "similarity", "std", "AUROC"]
    if "mean_holdout_drop" in summary.columns:
        header += ["holdout drop", f"share >= {DEFAULT_GENERALIZES * 100:g}%"]
    lines = [f"model  {model_id}", "", *_table(header, rows)]
    top = tables["domino"].head(TOP)
    if top.height:
        lines += ["", f"DOMINO slices (top {top.height})"]
        lines += _table(
            ["class", "description", "support", "accuracy", "drop"],
            [
                [
                    str(r["label"]),
                    str(r["description"]),
                    str(r["support"]),
                    _pct(r["accuracy"]),
                    _pct(r["drop"]),
                ]
                for r in top.iter_rows(named=True)
            ],
            left=2,
        )
    return lines


def _tag_overlap_lines(summary: pl.DataFrame) -> list[str]:
    """Table 2: mean holdout drops by number of tags, or why there is nothing to show."""
    if summary.height == 0:
        return ["no mode of 2 or more tags has samples in all three groups on the holdout"]
    rows = [
        [
            str(r["n_tags"]),
            str(r["n_modes"]),
            _pct(r["mean_drop_all"]),
            _pct(r["mean_drop_k_minus_1"]),
            _pct(r["mean_drop_any"]),
        ]
        for r in summary.iter_rows(named=True)
    ]
    header = ["tags (k)", "modes", "all k tags", ">= k-1 tags", ">= 1 tag"]
    return _table(header, rows, left=0)


def _embedding_space_lines(dist: pl.DataFrame, near: pl.DataFrame, source: str) -> list[str]:
    """Tables 3 and 5-7: distance by shared tags, and tags shared with the neighbours."""
    most = dist["shared_tags"].max() if dist.height else None
    top = int(most) if most is not None else 0  # type: ignore[arg-type]
    lines = [f"embeddings  {source}", "", "distance by shared tags (Table 3)"]
    lines += _table(
        ["shared tags", "pairs", "mean distance", "std"],
        [
            [
                f"{r['shared_tags']}+"
                if r["shared_tags"] == top and top >= 4
                else str(r["shared_tags"]),
                f"{r['n_pairs']:,}",
                _num(r["mean_distance"]),
                _num(r["std_distance"]),
            ]
            for r in dist.iter_rows(named=True)
        ],
        left=0,
    )
    lines += ["", "tags shared with the N nearest neighbours (Tables 5-7)"]
    lines += _table(
        ["N", "queries", "embedding space", "random", "tag space (best)"],
        [
            [
                str(r["n_neighbors"]),
                f"{r['n_queries']:,}",
                _num(r["shared_embedding"], 2),
                _num(r["shared_random"], 2),
                _num(r["shared_tag_space"], 2),
            ]
            for r in near.iter_rows(named=True)
        ],
        left=0,
    )
    return lines


def _generated_lines(per_kind: pl.DataFrame) -> list[str]:
    """Accuracy on generated images, per kind of prompt (failure, success)."""
    rows = [
        [
            str(r["kind"]),
            str(r["n_prompts"]),
            str(r["n_images"]),
            _pct(r["accuracy"]),
            _pct(r["mean_prompt_accuracy"]),
        ]
        for r in per_kind.iter_rows(named=True)
    ]
    return _table(["kind", "prompts", "images", "accuracy", "mean per prompt"], rows)


def _ladder_cells(r: dict[str, Any], prefix: str) -> list[str]:
    n = r[f"{prefix}support"]
    if not n:
        return ["0", "-", "-", "-"]
    low, high = r[f"{prefix}accuracy_low"], r[f"{prefix}accuracy_high"]
    return [
        f"{n:,}",
        _pct(r[f"{prefix}accuracy"]),
        f"{low * 100:.0f}-{high * 100:.0f}%",
        _pct(r[f"{prefix}drop"]),
    ]


def _ladder_lines(table: pl.DataFrame, label: str, detect: str, holdout: str | None) -> list[str]:
    """``prime inspect``: the tag set, where it was measured, and every subset's numbers."""
    full = table.row(table.height - 1, named=True)
    lines = [f"{label}: {' + '.join(full['tags'])}", f"detect   {detect}"]
    if holdout is not None:
        lines.append(f"holdout  {holdout}")
    lines.append("")
    rows = []
    for r in table.iter_rows(named=True):
        name = " + ".join(r["tags"]) if r["tags"] else "(whole class)"
        row = [name, *_ladder_cells(r, "")]
        if holdout is not None:
            row += _ladder_cells(r, "holdout_")
        rows.append(row)
    header = ["tags", "support", "accuracy", "interval", "drop"]
    if holdout is not None:
        header += ["holdout n", "accuracy", "interval", "drop"]
    return lines + _table(header, rows)


# -- prime evaluate ------------------------------------------------------------------------


@click.group(context_settings=CONTEXT, short_help="Generalization, quality, baselines, analyses.")
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


@evaluate.command(
    "generalization",
    context_settings=CONTEXT,
    short_help="Re-measure modes on unseen samples (Fig. 4).",
)
@click.argument("modes", metavar="MODES")
@click.argument("holdout", metavar="HOLDOUT")
@_split_options("holdout")
@click.option(
    "--min-drop",
    callback=fraction_option,
    default="0.25",
    show_default=True,
    metavar="FRACTION",
    help="A mode generalizes when its holdout drop is at least this (the paper: 25%).",
)
@click.option("--confidence", callback=fraction_option, default="0.95", show_default=True)
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

    check_output(output, "result.parquet")
    held = _split(holdout, split_column, holdout_split, "holdout")
    table = generalization(read_modes(modes), held, confidence=confidence)
    _echo(
        generalization_lines(
            table,
            holdout=_where(holdout, split_column, holdout_split, "holdout"),
            thresholds=(min_drop,),
        )
    )
    click.echo("")
    _write(table, output, f"{table.height} modes with holdout columns")
    if plot:
        from prime_rs.evaluate.plots import generalization_plot

        _plot_written(generalization_plot(table, plot, min_drop=min_drop))


@evaluate.command(
    "sweep",
    context_settings=CONTEXT,
    short_help="Modes and generalization over a grid of (s, a) (Fig. 10).",
)
@click.argument("samples", metavar="SAMPLES")
@_split_options("detect", "holdout")
@_holdout_samples_option
@click.option(
    "--min-support",
    "min_supports",
    callback=_integers,
    default="30,50,100",
    show_default=True,
    metavar="S1,S2,...",
    help="Values of min_support (s).",
)
@click.option(
    "--min-drop",
    "min_drops",
    callback=fractions_option,
    default="0.2,0.3,0.4",
    show_default=True,
    metavar="A1,A2,...",
    help="Values of min_drop (a).",
)
@click.option("--max-tags", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--generalizes",
    callback=fraction_option,
    default="0.25",
    show_default=True,
    metavar="FRACTION",
    help="A mode generalizes when its holdout drop is at least this.",
)
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("-o", "--output", metavar="OUT", help="Write the grid table.")
@click.option("--plot", metavar="STEM", help="Write Fig. 10 as STEM.png and STEM.svg.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep_command(
    samples: str,
    split_column: str | None,
    detect_split: str | None,
    holdout_split: str | None,
    holdout_samples: str | None,
    min_supports: tuple[int, ...],
    min_drops: tuple[float, ...],
    max_tags: int,
    generalizes: float,
    threads: int | None,
    output: str | None,
    plot: str | None,
    quiet: bool,
) -> None:
    """Count modes, and how many generalize, over a grid of min_support and min_drop.

    The index of the detect samples is built once and searched once per grid point
    (paper appendix A.5, Fig. 10). Without a holdout, only modes are counted.

    \b
    Examples:
      prime evaluate sweep samples.parquet --split-column split --holdout test
      prime evaluate sweep detect.parquet --holdout-samples test.parquet \\
          --min-support 20,30,50 --min-drop 20%,30% -o sweep.csv --plot fig10
    """
    from prime_rs.evaluate.generalization import sweep

    check_output(output, "result.parquet")
    detect, held = _splits(
        samples, split_column, detect_split, holdout_split, holdout_samples, default_holdout=True
    )
    grid = sweep(
        detect,
        held,
        min_supports=min_supports,
        min_drops=min_drops,
        max_tags=max_tags,
        generalizes=generalizes,
        threads=threads,
        show_progress=not quiet,
    )
    _echo(_sweep_lines(grid, with_holdout=held is not None, generalizes=generalizes))
    click.echo("")
    _write(grid, output, f"{grid.height} grid points")
    if plot:
        from prime_rs.evaluate.plots import sweep_plot

        _plot_written(sweep_plot(grid, plot))


@evaluate.command(
    "quality",
    context_settings=CONTEXT,
    short_help="CLIP similarity and AUROC of each mode's caption (Fig. 6).",
)
@click.argument("modes", metavar="MODES")
@click.argument("samples", metavar="SAMPLES")
@_split_options("detect")
@_clip_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the negatives.")
@click.option("-o", "--output", metavar="OUT", help="Write one row per mode.")
def quality_command(
    modes: str,
    samples: str,
    split_column: str | None,
    detect_split: str | None,
    model_name: str,
    checkpoint: str,
    model_config: str | None,
    device: str,
    batch_size: int,
    cache_dir: str | None,
    image_root: str | None,
    templates: tuple[str, ...],
    quiet: bool,
    seed: int,
    output: str | None,
) -> None:
    """How well each mode's caption describes its images, measured with CLIP (Fig. 6).

    For each mode: the caption "a photo of a {label}, {tags}" (or --template), the mean
    and spread of its CLIP similarity to the mode's images, and the AUROC of that
    similarity against as many random images of the class outside the mode. Image
    embeddings are cached (by sample id, path and model): a second run embeds no image.

    \b
    Examples:
      prime evaluate quality modes.parquet samples.parquet --checkpoint clip.pt
      prime evaluate quality modes.parquet samples.parquet --split-column split \\
          --model ViT-B-16 --checkpoint vit_b_16.bin --template "a photo of a {label}" \\
          --template "a {label} with {tags}" -o quality.parquet
    """
    from prime_rs.evaluate.quality import description_quality, quality_summary

    check_output(output, "result.parquet")
    detect = _split(samples, split_column, detect_split, "detect")
    table_modes = read_modes(modes)
    model = _load_clip(model_name, checkpoint, model_config, device)
    table = description_quality(
        table_modes,
        detect,
        model=model,
        templates=_templates(templates),
        seed=seed,
        cache_dir=cache_dir,
        image_root=image_root,
        batch_size=batch_size,
        show_progress=not quiet,
    )
    _echo(_quality_lines(table, quality_summary(table), model.model_id))
    click.echo("")
    _write(table, output, f"{table.height} modes")


@evaluate.command(
    "compare",
    context_settings=CONTEXT,
    short_help="PRIME against a DOMINO-style baseline (Fig. 6, A.9).",
)
@click.argument("modes", metavar="MODES")
@click.argument("samples", metavar="SAMPLES")
@_split_options("detect", "holdout")
@_holdout_samples_option
@_clip_options
@click.option(
    "--vocabulary",
    metavar="FILE",
    default=None,
    help="DOMINO's candidate phrases, one per line [default: every tag of the samples].",
)
@click.option(
    "--components",
    type=click.IntRange(min=1),
    default=None,
    help="DOMINO's mixture components per class [default: max(25, 2 x slices)].",
)
@click.option("--y-weight", type=float, default=10.0, show_default=True, help="DOMINO's γ.")
@click.option("--y-hat-weight", type=float, default=10.0, show_default=True, help="DOMINO's γ̂.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write summary.csv, prime.parquet, domino.parquet and fig6.png/.svg here.",
)
def compare_command(
    modes: str,
    samples: str,
    split_column: str | None,
    detect_split: str | None,
    holdout_split: str | None,
    holdout_samples: str | None,
    model_name: str,
    checkpoint: str,
    model_config: str | None,
    device: str,
    batch_size: int,
    cache_dir: str | None,
    image_root: str | None,
    templates: tuple[str, ...],
    quiet: bool,
    vocabulary: str | None,
    components: int | None,
    y_weight: float,
    y_hat_weight: float,
    seed: int,
    output_dir: str | None,
) -> None:
    """PRIME's modes against DOMINO-style slices on the same images (Fig. 6, A.9).

    DOMINO (an error-aware Gaussian mixture over PCA-reduced CLIP embeddings) gets as many
    slices per class as PRIME found modes there; each slice is described by the phrase of
    the vocabulary closest to its mean embedding. Both methods' captions are scored with
    CLIP; with a holdout, PRIME's modes are re-measured by their tags, and both methods'
    captions by retrieving the closest holdout images.

    \b
    Examples:
      prime evaluate compare modes.parquet samples.parquet --checkpoint clip.pt \\
          --split-column split --holdout test -o compare/
    """
    from prime_rs.evaluate.compare import compare, read_vocabulary, write_comparison

    detect, held = _splits(samples, split_column, detect_split, holdout_split, holdout_samples)
    table_modes = read_modes(modes)
    phrases = None if vocabulary is None else read_vocabulary(vocabulary)
    model = _load_clip(model_name, checkpoint, model_config, device)
    tables = compare(
        table_modes,
        detect,
        model=model,
        holdout=held,
        vocabulary=phrases,
        templates=_templates(templates),
        n_components=components,
        y_weight=y_weight,
        y_hat_weight=y_hat_weight,
        seed=seed,
        cache_dir=cache_dir,
        image_root=image_root,
        batch_size=batch_size,
        show_progress=not quiet,
    )
    _echo(_compare_lines(tables, model.model_id))
    if output_dir is not None:
        written = write_comparison(tables, output_dir)
        click.echo("")
        click.echo(f"wrote {', '.join(p.name for p in written)} to {Path(output_dir)}")


@evaluate.command(
    "tag-overlap",
    context_settings=CONTEXT,
    short_help="Full tag set vs groups with fewer of its tags (Table 2).",
)
@click.argument("modes", metavar="MODES")
@click.argument("holdout", metavar="HOLDOUT")
@_split_options("holdout")
@click.option("-o", "--output", metavar="OUT", help="Write one row per mode.")
def tag_overlap_command(
    modes: str,
    holdout: str,
    split_column: str | None,
    holdout_split: str | None,
    output: str | None,
) -> None:
    """Table 2: holdout drop of modes of k tags vs groups with >= k-1 of the tags, >= 1 tag.

    \b
    Examples:
      prime evaluate tag-overlap modes.parquet test.parquet -o table2.csv
    """
    from prime_rs.evaluate.analyses import tag_overlap, tag_overlap_summary

    check_output(output, "result.parquet")
    held = _split(holdout, split_column, holdout_split, "holdout")
    table = tag_overlap(read_modes(modes), held)
    _echo(_tag_overlap_lines(tag_overlap_summary(table)))
    click.echo("")
    _write(table, output, f"{table.height} modes")


@evaluate.command(
    "embedding-space",
    context_settings=CONTEXT,
    short_help="Distances and neighbours by shared tags (Tables 3, 5-7).",
)
@click.argument("samples", metavar="SAMPLES")
@_split_options("detect")
@click.option(
    "--embeddings",
    metavar="FILE",
    default=None,
    help="Embeddings table (id, embedding); without it, CLIP image embeddings "
    "(--checkpoint) are computed and cached.",
)
@_model_options(checkpoint_required=False, checkpoint_help="CLIP weights (when no --embeddings).")
@click.option(
    "--neighbors",
    callback=_integers,
    default="1,5,10",
    show_default=True,
    metavar="N1,N2,...",
    help="Neighbourhood sizes for the shared-tags table.",
)
@click.option(
    "--metric", type=click.Choice(["cosine", "euclidean"]), default="cosine", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", metavar="OUT", help="Write the distance table (Table 3).")
@click.option("--neighbors-output", metavar="OUT", help="Write the neighbours table (Tables 5-7).")
@_quiet_option
def embedding_space_command(
    samples: str,
    split_column: str | None,
    detect_split: str | None,
    embeddings: str | None,
    checkpoint: str | None,
    model_name: str,
    model_config: str | None,
    device: str,
    batch_size: int,
    cache_dir: str | None,
    image_root: str | None,
    neighbors: tuple[int, ...],
    metric: str,
    seed: int,
    output: str | None,
    neighbors_output: str | None,
    quiet: bool,
) -> None:
    """Tables 3 and 5-7: do images sharing tags lie close together in embedding space?

    Prints the mean distance between two images of a class by the number of tags they
    share, and the tags an image shares with its N nearest neighbours against N random
    images of its class and the N images sharing the most tags.

    \b
    Examples:
      prime evaluate embedding-space samples.parquet --embeddings embeddings.parquet
      prime evaluate embedding-space samples.parquet --checkpoint clip.pt --neighbors 5,20
    """
    from prime_rs.evaluate.analyses import distance_by_shared_tags, neighbor_shared_tags
    from prime_rs.evaluate.embeddings import embed_samples

    check_output(output, "result.parquet")
    check_output(neighbors_output, "result.parquet")
    if embeddings is None and checkpoint is None:
        raise click.UsageError("give --embeddings FILE, or --checkpoint to compute CLIP embeddings")
    df = _split(samples, split_column, detect_split, "detect")
    if embeddings is not None:
        emb: Any = embeddings
        source = embeddings
    elif checkpoint is not None:
        model = _load_clip(model_name, checkpoint, model_config, device)
        emb = embed_samples(
            model,
            df,
            cache_dir=cache_dir,
            image_root=image_root,
            batch_size=batch_size,
            show_progress=not quiet,
        )
        source = model.model_id
    dist = distance_by_shared_tags(df, emb, metric=metric, seed=seed)
    near = neighbor_shared_tags(
        df, emb, n_neighbors=neighbors, metric=metric, seed=seed, show_progress=not quiet
    )
    _echo(_embedding_space_lines(dist, near, f"{source} ({metric} distance)"))
    click.echo("")
    _write(dist, output, "the distance table")
    _write(near, neighbors_output, "the neighbours table")


@evaluate.command(
    "prompts",
    context_settings=CONTEXT,
    short_help="Text-to-image prompts for failure and success modes (4.2).",
)
@click.argument("modes", metavar="MODES")
@click.argument("samples", metavar="SAMPLES")
@_split_options("detect")
@click.option(
    "--top", type=click.IntRange(min=1), default=None, help="Only the N modes of largest drop."
)
@click.option(
    "--success-per-mode",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Success modes (accuracy 100%) per failure mode.",
)
@click.option(
    "--min-support",
    type=click.IntRange(min=1),
    default=None,
    help="Smallest success mode [default: the smallest mode's support].",
)
@click.option("--template", default="a photo of a {label}, {tags}", show_default=True)
@click.option("--images-per-prompt", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--negative-prompt", default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", metavar="FILE.json", required=True, help="Write the prompts here.")
def prompts_command(
    modes: str,
    samples: str,
    split_column: str | None,
    detect_split: str | None,
    top: int | None,
    success_per_mode: int,
    min_support: int | None,
    template: str,
    images_per_prompt: int,
    negative_prompt: str | None,
    seed: int,
    output: str,
) -> None:
    """Text-to-image prompts for failure modes and success modes, as JSON (paper 4.2).

    A success mode is a tag set of the same class (and size, when the class has one) whose
    samples are all predicted correctly. Generate images from both kinds with any diffusion
    pipeline, classify them, and check with `prime evaluate generated` that the failure
    prompts fool the model far more often.

    \b
    Examples:
      prime evaluate prompts modes.parquet samples.parquet --top 10 -o prompts.json
    """
    from prime_rs.evaluate.prompts import generation_prompts, prompt_counts, write_prompts

    detect = _split(samples, split_column, detect_split, "detect")
    data = generation_prompts(
        read_modes(modes),
        detect,
        top=top,
        success_per_mode=success_per_mode,
        min_support=min_support,
        template=template,
        images_per_prompt=images_per_prompt,
        negative_prompt=negative_prompt,
        seed=seed,
    )
    n = prompt_counts(data, success_per_mode)
    for p in data["prompts"][:TOP]:
        click.echo(f"  {p['id']}  {p['prompt']}")
    if len(data["prompts"]) > TOP:
        click.echo(f"  ... ({len(data['prompts']) - TOP} more)")
    path = write_prompts(data, output)
    click.echo("")
    click.echo(f"wrote {n['n_failure']} failure and {n['n_success']} success prompts to {path}")
    if n["n_missing_success"]:
        click.echo(
            f"note: {n['n_missing_success']} success prompts are missing: their classes "
            "have no tag set with 100% accuracy at this support (lower --min-support)"
        )


@evaluate.command(
    "generated",
    context_settings=CONTEXT,
    short_help="Accuracy on images generated from the prompts.",
)
@click.argument("prompts", metavar="PROMPTS")
@click.argument("predictions", metavar="PREDICTIONS")
@click.option("-o", "--output", metavar="OUT", help="Write the per-prompt table.")
def generated_command(prompts: str, predictions: str, output: str | None) -> None:
    """The model's accuracy on images generated from PROMPTS (from `prime evaluate prompts`).

    PREDICTIONS has one row per generated image: prompt_id and prediction.

    \b
    Examples:
      prime evaluate generated prompts.json generated_predictions.csv
    """
    from prime_rs.evaluate.prompts import generated_accuracy

    check_output(output, "result.parquet")
    per_prompt, per_kind = generated_accuracy(prompts, predictions)
    if per_prompt.height == 0:
        click.echo(f"{prompts}: no prompts (no modes to generate for); nothing to measure")
        _write(per_prompt, output, "0 prompts")
        return
    _echo(_generated_lines(per_kind))
    click.echo("")
    _write(per_prompt, output, f"{per_prompt.height} prompts")


@evaluate.command(
    "embed",
    context_settings=CONTEXT,
    short_help="Write CLIP image embeddings as a table (via the cache).",
)
@click.argument("samples", metavar="SAMPLES")
@_split_options("detect")
@_model_options()
@_quiet_option
@click.option("-o", "--output", metavar="OUT", required=True, help="Write the embeddings table.")
def embed_command(
    samples: str,
    split_column: str | None,
    detect_split: str | None,
    checkpoint: str,
    model_name: str,
    model_config: str | None,
    device: str,
    batch_size: int,
    cache_dir: str | None,
    image_root: str | None,
    quiet: bool,
    output: str,
) -> None:
    """Write CLIP image embeddings of the samples as a table (id, embedding), via the cache.

    \b
    Examples:
      prime evaluate embed samples.parquet --checkpoint clip.pt -o embeddings.parquet
    """
    from prime_rs.evaluate.embeddings import embed_samples, embeddings_table

    check_output(output, "result.parquet")
    df = _split(samples, split_column, detect_split, "detect")
    model = _load_clip(model_name, checkpoint, model_config, device)
    emb = embed_samples(
        model,
        df,
        cache_dir=cache_dir,
        image_root=image_root,
        batch_size=batch_size,
        show_progress=not quiet,
    )
    table = embeddings_table(df["id"], emb)
    _write(
        table, output, f"{table.height} embeddings of {emb.shape[1]} dimensions ({model.model_id})"
    )


# -- prime inspect -------------------------------------------------------------------------


@click.command(context_settings=CONTEXT, short_help="Accuracy ladder of a tag set (Tables 1, 4).")
@click.argument("samples", metavar="SAMPLES")
@click.option("--label", required=True, help="The class.")
@click.option(
    "--tags",
    required=True,
    multiple=True,
    metavar="A,B,...",
    help='The tag set, separated by commas; quote a tag holding a comma ("red, white"), or '
    "repeat the option.",
)
@_split_options("detect", "holdout")
@_holdout_samples_option
@click.option("--confidence", callback=fraction_option, default="0.95", show_default=True)
@click.option("-o", "--output", metavar="OUT", help="Write the ladder table.")
def inspect(
    samples: str,
    label: str,
    tags: tuple[str, ...],
    split_column: str | None,
    detect_split: str | None,
    holdout_split: str | None,
    holdout_samples: str | None,
    confidence: float,
    output: str | None,
) -> None:
    """The accuracy ladder of a tag set (Tables 1 and 4): the class, every subset, the set.

    Shows support, accuracy (with its interval) and drop of every subset of the tags, on
    the detect samples and, with a holdout, on unseen samples: a real failure mode needs
    all of its tags.

    \b
    Examples:
      prime inspect samples.parquet --label ape --tags hang,branch,black
      prime inspect samples.parquet --label ape --tags hang,branch --split-column split \\
          --holdout test -o ladder.csv
    """
    from prime_rs.evaluate.analyses import ladder

    check_output(output, "result.parquet")
    detect, held = _splits(samples, split_column, detect_split, holdout_split, holdout_samples)
    known = set(detect["tags"].explode().drop_nulls().unique().to_list())
    tag_set = split_names(tags, "--tags", "tag ", whole=known) or []
    table = ladder(detect, label, tag_set, holdout=held, confidence=confidence)
    detect_name = _where(samples, split_column, detect_split, "detect")
    holdout_name = None
    if held is not None:
        holdout_name = holdout_samples or _where(samples, split_column, holdout_split, "holdout")
    _echo(_ladder_lines(table, label, detect_name, holdout_name))
    click.echo("")
    _write(table, output, f"the ladder ({table.height} rows)")


def search_splits(
    samples: str, split_column: str | None, detect: str | None, holdout: str | None
) -> tuple[pl.DataFrame | None, pl.DataFrame | None, list[str]]:
    """``prime search --split-column C --detect D --holdout H``: the two splits and a line
    describing them; ``(None, None, [])`` without a split column."""
    _need_split_column(split_column, detect=detect, holdout=holdout)
    if split_column is None:
        return None, None, []
    d, h = load_splits(samples, split_column=split_column, detect=detect, holdout=holdout)
    line = f"split       {split_column} == {detect or 'detect'!r}: {d.height:,} samples searched"
    if h is not None:
        line += f"; {split_column} == {holdout!r}: {h.height:,} unseen samples"
    return d, h, [line]
