"""The server's cross-cutting concerns as pure ASGI middleware: API keys, body size, per-key
rate limits and the access log.

Each is ``__init__(self, app, **options)`` plus ``async __call__(scope, receive, send)``;
``_app`` stacks them. Refusals are sent as the usual JSON error body (see ``_errors``).
Health routes (``/health/*``, ``/v2/health/*``) need no key and are never rate limited, so
probes keep working while clients are refused.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol, TextIO

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.access import Scope as KeyScope
from modelyard.errors import (
    AuthenticationError,
    ModelyardError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
)
from modelyard.serving._errors import error_response
from modelyard.serving._http import StatusRecorder, request_info

__all__ = [
    "AccessLineHandler",
    "AccessLogMiddleware",
    "AuthMiddleware",
    "BodyLimitMiddleware",
    "KeyVerifier",
    "RateLimitMiddleware",
    "is_admin_route",
    "is_open_route",
    "sole_line_handler",
]

access_logger = logging.getLogger("modelyard.access")
_OPEN = ("/health/", "/v2/health/")
_ADMIN = ("/metrics", "/docs", "/redoc", "/openapi.json")


class VerifiedKey(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def scopes(self) -> frozenset[KeyScope]: ...
    def allows(self, scope: KeyScope | str) -> bool: ...


class KeyVerifier(Protocol):
    """``KeyStore.verify``: the key a plaintext is, else AuthenticationError."""

    def verify(self, plaintext: str | None) -> VerifiedKey: ...


def is_open_route(path: str) -> bool:
    """Health routes: no key, no rate limit."""
    return path.startswith(_OPEN)


def is_admin_route(method: str, path: str) -> bool:
    """Routes that need the ``admin`` scope; every other one needs ``predict``."""
    if path.startswith(_ADMIN):
        return True
    return path.startswith("/v1/deployments") and not (
        method == "POST" and path.endswith("/predict")
    )


async def _refuse(exc: ModelyardError, scope: Scope, receive: Receive, send: Send) -> None:
    await error_response(exc)(scope, receive, send)


class AuthMiddleware:
    """Every route but health needs an API key (``Authorization: Bearer <key>`` or
    ``X-API-Key``) with the route's scope: 401 without a valid one, 403 with the wrong scope.

    Verified keys are remembered for ``cache_ttl_s`` seconds, so the hot path costs a dict
    lookup; a miss is verified on a worker thread, never blocking the event loop.
    """

    def __init__(self, app: ASGIApp, *, keys: KeyVerifier, cache_ttl_s: float = 1.0) -> None:
        self.app = app
        self.keys = keys
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[VerifiedKey, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open_route(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            key = await self._verify(_plaintext(scope))
            admin = is_admin_route(scope["method"], scope["path"])
            needed = KeyScope.ADMIN if admin else KeyScope.PREDICT
            if not key.allows(needed):
                has = sorted(s.value for s in key.scopes)
                raise PermissionDeniedError(key.name, needed.value, has)
        except ModelyardError as exc:  # 401, 403; 503 when the key store is unreachable
            await _refuse(exc, scope, receive, send)
            return
        info = request_info(scope)
        info.key, info.key_id = key.name, key.id
        await self.app(scope, receive, send)

    async def _verify(self, plaintext: str | None) -> VerifiedKey:
        if plaintext is None:
            raise AuthenticationError(
                "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>"
            )
        now = time.monotonic()
        cached = self._cache.get(plaintext)
        if cached is not None and cached[1] > now:
            return cached[0]
        key = await run_in_threadpool(self.keys.verify, plaintext)
        if len(self._cache) >= 10_000:
            self._cache.clear()
        self._cache[plaintext] = (key, now + self.cache_ttl_s)
        return key


def _plaintext(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip() or None
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413: at once when Content-Length says so, else
    as soon as the bytes received pass the limit (a chunked body has no Content-Length)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(PayloadTooLargeError(declared, self.max_bytes), scope, receive, send)
            return
        if declared is not None and not chunked:  # the server stops the body at its length
            await self.app(scope, receive, send)
            return
        received = 0
        limit = self.max_bytes

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLargeError(received, limit)
            return message

        await self.app(scope, counted, send)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The request's Content-Length (None: none, or not a number) and whether it has a
    Transfer-Encoding too."""
    length: int | None = None
    chunked = False
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"content-length" and length is None:
            try:
                length = int(value)
            except ValueError:
                return None, chunked
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


