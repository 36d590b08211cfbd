"""Canaries in a server running in this process: a healthy challenger is promoted, a
failing one is rolled back at once (its callers answered by the champion), a silent one is
rolled back when its time is up; every step is in the audit log and the alias history."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from clikit import modelyard
from modelyard import Workspace
from modelyard.automation import (
    CanaryConfig,
    CanaryStatus,
    DecisionKind,
    DecisionLog,
    advance_canary,
    list_canaries,
    rollback,
    start_canary,
)
from modelyard.deployments import DeploymentSpec
from modelyard.errors import ConflictError
from modelyard.registry import ColumnSpec, Signature
from modelyard.serving._runtime import ServingState
from modelyard.serving._types import InputBatch

X_ONLY = Signature(inputs=(ColumnSpec("x", "float64"),))


class Constant:
    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.value)


class Failing:
    def predict(self, X: Any) -> np.ndarray:
        raise RuntimeError(f"challenger exploded on {len(X)} rows")


@pytest.fixture
def ws(workspace: Workspace) -> Iterator[Workspace]:
    """On SQLite and PostgreSQL, with a server refreshing every 50 ms."""
    serving = workspace.settings.serving.model_copy(update={"refresh_interval_s": 0.05})
    copy = Workspace(workspace.settings.model_copy(update={"serving": serving}))
    copy.start()
    yield copy
    copy.close()


def setup(ws: Workspace, challenger: object) -> int:
    ws.registry.register("m", Constant(0.0), signature=X_ONLY)
    ws.registry.set_alias("m", "champion", 1)
    version = ws.registry.register("m", challenger, signature=X_ONLY).version
    ws.deployments.create(DeploymentSpec(name="d", model="m"))
    return version


def serve(ws: Workspace, body: Callable[[ServingState], Any]) -> Any:
    async def main() -> Any:
        state = ServingState(ws, server_id="test-server")
        await state.start()
        try:
            return await body(state)
        finally:
            await state.stop()

    return asyncio.run(main())


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def traffic(state: ServingState, requests: int) -> list[int]:
    runtime = state.deployment("d")
    batch = InputBatch(n_rows=2, columns={"x": np.array([1.0, 2.0])})
    return [(await runtime.predict(batch)).version for _ in range(requests)]


def test_a_healthy_challenger_is_promoted(ws: Workspace) -> None:
    version = setup(ws, Constant(1.0))
    # a loaded test machine makes latencies noisy: the latency check gets a wide slack
    config = CanaryConfig(share=0.5, predictions=20, duration_s=60, latency_slack_ms=250)

    async def body(state: ServingState) -> list[int]:
        canary = await asyncio.to_thread(start_canary, ws, "d", version, config)
        assert canary.status is CanaryStatus.RUNNING
        runtime = state.deployment("d")
        await until(lambda: runtime.versions() == {"champion": 1, "challenger": version})
        return await traffic(state, 60)

    answered = serve(ws, body)
    assert set(answered) == {1, version}
    ended = advance_canary(ws, "d")
    assert ended is not None and ended.status is CanaryStatus.PROMOTED, ended.evidence
    assert ws.registry.resolve("models:/m@champion").version == version
    assert "challenger" not in ws.registry.get_model("m").aliases
    assert [r.target for r in ws.deployments.get("d").spec.traffic] == ["champion"]
    checks = {c["name"]: c["status"] for c in ended.evidence["checks"]}
    assert checks == {
        "error_rate": "passed",
        "latency_p95_ms": "passed",
        "accuracy": "skipped",
        "prediction_drift": "passed",
    }
    kinds = [d.kind for d in DecisionLog(ws.db).list("m")]
    assert kinds == [DecisionKind.CANARY_PROMOTE, DecisionKind.CANARY_START]
    assert advance_canary(ws, "d") is None


def test_a_failing_challenger_is_rolled_back_and_no_caller_sees_it(ws: Workspace) -> None:
    version = setup(ws, Failing())
    config = CanaryConfig(share=0.5, predictions=1000, duration_s=600, fail_fast_errors=5)

    async def body(state: ServingState) -> list[int]:
        await asyncio.to_thread(start_canary, ws, "d", version, config)
        runtime = state.deployment("d")
        await until(lambda: runtime.versions() == {"champion": 1, "challenger": version})
        answered = await traffic(state, 40)  # raises if any caller got an error
        await state.refresh()
        await asyncio.sleep(0.2)  # the refresh loop flushes the failure counts
        ended = await asyncio.to_thread(advance_canary, ws, "d")
        assert ended is not None and ended.status is CanaryStatus.ROLLED_BACK
        await until(lambda: runtime.versions() == {"champion": 1})
        return answered + await traffic(state, 10)

    assert set(serve(ws, body)) == {1}
    assert ws.registry.resolve("models:/m@champion").version == 1
    decision = DecisionLog(ws.db).latest(DecisionKind.CANARY_ROLLBACK, model="m")
    assert decision is not None
    assert decision.summary.startswith(f"canary rolled back: v{version} on d (champion stays v1)")
    assert "failing fast: error rate 100.00%" in decision.summary
    assert decision.evidence["targets"]["challenger"]["errors"] >= 5


def test_a_challenger_without_traffic_is_rolled_back_when_its_time_is_up(ws: Workspace) -> None:
    version = setup(ws, Constant(1.0))
    canary = start_canary(ws, "d", version, CanaryConfig(duration_s=1))
    assert start_canary(ws, "d", version).id == canary.id  # a retried start
    with pytest.raises(ConflictError, match="already runs a canary of version"):
        start_canary(ws, "d", 1 if version != 1 else 2)
    running = advance_canary(ws, "d")
    assert running is not None and running.status is CanaryStatus.RUNNING
    ended = advance_canary(ws, "d", now=canary.started_at + 1500)
    assert ended is not None and ended.status is CanaryStatus.ROLLED_BACK
    assert ended.evidence["reasons"] == ["the challenger answered no request"]
    assert [c.status for c in list_canaries(ws, "d")] == [CanaryStatus.ROLLED_BACK]


def test_rollback_returns_to_the_previous_champion_and_ends_a_canary(ws: Workspace) -> None:
    version = setup(ws, Constant(1.0))
    ws.registry.set_alias("m", "champion", version, reason="promoted by hand")
    third = ws.registry.register("m", Constant(3.0), signature=X_ONLY).version
    start_canary(ws, "d", third, CanaryConfig(share=0.2))
    event = rollback(ws, "m", reason="bad day")
    assert (event.previous_version, event.version) == (version, 1)
    assert ws.registry.resolve("models:/m@champion").version == 1
    assert [r.target for r in ws.deployments.get("d").spec.traffic] == ["champion"]
    assert list_canaries(ws, "d")[0].status is CanaryStatus.ROLLED_BACK
    kinds = [d.kind for d in DecisionLog(ws.db).list("m")]
    assert kinds[:2] == [DecisionKind.ROLLBACK, DecisionKind.CANARY_ROLLBACK]


def test_models_rollback_and_history_commands(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    version = setup(ws, Constant(1.0))
    start_canary(ws, "d", version, CanaryConfig(duration_s=1))
    canary = list_canaries(ws, "d")[0]
    advance_canary(ws, "d", now=canary.started_at + 1500)  # no traffic: rolled back
    time.sleep(0.01)  # history is ordered by the millisecond
    ws.registry.set_alias("m", "champion", version, reason="promoted by hand")
    w = ["-w", str(ws.path)]
    rolled = modelyard(*w, "models", "rollback", "m", "--reason", "regression", "--json")
    assert rolled.returncode == 0, rolled.stderr
    assert json.loads(rolled.stdout)["version"] == 1
    assert ws.registry.resolve("models:/m@champion").version == 1
    again = modelyard(*w, "models", "rollback", "m")
    assert again.returncode == 1
    assert "no earlier version" in again.stderr

    history = json.loads(modelyard(*w, "models", "history", "m", "--json").stdout)
    assert [(h["type"], h.get("kind") or h.get("action")) for h in history[:3]] == [
        ("decision", "rollback"),
        ("alias", "rollback"),
        ("alias", "set"),
    ]
    kinds = [h["kind"] for h in history if h["type"] == "decision"]
    assert kinds == ["rollback", "canary_rollback", "canary_start"]
    assert (
        json.loads(modelyard(*w, "models", "history", "m", "-a", "champion", "--json").stdout)[0][
            "alias"
        ]
        == "champion"
    )
    table = modelyard(*w, "models", "history", "m").stdout
    assert "canary_rollback" in table
    assert "the challenger answered no request" in table
    assert "champion rolled back from v2 to v1: regression" in table
