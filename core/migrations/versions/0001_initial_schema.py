"""Initial schema: endpoints, their audit log, work claims, usage counters and sent reminders.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk_endpoint(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["endpoint_id"], ["endpoints.id"], name=f"fk_{table}_endpoint_id_endpoints", ondelete="CASCADE"
    )


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)  # core.endpoints.models.UtcDateTime on the Python side
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("cluster_name", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("accelerators", sa.String(64), nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("launcher", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("url", sa.String(255), nullable=True),
        sa.Column("api_key_hash", sa.String(128), nullable=True),
        sa.Column("requested_at", utc, nullable=False),
        sa.Column("provisioned_at", utc, nullable=True),
        sa.Column("ready_at", utc, nullable=True),
        sa.Column("stopped_at", utc, nullable=True),
        sa.Column("last_activity_at", utc, nullable=True),
        sa.Column("idle_timeout_s", sa.Integer(), nullable=False),
        sa.Column("expires_at", utc, nullable=False),
        sa.Column("max_cost", sa.Float(), nullable=True),
        sa.Column("price_per_hour", sa.Float(), nullable=False),
        sa.Column("price_is_estimate", sa.Boolean(), nullable=False),
        sa.Column("cost_so_far", sa.Float(), nullable=False),
        sa.Column("sky_request_id", sa.String(128), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_endpoints"),
        sa.UniqueConstraint("name", name="uq_endpoints_name"),
        sa.UniqueConstraint("cluster_name", name="uq_endpoints_cluster_name"),
    )
    op.create_index("ix_endpoints_owner_id", "endpoints", ["owner_id"])
    op.create_index("ix_endpoints_state", "endpoints", ["state"])

    op.create_table(
        "endpoint_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _fk_endpoint("endpoint_events"),
        sa.PrimaryKeyConstraint("id", name="pk_endpoint_events"),
    )
    op.create_index("ix_endpoint_events_endpoint_id_at", "endpoint_events", ["endpoint_id", "at"])

    op.create_table(
        "work_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires_at", utc, nullable=False),
        _fk_endpoint("work_claims"),
        sa.PrimaryKeyConstraint("id", name="pk_work_claims"),
        sa.UniqueConstraint("endpoint_id", "kind", name="uq_work_claims_endpoint_id_kind"),
    )
    op.create_index("ix_work_claims_endpoint_id", "work_claims", ["endpoint_id"])

    op.create_table(
        "endpoint_usage",
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Float(), nullable=False),
        sa.Column("prompt_tokens", sa.Float(), nullable=False),
        sa.Column("generation_tokens", sa.Float(), nullable=False),
        sa.Column("raw_requests", sa.Float(), nullable=True),
        sa.Column("raw_prompt_tokens", sa.Float(), nullable=True),
        sa.Column("raw_generation_tokens", sa.Float(), nullable=True),
        sa.Column("latency", sa.JSON(), nullable=False),
        sa.Column("last_scrape_at", utc, nullable=True),
        sa.Column("last_scrape_ok", sa.Boolean(), nullable=False),
        sa.Column("consecutive_scrape_failures", sa.Integer(), nullable=False),
        sa.Column("cost_accrued_until", utc, nullable=True),
        _fk_endpoint("endpoint_usage"),
        sa.PrimaryKeyConstraint("endpoint_id", name="pk_endpoint_usage"),
    )

    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("sent_at", utc, nullable=False),
        _fk_endpoint("reminders"),
        sa.PrimaryKeyConstraint("id", name="pk_reminders"),
        sa.UniqueConstraint("endpoint_id", "kind", "key", name="uq_reminders_endpoint_id_kind_key"),
    )
    op.create_index("ix_reminders_endpoint_id", "reminders", ["endpoint_id"])


def downgrade() -> None:
    op.drop_index("ix_reminders_endpoint_id", table_name="reminders")
    op.drop_table("reminders")
    op.drop_table("endpoint_usage")
    op.drop_index("ix_work_claims_endpoint_id", table_name="work_claims")
    op.drop_table("work_claims")
    op.drop_index("ix_endpoint_events_endpoint_id_at", table_name="endpoint_events")
    op.drop_table("endpoint_events")
    op.drop_index("ix_endpoints_state", table_name="endpoints")
    op.drop_index("ix_endpoints_owner_id", table_name="endpoints")
    op.drop_table("endpoints")
