"""What the watchdog says to people: reminder DMs, teardown reasons, lost-cluster notices.

Pure functions of views and numbers, kept in one place so the wording can be reviewed together. Times
are shown in UTC (`14:30 UTC`, with the date when it is not today); money with `core.units.format_money`.
Never a secret: nothing here sees an API key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.endpoints.views import EndpointView
from core.notifier import Action
from core.units import format_duration, format_money


def at_time(when: datetime, *, now: datetime) -> str:
    """`14:30 UTC` today, `Jan 6 14:30 UTC` on another day."""
    if when.date() == now.date():
        return f"{when:%H:%M} UTC"
    return f"{when:%b} {when.day} {when:%H:%M} UTC"


def _minutes(delta: timedelta) -> str:
    """`35 min`, `1h5m`: rounded down to whole minutes; under a minute in seconds (`24s`, not `1 min`)."""
    if delta < timedelta(minutes=1):
        return f"{max(0, int(delta.total_seconds()))}s"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    return format_duration(timedelta(minutes=minutes))


def _price(view: EndpointView) -> str:
    estimate = ", estimate" if view.price_is_estimate else ""
    return f"{format_money(view.price_per_hour)}/h{estimate}"


def stop_action(view: EndpointView) -> Action:
    return Action(kind="stop", label="Stop now", endpoint_name=view.name)


# --- idle -----------------------------------------------------------------------------------------


def idle_warning(view: EndpointView, *, idle_for: timedelta, stop_at: datetime, now: datetime) -> str:
    return (
        f"`{view.name}` has had no requests for {_minutes(idle_for)}; it will be stopped at "
        f"{at_time(stop_at, now=now)} (idle timeout {format_duration(timedelta(seconds=view.idle_timeout_s))}). "
        "Press *Keep alive* if you still need it."
    )


def idle_actions(view: EndpointView) -> tuple[Action, ...]:
    return (Action(kind="keep_alive", label="Keep alive", endpoint_name=view.name), stop_action(view))


def idle_reason(view: EndpointView, *, idle_since: datetime, now: datetime) -> str:
    """The stop reason (shown as "Stopping (<reason>)" in the thread and stored on the endpoint)."""
    timeout = format_duration(timedelta(seconds=view.idle_timeout_s))
    return f"idle: no requests for {_minutes(now - idle_since)}, past its {timeout} idle timeout"


# --- lifetime -------------------------------------------------------------------------------------


def expiry_warning(view: EndpointView, *, now: datetime, can_extend: bool, ceiling: datetime) -> str:
    head = (
        f"`{view.name}` reaches the end of its lifetime at {at_time(view.expires_at, now=now)} "
        f"(in {_minutes(view.expires_at - now)}) and will be stopped then."
    )
    if can_extend:
        return f"{head} Extend it if you still need it (at most until {at_time(ceiling, now=now)})."
    return f"{head} It is at the lifetime ceiling and cannot be extended; launch a new one if you need more time."


def expiry_actions(view: EndpointView, *, room: timedelta) -> tuple[Action, ...]:
    """Extend buttons that fit under the ceiling (`room` = ceiling - expires_at), then Stop now."""
    actions: list[Action] = []
    if room >= timedelta(hours=1):
        actions.append(Action(kind="extend_1h", label="Extend 1h", endpoint_name=view.name))
    if room >= timedelta(hours=4):
        actions.append(Action(kind="extend_4h", label="Extend 4h", endpoint_name=view.name))
    actions.append(stop_action(view))
    return tuple(actions)


def expiry_reason(view: EndpointView, *, now: datetime) -> str:
    return f"its lifetime ended at {at_time(view.expires_at, now=now)}"


# --- cost -----------------------------------------------------------------------------------------


def cost_step(view: EndpointView, *, threshold: float) -> str:
    return (
        f"`{view.name}` has cost {format_money(view.cost_so_far)} so far ({_price(view)}); "
        f"that passed {format_money(threshold)}."
    )


def cost_cap_warning(view: EndpointView, *, now: datetime) -> str:
    cap = view.max_cost or 0.0
    left = max(cap - view.cost_so_far, 0.0)
    when = ""
    if view.price_per_hour > 0:
        stop_at = now + timedelta(hours=left / view.price_per_hour)
        when = f" around {at_time(stop_at, now=now)}"
    return (
        f"`{view.name}` has used {format_money(view.cost_so_far)} of its {format_money(cap)} cost cap; "
        f"at {_price(view)} it will be stopped{when}."
    )


def cost_cap_reason(view: EndpointView) -> str:
    return f"its {format_money(view.max_cost or 0.0)} cost cap was reached: {format_money(view.cost_so_far)} spent"


# --- metrics ----------------------------------------------------------------------------------------


def metrics_unreadable(view: EndpointView, *, failures: int, error: str, now: datetime) -> str:
    return (
        f"I could not read the metrics of `{view.name}` the last {failures} times ({error}). Until I can, it "
        "counts as busy and will not be stopped for being idle; it still stops at the end of its lifetime "
        f"({at_time(view.expires_at, now=now)}). Stop it if it is not in use."
    )


# --- lost clusters --------------------------------------------------------------------------------


def cluster_lost(view: EndpointView, *, relaunching: bool, relaunch_refused: str | None = None) -> str:
    head = (
        f"The cluster behind `{view.name}` (`{view.cluster_name}`) is gone: preempted (spot) or deleted "
        "outside the bot. It no longer bills."
    )
    if relaunching:
        return f"{head} Launching it again (relaunch=yes); a new URL and key follow when it answers."
    if relaunch_refused:
        return f"{head} It was not relaunched: {relaunch_refused}"
    return f"{head} Run `/endpoint up {view.model} {view.accelerators}` to start a new one."
