"""Usage and cost bookkeeping: folding scrapes into `EndpointUsage`, accruing cost, and reading both back.

- `record_scrape` / `record_scrape_failure` update one endpoint's usage row from one scrape and say
  whether the endpoint was active. Totals survive engine restarts: a counter that went down means the
  engine restarted, so its new value is added as it stands (never a negative delta).
- `accrue_cost` sets `cost_so_far` to price x billed time: from entering PROVISIONING until the cluster
  is gone, per run, read from the audit log's transitions (so the figure is recomputed, never drifts);
  `settle_cost(session=..., endpoint_id=..., now=...)` does it for one endpoint, for the teardown flow's
  final summary.
- `usage_view(session=..., endpoint_id=...)` is the read side for status, the App Home and the summary;
  `team_spend_today(session=..., now=...)` is what the service checks against the team's daily budget.

Rows are changed in the caller's session; nothing here commits.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.endpoints.models import Endpoint, EndpointEvent, EndpointUsage
from core.endpoints.states import EndpointState
from core.endpoints.views import UsageView
from core.watchdog.metrics import EngineSnapshot

# States in which a cluster exists (or is being created) and bills. REQUESTED has asked nothing of the
# cloud yet; terminal states bill only up to `stopped_at`.
BILLING_STATES = frozenset(
    {EndpointState.PROVISIONING, EndpointState.STARTING, EndpointState.READY, EndpointState.STOPPING}
)


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


Transition = tuple[datetime, EndpointState, EndpointState]  # (at, from, to)
_TRANSITION_MESSAGE = re.compile(r"^([A-Z]+) -> ([A-Z]+)\b")


def load_transitions(*, session: Session, endpoint_ids: Collection[int]) -> dict[int, list[Transition]]:
    """Each endpoint's state changes from the audit log (store.transition writes "OLD -> NEW: why"),
    oldest first. The audit log is the one record of when every run began and ended billing."""
    out: dict[int, list[Transition]] = {endpoint_id: [] for endpoint_id in endpoint_ids}
    if not out:
        return out
    rows = session.execute(
        select(EndpointEvent.endpoint_id, EndpointEvent.at, EndpointEvent.message)
        .where(EndpointEvent.endpoint_id.in_(list(out)), EndpointEvent.kind == "transition")
        .order_by(EndpointEvent.endpoint_id, EndpointEvent.at, EndpointEvent.id)
    ).all()
    for endpoint_id, at, message in rows:
        match = _TRANSITION_MESSAGE.match(message or "")
        if match is None or match.group(1) not in EndpointState.__members__:
            continue
        if match.group(2) not in EndpointState.__members__:
            continue
        out[endpoint_id].append((as_utc(at), EndpointState(match.group(1)), EndpointState(match.group(2))))
    return out


def billed_intervals(
    endpoint: Endpoint, transitions: list[Transition], *, now: datetime
) -> list[tuple[datetime, datetime]]:
    """The spans a cloud billed for this endpoint: from entering PROVISIONING (machines asked for; the
    store's `provisioned_at` is only set once they are up) until a terminal state (cluster gone). A
    relaunched endpoint has one span per run; the gap between runs is not billed.

    An endpoint in a billing state with no PROVISIONING line in its log (written by hand) bills from
    `requested_at`, which is at most a few seconds early.
    """
    spans: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for at, _old, new in transitions:
        if new is EndpointState.PROVISIONING and opened is None:
            opened = at
        elif new.is_terminal and opened is not None:
            spans.append((opened, max(opened, at)))
            opened = None
    state = EndpointState(endpoint.state)
    if opened is None and state in BILLING_STATES and not spans:
        opened = as_utc(endpoint.requested_at)
    if opened is not None:
        stopped = as_utc(endpoint.stopped_at)
        end = now if state in BILLING_STATES or stopped is None or stopped < opened else min(now, stopped)
        spans.append((opened, max(opened, end)))
    return spans


def accrue_cost(
    endpoint: Endpoint, usage: EndpointUsage, transitions: list[Transition], *, now: datetime
) -> float:
    """Set `endpoint.cost_so_far` to price x every billed span up to now; return the change.

    An assignment, not an increment: ticks can repeat, a restart can re-run one, and another writer may
    have rounded the figure in between; the audit log and the price always give the same answer.
    `usage.cost_accrued_until` records how far the figure reaches (the end of the last span).
    """
    spans = billed_intervals(endpoint, transitions, now=now)
    if not spans:
        return 0.0
    hours = sum((end - start).total_seconds() for start, end in spans) / 3600.0
    cost = (endpoint.price_per_hour or 0.0) * hours
    before = endpoint.cost_so_far or 0.0
    endpoint.cost_so_far = cost
    usage.cost_accrued_until = spans[-1][1]
    return cost - before


def needs_settling(endpoint: Endpoint, usage: EndpointUsage | None) -> bool:
    """True while a terminal endpoint's cost has not been brought up to its `stopped_at`."""
    if endpoint.stopped_at is None:
        return False
    until = as_utc(usage.cost_accrued_until) if usage is not None else None
    return until is None or until != as_utc(endpoint.stopped_at)


def load_usage(session: Session, endpoint_id: int) -> EndpointUsage:
    """The endpoint's usage row, created (and added to the session) if it does not exist yet."""
    usage = session.get(EndpointUsage, endpoint_id)
    if usage is None:
        usage = new_usage(endpoint_id)
        session.add(usage)
    return usage


def settle_cost(*, session: Session, endpoint_id: int, now: datetime) -> float:
    """Accrue one endpoint's cost up to now (or its `stopped_at`); return its `cost_so_far`.

    For the teardown flow: call it after recording `stopped_at`, before posting the final summary, so the
    summary's cost is exact rather than one watchdog tick behind. The caller commits.
    """
    endpoint = session.get(Endpoint, endpoint_id)
    if endpoint is None:
        return 0.0
    transitions = load_transitions(session=session, endpoint_ids=[endpoint_id])[endpoint_id]
    accrue_cost(endpoint, load_usage(session, endpoint_id), transitions, now=now)
    return endpoint.cost_so_far or 0.0


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


def utc_day_start(now: datetime) -> datetime:
    now = as_utc(now) or now
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def team_spend_today(*, session: Session, now: datetime, owners: Collection[str] | None = None) -> float:
    """Dollars spent since 00:00 UTC today across every endpoint (the whole bot is one team), or those
    of `owners` (a team policy's limits): price x the part of each billed span (see `billed_intervals`)
    that falls inside today."""
    now = as_utc(now) or now
    midnight = utc_day_start(now)
    stmt = select(Endpoint).where(or_(Endpoint.stopped_at.is_(None), Endpoint.stopped_at >= midnight))
    if owners is not None:
        stmt = stmt.where(Endpoint.owner_id.in_(list(owners)))
    endpoints = session.scalars(stmt).all()
    history = load_transitions(session=session, endpoint_ids=[e.id for e in endpoints])
    total = 0.0
    for endpoint in endpoints:
        for start, end in billed_intervals(endpoint, history[endpoint.id], now=now):
            begin = max(start, midnight)
            if end > begin:
                total += (endpoint.price_per_hour or 0.0) * ((end - begin) / timedelta(hours=1))
    return total
