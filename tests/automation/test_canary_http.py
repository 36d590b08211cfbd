"""The canary that errors, over real HTTP: a ``modelyard serve`` process refreshing every
0.2 s, client threads sending requests throughout, a challenger whose every prediction
raises given half the traffic, then rolled back automatically. Not one caller gets an
error, the champion answers every request, and the rollback is in the audit log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modelyard._workspace import Workspace, init_workspace
from modelyard.automation import (
    CanaryConfig,
    CanaryStatus,
    DecisionKind,
    DecisionLog,
    advance_canary,
    start_canary,
)
from modelyard.deployments import DeploymentSpec
from modelyard.registry import ColumnSpec, Signature
from serving.http_server import Server, launch, wait_ready

pytestmark = pytest.mark.slow

CLIENTS = 4
X_ONLY = Signature(inputs=(ColumnSpec("x", "float64"),))


def models() -> tuple[object, object]:
    """A champion answering 1.0 and a challenger that always raises; made here so that
    cloudpickle stores them by value (the server cannot import this test)."""

    class Champion:
        def predict(self, X: Any) -> np.ndarray:
            return np.ones(len(X))

    class Broken:
        def predict(self, X: Any) -> np.ndarray:
            raise RuntimeError(f"challenger exploded on {len(X)} rows")

    return Champion(), Broken()


@dataclass
class Load:
    """Client threads sending one-row requests until stopped; every answer and failure."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    versions: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def client(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    response = client.post(
                        "/v1/deployments/d/predict", json={"records": [{"x": 1.0}]}
                    )
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
                else:
                    self.versions.append(int(response.json()["model_version"]))

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self.client, daemon=True) for _ in range(CLIENTS)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Workspace, Server]]:
    ws, _ = init_workspace(tmp_path)
    champion, broken = models()
    ws.registry.register("m", champion, signature=X_ONLY)
    ws.registry.register("m", broken, signature=X_ONLY)
    ws.registry.set_alias("m", "champion", 1)
    ws.deployments.create(DeploymentSpec(name="d", model="m"))
    server = launch(tmp_path, env={"MODELYARD_SERVING__REFRESH_INTERVAL_S": "0.2"})
    try:
        yield ws, wait_ready(server)
    finally:
        ws.close()
        if server.process.poll() is None:
            server.stop()


def serving(server: Server) -> dict[str, Any]:
    details = httpx.get(f"{server.url}/health/ready", timeout=5).json()
    targets: dict[str, Any] = details["deployments"]["d"]["targets"]
    return targets


def test_an_erroring_canary_is_rolled_back_with_no_failed_request(
    served: tuple[Workspace, Server],
) -> None:
    ws, server = served
    config = CanaryConfig(share=0.5, predictions=100_000, duration_s=120, fail_fast_errors=5)
    with Load(server.url) as load:
        time.sleep(0.5)
        start_canary(ws, "d", 2, config)
        deadline = time.monotonic() + 60
        canary = advance_canary(ws, "d")
        while canary is not None and canary.status is CanaryStatus.RUNNING:
            assert time.monotonic() < deadline, f"not rolled back: {canary.evidence}"
            time.sleep(0.2)
            canary = advance_canary(ws, "d")
        while "challenger" in serving(server):  # the server applied the rollback
            assert time.monotonic() < deadline, serving(server)
            time.sleep(0.1)
        answered = len(load.versions)
        time.sleep(0.5)  # the champion alone, after the switch
    assert load.failures == []
    assert set(load.versions) == {1}
    assert len(load.versions) > answered > 20
    assert canary is not None and canary.status is CanaryStatus.ROLLED_BACK
    assert ws.registry.resolve("models:/m@champion").version == 1
    assert [r.target for r in ws.deployments.get("d").spec.traffic] == ["champion"]
    decision = DecisionLog(ws.db).latest(DecisionKind.CANARY_ROLLBACK, model="m")
    assert decision is not None
    assert decision.evidence["targets"]["challenger"]["errors"] >= config.fail_fast_errors
    assert "failing fast" in decision.summary
