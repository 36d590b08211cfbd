"""Helpers of the automation tests (imported as ``automation.kit``): labelled data where
``y`` depends on ``x1`` and ``x2``, models that see both, one or neither, and a deployed
champion with labelled production traffic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from modelyard import Workspace
from modelyard.deployments import DeploymentSpec

MODEL = "m"
COLUMNS = ["x1", "x2"]


def frame(rows: int, seed: int) -> pd.DataFrame:
    """``y`` is 1 when ``x1 + x2`` (plus a little noise) is positive."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    y = (x1 + x2 + 0.3 * rng.normal(size=rows) > 0).astype(np.int64)
    return pd.DataFrame({"x1": x1, "x2": x2, "y": y})


def fit(data: pd.DataFrame, sees: tuple[str, ...], seed: int = 0) -> LogisticRegression:
    """A classifier of both columns whose training data keeps only ``sees`` (the others
    are replaced by noise, so it learns to ignore them)."""
    rng = np.random.default_rng(seed + 100)
    inputs = data[COLUMNS].copy()
    for column in COLUMNS:
        if column not in sees:
            inputs[column] = rng.normal(size=len(inputs))
    return LogisticRegression().fit(inputs, data["y"])


def register(ws: Workspace, model: Any, *, alias: str | None = None) -> int:
    example = frame(5, 99)[COLUMNS]
    version = ws.registry.register(MODEL, model, input_example=example).version
    if alias is not None:
        ws.registry.set_alias(MODEL, alias, version, reason="test")
    return version


def champion_and_challengers(ws: Workspace) -> dict[str, int]:
    """v1 sees x1 only (the champion), v2 sees nothing (worse), v3 sees both (better)."""
    train = frame(2000, 1)
    versions = {"champion": register(ws, fit(train, ("x1",)), alias="champion")}
    versions["worse"] = register(ws, fit(train, ()))
    versions["better"] = register(ws, fit(train, ("x1", "x2")))
    return versions


def deploy_with_traffic(ws: Workspace, rows: int = 400, seed: int = 7) -> list[str]:
    """Deployment ``m`` serving the champion; ``rows`` predictions in batches of 50 through
    the runtime (the log rolled to Parquet), each labelled. The prediction ids."""
    ws.deployments.create(DeploymentSpec(name=MODEL, model=MODEL))
    data = frame(rows, seed)
    batches = [data.iloc[i : i + 50] for i in range(0, rows, 50)]
    results = _predict_frames(ws, batches)
    ids = [pid for result in results for pid in result.prediction_ids]
    ws.monitoring.feedback.add_many(ids, data["y"].tolist())
    return ids


def _predict_frames(ws: Workspace, batches: list[pd.DataFrame]) -> list[Any]:
    import asyncio

    from modelyard.serving import InputBatch
    from modelyard.serving._runtime import ServingState

    async def main() -> list[Any]:
        state = ServingState(ws, server_id="test-server")
        await state.start()
        try:
            runtime = state.deployment(MODEL)
            return [
                await runtime.predict(
                    InputBatch(
                        n_rows=len(b), columns={c: b[c].to_numpy(np.float64) for c in COLUMNS}
                    )
                )
                for b in batches
            ]
        finally:
            await state.stop()

    return asyncio.run(main())


__all__ = [
    "COLUMNS",
    "MODEL",
    "champion_and_challengers",
    "deploy_with_traffic",
    "fit",
    "frame",
    "register",
]
