"""Tables: `Endpoint` (one row per endpoint), `EndpointEvent` (the audit log), `WorkClaim`
(who is doing long-running work on an endpoint, with an expiry), and the watchdog's bookkeeping
(`EndpointUsage`, `Reminder`).

CONTRACT: every other package reads these names. Schema changes go through an Alembic revision in
core/migrations/versions/.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.endpoints.states import EndpointState


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Endpoint(Base):
    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # short human name, e.g. "qwen2-5-7b"
    cluster_name: Mapped[str] = mapped_column(String(64), unique=True)  # "<prefix><name>-<random>"
    model: Mapped[str] = mapped_column(String(255))
    accelerators: Mapped[str] = mapped_column(String(64))  # NAME:COUNT
    engine: Mapped[str] = mapped_column(String(16))
    launcher: Mapped[str] = mapped_column(String(16))  # "skypilot" | "local" | "fake"
    options: Mapped[dict] = mapped_column(JSON, default=dict)  # what the user typed, normalised
    plan: Mapped[dict] = mapped_column(JSON, default=dict)  # Plan.to_dict()
    state: Mapped[EndpointState] = mapped_column(
        Enum(EndpointState, native_enum=False, length=16), default=EndpointState.REQUESTED, index=True
    )
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(
        String(32)
    )  # the status card; its thread is the endpoint's thread
    url: Mapped[str | None] = mapped_column(String(255))
    api_key_hash: Mapped[str | None] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    provisioned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idle_timeout_s: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_cost: Mapped[float | None] = mapped_column(Float)
    price_per_hour: Mapped[float] = mapped_column(Float)
    price_is_estimate: Mapped[bool] = mapped_column(default=True)
    cost_so_far: Mapped[float] = mapped_column(Float, default=0.0)
    sky_request_id: Mapped[str | None] = mapped_column(String(128))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    stop_reason: Mapped[str | None] = mapped_column(Text)  # why it was stopped (user, idle, ttl, budget)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    events: Mapped[list[EndpointEvent]] = relationship(
        back_populates="endpoint", order_by="EndpointEvent.id", cascade="all, delete-orphan"
    )


class EndpointEvent(Base):
    """The audit log: one row per transition, button press, reminder, teardown attempt."""

    __tablename__ = "endpoint_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))  # user id, "bot", "watchdog", "reconcile"
    kind: Mapped[str] = mapped_column(String(32))  # "transition", "extend", "teardown_failed", ...
    message: Mapped[str] = mapped_column(Text)

    endpoint: Mapped[Endpoint] = relationship(back_populates="events")


class WorkClaim(Base):
    """A lease on long-running work (following a launch, a teardown) held by one bot process.

    A second process may take over a claim only once it has expired; the holder renews it while it works.
    """

    __tablename__ = "work_claims"
    __table_args__ = (UniqueConstraint("endpoint_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "launch" | "teardown"
    owner: Mapped[str] = mapped_column(String(128))  # "<hostname>:<pid>:<uuid>"
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EndpointUsage(Base):
    """Usage counters the watchdog keeps per endpoint, summed across engine restarts."""

    __tablename__ = "endpoint_usage"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), primary_key=True)
    requests: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[float] = mapped_column(Float, default=0.0)
    generation_tokens: Mapped[float] = mapped_column(Float, default=0.0)
    # The raw counter values of the last successful scrape (to detect growth and resets).
    raw_requests: Mapped[float | None] = mapped_column(Float)
    raw_prompt_tokens: Mapped[float | None] = mapped_column(Float)
    raw_generation_tokens: Mapped[float | None] = mapped_column(Float)
    latency: Mapped[dict] = mapped_column(JSON, default=dict)  # {"ttft_p50": s, "e2e_p99": s, ...}
    last_scrape_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_scrape_ok: Mapped[bool] = mapped_column(default=True)
    consecutive_scrape_failures: Mapped[int] = mapped_column(Integer, default=0)
    cost_accrued_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Reminder(Base):
    """A reminder that was sent, so a restart never repeats or skips one."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("endpoint_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "idle" | "expiry" | "cost" | "cost_cap"
    key: Mapped[str] = mapped_column(
        String(64)
    )  # what makes it unique: the deadline's ISO time, the $ threshold
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
