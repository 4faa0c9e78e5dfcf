"""The search on a real Ray cluster equals the local search, row for row and bit for bit.

One cluster per module, on loopback: a head node without CPUs (so every task runs on a
worker node) and one or two worker nodes, added and removed as the tests ask.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

import prime_rs
from prime_rs import TagIndex, distributed, synthetic
from prime_rs.cli import cli

pytestmark = pytest.mark.ray


class Nodes:
    """A running cluster whose number of worker nodes the tests set."""

    def __init__(self) -> None:
        import ray  # the ray extra, which `make test` installs
        from ray.cluster_utils import Cluster

        self.ray = ray
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "include_dashboard": False},
        )
        self.workers: list[Any] = []
        ray.init(address=self.cluster.address, logging_level="ERROR", log_to_driver=False)

    def use(self, n: int) -> None:
        while len(self.workers) < n:
            self.workers.append(self.cluster.add_node(num_cpus=2))
        while len(self.workers) > n:
            self.cluster.remove_node(self.workers.pop())
        self.cluster.wait_for_nodes()
        alive = [x for x in self.ray.nodes() if x["Alive"] and x["Resources"].get("CPU", 0) > 0]
        assert len(alive) == n

    def close(self) -> None:
        self.ray.shutdown()
        self.cluster.shutdown()


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    cluster = Nodes()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def planted() -> pl.DataFrame:
    """Synthetic samples with planted modes (string labels and predictions)."""
    return synthetic.generate(synthetic.SMALL).samples


@pytest.fixture(scope="module")
def dataset(planted: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same samples as a Parquet dataset of several files, rows shuffled across them,
    with class numbers for labels and predictions (the path for labels that are not text)."""
    names = sorted(planted["label"].unique().to_list())
    number = {name: i for i, name in enumerate(names)}
    df = planted.sample(fraction=1.0, shuffle=True, seed=7).with_columns(
        pl.col("label").replace_strict(number, return_dtype=pl.Int32),
        pl.col("prediction").replace_strict(number, return_dtype=pl.Int32),
    )
    folder = tmp_path_factory.mktemp("dataset")
    cuts = [0, 1000, 3500, 6000, df.height]
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        df[a:b].write_parquet(folder / f"part-{i:02d}.parquet")
    (folder / "_SUCCESS").write_text("")  # left out, as a local read leaves it out
    return folder


SETTINGS = [
    {"max_tags": 3},
    {"max_tags": 3, "min_support": 40, "max_q": 1e-6, "rank_by": "impact"},
    {"max_tags": 2, "labels": ["turtle", "lizard"], "search": "greedy", "beam_width": 5},
    {"min_support": 5000},  # empty: the same reason
]


def _same(got: distributed.ClusterSearch, index: TagIndex, **params: Any) -> None:
    want = index.search(**params)
    assert_frame_equal(got.result.modes, want.modes, check_exact=True)
    assert_frame_equal(got.result.summary, want.summary, check_exact=True)
    assert got.result.empty_reason == want.empty_reason
    assert_frame_equal(got.classes, index.classes(), check_exact=True)
    assert got.n_tags == len(index.vocabulary)


@pytest.mark.parametrize("n_nodes", [1, 2])
def test_planted_table_equals_local(nodes: Nodes, planted: pl.DataFrame, n_nodes: int) -> None:
    nodes.use(n_nodes)
    index = TagIndex.from_samples(planted)
    used = set()
    for params in SETTINGS:
        got = distributed.search(planted, ray=True, **params)
        _same(got, index, **params)
        assert 1 <= got.nodes <= n_nodes
        used.add(got.nodes)
    # Spread over every worker node. Ray's SPREAD is best effort: once in a while (seen in
    # one run of many) the three tasks of a search whose classes end at once (the empty
    # one) all land on one node, so the spread is asked of the searches together.
    assert max(used) == n_nodes
    modes = prime_rs.find_failure_modes(planted, max_tags=3, ray=True)
    assert modes.height > 0 and modes["tag_lift"].null_count() == 0  # lifts from other classes
    assert modes["q_value"].null_count() == 0


@pytest.mark.parametrize("n_nodes", [2, 1])
def test_parquet_dataset_equals_local(nodes: Nodes, dataset: Path, n_nodes: int) -> None:
    nodes.use(n_nodes)
    index = TagIndex.from_samples(dataset)
    for params in SETTINGS[:2]:
        got = distributed.search(dataset, ray=True, **params)
        _same(got, index, **params)
    seen: list[tuple[int, int]] = []
    got = distributed.search(
        str(dataset), ray=True, max_tags=3, labels=[2, 0], progress=lambda *x: seen.append(x)
    )
    _same(got, index, max_tags=3, labels=[2, 0])
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)  # every class read, two searched


def test_noise_control_equals_local(nodes: Nodes, planted: pl.DataFrame, dataset: Path) -> None:
    nodes.use(2)
    for samples in (planted, dataset):
        for params in ({"max_tags": 2}, {"max_tags": 2, "max_q": 0.5}):
            want = prime_rs.noise_control(samples, runs=3, seed=5, **params)
            got = prime_rs.noise_control(samples, runs=3, seed=5, ray=True, **params)
            assert_frame_equal(got, want, check_exact=True)


