"""The prediction server as Ray Serve replicas on a local Ray, with the metadata in
PostgreSQL and the prediction cache in Redis, predicting over HTTP."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from featurekit import redis_online_url
from modelyard import Workspace
from modelyard.compute import RayCompute
from modelyard.compute._serve_ray import RayServeOptions, start_ray_serve, stop_ray_serve
from modelyard.config import load_settings
from modelyard.deployments import CacheOptions, DeploymentSpec
from modelyard.errors import ConfigError

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Ray Serve's own
    # pipes and processes of Ray's own, collected while this test runs
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(url: str, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = httpx.get(f"{url}/health/ready", timeout=5)
            if answer.status_code == 200 or time.monotonic() > deadline:
                return answer
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def test_ray_serve_replicas_answer_like_modelyard_serve(
    postgres_url: str, tmp_path: Path, ray_local: Any
) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "modelyard.toml").write_text(
        f'metadata_url = "{postgres_url}"\n\n[serving]\ncache_url = "{redis_online_url()}"\n'
    )
    ws = Workspace(load_settings(folder))
    ws.start()
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(200, 2)), columns=["x0", "x1"])
    model = LogisticRegression().fit(X, (X["x0"] > 0).astype(int))
    name = f"serve-{folder.parent.name[-8:]}".replace("_", "-")
    ws.registry.register(name, model, input_example=X.head(3))
    ws.registry.set_alias(name, "champion", 1)
    ws.deployments.create(DeploymentSpec(name=name, model=name, cache=CacheOptions(enabled=True)))
    ws.close()
    compute = RayCompute()
    options = RayServeOptions(port=_free_port(), max_replicas=2, replica_cpus=0.5)

    url = start_ray_serve(compute, folder, options)
    try:
        ready = _wait_ready(url, 120)
        assert ready.status_code == 200, ready.text
        rows = X.head(5).to_dict(orient="records")
        for _ in range(2):  # the second answer comes from the Redis cache
            answer = httpx.post(f"{url}/v1/deployments/{name}/predict", json={"records": rows})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["predictions"] == model.predict(X.head(5)).tolist()
            assert body["model_version"] == 1 and len(body["prediction_ids"]) == 5
        bad = httpx.post(f"{url}/v1/deployments/nope/predict", json={"records": rows})
        assert bad.status_code == 404 and bad.json()["error"]["code"]
        assert "modelyard" in httpx.get(f"{url}/metrics").text
    finally:
        stop_ray_serve(compute)


def test_replica_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="replicas"):
        RayServeOptions(min_replicas=3, max_replicas=2).checked()
