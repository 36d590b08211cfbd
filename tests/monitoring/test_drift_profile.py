"""Reference profiles: computed once, stored as bytes, and all a drift check needs."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from modelyard import Workspace
from modelyard.monitoring import (
    DriftMethod,
    DriftOptions,
    ReferenceProfile,
    build_profile,
    detect_drift,
    prediction_drift,
    profile_dataset,
)


def _tables(rows: int, seed: int = 5) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)

    def side(shift: float) -> pa.Table:
        return pa.table(
            {
                "amount": rng.lognormal(3 + shift, 0.8, rows),
                "age": rng.integers(18, 90, rows),
                "rating": rng.choice([1.0, 2.0, 3.0], rows),
                "country": rng.choice(["DE", "FR", "US", "GB"], rows),
                "card": rng.random(rows) < 0.5 + shift,
                "prediction": rng.random(rows) * (1 + shift),
            }
        )

    return side(0.0), side(0.2)


def _all_methods() -> list[DriftOptions]:
    every = [DriftOptions(method=m) for m in DriftMethod if not m.per_value]
    return [DriftOptions(), DriftOptions(evidently_compat=True), *every]


@pytest.mark.parametrize("rows", [800, 30_000])
def test_stored_profile_gives_the_results_of_the_raw_reference(rows: int) -> None:
    """Exact at 800 rows; at 30,000 the numbers are sketched, and loading the bytes back
    changes nothing: the check never needs the reference rows again."""
    reference, current = _tables(rows)
    profile = build_profile(reference, resolution=1024)
    loaded = ReferenceProfile.from_bytes(profile.to_bytes())
    assert loaded.to_dict() == profile.to_dict()
    for options in _all_methods():
        numeric = ["amount", "age", "prediction"] if options.method else None
        from_raw = detect_drift(reference, current, columns=numeric, options=options)
        from_stored = detect_drift(loaded, current, columns=numeric, options=options)
        from_memory = detect_drift(profile, current, columns=numeric, options=options)
        assert from_stored.to_dict() == from_memory.to_dict()
        if rows <= 1024:  # exact: the same as comparing with the raw rows
            assert from_stored.to_dict() == from_raw.to_dict()


def test_profile_keeps_what_the_methods_need() -> None:
    reference, _ = _tables(30_000)
    profile = build_profile(reference, resolution=1024)
    amount, age, country = (profile.column(n) for n in ("amount", "age", "country"))
    assert profile.rows == 30_000
    assert not amount.exact and amount.values.size == 1025
    assert amount.min == amount.values[0] and amount.max == amount.values[-1]
    assert amount.std == pytest.approx(float(np.std(reference["amount"].to_numpy())))
    assert age.exact and age.n_unique == 72 and int(age.counts.sum()) == 30_000
    assert list(country.values) == ["DE", "FR", "GB", "US"]
    assert country.n_unique == 4 and country.count == 30_000
    assert len(profile.to_bytes()) < 30_000


def test_profile_from_a_duckdb_relation_and_current_as_a_relation() -> None:
    reference, current = _tables(2_000)
    with duckdb.connect() as con:
        ref_rel, cur_rel = con.from_arrow(reference), con.from_arrow(current)
        profile = build_profile(ref_rel.filter("age > 0"), source="relation")
        from_relation = detect_drift(profile, cur_rel)
    assert profile.source == "relation"
    assert from_relation.to_dict() == detect_drift(build_profile(reference), current).to_dict() | {
        "source": "relation"
    }


def test_profile_of_a_dataset_version(sqlite_workspace: Workspace) -> None:
    reference, current = _tables(3_000)
    version = sqlite_workspace.datasets.write("transactions", reference)
    profile = profile_dataset(sqlite_workspace.datasets, "transactions", columns=["amount", "age"])
    assert profile.source == version.ref
    assert list(profile.columns) == ["amount", "age"]
    direct = build_profile(reference, columns=["amount", "age"], source=version.ref)
    assert profile.to_dict() == direct.to_dict()
    assert detect_drift(profile, current).drifted_columns == ("amount",)


def test_prediction_drift_uses_the_same_engine() -> None:
    reference, current = _tables(5_000)
    profile = build_profile(reference.select(["prediction"]))
    result = prediction_drift(profile, current)
    assert result.column == "prediction"
    assert result.method is DriftMethod.WASSERSTEIN
    assert result.drifted
    psi = prediction_drift(profile, current, method="psi", threshold=0.5)
    assert (psi.method, psi.threshold) == (DriftMethod.PSI, 0.5)


def test_nulls_nan_and_infinities_are_left_out_on_both_sides() -> None:
    values: list[Any] = [float(v) for v in range(100)]
    reference = pa.table({"x": [*values, None, float("nan"), float("inf")]})
    profile = build_profile(reference)
    column = profile.column("x")
    assert (column.count, column.nulls) == (100, 3)
    result = detect_drift(profile, {"x": [*values, None, float("-inf")]})
    assert result.columns[0].current_count == 100
    assert result.columns[0].score == pytest.approx(1.0)  # KS p-value of identical samples


def test_dictionary_and_large_string_columns_read_as_text() -> None:
    labels = ["a", "b", "c", "a"] * 50
    reference = pa.table({"x": pa.array(labels).dictionary_encode()})
    current = pa.table({"x": pa.array(labels, pa.large_string())})
    result = detect_drift(build_profile(reference), current)
    assert result.columns[0].method is DriftMethod.CHISQUARE
    assert result.columns[0].p_value == pytest.approx(1.0)
