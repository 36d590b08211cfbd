"""The prediction server's ASGI app, and ``serve`` to run it under uvicorn.

One FastAPI app carries every protocol (V2, MLflow, native), health, metrics and the
OpenAPI schema (``/openapi.json``, ``/docs``). The middleware, outermost first::

    ServerErrorMiddleware (Starlette: a bug becomes a generic 500, traceback to the log)
    [DashboardMount: /ui, with serving.ui] -> MetricsMiddleware -> AccessLogMiddleware
    -> [CORS] -> [Auth] -> [RateLimit] -> BodyLimitMiddleware -> HotPaths -> FastAPI routing

``HotPaths`` answers the predict routes itself: FastAPI's per-request machinery
(dependency solving, routing, exception wrappers) costs about as much as everything else a
one-row request does, so they skip it. They are declared on FastAPI all the same, with the
same handler, so the OpenAPI schema describes them.

Example:
    >>> app = create_app(Workspace.open("my-workspace"))  # then run it with any ASGI server
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
import os
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

import modelyard
from modelyard._workspace import Workspace
from modelyard.config import ServingSettings, load_settings
from modelyard.errors import ModelyardError
from modelyard.serving import _features, _feedback, _metrics, _mlflow, _native, _v2
from modelyard.serving._errors import error_response, install_error_handlers
from modelyard.serving._http import Context, Endpoint, StateLike, json_response
from modelyard.serving._middleware import (
    AccessLogMiddleware,
    AuthMiddleware,
    BodyLimitMiddleware,
    RateLimitMiddleware,
)

__all__ = ["HotPaths", "app_from_env", "create_app", "serve"]

log = logging.getLogger("modelyard.serving")


class HotPaths:
    """Dispatches the ``hot`` endpoints (POST predict routes) straight to their handlers."""

    def __init__(self, app: ASGIApp, *, context: Context, endpoints: Sequence[Endpoint]) -> None:
        self.app = app
        self.context = context
        self.routes = [
            (compile_path(e.path)[0], e) for e in endpoints if e.hot and e.method == "POST"
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for pattern, endpoint in self.routes:
                match = pattern.match(path)
                if match is not None:
                    scope["path_params"] = match.groupdict()
                    try:
                        response = await endpoint.handler(self.context, _Request(scope, receive))
                    except ModelyardError as exc:
                        response = error_response(exc)
                    except ClientDisconnect:  # gone while sending the body (nginx's 499)
                        response = Response(status_code=499)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class _Request(Request):
    """A request whose :meth:`body` reads ``receive`` in a plain loop, not through the
    async generator of ``Request.stream`` (it is on every predict's path)."""

    _body: bytes

    async def body(self) -> bytes:
        if hasattr(self, "_body") or self._stream_consumed:
            return await super().body()  # already read, or read as a stream (an error)
        chunks: list[bytes] = []
        while True:
            message = await self._receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            elif message["type"] == "http.disconnect":
                self._is_disconnected = True
                raise ClientDisconnect()
        self._stream_consumed = True
        self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body


async def health_live(_ctx: Context, _request: Request) -> Response:
    return json_response({"live": True})


async def health_ready(ctx: Context, _request: Request) -> Response:
    """200 when every traffic target of every deployment has a version serving, else 503.

    The body has the details either way. A target whose new version failed to load (say a
    tampered artifact, refused by its sha256) keeps serving the previous version, so the
    server stays ready and the target reports the failure::

        {"ready": true, "deployments": {"fraud": {"ready": true, "revision": 2,
          "model": "fraud", "targets": {"champion": {"version": 4, "serving_version": 3,
          "state": "failed", "error": "artifact sha256:... failed verification: ...",
          "shadow": false}}}}}
    """
    ready, details = ctx.state.readiness()
    return json_response({"ready": ready, **details}, 200 if ready else 503)


_HEALTH = (
    Endpoint("GET", "/health/live", health_live, "Liveness", {}, ("Health",)),
    Endpoint("GET", "/health/ready", health_ready, "Readiness, with details", {}, ("Health",)),
)
ENDPOINTS: tuple[Endpoint, ...] = (
    *_native.ENDPOINTS,
    *_v2.ENDPOINTS,
    *_mlflow.ENDPOINTS,
    *_HEALTH,
    *_metrics.ENDPOINTS,
    *_features.ENDPOINTS,
    *_feedback.ENDPOINTS,
)


def create_app(
    workspace: Workspace | None = None,
    *,
    state: StateLike | None = None,
    settings: ServingSettings | None = None,
) -> FastAPI:
    """The server app for ``workspace``.

    Without ``workspace``, one is opened as :meth:`Workspace.open` finds it (and closed
    when the app shuts down), unless ``state`` is given and auth is off. ``state`` replaces
    the runtime (tests); ``settings`` the workspace's ``[serving]`` table. Starting the app
    (its lifespan) starts the runtime; shutting it down stops it.
    """
    owned = False
    if workspace is None and (state is None or (settings is not None and settings.auth)):
        workspace, owned = Workspace.open(), True
    settings = settings or (workspace.settings.serving if workspace else ServingSettings())
    if state is None:
        assert workspace is not None
        state = _runtime(workspace)
    context = Context(
        state,
        features=workspace.features if workspace is not None else None,
        monitoring=workspace.monitoring if workspace is not None else None,
    )
    app = FastAPI(
        title="modelyard",
        version=modelyard.__version__,
        summary="Predictions over the Open Inference Protocol, MLflow's and a native one.",
        lifespan=_lifespan(state, workspace if owned else None),
        middleware=_middleware(settings, workspace, context),
        telemetry=_NO_TELEMETRY,  # Prometheus is ours; FastAPI's check costs per request
    )
    install_error_handlers(app)
    for endpoint in ENDPOINTS:
        _mount(app, context, endpoint)
    return app


def _runtime(workspace: Workspace) -> StateLike:
    from modelyard.serving._runtime import ServingState

    state: StateLike = ServingState(workspace, observer=_metrics.PrometheusObserver())
    return state


def _middleware(
    settings: ServingSettings, workspace: Workspace | None, context: Context
) -> list[Middleware]:
    stack = [Middleware(_metrics.MetricsMiddleware), Middleware(AccessLogMiddleware)]
    if settings.ui and workspace is not None:  # /ui first: not counted, own key check
        from modelyard.dashboard import DashboardMount

        mount = Middleware(
            DashboardMount, workspace=workspace, state=context.state, auth=settings.auth
        )
        stack.insert(0, mount)
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "x-api-key", "content-type", _V2_HEADER],
                expose_headers=["x-model-version", "retry-after", _V2_HEADER],
            )
        )
    if settings.auth:
        assert workspace is not None
        stack.append(Middleware(AuthMiddleware, keys=workspace.keys))
    if settings.rate_limit_rps > 0:
        stack.append(
            Middleware(
                RateLimitMiddleware, rps=settings.rate_limit_rps, burst=settings.rate_limit_burst
            )
        )
    stack.append(Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes))
    stack.append(Middleware(HotPaths, context=context, endpoints=ENDPOINTS))
    return stack


