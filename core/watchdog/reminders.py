"""The watchdog's memory: which reminders went out and which teardowns were decided (`Reminder` rows).

A row is written BEFORE the message is sent, in its own transaction, and the unique constraint on
(endpoint_id, kind, key) makes that insert a claim: of two watchdogs (two bot processes, or one
restarted in the middle of a tick) exactly one sends. A crash between the commit and the send loses
that one message rather than sending it twice; the teardown it announced still happens on schedule.
A teardown claim is released again if the teardown could not be started, so the next tick retries it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import as_utc
from core.db import Database
from core.tables import Base, UtcDateTime, upsert_into
from core.watchdog.policy import SentReminders


class Reminder(Base):
    """A reminder that was sent, so a restart never repeats or skips one."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("endpoint_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "idle" | "expiry" | "cost" | "cost_cap"
    key: Mapped[str] = mapped_column(String(64))  # what makes it unique: the deadline's ISO time, the $ step
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)


def sent_reminders(*, database: Database, endpoint_ids: Collection[int]) -> dict[int, SentReminders]:
    """For each endpoint, {(kind, key): sent_at} of every reminder and claim recorded for it."""
    out: dict[int, dict[tuple[str, str], datetime]] = {endpoint_id: {} for endpoint_id in endpoint_ids}
    if not out:
        return out
    with database.session() as session:
        rows = session.execute(
            select(Reminder.endpoint_id, Reminder.kind, Reminder.key, Reminder.sent_at).where(
                Reminder.endpoint_id.in_(list(out))
            )
        ).all()
    for endpoint_id, kind, key, sent_at in rows:
        out[endpoint_id][(kind, key)] = as_utc(sent_at)
    return out


def claim(*, database: Database, endpoint_id: int, kind: str, key: str, now: datetime) -> bool:
    """Record (endpoint, kind, key) as done; False if it already was (by us earlier, or another process)."""
    try:
        with database.session() as session:
            session.add(Reminder(endpoint_id=endpoint_id, kind=kind, key=key, sent_at=now))
            session.flush()
    except IntegrityError:
        return False
    return True


ClaimKey = tuple[int, str, str]  # (endpoint_id, kind, key)
CLAIMS_PER_STATEMENT = 500  # 4 bound values each: well under SQLite's and PostgreSQL's limits


def claim_many(*, session: Session, claims: Collection[ClaimKey], now: datetime) -> set[ClaimKey]:
    """Claim many at once in the caller's transaction (one tick's reminders); the ones this call won.
    `INSERT ... ON CONFLICT DO NOTHING RETURNING` a few hundred rows at a time: a claim another process
    (or an earlier tick) holds is simply not won."""
    unique = list(dict.fromkeys(claims))
    won: set[ClaimKey] = set()
    for start in range(0, len(unique), CLAIMS_PER_STATEMENT):
        chunk = unique[start : start + CLAIMS_PER_STATEMENT]
        inserted = session.execute(
            upsert_into(session, Reminder)
            .values([{"endpoint_id": e, "kind": k, "key": key, "sent_at": now} for e, k, key in chunk])
            .on_conflict_do_nothing()
            .returning(Reminder.endpoint_id, Reminder.kind, Reminder.key)
        ).all()
        won.update((endpoint_id, kind, key) for endpoint_id, kind, key in inserted)
    return won


def mark(*, database: Database, endpoint_id: int, marks: Collection[tuple[str, str]], now: datetime) -> None:
    """Record reminders that are covered by another message (idempotent)."""
    for kind, key in marks:
        claim(database=database, endpoint_id=endpoint_id, kind=kind, key=key, now=now)


def release(*, database: Database, endpoint_id: int, kind: str, key: str) -> None:
    """Forget a claim whose work could not be done, so it is tried again."""
    with database.session() as session:
        session.execute(
            delete(Reminder).where(
                Reminder.endpoint_id == endpoint_id, Reminder.kind == kind, Reminder.key == key
            )
        )


def count(*, database: Database, endpoint_id: int, kind: str) -> int:
    """How many reminders of one kind an endpoint has had (e.g. how often it was relaunched)."""
    with database.session() as session:
        return len(
            session.scalars(
                select(Reminder.id).where(Reminder.endpoint_id == endpoint_id, Reminder.kind == kind)
            ).all()
        )
