"""Tables of the metadata database (SQLAlchemy Core).

Times are integer milliseconds since the epoch (UTC) everywhere, which keeps ordering
and arithmetic identical on SQLite and PostgreSQL. Digests are ``sha256:<hex>``.
Schema changes go through Alembic migrations in ``migrations/``; a test checks that the
migrations produce exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "alert_rules",
    "alerts",
    "alias_events",
    "api_keys",
    "canaries",
    "dataset_versions",
    "datasets",
    "decisions",
    "deployment_status",
    "deployments",
    "drift_references",
    "experiments",
    "feature_definitions",
    "feature_materializations",
    "feedback",
    "job_schedules",
    "jobs",
    "latest_metrics",
    "metadata",
    "metrics",
    "model_aliases",
    "model_versions",
    "params",
    "pipeline_cursors",
    "pipeline_runs",
    "pipeline_seen",
    "registered_models",
    "run_artifacts",
    "run_inputs",
    "run_tags",
    "runs",
    "serving_errors",
    "stream_events",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Digest = String(71)  # "sha256:" + 64 hex digits
Millis = BigInteger

experiments = Table(
    "experiments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", Millis, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", String(32), ForeignKey("experiments.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", Millis, nullable=False),
    Column("end_time", Millis),
    Column("parent_run_id", String(32)),
    Column("git_commit", String(64)),
    Column("source", Text),
    Column("user", String(255)),
    Index(None, "experiment_id", "start_time"),
    Index(None, "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "run_id"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "run_id"),
)

metrics = Table(
    "metrics",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Millis, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Index(None, "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Millis, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(500), nullable=False),
    Column("digest", Digest, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("is_dir", Boolean, nullable=False),
    Column("created_at", Millis, nullable=False),
    PrimaryKeyConstraint("run_id", "path"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ref", String(500), nullable=False),
    Column("role", String(32), nullable=False),
    Column("digest", Digest),
    Column("details", JSON),
    Column("created_at", Millis, nullable=False),
    UniqueConstraint("run_id", "kind", "ref", "role"),
    Index(None, "kind", "ref"),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("description", Text),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", Millis, nullable=False),
    Column("updated_at", Millis, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(255), ForeignKey("registered_models.name"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id")),
    Column("flavor", String(32), nullable=False),
    Column("artifact_digest", Digest, nullable=False),
    Column("signature", JSON),
    Column("input_example", JSON),
    Column("flavor_info", JSON, nullable=False),
    Column("description", Text),
    Column("created_at", Millis, nullable=False),
    PrimaryKeyConstraint("name", "version"),
    Index(None, "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(255), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", Millis, nullable=False),
    PrimaryKeyConstraint("name", "alias"),
    ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"]),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("name", String(255), ForeignKey("registered_models.name"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("version", Integer),
    Column("previous_version", Integer),
    Column("at", Millis, nullable=False),
    Column("actor", String(255)),
    Column("reason", Text),
    Index(None, "name", "alias", "id"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", Millis, nullable=False),
    Column("updated_at", Millis, nullable=False),
)

deployment_status = Table(
    "deployment_status",
    metadata,
    Column(
        "deployment",
        String(64),
        ForeignKey("deployments.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("server_id", String(255), nullable=False),
    Column("status", JSON, nullable=False),
    Column("updated_at", Millis, nullable=False),
    PrimaryKeyConstraint("deployment", "server_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("scopes", JSON, nullable=False),
    Column("created_at", Millis, nullable=False),
    Column("revoked_at", Millis),
    Column("last_used_at", Millis),
)

# -- data: datasets, pipeline runs, incremental state, the embedded stream ---------------

datasets = Table(
    "datasets",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("kind", String(16), nullable=False),  # "data" or "quarantine"
    Column("created_at", Millis, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("dataset", String(255), ForeignKey("datasets.name", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("id", String(64), nullable=False),  # sha256 hex of the ordered part digests
    Column("parent_id", String(64)),
    Column("run_id", String(32)),  # the pipeline run that committed it, if any
    Column("rows", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("stats", JSON, nullable=False),
    Column("parts", JSON, nullable=False),
    Column("created_at", Millis, nullable=False),
    PrimaryKeyConstraint("dataset", "number"),
    UniqueConstraint("dataset", "id"),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("logical_date", String(32)),
    Column("started_at", Millis, nullable=False),
    Column("ended_at", Millis),
    Column("attempts", Integer, nullable=False),
    Column("code", JSON, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("outputs", JSON, nullable=False),
    Column("report", JSON, nullable=False),
    Column("error", JSON),
    Index(None, "pipeline", "started_at"),
)

pipeline_seen = Table(  # source files or partitions already loaded, by content hash
    "pipeline_seen",
    metadata,
    Column("pipeline", String(255), nullable=False),
    Column("source", String(255), nullable=False),
    Column("digest", Digest, nullable=False),
    Column("uri", Text, nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("created_at", Millis, nullable=False),
    PrimaryKeyConstraint("pipeline", "source", "digest"),
)

pipeline_cursors = Table(  # how far an incremental source has been loaded (stream offset, ...)
    "pipeline_cursors",
    metadata,
    Column("pipeline", String(255), nullable=False),
    Column("source", String(255), nullable=False),
    Column("cursor", JSON, nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("updated_at", Millis, nullable=False),
    PrimaryKeyConstraint("pipeline", "source"),
)

stream_events = Table(  # the embedded stream: an append-only log in the metadata database
    "stream_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("stream", String(255), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Millis, nullable=False),
    Index(None, "stream", "id"),
)

# -- features: versioned definitions and materialization state ---------------------------

feature_definitions = Table(  # entities, feature views and services, every version kept
    "feature_definitions",
    metadata,
    Column("kind", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # sha256 of the canonical definition
    Column("definition", JSON, nullable=False),
    Column("created_at", Millis, nullable=False),
    PrimaryKeyConstraint("kind", "name", "version"),
)

feature_materializations = Table(  # how far each view version is in the online store
    "feature_materializations",
    metadata,
    Column("view", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("store", String(255), nullable=False),  # the online store it was written to
    Column("until", Millis, nullable=False),  # event time (ms) materialized up to
    Column("dataset_version", String(64)),
    Column("rows", BigInteger, nullable=False),
    Column("updated_at", Millis, nullable=False),
    PrimaryKeyConstraint("view", "version", "store"),
)

# -- jobs: the durable queue (leases, retries, dead letters) and schedule ticks ----------

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # a modelyard.jobs.JobStatus value
    Column("priority", Integer, nullable=False),  # higher runs first
    Column("idempotency_key", String(255), unique=True),
    Column("attempts", Integer, nullable=False),  # attempts started so far
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", Millis, nullable=False),  # not claimed before (retry backoff)
    Column("lease_owner", String(255)),
    Column("lease_expires_at", Millis),  # renewed by the worker's heartbeat
    Column("cancel_requested", Boolean, nullable=False),
    Column("progress", JSON),  # the running attempt's latest {stage, done, total}
    Column("result", JSON),
    Column("error", JSON),
    Column("created_at", Millis, nullable=False),
    Column("updated_at", Millis, nullable=False),
    Column("started_at", Millis),
    Column("ended_at", Millis),
    Index(None, "status", "priority", "run_after"),
    Index(None, "status", "lease_expires_at"),
    Index(None, "created_at"),
)

job_schedules = Table(  # the next tick of each schedule that workers enqueue
    "job_schedules",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("schedule", String(255), nullable=False),
    Column("next_fire", Millis, nullable=False),
    Column("last_job_id", String(32)),
    Column("updated_at", Millis, nullable=False),
)

# -- monitoring: labels, serving errors, drift references, alert rules and alerts --------

feedback = Table(  # one ground-truth label per prediction, possibly days later
    "feedback",
    metadata,
    Column("prediction_id", String(64), primary_key=True),
    Column("deployment", String(64), nullable=False),
    Column("model", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("label", JSON, nullable=False),
    Column("predicted_at", Millis, nullable=False),
    Column("received_at", Millis, nullable=False),
    Index(None, "deployment", "predicted_at"),
)

serving_errors = Table(  # failed requests per minute, flushed by each server
    "serving_errors",
    metadata,
    Column("deployment", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    Column("code", String(64), nullable=False),
    Column("minute", Millis, nullable=False),  # the minute's start
    Column("server_id", String(255), nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("deployment", "target", "code", "minute", "server_id"),
    Index(None, "deployment", "minute"),
)

drift_references = Table(  # reference profiles, computed once per dataset version
    "drift_references",
    metadata,
    Column("dataset_version", String(64), nullable=False),
    Column("columns_digest", String(64), nullable=False),
    Column("artifact", String(255), nullable=False),  # sha256:... in the artifact store
    Column("rows", BigInteger, nullable=False),
    Column("created_at", Millis, nullable=False),
    PrimaryKeyConstraint("dataset_version", "columns_digest"),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("deployment", String(64), nullable=False),
    Column("metric", String(255), nullable=False),
    Column("comparison", String(4), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("min_samples", Integer, nullable=False),
    Column("webhook", String(2048)),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Millis, nullable=False),
    Column("updated_at", Millis, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("rule", String(255), nullable=False),
    Column("deployment", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # a modelyard.monitoring.AlertStatus value
    Column("value", Float),
    Column("evidence", JSON, nullable=False),
    Column("fired_at", Millis, nullable=False),
    Column("acknowledged_at", Millis),
    Column("acknowledged_by", String(255)),
    Column("resolved_at", Millis),
    Column("delivery", JSON),  # the webhook attempts: status, tries, last error
    Index(None, "rule", "status"),
    Index(None, "fired_at"),
)

# -- automation: the audit log of automated decisions, and canaries -----------------------

decisions = Table(  # every automated decision with its evidence (modelyard models history)
    "decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(255), nullable=False),
    Column("deployment", String(64)),
    Column("kind", String(32), nullable=False),  # a modelyard.automation.DecisionKind value
    Column("outcome", String(32), nullable=False),
    Column("version", Integer),  # the candidate (challenger) version decided about
    Column("baseline_version", Integer),  # the champion it was held against
    Column("summary", Text, nullable=False),  # one line, for listings
    Column("evidence", JSON, nullable=False),
    Column("actor", String(255)),
    Column("job_id", String(32)),  # the job that decided, if a job did
    Column("at", Millis, nullable=False),
    Index(None, "model", "at"),
    Index(None, "deployment", "at"),
    Index(None, "job_id"),
)

canaries = Table(  # a challenger serving a share of a deployment's traffic, then decided
    "canaries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("deployment", String(64), nullable=False),
    Column("active", String(64), unique=True),  # the deployment while running, else NULL
    Column("model", String(255), nullable=False),
    Column("champion_version", Integer, nullable=False),
    Column("challenger_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # a modelyard.automation.CanaryStatus value
    Column("config", JSON, nullable=False),  # share, predictions, duration, thresholds
    Column("previous_traffic", JSON, nullable=False),  # the routes before the canary
    Column("started_at", Millis, nullable=False),
    Column("ended_at", Millis),
    Column("evidence", JSON),  # the live comparison that decided it
    Index(None, "deployment", "started_at"),
)
