"""The vision commands of the ``prime`` command line: ``tag``, ``predict``, ``retag``, ``run``.

This module imports neither torch nor any model code at import time (``prime --help`` and
``prime search`` must work without the ``vision`` extra); each command checks for it first
and, when it is missing, says ``pip install 'prime_rs[vision]'`` and exits with status 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import polars as pl

from prime_rs.cli._text import count as _count
from prime_rs.cli._text import echo_lines as _echo
from prime_rs.cli._text import plural as _plural
from prime_rs.errors import InputError, ParameterError
from prime_rs.io import output_format, read_table, write_table
from prime_rs.vision._deps import require_vision
from prime_rs.vision.shards import errors_path, parts_path

if TYPE_CHECKING:
    from prime_rs.vision.runner import RunResult
    from prime_rs.vision.sources import ImageSource

__all__ = ["predict", "retag", "run", "tag"]

F = TypeVar("F", bound=Callable[..., Any])

_TAGGERS = ("classifier", "clip", "ram", "ram_plus")
_SHOW_ERRORS = 5


class _Error(click.ClickException):
    exit_code = 2


def _floats3(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(x) for x in value.split(","))
    except ValueError:
        out = ()
    if len(out) != 3:
        raise click.BadParameter(
            f"{value!r}: give three numbers separated by commas (R,G,B), e.g. 0.485,0.456,0.406",
            ctx,
            param,
        )
    return out


def _image_options(f: F) -> F:
    """Options every command that reads images has."""
    options = [
        click.option(
            "--root",
            type=click.Path(file_okay=False),
            help="For a manifest: the folder its relative paths start from "
            "[default: the manifest's folder].",
        ),
        click.option(
            "--device",
            default="auto",
            show_default=True,
            help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N.",
        ),
        click.option(
            "--precision",
            type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
            default="auto",
            show_default=True,
            help="auto: bf16 (or fp16) autocast on a GPU, fp32 on a CPU.",
        ),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            default=None,
            help="Processes decoding images [default: up to 16 on a GPU, a quarter of the "
            "cores on a CPU].",
        ),
        click.option(
            "--shard-size",
            type=click.IntRange(min=1),
            default=1024,
            show_default=True,
            help="Images per Parquet shard (the most a killed run loses).",
        ),
        click.option(
            "--resume", is_flag=True, help="Continue an unfinished run of the same command."
        ),
        click.option(
            "--overwrite", is_flag=True, help="Replace an existing output instead of stopping."
        ),
        click.option(
            "--strict",
            is_flag=True,
            help="Stop at the first image that cannot be used (default: list it in the "
            "errors table and go on).",
        ),
        click.option(
            "--progress/--no-progress", default=True, show_default=True, help="Progress bar."
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _tagger_options(f: F) -> F:
    options = [
        click.option(
            "--tagger",
            type=click.Choice(_TAGGERS),
            default="classifier",
            show_default=True,
            help="classifier: top-k classes of an image classifier; clip: open_clip "
            "zero-shot over a vocabulary; ram / ram_plus: Recognize Anything.",
        ),
        click.option(
            "--model-name",
            help="classifier: efficientnet_lite0 [default], a torchvision name, a TorchScript"
            " file or package.module:factory; clip: the open_clip architecture (ViT-B-32).",
        ),
        click.option(
            "--checkpoint",
            type=click.Path(dir_okay=False),
            help="Local weights of the tagger (clip, ram, ram_plus, torchvision names).",
        ),
        click.option(
            "--model-config",
            type=click.Path(dir_okay=False),
            help="clip: JSON config of an architecture open_clip does not ship.",
        ),
        click.option(
            "--vocabulary",
            type=click.Path(dir_okay=False),
            help="clip: tags, one per line ([group] headers allowed) [default: built-in].",
        ),
        click.option(
            "--tokenizer",
            type=click.Path(),
            help="ram / ram_plus: folder of the bert-base-uncased tokenizer (vocab.txt).",
        ),
        click.option(
            "--image-size",
            type=click.IntRange(min=16),
            default=None,
            help="ram / ram_plus: input size [default: 384].",
        ),
        click.option(
            "--vit",
            type=click.Choice(["swin_l", "swin_b", "base", "large"]),
            default="swin_l",
            show_default=True,
            help="ram / ram_plus: the image backbone of the checkpoint.",
        ),
        click.option(
            "--threshold",
            type=click.FloatRange(0, 1),
            default=None,
            help="Keep tags scoring at least this [default: classifier 0.05, clip 0.15; "
            "ram: RAM's per-tag thresholds, which this overrides].",
        ),
        click.option(
            "--top-k",
            type=click.IntRange(min=0),
            default=None,
            help="Keep at most this many tags per image, 0 for no limit "
            "[default: classifier 5, clip 8, ram none].",
        ),
        click.option(
            "--floor",
            type=click.FloatRange(0, 1),
            default=None,
            help="Keep every score at least this as a candidate for prime retag "
            "[default: 0.01; ram 0.1].",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _model_options(f: F) -> F:
    options = [
        click.option(
            "--model",
            "model",
            required=True,
            help="The classifier under test: a torchvision name (with --weights), a "
            "TorchScript / torch.export file, package.module:factory, or efficientnet_lite0.",
        ),
        click.option(
            "--weights",
            type=click.Path(dir_okay=False),
            help="State dict for a torchvision name or a factory.",
        ),
        click.option(
            "--classes",
            type=click.Path(dir_okay=False),
            help="Class names, one per line, in output order [default: the model's own, "
            "else the class folder names].",
        ),
        click.option(
            "--size", type=click.IntRange(min=1), help="Input side after the crop (e.g. 224)."
        ),
        click.option(
            "--resize",
            type=click.IntRange(min=1),
            help="Shorter side before the centre crop (e.g. 256) [default: --size].",
        ),
        click.option(
            "--resize-mode",
            type=click.Choice(["shortest", "squash", "longest"]),
            default=None,
            help="shortest: resize then centre crop; squash: ignore the aspect ratio; "
            "longest: fit and pad.",
        ),
        click.option(
            "--interpolation",
            type=click.Choice(["bilinear", "bicubic", "nearest", "lanczos", "box", "hamming"]),
            default=None,
        ),
        click.option("--mean", callback=_floats3, metavar="R,G,B", help="Normalisation mean."),
        click.option("--std", callback=_floats3, metavar="R,G,B", help="Normalisation std."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _source(images: str, root: str | None) -> ImageSource:
    from prime_rs.vision.sources import open_images

    return open_images(images, root=root)


def _source_lines(source: ImageSource) -> list[str]:
    from prime_rs.vision.sources import describe_skipped

    classes = (
        f", {_plural(len(source.classes), 'class')}"
        if source.classes
        else ", unlabelled"
        if not source.has_labels
        else ""
    )
    lines = [f"images      {source.origin} ({_plural(len(source), 'image')}{classes})"]
    skipped = describe_skipped(source.skipped)
    if skipped:
        lines.append(f"            {skipped}")
    return lines


def _run_lines(result: RunResult, what: str) -> list[str]:
    lines = []
    if result.already_complete:
        lines.append(f"resume      {result.output} was already complete; nothing to do")
    elif result.resumed_shards:
        lines.append(
            f"resume      {result.resumed_shards} of {result.total_shards} shards were done; "
            f"processed the other {_plural(result.processed, 'image')}"
        )
    if not result.already_complete:
        lines.append(
            f"time        {result.seconds:.1f} s, {result.images_per_second:,.1f} images/s"
        )
    lines.append(f"wrote       {_plural(result.table.height, what)} to {result.output}")
    n_err = result.errors.height
    if n_err:
        lines.append(
            f"errors      {_plural(n_err, 'image')} could not be used; listed in "
            f"{result.errors_file}"
        )
        for row in result.errors.head(_SHOW_ERRORS).iter_rows(named=True):
            lines.append(f"              {row['id']}: {row['error']}")
        if n_err > _SHOW_ERRORS:
            lines.append(f"              ... and {n_err - _SHOW_ERRORS} more")
    else:
        lines.append(f"errors      none (empty table {result.errors_file})")
    return lines


def _tag_stats(table: pl.DataFrame) -> str:
    if table.height == 0 or "tags" not in table.columns:
        return "no tags"
    table = _lists_from_text(table)  # a finished CSV output read back
    per = float(table["tags"].list.len().cast(pl.Float64).mean() or 0.0)  # type: ignore[arg-type]
    distinct = table["tags"].explode().drop_nulls().n_unique()
    return f"{per:.1f} tags per image, {_plural(distinct, 'distinct tag')}"


def _check_new_output(path: Path, *, resume: bool, overwrite: bool) -> None:
    """Fail before loading a model when the output cannot be written."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name such as tags.parquet")
    output_format(path)
    if resume or overwrite:
        return
    if parts_path(path).exists():
        raise InputError(
            f"{path}: an unfinished run is there ({parts_path(path)}); add --resume to "
            "continue it, or --overwrite to start again"
        )
    for p in (path, errors_path(path)):
        if p.exists():
            raise InputError(f"{p}: already exists; add --overwrite to replace it")