class RateLimitMiddleware:
    """A token bucket per API key (per client address without auth): ``rps`` tokens a
    second, at most ``burst`` saved up; an empty bucket answers 429 with Retry-After.

    Buckets live in the process: with N workers a key gets up to N times ``rps``.
    """

    def __init__(self, app: ASGIApp, *, rps: float, burst: int, max_keys: int = 10_000) -> None:
        self.app = app
        self.rps = rps
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[str, list[float]] = {}  # who -> [tokens, last refill]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open_route(scope["path"]):
            await self.app(scope, receive, send)
            return
        who = request_info(scope).key_id or _client(scope)
        wait = self._take(who, time.monotonic())
        if wait > 0:
            message = f"rate limit of {self.rps:g} requests/s exceeded; retry in {wait:.2f}s"
            await _refuse(RateLimitedError(message, retry_after=wait), scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _take(self, who: str, now: float) -> float:
        """Seconds to wait before a token is free (0: one was taken)."""
        bucket = self._buckets.get(who)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = self._buckets[who] = [self.burst, now]  # a new key starts full
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rps)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return (1.0 - tokens) / self.rps
        bucket[0] = tokens - 1.0
        return 0.0

    def _evict(self, now: float) -> None:
        """Forget buckets that have refilled: forgetting them changes nothing."""
        full = [
            w for w, (t, at) in self._buckets.items() if t + (now - at) * self.rps >= self.burst
        ]
        for who in full:
            del self._buckets[who]
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


class AccessLineHandler(logging.StreamHandler[TextIO]):
    """The access log's handler under ``modelyard serve``: each record as one line.

    When it is all the access logger does (its only handler, nothing filtered or
    propagated, the message alone formatted), :class:`AccessLogMiddleware` hands it each
    line directly (:meth:`write_line`): the same line on the same stream, without the
    ``LogRecord`` that logging builds per request (measured: 15 µs, a seventh of the app's
    CPU for a one-row predict).
    """

    def write_line(self, line: str, logger: str) -> None:
        """``line`` as :meth:`emit` writes a record of ``logger`` whose message it is."""
        self.acquire()
        try:
            self.stream.write(line + self.terminator)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(logging.LogRecord(logger, logging.INFO, "", 0, line, None, None))
        finally:
            self.release()


def sole_line_handler(logger: logging.Logger) -> AccessLineHandler | None:
    """The :class:`AccessLineHandler` that would write every INFO record of ``logger`` as
    its bare message, if that is all logging would do with one; else None."""
    if logger.propagate or logger.filters or logger.disabled or len(logger.handlers) != 1:
        return None
    handler = logger.handlers[0]
    if type(handler) is not AccessLineHandler or handler.filters or handler.level > logging.INFO:
        return None
    formatter = handler.formatter
    if formatter is not None and not (
        type(formatter) is logging.Formatter and formatter._fmt == "%(message)s"
    ):
        return None
    return handler if logging.getLogRecordFactory() is logging.LogRecord else None


class AccessLogMiddleware:
    """One JSON line per request on the ``modelyard.access`` logger: method, path, status,
    duration_ms, deployment, version, protocol and the API key's name."""

    def __init__(self, app: ASGIApp, *, logger: logging.Logger = access_logger) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        recorder = StatusRecorder.around(scope, send)
        try:
            await self.app(scope, receive, recorder)
        finally:
            self._log(scope, recorder.status, recorder.seconds())

    def _log(self, scope: Scope, status: int, seconds: float) -> None:
        info = request_info(scope)
        line = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "deployment": info.deployment or None,
            "version": info.version or None,
            "protocol": info.protocol or None,
            "key": info.key,
        }
        text = orjson.dumps(line).decode()
        handler = sole_line_handler(self.logger)
        if handler is not None:
            handler.write_line(text, self.logger.name)
        else:
            self.logger.info(text)
