"""Resumable, lossless output (prime_rs.vision.shards, prime_rs.vision.runner).

The main check kills a real ``python -m prime_rs tag`` process with SIGKILL in the middle of
its run, resumes it with ``--resume``, and compares the result with an uninterrupted run:
the same rows, in the same order, with identical values, and the same errors table. Cheaper
in-process checks interrupt a run after every number of batches, and cover what a resume
must refuse (other images, other settings, another command, a second writer).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

pytest.importorskip("torch", reason="the vision extra (torch) is not installed")

import torch
from click.testing import CliRunner, Result
from PIL import Image

from prime_rs import InputError
from prime_rs.cli import cli
from prime_rs.vision.images import Preprocess
from prime_rs.vision.runner import run_images
from prime_rs.vision.shards import ShardedOutput, errors_path, parts_path
from prime_rs.vision.sources import ImageSource, open_images
from prime_rs.vision.testing import TinyClip, make_image_folder, make_tiny_clip

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 images in 3 classes, plus two that cannot be read."""
    root = make_image_folder(
        tmp_path_factory.mktemp("resume") / "img", {"a": 40, "b": 40, "c": 40}, size=(24, 20)
    )
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (root / "c" / "empty.jpg").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyClip:
    return make_tiny_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("vocab") / "tags.txt"
    p.write_text("dog\ncat\ncar\ntree\n[colours]\nred\ngreen\nblue\n")
    return p


def tag_args(images: Path, tiny: TinyClip, vocabulary: Path, output: Path) -> list[str]:
    return [
        "tag",
        str(images),
        "-o",
        str(output),
        "--tagger",
        "clip",
        "--model-name",
        tiny.model_name,
        "--checkpoint",
        str(tiny.checkpoint),
        "--model-config",
        str(tiny.config),
        "--vocabulary",
        str(vocabulary),
        "--threshold",
        "0.02",
        "--top-k",
        "3",
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--shard-size",
        "6",
        "--workers",
        "0",
        "--no-progress",
    ]


