"""MLflow's scoring protocol: ``POST /deployments/{name}/invocations``.

The body is JSON with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs``, or a CSV table with a header row (``Content-Type: text/csv``;
``nan`` is a missing float). The response is ``{"predictions": [...]}`` as MLflow writes it,
plus ``prediction_ids`` (one per row) and ``model_version``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from modelyard.errors import ValidationError
from modelyard.registry._signature import Signature, TensorSpec
from modelyard.serving._errors import MalformedBodyError, load_json
from modelyard.serving._http import (
    Context,
    Endpoint,
    column_array,
    column_names,
    columns_from_dict,
    columns_from_records,
    header,
    json_response,
    path_param,
    request_info,
    sticky_field,
    sticky_header,
)
from modelyard.serving._types import InputBatch

__all__ = ["ENDPOINTS", "parse_csv", "parse_json"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def parse_json(payload: Any, signature: Signature | None, extra: str | None) -> InputBatch:
    """One of MLflow's four JSON forms as a batch."""
    if not isinstance(payload, dict):
        raise ValidationError(f"the body must be a JSON object with one of {', '.join(FORMATS)}")
    given = [key for key in FORMATS if key in payload]
    if len(given) != 1:
        raise ValidationError(
            f"give exactly one of {', '.join(FORMATS)} (got {', '.join(given) or 'none'})",
            details={"field": "body", "expected": list(FORMATS), "actual": given},
        )
    if payload.get("params"):
        raise ValidationError("'params' are not supported", details={"field": "params"})
    form = given[0]
    data = payload[form]
    names = column_names(signature)
    if form == "dataframe_split":
        tensor = signature is not None and isinstance(signature.inputs, TensorSpec)
        return _split(data, names, tensor=tensor)
    if form == "dataframe_records":
        return columns_from_records(data, names, extra)
    if isinstance(data, dict):  # TF-serving columnar form of instances/inputs
        return columns_from_dict(data)
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return columns_from_records(data, names, extra)
    return _tensor(form, data)


def _split(data: Any, names: list[str] | None, *, tensor: bool) -> InputBatch:
    """A split DataFrame as columns (named by ``columns``, else by the signature); as the
    rows of one tensor for a tensor signature."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValidationError(
            "dataframe_split is {'columns': [...], 'data': [[...], ...]}",
            details={"field": "dataframe_split"},
        )
    rows = data["data"]
    if not rows:
        raise ValidationError("dataframe_split.data has no rows", details={"field": "data"})
    if tensor:
        return _tensor("dataframe_split.data", rows)
    columns = data.get("columns", names)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValidationError(
            "dataframe_split.columns must be a list of column names",
            details={"field": "dataframe_split.columns"},
        )
    if len(set(columns)) != len(columns):
        raise ValidationError("dataframe_split.columns has duplicate names")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise ValidationError(
                f"dataframe_split.data[{index}] must be a list of {len(columns)} values",
                details={"field": f"dataframe_split.data[{index}]", "expected": len(columns)},
            )
    values = zip(*rows, strict=True)
    arrays = {name: column_array(name, list(v)) for name, v in zip(columns, values, strict=True)}
    return InputBatch(n_rows=len(rows), columns=arrays)


def _tensor(form: str, data: Any) -> InputBatch:
    if not isinstance(data, list) or not data:
        raise ValidationError(f"{form} must be a non-empty list of rows", details={"field": form})
    try:
        tensor = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"{form} is not a rectangular array: {exc}", details={"field": form}
        ) from None
    return InputBatch(n_rows=len(data), tensor=tensor)


def parse_csv(body: bytes, signature: Signature | None) -> InputBatch:
    """A CSV table with a header row: its columns, or all of it as the tensor of a tensor
    signature."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except pd.errors.EmptyDataError:
        raise ValidationError("the CSV body is empty", details={"field": "body"}) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise MalformedBodyError(f"the CSV body cannot be read: {exc}") from None
    if signature is not None and isinstance(signature.inputs, TensorSpec):
        return InputBatch(n_rows=len(frame), tensor=frame.to_numpy())
    columns = {str(name): frame[name].to_numpy() for name in frame.columns}
    return InputBatch(n_rows=len(frame), columns=columns)


async def invocations(ctx: Context, request: Request) -> Response:
    """MLflow scoring: JSON with one of dataframe_split, dataframe_records, instances or
    inputs, or text/csv with a header row; answers predictions, prediction_ids and
    model_version."""
    info = request_info(request.scope)
    info.protocol = "mlflow"
    runtime = ctx.state.deployment(path_param(request, "name"))
    info.deployment = runtime.name
    body = await request.body()
    signature = runtime.signature()
    content_type = header(request, b"content-type") or ""
    if content_type.split(";")[0].strip().lower() in ("text/csv", "application/csv"):
        batch = parse_csv(body, signature)
    else:
        batch = parse_json(load_json(body), signature, sticky_field(runtime))
    result = await runtime.predict(batch, sticky=sticky_header(runtime, request))
    info.answered(runtime.name, result)
    return json_response(
        {
            "predictions": result.outputs,
            "prediction_ids": result.prediction_ids,
            "model_version": result.version,
        },
        headers={"x-model-version": str(result.version)},
    )


_ROW = {"type": "object", "additionalProperties": True}
_BODY = {
    "type": "object",
    "properties": {
        "dataframe_split": {
            "type": "object",
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array"}},
            },
        },
        "dataframe_records": {"type": "array", "items": _ROW},
        "instances": {"type": "array"},
        "inputs": {"oneOf": [{"type": "array"}, {"type": "object"}]},
    },
}
_DOC = {
    "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _BODY},
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    "responses": {
        "200": {
            "description": "predictions",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "predictions": {"type": "array"},
                            "prediction_ids": {"type": "array", "items": {"type": "string"}},
                            "model_version": {"type": "integer"},
                        },
                    }
                }
            },
        }
    },
}

ENDPOINTS = (
    Endpoint(
        "POST",
        "/deployments/{name}/invocations",
        invocations,
        "Predict (MLflow scoring protocol)",
        _DOC,
        ("MLflow",),
        True,
    ),
)
