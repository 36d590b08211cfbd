"""Definitions shared by the feature store tests (importable by name: ``tests`` is on the
path)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from modelyard.features import Entity, FeatureView, Field, on_demand_feature_view

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
    import redis

    from conftest import service_missing

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        service_missing("Redis is not running on 127.0.0.1:6379")
    return url
