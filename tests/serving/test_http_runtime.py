"""The HTTP layer on the real serving runtime, in process: readiness details when a new
version fails to load, and the runtime's metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.dummy import DummyRegressor

from modelyard import Workspace
from modelyard.config import ServingSettings, load_settings
from modelyard.deployments import DeploymentSpec
from modelyard.serving import create_app
from serving.http_fakes import AppClient

ROW = {"records": [{"x": 1.0}]}


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    serving = ServingSettings(refresh_interval_s=0.1, predictions_dir=str(tmp_path / "log"))
    workspace = Workspace(load_settings(tmp_path, serving=serving))
    workspace.start()
    yield workspace
    workspace.close()


def register(ws: Workspace, constant: float) -> int:
    model = DummyRegressor(strategy="constant", constant=constant).fit([[0.0]], [0.0])
    example = {"x": [0.0]}
    return ws.registry.register("m", model, input_example=example).version


def tamper(ws: Workspace, version: int) -> None:
    digest = ws.registry.get_version("m", version).digest
    for blob in ws.artifacts.tree_manifest(digest).values():
        path = Path(ws.artifacts.location(blob.digest))
        path.write_bytes(path.read_bytes()[:-1] + b"\x00")


def champion(client: AppClient) -> dict[str, Any]:
    details: dict[str, Any] = client.get("/health/ready").json()
    target: dict[str, Any] = details["deployments"]["d"]["targets"]["champion"]
    return target


def test_a_tampered_new_version_is_reported_while_the_old_one_serves(ws: Workspace) -> None:
    ws.registry.set_alias("m", "champion", register(ws, 1.0))
    ws.deployments.create(DeploymentSpec(name="d", model="m"))
    with AppClient(create_app(ws)) as client:
        assert client.post("/v1/deployments/d/predict", json=ROW).json()["predictions"] == [1.0]
        tamper(ws, register(ws, 2.0))
        ws.registry.set_alias("m", "champion", 2)
        deadline = time.monotonic() + 20
        while champion(client)["state"] != "failed" and time.monotonic() < deadline:
            client.wait(0.1)
        ready = client.get("/health/ready")
        # Ready (version 1 still answers), and the details say why version 2 does not.
        assert ready.status_code == 200
        body = ready.json()
        assert body["ready"] is True
        target = body["deployments"]["d"]["targets"]["champion"]
        assert target["state"] == "failed"
        assert target["version"] == 2 and target["serving_version"] == 1
        assert "failed verification" in target["error"]
        answer = client.post("/v1/deployments/d/predict", json=ROW).json()
        assert answer["predictions"] == [1.0] and answer["model_version"] == 1
        text = client.get("/metrics").text
    assert 'modelyard_model_load_failures_total{deployment="d"} 1.0' in text
    assert 'modelyard_batch_size_count{deployment="d"}' in text
    assert 'modelyard_queue_depth{deployment="d"} 0.0' in text


def test_a_deployment_without_a_serving_version_is_not_ready(ws: Workspace) -> None:
    ws.registry.set_alias("m", "champion", register(ws, 1.0))
    tamper(ws, 1)
    ws.deployments.create(DeploymentSpec(name="d", model="m"))
    with AppClient(create_app(ws)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        target = ready.json()["deployments"]["d"]["targets"]["champion"]
        assert target["state"] == "failed" and target["serving_version"] is None
        busy = client.post("/v1/deployments/d/predict", json=ROW)
        assert busy.status_code == 503 and "retry-after" in busy.headers
        assert client.get("/v2/models/d/ready").status_code == 503


def test_v2_infer_pinned_to_a_version_is_answered_by_it(ws: Workspace) -> None:
    """A canary (two targets): whichever target the weights would pick, a request to
    /versions/{v}/infer is computed by version v and says so."""
    ws.registry.set_alias("m", "champion", register(ws, 1.0))
    ws.registry.set_alias("m", "challenger", register(ws, 2.0))
    register(ws, 3.0)
    spec = DeploymentSpec(name="d", model="m", traffic="champion=9,challenger=1")
    ws.deployments.create(spec)
    body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [0.0]}]}
    with AppClient(create_app(ws)) as client:
        for version, target in ((1, "champion"), (2, "challenger")):
            for _ in range(25):
                response = client.post(f"/v2/models/d/versions/{version}/infer", json=body)
                assert response.status_code == 200, response.text
                answer = response.json()
                assert answer["model_version"] == str(version)
                assert answer["outputs"][0]["data"] == [float(version)]
                assert answer["parameters"]["target"] == target
                assert response.headers["x-model-version"] == str(version)
        for missing in ("3", "0", "x"):
            response = client.post(f"/v2/models/d/versions/{missing}/infer", json=body)
            assert response.status_code == 404, response.text
            assert response.json()["error"]["details"]["serving"] == [1, 2]
