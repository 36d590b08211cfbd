from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from modelyard.data._drift import column_kind, drift
from modelyard.errors import ValidationError


def normal(seed: int, size: int, loc: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, 1.0, size)


def categories(seed: int, size: int, p: list[float]) -> list[str]:
    return list(np.random.default_rng(seed).choice(["a", "b", "c", "d"], size=size, p=p))


def test_small_numeric_samples_use_ks_and_detect_a_shift() -> None:
    result = drift(normal(1, 500), normal(2, 500, loc=0.5))
    assert result.method == "ks"
    assert result.threshold == 0.05
    assert result.p_value is not None and result.p_value < 0.05
    assert result.drifted


def test_small_numeric_samples_from_one_distribution_do_not_drift() -> None:
    result = drift(normal(1, 500), normal(2, 500))
    assert result.method == "ks"
    assert not result.drifted


def test_ks_statistic_is_scipys() -> None:
    ref, cur = normal(1, 300), normal(2, 300, loc=0.2)
    expected = stats.ks_2samp(ref, cur)
    result = drift(ref, cur)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_large_numeric_samples_use_normed_wasserstein_and_detect_a_shift() -> None:
    result = drift(normal(1, 5000), normal(2, 5000, loc=0.5))
    assert result.method == "wasserstein"
    assert result.p_value is None
    assert result.statistic == pytest.approx(0.5, abs=0.1)
    assert result.drifted


def test_large_numeric_samples_from_one_distribution_do_not_drift() -> None:
    result = drift(normal(1, 5000), normal(2, 5000))
    assert result.method == "wasserstein"
    assert result.statistic < 0.1
    assert not result.drifted


def test_small_categorical_samples_use_chisquare() -> None:
    same = drift(categories(1, 800, [0.25] * 4), categories(2, 800, [0.25] * 4))
    shifted = drift(categories(1, 800, [0.25] * 4), categories(2, 800, [0.1, 0.2, 0.3, 0.4]))
    assert same.method == shifted.method == "chisquare"
    assert not same.drifted
    assert shifted.drifted


def test_large_categorical_samples_use_jensenshannon() -> None:
    same = drift(categories(1, 5000, [0.25] * 4), categories(2, 5000, [0.25] * 4))
    shifted = drift(categories(1, 5000, [0.25] * 4), categories(2, 5000, [0.1, 0.2, 0.3, 0.4]))
    assert same.method == shifted.method == "jensenshannon"
    assert same.statistic < 0.1 <= shifted.statistic
    assert not same.drifted and shifted.drifted


def test_numbers_with_few_values_are_compared_as_categories() -> None:
    ref = np.random.default_rng(1).integers(0, 3, 500)
    assert drift(ref, ref).method == "chisquare"
    assert drift(np.tile(ref, 4), np.tile(ref, 4)).method == "jensenshannon"


def test_a_category_only_the_current_sample_has_is_drift() -> None:
    result = drift(["a"] * 300 + ["b"] * 300, ["a"] * 300 + ["b"] * 200 + ["new"] * 100)
    assert result.method == "chisquare"
    assert result.drifted


def test_one_category_on_both_sides_does_not_drift() -> None:
    result = drift(["a"] * 10, ["a"] * 20)
    assert result.p_value == 1.0
    assert not result.drifted


def test_nulls_and_nan_are_dropped() -> None:
    result = drift(pa.array([1.0, None, 2.0, 3.0] * 20), np.array([1.0, math.nan, 2.0, 3.0] * 20))
    assert result.details["reference_count"] == 60
    assert result.details["current_count"] == 60
    assert not result.drifted


def test_an_empty_sample_is_not_drift() -> None:
    result = drift([None, None], [1.0, 2.0], kind="numeric")
    assert not result.drifted
    assert math.isnan(result.statistic)
    assert result.to_dict()["statistic"] is None


def test_psi_can_be_asked_for() -> None:
    same = drift(normal(1, 2000), normal(2, 2000), method="psi")
    shifted = drift(normal(1, 2000), normal(2, 2000, loc=1.0), method="psi")
    assert same.method == "psi" and same.threshold == 0.1
    assert not same.drifted and shifted.drifted


def test_jensenshannon_bins_numbers() -> None:
    result = drift(normal(1, 2000), normal(2, 2000, loc=1.0), method="jensenshannon")
    assert result.drifted


def test_threshold_overrides_the_default() -> None:
    ref, cur = normal(1, 5000), normal(2, 5000, loc=0.15)
    assert drift(ref, cur).drifted
    assert not drift(ref, cur, threshold=0.5).drifted


def test_kind_is_inferred_from_values() -> None:
    assert drift([1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 8]).details["kind"] == "numeric"
    assert drift(["x", "y"], ["x", "y"]).details["kind"] == "categorical"
    assert drift([True, False], [True, True]).details["kind"] == "categorical"


def test_numeric_method_on_categories_is_rejected() -> None:
    with pytest.raises(ValidationError, match="needs numeric"):
        drift(["a", "b"], ["a", "b"], method="wasserstein")


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown drift method"):
        drift([1.0], [1.0], method="energy")


def test_result_to_dict_is_json_safe() -> None:
    data = drift(normal(1, 100), normal(2, 100)).to_dict()
    assert set(data) == {"method", "statistic", "threshold", "drifted", "p_value", "details"}
    assert isinstance(data["statistic"], float)


@pytest.mark.parametrize(
    ("duckdb_type", "distinct", "kind"),
    [
        ("BIGINT", None, "numeric"),
        ("DOUBLE", 3, "numeric"),
        ("DECIMAL(10,2)", None, "numeric"),
        ("BOOLEAN", None, "categorical"),
        ("VARCHAR", 20, "categorical"),
        ("VARCHAR", 50_000, "unsupported"),
        ("TIMESTAMP", None, "unsupported"),
        ("DATE", None, "unsupported"),
        ("VARCHAR[]", None, "unsupported"),
        ("STRUCT(a INTEGER)", None, "unsupported"),
    ],
)
def test_column_kind(duckdb_type: str, distinct: int | None, kind: str) -> None:
    assert column_kind(duckdb_type, distinct) == kind
