"""Taggers: models that score a vocabulary of tags on each image.

Every tagger has the same small interface (:class:`Tagger`): a ``vocabulary``, a
``preprocess``, ``scores(pixels) -> (n, len(vocabulary))`` and a default :class:`Selection`.
The tags table keeps every tag scoring at least ``floor`` (``candidates``,
``candidate_scores``, best first) next to the selected ``tags`` and ``tag_scores``, so
``prime retag`` can apply another threshold or top-k later without running a model again.

- ``classifier`` (:class:`ClassifierTagger`): the top-k classes of an image classifier above a
  probability threshold; EfficientNet-Lite0 on ImageNet by default (offline).
- ``clip`` (:class:`ClipTagger`): open_clip zero-shot over a vocabulary with prompt-template
  ensembles; a softmax within each group of the vocabulary.
- ``ram`` and ``ram_plus`` (:class:`RamTagger`): Recognize Anything (RAM / RAM++), with RAM's
  per-tag thresholds (or one global threshold), when ``recognize-anything`` is installed.

Taggers are built once (model loaded, device chosen) and called on batches; ``tagger(batch)``
maps ``{"pixels": uint8 (n, 3, h, w)}`` to a dict of arrays, as Ray Data's ``map_batches``
expects.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError, ParameterError
from prime_rs.vision._deps import MissingDependency, require_vision
from prime_rs.vision.classifier import EFFICIENTNET_LITE0, Classifier, load_classifier
from prime_rs.vision.clip import ClipModel
from prime_rs.vision.device import autocast, resolve_device, resolve_precision
from prime_rs.vision.digest import file_digest
from prime_rs.vision.images import IMAGENET_MEAN, IMAGENET_STD, Preprocess, normalize
from prime_rs.vision.vocabulary import BUILTIN, Group, flatten, read_vocabulary

if TYPE_CHECKING:
    import torch


__all__ = [
    "RAM_INSTALL",
    "TAGGERS",
    "TAG_COLUMNS",
    "ClassifierTagger",
    "ClipTagger",
    "RamTagger",
    "Selection",
    "Tagger",
    "apply_selection",
    "candidates_from_scores",
    "load_tagger",
    "order_tag_columns",
]

logger = logging.getLogger("prime_rs")

#: Names of the taggers ``prime tag --tagger`` accepts.
TAGGERS = ("classifier", "clip", "ram", "ram_plus")
#: Columns a tagger adds to the tags table.
TAG_COLUMNS = {
    "tags": pl.List(pl.String),
    "tag_scores": pl.List(pl.Float32),
    "candidates": pl.List(pl.String),
    "candidate_scores": pl.List(pl.Float32),
}
#: How to install Recognize Anything (not on PyPI).
RAM_INSTALL = "pip install git+https://github.com/xinyu1205/recognize-anything.git"


@dataclass(frozen=True)
class Selection:
    """Which candidate tags of an image become its tags.

    A candidate is kept when its score is at least its threshold (above it, with ``strict``,
    RAM's own rule); then at most ``top_k`` are kept, best first.

    Parameters
    ----------
    threshold
        One threshold for every tag. When given it overrides ``per_tag``.
    top_k
        Keep at most this many tags per image (``None``: no limit).
    per_tag
        A threshold per tag (RAM's calibrated thresholds); tags not listed use ``default``.
    default
        Threshold of tags missing from ``per_tag`` (and the threshold when neither
        ``threshold`` nor ``per_tag`` is given).
    strict
        Keep scores strictly above the threshold instead of at least equal to it.

    Examples
    --------
    >>> Selection(threshold=0.05, top_k=5).describe()
    'top 5 with score >= 0.05'
    """

    threshold: float | None = None
    top_k: int | None = None
    per_tag: Mapping[str, float] | None = field(default=None, compare=False)
    default: float = 0.0
    strict: bool = False

    def __post_init__(self) -> None:
        for name in ("threshold", "default"):
            v = getattr(self, name)
            if v is not None and (
                not isinstance(v, (int, float)) or math.isnan(v) or not 0 <= v <= 1
            ):
                raise ParameterError(f"{name}: must be a score in [0, 1], got {v!r}")
        if self.top_k is not None and (
            isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1
        ):
            raise ParameterError(f"top_k: must be a positive integer or None, got {self.top_k!r}")

    def effective_per_tag(self) -> Mapping[str, float] | None:
        """The per-tag thresholds in force (``None`` when one threshold applies to all)."""
        return None if self.threshold is not None else self.per_tag

    def lowest(self) -> float:
        """The lowest threshold any tag can have."""
        if self.threshold is not None:
            return float(self.threshold)
        values = [self.default, *(self.per_tag.values() if self.per_tag else [])]
        return float(min(values))

    def describe(self) -> str:
        """One line for a summary."""
        op = ">" if self.strict else ">="
        per = self.effective_per_tag()
        if self.threshold is not None:
            rule = f"score {op} {self.threshold:g}"
        elif per:
            rule = f"score {op} each tag's own threshold ({len(per):,} tags)"
        else:
            rule = f"score {op} {self.default:g}"
        return (f"top {self.top_k} with " if self.top_k else "every tag with ") + rule

    def settings(self) -> dict[str, Any]:
        """JSON form (stored with the tags table, so ``prime retag`` can start from it)."""
        return {
            "threshold": self.threshold,
            "top_k": self.top_k,
            "per_tag": dict(self.per_tag) if self.per_tag else None,
            "default": self.default,
            "strict": self.strict,
        }

    @classmethod
    def from_settings(cls, data: Mapping[str, Any]) -> Selection:
        """Inverse of :meth:`settings`."""
        return cls(
            threshold=data.get("threshold"),
            top_k=data.get("top_k"),
            per_tag=data.get("per_tag"),
            default=float(data.get("default", 0.0)),
            strict=bool(data.get("strict", False)),
        )


def candidates_from_scores(
    scores: np.ndarray, vocabulary: Sequence[str], floor: float
) -> tuple[list[list[str]], list[list[float]]]:
    """Per image, every tag scoring at least ``floor``, best first (ties in vocabulary order).

    Examples
    --------
    >>> candidates_from_scores(np.array([[0.1, 0.7, 0.2]]), ["a", "b", "c"], 0.15)
    ([['b', 'c']], [[0.699999988079071, 0.20000000298023224]])
    """
    s = np.asarray(scores, dtype=np.float32)
    vocab = np.asarray(vocabulary, dtype=object)
    tags: list[list[str]] = []
    values: list[list[float]] = []
    for row in s:
        keep = np.flatnonzero(row >= floor)
        order = keep[np.argsort(-row[keep], kind="stable")]
        tags.append(vocab[order].tolist())
        values.append(row[order].astype(np.float64).tolist())
    return tags, values


def apply_selection(table: pl.DataFrame, selection: Selection) -> pl.DataFrame:
    """Set ``tags`` and ``tag_scores`` from ``candidates`` / ``candidate_scores``.

    Candidates must be sorted best first (as the taggers write them). Other columns are kept.

    Examples
    --------
    >>> t = pl.DataFrame({"id": [1], "candidates": [["b", "c", "a"]],
    ...                   "candidate_scores": [[0.7, 0.2, 0.1]]})
    >>> apply_selection(t, Selection(threshold=0.15))["tags"].to_list()
    [['b', 'c']]
    >>> apply_selection(t, Selection(per_tag={"b": 0.8}, default=0.1))["tags"].to_list()
    [['c', 'a']]
    """
    long = (
        table.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
            pl.col("candidates"),
            pl.col("candidate_scores").cast(pl.List(pl.Float32)),
        )
        .explode(["candidates", "candidate_scores"])
        .drop_nulls("candidates")
    )
    per = selection.effective_per_tag()
    if selection.threshold is not None:
        threshold: pl.Expr = pl.lit(selection.threshold, dtype=pl.Float64)
    elif per:
        threshold = pl.col("candidates").replace_strict(
            list(per.keys()),
            [float(v) for v in per.values()],
            default=selection.default,
            return_dtype=pl.Float64,
        )
    else:
        threshold = pl.lit(selection.default, dtype=pl.Float64)
    score = pl.col("candidate_scores").cast(pl.Float64)
    long = long.filter(score > threshold if selection.strict else score >= threshold)
    if selection.top_k is not None:
        long = long.filter(pl.int_range(pl.len()).over("_row") < selection.top_k)
    chosen = long.group_by("_row", maintain_order=True).agg(
        pl.col("candidates").alias("tags"), pl.col("candidate_scores").alias("tag_scores")
    )
    out = (
        table.drop([c for c in ("tags", "tag_scores") if c in table.columns])
        .with_row_index("_row")
        .join(chosen, on="_row", how="left")
        .drop("_row")
        .with_columns(
            pl.col("tags").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("tag_scores").fill_null(pl.lit([], dtype=pl.List(pl.Float32))),
        )
    )
    return out


def order_tag_columns(rows: pl.DataFrame) -> pl.DataFrame:
    """The tags table's column order: id, path, label, split, tags, tag_scores, candidates,
    candidate_scores, then anything else."""
    first = [c for c in ("id", "path", "label", "split") if c in rows.columns]
    tags = [c for c in TAG_COLUMNS if c in rows.columns]
    rest = [c for c in rows.columns if c not in first and c not in tags]
    return rows.select(first + tags + rest)


class Tagger:
    """The interface every tagger implements (see the module docstring).

    Attributes
    ----------
    kind : str
        ``classifier``, ``clip``, ``ram`` or ``ram_plus``.
    vocabulary : list[str]
        The tags it scores, in score-column order.
    preprocess : Preprocess
        How images are prepared for it.
    floor : float
        Candidates scoring below this are not kept in the tags table.
    selection : Selection
        Which candidates become tags.
    description : str
        The model, for summaries.
    device : torch.device
        Where the model runs.
    """

    kind: str
    vocabulary: list[str]
    preprocess: Preprocess
    floor: float
    selection: Selection
    description: str
    device: torch.device

    def scores(self, pixels: torch.Tensor) -> np.ndarray:
        """Scores ``(n, len(vocabulary))`` in [0, 1] for a ``uint8`` batch."""
        raise NotImplementedError

    def model_settings(self) -> dict[str, Any]:
        """What identifies the model and its inputs (for resuming)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """Everything that changes the tags table: model, vocabulary, floor, selection (its
        per-tag thresholds as a hash, so that the state file stays small)."""
        vocab = hashlib.sha256("\n".join(self.vocabulary).encode()).hexdigest()
        selection = self.selection.settings()
        if selection["per_tag"]:
            text = json.dumps(selection["per_tag"], sort_keys=True)
            selection["per_tag"] = {
                "tags": len(self.selection.per_tag or {}),
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
            }
        return {
            "tagger": self.kind,
            **self.model_settings(),
            "preprocess": self.preprocess.settings(),
            "vocabulary_sha256": vocab,
            "floor": self.floor,
            "selection": selection,
        }

    def tag(self, pixels: torch.Tensor) -> dict[str, list[Any]]:
        """Candidates (every tag scoring at least the floor) per image of a ``uint8`` batch."""
        candidates, scores = candidates_from_scores(
            self.scores(pixels), self.vocabulary, self.floor
        )
        return {"candidates": candidates, "candidate_scores": scores}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"pixels": uint8 (n, 3, h, w)}`` -> ``tags``, ``tag_scores``, ``candidates``,
        ``candidate_scores`` (object arrays of lists)."""
        import torch

        out = self.tag(torch.as_tensor(batch["pixels"]))
        frame = apply_selection(
            pl.DataFrame(out, schema={k: TAG_COLUMNS[k] for k in out}), self.selection
        )
        result = {}
        for name in TAG_COLUMNS:
            column = np.empty(frame.height, dtype=object)
            column[:] = frame[name].to_list()
            result[name] = column
        return result


class ClassifierTagger(Tagger):
    """Tags are the classes of an image classifier: top-k above a probability threshold.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from prime_rs.vision.classifier import load_classifier
    >>> from prime_rs.vision.testing import save_tiny_cnn
    >>> p = save_tiny_cnn(pathlib.Path(tempfile.mkdtemp()) / "c.pt", kind="torchscript")
    >>> c = load_classifier(str(p), classes=["x", "y", "z"], device="cpu",
    ...                     preprocess=Preprocess(size=16))
    >>> tagger = ClassifierTagger(c, selection=Selection(top_k=1))
    >>> out = tagger.tag(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
    >>> [len(c) for c in out["candidates"]]
    [3, 3]
    """

    kind = "classifier"

    def __init__(
        self,
        classifier: Classifier,
        *,
        floor: float = 0.01,
        selection: Selection | None = None,
    ) -> None:
        if classifier.classes is None:
            raise InputError(
                f"{classifier.description}: the classifier tagger needs class names (they are "
                "the tags); give them with --classes"
            )
        self.classifier = classifier
        self.device = classifier.device
        self.vocabulary = list(classifier.classes)
        self.preprocess = classifier.preprocess
        self.floor = floor
        self.selection = selection or Selection(threshold=0.05, top_k=5)
        self.description = classifier.description

    def scores(self, pixels: torch.Tensor) -> np.ndarray:
        return self.classifier.probabilities(pixels)

    def model_settings(self) -> dict[str, Any]:
        return {"model": self.classifier.settings}


class ClipTagger(Tagger):
    """open_clip zero-shot tags: a softmax over each group of the vocabulary.

    A tag's text embedding is the normalised mean of its prompts' embeddings (the usual
    prompt-template ensemble); its score is the softmax, within its group, of
    ``logit_scale * cosine(image, tag)``.

    Examples
    --------
    >>> import tempfile, torch
    >>> from prime_rs.vision.testing import load_tiny_clip
    >>> from prime_rs.vision.vocabulary import Group
    >>> tagger = ClipTagger(load_tiny_clip(tempfile.mkdtemp()),
    ...                     [Group("animals", ("dog", "cat")), Group("colours", ("red", "blue"))])
    >>> s = tagger.scores(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    >>> s.shape, [round(float(x), 5) for x in (s[0, :2].sum(), s[0, 2:].sum())]
    ((1, 4), [1.0, 1.0])
    """

    kind = "clip"

    def __init__(
        self,
        model: ClipModel,
        groups: Sequence[Group] | None = None,
        *,
        floor: float = 0.01,
        selection: Selection | None = None,
    ) -> None:
        import torch

        self.model = model
        self.device = model.device
        self.groups = tuple(groups) if groups is not None else BUILTIN
        self.vocabulary = flatten(self.groups)
        self.preprocess = model.preprocess
        self.floor = floor
        self.selection = selection or Selection(threshold=0.15, top_k=8)
        self.description = f"open_clip {model.model_name} ({model.model_id})"
        # Embed every prompt, then average per tag (a prompt-template ensemble).
        prompts = [p for g in self.groups for tag in g.tags for p in g.prompts(tag)]
        per_tag = [len(g.templates) for g in self.groups for _ in g.tags]
        embedded = torch.from_numpy(model.embed_texts(prompts))
        chunks = torch.split(embedded, per_tag)
        text = torch.stack([c.mean(dim=0) for c in chunks])
        self.text = torch.nn.functional.normalize(text, dim=-1).to(model.device)
        bounds = np.cumsum([0] + [len(g.tags) for g in self.groups])
        self.slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        self.templates_sha256 = hashlib.sha256(
            json.dumps([[g.name, list(g.templates)] for g in self.groups]).encode()
        ).hexdigest()

    def scores(self, pixels: torch.Tensor) -> np.ndarray:
        import torch

        image = self.model.encode_pixels(pixels)
        logits = self.model.logit_scale * image @ self.text.T
        parts = [torch.softmax(logits[:, s], dim=1) for s in self.slices]
        return torch.cat(parts, dim=1).float().cpu().numpy()

    def model_settings(self) -> dict[str, Any]:
        return {
            "model": self.model.model_id,
            "groups": [g.name for g in self.groups],
            "templates_sha256": self.templates_sha256,
        }


class RamTagger(Tagger):
    """Recognize Anything (RAM or RAM++) with per-tag probabilities from its tagging head.

    The model runs its own ``generate_tag``; the adapter reads the tagging head's logits on
    the way (a forward hook on ``fc``), so the probabilities are exactly the library's
    ``sigmoid(logits)``, and the default selection is RAM's own rule: ``probability >
    class_threshold`` per tag (``--threshold`` overrides it for every tag).

    Parameters
    ----------
    model
        A ``ram.models.ram`` / ``ram_plus`` model (see :meth:`load`).
    kind
        ``ram`` or ``ram_plus``.
    image_size
        The model's input size (384 for the published checkpoints).
    """

    def __init__(
        self,
        model: Any,
        *,
        kind: str = "ram",
        image_size: int = 384,
        device: Any = None,
        precision: Any = None,
        floor: float = 0.1,
        selection: Selection | None = None,
        description: str = "",
        weights_sha256: str | None = None,
    ) -> None:
        import torch

        self.model = model
        self.kind = kind
        self.device = device if device is not None else torch.device("cpu")
        self.precision = precision
        self.vocabulary = [str(t) for t in model.tag_list]
        thresholds = [float(x) for x in model.class_threshold.detach().cpu().tolist()]
        self.class_thresholds = dict(zip(self.vocabulary, thresholds, strict=True))
        if len(self.class_thresholds) != len(self.vocabulary):
            raise InputError(f"{kind}: the model's tag list has repeated tags")
        self.preprocess = Preprocess(
            size=image_size,
            resize_mode="squash",
            interpolation="bilinear",
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        )
        self.floor = floor
        self.selection = selection or Selection(per_tag=self.class_thresholds, strict=True)
        self.description = description or f"{kind} ({image_size} px)"
        self.weights_sha256 = weights_sha256

    @classmethod
    def load(
        cls,
        checkpoint: str | Path,
        *,
        kind: str = "ram",
        tokenizer: str | Path = "bert-base-uncased",
        vit: str = "swin_l",
        image_size: int = 384,
        device: str = "auto",
        precision: str = "auto",
        floor: float = 0.1,
        threshold: float | None = None,
        top_k: int | None = None,
    ) -> RamTagger:
        """Build RAM / RAM++ from the ``recognize-anything`` package and a local checkpoint.

        Parameters
        ----------
        checkpoint
            ``ram_swin_large_14m.pth`` / ``ram_plus_swin_large_14m.pth`` (or another
            checkpoint of the same architecture).
        kind
            ``ram`` or ``ram_plus``.
        tokenizer
            The folder of the ``bert-base-uncased`` tokenizer (its ``vocab.txt``), which
            RAM's text encoder needs; a name is looked up in the Hugging Face cache only.
        vit
            ``swin_l`` (the published checkpoints), ``swin_b``, ``base`` or ``large``.
        image_size, device, precision, floor, threshold, top_k
            As for the other taggers; ``threshold`` overrides RAM's per-tag thresholds.

        Raises
        ------
        MissingDependency
            ``recognize-anything`` is not installed (it is not on PyPI).
        InputError
            The checkpoint or tokenizer is missing or does not fit.
        """
        require_vision(f"the {kind} tagger")
        module = _import_ram(kind)

        ckpt = Path(checkpoint)
        if not ckpt.is_file():
            raise InputError(f"{ckpt}: {kind} checkpoint not found")
        tok = Path(tokenizer)
        if tok.exists() and not (tok / "vocab.txt").is_file():
            raise InputError(
                f"--tokenizer {tok}: no vocab.txt there; give the folder of the "
                "bert-base-uncased tokenizer"
            )
        torch_device = resolve_device(device)
        dtype = resolve_precision(precision, torch_device)
        build = getattr(module, kind)
        captured = io.StringIO()
        try:
            # The library prints progress and sets a global "ignore all warnings" filter on
            # import; keep both out of the caller's process.
            with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
                warnings.filterwarnings("ignore", message=r"torch\.meshgrid", category=UserWarning)
                model = build(
                    pretrained=str(ckpt),
                    image_size=image_size,
                    vit=vit,
                    text_encoder_type=str(tokenizer),
                )
        except OSError as e:
            raise InputError(
                f"{kind}: cannot load the text-encoder tokenizer {str(tokenizer)!r} ({_line(e)});"
                " give the local folder of bert-base-uncased with --tokenizer"
            ) from None
        except Exception as e:
            raise InputError(
                f"{ckpt}: cannot build {kind} from this checkpoint: {type(e).__name__}: {_line(e)}"
            ) from None
        if captured.getvalue().strip():
            logger.debug("%s: %s", kind, captured.getvalue().strip())
        model.eval().to(torch_device)
        selection = None
        if threshold is not None or top_k is not None:
            thresholds = dict(
                zip(
                    [str(t) for t in model.tag_list],
                    [float(x) for x in model.class_threshold.tolist()],
                    strict=True,
                )
            )
            selection = Selection(
                threshold=threshold,
                top_k=top_k or None,  # 0: no limit
                per_tag=thresholds,
                strict=True,
            )
        return cls(
            model,
            kind=kind,
            image_size=image_size,
            device=torch_device,
            precision=dtype,
            floor=floor,
            selection=selection,
            description=f"{'RAM++' if kind == 'ram_plus' else 'RAM'} {vit} ({ckpt.name})",
            weights_sha256=file_digest(ckpt),
        )

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """The tagging head's logits ``(n, n_tags)`` (float32), from the library's own
        ``generate_tag``."""

        x = normalize(pixels, self.preprocess, self.device)
        captured: list[Any] = []
        handle = self.model.fc.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            with autocast(self.device, self.precision):
                self.model.generate_tag(x)
        finally:
            handle.remove()
        if len(captured) != 1:
            raise RuntimeError(f"{self.kind}: expected one pass through the tagging head")
        logits: torch.Tensor = captured[0].squeeze(-1).float()
        return logits

    def scores(self, pixels: torch.Tensor) -> np.ndarray:
        import torch

        probs = torch.sigmoid(self.logits(pixels)).cpu().numpy()
        delete = list(getattr(self.model, "delete_tag_index", None) or [])
        if delete:
            probs[:, delete] = 0.0  # tags the model is told never to output (RAM does this)
        return probs

    def model_settings(self) -> dict[str, Any]:
        return {"model": self.description, "weights_sha256": self.weights_sha256}


def _line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 240 else text[:237] + "..."


def _import_ram(kind: str) -> Any:
    """``ram.models`` from recognize-anything, or a clear :class:`MissingDependency`."""
    import importlib

    hint = (
        f"the {kind} tagger needs the recognize-anything package, which is not on PyPI; "
        f"install it from its public source: {RAM_INSTALL} (see the prime_rs docs, "
        "'Recognize Anything')"
    )
    try:
        with warnings.catch_warnings():
            # The library and its dependencies warn about their own deprecated APIs when
            # imported; that is not the user's business.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module("ram.models")
    except ImportError as e:
        missing = getattr(e, "name", None)
        if missing in (None, "ram", "ram.models"):
            raise MissingDependency(hint) from None
        raise MissingDependency(
            f"the {kind} tagger: recognize-anything is installed but its dependency "
            f"{missing!r} is not ({_line(e)}); install it with pip"
        ) from None
    if not hasattr(module, kind):
        raise MissingDependency(
            f"the installed 'ram' package has no {kind}() (another package named 'ram'?); " + hint
        )
    return module


def load_tagger(
    kind: str,
    *,
    model_name: str | None = None,
    checkpoint: str | Path | None = None,
    model_config: str | Path | None = None,
    classes: str | Path | None = None,
    vocabulary: str | Path | None = None,
    tokenizer: str | Path | None = None,
    image_size: int | None = None,
    vit: str = "swin_l",
    device: str = "auto",
    precision: str = "auto",
    floor: float | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
) -> Tagger:
    """Build a tagger by name, as ``prime tag`` does.

    Parameters
    ----------
    kind
        ``classifier``, ``clip``, ``ram`` or ``ram_plus``.
    model_name
        classifier: ``efficientnet_lite0`` (default), a torchvision name, a TorchScript /
        ``torch.export`` file or ``package.module:factory``; clip: the open_clip architecture.
    checkpoint
        Local weights (required for clip, ram, ram_plus and torchvision classifiers).
    model_config
        clip: JSON config of a custom open_clip architecture.
    classes
        classifier: class names file (default: the model's own, e.g. ImageNet).
    vocabulary
        clip: vocabulary file (default: the built-in vocabulary).
    tokenizer
        ram / ram_plus: folder of the bert-base-uncased tokenizer.
    image_size, vit
        ram / ram_plus: input size (384) and backbone (``swin_l``).
    device, precision
        Where and how to run.
    floor
        Lowest score kept as a candidate (default 0.01; 0.1 for ram and ram_plus).
    threshold, top_k
        Override the tagger's default selection (classifier: top 5 with probability >=
        0.05; clip: top 8 with probability >= 0.15; ram: RAM's per-tag thresholds).

    Examples
    --------
    >>> import tempfile
    >>> from prime_rs.vision.testing import make_tiny_clip
    >>> tiny = make_tiny_clip(tempfile.mkdtemp())
    >>> t = load_tagger("clip", model_name=tiny.model_name, checkpoint=tiny.checkpoint,
    ...                 model_config=tiny.config, device="cpu", top_k=3)
    >>> t.kind, len(t.vocabulary) > 500, t.selection.describe()
    ('clip', True, 'top 3 with score >= 0.15')
    """
    if kind not in TAGGERS:
        raise ParameterError(f"--tagger must be one of {', '.join(TAGGERS)}, got {kind!r}")
    if floor is not None and not 0 <= floor <= 1:
        raise ParameterError(f"--floor must be a score in [0, 1], got {floor!r}")
    if threshold is not None and floor is not None and threshold < floor:
        raise ParameterError(
            f"--threshold {threshold:g} is below --floor {floor:g}: tags scoring less than the "
            "floor are not kept; lower --floor too"
        )
    require_vision(f"the {kind} tagger")
    if kind == "classifier":
        if model_config is not None or vocabulary is not None or tokenizer is not None:
            raise ParameterError(
                "--model-config, --vocabulary and --tokenizer do not apply to the classifier "
                "tagger (its tags are the classifier's class names)"
            )
        classifier = load_classifier(
            model_name or EFFICIENTNET_LITE0,
            weights=checkpoint,
            classes=classes,
            device=device,
            precision=precision,
        )
        classifier.check()
        default = Selection(threshold=0.05, top_k=5)
        return ClassifierTagger(
            classifier,
            floor=0.01 if floor is None else floor,
            selection=_override(default, threshold, top_k),
        )
    if kind == "clip":
        if model_name is None or checkpoint is None:
            raise ParameterError(
                "the clip tagger needs --model-name (an open_clip architecture such as "
                "ViT-B-32) and --checkpoint (its local weights file)"
            )
        if classes is not None or tokenizer is not None:
            raise ParameterError("--classes and --tokenizer do not apply to the clip tagger")
        groups = read_vocabulary(vocabulary) if vocabulary is not None else None
        clip = ClipModel.load(
            model_name, checkpoint, device=device, model_config=model_config, precision=precision
        )
        default = Selection(threshold=0.15, top_k=8)
        return ClipTagger(
            clip,
            groups,
            floor=0.01 if floor is None else floor,
            selection=_override(default, threshold, top_k),
        )
    if checkpoint is None:
        raise ParameterError(f"the {kind} tagger needs --checkpoint (its local weights file)")
    if classes is not None or vocabulary is not None or model_config is not None:
        raise ParameterError(
            f"--classes, --vocabulary and --model-config do not apply to the {kind} tagger"
        )
    return RamTagger.load(
        checkpoint,
        kind=kind,
        tokenizer=tokenizer if tokenizer is not None else "bert-base-uncased",
        vit=vit,
        image_size=image_size or 384,
        device=device,
        precision=precision,
        floor=0.1 if floor is None else floor,
        threshold=threshold,
        top_k=top_k,
    )


def _override(default: Selection, threshold: float | None, top_k: int | None) -> Selection:
    return Selection(
        threshold=default.threshold if threshold is None else threshold,
        top_k=default.top_k if top_k is None else (None if top_k == 0 else top_k),
        per_tag=default.per_tag,
        default=default.default,
        strict=default.strict,
    )
