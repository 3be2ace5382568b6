"""App Home: publish a person's Home tab (their endpoints, with buttons, and the team's live ones).

Published on `app_home_opened` and re-published for the owner whenever one of their endpoints
changes (the Slack notifier calls `publish`). The Home is only a view of the store: a failed
publish is logged and forgotten; the next change or visit publishes it again.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.slack import blocks as bk
from core.clock import Clock, SystemClock
from core.endpoints.service import EndpointService

log = logging.getLogger(__name__)


class HomePublisher:
    """views.publish of the Home tab for one user at a time."""

    def __init__(self, *, client: WebClient, service: EndpointService, clock: Clock | None = None) -> None:
        self.client = client
        self.service = service
        self.clock = clock or SystemClock()

    def render(self, user_id: str) -> dict:
        """The Home view for `user_id`, as the dict views.publish takes."""
        home = self.service.home(user_id=user_id, limit=bk.HOME_BLOCK_LIMIT)  # no more can show
        return bk.home_view(user_id=user_id, home=home, now=self.clock.now()).to_dict()

    def publish(self, user_id: str) -> None:
        """Render and publish; raises on Slack errors (callers on worker threads log them)."""
        self.client.views_publish(user_id=user_id, view=self.render(user_id))