# -- tag ---------------------------------------------------------------------------------


def _do_tag(
    images: str,
    output: Path,
    *,
    tagger: str,
    model_name: str | None,
    checkpoint: str | None,
    model_config: str | None,
    classes: str | None,
    vocabulary: str | None,
    tokenizer: str | None,
    image_size: int | None,
    vit: str,
    threshold: float | None,
    top_k: int | None,
    floor: float | None,
    root: str | None,
    device: str,
    precision: str,
    batch_size: int,
    workers: int | None,
    shard_size: int,
    resume: bool,
    overwrite: bool,
    strict: bool,
    progress: bool,
) -> RunResult:
    require_vision("prime tag")
    from prime_rs.vision.runner import tag_images
    from prime_rs.vision.taggers import load_tagger

    source = _source(images, root)
    _check_new_output(output, resume=resume, overwrite=overwrite)
    _echo(_source_lines(source))
    t0 = time.perf_counter()
    model = load_tagger(
        tagger,
        model_name=model_name,
        checkpoint=checkpoint,
        model_config=model_config,
        classes=classes,
        vocabulary=vocabulary,
        tokenizer=tokenizer,
        image_size=image_size,
        vit=vit,
        device=device,
        precision=precision,
        floor=floor,
        threshold=threshold,
        top_k=top_k,
    )
    click.echo(
        f"tagger      {tagger}: {model.description}, {_plural(len(model.vocabulary), 'tag')}, "
        f"on {model.device} (loaded in {time.perf_counter() - t0:.1f} s)"
    )
    click.echo(f"selection   {model.selection.describe()}; candidates kept down to {model.floor:g}")
    result = tag_images(
        source,
        model,
        output,
        batch_size=batch_size,
        workers=workers,
        shard_size=shard_size,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        progress=progress,
    )
    _echo(_run_lines(result, "tagged image"))
    click.echo(f"tags        {_tag_stats(result.table)}")
    return result


