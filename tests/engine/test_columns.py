"""`list_column`: flat values and offsets -> a List column, by each of its three ways (a
Python list for small tables, one gather per run of equal sizes, one gather per size then
the rows put back in order), against plain slicing; and mode tables named either way."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prime_rs
import prime_rs.index as search_module
from prime_rs import synthetic
from prime_rs._columns import _ROWS_PER_RUN, SMALL_TABLE, list_column


def _expected(values: list[str], offsets: np.ndarray, sizes: np.ndarray) -> list[list[str]]:
    return [values[o : o + k] for o, k in zip(offsets.tolist(), sizes.tolist(), strict=True)]


@settings(max_examples=60, deadline=None)
@given(
    n=st.sampled_from([0, 1, 5, SMALL_TABLE, SMALL_TABLE + 1, 700, 3 * _ROWS_PER_RUN]),
    grouped=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_list_column_equals_slicing(n: int, grouped: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 5, n)
    if grouped:
        sizes.sort()  # few runs of equal size, as in a lattice
    # Rows may overlap and come in any order, as the engine's offsets may not.
    values = [f"t{i}" for i in range(int(sizes.sum()) + 10)]
    offsets = rng.integers(0, 10, n) + np.concatenate([[0], np.cumsum(sizes)[:-1]])[:n]
    got = list_column(pl.Series(values), offsets, sizes)
    assert got.dtype == pl.List(pl.String)
    assert got.len() == n
    assert got.to_list() == _expected(values, offsets, sizes)


@pytest.mark.parametrize("labels", [["fox", "wolf", "Zebra"], [3, -1, 7]], ids=["str", "int"])
def test_mode_tables_are_the_same_both_ways(
    labels: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mode tables and lattices of up to `SMALL_TABLE` rows are named through Python lists,
    larger ones through Polars; both give the same frame, string or integer labels."""
    data = synthetic.generate(synthetic.SMALL).samples
    names = dict(zip(sorted(data["label"].unique().to_list()), labels * 10, strict=False))
    data = data.with_columns(
        pl.col("label").replace_strict(names), pl.col("prediction").replace_strict(names)
    )
    index = prime_rs.TagIndex.from_samples(data)
    modes = index.search(max_tags=3, min_support=20, min_drop=0.3).modes
    lattice = index.frequent_sets(max_tags=2, min_support=30)
    assert 0 < modes.height <= SMALL_TABLE < lattice.height
    small = index.frequent_sets(max_tags=1, min_support=30)
    assert 0 < small.height <= SMALL_TABLE
    monkeypatch.setattr(search_module, "SMALL_TABLE", 0)
    assert index.search(max_tags=3, min_support=20, min_drop=0.3).modes.equals(modes)
    assert index.frequent_sets(max_tags=1, min_support=30).equals(small)
    monkeypatch.setattr(search_module, "SMALL_TABLE", 10**9)
    assert index.frequent_sets(max_tags=2, min_support=30).equals(lattice)
