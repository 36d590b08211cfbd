"""The monitoring of a workspace (``ws.monitoring``): labels, performance, health, drift
and alerts for its deployments, from the prediction log the servers write.

Example:
    >>> ws.monitoring.add_feedback("0193...-0", 1)              # a label, days later
    >>> ws.monitoring.performance("fraud", window="7d", bucket="1d")
    >>> ws.monitoring.drift("fraud", window="1d").drifted_columns
    >>> ws.monitoring.set_reference("models:/fraud/3", training_frame)  # once, at training
    >>> ws.monitoring.evaluate_alerts()                         # what fired or resolved
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from modelyard._ids import now_ms
from modelyard.errors import ValidationError
from modelyard.monitoring._alerts import (
    HEALTH_METRICS,
    PERFORMANCE_METRICS,
    Alert,
    AlertRule,
    AlertStore,
    Measurement,
)
from modelyard.monitoring._drift import DriftOptions, detect_drift
from modelyard.monitoring._feedback import FeedbackImport, FeedbackStore
from modelyard.monitoring._log import PredictionLogReader
from modelyard.monitoring._performance import (
    HealthWindow,
    PerformanceWindow,
    health,
    performance,
)
from modelyard.monitoring._profile import ReferenceProfile, build_profile, profile_dataset
from modelyard.monitoring._results import DatasetDrift
from modelyard.store._schema import drift_references
from modelyard.store._sql import upsert

if TYPE_CHECKING:
    from modelyard._workspace import Workspace

__all__ = ["PREDICTION", "ErrorCounts", "Monitoring"]

PREDICTION = "prediction"
"""The name of the model's output in reference profiles and drift results."""
_INPUT = "input__"
ErrorCounts = Mapping[tuple[str, str, str, int], int]  # (deployment, target, code, minute)


def _duration_ms(value: str | dt.timedelta) -> int:
    from modelyard.data._checks_table import parse_duration

    return int(parse_duration(value).total_seconds() * 1000)


