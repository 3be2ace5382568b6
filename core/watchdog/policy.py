"""The watchdog's rules, as pure functions: given one endpoint, the time and the reminders already sent,
which reminders are due and whether it must be torn down.

- Idle: only a READY endpoint can be idle; idle time counts from max(ready_at, last_activity_at), never
  from provisioning. The owner is warned `idle_warning_lead` before the deadline; the teardown waits at
  least (lead - one watchdog interval) after the warning actually went out, so a bot that was down over
  the deadline warns first instead of stopping someone's endpoint without notice.
- Lifetime: warned `expiry_warning_lead` before `expires_at`, torn down at `expires_at` (a hard cap,
  also enforced by the cluster's own deadline, so no grace here).
- Cost: a DM each time `cost_so_far` passes a multiple of `cost_reminder_every`; a warning at
  `COST_CAP_WARNING_FRACTION` of `max_cost`; teardown at the cap.

Reminders are keyed so that a restart neither repeats nor skips one: idle by its deadline, expiry by
`expires_at` (an extension gives a new key), cost by the dollar step, the cap by its amount.
Nothing here reads the database, the clock or the network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.notifier import Action
from core.settings import Settings
from core.watchdog import messaging

COST_CAP_WARNING_FRACTION = 0.9
# Cost is price x seconds in floating point: $2.00 may come out as $1.9999999999. A micro-cent of slack.
_MONEY_EPSILON = 1e-9

# Reminder kinds (Reminder.kind). "teardown" rows are claims: one teardown decision per deadline.
IDLE = "idle"
EXPIRY = "expiry"
COST = "cost"
COST_CAP = "cost_cap"
TEARDOWN = "teardown"
LOST = "lost"

SentReminders = Mapping[tuple[str, str], datetime]  # (kind, key) -> sent_at


@dataclass(frozen=True)
class Notice:
    """A reminder to send once: DM the owner (and post in the thread when `thread` is set)."""

    kind: str
    key: str
    text: str
    actions: tuple[Action, ...] = ()
    thread: bool = False
    # Other reminders this one stands for (cost steps passed at the same time): recorded, not sent.
    also_marks: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Teardown:
    """Stop the endpoint; `key` makes the decision unique (Reminder kind "teardown", key "<kind>:<key>")."""

    kind: str  # IDLE | EXPIRY | COST_CAP
    key: str
    reason: str

    @property
    def claim_key(self) -> str:
        return f"{self.kind}:{self.key}"


@dataclass(frozen=True)
class Decision:
    teardown: Teardown | None = None
    notices: tuple[Notice, ...] = ()


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _money_key(amount: float) -> str:
    return f"{amount:.2f}"


def idle_since(view: EndpointView) -> datetime | None:
    """Where the idle clock starts: max(ready_at, last_activity_at); None if the endpoint never got ready."""
    if view.ready_at is None:
        return None
    if view.last_activity_at is None:
        return view.ready_at
    return max(view.ready_at, view.last_activity_at)


def idle_deadline(view: EndpointView) -> datetime | None:
    since = idle_since(view)
    if since is None or view.idle_timeout_s <= 0:
        return None
    return since + timedelta(seconds=view.idle_timeout_s)


def idle_stop_at(
    *, deadline: datetime, warned_at: datetime, lead: timedelta, interval: timedelta
) -> datetime:
    """When an idle endpoint warned at `warned_at` is stopped: the deadline, unless the warning went out
    late (bot down), in which case the owner still gets (lead - one interval) of notice."""
    notice = max(lead - interval, timedelta(0))
    return max(deadline, warned_at + notice)


def lifetime_ceiling(view: EndpointView, settings: Settings) -> datetime:
    """The latest `expires_at` extensions may reach (settings.max_ttl after the FIRST request: a relaunch
    restarts `requested_at` but keeps the first one, as `EndpointService.extend` reads it)."""
    return view.first_requested_at + settings.max_ttl


def _idle(view: EndpointView, *, now: datetime, settings: Settings, sent: SentReminders) -> Decision:
    if view.state is not EndpointState.READY:
        return Decision()
    deadline = idle_deadline(view)
    since = idle_since(view)
    if deadline is None or since is None:
        return Decision()
    timeout = timedelta(seconds=view.idle_timeout_s)
    lead = min(settings.idle_warning_lead, timeout)
    key = _iso(deadline)
    if lead <= timedelta(0):
        return _idle_teardown(view, key, since, now=now) if now >= deadline else Decision()
    warned_at = sent.get((IDLE, key))
    if warned_at is not None:
        stop_at = idle_stop_at(
            deadline=deadline, warned_at=warned_at, lead=lead, interval=settings.watchdog_interval
        )
        return _idle_teardown(view, key, since, now=now) if now >= stop_at else Decision()
    if now < deadline - lead:
        return Decision()
    stop_at = idle_stop_at(deadline=deadline, warned_at=now, lead=lead, interval=settings.watchdog_interval)
    notice = Notice(
        kind=IDLE,
        key=key,
        text=messaging.idle_warning(view, idle_for=now - since, stop_at=stop_at, now=now),
        actions=messaging.idle_actions(view),
    )
    return Decision(notices=(notice,))


def _idle_teardown(view: EndpointView, key: str, since: datetime, *, now: datetime) -> Decision:
    """The idle teardown (its reason is only worded when it is due: most ticks decide nothing)."""
    reason = messaging.idle_reason(view, idle_since=since, now=now)
    return Decision(teardown=Teardown(kind=IDLE, key=key, reason=reason))


def _expiry(view: EndpointView, *, now: datetime, settings: Settings, sent: SentReminders) -> Decision:
    key = _iso(view.expires_at)
    if now >= view.expires_at:
        return Decision(
            teardown=Teardown(kind=EXPIRY, key=key, reason=messaging.expiry_reason(view, now=now))
        )
    lead = settings.expiry_warning_lead
    if lead <= timedelta(0) or now < view.expires_at - lead or (EXPIRY, key) in sent:
        return Decision()
    ceiling = lifetime_ceiling(view, settings)
    room = ceiling - view.expires_at
    notice = Notice(
        kind=EXPIRY,
        key=key,
        text=messaging.expiry_warning(view, now=now, can_extend=room >= timedelta(hours=1), ceiling=ceiling),
        actions=messaging.expiry_actions(view, room=room),
    )
    return Decision(notices=(notice,))


def _cost(view: EndpointView, *, now: datetime, settings: Settings, sent: SentReminders) -> Decision:
    cost = view.cost_so_far
    cap = view.max_cost
    if cap is not None and cap > 0 and cost >= cap - _MONEY_EPSILON:
        return Decision(
            teardown=Teardown(kind=COST_CAP, key=_money_key(cap), reason=messaging.cost_cap_reason(view))
        )
    steps: list[tuple[str, str]] = []
    every = settings.cost_reminder_every
    if every > 0 and cost >= every - _MONEY_EPSILON:
        highest = math.floor((cost + _MONEY_EPSILON) / every)
        steps = [(COST, _money_key(n * every)) for n in range(1, highest + 1)]
        steps = [step for step in steps if step not in sent]
    cap_due = cap is not None and cap > 0 and cost >= COST_CAP_WARNING_FRACTION * cap - _MONEY_EPSILON
    if cap_due and (COST_CAP, _money_key(cap)) not in sent:
        # The cap warning says everything a cost step would: send it alone and mark the steps.
        notice = Notice(
            kind=COST_CAP,
            key=_money_key(cap),
            text=messaging.cost_cap_warning(view, now=now),
            actions=(messaging.stop_action(view),),
            thread=True,
            also_marks=tuple(steps),
        )
        return Decision(notices=(notice,))
    if not steps:
        return Decision()
    # Several steps at once (the bot was down, or the price is high): one message for the highest.
    kind, key = steps[-1]
    notice = Notice(
        kind=kind,
        key=key,
        text=messaging.cost_step(view, threshold=float(key)),
        actions=(messaging.stop_action(view),),
        thread=True,
        also_marks=tuple(steps[:-1]),
    )
    return Decision(notices=(notice,))


def decide(*, view: EndpointView, now: datetime, settings: Settings, sent: SentReminders) -> Decision:
    """Everything due for one endpoint now. A teardown wins over reminders (cost cap, then lifetime,
    then idle); endpoints already stopping or gone get nothing."""
    if view.state is EndpointState.STOPPING or view.state.is_terminal:
        return Decision()
    parts = [
        _cost(view, now=now, settings=settings, sent=sent),
        _expiry(view, now=now, settings=settings, sent=sent),
        _idle(view, now=now, settings=settings, sent=sent),
    ]
    for part in parts:
        if part.teardown is not None:
            return Decision(teardown=part.teardown)
    return Decision(notices=tuple(notice for part in parts for notice in part.notices))
