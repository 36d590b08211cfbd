"""Model performance from delayed labels, and service health from the log and error counts.

Labels (:mod:`._feedback`) are joined with the logged predictions by id in DuckDB, then
scored per model version and per time bucket (of prediction time) with scikit-learn's
metrics, each with a 95% confidence interval: Wilson's for accuracy (a proportion), a
percentile bootstrap (``scipy.stats.bootstrap``, 200 resamples) for the others.

The task is read off the outputs: integer or boolean outputs are classes (accuracy,
precision, recall, F1; binary when the classes are 0/1, macro-averaged otherwise), float
outputs within [0, 1] against 0/1 labels are probabilities of the positive class (all of
those at a 0.5 threshold, plus ROC AUC and log loss), other floats are regression (MAE,
RMSE, R2).

Health is read from the same log (requests, rows, latency percentiles per request,
throughput) and from the failed requests the servers count per minute.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import func, select

from modelyard.monitoring._feedback import FeedbackStore
from modelyard.monitoring._log import PredictionLogReader
from modelyard.store import Database
from modelyard.store._schema import serving_errors

__all__ = ["HealthWindow", "Metric", "PerformanceWindow", "health", "performance"]

_RESAMPLES = 200
_SEED = 0


@dataclass(frozen=True, slots=True)
class Metric:
    value: float
    low: float | None = None  # the 95% confidence interval, where one can be computed
    high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": _finite(self.value), "low": _finite(self.low), "high": _finite(self.high)}


@dataclass(frozen=True, slots=True)
class PerformanceWindow:
    """The metrics of one model version over the labelled predictions of one bucket."""

    start_ms: int
    end_ms: int
    version: int | None  # None: every version together
    task: str  # classification, probability or regression
    samples: int
    metrics: dict[str, Metric] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "version": self.version,
            "task": self.task,
            "samples": self.samples,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }


@dataclass(frozen=True, slots=True)
class HealthWindow:
    """Service health over one bucket: what callers got, and how fast."""

    start_ms: int
    end_ms: int
    requests: int
    rows: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        total = self.requests + self.errors
        return self.errors / total if total else None

    @property
    def throughput_rps(self) -> float:
        return self.requests / max((self.end_ms - self.start_ms) / 1000.0, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "requests": self.requests,
            "rows": self.rows,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "throughput_rps": self.throughput_rps,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "latency_p99_ms": self.latency_p99_ms,
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _buckets(since_ms: int, until_ms: int, bucket_ms: int) -> list[tuple[int, int]]:
    starts = range(since_ms, until_ms, bucket_ms)
    return [(s, min(s + bucket_ms, until_ms)) for s in starts]


def labelled(
    log: PredictionLogReader,
    feedback: FeedbackStore,
    deployment: str,
    *,
    since_ms: int,
    until_ms: int,
) -> pa.Table:
    """Labelled predictions: version, predicted_at (ms), output and label (as doubles where
    numeric, else text), one row per labelled prediction of the window."""
    labels = feedback.labels(deployment, since_ms=since_ms, until_ms=until_ms)
    con = duckdb.connect()
    try:
        rel = log.relation(con, deployment, since_ms=since_ms - 86_400_000, until_ms=until_ms)
        if rel is None or labels.num_rows == 0:
            return pa.table({"version": pa.array([], pa.int64())})
        con.register("__labels", labels)
        con.register("__log", rel)
        return con.sql(
            """
            SELECT f.version, f.predicted_at,
                   TRY_CAST(l.output AS DOUBLE) AS output,
                   CASE f.label WHEN 'true' THEN 1.0 WHEN 'false' THEN 0.0
                        ELSE TRY_CAST(f.label AS DOUBLE) END AS label,
                   typeof(l.output) AS output_type,
                   CAST(l.output AS VARCHAR) AS output_text,
                   trim(f.label, '"') AS label_text
            FROM __labels f JOIN __log l USING (prediction_id)
            """
        ).to_arrow_table()
    finally:
        con.close()


def performance(
    log: PredictionLogReader,
    feedback: FeedbackStore,
    deployment: str,
    *,
    since_ms: int,
    until_ms: int,
    bucket_ms: int | None = None,
) -> list[PerformanceWindow]:
    """Metrics per bucket of prediction time and per version, then per bucket for every
    version together (``version`` None). One bucket when ``bucket_ms`` is None."""
    table = labelled(log, feedback, deployment, since_ms=since_ms, until_ms=until_ms)
    if table.num_rows == 0:
        return []
    columns = {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
    times = columns["predicted_at"].astype(np.int64)
    versions = columns["version"].astype(np.int64)
    windows: list[PerformanceWindow] = []
    for start, end in _buckets(since_ms, until_ms, bucket_ms or (until_ms - since_ms)):
        in_bucket = (times >= start) & (times < end)
        choices: list[int | None] = [*sorted({int(v) for v in versions[in_bucket]}), None]
        for version in choices:
            mask = in_bucket if version is None else in_bucket & (versions == version)
            if mask.any():
                windows.append(_score(columns, mask, start, end, version))
    return windows


def _score(
    columns: dict[str, np.ndarray], mask: np.ndarray, start: int, end: int, version: int | None
) -> PerformanceWindow:
    types = set(np.unique(columns["output_type"][mask]).tolist())
    numeric = types <= {"BIGINT", "INTEGER", "DOUBLE", "FLOAT", "BOOLEAN", "HUGEINT"}
    if not numeric:
        truth, pred = columns["label_text"][mask], columns["output_text"][mask]
        return PerformanceWindow(
            start, end, version, "classification", int(mask.sum()), _classes(truth, pred)
        )
    label = columns["label"][mask].astype(np.float64)
    output = columns["output"][mask].astype(np.float64)
    keep = np.isfinite(label) & np.isfinite(output)
    label, output = label[keep], output[keep]
    is_class = types <= {"BIGINT", "INTEGER", "BOOLEAN", "HUGEINT"}
    binary = bool(np.isin(label, (0.0, 1.0)).all())
    if is_class:
        metrics = _classes(label.astype(np.int64), output.astype(np.int64))
        task = "classification"
    elif binary and output.size and output.min() >= 0.0 and output.max() <= 1.0:
        metrics = _probabilities(label.astype(np.int64), output)
        task = "probability"
    else:
        metrics = _regression(label, output)
        task = "regression"
    return PerformanceWindow(start, end, version, task, int(label.size), metrics)


def _classes(truth: np.ndarray, pred: np.ndarray) -> dict[str, Metric]:
    from scipy.stats import binomtest  # type: ignore[import-untyped]
    from sklearn.metrics import f1_score, precision_score, recall_score

    n = len(truth)
    if n == 0:
        return {}
    correct = int((truth == pred).sum())
    ci = binomtest(correct, n).proportion_ci(method="wilson")
    metrics = {"accuracy": Metric(correct / n, float(ci.low), float(ci.high))}
    labels = set(np.unique(np.concatenate([truth, pred])).tolist())
    if labels <= {0, 1}:  # binary: counted with NumPy over every resample at once
        for name in ("precision", "recall", "f1"):
            metrics[name] = _bootstrap(_BINARY[name], truth, pred, vectorized=True)
        return metrics
    for name, fn in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):

        def stat(t: np.ndarray, p: np.ndarray, fn: Any = fn) -> float:
            return float(fn(t, p, average="macro", zero_division=0))

        metrics[name] = _bootstrap(stat, truth, pred)
    return metrics


def _precision(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    tp, fp, _fn = _counts(t, p, axis)
    return _ratio(tp, tp + fp)


def _recall(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    tp, _fp, fn = _counts(t, p, axis)
    return _ratio(tp, tp + fn)


def _f1(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    tp, fp, fn = _counts(t, p, axis)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _counts(t: np.ndarray, p: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives (of class 1) along ``axis``."""
    tp = ((t == 1) & (p == 1)).sum(axis=axis)
    fp = ((t == 0) & (p == 1)).sum(axis=axis)
    fn = ((t == 1) & (p == 0)).sum(axis=axis)
    return tp, fp, fn


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    return np.where(den > 0, num / np.maximum(den, 1), 0.0)


