"""Tagging and prediction on real Ray clusters: the tables equal a local run's, byte for byte.

One two-node cluster on this machine (``ray.cluster_utils.Cluster``: a head with 2 logical CPUs,
a worker node with 1) serves the module; the model actors take half a CPU each. The tests
check that Ray and local runs write the same files (tags, predictions, errors, samples, modes),
that a driver killed mid-run (SIGKILL) resumes to the same tables, and that losing a worker
node mid-run loses no image. Deselect with ``-m 'not ray'``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
pytest.importorskip("torch", reason="the vision extra (torch) is not installed")

from prime_rs import pipeline  # noqa: E402
from prime_rs.vision import jobs  # noqa: E402
from prime_rs.vision.shards import parts_path  # noqa: E402
from prime_rs.vision.testing import (  # noqa: E402
    make_image_folder,
    make_tiny_clip,
    save_tiny_cnn,
    write_odd_images,
)

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "include_dashboard": False,
            # A busy 2-core machine can stall a raylet for seconds: a live node must not be
            # declared dead (a killed one still is, within about 20 s).
            "_system_config": {
                "health_check_period_ms": 1000,
                "health_check_timeout_ms": 5000,
                "health_check_failure_threshold": 20,
            },
        },
    )
    c.add_node(num_cpus=1)
    ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("models")
    tiny = make_tiny_clip(d)
    vocab = d / "vocab.txt"
    vocab.write_text("dog\ncat\ncar\ntree\nsky\n[colours]\nred\ngreen\nblue\n")
    return {
        "tag": {
            "tagger": "clip",
            "model_name": tiny.model_name,
            "checkpoint": tiny.checkpoint,
            "model_config": tiny.config,
            "vocabulary": vocab,
            "top_k": 2,
        },
        "predict": {"model": str(save_tiny_cnn(d / "cnn.ts", kind="torchscript")), "size": 32},
    }


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 labelled images in three classes, plus files that cannot be used (and odd ones)."""
    root = make_image_folder(tmp_path_factory.mktemp("ray") / "img", {"a": 8, "b": 8, "c": 8})
    cases = write_odd_images(root / "c" / "odd", huge=False)
    assert sum(e is not None for e in cases.values()) == 5
    return root


