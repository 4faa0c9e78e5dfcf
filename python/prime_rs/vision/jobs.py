"""Whole vision jobs as library functions: :func:`tag`, :func:`predict` and :func:`retag`.

Each takes Python values (paths, names, numbers), does everything the ``prime`` command of
the same name does (open the images, check the output, load the model, run it resumably,
write the tables) and returns what it wrote; the command line only parses options and
prints. An :class:`Observer` hears how a job goes (images found, model loaded, run
finished); the command line prints from one, and without one a job says nothing.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from prime_rs._ray import RayOption, require_ray, wanted
from prime_rs.errors import InputError, ParameterError
from prime_rs.io import output_format, read_table, write_table
from prime_rs.vision._deps import require_vision
from prime_rs.vision.classifier import Classifier, load_classifier
from prime_rs.vision.cluster import predict_images_on_ray, tag_images_on_ray
from prime_rs.vision.runner import RunResult, predict_images, tag_images
from prime_rs.vision.shards import errors_path, parts_path
from prime_rs.vision.sources import ImageSource, open_images
from prime_rs.vision.taggers import (
    Selection,
    Tagger,
    apply_selection,
    load_tagger,
    order_tag_columns,
)

__all__ = [
    "Observer",
    "Retagged",
    "accuracy",
    "check_output",
    "join_samples",
    "lists_from_text",
    "predict",
    "retag",
    "tag",
    "tag_stats",
]


class Observer:
    """What a job reports as it goes; every hook does nothing here (``warn`` warns).

    Subclass it and override the hooks you want, e.g. to print a summary (the command line
    does) or to log. Hooks are called in this order: :meth:`source_opened`, then
    :meth:`tagger_loaded` or :meth:`classifier_loaded` (with :meth:`warn` before it when
    something looks wrong), then :meth:`finished`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from prime_rs.vision.testing import make_image_folder
    >>> class Loud(Observer):
    ...     def source_opened(self, source: ImageSource) -> None:
    ...         print(len(source), "images")
    >>> folder = make_image_folder(pathlib.Path(tempfile.mkdtemp()), {"a": 3})
    >>> Loud().source_opened(open_images(folder))
    3 images
    """

    def source_opened(self, source: ImageSource) -> None:
        """The images were found (before any model is loaded)."""

    def tagger_loaded(self, tagger: Tagger, seconds: float) -> None:
        """``tag``'s model is ready; loading it took ``seconds``."""

    def classifier_loaded(self, classifier: Classifier, seconds: float) -> None:
        """``predict``'s model is ready and checked; loading it took ``seconds``."""

    def warn(self, message: str) -> None:
        """Something the user should know that does not stop the job."""
        warnings.warn(message, UserWarning, stacklevel=3)

    def finished(self, command: str, result: RunResult) -> None:
        """``command`` (``tag`` or ``predict``) wrote its tables."""


def _plural(n: int, word: str) -> str:
    many = word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{n:,} {word if n == 1 else many}"


