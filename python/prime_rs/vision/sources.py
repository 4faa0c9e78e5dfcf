"""Where images come from: a folder with one sub-folder per class, or a manifest table.

Either way the result is an :class:`ImageSource`: one row per image with a stable ``id``,
the image ``path``, its ``label`` (when known) and its ``split`` (when the manifest has one).

- **Folder** (torchvision's ImageFolder layout): ``root/<class>/.../<image>``. The label is
  the class folder's name, the id is the path relative to ``root`` (``cat/001.jpg``). A
  folder holding images but no class sub-folders gives unlabelled images (fine for
  ``prime tag``). Hidden files and folders are ignored; other files without an image
  extension are skipped and counted.
- **Manifest** (Parquet, CSV or JSON lines): a ``path`` column, and optional ``id``,
  ``label`` and ``split``. Relative paths are read from ``root`` (default: the manifest's
  folder). The id is the manifest's ``id``, else the path as written.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from prime_rs.errors import InputError
from prime_rs.io import read_table

__all__ = ["IMAGE_EXTENSIONS", "ImageSource", "from_folder", "from_manifest", "open_images"]

logger = logging.getLogger("prime_rs")

#: File extensions (lower case) treated as images when a folder is scanned.
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jfif",
        ".jpe",
        ".png",
        ".bmp",
        ".dib",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".ico",
    }
)

_MANIFEST_SUFFIXES = {".parquet", ".pq", ".csv", ".jsonl", ".ndjson", ".json"}
_SHOW = 5


@dataclass
class ImageSource:
    """Images to process, one row each: ``id``, ``path`` and, when known, ``label``, ``split``.

    Attributes
    ----------
    table : polars.DataFrame
        ``id`` (str or int, unique), ``path`` (str, absolute), ``label`` (str or int, may
        be null), ``split`` (str, only when the manifest has it).
    origin : str
        What was read, for messages: ``folder photos/`` or ``manifest list.csv``.
    classes : list[str] | None
        Class folder names in sorted order (torchvision's ImageFolder class indices), for a
        folder source with class sub-folders.
    skipped : list[str]
        Files that were not read because their extension is not an image extension.
    """

    table: pl.DataFrame
    origin: str
    classes: list[str] | None = None
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.table.height

    @property
    def paths(self) -> list[str]:
        """Image paths, in order."""
        return self.table["path"].to_list()

    @property
    def ids(self) -> list[object]:
        """Image ids, in order."""
        return self.table["id"].to_list()

    @property
    def has_labels(self) -> bool:
        """Whether every image has a label."""
        return "label" in self.table.columns and self.table["label"].null_count() == 0

    def fingerprint(self) -> str:
        """A hash of the ids and paths, in order: a resumed run checks it is the same set.

        Examples
        --------
        >>> import polars as pl
        >>> s = ImageSource(pl.DataFrame({"id": ["a"], "path": ["/x/a.png"]}), "test")
        >>> len(s.fingerprint())
        64
        """
        h = hashlib.sha256()
        for i, p in zip(self.table["id"].to_list(), self.table["path"].to_list(), strict=True):
            h.update(f"{i!r}\t{p}\n".encode())
        return h.hexdigest()

    def require_labels(self, what: str) -> None:
        """Raise :class:`InputError` unless every image has a label."""
        if "label" not in self.table.columns:
            raise InputError(
                f"{self.origin}: {what} needs a label for every image: use a folder with one "
                "sub-folder per class, or a manifest with a 'label' column"
            )
        nulls = self.table["label"].is_null()
        if nulls.any():
            first = self.table.filter(nulls)["id"].head(_SHOW).to_list()
            raise InputError(
                f"{self.origin}: {what} needs a label for every image, but {int(nulls.sum())} "
                f"have none (ids {', '.join(map(repr, first))})"
            )


def open_images(images: str | Path, *, root: str | Path | None = None) -> ImageSource:
    """An image folder or a manifest file, whichever ``images`` is.

    Parameters
    ----------
    images
        A folder (one sub-folder per class) or a manifest (``.parquet``, ``.csv``,
        ``.jsonl``, ``.json``).
    root
        For a manifest: the folder its relative paths start from (default: the manifest's
        own folder).

    Raises
    ------
    InputError
        Nothing there, a folder without images, or a manifest that cannot be used.

    Examples
    --------
    >>> import tempfile
    >>> from prime_rs.vision.testing import make_image_folder
    >>> source = open_images(make_image_folder(tempfile.mkdtemp(), {"cat": 2, "dog": 1}))
    >>> source.table.select("id", "label").rows()
    [('cat/cat_0.png', 'cat'), ('cat/cat_1.png', 'cat'), ('dog/dog_0.png', 'dog')]
    """
    p = Path(images)
    if p.is_dir():
        if root is not None:
            raise InputError("--root applies to a manifest file, not to an image folder")
        return from_folder(p)
    if not p.exists():
        raise InputError(f"{p}: no such folder or manifest file")
    if p.suffix.lower() in _MANIFEST_SUFFIXES:
        return from_manifest(p, root=root)
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        raise InputError(
            f"{p}: is one image; give the folder that holds the images (one sub-folder per "
            "class) or a manifest table"
        )
    raise InputError(
        f"{p}: not a folder or a manifest table (.parquet, .csv, .jsonl or .json with a "
        "'path' column)"
    )


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other files) under ``folder``, sorted, hidden entries left out."""
    images: list[Path] = []
    others: list[Path] = []

    def fail(e: OSError) -> None:
        raise InputError(
            f"{e.filename}: cannot list this folder ({e.strerror}); its images would be missed"
        )

    for dirpath, dirnames, filenames in os.walk(folder, onerror=fail, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            (images if path.suffix.lower() in IMAGE_EXTENSIONS else others).append(path)
    return images, others


def from_folder(root: str | Path) -> ImageSource:
    """Images under ``root``: labelled by class sub-folder, or unlabelled when flat.

    Examples
    --------
    >>> import tempfile
    >>> from prime_rs.vision.testing import make_image_folder
    >>> from_folder(make_image_folder(tempfile.mkdtemp(), {"a": 1, "b": 1})).classes
    ['a', 'b']
    """
    r = Path(root)
    base = os.path.abspath(r)
    images, others = _walk(r)
    top_level = [p for p in images if p.parent == r]
    nested = [p for p in images if p.parent != r]
    if not images:
        found = (
            f"; it has {len(others)} other file{'s' if len(others) != 1 else ''}, e.g. "
            f"{', '.join(p.relative_to(r).as_posix() for p in others[:3])}"
            if others
            else ""
        )
        exts = ", ".join(sorted(e for e in IMAGE_EXTENSIONS if e in {".jpg", ".png", ".webp"}))
        raise InputError(
            f"{r}: no images found in this folder or its sub-folders (looked for {exts} and "
            f"other image extensions){found}"
        )
    skipped = [p.relative_to(r).as_posix() for p in others]
    if nested:
        if top_level:
            logger.warning(
                "%s: %d image(s) directly in the folder are not in a class sub-folder and are "
                "skipped (e.g. %s)",
                r,
                len(top_level),
                top_level[0].name,
            )
            skipped += [p.relative_to(r).as_posix() for p in top_level]
        rel = [p.relative_to(r) for p in nested]
        ids = [q.as_posix() for q in rel]
        labels: list[str | None] = [q.parts[0] for q in rel]
        classes = sorted({q.parts[0] for q in rel})
    else:
        ids = [p.relative_to(r).as_posix() for p in top_level]
        labels = [None] * len(ids)
        classes = None
    table = pl.DataFrame(
        {
            "id": ids,
            "path": [os.path.join(base, *i.split("/")) for i in ids],
            "label": pl.Series(labels, dtype=pl.String),
        }
    )
    return ImageSource(table=table, origin=f"folder {r}", classes=classes, skipped=skipped)


def from_manifest(path: str | Path, *, root: str | Path | None = None) -> ImageSource:
    """Images listed in a manifest table with a ``path`` column (``id``, ``label``,
    ``split`` optional).

    Raises
    ------
    InputError
        No ``path`` column, empty or null paths, duplicate ids, or none of the paths exist
        (some missing is not an error: those images are reported in the errors table).

    Examples
    --------
    >>> import tempfile, pathlib, polars as pl
    >>> from prime_rs.vision.testing import make_image_folder
    >>> d = make_image_folder(tempfile.mkdtemp(), {"cat": 1})
    >>> pl.DataFrame({"path": ["cat/cat_0.png"], "label": ["cat"]}).write_csv(d / "m.csv")
    >>> from_manifest(d / "m.csv").table.select("id", "label").rows()
    [('cat/cat_0.png', 'cat')]
    """
    p = Path(path)
    name = str(p)
    df = read_table(p)
    if "path" not in df.columns:
        cols = ", ".join(repr(c) for c in df.columns[:10]) or "no columns"
        raise InputError(
            f"{name}: a manifest needs a 'path' column (and optionally 'id', 'label', "
            f"'split'); it has {cols}"
        )
    if df.height == 0:
        raise InputError(f"{name}: the manifest lists no images")
    if df["path"].dtype != pl.String:
        df = df.with_columns(pl.col("path").cast(pl.String))
    blank = df["path"].is_null() | (df["path"].str.strip_chars() == "")
    if blank.any():
        rows = blank.arg_true().head(_SHOW).to_list()
        raise InputError(
            f"{name}: column 'path' is empty in rows {', '.join(map(str, rows))} (counting from 0)"
        )
    if "id" in df.columns:
        ids = df["id"]
        if not (ids.dtype.is_integer() or ids.dtype == pl.String):
            ids = ids.cast(pl.String)
        if ids.is_null().any():
            rows = ids.is_null().arg_true().head(_SHOW).to_list()
            raise InputError(
                f"{name}: column 'id' is empty in rows {', '.join(map(str, rows))} (counting "
                "from 0)"
            )
    else:
        ids = df["path"]
    dup = ids.is_duplicated()
    if dup.any():
        first = ids.filter(dup)[0]
        rows = (ids == first).arg_true().head(_SHOW).to_list()
        what = "id" if "id" in df.columns else "path (the id when there is no 'id' column)"
        raise InputError(
            f"{name}: each image must appear once, but {what} {first!r} is in rows "
            f"{', '.join(map(str, rows))} (counting from 0)"
        )
    base = Path(root) if root is not None else p.parent
    if root is not None and not base.is_dir():
        raise InputError(f"--root {base}: no such folder")
    paths = [
        os.path.abspath(q if os.path.isabs(q) else os.path.join(base, q))
        for q in df["path"].to_list()
    ]
    exists = [os.path.exists(q) for q in paths]
    if not any(exists):
        raise InputError(
            f"{name}: none of its {len(paths)} image paths exist (the first is {paths[0]}); "
            f"relative paths are read from {os.path.abspath(base)}"
            + ("" if root is not None else "; give the right folder with --root")
        )
    columns: dict[str, pl.Series] = {
        "id": ids.alias("id"),
        "path": pl.Series("path", paths, dtype=pl.String),
    }
    if "label" in df.columns:
        label = df["label"]
        if not (label.dtype.is_integer() or label.dtype == pl.String or label.dtype == pl.Null):
            raise InputError(
                f"{name}: column 'label' must hold strings or integers, not {label.dtype}"
            )
        columns["label"] = label.cast(pl.String) if label.dtype == pl.Null else label
    else:
        columns["label"] = pl.Series("label", [None] * df.height, dtype=pl.String)
    if "split" in df.columns:
        columns["split"] = df["split"].cast(pl.String)
    return ImageSource(table=pl.DataFrame(columns), origin=f"manifest {name}")


def describe_skipped(skipped: Sequence[str]) -> str:
    """A short note on skipped files for a summary ('' when none)."""
    if not skipped:
        return ""
    shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
    return f"skipped {len(skipped)} file(s) that are not images by their extension: {shown}"
