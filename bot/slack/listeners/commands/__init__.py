"""Slash-command listeners: `/endpoint`."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.deps import SlackDeps
from bot.slack.listeners.commands.endpoint import COMMAND, make_listener


def register(app: App, deps: SlackDeps) -> None:
    app.command(COMMAND)(make_listener(deps))
