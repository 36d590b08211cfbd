"""Errors as HTTP responses: every :class:`~modelyard.errors.ModelyardError` becomes a JSON
body ``{"error": {"code", "message", "details"}}`` with the status below.

```
status  error
 400    MalformedBodyError (not JSON, NaN/Infinity literals, bad binary framing)
 401    AuthenticationError (+ WWW-Authenticate: Bearer)
 403    PermissionDeniedError
 404    NotFoundError (unknown deployment, version or route; a version not served now)
 405    a route called with the wrong method (+ Allow)
 409    ConflictError
 413    PayloadTooLargeError
 422    ValidationError (wrong shape, dtype, missing input, empty batch), FlavorError (the
        model refused input its signature allows, e.g. NaN where it takes no missing values)
 429    RateLimitedError (+ Retry-After)
 503    OverloadedError, StoreUnavailableError (+ Retry-After)
 500    ModelOutputError (the model answered the wrong number of rows: a bug in the model,
        not the request), and any other ModelyardError no request can cause: the error's
        own body, and the traceback goes to the server log
 500    any other exception: a bug. The body is generic; the traceback goes to the server log.
```
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import (
    AuthenticationError,
    ConflictError,
    FlavorError,
    MalformedBodyError,
    ModelOutputError,
    ModelyardError,
    NotFoundError,
    OverloadedError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    StoreUnavailableError,
    ValidationError,
)

__all__ = [
    "MalformedBodyError",
    "error_response",
    "install_error_handlers",
    "load_json",
    "status_for",
]

logger = logging.getLogger("modelyard.serving")


_STATUS: tuple[tuple[type[ModelyardError], int], ...] = (
    (MalformedBodyError, 400),
    (ValidationError, 422),
    (FlavorError, 422),
    (ModelOutputError, 500),
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (RateLimitedError, 429),
    (OverloadedError, 503),
    (PayloadTooLargeError, 413),
    (ConflictError, 409),
    (StoreUnavailableError, 503),
)
_NON_JSON = (b"NaN", b"Infinity", b"-Infinity", b"+Infinity", b"nan", b"inf", b"-inf")


def status_for(exc: ModelyardError) -> int:
    """The HTTP status of an error (500 for kinds a request cannot cause)."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_response(exc: ModelyardError) -> Response:
    """The JSON response for ``exc``, with Retry-After / WWW-Authenticate where they apply."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float):
        headers["retry-after"] = str(max(1, math.ceil(retry_after)))
    elif status == 503:
        headers["retry-after"] = "1"
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="modelyard"'
    if status == 500:
        logger.error("request failed with %s: %s", exc.code, exc.message, exc_info=exc)
    body = {"error": exc.to_dict()}
    return Response(_dumps(body), status, headers, media_type="application/json")


def load_json(body: bytes) -> Any:
    """``body`` parsed as JSON, or :class:`MalformedBodyError` saying what is wrong.

    JSON has no NaN or Infinity: such literals (which Python's ``json`` writes by default)
    are refused with a message that says so, rather than silently read.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _malformed(exc, body) from None


def _malformed(exc: orjson.JSONDecodeError, body: bytes) -> MalformedBodyError:
    position = exc.pos
    if not body.strip():
        return MalformedBodyError("the request body is empty; send a JSON object")
    if "infinity" in exc.msg or body[position : position + 9].startswith(_NON_JSON):
        return MalformedBodyError(
            f"the request body is not valid JSON at character {position}: NaN and Infinity "
            "are not JSON (and numbers must fit a 64-bit float); send null for a missing value",
            details={"position": position, "reason": "non_finite_number"},
        )
    return MalformedBodyError(
        f"the request body is not valid JSON: {exc.msg} at character {position}",
        details={"position": position, "reason": exc.msg},
    )


def _dumps(body: Any) -> bytes:
    return orjson.dumps(body, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


async def _modelyard_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelyardError)
    return error_response(exc)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = str(exc.detail) if exc.status_code != 404 else "no such route"
    body = {"error": {"code": code, "message": message, "details": {}}}
    return Response(
        _dumps(body), exc.status_code, dict(exc.headers or {}), media_type="application/json"
    )


async def _request_invalid(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    text = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return error_response(ValidationError(f"invalid request: {text}", details={"errors": errors}))


async def _unexpected(_request: Request, _exc: Exception) -> Response:
    """A bug: a generic body; Starlette re-raises so the server logs the traceback."""
    body = {
        "error": {
            "code": "internal_error",
            "message": "internal server error; the server log has the details",
            "details": {},
        }
    }
    return Response(_dumps(body), 500, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error kind of ``app`` to the JSON error body."""
    app.add_exception_handler(ModelyardError, _modelyard_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(Exception, _unexpected)
