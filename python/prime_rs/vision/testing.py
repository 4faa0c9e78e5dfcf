"""Test utilities: tiny random-weight models and generated images, built in seconds.

Not for real use: these models have random weights. They let tests (ours, and those of
code built on :mod:`prime_rs.vision`) run the real loading and inference paths on a CPU
without downloading anything.

- :func:`make_tiny_clip` writes a tiny open_clip architecture (JSON config) and its random
  weights to a folder; :func:`load_tiny_clip` loads them through :meth:`ClipModel.load`.
- :func:`tiny_cnn` is a ``package.module:factory`` for ``prime predict --model``
  (``prime_rs.vision.testing:tiny_cnn``); :func:`save_tiny_cnn` saves one as a state dict,
  TorchScript or ``torch.export`` file.
- :func:`make_image_folder` writes a small class-per-folder image set;
  :func:`write_odd_images` writes every kind of awkward file (empty, truncated, corrupt, not
  an image, too large, CMYK, palette, 16-bit, alpha, tiny, huge) with the expected outcome.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prime_rs.vision.clip import ClipModel

if TYPE_CHECKING:
    import torch

__all__ = [
    "TINY_CLIP_CONFIG",
    "TinyClip",
    "load_tiny_clip",
    "make_image_folder",
    "make_tiny_clip",
    "save_tiny_cnn",
    "tiny_cnn",
    "write_odd_images",
]

#: A tiny open_clip architecture: 32-pixel images, one transformer layer per tower, 32-wide
#: embeddings. The text tower keeps open_clip's default tokenizer (49,408 tokens, context 77).
TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@dataclass(frozen=True)
class TinyClip:
    """Files of a tiny CLIP model: pass them to :meth:`ClipModel.load` or ``prime tag``."""

    model_name: str
    checkpoint: Path
    config: Path


def make_tiny_clip(directory: str | Path, *, seed: int = 0, name: str = "tiny-clip") -> TinyClip:
    """Write a tiny random-weight open_clip model (config + state dict) into ``directory``.

    The same ``seed`` gives the same weights (and the same checkpoint hash).

    Examples
    --------
    >>> import tempfile
    >>> tiny = make_tiny_clip(tempfile.mkdtemp())
    >>> tiny.model_name, tiny.checkpoint.suffix, tiny.config.suffix
    ('tiny-clip', '.pt', '.json')
    """
    import open_clip  # type: ignore[import-untyped,unused-ignore]
    import torch

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    config = d / f"{name}.json"
    config.write_text(json.dumps(TINY_CLIP_CONFIG, indent=2), encoding="utf-8")
    checkpoint = d / f"{name}.pt"
    with _seeded(seed):
        model = open_clip.CLIP(**TINY_CLIP_CONFIG)
    torch.save(model.state_dict(), checkpoint)
    return TinyClip(model_name=name, checkpoint=checkpoint, config=config)


def load_tiny_clip(
    directory: str | Path, *, seed: int = 0, device: str = "cpu", name: str = "tiny-clip"
) -> ClipModel:
    """:func:`make_tiny_clip` into ``directory``, then :meth:`ClipModel.load` it.

    Examples
    --------
    >>> import tempfile
    >>> load_tiny_clip(tempfile.mkdtemp()).model_id.startswith("tiny-clip+")
    True
    """
    tiny = make_tiny_clip(directory, seed=seed, name=name)
    return ClipModel.load(tiny.model_name, tiny.checkpoint, device=device, model_config=tiny.config)


class _seeded:
    """Seed torch's generator inside a block and restore its state afterwards."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self) -> None:
        import torch

        self.state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.random.set_rng_state(self.state)


def tiny_cnn(num_classes: int = 3, *, seed: int = 0) -> torch.nn.Module:
    """A tiny convolutional classifier with random weights (any input size, 3 channels).

    Usable as ``prime predict --model prime_rs.vision.testing:tiny_cnn``.

    Examples
    --------
    >>> import torch
    >>> tiny_cnn(4)(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 4])
    """
    from torch import nn

    with _seeded(seed):
        model = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, num_classes),
        )
    return model.eval()


def save_tiny_cnn(
    path: str | Path, *, num_classes: int = 3, kind: str = "state_dict", seed: int = 0
) -> Path:
    """Save :func:`tiny_cnn` as a ``state_dict``, ``torchscript`` or ``export`` file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = save_tiny_cnn(pathlib.Path(tempfile.mkdtemp()) / "cnn.pt", kind="torchscript")
    >>> p.stat().st_size > 0
    True
    """
    import torch

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    model = tiny_cnn(num_classes, seed=seed)
    if kind == "state_dict":
        torch.save(model.state_dict(), p)
    elif kind == "torchscript":
        with warnings.catch_warnings():  # TorchScript is deprecated in recent torch
            warnings.filterwarnings(
                "ignore", message=r".*torch\.jit\.\w+.* is deprecated", category=FutureWarning
            )
            torch.jit.save(torch.jit.script(model), str(p))
    elif kind == "export":
        example = (torch.zeros(2, 3, 32, 32),)
        batch = torch.export.Dim("batch", min=1, max=4096)
        exported = torch.export.export(model, example, dynamic_shapes=({0: batch},))
        torch.export.save(exported, str(p))
    else:
        raise ValueError(f"kind must be state_dict, torchscript or export, got {kind!r}")
    return p