_BINARY: dict[str, Callable[..., Any]] = {"precision": _precision, "recall": _recall, "f1": _f1}


def _probabilities(truth: np.ndarray, score: np.ndarray) -> dict[str, Metric]:
    from sklearn.metrics import log_loss, roc_auc_score

    metrics = _classes(truth, (score >= 0.5).astype(np.int64))
    if np.unique(truth).size == 2:
        metrics["roc_auc"] = _bootstrap(lambda t, s: float(roc_auc_score(t, s)), truth, score)
    clipped = np.clip(score, 1e-15, 1 - 1e-15)
    metrics["log_loss"] = _bootstrap(
        lambda t, s: float(log_loss(t, s, labels=[0, 1])), truth, clipped
    )
    return metrics


def _regression(truth: np.ndarray, pred: np.ndarray) -> dict[str, Metric]:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    if truth.size == 0:
        return {}
    metrics = {
        "mae": _bootstrap(lambda t, p: float(mean_absolute_error(t, p)), truth, pred),
        "rmse": _bootstrap(lambda t, p: float(root_mean_squared_error(t, p)), truth, pred),
    }
    if truth.size >= 2:
        metrics["r2"] = _bootstrap(lambda t, p: float(r2_score(t, p)), truth, pred)
    return metrics


def _bootstrap(
    stat: Callable[..., Any],
    truth: np.ndarray,
    other: np.ndarray,
    *,
    vectorized: bool = False,
) -> Metric:
    """The statistic on all pairs, with a 95% percentile-bootstrap interval over pairs
    (``vectorized``: ``stat`` takes an ``axis`` and scores every resample in one call)."""
    value = float(stat(truth, other))
    if truth.size < 10 or (np.unique(truth).size < 2 and truth.dtype.kind in "iub"):
        return Metric(value)
    from scipy.stats import DegenerateDataWarning, bootstrap

    def safe(t: np.ndarray, o: np.ndarray) -> float:
        try:
            return float(stat(t, o))
        except ValueError:  # a resample with one class has no AUC
            return float("nan")

    with warnings.catch_warnings():  # every resample alike (say, no positive at all)
        warnings.simplefilter("ignore", DegenerateDataWarning)
        result = bootstrap(
            (truth, other),
            stat if vectorized else safe,
            paired=True,
            vectorized=vectorized,
            n_resamples=_RESAMPLES,
            method="percentile",
            random_state=np.random.default_rng(_SEED),
        )
    low, high = result.confidence_interval
    return Metric(value, float(low), float(high))


