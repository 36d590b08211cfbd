"""A ``modelyard serve`` process killed with SIGKILL under load loses no prediction it
answered: the next start on the workspace rolls the WAL the dead process left into Parquet,
and every prediction id a client got a 200 for is in the log exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pyarrow.dataset as ds
import pytest

from modelyard._workspace import init_workspace
from modelyard.deployments import DeploymentSpec
from modelyard.registry import ColumnSpec, Signature
from serving.http_server import Server, launch, wait_ready

pytestmark = pytest.mark.slow

CLIENTS = 4
KILL_AFTER = 300  # acknowledged requests


@dataclass
class Clients:
    """Threads that send 1 to 3 rows at a time until the server goes away, keeping the
    prediction ids of every 200."""

    url: str
    acknowledged: list[str] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for i in range(1_000_000):
                rows = [{"x": float(index * 1000 + i + n)} for n in range(1 + i % 3)]
                try:
                    response = client.post("/v1/deployments/d/predict", json={"records": rows})
                except httpx.TransportError:
                    return  # killed: whatever was in flight got no answer
                if response.status_code != 200:
                    self.errors.append(f"{response.status_code} {response.text}")
                    return
                ids = response.json()["prediction_ids"]
                assert len(ids) == len(rows)
                with self._lock:
                    self.acknowledged += ids
                    self.requests += 1

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.send, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        return threads


def build(folder: Path) -> Path:
    ws, _ = init_workspace(folder)
    signature = Signature(inputs=(ColumnSpec("x", "float64"),))
    ws.registry.register("m", lambda X: np.asarray(X["x"]) * 2.0, signature=signature)
    ws.registry.set_alias("m", "champion", 1)
    ws.deployments.create(DeploymentSpec(name="d", model="m"))
    predictions = ws.settings.resolved_predictions_dir()
    ws.close()
    return predictions


def logged(root: Path) -> Counter[str]:
    if not any(root.glob("deployment=*")):
        return Counter()
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    return Counter(table["prediction_id"].to_pylist())


def test_every_acknowledged_prediction_survives_a_sigkill(tmp_path: Path) -> None:
    root = build(tmp_path)
    server: Server = wait_ready(launch(tmp_path))
    clients = Clients(server.url)
    threads = clients.start()
    try:
        deadline = time.monotonic() + 60
        while clients.requests < KILL_AFTER and not clients.errors:
            assert time.monotonic() < deadline, "the server answered too slowly"
            time.sleep(0.01)
    finally:
        server.kill()  # mid-load: the clients are still sending
        for thread in threads:
            thread.join(timeout=60)
    assert clients.errors == []
    assert logged(root) == Counter(), "nothing rolls in a few seconds: all is in the WAL"
    assert [p for p in (root / "wal").glob("*.jsonl") if p.stat().st_size], "no WAL left"

    restarted = wait_ready(launch(tmp_path))  # its start recovers the dead process's WAL
    acknowledged = list(clients.acknowledged)
    with httpx.Client(base_url=restarted.url) as client:
        for i in range(5):
            response = client.post("/v1/deployments/d/predict", json={"records": [{"x": i}]})
            assert response.status_code == 200, response.text
            acknowledged += response.json()["prediction_ids"]
    restarted.stop()  # SIGTERM: rolls its own WAL at shutdown

    assert list((root / "wal").glob("*.jsonl")) == []
    counts = logged(root)
    assert len(acknowledged) == len(set(acknowledged)) >= KILL_AFTER
    assert [pid for pid in acknowledged if counts[pid] != 1] == []
    assert max(counts.values()) == 1  # in-flight requests that got no answer: at most once
