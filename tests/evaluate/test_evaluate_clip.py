"""CLIP metrics end to end: a tiny random-weight open_clip model, real images written here.

The model's weights are random, so the numbers mean nothing about captions; what is checked
is the plumbing: the metrics equal what the model's own embeddings give, the embedding cache
spares every image-model call on a second run, and the commands write what they say.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result

import prime_rs
from prime_rs.cli import cli
from prime_rs.evaluate import (
    EmbeddingCache,
    auroc,
    compare,
    description_quality,
    embed_samples,
    read_embeddings,
)
from prime_rs.vision.testing import TinyClip, make_tiny_clip

pytestmark = pytest.mark.vision  # a tiny CLIP model: needs torch


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of 64 images; 'red' + 'dark' images of cats are mostly mistaken for dogs.

    Written as samples.parquet with relative image paths, a split column, and predictions.
    """
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rows = []
    for label in ("cat", "dog"):
        for i in range(64):
            red, dark = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
            base = np.array([200 if red else 60, 80, 200 if label == "dog" else 90], float)
            if dark:
                base *= 0.4
            pixels = np.clip(base + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
            path = f"img/{label}_{i}.png"
            (root / "img").mkdir(exist_ok=True)
            Image.fromarray(pixels).save(root / path)
            tags = [t for t, on in (("red", red), ("dark", dark)) if on]
            if rng.random() < 0.5:
                tags.append("grass")
            hard = label == "cat" and red and dark
            wrong = rng.random() < (0.9 if hard else 0.1)
            other = "dog" if label == "cat" else "cat"
            rows.append(
                {
                    "id": f"{label}-{i}",
                    "label": label,
                    "prediction": other if wrong else label,
                    "tags": tags,
                    "path": path,
                    "split": "detect" if i % 2 == 0 else "test",
                }
            )
    path = root / "samples.parquet"
    pl.DataFrame(rows).write_parquet(path)
    return path


def _samples(dataset: Path, split: str) -> pl.DataFrame:
    df = prime_rs.load_samples(dataset).filter(pl.col("split") == split)
    # Absolute paths, so the library calls below need no image root.
    return df.with_columns(path=pl.lit(str(dataset.parent) + "/") + pl.col("path"))


def _modes(detect: pl.DataFrame) -> pl.DataFrame:
    modes = prime_rs.find_failure_modes(detect, max_tags=2, min_support=5, min_drop=0.2)
    assert modes.height > 0
    return modes


class Counter:
    """Counts calls of the model's image tower (and the images passed through it)."""

    def __init__(self, model: Any) -> None:
        self.calls = 0
        self.images = 0
        self.forward = 0
        self._model = model
        self._embed = model.embed_images
        self._encode = model.model.encode_image

    def __enter__(self) -> Counter:
        def embed(images: Any, **kw: Any) -> np.ndarray:
            self.calls += 1
            self.images += len(images)
            return self._embed(images, **kw)

        def encode(*args: Any, **kw: Any) -> Any:
            self.forward += 1
            return self._encode(*args, **kw)

        self._model.embed_images = embed
        self._model.model.encode_image = encode
        return self

    def __exit__(self, *exc: object) -> None:
        del self._model.embed_images
        del self._model.model.encode_image


def test_quality_matches_the_models_embeddings(clip: Any, dataset: Path, tmp_path: Path) -> None:
    detect = _samples(dataset, "detect")
    modes = _modes(detect)
    q = description_quality(modes, detect, model=clip, cache_dir=tmp_path, show_progress=False)
    assert q.height == modes.height
    assert q["tags"].to_list() == modes["tags"].to_list()
    index = prime_rs.TagIndex.from_samples(detect)
    row = q.row(0, named=True)
    # Recompute the first mode by hand from the model's own embeddings.
    tags = row["tags"]
    has = detect["tags"].list.eval(pl.element().is_in(tags)).list.sum() == len(tags)
    members = detect.filter((pl.col("label") == row["label"]) & has)
    assert row["n_images"] == members.height == index.stats(row["label"], tags)["support"]
    text = clip.embed_texts([f"a photo of a {row['label']}, {', '.join(tags)}"])[0]
    img = clip.embed_images(members["path"].to_list(), progress=False)
    sims = img.astype(np.float64) @ text.astype(np.float64)
    assert row["caption"] == f"a photo of a {row['label']}, {', '.join(tags)}"
    assert row["similarity_mean"] == pytest.approx(float(sims.mean()), abs=1e-5)
    assert row["similarity_std"] == pytest.approx(float(sims.std()), abs=1e-5)
    assert row["n_negatives"] == min(
        members.height, index.stats(row["label"], [])["support"] - members.height
    )
    assert 0.0 <= row["auroc"] <= 1.0
    assert row["negative_similarity_mean"] is not None
    # Several templates: their text embeddings are averaged.
    two = description_quality(
        modes.head(1),
        detect,
        model=clip,
        templates=["a photo of a {label}, {tags}", "{tags}"],
        cache_dir=tmp_path,
        show_progress=False,
    )
    both = clip.embed_texts([row["caption"], ", ".join(tags)]).astype(np.float64)
    mean = both.mean(axis=0)
    mean /= np.linalg.norm(mean)
    assert two["similarity_mean"][0] == pytest.approx(float((img @ mean).mean()), abs=1e-5)


def test_second_evaluation_runs_no_image_model(clip: Any, dataset: Path, tmp_path: Path) -> None:
    detect = _samples(dataset, "detect")
    modes = _modes(detect)
    with Counter(clip) as first:
        a = description_quality(modes, detect, model=clip, cache_dir=tmp_path, show_progress=False)
    assert first.calls == 1 and first.forward >= 1
    assert 0 < first.images <= detect.height  # only the images the metrics need
    with Counter(clip) as second:
        b = description_quality(modes, detect, model=clip, cache_dir=tmp_path, show_progress=False)
    assert second.calls == 0 and second.forward == 0
    assert a.equals(b)
    # A new process sees the same cache on disk: a fresh cache object, no model call.
    cache = EmbeddingCache(tmp_path, clip.model_id)
    assert len(cache) == first.images
    with Counter(clip) as third:
        all_rows = embed_samples(clip, detect, cache_dir=tmp_path, show_progress=False)
    # Only the images not cached yet are embedded.
    assert third.calls == 1 and third.images == detect.height - first.images
    assert all_rows.shape == (detect.height, 32)
    assert np.allclose(np.linalg.norm(all_rows, axis=1), 1.0, atol=1e-5)
    with Counter(clip) as fourth:
        again = embed_samples(clip, detect, cache_dir=tmp_path, show_progress=False)
    assert fourth.calls == 0 and np.array_equal(again, all_rows)


def test_cache_is_keyed_by_model(tiny: TinyClip, clip: Any, dataset: Path, tmp_path: Path) -> None:
    from prime_rs.vision.clip import ClipModel

    detect = _samples(dataset, "detect").head(5)
    first = embed_samples(clip, detect, cache_dir=tmp_path, show_progress=False)
    other_files = make_tiny_clip(tmp_path / "other", seed=1)
    other = ClipModel.load(
        other_files.model_name,
        other_files.checkpoint,
        device="cpu",
        model_config=other_files.config,
    )
    assert other.model_id != clip.model_id
    with Counter(other) as count:
        second = embed_samples(other, detect, cache_dir=tmp_path, show_progress=False)
    assert count.images == 5  # nothing reused across models
    assert not np.allclose(first, second)
    assert len(list(tmp_path.glob("*/part-*.parquet"))) == 2


def test_compare_prime_and_domino(clip: Any, dataset: Path, tmp_path: Path) -> None:
    detect = _samples(dataset, "detect")
    holdout = _samples(dataset, "test")
    modes = _modes(detect)
    tables = compare(
        modes,
        detect,
        model=clip,
        holdout=holdout,
        n_components=4,
        cache_dir=tmp_path,
        show_progress=False,
    )
    summary = tables["summary"]
    assert summary["method"].to_list() == ["PRIME", "DOMINO"]
    prime_t, domino_t = tables["prime"], tables["domino"]
    assert summary["n_groups"].to_list() == [prime_t.height, domino_t.height]
    # DOMINO gets as many slices per class as PRIME found modes (when the class allows).
    per_class = dict(modes.group_by("label").len().iter_rows())
    for label, n in domino_t.group_by("label").len().iter_rows():
        assert n <= per_class[label]
    vocabulary = set(detect["tags"].explode().drop_nulls().to_list())
    assert set(domino_t["description"].to_list()) <= vocabulary
    for col in ("similarity_mean", "auroc", "retrieval_drop"):
        assert col in prime_t.columns and col in domino_t.columns
    assert "holdout_drop" in prime_t.columns
    assert summary["mean_auroc"][0] == pytest.approx(prime_t["auroc"].drop_nulls().mean())
    # Each DOMINO row's AUROC is the AUROC of its own images against sampled negatives.
    r = domino_t.row(0, named=True)
    assert 0.0 <= r["auroc"] <= 1.0
    assert r["n_images"] == r["support"] == len(r["ids"])
    assert auroc([1, 0], [1.0, 0.0]) == 1.0


# -- the commands --------------------------------------------------------------------------


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def clip_args(tiny: TinyClip, tmp_path: Path) -> Callable[..., list[object]]:
    def args(*extra: object) -> list[object]:
        return [
            "--model",
            tiny.model_name,
            "--checkpoint",
            tiny.checkpoint,
            "--model-config",
            tiny.config,
            "--device",
            "cpu",
            "--cache-dir",
            tmp_path / "cache",
            "--quiet",
            *extra,
        ]

    return args


def test_quality_command_twice_uses_the_cache(
    dataset: Path, tmp_path: Path, clip_args: Callable[..., list[object]]
) -> None:
    modes_path = tmp_path / "modes.parquet"
    search = invoke(
        "search", dataset, "--split-column", "split", "--max-tags", 2, "--min-support", 5,
        "--min-drop", "20%", "-o", modes_path,
    )  # fmt: skip
    assert search.exit_code == 0, search.output
    out = tmp_path / "quality.csv"
    args = ["evaluate", "quality", modes_path, dataset, "--split-column", "split"]
    first = invoke(*args, *clip_args("--image-root", dataset.parent, "-o", out))
    assert first.exit_code == 0, first.output
    assert "AUROC       mean" in first.stdout and "model       tiny-clip+" in first.stdout
    parts = sorted((tmp_path / "cache").glob("*/part-*.parquet"))
    assert len(parts) == 1
    table = prime_rs.read_table(out)
    assert table.height == prime_rs.read_table(modes_path).height
    second = invoke(*args, *clip_args("--image-root", dataset.parent, "-o", out))
    assert second.exit_code == 0, second.output
    assert sorted((tmp_path / "cache").glob("*/part-*.parquet")) == parts  # nothing new
    assert prime_rs.read_table(out).equals(table)
    # Relative image paths without --image-root: a clear error, not a traceback.
    bad = invoke(*args, *clip_args("--cache-dir", tmp_path / "other"))
    assert bad.exit_code == 2
    assert "image file not found" in bad.stderr and "--image-root" in bad.stderr


def test_compare_command_writes_tables_and_figure(
    dataset: Path, tmp_path: Path, clip_args: Callable[..., list[object]]
) -> None:
    modes_path = tmp_path / "modes.parquet"
    detect = prime_rs.load_samples(dataset).filter(pl.col("split") == "detect")
    prime_rs.write_table(_modes(detect), modes_path)
    outdir = tmp_path / "cmp"
    result = invoke(
        "evaluate", "compare", modes_path, dataset, "--split-column", "split",
        "--holdout", "test", "--components", 4,
        *clip_args("--image-root", dataset.parent, "-o", outdir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "PRIME" in result.stdout and "DOMINO" in result.stdout
    assert "holdout drop" in result.stdout
    for name in ("summary.csv", "prime.parquet", "domino.parquet", "fig6.png", "fig6.svg"):
        assert (outdir / name).is_file(), name
    summary = pl.read_csv(outdir / "summary.csv")
    assert summary["method"].to_list() == ["PRIME", "DOMINO"]


def test_embed_and_embedding_space_commands(
    dataset: Path, tmp_path: Path, clip_args: Callable[..., list[object]]
) -> None:
    out = tmp_path / "emb.parquet"
    result = invoke(
        "evaluate", "embed", dataset, *clip_args("--image-root", dataset.parent, "-o", out)
    )
    assert result.exit_code == 0, result.output
    table = read_embeddings(out)
    assert table.height == 128 and table.schema["embedding"].size == 32  # type: ignore[union-attr]
    space = invoke(
        "evaluate", "embedding-space", dataset, "--embeddings", out, "--neighbors", "1,5"
    )
    assert space.exit_code == 0, space.output
    assert "distance by shared tags (Table 3)" in space.stdout
    assert "tags shared with the N nearest neighbours" in space.stdout
    # Straight from the model, through the cache filled by `embed`: the same tables.
    direct = invoke(
        "evaluate", "embedding-space", dataset, "--neighbors", "1,5",
        *clip_args("--image-root", dataset.parent),
    )  # fmt: skip
    assert direct.exit_code == 0, direct.output
    assert direct.stdout.split("\n", 1)[1] == space.stdout.split("\n", 1)[1]


def test_quality_and_compare_without_modes(
    clip: Any, dataset: Path, tmp_path: Path, clip_args: Callable[..., list[object]]
) -> None:
    detect = _samples(dataset, "detect")
    none = _modes(detect).head(0)
    q = description_quality(none, detect, model=clip, cache_dir=tmp_path, show_progress=False)
    assert q.height == 0 and q["auroc"].dtype == pl.Float64
    with pytest.raises(prime_rs.InputError, match="nothing to compare"):
        compare(none, detect, model=clip, cache_dir=tmp_path, show_progress=False)
    modes_path = tmp_path / "no_modes.csv"
    prime_rs.write_table(none, modes_path)
    args = ["evaluate", "quality", modes_path, dataset, "--split-column", "split"]
    result = invoke(*args, *clip_args("--image-root", dataset.parent))
    assert result.exit_code == 0, result.output
    assert "modes       0 (0 with images)" in result.stdout
    cmp = invoke(
        "evaluate", "compare", modes_path, dataset, "--split-column", "split",
        *clip_args("--image-root", dataset.parent),
    )  # fmt: skip
    assert cmp.exit_code == 2 and "nothing to compare" in cmp.stderr
    assert "Traceback" not in cmp.output
