"""A stand-in serving runtime for fast, in-process tests of the HTTP layer.

``FakeRuntime.predict`` validates like the real runtime (``validate_batch``) and then calls
a plain function on the batch, so the tests see exactly what the HTTP layer handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI

from modelyard.deployments import StickyKey
from modelyard.errors import DeploymentNotFoundError, VersionNotServedError
from modelyard.registry import ColumnSpec, Signature, TensorSpec
from modelyard.serving import InputBatch, PredictionResult
from modelyard.serving._observer import ServingStats
from modelyard.serving._validate import validate_batch

COLUMNS = Signature(
    inputs=(ColumnSpec("a", "float64"), ColumnSpec("b", "float64"), ColumnSpec("c", "string")),
    outputs=(ColumnSpec("y", "float64"),),
)
TENSOR = Signature(inputs=TensorSpec("float32", (-1, 3)), outputs=TensorSpec("float32", (-1,)))


def add_columns(batch: InputBatch) -> np.ndarray:
    """a + b for a column batch."""
    assert batch.columns is not None
    return np.asarray(batch.columns["a"] + batch.columns["b"], dtype=np.float64)


def sum_rows(batch: InputBatch) -> np.ndarray:
    assert batch.tensor is not None
    return batch.tensor.sum(axis=1).astype(np.float32)


@dataclass
class Spec:
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.name}


@dataclass
class FakeRuntime:
    name: str
    sig: Signature | None
    fn: Callable[[InputBatch], np.ndarray]
    served: dict[str, int] = field(default_factory=lambda: {"champion": 3})
    sticky_key: StickyKey | None = None
    calls: list[tuple[InputBatch, str | None]] = field(default_factory=list)
    fail: Exception | None = None

    @property
    def model(self) -> str:
        return f"{self.name}-model"

    @property
    def spec(self) -> Spec:
        return Spec(self.name)

    @property
    def ready(self) -> bool:
        return bool(self.served)

    def signature(self) -> Signature | None:
        return self.sig

    def versions(self) -> dict[str, int]:
        return dict(self.served)

    async def predict(
        self, batch: InputBatch, *, sticky: str | None = None, version: int | None = None
    ) -> PredictionResult:
        self.calls.append((batch, sticky))
        if self.fail is not None:
            raise self.fail
        serving = sorted(set(self.served.values()))
        if version is not None and version not in serving:
            raise VersionNotServedError(self.name, version, serving)
        checked = validate_batch(batch, self.sig)
        outputs = self.fn(checked)
        version = version if version is not None else next(iter(self.served.values()))
        ids = [f"{self.name}-{i}" for i in range(checked.n_rows)]
        return PredictionResult(outputs, ids, self.model, version, "champion")


@dataclass
class FakeState:
    runtimes: dict[str, FakeRuntime]
    ready: bool = True
    started: int = 0
    stopped: int = 0

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    def deployment(self, name: str) -> FakeRuntime:
        try:
            return self.runtimes[name]
        except KeyError:
            raise DeploymentNotFoundError(name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self.runtimes)

    def stats(self) -> ServingStats:
        return ServingStats()

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        return self.ready, {"deployments": {n: {"ready": self.ready} for n in self.runtimes}}


def fake_state() -> FakeState:
    return FakeState(
        {
            "cols": FakeRuntime("cols", COLUMNS, add_columns),
            "tens": FakeRuntime("tens", TENSOR, sum_rows, served={"champion": 7}),
        }
    )


class AppClient:
    """A synchronous httpx client for an ASGI app, with the app's lifespan run around the
    ``with`` block (Starlette's TestClient wants a package we do not install)."""

    def __init__(self, app: FastAPI, *, raise_app_exceptions: bool = True) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=raise_app_exceptions, client=("10.0.0.1", 5000)
        )
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self._lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None

    def __enter__(self) -> AppClient:
        self._lifespan = self.app.router.lifespan_context(self.app)
        self._loop.run_until_complete(self._lifespan.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lifespan is not None:
            self._loop.run_until_complete(self._lifespan.__aexit__(exc_type, exc, tb))
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def wait(self, seconds: float) -> None:
        """Let the app's background tasks run for a while."""
        self._loop.run_until_complete(asyncio.sleep(seconds))

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kwargs)
