"""Text-to-image prompts for failure and success modes (PRIME 4.2).

If a failure mode's description is right, images *generated* from it should fool the model
too, while images generated from a *success mode* (a tag set of the same class on which the
model is always right) should not. :func:`generation_prompts` writes both kinds as JSON,
ready for any diffusion pipeline; :func:`generated_accuracy` reads back the model's
predictions on the generated images and compares the two kinds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from prime_rs.errors import InputError, ParameterError
from prime_rs.evaluate._common import caption
from prime_rs.index import TagIndex
from prime_rs.io import SamplesLike

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "generated_accuracy",
    "generation_prompts",
    "prompt_counts",
    "read_prompts",
    "write_prompts",
]

#: The prompt of a mode: its class and tags.
DEFAULT_PROMPT_TEMPLATE = "a photo of a {label}, {tags}"
_FORMAT = "prime_rs.prompts/1"
_PROMPT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "kind": pl.String(),
    "label": pl.String(),
    "tags": pl.List(pl.String),
}


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def generation_prompts(
    modes: pl.DataFrame,
    samples: SamplesLike | TagIndex,
    *,
    top: int | None = None,
    success_per_mode: int = 1,
    min_support: int | None = None,
    template: str = DEFAULT_PROMPT_TEMPLATE,
    images_per_prompt: int = 50,
    negative_prompt: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Prompts for chosen failure modes and for success modes of the same classes and sizes.

    Parameters
    ----------
    modes
        The failure modes to generate for (all of them, or the first ``top`` by drop).
    samples
        The samples the modes were found in (or their :class:`prime_rs.TagIndex`): success
        modes are looked up there.
    top
        Use only the ``top`` modes of largest drop.
    success_per_mode
        Success modes per failure mode: tag sets of the same class and size (else the
        nearest size the class has) on which every sample is predicted correctly, largest
        support first, each used once. A class may have none: then the mode gets none.
    min_support
        Smallest support of a success mode (default: the smallest support among ``modes``,
        else 30).
    template
        Prompt text with ``{label}`` and ``{tags}``.
    images_per_prompt
        How many images to generate per prompt (a hint written into the JSON).
    negative_prompt
        Written into every prompt, for pipelines that take one.
    seed
        Base seed written into the JSON; prompt ``i`` suggests seed ``seed + i``.

    Returns
    -------
    dict
        ``{"format", "template", "images_per_prompt", "prompts": [...]}``; each prompt has
        ``id`` (``failure-0001``, ``success-0001``, ...), ``kind``, ``label``, ``tags``,
        ``prompt``, ``support``, ``accuracy``, ``class_accuracy``, ``seed``, and for a
        success mode ``pair`` (the failure mode's id).

    Examples
    --------
    >>> from prime_rs import synthetic, find_failure_modes
    >>> data = synthetic.generate(synthetic.SMALL).samples
    >>> modes = find_failure_modes(data, max_tags=3)
    >>> p = generation_prompts(modes, data, top=2, min_support=20)
    >>> [x["kind"] for x in p["prompts"]]
    ['failure', 'failure', 'success', 'success']
    """
    if not isinstance(modes, pl.DataFrame) or not {"label", "tags"} <= set(modes.columns):
        raise InputError("modes: need a mode table with 'label' and 'tags' (from prime search)")
    if top is not None and top < 1:
        raise ParameterError(f"top: must be at least 1, got {top}")
    if success_per_mode < 0:
        raise ParameterError(f"success_per_mode: must be >= 0, got {success_per_mode}")
    if images_per_prompt < 1:
        raise ParameterError(f"images_per_prompt: must be at least 1, got {images_per_prompt}")
    caption("x", ["y"], template)  # raises on unknown fields
    chosen = modes
    if top is not None:
        if "drop" in modes.columns:
            chosen = modes.sort("drop", descending=True, maintain_order=True)
        chosen = chosen.head(top)
    index = samples if isinstance(samples, TagIndex) else TagIndex.from_samples(samples)
    if min_support is None:
        has_support = "support" in chosen.columns and chosen.height > 0
        min_support = int(chosen["support"].min()) if has_support else 30  # type: ignore[arg-type]
    prompts: list[dict[str, Any]] = []
    classes = index.classes()
    class_acc = dict(zip(classes["label"].to_list(), classes["accuracy"].to_list(), strict=True))
    labels = {str(x): x for x in index.labels}
    for i, row in enumerate(chosen.iter_rows(named=True), start=1):
        prompts.append(
            {
                "id": f"failure-{i:04d}",
                "kind": "failure",
                "label": _plain(row["label"]),
                "tags": list(row["tags"]),
                "prompt": caption(row["label"], row["tags"], template),
                "support": _plain(row.get("support")),
                "accuracy": _plain(row.get("accuracy")),
                "class_accuracy": _plain(
                    row.get("class_accuracy", class_acc.get(labels.get(str(row["label"]))))
                ),
            }
        )
    # Success modes: per class, the lattice's sets with accuracy 1, largest support first.
    used: set[tuple[Any, tuple[str, ...]]] = set()
    n_success = 0
    failures = list(prompts)
    if success_per_mode and chosen.height:
        max_tags = int(max(len(t) for t in chosen["tags"].to_list()))
        wanted = sorted({labels.get(str(x), x) for x in chosen["label"].to_list()}, key=str)
        wanted = [x for x in wanted if x in class_acc]
        lattice = (
            index.frequent_sets(max_tags=max_tags, min_support=min_support, labels=wanted)
            if wanted
            else None
        )
        perfect = (
            lattice.filter(pl.col("accuracy") == 1.0).sort(
                ["support", "n_tags"], descending=[True, False], maintain_order=True
            )
            if lattice is not None
            else None
        )
        for failure in failures:
            label = labels.get(str(failure["label"]), failure["label"])
            if perfect is None:
                break
            mine = perfect.filter(pl.col("label") == label)
            size = len(failure["tags"])
            # The same number of tags if the class has such sets, else the nearest number.
            pool = mine.with_columns(_far=(pl.col("n_tags") - size).abs()).sort(
                ["_far", "support", "n_tags"], descending=[False, True, False], maintain_order=True
            )
            picked = 0
            for row in pool.iter_rows(named=True):
                key = (label, tuple(row["tags"]))
                if key in used:
                    continue
                used.add(key)
                n_success += 1
                prompts.append(
                    {
                        "id": f"success-{n_success:04d}",
                        "kind": "success",
                        "label": _plain(label),
                        "tags": list(row["tags"]),
                        "prompt": caption(label, row["tags"], template),
                        "support": int(row["support"]),
                        "accuracy": float(row["accuracy"]),
                        "class_accuracy": _plain(class_acc.get(label)),
                        "pair": failure["id"],
                    }
                )
                picked += 1
                if picked == success_per_mode:
                    break
    for i, p in enumerate(prompts):
        p["seed"] = seed + i
        if negative_prompt is not None:
            p["negative_prompt"] = negative_prompt
    return {
        "format": _FORMAT,
        "template": template,
        "images_per_prompt": images_per_prompt,
        "prompts": prompts,
    }


