"""Journeys through the ``prime`` command line, run as a user runs them: real processes.

Every kind of samples table (``conftest.Kind``: string or integer labels; ``correct`` only,
``prediction`` only, or both; with or without a ``split`` column; with planted modes or none)
is searched from every input format into every output format, and the result must be the
library's result on the same rows. Then the commands a user chains on a search's output run
on it: ``evaluate generalization``, ``evaluate tag-overlap``, ``evaluate prompts``,
``inspect``, ``report`` and ``evaluate sweep``, each on every kind of table, the empty result
included.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import prime_rs
from prime_rs.evaluate.generalization import HOLDOUT_COLUMNS, generalization
from prime_rs.io import TAG_SEPARATOR

FORMATS = ("parquet", "csv", "json", "jsonl")
SPLIT_COLUMN, DETECT, HOLDOUT = "split", "detect", "test"

#: (labels, outcome, split, modes): every kind of samples table the journeys cover.
KINDS = (
    *(
        (labels, outcome, split, True)
        for labels in ("str", "int")
        for outcome in ("correct", "prediction", "both")
        for split in (False, True)
    ),
    ("str", "both", False, False),  # always right: no modes at all
    ("int", "correct", True, False),
)


@dataclass(frozen=True)
class Case:
    """One ``prime search``: a kind of table, its input and output formats, parameters."""

    kind: tuple[str, str, bool, bool]
    source: str  # input format
    out: str  # output format
    #: Extra ``prime search`` options, and the same as library keywords.
    options: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> str:
        labels, outcome, split, modes = self.kind
        what = "correct+prediction" if outcome == "both" else f"{outcome}-only"
        parts = [f"{labels}-labels", what, "split" if split else "no-split"]
        if not modes:
            parts.append("always-right")
        if self.options:
            parts.append(" ".join(self.options))
        return ",".join(parts) + f",{self.source}->{self.out}"


def _cases() -> list[Case]:
    # Every kind from every input format; the output format turns with the kind, so every
    # kind writes every output format and every (input, output) pair occurs.
    cases = [
        Case(kind, source, FORMATS[(i + k) % len(FORMATS)])
        for k, kind in enumerate(KINDS)
        for i, source in enumerate(FORMATS)
    ]
    # Tables with modes, and parameters that leave none.
    cases.append(Case(KINDS[5], "parquet", "csv", ("--min-drop", "95%"), (("min_drop", 0.95),)))
    cases.append(
        Case(KINDS[7], "csv", "jsonl", ("--min-support", "5000"), (("min_support", 5000),))
    )
    cases.append(Case(KINDS[0], "jsonl", "json", ("--max-tags", "1"), (("max_tags", 1),)))
    return cases


CASES = _cases()
#: The cases the chained commands run on: every kind from two input formats, which still
#: writes every output format (the even kinds two of them, the odd kinds the other two),
#: and the cases with parameters. Half the processes of the full matrix.
CHAIN_CASES = [c for c in CASES if c.options or FORMATS.index(c.source) % 2 == 0]


def read_modes(path: Path) -> pl.DataFrame:
    """A written mode table back as the library returns it (CSV tags are split again)."""
    df = prime_rs.read_table(path)
    if path.suffix == ".csv" and "tags" in df.columns:
        df = df.with_columns(
            pl.col("tags")
            .cast(pl.String)
            .fill_null("")
            .str.split(TAG_SEPARATOR)
            .list.eval(pl.element().filter(pl.element() != ""))
        )
    return df


@dataclass
class Searched:
    """A ``prime search`` run of one case and what the library says it must give."""

    case: Case
    table: Any  # conftest.Table
    folder: Path
    args: list[object]
    proc: subprocess.CompletedProcess[str]
    output: Path
    expected: pl.DataFrame  # the library's modes (with holdout columns for a split)

    @property
    def samples(self) -> Path:
        return self.table.files[self.case.source]


@pytest.fixture(scope="module")
def searched(
    samples_table: Callable[..., Any],
    prime: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[Case], Searched]:
    """``prime search`` of a case, run once per module and shared by the chained commands."""
    done: dict[str, Searched] = {}

    def get(case: Case) -> Searched:
        if case.id in done:
            return done[case.id]
        labels, outcome, split, modes = case.kind
        table = samples_table(labels, outcome, split, modes)
        folder = tmp_path_factory.mktemp("journey")
        output = folder / f"modes.{case.out}"
        args: list[object] = ["search", table.files[case.source], "-o", output, *case.options]
        if split:
            args += ["--split-column", SPLIT_COLUMN, "--detect", DETECT, "--holdout", HOLDOUT]
        proc = prime(*args)
        expected = prime_rs.find_failure_modes(table.detect, **dict(case.params))
        if split:
            expected = generalization(expected, table.holdout)
        done[case.id] = Searched(case, table, folder, args, proc, output, expected)
        return done[case.id]

    return get


def split_options(s: Searched, *, detect: bool = False, holdout: bool = True) -> list[str]:
    """The split options a chained command needs on a table with a split column."""
    if not s.case.kind[2]:
        return []
    out = ["--split-column", SPLIT_COLUMN]
    if detect:
        out += ["--detect", DETECT]
    if holdout:
        out += ["--holdout", HOLDOUT]
    return out


def holdout_source(s: Searched) -> Path:
    """Where a chained command finds the unseen rows: the samples file itself (with the split
    options) or, without a split column, the holdout file in the same format."""
    return s.samples if s.case.kind[2] else s.table.holdout_files[s.case.source]


# -- prime search --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_search(
    case: Case,
    searched: Callable[[Case], Searched],
    assert_clean: Callable[..., None],
) -> None:
    s = searched(case)
    assert_clean(s.proc, s.args)
    expected = s.expected
    n = expected.height
    _, _, split, modes = case.kind

    # The file reads back with the library's modes, columns and order.
    back = read_modes(s.output)
    if n == 0 and case.out in ("json", "jsonl"):
        # JSON holds no columns without rows: the file reads back as an empty table.
        assert back.height == 0
    else:
        assert back.columns == expected.columns
        cols = ["label", "tags", "support", "accuracy"]
        assert back.select(cols).to_dicts() == expected.select(cols).to_dicts()
    if n or case.out == "parquet":  # a CSV or JSON file without rows holds no types
        assert back["label"].dtype == s.table.frame["label"].dtype
    if split and back.height:
        held = ["holdout_support", "holdout_accuracy"]
        assert back.select(held).to_dicts() == expected.select(held).to_dicts()

    # The planted modes are found with the default parameters.
    if modes and not case.options:
        found = {(r["label"], tuple(r["tags"])) for r in back.iter_rows(named=True)}
        for r in s.table.planted.iter_rows(named=True):
            assert (r["label"], tuple(r["tags"])) in found, r
    if not modes or case.options[:1] in (("--min-drop",), ("--min-support",)):
        assert n == 0

    # The summary says how many modes there are, and where they went.
    word = "failure mode" if n == 1 else "failure modes"
    assert f"found {n} {word}" in s.proc.stdout
    assert f"wrote {n} {word} to {s.output}" in s.proc.stdout
    if split:
        assert f"{SPLIT_COLUMN} == {DETECT!r}: {s.table.detect.height:,} samples searched" in (
            s.proc.stdout
        )
    if n == 0:
        # The reason, once, on stdout; nothing on stderr.
        reason = s.proc.stdout.split("tag sets tested", 1)[1].strip().splitlines()
        assert reason and reason[0], s.proc.stdout
        assert s.proc.stderr == ""


# -- the commands a user chains on the result ----------------------------------------------


@pytest.mark.parametrize("case", CHAIN_CASES, ids=lambda c: c.id)
def test_evaluate_generalization(
    case: Case,
    searched: Callable[[Case], Searched],
    prime: Callable[..., subprocess.CompletedProcess[str]],
    assert_clean: Callable[..., None],
) -> None:
    s = searched(case)
    assert_clean(s.proc, s.args)
    out = s.folder / f"generalization.{case.out}"
    args = [
        "evaluate", "generalization", s.output, holdout_source(s), *split_options(s), "-o", out,
    ]  # fmt: skip
    proc = prime(*args)
    assert_clean(proc, args)
    back = read_modes(out)
    assert back.height == s.expected.height
    if back.height == 0 and case.out in ("json", "jsonl"):
        return  # JSON holds no columns without rows: an empty result reads back bare
    assert set(HOLDOUT_COLUMNS) <= set(back.columns)
    expected = generalization(s.expected.drop(HOLDOUT_COLUMNS, strict=False), s.table.holdout)
    held = ["label", "tags", "holdout_support", "holdout_accuracy"]
    assert back.select(held).to_dicts() == expected.select(held).to_dicts()


@pytest.mark.parametrize("case", CHAIN_CASES, ids=lambda c: c.id)
def test_evaluate_tag_overlap(
    case: Case,
    searched: Callable[[Case], Searched],
    prime: Callable[..., subprocess.CompletedProcess[str]],
    assert_clean: Callable[..., None],
) -> None:
    s = searched(case)
    assert_clean(s.proc, s.args)
    out = s.folder / f"overlap.{case.out}"
    args = [
        "evaluate", "tag-overlap", s.output, holdout_source(s), *split_options(s), "-o", out,
    ]  # fmt: skip
    proc = prime(*args)
    assert_clean(proc, args)
    assert prime_rs.read_table(out).height == s.expected.height


@pytest.mark.parametrize("case", CHAIN_CASES, ids=lambda c: c.id)
def test_evaluate_prompts(
    case: Case,
    searched: Callable[[Case], Searched],
    prime: Callable[..., subprocess.CompletedProcess[str]],
    assert_clean: Callable[..., None],
) -> None:
    s = searched(case)
    assert_clean(s.proc, s.args)
    out = s.folder / "prompts.json"
    options = split_options(s, detect=True, holdout=False)
    args = ["evaluate", "prompts", s.output, s.samples, *options, "-o", out]
    proc = prime(*args)
    assert_clean(proc, args)
    prompts = json.loads(out.read_text())["prompts"]
    failures = sorted(
        (str(p["label"]), tuple(p["tags"])) for p in prompts if p["kind"] == "failure"
    )
    modes = sorted((str(r["label"]), tuple(r["tags"])) for r in s.expected.iter_rows(named=True))
    assert failures == modes


@pytest.mark.parametrize("case", CHAIN_CASES, ids=lambda c: c.id)
def test_inspect(
    case: Case,
    searched: Callable[[Case], Searched],
    prime: Callable[..., subprocess.CompletedProcess[str]],
    assert_clean: Callable[..., None],
) -> None:
    s = searched(case)
    assert_clean(s.proc, s.args)
    # The strongest mode found, or a planted one when none was.
    first = (s.expected if s.expected.height else s.table.planted).row(0, named=True)
    tags = first["tags"]
    out = s.folder / f"ladder.{case.out}"
    if case.kind[2]:
        where = split_options(s, detect=True, holdout=True)
    else:
        where = ["--holdout-samples", s.table.holdout_files[case.source]]
    args = [
        "inspect", s.samples, "--label", str(first["label"]), "--tags", ",".join(tags),
        *where, "-o", out,
    ]  # fmt: skip
    proc = prime(*args)
    assert_clean(proc, args)
    assert "Traceback" not in proc.stdout
    ladder = prime_rs.read_table(out)
    assert ladder.height == 2 ** len(tags)  # the class, then every non-empty subset
    stats = prime_rs.TagIndex.from_samples(s.table.detect).stats(first["label"], tags)
    assert ladder["support"].to_list()[-1] == stats["support"]


@pytest.mark.parametrize("case", CHAIN_CASES, ids=lambda c: c.id)
def test_report(
    case: Case,
    searched: Callable[[Case], Searched],
    prime: Callable[..., subprocess.CompletedProcess[str]],
    assert_clean: Callable[..., None],
) -> None:
    s = searched(case)
    assert_clean(s.proc, s.args)
    out = s.folder / "report.html"
    args = ["report", s.output, s.samples, *split_options(s, detect=True), "-o", out]
    proc = prime(*args)
    assert_clean(proc, args)
    html = out.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert html.rstrip().endswith("</html>")
    for row in s.expected.iter_rows(named=True):
        assert all(tag in html for tag in row["tags"])


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.source == "csv"], ids=lambda c: c.id.split(",csv->")[0]
)
def test_evaluate_sweep(
    case: Case,
    searched: Callable[[Case], Searched],
    prime: Callable[..., subprocess.CompletedProcess[str]],
    assert_clean: Callable[..., None],
) -> None:
    s = searched(case)
    out = s.folder / f"sweep.{case.out}"
    if case.kind[2]:
        where = split_options(s, detect=True, holdout=True)
    else:
        where = ["--holdout-samples", s.table.holdout_files[case.source]]
    args = [
        "evaluate", "sweep", s.samples, *where, "--min-support", "30,50", "--min-drop", "30%",
        "--max-tags", "3", "-o", out,
    ]  # fmt: skip
    proc = prime(*args)
    assert_clean(proc, args)
    grid = prime_rs.read_table(out)
    assert grid.height == 2
    for row in grid.iter_rows(named=True):
        n = prime_rs.find_failure_modes(
            s.table.detect, min_support=row["min_support"], min_drop=0.3, max_tags=3
        ).height
        assert row["n_modes"] == n, row


@pytest.fixture(scope="module")
def embeddings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random image embeddings (id, embedding) for every id of the tables (one id space)."""
    n = 3 * 2000
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("embeddings") / "embeddings.parquet"
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    pl.DataFrame({"id": np.arange(n), "embedding": vectors.tolist()}).write_parquet(path)
    return path


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.source == "csv" and not c.options and c.kind[1] == "both"],
    ids=lambda c: c.id.split(",csv->")[0],
)
def test_evaluate_embedding_space(
    case: Case,
    searched: Callable[[Case], Searched],
    embeddings: Path,
    prime: Callable[..., subprocess.CompletedProcess[str]],
    assert_clean: Callable[..., None],
) -> None:
    s = searched(case)
    assert set(s.table.frame["id"].to_list()) <= set(range(3 * 2000))
    distances = s.folder / f"distances.{case.out}"
    near = s.folder / f"neighbours.{case.out}"
    args = [
        "evaluate", "embedding-space", s.samples, *split_options(s, detect=True, holdout=False),
        "--embeddings", embeddings, "--neighbors", "1,5", "--quiet", "-o", distances,
        "--neighbors-output", near,
    ]  # fmt: skip
    proc = prime(*args)
    assert_clean(proc, args)
    assert prime_rs.read_table(distances).height > 0
    assert prime_rs.read_table(near).height > 0
