"""Tables: `Endpoint` (one row per endpoint), `EndpointEvent` (the audit log), `WorkClaim`
(who is doing long-running work on an endpoint, with an expiry), and the watchdog's bookkeeping
(`EndpointUsage`, `Reminder`), the chat outbox (`OutboxMessage`), stops acknowledged but not yet
carried out (`StopRequest`) and signed chat requests already handled (`SeenRequest`).

Rows are written through `core.endpoints.store` (state changes only through `store.transition`) and
`core.claims`; this module only describes them. Datetimes are timezone-aware UTC in and out on every
database (`UtcDateTime`); JSON columns track top-level changes (`options["x"] = ...` is saved).

Schema changes go through an Alembic revision in core/migrations/versions/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from core.endpoints.states import EndpointState

# What core.apikeys.hash_api_key produces ("sha256:<hex>"); anything else is refused on assignment.
_KEY_HASH_RE = re.compile(r"^[a-z0-9]+:[0-9a-f]{32,}$")

# Stable constraint names, so Alembic revisions can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is timezone-aware UTC in and out.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so values are stored as naive UTC
    (fixed-width text, which also keeps `<`/`>` comparisons right) and made aware again on the way out.
    A naive datetime on the way in is a bug (whose local time is it?), so it is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given to the store: pass a timezone-aware UTC "
                "datetime (clock.now())"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JsonDict = MutableDict.as_mutable(JSON)


def _check_key_hash(value: str | None) -> str | None:
    # A plaintext key must never reach the database, even by mistake. The message never echoes it.
    if value is not None and not _KEY_HASH_RE.match(value):
        raise ValueError("api_key_hash takes core.apikeys.hash_api_key(key), never the key itself")
    return value


class KeyHash(TypeDecorator[str]):
    """An API key's hash ("sha256:<hex>"); refuses anything else, also in Core UPDATEs."""

    impl = String(128)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return _check_key_hash(value)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JsonDict}  # noqa: RUF012


class Endpoint(Base):
    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # short human name, e.g. "qwen2-5-7b"
    cluster_name: Mapped[str] = mapped_column(String(64), unique=True)  # "<prefix><name>-<random>"
    model: Mapped[str] = mapped_column(String(255))
    accelerators: Mapped[str] = mapped_column(String(64))  # NAME:COUNT
    engine: Mapped[str] = mapped_column(String(16))
    launcher: Mapped[str] = mapped_column(String(16))  # "skypilot" | "local" | "fake"
    options: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)  # core.endpoints.records: options + lifecycle
    plan: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)  # core.endpoints.records: the Plan
    # Written only by store.transition, which also bumps `version` (optimistic concurrency).
    state: Mapped[EndpointState] = mapped_column(
        Enum(EndpointState, native_enum=False, length=16, validate_strings=True),
        default=EndpointState.REQUESTED,
        index=True,
    )
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(64))
    # The status card; its thread is the endpoint's thread.
    message_ts: Mapped[str | None] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(String(255))
    # Only a hash of the endpoint's API key is ever stored (core.apikeys); the key itself is shown once.
    api_key_hash: Mapped[str | None] = mapped_column(KeyHash)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    provisioned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_activity_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    idle_timeout_s: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    max_cost: Mapped[float | None] = mapped_column(Float)
    price_per_hour: Mapped[float] = mapped_column(Float)
    price_is_estimate: Mapped[bool] = mapped_column(default=True)
    cost_so_far: Mapped[float] = mapped_column(Float, default=0.0)
    sky_request_id: Mapped[str | None] = mapped_column(String(128))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    stop_reason: Mapped[str | None] = mapped_column(Text)  # why it was stopped (user, idle, ttl, budget)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    events: Mapped[list[EndpointEvent]] = relationship(
        back_populates="endpoint", order_by="EndpointEvent.id", cascade="all, delete-orphan"
    )

    @validates("api_key_hash")
    def _only_hashes(self, _key: str, value: str | None) -> str | None:
        return _check_key_hash(value)  # fail at the assignment, where the mistake is

    def __repr__(self) -> str:  # never includes the key hash
        return f"<Endpoint {self.id} {self.name!r} {self.state} cluster={self.cluster_name!r}>"


class EndpointEvent(Base):
    """The audit log: one row per transition, button press, reminder, teardown attempt."""

    __tablename__ = "endpoint_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed together with `at` (below): an endpoint's audit log in time order is the common read.
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))  # user id, "bot", "watchdog", "reconcile"
    kind: Mapped[str] = mapped_column(String(32))  # "created", "transition", "extend", "teardown_failed", ...
    message: Mapped[str] = mapped_column(Text)  # for a transition: "OLD -> NEW: why"
    # Set on "transition" events (revision 0002), so billing and history need not parse `message`.
    from_state: Mapped[EndpointState | None] = mapped_column(
        Enum(EndpointState, native_enum=False, length=16, validate_strings=True), default=None
    )
    to_state: Mapped[EndpointState | None] = mapped_column(
        Enum(EndpointState, native_enum=False, length=16, validate_strings=True), default=None
    )

    endpoint: Mapped[Endpoint] = relationship(back_populates="events")


class WorkClaim(Base):
    """A lease on long-running work (following a launch, a teardown) held by one bot process.

    A second process may take over a claim only once it has expired; the holder renews it while it works.
    See core.claims.
    """

    __tablename__ = "work_claims"
    __table_args__ = (UniqueConstraint("endpoint_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "launch" | "teardown"
    owner: Mapped[str] = mapped_column(String(128))  # "<hostname>:<pid>:<uuid>"
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EndpointUsage(Base):
    """Usage counters the watchdog keeps per endpoint, summed across engine restarts."""

    __tablename__ = "endpoint_usage"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    requests: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[float] = mapped_column(Float, default=0.0)
    generation_tokens: Mapped[float] = mapped_column(Float, default=0.0)
    # The raw counter values of the last successful scrape (to detect growth and resets).
    raw_requests: Mapped[float | None] = mapped_column(Float)
    raw_prompt_tokens: Mapped[float | None] = mapped_column(Float)
    raw_generation_tokens: Mapped[float | None] = mapped_column(Float)
    latency: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)  # {"ttft_p50": s, ...}
    last_scrape_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_scrape_ok: Mapped[bool] = mapped_column(default=True)
    consecutive_scrape_failures: Mapped[int] = mapped_column(Integer, default=0)
    cost_accrued_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Reminder(Base):
    """A reminder that was sent, so a restart never repeats or skips one."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("endpoint_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "idle" | "expiry" | "cost" | "cost_cap"
    key: Mapped[str] = mapped_column(String(64))  # what makes it unique: the deadline's ISO time, the $ step
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxMessage(Base):
    """One message the bot owes a person (a thread post, a DM, an endpoint's API key) and how its delivery goes.

    See core.outbox. An API key is never stored: a "key" row records only that the key is owed, by which
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


class StopRequest(Base):
    """A stop a person was told about ("Stopping X") before it was carried out: written before the ack,
    marked done once `EndpointService.down` has run, carried out by the next start otherwise."""

    __tablename__ = "stop_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_name: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, index=True)


class SeenRequest(Base):
    """A signed chat request already handled (HTTP: signature + timestamp; Socket Mode: envelope id), so a
    replay is recognised by every bot process sharing the store. Rows older than Slack's replay window
    are pruned."""

    __tablename__ = "seen_requests"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


Index("ix_endpoint_events_endpoint_id_at", EndpointEvent.endpoint_id, EndpointEvent.at)