RUN = {"batch_size": 4, "shard_size": 8, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def local(images: Path, models: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the whole pipeline run locally."""
    out = tmp_path_factory.mktemp("local") / "out"
    pipeline.run(
        images, out, **models["predict"], **models["tag"], min_support=2, max_tags=2, **RUN
    )
    return out


TABLES = (
    "predictions.parquet",
    "predictions.errors.parquet",
    "tags.parquet",
    "tags.errors.parquet",
    "samples.parquet",
    "modes.parquet",
)


def same_bytes(a: Path, b: Path) -> None:
    assert a.read_bytes() == b.read_bytes(), f"{a} and {b} differ"


def test_pipeline_on_ray_writes_the_local_tables(
    cluster: Any,
    images: Path,
    models: dict[str, Any],
    local: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    found = pipeline.run(
        images,
        out,
        **models["predict"],
        **models["tag"],
        min_support=2,
        max_tags=2,
        **{**RUN, "progress": True},
        ray=True,
        actors=2,
    )
    for name in TABLES:
        same_bytes(local / name, out / name)
    assert found.predictions.errors.height == 5 and found.tags.errors.height == 5
    assert found.predictions.processed == found.predictions.n_images == 24 + 14
    assert not parts_path(out / "tags.parquet").exists()
    # The driver draws the same progress bar as a local run.
    err = capfd.readouterr().err
    assert "predict [" in err and "tag [" in err and "38/38" in err
    assert "img/s" in err and "ETA" in err and "5 failed" in err


def test_driver_killed_then_resumed_equals_an_uninterrupted_run(
    cluster: Any, images: Path, models: dict[str, Any], local: Path, tmp_path: Path
) -> None:
    out = tmp_path / "predictions.parquet"
    args = [
        "predict",
        str(images),
        "-o",
        str(out),
        "--model",
        models["predict"]["model"],
        "--size",
        "32",
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--shard-size",
        "2",
        "--ray",
    ]
    env = {**os.environ, "RAY_ADDRESS": cluster.address}
    code = "import sys\nfrom prime_rs.cli import main\nraise SystemExit(main(sys.argv[1:]))\n"
    driver = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    parts = parts_path(out)
    deadline = time.monotonic() + 240
    try:
        while not list(parts.glob("shard-*.parquet")):
            assert driver.poll() is None, driver.communicate()[1].decode()
            assert time.monotonic() < deadline, "no shard was written in time"
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.communicate()
    written = len(list(parts.glob("shard-*.parquet")))
    assert 0 < written < 19, written  # 38 images in shards of 2: killed part of the way
    result = jobs.predict(
        images,
        out,
        **models["predict"],
        **{**RUN, "batch_size": 2, "shard_size": 2},
        resume=True,
        ray=True,
    )
    assert result.resumed_shards >= written
    assert result.processed == 38 - 2 * result.resumed_shards
    # Same images, same values as the local run of another shard size: the tables match.
    reference = jobs.predict(
        images, tmp_path / "ref" / "predictions.parquet", **models["predict"], **RUN
    )
    assert result.table.equals(reference.table)
    assert result.errors.equals(reference.errors)
    same_bytes(local / "predictions.parquet", tmp_path / "ref" / "predictions.parquet")


#: Ray 2.60's own bug: a worker lease spilled back to a node that was just lost aborts the
#: driver ("Check failed: !is_spillback" in its task submitter). It is rare; when it happens
#: the run is resumed, as a user would resume it.
RAY_SPILLBACK_ABORT = "is_spillback"

NODE_LOSS_DRIVER = """
import json, sys
from prime_rs.vision import jobs
a = json.loads(sys.argv[1])
r = jobs.predict(a["images"], a["out"], **a["model"], **a["run"], ray=True, actors=3)
print(r.processed, r.errors.height)
"""


def test_a_worker_node_lost_mid_run_loses_no_image(
    cluster: Any, images: Path, models: dict[str, Any], local: Path, tmp_path: Path
) -> None:
    """A node removed (not gracefully) mid-run: the run finishes with every image. The driver
    runs in a process of its own, so that Ray's rare abort of a driver on a lost node (see
    ``RAY_SPILLBACK_ABORT``) cannot take the test run down with it; after such an abort, and
    only then, the run is resumed, and the tables must still be the local run's."""
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    out = tmp_path / "out" / "predictions.parquet"
    job = {"images": str(images), "out": str(out), "model": models["predict"], "run": RUN}
    driver = subprocess.Popen(
        [sys.executable, "-c", NODE_LOSS_DRIVER, json.dumps(job)],
        env={**os.environ, "RAY_ADDRESS": cluster.address},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parts = parts_path(out)
    deadline = time.monotonic() + 240
    try:
        while not list(parts.glob("shard-*.parquet")):
            assert driver.poll() is None, driver.communicate()[1]
            assert time.monotonic() < deadline, "no shard was written in time"
            time.sleep(0.05)
        cluster.remove_node(doomed, allow_graceful=False)
        stdout, stderr = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    if driver.returncode == 0:
        assert stdout.split()[-2:] == ["38", "5"], stdout
    else:
        # Only Ray's own abort is forgiven, and only by resuming.
        assert driver.returncode == -signal.SIGABRT or RAY_SPILLBACK_ABORT in stderr, stderr
        result = jobs.predict(images, out, **models["predict"], **RUN, resume=True, ray=True)
        assert result.processed + 8 * result.resumed_shards >= 38
    same_bytes(local / "predictions.parquet", out)
    same_bytes(local / "predictions.errors.parquet", out.with_name("predictions.errors.parquet"))


BLOCK_RAY = (
    "import sys\n"
    "sys.modules['ray'] = None  # as if the ray extra were not installed\n"
    "from prime_rs.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def test_ray_options_without_ray_say_how_to_install(
    images: Path, models: dict[str, Any], tmp_path: Path
) -> None:
    model = models["predict"]["model"]
    for args in (
        ["predict", str(images), "-o", str(tmp_path / "p.parquet"), "--model", model, "--ray"],
        ["tag", str(images), "-o", str(tmp_path / "t.parquet"), "--ray-address", "auto"],
        ["run", str(images), "-o", str(tmp_path / "out"), "--model", model, "--ray"],
    ):
        out = subprocess.run(
            [sys.executable, "-c", BLOCK_RAY, *args], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "pip install 'prime_rs[ray]'" in out.stderr
        assert not (tmp_path / "p.parquet").exists() and not (tmp_path / "out").exists()


def test_actor_plan_and_its_errors(images: Path, models: dict[str, Any], tmp_path: Path) -> None:
    from prime_rs.errors import InputError, ParameterError
    from prime_rs.vision.cluster import plan_actors

    assert plan_actors({"CPU": 3.0}, "auto", None, threads=2).actors == 1
    assert plan_actors({"CPU": 16.0, "GPU": 4.0}, "auto", 2).gpus
    with pytest.raises(InputError, match="has no GPU"):
        plan_actors({"CPU": 3.0}, "cuda", None)
    with pytest.raises(InputError, match="has 4 GPUs"):
        plan_actors({"CPU": 16.0, "GPU": 4.0}, "cuda:0", 5)
    with pytest.raises(ParameterError, match="positive integer"):
        plan_actors({"CPU": 3.0}, "cpu", 0)
    with pytest.raises(ParameterError, match="give ray= too"):
        jobs.predict(images, tmp_path / "p.parquet", **models["predict"], actors=2)