def make_image_folder(
    root: str | Path,
    classes: dict[str, int] | None = None,
    *,
    size: tuple[int, int] = (40, 32),
    seed: int = 0,
    extension: str = ".png",
) -> Path:
    """Write a class-per-folder image set (``root/<class>/<class>_<i>.png``) of random images.

    Each class has its own colour, so images of one class look alike.

    Examples
    --------
    >>> import tempfile
    >>> root = make_image_folder(tempfile.mkdtemp(), {"cat": 2, "dog": 1})
    >>> sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    ['cat/cat_0.png', 'cat/cat_1.png', 'dog/dog_0.png']
    """
    from PIL import Image

    r = Path(root)
    rng = np.random.default_rng(seed)
    for k, (name, count) in enumerate((classes or {"a": 4, "b": 4}).items()):
        folder = r / name
        folder.mkdir(parents=True, exist_ok=True)
        base = np.array([(80 * k) % 256, (150 + 40 * k) % 256, (30 * k + 60) % 256])
        for i in range(count):
            noise = rng.integers(-40, 40, size=(size[1], size[0], 3))
            arr = np.clip(base + noise, 0, 255).astype(np.uint8)
            Image.fromarray(arr, mode="RGB").save(folder / f"{name}_{i}{extension}")
    return r


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width`` x ``height`` grey pixels, with almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_odd_images(folder: str | Path, *, huge: bool = True) -> dict[str, str | None]:
    """Write every kind of awkward image file into ``folder``.

    Returns a map from file name to the start of the error the loader must report, or
    ``None`` for files that must load (odd modes, tiny and huge sizes). The permission case
    is not written here (root can read anything): see the tests.

    Examples
    --------
    >>> import tempfile
    >>> cases = write_odd_images(tempfile.mkdtemp(), huge=False)
    >>> cases["empty.jpg"], cases["cmyk.jpg"]
    ('empty file', None)
    """
    from PIL import Image

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    photo = Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), mode="RGB")
    cases: dict[str, str | None] = {}

    (d / "empty.jpg").write_bytes(b"")
    cases["empty.jpg"] = "empty file"
    buf = d / "full.jpg"
    photo.save(buf, quality=90)
    data = buf.read_bytes()
    buf.unlink()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 2])
    cases["truncated.jpg"] = "truncated or corrupt"
    png = d / "corrupt.png"
    photo.save(png)
    raw = bytearray(png.read_bytes())
    raw[60:200] = bytes(140)  # zeros over the compressed pixel data
    png.write_bytes(bytes(raw))
    cases["corrupt.png"] = "truncated or corrupt"
    (d / "text.jpg").write_text("this is not an image\n")
    cases["text.jpg"] = "not an image"
    (d / "bomb.png").write_bytes(_png_header_only(20000, 20000))
    cases["bomb.png"] = "too large"

    Image.new("CMYK", (40, 30), (0, 255, 0, 0)).save(d / "cmyk.jpg")
    palette = Image.new("P", (40, 30))
    palette.putpalette([255, 0, 0] * 256)
    palette.save(d / "palette.png", transparency=0)
    Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16)).save(d / "grey16.png")
    Image.new("RGBA", (40, 30), (0, 0, 255, 0)).save(d / "alpha.png")
    Image.new("LA", (40, 30), (10, 128)).save(d / "grey_alpha.png")
    Image.new("1", (40, 30), 1).save(d / "bilevel.png")
    Image.fromarray(np.full((30, 40), 0.25, dtype=np.float32), mode="F").save(d / "float.tif")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(d / "tiny.png")
    Image.new("RGB", (3000, 20), (10, 200, 10)).save(d / "wide.png")
    for name in ("cmyk.jpg", "palette.png", "grey16.png", "alpha.png", "grey_alpha.png"):
        cases[name] = None
    for name in ("bilevel.png", "float.tif", "tiny.png", "wide.png"):
        cases[name] = None
    if huge:
        # More pixels than Pillow's MAX_IMAGE_PIXELS (it warns), fewer than twice (it refuses).
        Image.new("L", (9500, 9500), 90).save(d / "huge.jpg", quality=50)
        cases["huge.jpg"] = None
    return cases
