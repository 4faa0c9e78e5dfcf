"""The ``prime`` command line, end to end: real files, the real engine, no mocks.

Most checks go through click's CliRunner (fast, in-process); exit codes, stderr and the
absence of tracebacks are also checked in a real subprocess (``python -m prime_rs``).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

import prime_rs
from prime_rs import synthetic
from prime_rs.cli import cli, main
from prime_rs.io import TAG_SEPARATOR


def run_prime(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m prime_rs ARGS`` in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "prime_rs", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_usage_error(result: Result, *needles: str) -> None:
    """Exit status 2, the message on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert "Error" in result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SMALL synthetic data set as a Parquet file."""
    path = tmp_path_factory.mktemp("small") / "samples.parquet"
    synthetic.generate(synthetic.SMALL).samples.write_parquet(path)
    return path


@pytest.fixture(scope="module")
def small_int(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SMALL data set with labels and predictions as class numbers 10, 11, 12."""
    df = synthetic.generate(synthetic.SMALL).samples
    names = sorted(df["label"].unique().to_list())
    number = {name: 10 + i for i, name in enumerate(names)}
    df = df.with_columns(
        pl.col("label").replace_strict(number, return_dtype=pl.Int64),
        pl.col("prediction").replace_strict(number, return_dtype=pl.Int64),
    )
    path = tmp_path_factory.mktemp("small_int") / "samples.parquet"
    df.write_parquet(path)
    return path


def read_modes(path: Path) -> pl.DataFrame:
    """A written modes table back as the library returns it (CSV tags are split again)."""
    df = prime_rs.read_table(path)
    if path.suffix == ".csv":
        df = df.with_columns(
            pl.col("tags")
            .cast(pl.String)
            .fill_null("")
            .str.split(TAG_SEPARATOR)
            .list.eval(pl.element().filter(pl.element() != ""))
        )
    return df


# -- version and help --------------------------------------------------------------------


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"prime {prime_rs.__version__} ")
    assert prime_rs.build_profile in result.stdout


def test_help_texts_have_examples() -> None:
    top = invoke("--help")
    assert top.exit_code == 0
    assert "search" in top.stdout and "demo" in top.stdout
    assert "prime search samples.parquet -o modes.parquet" in top.stdout
    search = invoke("search", "--help")
    assert search.exit_code == 0
    for option in (
        "--max-tags",
        "--min-support",
        "--min-drop",
        "--necessity",
        "--min-tag-count",
        "--labels",
        "--threads",
        "--output",
    ):
        assert option in search.stdout
    assert "30%" in search.stdout
    assert "Examples" in search.stdout
    demo = invoke("demo", "-h")
    assert demo.exit_code == 0
    assert "--dense" in demo.stdout and "--seed" in demo.stdout and "Examples" in demo.stdout


def test_no_command_shows_usage() -> None:
    result = invoke()
    assert "Usage:" in result.output
    assert "Traceback" not in result.output


# -- search: the summary and the written table --------------------------------------------


