"""Cost: price x the time a cloud billed, read from the audit log, per endpoint and for the team's day.

- `accrue_cost` sets `cost_so_far` to price x billed time: from entering PROVISIONING until the cluster
  is gone, per run, read from the audit log's transitions (so the figure is recomputed, never drifts);
  `settle_cost(session=..., endpoint_id=..., now=...)` does it for one endpoint, for the teardown flow's
  final summary.
- `team_spend_today(session=..., now=...)` is what the service checks against the team's daily budget.

Rows are changed in the caller's session; nothing here commits.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.endpoints.models import Endpoint, EndpointEvent
from core.endpoints.states import EndpointState
from core.usage.counters import load_usage
from core.usage.models import EndpointUsage

# States in which a cluster exists (or is being created) and bills. REQUESTED has asked nothing of the
# cloud yet; terminal states bill only up to `stopped_at`.
BILLING_STATES = frozenset(
    {EndpointState.PROVISIONING, EndpointState.STARTING, EndpointState.READY, EndpointState.STOPPING}
)


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
