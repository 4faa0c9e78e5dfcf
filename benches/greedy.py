"""Greedy (beam) search against the exhaustive search: speed-up and recall.

For every data set of the benchmark and for l = 4 and l = 6, runs the exhaustive search and
the greedy search (beam widths 20 and 100) on one index, with q-values off (both searches
then do only their own work), and reports the wall time of each, the speed-up, and the
recall: the share of exhaustive modes the greedy search finds. Greedy modes are always
exhaustive modes (checked here too), so precision is 1 by construction.

Run: ``python benches/greedy.py [--quick] [--only NAME]``; prints a markdown table and
writes it between the ``bench:greedy`` markers of benches/RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import prime_rs
from prime_rs import synthetic

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DATASETS = {
    "sparse": (synthetic.SPARSE, 30),
    "dense": (synthetic.DENSE, 30),
    "large": (synthetic.LARGE, 30),
    "ram-sized": (synthetic.RAM_SIZED, 100),
}
BEAMS = (20, 100)


def timed(fn, repeats: int = 3):  # type: ignore[no-untyped-def]
    """Best wall time of ``repeats`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(name: str, quick: bool) -> list[list[str]]:
    config, s = DATASETS[name]
    if quick:
        config = synthetic.Config(**{**config.__dict__, "n_classes": 3})
    index = prime_rs.TagIndex.from_samples(synthetic.generate(config).samples)
    rows = []
    for max_tags in (4, 6):
        params = {"max_tags": max_tags, "min_support": s, "q_values": False}
        t_exh, exhaustive = timed(lambda: index.search(**params).modes)  # noqa: B023
        keys = {(label, tuple(tags)) for label, tags in exhaustive.select("label", "tags").rows()}
        for beam in BEAMS:
            t_greedy, greedy = timed(
                lambda: index.search(**params, search="greedy", beam_width=beam).modes  # noqa: B023
            )
            found = {(label, tuple(tags)) for label, tags in greedy.select("label", "tags").rows()}
            assert found <= keys, "a greedy mode that the exhaustive search does not have"
            recall = len(found) / len(keys) if keys else 1.0
            rows.append(
                [
                    name + (" (quick)" if quick else ""),
                    str(max_tags),
                    str(beam),
                    f"{len(keys):,}",
                    f"{len(found):,}",
                    f"{recall:.1%}",
                    f"{t_exh * 1000:,.0f} ms",
                    f"{t_greedy * 1000:,.0f} ms",
                    f"{t_exh / t_greedy:.1f}x",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 classes per data set")
    ap.add_argument("--only", choices=sorted(DATASETS), action="append")
    args = ap.parse_args()
    if prime_rs.build_profile != "release":
        raise SystemExit("benchmarks need a release build: run `make dev`")
    header = ["data set", "l", "beam", "exhaustive modes", "greedy modes", "recall",
              "exhaustive", "greedy", "speed-up"]  # fmt: skip
    rows = []
    for name in args.only or list(DATASETS):
        rows += run(name, args.quick)
    table = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        + ["| " + " | ".join(r) + " |" for r in rows]
    )
    block = (
        "<!-- bench:greedy:begin -->\n## Greedy search: speed-up and recall\n\n"
        f"`python benches/greedy.py{' --quick' if args.quick else ''}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; one index per data set, "
        "q-values off, best of 3 runs, 2 threads.\n\n" + table + "\n<!-- bench:greedy:end -->"
    )
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    pattern = re.compile(r"<!-- bench:greedy:begin -->.*?<!-- bench:greedy:end -->", re.S)
    text = pattern.sub(block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    RESULTS.write_text(text.strip() + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
