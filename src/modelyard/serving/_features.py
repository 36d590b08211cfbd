"""The feature server routes, compatible with Feast's: ``POST /get-online-features`` and
``POST /push``.

A get request is ``{"features": ["view:feature", ...]}`` or ``{"feature_service": name}``,
with ``"entities": {"user_id": [1, 2]}`` (join keys, and request fields for on-demand
views) and an optional ``"full_feature_names"``. The answer is Feast's, column-oriented:
``{"metadata": {"feature_names": [...]}, "results": [{"values": [...], "statuses":
[...], "event_timestamps": [...]}, ...]}``, the entity columns first.

A push is ``{"push_source_name": view, "df": {"column": [...]}, "to": "online"}``: fresh
rows of a feature view (its join keys, timestamp and features). ``online`` writes them to
the online store (newer-only, like materialization), ``offline`` appends them to the
view's dataset as a new version, ``online_and_offline`` does both.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import ValidationError
from modelyard.serving._errors import load_json
from modelyard.serving._http import Context, Endpoint, json_response

__all__ = ["ENDPOINTS"]

_TARGETS = ("online", "offline", "online_and_offline")


def _features(ctx: Context) -> Any:
    if ctx.features is None:
        raise ValidationError("this server has no feature store (no workspace)")
    return ctx.features


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationError("the body must be a JSON object")
    return payload


async def get_online_features(ctx: Context, request: Request) -> Response:
    """Feature values for entities, in Feast's request and response format."""
    payload = _object(load_json(await request.body()))
    refs = payload.get("features")
    service = payload.get("feature_service")
    if (refs is None) == (service is None):
        raise ValidationError("give exactly one of 'features' (a list) or 'feature_service'")
    if refs is not None and (
        not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs)
    ):
        raise ValidationError("'features' must be a non-empty list of 'view:feature' strings")
    if service is not None and not isinstance(service, str):
        raise ValidationError("'feature_service' must be a string")
    entities = payload.get("entities")
    if (
        not isinstance(entities, dict)
        or not entities
        or not all(isinstance(v, list) for v in entities.values())
    ):
        raise ValidationError("'entities' must be an object of columns: {\"key\": [values]}")
    full = payload.get("full_feature_names", False)
    if not isinstance(full, bool):
        raise ValidationError("'full_feature_names' must be true or false")
    store = _features(ctx)
    answer = await run_in_threadpool(
        store.get_online_features,
        refs if refs is not None else service,
        entities,
        full_feature_names=full,
    )
    return json_response(answer)


async def push(ctx: Context, request: Request) -> Response:
    """Fresh rows of a feature view, to the online store, the offline dataset or both."""
    payload = _object(load_json(await request.body()))
    name = payload.get("push_source_name") or payload.get("feature_view")
    if not isinstance(name, str):
        raise ValidationError("'push_source_name' must name a feature view")
    target = payload.get("to", "online")
    if target not in _TARGETS:
        raise ValidationError(f"'to' must be one of {', '.join(_TARGETS)}, not {target!r}")
    columns = payload.get("df")
    if not isinstance(columns, dict) or not columns:
        raise ValidationError("'df' must be an object of columns: {\"column\": [values]}")
    store = _features(ctx)
    written = await run_in_threadpool(store.push, name, columns, to=target)
    return json_response({"feature_view": name, "rows": written, "to": target})


_GET_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "features": {"type": "array", "items": {"type": "string"}},
                        "feature_service": {"type": "string"},
                        "entities": {"type": "object"},
                        "full_feature_names": {"type": "boolean"},
                    },
                    "required": ["entities"],
                },
                "example": {"features": ["user_stats:txn_count"], "entities": {"user_id": [1]}},
            }
        },
    }
}
_PUSH_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "push_source_name": {"type": "string"},
                        "df": {"type": "object"},
                        "to": {"type": "string", "enum": list(_TARGETS)},
                    },
                    "required": ["push_source_name", "df"],
                }
            }
        },
    }
}

ENDPOINTS = (
    Endpoint(
        "POST",
        "/get-online-features",
        get_online_features,
        "Online feature values (Feast's format)",
        _GET_OPENAPI,
        ("Features",),
    ),
    Endpoint(
        "POST",
        "/push",
        push,
        "Push fresh feature rows (Feast's format)",
        _PUSH_OPENAPI,
        ("Features",),
    ),
)
