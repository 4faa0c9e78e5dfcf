"""An open_clip model loaded from local files, for zero-shot tags and CLIP metrics.

:class:`ClipModel` is built once (architecture, weights, tokenizer, device) and then embeds
images and texts into one L2-normalised space::

    model = ClipModel.load("ViT-B-32", "weights/open_clip_vit_b_32.bin", device="auto")
    images = model.embed_images(["a.jpg", "b.jpg"])          # (2, 512) float32
    texts = model.embed_texts(["a photo of a dog"])          # (1, 512) float32
    similarity = images @ texts.T

Nothing is downloaded: the architecture comes from open_clip's built-in configs (by name) or
from a JSON config file, and the weights from a local checkpoint file.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prime_rs.errors import InputError, ParameterError
from prime_rs.vision._deps import require, require_vision
from prime_rs.vision.device import autocast, default_workers, resolve_device, resolve_precision
from prime_rs.vision.digest import file_digest
from prime_rs.vision.images import Preprocess, iter_batches, normalize
from prime_rs.vision.progress import Progress

if TYPE_CHECKING:
    import torch

    from prime_rs.vision.sources import ImageSource

__all__ = ["ClipModel", "file_digest"]

_OPEN_CLIP_HINT = "pip install 'prime_rs[vision]' (or: pip install open_clip_torch)"


def _read_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, preprocess overrides) from a bare open_clip model config or an
    ``open_clip_config.json`` (``{"model_cfg": ..., "preprocess_cfg": ...}``)."""
    if not path.is_file():
        raise InputError(f"{path}: model config file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable JSON model config ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a model config must be a JSON object")
    if "model_cfg" in data:
        model_cfg, preprocess = data["model_cfg"], data.get("preprocess_cfg", {}) or {}
    else:
        model_cfg, preprocess = data, {}
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in model_cfg]
    if missing:
        raise InputError(
            f"{path}: not an open_clip model config: missing {', '.join(missing)} "
            "(it needs embed_dim, vision_cfg and text_cfg, like open_clip's model_configs/*.json)"
        )
    return model_cfg, preprocess


