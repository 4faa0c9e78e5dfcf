"""The engine's Arrow export (`_engine.TagNames`, `ArrowData`, and the mode table of a
search): what Polars and pyarrow read from it, against plain Python slicing; arrays that
outlive their names, exports taken twice, and bad input."""

from __future__ import annotations

import gc
import itertools

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prime_rs
from prime_rs import _engine, synthetic

# Short (inline in a view) and long names, the longest inline (12 bytes), the empty string,
# non-ASCII text.
_names = st.lists(
    st.one_of(
        st.text(max_size=12),
        st.text(min_size=13, max_size=40),
        st.sampled_from(["", "twelve bytes", "thirteen byte", "é" * 7]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(names=_names, data=st.data())
def test_lists_read_back_as_sliced_names(names: list[str], data: st.DataObject) -> None:
    sizes = data.draw(st.lists(st.integers(0, 5), max_size=20))
    ids = data.draw(
        st.lists(st.integers(0, len(names) - 1), min_size=sum(sizes), max_size=sum(sizes))
    )
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.uint64)]).astype(np.uint64)
    want = [[names[t] for t in ids[a:b]] for a, b in itertools.pairwise(offsets)]
    exported = _engine.TagNames(names).lists(offsets, np.array(ids, dtype=np.uint32))
    assert len(exported) == len(sizes)
    got = pl.Series("tags", exported)
    assert got.dtype == pl.List(pl.String)
    assert got.to_list() == want
    # A second export of the same object, read by another consumer.
    assert pa.array(exported).to_pylist() == want


def test_lists_outlive_their_names_and_table() -> None:
    names = _engine.TagNames(["fox", "a name longer than twelve bytes"])
    exported = names.lists(np.array([0, 2, 3], dtype=np.uint64), np.array([0, 1, 1], np.uint32))
    series = pl.Series("tags", exported)
    del names, exported
    gc.collect()
    assert series.to_list() == [
        ["fox", "a name longer than twelve bytes"],
        ["a name longer than twelve bytes"],
    ]


def test_bad_lists_are_refused() -> None:
    names = _engine.TagNames(["a", "b"])
    with pytest.raises(ValueError, match="not below the 2 names"):
        names.lists(np.array([0, 1], dtype=np.uint64), np.array([2], dtype=np.uint32))
    for offsets in ([1, 1], [0, 2, 1], [0, 3]):
        with pytest.raises(ValueError, match="offsets must start at 0"):
            names.lists(np.array(offsets, dtype=np.uint64), np.array([0, 1], dtype=np.uint32))


def test_search_and_lattice_refuse_names_of_another_size() -> None:
    index = prime_rs.TagIndex.from_samples(synthetic.generate(synthetic.SMALL).samples)
    engine = index._engine
    params = {"max_tags": 2, "min_support": 20, "min_drop": 0.3, "necessity": [0.1]}
    with pytest.raises(ValueError, match="one name per tag"):
        engine.search(**params, names=_engine.TagNames(["a"]))
    with pytest.raises(ValueError, match="one name per class"):
        engine.search(**params, names=index._tag_names, label_names=_engine.TagNames(["a"]))
    lattice = {"max_tags": 2, "min_support": 20}
    with pytest.raises(ValueError, match="one name per tag"):
        engine.frequent_sets(**lattice, names=_engine.TagNames(["a"]))
    with pytest.raises(ValueError, match="one name per class"):
        engine.frequent_sets(**lattice, names=index._tag_names, label_names=_engine.TagNames(["a"]))
    codes = np.zeros(sum(engine.class_counts()[0]), dtype=np.uint32)
    with pytest.raises(ValueError, match="one name per prediction code"):
        engine.predictions(codes, np.array([-1], dtype=np.int64), _engine.TagNames(["x", "y"]))


@pytest.mark.parametrize("predictions", [True, False], ids=["predictions", "correct"])
def test_mode_table_named_in_the_engine_equals_python_naming(predictions: bool) -> None:
    """String labels and predictions are named by the engine; forcing the Python naming
    (the path of other label types) gives the same frame."""
    data = synthetic.generate(synthetic.SMALL).samples
    if not predictions:
        data = data.drop("prediction")
    index = prime_rs.TagIndex.from_samples(data)
    modes = index.search(max_tags=3, min_support=20).modes
    assert modes.height > 0
    assert ("confused_with" in modes.columns) == predictions
    python = prime_rs.TagIndex.from_samples(data)
    python.__dict__["_label_names"] = None
    if predictions:
        grouped, code_class, names, _ = python._prediction_codes
        unnamed = python._engine.predictions(grouped, code_class)
        python.__dict__["_confusion_inputs"] = (unnamed, names, None)
    assert python.search(max_tags=3, min_support=20).modes.equals(modes)