@click.command(short_help="Tag images: concepts seen in each image, with scores.")
@click.argument("images", metavar="IMAGES")
@click.option(
    "-o",
    "--output",
    metavar="TAGS",
    required=True,
    help="The tags table (.parquet; .csv and .jsonl also work). Errors go beside it "
    "(TAGS.errors.parquet).",
)
@_tagger_options
@click.option(
    "--classes",
    type=click.Path(dir_okay=False),
    help="classifier: class names (the tags), one per line [default: the model's own].",
)
@_image_options
def tag(images: str, output: str, **options: Any) -> None:
    """Tag every image of IMAGES and write a tags table.

    IMAGES is a folder with one sub-folder per class, or a manifest (Parquet/CSV/JSONL) with
    a 'path' column (and optional 'id', 'label', 'split'). The table has one row per image:
    id, path, label, tags, tag_scores, and every candidate tag scoring at least --floor
    (candidates, candidate_scores) for prime retag. Images that cannot be read go to
    TAGS.errors.parquet. A killed run continues with --resume.

    \b
    Examples:
      prime tag photos/ -o tags.parquet                        # EfficientNet-Lite0, offline
      prime tag photos/ -o tags.parquet --tagger clip --model-name ViT-B-32 \\
          --checkpoint vit_b_32.bin --vocabulary my_tags.txt
      prime tag list.csv -o tags.parquet --tagger ram_plus \\
          --checkpoint ram_plus_swin_large_14m.pth --tokenizer bert-base-uncased/
      prime tag photos/ -o tags.parquet --resume               # after an interruption
    """
    _do_tag(images, Path(output), **options)


