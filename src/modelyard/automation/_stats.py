"""The statistics of the promotion gate: metrics, the paired bootstrap and McNemar's test.

Every metric is computed on *weighted* rows: a bootstrap resample is a vector of counts
(how often each row was drawn), so one resample is one weighted metric and a block of
resamples is one matrix product, never a Python loop over rows or over resamples. The
resampling itself, its batches and its percentile interval are
:func:`scipy.stats.bootstrap`'s; it resamples row *indices*, which become counts here.
Sorting for ROC AUC happens once, not per resample.

The difference is always oriented so that positive means the candidate is better (for
a loss, champion minus candidate). The gate's one-sided question is whether it beats
the champion by more than ``margin``: the bootstrap's p-value is the share of resamples
where it does not, McNemar's is the exact binomial test on the discordant pairs with the
margin moved into its null proportion.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from modelyard.errors import ValidationError

__all__ = [
    "METRICS",
    "MetricSpec",
    "TestOutcome",
    "mcnemar",
    "metric_spec",
    "paired_bootstrap",
]

Weighted = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Needs = Literal["class", "score", "value"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A metric: what model output it scores (class labels, positive-class scores or
    numbers), which direction is better, and its weighted form ``(truth, output,
    weights[B, n]) -> values[B]``."""

    name: str
    needs: Needs
    higher_is_better: bool
    weighted: Weighted

    def value(self, truth: np.ndarray, output: np.ndarray) -> float:
        """The metric on every row once."""
        return float(self.weighted(truth, output, np.ones((1, truth.size)))[0])


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What a test concluded: the candidate's improvement over the champion (positive is
    better), its interval, and the one-sided p-value of "no better than by the margin"."""

    test: str
    improvement: float
    low: float | None
    high: float | None
    p_value: float
    samples: int
    details: dict[str, Any]


# -- weighted metrics ---------------------------------------------------------------------


def _mean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.asarray((w @ values) / w.sum(axis=1))


def _accuracy(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _mean((t == p).astype(np.float64), w)


def _counts(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    tp = w @ ((t == 1) & (p == 1)).astype(np.float64)
    fp = w @ ((t != 1) & (p == 1)).astype(np.float64)
    fn = w @ ((t == 1) & (p != 1)).astype(np.float64)
    return tp, fp, fn


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)


def _precision(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    tp, fp, _ = _counts(t, p, w)
    return _ratio(tp, tp + fp)


def _recall(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    tp, _, fn = _counts(t, p, w)
    return _ratio(tp, tp + fn)


def _f1(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    tp, fp, fn = _counts(t, p, w)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _roc_auc(t: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted Mann-Whitney statistic: for each positive, the weight of negatives
    scored below it plus half of those tied with it, over all positive-negative pairs.
    Negatives are sorted once; per resample it is one cumulative sum and two gathers."""
    positive = t == 1
    pos_rows, neg_rows = np.flatnonzero(positive), np.flatnonzero(~positive)
    order = neg_rows[np.argsort(s[neg_rows], kind="stable")]
    neg_scores, pos_scores = s[order], s[pos_rows]
    lo = np.searchsorted(neg_scores, pos_scores, "left")
    hi = np.searchsorted(neg_scores, pos_scores, "right")
    below = np.zeros((w.shape[0], order.size + 1))
    np.cumsum(w[:, order], axis=1, out=below[:, 1:])
    beaten = below[:, lo] + 0.5 * (below[:, hi] - below[:, lo])
    pos_weights = w[:, pos_rows]
    pairs = pos_weights.sum(axis=1) * below[:, -1]
    wins = (pos_weights * beaten).sum(axis=1)
    return np.where(pairs > 0, wins / np.maximum(pairs, 1e-300), np.nan)


