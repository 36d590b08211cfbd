"""The wire format of the Open Inference Protocol (KServe V2 / Triton): tensors and
inference requests, in JSON and in Triton's binary extension.

A tensor is ``{"name", "datatype", "shape", "data"}`` with ``data`` row-major, nested or
flat. With Triton's binary tensor extension the JSON is followed by raw little-endian bytes:
the header ``Inference-Header-Content-Length`` gives the JSON's length, and each tensor
whose ``parameters.binary_data_size`` is set takes that many bytes, in order. ``BYTES``
elements are 4-byte little-endian lengths followed by the bytes.

Example:
    >>> tensor_from_json({"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]}, 0)
    ('x', array([1., 2.], dtype=float32))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard.errors import ValidationError
from modelyard.serving._errors import MalformedBodyError, load_json

__all__ = [
    "DATATYPES",
    "OUTPUT",
    "InferRequest",
    "datatype_of",
    "parse_infer",
    "signature_datatype",
    "tensor_from_binary",
    "tensor_from_json",
    "tensor_header",
    "tensor_to_bytes",
    "tensor_to_json",
]

OUTPUT = "predict"  # the one output of every deployment

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_JSON_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "iuf"}  # JSON value kinds each accepts
_KIND_NAMES = {"b": "true/false", "u": "integers", "i": "integers", "f": "numbers"}


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The V2 datatype of a numpy dtype (strings, objects, dates: ``BYTES``)."""
    if dtype.kind == "b":
        return "BOOL"
    if dtype.kind in "iuf":
        prefix = {"i": "INT", "u": "UINT", "f": "FP"}[dtype.kind]
        return f"{prefix}{dtype.itemsize * 8}"
    return "BYTES"


def signature_datatype(dtype: str) -> str:
    """The V2 datatype of a signature dtype name (``float64`` -> ``FP64``)."""
    try:
        return datatype_of(np.dtype(dtype))
    except TypeError:
        return "BYTES"  # string, category, object


def tensor_header(spec: Any, index: int) -> tuple[str, str, list[int], Mapping[str, Any]]:
    """Name, datatype, shape and parameters of one tensor of a request, checked."""
    if not isinstance(spec, dict):
        raise ValidationError(
            f"inputs[{index}] must be an object with name, datatype, shape and data",
            details={"field": f"inputs[{index}]"},
        )
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if not isinstance(name, str) or not name:
        raise _invalid(f"inputs[{index}].name", "must be a non-empty string")
    if datatype not in DATATYPES:
        raise _invalid(f"{name}.datatype", f"must be one of {', '.join(DATATYPES)}")
    if not isinstance(shape, list) or not all(_dim(d) for d in shape):
        raise _invalid(f"{name}.shape", "must be a list of non-negative integers")
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _invalid(f"{name}.parameters", "must be an object")
    return name, datatype, shape, parameters


def _dim(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62


def _invalid(field: str, problem: str) -> ValidationError:
    return ValidationError(f"{field} {problem}", details={"field": field})


def tensor_from_json(spec: Mapping[str, Any], index: int) -> tuple[str, np.ndarray]:
    """A tensor whose values are in its ``data`` field, as an array of its shape."""
    name, datatype, shape, _ = tensor_header(spec, index)
    data = spec.get("data")
    if data is None:
        raise _invalid(f"{name}.data", "is missing (or send the tensor as binary data)")
    target = DATATYPES[datatype]
    if datatype == "BYTES":
        array = _json_strings(name, data)
    else:
        array = _json_numbers(name, data, datatype, target)
    return name, _reshape(name, array, shape)


def _json_strings(name: str, data: Any) -> np.ndarray:
    try:
        array = np.asarray(data, dtype=object)
    except ValueError as exc:
        raise _invalid(f"{name}.data", f"is not a rectangular array: {exc}") from None
    if not all(isinstance(value, str) for value in array.flat):
        raise _invalid(f"{name}.data", "must hold strings for datatype BYTES")
    return array


def _json_numbers(name: str, data: Any, datatype: str, target: np.dtype[Any]) -> np.ndarray:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise _invalid(f"{name}.data", f"is not a rectangular array: {exc}") from None
    if target.kind in "iu" and array.dtype.kind == "f" and _integral(array):
        array = _exact_ints(name, data, datatype, target)  # e.g. ints mixed with 2**64 - 1
    if array.size and array.dtype.kind not in _JSON_KINDS[target.kind]:
        raise ValidationError(
            f"{name}.data must hold {_KIND_NAMES[target.kind]} for datatype {datatype} "
            f"(got {_kind_of(array)})",
            details={"field": name, "expected": datatype, "actual": _kind_of(array)},
        )
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(target, copy=False)
    lossy = not np.array_equal(cast, array) if target.kind in "iu" else not _finite(cast)
    if lossy:
        raise ValidationError(
            f"{name}.data has values out of the range of {datatype}",
            details={"field": name, "expected": datatype},
        )
    return cast


def _integral(array: np.ndarray) -> bool:
    return bool(np.isfinite(array).all() and (array == np.floor(array)).all())


def _exact_ints(name: str, data: Any, datatype: str, target: np.dtype[Any]) -> np.ndarray:
    try:
        return np.array(data, dtype=target)
    except (OverflowError, ValueError, TypeError):
        raise ValidationError(
            f"{name}.data has values out of the range of {datatype}",
            details={"field": name, "expected": datatype},
        ) from None


def _finite(array: np.ndarray) -> bool:
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())


def _kind_of(array: np.ndarray) -> str:
    if array.dtype.kind in "US":
        return "strings"
    if array.dtype.kind == "O":
        return "mixed values or null"
    return _KIND_NAMES.get(array.dtype.kind, array.dtype.name)


