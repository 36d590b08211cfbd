"""The statistics of each drift method, between a reference profile and current values.

The current side is always exact: a column's finite values, sorted once (numbers), or its
counts per value (categories). The reference side is whatever its profile holds: exact
values with counts, or a quantile sketch (see :mod:`modelyard.monitoring._profile`). With
an exact reference every method gives what it gives on the raw rows; scipy computes the
statistics (``ks_2samp``, ``kstwo``, ``chi2_contingency``, ``chisquare``, ``norm``,
``jensenshannon``, ``rel_entr``, ``entropy``). Two are computed here because scipy's
would need the reference rows or be slow on millions of values, and are checked against
scipy in the tests:

- Wasserstein-1 as the integral of ``|Q_ref(u) - Q_cur(u)|`` over the quantile levels,
  exactly on the merged steps of both quantile functions (the sketch's is linear
  between its quantiles);
- the KS statistic for large samples as the largest gap between the two CDFs at every
  jump of either, with scipy's asymptotic p-value (what ``ks_2samp`` does above 10,000
  values a side).

Chi-square: the default is the test of homogeneity of the 2 x k table of reference and
current counts (``chi2_contingency``), which treats both as samples. Evidently's
(``compat=True``) is a goodness-of-fit test against the reference shares as if they were
the true probabilities (``chisquare(current, reference * n_cur / n_ref)``); with equal
sample sizes its statistic is about twice the homogeneity one, so it flags far more than
5% of unchanged columns, and a category the reference lacks gives p = 0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from modelyard.monitoring._methods import DriftMethod
from modelyard.monitoring._profile import ColumnProfile, sketch_levels
from modelyard.monitoring._results import Histogram

__all__ = ["BIN_ABOVE", "Counts", "CurrentNumbers", "Outcome", "compare"]

BIN_ABOVE = 20  # numbers with more distinct reference values are binned (Sturges) for JS/PSI/KL
KS_EXACT_MAX = 10_000  # ks_2samp's exact p-values go up to this many values a side
CHART_BINS = 20
CHART_CATEGORIES = 30
OTHER = "(other)"


@dataclass(frozen=True, slots=True)
class Outcome:
    score: float
    statistic: float | None
    p_value: float | None
    histogram: Histogram


class CurrentNumbers:
    """One numeric column of the current window: its finite values, sorted."""

    def __init__(self, values: np.ndarray[Any, Any]) -> None:
        self.values = values
        self.n = int(values.size)

    @cached_property
    def distinct(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        v = self.values
        starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1])))
        return v[starts], np.diff(np.append(starts, v.size))

    def histogram(self, edges: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Counts over ``edges`` as ``np.histogram`` gives them (the last bin closed), read
        off the sorted values."""
        ends = np.searchsorted(self.values, edges, side="left")
        ends[-1] = np.searchsorted(self.values, edges[-1], side="right")
        return np.diff(ends).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Counts:
    """Counts per value, the values sorted (labels, or numbers for few-valued numbers)."""

    labels: np.ndarray[Any, Any]
    counts: np.ndarray[Any, Any]
    numeric_order: bool = False  # labels are integers as text: order them as numbers

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def compare(
    method: DriftMethod, ref: ColumnProfile, current: CurrentNumbers | Counts, *, compat: bool
) -> Outcome:
    """``method``'s score between ``ref`` and ``current`` (the caller checked they fit)."""
    if isinstance(current, Counts):
        assert ref.counts is not None
        ref_counts = Counts(ref.values, ref.counts, current.numeric_order)
        return _on_counts(method, ref_counts, current, compat=compat)
    if method is DriftMethod.KS:
        return _ks(ref, current)
    if method is DriftMethod.WASSERSTEIN:
        return _wasserstein(ref, current)
    if ref.counts is not None and (method.per_value or ref.n_unique <= BIN_ABOVE):
        values, counts = current.distinct
        return _on_counts(
            method, Counts(ref.values, ref.counts), Counts(values, counts), compat=compat
        )
    return _binned(method, ref, current)


# -- numbers -----------------------------------------------------------------------------


def _levels(ref: ColumnProfile) -> np.ndarray[Any, Any]:
    return sketch_levels(ref.values.size)


