"""How well a caption describes its group of images, measured with CLIP (PRIME 4.3, Fig. 6).

A group (a PRIME mode, or a DOMINO slice) gets a caption from its class and tags through a
template (several templates are averaged, as in CLIP's zero-shot prompt ensembles). Then:

* ``similarity_mean`` / ``similarity_std``: cosine similarity between the caption and each
  image of the group (mean and population standard deviation over the group);
* ``auroc``: how well that similarity tells the group's images from an equal-sized random
  sample (seeded) of the class's other images; 0.5 is chance, 1.0 perfect.

Image embeddings go through :class:`~prime_rs.evaluate.embeddings.EmbeddingCache`, so a
second evaluation of the same images runs no image model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError, ParameterError
from prime_rs.evaluate._common import DEFAULT_TEMPLATE, Groups, as_samples, auroc, caption
from prime_rs.evaluate.embeddings import (
    EmbeddingsLike,
    ImageTextModel,
    align_embeddings,
    embed_samples,
)
from prime_rs.io import SamplesLike

__all__ = [
    "DEFAULT_TEMPLATES",
    "caption_embeddings",
    "description_quality",
    "group_captions",
    "quality_summary",
    "retrieval_generalization",
]

#: Default caption templates (the issue's one; pass several to average them).
DEFAULT_TEMPLATES: tuple[str, ...] = (DEFAULT_TEMPLATE,)


def _check_templates(templates: Sequence[str] | str) -> list[str]:
    if isinstance(templates, str):
        templates = [templates]
    out = list(templates)
    if not out:
        raise ParameterError("templates: give at least one caption template")
    for t in out:
        if "{label}" not in t and "{tags}" not in t:
            raise ParameterError(
                f"template {t!r} uses neither {{label}} nor {{tags}}; e.g. {DEFAULT_TEMPLATE!r}"
            )
        caption("x", ["y"], t)  # raises on unknown fields
    return out


def _group_tags(groups: pl.DataFrame) -> list[list[str] | None]:
    """Tags of each group: a mode's ``tags``, or a slice's one-phrase ``description``."""
    if "tags" in groups.columns:
        return [list(t) if t is not None else [] for t in groups["tags"].to_list()]
    if "description" in groups.columns:
        return [[d] if d is not None else None for d in groups["description"].to_list()]
    raise InputError(
        "groups need a 'tags' column (PRIME modes) or a 'description' column (DOMINO slices)"
    )


def group_captions(
    groups: pl.DataFrame, templates: Sequence[str] | str = DEFAULT_TEMPLATES
) -> list[list[str] | None]:
    """The captions of each group, one per template (``None`` for a group without words).

    Examples
    --------
    >>> m = pl.DataFrame({"label": ["fox"], "tags": [["snow", "night"]]})
    >>> group_captions(m, ["a photo of a {label}, {tags}", "{tags} {label}"])
    [['a photo of a fox, snow, night', 'snow, night fox']]
    """
    ts = _check_templates(templates)
    out: list[list[str] | None] = []
    for label, tags in zip(groups["label"].to_list(), _group_tags(groups), strict=True):
        out.append(None if tags is None else [caption(label, tags, t) for t in ts])
    return out


def caption_embeddings(model: ImageTextModel, captions: Sequence[Sequence[str]]) -> np.ndarray:
    """One text embedding per group: its captions' embeddings averaged, then L2-normalized.

    Examples
    --------
    >>> import tempfile
    >>> from prime_rs.vision.testing import load_tiny_clip
    >>> model = load_tiny_clip(tempfile.mkdtemp())
    >>> caption_embeddings(model, [["a photo of a fox, snow", "a fox in the snow"]]).shape
    (1, 32)
    """
    flat = [c for group in captions for c in group]
    if not flat:
        return np.zeros((0, 0), dtype=np.float32)
    emb = np.asarray(model.embed_texts(flat), dtype=np.float64)
    out = np.zeros((len(captions), emb.shape[1]))
    start = 0
    for i, group in enumerate(captions):
        out[i] = emb[start : start + len(group)].mean(axis=0)
        start += len(group)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _stable_seed(seed: int, label: Any, key: Sequence[Any]) -> list[int]:
    """A seed for one group that does not depend on the other groups or their order."""
    digest = hashlib.sha256(repr((str(label), [str(k) for k in key])).encode()).digest()
    return [seed, int.from_bytes(digest[:8], "little")]


def _members(groups: pl.DataFrame, samples: pl.DataFrame, index: Groups) -> list[np.ndarray]:
    """Rows of ``samples`` in each group: a slice's ``ids``, or a mode's tag set."""
    labels = {str(x): x for x in index.classes}
    if "ids" in groups.columns:
        position = {str(i): r for r, i in enumerate(samples["id"].to_list())}
        out = []
        for ids in groups["ids"].to_list():
            rows = [position.get(str(i)) for i in ids or []]
            missing = [i for i, r in zip(ids or [], rows, strict=True) if r is None]
            if missing:
                raise InputError(
                    f"groups: sample id {missing[0]!r} of a slice is not in the samples table"
                )
            out.append(np.sort(np.asarray(rows, dtype=np.int64)))
        return out
    out = []
    for label, tags in groups.select("label", "tags").iter_rows():
        key = label if label in index.classes else labels.get(str(label), label)
        out.append(index.members(key, tags or []))
    return out


def _class_of(label: Any, index: Groups) -> Any:
    if label in index.classes:
        return label
    return {str(x): x for x in index.classes}.get(str(label), label)


def description_quality(
    groups: pl.DataFrame,
    samples: SamplesLike,
    *,
    model: ImageTextModel | None = None,
    image_embeddings: EmbeddingsLike | None = None,
    text_embeddings: np.ndarray | None = None,
    templates: Sequence[str] | str = DEFAULT_TEMPLATES,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    image_root: str | Path | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> pl.DataFrame:
    """CLIP similarity between each group's caption and its images, and its AUROC.

    Parameters
    ----------
    groups
        PRIME modes (``label, tags``) or DOMINO slices (``label, description, ids``).
    samples
        The samples table the groups were found in (with image ``path`` when a model
        computes the image embeddings).
    model
        A CLIP model (``prime_rs.vision.clip.ClipModel``); embeds the captions, and the
        images unless ``image_embeddings`` is given.
    image_embeddings
        Image embeddings of the samples (array aligned with the rows, or a table), instead
        of running the model's image tower.
    text_embeddings
        One caption embedding per group, instead of the model's text tower.
    templates
        Caption templates with ``{label}`` and ``{tags}``; their embeddings are averaged.
    seed
        Seed of the random same-class images the AUROC compares against (per group, so a
        group's result does not depend on the others).
    cache_dir, image_root, batch_size, show_progress
        See :func:`~prime_rs.evaluate.embeddings.embed_samples`.

    Returns
    -------
    polars.DataFrame
        One row per group: ``label``, ``tags`` or ``description``, ``caption`` (the first
        template's), ``n_images``, ``similarity_mean``, ``similarity_std``,
        ``n_negatives``, ``negative_similarity_mean``, ``auroc`` (null when the class has
        no other images, or the group has no caption or no images).

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> s = pl.DataFrame({"id": range(4), "label": ["a"] * 4, "correct": [True] * 4,
    ...                   "tags": [["x"], ["x"], [], []]})
    >>> img = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    >>> m = pl.DataFrame({"label": ["a"], "tags": [["x"]]})
    >>> q = description_quality(m, s, image_embeddings=img,
    ...                         text_embeddings=np.array([[1.0, 0.0]]))
    >>> n, sim, auc = q.select("n_images", "similarity_mean", "auroc").row(0)
    >>> n, round(sim, 4), auc
    (2, 0.9, 1.0)
    """
    if "label" not in groups.columns:
        raise InputError("groups need a 'label' column")
    df = as_samples(samples)
    index = Groups(df)
    caps = group_captions(groups, templates)
    members = _members(groups, df, index)
    # Negatives: an equal-sized random sample of the class's images outside the group.
    negatives: list[np.ndarray] = []
    keys = groups["tags"] if "tags" in groups.columns else groups["description"]
    for i, (label, rows) in enumerate(zip(groups["label"].to_list(), members, strict=True)):
        outside = np.setdiff1d(index.class_rows(_class_of(label, index)), rows)
        key = keys[i]
        key_list = key.to_list() if isinstance(key, pl.Series) else [key]
        rng = np.random.default_rng(_stable_seed(seed, label, key_list))
        n = min(len(rows), len(outside))
        negatives.append(np.sort(rng.choice(outside, n, replace=False)) if n else outside[:0])

    if text_embeddings is None:
        if model is None:
            raise ParameterError("give a model, or text_embeddings for the captions")
        have = [i for i, c in enumerate(caps) if c is not None]
        t = caption_embeddings(model, [c for c in caps if c is not None])
        text = np.zeros((groups.height, t.shape[1] if len(t) else 0), dtype=np.float32)
        text[have] = t
    else:
        text = np.asarray(text_embeddings, dtype=np.float32)
        if text.ndim != 2 or len(text) != groups.height:
            raise InputError(
                f"text_embeddings: need one row per group ({groups.height}), got {text.shape}"
            )

    needed = np.unique(np.concatenate([*members, *negatives, np.zeros(0, dtype=np.int64)]))
    image = _image_embeddings(
        df, needed, model, image_embeddings, cache_dir, image_root, batch_size, show_progress
    )
    if len(needed) and text.shape[1] and image.shape[1] != text.shape[1]:
        raise InputError(
            f"image embeddings have {image.shape[1]} dimensions but caption embeddings "
            f"{text.shape[1]}; use one model for both"
        )
    where = np.full(df.height, -1, dtype=np.int64)
    where[needed] = np.arange(len(needed))

    out: dict[str, list[Any]] = {
        "caption": [],
        "n_images": [],
        "similarity_mean": [],
        "similarity_std": [],
        "n_negatives": [],
        "negative_similarity_mean": [],
        "auroc": [],
    }
    for i, (rows, neg) in enumerate(zip(members, negatives, strict=True)):
        group_caps = caps[i]
        out["caption"].append(group_caps[0] if group_caps else None)
        out["n_images"].append(len(rows))
        out["n_negatives"].append(len(neg))
        if caps[i] is None or len(rows) == 0:
            for k in ("similarity_mean", "similarity_std", "negative_similarity_mean", "auroc"):
                out[k].append(None)
            continue
        pos = image[where[rows]].astype(np.float64) @ text[i].astype(np.float64)
        out["similarity_mean"].append(float(pos.mean()))
        out["similarity_std"].append(float(pos.std()))
        if len(neg) == 0:
            out["negative_similarity_mean"].append(None)
            out["auroc"].append(None)
            continue
        negs = image[where[neg]].astype(np.float64) @ text[i].astype(np.float64)
        out["negative_similarity_mean"].append(float(negs.mean()))
        out["auroc"].append(auroc(np.r_[np.ones(len(pos)), np.zeros(len(negs))], np.r_[pos, negs]))
    ident = [c for c in ("label", "slice", "tags", "description") if c in groups.columns]
    return groups.select(ident).with_columns(
        caption=pl.Series(out["caption"], dtype=pl.String),
        n_images=pl.Series(out["n_images"], dtype=pl.Int64),
        similarity_mean=pl.Series(out["similarity_mean"], dtype=pl.Float64),
        similarity_std=pl.Series(out["similarity_std"], dtype=pl.Float64),
        n_negatives=pl.Series(out["n_negatives"], dtype=pl.Int64),
        negative_similarity_mean=pl.Series(out["negative_similarity_mean"], dtype=pl.Float64),
        auroc=pl.Series(out["auroc"], dtype=pl.Float64),
    )


def _image_embeddings(
    df: pl.DataFrame,
    rows: np.ndarray,
    model: ImageTextModel | None,
    given: EmbeddingsLike | None,
    cache_dir: str | Path | None,
    image_root: str | Path | None,
    batch_size: int,
    show_progress: bool,
) -> np.ndarray:
    if given is not None:
        if isinstance(given, np.ndarray):
            return np.asarray(align_embeddings(df, given)[rows])
        return align_embeddings(pl.DataFrame({"id": df["id"].gather(rows)}), given)
    if model is None:
        raise ParameterError("give a model, or image_embeddings of the samples")
    if len(rows) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return embed_samples(
        model,
        df,
        rows,
        cache_dir=cache_dir,
        image_root=image_root,
        batch_size=batch_size,
        show_progress=show_progress,
    )


def quality_summary(table: pl.DataFrame) -> dict[str, Any]:
    """Fig. 6's numbers: means over groups of the similarity, its spread, and the AUROC.

    Examples
    --------
    >>> t = pl.DataFrame({"similarity_mean": [0.3, 0.2], "similarity_std": [0.05, 0.03],
    ...                   "auroc": [0.8, None]})
    >>> quality_summary(t)["mean_auroc"], quality_summary(t)["n_groups"]
    (0.8, 2)
    """

    def mean(col: str) -> float | None:
        v = table[col].drop_nulls()
        return float(v.mean()) if v.len() else None  # type: ignore[arg-type]

    return {
        "n_groups": table.height,
        "n_measured": int(table["similarity_mean"].is_not_null().sum()),
        "mean_similarity": mean("similarity_mean"),
        "mean_similarity_std": mean("similarity_std"),
        "mean_auroc": mean("auroc"),
        "median_auroc": (
            float(table["auroc"].drop_nulls().median())  # type: ignore[arg-type]
            if table["auroc"].drop_nulls().len()
            else None
        ),
    }


def retrieval_generalization(
    groups: pl.DataFrame,
    holdout: SamplesLike,
    *,
    model: ImageTextModel | None = None,
    holdout_embeddings: EmbeddingsLike | None = None,
    text_embeddings: np.ndarray | None = None,
    detect: SamplesLike | None = None,
    templates: Sequence[str] | str = DEFAULT_TEMPLATES,
    cache_dir: str | Path | None = None,
    image_root: str | Path | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> pl.DataFrame:
    """Generalization of a caption without tags: retrieve the holdout images closest to it.

    For a group of class ``c`` with ``support`` images on the detect split, the ``k``
    holdout images of ``c`` most similar to its caption are taken, ``k`` being the support
    scaled by the ratio of the class's holdout and detect sizes (the support itself without
    ``detect``). Their accuracy against the class's holdout accuracy is the group's
    ``retrieval_drop`` (PRIME appendix A.9, used there for DOMINO, whose slices have no tags).

    Returns
    -------
    polars.DataFrame
        The groups' identifying columns, then ``retrieval_support``,
        ``retrieval_accuracy``, ``holdout_class_accuracy``, ``retrieval_drop``.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> h = pl.DataFrame({"id": range(4), "label": ["a"] * 4,
    ...                   "correct": [False, True, True, True], "tags": [[]] * 4})
    >>> img = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    >>> g = pl.DataFrame({"label": ["a"], "description": ["x"], "support": [1]})
    >>> r = retrieval_generalization(g, h, holdout_embeddings=img,
    ...                              text_embeddings=np.array([[1.0, 0.0]]))
    >>> r.select("retrieval_support", "retrieval_accuracy", "retrieval_drop").row(0)
    (1, 0.0, 0.75)
    """
    if "support" not in groups.columns:
        raise InputError("groups need a 'support' column (their size on the detect split)")
    h = as_samples(holdout)
    hidx = Groups(h)
    ratio: dict[Any, float] = {}
    if detect is not None:
        didx = Groups(as_samples(detect))
        for label in hidx.classes:
            n_detect = len(didx.class_rows(_class_of(label, didx)))
            ratio[label] = len(hidx.class_rows(label)) / n_detect if n_detect else 1.0
    if text_embeddings is None:
        if model is None:
            raise ParameterError("give a model, or text_embeddings for the captions")
        caps = group_captions(groups, templates)
        have = [i for i, c in enumerate(caps) if c is not None]
        t = caption_embeddings(model, [c for c in caps if c is not None])
        text = np.full((groups.height, t.shape[1] if len(t) else 0), np.nan, dtype=np.float32)
        text[have] = t
    else:
        text = np.asarray(text_embeddings, dtype=np.float32)
    labels = [_class_of(x, hidx) for x in groups["label"].to_list()]
    rows_needed = np.unique(
        np.concatenate([hidx.class_rows(x) for x in set(labels)] + [np.zeros(0, np.int64)])
    )
    image = _image_embeddings(
        h, rows_needed, model, holdout_embeddings, cache_dir, image_root, batch_size,
        show_progress,
    )  # fmt: skip
    where = np.full(h.height, -1, dtype=np.int64)
    where[rows_needed] = np.arange(len(rows_needed))
    k_out: list[int] = []
    acc_out: list[float | None] = []
    cls_out: list[float | None] = []
    for i, (label, support) in enumerate(zip(labels, groups["support"].to_list(), strict=True)):
        rows = hidx.class_rows(label)
        if len(rows) == 0 or np.isnan(text[i]).any() or not support:
            k_out.append(0)
            acc_out.append(None)
            cls_out.append(hidx.accuracy(rows))
            continue
        k = int(min(len(rows), max(1, round(support * ratio.get(label, 1.0)))))
        sims = image[where[rows]].astype(np.float64) @ text[i].astype(np.float64)
        top = rows[np.argsort(-sims, kind="stable")[:k]]
        k_out.append(k)
        acc_out.append(hidx.accuracy(top))
        cls_out.append(hidx.accuracy(rows))
    ident = [c for c in ("label", "slice", "tags", "description") if c in groups.columns]
    return (
        groups.select(ident)
        .with_columns(
            retrieval_support=pl.Series(k_out, dtype=pl.Int64),
            retrieval_accuracy=pl.Series(acc_out, dtype=pl.Float64),
            holdout_class_accuracy=pl.Series(cls_out, dtype=pl.Float64),
        )
        .with_columns(
            retrieval_drop=pl.col("holdout_class_accuracy") - pl.col("retrieval_accuracy")
        )
    )
