"""Diffs between real dataset versions: schema, rows, column statistics and drift hints."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from modelyard import Workspace
from modelyard.data._diff import DriftLevel, diff, drift_hint


def _table(n: int, *, loc: float = 0.0, seed: int = 0, share_us: float = 0.5) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": pa.array(np.arange(n), pa.int64()),
            "amount": rng.normal(loc, 1.0, n),
            "country": np.where(rng.random(n) < share_us, "us", "gb"),
        }
    )


def test_schema_changes_name_added_removed_and_retyped_columns(data_ws: Workspace) -> None:
    a = data_ws.datasets.write("d", pa.table({"id": [1, 2], "note": ["x", "y"], "v": [1.0, 2.0]}))
    b = data_ws.datasets.write("d", pa.table({"id": ["1", "2"], "v": [1.0, 2.0], "ch": [1, 2]}))

    change = diff(a, b)

    assert change.added == (("ch", "BIGINT"),)
    assert change.removed == (("note", "VARCHAR"),)
    assert change.type_changes == (("id", "BIGINT", "VARCHAR"),)
    assert [c.name for c in change.columns] == ["id", "v"]
    assert not change.appended


def test_an_append_reports_rows_and_relative_stat_changes(data_ws: Workspace) -> None:
    first = pa.table({"x": [1.0, 2.0, 3.0, None]})
    a = data_ws.datasets.write("d", first)
    b = data_ws.datasets.write("d", pa.table({"x": [10.0, None]}), append=True)

    change = diff(a, b)

    assert change.appended and change.shared_parts == 1
    assert (change.rows.a, change.rows.b, change.rows.change) == (4, 6, 2.0)
    assert change.rows.relative == pytest.approx(0.5)
    x = change.columns[0]
    assert (x.stats["nulls"].a, x.stats["nulls"].b) == (1, 2)
    assert x.stats["max"].change == pytest.approx(7.0)
    assert x.stats["mean"].relative == pytest.approx((4.0 - 2.0) / 2.0)
    assert x.changed and not x.stats["min"].changed


def test_the_same_content_is_identical_without_changes(data_ws: Workspace) -> None:
    a = data_ws.datasets.write("d", _table(500))

    change = diff(a, data_ws.datasets.get("d@latest"))

    assert change.identical
    assert not any(c.changed for c in change.columns)
    assert all(c.drift is not None and c.drift.psi == pytest.approx(0.0) for c in change.columns)


def test_a_shifted_numeric_distribution_is_a_major_drift(data_ws: Workspace) -> None:
    a = data_ws.datasets.write("d", _table(3000, seed=1))
    b = data_ws.datasets.write("d", _table(3000, loc=2.0, seed=2))

    amount = {c.name: c for c in diff(a, b).columns}["amount"]

    assert amount.drift is not None
    assert amount.drift.level is DriftLevel.MAJOR
    assert amount.drift.shifted and amount.drift.psi > 1.0


def test_a_fresh_sample_of_the_same_distribution_is_stable(data_ws: Workspace) -> None:
    a = data_ws.datasets.write("d", _table(5000, seed=1))
    b = data_ws.datasets.write("d", _table(5000, seed=2))

    columns = {c.name: c for c in diff(a, b).columns}

    for name in ("amount", "country"):
        hint = columns[name].drift
        assert hint is not None and hint.level is DriftLevel.STABLE, (name, hint)


def test_value_counts_drift_when_category_shares_move(data_ws: Workspace) -> None:
    a = data_ws.datasets.write("d", _table(2000, seed=1, share_us=0.5))
    b = data_ws.datasets.write("d", _table(2000, seed=2, share_us=0.9))

    country = {c.name: c for c in diff(a, b).columns}["country"]

    assert country.drift is not None and country.drift.shifted
    assert country.drift.buckets == 2


def test_bins_over_different_ranges_are_aligned_on_one_grid() -> None:
    # the same uniform data, binned over [0, 10] once and over [0, 20] (half empty) once
    a = {"edges": list(np.linspace(0, 10, 11)), "counts": [10] * 10}
    b = {"edges": list(np.linspace(0, 20, 11)), "counts": [20] * 5 + [0] * 5}
    shifted = {"edges": list(np.linspace(10, 20, 11)), "counts": [10] * 10}

    same, moved = drift_hint(a, b), drift_hint(a, shifted)

    assert same is not None and same.psi == pytest.approx(0.0, abs=1e-9)
    assert moved is not None and moved.level is DriftLevel.MAJOR


def test_numeric_value_counts_compare_with_bins_but_text_does_not() -> None:
    bins = {"edges": [0.0, 1.0, 2.0], "counts": [5, 5]}

    assert drift_hint({"values": [0.5, 1.5], "counts": [5, 5]}, bins) is not None
    assert drift_hint({"values": ["a", "b"], "counts": [5, 5]}, bins) is None


def test_to_dict_is_strict_json(data_ws: Workspace) -> None:
    a = data_ws.datasets.write("d", _table(100, seed=1))
    b = data_ws.datasets.write("d", _table(50, loc=1.0, seed=2), append=True)

    data = json.loads(json.dumps(diff(a, b).to_dict(), allow_nan=False))

    assert data["rows"] == {"a": 100, "b": 150, "change": 50.0, "relative": 0.5, "changed": True}
    amount = next(c for c in data["columns"] if c["name"] == "amount")
    assert set(amount["stats"]) == {"count", "nulls", "distinct", "min", "max", "mean"}
    assert amount["drift"]["level"] in {"stable", "moderate", "major"}
    assert data["schema"] == {"added": [], "removed": [], "type_changes": []}
