"""Signatures: inference from every input form, JSON round-trips and input coercion."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import ValidationError
from modelyard.registry._signature import (
    ColumnSpec,
    Signature,
    TensorSpec,
    coerce_input,
    example_to_json,
    infer_signature,
)

COLUMNS = (
    ColumnSpec("age", "int64"),
    ColumnSpec("income", "float64"),
    ColumnSpec("city", "string"),
    ColumnSpec("member", "bool"),
)
TABLE = Signature(inputs=COLUMNS)
ROWS = [
    {"age": 31, "income": 5200.5, "city": "Oslo", "member": True},
    {"age": 45, "income": 4100.0, "city": "Rome", "member": False},
]
TENSOR = Signature(inputs=TensorSpec("float32", (-1, 3)))


def _forms() -> dict[str, Any]:
    frame = pd.DataFrame(ROWS)
    return {
        "dataframe": frame,
        "arrow": pa.Table.from_pandas(frame, preserve_index=False),
        "dict-of-columns": {name: list(frame[name]) for name in frame.columns},
        "records": ROWS,
    }


@pytest.mark.parametrize("form", ["dataframe", "arrow", "dict-of-columns", "records"])
def test_infer_signature_reads_columns_from_every_tabular_form(form: str) -> None:
    assert infer_signature(_forms()[form]) == TABLE


def test_infer_signature_reads_a_tensor_from_an_ndarray() -> None:
    signature = infer_signature(np.zeros((4, 3, 2), dtype=np.float32))
    assert signature.inputs == TensorSpec("float32", (-1, 3, 2))


def test_infer_signature_names_canonical_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]).astype("datetime64[ns]"),
            "count": pd.array([1, 2], dtype="Int64"),
            "label": pd.Series(["a", "b"], dtype=object),
            "small": np.array([1.0, 2.0], dtype=np.float32),
        }
    )
    dtypes = [column.dtype for column in infer_signature(frame).inputs]
    assert dtypes == ["datetime64[ns]", "int64", "string", "float32"]


def test_infer_signature_records_the_output() -> None:
    signature = infer_signature(ROWS, output=np.array([0.1, 0.9]))
    assert signature.outputs == TensorSpec("float64", (-1,))


def test_infer_signature_rejects_a_scalar() -> None:
    with pytest.raises(ValidationError, match="batch dimension"):
        infer_signature(3.0)


@pytest.mark.parametrize("signature", [TABLE, TENSOR, infer_signature(ROWS, np.zeros((2, 2)))])
def test_signature_round_trips_through_json(signature: Signature) -> None:
    assert Signature.from_dict(json.loads(json.dumps(signature.to_dict()))) == signature


_names = st.text(min_size=1, max_size=8)
_dtypes = st.sampled_from(["float64", "float32", "int64", "bool", "string", "datetime64[ns]"])
_schemas = st.one_of(
    st.lists(st.builds(ColumnSpec, _names, _dtypes), max_size=5).map(tuple),
    st.builds(TensorSpec, _dtypes, st.lists(st.integers(-1, 64), max_size=4).map(tuple)),
)


@given(inputs=_schemas, outputs=st.none() | _schemas)
def test_any_signature_round_trips_through_json(inputs: Any, outputs: Any) -> None:
    signature = Signature(inputs=inputs, outputs=outputs)
    assert Signature.from_dict(json.loads(json.dumps(signature.to_dict()))) == signature


@pytest.mark.parametrize("form", ["dataframe", "arrow", "dict-of-columns", "records"])
def test_coerce_input_accepts_every_tabular_form(form: str) -> None:
    frame = coerce_input(_forms()[form], TABLE)
    assert isinstance(frame, pd.DataFrame)
    assert infer_signature(frame) == TABLE
    assert frame["city"].tolist() == ["Oslo", "Rome"]


def test_coerce_input_reorders_and_drops_extra_columns() -> None:
    shuffled = [{"extra": "x", **dict(reversed(list(row.items())))} for row in ROWS]
    frame = coerce_input(shuffled, TABLE)
    assert list(frame.columns) == ["age", "income", "city", "member"]


def test_coerce_input_casts_to_the_signature_dtypes() -> None:
    data = {"age": ["31", "45"], "income": [5200, 4100], "city": [1, 2], "member": [1, 0]}
    frame = coerce_input(data, TABLE)
    assert infer_signature(frame) == TABLE
    assert frame["age"].tolist() == [31, 45]
    assert frame["city"].tolist() == ["1", "2"]


def test_coerce_input_accepts_a_single_record() -> None:
    frame = coerce_input(ROWS[0], TABLE)
    assert len(frame) == 1


def test_coerce_input_fills_columns_from_a_2d_array_in_order() -> None:
    signature = Signature(inputs=(ColumnSpec("a", "float64"), ColumnSpec("b", "int64")))
    frame = coerce_input(np.array([[1.5, 2.0]]), signature)
    assert frame["b"].tolist() == [2]


def test_coerce_input_names_the_missing_column() -> None:
    rows = [{key: value for key, value in row.items() if key != "income"} for row in ROWS]
    with pytest.raises(ValidationError, match=r"missing column.*'income'") as caught:
        coerce_input(rows, TABLE)
    assert caught.value.details["missing"] == ["income"]


@pytest.mark.parametrize(
    ("column", "value"),
    [("income", "lots"), ("age", 31.5), ("age", None), ("member", "maybe")],
)
def test_coerce_input_names_the_column_that_cannot_be_cast(column: str, value: Any) -> None:
    rows = [{**ROWS[0], column: value}]
    expected = {c.name: c.dtype for c in COLUMNS}[column]
    with pytest.raises(ValidationError, match=f"column '{column}'.* to {expected}") as caught:
        coerce_input(rows, TABLE)
    assert caught.value.details["column"] == column


def test_coerce_input_casts_a_tensor() -> None:
    array = coerce_input([[1, 2, 3], [4, 5, 6]], TENSOR)
    assert array.dtype == np.float32
    assert array.shape == (2, 3)


def test_coerce_input_adds_the_batch_dim_to_one_instance() -> None:
    assert coerce_input([1.0, 2.0, 3.0], TENSOR).shape == (1, 3)


def test_coerce_input_turns_a_frame_into_a_tensor() -> None:
    frame = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]})
    assert coerce_input(frame, TENSOR).tolist() == [[1.0, 2.0, 3.0]]


def test_coerce_input_names_the_bad_shape() -> None:
    with pytest.raises(ValidationError, match=r"shape \[2, 4\].*\[-1, 3\]") as caught:
        coerce_input(np.zeros((2, 4)), TENSOR)
    assert caught.value.details["field"] == "shape"


@pytest.mark.parametrize("value", ["abc", np.nan])
def test_coerce_input_names_the_bad_tensor_dtype(value: Any) -> None:
    signature = Signature(inputs=TensorSpec("int64", (-1, 1)))
    with pytest.raises(ValidationError, match=r"tensor cannot be cast .* to int64") as caught:
        coerce_input(np.array([[value]]), signature)
    assert caught.value.details["field"] == "dtype"


def test_coerce_input_rejects_a_float32_overflow() -> None:
    with pytest.raises(ValidationError, match="to float32"):
        coerce_input(np.array([[1e300, 0.0, 0.0]]), TENSOR)


def test_example_to_json_keeps_a_few_rows_with_nulls() -> None:
    frame = pd.DataFrame(
        {"x": [1.5, np.nan, 3.0], "when": pd.to_datetime(["2024-01-01", None, "2024-01-03"])}
    )
    stored = example_to_json(frame, max_rows=2)
    assert stored == {
        "columns": ["x", "when"],
        "data": [[1.5, "2024-01-01T00:00:00"], [None, None]],
    }
    json.dumps(stored, allow_nan=False)


def test_example_to_json_stores_a_tensor() -> None:
    stored = example_to_json(np.array([[1.0, np.inf], [np.nan, 2.0], [3.0, 4.0]]), max_rows=2)
    assert stored == {"tensor": [[1.0, None], [None, 2.0]]}


def test_example_to_json_writes_datetimes_as_iso_strings() -> None:
    when = np.array(["2024-01-01", "NaT"], dtype="datetime64[s]")
    assert example_to_json(when) == {"tensor": ["2024-01-01T00:00:00", None]}
