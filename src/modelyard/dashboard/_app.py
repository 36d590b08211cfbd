"""The dashboard's ASGI app: the page, its static files and its JSON API, all under ``/ui``.

```
/ui/                 index.html: the page shell; each page's script renders into it
/ui/static/...       app.js, lib.js, app.css, pages/<name>.js, vendor/echarts.min.js
/ui/api/info         the pages, the workspace, whether live server metrics are there
/ui/api/lineage      the upstream lineage graph of a model, dataset version or run
/ui/api/<page>...    each page's routes (see ``pages/``), JSON; GET reads, POST changes
                     (a POST must say its body is JSON: a form on another site cannot)
```

:func:`create_dashboard` builds it on its own (``modelyard ui``); :class:`DashboardMount`
puts it in front of the prediction server (``modelyard serve --ui``), where it answers
``/ui`` before the server's own middleware, so dashboard traffic is neither counted in the
server's request metrics nor refused by its predict-scope check (the dashboard checks keys
itself, see ``_auth``). Errors are the server's JSON error bodies.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard._workspace import Workspace
from modelyard.dashboard import _shared
from modelyard.dashboard._auth import DashboardAuth
from modelyard.dashboard._live import LiveMetrics
from modelyard.dashboard._page import ApiRoute, Handler, Query, UiContext
from modelyard.dashboard.pages import PAGES
from modelyard.errors import MalformedBodyError
from modelyard.serving._errors import install_error_handlers
from modelyard.serving._http import StateLike, json_response

__all__ = ["PREFIX", "STATIC", "DashboardMount", "create_dashboard"]

PREFIX = "/ui"
STATIC = Path(__file__).parent / "static"


def create_dashboard(
    workspace: Workspace, *, auth: bool = False, state: StateLike | None = None
) -> FastAPI:
    """The dashboard over ``workspace``; with ``auth``, its API needs keys; with ``state``
    (the prediction server's runtime), the deployments page shows its live metrics."""
    context = UiContext(workspace, LiveMetrics(state) if state is not None else None)
    middleware = [Middleware(GZipMiddleware, minimum_size=1024)]
    if auth:
        middleware.append(Middleware(DashboardAuth, keys=workspace.keys))
    app = FastAPI(
        title="modelyard dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        middleware=middleware,
    )
    install_error_handlers(app)
    for route in _routes():
        endpoint = _endpoint(context, route.handler, write=route.method != "GET")
        app.add_route(f"{PREFIX}/api{route.path}", endpoint, [route.method])
    app.add_route("/", _to_index, ["GET"])
    app.add_route(PREFIX, _to_index, ["GET"])
    app.add_route(f"{PREFIX}/", _index, ["GET"])
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="static")
    return app


def _routes() -> Iterable[ApiRoute]:
    yield from _shared.ROUTES
    for page in PAGES:
        yield from page.routes


def _endpoint(
    context: UiContext, handler: Handler, *, write: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint that answers ``handler``'s result as JSON. Plain handlers run
    on a worker thread: they read the metadata database, and the event loop may be the
    prediction server's. A ``write`` needs a JSON content type, which a cross-site form
    cannot send (without auth, nothing else would stop another site's page posting)."""
    run_on_loop = inspect.iscoroutinefunction(handler)

    async def endpoint(request: Request) -> Response:
        if write and not _is_json(request):
            raise MalformedBodyError(
                "send the request with content-type: application/json",
                details={"content_type": request.headers.get("content-type", "")},
            )
        query = Query.of(request)
        if run_on_loop:
            body = await handler(context, query)
        else:
            body = await run_in_threadpool(handler, context, query)
        return json_response(body, headers={"cache-control": "no-store"})

    endpoint.__name__ = getattr(handler, "__name__", "endpoint")
    return endpoint


def _is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json"


async def _index(_request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


async def _to_index(_request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


class DashboardMount:
    """Answers ``/ui`` and everything under it with the dashboard; the rest goes on to
    ``app`` (the prediction server)."""

    def __init__(self, app: ASGIApp, *, workspace: Workspace, state: StateLike, auth: bool) -> None:
        self.app = app
        self.dashboard = create_dashboard(workspace, auth=auth, state=state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == PREFIX or path.startswith(f"{PREFIX}/"):
                await self.dashboard(scope, receive, send)
                return
        await self.app(scope, receive, send)
