"""The chat outbox (messages and API keys owed to people), acknowledged stops, and handled signed requests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)  # core.endpoints.models.UtcDateTime on the Python side
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(160), nullable=False),
        sa.Column("lease_until", utc, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("next_attempt_at", utc, nullable=False),
        sa.Column("deliver_by", utc, nullable=False),
        sa.Column("delivered_at", utc, nullable=True),
        sa.Column("last_error", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["endpoints.id"], name="fk_outbox_endpoint_id_endpoints", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_endpoint_id", "outbox", ["endpoint_id"])
    op.create_index("ix_outbox_state", "outbox", ["state"])

    op.create_table(
        "stop_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_name", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("requested_at", utc, nullable=False),
        sa.Column("done_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stop_requests"),
    )
    op.create_index("ix_stop_requests_done_at", "stop_requests", ["done_at"])

    op.create_table(
        "seen_requests",
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("seen_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_seen_requests"),
    )
    op.create_index("ix_seen_requests_seen_at", "seen_requests", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_seen_requests_seen_at", table_name="seen_requests")
    op.drop_table("seen_requests")
    op.drop_index("ix_stop_requests_done_at", table_name="stop_requests")
    op.drop_table("stop_requests")
    op.drop_index("ix_outbox_state", table_name="outbox")
    op.drop_index("ix_outbox_endpoint_id", table_name="outbox")
    op.drop_table("outbox")
