"""The feature server routes of ``modelyard serve`` (Feast's request and response format),
over a real HTTP server on 127.0.0.1, with the SQLite online store and with Redis."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from featurekit import STAMP, STATS, USER, amount_ratio, redis_online_url
from modelyard import Workspace
from modelyard.config import load_settings
from modelyard.features import (
    FeatureService,
)
from serving.http_server import Server, launch, wait_ready


@pytest.fixture(params=["sqlite", "redis"], scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    online = ""
    if request.param == "redis":
        online = redis_online_url()
    folder: Path = tmp_path_factory.mktemp("features")
    (folder / "modelyard.toml").write_text(f'[features]\nonline_url = "{online}"\n')
    with Workspace(load_settings(folder)) as ws:
        ws.start()
        stamps = pa.array([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)] * 2, STAMP)
        ws.datasets.write("user_stats", pa.table({
            "user_id": pa.array([1, 2], pa.int64()), "event_timestamp": stamps,
            "txn_count": pa.array([3, 9], pa.int64()), "amount_mean": [10.0, 99.0],
        }))  # fmt: skip
        ws.features.apply([USER, STATS, amount_ratio, FeatureService(
            "fraud", ("user_stats:txn_count", "amount_ratio:amount_vs_mean"))])  # fmt: skip
        ws.features.online.delete_view("user_stats__v1")
        ws.features.materialize()
    running = wait_ready(launch(folder))
    yield running
    running.stop()
    with Workspace(load_settings(folder)) as ws:
        ws.features.online.delete_view("user_stats__v1")


def test_get_online_features_answers_in_feasts_format(server: Server) -> None:
    body = {"features": ["user_stats:txn_count", "user_stats:amount_mean"],
            "entities": {"user_id": [2, 1, 5]}}  # fmt: skip
    answer = httpx.post(f"{server.url}/get-online-features", json=body, timeout=10)

    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["metadata"]["feature_names"] == ["user_id", "txn_count", "amount_mean"]
    ids, count, mean = data["results"]
    assert ids == {"values": [2, 1, 5], "statuses": ["PRESENT"] * 3,
                   "event_timestamps": ["1970-01-01T00:00:00Z"] * 3}  # fmt: skip
    assert count["values"] == [9, 3, None]
    assert count["statuses"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert count["event_timestamps"][:2] == ["2026-01-01T00:00:00Z"] * 2
    assert mean["values"] == [99.0, 10.0, None]


def test_a_feature_service_with_request_data_and_full_names(server: Server) -> None:
    body = {"feature_service": "fraud", "full_feature_names": True,
            "entities": {"user_id": [1], "amount": [25.0]}}  # fmt: skip
    data = httpx.post(f"{server.url}/get-online-features", json=body, timeout=10).json()

    assert data["metadata"]["feature_names"] == [
        "user_id", "amount", "user_stats__txn_count", "amount_ratio__amount_vs_mean"
    ]  # fmt: skip
    assert data["results"][3]["values"] == [2.5]


def test_push_makes_fresh_rows_servable(server: Server) -> None:
    push = {"push_source_name": "user_stats", "to": "online", "df": {
        "user_id": [2], "event_timestamp": ["2026-01-02T00:00:00Z"],
        "txn_count": [10], "amount_mean": [50.0]}}  # fmt: skip
    pushed = httpx.post(f"{server.url}/push", json=push, timeout=10)
    body = {"features": ["user_stats:txn_count"], "entities": {"user_id": [2]}}
    data = httpx.post(f"{server.url}/get-online-features", json=body, timeout=10).json()

    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["rows"] == 1
    assert data["results"][1]["values"] == [10]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"features": ["user_stats:nope"], "entities": {"user_id": [1]}}, 404,
         "txn_count, amount_mean"),
        ({"features": ["nope:x"], "entities": {"user_id": [1]}}, 404, "user_stats"),
        ({"features": ["user_stats:txn_count"], "entities": {"user_id": ["one"]}}, 422,
         "is BIGINT"),
        ({"features": ["user_stats:txn_count"]}, 422, "entities"),
        ({"feature_service": "fraud", "features": ["a:b"], "entities": {"user_id": [1]}}, 422,
         "exactly one"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_clear_4xx(
    server: Server, body: dict[str, object], status: int, words: str
) -> None:
    answer = httpx.post(f"{server.url}/get-online-features", json=body, timeout=10)

    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]


def test_a_body_that_is_not_json_is_a_400(server: Server) -> None:
    answer = httpx.post(f"{server.url}/get-online-features", content=b"{nope", timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed_body"
