"""Building list columns from flat values and offsets, without a Python loop per row."""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["list_column"]


def list_column(values: pl.Series, offsets: np.ndarray, sizes: np.ndarray) -> pl.Series:
    """Row ``i`` is ``values[offsets[i] : offsets[i] + sizes[i]]``, as a ``List`` column.

    Rows of equal size are gathered together and reshaped, so the cost is a few vectorized
    operations per distinct size.

    >>> import numpy as np, polars as pl
    >>> v = pl.Series(["a", "b", "c"])
    >>> list_column(v, np.array([0, 1, 1]), np.array([1, 0, 2])).to_list()
    [['a'], [], ['b', 'c']]
    """
    n = len(sizes)
    dtype = pl.List(values.dtype)
    if n == 0:
        return pl.Series("tags", [], dtype=dtype)
    offsets = np.asarray(offsets, dtype=np.int64)[:n]
    sizes = np.asarray(sizes, dtype=np.int64)
    order_parts = []
    col_parts = []
    for k in np.unique(sizes):
        rows = np.flatnonzero(sizes == k)
        if k == 0:
            part = pl.Series("tags", [[]] * len(rows), dtype=dtype)
        else:
            pos = (offsets[rows][:, None] + np.arange(k)[None, :]).ravel()
            part = values.gather(pos).reshape((len(rows), int(k))).cast(dtype)
        order_parts.append(rows)
        col_parts.append(part.alias("tags"))
    order = np.concatenate(order_parts)
    combined = pl.concat(col_parts)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return combined.gather(inverse).alias("tags")
