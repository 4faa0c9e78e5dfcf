"""Fashion-MNIST, end to end: train a small CNN, tag, predict, search, evaluate, report.

Data: Debian's ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``; MIT).
Every step after training runs through the project's own commands (``prime tag``, ``prime
predict``, ``prime search``, ``prime evaluate generalization``, ``prime report``), and the
time each step took is written to ``timings.json``.

- The classifier under test (``model.py``) is trained on the first ``--train`` images of a
  seeded shuffle of training images 0-49,999.
- detect split: ``--detect`` images of training images 50,000-59,999 (never trained on);
  holdout split: ``--holdout`` images of the official test set (10,000: all of it, in order).
- Tags: EfficientNet-Lite0's ImageNet labels (top 5, probability >= 0.05), computed on the
  inverted grey image (a dark garment on white, like a catalogue photo: more clothing tags).

Examples::

    # the bundled demo data (python/prime_rs/datasets/README.md)
    python examples/fashion_mnist/run.py --workdir fmnist --train 12000 --detect 10000 \
        --holdout 10000 --min-support 20 --bundle python/prime_rs/datasets
    python examples/fashion_mnist/run.py --subset 300 --epochs 1     # the CI-sized run
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from model import CLASSES, MEAN, STD, build  # noqa: E402

DATA = Path("/usr/share/datasets/fashion-mnist")
N_TRAIN_POOL = 50_000
#: Images in Fashion-MNIST's training and test files.
N_TRAIN, N_TEST = 60_000, 10_000


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped) as a numpy array: images ``(n, 28, 28)`` or labels ``(n,)``."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Timer:
    """Wall time of each named step, printed as it ends and kept for ``timings.json``."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    def __call__(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        self.steps[name] = round(time.perf_counter() - t0, 2)
        print(f"== {name}: {self.steps[name]:.1f} s", flush=True)
        return out


def prime(*args: str | Path, env: dict[str, str] | None = None) -> None:
    """Run one ``prime`` command (this interpreter's ``prime_rs``); stop on failure."""
    cmd = [sys.executable, "-m", "prime_rs", *map(str, args)]
    print("$ prime " + " ".join(map(str, args)), flush=True)
    subprocess.run(cmd, check=True, env=env)