# -- predict -----------------------------------------------------------------------------


def _preprocess_override(
    size: int | None,
    resize: int | None,
    resize_mode: str | None,
    interpolation: str | None,
    mean: tuple[float, ...] | None,
    std: tuple[float, ...] | None,
) -> Callable[[Any], Any] | None:
    """A function patching the model's own preprocessing with the flags given (None: none)."""
    given = {
        "size": size,
        "resize": resize,
        "resize_mode": resize_mode,
        "interpolation": interpolation,
        "mean": mean,
        "std": std,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None

    def patch(base: Any) -> Any:
        import dataclasses

        from prime_rs.vision.images import Preprocess

        if base is None:
            base = Preprocess(size=size or 224, resize=None if size else 256)
        changes = dict(given)
        if "size" in changes and "resize" not in changes:
            changes["resize"] = None
        return dataclasses.replace(base, **changes)

    return patch


def _do_predict(
    images: str,
    output: Path,
    *,
    model: str,
    weights: str | None,
    classes: str | None,
    size: int | None,
    resize: int | None,
    resize_mode: str | None,
    interpolation: str | None,
    mean: tuple[float, ...] | None,
    std: tuple[float, ...] | None,
    root: str | None,
    device: str,
    precision: str,
    batch_size: int,
    workers: int | None,
    shard_size: int,
    resume: bool,
    overwrite: bool,
    strict: bool,
    progress: bool,
) -> RunResult:
    require_vision("prime predict")
    from prime_rs.vision.classifier import load_classifier
    from prime_rs.vision.runner import predict_images

    source = _source(images, root)
    source.require_labels("prime predict")
    _check_new_output(output, resume=resume, overwrite=overwrite)
    _echo(_source_lines(source))
    t0 = time.perf_counter()
    classifier = load_classifier(
        model,
        weights=weights,
        classes=classes,
        device=device,
        precision=precision,
        fallback_classes=source.classes,
    )
    patch = _preprocess_override(size, resize, resize_mode, interpolation, mean, std)
    if patch is not None:
        classifier.preprocess = patch(classifier.preprocess)
        classifier.settings["preprocess"] = classifier.preprocess.settings()
    classifier.check()
    label_dtype = source.table["label"].dtype
    by_index = label_dtype.is_integer()
    names = classifier.classes
    if not by_index and names is None:
        raise InputError(
            f"{classifier.description}: the labels are class names, but the model's class "
            "names are unknown; give them with --classes (one per line, in output order)"
        )
    if not by_index and names is not None:
        unknown = sorted(set(source.table["label"].unique().to_list()) - set(names))
        if unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
            verb = "is" if len(unknown) == 1 else "are"
            click.echo(
                f"warning: {_plural(len(unknown), 'label')} ({shown}) {verb} not among the "
                f"model's {_plural(len(names), 'class')}: their images always count as wrong",
                err=True,
            )
    pre = classifier.preprocess
    click.echo(
        f"model       {classifier.description} on {classifier.device} (loaded in "
        f"{time.perf_counter() - t0:.1f} s)"
    )
    click.echo(
        f"inputs      {pre.size} px ({pre.resize_mode}, resize {pre.resize or pre.size}, "
        f"{pre.interpolation}), mean {list(pre.mean)}, std {list(pre.std)}"
    )

    result = predict_images(
        source,
        classifier,
        output,
        batch_size=batch_size,
        workers=workers,
        shard_size=shard_size,
        resume=resume,
        overwrite=overwrite,
        strict=strict,
        progress=progress,
    )
    _echo(_run_lines(result, "prediction"))
    table = result.table
    if table.height:
        correct = (table["label"].cast(pl.String) == table["prediction"].cast(pl.String)).mean()
        click.echo(
            f"accuracy    {float(correct or 0.0) * 100:.1f}% on "  # type: ignore[arg-type]
            f"{_plural(table.height, 'image')}"
        )
    return result


@click.command(short_help="Run the classifier under test on images.")
@click.argument("images", metavar="IMAGES")
@click.option(
    "-o",
    "--output",
    metavar="PREDS",
    required=True,
    help="The predictions table: id, path, label, prediction, confidence.",
)
@_model_options
@_image_options
def predict(images: str, output: str, **options: Any) -> None:
    """Classify every image of IMAGES with the model under test.

    IMAGES is a labelled folder (one sub-folder per class) or a manifest with 'path' and
    'label'. The model is a torchvision architecture with --weights, a TorchScript or
    torch.export file, or package.module:factory; its preprocessing comes from the model
    where it is known (torchvision) and from --size/--resize/--mean/--std otherwise.

    \b
    Examples:
      prime predict val/ -o preds.parquet --model resnet50 --weights resnet50_ft.pth
      prime predict val/ -o preds.parquet --model model.ts --size 224 --resize 256 \\
          --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --classes classes.txt
      prime predict list.csv -o preds.parquet --model mypkg.models:build --weights w.pt
    """
    _do_predict(images, Path(output), **options)


# -- retag -------------------------------------------------------------------------------


def _read_thresholds(path: str) -> dict[str, float]:
    df = read_table(path)
    missing = [c for c in ("tag", "threshold") if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: a thresholds table needs the columns 'tag' and 'threshold' "
            f"(missing {', '.join(missing)})"
        )
    bad = df["threshold"].cast(pl.Float64, strict=False)
    if bad.is_null().any() or not bad.is_between(0, 1).all():
        raise InputError(f"{path}: every threshold must be a number in [0, 1]")
    return dict(zip(df["tag"].cast(pl.String).to_list(), bad.to_list(), strict=True))


def _lists_from_text(table: pl.DataFrame) -> pl.DataFrame:
    """A tags table read from CSV: tag lists joined with "|", score lists as JSON text."""
    fixes = []
    for name in ("tags", "candidates"):
        if name in table.columns and table[name].dtype in (pl.String, pl.Null):
            fixes.append(
                pl.col(name)
                .cast(pl.String)
                .fill_null("")
                .str.split("|")
                .list.eval(pl.element().filter(pl.element() != ""))
            )
    for name in ("tag_scores", "candidate_scores"):
        if name in table.columns and table[name].dtype in (pl.String, pl.Null):
            fixes.append(
                pl.col(name).cast(pl.String).fill_null("[]").str.json_decode(pl.List(pl.Float32))
            )
    return table.with_columns(fixes) if fixes else table


def _stored_settings(path: Path) -> dict[str, Any] | None:
    if output_format(path) != "parquet":
        return None
    try:
        meta = pl.read_parquet_metadata(path).get("prime_rs")
    except Exception:
        return None
    if not meta:
        return None
    stored = json.loads(meta)
    data: dict[str, Any] = dict(stored.get("settings", {}))
    for key in ("selection", "floor"):  # the full rule (per-tag thresholds included)
        if key in stored:
            data[key] = stored[key]
    return data


@click.command(short_help="Choose other tags from a tags table's scores, without a model.")
@click.argument("tags", metavar="TAGS")
@click.option("-o", "--output", metavar="TAGS2", required=True, help="The new tags table.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Keep candidates scoring at least this (overrides per-tag thresholds).",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=0),
    default=None,
    help="Keep at most this many tags per image (0: no limit).",
)
@click.option(
    "--thresholds",
    "thresholds_file",
    type=click.Path(dir_okay=False),
    help="A table (CSV/Parquet) with columns tag, threshold: one threshold per tag.",
)
@click.option("--overwrite", is_flag=True, help="Replace TAGS2 if it exists.")
def retag(
    tags: str,
    output: str,
    threshold: float | None,
    top_k: int | None,
    thresholds_file: str | None,
    overwrite: bool,
) -> None:
    """Select tags again from the candidates and scores a tags table keeps.

    The rule starts from the one prime tag used (stored in a Parquet tags table) and
    changes what is given: --threshold, --top-k, --thresholds. Scores below the floor the
    table was tagged with were not kept, so a threshold below it is an error.

    \b
    Examples:
      prime retag tags.parquet -o tags_strict.parquet --threshold 0.3
      prime retag tags.parquet -o tags_top3.parquet --top-k 3
      prime retag ram_tags.parquet -o t.parquet --thresholds my_thresholds.csv
    """
    from prime_rs.vision.taggers import Selection, apply_selection, order_tag_columns

    src, out = Path(tags), Path(output)
    if out.exists() and not overwrite:
        raise InputError(f"{out}: already exists; add --overwrite to replace it")
    if out.resolve() == src.resolve():
        raise InputError(f"{out}: give another file than TAGS (the scores would be lost on error)")
    output_format(out)
    table = read_table(src)
    missing = [c for c in ("id", "candidates", "candidate_scores") if c not in table.columns]
    if missing:
        raise InputError(
            f"{src}: not a tags table written by prime tag (missing {', '.join(missing)}); "
            "retag needs its candidates and their scores"
        )
    table = _lists_from_text(table)
    stored = _stored_settings(src) or {}
    base = Selection.from_settings(stored.get("selection", {"threshold": None, "top_k": None}))
    floor = stored.get("floor")
    if thresholds_file:
        # One threshold per tag from the file; --threshold (else the old rule's threshold)
        # for the tags the file does not list.
        others = threshold if threshold is not None else base.threshold
        selection = Selection(
            per_tag=_read_thresholds(thresholds_file),
            top_k=base.top_k if top_k is None else (top_k or None),
            default=base.default if others is None else others,
            strict=base.strict,
        )
    else:
        selection = Selection(
            threshold=threshold if threshold is not None else base.threshold,
            top_k=base.top_k if top_k is None else (top_k or None),
            per_tag=base.per_tag,
            default=base.default,
            strict=base.strict,
        )
    if floor is not None and selection.lowest() < floor:
        raise ParameterError(
            f"threshold {selection.lowest():g} is below the floor {floor:g} {src} was tagged "
            f"with: scores under {floor:g} were not kept; tag again with prime tag --floor"
        )
    before = table["tags"].list.len().sum() if "tags" in table.columns else None
    result = order_tag_columns(apply_selection(table, selection))
    write_table(result, out)
    click.echo(f"tags        {src} ({_plural(table.height, 'image')})")
    click.echo(f"selection   {selection.describe()}")
    if before is not None:
        click.echo(
            f"changed     {_count(int(before))} tags before, "
            f"{_count(int(result['tags'].list.len().sum()))} now"
        )
    click.echo(f"wrote       {_tag_stats(result)} to {out}")


