"""Shared tables for the io tests: one synthetic samples table and the modes it holds."""

from __future__ import annotations

import polars as pl
import pytest

import prime_rs
from prime_rs import synthetic


@pytest.fixture(scope="session")
def samples() -> pl.DataFrame:
    """A small synthetic samples table with planted modes (``id``, ``label``, ``prediction``,
    ``correct``, ``tags``)."""
    return synthetic.generate(synthetic.SMALL).samples


@pytest.fixture(scope="session")
def modes(samples: pl.DataFrame) -> pl.DataFrame:
    """The failure modes of :func:`samples`, searched from the Polars DataFrame itself."""
    found = prime_rs.find_failure_modes(samples)
    assert found.height > 0  # the comparisons below would prove nothing on an empty table
    return found
