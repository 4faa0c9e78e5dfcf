"""The engine's thread pools: kept from call to call, and safe across a fork.

A search runs on a rayon pool of the thread count asked for. Pools are kept between calls
(starting threads, and their first memory, costs a short search more than its work), so
these tests check what keeping them must not change: results with every thread count, and
a forked child process (as DataLoader workers and multiprocessing make), which has none of
its parent's threads and must search on pools of its own rather than hang.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import numpy as np
import polars as pl
import pytest

import prime_rs
from prime_rs import _engine, synthetic

PARAMS = {"max_tags": 3, "min_support": 20, "min_drop": 0.2}


@pytest.fixture(scope="module")
def samples() -> pl.DataFrame:
    return synthetic.generate(synthetic.SMALL).samples


def test_many_thread_counts_agree(samples: pl.DataFrame) -> None:
    """More thread counts than the pools kept, in turns, some twice: one result."""
    index = prime_rs.TagIndex.from_samples(samples)
    first = index.search(**PARAMS, threads=1).modes
    assert first.height > 0
    for threads in (2, 3, 5, 1, 4, 6, 2, None, 7, 3):
        assert index.search(**PARAMS, threads=threads).modes.equals(first)
        assert index.frequent_sets(max_tags=2, min_support=20, threads=threads).height > 0


def _engine_run(index: prime_rs.TagIndex) -> list[object]:
    """Every engine call that runs on a pool, through the engine module alone (numpy in and
    out): Polars keeps a thread pool of its own, which a forked child cannot use either."""
    engine = index._engine
    search = {
        "max_tags": 3, "min_support": 20, "min_drop": 0.2, "necessity": [0.1, 0.05],
        "min_tag_count": None, "classes": None, "beam_width": None, "q_values": True,
    }  # fmt: skip
    results: list[object] = []
    for threads in (2, None, 1):
        out = engine.search(**search, threads=threads)
        results.append({k: v.tolist() for k, v in out.items()})
        sets = engine.frequent_sets(
            max_tags=2, min_support=20, min_tag_count=None, classes=None, threads=threads
        )
        results.append({k: v.tolist() for k, v in sets.items()})
    n = len(index._class_ids)
    rebuilt = _engine.TagIndex.from_csr(
        np.zeros(n + 1, dtype=np.uint64),
        np.zeros(0, dtype=np.uint32),
        np.asarray(index._class_ids, dtype=np.uint32),
        np.asarray(index._correct, dtype=np.bool_),
        len(index.labels),
        1,
    )
    results.append([a.tolist() for a in rebuilt.class_counts()])
    return results


def _child(index: prime_rs.TagIndex, expected: list[object], queue: mp.Queue) -> None:
    queue.put(_engine_run(index) == expected)


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the default start method on Linux")
def test_a_forked_child_searches(samples: pl.DataFrame) -> None:
    index = prime_rs.TagIndex.from_samples(samples)
    # The parent's pools exist (and their threads run) when the child is forked.
    expected = _engine_run(index)
    context = mp.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(index, expected, queue))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        os.kill(child.pid, 9)
        pytest.fail("the forked child's search hung")
    assert child.exitcode == 0
    assert queue.get(timeout=5) is True
    # And the parent's pools still work.
    assert _engine_run(index) == expected


_LONG_SEARCH = """
import sys, time
import numpy as np, polars as pl, prime_rs
rng = np.random.default_rng(0)
n, k = 3000, 40
tags = [[f"t{j}" for j in range(k) if rng.random() < 0.6] for _ in range(n)]
samples = pl.DataFrame(
    {"id": range(n), "label": ["a"] * n, "correct": rng.random(n) < 0.8, "tags": tags}
)
index = prime_rs.TagIndex.from_samples(samples)
print("searching", flush=True)
start = time.monotonic()
try:
    index.search(max_tags=10, min_support=1, threads=int(sys.argv[1]))
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - start:.1f} s", flush=True)
else:
    print("finished", flush=True)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="sends SIGINT")
@pytest.mark.parametrize("threads", [1, 2])
def test_ctrl_c_stops_a_long_search(threads: int) -> None:
    """Ctrl-C during a search (a lattice of about a billion sets, hours of work) raises
    KeyboardInterrupt within moments: the calling thread watches for it while the pool works,
    and the walk stops at its next check."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LONG_SEARCH, str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "searching", proc.communicate()
        time.sleep(0.5)  # well into the search
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        stopped_in = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.startswith("interrupted after"), (out, err)
    assert stopped_in < 10, stopped_in
