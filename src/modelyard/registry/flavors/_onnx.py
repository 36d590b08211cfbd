"""The ONNX flavor: a serialized ``onnx.ModelProto``, served by ONNX Runtime.

Loading gives an ``onnxruntime.InferenceSession`` on the CPU provider with one thread per
operator, so several served models share the cores without oversubscribing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelyard.registry.flavors._common import from_package, unsupported

MODEL_FILE = "model.onnx"

# ONNX Runtime spells an input's type "tensor(<element>)"; these are the numpy equivalents.
_ORT_DTYPES = {
    "float": np.float32,
    "double": np.float64,
    "float16": np.float16,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "bool": np.bool_,
    "string": np.object_,
}


def _describe(value: Any) -> dict[str, Any]:
    """Name, element type and shape (-1 for a symbolic dim) of a graph input or output."""
    from onnx import helper

    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return {"name": value.name, "type": kind, "shape": None}
    tensor = value.type.tensor_type
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    shape = [dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor.shape.dim]
    name = "string" if dtype.kind == "O" else dtype.name
    return {"name": value.name, "type": name, "shape": shape}


def _serialized(model: object) -> bytes:
    """The bytes of an ``onnx.ModelProto``; FlavorError for anything else."""
    if from_package(model, "onnx"):
        import onnx

        if isinstance(model, onnx.ModelProto):
            return bytes(model.SerializeToString())
    raise unsupported("onnx", model)


def _session(source: str | bytes) -> Any:
    """A CPU inference session over a model file path or serialized model bytes."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        source, sess_options=options, providers=["CPUExecutionProvider"]
    )


def _as_session(model: object) -> Any:
    """``model`` itself if it is already a session, else a session over its proto."""
    if from_package(model, "onnxruntime"):
        return model
    return _session(_serialized(model))


class OnnxFlavor:
    """An ``onnx.ModelProto``; loaded back as an ONNX Runtime session."""

    name: ClassVar[str] = "onnx"

    def matches(self, model: object) -> bool:
        """Whether ``model`` is an ``onnx.ModelProto``."""
        if not from_package(model, "onnx"):
            return False
        import onnx

        return isinstance(model, onnx.ModelProto)

    def save(self, model: object, folder: Path) -> dict[str, Any]:
        """Write the serialized proto; the info lists the graph's inputs and outputs."""
        import onnx

        if not isinstance(model, onnx.ModelProto):
            raise unsupported(self.name, model)
        (folder / MODEL_FILE).write_bytes(model.SerializeToString())
        return {
            "library": "onnx",
            "version": onnx.__version__,
            "model_class": "onnx.ModelProto",
            "opsets": {entry.domain or "ai.onnx": entry.version for entry in model.opset_import},
            "inputs": [_describe(value) for value in model.graph.input],
            "outputs": [_describe(value) for value in model.graph.output],
            "files": [MODEL_FILE],
        }

    def load(self, folder: Path, info: Mapping[str, Any]) -> object:
        """An ``onnxruntime.InferenceSession`` over the stored model."""
        return _session(str(folder / info["files"][0]))

    def predict(self, model: object, data: Any) -> Any:
        """Feed ``data`` (cast to the declared element type) to the first input.

        Returns:
            The first output as a numpy array. A ``ModelProto`` is accepted too and gets a
            throwaway session.
        """
        session = _as_session(model)
        first = session.get_inputs()[0]
        dtype = _ORT_DTYPES.get(first.type.removeprefix("tensor(").removesuffix(")"))
        batch = np.asarray(data).astype(dtype, copy=False) if dtype else np.asarray(data)
        output = session.get_outputs()[0].name
        return np.asarray(session.run([output], {first.name: batch})[0])
