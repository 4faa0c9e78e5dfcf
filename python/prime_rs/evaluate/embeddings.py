"""Image embeddings: tables of them, aligning them with samples, and an on-disk cache.

An *embeddings table* has one row per sample: ``id`` and ``embedding`` (a list or array of
floats, all of one length). The cache keeps the embeddings a model computed, keyed by the
sample's ``id``, its image ``path`` and the model's ``model_id``, so a second evaluation of
the same images with the same model runs no image model at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from prime_rs.errors import InputError
from prime_rs.io import read_table

__all__ = [
    "EmbeddingCache",
    "EmbeddingsLike",
    "ImageTextModel",
    "align_embeddings",
    "default_cache_dir",
    "embed_samples",
    "embeddings_table",
    "image_paths",
    "read_embeddings",
]

#: What the evaluation functions accept as embeddings.
EmbeddingsLike = np.ndarray | pl.DataFrame | str | Path


class ImageTextModel(Protocol):
    """What the evaluation needs of a CLIP model (``prime_rs.vision.clip.ClipModel`` is one).

    ``embed_images`` and ``embed_texts`` return L2-normalized float32 rows.
    """

    model_id: str

    def embed_images(
        self, images: Any, *, batch_size: int = 64, progress: bool = True
    ) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def default_cache_dir() -> Path:
    """``$PRIME_CACHE_DIR``, else ``$XDG_CACHE_HOME/prime_rs/embeddings``, else ``~/.cache/...``.

    Examples
    --------
    >>> default_cache_dir().name
    'embeddings'
    """
    if os.environ.get("PRIME_CACHE_DIR"):
        return Path(os.environ["PRIME_CACHE_DIR"]) / "embeddings"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prime_rs" / "embeddings"


def embeddings_table(ids: Sequence[Any] | pl.Series, matrix: np.ndarray) -> pl.DataFrame:
    """An embeddings table (``id``, ``embedding``) from ids and a matrix with one row each.

    Examples
    --------
    >>> import numpy as np
    >>> t = embeddings_table(["a", "b"], np.eye(2, dtype=np.float32))
    >>> t.columns, t.schema["embedding"]
    (['id', 'embedding'], Array(Float32, shape=(2,)))
    """
    m = np.ascontiguousarray(matrix, dtype=np.float32)
    if m.ndim != 2 or len(m) != len(ids):
        raise InputError(
            f"embeddings: need one row per id ({len(ids)}), got an array of shape {m.shape}"
        )
    col = pl.Series("embedding", m, dtype=pl.Array(pl.Float32, m.shape[1]))
    return pl.DataFrame({"id": pl.Series("id", ids), "embedding": col})


def read_embeddings(path: str | Path) -> pl.DataFrame:
    """Read and check an embeddings table (Parquet or JSON lines): ``id`` and ``embedding``.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.parquet"
    >>> embeddings_table([1, 2], np.ones((2, 3))).write_parquet(p)
    >>> read_embeddings(p).height
    2
    """
    df = read_table(path)
    return _check_table(df, str(path))


def _check_table(df: pl.DataFrame, name: str) -> pl.DataFrame:
    missing = [c for c in ("id", "embedding") if c not in df.columns]
    if missing:
        raise InputError(
            f"{name}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}; an embeddings table needs 'id' and 'embedding' "
            "(a list of floats per row)"
        )
    dtype = df.schema["embedding"]
    if isinstance(dtype, pl.Array):
        return df
    if not isinstance(dtype, pl.List) or not dtype.inner.is_numeric():
        raise InputError(f"{name}: column 'embedding' must hold lists of numbers, not {dtype}")
    lengths = df["embedding"].list.len()
    longest = int(lengths.max() or 0) if df.height else 0  # type: ignore[arg-type]
    if df.height and (lengths.min() != longest or df["embedding"].null_count()):
        first = int((lengths != longest).fill_null(True).arg_true()[0])
        raise InputError(
            f"{name}: every embedding must have the same length; row {first} (counting "
            f"from 0) has {lengths[first]!r}, others {longest}"
        )
    d = longest
    return df.with_columns(pl.col("embedding").cast(pl.List(pl.Float32)).list.to_array(d))


def _matrix(df: pl.DataFrame) -> np.ndarray:
    if df.height == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.ascontiguousarray(df["embedding"].to_numpy(), dtype=np.float32)


def align_embeddings(samples: pl.DataFrame, embeddings: EmbeddingsLike) -> np.ndarray:
    """One embedding per row of ``samples``, in its order, as a float32 matrix.

    Parameters
    ----------
    samples
        A samples table (its ``id`` column is matched).
    embeddings
        An array with one row per sample (already aligned), or an embeddings table (or its
        path) holding at least every id of ``samples``; ids compare as text, so a table that
        stored integer ids as strings still matches.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> s = pl.DataFrame({"id": [2, 1]})
    >>> t = embeddings_table([1, 2], np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> align_embeddings(s, t).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    if isinstance(embeddings, np.ndarray):
        if embeddings.ndim != 2 or len(embeddings) != samples.height:
            raise InputError(
                f"embeddings: an array needs one row per sample ({samples.height}), got shape "
                f"{embeddings.shape}"
            )
        if not np.isfinite(embeddings).all():
            raise InputError("embeddings: the array holds NaN or infinite values")
        return np.ascontiguousarray(embeddings, dtype=np.float32)
    if isinstance(embeddings, (str, Path)):
        table = read_embeddings(embeddings)
        name = str(embeddings)
    elif isinstance(embeddings, pl.DataFrame):
        table = _check_table(embeddings, "embeddings")
        name = "embeddings"
    else:
        raise InputError(
            "embeddings must be an array, an embeddings table or its path, not "
            f"{type(embeddings).__name__}"
        )
    keys = table["id"].cast(pl.String)
    if keys.is_duplicated().any():
        first = keys.filter(keys.is_duplicated()).head(1).item()
        raise InputError(f"{name}: id {first!r} appears more than once")
    position = pl.DataFrame({"id": keys, "_row": pl.int_range(table.height, eager=True)})
    wanted = pl.DataFrame({"id": samples["id"].cast(pl.String)})
    joined = wanted.join(position, on="id", how="left", maintain_order="left")
    missing = joined["_row"].is_null()
    if missing.any():
        n = int(missing.sum())
        first = joined["id"].filter(missing).head(3).to_list()
        raise InputError(
            f"{name}: no embedding for {n} of the {samples.height} samples (ids "
            f"{', '.join(map(repr, first))}{', ...' if n > 3 else ''})"
        )
    m = _matrix(table)[joined["_row"].to_numpy()]
    if not np.isfinite(m).all():
        raise InputError(f"{name}: embeddings hold NaN or infinite values")
    return np.asarray(m, dtype=np.float32)


def image_paths(
    samples: pl.DataFrame, rows: np.ndarray | None = None, *, image_root: str | Path | None = None
) -> list[str]:
    """Image files of ``rows`` of a samples table: its ``path`` column, else its ``id``.

    Relative paths are taken from ``image_root`` (default: the current folder); the paths
    returned are absolute. Raises :class:`InputError` naming the first missing file.

    Examples
    --------
    >>> import polars as pl, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a.png").write_bytes(b"")
    0
    >>> found = image_paths(pl.DataFrame({"id": [0], "path": ["a.png"]}), image_root=d)
    >>> found == [str(d / "a.png")]
    True
    """
    col = "path" if "path" in samples.columns else "id"
    if col == "id" and samples["id"].dtype != pl.String:
        raise InputError(
            "the samples table has no 'path' column (image files), and its ids are not paths; "
            "add a 'path' column"
        )
    values = samples[col] if rows is None else samples[col].gather(rows)
    if values.null_count():
        i = int(values.is_null().arg_true()[0])
        raise InputError(f"samples: column {col!r} is empty (null) for an image (row {i})")
    root = Path(image_root) if image_root is not None else None
    out = []
    for v in values.cast(pl.String).to_list():
        p = Path(v)
        if root is not None and not p.is_absolute():
            p = root / p
        out.append(os.path.abspath(p))
    missing = [p for p in out if not Path(p).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        hint = " (relative paths are read from --image-root)" if root is None else ""
        raise InputError(f"image file not found: {missing[0]}{more}{hint}")
    return out


def _slug(model_id: str) -> str:
    short = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:60].strip("_") or "model"
    digest = hashlib.sha256(model_id.encode()).hexdigest()[:12]
    return f"{short}-{digest}"


class EmbeddingCache:
    """Image embeddings of one model on disk, keyed by sample id and image path.

    Each :meth:`get` computes only what is missing and appends it as a new Parquet part, so
    the cache grows without rewriting what it holds.

    Examples
    --------
    >>> import tempfile
    >>> cache = EmbeddingCache(tempfile.mkdtemp(), "ViT-B-32/openai")
    >>> len(cache)
    0
    """

    def __init__(self, directory: str | Path, model_id: str) -> None:
        self.model_id = model_id
        self.directory = Path(directory) / _slug(model_id)
        self._keys: dict[tuple[str, str], int] = {}
        self._parts: list[np.ndarray] = []
        self._rows = 0
        self._load()

    def __len__(self) -> int:
        return self._rows

    def _load(self) -> None:
        if not self.directory.is_dir():
            return
        for part in sorted(self.directory.glob("part-*.parquet")):
            try:
                df = pl.read_parquet(part)
            except Exception:  # a part cut short by a crash: recompute what it held
                continue
            m = _matrix(df)
            if self._parts and m.shape[1] != self._parts[0].shape[1]:
                continue
            for i, key in enumerate(zip(df["id"].to_list(), df["path"].to_list(), strict=True)):
                self._keys[key] = self._rows + i
            self._parts.append(m)
            self._rows += len(m)
        if self._parts:
            self._all = np.concatenate(self._parts)

    def lookup(self, ids: Sequence[str], paths: Sequence[str]) -> list[int | None]:
        """Position of each (id, path) in the cache, or ``None``."""
        return [self._keys.get((i, p)) for i, p in zip(ids, paths, strict=True)]

    def get(
        self,
        model: ImageTextModel,
        ids: Sequence[Any],
        paths: Sequence[str],
        *,
        batch_size: int = 64,
        show_progress: bool = True,
    ) -> np.ndarray:
        """Embeddings of these images, computing (and storing) only those not cached yet."""
        keys = [str(i) for i in ids]
        where = self.lookup(keys, list(paths))
        todo = sorted({(k, p) for k, p, w in zip(keys, paths, where, strict=True) if w is None})
        if todo:
            fresh = model.embed_images(
                [p for _, p in todo], batch_size=batch_size, progress=show_progress
            )
            fresh = np.ascontiguousarray(fresh, dtype=np.float32)
            if fresh.shape[0] != len(todo):
                raise InputError(
                    f"the image model returned {fresh.shape[0]} embeddings for {len(todo)} images"
                )
            self._store(todo, fresh)
            where = self.lookup(keys, list(paths))
        rows = np.asarray(where, dtype=np.int64)
        return self._all[rows] if len(rows) else np.zeros((0, 0), dtype=np.float32)

    def _store(self, keys: list[tuple[str, str]], m: np.ndarray) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "model_id.txt").write_text(self.model_id + "\n")
        df = pl.DataFrame(
            {
                "id": [k for k, _ in keys],
                "path": [p for _, p in keys],
                "embedding": pl.Series(m, dtype=pl.Array(pl.Float32, m.shape[1])),
            }
        )
        name = f"part-{time.time_ns():020d}-{os.getpid()}.parquet"
        tmp = self.directory / f".{name}.tmp"
        df.write_parquet(tmp)
        tmp.rename(self.directory / name)  # a part is either whole or absent
        for i, key in enumerate(keys):
            self._keys[key] = self._rows + i
        self._parts.append(m)
        self._rows += len(m)
        self._all = np.concatenate(self._parts)


