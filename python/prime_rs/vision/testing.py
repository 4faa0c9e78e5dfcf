"""Test utilities: tiny random-weight models and generated images, built in seconds.

Not for real use: these models have random weights. They let tests (ours, and those of
code built on :mod:`prime_rs.vision`) run the real loading and inference paths on a CPU
without downloading anything.

- :func:`make_tiny_clip` writes a tiny open_clip architecture (JSON config) and its random
  weights to a folder; :func:`load_tiny_clip` loads them through :meth:`ClipModel.load`.
- :func:`tiny_cnn` is a ``package.module:factory`` for ``prime predict --model``
  (``prime_rs.vision.testing:tiny_cnn``); :func:`save_tiny_cnn` saves one as a state dict,
  TorchScript or ``torch.export`` file.
- :func:`make_image_folder` writes a small class-per-folder image set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from prime_rs.vision.clip import ClipModel

__all__ = [
    "TINY_CLIP_CONFIG",
    "TinyClip",
    "load_tiny_clip",
    "make_image_folder",
    "make_tiny_clip",
    "save_tiny_cnn",
    "tiny_cnn",
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
    import open_clip
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
    from prime_rs.vision.clip import ClipModel

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
