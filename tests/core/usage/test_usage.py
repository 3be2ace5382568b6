"""Usage folding (growth, restarts, baselines, failures), cost from the audit log, team spend, usage views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.db import Database
from core.endpoints import store
from core.endpoints.models import Endpoint
from core.endpoints.states import EndpointState
from core.usage.cost import accrue_cost, billed_intervals, load_transitions, settle_cost, team_spend_today
from core.usage.counters import (
    new_usage,
    record_baseline,
    record_scrape,
    record_scrape_failure,
    usage_view,
)
from core.usage.metrics import EngineSnapshot, Histogram
from core.usage.models import EndpointUsage
from tests.db_fixtures import create_test_endpoint

S = EndpointState
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def snap(
    requests: float, prompt: float, generated: float, running: float = 0, waiting: float = 0
) -> EngineSnapshot:
    return EngineSnapshot(requests, prompt, generated, running, waiting)


def test_first_scrape_is_a_baseline_not_activity() -> None:
    usage = new_usage(1)
    outcome = record_scrape(usage, snap(1, 12, 5), now=T0)  # the readiness probe's completion
    assert outcome.baseline and not outcome.active
    # The bot's own completion is not usage ("served 1 requests" for an endpoint nobody used).
    assert (usage.requests, usage.prompt_tokens, usage.generation_tokens) == (0, 0, 0)
    assert record_scrape(usage, snap(1, 12, 5), now=T0 + H).active is False
    assert record_scrape(usage, snap(2, 20, 9), now=T0 + 2 * H).active is True
    assert (usage.requests, usage.prompt_tokens, usage.generation_tokens) == (1, 8, 4)


def test_a_baseline_taken_after_readiness_counts_only_what_follows() -> None:
    usage = new_usage(1)
    record_baseline(usage, snap(1, 12, 1), now=T0)  # the launch flow, right after the readiness completion
    assert (usage.requests, usage.prompt_tokens, usage.generation_tokens) == (0, 0, 0)
    outcome = record_scrape(usage, snap(4, 40, 31), now=T0 + H)  # the watchdog's first scrape
    assert not outcome.baseline and outcome.active
    assert (usage.requests, usage.prompt_tokens, usage.generation_tokens) == (3, 28, 30)


def test_in_flight_work_is_activity_even_without_new_tokens() -> None:
    usage = new_usage(1)
    record_scrape(usage, snap(1, 1, 1), now=T0)
    assert record_scrape(usage, snap(1, 1, 1, running=1), now=T0 + H).active
    assert record_scrape(usage, snap(1, 1, 1, waiting=3), now=T0 + 2 * H).active
    assert record_scrape(usage, snap(0, 0, 0, running=1), now=T0 + 3 * H).active  # baseline-free: restart


def test_an_engine_restart_adds_the_new_counts_and_never_subtracts() -> None:
    usage = new_usage(1)
    record_scrape(usage, snap(10, 1000, 500), now=T0)  # baseline
    record_scrape(usage, snap(12, 1100, 600), now=T0 + H)
    outcome = record_scrape(usage, snap(3, 30, 15), now=T0 + 2 * H)  # restarted, then served 3 requests
    assert outcome.restarted and outcome.active
    assert (usage.requests, usage.prompt_tokens, usage.generation_tokens) == (5, 130, 115)
    record_scrape(usage, snap(4, 40, 20), now=T0 + 3 * H)
    assert (usage.requests, usage.prompt_tokens, usage.generation_tokens) == (6, 140, 120)
    assert (usage.raw_requests, usage.raw_prompt_tokens, usage.raw_generation_tokens) == (4, 40, 20)


def test_a_fresh_engine_keeps_the_last_known_percentiles() -> None:
    usage = new_usage(1)
    hist = Histogram(buckets=((0.1, 4.0), (float("inf"), 4.0)), count=4)
    record_scrape(usage, EngineSnapshot(4, 4, 4, 0, 0, ttft=hist), now=T0)
    assert usage.latency["ttft_p50"] == pytest.approx(0.05)
    record_scrape(usage, snap(0, 0, 0), now=T0 + H)  # restarted: empty histograms
    assert usage.latency["ttft_p50"] == pytest.approx(0.05)


def test_a_failed_scrape_counts_as_active_and_is_recorded() -> None:
    usage = new_usage(1)
    record_scrape(usage, snap(1, 1, 1), now=T0)
    assert record_scrape_failure(usage, now=T0 + H).active
    assert record_scrape_failure(usage, now=T0 + 2 * H).active
    assert (usage.last_scrape_ok, usage.consecutive_scrape_failures, usage.last_scrape_at) == (
        False,
        2,
        T0 + 2 * H,
    )
    record_scrape(usage, snap(1, 1, 1), now=T0 + 3 * H)
    assert (usage.last_scrape_ok, usage.consecutive_scrape_failures) == (True, 0)
    assert usage.requests == 0  # counters untouched by the failures (the first scrape was the baseline)


# --- cost ----------------------------------------------------------------------------------------


def make_endpoint(session: Any, *, price: float = 2.0, now: datetime = T0, **overrides: Any) -> Endpoint:
    fields: dict[str, Any] = {"expires_at": now + 72 * H, "price_per_hour": price, **overrides}
    return create_test_endpoint(session, now=now, **fields)


def walk(session: Any, endpoint: Endpoint, steps: list[tuple[EndpointState, datetime]]) -> None:
    for state, at in steps:
        store.transition(session=session, endpoint=endpoint, to=state, actor="test", message="", now=at)


def cost_at(session: Any, endpoint: Endpoint, now: datetime) -> float:
    usage = session.get(EndpointUsage, endpoint.id) or new_usage(endpoint.id)
    history = load_transitions(session=session, endpoint_ids=[endpoint.id])[endpoint.id]
    accrue_cost(endpoint, usage, history, now=now)
    return endpoint.cost_so_far


def test_cost_is_price_times_time_from_provisioning(database: Database) -> None:
    with database.session() as session:
        e = make_endpoint(session, price=2.0)
        assert cost_at(session, e, T0 + H) == 0.0  # still REQUESTED: nothing asked of the cloud
        walk(
            session, e, [(S.PROVISIONING, T0 + timedelta(minutes=2)), (S.STARTING, T0 + timedelta(minutes=7))]
        )
        walk(session, e, [(S.READY, T0 + timedelta(minutes=12))])
        assert cost_at(session, e, T0 + timedelta(minutes=32)) == pytest.approx(2.0 * 30 / 60)
        assert cost_at(session, e, T0 + timedelta(minutes=32)) == pytest.approx(1.0)  # repeatable, no drift
        walk(session, e, [(S.STOPPING, T0 + 2 * H), (S.STOPPED, T0 + 2 * H + timedelta(minutes=3))])
        # Billing ends when the cluster is gone, however late we look.
        assert cost_at(session, e, T0 + 10 * H) == pytest.approx(2.0 * (121 / 60))


def test_a_launch_stopped_before_provisioning_costs_nothing(database: Database) -> None:
    with database.session() as session:
        e = make_endpoint(session)
        walk(session, e, [(S.STOPPING, T0 + H), (S.STOPPED, T0 + 2 * H)])
        assert cost_at(session, e, T0 + 3 * H) == 0.0


def test_a_relaunch_bills_both_runs_but_not_the_gap(database: Database) -> None:
    with database.session() as session:
        e = make_endpoint(session, price=3.0)
        walk(
            session, e, [(S.PROVISIONING, T0), (S.STARTING, T0 + H), (S.READY, T0 + H), (S.LOST, T0 + 2 * H)]
        )
        assert cost_at(session, e, T0 + 5 * H) == pytest.approx(6.0)
        walk(session, e, [(S.REQUESTED, T0 + 4 * H), (S.PROVISIONING, T0 + 4 * H + timedelta(minutes=30))])
        assert cost_at(session, e, T0 + 5 * H) == pytest.approx(6.0 + 1.5)
        spans = billed_intervals(
            e, load_transitions(session=session, endpoint_ids=[e.id])[e.id], now=T0 + 5 * H
        )
        assert spans == [(T0, T0 + 2 * H), (T0 + 4 * H + timedelta(minutes=30), T0 + 5 * H)]


def test_settle_cost_closes_the_books_at_stopped_at(database: Database) -> None:
    with database.session() as session:
        e = make_endpoint(session, price=1.5)
        walk(session, e, [(S.PROVISIONING, T0), (S.STARTING, T0 + H), (S.READY, T0 + H)])
        walk(session, e, [(S.STOPPING, T0 + 3 * H), (S.STOPPED, T0 + 4 * H)])
        e.cost_so_far = 99.0  # someone else's rounding must not survive
        endpoint_id = e.id
    with database.session() as session:
        assert settle_cost(session=session, endpoint_id=endpoint_id, now=T0 + 9 * H) == pytest.approx(6.0)
    with database.session() as session:
        assert session.get(Endpoint, endpoint_id).cost_so_far == pytest.approx(6.0)
        assert session.get(EndpointUsage, endpoint_id).cost_accrued_until == T0 + 4 * H


def test_team_spend_today_counts_only_today(database: Database) -> None:
    midnight = datetime(2026, 1, 6, tzinfo=UTC)
    with database.session() as session:
        # Ran 22:00 -> 02:00 across midnight at $4/h: $8 today.
        a = make_endpoint(session, price=4.0, now=midnight - 2 * H)
        walk(session, a, [(S.PROVISIONING, midnight - 2 * H), (S.STARTING, midnight - H)])
        walk(
            session,
            a,
            [(S.READY, midnight - H), (S.STOPPING, midnight + 2 * H), (S.STOPPED, midnight + 2 * H)],
        )
        # Still running since 08:00 at $1/h; at 10:00 that is $2.
        b = make_endpoint(session, price=1.0, now=midnight + 8 * H)
        walk(session, b, [(S.PROVISIONING, midnight + 8 * H), (S.STARTING, midnight + 8 * H)])
        # Yesterday only: nothing today.
        c = make_endpoint(session, price=100.0, now=midnight - 5 * H)
        walk(session, c, [(S.PROVISIONING, midnight - 5 * H), (S.STOPPING, midnight - 4 * H)])
        walk(session, c, [(S.STOPPED, midnight - 4 * H)])
        # Requested today, never provisioned: nothing.
        make_endpoint(session, price=100.0, now=midnight + H)
    with database.session() as session:
        assert team_spend_today(session=session, now=midnight + 10 * H) == pytest.approx(8.0 + 2.0)


def test_usage_view_reports_totals_latency_and_cost_per_million(database: Database) -> None:
    with database.session() as session:
        e = make_endpoint(session)
        e.cost_so_far = 3.0
        usage = new_usage(e.id)
        session.add(usage)
        record_scrape(usage, snap(0, 0, 0), now=T0)
        record_scrape(usage, snap(10, 4000, 2_000_000), now=T0 + H)
        usage.latency = {"ttft_p50": 0.1, "e2e_p99": 2.5}
        endpoint_id = e.id
    with database.session() as session:
        view = usage_view(session=session, endpoint_id=endpoint_id)
        assert (view.requests, view.prompt_tokens, view.generation_tokens) == (10, 4000, 2_000_000)
        assert view.latency == {"ttft_p50": 0.1, "e2e_p99": 2.5}
        assert view.cost_per_million_output_tokens == pytest.approx(1.5)
        assert usage_view(session=session, endpoint_id=12345).requests == 0.0
