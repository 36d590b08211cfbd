"""Definitions shared by the feature store tests (importable by name: ``tests`` is on the
path)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import redis

from conftest import service_missing
from modelyard.features import Entity, FeatureView, Field, on_demand_feature_view
from modelyard.features._online import OnlineStore
from modelyard.features._online_redis import RedisOnlineStore
from modelyard.features._online_sqlite import SqliteOnlineStore

BACKENDS = ["sqlite", "redis"]  # the online stores, for tests parametrised over both
REDIS_URL = os.environ.get("MODELYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")
BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
STAMP = pa.timestamp("us", "UTC")
USER = Entity.of("user", {"user_id": "BIGINT"})
STATS = FeatureView(
    "user_stats",
    (USER,),
    "user_stats",
    (Field("txn_count", "BIGINT"), Field("amount_mean", "DOUBLE")),
)


@on_demand_feature_view(
    sources=["user_stats:amount_mean"],
    request=[Field("amount", "DOUBLE")],
    schema=[Field("amount_vs_mean", "DOUBLE")],
)
def amount_ratio(rows: pa.Table) -> pa.Table:
    return pa.table({"amount_vs_mean": pc.divide(rows["amount"], rows["amount_mean"])})


def redis_online_url() -> str:
    """The running Redis as an online store URL (skips, or fails in CI, without one)."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        service_missing(f"Redis is not running at {REDIS_URL}")
    return REDIS_URL


@contextmanager
def open_store(kind: str, tmp_path: Path) -> Iterator[OnlineStore]:
    """A SQLite store in ``tmp_path``, or a Redis store under a prefix of its own that is
    emptied afterwards."""
    if kind == "sqlite":
        with SqliteOnlineStore(tmp_path / "online.db") as store:
            yield store
        return
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        service_missing(f"Redis at {REDIS_URL} is unreachable: {type(exc).__name__}")
    prefix = f"modelyard_test_{uuid.uuid4().hex[:12]}"
    try:
        with RedisOnlineStore(REDIS_URL, prefix=prefix) as store:
            yield store
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
