"""The Open Inference Protocol (V2) routes, in process against a fake runtime."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest

from modelyard.serving._v2_tensors import parse_infer
from serving.http_fakes import AppClient, FakeState


def tensor(name: str, datatype: str, shape: list[int], data: Any) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def columns_request(**extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            tensor("a", "FP64", [2], [1.0, 2.0]),
            tensor("b", "FP32", [2, 1], [[10], [20]]),
            tensor("c", "BYTES", [2], ["x", "y"]),
        ],
        **extra,
    }


def test_infer_with_one_input_per_column(client: AppClient) -> None:
    response = client.post("/v2/models/cols/infer", json=columns_request(id="req-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "cols"
    assert body["model_version"] == "3"
    assert body["id"] == "req-1"
    assert body["parameters"]["prediction_ids"] == ["cols-0", "cols-1"]
    assert body["outputs"] == [
        {"name": "predict", "datatype": "FP64", "shape": [2], "data": [11.0, 22.0]}
    ]
    assert response.headers["x-model-version"] == "3"


def test_infer_with_one_2d_input_in_signature_order(client: AppClient, state: FakeState) -> None:
    request = {"inputs": [tensor("input", "FP64", [2, 3], [[1, 2, 3], [4, 5, 6]])]}
    response = client.post("/v2/models/cols/infer", json=request)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [3.0, 9.0]
    batch, _ = state.runtimes["cols"].calls[-1]
    assert batch.tensor is not None and batch.tensor.shape == (2, 3)


def test_infer_tensor_signature_with_nested_and_flat_data(client: AppClient) -> None:
    for data in ([[1, 2, 3], [4, 5, 6]], [1, 2, 3, 4, 5, 6]):
        request = {"inputs": [tensor("x", "FP32", [2, 3], data)]}
        response = client.post("/v2/models/tens/infer", json=request)
        assert response.status_code == 200, response.text
        output = response.json()["outputs"][0]
        assert output["datatype"] == "FP32"
        assert output["data"] == [6.0, 15.0]
        assert response.json()["model_version"] == "7"


def binary_request(
    inputs: list[tuple[str, str, np.ndarray]], **parameters: Any
) -> tuple[bytes, int]:
    header: dict[str, Any] = {"inputs": [], "parameters": parameters}
    raw = b""
    for name, datatype, array in inputs:
        if datatype == "BYTES":
            chunk = b"".join(
                struct.pack("<I", len(s)) + s for s in (v.encode() for v in array.ravel())
            )
        else:
            chunk = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header["inputs"].append(
            {
                "name": name,
                "datatype": datatype,
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(chunk)},
            }
        )
        raw += chunk
    text = orjson.dumps(header)
    return text + raw, len(text)


def split_binary(content: bytes, header_length: int) -> tuple[dict[str, Any], bytes]:
    return orjson.loads(content[:header_length]), content[header_length:]


def test_binary_request_and_binary_response(client: AppClient) -> None:
    body, length = binary_request(
        [
            ("a", "FP64", np.array([1.5, 2.5])),
            ("b", "INT32", np.array([[1], [2]], dtype=np.int32)),
            ("c", "BYTES", np.array(["héllo", ""], dtype=object)),
        ],
        binary_data_output=True,
    )
    response = client.post(
        "/v2/models/cols/infer",
        content=body,
        headers={"Inference-Header-Content-Length": str(length)},
    )
    assert response.status_code == 200, response.text
    header_length = int(response.headers["inference-header-content-length"])
    header, raw = split_binary(response.content, header_length)
    output = header["outputs"][0]
    assert output["parameters"]["binary_data_size"] == len(raw) == 16
    assert np.frombuffer(raw, "<f8").tolist() == [2.5, 4.5]
    assert header["parameters"]["prediction_ids"] == ["cols-0", "cols-1"]


def test_binary_output_asked_per_output(client: AppClient) -> None:
    request = {
        "inputs": [tensor("x", "FP32", [1, 3], [1, 2, 3])],
        "outputs": [{"name": "predict", "parameters": {"binary_data": True}}],
    }
    response = client.post("/v2/models/tens/infer", json=request)
    assert response.status_code == 200
    header, raw = split_binary(
        response.content, int(response.headers["inference-header-content-length"])
    )
    assert np.frombuffer(raw, "<f4").tolist() == [6.0]
    assert header["outputs"][0]["datatype"] == "FP32"


def test_parse_every_json_datatype() -> None:
    cases = {
        "BOOL": ([True, False], np.bool_),
        "UINT8": ([0, 255], np.uint8),
        "UINT16": ([1, 2], np.uint16),
        "UINT32": ([1, 2], np.uint32),
        "UINT64": ([1, 2**64 - 1], np.uint64),
        "INT8": ([-128, 127], np.int8),
        "INT16": ([1, -2], np.int16),
        "INT32": ([1, -2], np.int32),
        "INT64": ([1, -(2**63)], np.int64),
        "FP16": ([0.5, 1], np.float16),
        "FP32": ([0.5, 1], np.float32),
        "FP64": ([0.5, 1], np.float64),
        "BYTES": (["a", "b"], np.object_),
    }
    for datatype, (data, dtype) in cases.items():
        body = orjson.dumps({"inputs": [tensor("x", datatype, [2], data)]})
        (_, array), *_ = parse_infer(body, None).inputs
        assert array.dtype == np.dtype(dtype), datatype
        assert array.tolist() == data, datatype


@pytest.mark.parametrize(
    ("request_body", "status", "needle"),
    [
        ({"inputs": [tensor("a", "FP99", [1], [1])]}, 422, "datatype"),
        ({"inputs": [tensor("x", "FP32", [2, 3], [1, 2, 3])]}, 422, "shape"),
        ({"inputs": [tensor("x", "FP32", [1, 3], ["a", "b", "c"])]}, 422, "strings"),
        ({"inputs": [tensor("x", "INT8", [1], [300])]}, 422, "range"),
        ({"inputs": [tensor("x", "UINT8", [1], [-1])]}, 422, "range"),
        ({"inputs": [tensor("x", "INT32", [1], [1.5])]}, 422, "integers"),
        ({"inputs": [tensor("x", "FP32", [1], [1e300])]}, 422, "range"),
        ({"inputs": [tensor("x", "BOOL", [1], [1])]}, 422, "true/false"),
        ({"inputs": [tensor("x", "FP32", [2], [[1, 2], [3]])]}, 422, "rectangular"),
        ({"inputs": [tensor("x", "FP32", [1], [None])]}, 422, "null"),
        ({"inputs": [tensor("x", "BYTES", [1], [1])]}, 422, "strings"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}, 422, "data"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": [1]}]}, 422, "shape"),
        ({"inputs": []}, 422, "inputs"),
        ({"inputs": [tensor("x", "FP32", [0, 3], [])]}, 422, "row"),
        ({"inputs": ["x"]}, 422, "inputs[0]"),
        (
            {"inputs": [tensor("x", "FP32", [1, 3], [1, 2, 3])], "outputs": [{"name": "nope"}]},
            422,
            "predict",
        ),
        ({"inputs": [tensor("x", "FP32", [1, 3], [1, 2, 3])], "id": 5}, 422, "id"),
        ([1, 2], 422, "object"),
    ],
)
def test_bad_requests_are_4xx(
    client: AppClient, request_body: Any, status: int, needle: str
) -> None:
    response = client.post("/v2/models/tens/infer", json=request_body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"], error


@pytest.mark.parametrize(
    "body", [b"{", b'{"inputs": [NaN]}', b'{"inputs": Infinity}', b"", b'{"a": 1e999}']
)
def test_malformed_json_is_400(client: AppClient, body: bytes) -> None:
    response = client.post("/v2/models/tens/infer", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_body"
    if b"NaN" in body or b"Infinity" in body:
        assert "NaN and Infinity are not JSON" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("length", "chunk"),
    [("abc", b""), ("0", b""), ("999", b""), (None, b"\x00" * 8), ("-", b"\x00" * 11)],
)
def test_broken_binary_framing_is_400(client: AppClient, length: str | None, chunk: bytes) -> None:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [1, 3],
                    "parameters": {"binary_data_size": 12},
                }
            ]
        }
    )
    if length == "-":
        length = str(len(header))
    headers = {} if length is None else {"Inference-Header-Content-Length": length}
    response = client.post("/v2/models/tens/infer", content=header + chunk, headers=headers)
    assert response.status_code == 400, response.text


def test_unknown_deployment_is_404_listing_known_ones(client: AppClient) -> None:
    response = client.post("/v2/models/nope/infer", json=columns_request())
    assert response.status_code == 404
    assert response.json()["error"]["details"]["deployments"] == ["cols", "tens"]


def test_version_paths_need_a_serving_version(client: AppClient) -> None:
    request = {"inputs": [tensor("x", "FP32", [1, 3], [1, 2, 3])]}
    assert client.post("/v2/models/tens/versions/7/infer", json=request).status_code == 200
    missing = client.post("/v2/models/tens/versions/6/infer", json=request)
    assert missing.status_code == 404
    assert missing.json()["error"]["details"]["serving"] == [7]
    assert client.get("/v2/models/tens/versions/7").status_code == 200
    assert client.get("/v2/models/tens/versions/6").status_code == 404
    assert client.get("/v2/models/tens/versions/7/ready").status_code == 200


def test_server_and_model_metadata(client: AppClient) -> None:
    server = client.get("/v2").json()
    assert server["name"] == "modelyard"
    assert server["extensions"] == ["binary_tensor_data"]
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    model = client.get("/v2/models/cols").json()
    assert model["name"] == "cols"
    assert model["versions"] == ["3"]
    assert model["inputs"] == [
        {"name": "a", "datatype": "FP64", "shape": [-1]},
        {"name": "b", "datatype": "FP64", "shape": [-1]},
        {"name": "c", "datatype": "BYTES", "shape": [-1]},
    ]
    assert model["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    tens = client.get("/v2/models/tens").json()
    assert tens["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3]}]
    assert client.get("/v2/models/tens/ready").json() == {"name": "tens", "ready": True}


def test_not_ready_server_is_503(client: AppClient, state: FakeState) -> None:
    state.ready = False
    assert client.get("/v2/health/ready").status_code == 503
    state.runtimes["tens"].served.clear()
    assert client.get("/v2/models/tens/ready").status_code == 503