# -- run ---------------------------------------------------------------------------------


@click.command(short_help="Tag, predict, join and search: the whole pipeline.")
@click.argument("images", metavar="IMAGES")
@click.option(
    "-o",
    "--output",
    "outdir",
    metavar="OUTDIR",
    required=True,
    help="Folder for every table: tags, predictions, samples, modes (and their errors).",
)
@_model_options
@_tagger_options
@click.option("--max-tags", type=int, default=4, show_default=True, help="Largest tag set.")
@click.option(
    "--min-support", type=int, default=30, show_default=True, help="Fewest samples of a mode."
)
@click.option(
    "--min-drop",
    default="0.30",
    show_default=True,
    metavar="FRACTION",
    help="Accuracy drop a mode needs: 0.3 or 30%.",
)
@click.option("--min-tag-count", type=int, default=None, help="See prime search.")
@click.option("--threads", type=int, default=None, help="Search threads [default: all cores].")
@_image_options
@click.pass_context
def run(ctx: click.Context, /, images: str, outdir: str, **options: Any) -> None:
    """Tag and predict IMAGES, join them into a samples table, and search for failure modes.

    Writes into OUTDIR: tags.parquet, predictions.parquet (and their .errors tables),
    samples.parquet and modes.parquet, then prints the search summary. Both model stages
    are resumable: after an interruption, run the same command with --resume.

    \b
    Examples:
      prime run val/ --model resnet50 --weights ft.pth -o results/
      prime run val/ --model model.ts --size 224 --tagger clip --model-name ViT-B-32 \\
          --checkpoint vit_b_32.bin -o results/ --min-support 50 --min-drop 25%
    """
    from prime_rs.cli.search import search as search_command

    require_vision("prime run")
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    search_options = {
        k: options.pop(k)
        for k in ("max_tags", "min_support", "min_drop", "min_tag_count", "threads")
    }
    common = {
        k: options[k]
        for k in (
            "root",
            "device",
            "precision",
            "batch_size",
            "workers",
            "shard_size",
            "resume",
            "overwrite",
            "strict",
            "progress",
        )
    }
    tag_options = {
        k: options[k]
        for k in (
            "tagger",
            "model_name",
            "checkpoint",
            "model_config",
            "vocabulary",
            "tokenizer",
            "image_size",
            "vit",
            "threshold",
            "top_k",
            "floor",
        )
    }
    predict_options = {
        k: options[k]
        for k in (
            "model",
            "weights",
            "classes",
            "size",
            "resize",
            "resize_mode",
            "interpolation",
            "mean",
            "std",
        )
    }
    samples_path, modes_path = out / "samples.parquet", out / "modes.parquet"
    for p in (samples_path, modes_path):
        if p.exists() and not (common["resume"] or common["overwrite"]):
            raise InputError(f"{p}: already exists; add --overwrite to replace it (or --resume)")
    out.mkdir(parents=True, exist_ok=True)
    click.echo("== predict")
    preds = _do_predict(images, out / "predictions.parquet", **predict_options, **common)
    click.echo("")
    click.echo("== tag")
    tags = _do_tag(images, out / "tags.parquet", classes=None, **tag_options, **common)
    samples = _join(tags.table, preds.table)
    write_table(samples, samples_path)
    lost = len(set(preds.errors["id"].to_list()) | set(tags.errors["id"].to_list()))
    click.echo("")
    click.echo(
        f"== samples   {_plural(samples.height, 'image')} with tags and a prediction -> "
        f"{samples_path}"
        + (f" ({_plural(lost, 'image')} left out: see the errors tables)" if lost else "")
    )
    click.echo("")
    click.echo("== search")
    _invoke_search(ctx, search_command, samples_path, modes_path, search_options)


def _join(tags: pl.DataFrame, preds: pl.DataFrame) -> pl.DataFrame:
    """The samples table: predictions joined with tags on id (images with both)."""
    keep_tags = tags.select("id", *(c for c in ("tags", "tag_scores") if c in tags.columns))
    joined = preds.join(keep_tags, on="id", how="inner", maintain_order="left")
    first = [c for c in ("id", "label", "prediction", "confidence", "tags", "tag_scores")]
    rest = [c for c in joined.columns if c not in first]
    return joined.select([c for c in first if c in joined.columns] + rest)


def _invoke_search(
    ctx: click.Context,
    command: click.Command,
    samples: Path,
    modes: Path,
    given: dict[str, Any],
) -> None:
    """Run ``prime search`` on the samples table, its options parsed by click as if typed
    (so its own defaults and checks apply to what is not given)."""
    args = [str(samples), "--output", str(modes)]
    for name, value in given.items():
        if value is not None:
            args += ["--" + name.replace("_", "-"), str(value)]
    with command.make_context(command.name, args, parent=ctx) as sub:
        command.invoke(sub)