def _reshape(name: str, array: np.ndarray, shape: list[int]) -> np.ndarray:
    if array.size != math.prod(shape):
        raise ValidationError(
            f"{name} has {array.size} values but shape {shape} needs {math.prod(shape)}",
            details={"field": name, "expected": shape, "actual": array.size},
        )
    return array.reshape(shape)


def tensor_from_binary(
    name: str, datatype: str, shape: list[int], chunk: memoryview
) -> tuple[str, np.ndarray]:
    """A tensor sent in the binary extension: ``chunk`` holds exactly its bytes."""
    if datatype == "BYTES":
        return name, _reshape(name, _split_strings(name, chunk), shape)
    target = DATATYPES[datatype]
    expected = target.itemsize * math.prod(shape)
    if len(chunk) != expected:
        raise MalformedBodyError(
            f"{name}: binary_data_size is {len(chunk)} bytes but {datatype} of shape {shape} "
            f"takes {expected}",
            details={"field": name, "expected": expected, "actual": len(chunk)},
        )
    return name, np.frombuffer(chunk, dtype=target).reshape(shape)


def _split_strings(name: str, chunk: memoryview) -> np.ndarray:
    values: list[str] = []
    position, end = 0, len(chunk)
    while position < end:
        if position + 4 > end:
            raise MalformedBodyError(f"{name}: a BYTES element is cut short")
        length = int.from_bytes(chunk[position : position + 4], "little")
        position += 4
        if position + length > end:
            raise MalformedBodyError(f"{name}: a BYTES element runs past binary_data_size")
        try:
            values.append(str(chunk[position : position + length], "utf-8"))
        except UnicodeDecodeError:
            raise _invalid(name, "holds BYTES that are not UTF-8 text") from None
        position += length
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def tensor_to_json(array: np.ndarray) -> Any:
    """An output's values for the ``data`` field, flat and row-major."""
    if array.dtype.kind in "biuf":
        return np.ascontiguousarray(array).ravel()  # orjson writes numpy arrays natively
    return [_text(value) for value in array.ravel().tolist()]


def tensor_to_bytes(array: np.ndarray, datatype: str) -> bytes:
    """An output's values in the binary extension's layout."""
    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()
    parts: list[bytes] = []
    for value in array.ravel().tolist():
        raw = value if isinstance(value, bytes) else _text(value).encode("utf-8")
        parts += (len(raw).to_bytes(4, "little"), raw)
    return b"".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


# -- requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A parsed inference request: its inputs and how the output is wanted."""

    id: str | None
    inputs: list[tuple[str, np.ndarray]]
    binary_output: bool


def parse_infer(body: bytes, header_length: str | None) -> InferRequest:
    """Read a JSON or binary-extension inference request."""
    json_part, binary = _split(body, header_length)
    payload = load_json(json_part)
    if not isinstance(payload, dict):
        raise ValidationError("an inference request is a JSON object with 'inputs'")
    specs = payload.get("inputs")
    if not isinstance(specs, list) or not specs:
        raise ValidationError(
            "'inputs' must be a non-empty list of tensors", details={"field": "inputs"}
        )
    inputs, used = [], 0
    for index, spec in enumerate(specs):
        size = _binary_size(spec, index)
        if size is None:
            inputs.append(tensor_from_json(spec, index))
            continue
        if used + size > len(binary):
            raise MalformedBodyError(
                f"inputs[{index}] wants {size} binary bytes; only {len(binary) - used} are left"
            )
        name, datatype, shape, _ = tensor_header(spec, index)
        inputs.append(tensor_from_binary(name, datatype, shape, binary[used : used + size]))
        used += size
    if used != len(binary):
        raise MalformedBodyError(f"{len(binary) - used} bytes follow the last binary tensor")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ValidationError("'id' must be a string", details={"field": "id"})
    return InferRequest(request_id, inputs, _binary_output(payload))


def _split(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    if header_length is None:
        return body, memoryview(b"")
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise MalformedBodyError(
            f"Inference-Header-Content-Length is {header_length!r}; it must be the length of "
            f"the JSON part, between 1 and the body's {len(body)} bytes"
        )
    return body[:length], memoryview(body)[length:]


def _binary_size(spec: Any, index: int) -> int | None:
    parameters = spec.get("parameters") if isinstance(spec, dict) else None
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValidationError(
            f"inputs[{index}].parameters.binary_data_size must be a non-negative integer",
            details={"field": f"inputs[{index}].parameters.binary_data_size"},
        )
    return size


def _binary_output(payload: dict[str, Any]) -> bool:
    """Whether the output goes as binary: per output ``binary_data``, else the request's
    ``binary_data_output``. Only the ``predict`` output exists."""
    parameters = payload.get("parameters")
    binary = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    outputs = payload.get("outputs")
    if outputs is None:
        return binary
    if not isinstance(outputs, list):
        raise ValidationError("'outputs' must be a list", details={"field": "outputs"})
    for index, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if name != OUTPUT:
            raise ValidationError(
                f"outputs[{index}] asks for output {name!r}; the only output is {OUTPUT!r}",
                details={"field": f"outputs[{index}].name", "expected": [OUTPUT]},
            )
        wanted = output.get("parameters") or {}
        if not isinstance(wanted, dict):
            raise ValidationError(f"outputs[{index}].parameters must be an object")
        if wanted.get("classification") or "shared_memory_region" in wanted:
            raise ValidationError(
                "the classification and shared-memory extensions are not supported",
                details={"field": f"outputs[{index}].parameters"},
            )
        binary = wanted.get("binary_data", binary) is True
    return binary