class Monitoring:
    """Monitoring over one workspace's prediction log and metadata database."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.db = workspace.db
        self.log = PredictionLogReader(workspace.settings.resolved_predictions_dir())
        self.feedback = FeedbackStore(self.db, self.log)
        self.alerts = AlertStore(self.db)

    # -- feedback ---------------------------------------------------------------------------

    def add_feedback(self, prediction_id: str, label: Any) -> bool:
        """Attach a label to a logged prediction; see :class:`FeedbackStore.add`."""
        return self.feedback.add(prediction_id, label)

    def import_feedback(
        self, source: str | Path | pa.Table, *, skip_invalid: bool = False
    ) -> FeedbackImport:
        """Labels from a Parquet file (or table) with ``prediction_id`` and ``label``."""
        if isinstance(source, pa.Table):
            table = source
        else:
            try:
                table = pq.read_table(source, columns=["prediction_id", "label"])
            except (OSError, pa.ArrowInvalid, KeyError) as exc:
                raise ValidationError(f"cannot read feedback from {source}: {exc}") from None
        return self.feedback.import_table(table, skip_invalid=skip_invalid)

    # -- performance and health -------------------------------------------------------------

    def _window(self, window: str | dt.timedelta, until_ms: int | None) -> tuple[int, int]:
        until = until_ms if until_ms is not None else now_ms() + 1
        return until - _duration_ms(window), until

    def performance(
        self,
        deployment: str,
        *,
        window: str | dt.timedelta = "7d",
        bucket: str | dt.timedelta | None = None,
        until_ms: int | None = None,
    ) -> list[PerformanceWindow]:
        """Metrics from labels per model version and bucket of the window."""
        self.workspace.deployments.get(deployment)  # DeploymentNotFoundError lists them
        since, until = self._window(window, until_ms)
        size = _duration_ms(bucket) if bucket is not None else None
        return performance(
            self.log, self.feedback, deployment, since_ms=since, until_ms=until, bucket_ms=size
        )

    def health(
        self,
        deployment: str,
        *,
        window: str | dt.timedelta = "1h",
        bucket: str | dt.timedelta | None = None,
        until_ms: int | None = None,
    ) -> list[HealthWindow]:
        """Requests, errors, latency percentiles and throughput per bucket."""
        self.workspace.deployments.get(deployment)
        since, until = self._window(window, until_ms)
        size = _duration_ms(bucket) if bucket is not None else None
        return health(self.log, self.db, deployment, since_ms=since, until_ms=until, bucket_ms=size)

    def record_errors(self, server_id: str, counts: ErrorCounts) -> None:
        """Add failed requests counted by a server (per deployment, target, code, minute)."""
        rows = [
            {
                "deployment": deployment,
                "target": target,
                "code": code,
                "minute": minute,
                "server_id": server_id,
                "count": count,
            }
            for (deployment, target, code, minute), count in counts.items()
        ]
        with self.db.write() as conn:
            upsert(
                conn,
                drift_references.metadata.tables["serving_errors"],
                rows,
                ["deployment", "target", "code", "minute", "server_id"],
                [],
                add=["count"],
            )

    # -- drift ------------------------------------------------------------------------------

    def set_reference(self, key: str, table: pa.Table | Any, **profile: Any) -> ReferenceProfile:
        """Profile ``table`` once and keep it as the drift reference of ``key``: a model
        version (``models:/fraud/3``, e.g. its training frame with a ``prediction``
        column) or a dataset version id."""
        if type(table).__name__ == "DataFrame":  # pandas, without importing it here
            table = pa.Table.from_pandas(table, preserve_index=False)
        made = build_profile(table, source=key, **profile)
        self._store_reference(key, made)
        return made

    def reference(self, deployment: str) -> ReferenceProfile:
        """The drift reference of the version answering ``deployment`` now: the profile
        stored for that model version, else the profile of the dataset version it was
        trained on (found through lineage; computed once, then stored)."""
        spec = self.workspace.deployments.get(deployment).spec
        version = self.workspace.registry.resolve(spec.target_uri(spec.traffic[0].target))
        found = self._load_reference(version.uri)
        if found is not None:
            return found
        if version.run_id is not None:
            run = self.workspace.tracking.get_run(version.run_id)
            refs = [
                i.ref for i in run.inputs if i.kind == "dataset_version" and i.role != "features"
            ]
            for ref in refs:
                dataset = self.workspace.datasets.get(ref)
                cached = self._load_reference(dataset.id)
                if cached is not None:
                    return cached
                made = profile_dataset(self.workspace.datasets, dataset)
                self._store_reference(dataset.id, made)
                return made
        raise ValidationError(
            f"deployment {deployment!r} answers with {version.uri}, which has no drift "
            "reference: it was not trained on a dataset version; give one with "
            "ws.monitoring.set_reference(uri, training_frame)"
        )

    def drift(
        self,
        deployment: str,
        *,
        window: str | dt.timedelta = "1d",
        until_ms: int | None = None,
        columns: Sequence[str] | None = None,
        options: DriftOptions | None = None,
        reference: ReferenceProfile | None = None,
    ) -> DatasetDrift:
        """Drift of the deployment's logged inputs (and predictions, when the reference
        profiles them) in the window against the reference; see :func:`detect_drift`."""
        profile = reference or self.reference(deployment)
        since, until = self._window(window, until_ms)
        con = duckdb.connect()
        try:
            rel = self.log.relation(con, deployment, since_ms=since, until_ms=until)
            if rel is None:
                raise ValidationError(
                    f"deployment {deployment!r} logged no predictions in the window"
                )
            logged = {c.removeprefix(_INPUT): c for c in rel.columns if c.startswith(_INPUT)}
            logged[PREDICTION] = "output"
            wanted = [c for c in (columns or profile.columns) if c in logged]
            if not wanted:
                raise ValidationError(
                    f"no profiled column is in the log of {deployment!r} "
                    f"(profiled: {', '.join(profile.columns)})"
                )
            select_list = ", ".join(f'"{logged[c]}" AS "{c}"' for c in wanted)
            current = con.sql(f"SELECT {select_list} FROM rel").to_arrow_table()
        finally:
            con.close()
        # a column with no value in the window (a feature past its ttl everywhere) has no
        # distribution to compare: it is left out here, and shows as missing values
        compared = [c for c in wanted if current.column(c).null_count < current.num_rows]
        if not compared:
            raise ValidationError(
                f"every compared column of {deployment!r} is null in the window "
                f"({', '.join(wanted)})"
            )
        return detect_drift(profile, current, columns=compared, options=options)

    def _store_reference(self, key: str, profile: ReferenceProfile) -> None:
        blob = self.workspace.artifacts.put_bytes(profile.to_bytes())
        with self.db.write() as conn:
            upsert(
                conn,
                drift_references,
                [
                    {
                        "dataset_version": key,
                        "columns_digest": _ALL,
                        "artifact": blob.digest,
                        "rows": profile.rows,
                        "created_at": now_ms(),
                    }
                ],
                ["dataset_version", "columns_digest"],
                ["artifact", "rows", "created_at"],
            )

    def _load_reference(self, key: str) -> ReferenceProfile | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(drift_references.c.artifact).where(
                    (drift_references.c.dataset_version == key)
                    & (drift_references.c.columns_digest == _ALL)
                )
            ).first()
        if row is None:
            return None
        return ReferenceProfile.from_bytes(self.workspace.artifacts.get_bytes(row.artifact))

    # -- alerts -----------------------------------------------------------------------------

    def add_rule(self, rule: AlertRule, *, replace: bool = False) -> AlertRule:
        """Store an alert rule (its deployment must exist)."""
        self.workspace.deployments.get(rule.deployment)
        return self.alerts.add_rule(rule, replace=replace)

    def measure(self, rule: AlertRule, *, until_ms: int | None = None) -> Measurement:
        """The value of ``rule``'s metric over its window ending now (or ``until_ms``)."""
        window = dt.timedelta(seconds=rule.window_s)
        if rule.metric in PERFORMANCE_METRICS:
            windows = self.performance(rule.deployment, window=window, until_ms=until_ms)
            overall = [w for w in windows if w.version is None]
            if not overall or rule.metric not in overall[0].metrics:
                return Measurement(None, overall[0].samples if overall else 0, {})
            metric = overall[0].metrics[rule.metric]
            return Measurement(metric.value, overall[0].samples, overall[0].to_dict())
        if rule.metric in HEALTH_METRICS:
            (bucket,) = self.health(rule.deployment, window=window, until_ms=until_ms)
            value = getattr(bucket, rule.metric)
            return Measurement(value, bucket.requests + bucket.errors, bucket.to_dict())
        try:
            result = self.drift(rule.deployment, window=window, until_ms=until_ms)
        except ValidationError as exc:  # nothing logged yet, or no reference
            return Measurement(None, 0, {"error": exc.message})
        details = {
            "drifted_columns": list(result.drifted_columns),
            "share": result.share,
            "columns": {c.column: c.to_dict() for c in result.columns},
        }
        if rule.metric == "drift_share":
            return Measurement(result.share, result.current_rows, details)
        column = PREDICTION if rule.metric == "prediction_drift" else rule.metric[6:]
        try:
            found = result.column(column)
        except ValidationError as exc:
            return Measurement(None, 0, {"error": exc.message})
        return Measurement(found.score, result.current_rows, details)

    def evaluate_alerts(self, *, until_ms: int | None = None) -> list[Alert]:
        """Evaluate every enabled rule once; the alerts that fired or resolved."""
        return self.alerts.evaluate(lambda rule: self.measure(rule, until_ms=until_ms))


_ALL = hashlib.sha256(b"*").hexdigest()  # the profile of every comparable column
