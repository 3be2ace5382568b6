"""core.outbox on SQLite and PostgreSQL: stored delivery state, retry with backoff, keys never stored,
two processes sharing the store (a dead one's posts adopted, its key given up)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core import outbox
from core.clock import ManualClock
from core.db import Database
from core.endpoints import store
from core.outbox import OutboxMessage
from tests.core.endpoints.lifecycle_fixtures import RecordingNotifier
from tests.db_fixtures import create_test_endpoint

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KEY = "epk-ThisIsTheKeyThatMustNeverBeStored0123456789"
DEAD = f"{socket.gethostname()}:4194999:12345:deadbeef0000"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def endpoint_id(database: Database) -> int:
    with database.session() as session:
        return create_test_endpoint(
            session, now=NOW, channel_id="C1", price_per_hour=0.7, price_is_estimate=True
        ).id


@pytest.fixture
def other(database: Database) -> Iterator[Database]:
    db = Database(database.url.render_as_string(hide_password=False))
    yield db
    db.dispose()


def _outbox(database: Database, clock: ManualClock, notifier: RecordingNotifier, owner: str) -> outbox.Outbox:
    return outbox.Outbox(
        notifier=notifier,
        database=database,
        clock=clock,
        key_deadline=timedelta(minutes=10),
        lease=timedelta(minutes=3),
        owner=owner,
    )


def _rows(database: Database) -> list[OutboxMessage]:
    with database.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def _view(database: Database, endpoint_id: int):  # type: ignore[no-untyped-def]
    with database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
        assert endpoint is not None
        return store.to_view(endpoint)


def test_messages_are_stored_then_delivered_in_order_with_backoff(
    database: Database, clock: ManualClock, endpoint_id: int
) -> None:
    notifier = RecordingNotifier()
    box = _outbox(database, clock, notifier, "host:1:1:me")
    view = _view(database, endpoint_id)
    notifier.fail = True
    box.thread_post(view, "first")
    box.thread_post(view, "second")
    box.direct_message("U1", "hello")
    assert notifier.calls == [], "nothing is sent on the caller's thread"
    assert box.drain(30)
    assert [r.state for r in _rows(database)] == [outbox.PENDING] * 3
    assert [r.attempts for r in _rows(database)] == [1, 0, 1], "'second' waits behind 'first'"

    notifier.fail = False
    notifier.calls.clear()  # the recording notifier also records the failed tries
    assert box.drain(30)
    assert notifier.thread_texts(view.name) == [], "not due before its backoff"
    clock.advance(timedelta(seconds=1))
    assert box.drain(30)
    assert notifier.thread_texts(view.name) == ["first", "second"]
    assert notifier.of("dm") == [("U1", "hello")]
    assert [r.state for r in _rows(database)] == [outbox.DELIVERED] * 3


def test_a_key_is_never_stored_and_is_delivered_once(
    database: Database, clock: ManualClock, endpoint_id: int
) -> None:
    notifier = RecordingNotifier()
    box = _outbox(database, clock, notifier, "host:1:1:me")
    box.endpoint_ready(_view(database, endpoint_id), api_key=KEY)
    assert box.drain(30) and box.drain(30)
    assert [key for _, key in notifier.of("ready")] == [KEY]
    row = _rows(database)[0]
    assert (row.kind, row.state) == (outbox.KEY, outbox.DELIVERED)
    assert KEY not in repr([(r.text, r.actions, r.last_error, r.recipient) for r in _rows(database)])


def test_a_key_past_its_bound_is_given_up(database: Database, clock: ManualClock, endpoint_id: int) -> None:
    notifier = RecordingNotifier()
    notifier.fail = True
    lost: list[tuple[int, str]] = []
    box = _outbox(database, clock, notifier, "host:1:1:me")
    box.on_key_lost = lambda eid, why: lost.append((eid, why))
    box.endpoint_ready(_view(database, endpoint_id), api_key=KEY)
    for _ in range(30):
        box.drain(30)
        clock.advance(timedelta(minutes=1))
    notifier.calls.clear()
    assert lost == [(endpoint_id, outbox.key_undelivered_reason(timedelta(minutes=10)))]
    assert _rows(database)[0].state == outbox.ABANDONED
    notifier.fail = False
    clock.advance(timedelta(hours=1))
    box.drain(30)
    assert notifier.of("ready") == [], "never shown after it was given up"
    assert box._keys == {}, "erased from memory too"


def test_a_dead_processs_key_is_given_up_and_its_posts_adopted(
    database: Database, other: Database, clock: ManualClock, endpoint_id: int
) -> None:
    dead_notifier = RecordingNotifier()
    dead_notifier.fail = True
    dead = _outbox(database, clock, dead_notifier, DEAD)
    view = _view(database, endpoint_id)
    dead.thread_post(view, "progress")
    dead.endpoint_ready(view, api_key=KEY)
    dead.drain(30)  # fails; then the process dies

    notifier = RecordingNotifier()
    lost: list[int] = []
    alive = _outbox(other, clock, notifier, "host:2:2:restarted")
    alive.on_key_lost = lambda eid, why: lost.append(eid)
    clock.advance(timedelta(seconds=5))
    dead_notifier.calls.clear()
    assert alive.drain(30)
    assert lost == [endpoint_id], "no clock advance past the lease needed: its owner is gone"
    assert notifier.thread_texts(view.name) == ["progress"]
    assert notifier.of("ready") == []


def test_a_live_processs_messages_are_left_to_it(
    database: Database, other: Database, clock: ManualClock, endpoint_id: int
) -> None:
    first = _outbox(database, clock, RecordingNotifier(), "elsewhere:1:1:first")
    first.thread_post(_view(database, endpoint_id), "mine")
    notifier = RecordingNotifier()
    second = _outbox(other, clock, notifier, "host:2:2:second")
    second.drain(30)
    assert notifier.calls == []
    clock.advance(timedelta(minutes=4))  # first stopped renewing its lease: it died elsewhere
    second.drain(30)
    assert notifier.thread_texts(_view(database, endpoint_id).name) == ["mine"]


def test_settled_messages_are_deleted_after_a_week(
    database: Database, clock: ManualClock, endpoint_id: int
) -> None:
    notifier = RecordingNotifier()
    box = _outbox(database, clock, notifier, "host:1:1:me")
    box.thread_post(_view(database, endpoint_id), "old news")
    assert box.drain(30)
    assert [r.state for r in _rows(database)] == [outbox.DELIVERED]
    clock.advance(outbox.KEEP_SETTLED + timedelta(hours=1))
    box.thread_post(_view(database, endpoint_id), "pending")
    notifier.fail = True
    box.drain(30)
    assert [(r.text, r.state) for r in _rows(database)] == [("pending", outbox.PENDING)]
