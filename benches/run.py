"""Side-by-side benchmark: prime_rs against its peers, on the same synthetic data, in one run.

``make bench`` runs this (after setting up the peers' environments). Each tool runs in a process
of its own (``benches/workers.py``), so that its wall time and peak memory (the high-water mark
of that process's resident size) are its own; slow tools get a timeout, memory-hungry ones a
cap on resident memory.

Tools:

* ``prime_rs``: samples table -> index, the full search (support, accuracy, minimality) with
  1 and 2 threads, and ``frequent_sets`` (the whole lattice, as a DataFrame);
* ``reference``: the pure-Python search of ``benches/reference.py``, run class by class until
  a time budget is spent, then extrapolated (clearly labelled);
* ``pyfim`` (Borgelt's C FP-growth): counts the frequent sets per class (pattern spectrum, no
  set is built), a lower bound on the work;
* ``mlxtend`` fpgrowth: frequent sets with their supports, per class;
* ``divexplorer``: frequent sets with support and accuracy (the closest peer);
* ``pysubgroup``: exhaustive depth-first subgroup discovery with a support constraint (in its
  own environment, as it pins numpy < 2).

The peers compute less than the PRIME search (no drop, no minimality), so their times are lower
bounds for it. Results are printed and written to ``benches/RESULTS.md`` (``--quick``: to
``benches/out/RESULTS-quick.md``); the data sets are generated once into ``benches/out/data``.

Usage::

    python benches/run.py                # everything (tens of minutes on 2 cores)
    python benches/run.py --quick        # a 3-class sparse set, short timeouts: a smoke test
    python benches/run.py --only dense   # one data set (or tool: --only pyfim,dense)
    python benches/run.py --skip-peers   # prime_rs alone
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import inspect
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

BENCHES = Path(__file__).resolve().parent
ROOT = BENCHES.parent
OUT = BENCHES / "out"
WORKERS = BENCHES / "workers.py"
RESULTS = BENCHES / "RESULTS.md"

PEERS = ("pyfim", "mlxtend", "divexplorer", "pysubgroup")
TOOLS = ("prime_rs", "reference", *PEERS)
WHAT = {
    "reference": "modes (pure Python)",
    "pyfim": "count frequent sets",
    "mlxtend": "frequent sets + support",
    "divexplorer": "frequent sets + support + accuracy",
    "pysubgroup": "frequent sets + support + accuracy",
}
MIN_DROP = 0.30
NECESSITY = (0.10, 0.05, 0.025)


@dataclass(frozen=True)
class Dataset:
    """A benchmark data set: a preset of ``prime_rs.synthetic`` (or, with ``real``, a real
    data set of ``benches/real.py``) and the search parameters."""

    name: str
    preset: str
    title: str
    max_tags: int = 4
    min_support: int = 30
    timeout_s: float = 300.0  # for the reference's budget and the peers
    overrides: tuple[tuple[str, Any], ...] = ()
    min_drop: float = MIN_DROP
    real: bool = False
    # The peers run on it (None: all); `frequent_sets` and pyfim's set-producing miners
    # go up to `lattice_max_tags` tags (None: max_tags).
    tools: tuple[str, ...] | None = None
    lattice_max_tags: int | None = None

    def config(self) -> Any:
        from prime_rs import synthetic

        return replace(getattr(synthetic, self.preset), **dict(self.overrides))

    def describe_source(self) -> str:
        if self.real and self.preset == "digits":
            return "scikit-learn's bundled `load_digits`, loaded by `benches/real.py` as `digits`"
        if self.real:
            return f"`benches/data/`, loaded by `benches/real.py` as `{self.preset}`"
        return f"`prime_rs.synthetic.{self.preset}`" + (
            f" with {dict(self.overrides)}" if self.overrides else ""
        )


DATASETS = (
    Dataset("sparse", "SPARSE", "Living17-shaped, sparse", timeout_s=300),
    Dataset("dense", "DENSE", "Living17-shaped, dense", timeout_s=600),
    Dataset("large", "LARGE", "large", timeout_s=180),
    Dataset("ram", "RAM_SIZED", "RAM-sized", max_tags=6, min_support=100, timeout_s=180),
    # Real public data (benches/data/README.md), two or three classes, a naive Bayes model's errors.
    Dataset(
        "chess",
        "chess",
        "UCI chess (kr-vs-kp, FIMI), real, dense",
        max_tags=5,
        min_support=32,
        min_drop=0.15,
        real=True,
        tools=("pyfim",),
        lattice_max_tags=4,
        timeout_s=300,
    ),
    Dataset(
        "mushroom",
        "mushroom",
        "UCI mushroom (FIMI), real",
        max_tags=4,
        min_support=40,
        min_drop=0.05,
        real=True,
        tools=("pyfim",),
        timeout_s=300,
    ),
    Dataset(
        "connect",
        "connect",
        "UCI connect-4 (FIMI), first 10,000 rows, one cell as the label, real, dense",
        max_tags=5,
        min_support=100,
        min_drop=0.15,
        real=True,
        tools=("pyfim",),
        lattice_max_tags=4,
        timeout_s=300,
    ),
    Dataset(
        "digits",
        "digits",
        "scikit-learn digits (UCI optical digits, 8 x 8), inked pixels as tags, real, dense",
        max_tags=5,
        min_support=18,
        min_drop=0.1,
        real=True,
        tools=("pyfim",),
        timeout_s=300,
    ),
    Dataset(
        "adult",
        "adult",
        "UCI adult, binned, real",
        max_tags=5,
        min_support=100,
        min_drop=0.1,
        real=True,
        tools=("pyfim",),
        timeout_s=300,
    ),
)
QUICK = (
    Dataset(
        "sparse-quick", "SPARSE", "Living17-shaped, sparse, first 3 classes only (--quick)",
        timeout_s=60, overrides=(("n_classes", 3),),
    ),
    Dataset(
        "chess-quick", "chess", "UCI chess (kr-vs-kp, FIMI), real, l = 3 (--quick)",
        max_tags=3, min_support=32, min_drop=0.15, real=True, tools=("pyfim",), timeout_s=60,
    ),
)  # fmt: skip


# -- machine ------------------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(x) for x in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values), idle


def busy_fraction(seconds: float = 1.0) -> float | None:
    """Share of all cores busy over ``seconds`` (with nothing of ours running), or None."""
    try:
        total0, idle0 = _cpu_times()
        time.sleep(seconds)
        total1, idle1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    commit = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if dirty:
            commit += " + uncommitted changes"
    return {
        "cpu": cpu,
        "cores": cores,
        "mem_gb": mem_kb / 2**20,
        "mem_kb": mem_kb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "commit": commit,
    }


# -- running one tool -------------------------------------------------------------------------


@dataclass
class Run:
    """How one tool's process went."""

    tool: str
    status: str  # ok | timeout | memory | failed | missing
    wall_s: float = 0.0
    maxrss_kb: int = 0
    cpu_s: float = 0.0
    result: dict[str, Any] | None = None
    progress: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    date: str = ""
    reused: bool = False  # read back from an earlier run (--reuse-peers)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.result is not None

    def per_class(self) -> dict[str, int]:
        """Frequent sets per class, from the result or, after a timeout, the progress."""
        if self.result is not None and "per_class" in self.result:
            return dict(self.result["per_class"])
        return {p["label"]: int(p["count"]) for p in self.progress if "label" in p}

    def classes_done(self) -> list[dict[str, Any]]:
        return [p for p in self.progress if "label" in p]

    @property
    def version(self) -> str:
        if self.result and self.result.get("version"):
            return str(self.result["version"])
        return next((str(p["version"]) for p in self.progress if "version" in p), "")


