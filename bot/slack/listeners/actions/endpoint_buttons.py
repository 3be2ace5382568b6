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
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, Respond

from bot.slack import blocks as bk
from bot.slack.app import SlackDeps
from core.clock import as_utc
from core.endpoints.states import EndpointState
from core.errors import UserFacingError
from core.notifier import ActionKind
from core.units import format_duration

log = logging.getLogger(__name__)

EXTENSIONS: dict[ActionKind, timedelta] = {"extend_1h": timedelta(hours=1), "extend_4h": timedelta(hours=4)}

Reply = Callable[[str], None]


def make_listener(deps: SlackDeps, kind: ActionKind) -> Callable[..., None]:
    def handle_button(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        name = str(action.get("value") or "")
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
    service = deps.service
    current = service.status(name=name)
    if current.state.is_terminal:
        deps.notifier.endpoint_changed(current)  # an old card: show the truth, drop its buttons
        return f"`{current.name}` is already {current.state.value.lower()}; nothing to do."
    if kind == "stop":
        if current.state == EndpointState.STOPPING:
            return f"`{current.name}` is already stopping."
        view = service.down(name=name, actor=user_id)
        return f":octagonal_sign: Stopping `{view.name}`; the summary follows in its thread."
    if kind == "keep_alive":
        view = service.keep_alive(name=name, actor=user_id)
        return f":white_check_mark: `{view.name}` stays up: its idle clock starts again now."
    view = service.extend(name=name, actor=user_id, by=EXTENSIONS[kind])
    expires = as_utc(view.expires_at) or deps.clock.now()
    return (
        f":hourglass: `{view.name}` now expires at {expires:%Y-%m-%d %H:%M} UTC "
        f"(in {format_duration(expires - deps.clock.now())}). {bk.price_text(view)} while it runs."
    )
