"""Stop / Extend / Keep-alive buttons, on status cards, reminder DMs and the App Home.

Every button's value is the endpoint's name. The listener acks at once; the work runs on the
worker pool against the endpoint's *current* state, so a button on an old card answers "already
stopped" and refreshes that card instead of acting twice. Only the owner or an admin may act:
the service raises PermissionDenied and the presser gets an ephemeral refusal. Replies are
ephemeral through the action's `response_url`; Home-tab buttons have none, so those replies are DMs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond

from bot import outcomes as oc
from bot import text as tx
from bot.slack.deps import SlackDeps
from core.endpoints import messaging
from core.errors import UserFacingError
from core.notifier import ActionKind

log = logging.getLogger(__name__)


Reply = Callable[[str], None]


def make_listener(deps: SlackDeps, kind: ActionKind) -> Callable[..., None]:
    def handle_button(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        user_id = body["user"]["id"]
        name = str(action.get("value") or "")
        if kind == "stop" and name:
            deps.service.request_stop(name=name, actor=user_id)  # before the ack: a crash keeps the stop
        ack()
        from_home = body.get("container", {}).get("type") == "view" or "response_url" not in body
        reply = _dm_replier(deps, user_id) if from_home else _ephemeral_replier(respond)
        deps.pool.submit(
            run_action,
            deps,
            kind,
            name=name,
            user_id=user_id,
            reply=reply,
            from_home=from_home,
            task_name=f"slack button {kind} on {name} by {user_id}",
        )

    return handle_button


def _ephemeral_replier(respond: Respond) -> Reply:
    def reply(text: str) -> None:
        try:
            respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:
            log.warning("could not reply through response_url", exc_info=True)

    return reply


def _dm_replier(deps: SlackDeps, user_id: str) -> Reply:
    def reply(text: str) -> None:
        deps.notifier.direct_message(user_id, text)

    return reply


def run_action(
    deps: SlackDeps, kind: ActionKind, *, name: str, user_id: str, reply: Reply, from_home: bool = False
) -> None:
    """Apply one button press to the endpoint's current state and tell the presser what happened."""
    try:
        reply(_apply(deps, kind, name=name, user_id=user_id))
    except UserFacingError as exc:
        reply(f":no_entry: {exc}")
    except Exception:
        log.exception("button %s on %s failed", kind, name)
        reply("Something went wrong on my side and nothing was changed. Please try again.")
    if from_home:
        deps.notifier.refresh_home(user_id)


def _apply(deps: SlackDeps, kind: ActionKind, *, name: str, user_id: str) -> str:
    outcome = oc.press(kind, service=deps.service, name=name, user_id=user_id)
    if isinstance(outcome, oc.AlreadyOver):
        deps.notifier.endpoint_changed(outcome.view)  # an old card: show the truth, drop its buttons
        return tx.already_reply(outcome.view)
    if isinstance(outcome, oc.AlreadyStopping):
        return messaging.already_stopping(outcome.view)
    if isinstance(outcome, oc.Stopping):
        return f":octagonal_sign: {tx.stopping_reply(outcome.view)}"
    if isinstance(outcome, oc.KeptAlive):
        return f":white_check_mark: {tx.kept_alive_reply(outcome.view)}"
    if isinstance(outcome, oc.Extended):
        extended = tx.extended_reply(outcome.view, now=deps.clock.now())
        return f":hourglass: {extended} {tx.price(outcome.view)} while it runs."
    raise TypeError(f"no answer for {outcome!r}")
