"""The point-in-time join against a naive reference, on random data (hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.errors import ValidationError
from modelyard.features._offline import ViewInput, point_in_time_sql
from modelyard.features._types import Entity, FeatureView, Field

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
USER = Entity.of("user", {"user_id": "BIGINT"})
STAMP = pa.timestamp("us", "UTC")


def minutes(n: int) -> dt.datetime:
    return BASE + dt.timedelta(minutes=n)


feature_rows = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(-1000, 1000)), max_size=30
)
entity_rows = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 45)), min_size=1, max_size=25)


def view_table(rows: list[tuple[int, int, int]]) -> pa.Table:
    """Feature rows with unique created timestamps (their order of arrival)."""
    return pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.int64()),
            "event_timestamp": pa.array([minutes(r[1]) for r in rows], STAMP),
            "created": pa.array(
                [BASE + dt.timedelta(seconds=i) for i in range(len(rows))],
                STAMP,
            ),
            "value": pa.array([r[2] for r in rows], pa.int64()),
        }
    )


def reference(
    entities: list[tuple[int, int]], rows: list[tuple[int, int, int]], ttl_minutes: int
) -> list[int | None]:
    """Feast's rule written plainly: the latest row at or before, within ttl, ties to the
    row created last."""
    out: list[int | None] = []
    for key, at in entities:
        best: tuple[int, int, int] | None = None
        for created, (k, ts, value) in enumerate(rows):
            if k != key or ts > at or (ttl_minutes and ts < at - ttl_minutes):
                continue
            if best is None or (ts, created) > (best[0], best[1]):
                best = (ts, created, value)
        out.append(None if best is None else best[2])
    return out


def join(
    entities: list[tuple[int, int]], views: list[tuple[list[tuple[int, int, int]], int]]
) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    frame = pa.table(
        {
            "user_id": pa.array([e[0] for e in entities], pa.int64()),
            "event_timestamp": pa.array([minutes(e[1]) for e in entities], STAMP),
        }
    )
    con.register("entity_rows", frame)
    inputs = []
    for i, (rows, ttl) in enumerate(views):
        con.register(f"rows_{i}", view_table(rows))
        view = FeatureView(
            f"view_{i}", (USER,), "source", (Field("value", "BIGINT"),),
            created_timestamp_field="created", ttl=dt.timedelta(minutes=ttl),
        )  # fmt: skip
        inputs.append(ViewInput(view, f"rows_{i}", ("value",)))
    sql = point_in_time_sql(con, "entity_rows", inputs, full_feature_names=True)
    return con.sql(sql).fetchall()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entities=entity_rows,
    first=feature_rows,
    second=feature_rows,
    ttl_first=st.sampled_from([0, 1, 5, 10]),
    ttl_second=st.sampled_from([0, 3]),
)
def test_the_join_matches_the_naive_reference(
    entities: list[tuple[int, int]],
    first: list[tuple[int, int, int]],
    second: list[tuple[int, int, int]],
    ttl_first: int,
    ttl_second: int,
) -> None:
    got = join(entities, [(first, ttl_first), (second, ttl_second)])

    assert [(r[0], r[1]) for r in got] == [(k, minutes(m)) for k, m in entities]
    assert [r[2] for r in got] == reference(entities, first, ttl_first)
    assert [r[3] for r in got] == reference(entities, second, ttl_second)


def test_ttl_bounds_are_inclusive() -> None:
    rows = [(1, 10, 7)]
    got = join([(1, 15), (1, 16), (1, 10), (1, 9)], [(rows, 5)])
    assert [r[2] for r in got] == [7, None, 7, None]


def test_a_key_of_the_wrong_type_is_refused() -> None:
    con = duckdb.connect()
    con.register("entity_rows", pa.table({"user_id": ["a"], "event_timestamp": [BASE]}))
    view = FeatureView("v", (USER,), "s", (Field("value", "BIGINT"),))
    con.register("rows", view_table([]))
    with pytest.raises(ValidationError, match="'user_id' of the entity rows is VARCHAR"):
        point_in_time_sql(con, "entity_rows", [ViewInput(view, "rows", ("value",))])


def test_clashing_feature_names_ask_for_full_names() -> None:
    con = duckdb.connect()
    con.register("entity_rows", pa.table({"user_id": [1], "event_timestamp": [BASE]}))
    con.register("rows", view_table([]))
    a = FeatureView("a", (USER,), "s", (Field("value", "BIGINT"),))
    b = FeatureView("b", (USER,), "s", (Field("value", "BIGINT"),))
    items = [ViewInput(a, "rows", ("value",)), ViewInput(b, "rows", ("value",))]
    with pytest.raises(ValidationError, match="full feature names"):
        point_in_time_sql(con, "entity_rows", items)
    assert "a__value" in point_in_time_sql(con, "entity_rows", items, full_feature_names=True)
