"""Usage counters: folding scrapes into `EndpointUsage` and reading them back.

- `record_scrape` / `record_scrape_failure` update one endpoint's usage row from one scrape and say
  whether the endpoint was active. Totals survive engine restarts: a counter that went down means the
  engine restarted, so its new value is added as it stands (never a negative delta).
- `record_baseline` remembers the counters right after readiness (see `core.usage.baseline`).
- `usage_view(session=..., endpoint_id=...)` is the read side for status, the App Home and the summary.

Rows are changed in the caller's session; nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.endpoints.models import Endpoint
from core.endpoints.views import UsageView
from core.usage.metrics import EngineSnapshot
from core.usage.models import EndpointUsage


@dataclass(frozen=True)
class ScrapeOutcome:
    """What one scrape meant for one endpoint."""

    active: bool
    restarted: bool = False  # a counter went down since the previous scrape
    baseline: bool = False  # first successful scrape: nothing to compare with yet


def new_usage(endpoint_id: int) -> EndpointUsage:
    """An empty usage row (column defaults only apply on flush, so set them here for in-memory use)."""
    return EndpointUsage(
        endpoint_id=endpoint_id,
        requests=0.0,
        prompt_tokens=0.0,
        generation_tokens=0.0,
        latency={},
        last_scrape_ok=True,
        consecutive_scrape_failures=0,
    )


def record_scrape(usage: EndpointUsage, snapshot: EngineSnapshot, *, now: datetime) -> ScrapeOutcome:
    """Fold one successful scrape into `usage`. Active = tokens or requests grew, or work is running or
    queued. The first scrape of an engine is a baseline: its counters include the readiness probe's
    completion, which is not traffic, so nothing is added; it is active only if something is in flight.
    (The launch flow normally takes that baseline right after readiness, see `record_baseline`.)"""
    fresh = (snapshot.requests, snapshot.prompt_tokens, snapshot.generation_tokens)
    previous = (usage.raw_requests, usage.raw_prompt_tokens, usage.raw_generation_tokens)
    baseline = any(value is None for value in previous)
    restarted = not baseline and any(new < old for new, old in zip(fresh, previous, strict=True))
    if baseline:
        deltas = (0.0, 0.0, 0.0)
    elif restarted:
        # A restarted engine counts from zero: everything it reports now was served since the restart.
        deltas = fresh
    else:
        deltas = tuple(new - old for new, old in zip(fresh, previous, strict=True))
    usage.requests = (usage.requests or 0.0) + deltas[0]
    usage.prompt_tokens = (usage.prompt_tokens or 0.0) + deltas[1]
    usage.generation_tokens = (usage.generation_tokens or 0.0) + deltas[2]
    usage.raw_requests, usage.raw_prompt_tokens, usage.raw_generation_tokens = fresh
    latency = snapshot.latency()
    if latency:
        # A freshly restarted engine has empty histograms: keep the last percentiles we knew.
        usage.latency = latency
    usage.last_scrape_at = now
    usage.last_scrape_ok = True
    usage.consecutive_scrape_failures = 0
    grew = (not baseline) and any(delta > 0 for delta in deltas)
    return ScrapeOutcome(active=grew or snapshot.in_flight > 0, restarted=restarted, baseline=baseline)


def record_baseline(usage: EndpointUsage, snapshot: EngineSnapshot, *, now: datetime) -> None:
    """Remember the engine's counters as they stand (after the readiness completion) without counting
    them: the next scrape counts only what users sent since. `last_scrape_at` stays unset: no usage is
    claimed (status, stop summary) until the watchdog has really read some."""
    usage.raw_requests = snapshot.requests
    usage.raw_prompt_tokens = snapshot.prompt_tokens
    usage.raw_generation_tokens = snapshot.generation_tokens


def record_scrape_failure(usage: EndpointUsage, *, now: datetime) -> ScrapeOutcome:
    """A scrape that failed counts as activity (we cannot see traffic, so we must not call it idle)."""
    usage.last_scrape_at = now
    usage.last_scrape_ok = False
    usage.consecutive_scrape_failures = (usage.consecutive_scrape_failures or 0) + 1
    return ScrapeOutcome(active=True)


def load_usage(session: Session, endpoint_id: int) -> EndpointUsage:
    """The endpoint's usage row, created (and added to the session) if it does not exist yet."""
    usage = session.get(EndpointUsage, endpoint_id)
    if usage is None:
        usage = new_usage(endpoint_id)
        session.add(usage)
    return usage


def build_usage_view(usage: EndpointUsage | None, *, cost_so_far: float) -> UsageView:
    """A `UsageView` from a usage row (None: nothing scraped yet) and the endpoint's cost so far."""
    if usage is None:
        return UsageView()
    generated = usage.generation_tokens or 0.0
    per_million = cost_so_far / generated * 1_000_000 if generated > 0 else None
    latency = {key: float(value) for key, value in (usage.latency or {}).items()}
    return UsageView(
        requests=usage.requests or 0.0,
        prompt_tokens=usage.prompt_tokens or 0.0,
        generation_tokens=generated,
        latency=latency,
        cost_per_million_output_tokens=per_million,
    )


def usage_view(*, session: Session, endpoint_id: int) -> UsageView:
    """Requests, tokens, latency percentiles and $ per million output tokens for one endpoint."""
    endpoint = session.get(Endpoint, endpoint_id)
    if endpoint is None:
        return UsageView()
    return build_usage_view(session.get(EndpointUsage, endpoint_id), cost_so_far=endpoint.cost_so_far or 0.0)