def health(
    log: PredictionLogReader,
    db: Database,
    deployment: str,
    *,
    since_ms: int,
    until_ms: int,
    bucket_ms: int | None = None,
) -> list[HealthWindow]:
    """Requests, rows, latency percentiles and errors per bucket of the window."""
    buckets = _buckets(since_ms, until_ms, bucket_ms or (until_ms - since_ms))
    size = bucket_ms or (until_ms - since_ms)
    stats: dict[int, tuple[int, int, float | None, float | None, float | None]] = {}
    con = duckdb.connect()
    try:
        rel = log.relation(con, deployment, since_ms=since_ms, until_ms=until_ms)
        if rel is not None:
            con.register("__log", rel)
            rows = con.sql(
                f"""
                WITH requests AS (
                    SELECT request_id, any_value(latency_ms) AS latency_ms, count(*) AS n,
                           min(epoch_ms(timestamp)) AS ts
                    FROM __log GROUP BY request_id
                )
                SELECT ({since_ms} + (ts - {since_ms}) // {size} * {size})::BIGINT AS bucket,
                       count(*), sum(n)::BIGINT,
                       quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95),
                       quantile_cont(latency_ms, 0.99)
                FROM requests GROUP BY bucket
                """
            ).fetchall()
            stats = {int(r[0]): (int(r[1]), int(r[2]), r[3], r[4], r[5]) for r in rows}
    finally:
        con.close()
    errors = _errors(db, deployment, since_ms, until_ms, size)
    windows = []
    for start, end in buckets:
        count, total, p50, p95, p99 = stats.get(start, (0, 0, None, None, None))
        windows.append(HealthWindow(start, end, count, total, errors.get(start, 0), p50, p95, p99))
    return windows


def _errors(
    db: Database, deployment: str, since_ms: int, until_ms: int, size: int
) -> dict[int, int]:
    query = (
        select(serving_errors.c.minute, func.sum(serving_errors.c.count))
        .where(serving_errors.c.deployment == deployment)
        .where(serving_errors.c.minute >= since_ms - 60_000)
        .where(serving_errors.c.minute < until_ms)
        .group_by(serving_errors.c.minute)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    found: dict[int, int] = {}
    for minute, count in rows:
        if minute < since_ms:
            continue
        start = since_ms + (int(minute) - since_ms) // size * size
        found[start] = found.get(start, 0) + int(count)
    return found
