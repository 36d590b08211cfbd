"""``modelyard serve`` as a real process on 127.0.0.1: Triton's client, MLflow payloads,
bad input (explicit cases and a schemathesis run over /openapi.json), auth with two
workers, and a clean shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import schemathesis
import tritonclient.http as triton
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from modelyard._workspace import Workspace, init_workspace
from modelyard.access import Scope
from modelyard.deployments import DeploymentSpec
from modelyard.registry import ColumnSpec, Signature
from serving.http_server import Server, launch, wait_ready

pytestmark = pytest.mark.slow

FEATURES = ["f0", "f1", "f2", "f3"]


@dataclass
class Served:
    server: Server
    guarded: Server  # the same workspace with --auth --workers 2
    keys: dict[str, str]
    frame: pd.DataFrame
    labels: np.ndarray
    lin_inputs: np.ndarray
    lin_outputs: np.ndarray
    workspace: Path


def build_workspace(folder: Path) -> tuple[Workspace, pd.DataFrame, np.ndarray]:
    from skl2onnx import to_onnx
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LinearRegression, LogisticRegression

    ws, _ = init_workspace(folder)
    (folder / "modelyard.toml").write_text("[serving]\nmax_body_bytes = 1048576\n")
    X, y = make_classification(n_samples=300, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=FEATURES)
    clf = LogisticRegression().fit(frame, y)
    version = ws.registry.register("clf", clf, input_example=frame[:5])
    ws.registry.set_alias("clf", "champion", version.version)
    ws.deployments.create(DeploymentSpec(name="clf", model="clf"))
    X32 = X[:, :3].astype(np.float32)
    onnx_model = to_onnx(LinearRegression().fit(X32, X[:, 3]), X32[:1])
    version = ws.registry.register("lin", onnx_model, input_example=X32[:5])
    ws.registry.set_alias("lin", "champion", version.version)
    ws.deployments.create(DeploymentSpec(name="lin", model="lin"))
    # a bug in a model: one output row too many (a lambda: pickled by value for the server)
    one_too_many = Signature(inputs=(ColumnSpec("x", "float64"),))
    ws.registry.register("broken", lambda X: np.zeros(len(X) + 1), signature=one_too_many)
    ws.deployments.create(DeploymentSpec(name="broken", model="broken", traffic="v1=1"))
    return ws, frame, X32


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Two servers on one workspace, started together: plain, and --auth --workers 2."""
    folder = tmp_path_factory.mktemp("served")
    ws, frame, X32 = build_workspace(folder)
    keys = {
        "predict": ws.keys.create("svc", [Scope.PREDICT])[1],
        "admin": ws.keys.create("ops", [Scope.ADMIN])[1],
    }
    rows = frame[:8]
    labels = ws.registry.load("models:/clf@champion").predict(rows)
    lin_outputs = ws.registry.load("models:/lin@champion").predict(X32[:8])
    ws.close()
    plain, guarded = launch(folder), launch(folder, "--auth", "--workers", "2")
    try:
        wait_ready(plain)
        wait_ready(guarded)
        yield Served(plain, guarded, keys, rows, labels, X32[:8], lin_outputs, folder)
    finally:
        try:
            plain.stop()
        finally:
            guarded.stop()
    assert not any((folder / ".modelyard" / "prometheus").glob("*/*"))


# -- Triton's client -------------------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infers_a_column_model(served: Served, binary: bool) -> None:
    client = triton.InferenceServerClient(url=served.server.address)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("clf")
    X = served.frame.to_numpy()
    one = triton.InferInput("input", list(X.shape), "FP64")
    one.set_data_from_numpy(X, binary_data=binary)
    outputs = [triton.InferRequestedOutput("predict", binary_data=binary)]
    result = client.infer("clf", [one], outputs=outputs, request_id="r1")
    np.testing.assert_array_equal(result.as_numpy("predict"), served.labels)
    response = result.get_response()
    assert response["model_version"] == "1" and response["id"] == "r1"
    assert len(set(response["parameters"]["prediction_ids"])) == len(X)
    columns = []
    for name in FEATURES:
        column = triton.InferInput(name, [len(X), 1], "FP64")
        column.set_data_from_numpy(served.frame[[name]].to_numpy(), binary_data=binary)
        columns.append(column)
    result = client.infer("clf", columns)  # no outputs named: binary output by default
    np.testing.assert_array_equal(result.as_numpy("predict"), served.labels)
    client.close()


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infers_an_fp32_tensor_model(served: Served, binary: bool) -> None:
    client = triton.InferenceServerClient(url=served.server.address)
    tensor = triton.InferInput("x", list(served.lin_inputs.shape), "FP32")
    tensor.set_data_from_numpy(served.lin_inputs, binary_data=binary)
    outputs = [triton.InferRequestedOutput("predict", binary_data=binary)]
    result = client.infer("lin", [tensor], outputs=outputs, model_version="1")
    got = result.as_numpy("predict")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, served.lin_outputs)
    metadata = client.get_model_metadata("lin")
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3]}]
    with pytest.raises(triton.InferenceServerException):
        client.infer("lin", [tensor], model_version="9")
    client.close()