def _memory_kb(pid: int) -> tuple[int, int]:
    """(resident now, peak resident) of a running process, in KiB; zeros if unknown."""
    found = {}
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line[:5]] = int(line.split()[1])
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


def run_tool(
    tool: str, python: Path, job: dict[str, Any], *, workdir: Path, timeout_s: float,
    max_rss_kb: int,
) -> Run:  # fmt: skip
    """Run one worker process; stop it at the timeout or the memory cap."""
    if not python.exists():
        return Run(tool, "missing", message=f"{python} not found (`make bench` installs it)")
    workdir.mkdir(parents=True, exist_ok=True)
    job = {
        **job,
        "out": str(workdir / f"{tool}.result.json"),
        "progress": str(workdir / f"{tool}.progress.jsonl"),
    }
    for key in ("out", "progress"):
        Path(job[key]).unlink(missing_ok=True)
    job_path = workdir / f"{tool}.job.json"
    job_path.write_text(json.dumps(job, indent=1))
    log_path = workdir / f"{tool}.log"
    env = dict(os.environ)
    if tool != "prime_rs":  # the peers are single-threaded; keep BLAS from spinning up threads
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    status = "ok"
    peak_kb = 0
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(python), str(WORKERS), tool, str(job_path)], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            while True:
                pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                elapsed = time.perf_counter() - start
                rss_kb, hwm_kb = _memory_kb(proc.pid)
                peak_kb = max(peak_kb, hwm_kb)
                if elapsed > timeout_s:
                    status = "timeout"
                elif max_rss_kb and rss_kb > max_rss_kb:
                    status = "memory"
                if status != "ok":
                    os.killpg(proc.pid, signal.SIGKILL)
                    pid, wait_status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.02 if elapsed < 1 else 0.1)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
    # Not usage.ru_maxrss: on Linux it keeps, through exec, the resident size of this (large)
    # process at the fork. VmHWM belongs to the worker's own address space.
    run = Run(tool, status, wall_s=wall, maxrss_kb=peak_kb, cpu_s=usage.ru_utime + usage.ru_stime)
    progress = Path(job["progress"])
    if progress.exists():
        run.progress = [json.loads(x) for x in progress.read_text().splitlines() if x.strip()]
    if status == "ok":
        if proc.returncode == 0 and Path(job["out"]).exists():
            run.result = json.loads(Path(job["out"]).read_text())
            run.maxrss_kb = max(run.maxrss_kb, int(run.result.get("peak_rss_kb", 0)))
        else:
            run.status = "failed"
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            run.message = f"exit code {proc.returncode}: " + " | ".join(tail)
    elif status == "timeout":
        run.message = f"timeout > {timeout_s:.0f} s"
    else:
        run.message = f"stopped at {max_rss_kb / 2**20:.1f} GB resident (--max-rss-gb)"
    run.date = now()
    meta = {
        "job": _job_key(job), "status": run.status, "wall_s": run.wall_s,
        "maxrss_kb": run.maxrss_kb, "cpu_s": run.cpu_s, "message": run.message, "date": run.date,
    }  # fmt: skip
    (workdir / f"{tool}.run.json").write_text(json.dumps(meta))
    return run


def _job_key(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in ("data", "max_tags", "min_support", "min_drop", "necessity")}


