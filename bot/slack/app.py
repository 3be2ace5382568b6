"""Build the Bolt app: the Web API client and the listener wiring.

Only wiring lives here (bolt-python starter template style): listeners are in `listeners/`, what they
share (`SlackDeps`) in `deps.py`, Block Kit in `blocks.py`, delivery in `notifier.py`. How the app is
served (Socket Mode or HTTP) is `bot/cli/serve.py`'s and `bot/slack/http_server.py`'s business.

Listeners ack at once and hand slow work to the bot's own chat worker pool (a `core.workers.WorkerPool`
apart from the launch flows' pool, see `bot.slack.bot`), never to Bolt's listener executor. Because listeners are that thin, Bolt runs them in the request
thread before replying (`process_before_response=True`): the ack is the HTTP response itself.
"""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.slack import replays
from bot.slack.deps import SlackDeps
from bot.slack.listeners import actions, commands, events
from core.replays import ReplayLedger
from core.settings import Settings

# slack_sdk logs whole request bodies at DEBUG, and a READY message carries an API key. This logger
# is pinned at INFO so those lines are never even formatted, whatever the root level is.
_web_logger = logging.getLogger("bot.slack.web")
_web_logger.setLevel(logging.INFO)


def make_web_client(settings: Settings, *, rate_limit_retries: int = 3) -> WebClient:
    """A WebClient for `settings.slack_api_url`, retrying connection errors, 429s (Retry-After) and 5xx."""
    base_url = (
        settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    )
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=base_url,
        logger=_web_logger,
        timeout=30,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(deps: SlackDeps, *, client: WebClient, token_verification: bool = True) -> App:
    """The Bolt app with every listener registered. Calls auth.test unless `token_verification` is off."""
    signing_secret = deps.settings.slack_signing_secret
    app = App(
        client=client,
        # Socket Mode skips signature checks; HTTP mode refuses to start without a secret (serve.py).
        signing_secret=signing_secret.get_secret_value() if signing_secret else "",
        token_verification_enabled=token_verification,
        # Our listeners only parse, ack and hand off (microseconds), so running them before the HTTP
        # reply costs nothing and saves Bolt's 10 ms ack polling and a thread hop per request.
        process_before_response=True,
    )
    # Before any listener: a replayed signed request (or a redelivered envelope) is acked and dropped.
    replays.install(app, ReplayLedger(deps.service.database))
    commands.register(app, deps)
    actions.register(app, deps)
    events.register(app, deps)
    return app
