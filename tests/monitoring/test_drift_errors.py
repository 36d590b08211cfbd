"""Bad input to drift raises a ValidationError that says what is wrong and what would do."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from modelyard.errors import ValidationError
from modelyard.monitoring import (
    DriftOptions,
    ReferenceProfile,
    build_profile,
    column_drift,
    detect_drift,
)

REFERENCE = pa.table(
    {
        "amount": np.linspace(0, 100, 2000),
        "country": ["DE", "FR"] * 1000,
        "when": pa.array(np.arange(2000), pa.timestamp("s")),
    }
)
PROFILE = build_profile(REFERENCE)
CURRENT = REFERENCE.slice(0, 500)


def _raises(match: str, call: Any, *args: Any, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError, match=match) as caught:
        call(*args, **kwargs)
    return caught.value


def test_unknown_column_names_the_known_ones() -> None:
    error = _raises(
        r"unknown column 'amont'; known columns: amount, country",
        detect_drift,
        PROFILE,
        CURRENT,
        columns=["amont"],
    )
    assert error.details == {"column": "amont", "known": ["amount", "country"]}
    _raises("unknown column 'amont'", build_profile, REFERENCE, columns=["amont"])
    _raises(
        "column 'when' is not in the profile: timestamp", column_drift, PROFILE, CURRENT, "when"
    )


def test_column_missing_from_the_current_window() -> None:
    _raises(
        r"'country' is not in the current data; its columns: amount",
        detect_drift,
        PROFILE,
        CURRENT.select(["amount"]),
    )


def test_unknown_method_lists_the_methods() -> None:
    error = _raises(
        r"unknown drift method 'kstest' for column 'amount'; use one of ks, chisquare, z, "
        r"wasserstein, jensenshannon, psi, kl_div",
        DriftOptions,
        methods={"amount": "kstest"},
    )
    assert "ks" in error.details["methods"]
    _raises("unknown drift method 'hellinger'", DriftOptions, method="hellinger")
    _raises("unknown drift options colums", DriftOptions.from_dict, {"colums": ["a"]})


def test_options_for_columns_not_compared() -> None:
    options = DriftOptions(thresholds={"amont": 0.2})
    _raises(
        "drift option for unknown column 'amont'", detect_drift, PROFILE, CURRENT, options=options
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"threshold": 0}, "threshold must be a positive number"),
        ({"thresholds": {"amount": "0.1"}}, "threshold for column 'amount' must be a positive"),
        ({"threshold": float("inf")}, "must be finite"),
        ({"drift_share": 1.5}, r"drift_share must be in \(0, 1\]"),
        ({"evidently_compat": "yes"}, "evidently_compat must be True or False"),
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    _raises(match, DriftOptions, **options)


def test_empty_current_window() -> None:
    _raises("the current window has no rows", detect_drift, PROFILE, CURRENT.slice(0, 0))
    empty = pa.table({"amount": pa.array([None, None], pa.float64()), "country": ["DE", "FR"]})
    _raises("column 'amount' has no values in the current window", detect_drift, PROFILE, empty)


def test_empty_reference() -> None:
    _raises("the reference has no rows", build_profile, REFERENCE.slice(0, 0))
    nulls = pa.table({"x": pa.array([None] * 3, pa.float64()), "y": [1.5, 2.5, 3.5]})
    assert build_profile(nulls).skipped == {"x": "no values (all null or not finite)"}
    _raises("column 'x' cannot be compared: no values", build_profile, nulls, columns=["x"])


def test_type_mismatch_between_reference_and_current() -> None:
    swapped = pa.table({"amount": ["1.5"] * 10, "country": ["DE"] * 10})
    error = _raises(
        "column 'amount' is double in the reference but string in the current",
        detect_drift,
        PROFILE,
        swapped,
    )
    assert error.details == {"column": "amount", "reference": "double", "current": "string"}
    numbers = pa.table({"amount": [1.0] * 10, "country": [1, 2] * 5})
    _raises("'country' is string in the reference but int64", detect_drift, PROFILE, numbers)


def test_method_that_cannot_compare_the_column() -> None:
    _raises(
        "drift method 'ks' compares numbers; column 'country' is categorical",
        column_drift,
        PROFILE,
        CURRENT,
        "country",
        method="ks",
    )
    sketched = build_profile({"x": np.linspace(0, 1, 5000)}, resolution=100)
    _raises(
        "'chisquare' needs counts per value; column 'x' has 5000 distinct values",
        column_drift,
        sketched,
        {"x": [0.5] * 10},
        "x",
        method="chisquare",
    )
    _raises(
        "column 'country' is string; numeric drift needs numbers",
        build_profile,
        REFERENCE,
        kinds={"country": "numeric"},
    )
    _raises("unknown column kind 'ordinal'", build_profile, REFERENCE, kinds={"amount": "ordinal"})


def test_bad_data_and_bad_bytes() -> None:
    _raises(
        "must be a pyarrow Table or RecordBatch, a DuckDB relation",
        detect_drift,
        PROFILE,
        [1, 2, 3],
    )
    _raises("cannot read the columns as a table", detect_drift, PROFILE, {"amount": [1, "x"]})
    _raises("not a stored drift profile", ReferenceProfile.from_bytes, b"not arrow")
    _raises("resolution must be an integer of at least 2", build_profile, REFERENCE, resolution=1)
