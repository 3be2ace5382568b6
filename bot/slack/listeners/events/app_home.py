"""`app_home_opened`: publish the person's Home tab (on the worker pool; Slack may retry, publishing is idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.slack.deps import SlackDeps


def make_listener(deps: SlackDeps) -> Callable[..., None]:
    def handle_app_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        deps.pool.submit(deps.notifier.refresh_home, user_id, task_name=f"publish App Home for {user_id}")

    return handle_app_home_opened
