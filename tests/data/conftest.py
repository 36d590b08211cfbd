"""Fixtures of the data tests: DuckDB connections and a small table of orders to check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from datakit import context, parquet
from modelyard.data._checks_base import CheckContext


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        yield connection


@pytest.fixture
def orders(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> CheckContext:
    """Six orders with a duplicate id, a negative and a null amount, odd statuses."""
    relation = parquet(
        tmp_path,
        "orders",
        id=[1, 2, 3, 3, 4, None],
        amount=[10.0, -5.0, 50.0, 500.0, None, 20.0],
        status=["paid", "paid", "refunded", "lost", None, "paid"],
        email=["a@x.io", "b@x.io", "nope", "c@x.io", "d@x.io", None],
    )
    return context(con, relation)
