"""What the protocol modules share: the runtime they call, per-request facts, JSON in and out.

A protocol module (``_v2``, ``_mlflow``, ``_native``) turns a request into an
:class:`~modelyard.serving.InputBatch`, asks the runtime, and encodes the
:class:`~modelyard.serving.PredictionResult`; it declares its routes as :class:`Endpoint`
values, which ``_app`` mounts on FastAPI (for the OpenAPI schema) and dispatches directly.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Send

from modelyard.errors import ValidationError
from modelyard.registry._signature import ColumnSpec, Signature
from modelyard.serving._observer import ServingStats
from modelyard.serving._types import InputBatch, PredictionResult

__all__ = [
    "Context",
    "Endpoint",
    "Handler",
    "RequestInfo",
    "RuntimeLike",
    "StateLike",
    "column_array",
    "column_names",
    "columns_from_dict",
    "columns_from_records",
    "header",
    "json_response",
    "path_param",
    "request_info",
    "sticky_field",
    "sticky_header",
]


class StickySource(Protocol):
    """Where a deployment reads its sticky key (``StickyKey``): a header or an input field."""

    @property
    def source(self) -> str: ...
    @property
    def name(self) -> str: ...


class Described(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class RuntimeLike(Protocol):
    """One deployment as the runtime serves it (``DeploymentRuntime``)."""

    @property
    def name(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def sticky_key(self) -> StickySource | None: ...
    @property
    def spec(self) -> Described: ...
    @property
    def ready(self) -> bool: ...
    def signature(self) -> Signature | None: ...
    def versions(self) -> dict[str, int]: ...
    async def predict(
        self, batch: InputBatch, *, sticky: str | None = None, version: int | None = None
    ) -> PredictionResult: ...


class StateLike(Protocol):
    """Every deployment of one server process (``ServingState``)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def deployment(self, name: str) -> RuntimeLike: ...
    def names(self) -> list[str]: ...
    def readiness(self) -> tuple[bool, dict[str, Any]]: ...
    def stats(self) -> ServingStats: ...


@dataclass(slots=True)
class RequestInfo:
    """Facts about one request that the middleware reports (log line, metric labels)."""

    deployment: str = ""
    version: str = ""
    protocol: str = ""
    key: str | None = None  # the API key's name (for the log) ...
    key_id: str | None = None  # ... and its id (for rate limits)

    def answered(self, deployment: str, result: PredictionResult) -> None:
        self.deployment = deployment
        self.version = str(result.version)


def request_info(scope: MutableMapping[str, Any]) -> RequestInfo:
    """The request's :class:`RequestInfo`, created by the first one who asks."""
    info: RequestInfo | None = scope.get("modelyard.info")
    if info is None:
        info = scope["modelyard.info"] = RequestInfo()
    return info


@dataclass(frozen=True, slots=True)
class Context:
    """What handlers share: the serving state of this process, and the workspace's feature
    store and monitoring (None when the server runs without a workspace)."""

    state: StateLike
    features: Any = None
    monitoring: Any = None


def sticky_field(runtime: RuntimeLike) -> str | None:
    """The input field a deployment reads its sticky key from (the runtime reads it from
    the batch; parsers keep that field even when the model does not take it)."""
    key = runtime.sticky_key
    return key.name if key is not None and key.source == "field" else None


def sticky_header(runtime: RuntimeLike, request: Request) -> str | None:
    """The sticky value a deployment reads from a request header, if it reads one."""
    key = runtime.sticky_key
    if key is None or key.source != "header":
        return None
    return request.headers.get(key.name)