def prompt_counts(prompts: dict[str, Any], success_per_mode: int = 1) -> dict[str, int]:
    """How many failure and success prompts :func:`generation_prompts` made, and how many
    success prompts it could not make (classes without a tag set of 100% accuracy).

    Examples
    --------
    >>> p = {"prompts": [{"kind": "failure"}, {"kind": "failure"}, {"kind": "success"}]}
    >>> prompt_counts(p)
    {'n_failure': 2, 'n_success': 1, 'n_missing_success': 1}
    """
    kinds = [p.get("kind") for p in prompts.get("prompts", [])]
    n_failure, n_success = kinds.count("failure"), kinds.count("success")
    return {
        "n_failure": n_failure,
        "n_success": n_success,
        "n_missing_success": max(0, n_failure * success_per_mode - n_success),
    }


def write_prompts(prompts: dict[str, Any], path: str | Path) -> Path:
    """Write :func:`generation_prompts`' result as indented JSON.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_prompts({"format": "prime_rs.prompts/1", "prompts": []},
    ...                   pathlib.Path(tempfile.mkdtemp()) / "prompts.json")
    >>> read_prompts(p)["prompts"]
    []
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give a file name such as prompts.json")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(prompts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


def read_prompts(path: str | Path) -> dict[str, Any]:
    """Read a prompts JSON file written by :func:`write_prompts`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not a readable JSON file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), list):
        raise InputError(f"{p}: not a prompts file (no 'prompts' list)")
    return data


