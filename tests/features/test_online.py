"""One contract battery for every online store backend: SQLite and the real Redis."""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurekit import BACKENDS, BASE, STAMP, open_store
from modelyard.errors import StoreUnavailableError, ValidationError
from modelyard.features._online import FieldStatus, OnlineStore, encode_keys
from modelyard.features._online_redis import RedisOnlineStore
from modelyard.features._online_sqlite import SqliteOnlineStore

P, NULL, NF, OLD = (FieldStatus.PRESENT, FieldStatus.NULL_VALUE, FieldStatus.NOT_FOUND,
                    FieldStatus.OUTSIDE_MAX_AGE)  # fmt: skip


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    with open_store(request.param, tmp_path) as opened:
        yield opened


def minutes(n: int) -> dt.datetime:
    return BASE + dt.timedelta(minutes=n)


def rows(ids: list[int], at: list[int], **features: list[Any]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array(ids, pa.int64()),
            "event_timestamp": pa.array([minutes(m) for m in at], STAMP),
            **features,
        }
    )


def write(store: OnlineStore, table: pa.Table, view: str = "user_stats") -> int:
    return store.write(view, table, keys=["user_id"], timestamp="event_timestamp")


def test_round_trip_keeps_values_types_and_timestamps(store: OnlineStore) -> None:
    table = rows([1, 2], [5, 7], count=[3, 4], mean=[0.5, 1.25], name=["a", "é"], tags=[["x"], []])
    assert write(store, table) == 2
    got = store.read("user_stats", [(2,), (1,)], ["count", "mean", "name", "tags"])
    assert got.features == ("count", "mean", "name", "tags")
    assert got.values == {
        "count": [4, 3], "mean": [1.25, 0.5], "name": ["é", "a"], "tags": [[], ["x"]]
    }  # fmt: skip
    assert all(s == [P, P] for s in got.statuses.values())
    assert got.event_timestamps == [minutes(7), minutes(5)]
    assert len(got) == 2


def test_statuses_null_value_and_not_found(store: OnlineStore) -> None:
    write(store, rows([1], [0], count=[None], mean=[2.0]))
    got = store.read("user_stats", [(1,), (9,)], ["count", "mean", "unknown"])
    assert got.statuses == {"count": [NULL, NF], "mean": [P, NF], "unknown": [NF, NF]}
    assert got.values == {"count": [None, None], "mean": [2.0, None], "unknown": [None, None]}
    assert got.event_timestamps == [minutes(0), None]


def test_rows_older_than_max_age_are_not_served(store: OnlineStore) -> None:
    write(store, rows([1, 2], [0, 50], count=[1, 2]))
    now = minutes(60)
    got = store.read("user_stats", [(1,), (2,)], ["count"], max_age=dt.timedelta(minutes=10),
                     now=now)  # fmt: skip
    assert got.statuses["count"] == [OLD, P]
    assert got.values["count"] == [None, 2]
    assert got.event_timestamps == [minutes(0), minutes(50)]  # the stale row's time is told
    at_bound = store.read("user_stats", [(1,)], ["count"], max_age=dt.timedelta(hours=1), now=now)
    assert at_bound.statuses["count"] == [P]  # inclusive, as a view's ttl
    unlimited = store.read("user_stats", [(1,)], ["count"], max_age=dt.timedelta(0), now=now)
    assert unlimited.values["count"] == [1]  # zero means no limit
    naive = store.read("user_stats", [(1,)], ["count"], max_age=dt.timedelta(minutes=10),
                       now=now.replace(tzinfo=None))  # fmt: skip
    assert naive.statuses["count"] == [OLD]


def test_an_older_write_never_replaces_a_newer_row(store: OnlineStore) -> None:
    assert write(store, rows([1], [10], count=[100])) == 1
    assert write(store, rows([1], [5], count=[50])) == 0
    assert store.read("user_stats", [(1,)], ["count"]).values["count"] == [100]


def test_a_write_with_the_same_timestamp_wins(store: OnlineStore) -> None:
    write(store, rows([1], [10], count=[100]))
    assert write(store, rows([1], [10], count=[101])) == 1
    got = store.read("user_stats", [(1,)], ["count"])
    assert got.values["count"] == [101]
    assert got.event_timestamps == [minutes(10)]


