"""Choosing the device and the precision a model runs in.

``--device auto`` takes the first CUDA GPU when there is one, else the CPU. On a GPU, models
run under autocast in bfloat16 (float16 where the GPU has no bfloat16), with inputs in
``channels_last`` order; on the CPU they run in float32.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prime_rs.errors import ParameterError

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "autocast", "default_workers", "resolve_device", "resolve_precision"]

#: Values of ``--precision``.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(device: str = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` into a usable device.

    Raises
    ------
    ParameterError
        The name is not one of those, or it names a GPU this machine does not have.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    text = str(device).strip().lower()
    if not _DEVICE.match(text):
        raise ParameterError(f"--device must be auto, cpu, cuda or cuda:N (or mps), got {device!r}")
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError(
                f"--device {device}: no CUDA GPU is available here (torch "
                f"{torch.__version__}, built with CUDA {torch.version.cuda or 'none'}); "
                "use --device cpu or auto"
            )
        index = int(text.split(":")[1]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise ParameterError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA "
                f"GPU(s), numbered from 0"
            )
        return torch.device("cuda", index)
    if text == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            raise ParameterError("--device mps: Apple's MPS backend is not available here")
    return torch.device(text)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; ``None`` means plain float32.

    ``auto`` is bfloat16 on a GPU that supports it, float16 on other GPUs, float32 on a CPU.

    Examples
    --------
    >>> import torch
    >>> resolve_precision("auto", torch.device("cpu")) is None
    True
    """
    import torch

    if precision not in PRECISIONS:
        raise ParameterError(
            f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and precision == "fp16":
        raise ParameterError("--precision fp16 needs a GPU; use fp32 or bf16 on the CPU")
    return torch.bfloat16 if precision == "bf16" else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """``torch.inference_mode`` plus autocast to ``dtype`` (nothing more when ``None``)."""
    import torch

    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type=device.type, dtype=dtype):
                yield


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(device: torch.device, n_images: int) -> int:
    """DataLoader workers for ``n_images`` on ``device``.

    A GPU is fed by up to 16 workers (one core is left to the main process); on a CPU the
    model needs the cores itself, so a quarter of them decode (at least one). Tiny runs
    decode in the main process (starting workers would cost more than it saves).

    Examples
    --------
    >>> import torch
    >>> default_workers(torch.device("cpu"), 10)
    0
    """
    if n_images <= 32:
        return 0
    cores = _cores()
    if device.type == "cuda":
        return max(1, min(16, cores - 1))
    return max(1, cores // 4)
