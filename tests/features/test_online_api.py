"""Materializing views into the online store and reading them in Feast's format, on the
embedded SQLite store and on the running Redis."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from featurekit import BASE, STAMP, STATS, USER, amount_ratio, redis_online_url
from modelyard import Workspace
from modelyard.config import load_settings
from modelyard.errors import FeatureNotFoundError, ValidationError
from modelyard.features import FeatureService


def stats(rows: list[tuple[int, float, int, float]]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.int64()),
            "event_timestamp": pa.array([BASE + dt.timedelta(hours=r[1]) for r in rows], STAMP),
            "txn_count": pa.array([r[2] for r in rows], pa.int64()),
            "amount_mean": [r[3] for r in rows],
        }
    )


@pytest.fixture(params=["sqlite", "redis"])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    online = ""
    if request.param == "redis":
        online = redis_online_url()
    prefix = f"test-{uuid.uuid4().hex}"  # apart from other tests sharing the Redis
    settings = load_settings(tmp_path, features={"online_url": online, "online_prefix": prefix})
    workspace = Workspace(settings)
    workspace.start()
    first = stats([(1, 0, 3, 10.0), (1, 1, 4, 12.5), (2, 0, 9, 99.0)])
    workspace.datasets.write("user_stats", first)
    workspace.features.apply([USER, STATS, amount_ratio])
    workspace.features.online.delete_view("user_stats__v1")  # left by an interrupted run
    yield workspace
    workspace.features.online.delete_view("user_stats__v1")
    workspace.close()


def test_materialize_then_read_in_feasts_format(ws: Workspace) -> None:
    (result, *_) = ws.features.materialize(["user_stats"])
    assert (result.view, result.entities) == ("user_stats", 2)

    answer = ws.features.get_online_features(
        ["user_stats:txn_count", "user_stats:amount_mean"], {"user_id": [1, 2, 7]}
    )

    assert answer["metadata"]["feature_names"] == ["user_id", "txn_count", "amount_mean"]
    ids, count, mean = answer["results"]
    assert ids["values"] == [1, 2, 7]
    assert count["values"] == [4, 9, None]
    assert count["statuses"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert mean["values"] == [12.5, 99.0, None]
    assert count["event_timestamps"][0] == "2026-01-01T01:00:00Z"


def test_materialization_is_incremental_and_keeps_the_newest(ws: Workspace) -> None:
    ws.features.materialize(["user_stats"])
    assert ws.features.materialize(["user_stats"])[0].rows_written == 0
    late = stats([(1, 0.5, 100, 1.0), (2, 5, 10, 50.0)])  # user 1's row is older than stored
    ws.datasets.write("user_stats", late, append=True)

    (again,) = ws.features.materialize(["user_stats"])

    answer = ws.features.get_online_features(["user_stats:txn_count"], {"user_id": [1, 2]})
    assert answer["results"][1]["values"] == [4, 10]
    assert again.rows_written == 1


def test_on_demand_views_and_services_run_online(ws: Workspace) -> None:
    ws.features.apply([USER, STATS, amount_ratio, FeatureService(
        "fraud", ("user_stats:txn_count", "amount_ratio:amount_vs_mean"))])  # fmt: skip
    ws.features.materialize(["user_stats"])

    answer = ws.features.get_online_features(
        "fraud", {"user_id": [1, 2], "amount": [25.0, 9.9]}, full_feature_names=True
    )

    names = answer["metadata"]["feature_names"]
    assert names == ["user_id", "amount", "user_stats__txn_count", "amount_ratio__amount_vs_mean"]
    assert answer["results"][3]["values"] == [2.0, 0.1]


def test_bad_requests_are_clear(ws: Workspace) -> None:
    with pytest.raises(ValidationError, match="'user_id' of feature view 'user_stats' is BIGINT"):
        ws.features.get_online_features(["user_stats:txn_count"], {"user_id": ["one"]})
    with pytest.raises(ValidationError, match="needs the entity key 'user_id'"):
        ws.features.get_online_features(["user_stats:txn_count"], {"account": [1]})
    with pytest.raises(FeatureNotFoundError, match="txn_count, amount_mean"):
        ws.features.get_online_features(["user_stats:nope"], {"user_id": [1]})


def test_skew_is_zero_when_materialized_and_catches_a_broken_value(ws: Workspace) -> None:
    ws.features.materialize()
    clean = ws.features.skew(["user_stats:txn_count", "user_stats:amount_mean"])
    assert (clean.entities, clean.compared, clean.mismatches) == (2, 4, [])

    broken = pa.table(
        {
            "user_id": pa.array([2], pa.int64()),
            "event_timestamp": pa.array([BASE + dt.timedelta(days=1)], STAMP),
            "txn_count": pa.array([9], pa.int64()),
            "amount_mean": [0.5],
        }
    )
    ws.features.online.write(
        "user_stats__v1", broken, keys=["user_id"], timestamp="event_timestamp"
    )
    report = ws.features.skew(["user_stats:txn_count", "user_stats:amount_mean"])

    (mismatch,) = report.mismatches
    assert (mismatch.feature, mismatch.entity, mismatch.offline, mismatch.online) == (
        "amount_mean", {"user_id": 2}, 99.0, 0.5
    )  # fmt: skip