Handler = Callable[[Context, Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route: ``hot`` ones (predict paths) skip FastAPI's per-request machinery."""

    method: str
    path: str
    handler: Handler
    summary: str
    openapi: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    hot: bool = False


def path_param(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    return value


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``body`` as JSON; numpy arrays are written directly, NaN and infinities as null."""
    content = orjson.dumps(body, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    return _JSONResponse(content, status, headers)


class _JSONResponse(Response):
    """``Response(content, status, headers, media_type="application/json")`` with the same
    headers in the same order, built without ``Response``'s general-purpose rendering (it
    is on every predict's path)."""

    media_type = "application/json"

    def __init__(self, content: bytes, status: int, headers: Mapping[str, str] | None) -> None:
        self.status_code = status
        self.background = None
        self.body = content
        pairs = (headers or {}).items()
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
        names = {name for name, _ in raw}
        if b"content-length" not in names and not (status < 200 or status in (204, 304)):
            raw.append((b"content-length", str(len(content)).encode("latin-1")))
        if b"content-type" not in names:
            raw.append((b"content-type", b"application/json"))
        self.raw_headers = raw


def header(request: Request, name: bytes) -> str | None:
    """The request header ``name`` (lower case), as ``request.headers.get`` finds it,
    without building the ``Headers`` object."""
    for key, value in request.scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()  # object arrays, byte order orjson does not take
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def column_names(signature: Signature | None) -> list[str] | None:
    """The input column names of a column signature, else None."""
    if signature is None or not isinstance(signature.inputs, tuple):
        return None
    return [spec.name for spec in signature.inputs if isinstance(spec, ColumnSpec)]


def column_array(name: str, values: Any) -> np.ndarray:
    """One column's JSON values as an array; ``null`` among numbers becomes NaN."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"input {name!r} is not a list of values: {exc}", details={"field": name}
        ) from None
    if array.dtype.kind == "O" and array.ndim == 1 and all(map(_number_or_null, array)):
        return np.array([np.nan if v is None else v for v in array], dtype=np.float64)
    return array


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def columns_from_records(records: Any, names: list[str] | None, extra: str | None) -> InputBatch:
    """Rows given as JSON objects, as columns: the signature's (all of the first row's
    when there is none) plus ``extra`` (the sticky field) when the first row has it."""
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        raise ValidationError(
            "records must be a non-empty list of objects, one per row",
            details={"field": "records"},
        )
    wanted = list(records[0]) if names is None else names
    columns = {name: column_array(name, _field(records, name)) for name in wanted}
    if extra is not None and extra not in columns and extra in records[0]:
        columns[extra] = column_array(extra, [_get(row, extra) for row in records])
    return InputBatch(n_rows=len(records), columns=columns)


def _field(records: list[Any], name: str) -> list[Any]:
    try:
        return [row[name] for row in records]
    except (KeyError, TypeError):
        for index, row in enumerate(records):
            if not isinstance(row, dict):
                raise ValidationError(
                    f"record {index} is not an object", details={"field": f"records[{index}]"}
                ) from None
            if name not in row:
                raise ValidationError(
                    f"record {index} has no field {name!r}",
                    details={"field": name, "row": index},
                ) from None
        raise


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else None


def columns_from_dict(columns: Any) -> InputBatch:
    """``{"name": [values, ...], ...}`` as columns."""
    if not isinstance(columns, dict) or not columns:
        raise ValidationError(
            "columns must be a non-empty object of name: [values]", details={"field": "columns"}
        )
    arrays = {}
    for name, values in columns.items():
        if not isinstance(values, list):
            raise ValidationError(
                f"columns.{name} must be a list of values, one per row", details={"field": name}
            )
        arrays[name] = column_array(name, values)
    return InputBatch(n_rows=len(next(iter(columns.values()))), columns=arrays)


class StatusRecorder:
    """A ``send`` wrapper that remembers the response status and when the request began;
    the status stays 500 unless a response starts (an exception escaped the app)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500
        self.start = time.perf_counter()

    @classmethod
    def around(cls, scope: MutableMapping[str, Any], send: Send) -> StatusRecorder:
        """A recorder of ``send``: the request's own when ``send`` already is it (the
        metrics and the access log share one, saving a wrapper per message), else a new
        one, kept in ``scope`` for the next middleware to share."""
        recorder: StatusRecorder | None = scope.get("modelyard.recorder")
        if recorder is None or recorder is not send:
            recorder = scope["modelyard.recorder"] = cls(send)
        return recorder

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)

    def seconds(self) -> float:
        return time.perf_counter() - self.start
