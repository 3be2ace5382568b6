"""Requests already handled, shared by every bot process on the store: a replay is recognised and dropped.

A chat adapter names each signed request by something a replay repeats exactly (Slack HTTP mode: the
signature with its timestamp; Socket Mode: the envelope id; Events API: the event id) and asks
`first_sighting` before acting. One atomic `INSERT ... ON CONFLICT DO NOTHING` decides, so two bots on one
PostgreSQL agree on which of them saw a request first. Keys older than `KEEP` are pruned now and then:
Slack refuses (and the adapter's signature check rejects) requests older than five minutes anyway.

Times here are wall-clock UTC, not the bot's `Clock`: the replay window is Slack's, in real time.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, delete
from sqlalchemy.orm import Mapped, mapped_column

from core.tables import Base, UtcDateTime, upsert_into

log = logging.getLogger(__name__)

KEEP = timedelta(minutes=10)  # twice Slack's five-minute replay window
PRUNE_EVERY = timedelta(minutes=1)
MAX_KEY = 160


class SeenRequest(Base):
    """A signed chat request already handled (HTTP: signature + timestamp; Socket Mode: envelope id), so a
    replay is recognised by every bot process sharing the store. Rows older than Slack's replay window
    are pruned."""

    __tablename__ = "seen_requests"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class ReplayLedger:
    """`first_sighting(key)`: True the first time any bot process on this store sees `key`."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._pruned_at: datetime | None = None

    def first_sighting(self, key: str) -> bool:
        now = datetime.now(UTC)
        self._prune(now)
        with self.database.session() as session:
            stmt = (
                upsert_into(session, SeenRequest)
                .values(key=key[:MAX_KEY], seen_at=now)
                .on_conflict_do_nothing()
                .returning(SeenRequest.key)
            )
            return session.execute(stmt).scalar_one_or_none() is not None

    def _prune(self, now: datetime) -> None:
        with self._lock:
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
                return
            self._pruned_at = now
        try:
            with self.database.session() as session:
                session.execute(delete(SeenRequest).where(SeenRequest.seen_at < now - KEEP))
        except Exception:
            log.warning("could not prune handled requests", exc_info=True)
