"""One running Slack bot for tests and benchmarks: real Bolt app over HTTP, real core, fakes outside.

`SlackHarness` starts the fake Slack Web API, builds the real bot (`bot.slack.bot.build_bot`)
around the real EndpointService on a migrated SQLite store, the fake cloud (with fake engines
that really answer) and facts from the fake Hub, and serves it on a threaded HTTP server. Tests
send signed requests with `command()` / `press()` / `event()` and assert on `slack.calls`.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.slack.bot import SlackBot, build_bot
from bot.slack.http_server import make_http_server, serve_in_background
from core.clock import ManualClock
from core.db import Database
from core.settings import Settings, load_settings
from core.wiring import Runtime, build_runtime
from core.workers import WorkerPool
from tests.fakes.fake_cloud import FakeCloud
from tests.fakes.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    block_action_body,
    block_action_payload,
    event_body,
    sign,
    slash_command_body,
)

FAST_FLOWS: dict[str, Any] = {
    "teardown_delays": (0.0, 0.0),
    "heartbeat_every": 0.05,
    "readiness_options": {"first_delay": 0.01, "max_delay": 0.05},
    "request_poll_every": 0.01,
    "state_check_every": 0.05,
}


@dataclass
class Reply:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def post(url: str, body: str, headers: dict[str, str], *, timeout: float = 60.0) -> Reply:
    """A real HTTP POST; 4xx/5xx come back as a Reply, not an exception."""
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode())


@dataclass
class SlackHarness:
    tmp: Path
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    cloud_options: dict[str, Any] = field(default_factory=dict)
    workers: int = 8
    flow_options: dict[str, Any] = field(default_factory=lambda: dict(FAST_FLOWS))

    def __post_init__(self) -> None:
        self.slack = FakeSlack.start()
        self.clock = ManualClock()
        self.cloud = FakeCloud(start_engines=True, now=self.clock.now, **self.cloud_options)
        self.settings: Settings = load_settings(
            _env_file=None,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=self.slack.api_url,
            launcher="local",
            admin_user_ids=["U9ADMIN"],
            facts_cache_dir=self.tmp / "facts",
            **{
                "db_path": self.tmp / "bot.db",
                "hf_token": None,
                "worker_threads": self.workers,
                **self.settings_overrides,  # e.g. a second bot on the first one's db_path
            },
        )
        self.database = Database(self.settings.sqlalchemy_url)
        self.database.upgrade()
        self.bot: SlackBot = build_bot(
            self.settings, runtime_factory=self._runtime, clock=self.clock, start_watchdog=False
        )
        self.server = make_http_server(self.bot.app, host="127.0.0.1", port=0)
        serve_in_background(self.server)
        self.url = f"http://127.0.0.1:{self.server.server_port}/slack/events"

    def _runtime(self, settings: Settings, notifier: Any, clock: Any) -> Runtime:
        runtime = build_runtime(
            settings,
            notifier=notifier,
            launcher=self.cloud,
            database=self.database,
            clock=clock,
            workers=WorkerPool(size=settings.worker_threads),
            flow_options=dict(self.flow_options),
            outbox=True,
        )
        assert runtime.outbox is not None
        runtime.outbox.poll = 0.05
        runtime.outbox.start()  # the rest of the runtime is driven by the tests (watchdog.tick())
        return runtime

    @property
    def service(self) -> Any:
        return self.bot.runtime.service

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.bot.commands.join(timeout=60)
        self.bot.runtime.workers.join(timeout=60)
        self.bot.close()
        self.cloud.close()
        self.database.dispose()
        self.slack.stop()

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until both worker pools (chat commands, then flows) have nothing queued or running.
        `timeout` is a limit for a loaded machine; the wait ends as soon as both are idle."""
        assert self.bot.commands.join(timeout), "chat work did not finish"
        assert self.bot.runtime.workers.join(timeout), "flows did not finish"
        assert self.bot.commands.join(timeout), "chat work did not finish"
        self.drain(timeout)

    def drain(self, timeout: float = 60.0) -> None:
        """Deliver what the outbox holds that is due now (thread posts, DMs, card updates, keys)."""
        outbox = self.bot.runtime.outbox
        assert outbox is not None and outbox.drain(timeout), "the outbox did not drain"

    # --- what Slack sends -------------------------------------------------------------------------

    def command(
        self, text: str, *, user_id: str = "U1OWNER", channel_id: str = "C1GENERAL", key: str = "cmd"
    ) -> Reply:
        body = slash_command_body(
            text, user_id=user_id, channel_id=channel_id, response_url=self.slack.response_url(key)
        )
        return post(self.url, body, {"Content-Type": "application/x-www-form-urlencoded", **sign(body)})

    def press(
        self, action_id: str, value: str, *, user_id: str = "U1OWNER", key: str = "press", **kwargs: Any
    ) -> Reply:
        payload = block_action_payload(
            action_id, value, user_id=user_id, response_url=self.slack.response_url(key), **kwargs
        )
        body = block_action_body(payload)
        return post(self.url, body, {"Content-Type": "application/x-www-form-urlencoded", **sign(body)})

    def event(self, event: dict[str, Any]) -> Reply:
        body = event_body(event)
        return post(self.url, body, {"Content-Type": "application/json", **sign(body)})
