"""The outbox: what the bot owes people (thread posts, DMs, an endpoint's API key), stored, then delivered
by a sender thread with retry and backoff, never on the thread that produced it.

`Outbox` implements the `Notifier` port around the chat adapter's notifier. `thread_post` and
`direct_message` write an `outbox` row and return at once; `endpoint_changed` queues the newest card (in
memory: a card update only matters until the next one); `announce` passes straight through (its caller
needs the card's place). The sender delivers due rows oldest first, one conversation (an endpoint's thread,
a person's DMs) in order: a row that fails holds back the later ones of its conversation until it is
retried (backoff 1 s, 2 s, 4 s ... at most a minute) or given up at its `deliver_by`.

API keys: the key itself is never stored. The launch records a "key" row (who owes it, until when) in the
same transaction that makes the endpoint READY, then hands the key to this process's outbox in memory
(`hand_over_key`). The notifier posts it in the endpoint's thread, with the owner's DM as fallback. A key
that cannot be delivered by `settings.key_delivery_deadline`, or whose owner process died before
delivering it (its lease lapsed, or `core.claims.owner_is_gone` says so at once), is abandoned: the
endpoint cannot be used by anyone, so `on_key_lost(endpoint_id, reason)` tears it down with a sentence.

Delivered and abandoned rows are deleted a week later. Every pending row carries a lease its owner
renews: another process takes over thread posts and DMs whose owner died (duplicates are possible only
for a message in flight at the crash).

Notifier methods answer `False` when they could not deliver (anything else counts as delivered); an
exception counts as a failure too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import claims
from core.clock import Clock
from core.endpoints import store
from core.endpoints.views import EndpointView
from core.notifier import Action, ChatRef, Delivery, Notifier, deliver
from core.tables import Base, UtcDateTime
from core.units import format_duration

log = logging.getLogger(__name__)

KEY, THREAD, DM = "key", "thread", "dm"
PENDING, DELIVERED, ABANDONED = "pending", "delivered", "abandoned"
MAX_BACKOFF = timedelta(minutes=1)
MESSAGE_DEADLINE = timedelta(hours=1)  # a thread post or DM still undelivered after this is dropped
KEEP_SETTLED = timedelta(days=7)  # delivered and abandoned rows are deleted after this (the audit log stays)

KeyLost = Callable[[int, str], None]


class OutboxMessage(Base):
    """One message the bot owes a person (a thread post, a DM, an endpoint's API key) and how its delivery goes.

    See the module docstring. An API key is never stored: a "key" row records only that the key is owed, by which
    process (`owner`, whose memory holds the key) and until when (`deliver_by`).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), index=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(16))  # "key" | "thread" | "dm"
    recipient: Mapped[str | None] = mapped_column(String(64), default=None)  # a DM's user id
    text: Mapped[str | None] = mapped_column(Text, default=None)  # thread posts and DMs only
    actions: Mapped[list[Any] | None] = mapped_column(JSON, default=None)  # a DM's buttons
    state: Mapped[str] = mapped_column(String(16), index=True)  # "pending" | "delivered" | "abandoned"
    owner: Mapped[str] = mapped_column(String(160))  # the process delivering it (core.claims identity)
    lease_until: Mapped[datetime] = mapped_column(UtcDateTime)  # renewed by the owner while it is alive
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deliver_by: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(String(255), default=None)


def key_undelivered_reason(deadline: timedelta) -> str:
    return (
        f"Slack would not take the endpoint's API key for {format_duration(deadline)}, so nobody could use "
        "the endpoint. It was torn down so it stops billing; please run `up` again."
    )


def key_lost_in_restart_reason() -> str:
    return (
        "The bot restarted before it could give you the endpoint's API key (kept only in memory), so nobody "
        "could use the endpoint. It was torn down so it stops billing; please run `up` again."
    )


def record_key(
    *, session: Session, endpoint_id: int, owner: str, now: datetime, deliver_by: datetime, lease: timedelta
) -> int:
    """Record, in the caller's transaction, that `owner` owes the endpoint's API key; the row's id."""
    row = OutboxMessage(
        endpoint_id=endpoint_id,
        kind=KEY,
        state=PENDING,
        owner=owner,
        lease_until=now + lease,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        deliver_by=deliver_by,
    )
    session.add(row)
    session.flush()
    return row.id


