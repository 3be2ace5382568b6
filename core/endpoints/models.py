"""Tables of the endpoint itself: `Endpoint` (one row per endpoint), `EndpointEvent` (the audit log) and
`StopRequest` (stops acknowledged but not yet carried out).

Rows are written through `core.endpoints.store` (state changes only through `store.transition`); this
module only describes them. The other tables live with their owners (`core.claims`, `core.usage.models`,
`core.watchdog.reminders`, `core.outbox`, `core.replays`) on the one `Base` of `core.tables`.

Schema changes go through an Alembic revision in core/migrations/versions/.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, Enum, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core.endpoints.states import EndpointState
from core.tables import Base, JsonDict, UtcDateTime

__all__ = ["Base", "Endpoint", "EndpointEvent", "KeyHash", "StopRequest"]

# What core.apikeys.hash_api_key produces ("sha256:<hex>"); anything else is refused on assignment.
_KEY_HASH_RE = re.compile(r"^[a-z0-9]+:[0-9a-f]{32,}$")


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


class Endpoint(Base):
    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # short human name, e.g. "qwen2-5-7b"
    cluster_name: Mapped[str] = mapped_column(String(64), unique=True)  # "<prefix><name>-<random>"
    model: Mapped[str] = mapped_column(String(255))
    accelerators: Mapped[str] = mapped_column(String(64))  # NAME:COUNT
    engine: Mapped[str] = mapped_column(String(16))
    launcher: Mapped[str] = mapped_column(String(16))  # "skypilot" | "local" | "fake"
    options: Mapped[dict[str, Any]] = mapped_column(
        JsonDict, default=dict
    )  # core.endpoints.records: options + lifecycle
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


class StopRequest(Base):
    """A stop a person was told about ("Stopping X") before it was carried out: written before the ack,
    marked done once `EndpointService.down` has run, carried out by the next start otherwise."""

    __tablename__ = "stop_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_name: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, index=True)


Index("ix_endpoint_events_endpoint_id_at", EndpointEvent.endpoint_id, EndpointEvent.at)
