"""Table-level checks: schema, row count, freshness, custom SQL and drift."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from datakit import context, parquet, run_one
from modelyard.data._checks_table import parse_duration
from modelyard.data.checks import CheckContext, custom_sql, drift, freshness, row_count, schema


def test_schema_resolves_type_aliases(orders: CheckContext) -> None:
    result = run_one(schema({"id": "bigint", "amount": "double", "status": "string"}), orders)
    assert result.passed


def test_schema_reports_missing_and_mistyped_columns(orders: CheckContext) -> None:
    result = run_one(schema({"id": "int", "missing": "date"}), orders)
    assert not result.passed
    assert result.failed_rows == 2
    assert result.message == (
        "column 'id' is BIGINT, expected INTEGER; missing column 'missing' (DATE)"
    )


def test_exact_schema_forbids_other_columns(orders: CheckContext) -> None:
    result = run_one(schema({"id": "bigint"}, exact=True), orders)
    assert result.failed_rows == 3
    assert "unexpected column 'email' (VARCHAR)" in result.message


def test_row_count_bounds(orders: CheckContext) -> None:
    assert run_one(row_count(min=6, max=6), orders).passed
    result = run_one(row_count(min=10), orders)
    assert not result.passed
    assert result.message == "6 new rows; expected at least 10"


@pytest.fixture
def events(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> CheckContext:
    relation = parquet(
        tmp_path,
        "events",
        at=pa.array([dt.datetime(2024, 6, 1, 9), dt.datetime(2024, 6, 1, 10, 30)]),
        at_tz=pa.array(
            [dt.datetime(2024, 5, 30, tzinfo=dt.UTC)] * 2, type=pa.timestamp("us", tz="UTC")
        ),
        day=pa.array([dt.date(2024, 6, 1)] * 2),
        empty=pa.array([None, None], type=pa.timestamp("us")),
        label=["a", "b"],
    )
    return context(con, relation)


def test_freshness_passes_within_max_age(events: CheckContext) -> None:
    result = run_one(freshness("at", "2h"), events)
    assert result.passed
    assert result.details["age_seconds"] == 5400.0
    assert result.message == "latest at is 2024-06-01 10:30:00 (1h 30m old); expected within 2h"


def test_freshness_fails_when_older(events: CheckContext) -> None:
    assert not run_one(freshness("at", "1h"), events).passed


def test_freshness_reads_time_zones_and_dates(events: CheckContext) -> None:
    assert not run_one(freshness("at_tz", "2d"), events).passed
    assert run_one(freshness("at_tz", "2d12h"), events).passed
    assert run_one(freshness("day", dt.timedelta(hours=12)), events).passed


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("empty", "column 'empty' has no values"),
        ("label", "column 'label' is VARCHAR, not a date or time"),
        ("nope", "column 'nope' does not exist"),
    ],
)
def test_freshness_fails_without_a_usable_column(
    events: CheckContext, column: str, message: str
) -> None:
    result = run_one(freshness(column, "1d"), events)
    assert not result.passed
    assert result.message.startswith(message)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d12h", 129600)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


def test_custom_sql_fails_with_the_returned_rows(orders: CheckContext) -> None:
    check = custom_sql("refund_big", "SELECT id, amount FROM {rows} WHERE amount > 20;")
    result = run_one(check, orders)
    assert result.failed_rows == 2
    assert result.sample == ({"id": 3, "amount": 50.0}, {"id": 3, "amount": 500.0})


def test_custom_sql_passes_when_no_rows_return(orders: CheckContext) -> None:
    assert run_one(custom_sql("none", "SELECT * FROM {rows} r WHERE r.amount > 1e9"), orders).passed


def test_custom_sql_that_errors_is_a_failed_result(orders: CheckContext) -> None:
    result = run_one(custom_sql("bad", "SELECT * FROM {rows} WHERE nope > 1"), orders)
    assert result.message.startswith("cannot evaluate: Binder Error")


@pytest.fixture
def versions(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> Callable[..., CheckContext]:
    rng = np.random.default_rng(7)
    n = 3000

    def make(shift: float) -> CheckContext:
        previous = parquet(
            tmp_path,
            "v1",
            id=np.arange(n),
            amount=rng.normal(100, 10, n),
            city=rng.choice(["a", "b", "c"], n),
            at=pa.array([dt.datetime(2024, 1, 1)] * n),
            user=[f"u{i}" for i in range(n)],
        )
        new = parquet(
            tmp_path,
            f"new{shift}",
            id=np.arange(n, 2 * n),
            amount=rng.normal(100 + shift, 10, n),
            city=rng.choice(["a", "b", "c"], n),
            at=pa.array([dt.datetime(2024, 2, 1)] * n),
            user=[f"x{i}" for i in range(n)],
        )
        return context(con, new, previous=previous)

    return make


def test_drift_detects_a_shifted_column(versions: Callable[..., CheckContext]) -> None:
    result = run_one(drift(), versions(5.0))
    assert not result.passed
    assert result.failed_rows == 1
    assert result.sample == ("amount",)
    assert result.details["results"]["amount"]["method"] == "wasserstein"
    assert result.details["results"]["city"]["drifted"] is False


def test_drift_passes_on_the_same_distribution(versions: Callable[..., CheckContext]) -> None:
    result = run_one(drift(), versions(0.0))
    assert result.passed
    assert set(result.details["results"]) == {"amount", "city"}
    assert set(result.details["skipped"]) == {"id", "at", "user"}  # ids and a timestamp


def test_drift_is_repeatable(versions: Callable[..., CheckContext]) -> None:
    ctx = versions(0.3)
    first = run_one(drift(sample=500), ctx)
    assert run_one(drift(sample=500), ctx).details == first.details


def test_drift_on_named_columns_only(versions: Callable[..., CheckContext]) -> None:
    result = run_one(drift("city"), versions(5.0))
    assert result.passed
    assert list(result.details["results"]) == ["city"]


def test_drift_runs_while_the_caller_holds_an_unfinished_result(
    versions: Callable[..., CheckContext],
) -> None:
    ctx = versions(0.0)
    ctx.con.execute("SELECT 1 UNION ALL SELECT 2").fetchone()
    assert run_one(drift(), ctx).passed


def test_drift_passes_on_a_first_version(orders: CheckContext) -> None:
    result = run_one(drift(), orders)
    assert result.passed
    assert result.message == "no previous version to compare with"


def test_drift_of_a_missing_column_is_a_failed_result(
    versions: Callable[..., CheckContext],
) -> None:
    result = run_one(drift(["nope"]), versions(0.0))
    assert result.message.startswith("column 'nope' does not exist")
