"""The check runner and the row-level checks, over real Parquet files."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from datakit import Recorder, context, parquet, run_one
from modelyard.data._types import Policy
from modelyard.data.checks import (
    Check,
    CheckContext,
    allowed_values,
    custom_sql,
    drift,
    expression,
    freshness,
    in_range,
    matches,
    not_null,
    row_count,
    run_checks,
    schema,
    unique,
)
from modelyard.errors import ValidationError


def test_not_null_passes_without_nulls(orders: CheckContext) -> None:
    ctx = context(orders.con, f"(SELECT * FROM {orders.relation} WHERE amount IS NOT NULL)")
    result = run_one(not_null("amount"), ctx)
    assert result.passed
    assert result.message == "all 5 rows pass (none have a null in amount)"


def test_not_null_over_columns_fails_rows_with_any_null(orders: CheckContext) -> None:
    result = run_one(not_null("id", "amount"), orders)
    assert not result.passed
    assert result.column == "id, amount"
    assert result.failed_rows == 2
    assert result.failed_pct == 33.3333
    assert result.sample == ("amount", "id")  # which columns are null
    assert result.message == "2 of 6 rows (33.3333%) have a null in id or amount"


def test_in_range_counts_values_outside_and_samples_them(orders: CheckContext) -> None:
    result = run_one(in_range("amount", 0, 100), orders)
    assert result.failed_rows == 2
    assert result.sample == (-5.0, 500.0)
    assert result.message == "2 of 6 rows (33.3333%) have amount outside [0, 100]"


def test_in_range_lets_null_pass(orders: CheckContext) -> None:
    assert run_one(in_range("amount", min=-10), orders).passed


def test_in_range_exclusive_fails_the_bounds(orders: CheckContext) -> None:
    result = run_one(in_range("amount", 10, 500, inclusive=False), orders)
    assert result.sample == (-5.0, 10.0, 500.0)


def test_allowed_values_fails_other_values_and_lets_null_pass(orders: CheckContext) -> None:
    result = run_one(allowed_values("status", ["paid", "refunded"]), orders)
    assert result.failed_rows == 1
    assert result.sample == ("lost",)


def test_matches_fails_values_not_fully_matching(orders: CheckContext) -> None:
    result = run_one(matches("email", r"[a-z]+@[a-z]+\.io"), orders)
    assert result.failed_rows == 1
    assert result.sample == ("nope",)


def test_matches_reads_numbers_as_text(orders: CheckContext) -> None:
    assert run_one(matches("id", r"[1-3]"), orders).failed_rows == 1


def test_expression_fails_false_rows_and_lets_null_pass(orders: CheckContext) -> None:
    result = run_one(expression("positive", "amount > 0"), orders)
    assert result.failed_rows == 1
    assert result.column is None
    assert result.message == "1 of 6 rows (16.6667%) do not satisfy amount > 0"


def test_unique_fails_every_row_of_a_repeated_key(orders: CheckContext) -> None:
    result = run_one(unique("id"), orders)
    assert result.failed_rows == 2
    assert result.sample == (3,)


def test_unique_never_counts_null_keys(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    ctx = context(con, parquet(tmp_path, "k", id=[1, None, None, 2]))
    assert run_one(unique("id"), ctx).passed


def test_unique_composite_key_samples_each_key(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    relation = parquet(tmp_path, "k", a=[1, 1, 1, 2, 2], b=["x", "x", "y", "x", None])
    result = run_one(unique("a", "b"), context(con, relation))
    assert result.failed_rows == 2
    assert result.sample == ({"a": 1, "b": "x"},)


def test_unique_on_append_fails_keys_already_in_the_previous_version(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    previous = parquet(tmp_path, "v1", id=[1, 2, 3])
    new = parquet(tmp_path, "new", id=[3, 4, 5])
    combined = f"(SELECT * FROM {previous} UNION ALL SELECT * FROM {new})"
    result = run_one(unique("id"), context(con, new, previous=previous, combined=combined))
    assert result.failed_rows == 1
    assert result.sample == (3,)
    assert "already in the previous version" in result.message


def test_unique_on_replace_ignores_the_previous_version(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    previous = parquet(tmp_path, "v1", id=[1, 2, 3])
    new = parquet(tmp_path, "new", id=[3, 4, 5])
    assert run_one(unique("id"), context(con, new, previous=previous)).passed


def test_row_checks_are_counted_in_one_scan(orders: CheckContext) -> None:
    recorder = Recorder(orders.con)
    ctx = context(recorder, orders.relation)
    checks = [
        not_null("id"),
        in_range("amount", 0, 100),
        allowed_values("status", ["paid", "refunded", "lost"]),
        matches("email", r".+@.+|nope"),
        unique("id"),
    ]
    outcome = run_checks(checks, ctx)
    assert [r.failed_rows for r in outcome.results] == [1, 2, 0, 0, 2]
    scans = [q for q in recorder.queries if not q.startswith("DESCRIBE")]
    assert len([q for q in scans if "FILTER" in q]) == 1
    assert len(scans) == 1 + 2  # the counts, then samples for the two failed checks with values


def test_quarantine_sql_selects_the_failing_rows_with_reasons(orders: CheckContext) -> None:
    checks = [
        in_range("amount", 0, 100, policy="quarantine", name="amount_range"),
        allowed_values("status", ["paid", "refunded"], policy=Policy.QUARANTINE, name="status"),
        matches("email", r".+@.+", policy="warn"),
    ]
    outcome = run_checks(checks, orders)
    assert outcome.quarantine_sql is not None and outcome.reason_sql is not None
    rows = orders.con.execute(
        f"SELECT id, amount, {outcome.reason_sql} FROM {orders.relation} "
        f"WHERE {outcome.quarantine_sql} ORDER BY amount"
    ).fetchall()
    assert rows == [(2, -5.0, "amount_range"), (3, 500.0, "amount_range; status")]
    kept = orders.con.execute(
        f"SELECT count(*) FROM {orders.relation} WHERE NOT ({outcome.quarantine_sql})"
    ).fetchall()
    assert kept == [(4,)]


def test_quarantine_sql_is_none_when_no_quarantine_check_fails(orders: CheckContext) -> None:
    outcome = run_checks([in_range("amount", -10, 1000, policy="quarantine")], orders)
    assert outcome.quarantine_sql is None and outcome.reason_sql is None


def test_outcome_sorts_failures_by_policy(orders: CheckContext) -> None:
    outcome = run_checks(
        [
            not_null("id", policy="fail"),
            not_null("amount", policy="warn"),
            not_null("status", policy="quarantine"),
            row_count(min=1),
        ],
        orders,
    )
    assert [r.name for r in outcome.failed] == ["not_null(id)"]
    assert [r.name for r in outcome.warnings] == ["not_null(amount)"]
    assert [r.name for r in outcome.quarantined] == ["not_null(status)"]
    json.dumps(outcome.to_dict())


def test_unknown_column_is_a_failed_result(orders: CheckContext) -> None:
    outcome = run_checks([not_null("nope"), in_range("amount", 0, 100)], orders)
    assert not outcome.results[0].passed
    assert outcome.results[0].message.startswith("column 'nope' does not exist (columns: id,")
    assert outcome.results[1].failed_rows == 2


def test_a_type_mismatch_is_a_failed_result(orders: CheckContext) -> None:
    outcome = run_checks([allowed_values("id", ["x"]), not_null("id")], orders)
    assert outcome.results[0].message.startswith("cannot evaluate:")
    assert outcome.results[1].failed_rows == 1


def test_a_runtime_error_in_one_check_does_not_abort_the_others(orders: CheckContext) -> None:
    outcome = run_checks(
        [expression("cast", "CAST(status AS INTEGER) > 0"), in_range("amount", 0, 100)], orders
    )
    assert outcome.results[0].message.startswith("cannot evaluate: Conversion Error")
    assert outcome.results[1].failed_rows == 2


def test_evaluate_runs_a_row_check_alone(orders: CheckContext) -> None:
    assert in_range("amount", 0, 100).evaluate(orders).failed_rows == 2


def test_result_details_hold_the_declaration(orders: CheckContext) -> None:
    result = run_one(in_range("amount", 0, 100, policy="warn"), orders)
    assert result.details == {
        "kind": "in_range",
        "name": "in_range(amount)",
        "policy": "warn",
        "column": "amount",
        "min": 0,
        "max": 100,
        "inclusive": True,
    }


def test_declarations_are_json() -> None:
    checks = [
        not_null("a", "b"),
        unique("a"),
        in_range("a", dt.date(2024, 1, 1), None),
        allowed_values("a", [1, 2]),
        matches("a", "x+"),
        expression("e", "a > 1"),
        schema({"a": "int"}),
        row_count(max=3),
        freshness("a", "1h"),
        custom_sql("c", "SELECT * FROM {rows}"),
        drift(),
    ]
    for check in checks:
        data = json.loads(json.dumps(check.to_dict()))
        assert data["kind"] == check.kind
        assert data["policy"] == "fail"


@pytest.mark.parametrize(
    ("declare", "match"),
    [
        (lambda: not_null(), "at least one column"),
        (lambda: unique("a", "a"), "named twice"),
        (lambda: in_range("a"), "min, max or both"),
        (lambda: in_range("a", 5, 1), "above max"),
        (lambda: in_range("a", 1, "z"), "do not compare"),
        (lambda: allowed_values("a", []), "at least one value"),
        (lambda: allowed_values("a", "abc"), "not a string"),
        (lambda: matches("a", "(["), "regex"),
        (lambda: matches("a", "(?=x)"), "regex"),  # Python accepts it, RE2 does not
        (lambda: not_null("a", policy="explode"), "unknown policy"),
        (lambda: row_count(min=1, policy="quarantine"), "row-level"),
        (lambda: row_count(min=-1), "non-negative"),
        (lambda: row_count(min=5, max=1), "above max"),
        (lambda: expression("e", "a >"), "not valid SQL"),
        (lambda: expression("e", "1); DROP TABLE t; SELECT (1"), "single SELECT"),
        (lambda: custom_sql("c", "SELECT 1"), "{rows}"),
        (lambda: custom_sql("c", "DELETE FROM t WHERE a IN (FROM {rows})"), "single SELECT"),
        (lambda: schema({"a": "notatype"}), "not valid"),
        (lambda: schema({}), "mapping"),
        (lambda: freshness("a", "soon"), "duration"),
        (lambda: freshness("a", "0s"), "positive"),
        (lambda: drift(method="energy"), "unknown drift method"),
        (lambda: drift(sample=0), "positive number of rows"),
    ],
)
def test_bad_declarations_raise(declare: Callable[[], Check], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        declare()


def test_two_checks_with_one_name_raise(orders: CheckContext) -> None:
    with pytest.raises(ValidationError, match="two checks are named"):
        run_checks([in_range("amount", min=0), in_range("amount", max=9)], orders)