def previous_run(tool: str, job: dict[str, Any], workdir: Path) -> Run | None:
    """The last run of ``tool`` on the same data and parameters, from ``benches/out/runs``."""
    try:
        meta = json.loads((workdir / f"{tool}.run.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("job") != json.loads(json.dumps(_job_key(job))):
        return None
    run = Run(
        tool, meta["status"], wall_s=meta["wall_s"], maxrss_kb=meta["maxrss_kb"],
        cpu_s=meta["cpu_s"], message=meta["message"], date=meta["date"], reused=True,
    )  # fmt: skip
    progress = workdir / f"{tool}.progress.jsonl"
    if progress.exists():
        run.progress = [json.loads(x) for x in progress.read_text().splitlines() if x.strip()]
    if run.status == "ok":
        try:
            run.result = json.loads((workdir / f"{tool}.result.json").read_text())
        except (OSError, ValueError):
            return None
    return run


def now() -> str:
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


# -- data -----------------------------------------------------------------------------------


def dataset_file(ds: Dataset) -> Path:
    """The data set's Parquet file, generated on first use (keyed by its config, or by the
    real data's loader and raw file)."""
    from prime_rs import synthetic

    if ds.real:
        raw = sorted((BENCHES / "data").glob(f"{ds.preset}.*"))
        source = (BENCHES / "real.py").read_bytes() + b"".join(p.read_bytes() for p in raw)
        key = hashlib.sha1(source).hexdigest()[:10]
    else:
        key = hashlib.sha1(repr(ds.config()).encode()).hexdigest()[:10]
    path = OUT / "data" / f"{ds.name}-{key}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        if ds.real:
            sys.path.insert(0, str(BENCHES))
            import real

            samples = real.load(ds.preset)
        else:
            samples = synthetic.generate(ds.config()).samples
        tmp = path.with_suffix(".tmp")
        samples.write_parquet(tmp)
        tmp.rename(path)
        say(f"  generated {path.relative_to(ROOT)} in {time.perf_counter() - start:.1f} s")
    return path


def describe(path: Path) -> dict[str, Any]:
    import polars as pl

    df = pl.read_parquet(path, columns=["label", "tags"])
    per_class = df.explode("tags").drop_nulls().group_by("label").agg(pl.col("tags").n_unique())
    return {
        "n_samples": df.height,
        "n_classes": df["label"].n_unique(),
        "tags_per_sample": float(df["tags"].list.len().mean() or 0.0),
        "tags_per_class": float(per_class["tags"].mean() or 0.0),
        "vocabulary": df["tags"].explode().drop_nulls().n_unique(),
    }


# -- checks ---------------------------------------------------------------------------------


def check_counts(name: str, run: Run, truth: dict[str, int], source: str) -> str | None:
    counts = run.per_class()
    if not counts or not truth:
        return None
    bad = [(k, v, truth.get(k)) for k, v in sorted(counts.items()) if truth.get(k) != v]
    total = sum(counts.values())
    part = "" if len(counts) == len(truth) else " (those it finished)"
    if not bad:
        return (
            f"{name}: frequent sets per class equal to {source} on {len(counts)}/{len(truth)} "
            f"classes{part}: {total:,} sets"
        )
    shown = "; ".join(f"{k}: {v:,} vs {t}" for k, v, t in bad[:5])
    return (
        f"**{name}: {len(bad)} of {len(counts)} classes differ from {source}** "
        f"({name} vs {source}): {shown}{' ...' if len(bad) > 5 else ''}"
    )


def check_sample(name: str, run: Run, index: Any) -> str | None:
    if not run.ok or not run.result or not run.result.get("sample"):
        return None
    sample = run.result["sample"]
    with_acc = sum(1 for x in sample if x["n_correct"] is not None)
    bad = []
    for x in sample:
        got = index.stats(x["label"], x["tags"])
        if got["support"] != x["support"] or (
            x["n_correct"] is not None and got["n_correct"] != x["n_correct"]
        ):
            bad.append((x, got))
    what = "support and accuracy" if with_acc else "support"
    if not bad:
        return f"{name}: {len(sample)}/{len(sample)} randomly sampled sets have the same {what}"
    x, got = bad[0]
    return (
        f"**{name}: {len(bad)} of {len(sample)} sampled sets differ**, e.g. {x['label']} "
        f"{x['tags']}: {name} {x['support']}/{x['n_correct']}, prime_rs "
        f"{got['support']}/{got['n_correct']}"
    )


def check_full_class(run: Run, index: Any, ds: Dataset) -> str | None:
    full = (run.result or {}).get("full_class")
    if not full:
        return None
    lattice = index.frequent_sets(
        max_tags=ds.max_tags, min_support=ds.min_support, labels=[full["label"]]
    )
    ours = {(tuple(t), int(n)) for t, n in zip(lattice["tags"], lattice["support"], strict=True)}
    theirs = {(tuple(t), int(n)) for t, n in full["sets"]}
    if ours == theirs:
        return (
            f"pyfim: class {full['label']!r} compared set by set (with supports): "
            f"{len(ours):,} sets, identical"
        )
    return (
        f"**pyfim: class {full['label']!r} differs set by set**: {len(theirs - ours)} only in "
        f"pyfim, {len(ours - theirs)} only in prime_rs"
    )


def check_reference(run: Run, index: Any, ds: Dataset) -> str | None:
    done = list((run.result or {}).get("per_class", {}))
    if not done:
        return None
    extra = {"q_values": False} if "q_values" in inspect.signature(index.search).parameters else {}
    modes = index.search(
        max_tags=ds.max_tags, min_support=ds.min_support, min_drop=ds.min_drop,
        necessity=NECESSITY, labels=done, **extra,
    ).modes  # fmt: skip
    ours = {
        (lab, tuple(t), int(n)): acc
        for lab, t, n, acc in zip(
            modes["label"], modes["tags"], modes["support"], modes["accuracy"], strict=True
        )
    }
    theirs = {
        (m["label"], tuple(m["tags"]), m["support"]): m["accuracy"] for m in run.result["modes"]
    }
    if ours.keys() == theirs.keys() and all(abs(ours[k] - theirs[k]) < 1e-12 for k in ours):
        return (
            f"reference: the same {len(ours)} failure modes (sets, supports, accuracies) on the "
            f"{len(done)} of {len(index.labels)} classes it finished"
        )
    return (
        f"**reference: modes differ on its {len(done)} classes**: "
        f"{len(theirs.keys() - ours.keys())} only in the reference, "
        f"{len(ours.keys() - theirs.keys())} only in prime_rs"
    )


# -- formatting -------------------------------------------------------------------------------


def seconds(x: float | None) -> str:
    if x is None:
        return "–"
    if x < 0.01:
        return f"{x * 1000:.2f} ms"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    if x < 100:
        return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"
    return f"{x:,.0f} s"


def megabytes(kb: int | None) -> str:
    if not kb:
        return "–"
    mb = kb / 1024
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:,.0f} MB"


def ratio(x: float | None, base: float | None, prefix: str = "") -> str:
    if x is None or not base:
        return "–"
    r = x / base
    digits = ",.0f" if r >= 10 else ".1f" if r >= 1 else ".2f"
    return f"{prefix}{r:{digits}}×"


@dataclass
class PeerRow:
    """A peer's line in the table: its run time, measured or estimated."""

    run: Run
    run_s: float | None  # measured, or a lower bound (timeout) or an estimate
    kind: str  # measured | estimate | lower
    text: str


def peer_time(run: Run, total_sets: int | None, n_classes: int) -> PeerRow:
    if run.ok and run.tool != "reference":
        return PeerRow(run, run.result["run_s"], "measured", seconds(run.result["run_s"]))  # type: ignore[index]
    if run.tool == "reference" and run.ok:
        res = run.result or {}
        done = len(res.get("per_class", {}))
        visited = res.get("n_sets", 0) + ((res.get("partial") or {}).get("visited") or 0)
        if res.get("partial") is None and done == n_classes:
            return PeerRow(run, res["run_s"], "measured", seconds(res["run_s"]))
        if visited and total_sets:
            est = res["run_s"] * total_sets / visited
            return PeerRow(
                run, est, "estimate",
                f"≈ {seconds(est)} (extrapolated: {visited:,} of {total_sets:,} frequent sets, "
                f"{done}/{n_classes} classes, in a {res['budget_s']:g} s budget)",
            )  # fmt: skip
        return PeerRow(run, None, "estimate", f"> {res.get('budget_s', 0):g} s budget")
    if run.status == "timeout":
        done = run.classes_done()
        sets_done = sum(p["count"] for p in done)
        if done and total_sets and sets_done:
            est = done[-1]["run_s"] * total_sets / sets_done
            return PeerRow(
                run, est, "estimate",
                f"{run.message}; run ≈ {seconds(est)}, extrapolated from {len(done)}/{n_classes}"
                " classes",
            )  # fmt: skip
        return PeerRow(run, run.wall_s, "lower", run.message)
    return PeerRow(run, None, "failed", f"{run.status}: {run.message}")


def sets_column(run: Run, n_classes: int) -> str:
    """Frequent sets the tool found; "(partial)" when it did not finish every class."""
    r = run.result or {}
    partial = r.get("partial") or {}
    if run.ok and (run.tool != "reference" or (not partial and len(r["per_class"]) == n_classes)):
        return f"{r['n_sets']:,}"
    counts = run.per_class()
    found = sum(counts.values()) + (partial.get("visited") or 0)
    return f"{found:,} (partial)" if found else "–"


def render(
    ds: Dataset, info: dict[str, Any], mach: dict[str, Any], meta: dict[str, Any],
    prime: Run, lattice: Run | None, peers: list[Run], checks: list[str],
) -> str:  # fmt: skip
    lines = [f"## {ds.name}: {ds.title}", ""]
    lines.append(
        f"{info['n_classes']} classes, {info['n_samples']:,} samples, "
        f"{info['tags_per_class']:.0f} tags per class, {info['tags_per_sample']:.1f} tags per "
        f"sample, vocabulary {info['vocabulary']:,} ({ds.describe_source()}"
        + f"); l = {ds.max_tags}, s = {ds.min_support}, a = {ds.min_drop}, "
        f"b = {', '.join(map(str, NECESSITY))}"
        + (
            f"; `frequent_sets` with l = {ds.lattice_max_tags}"
            if ds.lattice_max_tags and ds.lattice_max_tags != ds.max_tags
            else ""
        )
        + "."
    )
    lines.append("")
    lines.append(
        f"Run {meta['date']} with `{meta['command']}` on {mach['cpu']}, {mach['cores']} cores, "
        f"{mach['mem_gb']:.0f} GB RAM ({mach['os']}, Python {mach['python']}), commit "
        f"{mach['commit']}. {meta['load_note']}"
    )
    lines.append("")
    res = prime.result or {}
    threads = sorted(int(t) for t in res.get("search_s", {}))
    search = {int(t): s for t, s in res.get("search_s", {}).items()}
    base = search.get(max(threads)) if threads else None
    n_sets = (lattice.result or {}).get("n_sets") if lattice and lattice.ok else None
    if not prime.ok:
        lines += [f"**prime_rs failed**: {prime.status}: {prime.message}", ""]
    else:
        lines += [
            f"**prime_rs {res['version']}** ({res['build_profile']} build); the build and the "
            f"searches: the best of {meta['repeat']} runs (of up to 20 when they take under a "
            "second in all); the build and the 1- and 2-thread searches take turns, so a change "
            "in the machine's speed falls on all three:",
            "",
            "| step | time | notes |",
            "| --- | --- | --- |",
            f"| read the Parquet samples table | {seconds(res['load_s'])} | polars |",
            f"| samples table -> index | {seconds(res['build_s'])} | `TagIndex.from_samples`"
            + (
                f"; its first, cold call: {seconds(res['build_first_s'])} |"
                if "build_first_s" in res
                else " |"
            ),
        ]
        for t in threads:
            note = (
                f"{res['n_modes']:,} failure modes; {res['sets_tested']:,} sets tested"
                if t == threads[0]
                else f"speed-up {search[threads[0]] / search[t]:.2f}× over {threads[0]} thread"
            )
            lines.append(
                f"| search, {t} thread{'s' if t > 1 else ''} | {seconds(search[t])} | {note} |"
            )
        q_search = {int(t): v for t, v in res.get("search_q_s", {}).items()}
        for t, secs in sorted(q_search.items()):
            note = (
                f"+{secs / search[t] - 1:.0%} over the search without q-values"
                if search.get(t)
                else ""
            )
            if t != min(q_search) and q_search.get(min(q_search)):
                note += f"; speed-up {q_search[min(q_search)] / secs:.2f}× over 1 thread"
            lines.append(
                f"| search with q-values (the default), {t} thread{'s' if t > 1 else ''} | "
                f"{seconds(secs)} | {note} |"
            )
        if lattice is not None:
            if lattice.ok:
                lr = lattice.result or {}
                lines.append(
                    f"| `frequent_sets`, {max(threads or [2])} threads | "
                    f"{seconds(lr['lattice_s'])} | {lr['n_sets']:,} frequent sets, as a DataFrame"
                    + (
                        f" (the best of {meta['repeat']} runs; its first, cold call: "
                        f"{seconds(lr['lattice_first_s'])}) |"
                        if "lattice_first_s" in lr
                        else " (one run) |"
                    )
                )
            else:
                lines.append(f"| `frequent_sets` | – | {lattice.status}: {lattice.message} |")
        rss = f"{megabytes(prime.maxrss_kb)} (index built: {megabytes(res.get('rss_index_kb'))})"
        if lattice is not None and lattice.ok:
            rss += f"; with `frequent_sets`: {megabytes(lattice.maxrss_kb)}"
        lines += [f"| peak RSS, search process | {rss} | `VmHWM` |", ""]
    lat_s = (lattice.result or {}).get("lattice_s") if lattice and lattice.ok else None
    pyfim_run = next((p for p in peers if p.tool == "pyfim" and p.ok and p.result), None)
    miners = (pyfim_run.result or {}) if pyfim_run else {}
    if miners.get("count_s"):
        lines += [
            f"pyfim's three miners on every class, the best of {meta['repeat']} runs each: "
            f"counting the lattice (l = "
            f'{ds.max_tags}, `report="#"`), and producing its sets as Python objects (l = '
            f'{ds.lattice_max_tags or ds.max_tags}, `report="a"`, what `frequent_sets` is '
            "compared with):",
            "",
            "| miner | count | sets counted | produce the sets | sets |",
            "| --- | --- | --- | --- | --- |",
        ]
        for algo, secs in miners["count_s"].items():
            sets_s = miners.get("sets_s", {}).get(algo)
            lines.append(
                f"| `fim.{algo}` | {seconds(secs)} | {miners['count_n'][algo]:,} | "
                f"{seconds(sets_s)} | {miners.get('sets_n', {}).get(algo, 0):,} |"
            )
        lines.append("")
    q_all = {str(k): v for k, v in res.get("search_q_s", {}).items()}
    summary: dict[str, Any] = {
        "name": ds.name,
        "date": meta["date"],
        "loaded": meta["loaded"],
        "sets": n_sets,
        "modes": res.get("n_modes"),
        "build": seconds(res.get("build_s")) if prime.ok else "–",
        "search": seconds(base) if base else f"{prime.status}",
        "speedup": f"{search[1] / search[2]:.2f}×" if 1 in search and 2 in search else "–",
        "lattice": seconds(lat_s) if lat_s else (lattice.status if lattice else "–"),
        "rss": megabytes(prime.maxrss_kb),
        "peers": {},
        # For the Targets table (seconds).
        "real": ds.real,
        "l": ds.max_tags,
        "search_s": {str(k): v for k, v in search.items()},
        "search_q_s": q_all,
        "lattice_s": lat_s,
        "pyfim_count_s": min(miners["count_s"].values()) if miners.get("count_s") else None,
        "pyfim_count_miner": (
            min(miners["count_s"], key=miners["count_s"].__getitem__)
            if miners.get("count_s")
            else None
        ),
        "pyfim_sets_s": min(miners["sets_s"].values()) if miners.get("sets_s") else None,
    }
    if peers:
        n_classes = info["n_classes"]
        reused = sorted({p.date for p in peers if p.reused})
        lines += [
            f"Peers, one process each, single-threaded; run ÷ prime_rs = how many times faster "
            f"the prime_rs search with {max(threads or [2])} threads is (and its `frequent_sets`)"
            + (
                f"; the rows of {', '.join(p.tool for p in peers if p.reused)} are from their "
                f"earlier runs ({reused[0]}"
                + (f" to {reused[-1]}" if len(reused) > 1 else "")
                + ", `--reuse-peers`)"
                if reused
                else ""
            )
            + ":",
            "",
            "| tool | computes | prep | run | frequent sets | peak RSS | run ÷ prime_rs search "
            "| run ÷ prime_rs frequent_sets |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for run in peers:
            row = peer_time(run, n_sets, n_classes)
            r = run.result or {}
            name = f"{run.tool} {run.version}".strip()
            if run.tool == "reference":
                name = "pure-Python reference"
            prefix = {"estimate": "≈ ", "lower": "> "}.get(row.kind, "")
            sets_txt = sets_column(run, n_classes)
            prep = r.get("prep_s")
            if prep is None and run.classes_done():
                prep = run.classes_done()[-1]["prep_s"]
            if row.run_s is not None and row.kind != "failed":
                short = f"{prefix}{seconds(row.run_s)} ({ratio(row.run_s, base, prefix)})"
            else:
                short = run.status
            summary["peers"][run.tool] = short
            lines.append(
                f"| {name} | {WHAT[run.tool]} | {seconds(prep)} | {row.text} | {sets_txt} | "
                f"{megabytes(run.maxrss_kb)} | {ratio(row.run_s, base, prefix)} | "
                f"{ratio(row.run_s, lat_s, prefix) if run.tool != 'reference' else '–'} |"
            )
        lines.append("")
    if checks:
        lines += ["Agreement:", ""] + [f"- {c}" for c in checks] + [""]
    targets = target_lines(ds, prime, peers, base, search)
    if targets:
        lines += ["Targets (issue 2):", ""] + [f"- {t}" for t in targets] + [""]
    lines.append(f"<!-- bench:summary {json.dumps(summary, ensure_ascii=False)} -->")
    return "\n".join(lines)


def target_lines(
    ds: Dataset, prime: Run, peers: list[Run], base: float | None, search: dict[int, float]
) -> list[str]:
    if not prime.ok or not base:
        return []
    out = []
    if 1 in search and 2 in search:
        s = search[1] / search[2]
        out.append(f"speed-up from 1 to 2 threads {s:.2f}× (target ≥ 1.8×): {_met(s >= 1.8)}")
    pyfim = next((p for p in peers if p.tool == "pyfim" and p.ok), None)
    pyfim_s = pyfim.result["run_s"] if pyfim and pyfim.result else None
    if ds.name == "dense" and pyfim_s:
        r = pyfim_s / base
        out.append(f"search {r:.1f}× faster than pyfim's count (target ≥ 10×): {_met(r >= 10)}")
        out.append(
            f"search {seconds(base)} vs the native-kernel limit of about 0.1 s (target within 2×, "
            f"≤ 0.2 s): {_met(base <= 0.2)}"
        )
    if ds.name == "large":
        if pyfim_s:
            out.append(
                f"search {seconds(base)} vs pyfim's count {seconds(pyfim_s)} (target: faster): "
                f"{_met(base < pyfim_s)}"
            )
        gb = prime.maxrss_kb / 2**20
        out.append(f"peak RSS of the search process {gb:.2f} GB (target < 4 GB): {_met(gb < 4)}")
    if ds.name == "ram":
        res = prime.result or {}
        out.append(f"completes: {_met(True)}")
        out.append(
            f"samples table -> index {seconds(res['build_s'])} vs search {seconds(base)} "
            f"(target: the build does not dominate): {_met(res['build_s'] <= base)}"
        )
        for _, q_s in res.get("search_q_s", {}).items():
            out.append(
                f"samples table -> index {seconds(res['build_s'])} vs the default search, "
                f"with q-values, {seconds(q_s)}: {res['build_s'] / q_s:.2f} of it"
            )
    return out


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


HEADER = """# Benchmark results

Generated by `make bench` (`benches/run.py`; see its docstring). Each data set's section is
rewritten when that data set is run again (`--only NAME` reruns one); text outside the
`<!-- bench:... -->` markers is kept, so analysis can be written here by hand.

What is timed: for prime_rs, reading the samples table, building the index (samples table ->
`TagIndex`), the full search (support, accuracy, drop, minimality) with 1 and 2 threads, and
`frequent_sets` (the whole lattice as a DataFrame). The build and the two searches take turns,
best of at least 3 calls each, so that a change in the machine's speed falls on all three. For
the peers, *prep* turns the Parquet table into the tool's input (read included) and *run* is
the tool's own work, summed over classes, in one process per tool (peak RSS is that process's
high-water mark `VmHWM`, interpreter and data included; not `ru_maxrss`, which on Linux
carries the parent's size over a fork and exec).
The peers only enumerate frequent sets (pyfim only counts them), so their times are lower bounds
on what the PRIME search needs. A peer stopped at its timeout is reported as `timeout > N s`,
with an estimate extrapolated from the classes it finished (time per frequent set x all frequent
sets); the pure-Python reference always runs within a time budget and is extrapolated the same
way. Every estimate is marked with ≈.

Real data (`benches/data/`, sources and licences in its README; `benches/real.py`): UCI chess
(the FIMI file), mushroom and Adult, each with its class attribute as the label, and the first
10,000 rows of UCI connect-4 (FIMI) with one board cell as the label, and scikit-learn's
digits (10 classes of about 180 images, the pixels with ink as tags); each with a naive
Bayes model's errors. On them only pyfim runs, with each of its miners (eclat, fpgrowth,
apriori) counting the search's lattice and producing the `frequent_sets` lattice as Python
objects; the **Targets** table compares the fastest of each with prime_rs, in the same run.

How each peer is driven (`benches/workers.py`), per class, with the same l and s:

- pyfim: `fim.fpgrowth(transactions, target="s", supp=-s, zmin=1, zmax=l, report="#")`, the
  pattern spectrum, so no set object is built; one class is also mined with `report="a"`
  (untimed) and compared with prime_rs set by set. Note: pyfim 6.28 leaves out an item that
  occurs in every transaction (a perfect extension of the empty set); no synthetic class has
  one, but a few real classes do (chess, mushroom, connect, digits), so pyfim's counts there
  are a few sets short.
- mlxtend: `fpgrowth(one_hot_frame, min_support=(s - 0.5) / n, max_len=l)`; the fraction sits
  just under s / n so that its threshold is exactly s samples.
- divexplorer: its public `DivergenceExplorer.get_pattern_divergence` has no `max_len` (it would
  enumerate sets of every size) and one-hot encodes every column again (a boolean tag column
  becomes two items; `is_one_hot_encoding=True` fails in 0.2.6), so the benchmark calls the miner
  it wraps, `divexplorer.utils_FPgrowth.fpgrowth_cm`, with `max_len=l` and the correct/wrong
  counts accumulated per set, and divides them into an accuracy as the public method does.
- pysubgroup: `DFS` on a task with one `EqualitySelector(tag, True)` per tag of the class with
  at least s samples, target `correct`, `MinSupportConstraint(s)`, depth l and a result set
  large enough to keep every subgroup (its Apriori and SimpleDFS were much slower here).
  It needs numpy < 2, hence `.venv-pysubgroup` (with pyarrow < 26, the last to accept numpy 1).
"""


def summary_table(summaries: list[dict[str, Any]]) -> str:
    """One line per data set: prime_rs's numbers, then each peer's run time (and ratio)."""
    tools = [t for t in TOOLS[1:] if any(t in x["peers"] for x in summaries)]
    head = [
        "data set", "frequent sets", "modes", "samples -> index", "search, 2 threads",
        "1 -> 2 threads", "`frequent_sets`", "peak RSS (search)",
        *("pure-Python reference" if t == "reference" else t for t in tools),
    ]  # fmt: skip
    lines = [
        "## Summary",
        "",
        "prime_rs's times, then each comparator's run time and (in brackets) how many times "
        "faster the prime_rs search with 2 threads is; ≈ marks an extrapolation, > a timeout. "
        "Details, machine and agreement checks are in each data set's section below.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
    ]
    for x in summaries:
        sets = f"{x['sets']:,}" if x.get("sets") is not None else "–"
        modes = f"{x['modes']:,}" if x.get("modes") is not None else "–"
        name = f"{x['name']} ({x['date'][:10]}{', loaded' if x.get('loaded') else ''})"
        cells = [
            name, sets, modes, x["build"], x["search"], x["speedup"], x["lattice"], x["rss"],
            *(x["peers"].get(t, "–") for t in tools),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def targets_table(summaries: list[dict[str, Any]]) -> str:
    """Issue 14's targets, one row per data set, as ratios measured in one run."""

    def cell(x: float | None, target: float | None, fmt: str, ok: bool | None = None) -> str:
        if x is None:
            return "–"
        text = fmt.format(x)
        if target is None:
            return text
        return text + ("" if ok else " **(not met)**")

    lines = [
        "## Targets",
        "",
        "Issue 14's targets, each a ratio of two times measured in the same run of the data "
        "set (2 threads unless said): the default search (q-values on) against pyfim's "
        "fastest count of the same lattice (target ≥ 10× on dense real data at l = 5); what "
        "q-values add to the search (≤ 25%); `frequent_sets` against pyfim's fastest miner "
        "producing the same sets as Python objects (≥ 5×); 1 -> 2 threads for the default "
        "search (≥ 1.8×). Synthetic sets: the search without q-values, to compare with "
        "earlier runs (no slower).",
        "",
        "| data set | l | default search | ÷ pyfim count | q-values add | search, no q-values "
        "| `frequent_sets` ÷ pyfim sets | 1 -> 2 threads (default search) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for x in summaries:
        if "search_q_s" not in x:
            continue  # a section from before these columns
        q = {int(k): v for k, v in x["search_q_s"].items()}
        plain = {int(k): v for k, v in x["search_s"].items()}
        q2, p2 = q.get(2), plain.get(2)
        vs_count = x["pyfim_count_s"] / q2 if x.get("pyfim_count_s") and q2 else None
        dense_real = x.get("real") and x.get("l") == 5
        cost = q2 / p2 - 1 if q2 and p2 else None
        sets = (
            x["pyfim_sets_s"] / x["lattice_s"]
            if x.get("pyfim_sets_s") and x.get("lattice_s")
            else None
        )
        speedup = q[1] / q2 if q.get(1) and q2 else None
        name = f"{x['name']} ({x['date'][:10]}{', loaded' if x.get('loaded') else ''})"
        miner = f" (`{x['pyfim_count_miner']}`)" if x.get("pyfim_count_miner") else ""
        cells = [
            name,
            str(x.get("l", "–")),
            seconds(q2),
            cell(vs_count, 10 if dense_real else None, "{:.1f}×", (vs_count or 0) >= 10)
            + (miner if vs_count else ""),
            cell(cost, 0.25, "{:+.0%}", cost is not None and cost <= 0.25),
            seconds(p2),
            cell(sets, 5, "{:.1f}×", (sets or 0) >= 5),
            cell(speedup, 1.8, "{:.2f}×", (speedup or 0) >= 1.8),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def merge_results(path: Path, blocks: dict[str, str]) -> str:
    """The new RESULTS.md: header, a block per data set (new or kept), then hand-written text."""
    old = path.read_text() if path.exists() else ""
    pattern = re.compile(r"<!-- bench:(\S+):begin -->\n(.*?)<!-- bench:\1:end -->\n?", re.S)
    kept = {m.group(1): m.group(2) for m in pattern.finditer(old)}
    free = pattern.sub("", old).strip()
    kept.pop("header", None)
    kept.pop("summary", None)
    kept.pop("targets", None)
    kept.update(blocks)
    order = [d.name for d in DATASETS] + sorted(
        k for k in kept if k not in {d.name for d in DATASETS}
    )
    parts = [f"<!-- bench:header:begin -->\n{HEADER}<!-- bench:header:end -->\n"]
    summaries = []
    for name in order:
        found = re.search(r"<!-- bench:summary (\{.*\}) -->", kept.get(name, ""))
        if found:
            summaries.append(json.loads(found.group(1)))
    if summaries:
        parts.append(
            f"<!-- bench:summary:begin -->\n{summary_table(summaries)}<!-- bench:summary:end -->\n"
        )
        parts.append(
            f"<!-- bench:targets:begin -->\n{targets_table(summaries)}<!-- bench:targets:end -->\n"
        )
    for name in order:
        if name in kept:
            body = kept[name].rstrip()
            parts.append(f"<!-- bench:{name}:begin -->\n{body}\n<!-- bench:{name}:end -->\n")
    text = "\n".join(parts)
    if free:
        text += "\n" + free + "\n"
    return text


# -- main -------------------------------------------------------------------------------------


def say(*args: object) -> None:
    print(*args, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a small subset with short timeouts")
    p.add_argument(
        "--only", action="append", default=[], metavar="NAME",
        help="data sets (" + ", ".join(d.name for d in DATASETS) + ") and/or tools ("
        + ", ".join(TOOLS) + "); comma-separated or repeated; prime_rs always runs",
    )  # fmt: skip
    p.add_argument("--skip-peers", action="store_true", help="run prime_rs alone")
    p.add_argument(
        "--reuse-peers", action="store_true",
        help="take the reference's and peers' results from their last run on the same data "
        "(benches/out/runs) instead of running them again; run those that have none",
    )  # fmt: skip
    p.add_argument("--timeout", type=float, help="seconds per peer (default: per data set)")
    p.add_argument("--budget", type=float, help="seconds for the pure-Python reference")
    p.add_argument("--repeat", type=int, default=3, help="best of N searches (default 3)")
    p.add_argument(
        "--max-rss-gb", type=float,
        help="stop any tool whose resident memory passes this (default: 40%% of RAM)",
    )  # fmt: skip
    p.add_argument("--sample", type=int, default=200, help="sets per peer checked one by one")
    p.add_argument("--output", type=Path, help="markdown file to write (see the docstring)")
    p.add_argument("--bench-python", type=Path, default=ROOT / ".venv-bench/bin/python")
    p.add_argument("--pysubgroup-python", type=Path, default=ROOT / ".venv-pysubgroup/bin/python")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    busy_before = busy_fraction(1.0)
    load_before = os.getloadavg()
    try:
        import prime_rs
    except ImportError as exc:
        say(f"cannot import prime_rs ({exc}); build it with `make dev` and run again.")
        return 2
    if prime_rs.build_profile != "release":
        say(
            f"prime_rs is a {prime_rs.build_profile} build: timings would mean nothing. "
            "Build it with `make dev` (maturin develop --release) and run again."
        )
        return 2
    only = {x.strip() for item in args.only for x in item.split(",") if x.strip()}
    catalogue = QUICK + DATASETS if args.quick else DATASETS
    known = {d.name for d in catalogue} | set(TOOLS)
    unknown = only - known
    if unknown:
        say(f"unknown --only {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        return 2
    wanted_ds = only & {d.name for d in catalogue}
    datasets = (
        [d for d in catalogue if d.name in wanted_ds]
        if wanted_ds
        else list(QUICK if args.quick else DATASETS)
    )
    wanted_tools = only & set(TOOLS)
    tools = [t for t in TOOLS[1:] if t in wanted_tools] if wanted_tools else list(TOOLS[1:])
    if args.skip_peers:
        tools = []

    mach = machine()
    max_rss_kb = int((args.max_rss_gb * 2**20) if args.max_rss_gb else 0.4 * mach["mem_kb"])
    command = "python benches/run.py" + "".join(
        f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])
    )
    busy_txt = f"{busy_before:.0%}" if busy_before is not None else "?"
    say(
        f"prime_rs {prime_rs.__version__} ({prime_rs.build_profile}); {mach['cpu']}, "
        f"{mach['cores']} cores, {mach['mem_gb']:.0f} GB; CPU busy before start {busy_txt}, "
        f"load average {load_before[0]:.2f}"
    )
    pythons = {
        "prime_rs": Path(sys.executable),
        "reference": Path(sys.executable),
        "pyfim": args.bench_python,
        "mlxtend": args.bench_python,
        "divexplorer": args.bench_python,
        "pysubgroup": args.pysubgroup_python,
    }
    blocks: dict[str, str] = {}
    output = args.output or (OUT / "RESULTS-quick.md" if args.quick else RESULTS)
    output.parent.mkdir(parents=True, exist_ok=True)
    if args.quick and not args.output:
        output.unlink(missing_ok=True)  # a smoke test's file starts afresh
    for ds in datasets:
        say(f"\n== {ds.name}: {ds.title} (l = {ds.max_tags}, s = {ds.min_support})")
        busy = busy_fraction(1.0) if ds is not datasets[0] else busy_before
        data = dataset_file(ds)
        info = describe(data)
        workdir = OUT / "runs" / ds.name
        job = {
            "data": str(data), "max_tags": ds.max_tags, "min_support": ds.min_support,
            "min_drop": ds.min_drop, "necessity": list(NECESSITY), "threads": [1, 2],
            "repeat": args.repeat, "sample_size": args.sample,
        }  # fmt: skip
        if ds.lattice_max_tags:
            job["lattice_max_tags"] = ds.lattice_max_tags
        peer_job = dict(job)
        if ds.real:
            # The three miners pyfim offers, counting and producing the sets.
            peer_job["pyfim_algos"] = ["eclat", "fpgrowth", "apriori"]
            peer_job["sets_max_tags"] = ds.lattice_max_tags or ds.max_tags
        timeout = args.timeout or ds.timeout_s
        prime_timeout = max(1800.0, timeout)
        prime = run_tool(
            "prime_rs", pythons["prime_rs"], {**job, "search": True, "lattice": False},
            workdir=workdir, timeout_s=prime_timeout, max_rss_kb=max_rss_kb,
        )  # fmt: skip
        report_run(prime)
        lattice = run_tool(
            "prime_rs", pythons["prime_rs"], {**job, "search": False, "lattice": True},
            workdir=workdir / "lattice", timeout_s=prime_timeout, max_rss_kb=max_rss_kb,
        )  # fmt: skip
        lattice.tool = "prime_rs frequent_sets"
        report_run(lattice)
        peers = []
        for tool in tools:
            if ds.tools is not None and tool not in ds.tools:
                continue
            earlier = previous_run(tool, job, workdir) if args.reuse_peers else None
            if earlier is not None:
                say(f"  {tool:<24} reused    (run of {earlier.date})")
                peers.append(earlier)
                continue
            budget = args.budget or (5.0 if args.quick else min(60.0, timeout))
            peer = run_tool(
                tool, pythons[tool], {**peer_job, "budget_s": budget}, workdir=workdir,
                timeout_s=timeout + (30 if tool == "reference" else 0), max_rss_kb=max_rss_kb,
            )  # fmt: skip
            report_run(peer)
            peers.append(peer)
        checks = verify(ds, data, prime, lattice, peers)
        for c in checks:
            say(f"  check: {c}")
        contention = [r.cpu_s / r.wall_s for r in peers if r.wall_s > 2]
        loaded = (busy is not None and busy > 0.15) or min(contention, default=1.0) < 0.85
        load_note = (
            f"Other work kept {busy:.0%} of the CPU busy just before this data set"
            if busy is not None
            else "CPU load before the run unknown"
        )
        if contention:
            load_note += (
                f"; the single-threaded peers got {min(contention):.0%}–{max(contention):.0%} "
                "of a core while they ran"
                + (" (in their earlier runs)" if any(p.reused for p in peers) else "")
            )
        load_note += "."
        if loaded:
            load_note += " **The machine was loaded by other work: numbers are preliminary.**"
        meta = {
            "date": now(),
            "command": command,
            "load_note": load_note,
            "loaded": bool(loaded),
            "repeat": args.repeat,
        }
        block = render(
            ds, info, mach, meta, prime, lattice if lattice.status != "missing" else None,
            peers, checks,
        )  # fmt: skip
        blocks[ds.name] = block
        say("\n" + block)
        output.write_text(merge_results(output, {ds.name: block}))  # after each data set
    summaries = [
        json.loads(m.group(1))
        for m in (re.search(r"<!-- bench:summary (\{.*\}) -->", b) for b in blocks.values())
        if m
    ]
    say("\n" + summary_table(summaries))
    say("\n" + targets_table(summaries))
    say(f"\nwrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


def report_run(run: Run) -> None:
    res = run.result or {}
    if run.ok:
        main_s = res.get("run_s", res.get("lattice_s"))
        if run.tool == "prime_rs":
            main_s = min(res.get("search_s", {"": 0}).values())
        say(
            f"  {run.tool:<24} ok        {seconds(main_s):>10}  (process {seconds(run.wall_s)}, "
            f"peak {megabytes(run.maxrss_kb)})"
        )
    else:
        say(f"  {run.tool:<24} {run.status:<9} {run.message}")


def verify(ds: Dataset, data: Path, prime: Run, lattice: Run, peers: list[Run]) -> list[str]:
    """Agreement of every tool with prime_rs, where the tool can tell."""
    checks: list[str] = []
    problems = (prime.result or {}).get("problems")
    if prime.ok:
        threads = sorted((prime.result or {}).get("search_s", {}))
        if problems:
            checks += [f"**prime_rs: {p}**" for p in problems]
        elif len(threads) > 1:
            checks.append(f"prime_rs: the same modes with {' and '.join(threads)} threads")
    # frequent_sets goes up to lattice_max_tags tags: its counts are the truth only when that
    # is the search's l; otherwise pyfim's set-producing miners (at that size) are compared.
    same_l = not ds.lattice_max_tags or ds.lattice_max_tags == ds.max_tags
    truth = lattice.per_class() if lattice.ok and same_l else {}
    pyfim_sets = next(
        (p.result.get("sets_n") for p in peers if p.tool == "pyfim" and p.ok and p.result), None
    )
    if pyfim_sets and lattice.ok:
        n_sets = (lattice.result or {}).get("n_sets")
        counts = ", ".join(f"{a} {n:,}" for a, n in pyfim_sets.items())
        agree = all(n == n_sets for n in pyfim_sets.values())
        checks.append(
            ("" if agree else "**")
            + f"pyfim's sets up to {ds.lattice_max_tags or ds.max_tags} tags ({counts}) vs "
            f"prime_rs frequent_sets {n_sets:,}" + ("" if agree else "**")
        )
    source = "prime_rs frequent_sets"
    pyfim = next((p for p in peers if p.tool == "pyfim" and p.ok), None)
    if not truth and pyfim is not None:
        truth, source = pyfim.per_class(), "pyfim"
    index = None
    for peer in peers:
        if peer.tool != "pyfim" or source != "pyfim":
            line = check_counts(peer.tool, peer, truth, source)
            if line:
                checks.append(line)
    needs_index = any(
        (p.ok and ((p.result or {}).get("sample") or (p.result or {}).get("full_class")))
        or (p.tool == "reference" and p.ok)
        for p in peers
    )
    if needs_index:
        import prime_rs

        index = prime_rs.TagIndex.from_samples(data)
        for peer in peers:
            if peer.tool == "reference":
                line = check_reference(peer, index, ds)
            else:
                line = check_sample(peer.tool, peer, index)
            if line:
                checks.append(line)
            if peer.tool == "pyfim":
                line = check_full_class(peer, index, ds)
                if line:
                    checks.append(line)
    return checks


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the running worker was stopped in run_tool
        say("\ninterrupted; nothing written")
        sys.exit(130)
