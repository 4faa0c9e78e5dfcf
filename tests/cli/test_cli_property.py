"""``prime search`` never crashes: random tables and random, often invalid, parameters.

Hypothesis writes small samples tables of every kind (string or integer labels, unicode,
tags with commas, bars and spaces, empty tag lists, ``correct`` and/or ``prediction``, a
split column or not) in every input format, and calls ``prime search`` in process with
random options, many of them wrong (negative, zero, huge, not numbers, empty, unknown
classes, split options without a split column). Whatever the input, the command ends with
exit status 0, or with 2 and one short error message: never a traceback. It tries 150
examples (about ten seconds); ``PRIME_FUZZ_EXAMPLES=5000`` searches longer.

Then plain tests of what the fuzzing found, each naming what a user sees.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import prime_rs
from prime_rs.cli import cli

FORMATS = ("parquet", "csv", "json", "jsonl")
MAX_ERROR = 600  # characters of a "short" error message

# Names with the characters that break naive parsing: separators, blanks, unicode.
_ALPHABET = st.sampled_from([*"abcxyz", ",", "|", " ", "-", "é", "猫", "🦊", "'", '"'])
_NAMES = st.text(_ALPHABET, min_size=1, max_size=6)


@st.composite
def samples_tables(draw: st.DrawFn) -> pl.DataFrame:
    """A small samples table: few classes and few tags, and one tag whose samples are mostly
    wrong, so that searches with a small ``--min-support`` find modes."""
    n = draw(st.integers(0, 60))
    if draw(st.booleans()):
        classes: list[Any] = draw(st.lists(_NAMES, min_size=1, max_size=3, unique=True))
        other: Any = "zz-not-a-class"
        dtype: pl.DataType = pl.String()
    else:
        classes = draw(st.lists(st.integers(-3, 1000), min_size=1, max_size=3, unique=True))
        other = -99
        dtype = pl.Int64()
    vocabulary = draw(st.lists(_NAMES | st.just(""), min_size=1, max_size=4, unique=True))
    labels = draw(st.lists(st.sampled_from(classes), min_size=n, max_size=n))
    tags = draw(
        st.lists(
            st.lists(st.sampled_from(vocabulary), max_size=2, unique=True), min_size=n, max_size=n
        )
    )
    # A planted tag: its samples are wrong, the others right, but for about one in ten.
    planted = draw(st.sampled_from(vocabulary))
    flips = draw(st.lists(st.integers(0, 9).map(lambda x: x == 0), min_size=n, max_size=n))
    correct = [(planted not in t) != flip for t, flip in zip(tags, flips, strict=True)]
    columns: dict[str, pl.Series] = {
        "id": pl.Series(range(n), dtype=pl.Int64),
        "label": pl.Series(labels, dtype=dtype),
        "tags": pl.Series(tags, dtype=pl.List(pl.String)),
    }
    outcome = draw(st.sampled_from(["correct", "prediction", "both"]))
    if outcome in ("prediction", "both"):
        wrong = [
            next((c for c in classes if c != label), other) for label in labels
        ]  # another class, or a prediction outside the classes
        prediction = [lab if ok else w for lab, ok, w in zip(labels, correct, wrong, strict=True)]
        columns["prediction"] = pl.Series(prediction, dtype=dtype)
    if outcome in ("correct", "both"):
        columns["correct"] = pl.Series(correct, dtype=pl.Boolean)
    if draw(st.booleans()):
        columns["split"] = pl.Series(
            draw(st.lists(st.sampled_from(["detect", "test", "x"]), min_size=n, max_size=n)),
            dtype=pl.String,
        )
    return pl.DataFrame(columns)


_INTS = st.one_of(
    st.integers(-3, 6),
    st.sampled_from([0, -1, 64, 65, 2**31, 2**32 - 1, 2**32, 10**12, 10**30]),
)
_FRACTIONS = st.one_of(
    st.sampled_from(["0", "1", "0.3", "30%", "100%", "0%", "-0.1", "1.5", "150%", "nan", "inf"]),
    st.sampled_from(["", " ", "abc", "%", "1e-9", "0,3", "3e2%", "-0%", "--1"]),
    st.floats(-1, 2, allow_nan=False).map(lambda x: f"{x:.3g}"),
)
_TEXT = st.sampled_from(["", " ", "x", "-1", "1.5", "٣", "1_0", "0x10", "1e3"])


def _int_option(name: str) -> st.SearchStrategy[list[str]]:
    return st.tuples(st.just(name), _INTS.map(str) | _TEXT).map(list)


@st.composite
def search_options(draw: st.DrawFn, df: pl.DataFrame) -> list[str]:
    """Random ``prime search`` options, valid or not."""
    labels = df["label"].unique().to_list()
    option_strategies: dict[str, st.SearchStrategy[list[str]]] = {
        "max_tags": _int_option("--max-tags"),
        "min_support": _int_option("--min-support"),
        "min_tag_count": _int_option("--min-tag-count"),
        "threads": st.tuples(
            st.just("--threads"),
            st.sampled_from(["1", "2", "0", "-1", "x", "", "10**3", str(10**21)]),
        ).map(list),
        "beam_width": _int_option("--beam-width"),
        "min_drop": st.tuples(st.just("--min-drop"), _FRACTIONS).map(list),
        "confidence": st.tuples(st.just("--confidence"), _FRACTIONS).map(list),
        "max_q": st.tuples(st.just("--max-q"), _FRACTIONS).map(list),
        "necessity": st.tuples(
            st.just("--necessity"),
            st.lists(_FRACTIONS, min_size=0, max_size=4).map(",".join),
        ).map(list),
        "labels": st.tuples(
            st.just("--labels"),
            st.one_of(
                st.lists(st.sampled_from(labels), min_size=1, max_size=3).map(
                    lambda xs: ",".join(map(str, xs))
                )
                if labels
                else st.just("fox"),
                st.sampled_from(["", ",", "fox", "fox,", "7", " , "]),
            ),
        ).map(list),
        "search": st.tuples(
            st.just("--search"), st.sampled_from(["exhaustive", "greedy", "beam", ""])
        ).map(list),
        "rank_by": st.tuples(
            st.just("--rank-by"), st.sampled_from(["drop", "q_value", "impact", "support", ""])
        ).map(list),
        "noise_runs": st.tuples(
            st.just("--noise-runs"), st.sampled_from(["0", "1", "3", "-1", "x", ""])
        ).map(list),
        "split_column": st.tuples(
            st.just("--split-column"),
            st.sampled_from(["split", "label", "id", "correct", "tags", "nope", ""]),
        ).map(list),
        "detect": st.tuples(st.just("--detect"), st.sampled_from(["detect", "test", "x", ""])).map(
            list
        ),
        "holdout": st.tuples(
            st.just("--holdout"), st.sampled_from(["test", "detect", "none", ""])
        ).map(list),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(option_strategies)), max_size=6, unique=True))
    # Usually a small support first (the default of 30 rarely fits a small table), which a
    # random --min-support later on the line overrides.
    args: list[str] = draw(
        st.sampled_from([[], ["--min-support", "2"], ["--min-support", "4", "--max-tags", "2"]])
    )
    for name in chosen:
        args += draw(option_strategies[name])
    return args


def invoke(args: list[str]) -> Result:
    """``prime ARGS`` in process; warnings stay warnings, as for a user."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return CliRunner().invoke(cli, args)


