"""``POST /v1/feedback``: ground-truth labels for logged predictions, possibly days later.

One label is ``{"prediction_id": "...", "label": 1}``; several are ``{"feedback":
[{"prediction_id": ..., "label": ...}, ...]}`` (all or nothing). Answers: 201 when
stored, 200 when the same label was already there, 404 for an id no server logged, 409 for
another label of a labelled prediction, 422 for a label whose type does not fit the
prediction (a string for a number, a fraction for a class).
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

_MAX_ITEMS = 10_000


def _pair(item: Any, where: str) -> tuple[str, Any]:
    if not isinstance(item, dict) or "prediction_id" not in item or "label" not in item:
        raise ValidationError(f"{where} must be an object with prediction_id and label")
    pid = item["prediction_id"]
    if not isinstance(pid, str) or not pid:
        raise ValidationError(f"{where}: prediction_id must be a non-empty string")
    return pid, item["label"]


async def feedback(ctx: Context, request: Request) -> Response:
    """Attach labels to logged predictions."""
    if ctx.monitoring is None:
        raise ValidationError("this server has no workspace to store feedback in")
    payload = load_json(await request.body())
    if isinstance(payload, dict) and "feedback" in payload:
        items = payload["feedback"]
        if not isinstance(items, list) or not items or len(items) > _MAX_ITEMS:
            raise ValidationError(f"'feedback' must be a list of 1 to {_MAX_ITEMS} labels")
        pairs = [_pair(item, f"feedback[{i}]") for i, item in enumerate(items)]
        ids, labels = [p for p, _ in pairs], [label for _, label in pairs]
        result = await run_in_threadpool(ctx.monitoring.feedback.add_many, ids, labels)
        return json_response(result.to_dict(), 201 if result.created else 200)
    pid, label = _pair(payload, "the body")
    created = await run_in_threadpool(ctx.monitoring.add_feedback, pid, label)
    status = "created" if created else "unchanged"
    return json_response({"prediction_id": pid, "status": status}, 201 if created else 200)


_ITEM = {
    "type": "object",
    "properties": {"prediction_id": {"type": "string"}, "label": {}},
    "required": ["prediction_id", "label"],
}
_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _ITEM,
                        {
                            "type": "object",
                            "properties": {"feedback": {"type": "array", "items": _ITEM}},
                            "required": ["feedback"],
                        },
                    ]
                },
                "example": {"prediction_id": "0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4-0", "label": 1},
            }
        },
    }
}

ENDPOINTS = (
    Endpoint(
        "POST", "/v1/feedback", feedback, "Labels for logged predictions", _DOC, ("Feedback",)
    ),
)
