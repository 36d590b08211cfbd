"""Each drift method against scipy on the raw values, and Evidently's default choice."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import spatial, special, stats

from modelyard.monitoring import (
    ColumnKind,
    DriftMethod,
    DriftOptions,
    build_profile,
    column_drift,
    default_method,
    detect_drift,
)

RNG = np.random.default_rng(11)
REF = RNG.normal(0.0, 1.0, 400)
CUR = RNG.normal(0.3, 1.2, 300)
REF_CATS = RNG.choice(["a", "b", "c", "d"], size=400, p=[0.4, 0.3, 0.2, 0.1])
CUR_CATS = RNG.choice(["a", "b", "c", "d", "e"], size=300, p=[0.3, 0.3, 0.2, 0.1, 0.1])


def _one(ref: Any, cur: Any, method: str, **kwargs: Any) -> Any:
    profile = build_profile({"x": ref})
    return column_drift(profile, {"x": cur}, "x", method=method, **kwargs)


def _counts(ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    keys = np.union1d(ref, cur)
    return (
        np.array([(ref == k).sum() for k in keys], dtype=float),
        np.array([(cur == k).sum() for k in keys], dtype=float),
    )


def test_ks_is_scipys_two_sample_test() -> None:
    result = _one(REF, CUR, "ks")
    expected = stats.ks_2samp(REF, CUR)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.score == result.p_value
    assert result.drifted == (expected.pvalue <= 0.05)


def test_ks_above_ten_thousand_values_is_scipys_asymptotic_test() -> None:
    ref, cur = RNG.normal(size=3_000), RNG.normal(0.05, 1, 20_000)
    result = _one(ref, cur, "ks")
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_wasserstein_is_scipys_distance_over_the_reference_std() -> None:
    result = _one(REF, CUR, "wasserstein")
    expected = stats.wasserstein_distance(REF, CUR) / np.std(REF)
    assert result.score == pytest.approx(expected, rel=1e-12)
    assert result.p_value is None
    assert result.distance == result.score


def test_wasserstein_with_ties_and_unequal_sizes() -> None:
    ref = RNG.integers(0, 40, 700).astype(float)
    cur = RNG.integers(3, 45, 333).astype(float)
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert _one(ref, cur, "wasserstein").score == pytest.approx(expected, rel=1e-12)


def test_sketched_reference_stays_close_to_the_exact_statistics() -> None:
    """50,000 distinct reference values are kept as 512 quantile intervals."""
    ref, cur = RNG.lognormal(1, 0.7, 50_000), RNG.lognormal(1.05, 0.7, 20_000)
    profile = build_profile({"x": ref}, resolution=512)
    assert not profile.column("x").exact
    wass = column_drift(profile, {"x": cur}, "x", method="wasserstein")
    assert wass.score == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref), abs=2e-3)
    ks = column_drift(profile, {"x": cur}, "x", method="ks")
    assert ks.statistic == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=3e-3)
    psi = column_drift(profile, {"x": cur}, "x", method="psi")
    exact_profile = build_profile({"x": ref}, resolution=60_000)
    exact = column_drift(exact_profile, {"x": cur}, "x", method="psi")
    assert psi.score == pytest.approx(exact.score, abs=2e-3)


@pytest.mark.parametrize("compat", [False, True])
def test_chisquare_contingency_by_default_goodness_of_fit_when_compatible(compat: bool) -> None:
    ref_n, cur_n = _counts(REF_CATS, CUR_CATS)
    if compat:
        with np.errstate(divide="ignore"):  # "e" is new: expected 0, p = 0
            expected = stats.chisquare(cur_n, ref_n * cur_n.sum() / ref_n.sum())
    else:
        expected = stats.chi2_contingency(np.vstack([ref_n, cur_n]), correction=False)
    profile = build_profile({"x": REF_CATS})
    result = column_drift(
        profile, {"x": CUR_CATS}, "x", method="chisquare", evidently_compat=compat
    )
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)


def test_z_test_is_the_two_proportion_test() -> None:
    ref, cur = RNG.random(500) < 0.3, RNG.random(400) < 0.38
    result = _one(ref, cur, "z")
    table = np.array([[(~ref).sum(), ref.sum()], [(~cur).sum(), cur.sum()]])
    expected = stats.chi2_contingency(table, correction=False)  # the same test, squared
    assert result.statistic**2 == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_jensenshannon_psi_and_kl_on_categories() -> None:
    ref_n, cur_n = _counts(REF_CATS, CUR_CATS)
    ref_p, cur_p = ref_n / ref_n.sum(), cur_n / cur_n.sum()
    filled = np.where(ref_p == 0, 0.0001, ref_p)  # Evidently's fill for an empty bucket
    js = _one(REF_CATS, CUR_CATS, "jensenshannon").score
    assert js == pytest.approx(spatial.distance.jensenshannon(ref_p, cur_p), rel=1e-12)
    psi = _one(REF_CATS, CUR_CATS, "psi").score
    assert psi == pytest.approx(np.sum((filled - cur_p) * np.log(filled / cur_p)), rel=1e-12)
    kl = _one(REF_CATS, CUR_CATS, "kl_div").score
    assert kl == pytest.approx(stats.entropy(filled, cur_p), rel=1e-12)
    assert kl == pytest.approx(np.sum(special.rel_entr(filled / filled.sum(), cur_p)), rel=1e-12)


def test_binned_methods_use_sturges_bins_over_both_samples() -> None:
    edges = np.histogram_bin_edges(np.concatenate([REF, CUR]), bins="sturges")
    ref_p = np.histogram(REF, edges)[0] / REF.size
    cur_p = np.histogram(CUR, edges)[0] / CUR.size
    result = _one(REF, CUR, "jensenshannon")
    assert result.score == pytest.approx(spatial.distance.jensenshannon(ref_p, cur_p), rel=1e-12)
    assert result.histogram.edges == pytest.approx(tuple(edges))
    assert sum(result.histogram.reference) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kind", "rows", "values", "method"),
    [
        (ColumnKind.NUMERIC, 1000, 6, DriftMethod.KS),
        (ColumnKind.NUMERIC, 1000, 5, DriftMethod.CHISQUARE),
        (ColumnKind.NUMERIC, 1000, 3, DriftMethod.CHISQUARE),
        (ColumnKind.NUMERIC, 1000, 2, DriftMethod.Z),
        (ColumnKind.CATEGORICAL, 1000, 40, DriftMethod.CHISQUARE),
        (ColumnKind.CATEGORICAL, 1000, 2, DriftMethod.Z),
        (ColumnKind.CATEGORICAL, 1000, 1, DriftMethod.Z),
        (ColumnKind.NUMERIC, 1001, 6, DriftMethod.WASSERSTEIN),
        (ColumnKind.NUMERIC, 1001, 5, DriftMethod.JENSENSHANNON),
        (ColumnKind.NUMERIC, 1001, 2, DriftMethod.JENSENSHANNON),
        (ColumnKind.CATEGORICAL, 1001, 2, DriftMethod.JENSENSHANNON),
        (ColumnKind.CATEGORICAL, 5000, 300, DriftMethod.JENSENSHANNON),
    ],
)
def test_default_method_is_evidentlys(
    kind: ColumnKind, rows: int, values: int, method: DriftMethod
) -> None:
    assert default_method(kind, rows, values) is method


def test_values_are_counted_on_both_sides_and_nulls_left_out() -> None:
    """Five values in the reference and a sixth in the current: KS, not chi-square."""
    ref = pa.array([1.0, 2.0, 3.0, 4.0, 5.0, None, float("nan")] * 50)
    assert _auto(ref, pa.array([1.0, 2.0, 3.0, 4.0, 5.0] * 20)) is DriftMethod.CHISQUARE
    assert _auto(ref, pa.array([1.0, 2.0, 3.0, 4.0, 6.0] * 20)) is DriftMethod.KS
    assert build_profile({"x": ref}).column("x").count == 250  # 1000 non-null rows: tests


def _auto(ref: Any, cur: Any) -> DriftMethod:
    return column_drift(build_profile({"x": ref}), {"x": cur}, "x").method


def test_kinds_follow_evidentlys_inference() -> None:
    profile = build_profile(
        {
            "few_ints": np.arange(300) % 10,
            "many_ints": np.arange(300) % 11,
            "floats": np.arange(300) % 3 / 2,
            "flags": np.arange(300) % 2 == 0,
            "city": np.array(["a", "b", "c"] * 100),
            "free_text": np.array([f"note {i % 200}" for i in range(300)]),
            "when": pa.array(np.arange(300), pa.timestamp("s")),
        }
    )
    kinds = {name: c.kind for name, c in profile.columns.items()}
    assert kinds == {
        "few_ints": ColumnKind.CATEGORICAL,
        "many_ints": ColumnKind.NUMERIC,
        "floats": ColumnKind.NUMERIC,
        "flags": ColumnKind.CATEGORICAL,
        "city": ColumnKind.CATEGORICAL,
    }
    assert profile.skipped["free_text"].startswith("free text (200 distinct values")
    assert profile.skipped["when"] == "timestamp[s] columns are not compared"


def test_per_column_methods_and_thresholds_and_the_dataset_share() -> None:
    reference = {"a": REF, "b": REF[::-1].copy(), "c": REF_CATS}
    current = {"a": CUR, "b": REF[:300], "c": CUR_CATS}
    options = DriftOptions(
        method="psi",
        methods={"c": DriftMethod.CHISQUARE},
        thresholds={"a": 5.0},
        drift_share=0.3,
    )
    result = detect_drift(reference, current, options=options)
    by_name = {c.column: c for c in result.columns}
    assert [by_name[n].method.value for n in "abc"] == ["psi", "psi", "chisquare"]
    assert by_name["a"].threshold == 5.0 and not by_name["a"].drifted
    assert by_name["b"].threshold == 0.1 and not by_name["b"].drifted
    assert by_name["c"].drifted
    assert result.share == pytest.approx(1 / 3)
    assert result.drifted  # 1/3 >= 0.3
    assert not detect_drift(reference, current, options=DriftOptions(drift_share=0.9)).drifted


def test_results_serialize_to_plain_json() -> None:
    result = detect_drift({"x": REF, "c": REF_CATS}, {"x": CUR, "c": CUR_CATS})
    as_dict = result.to_dict()
    assert as_dict["columns"]["x"]["method"] == "ks"
    assert len(as_dict["columns"]["x"]["histogram"]["edges"]) == 21
    assert as_dict["columns"]["c"]["histogram"]["labels"] == ["a", "b", "c", "d", "e"]
    assert math.isclose(sum(as_dict["columns"]["c"]["histogram"]["current"]), 1.0)
    assert result.column("c").kind is ColumnKind.CATEGORICAL
