"""The feature server routes of ``modelyard serve`` (Feast's request and response format),
over a real HTTP server on 127.0.0.1, with the SQLite online store and with Redis."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from featurekit import STAMP, STATS, USER, amount_ratio, redis_online_url
from modelyard import Workspace
from modelyard.config import load_settings
from modelyard.deployments import DeploymentSpec
from modelyard.features import FeatureService
from serving.http_server import Server, launch, wait_ready

MODEL_INPUTS = ["txn_count", "amount_vs_mean", "amount"]


@pytest.fixture(scope="module")
def fraud_model() -> HistGradientBoostingRegressor:
    """A model over two served features and one passed-through request field; it takes
    missing values (an unknown user has no txn_count)."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {"txn_count": rng.integers(0, 20, 400).astype(float), "amount_vs_mean":
         rng.gamma(2.0, 1.0, 400), "amount": rng.gamma(2.0, 30.0, 400)}
    )  # fmt: skip
    target = frame["txn_count"] + 10 * frame["amount_vs_mean"] + 0.1 * frame["amount"]
    return HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(frame, target)


@pytest.fixture(params=["sqlite", "redis"], scope="module")
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fraud_model: HistGradientBoostingRegressor,
) -> Iterator[Server]:
    online = ""
    if request.param == "redis":
        online = redis_online_url()
    folder: Path = tmp_path_factory.mktemp("features")
    (folder / "modelyard.toml").write_text(
        f'[features]\nonline_url = "{online}"\nonline_prefix = "test-{uuid.uuid4().hex}"\n'
        "[serving]\nsegment_seconds = 1.0\n"
    )
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
        example = pd.DataFrame({"txn_count": [1.0], "amount_vs_mean": [1.0], "amount": [1.0]})
        ws.registry.register("fraud", fraud_model, input_example=example)
        ws.registry.set_alias("fraud", "champion", 1)
        ws.deployments.create(DeploymentSpec(name="fraud", model="fraud", feature_service="fraud"))
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


# -- a deployment that declares the feature service ----------------------------------------


def expected(model: HistGradientBoostingRegressor, rows: dict[str, list[float]]) -> list[float]:
    predictions: list[float] = model.predict(pd.DataFrame(rows)[MODEL_INPUTS]).tolist()
    return predictions


def test_a_deployment_reads_its_features_for_the_entities_of_a_request(
    server: Server, fraud_model: HistGradientBoostingRegressor
) -> None:
    body = {"columns": {"user_id": [1, 7, 1], "amount": [25.0, 5.0, 30.0]}}
    answer = httpx.post(f"{server.url}/v1/deployments/fraud/predict", json=body, timeout=10)

    assert answer.status_code == 200, answer.text
    # user 1: 3 txns, amount mean 10; user 7 is unknown (NaN features)
    want = expected(fraud_model, {"txn_count": [3.0, np.nan, 3.0],
                                  "amount_vs_mean": [2.5, np.nan, 3.0],
                                  "amount": [25.0, 5.0, 30.0]})  # fmt: skip
    assert answer.json()["predictions"] == pytest.approx(want)


def test_the_deployment_describes_what_a_request_carries(server: Server) -> None:
    answer = httpx.get(f"{server.url}/v1/deployments/fraud", timeout=10).json()

    columns = answer["signature"]["inputs"]["columns"]
    assert columns == [
        {"name": "user_id", "dtype": "int64"},
        {"name": "amount", "dtype": "float64"},
    ]
    assert answer["spec"]["feature_service"] == "fraud"


def test_mlflow_records_work_the_same_way(
    server: Server, fraud_model: HistGradientBoostingRegressor
) -> None:
    body = {"dataframe_records": [{"user_id": 1, "amount": 50.0}]}
    answer = httpx.post(f"{server.url}/deployments/fraud/invocations", json=body, timeout=10)

    assert answer.status_code == 200, answer.text
    want = expected(fraud_model, {"txn_count": [3.0], "amount_vs_mean": [5.0],
                                  "amount": [50.0]})  # fmt: skip
    assert answer.json()["predictions"] == pytest.approx(want)


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        ({"user_id": ["one"], "amount": [1.0]}, "user_id"),
        ({"amount": [1.0]}, "user_id"),
        ({"user_id": [1]}, "amount"),
    ],
)
def test_bad_entity_keys_get_a_422(
    server: Server, columns: dict[str, list[object]], words: str
) -> None:
    body = {"columns": columns}
    answer = httpx.post(f"{server.url}/v1/deployments/fraud/predict", json=body, timeout=10)

    assert answer.status_code == 422, answer.text
    assert words in answer.json()["error"]["message"]


def test_the_prediction_log_holds_the_feature_values_used(server: Server) -> None:
    body = {"columns": {"user_id": [1], "amount": [40.0]}}
    answer = httpx.post(f"{server.url}/v1/deployments/fraud/predict", json=body, timeout=10)
    prediction_id = answer.json()["prediction_ids"][0]

    rows = logged(server.log.parent / ".modelyard" / "predictions", prediction_id)
    assert len(rows) == 1
    assert rows[0]["input__user_id"] == 1
    assert rows[0]["input__txn_count"] == 3
    assert rows[0]["input__amount_vs_mean"] == pytest.approx(4.0)


def logged(root: Path, prediction_id: str, timeout_s: float = 20.0) -> list[dict[str, object]]:
    """The log rows of one prediction, once its WAL has rolled to Parquet (every second)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(root.glob("deployment=*/**/*.parquet")):
            table = pads.dataset(root, format="parquet", partitioning="hive").to_table()
            rows = table.filter(pc.equal(table["prediction_id"], prediction_id)).to_pylist()
            if rows:
                return rows
        time.sleep(0.2)
    raise AssertionError(f"prediction {prediction_id} not in the log after {timeout_s} s")


# -- feedback -------------------------------------------------------------------------------


def test_feedback_over_http(server: Server) -> None:
    body = {"columns": {"user_id": [1, 1], "amount": [10.0, 20.0]}}
    answer = httpx.post(f"{server.url}/v1/deployments/fraud/predict", json=body, timeout=10)
    first, second = answer.json()["prediction_ids"]
    url = f"{server.url}/v1/feedback"

    created = httpx.post(url, json={"prediction_id": first, "label": 31.5}, timeout=10)
    again = httpx.post(url, json={"prediction_id": first, "label": 31.5}, timeout=10)
    conflict = httpx.post(url, json={"prediction_id": first, "label": 2.0}, timeout=10)
    wrong = httpx.post(url, json={"prediction_id": second, "label": "high"}, timeout=10)
    unknown = httpx.post(url, json={"prediction_id": first[:-1] + "9", "label": 1.0}, timeout=10)
    malformed = httpx.post(url, json={"label": 1.0}, timeout=10)
    batch = httpx.post(url, json={"feedback": [{"prediction_id": second, "label": 3}]}, timeout=10)

    assert (created.status_code, created.json()["status"]) == (201, "created"), created.text
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    assert conflict.status_code == 409 and "already has the label 31.5" in conflict.text
    assert wrong.status_code == 422 and "must be a number" in wrong.text
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert malformed.status_code == 422
    assert (batch.status_code, batch.json()["created"]) == (201, 1)
