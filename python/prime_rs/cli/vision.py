"""The vision commands of the ``prime`` command line: ``tag``, ``predict``, ``retag``, ``run``.

Each command parses its options, calls one library function (:mod:`prime_rs.vision.jobs`,
:func:`prime_rs.pipeline.run`) and prints what it reports. This module imports neither torch
nor any model code at import time (``prime --help`` and ``prime search`` must work without
the ``vision`` extra); each command checks for it first and, when it is missing, says
``pip install 'prime_rs[vision]'`` and exits with status 2.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import polars as pl

from prime_rs.cli._options import captured_log, ray_options, take_ray
from prime_rs.cli._params import search_options, take_params
from prime_rs.cli._summary import data_lines, modes_lines, params_line
from prime_rs.cli._text import count as _count
from prime_rs.cli._text import echo_lines as _echo
from prime_rs.cli._text import plural as _plural
from prime_rs.pipeline import PipelineObserver, PipelineResult
from prime_rs.pipeline import run as run_pipeline
from prime_rs.vision import jobs
from prime_rs.vision._deps import require_vision
from prime_rs.vision.classifier import Classifier
from prime_rs.vision.runner import RunResult
from prime_rs.vision.sources import ImageSource, describe_skipped
from prime_rs.vision.taggers import TAGGERS, Tagger

__all__ = ["predict", "retag", "run", "tag"]

F = TypeVar("F", bound=Callable[..., Any])

_SHOW_ERRORS = 5


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
            type=click.Choice(TAGGERS),
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


def _source_lines(source: ImageSource) -> list[str]:
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
    stats = jobs.tag_stats(table)
    if stats is None:
        return "no tags"
    per, distinct = stats
    return f"{per:.1f} tags per image, {_plural(distinct, 'distinct tag')}"


class _Printer(PipelineObserver):
    """Prints what a job reports, as the commands always have."""

    def __init__(self) -> None:
        self.stages = 0
        self.search_log: list[logging.LogRecord] = []

    def source_opened(self, source: ImageSource) -> None:
        _echo(_source_lines(source))

    def tagger_loaded(self, tagger: Tagger, seconds: float) -> None:
        click.echo(
            f"tagger      {tagger.kind}: {tagger.description}, "
            f"{_plural(len(tagger.vocabulary), 'tag')}, on {tagger.device} "
            f"(loaded in {seconds:.1f} s)"
        )
        click.echo(
            f"selection   {tagger.selection.describe()}; candidates kept down to {tagger.floor:g}"
        )

    def classifier_loaded(self, classifier: Classifier, seconds: float) -> None:
        pre = classifier.preprocess
        click.echo(
            f"model       {classifier.description} on {classifier.device} (loaded in "
            f"{seconds:.1f} s)"
        )
        click.echo(
            f"inputs      {pre.size} px ({pre.resize_mode}, resize {pre.resize or pre.size}, "
            f"{pre.interpolation}), mean {list(pre.mean)}, std {list(pre.std)}"
        )

    def warn(self, message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    def finished(self, command: str, result: RunResult) -> None:
        if command == "tag":
            _echo(_run_lines(result, "tagged image"))
            click.echo(f"tags        {_tag_stats(result.table)}")
            return
        _echo(_run_lines(result, "prediction"))
        accuracy = jobs.accuracy(result.table)
        if accuracy is not None:
            click.echo(
                f"accuracy    {accuracy * 100:.1f}% on {_plural(result.table.height, 'image')}"
            )

    def stage(self, name: str) -> None:
        if self.stages:
            click.echo("")
        self.stages += 1
        click.echo(f"== {name}")

    def samples_joined(self, samples: pl.DataFrame, path: Path, left_out: int) -> None:
        click.echo("")
        click.echo(
            f"== samples   {_plural(samples.height, 'image')} with tags and a prediction -> "
            f"{path}"
            + (
                f" ({_plural(left_out, 'image')} left out: see the errors tables)"
                if left_out
                else ""
            )
        )

    @contextlib.contextmanager
    def searching(self) -> Iterator[None]:
        with captured_log() as records:
            self.search_log = records
            yield


# -- tag ---------------------------------------------------------------------------------


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
@ray_options
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
      prime tag photos/ -o tags.parquet --ray                  # on a Ray cluster
    """
    ray = take_ray(options)
    require_vision("prime tag")
    jobs.tag(images, output, observer=_Printer(), ray=ray, **options)


# -- predict -----------------------------------------------------------------------------


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
@ray_options
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
      prime predict val/ -o preds.parquet --model model.ts --size 224 --ray
    """
    ray = take_ray(options)
    require_vision("prime predict")
    jobs.predict(images, output, observer=_Printer(), ray=ray, **options)


# -- retag -------------------------------------------------------------------------------


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
    result = jobs.retag(
        tags,
        output,
        threshold=threshold,
        top_k=top_k,
        thresholds=thresholds_file,
        overwrite=overwrite,
    )
    click.echo(f"tags        {Path(tags)} ({_plural(result.table.height, 'image')})")
    click.echo(f"selection   {result.selection.describe()}")
    if result.tags_before is not None:
        click.echo(
            f"changed     {_count(result.tags_before)} tags before, "
            f"{_count(int(result.table['tags'].list.len().sum()))} now"
        )
    click.echo(f"wrote       {_tag_stats(result.table)} to {result.output}")


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
@search_options(labels=False)
@_image_options
@ray_options
def run(images: str, outdir: str, **options: Any) -> None:
    """Tag and predict IMAGES, join them into a samples table, and search for failure modes.

    Writes into OUTDIR: tags.parquet, predictions.parquet (and their .errors tables),
    samples.parquet and modes.parquet, then prints the search summary. Both model stages
    are resumable: after an interruption, run the same command with --resume.

    \b
    Examples:
      prime run val/ --model resnet50 --weights ft.pth -o results/
      prime run val/ --model model.ts --size 224 --tagger clip --model-name ViT-B-32 \\
          --checkpoint vit_b_32.bin -o results/ --min-support 50 --min-drop 25%
      prime run val/ --model resnet50 --weights ft.pth -o results/ --ray   # on a Ray cluster
    """
    params = take_params(options)  # checked before any model runs
    ray = take_ray(options)
    require_vision("prime run")
    printer = _Printer()
    result = run_pipeline(images, outdir, params=params, observer=printer, ray=ray, **options)
    _echo_search(result, printer.search_log)


def _echo_search(result: PipelineResult, log: list[logging.LogRecord]) -> None:
    """The summary ``prime search`` prints, for the search ``prime run`` ran."""
    reason = result.empty_reason
    for record in log:
        message = record.getMessage()
        if message != reason:
            click.echo(f"{record.levelname.lower()}: {message}", err=True)
    max_tags = result.params.max_tags
    _echo(
        [
            f"samples     {result.samples_path}",
            *data_lines(result.index),
            params_line(result.params),
            f"time        load + index build {result.index_seconds:.2f} s, "
            f"search {result.search_seconds:.2f} s",
            "",
            *modes_lines(result.search, max_tags),
        ]
    )
    if reason:
        click.echo(reason)
    click.echo("")
    click.echo(f"wrote {_plural(result.modes.height, 'failure mode')} to {result.modes_path}")