def test_rows_of_one_batch_out_of_order_keep_the_newest(store: OnlineStore) -> None:
    assert write(store, rows([1, 1, 1], [3, 9, 4], count=[3, 9, 4])) == 2
    assert store.read("user_stats", [(1,)], ["count"]).values["count"] == [9]


def test_request_order_and_duplicates_are_kept(store: OnlineStore) -> None:
    write(store, rows([1, 2, 3], [0, 0, 0], count=[10, 20, 30]))
    got = store.read("user_stats", [(3,), (1,), (3,), (7,), (2,), (1,)], ["count"])
    assert got.values["count"] == [30, 10, 30, None, 20, 10]
    assert got.statuses["count"] == [P, P, P, NF, P, P]


def test_entities_with_several_join_keys(store: OnlineStore) -> None:
    table = pa.table(
        {
            "country": ["fr", "fr", "de"],
            "user_id": pa.array([1, 2, 1], pa.int32()),
            "event_timestamp": pa.array([BASE] * 3, STAMP),
            "score": [0.1, 0.2, 0.3],
        }
    )
    assert store.write("scores", table, keys=["country", "user_id"], timestamp="event_timestamp")
    got = store.read("scores", [("de", 1), ("fr", 2), ("fr", 1), (1, "fr")], ["score"])
    assert got.values["score"] == [0.3, 0.2, 0.1, None]  # key order matters
    as_table = pa.table({"country": ["fr"], "user_id": pa.array([2], pa.int16())})
    assert store.read("scores", as_table, ["score"]).values["score"] == [0.2]


def test_int_keys_of_any_width_name_the_same_entity(store: OnlineStore) -> None:
    table = pa.table(
        {
            "user_id": pa.array([7, 2**40], pa.int64()),
            "event_timestamp": pa.array([BASE, BASE], STAMP),
            "count": [1, 2],
        }
    )
    write(store, table.set_column(0, "user_id", pa.array([7, 2**40], pa.uint64())))
    int32 = pa.table({"user_id": pa.array([7], pa.int32())})
    assert store.read("user_stats", int32, ["count"]).values["count"] == [1]
    keys = [(np.int8(7),), (np.int64(2**40),), (7,), 7]
    assert store.read("user_stats", keys, ["count"]).values["count"] == [1, 2, 1, 1]
    assert encode_keys([(np.int16(7), "a")]) == encode_keys([(7, "a")]) == [b'[7,"a"]']


def test_many_entities_in_one_write_and_one_read(store: OnlineStore) -> None:
    n = 5_000
    ids = list(range(n))
    assert write(store, rows(ids, [i % 60 for i in ids], count=ids, half=[i / 2 for i in ids])) == n
    wanted = [*ids[::-1], n + 1]
    got = store.read("user_stats", [(i,) for i in wanted], ["count", "half"])
    assert got.values["count"] == [*ids[::-1], None]
    assert got.values["half"][:2] == [(n - 1) / 2, (n - 2) / 2]
    assert got.statuses["count"].count(P) == n


def test_delete_view_forgets_only_that_view(store: OnlineStore) -> None:
    write(store, rows([1], [0], count=[1]))
    write(store, rows([1], [0], count=[2]), view="other")
    store.delete_view("user_stats")
    store.delete_view("never_written")
    assert store.read("user_stats", [(1,)], ["count"]).statuses["count"] == [NF]
    assert store.read("other", [(1,)], ["count"]).values["count"] == [2]
    assert write(store, rows([1], [0], count=[3])) == 1  # the view can be written again


def test_reading_a_view_never_written_finds_nothing(store: OnlineStore) -> None:
    got = store.read("nothing_here", [(1,), (2,)], ["count"])
    assert got.statuses["count"] == [NF, NF]
    assert store.read("nothing_here", [], ["count"]).values == {"count": []}


def test_naive_and_nanosecond_timestamps_are_utc_microseconds(store: OnlineStore) -> None:
    naive = pa.array([dt.datetime(2026, 1, 1, 12)], pa.timestamp("ns"))
    table = pa.table({"user_id": [1], "event_timestamp": naive, "count": [1]})
    write(store, table)
    got = store.read("user_stats", [(1,)], ["count"])
    assert got.event_timestamps == [dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)]


