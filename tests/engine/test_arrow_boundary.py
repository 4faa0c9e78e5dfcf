"""Fuzzing the Arrow boundary: adversarial tag columns built with pyarrow, read by the engine.

Each example draws rows of tags (null rows, null tags, empty strings and lists, short and
long strings, non-ASCII), a layout (list, large_list, list_view, large_list_view over
string, large_string, string_view or a dictionary with any key type), random slicing of the
list array and of its child, list views whose rows sit out of order in the child, and
random chunking. The engine must then either give exactly what plain Python encoding gives
(the same vocabulary, every frequent set with its counts, the same failure modes), or
refuse the column with a `PrimeError` (here: the null tags, in the rows Python finds). No
input may crash the process.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prime_rs import TagIndex, _engine
from prime_rs.errors import InputError, PrimeError

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The empty string, short (inline in a view: at most 12 bytes) and long tags, prefixes of
# one another, non-ASCII text.
TAGS = ["", "a", "ab", "snow", "café", "twelve bytes", "thirteen byte", "日本語のタグ", "a" * 40]

LIST_TYPES = {
    "list": (pa.ListArray, pa.int32()),
    "large_list": (pa.LargeListArray, pa.int64()),
    "list_view": (pa.ListViewArray, pa.int32()),
    "large_list_view": (pa.LargeListViewArray, pa.int64()),
}
STRING_TYPES: dict[str, Any] = {
    "string": pa.string(),
    "large_string": pa.large_string(),
    "string_view": pa.string_view(),
    **{
        f"dictionary<{key}>": pa.dictionary(getattr(pa, key)(), pa.string())
        for key in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    },
    "dictionary<uint32, string_view>": pa.dictionary(pa.uint32(), pa.string_view()),
}

Row = list[str | None] | None
rows_strategy = st.lists(
    st.none() | st.lists(st.sampled_from([*TAGS, None]), max_size=5),
    min_size=0,
    max_size=25,
)


def _reference(rows: list[Row], class_ids: list[int], correct: list[bool], n_classes: int) -> Any:
    """The index of `rows` with tag ids encoded in plain Python (null rows: no tags)."""
    vocabulary = sorted({t for r in rows if r for t in r if t is not None})
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
        n_classes,
        len(vocabulary),
    )
    return engine, vocabulary


def _lattice(engine: Any, vocabulary: list[str]) -> set[tuple[Any, ...]]:
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


def _modes(engine: Any, vocabulary: list[str]) -> list[tuple[Any, ...]]:
    out = engine.search(max_tags=3, min_support=1, min_drop=0.1, necessity=[0.05])
    offsets = out["offsets"]
    return [
        (
            int(out["class_id"][i]),
            tuple(vocabulary[t] for t in out["tags"][offsets[i] : offsets[i + 1]]),
            int(out["support"][i]),
            int(out["n_correct"][i]),
            float(out["p_value"][i]),
        )
        for i in range(len(out["class_id"]))
    ]


def _child(values: list[str | None], string_type: Any, junk: int) -> pa.Array:
    """The strings `values` in `string_type`, after `junk` elements that a slice hides. A
    dictionary holds its values in reverse order, with one no key points at."""
    padded = ["junk tag, never read"] * junk + values
    if not pa.types.is_dictionary(string_type):
        return pa.array(padded, type=string_type).slice(junk)
    dictionary = ["unused entry", *sorted({v for v in padded if v is not None}, reverse=True)]
    keys = [None if v is None else dictionary.index(v) for v in padded]
    return pa.DictionaryArray.from_arrays(
        pa.array(keys, type=string_type.index_type),
        pa.array(dictionary, type=string_type.value_type),
    ).slice(junk)


def _lists(
    rows: list[Row], list_name: str, string_type: Any, junk: int, order: list[int]
) -> pa.Array:
    """`rows` as a list array of the layout `list_name`; list views keep the rows' elements
    in the child in the order `order` (any permutation), not in row order."""
    cls, offset_type = LIST_TYPES[list_name]
    mask = pa.array([r is None for r in rows], type=pa.bool_())
    if "view" not in list_name:
        flat = [t for r in rows for t in r or []]
        offsets = np.concatenate([[0], np.cumsum([len(r or []) for r in rows])])
        child = _child(flat, string_type, junk)
        return cls.from_arrays(pa.array(offsets, type=offset_type), child, mask=mask)
    flat, starts = [], [0] * len(rows)
    for i in order:
        starts[i] = len(flat)
        flat += rows[i] or []
    sizes = [len(r or []) for r in rows]
    child = _child(flat, string_type, junk)
    return cls.from_arrays(
        pa.array(starts, type=offset_type), pa.array(sizes, type=offset_type), child, mask=mask
    )


def _chunked(array: pa.Array, cuts: list[int]) -> pa.ChunkedArray:
    bounds = [0, *sorted(min(c, len(array)) for c in cuts), len(array)]
    return pa.chunked_array(
        [array.slice(a, b - a) for a, b in itertools.pairwise(bounds)], array.type
    )


@SETTINGS
@given(
    rows=rows_strategy,
    list_name=st.sampled_from(sorted(LIST_TYPES)),
    string_name=st.sampled_from(sorted(STRING_TYPES)),
    junk=st.integers(0, 3),
    head=st.integers(0, 3),
    cuts=st.lists(st.integers(0, 30), max_size=4),
    data=st.data(),
)
def test_any_layout_reads_as_python_or_is_refused(
    rows: list[Row],
    list_name: str,
    string_name: str,
    junk: int,
    head: int,
    cuts: list[int],
    data: st.DataObject,
) -> None:
    n = len(rows)
    class_ids = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    correct = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    order = data.draw(st.permutations(range(n)))
    # Rows before the ones read, hidden by slicing the list array itself.
    hidden: list[Row] = [["hidden row tag"], None, [], ["a"]][:head]
    array = _lists(
        hidden + rows,
        list_name,
        STRING_TYPES[string_name],
        junk,
        [*range(head), *(head + i for i in order)],
    )
    array = array.slice(head)
    assert array.to_pylist() == rows
    column = _chunked(array, cuts)
    table = pa.table({"tags": column})
    ids, ok = np.array(class_ids, dtype=np.uint32), np.array(correct, dtype=np.bool_)
    null_rows = [i for i, r in enumerate(rows) if r is not None and None in r]

    assert _engine.rows_with_null_tags(table).tolist() == null_rows
    if null_rows:
        # Classes are encoded in parallel: the error names one of the rows.
        which = "|".join(map(str, null_rows))
        with pytest.raises(InputError, match=f"row ({which}) has a null tag"):
            _engine.TagIndex.from_arrow_tags(table, ids, ok, 3)
        return
    engine, vocabulary = _engine.TagIndex.from_arrow_tags(table, ids, ok, 3)
    expected, expected_vocabulary = _reference(rows, class_ids, correct, 3)
    assert vocabulary == expected_vocabulary
    assert _lattice(engine, vocabulary) == _lattice(expected, expected_vocabulary)
    assert _modes(engine, vocabulary) == _modes(expected, expected_vocabulary)


@SETTINGS
@given(
    values=st.lists(st.sampled_from(TAGS), max_size=30),
    null_at=st.none() | st.integers(0, 30),
    string_name=st.sampled_from(sorted(STRING_TYPES)),
    junk=st.integers(0, 3),
    cuts=st.lists(st.integers(0, 30), max_size=4),
)
def test_any_string_layout_encodes_as_python_or_is_refused(
    values: list[str | None], null_at: int | None, string_name: str, junk: int, cuts: list[int]
) -> None:
    if null_at is not None:
        values = [*values[:null_at], None, *values[null_at:]]
    column = _chunked(_child(values, STRING_TYPES[string_name], junk), cuts)
    if None in values:
        with pytest.raises(InputError, match=f"row {values.index(None)} is null"):
            _engine.encode_strings(pa.table({"label": column}))
        return
    distinct, codes = _engine.encode_strings(pa.table({"label": column}))
    assert distinct == sorted(set(values))
    assert [distinct[c] for c in codes.tolist()] == values


def test_other_types_are_refused_cleanly() -> None:
    """Every other type, nested or not, is a PrimeError naming the column and its type."""
    ids, ok = np.zeros(2, dtype=np.uint32), np.ones(2, dtype=np.bool_)
    for array in (
        pa.array([1, 2]),
        pa.array([[1], [2]]),
        pa.array([[b"a"], [b"b"]], type=pa.list_(pa.large_binary())),
        pa.array([[["a"]], [["b"]]]),
        pa.array([[None], [None]], type=pa.list_(pa.null())),
        pa.array([{"x": "a"}, {"x": "b"}]),
        pa.array([["a"], ["b"]], type=pa.list_(pa.string(), 1)),
        pa.array(["a", "b"], type=pa.binary_view()),
    ):
        with pytest.raises(PrimeError, match="column 'odd' has the Arrow type"):
            _engine.TagIndex.from_arrow_tags(pa.table({"odd": array}), ids, ok, 1)
    with pytest.raises(PrimeError, match="one column"):
        _engine.TagIndex.from_arrow_tags(pa.table({"a": [["x"]] * 2, "b": [["y"]] * 2}), ids, ok, 1)


def test_non_utf8_is_refused_by_arrow_and_by_the_engine() -> None:
    """Invalid UTF-8 fails pyarrow's own validation; handed over anyway, the engine refuses
    it with an InputError (short tags, inline in their views, and long ones)."""
    for bad in (b"\xff", b"abc\xc3", b"a long tag then \xfe\xff bytes"):
        offsets = pa.py_buffer(np.array([0, len(bad)], dtype=np.int32).tobytes())
        strings = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(bad)])
        with pytest.raises(pa.ArrowInvalid):
            strings.validate(full=True)
        lists = pa.ListArray.from_arrays(pa.array([0, 1], type=pa.int32()), strings)
        with pytest.raises(InputError, match="not valid UTF-8"):
            _engine.TagIndex.from_arrow_tags(
                pa.table({"tags": lists}), np.zeros(1, np.uint32), np.ones(1, np.bool_), 1
            )
        with pytest.raises(InputError, match="not valid UTF-8"):
            _engine.encode_strings(pa.table({"label": strings}))


def test_huge_offsets() -> None:
    """Rows whose offsets start far into their buffers: a large_string child after 48 MiB
    of sliced-off data, under a large_list after a million sliced-off elements."""
    padding = 1_000_000
    strings = pa.array(
        ["x" * 48] * padding + ["snow", "a tag longer than twelve"], pa.large_string()
    )
    # Row 0 holds the million padding strings; the slice leaves the three rows after it.
    offsets = [0, padding, padding + 1, padding + 2, padding + 2]
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), strings).slice(1)
    assert lists.offsets[0].as_py() == padding
    string_offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)
    assert string_offsets[padding] == 48 * padding
    engine, vocabulary = _engine.TagIndex.from_arrow_tags(
        pa.table({"tags": lists}), np.zeros(3, np.uint32), np.array([True, False, True]), 1
    )
    assert vocabulary == ["a tag longer than twelve", "snow"]
    assert engine.stats(0, [1]) == (1, 1) and engine.stats(0, [0]) == (1, 0)


@pytest.mark.parametrize("string_type", [pa.string_view(), pa.dictionary(pa.int32(), pa.string())])
def test_seventy_thousand_distinct_tags(string_type: Any) -> None:
    """A vocabulary past 2^16 (dictionary keys and view buffers well past small sizes),
    through the public API, against a count made in Python."""
    rng = np.random.default_rng(11)
    n_tags, n_rows = 70_000, 30_000
    names = [f"tag {i:05d}" + ("" if i % 3 else " with a long tail") for i in range(n_tags)]
    rows = [
        [names[t] for t in rng.choice(n_tags, size=int(rng.integers(0, 8)), replace=False)]
        for _ in range(n_rows)
    ]
    flat = [t for r in rows for t in r]
    offsets = pa.array(np.concatenate([[0], np.cumsum([len(r) for r in rows])]), pa.int32())
    tags = pa.ListArray.from_arrays(offsets, pa.array(flat, type=string_type))
    samples = pa.table(
        {
            "id": np.arange(n_rows),
            "label": rng.choice(["cat", "dog"], size=n_rows),
            "correct": rng.random(n_rows) < 0.7,
            "tags": _chunked(tags, [7_777, 20_001]),
        }
    )
    index = TagIndex.from_samples(samples)
    assert index.vocabulary == sorted(set(flat))
    counts: dict[tuple[str, str], int] = {}
    for label, row in zip(samples["label"].to_pylist(), rows, strict=True):
        for t in row:
            counts[label, t] = counts.get((label, t), 0) + 1
    sets = index.frequent_sets(max_tags=1, min_support=1)
    got = {(label, t[0]): s for label, t, s in sets.select("label", "tags", "support").iter_rows()}
    assert got == counts
