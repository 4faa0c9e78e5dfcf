"""Sample images for the report: which images each mode shows, and small thumbnails of them.

Thumbnails come from a thumbnails table (``id``, ``image``: PNG or JPEG bytes), as the bundled
demo data ships them, or are made from the image files in the samples' ``path`` column (this
needs Pillow). Every thumbnail is embedded once, as a data URI.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from prime_rs.errors import InputError

__all__ = ["data_uri", "load_thumbnails", "make_thumbnails", "report_thumbnails", "select_images"]

logger = logging.getLogger("prime_rs.report")

#: Longest side of a thumbnail made from an image file, in pixels.
THUMBNAIL_SIZE = 96


def select_images(
    modes: pl.DataFrame,
    samples: pl.DataFrame,
    *,
    per_mode: int = 8,
    available: Iterable[Any] | None = None,
) -> list[list[Any]]:
    """The ids of the samples each mode shows: its errors first, then correct samples.

    A mode's samples are those of its class carrying every one of its tags. Errors come first
    (at most ``per_mode - 2`` of them when the mode also has correct samples, so the reader sees
    what the model gets right too), each group in the table's order. Only ids in ``available``
    (the samples with a thumbnail) are chosen when it is given.

    Parameters
    ----------
    modes
        A mode table (``label``, ``tags``).
    samples
        The samples the modes were found on (``id``, ``label``, ``tags``, and ``correct`` or
        ``prediction``).
    per_mode
        Most images per mode.
    available
        Ids that have an image; ``None``: all.

    Returns
    -------
    list of list
        One list of ids per mode, in the order of ``modes``.

    Examples
    --------
    >>> samples = pl.DataFrame({"id": [1, 2, 3, 4], "label": ["a"] * 4,
    ...                         "correct": [True, False, True, False],
    ...                         "tags": [["x"], ["x"], ["y"], ["x", "y"]]})
    >>> modes = pl.DataFrame({"label": ["a"], "tags": [["x"]]})
    >>> select_images(modes, samples, per_mode=3)
    [[2, 4, 1]]
    """
    if per_mode <= 0 or modes.height == 0 or samples.height == 0:
        return [[] for _ in range(modes.height)]
    df = samples
    if available is not None:
        keep = set(available)
        df = df.filter(pl.col("id").is_in(list(keep)))
    correct = _correct_column(df)
    ids = df["id"].to_list()
    labels = df["label"].to_list()
    tags = df["tags"].to_list()
    # (label, tag) -> positions, built once: each mode is then a few set intersections.
    postings: dict[tuple[Any, str], set[int]] = {}
    by_label: dict[Any, set[int]] = {}
    for i, (label, row_tags) in enumerate(zip(labels, tags, strict=True)):
        by_label.setdefault(label, set()).add(i)
        for t in row_tags or ():
            postings.setdefault((label, t), set()).add(i)
    out: list[list[Any]] = []
    for label, mode_tags in modes.select("label", "tags").iter_rows():
        members = set(by_label.get(label, ()))
        for t in mode_tags or ():
            members &= postings.get((label, t), set())
            if not members:
                break
        rows = sorted(members)
        wrong = [i for i in rows if not correct[i]]
        right = [i for i in rows if correct[i]]
        n_wrong = min(len(wrong), per_mode - min(2, len(right)))
        chosen = wrong[:n_wrong] + right[: per_mode - n_wrong]
        out.append([ids[i] for i in chosen])
    return out


def _correct_column(df: pl.DataFrame) -> list[bool]:
    if "correct" in df.columns:
        return [bool(c) for c in df["correct"].to_list()]
    if "prediction" in df.columns:
        return (df["label"] == df["prediction"]).to_list()
    raise InputError("samples: need a 'correct' or a 'prediction' column")


def load_thumbnails(path: str | Path) -> dict[Any, bytes]:
    """Read a thumbnails table (``id``, ``image``: encoded PNG or JPEG bytes) into a dict.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.parquet"
    >>> pl.DataFrame({"id": [7], "image": [b"\\x89PNG"]}).write_parquet(p)
    >>> load_thumbnails(p)
    {7: b'\\x89PNG'}
    """
    df = pl.read_parquet(path)
    missing = [c for c in ("id", "image") if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: a thumbnails table needs columns 'id' and 'image' (encoded PNG or JPEG "
            f"bytes); it lacks {', '.join(repr(c) for c in missing)}"
        )
    return dict(zip(df["id"].to_list(), df["image"].to_list(), strict=True))


def make_thumbnails(
    paths: Mapping[Any, str], *, root: str | Path | None = None, size: int = THUMBNAIL_SIZE
) -> dict[Any, bytes]:
    """Small PNG (grey or with few colours) or JPEG thumbnails of image files, by id.

    Images that cannot be read are skipped with one warning. Needs Pillow.

    Examples
    --------
    >>> make_thumbnails({})
    {}
    """
    if not paths:
        return {}
    try:
        from PIL import Image
    except ImportError:
        logger.warning("no images in the report: reading image files needs Pillow")
        return {}
    base = Path(root) if root is not None else Path.cwd()
    out: dict[Any, bytes] = {}
    failed = 0
    for key, p in paths.items():
        file = Path(p) if Path(p).is_absolute() else base / p
        try:
            with Image.open(file) as im:
                im.load()
                img = im.convert("L") if im.mode in ("L", "I", "I;16", "F", "1") else im
                if img.mode not in ("L", "RGB"):
                    img = img.convert("RGB")
                img.thumbnail((size, size))
                buf = io.BytesIO()
                if img.mode == "L" or img.width * img.height <= 64 * 64:
                    img.save(buf, format="PNG", optimize=True)
                else:
                    img.save(buf, format="JPEG", quality=80)
                out[key] = buf.getvalue()
        except (OSError, ValueError):
            failed += 1
    if failed:
        logger.warning("%d of %d images could not be read; they are left out", failed, len(paths))
    return out


def report_thumbnails(
    modes: pl.DataFrame,
    samples: pl.DataFrame,
    *,
    per_mode: int = 8,
    thumbnails: str | Path | None = None,
    image_root: str | Path | None = None,
) -> dict[Any, bytes]:
    """The thumbnails a report of ``modes`` shows, by sample id.

    From the thumbnails table ``thumbnails`` when given; else made from the image files of
    the samples' ``path`` column, only for the images :func:`select_images` picks; else
    none. ``per_mode=0`` asks for no images.

    Parameters
    ----------
    modes
        The mode table of the report.
    samples
        The samples the modes were found on.
    per_mode
        Most images per mode.
    thumbnails
        A thumbnails table (``id``, ``image``), see :func:`load_thumbnails`.
    image_root
        Where relative paths of the ``path`` column start (default: the current folder).

    Examples
    --------
    >>> modes = pl.DataFrame({"label": ["a"], "tags": [["x"]]})
    >>> samples = pl.DataFrame({"id": [1], "label": ["a"], "correct": [False],
    ...                         "tags": [["x"]]})
    >>> report_thumbnails(modes, samples)  # no path column, no table: no images
    {}
    """
    if per_mode < 0:
        raise InputError(f"per_mode: must be at least 0, got {per_mode}")
    if not per_mode:
        return {}
    if thumbnails is not None:
        return load_thumbnails(thumbnails)
    if "path" not in samples.columns:
        return {}
    wanted = {i for ids in select_images(modes, samples, per_mode=per_mode) for i in ids}
    paths = dict(zip(samples["id"].to_list(), samples["path"].to_list(), strict=True))
    return make_thumbnails({i: paths[i] for i in wanted}, root=image_root)


def data_uri(image: bytes) -> str:
    """A ``data:`` URI of encoded image bytes (PNG, JPEG, GIF or WebP, told by the header).

    Examples
    --------
    >>> data_uri(b"\\x89PNG\\r\\n")
    'data:image/png;base64,iVBORw0K'
    """
    if image[:4] == b"\x89PNG":
        kind = "png"
    elif image[:3] == b"\xff\xd8\xff":
        kind = "jpeg"
    elif image[:4] == b"GIF8":
        kind = "gif"
    elif image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        kind = "webp"
    else:
        raise InputError("thumbnail: not a PNG, JPEG, GIF or WebP image")
    return f"data:image/{kind};base64,{base64.b64encode(image).decode('ascii')}"
