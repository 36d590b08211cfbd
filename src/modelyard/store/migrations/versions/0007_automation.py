"""automation: the audit log of automated decisions, and canaries

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("deployment", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("baseline_version", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_model_at"), "decisions", ["model", "at"])
    op.create_index(op.f("ix_decisions_deployment_at"), "decisions", ["deployment", "at"])
    op.create_index(op.f("ix_decisions_job_id"), "decisions", ["job_id"])
    op.create_table(
        "canaries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=64), nullable=False),
        sa.Column("active", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=False),
        sa.Column("challenger_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("previous_traffic", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canaries")),
        sa.UniqueConstraint("active", name=op.f("uq_canaries_active")),
    )
    op.create_index(
        op.f("ix_canaries_deployment_started_at"), "canaries", ["deployment", "started_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_canaries_deployment_started_at"), table_name="canaries")
    op.drop_table("canaries")
    op.drop_index(op.f("ix_decisions_job_id"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_deployment_at"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_model_at"), table_name="decisions")
    op.drop_table("decisions")