def embed_samples(
    model: ImageTextModel,
    samples: pl.DataFrame,
    rows: np.ndarray | None = None,
    *,
    cache_dir: str | Path | None = None,
    image_root: str | Path | None = None,
    batch_size: int = 64,
    show_progress: bool = True,
) -> np.ndarray:
    """Image embeddings of ``rows`` of a samples table (all rows by default), through the cache.

    Parameters
    ----------
    model
        A CLIP model (:class:`ImageTextModel`).
    samples
        The samples table, with a ``path`` column (or ids that are paths).
    rows
        Row numbers to embed.
    cache_dir
        The cache's folder (default :func:`default_cache_dir`).
    image_root
        Folder that relative image paths start from.
    batch_size, show_progress
        Passed to the model.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from prime_rs.vision.testing import load_tiny_clip
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (32, 32), "red").save(d / "fox.png")
    >>> samples = pl.DataFrame({"id": [0], "path": [str(d / "fox.png")]})
    >>> model = load_tiny_clip(d)
    >>> embed_samples(model, samples, cache_dir=d / "cache", show_progress=False).shape
    (1, 32)
    """
    cache = EmbeddingCache(cache_dir or default_cache_dir(), model.model_id)
    paths = image_paths(samples, rows, image_root=image_root)
    ids = samples["id"] if rows is None else samples["id"].gather(rows)
    return cache.get(
        model, ids.to_list(), paths, batch_size=batch_size, show_progress=show_progress
    )
