"""PRIME against a DOMINO-style baseline on the same data (PRIME 4.3, Fig. 6; A.9)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError
from prime_rs.evaluate._common import as_samples
from prime_rs.evaluate.domino import domino_slices
from prime_rs.evaluate.embeddings import ImageTextModel, embed_samples
from prime_rs.evaluate.generalization import DEFAULT_GENERALIZES, generalization
from prime_rs.evaluate.quality import (
    DEFAULT_TEMPLATES,
    description_quality,
    quality_summary,
    retrieval_generalization,
)
from prime_rs.io import SamplesLike, source_name, write_table

__all__ = ["compare", "default_vocabulary", "read_vocabulary", "write_comparison"]


def default_vocabulary(samples: pl.DataFrame) -> list[str]:
    """Every distinct tag of a samples table, sorted: DOMINO's phrases when none are given.

    Examples
    --------
    >>> default_vocabulary(pl.DataFrame({"tags": [["b", "a"], ["a"]]}))
    ['a', 'b']
    """
    return sorted(samples["tags"].explode().drop_nulls().unique().to_list())


def read_vocabulary(path: str | Path) -> list[str]:
    """DOMINO's candidate phrases from a text file, one per line (blank lines left out).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "vocabulary.txt"
    >>> _ = p.write_text("snow\\n\\n  a dark night \\n", encoding="utf-8")
    >>> read_vocabulary(p)
    ['snow', 'a dark night']
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: vocabulary file not found")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file of phrases, one per line") from None
    return [x for x in (line.strip() for line in lines) if x]


def write_comparison(tables: dict[str, pl.DataFrame], output_dir: str | Path) -> list[Path]:
    """Write :func:`compare`'s tables and Fig. 6 into a folder (made if missing).

    Writes ``summary.csv``, ``prime.parquet``, ``domino.parquet``, ``fig6.png`` and
    ``fig6.svg``, and returns their paths in that order.

    Examples
    --------
    >>> import tempfile
    >>> q = pl.DataFrame({"similarity_mean": [0.3], "auroc": [0.8]})
    >>> tables = {"summary": pl.DataFrame({"method": ["PRIME", "DOMINO"]}),
    ...           "prime": q, "domino": q}
    >>> [p.name for p in write_comparison(tables, tempfile.mkdtemp())]
    ['summary.csv', 'prime.parquet', 'domino.parquet', 'fig6.png', 'fig6.svg']
    """
    from prime_rs.evaluate.plots import quality_plot

    missing = [k for k in ("summary", "prime", "domino") if k not in tables]
    if missing:
        raise InputError(
            f"tables: missing {', '.join(map(repr, missing))}; give what compare() returns"
        )
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; give a folder for the comparison")
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        write_table(tables["summary"], out / "summary.csv"),
        write_table(tables["prime"], out / "prime.parquet"),
        write_table(tables["domino"], out / "domino.parquet"),
    ]
    figure = quality_plot({"PRIME": tables["prime"], "DOMINO": tables["domino"]}, out / "fig6")
    return [Path(p) for p in paths] + figure


