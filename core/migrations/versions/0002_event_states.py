"""Transition events carry their states in columns (from_state, to_state), not only in the message.

Existing transition events are filled in from their message ("OLD -> NEW: why").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = ("REQUESTED", "PROVISIONING", "STARTING", "READY", "STOPPING", "STOPPED", "FAILED", "LOST")


def upgrade() -> None:
    with op.batch_alter_table("endpoint_events") as batch:
        batch.add_column(sa.Column("from_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("to_state", sa.String(16), nullable=True))

    # One UPDATE per state pair: plain SQL that runs on every backend and in offline (--sql) mode.
    events = sa.table(
        "endpoint_events",
        sa.column("kind", sa.String),
        sa.column("message", sa.Text),
        sa.column("from_state", sa.String),
        sa.column("to_state", sa.String),
    )
    for old in _STATES:
        for new in _STATES:
            op.execute(
                events.update()
                .where(events.c.kind == "transition", events.c.message.like(f"{old} -> {new}%"))
                .values(from_state=old, to_state=new)
            )


def downgrade() -> None:
    with op.batch_alter_table("endpoint_events") as batch:
        batch.drop_column("to_state")
        batch.drop_column("from_state")