def settle(*, session: Session, message_id: int, delivered: bool, now: datetime) -> bool:
    """Mark a pending row delivered (or abandoned); False if it was not pending any more."""
    values: dict[str, Any] = {"state": DELIVERED if delivered else ABANDONED}
    if delivered:
        values["delivered_at"] = now
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Due:
    id: int
    kind: str
    endpoint_id: int | None
    recipient: str | None
    text: str | None
    actions: tuple[Action, ...]
    attempts: int
    deliver_by: datetime


class Outbox:
    """The `Notifier` the core talks to when the chat can fail (Slack); see the module docstring."""

    def __init__(
        self,
        *,
        notifier: Notifier,
        database: Any,
        clock: Clock,
        key_deadline: timedelta,
        lease: timedelta,
        owner: str | None = None,
        poll: float = 0.5,
    ) -> None:
        self.inner = notifier
        self.database = database
        self.clock = clock
        self.key_deadline = key_deadline
        self.lease = lease
        self.owner = owner or claims.process_identity()
        self.poll = poll
        self.on_key_lost: KeyLost | None = None  # set by the wiring: tear the endpoint down
        self._keys: dict[int, tuple[EndpointView, str]] = {}  # row id -> (view, key): memory only
        self._cards: dict[int, EndpointView] = {}  # endpoint id -> newest card to show
        self._lock = threading.Lock()  # guards _keys and _cards
        self._round = threading.Lock()  # one delivery round at a time (sender thread or drain)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._batches = threading.local()  # rows held back by `batch()` on this thread
        self._renewed_at: datetime | None = None  # when our leases were last renewed (clock time)
        self._pruned_at: datetime | None = None  # when settled rows were last deleted (clock time)

    # --- the Notifier port ------------------------------------------------------------------------

    def announce(self, endpoint: EndpointView) -> ChatRef | None:
        return self.inner.announce(endpoint)

    def endpoint_changed(self, endpoint: EndpointView) -> None:
        with self._lock:
            self._cards[endpoint.id] = endpoint
        self._wake.set()

    def thread_post(self, endpoint: EndpointView, text: str) -> None:
        self._enqueue(THREAD, endpoint_id=endpoint.id, text=text)

    def direct_message(self, user_id: str, text: str, *, actions: tuple[Action, ...] = ()) -> None:
        self._enqueue(DM, recipient=user_id, text=text, actions=[asdict(a) for a in actions])

    def endpoint_ready(self, endpoint: EndpointView, *, api_key: str) -> None:
        """The key for an endpoint whose launch did not record a key row (see `hand_over_key`)."""
        now = self.clock.now()
        with self.database.session() as session:
            message_id = record_key(
                session=session,
                endpoint_id=endpoint.id,
                owner=self.owner,
                now=now,
                deliver_by=now + self.key_deadline,
                lease=self.lease,
            )
        self.hand_over_key(message_id, endpoint, api_key)

    def hand_over_key(self, message_id: int, endpoint: EndpointView, api_key: str) -> None:
        """Deliver the key owed by row `message_id` (recorded by the launch with `record_key`)."""
        with self._lock:
            self._keys[message_id] = (endpoint, api_key)
        self._wake.set()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Thread posts and DMs queued on this thread inside the block are stored in one transaction at
        its end (the watchdog's reminders: a thousand DMs cost one commit, not a thousand)."""
        if getattr(self._batches, "rows", None) is not None:
            yield  # already batching: the outer block stores them
            return
        self._batches.rows = []
        try:
            yield
        finally:
            rows, self._batches.rows = self._batches.rows, None
            self._store(rows)

    def __getattr__(self, name: str) -> Any:  # adapter extras (e.g. SlackNotifier.card_of)
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # --- running ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the sender thread (a first round at once: it also finds keys a dead process owed)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="epb-outbox", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def kick(self) -> None:
        """Run a round now (after the clock moved, in tests)."""
        self._wake.set()

    def drain(self, timeout: float = 60.0) -> bool:
        """Deliver on the caller's thread until nothing is due (tests, shutdown); True when nothing is."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.daemon = True
        timer.start()
        try:
            while not deadline.is_set():
                if self.run_once() == 0:
                    return True
            return False
        finally:
            timer.cancel()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("outbox round failed; retrying")
            self._wake.wait(self.poll)
            self._wake.clear()

    def run_once(self) -> int:
        """One round: card updates, leases, lost keys, then every due message. How many it tried."""
        with self._round:
            tried = self._deliver_cards()
            now = self.clock.now()
            lost, due = self._bookkeeping(now)
            for endpoint_id, reason in lost:
                self._key_lost(endpoint_id, reason)
            blocked: set[tuple[str, Any]] = set()
            for message in due:
                conversation = _conversation(message.kind, message.recipient, message.endpoint_id)
                if conversation in blocked:
                    continue
                tried += 1
                if not self._deliver(message, now):
                    blocked.add(conversation)
            return tried + len(lost)

    # --- one round ------------------------------------------------------------------------------

    def _deliver_cards(self) -> int:
        with self._lock:
            cards, self._cards = list(self._cards.values()), {}
        for view in cards:
            deliver(self.inner.endpoint_changed, view)
        return len(cards)

    def _bookkeeping(self, now: datetime) -> tuple[list[tuple[int, str]], list[_Due]]:
        """Prune old rows, renew our leases, settle what dead processes owed; (keys lost, messages due)."""
        with self._lock:
            in_memory = set(self._keys)
        self._prune(now)
        with self.database.session() as session:
            pending = session.scalars(
                select(OutboxMessage).where(OutboxMessage.state == PENDING).order_by(OutboxMessage.id)
            ).all()
            if not pending:
                return [], []  # the usual case: one read, no write
            self._renew_leases(session, now)
            lost = self._take_over_from_the_dead(session, pending, now)
            due = self._due(session, now, in_memory=in_memory, lost=lost)
        due.sort(key=lambda m: m.kind != KEY)  # keys first: progress posts stuck ahead must not delay them
        return lost, due

    def _prune(self, now: datetime) -> None:
        """Delete delivered and abandoned rows older than KEEP_SETTLED (at most once an hour)."""
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return
        self._pruned_at = now
        with self.database.session() as session:
            session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.state != PENDING, OutboxMessage.created_at < now - KEEP_SETTLED
                )
            )

    def _renew_leases(self, session: Session, now: datetime) -> None:
        """Our pending rows stay ours while we live (renewed a few times per lease)."""
        if self._renewed_at is not None and now - self._renewed_at < self.lease / 3:
            return
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.owner == self.owner, OutboxMessage.state == PENDING)
            .values(lease_until=now + self.lease)
            .execution_options(synchronize_session=False)
        )
        self._renewed_at = now

    def _take_over_from_the_dead(
        self, session: Session, pending: Sequence[OutboxMessage], now: datetime
    ) -> list[tuple[int, str]]:
        """Abandon the keys a dead process owed (the endpoints to tear down) and adopt its other messages."""
        lost: list[tuple[int, str]] = []
        for row in (r for r in pending if r.owner != self.owner):
            if row.lease_until > now and not claims.owner_is_gone(row.owner):
                continue  # a live process delivers it
            if row.kind == KEY:  # the key died with its process
                if settle(session=session, message_id=row.id, delivered=False, now=now):
                    log.warning("API key of endpoint %s died with process %s", row.endpoint_id, row.owner)
                    if row.endpoint_id is not None:
                        lost.append((row.endpoint_id, key_lost_in_restart_reason()))
            else:  # adopt a dead process's thread posts and DMs
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id, OutboxMessage.owner == row.owner)
                    .values(owner=self.owner, lease_until=now + self.lease)
                    .execution_options(synchronize_session=False)
                )
        return lost

    def _due(
        self, session: Session, now: datetime, *, in_memory: set[int], lost: list[tuple[int, str]]
    ) -> list[_Due]:
        """Our messages due now, a conversation's in order; keys past their bound are abandoned (to `lost`)."""
        mine = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.owner == self.owner, OutboxMessage.state == PENDING)
            .order_by(OutboxMessage.id)
        ).all()
        due: list[_Due] = []
        waiting: set[tuple[str, Any]] = set()  # conversations with an earlier message in backoff
        for row in mine:
            conversation = _conversation(row.kind, row.recipient, row.endpoint_id)
            if row.kind != KEY and (conversation in waiting or row.next_attempt_at > now):
                waiting.add(conversation)  # keep a conversation's order
                continue
            if row.kind == KEY and row.next_attempt_at > now and row.deliver_by > now:
                continue
            if row.kind == KEY and (row.deliver_by <= now or row.id not in in_memory):
                # Past its bound (even if held back behind other messages), or recorded by a launch
                # that is about to hand the key over.
                if row.deliver_by <= now and settle(
                    session=session, message_id=row.id, delivered=False, now=now
                ):
                    with self._lock:
                        self._keys.pop(row.id, None)  # erased with the endpoint
                    if row.endpoint_id is not None:
                        lost.append((row.endpoint_id, key_undelivered_reason(self.key_deadline)))
                continue
            due.append(
                _Due(
                    id=row.id,
                    kind=row.kind,
                    endpoint_id=row.endpoint_id,
                    recipient=row.recipient,
                    text=row.text,
                    actions=tuple(Action(**a) for a in (row.actions or [])),
                    attempts=row.attempts,
                    deliver_by=row.deliver_by,
                )
            )
        return due

    def _deliver(self, message: _Due, now: datetime) -> bool:
        sent = self._send(message)
        with self.database.session() as session:
            if sent.delivered:
                settle(session=session, message_id=message.id, delivered=True, now=self.clock.now())
                if message.kind == KEY:
                    with self._lock:
                        self._keys.pop(message.id, None)  # delivered: forget it
                return True
            attempts = message.attempts + 1
            next_at = now + min(timedelta(seconds=2 ** (attempts - 1)), MAX_BACKOFF)
            if next_at > message.deliver_by:
                settle(session=session, message_id=message.id, delivered=False, now=now)
                log.warning(
                    "gave up delivering outbox %s %s after %d attempts", message.kind, message.id, attempts
                )
                abandoned = True
            else:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message.id)
                    .values(attempts=attempts, next_attempt_at=next_at, last_error=sent.why_not[:255])
                    .execution_options(synchronize_session=False)
                )
                abandoned = False
        if abandoned and message.kind == KEY:
            with self._lock:
                self._keys.pop(message.id, None)  # the key is erased with the endpoint
            if message.endpoint_id is not None:
                self._key_lost(message.endpoint_id, key_undelivered_reason(self.key_deadline))
        return False

    def _send(self, message: _Due) -> Delivery:
        if message.kind == DM:
            return deliver(
                self.inner.direct_message,
                message.recipient or "",
                message.text or "",
                actions=message.actions,
            )
        view = self._view(message.endpoint_id)
        if message.kind == KEY:
            with self._lock:
                held = self._keys.get(message.id)
            if held is None:
                return Delivery(error="the key is not in this process")
            remembered, api_key = held
            return deliver(self.inner.endpoint_ready, view or remembered, api_key=api_key)
        if view is None:
            return Delivery()  # the endpoint is gone from the store: nothing to post under
        return deliver(self.inner.thread_post, view, message.text or "")

    def _view(self, endpoint_id: int | None) -> EndpointView | None:
        if endpoint_id is None:
            return None
        with self.database.session() as session:
            endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
            return store.to_view(endpoint) if endpoint is not None else None

    def _enqueue(self, kind: str, **values: Any) -> None:
        now = self.clock.now()
        row = OutboxMessage(
            kind=kind,
            state=PENDING,
            owner=self.owner,
            lease_until=now + self.lease,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            deliver_by=now + MESSAGE_DEADLINE,
            **values,
        )
        held = getattr(self._batches, "rows", None)
        if held is not None:
            held.append(row)
            return
        self._store([row])

    def _store(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        try:
            with self.database.session() as session:
                session.add_all(rows)
        except Exception:  # the store being down must not change an endpoint's state either
            log.warning("could not queue %d message(s)", len(rows), exc_info=True)
            return
        self._wake.set()

    def _key_lost(self, endpoint_id: int, reason: str) -> None:
        if self.on_key_lost is None:
            log.error("endpoint %s: its API key was not delivered and nothing tears it down", endpoint_id)
            return
        try:
            self.on_key_lost(endpoint_id, reason)
        except Exception:
            log.exception("could not tear down endpoint %s after its key was lost", endpoint_id)


def _conversation(kind: str, recipient: str | None, endpoint_id: int | None) -> tuple[str, Any]:
    """Messages delivered in order among themselves: a person's DMs, or an endpoint's thread."""
    return ("dm", recipient) if kind == DM else ("endpoint", endpoint_id)
