"""The serving runtime end to end: real workspace, deployment store, registry and models."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
import redis
from sklearn.linear_model import LogisticRegression

from conftest import service_missing
from modelyard import Workspace
from modelyard._ids import id_time_ms, new_id, now_ms, time_id
from modelyard.deployments import DeploymentSpec
from modelyard.errors import (
    DeploymentNotFoundError,
    FlavorError,
    OverloadedError,
    ValidationError,
    VersionNotServedError,
)
from modelyard.registry import ColumnSpec, Signature, TensorSpec
from modelyard.serving._observer import ServingObserver
from modelyard.serving._runtime import ServingState
from modelyard.serving._types import InputBatch, PredictionResult

REDIS_URL = os.environ.get("MODELYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")
X_ONLY = Signature(inputs=(ColumnSpec("x", "float64"),))


class VersionModel:
    """Answers its own version for every row, so a result shows which version computed it."""

    def __init__(self, version: int, delay: float = 0.0) -> None:
        self.version = version
        self.delay = delay

    def predict(self, X: Any) -> np.ndarray:
        if self.delay:
            time.sleep(self.delay)
        return np.full(len(X), float(self.version))


class Failing:
    def predict(self, X: Any) -> np.ndarray:
        raise RuntimeError(f"model exploded on {len(X)} rows")


class Recorder(ServingObserver):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def batch(
        self, deployment: str, version: int, requests: int, rows: int, seconds: float
    ) -> None:
        self.events.append(("batch", deployment, version, rows, requests, seconds))

    def failure(self, deployment: str, target: str, error: str, *, shadow: bool) -> None:
        self.events.append(("failure", deployment, target, error, shadow))

    def load(self, deployment: str, target: str, version: int | None, *, ok: bool) -> None:
        self.events.append(("load", deployment, target, version, ok))


def fast(ws: Workspace, **serving: Any) -> Workspace:
    """The same workspace with a quick refresh (and other serving settings)."""
    options = ws.settings.serving.model_copy(update={"refresh_interval_s": 0.05, **serving})
    copy = Workspace(ws.settings.model_copy(update={"serving": options}))
    copy.start()
    return copy


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    copy = fast(sqlite_workspace)
    yield copy
    copy.close()


@pytest.fixture
def any_ws(workspace: Workspace) -> Iterator[Workspace]:
    """On SQLite and on PostgreSQL."""
    copy = fast(workspace)
    yield copy
    copy.close()


def register(ws: Workspace, model: object, name: str = "m", signature: Signature = X_ONLY) -> int:
    return ws.registry.register(name, model, signature=signature).version


def deploy(ws: Workspace, name: str = "d", model: str = "m", **spec: Any) -> None:
    ws.deployments.create(DeploymentSpec(name=name, model=model, **spec))


def xs(*values: float) -> InputBatch:
    return InputBatch(n_rows=len(values), columns={"x": np.array(values, dtype=np.float64)})


def serve(
    ws: Workspace,
    test: Callable[[ServingState], Awaitable[None]],
    observer: ServingObserver | None = None,
) -> None:
    async def main() -> None:
        state = ServingState(ws, server_id="test-server", observer=observer)
        await state.start()
        try:
            await test(state)
        finally:
            await state.stop()

    asyncio.run(main())


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def logged(ws: Workspace) -> Any:
    root = ws.settings.resolved_predictions_dir()
    return ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()


# -- serving --------------------------------------------------------------------------------


def test_start_serves_each_deployment_reports_and_logs(any_ws: Workspace) -> None:
    register(any_ws, VersionModel(1))
    any_ws.registry.set_alias("m", "champion", 1)
    deploy(any_ws)

    async def test(state: ServingState) -> None:
        ready, details = state.readiness()
        assert ready and state.names() == ["d"]
        champion = details["deployments"]["d"]["targets"]["champion"]
        assert champion == {
            "version": 1,
            "serving_version": 1,
            "state": "serving",
            "error": None,
            "shadow": False,
        }
        runtime = state.deployment("d")
        assert (runtime.name, runtime.model, runtime.versions()) == ("d", "m", {"champion": 1})
        assert runtime.signature() == X_ONLY
        result = await runtime.predict(runtime.validate(xs(1, 2, 3)))
        assert (result.version, result.target, result.model) == (1, "champion", "m")
        assert result.outputs.tolist() == [1.0, 1.0, 1.0] and len(set(result.prediction_ids)) == 3
        (status,) = any_ws.deployments.statuses("d")
        assert status.ready and status.server_id == "test-server"
        assert status.targets[0].serving_version == 1

    serve(any_ws, test)
    frame = logged(any_ws)
    assert len(frame) == 3 and frame["input__x"].tolist() == [1.0, 2.0, 3.0]
    assert set(frame["version"]) == {1} and set(frame["deployment"]) == {"d"}


def test_a_broken_observer_never_breaks_a_prediction(ws: Workspace) -> None:
    register(ws, VersionModel(1))
    deploy(ws, traffic="v1=1")

    class Broken(ServingObserver):
        def prediction(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(f"metrics down ({len(args)} args, {len(kwargs)} kwargs)")

    async def test(state: ServingState) -> None:
        assert (await state.deployment("d").predict(xs(1))).version == 1

    serve(ws, test, Broken())


def test_an_unknown_deployment_is_named_with_the_known_ones(ws: Workspace) -> None:
    register(ws, VersionModel(1))
    deploy(ws, "fraud", traffic="v1=1")

    async def test(state: ServingState) -> None:
        with pytest.raises(DeploymentNotFoundError, match="fraud"):
            state.deployment("frad")

    serve(ws, test)


# -- validation -----------------------------------------------------------------------------

TABLE = Signature(
    inputs=(
        ColumnSpec("amount", "float64"),
        ColumnSpec("count", "int64"),
        ColumnSpec("city", "string"),
    )
)


@pytest.mark.parametrize(
    ("columns", "field", "expected"),
    [
        ({"amount": [1.0], "city": ["a"]}, "count", "missing"),
        ({"amount": [1.0], "count": [1.5], "city": ["a"]}, "count", "whole number"),
        ({"amount": [1.0], "count": [np.nan], "city": ["a"]}, "count", "NaN"),
        ({"amount": ["many"], "count": [1], "city": ["a"]}, "amount", "float64"),
        ({"amount": [1.0, 2.0], "count": [1], "city": ["a"]}, "amount", "2 rows"),
    ],
)
def test_validation_names_the_field_and_what_was_expected(
    ws: Workspace, columns: dict[str, list[Any]], field: str, expected: str
) -> None:
    register(ws, VersionModel(1), signature=TABLE)
    deploy(ws, traffic="v1=1")

    async def test(state: ServingState) -> None:
        arrays = {k: np.array(v, dtype=object if k == "city" else None) for k, v in columns.items()}
        with pytest.raises(ValidationError, match=expected) as info:
            state.deployment("d").validate(InputBatch(n_rows=1, columns=arrays))
        assert info.value.details["field"] == field

    serve(ws, test)


def test_validation_casts_and_allows_nan_in_floats(ws: Workspace) -> None:
    register(ws, VersionModel(1), signature=TABLE)
    deploy(ws, traffic="v1=1")

    async def test(state: ServingState) -> None:
        batch = InputBatch(
            n_rows=2,
            columns={
                "amount": np.array([np.nan, np.inf]),
                "count": np.array([1.0, 2.0]),
                "city": np.array([7, 8]),
                "ignored": np.array(["x", "y"]),
            },
        )
        valid = state.deployment("d").validate(batch)
        assert valid.columns is not None and list(valid.columns) == ["amount", "count", "city"]
        assert valid.columns["count"].dtype == np.int64
        assert valid.columns["city"].tolist() == ["7", "8"]
        result = await state.deployment("d").predict(valid)
        assert result.outputs.tolist() == [1.0, 1.0]

    serve(ws, test)


def test_tensor_trailing_shape_is_checked(ws: Workspace) -> None:
    register(ws, VersionModel(1), signature=Signature(inputs=TensorSpec("float32", (-1, 2, 2))))
    deploy(ws, traffic="v1=1")

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        with pytest.raises(ValidationError, match=r"\[-1, 2, 2\]"):
            runtime.validate(InputBatch(n_rows=1, tensor=np.zeros((1, 2, 3))))
        result = await runtime.predict(InputBatch(n_rows=3, tensor=np.zeros((3, 2, 2))))
        assert result.outputs.shape == (3,)

    serve(ws, test)


def test_a_bad_request_never_fails_the_batch_it_would_have_joined(ws: Workspace) -> None:
    register(ws, VersionModel(1), signature=TABLE)
    deploy(ws, traffic="v1=1")
    good = InputBatch(
        n_rows=1,
        columns={"amount": np.ones(1), "count": np.ones(1, np.int64), "city": np.array(["a"])},
    )
    bad = InputBatch(n_rows=1, columns={**(good.columns or {}), "count": np.array([0.5])})

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        calls = [runtime.predict(bad if i == 5 else good) for i in range(20)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(results[5], ValidationError)
        assert all(isinstance(r, PredictionResult) for i, r in enumerate(results) if i != 5)

    serve(ws, test)


# -- routing and shadows ----------------------------------------------------------------------


def test_traffic_is_split_by_weight_and_sticky_keys_stay_put(ws: Workspace) -> None:
    register(ws, VersionModel(1))
    register(ws, VersionModel(2))
    deploy(ws, traffic="v1=3,v2=1")

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        results = [await runtime.predict(xs(1)) for _ in range(400)]
        versions = Counter(r.version for r in results)
        assert versions[2] / 400 == pytest.approx(0.25, abs=0.08)
        assert all(r.target == f"v{r.version}" and r.outputs[0] == r.version for r in results)
        for key in ("alice", "bob", "carol"):
            seen = {(await runtime.predict(xs(1), sticky=key)).version for _ in range(20)}
            assert len(seen) == 1

    serve(ws, test)


def test_a_sticky_field_is_read_from_the_request(ws: Workspace) -> None:
    signature = Signature(inputs=(ColumnSpec("x", "float64"), ColumnSpec("user", "string")))
    register(ws, VersionModel(1), signature=signature)
    register(ws, VersionModel(2), signature=signature)
    deploy(ws, traffic="v1=1,v2=1", sticky="field:user")

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        for user in ("u1", "u2", "u3", "u4"):
            batch = InputBatch(n_rows=1, columns={"x": np.ones(1), "user": np.array([user])})
            assert len({(await runtime.predict(batch)).version for _ in range(10)}) == 1

    serve(ws, test)


def test_a_request_pinned_to_a_version_is_answered_by_it(ws: Workspace) -> None:
    for version in (1, 2, 3, 4):
        register(ws, VersionModel(version))
    ws.registry.set_alias("m", "champion", 1)
    ws.registry.set_alias("m", "challenger", 2)
    deploy(ws, traffic="champion=9,challenger=1", shadow=("v3",))

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        for version, target in ((1, "champion"), (2, "challenger"), (3, "v3")):
            results = await asyncio.gather(
                *(runtime.predict(xs(1), version=version) for _ in range(30))
            )
            answers = {(r.version, r.target, r.outputs[0]) for r in results}
            assert answers == {(version, target, float(version))}
        with pytest.raises(VersionNotServedError, match="serving: 1, 2, 3") as info:
            await runtime.predict(xs(1), version=4)  # registered, but no target serves it
        assert info.value.details == {"deployment": "d", "version": 4, "serving": [1, 2, 3]}

    serve(ws, test)
    frame = logged(ws)
    # requests pinned to the shadow's version are its answers, not mirrored to it again
    assert Counter(zip(frame["version"], frame["shadow"], strict=True)) == {
        (1, False): 30,
        (2, False): 30,
        (3, False): 30,
        (3, True): 60,
    }


def test_shadows_get_a_copy_and_their_failures_stay_hidden(ws: Workspace) -> None:
    register(ws, VersionModel(1))
    register(ws, Failing())
    register(ws, VersionModel(3))
    deploy(ws, traffic="v1=1", shadow=("v2", "v3"))
    recorder = Recorder()

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        for _ in range(5):
            result = await runtime.predict(xs(1, 2))
            assert result.version == 1 and result.outputs.tolist() == [1.0, 1.0]
        assert runtime.versions() == {"v1": 1, "v2": 2, "v3": 3}

    serve(ws, test, recorder)
    frame = logged(ws)
    assert Counter(zip(frame["version"], frame["shadow"], strict=True)) == {
        (1, False): 10,
        (3, True): 10,
    }
    primary = set(frame[~frame["shadow"]]["prediction_id"])
    assert set(frame[frame["shadow"]]["prediction_id"]) == primary  # joinable row by row
    assert recorder.events.count(("failure", "d", "v2", "flavor_error", True)) == 5


# -- hot reload -----------------------------------------------------------------------------


def test_moving_an_alias_under_load_drops_nothing_and_mislabels_nothing(
    any_ws: Workspace,
) -> None:
    for version in range(1, 5):
        register(any_ws, VersionModel(version))
    any_ws.registry.set_alias("m", "champion", 1)
    deploy(any_ws)
    results: list[PredictionResult] = []
    failures: list[BaseException] = []

    async def caller(runtime: Any, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                results.append(await runtime.predict(xs(1, 2)))
            except Exception as exc:
                failures.append(exc)

    async def test(state: ServingState) -> None:
        stop = asyncio.Event()
        callers = [asyncio.ensure_future(caller(state.deployment("d"), stop)) for _ in range(16)]
        runtime = state.deployment("d")
        for move in range(20):
            version = 2 + move % 4 if move % 4 != 3 else 1
            await asyncio.to_thread(any_ws.registry.set_alias, "m", "champion", version)
            await until(lambda v=version: runtime.versions() == {"champion": v})
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.gather(*callers)
        await until(lambda: len(state.stats().batchers) == 1)  # old batchers closed

    serve(any_ws, test)
    assert failures == []
    assert len(results) > 100
    assert all(r.outputs.tolist() == [float(r.version)] * 2 for r in results)
    assert {r.version for r in results} == {1, 2, 3, 4}


def tamper(ws: Workspace, version: int) -> None:
    digest = ws.registry.get_version("m", version).digest
    for blob in ws.artifacts.tree_manifest(digest).values():
        path = Path(ws.artifacts.location(blob.digest))
        path.write_bytes(path.read_bytes()[:-1] + b"\x00")


def test_a_tampered_version_is_refused_and_the_previous_keeps_serving(any_ws: Workspace) -> None:
    register(any_ws, VersionModel(1))
    any_ws.registry.set_alias("m", "champion", 1)
    deploy(any_ws)
    recorder = Recorder()

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        await asyncio.to_thread(register, any_ws, VersionModel(2))
        tamper(any_ws, 2)
        await asyncio.to_thread(any_ws.registry.set_alias, "m", "champion", 2)

        def target() -> dict[str, Any]:
            champion: dict[str, Any] = state.readiness()[1]["deployments"]["d"]["targets"][
                "champion"
            ]
            return champion

        await until(lambda: target()["state"] == "failed")
        assert "failed verification" in target()["error"]
        assert target()["version"] == 2 and target()["serving_version"] == 1
        assert state.readiness()[0]  # still serving a version
        assert (await runtime.predict(xs(1))).version == 1
        assert state.stats().load_failures == 1
        (status,) = await asyncio.to_thread(any_ws.deployments.statuses, "d")
        assert status.targets[0].state == "failed" and status.targets[0].serving_version == 1
        await asyncio.to_thread(any_ws.registry.set_alias, "m", "champion", 1)
        await until(lambda: target()["state"] == "serving")
        assert target()["error"] is None

    serve(any_ws, test, recorder)
    assert ("load", "d", "champion", 2, False) in recorder.events


def test_a_deployment_with_nothing_to_serve_is_not_ready(ws: Workspace) -> None:
    register(ws, VersionModel(1))
    deploy(ws, traffic="v1=1")
    tamper(ws, 1)

    async def test(state: ServingState) -> None:
        ready, details = state.readiness()
        assert not ready
        assert details["deployments"]["d"]["targets"]["v1"]["state"] == "failed"
        with pytest.raises(OverloadedError, match="no model version serving"):
            await state.deployment("d").predict(xs(1))

    serve(ws, test)


def test_deployments_appear_change_and_disappear(ws: Workspace) -> None:
    register(ws, VersionModel(1))
    register(ws, VersionModel(2))
    deploy(ws, "one", traffic="v1=1")

    async def test(state: ServingState) -> None:
        await asyncio.to_thread(deploy, ws, "two", traffic="v2=1")
        await until(lambda: state.names() == ["one", "two"])
        assert (await state.deployment("two").predict(xs(1))).version == 2
        await asyncio.to_thread(ws.deployments.update, "one", traffic="v2=1")
        await until(lambda: state.deployment("one").versions() == {"v2": 2})
        await asyncio.to_thread(ws.deployments.delete, "one")
        await until(lambda: state.names() == ["two"])
        with pytest.raises(DeploymentNotFoundError):
            state.deployment("one")

    serve(ws, test)


def test_a_spec_change_applies_once_its_targets_serve(ws: Workspace) -> None:
    for version in (1, 2, 3):
        register(ws, VersionModel(version))
    tamper(ws, 2)
    deploy(ws, traffic="v1=1")

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        await asyncio.to_thread(ws.deployments.update, "d", traffic="v2=1")
        details = lambda: state.readiness()[1]["deployments"]["d"]  # noqa: E731
        await until(lambda: details()["targets"].get("v2", {}).get("state") == "failed")
        assert details()["pending_revision"] == 2 and details()["revision"] == 1
        assert state.readiness()[0] and runtime.versions() == {"v1": 1}
        assert (await runtime.predict(xs(1))).version == 1  # the old spec goes on serving
        await asyncio.to_thread(ws.deployments.update, "d", traffic="v3=1")
        await until(lambda: runtime.versions() == {"v3": 3})
        assert details()["pending_revision"] is None and details()["revision"] == 3
        await until(lambda: [b.version for b in state.stats().batchers] == [3])

    serve(ws, test)


# -- cache, back-pressure, failures -----------------------------------------------------------


def cached_run(ws: Workspace) -> Recorder:
    register(ws, VersionModel(1))
    deploy(ws, traffic="v1=1", cache={"enabled": True, "ttl_s": 60.0})
    recorder = Recorder()

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        first = await runtime.predict(xs(1, 2, 3))
        again = await runtime.predict(xs(1, 2, 3))
        mixed = await runtime.predict(xs(3, 4))
        assert (first.cache_hits, again.cache_hits, mixed.cache_hits) == (0, 3, 1)
        assert again.outputs.tolist() == [1.0] * 3 and mixed.outputs.tolist() == [1.0] * 2
        (stats,) = state.stats().caches
        assert (stats.hits, stats.misses, stats.errors) == (4, 4, 0)

    serve(ws, test, recorder)
    batches = [e[3] for e in recorder.events if e[0] == "batch"]
    assert batches == [3, 1]  # only the misses were computed
    assert logged(ws)["cache_hit"].sum() == 4
    return recorder


def test_the_cache_answers_rows_seen_before(ws: Workspace) -> None:
    cached_run(ws)


def test_the_cache_can_live_in_redis(sqlite_workspace: Workspace) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        service_missing(f"Redis at {REDIS_URL} is unreachable: {type(exc).__name__}")
    ws = fast(sqlite_workspace, cache_url=REDIS_URL)
    try:
        cached_run(ws)
        digest = ws.registry.get_version("m", 1).digest
        keys = client.keys(f"modelyard:pred:{digest}:*".encode())
        assert len(keys) == 4
        client.delete(*keys)
    finally:
        ws.close()
        client.close()


def test_a_full_queue_answers_overloaded_with_retry_after(ws: Workspace) -> None:
    register(ws, VersionModel(1, delay=0.2))
    deploy(ws, traffic="v1=1", batching={"max_batch_size": 1, "max_queue_rows": 2})

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        running = asyncio.ensure_future(runtime.predict(xs(1)))
        await asyncio.sleep(0.05)  # in the model now; the queue holds 2 more rows
        results = await asyncio.gather(
            *(runtime.predict(xs(1)) for _ in range(4)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, OverloadedError)]
        assert len(refused) == 2 and all(r.retry_after > 0 for r in refused)
        assert (await running).version == 1

    serve(ws, test)


def test_a_request_the_model_refuses_fails_alone_not_the_batch_it_joined(ws: Workspace) -> None:
    """NaN passes the signature (a float column may hold it) but LogisticRegression refuses
    it: the merged batch fails, and its requests are retried one by one."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    register(ws, LogisticRegression().fit(frame, [0, 0, 1, 1]))
    deploy(ws, traffic="v1=1")
    recorder = Recorder()

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        calls = [runtime.predict(xs(np.nan if i == 5 else 3.0)) for i in range(20)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(results[5], FlavorError) and "NaN" in results[5].message
        good = [r for i, r in enumerate(results) if i != 5]
        assert all(isinstance(r, PredictionResult) and r.outputs.tolist() == [1] for r in good)

    serve(ws, test, recorder)
    assert [e for e in recorder.events if e[0] == "failure"] == [
        ("failure", "d", "v1", "flavor_error", False)
    ]
    assert len(logged(ws)) == 19


def test_a_failing_model_fails_its_requests_not_the_server(ws: Workspace) -> None:
    register(ws, Failing())
    register(ws, VersionModel(2))
    deploy(ws, traffic="v1=1")
    recorder = Recorder()

    async def test(state: ServingState) -> None:
        runtime = state.deployment("d")
        with pytest.raises(FlavorError, match="model exploded"):
            await runtime.predict(xs(1))
        await asyncio.to_thread(ws.deployments.update, "d", traffic="v2=1")
        await until(lambda: runtime.versions() == {"v2": 2})
        assert (await runtime.predict(xs(1))).version == 2

    serve(ws, test, recorder)
    assert ("failure", "d", "v1", "flavor_error", False) in recorder.events


def test_ids_are_uuid4_hex() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for text in ids:
        parsed = uuid.UUID(hex=text)
        assert parsed.hex == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_request_ids_are_time_ordered_uuid7_hex() -> None:
    before = now_ms()
    ids = [time_id() for _ in range(1000)]
    after = now_ms()
    assert len(set(ids)) == 1000
    for text in ids:
        parsed = uuid.UUID(hex=text)
        assert parsed.hex == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= (id_time_ms(f"{text}-3") or 0) <= after
    assert id_time_ms(new_id()) is None