def in_process(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def test_sigkill_then_resume_gives_the_uninterrupted_table(
    images: Path, tiny: TinyClip, vocabulary: Path, tmp_path: Path
) -> None:
    reference = tmp_path / "reference.parquet"
    done = in_process(tag_args(images, tiny, vocabulary, reference))
    assert done.exit_code == 0, done.output
    killed = tmp_path / "killed.parquet"
    parts = parts_path(killed)
    command = [sys.executable, "-m", "prime_rs", *tag_args(images, tiny, vocabulary, killed)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(parts.glob("shard-*.parquet"))) >= 3:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr
    written = sorted(parts.glob("shard-*.parquet"))
    assert 3 <= len(written) < 21 and not killed.exists()
    state = json.loads((parts / "state.json").read_text())
    assert state["command"] == "tag" and state["n_images"] == 122

    # Without --resume the unfinished run is neither overwritten nor continued.
    refused = in_process(tag_args(images, tiny, vocabulary, killed))
    assert refused.exit_code == 2 and "add --resume" in refused.stderr
    assert len(list(parts.glob("shard-*.parquet"))) == len(written)

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "shards were done" in resumed.stdout
    assert not parts.exists()
    a, b = pl.read_parquet(reference), pl.read_parquet(killed)
    assert a.height == 120 and b["id"].n_unique() == 120
    assert a.equals(b), "resumed table differs from the uninterrupted one"
    errors = pl.read_parquet(errors_path(killed))
    assert errors.equals(pl.read_parquet(errors_path(reference)))
    assert sorted(errors["id"].to_list()) == ["b/broken.png", "c/empty.jpg"]

    # Resuming a finished output does nothing and says so.
    again = in_process([*tag_args(images, tiny, vocabulary, killed), "--resume"])
    assert again.exit_code == 0 and "already complete" in again.stdout
    assert pl.read_parquet(killed).equals(a)


class Crash(Exception):
    pass


def brightness_step(fail_after: int | None) -> Any:
    calls = {"n": 0}

    def step(pixels: torch.Tensor) -> dict[str, Any]:
        calls["n"] += 1
        if fail_after is not None and calls["n"] > fail_after:
            raise Crash
        x = pixels.float()
        return {"mean": x.mean(dim=(1, 2, 3)).tolist(), "red": x[:, 0].amax(dim=(1, 2)).tolist()}

    return step


COLUMNS = {"mean": pl.Float64, "red": pl.Float32}


def run(source: ImageSource, output: Path, step: Any, **options: Any) -> Any:
    defaults: dict[str, Any] = {
        "preprocess": Preprocess(size=8),
        "columns": COLUMNS,
        "command": "test",
        "settings": {"size": 8},
        "device": CPU,
        "batch_size": 3,
        "shard_size": 7,
        "workers": 0,
        "progress": False,
    }
    return run_images(source, step, output=output, **{**defaults, **options})


@pytest.mark.parametrize("fail_after", [0, 1, 2, 5, 13, 40])
def test_interrupted_anywhere_then_resumed(images: Path, tmp_path: Path, fail_after: int) -> None:
    source = open_images(images)
    reference = run(source, tmp_path / "ref.parquet", brightness_step(None))
    out = tmp_path / "out.parquet"
    with pytest.raises(Crash):
        run(source, out, brightness_step(fail_after))
    assert not out.exists() and parts_path(out).is_dir()
    with pytest.raises(InputError, match="unfinished run"):
        run(source, out, brightness_step(None))
    result = run(source, out, brightness_step(None), resume=True)
    # Shards of 7 images in batches of 3: 3 batches per shard.
    assert result.resumed_shards == fail_after // 3
    assert result.processed == 122 - 7 * result.resumed_shards
    assert result.table.equals(reference.table)
    assert pl.read_parquet(out).equals(pl.read_parquet(tmp_path / "ref.parquet"))
    assert result.errors.equals(reference.errors)


def test_output_formats_and_no_silent_overwrite(images: Path, tmp_path: Path) -> None:
    source = open_images(images)
    for suffix in (".parquet", ".csv", ".jsonl"):
        out = tmp_path / f"t{suffix}"
        run(source, out, brightness_step(None))
        before = out.read_bytes()
        with pytest.raises(InputError, match="already exists; add --overwrite"):
            run(source, out, brightness_step(None))
        assert out.read_bytes() == before
        again = run(source, out, brightness_step(None), overwrite=True)
        assert again.table.height == 120 and out.read_bytes() == before
        assert errors_path(out).exists()


def test_resume_refuses_another_run(images: Path, tmp_path: Path) -> None:
    source = open_images(images)
    out = tmp_path / "out.parquet"
    with pytest.raises(Crash):
        run(source, out, brightness_step(4))
    with pytest.raises(InputError, match=r"other settings \(size: 8 then, 9 now\)"):
        run(source, out, brightness_step(None), resume=True, settings={"size": 9})
    with pytest.raises(InputError, match="not `prime other`"):
        run(source, out, brightness_step(None), resume=True, command="other")
    fewer = ImageSource(source.table.head(50), source.origin)
    with pytest.raises(InputError, match="the images changed since the run started"):
        run(fewer, out, brightness_step(None), resume=True)
    # A finished Parquet output remembers its run, too.
    run(source, out, brightness_step(None), resume=True)
    with pytest.raises(InputError, match="made by another run"):
        run(source, out, brightness_step(None), resume=True, settings={"size": 9})


def test_damaged_shard_is_redone_and_stale_files_go(
    images: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = open_images(images)
    reference = run(source, tmp_path / "ref.parquet", brightness_step(None))
    out = tmp_path / "out.parquet"
    with pytest.raises(Crash):
        run(source, out, brightness_step(10))
    parts = parts_path(out)
    (parts / "shard-000001.parquet").write_bytes(b"garbage")  # e.g. a disk full earlier
    (parts / ".shard-000002.parquet.tmp-1.parquet").write_bytes(b"half")
    (tmp_path / f".{out.name}.tmp-99.parquet").write_bytes(b"half")
    result = run(source, out, brightness_step(None), resume=True)
    assert "shard 1 does not hold the expected images; redoing it" in caplog.text
    assert result.table.equals(reference.table)
    assert not parts.exists() and not list(tmp_path.glob(".out.parquet.tmp-*"))


def test_one_writer_at_a_time(images: Path, tmp_path: Path) -> None:
    source = open_images(images)
    out = tmp_path / "out.parquet"
    first = ShardedOutput(
        out, ids=source.ids, command="t", settings={}, fingerprint=source.fingerprint()
    )
    with pytest.raises(InputError, match="another prime command is writing"):
        ShardedOutput(
            out,
            ids=source.ids,
            command="t",
            settings={},
            fingerprint=source.fingerprint(),
            resume=True,
        )
    first.close()


def test_strict_stops_at_the_first_bad_image(images: Path, tmp_path: Path) -> None:
    source = open_images(images)
    with pytest.raises(InputError, match=r"broken.png: not an image .*--strict stops"):
        run(source, tmp_path / "s.parquet", brightness_step(None), strict=True)


def test_rows_hold_the_values_of_each_image(tmp_path: Path) -> None:
    root = tmp_path / "img"
    (root / "x").mkdir(parents=True)
    for i, colour in enumerate([(255, 0, 0), (0, 0, 0), (10, 20, 30)]):
        Image.new("RGB", (10, 10), colour).save(root / "x" / f"{i}.png")
    result = run(open_images(root), tmp_path / "o.parquet", brightness_step(None), shard_size=2)
    assert result.table["red"].to_list() == [255.0, 0.0, 10.0]
    np.testing.assert_allclose(result.table["mean"].to_numpy(), [85.0, 0.0, 20.0])
