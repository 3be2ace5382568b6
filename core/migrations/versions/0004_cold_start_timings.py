"""Cold-start timings: one row per launch run with the seconds each phase took (core.endpoints.timings).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)  # core.tables.UtcDateTime on the Python side
    op.create_table(
        "cold_starts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("run_requested_at", utc, nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("accelerators", sa.String(64), nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("launcher", sa.String(16), nullable=False),
        sa.Column("healthy_at", utc, nullable=True),
        sa.Column("ready_at", utc, nullable=True),
        sa.Column("total_s", sa.Float(), nullable=True),
        sa.Column("queued_s", sa.Float(), nullable=True),
        sa.Column("provisioning_s", sa.Float(), nullable=True),
        sa.Column("setup_s", sa.Float(), nullable=True),
        sa.Column("weights_s", sa.Float(), nullable=True),
        sa.Column("weights_note", sa.String(16), nullable=True),
        sa.Column("load_s", sa.Float(), nullable=True),
        sa.Column("engine_start_s", sa.Float(), nullable=True),
        sa.Column("first_completion_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name="fk_cold_starts_endpoint_id_endpoints", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cold_starts"),
        sa.UniqueConstraint(
            "endpoint_id", "run_requested_at", name="uq_cold_starts_endpoint_id_run_requested_at"
        ),
    )
    op.create_index("ix_cold_starts_endpoint_id", "cold_starts", ["endpoint_id"])
    op.create_index("ix_cold_starts_accelerators", "cold_starts", ["accelerators"])


def downgrade() -> None:
    op.drop_index("ix_cold_starts_accelerators", table_name="cold_starts")
    op.drop_index("ix_cold_starts_endpoint_id", table_name="cold_starts")
    op.drop_table("cold_starts")
