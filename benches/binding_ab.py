"""A/B of two builds of prime_rs on the four benchmark data sets: index build, search, peak RSS.

Each side is a folder holding a ``prime_rs`` package (its Python code and its compiled
``_engine``), given on the command line; every measurement runs in a fresh process with that
folder first on ``sys.path``, the sides taking turns (A, B, A, B, ...) so that a change in the
machine's load falls on both alike. The data sets are those of ``benches/run.py`` (the same
generator and Parquet files). Each process builds the index (``TagIndex.from_samples`` on the
Parquet file read once: validation, encoding, bitmaps) and runs the method's search through
the public API (the mode table included); the best of ``--repeat`` calls of each is kept,
with the process's peak RSS, and a digest of the mode table, which must be equal both ways.

    python benches/binding_ab.py --a BEFORE_DIR --b AFTER_DIR [--rounds 2] [--repeat 3]
        [--datasets sparse dense ...] [--no-search]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

import run as bench  # noqa: E402  (benches/run.py: the data sets and their files)

WORKER = r"""
import hashlib, json, resource, sys, time
import polars as pl
import prime_rs

job = json.loads(sys.argv[1])
df = pl.read_parquet(job["data"])
params = dict(max_tags=job["max_tags"], min_support=job["min_support"], min_drop=job["min_drop"],
              necessity=tuple(job["necessity"]))
build, search = [], []
for _ in range(job["repeat"]):
    t0 = time.perf_counter()
    index = prime_rs.TagIndex.from_samples(df)
    t1 = time.perf_counter()
    modes = index.search(**params).modes if job["search"] else pl.DataFrame()
    t2 = time.perf_counter()
    build.append(t1 - t0)
    search.append(t2 - t1)
print(json.dumps({
    "file": prime_rs.__file__, "profile": prime_rs.build_profile,
    "build_s": min(build), "search_s": min(search), "n_modes": modes.height,
    "digest": hashlib.sha1(modes.write_ndjson().encode()).hexdigest(),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def measure(side: Path, job: dict[str, object]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(side)}
    out = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(job)],
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    if not str(result["file"]).startswith(str(side)):
        raise SystemExit(f"{side}: imported {result['file']} instead")
    if result["profile"] != "release":
        raise SystemExit(f"{side}: a {result['profile']} build; benchmarks need release")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True, help="folder holding prime_rs (before)")
    parser.add_argument("--b", type=Path, required=True, help="folder holding prime_rs (after)")
    parser.add_argument("--rounds", type=int, default=2, help="processes per side and data set")
    parser.add_argument("--repeat", type=int, default=3, help="calls per process (best kept)")
    parser.add_argument("--datasets", nargs="*", default=[d.name for d in bench.DATASETS])
    parser.add_argument("--no-search", action="store_true", help="time the index build only")
    args = parser.parse_args()
    sides = {"a": args.a.resolve(), "b": args.b.resolve()}
    print(f"machine busy before the run: {bench.busy_fraction()}")
    print(
        "| data set | build A | build B | B/A | search A | search B | B/A | RSS A | RSS B | modes |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for ds in bench.DATASETS:
        if ds.name not in args.datasets:
            continue
        job = {
            "data": str(bench.dataset_file(ds)),
            "max_tags": ds.max_tags,
            "min_support": ds.min_support,
            "min_drop": bench.MIN_DROP,
            "necessity": list(bench.NECESSITY),
            "repeat": args.repeat,
            "search": not args.no_search,
        }
        runs: dict[str, list[dict[str, object]]] = {"a": [], "b": []}
        for _ in range(args.rounds):
            for key, side in sides.items():
                runs[key].append(measure(side, job))

        def best(key: str, what: str, runs: dict[str, list[dict[str, object]]] = runs) -> float:
            return min(float(r[what]) for r in runs[key])  # type: ignore[arg-type]

        digests = {str(r["digest"]) for rs in runs.values() for r in rs}
        same = "equal" if len(digests) == 1 else "DIFFERENT"
        ba, bb, sa, sb = (best(k, w) for w in ("build_s", "search_s") for k in ("a", "b"))
        ra, rb = (max(float(r["peak_rss_mb"]) for r in runs[k]) for k in ("a", "b"))  # type: ignore[arg-type]
        n_modes = runs["b"][0]["n_modes"]
        print(
            f"| {ds.name} | {ba:.3f} s | {bb:.3f} s | {bb / ba:.2f} | {sa:.3f} s | {sb:.3f} s | "
            f"{sb / sa:.2f} | {ra:.0f} MB | {rb:.0f} MB | {n_modes} {same} |",
            flush=True,
        )
    print(f"machine busy after the run: {bench.busy_fraction()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