def check_output(output: str | Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Fail before a model is loaded when ``output`` cannot be written; return it as a Path.

    An existing output (or an unfinished run's parts folder) is an error unless ``resume``
    or ``overwrite`` says what to do with it.

    Raises
    ------
    InputError
        ``output`` is a folder, has an unknown extension, or exists.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output(d / "tags.parquet").name
    'tags.parquet'
    >>> _ = (d / "tags.parquet").write_bytes(b"")
    >>> check_output(d / "tags.parquet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    prime_rs.errors.InputError: .../tags.parquet: already exists; add --overwrite to replace it
    """
    path = Path(output)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name such as tags.parquet")
    output_format(path)
    if resume or overwrite:
        return path
    if parts_path(path).exists():
        raise InputError(
            f"{path}: an unfinished run is there ({parts_path(path)}); add --resume to "
            "continue it, or --overwrite to start again"
        )
    for p in (path, errors_path(path)):
        if p.exists():
            raise InputError(f"{p}: already exists; add --overwrite to replace it")
    return path


def _source(images: str | Path | ImageSource, root: str | Path | None) -> ImageSource:
    return images if isinstance(images, ImageSource) else open_images(images, root=root)


def tag(
    images: str | Path | ImageSource,
    output: str | Path,
    *,
    tagger: str = "classifier",
    model_name: str | None = None,
    checkpoint: str | Path | None = None,
    model_config: str | Path | None = None,
    classes: str | Path | None = None,
    vocabulary: str | Path | None = None,
    tokenizer: str | Path | None = None,
    image_size: int | None = None,
    vit: str = "swin_l",
    threshold: float | None = None,
    top_k: int | None = None,
    floor: float | None = None,
    root: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    observer: Observer | None = None,
    ray: RayOption = None,
    actors: int | None = None,
) -> RunResult:
    """Tag every image and write the tags table (``prime tag``).

    Parameters
    ----------
    images
        A folder (one sub-folder per class, or just images), a manifest table with a
        ``path`` column, or an :class:`~prime_rs.vision.sources.ImageSource`.
    output
        The tags table (``.parquet``; ``.csv`` and ``.jsonl`` also work); the errors table
        goes beside it (``tags.errors.parquet``).
    tagger, model_name, checkpoint, model_config, classes, vocabulary, tokenizer, image_size, vit
        The tagger and its files; see :func:`~prime_rs.vision.taggers.load_tagger`.
    threshold, top_k, floor
        Which tags are kept, and the lowest score kept as a candidate for :func:`retag`.
    root
        For a manifest: the folder its relative paths start from.
    device, precision, batch_size, workers, shard_size
        Where and how the model runs; images per resumable shard.
    resume, overwrite, strict, progress
        Continue an unfinished run; replace an existing output; stop at the first image
        that cannot be used; draw a progress bar on stderr.
    observer
        Hears how the job goes (see :class:`Observer`).
    ray
        Run on a Ray cluster: ``True`` (the one ``RAY_ADDRESS`` names, else a local one) or
        its address. The tables are those a local run writes (see
        :mod:`prime_rs.vision.cluster`); ``workers`` is not used there.
    actors
        On Ray: model actors [default: one per GPU of the cluster, else one per two CPUs].

    Returns
    -------
    RunResult
        The tags table (``id, path, label, tags, tag_scores, candidates,
        candidate_scores``), the errors table, and how the run went.

    Raises
    ------
    InputError
        Bad images or files, an output that exists, a model that cannot be loaded.
    MissingDependency
        torch (or the tagger's package) is not installed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from prime_rs.vision.testing import make_image_folder, make_tiny_clip
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> clip = make_tiny_clip(d)
    >>> result = tag(make_image_folder(d / "img", {"cat": 2}), d / "tags.parquet",
    ...              tagger="clip", model_name=clip.model_name, checkpoint=clip.checkpoint,
    ...              model_config=clip.config, threshold=0.0, top_k=2, device="cpu",
    ...              progress=False)
    >>> result.table["tags"].list.len().to_list()
    [2, 2]
    """
    require_vision("tagging images")
    on_ray = wanted(ray)
    if on_ray:
        require_ray("--ray")
    elif actors is not None:
        raise ParameterError("actors= sets the model actors of a Ray run: give ray= too")
    watch = observer or Observer()
    source = _source(images, root)
    out = check_output(output, resume=resume, overwrite=overwrite)
    watch.source_opened(source)
    t0 = time.perf_counter()
    load: dict[str, Any] = {
        "kind": tagger,
        "model_name": model_name,
        "checkpoint": checkpoint,
        "model_config": model_config,
        "classes": classes,
        "vocabulary": vocabulary,
        "tokenizer": tokenizer,
        "image_size": image_size,
        "vit": vit,
        "precision": precision,
        "floor": floor,
        "threshold": threshold,
        "top_k": top_k,
    }
    # On Ray the driver's copy only settles the run's identity and tag selection: it stays
    # on the CPU, and each actor loads its own on its node's device.
    model = load_tagger(**load, device="cpu" if on_ray else device)
    watch.tagger_loaded(model, time.perf_counter() - t0)
    common: dict[str, Any] = {
        "batch_size": batch_size,
        "shard_size": shard_size,
        "resume": resume,
        "overwrite": overwrite,
        "strict": strict,
        "progress": progress,
    }
    if on_ray:
        result = tag_images_on_ray(
            source, model, load, out, device=device, actors=actors, ray=ray, **common
        )
    else:
        result = tag_images(source, model, out, workers=workers, **common)
    watch.finished("tag", result)
    return result


def predict(
    images: str | Path | ImageSource,
    output: str | Path,
    *,
    model: str,
    weights: str | Path | None = None,
    classes: str | Path | Sequence[str] | None = None,
    size: int | None = None,
    resize: int | None = None,
    resize_mode: str | None = None,
    interpolation: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    root: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    shard_size: int = 1024,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    observer: Observer | None = None,
    ray: RayOption = None,
    actors: int | None = None,
) -> RunResult:
    """Classify every image with the model under test and write the predictions table
    (``prime predict``).

    Parameters
    ----------
    images
        Labelled images: a folder with one sub-folder per class, a manifest with ``path``
        and ``label``, or an :class:`~prime_rs.vision.sources.ImageSource`.
    output
        The predictions table: ``id, path, label (, split), prediction, confidence``.
    model, weights
        The classifier; see :func:`~prime_rs.vision.classifier.load_classifier`.
    classes
        Class names in output order (a file, one per line, or a list) [default: the
        model's own, else the class folder names].
    size, resize, resize_mode, interpolation, mean, std
        Change the model's own preprocessing (see
        :meth:`~prime_rs.vision.images.Preprocess.override`).
    root, device, precision, batch_size, workers, shard_size, resume, overwrite, strict, progress
        As for :func:`tag`.
    observer
        Hears how the job goes; its :meth:`Observer.warn` hears of labels that are not among
        the model's classes (their images always count as wrong).
    ray, actors
        Run on a Ray cluster, as for :func:`tag`.

    Returns
    -------
    RunResult
        The predictions table, the errors table, and how the run went. Predictions are
        class indices when the labels are integers, class names otherwise.

    Raises
    ------
    InputError
        Unlabelled images, a model whose outputs do not fit the class names, string labels
        without class names, an output that exists.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from prime_rs.vision.testing import make_image_folder, save_tiny_cnn
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> cnn = save_tiny_cnn(d / "cnn.ts", kind="torchscript")
    >>> img = make_image_folder(d / "val", {"a": 2, "b": 2, "c": 2})
    >>> preds = predict(img, d / "preds.parquet", model=str(cnn), size=32, device="cpu",
    ...                 progress=False)
    >>> preds.table.columns, accuracy(preds.table) is not None
    (['id', 'path', 'label', 'prediction', 'confidence'], True)
    """
    require_vision("predicting")
    on_ray = wanted(ray)
    if on_ray:
        require_ray("--ray")
    elif actors is not None:
        raise ParameterError("actors= sets the model actors of a Ray run: give ray= too")
    watch = observer or Observer()
    source = _source(images, root)
    source.require_labels("prime predict")
    out = check_output(output, resume=resume, overwrite=overwrite)
    watch.source_opened(source)
    t0 = time.perf_counter()
    load: dict[str, Any] = {
        "model": model,
        "weights": weights,
        "classes": classes,
        "precision": precision,
        "fallback_classes": source.classes,
    }
    classifier = load_classifier(**load, device="cpu" if on_ray else device)
    classifier.preprocess = classifier.preprocess.override(
        size=size,
        resize=resize,
        resize_mode=resize_mode,
        interpolation=interpolation,
        mean=mean,
        std=std,
    )
    classifier.settings["preprocess"] = classifier.preprocess.settings()
    classifier.check()
    labels = source.table["label"]
    names = classifier.classes
    if not labels.dtype.is_integer():
        if names is None:
            raise InputError(
                f"{classifier.description}: the labels are class names, but the model's class "
                "names are unknown; give them with --classes (one per line, in output order)"
            )
        unknown = sorted(set(labels.unique().to_list()) - set(names))
        if unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
            verb = "is" if len(unknown) == 1 else "are"
            watch.warn(
                f"{_plural(len(unknown), 'label')} ({shown}) {verb} not among the model's "
                f"{_plural(len(names), 'class')}: their images always count as wrong"
            )
    watch.classifier_loaded(classifier, time.perf_counter() - t0)
    common: dict[str, Any] = {
        "batch_size": batch_size,
        "shard_size": shard_size,
        "resume": resume,
        "overwrite": overwrite,
        "strict": strict,
        "progress": progress,
    }
    if on_ray:
        result = predict_images_on_ray(
            source, classifier, load, out, device=device, actors=actors, ray=ray, **common
        )
    else:
        result = predict_images(source, classifier, out, workers=workers, **common)
    watch.finished("predict", result)
    return result


def accuracy(predictions: pl.DataFrame) -> float | None:
    """The share of rows whose ``prediction`` equals their ``label`` (``None``: no rows).

    Examples
    --------
    >>> accuracy(pl.DataFrame({"label": ["a", "b"], "prediction": ["a", "a"]}))
    0.5
    """
    if predictions.height == 0:
        return None
    same = predictions["label"].cast(pl.String) == predictions["prediction"].cast(pl.String)
    return float(same.mean() or 0.0)  # type: ignore[arg-type]


def tag_stats(tags: pl.DataFrame) -> tuple[float, int] | None:
    """Tags per image (mean) and distinct tags of a tags table (``None``: no tags).

    A table read back from CSV (tag lists as text) is read as :func:`lists_from_text` does.

    Examples
    --------
    >>> tag_stats(pl.DataFrame({"tags": [["dog", "sky"], ["dog"]]}))
    (1.5, 2)
    """
    if tags.height == 0 or "tags" not in tags.columns:
        return None
    tags = lists_from_text(tags)
    per = float(tags["tags"].list.len().cast(pl.Float64).mean() or 0.0)  # type: ignore[arg-type]
    return per, tags["tags"].explode().drop_nulls().n_unique()


def lists_from_text(table: pl.DataFrame) -> pl.DataFrame:
    """A tags table read from CSV as lists again: tags joined with ``|``, scores as JSON.

    Columns that already are lists are kept as they are.

    Examples
    --------
    >>> t = lists_from_text(
    ...     pl.DataFrame({"tags": ["dog|sky", ""], "tag_scores": ["[0.5, 0.25]", "[]"]})
    ... )
    >>> t["tags"].to_list(), t["tag_scores"].to_list()
    ([['dog', 'sky'], []], [[0.5, 0.25], []])
    """
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


def join_samples(tags: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """The samples table: predictions joined with tags on ``id`` (images that have both).

    Columns come in the order ``id, label, prediction, confidence, tags, tag_scores``, then
    the predictions table's others (``path``, ``split``); rows in the predictions' order.

    Examples
    --------
    >>> preds = pl.DataFrame({"id": ["a", "b"], "path": ["a.png", "b.png"], "label": ["x", "y"],
    ...                       "prediction": ["x", "x"]})
    >>> tags = pl.DataFrame({"id": ["b", "a"], "tags": [["sky"], ["dog"]]})
    >>> join_samples(tags, preds).rows()
    [('a', 'x', 'x', ['dog'], 'a.png'), ('b', 'y', 'x', ['sky'], 'b.png')]
    """
    keep = tags.select("id", *(c for c in ("tags", "tag_scores") if c in tags.columns))
    joined = predictions.join(keep, on="id", how="inner", maintain_order="left")
    first = ["id", "label", "prediction", "confidence", "tags", "tag_scores"]
    rest = [c for c in joined.columns if c not in first]
    return joined.select([c for c in first if c in joined.columns] + rest)


@dataclass
class Retagged:
    """What :func:`retag` wrote.

    Attributes
    ----------
    table : polars.DataFrame
        The new tags table, as written.
    selection : Selection
        The rule that chose its tags.
    tags_before : int | None
        Tags in the input table (``None`` when it had no ``tags`` column).
    output : Path
        Where the table was written.
    """

    table: pl.DataFrame
    selection: Selection
    tags_before: int | None
    output: Path


def _read_thresholds(path: str | Path) -> dict[str, float]:
    df = read_table(path)
    missing = [c for c in ("tag", "threshold") if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: a thresholds table needs the columns 'tag' and 'threshold' "
            f"(missing {', '.join(missing)})"
        )
    values = df["threshold"].cast(pl.Float64, strict=False)
    if values.is_null().any() or not values.is_between(0, 1).all():
        raise InputError(f"{path}: every threshold must be a number in [0, 1]")
    return dict(zip(df["tag"].cast(pl.String).to_list(), values.to_list(), strict=True))


def _stored_settings(path: Path) -> dict[str, Any] | None:
    """The selection rule and floor ``prime tag`` stored in a Parquet tags table."""
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


def retag(
    tags: str | Path,
    output: str | Path,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
    thresholds: str | Path | Mapping[str, float] | None = None,
    overwrite: bool = False,
) -> Retagged:
    """Select tags again from the candidates and scores a tags table keeps (``prime retag``).

    The rule starts from the one :func:`tag` used (stored in a Parquet tags table) and
    changes what is given. Scores below the floor the table was tagged with were not kept,
    so a threshold below it is an error.

    Parameters
    ----------
    tags
        A tags table written by :func:`tag` (Parquet, CSV or JSON lines).
    output
        The new tags table (another file than ``tags``).
    threshold
        Keep candidates scoring at least this (overrides per-tag thresholds).
    top_k
        Keep at most this many tags per image; ``0`` for no limit.
    thresholds
        One threshold per tag: a table (columns ``tag``, ``threshold``) or a mapping. Tags it
        does not list use ``threshold``, else the old rule's threshold.
    overwrite
        Replace ``output`` if it exists.

    Raises
    ------
    InputError
        Not a tags table, an output that exists (or is ``tags``), a bad thresholds table.
    ParameterError
        A threshold below the floor the table was tagged with.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> pl.DataFrame({"id": ["a", "b"], "candidates": [["dog", "sky"], ["sky"]],
    ...               "candidate_scores": [[0.9, 0.2], [0.6]]}).write_parquet(d / "t.parquet")
    >>> new = retag(d / "t.parquet", d / "t1.parquet", threshold=0.5)
    >>> new.selection.describe(), new.table["tags"].to_list()
    ('every tag with score >= 0.5', [['dog'], ['sky']])
    """
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
    table = lists_from_text(table)
    stored = _stored_settings(src) or {}
    base = Selection.from_settings(stored.get("selection", {"threshold": None, "top_k": None}))
    floor = stored.get("floor")
    keep = base.top_k if top_k is None else (top_k or None)
    if thresholds is not None:
        # One threshold per tag from the table; ``threshold`` (else the old rule's
        # threshold) for the tags it does not list.
        per_tag = (
            dict(thresholds) if isinstance(thresholds, Mapping) else _read_thresholds(thresholds)
        )
        others = threshold if threshold is not None else base.threshold
        selection = Selection(
            per_tag=per_tag,
            top_k=keep,
            default=base.default if others is None else others,
            strict=base.strict,
        )
    else:
        selection = Selection(
            threshold=threshold if threshold is not None else base.threshold,
            top_k=keep,
            per_tag=base.per_tag,
            default=base.default,
            strict=base.strict,
        )
    if floor is not None and selection.lowest() < floor:
        raise ParameterError(
            f"threshold {selection.lowest():g} is below the floor {floor:g} {src} was tagged "
            f"with: scores under {floor:g} were not kept; tag again with prime tag --floor"
        )
    before = int(table["tags"].list.len().sum()) if "tags" in table.columns else None
    result = order_tag_columns(apply_selection(table, selection))
    write_table(result, out)
    return Retagged(table=result, selection=selection, tags_before=before, output=out)
