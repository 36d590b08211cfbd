"""feature definitions (every version) and materialization state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 20:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", "version", name=op.f("pk_feature_definitions")),
    )
    op.create_table(
        "feature_materializations",
        sa.Column("view", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=255), nullable=False),
        sa.Column("until", sa.BigInteger(), nullable=False),
        sa.Column("dataset_version", sa.String(length=64), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "view", "version", "store", name=op.f("pk_feature_materializations")
        ),
    )


def downgrade() -> None:
    op.drop_table("feature_materializations")
    op.drop_table("feature_definitions")
