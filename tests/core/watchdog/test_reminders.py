"""Reminder rows as claims: one winner per (endpoint, kind, key), releasable, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.db import Database
from core.watchdog import reminders
from tests.db_fixtures import create_test_endpoint

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _endpoint(database: Database) -> int:
    with database.session() as session:
        return create_test_endpoint(session, now=T0).id


def test_a_claim_is_won_once_even_by_a_second_process(database: Database) -> None:
    endpoint_id = _endpoint(database)
    second = Database(database.url.render_as_string(hide_password=False))  # another bot on the same store
    try:
        assert reminders.claim(database=database, endpoint_id=endpoint_id, kind="idle", key="k1", now=T0)
        assert not reminders.claim(database=second, endpoint_id=endpoint_id, kind="idle", key="k1", now=T0)
        assert reminders.claim(database=second, endpoint_id=endpoint_id, kind="idle", key="k2", now=T0)
        assert reminders.claim(database=second, endpoint_id=endpoint_id, kind="expiry", key="k1", now=T0)
    finally:
        second.dispose()
    sent = reminders.sent_reminders(database=database, endpoint_ids=[endpoint_id])[endpoint_id]
    assert sent == {("idle", "k1"): T0, ("idle", "k2"): T0, ("expiry", "k1"): T0}
    assert reminders.count(database=database, endpoint_id=endpoint_id, kind="idle") == 2


def test_release_lets_the_next_tick_decide_again(database: Database) -> None:
    endpoint_id = _endpoint(database)
    assert reminders.claim(database=database, endpoint_id=endpoint_id, kind="teardown", key="idle:x", now=T0)
    reminders.release(database=database, endpoint_id=endpoint_id, kind="teardown", key="idle:x")
    assert reminders.claim(database=database, endpoint_id=endpoint_id, kind="teardown", key="idle:x", now=T0)


def test_mark_is_idempotent(database: Database) -> None:
    endpoint_id = _endpoint(database)
    marks = [("cost", "25.00"), ("cost", "50.00")]
    reminders.mark(database=database, endpoint_id=endpoint_id, marks=marks, now=T0)
    reminders.mark(database=database, endpoint_id=endpoint_id, marks=marks, now=T0 + timedelta(hours=1))
    sent = reminders.sent_reminders(database=database, endpoint_ids=[endpoint_id])[endpoint_id]
    assert sent == {("cost", "25.00"): T0, ("cost", "50.00"): T0}
