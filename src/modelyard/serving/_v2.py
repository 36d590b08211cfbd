"""The Open Inference Protocol (KServe V2, Triton's HTTP API): a V2 "model" is a deployment.

So ``tritonclient.http`` and KServe clients work unchanged, binary tensors included.
Inputs map onto the deployment's signature: a column signature takes one input per column
(shape ``[n]`` or ``[n, 1]``) or one 2-D input ``[n, n_columns]`` in signature order; a
tensor signature takes one input. The single output is named ``predict``. The response
says which version answered (``model_version``) and carries one prediction id per row
(``parameters.prediction_ids``); ``/versions/{v}/infer`` is always answered by version v.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

import modelyard
from modelyard.errors import ValidationError, VersionNotServedError
from modelyard.registry._signature import Signature, TensorSpec
from modelyard.serving._http import (
    Context,
    Endpoint,
    RuntimeLike,
    column_names,
    json_response,
    path_param,
    request_info,
    sticky_header,
)
from modelyard.serving._types import InputBatch, PredictionResult
from modelyard.serving._v2_tensors import (
    DATATYPES,
    OUTPUT,
    InferRequest,
    datatype_of,
    parse_infer,
    signature_datatype,
    tensor_to_bytes,
    tensor_to_json,
)

__all__ = ["ENDPOINTS", "encode_infer", "to_batch"]

_HEADER = "inference-header-content-length"


def to_batch(inputs: list[tuple[str, np.ndarray]], signature: Signature | None) -> InputBatch:
    """Inputs as the runtime takes them: named columns, or one tensor."""
    names = [name for name, _ in inputs]
    if len(set(names)) != len(names):
        raise ValidationError(f"inputs are named more than once: {names}")
    columns = column_names(signature)
    if len(inputs) > 1 or (columns is not None and names[0] in columns):
        arrays = {name: _column(name, array) for name, array in inputs}
        return InputBatch(n_rows=len(next(iter(arrays.values()))), columns=arrays)
    name, tensor = inputs[0]
    if tensor.ndim == 0:
        raise ValidationError(
            f"input {name!r} has no batch dimension; give shape [n, ...]", details={"field": name}
        )
    return InputBatch(n_rows=tensor.shape[0], tensor=tensor)


def _column(name: str, array: np.ndarray) -> np.ndarray:
    if array.ndim == 2 and array.shape[1] == 1:
        return array.reshape(-1)
    if array.ndim != 1:
        raise ValidationError(
            f"input {name!r} has shape {list(array.shape)}; a column is [n] or [n, 1]",
            details={"field": name, "expected": [-1], "actual": list(array.shape)},
        )
    return array


def encode_infer(request: InferRequest, deployment: str, result: PredictionResult) -> Response:
    """The inference response, JSON or binary as the request asked."""
    outputs = np.asarray(result.outputs)
    datatype = datatype_of(outputs.dtype)
    output: dict[str, Any] = {"name": OUTPUT, "datatype": datatype, "shape": list(outputs.shape)}
    raw = b""
    if request.binary_output:
        raw = tensor_to_bytes(outputs, datatype)
        output["parameters"] = {"binary_data_size": len(raw)}
    else:
        output["data"] = tensor_to_json(outputs)
    body: dict[str, Any] = {
        "model_name": deployment,
        "model_version": str(result.version),
        "outputs": [output],
        "parameters": {"prediction_ids": result.prediction_ids, "target": result.target},
    }
    if request.id is not None:
        body["id"] = request.id
    headers = {"x-model-version": str(result.version)}
    if not request.binary_output:
        return json_response(body, headers=headers)
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    headers[_HEADER] = str(len(header))
    return Response(header + raw, 200, headers, media_type="application/octet-stream")


# -- handlers ------------------------------------------------------------------------------


async def infer(ctx: Context, request: Request) -> Response:
    """Predict with V2 tensors: JSON, or JSON followed by raw bytes (Triton's binary
    extension, ``Inference-Header-Content-Length``). The output ``predict`` comes back in
    binary when ``parameters.binary_data_output`` or the output's ``binary_data`` asks."""
    return await _infer(ctx, request, None)


async def infer_version(ctx: Context, request: Request) -> Response:
    """Like infer, answered by this version: 404 unless a target of the deployment serves
    it now (a shadow target's version too)."""
    return await _infer(ctx, request, path_param(request, "version"))


async def _infer(ctx: Context, request: Request, version: str | None) -> Response:
    info = request_info(request.scope)
    info.protocol = "v2"
    runtime = ctx.state.deployment(path_param(request, "name"))
    info.deployment = runtime.name
    pinned = None if version is None else _check_version(runtime, version)
    parsed = parse_infer(await request.body(), request.headers.get(_HEADER))
    batch = to_batch(parsed.inputs, runtime.signature())
    sticky = sticky_header(runtime, request)
    result = await runtime.predict(batch, sticky=sticky, version=pinned)
    info.answered(runtime.name, result)
    return encode_infer(parsed, runtime.name, result)


