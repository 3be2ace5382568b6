"""Leases on work (following a launch, a teardown) so two bot processes never do the same work twice.

A claim is one `work_claims` row per (endpoint, kind) with an owner and an expiry. The holder renews it
while it works and releases it when done; if the holder dies, its claim expires and another process
may take the work over. Every operation is one atomic statement, so it is race-free on SQLite (writers
are serialised) and on PostgreSQL (row locks; the statement re-checks the row it waited for):

- acquire: `INSERT ... ON CONFLICT (endpoint_id, kind) DO UPDATE ... WHERE expired OR already ours
  RETURNING owner`: a row comes back only if we now hold the claim.
- renew / release: `UPDATE` / `DELETE ... WHERE owner = :us`, judged by rowcount.

Owners are "host:pid:start:uuid" (`start` = the process's start time in clock ticks since boot, from
/proc), so a process on the same host can tell at once that an owner is gone (`owner_is_gone`): its pid
is not running, or is running a different, newer process. Owners on other hosts are judged by expiry only.

Each call runs in the caller's session: commit right after (one short `Database.session()` per call),
because on PostgreSQL an uncommitted claim makes a competitor wait for the transaction to end.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, delete, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.tables import Base, UtcDateTime, upsert_into


class WorkClaim(Base):
    """A lease on long-running work (following a launch, a teardown) held by one bot process.

    A second process may take over a claim only once it has expired; the holder renews it while it works.
    See the module docstring.
    """

    __tablename__ = "work_claims"
    __table_args__ = (UniqueConstraint("endpoint_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "launch" | "teardown"
    owner: Mapped[str] = mapped_column(String(128))  # "<hostname>:<pid>:<uuid>"
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


LAUNCH = "launch"
TEARDOWN = "teardown"

_identity: tuple[int, str] | None = None


def process_identity() -> str:
    """This process as a claim owner: "host:pid:start:uuid" (new after a fork, stable otherwise)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        start = process_start_time(pid)
        _identity = (pid, f"{socket.gethostname()}:{pid}:{start or 0}:{uuid.uuid4().hex[:12]}")
    return _identity[1]


def process_start_time(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22); None if it does not
    exist or this is not Linux."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[19])  # fields after "(comm)" start at field 3: field 22 is index 19
    except (OSError, IndexError, ValueError):
        return None


def owner_is_gone(owner: str) -> bool:
    """True when `owner` (a `process_identity()`) names a process on this host that no longer runs; False
    when it runs, lives on another host, or cannot be judged (then only its claims' expiry tells)."""
    parts = owner.split(":")
    if len(parts) != 4 or parts[0] != socket.gethostname():
        return False
    try:
        pid, start = int(parts[1]), int(parts[2])
    except ValueError:
        return False
    if start == 0 or not os.path.isdir("/proc/self"):
        return False  # no start time was known for it: cannot tell a reused pid from the owner
    return process_start_time(pid) != start


def acquire(
    *, session: Session, endpoint_id: int, kind: str, owner: str, ttl: timedelta, now: datetime
) -> bool:
    """Take the claim if it is free, expired, or already ours (then it is extended). True if we hold it."""
    _check(ttl=ttl, now=now)
    stmt = upsert_into(session, WorkClaim).values(
        endpoint_id=endpoint_id, kind=kind, owner=owner, expires_at=now + ttl
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[WorkClaim.endpoint_id, WorkClaim.kind],
        set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
        where=or_(WorkClaim.expires_at <= now, WorkClaim.owner == owner),
    ).returning(WorkClaim.owner)
    won = session.execute(stmt).scalar_one_or_none() is not None
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, WorkClaim):
            session.expire(loaded)  # an ORM copy of a claim row may now be stale
    return won


def renew(
    *, session: Session, endpoint_id: int, kind: str, owner: str, ttl: timedelta, now: datetime
) -> bool:
    """Push our claim's expiry to `now + ttl`. False if the claim is not ours (any more): stop working."""
    _check(ttl=ttl, now=now)
    claims = WorkClaim.__table__.c  # a Core statement: no ORM bulk-update bookkeeping
    result = session.execute(
        update(WorkClaim.__table__)
        .where(claims.endpoint_id == endpoint_id, claims.kind == kind, claims.owner == owner)
        .values(expires_at=now + ttl)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def release(*, session: Session, endpoint_id: int, kind: str, owner: str) -> bool:
    """Give the claim up (work done). False if it was not ours; someone else's claim is left alone."""
    claims = WorkClaim.__table__.c  # a Core statement: no ORM bulk-delete bookkeeping
    result = session.execute(
        delete(WorkClaim.__table__).where(
            claims.endpoint_id == endpoint_id, claims.kind == kind, claims.owner == owner
        )
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def held_by(*, session: Session, endpoint_id: int, kind: str, now: datetime) -> str | None:
    """The owner of a live (unexpired) claim, or None when the work is free to take."""
    return session.scalar(
        select(WorkClaim.owner).where(
            WorkClaim.endpoint_id == endpoint_id, WorkClaim.kind == kind, WorkClaim.expires_at > now
        )
    )


def expired(*, session: Session, kind: str | None = None, now: datetime) -> list[WorkClaim]:
    """Claims whose holder stopped renewing them: work another process may take over."""
    stmt = select(WorkClaim).where(WorkClaim.expires_at <= now).order_by(WorkClaim.id)
    if kind is not None:
        stmt = stmt.where(WorkClaim.kind == kind)
    return list(session.scalars(stmt).all())


def orphaned(*, session: Session, kind: str | None = None) -> list[WorkClaim]:
    """Claims (expired or not) whose owner process is known to be gone (`owner_is_gone`)."""
    stmt = select(WorkClaim).order_by(WorkClaim.id)
    if kind is not None:
        stmt = stmt.where(WorkClaim.kind == kind)
    return [c for c in session.scalars(stmt).all() if owner_is_gone(c.owner)]


def expire_orphans(*, session: Session, now: datetime) -> list[WorkClaim]:
    """End at once the claims of owners known to be gone (a crashed process on this host), so their work
    is taken over now instead of when the claim would have lapsed. The claims it ended."""
    ended = []
    for claim in orphaned(session=session):
        if claim.expires_at <= now:
            continue  # already free to take
        result = session.execute(
            update(WorkClaim)
            .where(WorkClaim.id == claim.id, WorkClaim.owner == claim.owner)
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            ended.append(claim)
    return ended


def _check(*, ttl: timedelta, now: datetime) -> None:
    if ttl <= timedelta(0):
        raise ValueError(f"a claim's ttl must be positive, got {ttl}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware UTC datetime, got naive {now.isoformat()}")
