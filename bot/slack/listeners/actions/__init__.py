"""Button listeners: Stop, Extend +1h / +4h, Keep alive (action ids in `bot.slack.blocks.ACTION_IDS`)."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.blocks import ACTION_IDS
from bot.slack.deps import SlackDeps
from bot.slack.listeners.actions.endpoint_buttons import make_listener


def register(app: App, deps: SlackDeps) -> None:
    for kind, action_id in ACTION_IDS.items():
        app.action(action_id)(make_listener(deps, kind))
