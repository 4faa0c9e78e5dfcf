"""Prediction on Ray against the local pipeline, on the same images, in one run.

Three runs of ``prime predict`` over the same JPEG files (synthetic photographs at ImageNet's
typical size, as ``vision_throughput.py`` makes them), each writing its resumable table:

* **local**: ``prime_rs.vision.runner.predict_images`` (DataLoader workers decode, the model
  runs in this process);
* **ray, N actors**: ``prime_rs.vision.cluster.predict_images_on_ray`` on a local Ray cluster
  of this machine (Ray tasks decode, N model actors of ``ACTOR_CPUS`` CPUs each, or one GPU
  each with ``--device cuda``), for each N of ``--actors``.

Images/s is the images over the seconds the run took (model loading on the driver excluded;
on Ray the actors' start and model loading are included: every job starts its actor pool).
Each Ray table is checked equal to the local one. The ratio ray / local is the price (or the
gain) of going through Ray on this machine; on a 2-core machine expect a price: the actors,
the decoding tasks and the driver share the same two cores.

Usage::

    python benches/ray_vision.py                               # CPU: 1 and 2 actors
    python benches/ray_vision.py --images 1024 --model resnet50
    python benches/ray_vision.py --device cuda --actors 1      # one GPU actor

Results are printed as a Markdown table and written to ``benches/out/ray_vision.md`` and
``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCHES = Path(__file__).resolve().parent
OUT = BENCHES / "out"
sys.path.insert(0, str(BENCHES))

from vision_throughput import make_images  # noqa: E402


def load(model: str, tmp: Path) -> dict[str, Any]:
    """The ``load_classifier`` arguments of a model, from local files."""
    if model == "efficientnet_lite0":
        return {"model": "efficientnet_lite0"}
    if model == "resnet50":
        import torch
        import torchvision

        weights = tmp / "resnet50.pth"
        torch.save(torchvision.models.resnet50().state_dict(), weights)
        return {"model": "resnet50", "weights": str(weights)}
    raise SystemExit(f"unknown model {model!r}; choose efficientnet_lite0 or resnet50")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=384)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--actors", default="1,2", help="comma-separated actor counts")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--shard-size", type=int, default=128)
    args = ap.parse_args(argv)
    actor_counts = [int(x) for x in args.actors.split(",")]

    import ray

    from prime_rs.vision.classifier import load_classifier
    from prime_rs.vision.cluster import ACTOR_CPUS, predict_images_on_ray
    from prime_rs.vision.runner import predict_images
    from prime_rs.vision.sources import open_images

    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        images = make_images(tmp / "img", args.images)
        print(f"{args.images} images written in {time.perf_counter() - t0:.1f} s", flush=True)
        source = open_images(images / "photos")
        spec = load(args.model, tmp)
        classifier = load_classifier(**spec, device=args.device)
        common = {"batch_size": args.batch_size, "shard_size": args.shard_size, "progress": False}

        local = predict_images(source, classifier, tmp / "local" / "p.parquet", **common)
        rows.append(
            {"run": "local", "seconds": local.seconds, "images_per_s": local.images_per_second}
        )
        print(f"local: {local.images_per_second:.1f} img/s", flush=True)

        ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=False)
        try:
            for n in actor_counts:
                out = tmp / f"ray{n}" / "p.parquet"
                t1 = time.perf_counter()
                result = predict_images_on_ray(
                    source, classifier, spec, out, device=args.device, actors=n, **common
                )
                wall = time.perf_counter() - t1
                if not result.table.equals(local.table) or not result.errors.equals(local.errors):
                    raise SystemExit(f"ray, {n} actors: the table differs from the local one")
                rows.append(
                    {
                        "run": f"ray, {n} actor{'s' if n > 1 else ''}",
                        "seconds": result.seconds,
                        "wall_seconds": wall,
                        "images_per_s": result.images_per_second,
                    }
                )
                print(f"ray {n}: {result.images_per_second:.1f} img/s", flush=True)
        finally:
            ray.shutdown()
    load_after = os.getloadavg()
    base = rows[0]["images_per_s"]
    for r in rows:
        r["ratio_to_local"] = r["images_per_s"] / base if base else float("nan")
    info = {
        "model": classifier.description,
        "device": args.device,
        "images": args.images,
        "batch_size": args.batch_size,
        "shard_size": args.shard_size,
        "actor_cpus": ACTOR_CPUS if args.device == "cpu" else None,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    lines = [
        f"{args.images} JPEG images (500 x 375), {classifier.description}, device {args.device}, "
        f"batch {args.batch_size}, shards of {args.shard_size}, {os.cpu_count()} CPUs; load "
        f"average {load_before[0]:.1f} before, {load_after[0]:.1f} after",
        "",
        "| run | images/s | seconds | ratio to local |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['images_per_s']:.1f} | {r['seconds']:.1f} | "
            f"{r['ratio_to_local']:.2f} |"
        )
    text = "\n".join(lines)
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "ray_vision.md").write_text(text + "\n")
    (OUT / "ray_vision.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
