"""Per-request checks against a model's signature, done before a request joins a batch.

:func:`validate_batch` checks names, lengths, trailing shape and that every value can be
cast to the signature's dtype, and returns the batch already cast, so that one bad request
is refused on its own and never fails the batch it would have joined. The rules are those
of :func:`modelyard.registry.coerce_input`: numbers never lose information silently (1.5 is
not an int, NaN and infinities are refused in integer inputs and allowed in float ones).
Every check is vectorised; cost grows with columns, not rows.

Example:
    >>> sig = Signature(inputs=(ColumnSpec("age", "int64"),))
    >>> batch = InputBatch(n_rows=2, columns={"age": np.array([3.0, 4.0])})
    >>> validate_batch(batch, sig).columns["age"].dtype
    dtype('int64')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import ValidationError
from modelyard.registry._signature import ColumnSpec, Signature, TensorSpec
from modelyard.serving._types import InputBatch

__all__ = ["validate_batch"]

_INT_LIMIT = float(2**63)


def validate_batch(batch: InputBatch, signature: Signature | None) -> InputBatch:
    """``batch`` checked against ``signature`` and cast to its dtypes.

    Raises:
        ValidationError: naming the input and what was expected.
    """
    if batch.n_rows < 1:
        raise ValidationError("a request needs at least one row", details={"n_rows": batch.n_rows})
    if (batch.columns is None) == (batch.tensor is None):
        raise ValidationError("a request carries either named columns or one tensor")
    if signature is None:
        return _check_shapes(batch)
    if isinstance(signature.inputs, TensorSpec):
        return _validate_tensor(batch, signature.inputs)
    return _validate_columns(batch, signature.inputs)


def _check_shapes(batch: InputBatch) -> InputBatch:
    if batch.tensor is not None:
        tensor = np.asarray(batch.tensor)
        _check_rows("tensor", tensor, batch.n_rows, any_ndim=True)
        return InputBatch(n_rows=batch.n_rows, tensor=tensor)
    columns = {name: np.asarray(values) for name, values in _columns(batch).items()}
    for name, values in columns.items():
        _check_rows(name, values, batch.n_rows)
    return InputBatch(n_rows=batch.n_rows, columns=columns)


def _columns(batch: InputBatch) -> Mapping[str, Any]:
    assert batch.columns is not None
    return batch.columns


def _check_rows(name: str, values: np.ndarray, n_rows: int, *, any_ndim: bool = False) -> None:
    if values.ndim == 0 or (values.ndim != 1 and not any_ndim):
        raise ValidationError(
            f"input {name!r} has shape {list(values.shape)}; a named input is one value per row",
            details={"field": name, "expected": [n_rows], "actual": list(values.shape)},
        )
    if values.shape[0] != n_rows:
        raise ValidationError(
            f"input {name!r} has {values.shape[0]} rows; the request has {n_rows}",
            details={"field": name, "expected": n_rows, "actual": values.shape[0]},
        )


def _validate_columns(batch: InputBatch, specs: tuple[ColumnSpec, ...]) -> InputBatch:
    names = [spec.name for spec in specs]
    given = _columns(batch) if batch.columns is not None else _split_tensor(batch, names)
    missing = [name for name in names if name not in given]
    if missing:
        raise ValidationError(
            f"input is missing {', '.join(map(repr, missing))}; the model expects "
            f"{', '.join(names)}",
            details={"field": missing[0], "missing": missing, "expected": names},
        )
    columns: dict[str, np.ndarray] = {}
    for spec in specs:
        values = np.asarray(given[spec.name])
        _check_rows(spec.name, values, batch.n_rows)
        columns[spec.name] = cast_values(spec.name, values, spec.dtype)
    return InputBatch(n_rows=batch.n_rows, columns=columns)


def _split_tensor(batch: InputBatch, names: list[str]) -> dict[str, np.ndarray]:
    tensor = np.asarray(batch.tensor)
    if tensor.ndim != 2 or tensor.shape[1] != len(names):
        raise ValidationError(
            f"a tensor of shape {list(tensor.shape)} cannot fill the model's {len(names)} "
            f"columns ({', '.join(names)}); send named inputs or rows of {len(names)} values",
            details={"field": "tensor", "expected": [-1, len(names)], "actual": list(tensor.shape)},
        )
    return {name: tensor[:, i] for i, name in enumerate(names)}


def _validate_tensor(batch: InputBatch, spec: TensorSpec) -> InputBatch:
    if batch.columns is not None:
        if len(batch.columns) != 1:
            raise ValidationError(
                f"the model takes one tensor of shape {list(spec.shape)}; the request has "
                f"{len(batch.columns)} named inputs ({', '.join(batch.columns)})",
                details={"field": "inputs", "expected": 1, "actual": len(batch.columns)},
            )
        (name, values), *_ = batch.columns.items()
    else:
        assert batch.tensor is not None  # validate_batch checked: columns or a tensor
        name, values = "tensor", batch.tensor
    tensor = np.asarray(values)
    _check_rows(name, tensor, batch.n_rows, any_ndim=True)
    trailing = spec.shape[1:]
    fits = tensor.ndim == len(spec.shape) and (
        tensor.shape[1:] == trailing
        or all(want in (-1, got) for got, want in zip(tensor.shape[1:], trailing, strict=True))
    )
    if not fits:
        raise ValidationError(
            f"input {name!r} has shape {list(tensor.shape)}; the model expects "
            f"{list(spec.shape)} (-1 = any size)",
            details={"field": name, "expected": list(spec.shape), "actual": list(tensor.shape)},
        )
    cast = cast_values(name, tensor, spec.dtype)
    if cast is batch.tensor:
        return batch  # already what the model takes
    return InputBatch(n_rows=batch.n_rows, tensor=cast)


def cast_values(name: str, values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` as the canonical ``dtype``, or a ValidationError naming ``name``."""
    try:
        return _cast(values, dtype)
    except (ValueError, TypeError, ArithmeticError) as exc:
        actual = values.dtype.name if values.dtype.kind != "U" else "string"
        raise ValidationError(
            f"input {name!r} cannot be read as {dtype}: {exc}",
            details={"field": name, "expected": dtype, "actual": actual},
        ) from None


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "string":
        return _to_string(values)
    if dtype in ("category", "object"):
        return values
    target = np.dtype(dtype)
    if values.dtype == target:
        return values
    if target.kind == "b":
        return _to_bool(values)
    if target.kind in "iu":
        return _to_int(values, target)
    if target.kind in "fc":
        with np.errstate(over="raise", invalid="raise"):
            return _numeric(values).astype(target)
    return values.astype(target)  # datetime64, timedelta64


def _numeric(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "biufc":
        return values
    if values.dtype.kind == "M" or values.dtype.kind == "m":
        raise TypeError("dates and durations are not numbers")
    return values.astype(np.float64)  # strings, objects: ValueError when not numbers


def _to_int(values: np.ndarray, target: np.dtype[Any]) -> np.ndarray:
    numbers = _numeric(values)
    if numbers.dtype.kind in "fc":
        if not np.isfinite(numbers).all():
            raise ValueError("NaN and infinite values are not allowed in an integer input")
        if not (np.abs(numbers) < _INT_LIMIT).all():
            raise ValueError("a value is out of the integer range")
    cast = numbers.astype(target)
    if not np.array_equal(cast, numbers):
        raise ValueError("not every value is a whole number in range")
    return cast


def _to_bool(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind not in "iuf" or not np.isin(values, (0, 1)).all():
        raise ValueError("only true/false or 0/1 values are booleans")
    return values.astype(bool)


def _to_string(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "U":
        return values.astype(object)
    if values.dtype.kind == "O" and pd.api.types.infer_dtype(values, skipna=True) in (
        "string",
        "empty",
    ):
        return values
    missing = pd.isna(values)
    strings = values.astype(str).astype(object)
    strings[missing] = None
    return strings