def ref_cdf(ref: ColumnProfile, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The reference's CDF at ``x`` (right-continuous)."""
    if ref.counts is None:
        return np.asarray(np.interp(x, ref.values, _levels(ref)))
    cum = np.concatenate(([0], np.cumsum(ref.counts)))
    return np.asarray(cum[np.searchsorted(ref.values, x, side="right")] / ref.count)


def _ref_histogram(ref: ColumnProfile, edges: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Reference counts over ``edges`` (which hold all its values)."""
    if ref.counts is not None:
        counts = np.histogram(ref.values, bins=edges, weights=ref.counts)[0]
        return np.asarray(counts, dtype=np.float64)
    cdf = ref_cdf(ref, edges)
    cdf[0], cdf[-1] = 0.0, 1.0
    return np.diff(cdf) * ref.count


def _range(ref: ColumnProfile, cur: CurrentNumbers) -> tuple[float, float]:
    return min(ref.min, float(cur.values[0])), max(ref.max, float(cur.values[-1]))


def _chart(ref: ColumnProfile, cur: CurrentNumbers) -> Histogram:
    lo, hi = _range(ref, cur)
    return _bins_histogram(ref, cur, CHART_BINS, lo, hi)[2]


def _bins_histogram(
    ref: ColumnProfile, cur: CurrentNumbers, bins: int, lo: float, hi: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], Histogram]:
    edges = np.histogram_bin_edges([lo, hi], bins=bins, range=(lo, hi))
    ref_share = _ref_histogram(ref, edges) / ref.count
    cur_share = cur.histogram(edges) / cur.n
    shown = Histogram(tuple(ref_share.tolist()), tuple(cur_share.tolist()), tuple(edges.tolist()))
    return ref_share, cur_share, shown


def _ks(ref: ColumnProfile, cur: CurrentNumbers) -> Outcome:
    from scipy import stats  # type: ignore[import-untyped]

    if ref.counts is not None and max(ref.count, cur.n) <= KS_EXACT_MAX:
        with warnings.catch_warnings():  # scipy falls back to the asymptotic p-value
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
            found = stats.ks_2samp(np.repeat(ref.values, ref.counts), cur.values)
        d, p = float(found.statistic), float(found.pvalue)
    else:
        values, counts = cur.distinct
        cum = np.cumsum(counts)
        at_current = ref_cdf(ref, values)
        gaps = [np.abs(at_current - cum / cur.n)]
        if ref.counts is None:  # a continuous reference CDF also meets the current's left limits
            gaps.append(np.abs(at_current - (cum - counts) / cur.n))
        at_ref = np.searchsorted(cur.values, ref.values, side="right") / cur.n
        gaps.append(np.abs(ref_cdf(ref, ref.values) - at_ref))
        d = float(max(g.max() for g in gaps))
        m, n = sorted([float(ref.count), float(cur.n)], reverse=True)
        p = float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0.0, 1.0))
    return Outcome(p, d, p, _chart(ref, cur))


def _wasserstein(ref: ColumnProfile, cur: CurrentNumbers) -> Outcome:
    """W1 / max(std_ref, 0.001), as the integral over quantile levels of the gap between
    the two quantile functions, on the merged steps of both."""
    values, counts = cur.distinct
    cur_breaks = np.cumsum(counts)[:-1] / cur.n
    if ref.counts is not None:
        ref_breaks = np.cumsum(ref.counts)[:-1] / ref.count
    else:
        ref_breaks = _levels(ref)[1:-1]
    merged = np.insert(cur_breaks, np.searchsorted(cur_breaks, ref_breaks), ref_breaks)
    u = np.concatenate(([0.0], merged, [1.0]))
    widths = np.diff(u)
    mids = u[:-1] + widths / 2
    below_ref = np.searchsorted(ref_breaks, mids)
    q_cur = values[np.arange(mids.size) - below_ref]
    if ref.counts is not None:
        q_ref = ref.values[below_ref]
    else:
        q_ref = np.interp(mids, _levels(ref), ref.values)
    distance = float(np.dot(np.abs(q_ref - q_cur), widths)) / max(ref.std, 0.001)
    return Outcome(distance, None, None, _chart(ref, cur))


def _binned(method: DriftMethod, ref: ColumnProfile, cur: CurrentNumbers) -> Outcome:
    """JS/PSI/KL over Sturges' equal bins of the reference and current values together
    (Evidently's binning for numbers with more than 20 distinct values)."""
    lo, hi = _range(ref, cur)
    total = ref.count + cur.n
    width = (hi - lo) / (np.log2(total) + 1.0)
    bins = int(np.ceil((hi - lo) / width)) if width > 0 else 1
    ref_share, cur_share, shown = _bins_histogram(ref, cur, bins, lo, hi)
    return Outcome(_distance(method, ref_share, cur_share), None, None, shown)


# -- counts ------------------------------------------------------------------------------


def _on_counts(method: DriftMethod, ref: Counts, cur: Counts, *, compat: bool) -> Outcome:
    labels = np.union1d(ref.labels, cur.labels)
    ref_n = np.zeros(labels.size)
    cur_n = np.zeros(labels.size)
    ref_n[np.searchsorted(labels, ref.labels)] = ref.counts
    cur_n[np.searchsorted(labels, cur.labels)] = cur.counts
    shown = _labels_histogram(labels, ref_n / ref_n.sum(), cur_n / cur_n.sum())
    if method is DriftMethod.CHISQUARE:
        stat, p = _chisquare(ref_n, cur_n, compat=compat)
        return Outcome(p, stat, p, shown)
    if method is DriftMethod.Z:
        first = int(np.argmin(labels.astype(np.float64))) if cur.numeric_order else 0
        stat, p = _z(ref_n, cur_n, first)
        return Outcome(p, stat, p, shown)
    distance = _distance(method, ref_n / ref_n.sum(), cur_n / cur_n.sum())
    return Outcome(distance, None, None, shown)


def _chisquare(
    ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any], *, compat: bool
) -> tuple[float, float]:
    from scipy import stats

    if ref.size < 2:  # one value on both sides: nothing can differ
        return 0.0, 1.0
    if compat:
        expected = ref * (cur.sum() / ref.sum())
        with np.errstate(divide="ignore", invalid="ignore"):  # a value new in current: p = 0
            found = stats.chisquare(cur, expected)
        return float(found.statistic), float(found.pvalue)
    found = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    return float(found.statistic), float(found.pvalue)


def _z(ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any], first: int) -> tuple[float, float]:
    """Two-proportion Z-test of the share of values other than ``labels[first]``."""
    from scipy import stats

    if ref.size < 2:
        return 0.0, 1.0
    n1, n2 = ref.sum(), cur.sum()
    p1, p2 = 1 - ref[first] / n1, 1 - cur[first] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(z), float(2 * stats.norm.sf(abs(z)))


def _distance(method: DriftMethod, ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any]) -> float:
    from scipy import special, stats
    from scipy.spatial import distance  # type: ignore[import-untyped]

    if method is DriftMethod.JENSENSHANNON:
        return float(distance.jensenshannon(ref, cur))
    ref, cur = _fill_zeros(ref), _fill_zeros(cur)
    if method is DriftMethod.KL_DIV:
        return float(stats.entropy(ref, cur))
    return float(np.sum(special.rel_entr(ref, cur) + special.rel_entr(cur, ref)))  # PSI


def _fill_zeros(shares: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Empty buckets get a small share, as Evidently fills them for PSI and KL."""
    if not (shares == 0).any():
        return shares
    smallest = float(shares[shares > 0].min())
    return np.where(shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001, shares)


def _labels_histogram(
    labels: np.ndarray[Any, Any], ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any]
) -> Histogram:
    """Shares per value; beyond the 30 largest the rest are summed as ``(other)``."""
    shown = [_label(v) for v in labels.tolist()]
    if labels.size > CHART_CATEGORIES:
        top = np.sort(np.argsort(-np.maximum(ref, cur), kind="stable")[:CHART_CATEGORIES])
        rest = np.ones(labels.size, dtype=bool)
        rest[top] = False
        shown = [shown[i] for i in top.tolist()] + [OTHER]
        ref = np.append(ref[top], ref[rest].sum())
        cur = np.append(cur[top], cur[rest].sum())
    return Histogram(tuple(ref.tolist()), tuple(cur.tolist()), labels=tuple(shown))


def _label(value: Any) -> str:
    return format(value, ".12g") if isinstance(value, float) else str(value)
