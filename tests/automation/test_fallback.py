"""A traffic target whose model fails (a canary's challenger) never fails a caller: the
primary target answers instead, and the failure is counted against the failing target."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from modelyard import Workspace
from modelyard.deployments import DeploymentSpec
from modelyard.errors import FlavorError
from modelyard.registry import ColumnSpec, Signature
from modelyard.serving._runtime import ServingState
from modelyard.serving._types import InputBatch
from modelyard.store._schema import serving_errors

X_ONLY = Signature(inputs=(ColumnSpec("x", "float64"),))


class Constant:
    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), 1.0)


class Failing:
    def predict(self, X: Any) -> np.ndarray:
        raise RuntimeError(f"challenger exploded on {len(X)} rows")


def test_a_failing_challenger_is_answered_by_the_champion(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    champion = ws.registry.register("m", Constant(), signature=X_ONLY).version
    challenger = ws.registry.register("m", Failing(), signature=X_ONLY).version
    ws.registry.set_alias("m", "champion", champion)
    ws.registry.set_alias("m", "challenger", challenger)
    traffic = "champion=0.5,challenger=0.5"
    ws.deployments.create(DeploymentSpec(name="d", model="m", traffic=traffic))
    batch = InputBatch(n_rows=2, columns={"x": np.array([1.0, 2.0])})

    async def main() -> list[Any]:
        state = ServingState(ws, server_id="test-server")
        await state.start()
        try:
            runtime = state.deployment("d")
            answers = [await runtime.predict(batch) for _ in range(40)]
            with pytest.raises(FlavorError, match="challenger exploded"):
                await runtime.predict(batch, version=challenger)  # pinned: not moved
            return answers
        finally:
            await state.stop()

    answers = asyncio.run(main())
    assert {(a.target, a.version) for a in answers} == {("champion", champion)}
    assert all(a.outputs.tolist() == [1.0, 1.0] for a in answers)
    query = select(serving_errors.c.target, func.sum(serving_errors.c.count)).group_by(
        serving_errors.c.target
    )
    with ws.db.read() as conn:
        counted = dict(conn.execute(query).all())
    assert counted.keys() == {"challenger"}
    assert 5 <= counted["challenger"] <= 36  # about half the 40, plus the pinned one
