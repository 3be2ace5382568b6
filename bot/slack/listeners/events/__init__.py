"""Event listeners: `app_home_opened` publishes the App Home."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.deps import SlackDeps
from bot.slack.listeners.events.app_home import make_listener


def register(app: App, deps: SlackDeps) -> None:
    app.event("app_home_opened")(make_listener(deps))