def generated_accuracy(
    prompts: dict[str, Any] | str | Path, predictions: SamplesLike | pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The model's accuracy on generated images, per prompt and per kind.

    Parameters
    ----------
    prompts
        The prompts (or their JSON file).
    predictions
        One row per generated image: ``prompt_id`` and ``prediction`` (a table or a path);
        the true class is the prompt's label.

    Returns
    -------
    tuple of polars.DataFrame
        Per prompt: ``id, kind, label, tags, n_images, accuracy``; per kind: ``kind,
        n_prompts, n_images, accuracy`` (over images) and ``mean_prompt_accuracy``. A
        prompts file without prompts (no modes) gives two empty tables with these columns.

    Examples
    --------
    >>> prompts = {"prompts": [
    ...     {"id": "failure-0001", "kind": "failure", "label": "fox", "tags": ["snow"]},
    ...     {"id": "success-0001", "kind": "success", "label": "fox", "tags": ["grass"]}]}
    >>> preds = pl.DataFrame({"prompt_id": ["failure-0001", "failure-0001", "success-0001"],
    ...                       "prediction": ["wolf", "fox", "fox"]})
    >>> _, kinds = generated_accuracy(prompts, preds)
    >>> kinds.select("kind", "accuracy").rows()
    [('failure', 0.5), ('success', 1.0)]
    """
    from prime_rs.io import read_table

    data = prompts if isinstance(prompts, dict) else read_prompts(prompts)
    table = predictions if isinstance(predictions, pl.DataFrame) else read_table(predictions)
    for col in ("prompt_id", "prediction"):
        if col not in table.columns:
            raise InputError(
                f"predictions: missing column {col!r}; give one row per generated image with "
                "'prompt_id' and 'prediction'"
            )
    # An explicit schema: a file without prompts (no modes) must still join as text.
    meta = pl.DataFrame(
        {
            "id": [str(p["id"]) for p in data["prompts"]],
            "kind": [str(p["kind"]) for p in data["prompts"]],
            "label": [str(p["label"]) for p in data["prompts"]],
            "tags": [list(p["tags"]) for p in data["prompts"]],
        },
        schema=_PROMPT_SCHEMA,
    )
    unknown = table.filter(~pl.col("prompt_id").cast(pl.String).is_in(meta["id"].implode()))
    if unknown.height:
        raise InputError(
            f"predictions: prompt_id {unknown['prompt_id'][0]!r} is not in the prompts file"
        )
    images = table.select(
        pl.col("prompt_id").cast(pl.String).alias("id"),
        pl.col("prediction").cast(pl.String),
    ).join(meta, on="id")
    images = images.with_columns(correct=pl.col("prediction") == pl.col("label"))
    per_prompt = meta.join(
        images.group_by("id").agg(
            n_images=pl.len().cast(pl.Int64), accuracy=pl.col("correct").mean().cast(pl.Float64)
        ),
        on="id",
        how="left",
    ).with_columns(pl.col("n_images").fill_null(0))
    per_kind = (
        images.group_by("kind")
        .agg(
            n_prompts=pl.col("id").n_unique().cast(pl.Int64),
            n_images=pl.len().cast(pl.Int64),
            accuracy=pl.col("correct").mean().cast(pl.Float64),
        )
        .join(
            per_prompt.group_by("kind").agg(mean_prompt_accuracy=pl.col("accuracy").mean()),
            on="kind",
        )
        .sort("kind")
    )
    return per_prompt, per_kind
