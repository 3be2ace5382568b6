"""core.claims: leases on work, raced by two "processes" (two Database objects) on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from core import claims
from core.claims import WorkClaim
from core.db import Database
from tests.db_fixtures import create_test_endpoint

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=2)
A = "host-a:101:aaaa"
B = "host-b:202:bbbb"


@pytest.fixture
def endpoint_id(database: Database) -> int:
    with database.session() as session:
        return create_test_endpoint(
            session, now=NOW, channel_id=None, price_per_hour=0.7, price_is_estimate=True
        ).id


@pytest.fixture
def other(database: Database) -> Iterator[Database]:
    """A second bot process on the same store."""
    db = Database(database.url.render_as_string(hide_password=False))
    yield db
    db.dispose()


def acquire(
    db: Database, endpoint_id: int, owner: str, now: datetime = NOW, kind: str = claims.LAUNCH
) -> bool:
    with db.session() as session:
        return claims.acquire(
            session=session, endpoint_id=endpoint_id, kind=kind, owner=owner, ttl=TTL, now=now
        )


def holder(db: Database, endpoint_id: int, now: datetime = NOW, kind: str = claims.LAUNCH) -> str | None:
    with db.session() as session:
        return claims.held_by(session=session, endpoint_id=endpoint_id, kind=kind, now=now)


def test_process_identity_is_host_pid_start_uuid_and_stable() -> None:
    identity = claims.process_identity()
    host, pid, start, tag = identity.split(":")
    assert host and int(pid) == os.getpid() and len(tag) >= 8
    assert int(start) == claims.process_start_time(os.getpid()) and int(start) > 0
    assert claims.process_identity() == identity
    assert not claims.owner_is_gone(identity), "this process runs"


def test_an_owner_whose_process_is_gone_is_recognised_at_once() -> None:
    """Same host: a pid that does not run, or runs a different (newer) process, is a dead owner."""
    host, pid, start, _ = claims.process_identity().split(":")
    assert claims.owner_is_gone(f"{host}:4194999:{start}:dead")  # no such pid
    assert claims.owner_is_gone(f"{host}:{pid}:{int(start) - 1}:old")  # the pid was reused
    # Cannot be judged: another host, no start time recorded, an owner written by an older release.
    assert not claims.owner_is_gone(f"elsewhere-{host}:4194999:{start}:x")
    assert not claims.owner_is_gone(f"{host}:4194999:0:x")
    assert not claims.owner_is_gone(f"{host}:4194999:abcdef123456")


def test_orphaned_lists_live_claims_of_dead_owners(database: Database, endpoint_id: int) -> None:
    host, _, start, _ = claims.process_identity().split(":")
    dead = f"{host}:4194999:{start}:dead"
    assert acquire(database, endpoint_id, dead)
    assert acquire(database, endpoint_id, claims.process_identity(), kind=claims.TEARDOWN)
    with database.session() as session:
        found = claims.orphaned(session=session)
        assert [(c.owner, c.kind) for c in found] == [(dead, claims.LAUNCH)]


def test_a_held_claim_is_refused_to_a_second_process(
    database: Database, other: Database, endpoint_id: int
) -> None:
    assert acquire(database, endpoint_id, A)
    assert not acquire(other, endpoint_id, B, now=NOW + timedelta(seconds=119))
    assert holder(other, endpoint_id) == A
    # A different kind of work on the same endpoint is a different claim.
    assert acquire(other, endpoint_id, B, kind=claims.TEARDOWN)


def test_the_holder_may_acquire_again_and_extends_its_claim(database: Database, endpoint_id: int) -> None:
    assert acquire(database, endpoint_id, A)
    assert acquire(database, endpoint_id, A, now=NOW + timedelta(minutes=1))
    assert holder(database, endpoint_id, now=NOW + timedelta(minutes=2, seconds=30)) == A


def test_an_expired_claim_is_taken_over_and_the_old_holder_cannot_renew(
    database: Database, other: Database, endpoint_id: int
) -> None:
    assert acquire(database, endpoint_id, A)
    later = NOW + TTL  # expiry is inclusive: at expires_at the claim is free
    assert holder(other, endpoint_id, now=later) is None
    assert acquire(other, endpoint_id, B, now=later)
    assert holder(database, endpoint_id, now=later) == B
    with database.session() as session:
        assert not claims.renew(
            session=session, endpoint_id=endpoint_id, kind=claims.LAUNCH, owner=A, ttl=TTL, now=later
        )
        assert not claims.release(session=session, endpoint_id=endpoint_id, kind=claims.LAUNCH, owner=A)
    assert holder(database, endpoint_id, now=later) == B


def test_renew_keeps_a_claim_alive_past_its_first_expiry(
    database: Database, other: Database, endpoint_id: int
) -> None:
    assert acquire(database, endpoint_id, A)
    with database.session() as session:
        assert claims.renew(
            session=session,
            endpoint_id=endpoint_id,
            kind=claims.LAUNCH,
            owner=A,
            ttl=TTL,
            now=NOW + timedelta(minutes=1),
        )
    assert not acquire(other, endpoint_id, B, now=NOW + timedelta(minutes=2, seconds=30))
    assert acquire(other, endpoint_id, B, now=NOW + timedelta(minutes=3))


def test_renew_by_a_non_owner_fails_and_changes_nothing(
    database: Database, other: Database, endpoint_id: int
) -> None:
    assert acquire(database, endpoint_id, A)
    with other.session() as session:
        assert not claims.renew(
            session=session,
            endpoint_id=endpoint_id,
            kind=claims.LAUNCH,
            owner=B,
            ttl=timedelta(hours=1),
            now=NOW,
        )
        assert not claims.renew(
            session=session, endpoint_id=endpoint_id, kind=claims.TEARDOWN, owner=B, ttl=TTL, now=NOW
        )
    with database.session() as session:
        claim = session.query(WorkClaim).one()
        assert (claim.owner, claim.expires_at) == (A, NOW + TTL)


def test_release_frees_the_work_only_for_its_owner(
    database: Database, other: Database, endpoint_id: int
) -> None:
    assert acquire(database, endpoint_id, A)
    with other.session() as session:
        assert not claims.release(session=session, endpoint_id=endpoint_id, kind=claims.LAUNCH, owner=B)
    assert holder(other, endpoint_id) == A
    with database.session() as session:
        assert claims.release(session=session, endpoint_id=endpoint_id, kind=claims.LAUNCH, owner=A)
    assert holder(other, endpoint_id) is None
    assert acquire(other, endpoint_id, B)


def test_expired_lists_work_to_take_over(database: Database, endpoint_id: int) -> None:
    assert acquire(database, endpoint_id, A)
    assert acquire(database, endpoint_id, A, kind=claims.TEARDOWN, now=NOW + timedelta(minutes=1))
    with database.session() as session:
        assert claims.expired(session=session, now=NOW + timedelta(minutes=1)) == []
        due = claims.expired(session=session, now=NOW + TTL)
        assert [(c.endpoint_id, c.kind, c.owner) for c in due] == [(endpoint_id, claims.LAUNCH, A)]
        assert claims.expired(session=session, kind=claims.TEARDOWN, now=NOW + TTL) == []


def test_bad_arguments_are_refused(database: Database, endpoint_id: int) -> None:
    with database.session() as session:
        with pytest.raises(ValueError, match="positive"):
            claims.acquire(
                session=session, endpoint_id=endpoint_id, kind="launch", owner=A, ttl=timedelta(0), now=NOW
            )
        with pytest.raises(ValueError, match="timezone-aware"):
            claims.acquire(
                session=session,
                endpoint_id=endpoint_id,
                kind="launch",
                owner=A,
                ttl=TTL,
                now=datetime(2026, 1, 5),
            )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("expired_first", [False, True], ids=["fresh", "takeover"])
def test_racing_processes_never_both_win(
    database: Database, other: Database, endpoint_id: int, expired_first: bool
) -> None:
    """Eight threads over two processes grab the same work at once: exactly one gets it."""
    now = NOW
    if expired_first:  # a dead holder's claim: everyone races to take it over
        assert acquire(database, endpoint_id, "dead:1:x")
        now = NOW + timedelta(hours=1)
    contenders = [(database if n % 2 else other, f"host:{n}:t") for n in range(8)]
    barrier = threading.Barrier(len(contenders))
    wins: list[str] = []
    errors: list[BaseException] = []

    def grab(db: Database, owner: str) -> None:
        try:
            barrier.wait()
            if acquire(db, endpoint_id, owner, now=now):
                wins.append(owner)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=grab, args=c) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(wins) == 1
    assert holder(database, endpoint_id, now=now) == wins[0]
