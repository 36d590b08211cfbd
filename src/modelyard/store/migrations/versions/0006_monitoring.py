"""monitoring: labels, serving errors, drift references, alert rules and alerts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("prediction_id", sa.String(length=64), nullable=False),
        sa.Column("deployment", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("predicted_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("prediction_id", name=op.f("pk_feedback")),
    )
    op.create_index(
        op.f("ix_feedback_deployment_predicted_at"), "feedback", ["deployment", "predicted_at"]
    )
    op.create_table(
        "serving_errors",
        sa.Column("deployment", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("server_id", sa.String(length=255), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "deployment", "target", "code", "minute", "server_id", name=op.f("pk_serving_errors")
        ),
    )
    op.create_index(
        op.f("ix_serving_errors_deployment_minute"), "serving_errors", ["deployment", "minute"]
    )
    op.create_table(
        "drift_references",
        sa.Column("dataset_version", sa.String(length=64), nullable=False),
        sa.Column("columns_digest", sa.String(length=64), nullable=False),
        sa.Column("artifact", sa.String(length=255), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dataset_version", "columns_digest", name=op.f("pk_drift_references")
        ),
    )
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("deployment", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=255), nullable=False),
        sa.Column("comparison", sa.String(length=4), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("min_samples", sa.Integer(), nullable=False),
        sa.Column("webhook", sa.String(length=2048), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_rules")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=255), nullable=False),
        sa.Column("deployment", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("fired_at", sa.BigInteger(), nullable=False),
        sa.Column("acknowledged_at", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=255), nullable=True),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("delivery", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_rule_status"), "alerts", ["rule", "status"])
    op.create_index(op.f("ix_alerts_fired_at"), "alerts", ["fired_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_fired_at"), table_name="alerts")
    op.drop_index(op.f("ix_alerts_rule_status"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("alert_rules")
    op.drop_table("drift_references")
    op.drop_index(op.f("ix_serving_errors_deployment_minute"), table_name="serving_errors")
    op.drop_table("serving_errors")
    op.drop_index(op.f("ix_feedback_deployment_predicted_at"), table_name="feedback")
    op.drop_table("feedback")
