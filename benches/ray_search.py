"""The distributed search's overhead against the local search, on the same data, in one run.

The large synthetic set of ``benches/run.py`` (17 classes of 60,000 samples, about 1 M rows),
as one Parquet file (what the local search reads) and as a folder of Parquet files (what a
cluster's workers read, each only its class's rows). Both searches use the same parameters
(the paper's: max_tags 4, min_support 30, min_drop 30%, q-values on); the Ray run's result is
checked equal to the local one. The local cluster is started before the clock runs (its
start-up is printed apart), so the ratio is the per-search overhead: the driver reading the
label column, one task per class reading its rows and building its index, the transfers, and
the q-values on the driver.

Usage::

    python benches/ray_search.py                 # a local cluster of this machine's cores
    python benches/ray_search.py --repeat 3 --files 8
    python benches/ray_search.py --address auto  # a running cluster (the data must be on
                                                 # a path every node reads)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

import prime_rs  # noqa: E402
import run as bench_run  # noqa: E402  (benches/run.py: the data sets)
from prime_rs import distributed  # noqa: E402


def parquet_folder(path: Path, files: int, row_group: int) -> Path:
    """The data set split into ``files`` Parquet files (rows in their order, row groups of
    ``row_group`` rows, whose statistics let a worker skip other classes' rows), made once."""
    folder = path.with_suffix(f".{files}-files-{row_group}")
    if folder.exists():
        return folder
    df = pl.read_parquet(path)
    tmp = folder.with_suffix(".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    step = -(-df.height // files)
    for i in range(files):
        part = df[i * step : (i + 1) * step]
        part.write_parquet(tmp / f"part-{i:03d}.parquet", row_group_size=row_group)
    tmp.rename(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="large", help="a data set of benches/run.py")
    parser.add_argument("--files", type=int, default=8, help="Parquet files of the folder")
    parser.add_argument("--row-group", type=int, default=10_000, help="rows per row group")
    parser.add_argument("--repeat", type=int, default=3, help="searches of each kind")
    parser.add_argument("--address", default=None, help="a running Ray cluster's address")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of the local cluster")
    args = parser.parse_args(argv)

    import ray

    ds = next(d for d in bench_run.DATASETS if d.name == args.dataset)
    path = bench_run.dataset_file(ds)
    folder = parquet_folder(path, args.files, args.row_group)
    params = prime_rs.SearchParams(max_tags=ds.max_tags, min_support=ds.min_support)
    rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    busy = bench_run.busy_fraction()
    print(
        f"data     {ds.name}: {rows:,} rows, {args.files} files, row groups of "
        f"{args.row_group:,}; params {params}"
    )
    print(f"machine  {os.cpu_count()} cores, busy before the run: {busy:.0%}" if busy else "")

    start = time.perf_counter()
    if args.address:
        ray.init(address=args.address, logging_level="ERROR", log_to_driver=False)
    else:
        ray.init(
            address="local",  # a new cluster, never another one running on this machine
            num_cpus=args.cpus,
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
        )
    print(f"cluster  started in {time.perf_counter() - start:.1f} s: {ray.cluster_resources()}")

    local_s, ray_s = [], []
    want = got = None
    for _ in range(args.repeat):  # alternate, so that a change in load hits both
        t = time.perf_counter()
        want = prime_rs.find_failure_modes(path, params)
        local_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        got = distributed.search(folder, params, ray=True).result.modes
        ray_s.append(time.perf_counter() - t)
        print(f"  local {local_s[-1]:.2f} s, ray {ray_s[-1]:.2f} s")
    assert want is not None and got is not None
    assert_frame_equal(got, want, check_exact=True)
    busy_after = bench_run.busy_fraction()
    ray.shutdown()

    lo, rm = statistics.median(local_s), statistics.median(ray_s)
    print(
        f"result   {want.height} modes, equal. Median of {args.repeat}: local {lo:.2f} s "
        f"(read + index + search), Ray {rm:.2f} s: {rm / lo:.2f}x the local time "
        f"(best {min(local_s):.2f} / {min(ray_s):.2f} s)"
    )
    if busy_after is not None:
        print(f"machine  busy after the run: {busy_after:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