def test_search_summary(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "modes.parquet"
    result = invoke("search", small, "-o", out, "--max-tags", 3)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    text = result.stdout

    index = prime_rs.TagIndex.from_samples(small)
    searched = index.search(max_tags=3)
    modes = searched.modes
    classes = index.classes()
    n = int(classes["n_samples"].sum())
    accuracy = int(classes["n_correct"].sum()) / n
    assert (
        f"{n:,} samples, {classes.height} classes, {len(index.vocabulary)} distinct tags, "
        f"accuracy {accuracy * 100:.1f}%"
    ) in text
    assert re.search(r"load \+ index build \d+\.\d\d s, search \d+\.\d\d s", text)
    assert "max_tags 3, min_support 30, min_drop 30%, necessity 10% / 5% / 2.5%" in text
    assert modes.height > 0
    found = f"found {modes.height} failure modes in {modes['label'].n_unique()} of 3 classes"
    assert found in text
    assert f"{searched.summary['sets_tested'].sum():,} tag sets tested" in text

    # Per class and size: one row per class with modes, then the totals.
    lines = text.splitlines()
    header = lines.index("modes per class and size (number of tags)")
    assert lines[header + 1].split() == ["class", "1", "2", "3", "all"]
    for label in modes["label"].unique().to_list():
        row = next(line for line in lines[header + 2 :] if line.split()[0] == label)
        per = modes.filter(pl.col("label") == label)
        sizes = [str(per.filter(pl.col("n_tags") == k).height) for k in (1, 2, 3)]
        assert row.split()[1:] == [*sizes, str(per.height)]
    all_row = next(line for line in lines[header + 2 :] if line.split()[0] == "all")
    assert all_row.split()[-1] == str(modes.height)

    # The strongest modes: the ten largest drops, tags joined with " + ".
    top = modes.sort("drop", descending=True, maintain_order=True).head(10)
    start = next(i for i, line in enumerate(lines) if line.startswith("strongest modes"))
    shown = lines[start + 2 : start + 2 + top.height]
    for line, row in zip(shown, top.iter_rows(named=True), strict=True):
        assert line.split()[0] == row["label"]
        assert " + ".join(row["tags"]) in line
        assert f"{row['accuracy'] * 100:.1f}%" in line
        assert f"{row['class_accuracy'] * 100:.1f}%" in line
        assert f" {row['drop'] * 100:.1f}% " in line
        low, high = row["accuracy_low"] * 100, row["accuracy_high"] * 100
        assert f" {low:.0f}-{high:.0f}% " in line  # the Wilson interval
        assert f" {row['q_value']:.1e} " in line
        assert f" {row['support']} " in line
    assert f"wrote {modes.height} failure modes to {out}" in text
    assert read_modes(out).equals(modes)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json", ".jsonl"])
def test_search_output_round_trip(small: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / "sub" / f"modes{suffix}"
    result = invoke("search", small, "--output", out, "--max-tags", 3, "--min-support", 25)
    assert result.exit_code == 0, result.output
    expected = prime_rs.find_failure_modes(small, max_tags=3, min_support=25)
    assert expected.height > 0
    back = read_modes(out)
    assert back.columns == list(prime_rs.TagIndex.from_samples(small).mode_columns())
    assert back.columns[:8] == list(prime_rs.MODE_COLUMNS)
    assert back.equals(expected)


def test_search_passes_every_parameter(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "modes.parquet"
    args = [
        "--max-tags",
        2,
        "--min-support",
        33,
        "--min-drop",
        "25%",
        "--necessity",
        "0.2",
        "--min-tag-count",
        40,
        "--threads",
        1,
    ]
    result = invoke("search", small, "-o", out, *args)
    assert result.exit_code == 0, result.output
    expected = prime_rs.find_failure_modes(
        small,
        max_tags=2,
        min_support=33,
        min_drop=0.25,
        necessity=[0.2],
        min_tag_count=40,
        threads=1,
    )
    assert read_modes(out).equals(expected)
    assert "min_drop 25%, necessity 20%, min_tag_count 40" in result.stdout
    assert "threads     1" in result.stdout


def test_min_drop_as_fraction_or_percent(small: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert invoke("search", small, "-o", a, "--min-drop", "0.35").exit_code == 0
    assert invoke("search", small, "-o", b, "--min-drop", " 35 %").exit_code == 0
    assert read_modes(a).equals(read_modes(b))
    expected = prime_rs.find_failure_modes(small, min_drop=0.35)
    assert read_modes(a).equals(expected)


def test_search_labels(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "modes.parquet"
    result = invoke("search", small, "-o", out, "--labels", "turtle, lizard")
    assert result.exit_code == 0, result.output
    expected = prime_rs.find_failure_modes(small, labels=["turtle", "lizard"])
    back = read_modes(out)
    assert back.equals(expected)
    assert set(back["label"]) == {"turtle", "lizard"}
    assert "of 2 classes" in result.stdout


def test_search_labels_as_class_numbers(small_int: Path, tmp_path: Path) -> None:
    out = tmp_path / "modes.parquet"
    result = invoke("search", small_int, "-o", out, "--labels", "10,12")
    assert result.exit_code == 0, result.output
    expected = prime_rs.find_failure_modes(small_int, labels=[10, 12])
    back = read_modes(out)
    assert back["label"].dtype == pl.Int64
    assert set(back["label"]) == {10, 12}
    assert back.equals(expected)

    bad = invoke("search", small_int, "--labels", "10,fox")
    assert_usage_error(bad, "--labels", "'fox'", "numbered")


def test_unknown_label(small: Path) -> None:
    result = invoke("search", small, "--labels", "turtel")
    assert_usage_error(result, "unknown label 'turtel'", "turtle")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_empty_result_writes_empty_table_and_explains_once(
    small: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"modes{suffix}"
    index = prime_rs.TagIndex.from_samples(small)
    reason = index.explain_empty(min_support=100_000)
    proc = run_prime("search", small, "-o", out, "--min-support", 100_000)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # the prime_rs logger does not repeat the reason
    assert proc.stdout.count(reason) == 1
    assert "found 0 failure modes" in proc.stdout
    assert "wrote 0 failure modes" in proc.stdout
    back = prime_rs.read_table(out)
    assert back.height == 0
    assert back.columns == list(index.mode_columns())


def test_empty_result_by_drop(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "modes.jsonl"
    result = invoke("search", small, "-o", out, "--min-drop", "100%")
    assert result.exit_code == 0, result.output
    reason = prime_rs.TagIndex.from_samples(small).explain_empty(min_drop=1.0)
    assert result.stdout.count(reason) == 1
    assert reason not in result.stderr
    assert out.exists() and out.read_text() == ""


# -- bad parameters: exit 2 with the message, never a traceback ----------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--max-tags", "0"], ["max_tags", "at least 1", "got 0"]),
        (["--min-support", "0"], ["min_support", "at least 1"]),
        (["--min-support", "-5"], ["min_support", "-5"]),
        (["--min-drop", "150%"], ["min_drop", "[0, 1]", "1.5"]),
        (["--min-drop", "1.5"], ["min_drop", "[0, 1]"]),
        (["--min-drop", "-0.1"], ["min_drop", "[0, 1]"]),
        (["--min-drop", "nan"], ["min_drop", "nan"]),
        (["--min-drop", "abc"], ["--min-drop", "'abc' is not a fraction", "30%"]),
        (["--min-drop", "30%%"], ["--min-drop", "is not a fraction"]),
        (["--necessity", ""], ["necessity", "at least one value"]),
        (["--necessity", "-0.1"], ["necessity", "-0.1"]),
        (["--necessity", "0.1,-0.05"], ["necessity", "-0.05"]),
        (["--necessity", "0.1,,0.05"], ["--necessity", "value 2", "is empty"]),
        (["--necessity", "0.1,x"], ["--necessity", "'x' is not a fraction"]),
        (["--threads", "0"], ["threads", "positive"]),
        (["--min-tag-count", "0"], ["min_tag_count", "positive"]),
        (["--max-tags", "two"], ["--max-tags", "'two'"]),
        (["--labels", "turtle,,lizard"], ["--labels", "empty class name"]),
        (["--bogus"], ["No such option", "--bogus"]),
    ],
)
def test_bad_parameters(small: Path, args: list[str], needles: list[str]) -> None:
    assert_usage_error(invoke("search", small, *args), *needles)


def test_bad_parameter_fails_before_reading(tmp_path: Path) -> None:
    # The parameters are checked first: no need to wait for a large table to load.
    result = invoke("search", tmp_path / "missing.parquet", "--min-drop", "150%")
    assert_usage_error(result, "min_drop")


def test_bad_output_path(small: Path, tmp_path: Path) -> None:
    assert_usage_error(
        invoke("search", small, "-o", tmp_path / "modes.txt"),
        "modes.txt",
        "unknown output type",
        ".parquet",
    )
    assert not (tmp_path / "modes.txt").exists()
    assert_usage_error(invoke("search", small, "-o", tmp_path), "is a folder")
    (tmp_path / "modes.parquet").mkdir()
    assert_usage_error(invoke("search", small, "-o", tmp_path / "modes.parquet"), "is a folder")


def test_errors_in_a_real_process(small: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    for args, needle in [
        (["search", missing], f"{missing}: file not found"),
        (["search", small, "--min-drop", "150%"], "min_drop"),
        (["search", small, "--necessity", "0.1,abc"], "'abc' is not a fraction"),
        (["search"], "Missing argument 'SAMPLES'"),
    ]:
        proc = run_prime(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stdout == ""


def test_main_returns_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(tmp_path / "missing.csv")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert prime_rs.__version__ in capsys.readouterr().out


def test_ctrl_c_prints_interrupted_and_exits_130(tmp_path: Path) -> None:
    # A named pipe holds the command in read_table until we have sent Ctrl-C: the
    # command is provably running (it opened the pipe) when the signal arrives.
    fifo = tmp_path / "samples.csv"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prime_rs", "search", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:  # ENXIO: nobody has the pipe open for reading yet
                assert e.errno == errno.ENXIO
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the command never opened its input"
                time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        try:
            os.set_blocking(fd, True)
            os.write(fd, b"id,label,correct,tags\n0,a,true,x\n")
        except BrokenPipeError:
            pass  # the reader already gave up, as it should
        finally:
            os.close(fd)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert err.strip() == "Interrupted"
    assert "Traceback" not in err


# -- demo ----------------------------------------------------------------------------------


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo.parquet"
    start = time.perf_counter()
    proc = run_prime("demo", "--synthetic", "-o", out)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    text = proc.stdout
    data = synthetic.generate(synthetic.SPARSE)
    n_planted = data.planted.height
    assert n_planted == 34
    assert f"planted modes recovered: {n_planted} / {n_planted}" in text
    for step in ("generate", "index build", "search", "total"):
        assert re.search(rf"^{step} +\d+\.\d\d s", text, flags=re.MULTILINE), step
    assert "88,400 samples, 17 classes" in text
    assert "strongest modes (top 10 of" in text
    assert "tag sets tested" in text
    assert elapsed < 60  # "finishes in seconds"; generous for a loaded machine

    modes = prime_rs.read_table(out)
    expected = prime_rs.find_failure_modes(data.samples, max_tags=4, min_support=30, min_drop=0.3)
    assert modes.equals(expected)
    recovered = data.planted.join(modes, on=["label", "tags"], how="semi")
    assert recovered.height == n_planted


def test_demo_dense_and_seed() -> None:
    result = invoke("demo", "--synthetic", "--dense", "--seed", 3, "--threads", 2)
    assert result.exit_code == 0, result.output
    data = synthetic.generate(synthetic.DENSE, seed=3)
    modes = prime_rs.find_failure_modes(data.samples, threads=2)
    found = data.planted.join(modes, on=["label", "tags"], how="semi").height
    assert "DENSE preset, seed 3" in result.stdout
    assert f"planted modes recovered: {found} / {data.planted.height}" in result.stdout
    assert f"found {modes.height} failure modes" in result.stdout
    assert "threads     2" in result.stdout


def test_demo_bad_options(tmp_path: Path) -> None:
    assert_usage_error(invoke("demo", "--threads", 0), "threads")
    assert_usage_error(invoke("demo", "-o", tmp_path / "x.xlsx"), "unknown output type")


@pytest.mark.parametrize("split", [False, True], ids=["whole table", "with a split"])
def test_search_on_a_correct_only_table_with_modes(tmp_path: Path, split: bool) -> None:
    """A samples table with ``correct`` and no ``prediction`` (the contract allows it) has no
    confusion columns; the summary printed ``mistaken for`` from them and crashed with
    ``KeyError: 'confused_with'`` whenever there were modes."""
    df = synthetic.generate(synthetic.SMALL).samples
    df = df.with_columns(correct=pl.col("label") == pl.col("prediction")).drop("prediction")
    args: list[object] = []
    if split:
        df = df.with_columns(
            split=pl.when(pl.int_range(pl.len()) % 4 == 0)
            .then(pl.lit("test"))
            .otherwise(pl.lit("detect"))
        )
        args = ["--split-column", "split", "--holdout", "test"]
    path = tmp_path / "samples.parquet"
    df.write_parquet(path)
    out = tmp_path / "modes.parquet"
    done = run_prime("search", path, "-o", out, "--max-tags", 3, "--min-support", 20, *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    modes = pl.read_parquet(out)
    assert modes.height > 0
    assert "confused_with" not in modes.columns
    assert "mistaken for" not in done.stdout
    assert f"found {modes.height} failure modes" in done.stdout
