"""A workspace with a served model and logged predictions, for the monitoring tests
(importable by name: ``tests`` is on the path)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression

from modelyard import Workspace
from modelyard.deployments import DeploymentSpec
from modelyard.serving import InputBatch, PredictionResult
from modelyard.serving._runtime import ServingState


def classifier() -> LogisticRegression:
    """Class 1 exactly when x > 0."""
    x = np.linspace(-5, 5, 200)
    return LogisticRegression().fit(pd.DataFrame({"x": x}), (x > 0).astype(int))


def regressor() -> LinearRegression:
    """y = 2x + 1."""
    x = np.linspace(-5, 5, 50)
    return LinearRegression().fit(pd.DataFrame({"x": x}), 2 * x + 1)


def deploy(ws: Workspace, model: object, name: str = "m") -> int:
    """Register ``model`` as the champion of ``name`` and deploy it as ``name``."""
    example = pd.DataFrame({"x": [0.5]})
    version = ws.registry.register(name, model, input_example=example).version
    ws.registry.set_alias(name, "champion", version)
    try:
        ws.deployments.get(name)
    except Exception:
        ws.deployments.create(DeploymentSpec(name=name, model=name))
    return version


def predict(ws: Workspace, deployment: str, *columns: Sequence[float]) -> list[PredictionResult]:
    """One request per sequence of ``x`` values, through the serving runtime in this
    process; the log is rolled to Parquet when it stops."""

    async def main() -> list[PredictionResult]:
        state = ServingState(ws, server_id="test-server")
        await state.start()
        try:
            runtime = state.deployment(deployment)
            results = []
            for values in columns:
                batch = InputBatch(n_rows=len(values), columns={"x": np.asarray(values, float)})
                results.append(await runtime.predict(batch))
            return results
        finally:
            await state.stop()

    return asyncio.run(main())
