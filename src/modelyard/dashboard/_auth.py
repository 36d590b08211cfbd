"""API keys on the dashboard's JSON routes, checked as the prediction server checks them.

The page and its static files are open: they hold no data, and a browser cannot send a
header when it opens a page. Every ``/ui/api/`` request needs a key (``X-API-Key`` or
``Authorization: Bearer``; the page asks for one and sends it), verified by the server's
own :class:`~modelyard.serving._middleware.AuthMiddleware` machinery and key store.

Which scope a request needs is :func:`needed_scope`: reading needs the scope the server's
read routes of the same facts need (``/metrics``, ``GET /v1/deployments``: ``admin``),
and so does changing anything (acknowledging an alert, later). When access control gains
a read-only scope, reads take it here and nowhere else.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.access import Scope as KeyScope
from modelyard.errors import ModelyardError, PermissionDeniedError
from modelyard.serving._errors import error_response
from modelyard.serving._http import request_info
from modelyard.serving._middleware import AuthMiddleware, KeyVerifier, _plaintext

__all__ = ["API_PREFIX", "DashboardAuth", "needed_scope"]

API_PREFIX = "/ui/api/"
READ_SCOPE = KeyScope.ADMIN
WRITE_SCOPE = KeyScope.ADMIN
_READS = frozenset({"GET", "HEAD"})


def needed_scope(method: str) -> KeyScope:
    """The scope a dashboard API request with ``method`` needs."""
    return READ_SCOPE if method in _READS else WRITE_SCOPE


class DashboardAuth(AuthMiddleware):
    """401 without a valid key, 403 when it lacks :func:`needed_scope`; verified keys are
    cached as the server caches them (see :class:`AuthMiddleware`)."""

    def __init__(self, app: ASGIApp, *, keys: KeyVerifier, cache_ttl_s: float = 1.0) -> None:
        super().__init__(app, keys=keys, cache_ttl_s=cache_ttl_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            key = await self._verify(_plaintext(scope))
            needed = needed_scope(scope["method"])
            if not key.allows(needed):
                has = sorted(s.value for s in key.scopes)
                raise PermissionDeniedError(key.name, needed.value, has)
        except ModelyardError as exc:
            await error_response(exc)(scope, receive, send)
            return
        info = request_info(scope)
        info.key, info.key_id = key.name, key.id
        await self.app(scope, receive, send)
