"""Model signatures: the columns or tensor a model takes, and turning requests into them.

A tabular model has a tuple of :class:`ColumnSpec`; an array model has one
:class:`TensorSpec`. :func:`infer_signature` reads either from an input example, and
:func:`coerce_input` turns a DataFrame, numpy array, pyarrow Table, dict of columns or list
of record dicts into exactly the form the model was trained on.

Example:
    >>> import pandas as pd
    >>> sig = infer_signature(pd.DataFrame({"age": [31, 45], "city": ["Oslo", "Rome"]}))
    >>> [(c.name, c.dtype) for c in sig.inputs]
    [('age', 'int64'), ('city', 'string')]
    >>> coerce_input([{"city": "Lima", "age": 2.0, "extra": 1}], sig).dtypes.to_dict()
    {'age': dtype('int64'), 'city': <StringDtype(na_value=nan)>}
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from modelyard.errors import ValidationError

__all__ = [
    "ColumnSpec",
    "Signature",
    "TensorSpec",
    "coerce_input",
    "example_to_json",
    "infer_signature",
]


@dataclass(frozen=True)
class ColumnSpec:
    """One named input column and its canonical dtype (``"float64"``, ``"string"``, ...)."""

    name: str
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "dtype": ...}``."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        """The spec :meth:`to_dict` wrote."""
        return cls(name=str(data["name"]), dtype=str(data["dtype"]))


@dataclass(frozen=True)
class TensorSpec:
    """An array's canonical dtype and shape; ``-1`` marks the batch and any variable dim."""

    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"dtype": ..., "shape": [...]}``."""
        return {"dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        """The spec :meth:`to_dict` wrote."""
        return cls(dtype=str(data["dtype"]), shape=tuple(int(dim) for dim in data["shape"]))


Schema: TypeAlias = tuple[ColumnSpec, ...] | TensorSpec


@dataclass(frozen=True)
class Signature:
    """What a model takes (``inputs``) and, when known, what it returns (``outputs``)."""

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form: ``{"inputs": {"columns": [...]}, "outputs": None}``."""
        outputs = None if self.outputs is None else _schema_to_dict(self.outputs)
        return {"inputs": _schema_to_dict(self.inputs), "outputs": outputs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """The signature :meth:`to_dict` wrote."""
        outputs = data.get("outputs")
        return cls(
            inputs=_schema_from_dict(data["inputs"]),
            outputs=None if outputs is None else _schema_from_dict(outputs),
        )


def _schema_to_dict(schema: Schema) -> dict[str, Any]:
    if isinstance(schema, TensorSpec):
        return {"tensor": schema.to_dict()}
    return {"columns": [column.to_dict() for column in schema]}


def _schema_from_dict(data: Mapping[str, Any]) -> Schema:
    if "tensor" in data:
        return TensorSpec.from_dict(data["tensor"])
    if "columns" in data:
        return tuple(ColumnSpec.from_dict(column) for column in data["columns"])
    raise ValidationError(
        f"a signature schema needs 'columns' or 'tensor', got keys {sorted(data)}",
        details={"keys": sorted(data)},
    )


def infer_signature(example: Any, output: Any = None) -> Signature:
    """The signature of a model that takes ``example`` (and returns ``output``, if given).

    Tabular forms (DataFrame, pyarrow Table, dict of columns, list of record dicts) give
    column specs; anything array-like gives a tensor spec with a ``-1`` batch dim.
    """
    return Signature(
        inputs=_infer_schema(example),
        outputs=None if output is None else _infer_schema(output),
    )


def _infer_schema(data: Any) -> Schema:
    frame = _as_frame(data)
    if frame is not None:
        return tuple(ColumnSpec(name, _column_dtype(frame[name])) for name in frame.columns)
    array = _as_array(data)
    if array.ndim == 0:
        raise ValidationError("an example needs a batch dimension, got a scalar")
    return TensorSpec(_array_dtype(array), (-1, *array.shape[1:]))


def coerce_input(data: Any, signature: Signature) -> pd.DataFrame | np.ndarray:
    """``data`` in the form the model was trained on.

    Columns: a DataFrame with exactly the signature's columns, in its order, cast to its
    dtypes (extra columns are dropped). Tensor: an ndarray of its dtype whose trailing
    dims match; one unbatched instance gets a batch dim of 1.

    Raises:
        ValidationError: a column is missing, a value cannot be cast, or the shape is wrong.
    """
    if isinstance(signature.inputs, TensorSpec):
        return _coerce_tensor(data, signature.inputs)
    return _coerce_frame(data, signature.inputs)


def _coerce_frame(data: Any, columns: tuple[ColumnSpec, ...]) -> pd.DataFrame:
    names = [column.name for column in columns]
    frame = _as_frame(data)
    if frame is None:
        frame = _frame_from_array(_as_array(data), names)
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValidationError(
            f"input is missing column(s) {', '.join(map(repr, missing))}; "
            f"the model expects columns {', '.join(names)}",
            details={"missing": missing, "expected": names},
        )
    cast = {column.name: _cast_column(frame[column.name], column) for column in columns}
    return pd.DataFrame(cast, index=frame.index)


def _cast_column(series: pd.Series, column: ColumnSpec) -> pd.Series:
    try:
        return _cast_series(series, column.dtype)
    except (ValueError, TypeError, ArithmeticError) as exc:
        actual = _column_dtype(series)
        raise ValidationError(
            f"column {column.name!r} cannot be cast from {actual} to {column.dtype}: {exc}",
            details={"column": column.name, "expected": column.dtype, "actual": actual},
        ) from exc


def _coerce_tensor(data: Any, spec: TensorSpec) -> np.ndarray:
    frame = _as_frame(data)
    array = frame.to_numpy() if frame is not None else _as_array(data)
    trailing = spec.shape[1:]
    if array.ndim == len(trailing) and _fits(array.shape, trailing):
        array = array[np.newaxis, ...]
    if array.ndim != len(spec.shape) or not _fits(array.shape[1:], trailing):
        raise ValidationError(
            f"input tensor has shape {list(array.shape)}; the model expects shape "
            f"{list(spec.shape)} (-1 = any size)",
            details={"field": "shape", "expected": list(spec.shape), "actual": list(array.shape)},
        )
    try:
        return _cast_array(array, spec.dtype)
    except (ValueError, TypeError, ArithmeticError) as exc:
        actual = _array_dtype(array)
        raise ValidationError(
            f"input tensor cannot be cast from {actual} to {spec.dtype}: {exc}",
            details={"field": "dtype", "expected": spec.dtype, "actual": actual},
        ) from exc


def _fits(actual: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    return len(actual) == len(expected) and all(
        want in (-1, got) for got, want in zip(actual, expected, strict=True)
    )


def example_to_json(example: Any, max_rows: int = 5) -> dict[str, Any]:
    """The first ``max_rows`` rows of ``example`` as a small JSON-able dict for storage.

    Tabular forms give ``{"columns": [...], "data": [[...], ...]}``, arrays give
    ``{"tensor": [...]}``. NaN, infinities and missing values become ``None``;
    timestamps become ISO 8601 strings.
    """
    frame = _as_frame(example)
    if frame is not None:
        head = frame.head(max_rows)
        rows = head.itertuples(index=False, name=None)
        return {"columns": list(head.columns), "data": [_to_json(list(row)) for row in rows]}
    array = _as_array(example)[:max_rows]
    if array.dtype.kind == "M":
        strings = np.datetime_as_string(array).astype(object)
        strings[np.isnat(array)] = None
        array = strings
    return {"tensor": _to_json(array.tolist())}


def _as_frame(data: Any) -> pd.DataFrame | None:
    """``data`` as a DataFrame with string column names, or None if it is not tabular."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif type(data).__module__.startswith("pyarrow") and hasattr(data, "column_names"):
        frame = data.to_pandas()  # a Table or RecordBatch
    elif isinstance(data, Mapping):
        scalars = all(np.ndim(value) == 0 for value in data.values())
        frame = _build_frame([dict(data)] if scalars else dict(data))
    elif isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        frame = _build_frame(data)
    else:
        return None
    if frame.columns.has_duplicates:
        duplicated = sorted({str(name) for name in frame.columns[frame.columns.duplicated()]})
        raise ValidationError(
            f"input has duplicate columns {', '.join(duplicated)}",
            details={"duplicated": duplicated},
        )
    if all(isinstance(name, str) for name in frame.columns):
        return frame
    return frame.rename(columns=str)


def _build_frame(data: Any) -> pd.DataFrame:
    try:
        return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"input columns do not form a table: {exc}") from exc


def _as_array(data: Any) -> np.ndarray:
    try:
        return np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"input is not a rectangular array: {exc}") from exc


def _frame_from_array(array: np.ndarray, names: list[str]) -> pd.DataFrame:
    if array.ndim != 2 or array.shape[1] != len(names):
        raise ValidationError(
            f"an array of shape {list(array.shape)} cannot fill the model's {len(names)} "
            f"columns ({', '.join(names)}); send named columns or a 2-D array in that order",
            details={"field": "shape", "expected": [-1, len(names)], "actual": list(array.shape)},
        )
    return pd.DataFrame(array, columns=names)


# --- dtypes: canonical names, casting, JSON values ------------------------------------

_INFERRED = {
    "string": "string",
    "boolean": "bool",
    "integer": "int64",
    "floating": "float64",
    "mixed-integer-float": "float64",
}


def _column_dtype(series: pd.Series) -> str:
    """The canonical dtype name of a column: ``"float64"``, ``"string"``, ``"bool"``, ..."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if getattr(dtype, "kind", "O") in "mM":
        return str(dtype)
    if pd.api.types.is_numeric_dtype(dtype):
        return str(getattr(dtype, "numpy_dtype", dtype))
    if isinstance(dtype, pd.StringDtype):
        return "string"
    return _INFERRED.get(pd.api.types.infer_dtype(series, skipna=True), "object")


def _array_dtype(array: np.ndarray) -> str:
    """The canonical dtype name of an array's elements."""
    kind = array.dtype.kind
    if kind == "U":
        return "string"
    if kind == "O":
        return _INFERRED.get(pd.api.types.infer_dtype(array.ravel(), skipna=True), "object")
    return str(array.dtype) if kind in "mM" else array.dtype.name


def _cast_series(series: pd.Series, dtype: str) -> pd.Series:
    """``series`` as canonical ``dtype``; ValueError/TypeError/ArithmeticError if it cannot be.

    Numbers never lose information silently: 1.5 does not become the int 1, NaN does not
    become an int, and a float64 that overflows float32 is an error.
    """
    with np.errstate(over="raise", invalid="raise"):
        if dtype == "string":
            return _to_string(series)
        if dtype == "bool":
            return _to_bool(series)
        target = pd.api.types.pandas_dtype(dtype)
        if dtype.startswith("datetime64"):
            return pd.to_datetime(series).astype(target)
        if dtype.startswith("timedelta64"):
            return pd.to_timedelta(series).astype(target)
        if isinstance(target, np.dtype) and target.kind in "iufc":
            return _to_number(series, target)
        return series.astype(target)


def _to_string(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.StringDtype) or _column_dtype(series) == "string":
        return series
    return series.astype("str").where(series.notna())


def _to_bool(series: pd.Series) -> pd.Series:
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not series.isna().any()
    if not (_column_dtype(series) == "bool" or (numeric and series.isin([0, 1]).all())):
        raise ValueError("only true/false or 0/1 values can be bool")
    if series.isna().any():
        raise ValueError("missing values cannot be bool")
    return series.astype(bool)


def _to_number(series: pd.Series, target: np.dtype[Any]) -> pd.Series:
    if series.dtype == target:
        return series
    values = series
    if not (pd.api.types.is_numeric_dtype(series.dtype) or _column_dtype(series) == "bool"):
        values = pd.to_numeric(series)
    if target.kind not in "iu":
        return values.astype(target)
    if values.isna().any():
        raise ValueError("missing values cannot be integers")
    cast = values.astype(target)
    if not bool((cast == values).all()):
        raise ValueError("not every value is a whole number in range")
    return cast


def _cast_array(array: np.ndarray, dtype: str) -> np.ndarray:
    """``array`` as canonical ``dtype``, with the same no-silent-loss rules as columns."""
    target = np.dtype(str) if dtype == "string" else np.dtype(dtype)
    if array.dtype == target or (dtype == "string" and array.dtype.kind == "U"):
        return array
    with np.errstate(over="raise", invalid="raise"):
        if target.kind in "iufc" and array.dtype.kind in "OUS":
            array = array.astype(np.float64)
        cast = array.astype(target)
    if target.kind in "iu" and array.dtype.kind == "f" and not np.array_equal(cast, array):
        raise ValueError("not every value is a whole number in range")
    return cast


def _to_json(value: Any) -> Any:
    """``value`` (nested lists allowed) as plain JSON: NaN/NaT/NA to None, dates to ISO."""
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
