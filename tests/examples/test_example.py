"""The Fashion-MNIST example on a small subset: tag, predict, search, evaluate, report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

EXAMPLE = Path(__file__).parents[2] / "examples" / "fashion_mnist" / "run.py"
DATA = Path("/usr/share/datasets/fashion-mnist")


def test_example_subset(tmp_path: Path) -> None:
    assert (DATA / "t10k-images-idx3-ubyte.gz").exists(), (
        "needs Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)"
    )
    work = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--subset", "300", "--epochs", "1", "--workdir", str(work),
         "--bundle", str(tmp_path / "bundle")],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = json.loads((work / "timings.json").read_text())
    steps = ("prepare", "train", "tag", "predict", "join", "search", "evaluate", "report")
    assert set(steps) <= set(info["steps_s"])
    assert info["detect_images"] == info["holdout_images"] == 300
    assert info["detect_accuracy"] > 0.5  # a trained model, far above chance (0.1)

    samples = pl.read_parquet(work / "samples.parquet")
    assert samples.height == 600
    assert set(samples["split"].unique().to_list()) == {"detect", "holdout"}
    # Real tags: EfficientNet-Lite0's ImageNet labels, a few per image.
    assert samples["tags"].list.len().mean() > 1  # type: ignore[operator]
    modes = pl.read_parquet(work / "modes_holdout.parquet")
    assert "holdout_accuracy" in modes.columns
    assert (work / "fig4.png").exists()
    page = (work / "report.html").read_text(encoding="utf-8")
    assert page.count('class="card"') == modes.height
    bundle = pl.read_parquet(tmp_path / "bundle" / "fashion_mnist.parquet")
    assert "path" not in bundle.columns and bundle.height == 600


def test_example_sizes_are_checked(tmp_path: Path) -> None:
    """The test set has 10,000 images: a larger holdout is a one-line usage error."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--holdout", "10001", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("error: --holdout: must be between 1 and 10,000, got 10,001")
    )
    assert not list(tmp_path.iterdir())  # nothing written