_V2_HEADER = "inference-header-content-length"
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _mount(app: FastAPI, context: Context, endpoint: Endpoint) -> None:
    async def route(request: Request) -> Response:
        return await endpoint.handler(context, request)

    app.add_api_route(
        endpoint.path,
        route,
        methods=[endpoint.method],
        name=endpoint.handler.__name__,
        summary=endpoint.summary,
        description=endpoint.handler.__doc__ or "",
        tags=list(endpoint.tags),
        openapi_extra=copy.deepcopy(dict(endpoint.openapi)) or None,
    )


def _lifespan(state: StateLike, owned: Workspace | None) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.start()
        refresher = asyncio.create_task(_refresh_levels(state))
        # Everything loaded so far (libraries, models) lives as long as the process: kept
        # out of the collector, a full collection no longer stops every request for
        # 100-300 ms (measured: p99 150 ms -> 17 ms under load).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            refresher.cancel()
            await state.stop()
            if owned is not None:
                owned.close()

    return lifespan


async def _refresh_levels(state: StateLike) -> None:
    """Keeps the queue depth gauge current in every worker (scrapes reach only one)."""
    while True:
        await asyncio.sleep(1.0)
        try:
            _metrics.refresh_levels(state)
        except Exception:  # a gauge is not worth a crash
            log.exception("could not read the serving levels")


def app_from_env() -> FastAPI:
    """The app of one ``modelyard serve`` worker: its workspace is ``MODELYARD_WORKSPACE``."""
    return create_app()


def serve(
    workspace: str | Path | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    auth: bool | None = None,
) -> None:
    """Run the server under uvicorn (uvloop, httptools writing each response at once: see
    ``_protocol``) until interrupted.

    Arguments left out come from the workspace's ``[serving]`` settings. Workers are
    separate processes that each build the app from ``MODELYARD_WORKSPACE``; with more than
    one, Prometheus runs in multiprocess mode in a folder under the state dir.
    """
    import uvicorn

    settings = load_settings(Path(workspace) if workspace is not None else None)
    os.environ["MODELYARD_WORKSPACE"] = str(settings.workspace)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if auth is not None:
        os.environ["MODELYARD_SERVING__AUTH"] = "true" if auth else "false"
    count = workers or settings.serving.workers
    metrics_dir = _metrics_dir(settings.state_path) if count > 1 else None
    try:
        uvicorn.run(
            "modelyard.serving._app:app_from_env",
            factory=True,
            host=host or settings.serving.host,
            port=settings.serving.port if port is None else port,
            workers=count,
            loop="uvloop",
            http="modelyard.serving._protocol:HttpProtocol",
            access_log=False,
            log_config=_log_config(),
            timeout_graceful_shutdown=30,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir(state_path: Path) -> Path:
    folder = state_path / "prometheus" / str(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder


def _log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {**LOGGING_CONFIG}
    config["formatters"] = {
        **LOGGING_CONFIG["formatters"],
        "line": {"format": "%(message)s"},
        "modelyard": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    }
    config["handlers"] = {
        **LOGGING_CONFIG["handlers"],
        "access_lines": {
            "class": "modelyard.serving._middleware.AccessLineHandler",
            "formatter": "line",
            "stream": "ext://sys.stdout",
        },
        "modelyard": {
            "class": "logging.StreamHandler",
            "formatter": "modelyard",
            "stream": "ext://sys.stderr",
        },
    }
    config["loggers"] = {
        **LOGGING_CONFIG["loggers"],
        "modelyard": {"handlers": ["modelyard"], "level": "INFO", "propagate": False},
        "modelyard.access": {"handlers": ["access_lines"], "level": "INFO", "propagate": False},
    }
    return config