# -- MLflow and native -----------------------------------------------------------------------


def test_mlflow_forms_and_csv_agree(served: Served) -> None:
    frame = served.frame
    bodies: list[dict[str, Any]] = [
        {"json": {"dataframe_split": frame.to_dict(orient="split", index=False)}},
        {"json": {"dataframe_records": frame.to_dict(orient="records")}},
        {"json": {"instances": frame.to_dict(orient="records")}},
        {"json": {"instances": frame.to_numpy().tolist()}},
        {"json": {"inputs": frame.to_dict(orient="list")}},
        {"content": frame.to_csv(index=False), "headers": {"content-type": "text/csv"}},
    ]
    url = f"{served.server.url}/deployments/clf/invocations"
    for body in bodies:
        response = httpx.post(url, **body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["predictions"] == served.labels.tolist()
        assert len(set(answer["prediction_ids"])) == len(frame)
        assert answer["model_version"] == 1
        assert response.headers["x-model-version"] == "1"


def test_native_predict_carries_ids_and_version(served: Served) -> None:
    records = served.frame.to_dict(orient="records")
    response = httpx.post(
        f"{served.server.url}/v1/deployments/clf/predict", json={"records": records, "key": "u1"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["predictions"] == served.labels.tolist()
    assert len(body["prediction_ids"]) == len(records)
    assert (body["model"], body["model_version"], body["target"]) == ("clf", 1, "champion")


# -- bad input -------------------------------------------------------------------------------

BAD: list[tuple[str, dict[str, Any], int]] = [
    ("/v1/deployments/clf/predict", {"content": b"{not json"}, 400),
    ("/v1/deployments/clf/predict", {"content": b'{"records": [{"f0": NaN}]}'}, 400),
    ("/v1/deployments/clf/predict", {"content": b'{"columns": {"f0": [Infinity]}}'}, 400),
    ("/v1/deployments/clf/predict", {"json": {"records": []}}, 422),
    ("/v1/deployments/clf/predict", {"json": {"records": [{"f0": 1}]}}, 422),
    ("/v1/deployments/clf/predict", {"json": {"records": [dict.fromkeys(FEATURES, "x")]}}, 422),
    ("/v1/deployments/clf/predict", {"json": {"columns": {f: [] for f in FEATURES}}}, 422),
    ("/v1/deployments/clf/predict", {"json": {"tensor": [[1.0, 2.0]]}}, 422),
    ("/v1/deployments/nope/predict", {"json": {"records": [{"f0": 1}]}}, 404),
    ("/v1/deployments/clf/predict", {"content": b"x" * 2_000_000}, 413),
    ("/deployments/clf/invocations", {"json": {"instances": [[1, 2, 3, None]]}}, 422),
    ("/deployments/clf/invocations", {"json": {"dataframe_split": {"data": [[1]]}}}, 422),
    ("/deployments/lin/invocations", {"json": {"instances": [[1, 2]]}}, 422),
    ("/v2/models/lin/infer", {"json": {"inputs": [{"name": "x", "datatype": "FP32"}]}}, 422),
    (
        "/v2/models/lin/infer",
        {"content": b'{"inputs": 1}', "headers": {"Inference-Header-Content-Length": "99"}},
        400,
    ),
]


@pytest.mark.parametrize(("path", "request_kwargs", "status"), BAD)
def test_bad_input_is_4xx(
    served: Served, path: str, request_kwargs: dict[str, Any], status: int
) -> None:
    response = httpx.post(f"{served.server.url}{path}", **request_kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"]


def test_csv_nan_that_the_model_refuses_is_422(served: Served) -> None:
    csv = "f0,f1,f2,f3\nnan,1,2,3\n"
    response = httpx.post(
        f"{served.server.url}/deployments/clf/invocations",
        content=csv,
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 422, response.text
    assert "NaN" in response.json()["error"]["message"]


def test_unknown_deployment_lists_known_ones(served: Served) -> None:
    response = httpx.post(f"{served.server.url}/v2/models/nope/infer", json={"inputs": []})
    assert response.status_code == 404
    assert response.json()["error"]["details"]["deployments"] == ["broken", "clf", "lin"]


def test_a_row_the_model_refuses_fails_alone_among_concurrent_requests(served: Served) -> None:
    """One request with a NaN (LogisticRegression takes none) among concurrent good ones,
    which the batcher merges with it: only that request fails."""
    url = f"{served.server.url}/v1/deployments/clf/predict"
    good = {"records": served.frame[:1].to_dict(orient="records")}
    bad = {"columns": {"f0": [None], "f1": [0.0], "f2": [0.0], "f3": [0.0]}}  # null: NaN
    threads, rounds = 12, 4
    start = threading.Barrier(threads)

    def client(index: int) -> list[httpx.Response]:
        with httpx.Client(timeout=30) as http:
            responses = []
            for _ in range(rounds):
                start.wait(timeout=30)
                responses.append(http.post(url, json=bad if index == 0 else good))
            return responses

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(client, range(threads)))
    for response in answers[0]:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "flavor_error"
        assert "NaN" in response.json()["error"]["message"]
    for response in (r for responses in answers[1:] for r in responses):
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == served.labels[:1].tolist()


def test_a_model_that_answers_the_wrong_number_of_rows_is_a_logged_500(served: Served) -> None:
    url = f"{served.server.url}/v1/deployments/broken/predict"
    response = httpx.post(url, json={"records": [{"x": 1.0}, {"x": 2.0}]})
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "model_output_error"
    assert error["details"] == {"deployment": "broken", "version": 1, "rows": 2, "shape": [3]}
    assert "one output per input row" in error["message"]
    deadline = time.monotonic() + 10
    while "request failed with model_output_error" not in served.server.log.read_text():
        assert time.monotonic() < deadline, served.server.log.read_text()
        time.sleep(0.05)
    assert "Traceback" in served.server.log.read_text()


def test_no_server_errors(served: Served) -> None:
    """Whatever schemathesis sends to any operation of /openapi.json, valid or not, the
    answer is never a 5xx: 50 valid and 50 invalid bodies per predict route, 10 cases per
    other route, with real deployment names two times out of three."""
    api = schemathesis.openapi.from_url(f"{served.server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        if any(True for _ in operation.body):
            _never_5xx(_cases(operation, GenerationMode.POSITIVE), 50)
            _never_5xx(_cases(operation, GenerationMode.NEGATIVE), 50)
        else:
            _never_5xx(_cases(operation, GenerationMode.POSITIVE), 10)


def _cases(operation: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
    strategies = [operation.as_strategy(mode)]
    if "{name}" in operation.path:
        strategies += [
            operation.as_strategy(mode, path_parameters={"name": name}) for name in ("clf", "lin")
        ]
    return st.one_of(strategies)


def _never_5xx(cases: st.SearchStrategy[Any], examples: int) -> None:
    @given(case=cases)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    check()


# -- auth, two workers, shutdown -------------------------------------------------------------


def test_auth_with_two_workers(served: Served) -> None:
    url, keys = served.guarded.url, served.keys
    body = {"records": served.frame[:2].to_dict(orient="records")}
    assert httpx.get(f"{url}/health/live").status_code == 200
    assert httpx.get(f"{url}/v2/health/ready").status_code == 200
    assert httpx.post(f"{url}/v1/deployments/clf/predict", json=body).status_code == 401
    predict = {"Authorization": f"Bearer {keys['predict']}"}
    for _ in range(4):  # new connections: both workers answer some
        ok = httpx.post(f"{url}/v1/deployments/clf/predict", json=body, headers=predict)
        assert ok.status_code == 200, ok.text
        assert "access-control-allow-origin" not in ok.headers
    assert httpx.get(f"{url}/metrics", headers=predict).status_code == 403
    metrics = httpx.get(f"{url}/metrics", headers={"X-API-Key": keys["admin"]})
    assert metrics.status_code == 200
    # multiprocess mode: the scrape sums what both workers counted
    assert 'deployment="clf",protocol="native",status="200",version="1"} 4.0' in metrics.text