def compare(
    modes: pl.DataFrame,
    detect: SamplesLike,
    *,
    model: ImageTextModel,
    holdout: SamplesLike | None = None,
    vocabulary: Sequence[str] | None = None,
    templates: Sequence[str] | str = DEFAULT_TEMPLATES,
    n_components: int | None = None,
    y_weight: float = 10.0,
    y_hat_weight: float = 10.0,
    min_size: int | None = None,
    generalizes: float = DEFAULT_GENERALIZES,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    image_root: str | Path | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> dict[str, pl.DataFrame]:
    """Describe-and-measure PRIME's modes and DOMINO's slices with the same CLIP model.

    DOMINO gets, in each class, as many slices as PRIME found modes there, so both
    methods describe about as many groups. Both are scored with :func:`description_quality`
    (similarity of caption and images, AUROC against other images of the class); with a
    holdout, PRIME's modes are re-measured by their tags and both methods' captions by
    retrieving the closest holdout images (:func:`retrieval_generalization`).

    Parameters
    ----------
    modes
        PRIME's modes on the detect split.
    detect
        The detect samples, with image paths.
    model
        The CLIP model.
    holdout
        Unseen samples with image paths.
    vocabulary
        DOMINO's candidate phrases (default: every tag of the detect samples).
    templates
        Caption templates for both methods.
    n_components, y_weight, y_hat_weight
        DOMINO's mixture (see :func:`domino_slices`).
    min_size
        Smallest DOMINO slice (default: PRIME's smallest mode support).
    generalizes
        A group generalizes when its holdout drop is at least this.
    seed, cache_dir, image_root, batch_size, show_progress
        As in :func:`description_quality`.

    Returns
    -------
    dict
        ``"summary"``: one row per method (Fig. 6's table: ``n_groups, mean_support,
        mean_drop, mean_similarity, mean_similarity_std, mean_auroc``, and with a holdout
        ``mean_holdout_drop, share_generalize`` (PRIME by tags, DOMINO by retrieval) and
        ``mean_retrieval_drop``); ``"prime"`` and ``"domino"``: one row per group.

    Examples
    --------
    >>> tables = compare(modes, detect, model=clip, holdout=holdout)  # doctest: +SKIP
    >>> tables["summary"]  # doctest: +SKIP
    """
    df = as_samples(detect, source=source_name(detect))
    if modes.height == 0:
        raise InputError("modes: the table is empty; there is nothing to compare")
    per_class = dict(modes.group_by("label").len().iter_rows())
    labels = df["label"]
    known = {str(x): x for x in labels.unique().to_list()}
    n_slices = {known.get(str(k), k): int(v) for k, v in per_class.items()}
    rows = np.flatnonzero(labels.cast(pl.String).is_in([str(k) for k in n_slices]).to_numpy())
    fresh = embed_samples(
        model,
        df,
        rows,
        cache_dir=cache_dir,
        image_root=image_root,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    emb = np.zeros((df.height, fresh.shape[1]), dtype=np.float32)
    emb[rows] = fresh
    phrases = list(vocabulary) if vocabulary is not None else default_vocabulary(df)
    if not phrases:
        raise InputError("no vocabulary for DOMINO's descriptions: the samples have no tags")
    text = np.asarray(model.embed_texts(phrases), dtype=np.float32)
    slices = domino_slices(
        df,
        emb,
        n_slices=n_slices,
        n_components=n_components,
        y_weight=y_weight,
        y_hat_weight=y_hat_weight,
        min_size=_min_size(min_size, modes),
        seed=seed,
        vocabulary=phrases,
        text_embeddings=text,
        template=templates if isinstance(templates, str) else templates[0],
        show_progress=show_progress,
    )
    common: dict[str, Any] = {
        "model": model,
        "templates": templates,
        "seed": seed,
        "cache_dir": cache_dir,
        "image_root": image_root,
        "batch_size": batch_size,
        "show_progress": show_progress,
    }
    prime_q = description_quality(modes, df, image_embeddings=emb, **common)
    domino_q = description_quality(slices, df, image_embeddings=emb, **common)
    prime_t = modes.hstack(prime_q.select(pl.exclude("label", "tags")))
    # The slices already carry their caption (the first template's), as the quality does.
    domino_t = slices.hstack(
        domino_q.select(pl.exclude("label", "slice", "description", "caption"))
    )
    if holdout is not None:
        h = as_samples(holdout)
        prime_t = generalization(prime_t, h)
        for name, table in (("prime", prime_t), ("domino", domino_t)):
            unseeded = {k: v for k, v in common.items() if k != "seed"}
            r = retrieval_generalization(table, h, detect=df, **unseeded)
            extra = r.select("retrieval_support", "retrieval_accuracy", "retrieval_drop")
            if name == "prime":
                prime_t = prime_t.hstack(extra)
            else:
                domino_t = domino_t.hstack(extra).with_columns(
                    holdout_class_accuracy=r["holdout_class_accuracy"]
                )
    summary = pl.DataFrame(
        [
            _summary_row("PRIME", prime_t, generalizes, by_tags=True),
            _summary_row("DOMINO", domino_t, generalizes, by_tags=False),
        ]
    )
    return {"summary": summary, "prime": prime_t, "domino": domino_t}


def _min_size(min_size: int | None, modes: pl.DataFrame) -> int:
    """DOMINO's smallest slice: as given, else PRIME's smallest mode (its ``min_support``)."""
    if min_size is not None:
        return int(min_size)
    if "support" in modes.columns and modes.height:
        return max(1, int(modes["support"].min()))  # type: ignore[arg-type]
    return 1


def _summary_row(
    method: str, table: pl.DataFrame, generalizes: float, *, by_tags: bool
) -> dict[str, Any]:
    q = quality_summary(table)

    def mean(col: str) -> float | None:
        if col not in table.columns:
            return None
        v = table[col].drop_nulls()
        return float(v.mean()) if v.len() else None  # type: ignore[arg-type]

    row: dict[str, Any] = {
        "method": method,
        "n_groups": table.height,
        "mean_support": mean("support"),
        "mean_drop": mean("drop"),
        "mean_similarity": q["mean_similarity"],
        "mean_similarity_std": q["mean_similarity_std"],
        "mean_auroc": q["mean_auroc"],
    }
    holdout_col = "holdout_drop" if by_tags else "retrieval_drop"
    if holdout_col in table.columns:
        drops = table[holdout_col].drop_nulls()
        row["mean_holdout_drop"] = float(drops.mean()) if drops.len() else None  # type: ignore[arg-type]
        row["share_generalize"] = (
            float((drops >= generalizes - 1e-12).mean()) if drops.len() else None  # type: ignore[arg-type]
        )
        row["mean_retrieval_drop"] = mean("retrieval_drop")
    return row
