"""Moving an alias under load, over real HTTP: a ``modelyard serve`` process, 16 client
threads on all three protocols, and the ``champion`` alias moved 20 times through the
Python API on the same workspace. No request fails, and every answer names the version
that computed it (each version predicts its own number)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow.dataset as ds
import pytest

from modelyard._workspace import Workspace, init_workspace
from modelyard.deployments import DeploymentSpec
from modelyard.registry import ColumnSpec, Signature
from serving.http_server import Server, launch, wait_ready

pytestmark = pytest.mark.slow

VERSIONS = 4
MOVES = 20
CLIENTS = 16
X_ONLY = Signature(inputs=(ColumnSpec("x", "float64"),))


def version_model(version: int) -> object:
    """A model whose every prediction is ``version``. The class is made here, not at module
    level, so cloudpickle stores it by value: the server process cannot import this test."""

    class VersionModel:
        def predict(self, X: Any) -> np.ndarray:
            return np.full(len(X), float(version))

    return VersionModel()


@pytest.fixture
def hot(tmp_path: Path) -> Iterator[tuple[Workspace, Server]]:
    """A workspace with versions 1..4 of ``m``, ``champion`` on 1, deployment ``d`` on it,
    and a server on it that re-reads aliases every 0.2 s."""
    ws, _ = init_workspace(tmp_path)
    for version in range(1, VERSIONS + 1):
        ws.registry.register("m", version_model(version), signature=X_ONLY)
    ws.registry.set_alias("m", "champion", 1)
    ws.deployments.create(DeploymentSpec(name="d", model="m"))
    server = launch(tmp_path, env={"MODELYARD_SERVING__REFRESH_INTERVAL_S": "0.2"})
    try:
        yield ws, wait_ready(server)
    finally:
        ws.close()
        if server.process.poll() is None:
            server.stop()


# -- one single-row request per protocol: (reported version, predicted value) ----------------


def answer(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    if response.status_code != 200:
        raise AssertionError(f"{path}: {response.status_code} {response.text}")
    parsed: dict[str, Any] = response.json()
    return parsed


def native(client: httpx.Client) -> tuple[int, float]:
    body = answer(client, "/v1/deployments/d/predict", {"records": [{"x": 1.0}]})
    return int(body["model_version"]), float(body["predictions"][0])


def mlflow(client: httpx.Client) -> tuple[int, float]:
    body = answer(client, "/deployments/d/invocations", {"inputs": {"x": [1.0]}})
    return int(body["model_version"]), float(body["predictions"][0])


def v2(client: httpx.Client) -> tuple[int, float]:
    tensor = {"name": "x", "datatype": "FP64", "shape": [1], "data": [1.0]}
    body = answer(client, "/v2/models/d/infer", {"inputs": [tensor]})
    return int(body["model_version"]), float(body["outputs"][0]["data"][0])


PROTOCOLS: list[Callable[[httpx.Client], tuple[int, float]]] = [native, mlflow, v2]


@dataclass
class Load:
    """Client threads that send requests until stopped, keeping every answer and failure."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[tuple[int, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def client(self, index: int) -> None:
        send = PROTOCOLS[index % len(PROTOCOLS)]
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    self.answers.append(send(client))
                except Exception as exc:  # an error status, a reset connection...
                    self.failures.append(f"{send.__name__}: {type(exc).__name__}: {exc}")

    def __enter__(self) -> Load:
        self._threads = [
            threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(CLIENTS)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def serving(server: Server, client: httpx.Client) -> list[str]:
    versions: list[str] = client.get(f"{server.url}/v2/models/d").json()["versions"]
    return versions


def test_moving_an_alias_under_http_load_drops_nothing_and_mislabels_nothing(
    hot: tuple[Workspace, Server],
) -> None:
    ws, server = hot
    with Load(server.url) as load, httpx.Client(timeout=10) as admin:
        for move in range(MOVES):
            version = move % VERSIONS + 2 if move % VERSIONS != VERSIONS - 1 else 1  # 2,3,4,1..
            ws.registry.set_alias("m", "champion", version)
            deadline = time.monotonic() + 20
            while serving(server, admin) != [str(version)]:
                assert time.monotonic() < deadline, f"move {move}: version {version} not served"
                time.sleep(0.02)
            time.sleep(0.05)  # requests on the new version before the next move
    server.stop()
    assert load.failures == []
    assert len(load.answers) > 200
    wrong = [(reported, value) for reported, value in load.answers if value != reported]
    assert wrong == []
    assert {reported for reported, _ in load.answers} == set(range(1, VERSIONS + 1))
    # the prediction log agrees: each row's output is the version it names
    root = ws.settings.resolved_predictions_dir()
    log = ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()
    assert len(log) == len(load.answers)
    assert (log["output"] == log["version"]).all()
