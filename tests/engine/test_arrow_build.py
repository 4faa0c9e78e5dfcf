"""Building the index from Arrow memory: the engine reads the tag strings in place.

`TagIndex.from_samples` hands the `tags` column to the engine through the Arrow C stream
interface (read by arrow-rs). These tests check that this path gives exactly what plain
Python encoding gives (tag ids computed here, then `from_csr`), and that the reader handles
every layout it claims: lists with 32- and 64-bit offsets over `string`, `large_string`,
`string_view` and dictionaries, sliced and chunked arrays, null lists, repeated tags and long
(non-inline) strings; other types are refused with an `InputError`. Adversarial inputs are
fuzzed in test_arrow_boundary.py.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prime_rs import TagIndex, _engine
from prime_rs.errors import InputError
from prime_rs.io import load_samples

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Short tags (inline in a string view: at most 12 bytes), long ones, shared prefixes,
# non-ASCII, and the empty string.
TAGS = (
    "", "a", "ab", "a b", "snow", "Snow", "café", "caf", "twelve bytes", "thirteen byte",
    "zebra crossing", "a much longer tag than twelve bytes", "ñandú", "日本",
)  # fmt: skip

rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(("cat", "dog", "fox")),
        st.booleans(),
        st.lists(st.sampled_from(TAGS), max_size=6),
    ),
    min_size=1,
    max_size=40,
)


def _frame(rows: list[tuple[str, bool, list[str]]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(range(len(rows))),
            "label": [r[0] for r in rows],
            "correct": [r[1] for r in rows],
            "tags": [r[2] for r in rows],
        },
        schema={"id": pl.Int64, "label": pl.String, "correct": pl.Boolean,
                "tags": pl.List(pl.String)},
    )  # fmt: skip


def _lattice(engine: _engine.TagIndex, vocabulary: list[str]) -> set[tuple[Any, ...]]:
    """Every frequent set (support >= 1, up to 3 tags) by tag names, with its counts."""
    out = engine.frequent_sets(max_tags=3, min_support=1)
    offsets = out["offsets"]
    return {
        (
            int(out["class_id"][i]),
            tuple(vocabulary[t] for t in out["tags"][offsets[i] : offsets[i + 1]]),
            int(out["support"][i]),
            int(out["n_correct"][i]),
        )
        for i in range(len(out["class_id"]))
    }


def _reference(
    rows: list[list[str] | None], class_ids: list[int], correct: list[bool]
) -> tuple[_engine.TagIndex, list[str]]:
    """The index built from CSR arrays encoded here, in plain Python."""
    vocabulary = sorted({t for r in rows if r for t in r})
    ids = {t: i for i, t in enumerate(vocabulary)}
    indptr, indices = [0], []
    for r in rows:
        indices += [ids[t] for t in r or []]
        indptr.append(len(indices))
    engine = _engine.TagIndex.from_csr(
        np.array(indptr, dtype=np.uint64),
        np.array(indices, dtype=np.uint32),
        np.array(class_ids, dtype=np.uint32),
        np.array(correct, dtype=np.bool_),
        max(class_ids, default=0) + 1,
        len(vocabulary),
    )
    return engine, vocabulary


def _both_paths(df: pl.DataFrame) -> tuple[TagIndex, tuple[_engine.TagIndex, list[str]]]:
    """The index `from_samples` builds, and the one built from tag ids encoded in Python."""
    validated = load_samples(df)
    index = TagIndex._from_validated(validated, min_tag_count=None)
    labels = sorted(set(validated["label"].to_list()))
    class_ids = [labels.index(x) for x in validated["label"].to_list()]
    plain = _reference(validated["tags"].to_list(), class_ids, validated["correct"].to_list())
    return index, plain


@SETTINGS
@given(rows=rows_strategy, cut=st.integers(0, 40))
def test_arrow_path_equals_plain_encoding(
    rows: list[tuple[str, bool, list[str]]], cut: int
) -> None:
    df = _frame(rows)
    # Two chunks (the stream yields each), the second one a slice with an offset.
    cut = min(cut, len(rows))
    chunked = pl.concat([df[:cut], df[cut:]], rechunk=False)
    for table in (df, chunked, df[cut:] if cut < len(rows) else df):
        index, (engine, vocabulary) = _both_paths(table)
        assert index.vocabulary == vocabulary
        assert _lattice(index._engine, index.vocabulary) == _lattice(engine, vocabulary)
        n, k = index._engine.class_counts()
        n2, k2 = engine.class_counts()
        assert n.tolist() == n2.tolist() and k.tolist() == k2.tolist()


LIST_TYPES = [pa.list_, pa.large_list]
STRING_TYPES = [pa.string(), pa.large_string(), pa.string_view()]


@pytest.mark.parametrize("list_type", LIST_TYPES, ids=["list", "large_list"])
@pytest.mark.parametrize("string_type", STRING_TYPES, ids=["string", "large_string", "view"])
@SETTINGS
@given(
    rows=st.lists(st.none() | st.lists(st.sampled_from(TAGS), max_size=5), min_size=1, max_size=30),
    start=st.integers(0, 5),
    data=st.data(),
)
def test_every_arrow_layout(
    list_type: Any, string_type: Any, rows: list[list[str] | None], start: int, data: Any
) -> None:
    """pyarrow arrays of each layout (null lists, sliced, chunked) read as Python reads them."""
    class_ids = data.draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows)))
    correct = data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    array = pa.array(rows, type=list_type(string_type))
    start = min(start, len(rows) - 1)
    pieces = [array.slice(0, start), array.slice(start)] if start else [array]
    chunked = pa.chunked_array(pieces, type=array.type)
    n_classes = max(class_ids) + 1
    built = _engine.TagIndex.from_arrow_tags(
        chunked.__arrow_c_stream__(),
        np.array(class_ids, dtype=np.uint32),
        np.array(correct, dtype=np.bool_),
        n_classes,
    )
    engine, vocabulary = built
    expected, expected_vocabulary = _reference(rows, class_ids, correct)
    assert vocabulary == expected_vocabulary
    assert _lattice(engine, vocabulary) == _lattice(expected, expected_vocabulary)
    assert _engine.rows_with_null_tags(chunked.__arrow_c_stream__()).tolist() == []


def test_rows_are_found_across_many_chunks() -> None:
    """The reader finds each row's chunk by blocks of 4,096 rows: chunks of every size,
    empty ones included, inside one block or across several, and rows visited class by
    class (out of order)."""
    rng = np.random.default_rng(7)
    n = 13_000
    rows = [[TAGS[t] for t in rng.integers(0, len(TAGS), rng.integers(0, 5))] for _ in range(n)]
    class_ids = rng.integers(0, 5, n).tolist()
    correct = rng.integers(0, 2, n).astype(bool).tolist()
    labels = [f"class {c}" for c in class_ids]
    sizes, total = [], 0
    while total < n:
        size = min(int(rng.choice([0, 1, 3, 250, 2_000, 4_096, 6_000])), n - total)
        sizes.append(size)
        total += size
    sizes[3:3] = [0, 0]  # empty chunks in a row
    cuts = np.cumsum([0, *sizes])
    assert len(sizes) > 10

    def chunked(values: list[Any], type_: Any) -> pa.ChunkedArray:
        array = pa.array(values, type=type_)
        return pa.chunked_array(
            [array.slice(a, b - a) for a, b in itertools.pairwise(cuts)], type=type_
        )

    tags = chunked(rows, pa.large_list(pa.string_view()))
    built = _engine.TagIndex.from_arrow_tags(
        tags.__arrow_c_stream__(),
        np.array(class_ids, dtype=np.uint32),
        np.array(correct, dtype=np.bool_),
        5,
    )
    engine, vocabulary = built
    expected, expected_vocabulary = _reference(rows, class_ids, correct)
    assert vocabulary == expected_vocabulary
    assert _lattice(engine, vocabulary) == _lattice(expected, expected_vocabulary)
    values, codes = _engine.encode_strings(chunked(labels, pa.string_view()).__arrow_c_stream__())
    assert [values[c] for c in codes] == labels


def test_unknown_layouts_are_refused() -> None:
    """A type the reader does not know is an InputError naming the column and its type."""
    ids, ok = np.zeros(2, dtype=np.uint32), np.ones(2, dtype=np.bool_)
    for array, shown in (
        (pa.array([[1], [2]], type=pa.list_(pa.int64())), "List(Int64)"),
        (pa.array(["a", "b"]), "Utf8"),
        (pa.array([["a"], ["b"]], type=pa.list_(pa.binary())), "List(Binary)"),
    ):
        table = pa.table({"tags": pa.chunked_array([array])})
        with pytest.raises(
            InputError, match=re.escape(f"column 'tags' has the Arrow type {shown};")
        ):
            _engine.TagIndex.from_arrow_tags(table, ids, ok, 1)
        with pytest.raises(InputError, match="column 'tags'"):
            _engine.rows_with_null_tags(table)


def test_dictionary_tags_are_read() -> None:
    """Dictionary-encoded tags (pyarrow's int32 keys, Polars categoricals and enums)."""
    rows = [["snow", "fox"], [], None, ["fox"], ["fox", "fox"]]
    ids, ok = np.zeros(5, dtype=np.uint32), np.array([True, False, True, False, True])
    expected, vocabulary = _reference(rows, [0] * 5, ok.tolist())
    plain = pa.array(rows, type=pa.list_(pa.string()))
    encoded = pa.ListArray.from_arrays(
        plain.offsets, plain.values.dictionary_encode(), mask=plain.is_null()
    )
    categorical = pl.Series("tags", rows, dtype=pl.List(pl.Categorical))
    enum = pl.Series("tags", rows, dtype=pl.List(pl.Enum(["fox", "snow"])))
    for source in (pa.table({"tags": encoded}), categorical.to_frame(), enum.to_frame()):
        engine, got = _engine.TagIndex.from_arrow_tags(source, ids, ok, 1)
        assert got == vocabulary
        assert _lattice(engine, got) == _lattice(expected, vocabulary)


def test_null_tags_are_found_and_refused() -> None:
    array = pa.array([["a"], ["b", None], None, [None], []], type=pa.list_(pa.string_view()))
    rows = _engine.rows_with_null_tags(pa.chunked_array([array]).__arrow_c_stream__())
    assert rows.tolist() == [1, 3]
    with pytest.raises(InputError, match="row 1 has a null tag"):
        _engine.TagIndex.from_arrow_tags(
            pa.chunked_array([array]).__arrow_c_stream__(),
            np.zeros(5, dtype=np.uint32),
            np.ones(5, dtype=np.bool_),
            1,
        )
    # Through the public API the message names the table, the column and the rows.
    df = pl.DataFrame({"id": range(5), "label": ["a"] * 5, "correct": [True] * 5,
                       "tags": pl.from_arrow(array)})  # fmt: skip
    with pytest.raises(InputError, match=r"null tag inside the list in rows 1, 3"):
        TagIndex.from_samples(df)


def test_lengths_must_agree() -> None:
    array = pa.chunked_array([pa.array([["a"], ["b"]], type=pa.list_(pa.string()))])
    with pytest.raises(InputError, match="must be as many"):
        _engine.TagIndex.from_arrow_tags(
            array.__arrow_c_stream__(), np.zeros(3, dtype=np.uint32), np.ones(3, dtype=np.bool_), 1
        )


def test_a_capsule_of_another_kind_is_refused() -> None:
    array = pa.array([["a"]], type=pa.list_(pa.string()))
    schema_capsule, _ = array.__arrow_c_array__()
    ids, ok = np.zeros(1, dtype=np.uint32), np.ones(1, dtype=np.bool_)
    with pytest.raises(InputError, match="arrow_array_stream"):
        _engine.TagIndex.from_arrow_tags(schema_capsule, ids, ok, 1)
    with pytest.raises(InputError, match="__arrow_c_stream__"):
        _engine.TagIndex.from_arrow_tags([["a"]], ids, ok, 1)


@pytest.mark.parametrize("string_type", STRING_TYPES, ids=["string", "large_string", "view"])
@SETTINGS
@given(values=st.lists(st.sampled_from(TAGS), min_size=1, max_size=40), start=st.integers(0, 5))
def test_string_labels_are_encoded_in_place(
    string_type: Any, values: list[str], start: int
) -> None:
    """Labels: every distinct value sorted by code point, and each row's position."""
    array = pa.array(values, type=string_type)
    start = min(start, len(values) - 1)
    pieces = [array.slice(0, start), array.slice(start)] if start else [array]
    got = _engine.encode_strings(pa.chunked_array(pieces, type=array.type).__arrow_c_stream__())
    distinct, codes = got
    assert distinct == sorted(set(values))
    assert [distinct[c] for c in codes.tolist()] == values


def test_encode_strings_takes_only_string_columns() -> None:
    for array in (pa.array([1, 2]), pa.array([["a"], ["b"]], type=pa.list_(pa.string()))):
        with pytest.raises(InputError, match="the engine reads strings"):
            _engine.encode_strings(pa.chunked_array([array]).__arrow_c_stream__())
    with pytest.raises(InputError, match="row 1 is null"):
        _engine.encode_strings(pa.chunked_array([pa.array(["a", None])]).__arrow_c_stream__())
    # Categorical labels are strings too.
    labels = pl.Series("label", ["b", "a", "b"], dtype=pl.Categorical)
    values, codes = _engine.encode_strings(labels.__arrow_c_stream__())
    assert values == ["a", "b"] and codes.tolist() == [1, 0, 1]
    # A string tags column is not a list column.
    strings = pa.chunked_array([pa.array(["a|b"])])
    with pytest.raises(InputError, match="the engine reads lists"):
        _engine.rows_with_null_tags(strings.__arrow_c_stream__())


def _views_with_padding(values: list[str], fill: int) -> pa.Array:
    """A string_view array of short strings (12 bytes at most) whose unused view bytes hold
    `fill` rather than zeros, as a producer may leave them."""
    views = bytearray()
    for v in values:
        b = v.encode()
        assert len(b) <= 12
        views += len(b).to_bytes(4, "little") + b + bytes([fill]) * (12 - len(b))
    return pa.Array.from_buffers(pa.string_view(), len(values), [None, pa.py_buffer(bytes(views))])


def test_inline_padding_is_ignored() -> None:
    """Equal short tags are one tag whatever their views hold past their bytes, whichever
    length they have (0 to 12 bytes)."""
    names = ["", "a", "fox", "snow", "zebra", "mountain", "twelve bytes"]
    clean = _views_with_padding(names, 0)
    dirty = _views_with_padding(names, 0xAB)
    assert dirty.to_pylist() == names
    child = pa.concat_arrays([clean, dirty])
    n = len(names)
    offsets = pa.array([0, n, 2 * n], type=pa.int32())
    lists = pa.ListArray.from_arrays(offsets, child)
    built = _engine.TagIndex.from_arrow_tags(
        pa.chunked_array([lists]).__arrow_c_stream__(),
        np.zeros(2, dtype=np.uint32),
        np.array([True, False]),
        1,
    )
    engine, vocabulary = built
    assert vocabulary == sorted(names)
    # Each tag is in both rows, once.
    assert [engine.stats(0, [t]) for t in range(n)] == [(2, 1)] * n
    values, codes = _engine.encode_strings(pa.chunked_array([child]).__arrow_c_stream__())
    assert values == sorted(names)
    assert [values[c] for c in codes] == names * 2
