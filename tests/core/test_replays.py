"""core.replays: the first sighting of a request wins, across two processes on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import Database
from core.replays import KEEP, ReplayLedger, SeenRequest


def test_a_request_is_new_once_for_every_process(database: Database) -> None:
    other = Database(database.url.render_as_string(hide_password=False))
    try:
        first, second = ReplayLedger(database), ReplayLedger(other)
        assert first.first_sighting("sig:1767600000:v0=abc")
        assert not first.first_sighting("sig:1767600000:v0=abc")
        assert not second.first_sighting("sig:1767600000:v0=abc"), "the other replica agrees"
        assert second.first_sighting("envelope:env-1")
        assert not first.first_sighting("envelope:env-1")
    finally:
        other.dispose()


def test_old_sightings_are_pruned(database: Database) -> None:
    with database.session() as session:
        session.add(SeenRequest(key="sig:old", seen_at=datetime.now(UTC) - KEEP - timedelta(minutes=1)))
    ledger = ReplayLedger(database)
    assert ledger.first_sighting("sig:new")
    with database.session() as session:
        assert session.scalars(select(SeenRequest.key)).all() == ["sig:new"]