def _check_version(runtime: RuntimeLike, version: str) -> int:
    """``version`` as a number, if the deployment serves it now (checked again, without a
    gap, when the request is routed); VersionNotServedError if not."""
    serving = sorted(set(runtime.versions().values()))
    if not (version.isascii() and version.isdigit()) or int(version) not in serving:
        raise VersionNotServedError(runtime.name, version, serving)
    return int(version)


async def server_metadata(_ctx: Context, _request: Request) -> Response:
    return json_response(
        {"name": "modelyard", "version": modelyard.__version__, "extensions": EXTENSIONS}
    )


async def server_live(_ctx: Context, _request: Request) -> Response:
    return json_response({"live": True})


async def server_ready(ctx: Context, _request: Request) -> Response:
    ready, _ = ctx.state.readiness()
    return json_response({"ready": ready}, 200 if ready else 503)


async def model_metadata(ctx: Context, request: Request) -> Response:
    """The deployment's inputs and output with V2 datatypes and shapes (-1: any size)."""
    runtime = ctx.state.deployment(path_param(request, "name"))
    if "version" in request.path_params:
        _check_version(runtime, path_param(request, "version"))
    return json_response(_metadata(runtime))


async def model_ready(ctx: Context, request: Request) -> Response:
    runtime = ctx.state.deployment(path_param(request, "name"))
    if "version" in request.path_params:
        _check_version(runtime, path_param(request, "version"))
    ready = runtime.ready
    return json_response({"name": runtime.name, "ready": ready}, 200 if ready else 503)


def _metadata(runtime: RuntimeLike) -> dict[str, Any]:
    signature = runtime.signature()
    versions = sorted(set(runtime.versions().values()))
    return {
        "name": runtime.name,
        "versions": [str(v) for v in versions],
        "platform": "modelyard",
        "inputs": _inputs(signature),
        "outputs": _outputs(signature),
    }


def _inputs(signature: Signature | None) -> list[dict[str, Any]]:
    if signature is None:
        return []
    if isinstance(signature.inputs, TensorSpec):
        spec = signature.inputs
        return [
            {"name": "input", "datatype": signature_datatype(spec.dtype), "shape": [*spec.shape]}
        ]
    return [
        {"name": c.name, "datatype": signature_datatype(c.dtype), "shape": [-1]}
        for c in signature.inputs
    ]


def _outputs(signature: Signature | None) -> list[dict[str, Any]]:
    outputs = signature.outputs if signature is not None else None
    if outputs is None:
        return []  # unknown until the model answers
    if isinstance(outputs, TensorSpec):
        return [
            {
                "name": OUTPUT,
                "datatype": signature_datatype(outputs.dtype),
                "shape": [*outputs.shape],
            }
        ]
    dtype = outputs[0].dtype if len(outputs) == 1 else "object"
    width = [] if len(outputs) == 1 else [len(outputs)]
    return [{"name": OUTPUT, "datatype": signature_datatype(dtype), "shape": [-1, *width]}]


# -- routes and their OpenAPI description ---------------------------------------------------

EXTENSIONS = ["binary_tensor_data"]
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
_TENSOR = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string", "enum": list(DATATYPES)},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}
_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "items": _TENSOR, "minItems": 1},
        "outputs": {"type": "array", "items": {"type": "object"}},
    },
}
_RESPONSE = {
    "type": "object",
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "outputs": {"type": "array", "items": _TENSOR},
    },
}


def _doc(*params: dict[str, Any], body: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {"parameters": list(params)}
    if body:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _REQUEST}},
        }
        doc["responses"] = {
            "200": {
                "description": "outputs",
                "content": {"application/json": {"schema": _RESPONSE}},
            }
        }
    return doc


_TAGS = ("Open Inference Protocol (V2)",)
ENDPOINTS = (
    Endpoint(
        "POST", "/v2/models/{name}/infer", infer, "Infer", _doc(_NAME, body=True), _TAGS, True
    ),
    Endpoint(
        "POST",
        "/v2/models/{name}/versions/{version}/infer",
        infer_version,
        "Infer with a version that the deployment serves",
        _doc(_NAME, _VERSION, body=True),
        _TAGS,
        True,
    ),
    Endpoint("GET", "/v2", server_metadata, "Server metadata", {}, _TAGS),
    Endpoint("GET", "/v2/health/live", server_live, "Server live", {}, _TAGS),
    Endpoint("GET", "/v2/health/ready", server_ready, "Server ready", {}, _TAGS),
    Endpoint("GET", "/v2/models/{name}", model_metadata, "Model metadata", _doc(_NAME), _TAGS),
    Endpoint(
        "GET",
        "/v2/models/{name}/versions/{version}",
        model_metadata,
        "Model version metadata",
        _doc(_NAME, _VERSION),
        _TAGS,
    ),
    Endpoint("GET", "/v2/models/{name}/ready", model_ready, "Model ready", _doc(_NAME), _TAGS),
    Endpoint(
        "GET",
        "/v2/models/{name}/versions/{version}/ready",
        model_ready,
        "Model version ready",
        _doc(_NAME, _VERSION),
        _TAGS,
    ),
)
