"""Run a parsed `/endpoint` command or a pressed button against the service; say what happened as data.

Slack (bot/slack/listeners) and the shell (bot/shell/session.py) make the same service calls for the same
command and the same button; only how they show the result differs. This module makes the calls
(`run_command`, `press`) and returns an outcome dataclass; each adapter renders it (Block Kit, or plain
lines through `bot.text`). Errors are the service's: `UserFacingError`s and `DoesNotFit` propagate
for the adapter to explain. No chat imports here, no wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.commands import (
    Command,
    DownCommand,
    ExtendCommand,
    FitCommand,
    HelpCommand,
    ListCommand,
    LogCommand,
    PolicyCommand,
    StatsCommand,
    StatusCommand,
    UpCommand,
)
from core.endpoints.cold_stats import LaunchHistory
from core.endpoints.service import EndpointService
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.errors import PermissionDenied
from core.fit.plan import Plan
from core.notifier import ActionKind
from core.policy.explain import PolicyReport
from core.policy.explain import report as policy_report

# What each Extend button adds to an endpoint's lifetime.
EXTENSIONS: dict[ActionKind, timedelta] = {"extend_1h": timedelta(hours=1), "extend_4h": timedelta(hours=4)}


@dataclass(frozen=True)
class Helped:
    topic: str | None


@dataclass(frozen=True)
class _AboutOne:
    """An outcome about one endpoint, as it stands after the call."""

    view: EndpointView


class Launched(_AboutOne):
    """`up`: recorded and launching."""


class Shown(_AboutOne):
    """`status NAME`."""


class Stopping(_AboutOne):
    """`down` or Stop: the teardown is under way."""


class AlreadyOver(_AboutOne):
    """Stop, Extend or Keep alive on an endpoint that is already stopped, failed or lost."""


class AlreadyStopping(_AboutOne):
    """Stop on an endpoint whose teardown is already under way."""


class Extended(_AboutOne):
    """`extend` or an Extend button: the new expiry is on the view."""


class KeptAlive(_AboutOne):
    """Keep alive: the idle clock starts again."""


@dataclass(frozen=True)
class Fitted:
    model: str
    plans: list[Plan]


@dataclass(frozen=True)
class Listed:
    views: list[EndpointView]  # the first `list_limit` when run_command was given one, else all
    include_terminal: bool
    total: int  # how many the listing holds


@dataclass(frozen=True)
class Logged:
    """`log NAME`: the endpoint's audit trail, oldest first (at, actor, kind, message)."""

    name: str
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class PolicyShown:
    report: PolicyReport


@dataclass(frozen=True)
class StatsShown:
    """`stats [WORD]`: median cold starts from history."""

    history: list[LaunchHistory]
    contains: str | None


Outcome = (
    Helped
    | Logged
    | PolicyShown
    | StatsShown
    | Launched
    | Fitted
    | Listed
    | Shown
    | Stopping
    | AlreadyOver
    | AlreadyStopping
    | Extended
    | KeptAlive
)


def run_command(
    parsed: Command,
    *,
    service: EndpointService,
    user_id: str,
    channel_id: str | None,
    list_limit: int | None = None,
) -> Outcome:
    """The service call a command stands for, made on behalf of `user_id` in `channel_id`. `list_limit`:
    `list` reads only that many endpoints (and counts the rest), for a chat that cannot show more."""
    if isinstance(parsed, HelpCommand):
        return Helped(parsed.topic)
    if isinstance(parsed, UpCommand):
        return Launched(service.up(request=parsed.to_request(owner_id=user_id, channel_id=channel_id)))
    if isinstance(parsed, FitCommand):
        plans = service.fit(
            model=parsed.model, accelerators=parsed.accelerators, options=dict(parsed.options)
        )
        return Fitted(
            parsed.model,
            service.policy.allowed_plans(list(plans), user=user_id, named=parsed.accelerators is not None),
        )
    if isinstance(parsed, ListCommand):
        if list_limit is None:
            views = service.list(include_terminal=parsed.include_terminal)
            return Listed(views, parsed.include_terminal, len(views))
        page = service.list_page(limit=list_limit, include_terminal=parsed.include_terminal)
        return Listed(page.views, parsed.include_terminal, page.total)
    if isinstance(parsed, StatusCommand):
        return Shown(service.status(name=parsed.name))
    if isinstance(parsed, DownCommand):
        before = service.status(name=parsed.name)
        if before.state.is_terminal:
            return AlreadyOver(before)
        return Stopping(service.down(name=parsed.name, actor=user_id))
    if isinstance(parsed, ExtendCommand):
        return Extended(service.extend(name=parsed.name, actor=user_id, by=parsed.by))
    if isinstance(parsed, LogCommand):
        view = service.status(name=parsed.name)
        if user_id != view.owner_id and not service.policy.is_admin(user_id):
            raise PermissionDenied(
                f"Only <@{view.owner_id}> (who launched `{view.name}`) or an admin may read its log."
            )
        return Logged(view.name, service.events(name=view.name))
    if isinstance(parsed, StatsCommand):
        return StatsShown(service.stats(contains=parsed.contains), parsed.contains)
    if isinstance(parsed, PolicyCommand):
        return PolicyShown(
            policy_report(service.policy, service.database, user=user_id, now=service.clock.now())
        )
    raise TypeError(f"not a command: {parsed!r}")


def press(kind: ActionKind, *, service: EndpointService, name: str, user_id: str) -> Outcome:
    """A button (Stop, Extend +1h/+4h, Keep alive) applied to the endpoint's *current* state, so a
    button on an old card answers instead of acting twice. Only the owner or an admin may act (the
    service raises PermissionDenied)."""
    current = service.status(name=name)
    if current.state.is_terminal:
        return AlreadyOver(current)
    if kind == "stop":
        if current.state == EndpointState.STOPPING:
            return AlreadyStopping(current)
        return Stopping(service.down(name=name, actor=user_id))
    if kind == "keep_alive":
        return KeptAlive(service.keep_alive(name=name, actor=user_id))
    return Extended(service.extend(name=name, actor=user_id, by=EXTENSIONS[kind]))
