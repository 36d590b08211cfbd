"""The native JSON protocol: ``POST /v1/deployments/{name}/predict``, and the admin views.

A request is ``{"records": [{...}, ...]}`` (one object per row), ``{"columns": {"a": [...]}}``
or, for a tensor model, ``{"tensor": [[...], ...]}``; an optional ``"key"`` is the sticky
value (it overrides the deployment's sticky header or field). The response names the model,
the version that answered and the traffic target that chose it, with one prediction id per
row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import ValidationError
from modelyard.serving._errors import load_json
from modelyard.serving._http import (
    Context,
    Endpoint,
    RuntimeLike,
    column_names,
    columns_from_dict,
    columns_from_records,
    json_response,
    path_param,
    request_info,
    sticky_field,
    sticky_header,
)
from modelyard.serving._types import InputBatch

__all__ = ["ENDPOINTS", "parse_native"]

FORMATS = ("records", "columns", "tensor")


def parse_native(
    payload: Any, names: list[str] | None, extra: str | None
) -> tuple[InputBatch, str | None]:
    """The batch and the explicit sticky key of a native request."""
    if not isinstance(payload, dict):
        raise ValidationError(f"the body must be a JSON object with one of {', '.join(FORMATS)}")
    given = [key for key in FORMATS if key in payload]
    if len(given) != 1:
        raise ValidationError(
            f"give exactly one of {', '.join(FORMATS)} (got {', '.join(given) or 'none'})",
            details={"field": "body", "expected": list(FORMATS), "actual": given},
        )
    key = payload.get("key")
    if key is not None and not isinstance(key, str | int):
        raise ValidationError("'key' must be a string or an integer", details={"field": "key"})
    data = payload[given[0]]
    if given[0] == "records":
        batch = columns_from_records(data, names, extra)
    elif given[0] == "columns":
        batch = columns_from_dict(data)
    else:
        batch = _tensor(data)
    return batch, None if key is None else str(key)


def _tensor(data: Any) -> InputBatch:
    if not isinstance(data, list) or not data:
        raise ValidationError(
            "tensor must be a non-empty list of rows", details={"field": "tensor"}
        )
    try:
        return InputBatch(n_rows=len(data), tensor=np.asarray(data))
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"tensor is not a rectangular array: {exc}", details={"field": "tensor"}
        ) from None


async def predict(ctx: Context, request: Request) -> Response:
    """Predict rows given as records, columns or a tensor; ``key`` is the sticky value."""
    info = request_info(request.scope)
    info.protocol = "native"
    runtime = ctx.state.deployment(path_param(request, "name"))
    info.deployment = runtime.name
    payload = load_json(await request.body())
    batch, key = parse_native(payload, column_names(runtime.signature()), sticky_field(runtime))
    sticky = key if key is not None else sticky_header(runtime, request)
    result = await runtime.predict(batch, sticky=sticky)
    info.answered(runtime.name, result)
    return json_response(
        {
            "predictions": result.outputs,
            "prediction_ids": result.prediction_ids,
            "model": result.model,
            "model_version": result.version,
            "target": result.target,
        },
        headers={"x-model-version": str(result.version)},
    )


# -- admin views ---------------------------------------------------------------------------


async def list_deployments(ctx: Context, _request: Request) -> Response:
    """Every deployment this server runs: versions, signature and readiness details."""
    ready, details = ctx.state.readiness()
    summaries = [_summary(ctx.state.deployment(name), details) for name in ctx.state.names()]
    return json_response({"ready": ready, "deployments": summaries})


async def get_deployment(ctx: Context, request: Request) -> Response:
    """One deployment: its spec, the versions serving it, signature and readiness details."""
    runtime = ctx.state.deployment(path_param(request, "name"))
    _, details = ctx.state.readiness()
    summary = _summary(runtime, details)
    summary["spec"] = runtime.spec.to_dict()
    return json_response(summary)


def _summary(runtime: RuntimeLike, details: dict[str, Any]) -> dict[str, Any]:
    signature = runtime.signature()
    deployments = details.get("deployments", details)
    return {
        "name": runtime.name,
        "model": runtime.model,
        "versions": runtime.versions(),
        "signature": None if signature is None else signature.to_dict(),
        "status": deployments.get(runtime.name) if isinstance(deployments, dict) else None,
    }


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_BODY = {
    "type": "object",
    "properties": {
        "records": {"type": "array", "items": {"type": "object"}},
        "columns": {"type": "object", "additionalProperties": {"type": "array"}},
        "tensor": {"type": "array"},
        "key": {"type": "string"},
    },
}
_RESPONSE = {
    "type": "object",
    "properties": {
        "predictions": {"type": "array"},
        "prediction_ids": {"type": "array", "items": {"type": "string"}},
        "model": {"type": "string"},
        "model_version": {"type": "integer"},
        "target": {"type": "string"},
    },
}
_DOC = {
    "parameters": [_NAME],
    "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY}}},
    "responses": {
        "200": {
            "description": "predictions",
            "content": {"application/json": {"schema": _RESPONSE}},
        }
    },
}
_TAGS = ("Native",)
ENDPOINTS = (
    Endpoint("POST", "/v1/deployments/{name}/predict", predict, "Predict", _DOC, _TAGS, True),
    Endpoint("GET", "/v1/deployments", list_deployments, "Deployments (admin)", {}, ("Admin",)),
    Endpoint(
        "GET",
        "/v1/deployments/{name}",
        get_deployment,
        "One deployment: spec, versions, readiness (admin)",
        {"parameters": [_NAME]},
        ("Admin",),
    ),
)
