"""Auth, body limits, rate limits, CORS, the access log, metrics and error bodies."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from starlette.testclient import TestClient
from starlette.types import Receive, Send
from starlette.types import Scope as Scope_

from modelyard import Workspace
from modelyard.access import Scope
from modelyard.config import ServingSettings
from modelyard.serving import create_app
from modelyard.serving._middleware import (
    AccessLineHandler,
    AccessLogMiddleware,
    RateLimitMiddleware,
    is_admin_route,
    sole_line_handler,
)
from serving.http_fakes import AppClient, FakeState, fake_state

ROWS = {"records": [{"a": 1.0, "b": 2.0, "c": "x"}]}


def client_for(
    state: FakeState, workspace: Workspace | None = None, **options: object
) -> AppClient:
    settings = ServingSettings(**options)  # type: ignore[arg-type]
    return AppClient(create_app(workspace, state=state, settings=settings))


@pytest.fixture
def keys(sqlite_workspace: Workspace) -> dict[str, str]:
    store = sqlite_workspace.keys
    return {
        "predict": store.create("svc", [Scope.PREDICT])[1],
        "admin": store.create("ops", [Scope.ADMIN])[1],
    }


@pytest.fixture
def authed(sqlite_workspace: Workspace, keys: dict[str, str]) -> Iterator[AppClient]:
    with client_for(fake_state(), sqlite_workspace, auth=True) as client:
        yield client


def test_auth_needs_a_valid_key(authed: AppClient, keys: dict[str, str]) -> None:
    missing = authed.post("/v1/deployments/cols/predict", json=ROWS)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = authed.post(
        "/v1/deployments/cols/predict", json=ROWS, headers={"Authorization": "Bearer myd_x"}
    )
    assert wrong.status_code == 401
    for headers in ({"Authorization": f"Bearer {keys['predict']}"}, {"X-API-Key": keys["admin"]}):
        ok = authed.post("/v1/deployments/cols/predict", json=ROWS, headers=headers)
        assert ok.status_code == 200, ok.text


def test_auth_scopes(authed: AppClient, keys: dict[str, str]) -> None:
    predict = {"X-API-Key": keys["predict"]}
    admin = {"X-API-Key": keys["admin"]}
    for path in ("/metrics", "/v1/deployments", "/v1/deployments/cols", "/openapi.json", "/docs"):
        denied = authed.get(path, headers=predict)
        assert denied.status_code == 403, path
        assert denied.json()["error"]["details"]["needed"] == "admin"
        assert authed.get(path, headers=admin).status_code == 200, path
    assert authed.get("/v2/models/cols", headers=predict).status_code == 200
    assert authed.get("/v2/models/cols").status_code == 401


def test_health_needs_no_key(authed: AppClient) -> None:
    for path in ("/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready"):
        assert authed.get(path).status_code == 200, path


def test_access_log_names_the_key(
    authed: AppClient, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelyard.access"):
        authed.post(
            "/v1/deployments/cols/predict", json=ROWS, headers={"X-API-Key": keys["predict"]}
        )
        authed.get("/nope")
    first, second = (orjson.loads(r.getMessage()) for r in caplog.records)
    assert first["method"] == "POST"
    assert first["path"] == "/v1/deployments/cols/predict"
    assert first["status"] == 200
    assert first["deployment"] == "cols"
    assert first["version"] == "3"
    assert first["protocol"] == "native"
    assert first["key"] == "svc"
    assert first["duration_ms"] > 0
    assert second["status"] == 401 and second["key"] is None


def _access_logger(stream: io.StringIO, name: str) -> logging.Logger:
    """A logger set up as ``modelyard serve`` sets up the access log, onto ``stream``."""
    logger = logging.getLogger(name)
    handler = AccessLineHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    return logger


async def _ok(scope: Scope_, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def plain_records() -> Iterator[None]:
    """The standard LogRecord factory (an in-process Ray, started by an earlier test of
    the session, installs its own, which turns the direct path off)."""
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    yield
    logging.setLogRecordFactory(factory)


@pytest.mark.usefixtures("plain_records")
def test_access_lines_are_written_straight_to_the_serve_handler() -> None:
    stream = io.StringIO()
    logger = _access_logger(stream, "modelyard.test.access.direct")
    assert sole_line_handler(logger) is logger.handlers[0]
    client = TestClient(AccessLogMiddleware(_ok, logger=logger))
    client.get("/x")
    client.post("/y")
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert (first["method"], first["path"], first["status"]) == ("GET", "/x", 204)
    assert (second["method"], second["path"], second["key"]) == ("POST", "/y", None)


def test_access_lines_go_through_logging_when_it_does_more() -> None:
    stream = io.StringIO()
    logger = _access_logger(stream, "modelyard.test.access.filtered")
    logger.handlers[0].addFilter(lambda record: "/hidden" not in record.getMessage())
    assert sole_line_handler(logger) is None
    client = TestClient(AccessLogMiddleware(_ok, logger=logger))
    client.get("/hidden")
    client.get("/shown")
    assert [orjson.loads(line)["path"] for line in stream.getvalue().splitlines()] == ["/shown"]


def test_admin_routes() -> None:
    assert is_admin_route("GET", "/v1/deployments")
    assert is_admin_route("GET", "/v1/deployments/x")
    assert is_admin_route("GET", "/metrics")
    assert not is_admin_route("POST", "/v1/deployments/x/predict")
    assert not is_admin_route("POST", "/v2/models/x/infer")


def test_body_limit_by_content_length_and_by_stream() -> None:
    with client_for(fake_state(), max_body_bytes=1024) as client:
        big = {"records": [{"a": 1.0, "b": 2.0, "c": "x" * 2000}]}
        declared = client.post("/v1/deployments/cols/predict", json=big)
        assert declared.status_code == 413
        details = declared.json()["error"]["details"]
        assert details["limit"] == 1024 and details["size"] > 1024

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"records": [{"a": 1.0, "b": 2.0, "c": "'
            for _ in range(10):
                yield b"x" * 200
            yield b'"}]}'

        streamed = client.post("/v1/deployments/cols/predict", content=chunks())
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        small = client.post("/v1/deployments/cols/predict", json=ROWS)
        assert small.status_code == 200


def test_a_chunked_body_under_the_limit_is_read_whole() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"dataframe_records": [{"a": 1.0, '
        yield b'"b": 2.0, "c": "x"}]}'

    with client_for(fake_state(), max_body_bytes=1024) as client:
        response = client.post("/deployments/cols/invocations", content=chunks())
        assert "content-length" not in response.request.headers
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == [3.0]


def test_rate_limit_answers_429_with_retry_after() -> None:
    with client_for(fake_state(), rate_limit_rps=0.5, rate_limit_burst=2) as client:
        statuses = [client.post("/v1/deployments/cols/predict", json=ROWS) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert statuses[2].headers["retry-after"] == "2"
        assert statuses[2].json()["error"]["code"] == "rate_limited"
        assert client.get("/health/ready").status_code == 200  # probes are never limited


def test_token_bucket_refills() -> None:
    limiter = RateLimitMiddleware(app=None, rps=10.0, burst=1)  # type: ignore[arg-type]
    assert limiter._take("k", 100.0) == 0.0
    assert limiter._take("k", 100.0) == pytest.approx(0.1)
    assert limiter._take("k", 100.2) == 0.0
    assert limiter._take("other", 100.2) == 0.0


def test_cors_is_off_by_default_and_on_when_configured() -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    with client_for(fake_state()) as client:
        response = client.post(
            "/v1/deployments/cols/predict", json=ROWS, headers={"Origin": "https://app.example"}
        )
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-origin" not in client.options("/v2", headers=preflight).headers
    with client_for(fake_state(), cors_origins=("https://app.example",)) as client:
        response = client.options("/v1/deployments/cols/predict", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://app.example"


def test_a_bug_is_a_generic_500() -> None:
    state = fake_state()
    state.runtimes["cols"].fail = RuntimeError("secret detail")
    app = create_app(state=state, settings=ServingSettings())
    with AppClient(app, raise_app_exceptions=False) as client:
        response = client.post("/v1/deployments/cols/predict", json=ROWS)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text


def test_unknown_routes_and_methods_use_the_error_body() -> None:
    with client_for(fake_state()) as client:
        missing = client.get("/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        wrong = client.get("/v1/deployments/cols/predict")
        assert wrong.status_code == 405
        assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_metrics_count_requests_by_deployment_version_protocol_status() -> None:
    with client_for(fake_state()) as client:
        client.post("/v1/deployments/cols/predict", json=ROWS)
        client.post("/v1/deployments/unknown-name/predict", json=ROWS)
        text = client.get("/metrics").text
    assert (
        'modelyard_requests_total{deployment="cols",protocol="native",status="200",version="3"}'
        in text
    )
    assert (
        'modelyard_requests_total{deployment="",protocol="native",status="404",version=""}' in text
    )
    assert "unknown-name" not in text
    assert "modelyard_request_duration_seconds_bucket" in text


def test_openapi_describes_every_route() -> None:
    with client_for(fake_state()) as client:
        schema = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    paths = schema["paths"]
    for path in (
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/deployments/{name}/invocations",
        "/v1/deployments/{name}/predict",
    ):
        operation = paths[path]["post"]
        assert operation["requestBody"]["required"] is True, path
        assert operation["parameters"][0]["name"] == "name"
    assert "text/csv" in paths["/deployments/{name}/invocations"]["post"]["requestBody"]["content"]
    assert {"/health/live", "/health/ready", "/metrics", "/v2", "/v1/deployments"} <= set(paths)
