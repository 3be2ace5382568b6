"""`EndpointView`: an immutable snapshot of an endpoint, safe to hand to other threads and adapters.

Adapters (Slack cards, the shell, App Home, the CLI) render views; they never touch ORM rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.endpoints.records import (
    EndpointOptions,
    Lifecycle,
    TlsRecord,
    first_requested,
    is_service,
    replica_bounds,
)
from core.endpoints.states import EndpointState
from core.fit.plan import Plan

# Lifecycle keys the service keeps in an endpoint's `options`:
# when a relaunched endpoint was first requested (its lifetime ceiling counts from then),
FIRST_REQUESTED_AT = "first_requested_at"
# and who stopped a LOST endpoint (so the watchdog's pending relaunch is called off).
RELAUNCH_CANCELLED_BY = "relaunch_cancelled_by"


@dataclass(frozen=True)
class UsageView:
    requests: float = 0.0
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    latency: dict[str, float] = field(default_factory=dict)  # ttft_p50, ttft_p99, e2e_p50, e2e_p99 (seconds)
    cost_per_million_output_tokens: float | None = None


@dataclass(frozen=True)
class EndpointView:
    id: int
    name: str
    cluster_name: str
    model: str
    accelerators: str
    engine: str
    state: EndpointState
    owner_id: str
    channel_id: str | None
    message_ts: str | None
    url: str | None
    requested_at: datetime
    provisioned_at: datetime | None
    ready_at: datetime | None
    stopped_at: datetime | None
    last_activity_at: datetime | None
    idle_timeout_s: int
    expires_at: datetime
    max_cost: float | None
    price_per_hour: float
    price_is_estimate: bool
    cost_so_far: float
    failure_reason: str | None
    stop_reason: str | None
    usage: UsageView | None = None
    plan: Plan | None = None  # the fit check's plan; None: none recorded (or unreadable)
    options: EndpointOptions = field(default_factory=EndpointOptions)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    tls: TlsRecord = field(default_factory=TlsRecord)  # how the current launch serves HTTPS

    @property
    def first_requested_at(self) -> datetime:
        """When it was first asked for (a relaunch restarts `requested_at`, not this)."""
        return first_requested(self.lifecycle, self.requested_at)

    @property
    def is_service(self) -> bool:
        """Runs as a SkyServe service: several replicas (or autoscaling) behind a load balancer."""
        return is_service(self.options)

    @property
    def replicas_text(self) -> str | None:
        """`2/2 replicas ready` (autoscale: `1/1-4 replicas ready`) for a service; None for a single cluster."""
        if not self.is_service:
            return None
        low, high = replica_bounds(self.options)
        total = str(low) if low == high else f"{low}-{high}"
        ready = self.lifecycle.replicas_ready or 0
        return f"{ready}/{total} replicas ready"

    @property
    def wants_relaunch(self) -> bool:
        """Launch it again when its cluster is lost (`relaunch=yes`, not called off by a stop)."""
        return self.lifecycle.relaunch and self.lifecycle.relaunch_cancelled_by is None


@dataclass(frozen=True)
class EndpointPage:
    """The first endpoints of a listing (oldest first), as many as a screen shows, and how many it holds."""

    views: list[EndpointView]
    total: int

    @property
    def more(self) -> int:
        """How many the page leaves out."""
        return self.total - len(self.views)


@dataclass(frozen=True)
class HomeSnapshot:
    """What a person's App Home shows: their live endpoints, everybody else's, and the team's spend rate."""

    mine: EndpointPage
    others: EndpointPage
    spend_per_hour: float
