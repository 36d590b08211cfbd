"""Fixtures of the data tests: a workspace tuned for small, fast pipeline runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from datakit import context, parquet
from modelyard import Workspace
from modelyard.config import load_settings
from modelyard.data._checks_base import CheckContext


@pytest.fixture
def data_ws(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on each metadata backend, with small batches and no retry pauses."""
    ws = Workspace(
        load_settings(
            tmp_path / "ws",
            metadata_url=db_url,
            data={"batch_rows": 1000, "retry_backoff_s": 0.0, "memory_limit": "512MB"},
        )
    )
    ws.start()
    yield ws
    ws.close()


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
