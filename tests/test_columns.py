"""`list_column`: flat values and offsets -> a List column, by each of its three ways (a
Python list for small tables, one gather per run of equal sizes, one gather per size then
the rows put back in order), against plain slicing."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from prime_rs._columns import _ROWS_PER_RUN, _SMALL, list_column


def _expected(values: list[str], offsets: np.ndarray, sizes: np.ndarray) -> list[list[str]]:
    return [values[o : o + k] for o, k in zip(offsets.tolist(), sizes.tolist(), strict=True)]


@settings(max_examples=60, deadline=None)
@given(
    n=st.sampled_from([0, 1, 5, _SMALL, _SMALL + 1, 700, 3 * _ROWS_PER_RUN]),
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