def assert_no_crash(result: Result, args: list[str]) -> None:
    """Exit 0, or exit 2 with one short ``Error:`` paragraph; never a traceback."""
    output = result.output
    unexpected = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not unexpected, (args, repr(result.exception), output)
    assert "Traceback" not in output, (args, output)
    assert result.exit_code in (0, 2), (args, result.exit_code, output)
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, (args, result.stderr)
        assert len(errors[0]) <= MAX_ERROR, (args, errors[0])
        # Only click's usage lines around it: nothing else, no second message.
        rest = [
            line
            for line in result.stderr.splitlines()
            if line.strip() and not line.startswith(("Error", "Usage:", "Try "))
        ]
        assert rest == [], (args, result.stderr)


def write(df: pl.DataFrame, path: Path) -> None:
    fmt = path.suffix.lstrip(".")
    if fmt == "parquet":
        df.write_parquet(path)
    elif fmt == "csv":
        df.with_columns(pl.col("tags").list.join("|")).write_csv(path)
    elif fmt == "json":
        df.write_json(path)
    else:
        df.write_ndjson(path)


@settings(
    max_examples=int(os.environ.get("PRIME_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    df=samples_tables(),
    source=st.sampled_from(FORMATS),
    out=st.sampled_from([*FORMATS, None, "txt", ""]),
)
def test_search_never_crashes(
    data: st.DataObject, df: pl.DataFrame, source: str, out: str | None
) -> None:
    options = data.draw(search_options(df), label="options")
    with tempfile.TemporaryDirectory() as folder:
        samples = Path(folder) / f"samples.{source}"
        write(df, samples)
        args = ["search", str(samples), *options]
        if out is not None:
            args += ["-o", str(Path(folder) / f"modes.{out}" if out else folder)]
        result = invoke(args)
        event(f"exit {result.exit_code}")
        found = re.search(r"found (\S+) failure mode", result.stdout)
        if found:
            event("no modes" if found.group(1) == "0" else "modes found")
        assert_no_crash(result, args)


@settings(
    max_examples=int(os.environ.get("PRIME_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    df=samples_tables(),
    source=st.sampled_from(FORMATS),
    out=st.sampled_from(FORMATS),
)
def test_chained_commands_never_crash(
    data: st.DataObject, df: pl.DataFrame, source: str, out: str
) -> None:
    """What a user runs on a search's output, on the same odd tables: ``evaluate
    generalization``, ``evaluate tag-overlap``, ``evaluate prompts``, ``inspect`` (of a random
    class and tag set) and ``report``, each ending with exit 0 or one clean error."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        samples = folder / f"samples.{source}"
        write(df, samples)
        modes = folder / f"modes.{out}"
        search = invoke(["search", str(samples), "--min-support", "2", "-o", str(modes)])
        assert_no_crash(search, ["search", str(samples)])
        event(f"search exit {search.exit_code}")
        if search.exit_code != 0:
            return  # a table the search refuses has no output to chain on
        split = ["--split-column", "split", "--holdout", "test"] if "split" in df.columns else []
        labels = df["label"].unique().to_list()
        tags = sorted({t for row in df["tags"].to_list() for t in row})
        label = data.draw(st.sampled_from(labels) if labels else st.just("fox"), label="label")
        chosen = data.draw(
            st.lists(st.sampled_from(tags), min_size=1, max_size=3, unique=True)
            if tags
            else st.just(["snow"]),
            label="tags",
        )
        commands = [
            ["evaluate", "generalization", str(modes), str(samples), *split,
             "-o", str(folder / f"generalization.{out}")],
            ["evaluate", "tag-overlap", str(modes), str(samples), *split],
            ["evaluate", "prompts", str(modes), str(samples), "-o", str(folder / "p.json")],
            ["inspect", str(samples), "--label", str(label), "--tags", ",".join(chosen), *split],
            ["report", str(modes), str(samples), *split, "-o", str(folder / "report.html")],
        ]  # fmt: skip
        for args in commands:
            result = invoke(args)
            event(f"{args[0]} {args[1] if args[0] == 'evaluate' else ''} exit {result.exit_code}")
            assert_no_crash(result, args)


# -- what the fuzzing found, as plain tests ------------------------------------------------


@pytest.fixture(scope="module")
def odd_names(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Classes and tags whose names hold commas, bars and blanks; a mode in each class."""
    rows = []
    for label in ("fox, red", "cat"):
        for i in range(100):
            tags = ["snow, deep", "night"] if i < 40 else ["grass"]
            rows.append({"label": label, "tags": tags, "correct": i >= 30 if i < 40 else True})
    df = pl.DataFrame(rows).with_row_index("id")
    path = tmp_path_factory.mktemp("odd") / "samples.parquet"
    df.write_parquet(path)
    return path


def test_a_class_with_a_comma_can_be_searched_alone(odd_names: Path) -> None:
    """A class named "fox, red" can be chosen by its whole name, though --labels splits on
    commas (a value that is a class name as a whole names that class)."""
    expected = prime_rs.find_failure_modes(odd_names, labels=["fox, red"], min_support=10)
    assert expected.height > 0
    result = invoke(["search", str(odd_names), "--labels", "fox, red", "--min-support", "10"])
    assert result.exit_code == 0, result.output
    assert f"found {expected.height} failure mode" in result.stdout


def test_a_tag_with_a_comma_can_be_inspected(odd_names: Path) -> None:
    """The tag "snow, deep" can be named by its whole name, though --tags splits on commas."""
    result = invoke(["inspect", str(odd_names), "--label", "cat", "--tags", "snow, deep"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("value", [2**32, 10**12])
def test_a_huge_min_tag_count_is_refused_for_what_it_is(odd_names: Path, value: int) -> None:
    """A positive count past the engine's range must not be called "not positive"."""
    result = invoke(["search", str(odd_names), "--min-tag-count", str(value)])
    assert result.exit_code == 2
    # As for --min-support: "min_support: must be below 2**32, got ...".
    assert "below 2**32" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--threads", str(10**21)],
        ["--search", "greedy", "--beam-width", str(10**21)],
        ["--split-column", "tags"],
        ["--split-column", "tags", "--holdout", "x"],
    ],
    ids=["threads-past-usize", "beam-width-past-usize", "split-on-tags", "split-on-tags-holdout"],
)
def test_search_refuses_cleanly(odd_names: Path, args: list[str]) -> None:
    """Numbers too large for the engine, and a split column of lists: one error, exit 2."""
    full = ["search", str(odd_names), *args]
    result = invoke(full)
    assert_no_crash(result, full)
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize("template", ["{", "}", "{label!x}", "{tags.x}", "{label:d}"])
def test_prompts_refuse_a_broken_template(odd_names: Path, tmp_path: Path, template: str) -> None:
    """``prime evaluate prompts --template``: a template Python cannot format is bad input."""
    modes = tmp_path / "modes.parquet"
    prime_rs.find_failure_modes(odd_names, min_support=10).write_parquet(modes)
    full = [
        "evaluate", "prompts", str(modes), str(odd_names), "--template", template,
        "-o", str(tmp_path / "prompts.json"),
    ]  # fmt: skip
    result = invoke(full)
    assert_no_crash(result, full)
    assert result.exit_code == 2, result.output
    assert "template" in result.stderr


def test_a_tag_with_a_bar_survives_a_csv_mode_table(tmp_path: Path) -> None:
    """CSV cells join tags with ``|``: a tag "snow|deep" written there comes back as two
    tags, and the chained command silently finds no holdout samples for the mode. Either
    the CSV output is refused or the mode comes back whole."""
    rows = [
        {"id": i, "label": "cat", "tags": ["snow|deep"] if i < 40 else ["grass"],
         "correct": i >= 30}
        for i in range(100)
    ]  # fmt: skip
    samples = tmp_path / "samples.parquet"
    pl.DataFrame(rows).write_parquet(samples)
    modes = tmp_path / "modes.csv"
    search = invoke(["search", str(samples), "--min-support", "10", "-o", str(modes)])
    assert_no_crash(search, ["search"])
    if search.exit_code == 2:
        return  # refused: the user learns why, and nothing is lost silently
    out = tmp_path / "holdout.parquet"
    chained = invoke(["evaluate", "generalization", str(modes), str(samples), "-o", str(out)])
    assert chained.exit_code == 0, chained.output
    back = pl.read_parquet(out)
    assert back["tags"].to_list() == [["snow|deep"]]
    assert back["holdout_support"].to_list() == [40]
