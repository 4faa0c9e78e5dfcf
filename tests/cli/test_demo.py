"""``prime demo``: the bundled Fashion-MNIST data, searched and reported with no network."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from prime_rs import find_failure_modes
from prime_rs.cli import cli
from prime_rs.cli.demo import DEMO_PARAMS
from prime_rs.datasets import fashion_mnist, fashion_mnist_thumbnails

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _offline(cmd: list[str]) -> list[str]:
    """``cmd`` in a new user and network namespace: the process has no network at all
    (only a loopback interface that is down)."""
    unshare = shutil.which("unshare")
    assert unshare is not None, "needs util-linux's unshare"
    probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False)
    assert probe.returncode == 0, f"unshare -rn is not allowed here: {probe.stderr!r}"
    return [unshare, "-rn", *cmd]


def test_bundled_data() -> None:
    df = fashion_mnist()
    assert {"id", "label", "prediction", "tags", "tag_scores", "split"} <= set(df.columns)
    assert set(df["split"].unique().to_list()) == {"detect", "holdout"}
    assert set(df["label"].unique().to_list()) == set(CLASSES)
    assert df["id"].is_unique().all()
    assert (df["tags"].list.len() == df["tag_scores"].list.len()).all()
    # detect: training images 50,000-59,999; holdout: the whole official test set.
    detect = df.filter(pl.col("split") == "detect")["id"].sort().to_list()
    holdout = df.filter(pl.col("split") == "holdout")["id"].sort().to_list()
    assert detect == [f"train-{i:05d}" for i in range(50_000, 60_000)]
    assert holdout == [f"test-{i:05d}" for i in range(10_000)]
    thumbs = fashion_mnist_thumbnails()
    assert thumbs and set(thumbs) <= set(df["id"].to_list())
    files = Path(__file__).parents[2] / "python" / "prime_rs" / "datasets"
    size = sum(p.stat().st_size for p in files.iterdir() if p.is_file())
    assert size < 5_000_000


def test_demo_offline(tmp_path: Path) -> None:
    cmd = _offline([sys.executable, "-m", "prime_rs", "demo", "-o", "modes.parquet"])
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = proc.stdout
    assert "Fashion-MNIST" in text
    for step in ("load", "index build", "search", "generalization", "report", "total"):
        assert re.search(rf"^{step} +\d+\.\d\d s", text, flags=re.MULTILINE), step
    assert "per class (weakest first)" in text
    for label in CLASSES:
        assert re.search(rf"^ *{re.escape(label)} +\d+\.\d%", text, flags=re.MULTILINE), label
    assert "strongest modes (top" in text and "mistaken for" in text
    assert "generalization to the holdout split" in text
    assert "expected from noise" in text
    assert "10,000 detect + 10,000 holdout images" in text
    assert re.search(
        r"^the paper's statistic: \d+ of \d+ modes \(\d+%, 95% interval \d+-\d+%\) keep a drop",
        text,
        flags=re.MULTILINE,
    )
    assert "The paper reports 86%" in text
    assert elapsed < 60  # under 30 s on an idle 2-core machine; generous for a loaded one

    modes = pl.read_parquet(tmp_path / "modes.parquet")
    assert modes.height > 0
    assert "holdout_accuracy" in modes.columns
    detect = fashion_mnist().filter(pl.col("split") == "detect")
    from prime_rs import find_failure_modes

    expected = find_failure_modes(detect, DEMO_PARAMS)
    assert modes.select(expected.columns).equals(expected)

    report = tmp_path / "prime-demo" / "report.html"
    page = report.read_text(encoding="utf-8")
    assert page.count('class="card"') == modes.height
    assert page.count('class="ladder"') == modes.height
    assert "data:image/png;base64," in page
    assert 'class="scatter"' in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)


def test_demo_options() -> None:
    result = CliRunner().invoke(cli, ["demo", "--dense"])
    assert result.exit_code == 2
    assert "--synthetic" in result.stderr
    assert "--synthetic" in CliRunner().invoke(cli, ["demo", "-h"]).stdout


def test_demo_as_a_library_call(tmp_path: Path) -> None:
    """``prime_rs.pipeline.demo`` returns what ``prime demo`` prints, and writes the report."""
    from prime_rs.pipeline import DEMO_PARAMS as PARAMS
    from prime_rs.pipeline import demo, paper_statistic_line

    steps: list[str] = []
    out = demo(report_dir=tmp_path / "report", on_step=lambda name, s, note: steps.append(name))
    assert steps == ["load", "index build", "search", "generalization", "noise control", "report"]
    assert [name for name, _, _ in out.steps] == steps
    assert out.report == tmp_path / "report" / "report.html" and out.report.exists()
    detect = fashion_mnist().filter(pl.col("split") == "detect")
    expected = find_failure_modes(detect, PARAMS)
    assert out.modes.select(expected.columns).equals(expected)
    assert "holdout_accuracy" in out.modes.columns
    assert out.noise is not None and out.noise["run"].n_unique() == 20
    # The whole test set as holdout: most modes' holdout groups hold tens of images.
    support = out.modes["holdout_support"]
    assert out.holdout is not None and out.holdout.height == 10_000
    assert support.min() > 0 and support.median() >= 20  # type: ignore[operator]
    g = out.generalizes
    assert g is not None and g["n_measured"] == out.modes.height
    assert g["n_generalize"] == (out.modes["holdout_drop"] >= 0.25 - 1e-12).sum()
    assert g["n_surely"] <= g["n_generalize"] <= g["n_possibly"]
    assert g["share_low"] <= g["share"] <= g["share_high"]
    assert html.escape(paper_statistic_line(g)) in out.report.read_text(encoding="utf-8")
    synthetic_run = demo(synthetic_data=True, report_dir=None)
    assert synthetic_run.planted is not None and synthetic_run.report is None
    assert synthetic_run.modes.height > 0