def test_values_are_json_types(store: OnlineStore) -> None:
    amount = pa.array([decimal.Decimal("2.50")], pa.decimal128(5, 2))
    write(store, rows([1], [0], amount=amount, nan=[float("nan")], seen=pa.array([BASE], STAMP)))
    got = store.read("user_stats", [(1,)], ["amount", "nan", "seen"])
    assert got.values == {"amount": [2.5], "nan": [None], "seen": ["2026-01-01T00:00:00+00:00"]}
    assert got.statuses["nan"] == [NULL]


@pytest.mark.parametrize(
    ("view", "table", "match"),
    [
        ("bad-name", rows([1], [0], count=[1]), "identifier"),
        ("v", pa.table({"user_id": [1], "count": [1]}), "event_timestamp"),
        ("v", rows([1], [0]), "no feature columns"),
        (
            "v",
            rows([1], [0], count=[1]).set_column(0, "user_id", pa.array([None], pa.int64())),
            "nulls",
        ),
        ("v", pa.table({"user_id": [1], "event_timestamp": ["x"], "count": [1]}), "timestamp"),
        ("v", rows([1], [0], blob=[b"x"]), "cannot store row"),
    ],
)
def test_bad_writes_are_refused(store: OnlineStore, view: str, table: pa.Table, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        write(store, table, view=view)


def test_bad_reads_are_refused(store: OnlineStore) -> None:
    with pytest.raises(ValidationError, match="negative"):
        store.read("v", [(1,)], ["count"], max_age=dt.timedelta(seconds=-1))
    with pytest.raises(ValidationError, match="entity key"):
        store.read("v", [(object(),)], ["count"])
    with pytest.raises(ValidationError, match="identifier"):
        store.read("v;drop", [(1,)], ["count"])
    with pytest.raises(ValidationError, match="list of names"):
        store.read("v", [(1,)], "count")
    with pytest.raises(ValidationError, match="list of column names"):
        store.write("v", rows([1], [0], count=[1]), keys="user_id", timestamp="event_timestamp")


def test_reads_from_many_threads(store: OnlineStore) -> None:
    write(store, rows(list(range(100)), [0] * 100, count=list(range(100))))

    def read(i: int) -> list[Any]:
        return store.read("user_stats", [(i % 100,)], ["count"]).values["count"]

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(read, range(400))) == [[i % 100] for i in range(400)]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    writes=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5)), min_size=1, max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=4),
)
def test_store_holds_the_newest_row_per_entity(
    store: OnlineStore, writes: list[tuple[int, int]], cuts: list[int]
) -> None:
    """Rows written in any order, in any batches: each entity keeps its newest row, and of
    rows with the same newest time the one written last."""
    view = f"v_{uuid.uuid4().hex[:8]}"
    table = rows([w[0] for w in writes], [w[1] for w in writes], seq=list(range(len(writes))))
    bounds = sorted({0, len(writes), *(c for c in cuts if c < len(writes))})
    for start, end in itertools.pairwise(bounds):
        write(store, table.slice(start, end - start), view=view)
    expected: dict[int, tuple[int, int]] = {}
    for seq, (entity, at) in enumerate(writes):
        if entity not in expected or at >= expected[entity][0]:
            expected[entity] = (at, seq)
    got = store.read(view, [(e,) for e in range(5)], ["seq"])
    assert got.values["seq"] == [expected[e][1] if e in expected else None for e in range(5)]
    assert got.event_timestamps == [
        minutes(expected[e][0]) if e in expected else None for e in range(5)
    ]


def test_an_unreachable_redis_is_store_unavailable() -> None:
    url = "redis://127.0.0.1:1/0"
    with (
        RedisOnlineStore(url, timeout_s=0.5) as store,
        pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1"),
    ):
        store.read("v", [(1,)], ["count"])


def test_a_closed_or_unopenable_sqlite_store_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailableError, match="online store"):
        SqliteOnlineStore(blocker / "online.db").read("v", [(1,)], ["count"])
    store = SqliteOnlineStore(tmp_path / "online.db")
    write(store, rows([1], [0], count=[1]))
    store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.read("user_stats", [(1,)], ["count"])
