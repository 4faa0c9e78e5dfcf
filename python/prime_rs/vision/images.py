"""Decoding images safely and turning them into model inputs.

:func:`load_image` opens any file Pillow can read and returns an RGB image, or raises
:class:`ImageError` with a short reason a person can act on (``empty file (0 bytes)``,
``truncated or corrupt: ...``, ``not an image ...``). Odd modes are converted, not rejected:
CMYK, palette, 1-bit, 16- and 32-bit grey, float, and images with an alpha channel (put on
white). EXIF orientation is applied.

:class:`Preprocess` resizes and crops a decoded image into a ``uint8`` tensor; scaling to
floats and normalising happen on the model's device (:func:`normalize`), so the DataLoader
workers move a quarter of the bytes and the GPU does the arithmetic.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prime_rs.errors import ParameterError

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = [
    "Batch",
    "ImageError",
    "Preprocess",
    "iter_batches",
    "load_image",
    "normalize",
    "prepare_image",
]

_RESIZE_MODES = ("shortest", "squash", "longest")
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageError(Exception):
    """An image that cannot be used; ``str(e)`` is the reason written to the errors table."""


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def load_image(path: str | Path, *, draft_size: int | None = None) -> Image.Image:
    """Open an image file and return it as an 8-bit RGB :class:`PIL.Image.Image`.

    Parameters
    ----------
    path
        The image file.
    draft_size
        When set, a JPEG at least four times larger than this on both sides is decoded at a
        reduced scale (Pillow's ``draft``; still at least twice this size), which makes huge
        photos cheap to read.

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``. Transparent pixels are put on white, 16-bit and float grey images are
        scaled to 8 bits, and the EXIF orientation is applied.

    Raises
    ------
    ImageError
        The file is missing, empty, unreadable, not an image, truncated, corrupt, or larger
        than Pillow's ``Image.MAX_IMAGE_PIXELS`` limit; the message says which.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> Image.new("LA", (4, 3)).save(p)
    >>> load_image(p).mode, load_image(p).size
    ('RGB', (4, 3))
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        if p.stat().st_size == 0:
            raise ImageError("empty file (0 bytes)")
        # Images between MAX_IMAGE_PIXELS and twice that are decoded (Pillow only warns);
        # larger ones raise DecompressionBombError, reported below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if draft_size and im.format == "JPEG" and min(im.size) >= 4 * draft_size:
                    im.draft("RGB", (2 * draft_size, 2 * draft_size))
                im.load()
                return _to_rgb(im)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except IsADirectoryError:
        raise ImageError("is a folder, not an image file") from None
    except PermissionError as e:
        raise ImageError(f"cannot be read ({e.strerror or 'permission denied'})") from None
    except UnidentifiedImageError:
        raise ImageError("not an image (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"too large: {_short(e)}") from None
    except OSError as e:
        raise ImageError(f"truncated or corrupt: {_short(e)}") from None
    except MemoryError:
        raise ImageError("too large to decode in memory") from None
    except Exception as e:  # Pillow's decoders raise SyntaxError, ValueError, struct.error...
        raise ImageError(f"cannot be decoded: {type(e).__name__}: {_short(e)}") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    from PIL import Image, ImageOps

    with contextlib.suppress(Exception):  # a broken EXIF block must not cost the image
        im = ImageOps.exif_transpose(im)
    mode = im.mode
    if mode == "RGB":
        return im.copy() if "transparency" not in im.info else _on_white(im)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        return _on_white(im)
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.size and arr.max() > 255):
            arr = arr / 257.0  # 16-bit range onto 8 bits
        elif mode == "F" and arr.size and np.nanmax(arr) <= 1.0:
            arr = arr * 255.0  # float images in [0, 1]
        arr = np.nan_to_num(arr, nan=0.0)
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return im.convert("RGB")


def _on_white(im: Image.Image) -> Image.Image:
    from PIL import Image

    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


@dataclass(frozen=True)
class Preprocess:
    """Resize and crop settings that turn a decoded image into a ``uint8`` tensor.

    Parameters
    ----------
    size
        Side of the square the model sees.
    resize
        ``resize_mode="shortest"``: the shorter side is resized to this, then the centre
        ``size`` x ``size`` is cropped (``None``: ``size``, no margin).
    resize_mode
        ``shortest`` (resize, then centre crop), ``squash`` (resize to ``size`` x ``size``,
        ignoring the aspect ratio, as RAM does) or ``longest`` (fit the longer side, pad).
    interpolation
        ``bilinear``, ``bicubic``, ``nearest``, ``lanczos``, ``box`` or ``hamming``.
    mean, std
        Per-channel normalisation of pixel values scaled to [0, 1], applied on the device.

    Examples
    --------
    >>> from PIL import Image
    >>> p = Preprocess(size=4, resize=6)
    >>> tuple(p(Image.new("RGB", (12, 6))).shape)
    (3, 4, 4)
    """

    size: int
    resize: int | None = None
    resize_mode: str = "shortest"
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise ParameterError(f"image size must be a positive integer, got {self.size!r}")
        if self.resize is not None and (not isinstance(self.resize, int) or self.resize < 1):
            raise ParameterError(f"resize must be a positive integer, got {self.resize!r}")
        if self.resize_mode not in _RESIZE_MODES:
            raise ParameterError(
                f"resize mode must be one of {', '.join(_RESIZE_MODES)}, got {self.resize_mode!r}"
            )
        if self.interpolation not in _INTERPOLATIONS:
            raise ParameterError(
                f"interpolation must be one of {', '.join(_INTERPOLATIONS)}, "
                f"got {self.interpolation!r}"
            )
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != 3 or not all(math.isfinite(float(v)) for v in values):
                raise ParameterError(f"{name} needs 3 finite numbers (R, G, B), got {values!r}")
            object.__setattr__(self, name, tuple(float(v) for v in values))
        if any(v <= 0 for v in self.std):
            raise ParameterError(f"std values must be positive, got {self.std!r}")

    def settings(self) -> dict[str, Any]:
        """The settings as plain JSON values (recorded in a run's state file)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def override(
        self,
        *,
        size: int | None = None,
        resize: int | None = None,
        resize_mode: str | None = None,
        interpolation: str | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> Preprocess:
        """This preprocessing with the settings given changed (``None`` keeps one).

        A new ``size`` without a ``resize`` resizes straight to that size (the old
        ``resize`` was chosen for the old size).

        Examples
        --------
        >>> p = Preprocess(size=224, resize=256)
        >>> p.override(size=32).resize, p.override(resize=300).size, p.override() == p
        (None, 224, True)
        """
        given: dict[str, Any] = {
            "size": size,
            "resize": resize,
            "resize_mode": resize_mode,
            "interpolation": interpolation,
            "mean": None if mean is None else tuple(float(x) for x in mean),
            "std": None if std is None else tuple(float(x) for x in std),
        }
        changes = {k: v for k, v in given.items() if v is not None}
        if "size" in changes and "resize" not in changes:
            changes["resize"] = None
        return replace(self, **changes) if changes else self

    def __call__(self, im: Image.Image) -> torch.Tensor:
        """Resize and crop an RGB image; return a ``(3, size, size)`` ``uint8`` tensor."""
        import torch

        return torch.from_numpy(self.array(im))

    def array(self, im: Image.Image) -> np.ndarray:
        """As calling it, but a ``(3, size, size)`` ``uint8`` numpy array (no torch needed).

        Examples
        --------
        >>> from PIL import Image
        >>> Preprocess(size=4).array(Image.new("RGB", (8, 6))).shape
        (3, 4, 4)
        """
        from PIL import Image

        resample = getattr(Image.Resampling, self.interpolation.upper())
        w, h = im.size
        s = self.size
        if self.resize_mode == "squash":
            im = im.resize((s, s), resample)
        elif self.resize_mode == "longest":
            scale = s / max(w, h)
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            canvas = Image.new("RGB", (s, s), (0, 0, 0))
            canvas.paste(im.resize((nw, nh), resample), ((s - nw) // 2, (s - nh) // 2))
            im = canvas
        else:
            short = self.resize or s
            # torchvision's rule: the shorter side becomes `short`, the longer is truncated.
            if w <= h:
                nw, nh = short, int(short * h / w)
            else:
                nw, nh = int(short * w / h), short
            if (nw, nh) != (w, h):
                im = im.resize((nw, nh), resample)
            if nw != s or nh != s:
                top = round((nh - s) / 2.0)
                left = round((nw - s) / 2.0)
                im = im.crop((left, top, left + s, top + s))
        arr = np.asarray(im, dtype=np.uint8)
        return np.ascontiguousarray(arr.transpose(2, 0, 1))


def normalize(
    pixels: torch.Tensor,
    preprocess: Preprocess,
    device: torch.device,
    *,
    channels_last: bool = False,
) -> torch.Tensor:
    """Move a ``uint8`` batch ``(n, 3, h, w)`` to ``device`` and normalise it there.

    Returns float32 ``(x / 255 - mean) / std``, in ``channels_last`` memory order when asked.

    Examples
    --------
    >>> import torch
    >>> p = Preprocess(size=1, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    >>> normalize(torch.full((1, 3, 1, 1), 255, dtype=torch.uint8), p, torch.device("cpu"))
    tensor([[[[1.]],
    <BLANKLINE>
             [[1.]],
    <BLANKLINE>
             [[1.]]]])
    """
    import torch

    x = pixels.to(device, non_blocking=True)
    mean = torch.tensor(preprocess.mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std, device=device, dtype=torch.float32).view(1, 3, 1, 1)
    x = (x.float() / 255.0 - mean) / std
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def prepare_image(path: str, preprocess: Preprocess) -> tuple[np.ndarray | None, str | None]:
    """Decode and preprocess one image: ``(uint8 array (3, size, size), None)``, or
    ``(None, reason)``.

    The reason is what the errors table records; nothing an image does stops a run. Needs
    no torch (Ray's decoding tasks do not import it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> empty = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> _ = empty.write_bytes(b"")
    >>> prepare_image(str(empty), Preprocess(size=4))
    (None, 'empty file (0 bytes)')
    """
    try:
        im = load_image(path, draft_size=preprocess.resize or preprocess.size)
        return preprocess.array(im), None
    except ImageError as e:
        return None, str(e)
    except Exception as e:  # never let one image stop the run
        return None, f"cannot be prepared: {type(e).__name__}: {_short(e)}"


@dataclass
class Batch:
    """One batch from :func:`iter_batches`.

    ``indices`` are the positions (in the path list) of the images in ``pixels``, in order;
    ``failures`` lists ``(position, reason)`` for the images of the batch that could not be
    used.
    """

    indices: list[int]
    pixels: torch.Tensor
    failures: list[tuple[int, str]]


class _Images:
    """Map-style dataset: ``(position, path)`` -> (position, uint8 tensor or None, error or
    None).

    The paths come with the batches, not with the dataset: each worker's start pickles the
    dataset into a pipe that holds 64 KiB, and on a larger one the parent waits until the
    worker has imported what it needs and read it all, so a list of paths in the dataset
    made the workers start one after the other (with 15 workers, about a minute).
    """

    def __init__(self, preprocess: Preprocess) -> None:
        self.preprocess = preprocess

    def __getitem__(self, item: tuple[int, str]) -> tuple[int, Any, str | None]:
        import torch

        i, path = item
        pixels, error = prepare_image(path, self.preprocess)
        return i, None if pixels is None else torch.from_numpy(pixels), error


class _Collate:
    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, items: list[tuple[int, Any, str | None]]) -> tuple[Any, Any, Any]:
        import torch

        good = [(i, x) for i, x, err in items if err is None]
        failures = [(i, err) for i, _, err in items if err is not None]
        if good:
            pixels = torch.stack([x for _, x in good])
        else:
            pixels = torch.empty((0, 3, self.size, self.size), dtype=torch.uint8)
        return torch.tensor([i for i, _ in good], dtype=torch.int64), pixels, failures


def _context() -> Any:
    # fork is the cheapest start, but from 3.12 Python warns when a process with threads
    # (torch has some) forks; forkserver avoids both the warning and the deadlock risk.
    if sys.platform == "linux" and sys.version_info < (3, 12):
        return multiprocessing.get_context("fork")
    if sys.platform == "win32":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Each worker runs torch's worker loop, so without this each one imports torch (seconds
    # with CUDA) before it can start; preloaded, the fork server imports it once per process.
    # No effect once the server runs; "__main__" is the default, kept.
    context.set_forkserver_preload(["__main__", "torch"])
    return context


def iter_batches(
    paths: Sequence[str],
    preprocess: Preprocess,
    batches: Iterable[list[int]],
    *,
    workers: int = 0,
    pin_memory: bool = False,
    prefetch: int = 4,
) -> Iterator[Batch]:
    """Decode and preprocess images in DataLoader workers, batch by batch, in order.

    Parameters
    ----------
    paths
        Image files.
    preprocess
        How each image becomes a ``uint8`` tensor.
    batches
        Lists of positions in ``paths``; each becomes one :class:`Batch`, in this order.
    workers
        DataLoader worker processes (0: decode in this process).
    pin_memory
        Pin the batches in page-locked memory (for fast, asynchronous copies to a GPU).
    prefetch
        Batches each worker prepares ahead.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (8, 8)).save(d / "a.png")
    >>> _ = (d / "b.png").write_bytes(b"")
    >>> [(b.indices, b.failures) for b in iter_batches(
    ...     [str(d / "a.png"), str(d / "b.png")], Preprocess(size=4), [[0, 1]])]
    [([0], [(1, 'empty file (0 bytes)')])]
    """
    from torch.utils.data import DataLoader

    dataset = _Images(preprocess)
    options: dict[str, Any] = {}
    if workers > 0:
        options = {
            "num_workers": workers,
            "prefetch_factor": prefetch,
            "multiprocessing_context": _context(),
        }
    loader: DataLoader[Any] = DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_sampler=[[(i, paths[i]) for i in batch] for batch in batches],
        collate_fn=_Collate(preprocess.size),
        pin_memory=pin_memory,
        **options,
    )
    for indices, pixels, failures in loader:
        yield Batch(indices=[int(i) for i in indices], pixels=pixels, failures=list(failures))