def prepare(work: Path, n_train: int, n_detect: int, n_holdout: int, seed: int) -> np.ndarray:
    """Write the detect and holdout images as PNG (original and inverted) with manifests;
    return the indices of the training images."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    train_x = read_idx(DATA / "train-images-idx3-ubyte.gz")
    train_y = read_idx(DATA / "train-labels-idx1-ubyte.gz")
    test_x = read_idx(DATA / "t10k-images-idx3-ubyte.gz")
    test_y = read_idx(DATA / "t10k-labels-idx1-ubyte.gz")
    train_idx = np.sort(rng.permutation(N_TRAIN_POOL)[:n_train])
    detect_idx = np.sort(N_TRAIN_POOL + rng.permutation(len(train_x) - N_TRAIN_POOL)[:n_detect])
    holdout_idx = np.sort(rng.permutation(len(test_x))[:n_holdout])
    np.savez_compressed(work / "train.npz", x=train_x[train_idx], y=train_y[train_idx])
    rows = []
    for split, xs, ys, idx, prefix in (
        ("detect", train_x, train_y, detect_idx, "train"),
        ("holdout", test_x, test_y, holdout_idx, "test"),
    ):
        for i in idx:
            sid = f"{prefix}-{i:05d}"
            rows.append((sid, f"images/{sid}.png", f"inverted/{sid}.png", CLASSES[ys[i]], split))
            Image.fromarray(xs[i], mode="L").save(work / "images" / f"{sid}.png")
            Image.fromarray(255 - xs[i], mode="L").save(work / "inverted" / f"{sid}.png")
    table = pl.DataFrame(rows, schema=["id", "path", "inverted", "label", "split"], orient="row")
    table.drop("inverted").write_csv(work / "manifest.csv")
    table.select("id", pl.col("inverted").alias("path"), "label", "split").write_csv(
        work / "manifest_inverted.csv"
    )
    (work / "classes.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    return train_idx


def train(work: Path, epochs: int, seed: int) -> dict[str, float]:
    """Train the CNN (seeded, CPU) on the saved training images; write ``weights.pt``."""
    import torch

    torch.manual_seed(seed)
    data = np.load(work / "train.npz")
    x = torch.from_numpy((data["x"].astype(np.float32) / 255.0 - MEAN) / STD).unsqueeze(1)
    y = torch.from_numpy(data["y"].astype(np.int64))
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    loss = torch.tensor(0.0)
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 128):
            b = order[start : start + 128]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[b]), y[b])
            loss.backward()
            opt.step()
        print(f"   epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.3f}", flush=True)
    torch.save(model.state_dict(), work / "weights.pt")
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    return {"train_images": len(x), "train_accuracy": round(acc, 4)}


def join(work: Path) -> pl.DataFrame:
    """The samples table: predictions joined with tags on ``id``."""
    preds = pl.read_parquet(work / "predictions.parquet")
    tags = pl.read_parquet(work / "tags.parquet").select("id", "tags", "tag_scores")
    manifest = pl.read_csv(work / "manifest.csv").select("id", "split", "path")
    samples = (
        preds.select("id", "label", "prediction")
        .join(tags, on="id", how="inner")
        .join(manifest, on="id", how="inner")
        .sort("split", "id")
    )
    samples.write_parquet(work / "samples.parquet")
    samples.filter(pl.col("split") == "holdout").write_parquet(work / "holdout.parquet")
    return samples


def bundle(work: Path, out: Path, max_tags: int, min_support: int, min_drop: float) -> None:
    """The demo data: the samples table and thumbnails of the images the report shows."""
    from prime_rs import find_failure_modes
    from prime_rs.report import make_thumbnails, select_images

    out.mkdir(parents=True, exist_ok=True)
    samples = pl.read_parquet(work / "samples.parquet")
    detect = samples.filter(pl.col("split") == "detect")
    modes = find_failure_modes(
        detect, max_tags=max_tags, min_support=min_support, min_drop=min_drop
    )
    wanted = sorted({i for ids in select_images(modes, detect) for i in ids})
    paths = dict(zip(samples["id"].to_list(), samples["path"].to_list(), strict=True))
    thumbs = make_thumbnails({i: paths[i] for i in wanted}, root=work)
    samples.drop("path").write_parquet(out / "fashion_mnist.parquet", compression_level=22)
    pl.DataFrame(
        {"id": list(thumbs), "image": list(thumbs.values())},
        schema={"id": pl.String, "image": pl.Binary},
    ).write_parquet(out / "fashion_mnist_thumbnails.parquet")
    print(f"   bundled {samples.height:,} samples and {len(thumbs):,} thumbnails in {out}")


def main(argv: list[str] | None = None) -> int:
    """Run the whole example; see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("fashion-mnist-run"))
    ap.add_argument(
        "--train", type=int, help="training images [default: 20,000; 2,000 with --subset]"
    )
    ap.add_argument("--detect", type=int, default=3_000, help="detect images (train 50k-60k)")
    ap.add_argument("--holdout", type=int, default=3_000, help="holdout images (test set)")
    ap.add_argument("--subset", type=int, help="CI: this many detect and holdout images each")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-tags", type=int, default=3)
    ap.add_argument("--min-support", type=int, help="[default: 10, or 3 with --subset]")
    ap.add_argument("--min-drop", type=float, default=0.2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--bundle", type=Path, help="also write the bundled demo data here")
    args = ap.parse_args(argv)
    if args.subset:
        args.detect = args.holdout = args.subset
    if args.train is None:
        args.train = 2_000 if args.subset else 20_000
    for name, value, most in (
        ("--train", args.train, N_TRAIN_POOL),
        ("--detect", args.detect, N_TRAIN - N_TRAIN_POOL),
        ("--holdout", args.holdout, N_TEST),
    ):
        if not 0 < value <= most:
            ap.error(f"{name}: must be between 1 and {most:,}, got {value:,}")
    min_support = args.min_support or (3 if args.subset else 10)
    work: Path = args.workdir.resolve()
    for d in ("images", "inverted"):
        (work / d).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    timer = Timer()
    info: dict[str, Any] = {"seed": args.seed, "epochs": args.epochs}
    timer("prepare", prepare, work, args.train, args.detect, args.holdout, args.seed)
    info.update(timer("train", train, work, args.epochs, args.seed))
    common = ["--device", "cpu", "--batch-size", str(args.batch_size), "--no-progress"]
    common += ["--overwrite"]
    timer(
        "tag", prime, "tag", work / "manifest_inverted.csv", "--tagger", "classifier",
        "-o", work / "tags.parquet", *common, env=env,
    )  # fmt: skip
    mean, std = f"{MEAN},{MEAN},{MEAN}", f"{STD},{STD},{STD}"
    timer(
        "predict", prime, "predict", work / "manifest.csv", "--model", "model:build",
        "--weights", work / "weights.pt", "--classes", work / "classes.txt", "--size", "28",
        "--mean", mean, "--std", std, "-o", work / "predictions.parquet", *common, env=env,
    )  # fmt: skip
    samples = timer("join", join, work)
    params = ["--max-tags", str(args.max_tags), "--min-support", str(min_support)]
    params += ["--min-drop", str(args.min_drop)]
    timer(
        "search", prime, "search", work / "samples.parquet", "--split-column", "split",
        "--detect", "detect", *params, "-o", work / "modes.parquet", env=env,
    )  # fmt: skip
    timer(
        "evaluate", prime, "evaluate", "generalization", work / "modes.parquet",
        work / "holdout.parquet", "-o", work / "modes_holdout.parquet", "--plot", work / "fig4",
        env=env,
    )  # fmt: skip
    timer(
        "report", prime, "report", work / "modes_holdout.parquet", work / "samples.parquet",
        "--split-column", "split", "--holdout", "holdout", "--image-root", work,
        "--title", "Fashion-MNIST: failure modes of a small CNN", "-o", work / "report.html",
        env=env,
    )  # fmt: skip
    if args.bundle:
        timer("bundle", bundle, work, args.bundle, args.max_tags, min_support, args.min_drop)
    for split in ("detect", "holdout"):
        part = samples.filter(pl.col("split") == split)
        info[f"{split}_images"] = part.height
        info[f"{split}_accuracy"] = round(float((part["label"] == part["prediction"]).mean()), 4)
    info["min_support"] = min_support
    info["steps_s"] = timer.steps
    info["total_s"] = round(sum(timer.steps.values()), 2)
    (work / "timings.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
