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

from bot import outcomes as oc
from bot import text as tx
from bot.commands import (
    Command,
    CommandError,
    DownCommand,
    FitCommand,
    HelpCommand,
    UpCommand,
    help_text,
    parse_command,
)
from bot.slack import blocks as bk
from bot.slack.deps import SlackDeps
from core.endpoints import messaging
from core.endpoints.service import DoesNotFit
from core.errors import UserFacingError

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
        user_id, channel_id = command["user_id"], command.get("channel_id")
        if isinstance(parsed, DownCommand):
            # Before the ack says "Stopping": a crash after it must not lose the stop (resume_stops).
            deps.service.request_stop(name=parsed.name, actor=user_id)
        ack(response_type="ephemeral", text=_working_on(parsed))
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
    outcome = oc.run_command(
        parsed, service=deps.service, user_id=user_id, channel_id=channel_id, list_limit=bk.LIST_SHOWN
    )
    now = deps.clock.now()
    if isinstance(outcome, oc.Helped):
        reply(help_text(outcome.topic))
    elif isinstance(outcome, oc.Launched):
        view = outcome.view
        note = deps.notifier.delivery_problems.pop(view.id, None)
        where = note or "Follow its card in this channel: progress goes in the card's thread."
        reply(f":rocket: {tx.launching_reply(view, where=where)}")
    elif isinstance(outcome, oc.Fitted):
        reply(f"Fit check for {outcome.model}", bk.fit_blocks(outcome.plans))
    elif isinstance(outcome, oc.Listed):
        views, total = outcome.views, outcome.total
        blocks = bk.list_blocks(views, now=now, include_terminal=outcome.include_terminal, total=total)
        reply(bk.list_text(views, total), blocks)
    elif isinstance(outcome, oc.Shown):
        reply(bk.card_text(outcome.view), bk.status_blocks(outcome.view, now=now))
    elif isinstance(outcome, oc.AlreadyOver):
        reply(messaging.already_stopped(outcome.view))
    elif isinstance(outcome, oc.Stopping):
        reply(f":octagonal_sign: {tx.stopping_reply(outcome.view)}")
    elif isinstance(outcome, oc.Extended):
        reply(f":hourglass: {tx.extended_reply(outcome.view, now=now)}")
    elif isinstance(outcome, oc.Logged):
        lines = tx.log_lines(outcome.name, outcome.events)
        reply(lines[0], bk.text_blocks(bk.escape_keeping_mentions("\n".join(lines))))
    elif isinstance(outcome, oc.StatsShown):
        reply(bk.stats_text(outcome.history), bk.stats_blocks(outcome.history, contains=outcome.contains))
    elif isinstance(outcome, oc.PolicyShown):
        reply("Team policy", bk.text_blocks("\n".join(["*Team policy*", *outcome.report.lines])))
