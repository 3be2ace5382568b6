"""`/endpoint ...`: parse, ack within milliseconds, run the command on the worker pool, reply.

Parsing is pure and fast, so mistakes are answered in the ack itself (ephemeral, with usage and
the closest spelling). Everything that touches the service runs on the bot's worker pool and
answers through the command's `response_url` (`respond`), ephemerally: the only channel-visible
message of the `up` flow is the status card the notifier posts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond

from bot.commands import (
    Command,
    CommandError,
    DownCommand,
    ExtendCommand,
    FitCommand,
    HelpCommand,
    ListCommand,
    StatusCommand,
    UpCommand,
    help_text,
    parse_command,
)
from bot.slack import blocks as bk
from bot.slack.app import SlackDeps
from core.clock import as_utc
from core.endpoints.service import DoesNotFit
from core.errors import UserFacingError
from core.units import format_duration

log = logging.getLogger(__name__)

COMMAND = "/endpoint"
SORRY = "Something went wrong on my side and nothing was changed. Please try again; if it keeps happening, tell the bot's admins."

Reply = Callable[..., Any]


def make_listener(deps: SlackDeps) -> Callable[..., None]:
    def handle_endpoint(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        try:
            parsed = parse_command(command.get("text", ""))
        except CommandError as exc:
            ack(response_type="ephemeral", text=str(exc))
            return
        if isinstance(parsed, HelpCommand):
            ack(response_type="ephemeral", text=help_text(parsed.topic))
            return
        ack(response_type="ephemeral", text=_working_on(parsed))
        user_id, channel_id = command["user_id"], command.get("channel_id")
        deps.pool.submit(
            run_command,
            deps,
            parsed,
            user_id=user_id,
            channel_id=channel_id,
            reply=_replier(respond),
            task_name=f"slack /endpoint {type(parsed).__name__} for {user_id}",
        )

    return handle_endpoint


def _working_on(parsed: Command) -> str:
    if isinstance(parsed, UpCommand):
        return f":hourglass_flowing_sand: Checking that `{parsed.model}` fits on {parsed.accelerators}…"
    if isinstance(parsed, FitCommand):
        return f":hourglass_flowing_sand: Checking `{parsed.model}`…"
    if isinstance(parsed, DownCommand):
        return f":hourglass_flowing_sand: Stopping `{parsed.name}`…"
    return ":hourglass_flowing_sand: On it…"


def _replier(respond: Respond) -> Reply:
    def reply(text: str, blocks: list | None = None) -> None:
        try:
            respond(text=text, blocks=bk.to_dicts(blocks) if blocks else None, response_type="ephemeral")
        except Exception:
            log.warning("could not reply through response_url", exc_info=True)

    return reply


def run_command(
    deps: SlackDeps, parsed: Command, *, user_id: str, channel_id: str | None, reply: Reply
) -> None:
    """Run one parsed command against the service and reply ephemerally (on a worker thread)."""
    try:
        _dispatch(deps, parsed, user_id=user_id, channel_id=channel_id, reply=reply)
    except DoesNotFit as exc:
        reply(bk.does_not_fit_text(exc.plan), bk.does_not_fit_blocks(exc.plan))
    except UserFacingError as exc:
        reply(f":warning: {exc}")
    except Exception:
        log.exception("/endpoint %s failed", type(parsed).__name__)
        reply(SORRY)


def _dispatch(
    deps: SlackDeps, parsed: Command, *, user_id: str, channel_id: str | None, reply: Reply
) -> None:
    service, now = deps.service, deps.clock.now()
    if isinstance(parsed, UpCommand):
        view = service.up(request=parsed.to_request(owner_id=user_id, channel_id=channel_id))
        note = deps.notifier.delivery_problems.pop(view.id, None)
        where = note or "Follow its card in this channel: progress goes in the card's thread."
        reply(
            f":rocket: Launching `{view.name}` ({view.model} on {view.accelerators}, {bk.price_text(view)}). {where}"
        )
    elif isinstance(parsed, FitCommand):
        plans = service.fit(
            model=parsed.model, accelerators=parsed.accelerators, options=dict(parsed.options)
        )
        reply(f"Fit check for {parsed.model}", bk.fit_blocks(plans))
    elif isinstance(parsed, ListCommand):
        views = service.list(include_terminal=parsed.include_terminal)
        reply(bk.list_text(views), bk.list_blocks(views, now=now, include_terminal=parsed.include_terminal))
    elif isinstance(parsed, StatusCommand):
        view = service.status(name=parsed.name)
        reply(bk.card_text(view), bk.status_blocks(view, now=now))
    elif isinstance(parsed, DownCommand):
        before = service.status(name=parsed.name)
        if before.state.is_terminal:
            reply(f"`{before.name}` is already {before.state.value.lower()}; nothing to stop.")
            return
        view = service.down(name=parsed.name, actor=user_id)
        reply(f":octagonal_sign: Stopping `{view.name}`; the summary follows in its thread.")
    elif isinstance(parsed, ExtendCommand):
        view = service.extend(name=parsed.name, actor=user_id, by=parsed.by)
        expires = as_utc(view.expires_at) or now
        reply(
            f":hourglass: `{view.name}` now expires at {expires:%Y-%m-%d %H:%M} UTC "
            f"(in {format_duration(expires - now)})."
        )
