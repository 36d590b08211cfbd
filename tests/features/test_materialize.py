"""Materialization from a DuckDB relation into every online store backend."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from featurekit import BACKENDS, open_store
from modelyard.errors import ValidationError
from modelyard.features._materialize import MaterializeResult, materialize
from modelyard.features._online import FieldStatus, OnlineStore
from modelyard.features._types import Entity, FeatureView, Field

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STAMP = pa.timestamp("us", "UTC")
USER = Entity.of("user", {"user_id": "BIGINT"})
VIEW = FeatureView(
    "user_stats", (USER,), "user_stats", (Field("count", "BIGINT"), Field("label", "VARCHAR"))
)


def hours(n: float) -> dt.datetime:
    return BASE + dt.timedelta(hours=n)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    with open_store(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def source(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], **extra: Any) -> str:
    """Rows of (user_id, hour, count) registered as the relation ``src``."""
    table = pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.int64()),
            "event_timestamp": pa.array([hours(r[1]) for r in rows], STAMP),
            "count": pa.array([r[2] for r in rows], pa.int64()),
            "label": [f"row{i}" for i in range(len(rows))],
            "unused": [0] * len(rows),
            **extra,
        }
    )
    con.register("src", table)
    return "src"


def counts(store: OnlineStore, ids: list[int], view: str = "user_stats") -> list[Any]:
    return store.read(view, [(i,) for i in ids], ["count"]).values["count"]


def test_the_latest_row_of_each_entity_is_written(
    con: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    rows = [(1, 0, 10), (1, 3, 13), (2, 1, 21), (1, 2, 12), (3, 5, 35), (None, 9, 0)]
    result = materialize(con, source(con, rows), VIEW, store)
    assert result == MaterializeResult("user_stats", 3, 3, hours(5))
    got = store.read("user_stats", [(1,), (2,), (3,)], ["count", "label", "unused"])
    assert got.values["count"] == [13, 21, 35]
    assert got.values["label"] == ["row1", "row2", "row4"]
    assert got.statuses["unused"] == [FieldStatus.NOT_FOUND] * 3  # not a feature of the view
    assert got.event_timestamps == [hours(3), hours(1), hours(5)]


def test_ties_on_event_time_go_to_the_latest_created(
    con: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    created = pa.array([hours(1), hours(3), None, hours(2), hours(0)], STAMP)
    rows = [(1, 0, 1), (1, 0, 2), (1, 0, 3), (1, 0, 4), (2, 0, 5)]
    view = FeatureView(
        "user_stats", (USER,), "user_stats", VIEW.features, created_timestamp_field="created"
    )
    materialize(con, source(con, rows, created=created), view, store)
    assert counts(store, [1, 2]) == [2, 5]


def test_the_window_is_since_exclusive_until_inclusive(
    con: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    rows = [(1, 1, 11), (1, 2, 12), (1, 4, 14), (2, 2, 22), (3, 3, 33)]
    result = materialize(con, source(con, rows), VIEW, store, since=hours(2), until=hours(3))
    assert result == MaterializeResult("user_stats", 1, 1, hours(3))
    assert counts(store, [1, 2, 3]) == [None, None, 33]
    naive = materialize(con, "src", VIEW, store, until=hours(2).replace(tzinfo=None))
    assert naive.max_event_timestamp == hours(2)  # naive bounds are UTC
    assert counts(store, [1, 2, 3]) == [12, 22, 33]


def test_running_twice_writes_the_same_state(
    con: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    relation = source(con, [(i % 50, i % 7, i) for i in range(400)])
    first = materialize(con, relation, VIEW, store, batch_rows=16)
    state = store.read("user_stats", [(i,) for i in range(50)], ["count", "label"])
    second = materialize(con, relation, VIEW, store, batch_rows=16)
    assert second == first
    assert store.read("user_stats", [(i,) for i in range(50)], ["count", "label"]) == state
    assert first.entities == first.rows_written == 50


def test_an_older_window_run_later_never_overwrites_newer_values(
    con: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    relation = source(con, [(1, 1, 11), (1, 5, 15)])
    newer = materialize(con, relation, VIEW, store, since=hours(2))
    older = materialize(con, relation, VIEW, store, until=hours(2))
    assert (newer.rows_written, older.rows_written, older.entities) == (1, 0, 1)
    assert counts(store, [1]) == [15]


def test_incremental_runs_continue_from_the_max_event_time(
    con: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    first = materialize(con, source(con, [(1, 1, 11), (2, 2, 22)]), VIEW, store)
    source(con, [(1, 1, 11), (2, 2, 22), (1, 3, 13), (2, 2, 99)])
    second = materialize(con, "src", VIEW, store, since=first.max_event_timestamp)
    assert second == MaterializeResult("user_stats", 1, 1, hours(3))
    empty = materialize(con, "src", VIEW, store, since=second.max_event_timestamp)
    assert empty == MaterializeResult("user_stats", 0, 0, None)
    assert counts(store, [1, 2]) == [13, 22]


def test_entities_with_several_keys_and_naive_timestamps(
    con: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    merchant = Entity.of("merchant", {"merchant_id": "VARCHAR"})
    view = FeatureView("pairs", (USER, merchant), "pairs", (Field("amount", "DOUBLE"),))
    con.sql(
        "CREATE TABLE pairs AS SELECT * FROM (VALUES "
        "(1, 'm1', TIMESTAMP '2026-01-01 01:00', 1.5), "
        "(1, 'm1', TIMESTAMP '2026-01-01 02:00', 2.5), "
        "(1, 'm2', TIMESTAMP '2026-01-01 00:00', 9.0)"
        ") AS t(user_id, merchant_id, event_timestamp, amount)"
    )
    con.sql("SET TimeZone = 'UTC'")
    result = materialize(con, "pairs", view, store)
    assert result == MaterializeResult("pairs", 2, 2, hours(2))
    got = store.read("pairs", [(1, "m1"), (1, "m2"), ("m1", 1)], ["amount"])
    assert got.values["amount"] == [2.5, 9.0, None]


def test_bad_sources_and_windows_are_refused(
    con: duckdb.DuckDBPyConnection, store: OnlineStore
) -> None:
    relation = source(con, [(1, 0, 1)])
    wrong = FeatureView("user_stats", (USER,), "user_stats", (Field("missing", "BIGINT"),))
    with pytest.raises(ValidationError, match="lacks missing"):
        materialize(con, relation, wrong, store)
    with pytest.raises(ValidationError, match="window is empty"):
        materialize(con, relation, VIEW, store, since=hours(2), until=hours(2))
    with pytest.raises(ValidationError, match="batch_rows"):
        materialize(con, relation, VIEW, store, batch_rows=0)
