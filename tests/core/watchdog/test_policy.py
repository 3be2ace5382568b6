"""The watchdog's rules as pure functions: what is due when, for one endpoint."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.endpoints.records import Lifecycle
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.settings import load_settings
from core.watchdog import policy

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SETTINGS = load_settings(_env_file=None)  # idle 45m, warn 10m before; ttl warn 15m; $25 steps; 60s ticks
M = timedelta(minutes=1)


def view(**overrides: Any) -> EndpointView:
    values: dict[str, Any] = {
        "id": 1,
        "name": "qwen",
        "cluster_name": "epb-qwen-abc123",
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "accelerators": "L4:1",
        "engine": "vllm",
        "state": EndpointState.READY,
        "owner_id": "U1",
        "channel_id": "C1",
        "message_ts": "1.1",
        "url": "http://127.0.0.1:1",
        "requested_at": T0,
        "provisioned_at": T0,
        "ready_at": T0,
        "stopped_at": None,
        "last_activity_at": None,
        "idle_timeout_s": 45 * 60,
        "expires_at": T0 + timedelta(hours=8),
        "max_cost": None,
        "price_per_hour": 1.0,
        "price_is_estimate": False,
        "cost_so_far": 0.0,
        "failure_reason": None,
        "stop_reason": None,
    }
    values.update(overrides)
    return EndpointView(**values)


def decide(v: EndpointView, now: datetime, sent: dict | None = None, **settings: Any) -> policy.Decision:
    s = SETTINGS.model_copy(update=settings) if settings else SETTINGS
    return policy.decide(view=v, now=now, settings=s, sent=sent or {})


def test_idle_counts_from_ready_not_from_provisioning() -> None:
    v = view(requested_at=T0, provisioned_at=T0, ready_at=T0 + timedelta(minutes=20))
    assert policy.idle_since(v) == T0 + timedelta(minutes=20)
    assert decide(v, T0 + timedelta(minutes=50)).notices == ()  # 30 min idle since ready: nothing yet
    d = decide(v, T0 + timedelta(minutes=55))
    assert [(n.kind, n.key) for n in d.notices] == [("idle", (T0 + timedelta(minutes=65)).isoformat())]


def test_idle_counts_from_the_last_activity() -> None:
    v = view(last_activity_at=T0 + timedelta(hours=1))
    assert decide(v, T0 + timedelta(hours=1, minutes=34)).notices == ()
    (notice,) = decide(v, T0 + timedelta(hours=1, minutes=35)).notices
    assert notice.kind == "idle"
    assert "no requests for 35 min" in notice.text
    assert "stopped at 10:45 UTC" in notice.text
    assert [a.kind for a in notice.actions] == ["keep_alive", "stop"]
    assert {a.endpoint_name for a in notice.actions} == {"qwen"}


def test_idle_teardown_at_the_deadline_once_warned() -> None:
    v = view()
    deadline = T0 + timedelta(minutes=45)
    warned = {("idle", deadline.isoformat()): T0 + timedelta(minutes=35)}
    assert decide(v, deadline - M, warned) == policy.Decision()
    d = decide(v, deadline, warned)
    assert d.teardown is not None and d.teardown.kind == "idle"
    assert "no requests for 45 min" in d.teardown.reason
    assert d.teardown.claim_key == f"idle:{deadline.isoformat()}"


def test_a_warning_one_tick_late_does_not_move_the_teardown() -> None:
    deadline = T0 + timedelta(minutes=45)
    warned = {("idle", deadline.isoformat()): T0 + timedelta(minutes=35, seconds=59)}
    assert decide(view(), deadline, warned).teardown is not None


def test_a_bot_that_was_down_over_the_deadline_warns_before_stopping() -> None:
    v = view()
    late = T0 + timedelta(hours=2)
    d = decide(v, late)
    assert d.teardown is None
    (notice,) = d.notices
    assert "stopped at 11:09 UTC" in notice.text  # lead (10m) minus one interval (1m) of notice
    warned = {(notice.kind, notice.key): late}
    assert decide(v, late + timedelta(minutes=8), warned).teardown is None
    assert decide(v, late + timedelta(minutes=9), warned).teardown is not None


def test_only_ready_endpoints_can_be_idle() -> None:
    for state in (EndpointState.PROVISIONING, EndpointState.STARTING):
        v = view(state=state, ready_at=None)
        assert decide(v, T0 + timedelta(hours=3)) == policy.Decision()


def test_nothing_for_endpoints_already_stopping_or_gone() -> None:
    for state in (EndpointState.STOPPING, EndpointState.STOPPED, EndpointState.LOST, EndpointState.FAILED):
        v = view(state=state, cost_so_far=1000.0, max_cost=10.0)
        assert decide(v, T0 + timedelta(days=2)) == policy.Decision()


def test_idle_timeout_zero_disables_idle_teardown() -> None:
    assert decide(view(idle_timeout_s=0), T0 + timedelta(hours=7)) == policy.Decision()


def test_expiry_warns_with_extend_buttons_then_stops() -> None:
    v = view(last_activity_at=T0 + timedelta(hours=7, minutes=50))
    (notice,) = decide(v, T0 + timedelta(hours=7, minutes=45)).notices
    assert notice.kind == "expiry" and notice.key == (T0 + timedelta(hours=8)).isoformat()
    assert [a.kind for a in notice.actions] == ["extend_1h", "extend_4h", "stop"]
    assert "17:00 UTC" in notice.text
    assert decide(v, T0 + timedelta(hours=7, minutes=44)).notices == ()
    d = decide(v, T0 + timedelta(hours=8))
    assert d.teardown is not None and d.teardown.kind == "expiry"


def test_expiry_applies_while_launching_too() -> None:
    v = view(state=EndpointState.PROVISIONING, ready_at=None)
    assert decide(v, T0 + timedelta(hours=8)).teardown is not None


def test_an_extension_is_a_new_reminder() -> None:
    sent = {("expiry", (T0 + timedelta(hours=8)).isoformat()): T0 + timedelta(hours=7, minutes=45)}
    extended = view(expires_at=T0 + timedelta(hours=9), last_activity_at=T0 + timedelta(hours=8, minutes=50))
    assert decide(extended, T0 + timedelta(hours=8), sent).teardown is None
    (notice,) = decide(extended, T0 + timedelta(hours=8, minutes=45), sent).notices
    assert notice.key == (T0 + timedelta(hours=9)).isoformat()


def test_no_extend_buttons_past_the_ceiling() -> None:
    at_ceiling = view(expires_at=T0 + SETTINGS.max_ttl, last_activity_at=T0 + SETTINGS.max_ttl)
    (notice,) = decide(at_ceiling, T0 + SETTINGS.max_ttl - timedelta(minutes=10)).notices
    assert [a.kind for a in notice.actions] == ["stop"]
    assert "cannot be extended" in notice.text
    near = replace(at_ceiling, expires_at=T0 + SETTINGS.max_ttl - timedelta(hours=2))
    (notice,) = decide(near, near.expires_at - timedelta(minutes=5)).notices
    assert [a.kind for a in notice.actions] == ["extend_1h", "stop"]


def test_cost_steps_one_message_for_several_steps() -> None:
    v = view(cost_so_far=60.0, last_activity_at=T0 + timedelta(hours=3))
    (notice,) = decide(v, T0 + timedelta(hours=3)).notices
    assert (notice.kind, notice.key) == ("cost", "50.00")
    assert notice.also_marks == (("cost", "25.00"),)
    assert notice.thread is True
    assert "$60.00" in notice.text and "$50.00" in notice.text
    sent = {("cost", "25.00"): T0, ("cost", "50.00"): T0}
    assert decide(v, T0 + timedelta(hours=3), sent).notices == ()


def test_cost_cap_warning_at_90_percent_then_teardown_at_the_cap() -> None:
    v = view(max_cost=10.0, price_per_hour=2.0, last_activity_at=T0 + timedelta(hours=4))
    now = T0 + timedelta(hours=4)
    assert decide(replace(v, cost_so_far=8.99), now, cost_reminder_every=0.0).notices == ()
    (notice,) = decide(replace(v, cost_so_far=9.0), now, cost_reminder_every=0.0).notices
    assert (notice.kind, notice.key) == ("cost_cap", "10.00")
    assert "$9.00 of its $10.00" in notice.text and "around 13:30 UTC" in notice.text  # $1 left at $2/h
    d = decide(replace(v, cost_so_far=10.0), now)
    assert d.teardown is not None and d.teardown.kind == "cost_cap"
    assert "$10.00" in d.teardown.reason


def test_cap_warning_stands_for_the_cost_step_passed_at_the_same_time() -> None:
    v = view(max_cost=27.0, cost_so_far=25.5, last_activity_at=T0 + timedelta(hours=4))
    (notice,) = decide(v, T0 + timedelta(hours=4)).notices
    assert notice.kind == "cost_cap"
    assert notice.also_marks == (("cost", "25.00"),)


@pytest.mark.parametrize(
    ("cost", "now", "expected"),
    [
        (100.0, T0 + timedelta(hours=9), "cost_cap"),  # over the cap and expired and idle: the cap wins
        (1.0, T0 + timedelta(hours=9), "expiry"),  # expired and idle: lifetime wins
    ],
)
def test_one_teardown_wins(cost: float, now: datetime, expected: str) -> None:
    d = decide(
        view(max_cost=50.0, cost_so_far=cost), now, {("idle", (T0 + timedelta(minutes=45)).isoformat()): T0}
    )
    assert d.teardown is not None and d.teardown.kind == expected
    assert d.notices == ()


def test_times_show_the_date_when_it_is_not_today() -> None:
    from core.watchdog.messaging import at_time

    assert at_time(T0 + timedelta(hours=5), now=T0) == "14:00 UTC"
    assert at_time(T0 + timedelta(days=1, hours=5), now=T0) == "Jan 6 14:00 UTC"


def test_a_relaunched_endpoint_keeps_its_first_requests_ceiling() -> None:
    """A relaunch restarts `requested_at`; the extend ceiling (as the service enforces it) stays anchored
    to the first request, so the expiry warning must not offer extensions the service will refuse."""
    relaunched_at = T0 + SETTINGS.max_ttl - timedelta(hours=1)
    v = view(
        requested_at=relaunched_at,
        provisioned_at=relaunched_at,
        ready_at=relaunched_at,
        expires_at=T0 + SETTINGS.max_ttl,  # already at the first request's ceiling
        last_activity_at=T0 + SETTINGS.max_ttl,
        lifecycle=Lifecycle(first_requested_at=T0),
    )
    assert policy.lifetime_ceiling(v, SETTINGS) == T0 + SETTINGS.max_ttl
    (notice,) = decide(v, T0 + SETTINGS.max_ttl - timedelta(minutes=10)).notices
    assert [a.kind for a in notice.actions] == ["stop"]
    assert "cannot be extended" in notice.text
