"""core.tables.update_changed: plain rows read with Core are written back, only what changed, on both
databases (the watchdog's tick writes every endpoint this way)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import Database
from core.endpoints.models import Endpoint
from core.tables import update_changed
from tests.db_fixtures import create_test_endpoint

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_update_changed_writes_only_changed_columns(database: Database) -> None:
    with database.session() as session:
        ids = [create_test_endpoint(session, now=NOW, name=f"e{i}").id for i in range(3)]
    columns = (Endpoint.id, Endpoint.cost_so_far, Endpoint.last_activity_at, Endpoint.name)
    with database.session() as session:
        rows = [dict(row._asdict()) for row in session.execute(select(*columns).order_by(Endpoint.id))]
        pairs = []
        for n, row in enumerate(rows):
            current = dict(row)
            if n == 0:
                current["cost_so_far"] = 1.5
            if n == 1:
                current["cost_so_far"] = 2.5
                current["last_activity_at"] = NOW + timedelta(minutes=5)
            pairs.append((row, current))
        written = update_changed(session, Endpoint.__table__, pairs)
    assert written == 2
    with database.session() as session:
        found = {e.id: e for e in session.scalars(select(Endpoint)).all()}
    assert found[ids[0]].cost_so_far == 1.5
    assert found[ids[1]].cost_so_far == 2.5
    assert found[ids[1]].last_activity_at == NOW + timedelta(minutes=5)  # aware UTC in and out
    assert found[ids[2]].cost_so_far == rows[2]["cost_so_far"]
    assert [found[i].name for i in ids] == ["e0", "e1", "e2"]