def _log_loss(t: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    clipped = np.clip(s, 1e-15, 1 - 1e-15)
    losses = -np.where(t == 1, np.log(clipped), np.log1p(-clipped))
    return _mean(losses, w)


def _mae(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _mean(np.abs(t - p), w)


def _rmse(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.asarray(np.sqrt(_mean((t - p) ** 2, w)))


def _r2(t: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1)
    mean = (w @ t) / total
    spread = w @ (t**2) - total * mean**2
    residual = w @ ((t - p) ** 2)
    return np.where(spread > 0, 1.0 - residual / np.maximum(spread, 1e-300), np.nan)


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", "class", True, _accuracy),
        MetricSpec("precision", "class", True, _precision),
        MetricSpec("recall", "class", True, _recall),
        MetricSpec("f1", "class", True, _f1),
        MetricSpec("roc_auc", "score", True, _roc_auc),
        MetricSpec("log_loss", "score", False, _log_loss),
        MetricSpec("mae", "value", False, _mae),
        MetricSpec("rmse", "value", False, _rmse),
        MetricSpec("r2", "value", True, _r2),
    )
}


def metric_spec(name: str) -> MetricSpec:
    """The metric called ``name``; ValidationError lists the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValidationError(
            f"unknown gate metric {name!r} (metrics: {', '.join(METRICS)})"
        ) from None


# -- tests --------------------------------------------------------------------------------


def paired_bootstrap(
    spec: MetricSpec,
    truth: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    *,
    margin: float = 0.0,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> TestOutcome:
    """The candidate's improvement in ``spec`` over the champion on the same rows, with a
    percentile interval and the one-sided p-value of "improvement <= margin" from
    ``n_resamples`` paired resamples of the rows."""
    from scipy.stats import DegenerateDataWarning, bootstrap  # type: ignore[import-untyped]

    n = truth.size
    sign = 1.0 if spec.higher_is_better else -1.0

    def improvement(index: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = np.moveaxis(index, axis, -1).astype(np.int64)
        flat = rows.reshape(-1, n)
        if rows.ndim == 1:
            weights = np.ones((1, n))
        else:  # one resample per row of ``flat``: how often each row was drawn
            offsets = flat + n * np.arange(flat.shape[0])[:, None]
            drawn = np.bincount(offsets.ravel(), minlength=flat.size)
            weights = drawn.reshape(flat.shape).astype(np.float64)
        diff = sign * (
            spec.weighted(truth, candidate, weights) - spec.weighted(truth, champion, weights)
        )
        return diff.reshape(rows.shape[:-1]) if rows.ndim > 1 else diff[0]

    observed = float(improvement(np.arange(n)))
    with warnings.catch_warnings():  # every resample alike: an interval of one point
        warnings.simplefilter("ignore", DegenerateDataWarning)
        result = bootstrap(
            (np.arange(n),),
            improvement,
            n_resamples=n_resamples,
            batch=max(1, min(n_resamples, 5_000_000 // max(n, 1))),
            vectorized=True,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    spread = np.asarray(result.bootstrap_distribution, dtype=np.float64)
    spread = spread[np.isfinite(spread)]
    p_value = float((np.count_nonzero(spread <= margin) + 1) / (spread.size + 1))
    low, high = (float(v) for v in result.confidence_interval)
    return TestOutcome(
        "paired_bootstrap",
        observed,
        _finite(low),
        _finite(high),
        p_value,
        n,
        {"resamples": n_resamples, "confidence": confidence, "seed": seed},
    )


def mcnemar(
    truth: np.ndarray, candidate: np.ndarray, champion: np.ndarray, *, margin: float = 0.0
) -> TestOutcome:
    """McNemar's exact test for classifiers: among the rows exactly one model gets right,
    is the candidate right more often than an accuracy gain of ``margin`` allows by
    chance? (``scipy.stats.binomtest`` on the discordant pairs, one-sided.)"""
    from scipy.stats import binomtest

    n = truth.size
    cand_right, champ_right = candidate == truth, champion == truth
    wins = int(np.count_nonzero(cand_right & ~champ_right))
    losses = int(np.count_nonzero(~cand_right & champ_right))
    discordant = wins + losses
    gain = (wins - losses) / n if n else 0.0
    # accuracy gain > margin  <=>  wins / discordant > 1/2 + margin * n / (2 * discordant)
    null = 0.5 + margin * n / (2 * discordant) if discordant else 1.0
    if discordant == 0 or null >= 1.0:
        p_value = 1.0
    else:
        null = max(null, 0.0)
        p_value = float(binomtest(wins, discordant, null, alternative="greater").pvalue)
    ci_low = ci_high = None
    if discordant:
        interval = binomtest(wins, discordant).proportion_ci(method="wilson")
        # the share of discordant pairs the candidate wins, as an accuracy gain
        ci_low = (2 * float(interval.low) - 1) * discordant / n
        ci_high = (2 * float(interval.high) - 1) * discordant / n
    return TestOutcome(
        "mcnemar",
        gain,
        ci_low,
        ci_high,
        p_value,
        n,
        {"candidate_only_right": wins, "champion_only_right": losses, "null_share": null},
    )


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None