def test_q_values_are_the_engine_arithmetic() -> None:
    """The driver's Benjamini–Hochberg gives the engine's q-values over one family."""
    import numpy as np

    family = np.array([0.2, 0.01, 0.04, 0.5, 0.03])
    counts = np.array([1, 2, 2, 1, 1])
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.04, 0.2, 0.01])
    # the engine's plain q-values of the family written out one hypothesis per copy
    plain = np.repeat(family, counts)
    m = len(plain)
    order = np.argsort(plain, kind="stable")
    want_of = {}
    running = 1.0
    for rank in range(m, 0, -1):
        value = plain[order[rank - 1]]
        running = min(running, value * (m / rank))
        want_of[value] = running
    got = distributed.q_values(p, family, counts)
    assert [float(x) for x in got] == [want_of[x] for x in p.tolist()]


def _stdout_without_time(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if not line.startswith(("time ", "wrote ")) and line.strip()
    ]


def test_cli_ray_prints_and_writes_the_local_result(
    nodes: Nodes, dataset: Path, tmp_path: Path
) -> None:
    nodes.use(1)
    runner = CliRunner()
    args = ["search", str(dataset), "--max-tags", "3", "--noise-runs", "2", "--labels", "0,1"]
    local = runner.invoke(cli, [*args, "-o", str(tmp_path / "local.parquet")])
    on_ray = runner.invoke(cli, [*args, "--ray", "-o", str(tmp_path / "ray.parquet")])
    assert local.exit_code == 0, local.output
    assert on_ray.exit_code == 0, on_ray.output
    assert _stdout_without_time(on_ray.stdout) == _stdout_without_time(local.stdout)
    assert "search on Ray" in on_ray.stdout and "3 classes on 1 node)" in on_ray.stdout
    assert "3/3 classes searched" in on_ray.stderr
    assert_frame_equal(
        pl.read_parquet(tmp_path / "ray.parquet"),
        pl.read_parquet(tmp_path / "local.parquet"),
        check_exact=True,
    )


def test_cli_ray_bad_input_is_one_line(nodes: Nodes, dataset: Path, tmp_path: Path) -> None:
    nodes.use(1)
    runner = CliRunner()
    missing = runner.invoke(cli, ["search", str(tmp_path / "nowhere"), "--ray"])
    assert missing.exit_code == 2
    assert "nowhere: file not found" in missing.stderr
    assert "Traceback" not in missing.output
    no_tags = tmp_path / "no_tags.parquet"
    pl.read_parquet(dataset / "part-00.parquet").drop("tags").write_parquet(no_tags)
    for extra in ([], ["--ray"]):
        result = runner.invoke(cli, ["search", str(no_tags), *extra])
        assert result.exit_code == 2
        assert "missing column 'tags'" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    # A bad row found by a worker: one line naming the class.
    bad = tmp_path / "bad"
    bad.mkdir()
    rows = pl.read_parquet(dataset / "part-01.parquet").drop("prediction")
    broken = pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("correct"))
    rows.with_columns(correct=broken).write_parquet(bad / "part.parquet")
    label = rows["label"][5]
    result = runner.invoke(cli, ["search", str(bad), "--ray"])
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert f"(rows of class {label!r}): column 'correct' is empty (null)" in last
    assert "Traceback" not in result.output


def test_noise_shuffles_too_large_for_the_driver_are_refused(
    planted: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver makes every shuffle (4 bytes per run and row) before the tasks start: past
    its budget the search stops before it connects, saying how many runs fit."""
    monkeypatch.setattr(distributed, "_NOISE_ORDERS_BYTES", 4 * planted.height * 10)
    with pytest.raises(prime_rs.ParameterError) as caught:
        distributed.search(planted, max_tags=2, ray=True, noise_runs=11)
    message = str(caught.value)
    assert message.startswith(f"noise_runs: 11 shuffles of {planted.height:,} rows take")
    assert "ask for at most 10 runs" in message
    # Only the searched classes' rows count.
    two = sorted(planted["label"].unique().to_list())[:2]
    rows = planted.filter(pl.col("label").is_in(two)).height
    assert rows < planted.height
    monkeypatch.setattr(distributed, "_NOISE_ORDERS_BYTES", 4 * rows * 10)
    with pytest.raises(prime_rs.ParameterError, match=rf"11 shuffles of {rows:,} rows"):
        distributed.search(planted, max_tags=2, labels=two, ray=True, noise_runs=11)


def test_cli_ray_without_ray_gives_the_install_hint(dataset: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from prime_rs.cli import main\n"
        f"sys.exit(main(['search', {str(dataset)!r}, '--ray']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "pip install 'prime_rs[ray]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_ray_true_starts_its_own_cluster_beside_a_running_one(nodes: Nodes) -> None:
    """``ray=True`` without RAY_ADDRESS starts a new local cluster, even though the module's
    cluster is running on this machine (and wrote its address where a bare ``ray.init()``
    would find and join it); it shuts that new cluster down at the end."""
    code = (
        "import ray\n"
        "from prime_rs import _ray\n"
        "with _ray.connect(True) as mod:\n"
        "    print(mod.get_runtime_context().gcs_address)\n"
        "print(ray.is_initialized())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    address, initialized = done.stdout.split()[-2:]
    assert address != nodes.cluster.address
    assert initialized == "False"
