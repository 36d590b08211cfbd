"""MLflow's /invocations and the native /v1 API, in process against a fake runtime."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from starlette.responses import Response

from modelyard.deployments import StickyKey
from modelyard.errors import FlavorError, OverloadedError
from modelyard.serving._http import json_response
from serving.http_fakes import AppClient, FakeState

ROWS = [{"a": 1.0, "b": 2.0, "c": "x"}, {"a": 3.5, "b": -1.0, "c": "y"}]
EXPECTED = [3.0, 2.5]


MLFLOW_FORMS: dict[str, Any] = {
    "dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.0, 2.0, "x"], [3.5, -1, "y"]]},
    "dataframe_records": ROWS,
    "instances": ROWS,
    "inputs": {"a": [1.0, 3.5], "b": [2, -1], "c": ["x", "y"]},
}


@pytest.mark.parametrize("form", sorted(MLFLOW_FORMS))
def test_mlflow_json_forms_give_the_same_predictions(client: AppClient, form: str) -> None:
    response = client.post("/deployments/cols/invocations", json={form: MLFLOW_FORMS[form]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == EXPECTED
    assert body["prediction_ids"] == ["cols-0", "cols-1"]
    assert body["model_version"] == 3
    assert response.headers["x-model-version"] == "3"


def test_mlflow_csv_gives_the_same_predictions(client: AppClient) -> None:
    csv = "a,b,c\n1.0,2.0,x\n3.5,-1,y\n"
    response = client.post(
        "/deployments/cols/invocations", content=csv, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == EXPECTED


def test_mlflow_csv_nan_is_a_missing_float(client: AppClient, state: FakeState) -> None:
    csv = "a,b,c\nnan,2.0,x\n"
    response = client.post(
        "/deployments/cols/invocations", content=csv, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [None]  # NaN is written as null
    batch, _ = state.runtimes["cols"].calls[-1]
    assert batch.columns is not None and math.isnan(batch.columns["a"][0])


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [[1, 2, 3]]},
        {"inputs": [[1, 2, 3]]},
        {"dataframe_split": {"data": [[1, 2, 3]]}},
        {"dataframe_split": {"columns": ["0", "1", "2"], "data": [[1, 2, 3]]}},
    ],
)
def test_mlflow_tensor_forms(client: AppClient, body: dict[str, Any]) -> None:
    response = client.post("/deployments/tens/invocations", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [6.0]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "exactly one"),
        ({"instances": [[1]], "inputs": [[1]]}, "exactly one"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, "1 values"),
        ({"dataframe_split": {"columns": ["a", "b", "c"], "data": []}}, "no rows"),
        ({"dataframe_records": [{"a": 1.0, "c": "x"}]}, "'b'"),
        ({"dataframe_records": []}, "non-empty"),
        ({"dataframe_records": [{"a": 1, "b": 2, "c": "x"}, 5]}, "record 1"),
        ({"instances": [[1, 2], [3]]}, "rectangular"),
        ({"inputs": {"a": [1.0], "b": ["zz"], "c": ["x"]}}, "'b'"),
        ({"dataframe_records": ROWS, "params": {"x": 1}}, "params"),
    ],
)
def test_mlflow_bad_bodies_are_422(client: AppClient, body: Any, needle: str) -> None:
    response = client.post("/deployments/cols/invocations", json=body)
    assert response.status_code == 422, response.text
    assert needle in response.json()["error"]["message"]


def test_mlflow_bad_csv(client: AppClient) -> None:
    for csv, status in (("", 422), ("a,b,c\n", 422), ('a,b\n"1,2\n', 400), ("a,b,c\n1,x,y\n", 422)):
        response = client.post(
            "/deployments/cols/invocations", content=csv, headers={"content-type": "text/csv"}
        )
        assert response.status_code == status, (csv, response.text)


def test_native_records_columns_and_tensor(client: AppClient) -> None:
    records = client.post("/v1/deployments/cols/predict", json={"records": ROWS}).json()
    assert records == {
        "predictions": EXPECTED,
        "prediction_ids": ["cols-0", "cols-1"],
        "model": "cols-model",
        "model_version": 3,
        "target": "champion",
    }
    columns = client.post(
        "/v1/deployments/cols/predict", json={"columns": MLFLOW_FORMS["inputs"]}
    ).json()
    assert columns["predictions"] == EXPECTED
    tensor = client.post("/v1/deployments/tens/predict", json={"tensor": [[1, 1, 1], [0, 0, 2]]})
    assert tensor.json()["predictions"] == [3.0, 2.0]


def test_native_null_is_nan_and_extra_fields_are_ignored(
    client: AppClient, state: FakeState
) -> None:
    rows = [{"a": None, "b": 1, "c": "x", "extra": [1, 2]}]
    response = client.post("/v1/deployments/cols/predict", json={"records": rows})
    assert response.status_code == 200, response.text
    batch, _ = state.runtimes["cols"].calls[-1]
    assert batch.columns is not None and set(batch.columns) == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"records": [{"a": 1, "b": 2}]}, 422),
        ({"records": [{"a": "one", "b": 2, "c": "x"}]}, 422),
        ({"records": [{"a": {"x": 1}, "b": 2, "c": "x"}]}, 422),
        ({"records": [{"a": [1, 2], "b": 2, "c": "x"}]}, 422),
        ({"columns": {"a": [1, 2], "b": [1], "c": ["x", "y"]}}, 422),
        ({"columns": {"a": 1, "b": 1, "c": "x"}}, 422),
        ({"columns": {}}, 422),
        ({"records": ROWS, "key": {"x": 1}}, 422),
        ({"tensor": [[1, 2]]}, 422),
        ({"records": ROWS, "columns": {}}, 422),
        ("text", 422),
    ],
)
def test_native_bad_bodies_are_4xx(client: AppClient, body: Any, status: int) -> None:
    response = client.post("/v1/deployments/cols/predict", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_native_key_is_the_sticky_value(client: AppClient, state: FakeState) -> None:
    client.post("/v1/deployments/cols/predict", json={"records": ROWS, "key": 42})
    assert state.runtimes["cols"].calls[-1][1] == "42"


def test_sticky_header_is_passed_to_the_runtime(client: AppClient, state: FakeState) -> None:
    runtime = state.runtimes["cols"]
    runtime.sticky_key = StickyKey.parse("header:X-User")
    client.post("/v1/deployments/cols/predict", json={"records": ROWS}, headers={"x-user": "u7"})
    assert runtime.calls[-1][1] == "u7"
    client.post("/deployments/cols/invocations", json={"instances": ROWS}, headers={"X-User": "u8"})
    assert runtime.calls[-1][1] == "u8"


def test_sticky_field_is_kept_for_the_runtime(client: AppClient, state: FakeState) -> None:
    runtime = state.runtimes["cols"]
    runtime.sticky_key = StickyKey.parse("field:user")
    rows = [{**row, "user": "u9"} for row in ROWS]
    client.post("/v1/deployments/cols/predict", json={"records": rows})
    batch, sticky = runtime.calls[-1]
    assert sticky is None
    assert batch.columns is not None and list(batch.columns["user"]) == ["u9", "u9"]


def test_runtime_errors_map_to_statuses(client: AppClient, state: FakeState) -> None:
    runtime = state.runtimes["cols"]
    runtime.fail = OverloadedError("queue full", retry_after=0.2)
    busy = client.post("/v1/deployments/cols/predict", json={"records": ROWS})
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    runtime.fail = FlavorError("the model refused NaN")
    assert client.post("/v1/deployments/cols/predict", json={"records": ROWS}).status_code == 422


def test_unknown_deployment_is_404_on_every_protocol(client: AppClient) -> None:
    for path in ("/v1/deployments/x/predict", "/deployments/x/invocations", "/v2/models/x/infer"):
        response = client.post(path, json={"records": ROWS})
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "not_found"
        assert "cols, tens" in error["message"]


def test_admin_views(client: AppClient) -> None:
    listing = client.get("/v1/deployments").json()
    assert listing["ready"] is True
    assert [d["name"] for d in listing["deployments"]] == ["cols", "tens"]
    one = client.get("/v1/deployments/cols").json()
    assert one["versions"] == {"champion": 3}
    assert one["spec"] == {"name": "cols", "model": "cols"}
    assert one["status"] == {"ready": True}
    assert one["signature"]["inputs"]["columns"][0] == {"name": "a", "dtype": "float64"}


def test_health(client: AppClient, state: FakeState) -> None:
    assert client.get("/health/live").json() == {"live": True}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["deployments"]["cols"] == {"ready": True}
    state.ready = False
    assert client.get("/health/ready").status_code == 503


def test_predictions_keep_their_shape(client: AppClient, state: FakeState) -> None:
    state.runtimes["cols"].fn = lambda batch: np.ones((batch.n_rows, 2))
    body = client.post("/v1/deployments/cols/predict", json={"records": ROWS}).json()
    assert body["predictions"] == [[1.0, 1.0], [1.0, 1.0]]
    state.runtimes["cols"].fn = lambda batch: np.array(["yes"] * batch.n_rows, dtype=object)
    body = client.post("/deployments/cols/invocations", json={"instances": ROWS}).json()
    assert body["predictions"] == ["yes", "yes"]


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, None),
        (200, {"X-Model-Version": "3"}),
        (503, {"retry-after": "1"}),
        (204, None),
        (200, {"Content-Type": "application/problem+json"}),
    ],
)
def test_json_responses_have_starlettes_headers(
    status: int, headers: dict[str, str] | None
) -> None:
    response = json_response({"a": [1, 2]}, status, headers)
    reference = Response(response.body, status, headers, media_type="application/json")
    assert response.raw_headers == reference.raw_headers
    assert (response.status_code, response.body) == (status, b'{"a":[1,2]}')


def test_public_surface() -> None:
    import modelyard.serving as serving

    assert serving.__all__ == ["InputBatch", "PredictionResult", "create_app", "serve"]
    for name in serving.__all__:
        assert getattr(serving, name) is not None
