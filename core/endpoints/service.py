"""The service layer the chat adapters call: up, down, extend, keep_alive, status, list, fit.

Methods are keyword-only. They validate before any side effect, record intent in the store before
acting, hand slow work (launch, readiness, teardown) to the bot's own worker pool, and report
progress through the `Notifier`. They raise only `core.errors.UserFacingError` subclasses.

CONTRACT (used by bot/ and core.watchdog): the signatures below. Implementation owned by the lifecycle work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.endpoints.views import EndpointView
from core.fit.plan import Plan


@dataclass(frozen=True)
class UpRequest:
    """`/endpoint up MODEL ACCEL [options]`, parsed and typed (validation of values happens in `up`)."""

    model: str
    accelerators: str  # NAME:COUNT
    owner_id: str
    channel_id: str | None = None
    engine: str | None = None  # None = settings.default_engine
    max_model_len: int | None = None
    quantization: str | None = None
    dtype: str | None = None
    kv_cache_dtype: str | None = None
    spot: bool | None = None
    idle_timeout: timedelta | None = None
    ttl: timedelta | None = None
    max_cost: float | None = None
    name: str | None = None
    draft_model: str | None = None
    speculative_tokens: int | None = None
    cloud: str | None = None
    region: str | None = None
    relaunch: bool = False


class DoesNotFit(Exception):
    """`up` refused because the plan does not fit; carries the plan (reasons, suggestions)."""

    def __init__(self, plan: Plan) -> None:
        super().__init__("; ".join(plan.reasons) or "does not fit")
        self.plan = plan


class EndpointService:
    """Wired once at start-up with settings, a session factory, a launcher, a notifier and a worker pool."""

    def fit(self, *, model: str, accelerators: str | None, options: dict) -> list[Plan]:
        """One plan for ACCEL, or the cheapest fitting shapes when ACCEL is None."""
        raise NotImplementedError

    def up(self, *, request: UpRequest) -> EndpointView:
        """Validate, fit-check, record REQUESTED, announce the card, schedule the launch; return at once."""
        raise NotImplementedError

    def down(self, *, name: str, actor: str, reason: str = "stopped by {actor}") -> EndpointView:
        """Owner or admin only. Record STOPPING and schedule teardown; idempotent on terminal endpoints."""
        raise NotImplementedError

    def extend(self, *, name: str, actor: str, by: timedelta) -> EndpointView:
        """Owner or admin only. Push expiry (never past the ceiling), reset the cluster-side deadline, audit."""
        raise NotImplementedError

    def keep_alive(self, *, name: str, actor: str) -> EndpointView:
        """Owner or admin only. Reset the idle clock (last_activity_at = now), audit."""
        raise NotImplementedError

    def status(self, *, name: str) -> EndpointView:
        raise NotImplementedError

    def list(self, *, include_terminal: bool = False, owner_id: str | None = None) -> list[EndpointView]:
        raise NotImplementedError

    def reconcile(self) -> None:
        """Compare the store with the launcher's clusters and fix what differs (see reconcile module)."""
        raise NotImplementedError