def _register(model_name: str, model_cfg: dict[str, Any]) -> str:
    """Register a custom architecture with open_clip under a private name and return it."""
    import open_clip  # type: ignore[import-untyped,unused-ignore]

    digest = hashlib.sha256(json.dumps(model_cfg, sort_keys=True).encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    key = f"prime_rs-{safe}-{digest}"
    if key not in open_clip.list_models():
        # open_clip reads configs from files: write one, register it, then remove it (the
        # registry keeps what it read).
        with tempfile.TemporaryDirectory(prefix="prime_rs_clip_") as tmp:
            cfg_file = Path(tmp) / f"{key}.json"
            cfg_file.write_text(json.dumps(model_cfg), encoding="utf-8")
            open_clip.add_model_config(cfg_file)
    return key


class ClipModel:
    """An open_clip model on a device, ready to embed images and texts.

    Build it with :meth:`load`. Embeddings are float32 numpy arrays, one L2-normalised row
    per input, so a dot product is a cosine similarity.

    Attributes
    ----------
    model_name : str
        The architecture name given to :meth:`load`.
    model_id : str
        Stable identifier for cache keys: the model name, plus a hash of the custom config
        when there is one, and the first 16 hex digits of the checkpoint's SHA-256.
    device : torch.device
        Where the model runs.
    preprocess : Preprocess
        How images are resized and normalised for this model.
    logit_scale : float
        The model's learned temperature (CLIP uses ``logit_scale * cosine`` as logits).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_name: str,
        model_id: str,
        device: torch.device,
        preprocess: Preprocess,
        precision: torch.dtype | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.model_id = model_id
        self.device = device
        self.preprocess = preprocess
        self.precision = precision
        scale = getattr(model, "logit_scale", None)
        self.logit_scale = float(scale.exp().item()) if scale is not None else 100.0

    def __repr__(self) -> str:
        return f"ClipModel({self.model_id!r}, device={str(self.device)!r})"

    @classmethod
    def load(
        cls,
        model_name: str,
        checkpoint: str | Path,
        *,
        device: str = "auto",
        model_config: str | Path | None = None,
        precision: str = "auto",
    ) -> ClipModel:
        """Load an open_clip architecture with weights from a local checkpoint file.

        Parameters
        ----------
        model_name
            An open_clip architecture name (``ViT-B-32``, ``ViT-L-14``, ``RN50``, ...); with
            ``model_config``, any name for the custom architecture.
        checkpoint
            Local weights: a state dict saved with ``torch.save`` (optionally under
            ``"state_dict"``) or a ``.safetensors`` file. Nothing is downloaded.
        device
            ``auto`` (a CUDA GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``.
        model_config
            A JSON file with an open_clip model config (``embed_dim``, ``vision_cfg``,
            ``text_cfg``) or an ``open_clip_config.json`` (``model_cfg``,
            ``preprocess_cfg``), for architectures open_clip does not ship.
        precision
            ``auto`` (bfloat16/float16 autocast on a GPU, float32 on a CPU), ``fp32``,
            ``bf16`` or ``fp16``.

        Raises
        ------
        InputError
            The checkpoint or config file is missing or unreadable, the name is not an
            open_clip architecture, or the weights do not fit the architecture.
        MissingDependency
            torch or open_clip is not installed.

        Examples
        --------
        >>> import tempfile
        >>> from prime_rs.vision.testing import make_tiny_clip
        >>> tiny = make_tiny_clip(tempfile.mkdtemp())
        >>> model = ClipModel.load(tiny.model_name, tiny.checkpoint, device="cpu",
        ...                        model_config=tiny.config)
        >>> model.embed_texts(["a cat", "a dog"]).shape
        (2, 32)
        """
        require_vision("CLIP")
        require("open_clip", feature="CLIP", hint=_OPEN_CLIP_HINT)
        import open_clip  # type: ignore[import-untyped,unused-ignore]

        ckpt = Path(checkpoint)
        if not ckpt.is_file():
            what = "is a folder, not a weights file" if ckpt.is_dir() else "file not found"
            raise InputError(f"{ckpt}: checkpoint {what}")
        torch_device = resolve_device(device)
        dtype = resolve_precision(precision, torch_device)
        overrides: dict[str, Any] = {}
        if model_config is not None:
            model_cfg, overrides = _read_config(Path(model_config))
            arch = _register(model_name, model_cfg)
            config_tag = "+" + arch.rsplit("-", 1)[1]
        else:
            arch = model_name
            config_tag = ""
            if arch.replace("/", "-") not in open_clip.list_models():
                import difflib

                close = difflib.get_close_matches(arch, open_clip.list_models(), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise InputError(
                    f"{model_name!r} is not an open_clip architecture{hint} (for a custom "
                    "one, give its JSON config with --model-config)"
                )
        try:
            model = open_clip.create_model(
                arch,
                pretrained=str(ckpt),
                device="cpu",
                force_preprocess_cfg=overrides or None,
                weights_only=True,
            )
        except Exception as e:  # open_clip and torch raise many kinds
            if _unreadable(e):
                raise InputError(
                    f"{ckpt}: not a readable checkpoint ({type(e).__name__}: {_first_line(e)})"
                ) from None
            raise InputError(
                f"{ckpt}: cannot load these weights into {model_name}: "
                f"{type(e).__name__}: {_first_line(e)}"
            ) from None
        model.eval().to(torch_device)
        tokenizer = open_clip.get_tokenizer(arch)
        cfg = open_clip.get_model_preprocess_cfg(model)
        size = cfg.get("size", 224)
        size = int(size[0] if isinstance(size, (tuple, list)) else size)
        mode = {"shortest": "shortest", "longest": "longest", "squash": "squash"}.get(
            str(cfg.get("resize_mode", "shortest")), "shortest"
        )
        preprocess = Preprocess(
            size=size,
            resize=size,
            resize_mode=mode,
            interpolation=str(cfg.get("interpolation", "bicubic")),
            mean=tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
            std=tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
        )
        model_id = f"{model_name}{config_tag}@{file_digest(ckpt)[:16]}"
        return cls(
            model,
            tokenizer,
            model_name=model_name,
            model_id=model_id,
            device=torch_device,
            preprocess=preprocess,
            precision=dtype,
        )

    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Image embeddings (L2-normalised, float32, on the device) of a ``uint8`` batch."""
        import torch

        x = normalize(pixels, self.preprocess, self.device)
        with autocast(self.device, self.precision):
            features = self.model.encode_image(x)
        features = features.float()
        return torch.nn.functional.normalize(features, dim=-1)

    def embed_images(
        self,
        images: Sequence[str | Path] | ImageSource,
        *,
        batch_size: int = 64,
        progress: bool = True,
        workers: int | None = None,
    ) -> np.ndarray:
        """Embed image files: one L2-normalised float32 row per image, in order.

        Parameters
        ----------
        images
            Image paths, or an :class:`~prime_rs.vision.sources.ImageSource`.
        batch_size
            Images per forward pass.
        progress
            Draw a progress bar on stderr.
        workers
            DataLoader worker processes decoding images (default: chosen from the cores).

        Raises
        ------
        InputError
            Some images cannot be read; the message lists them (a similarity cannot be
            computed for a picture that is not there).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> from prime_rs.vision.testing import load_tiny_clip
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> model = load_tiny_clip(d)
        >>> Image.new("RGB", (40, 30), "red").save(d / "red.png")
        >>> model.embed_images([d / "red.png"], progress=False).shape
        (1, 32)
        """

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
        paths = (
            [str(p) for p in images.paths] if hasattr(images, "paths") else list(map(str, images))
        )
        n = len(paths)
        out: np.ndarray | None = None
        failures: list[tuple[int, str]] = []
        batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
        bar = Progress(n, label="embed images", enabled=progress)
        n_workers = default_workers(self.device, n) if workers is None else workers
        for batch in iter_batches(
            paths,
            self.preprocess,
            batches,
            workers=n_workers,
            pin_memory=self.device.type == "cuda",
        ):
            failures.extend(batch.failures)
            if batch.indices:
                features = self.encode_pixels(batch.pixels).cpu().numpy()
                if out is None:
                    out = np.full((n, features.shape[1]), np.nan, dtype=np.float32)
                out[batch.indices] = features
            bar.update(len(batch.indices) + len(batch.failures), failed=len(batch.failures))
        bar.close()
        if failures:
            shown = "; ".join(f"{paths[i]}: {err}" for i, err in failures[:5])
            more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
            raise InputError(f"{len(failures)} of {n} images cannot be read: {shown}{more}")
        if out is None:
            return np.zeros((0, self._embed_dim()), dtype=np.float32)
        return out

    def _embed_dim(self) -> int:

        with autocast(self.device, self.precision):
            tokens = self.tokenizer(["a photo"]).to(self.device)
            return int(self.model.encode_text(tokens).shape[1])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: one L2-normalised float32 row per text, in order.

        Texts longer than the model's context are cut (open_clip's tokenizer does this).

        Examples
        --------
        >>> import tempfile
        >>> from prime_rs.vision.testing import load_tiny_clip
        >>> model = load_tiny_clip(tempfile.mkdtemp())
        >>> e = model.embed_texts(["a red car", "a blue sky"])
        >>> e.dtype, e.shape, bool(abs((e ** 2).sum(axis=1) - 1).max() < 1e-5)
        (dtype('float32'), (2, 32), True)
        """
        import torch

        if isinstance(texts, str):
            raise ParameterError("texts must be a sequence of strings, not one string")
        items = list(texts)
        bad = [t for t in items if not isinstance(t, str)]
        if bad:
            raise ParameterError(f"texts must be strings, got {type(bad[0]).__name__}")
        chunks = []
        for start in range(0, len(items), 256):
            tokens = self.tokenizer(items[start : start + 256]).to(self.device)
            with autocast(self.device, self.precision):
                features = self.model.encode_text(tokens)
            chunks.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu())
        if not chunks:
            return np.zeros((0, self._embed_dim()), dtype=np.float32)
        return torch.cat(chunks).numpy().astype(np.float32, copy=False)


def _unreadable(e: BaseException) -> bool:
    """Whether loading failed on the file itself rather than on fitting the architecture."""
    import pickle
    import zipfile

    if isinstance(e, (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, UnicodeDecodeError)):
        return True
    text = str(e)
    return any(
        s in text
        for s in ("invalid load key", "PytorchStreamReader", "central directory", "Weights only")
    )


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).strip().splitlines()[:1]) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."
