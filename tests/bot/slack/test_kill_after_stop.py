"""A real `endpoint-bot serve --http` process is SIGKILLed the moment it has acknowledged `/endpoint down`:
the stop the user read ("Stopping `victim`") is carried out by the next start, never lost.

The bot runs the local launcher with the fake engine (an engine process that outlives its bot, as a
cloud cluster would) and talks to the fake Slack Web API; the slash commands are signed as Slack signs
them and posted over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.db import Database
from core.endpoints import store
from core.endpoints.states import EndpointState as S
from tests.bot.slack.harness import post
from tests.core.endpoints.test_crash import _local_engine_pids, _pid_alive, fixture_config
from tests.fakes.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, sign, slash_command_body
from tests.fakes.local_bot import local_bot_env

CLI = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(database: Database, name: str) -> S | None:
    try:
        with database.session() as session:
            endpoint = store.get_by_name(session=session, name=name)
            return endpoint.state if endpoint is not None else None
    except Exception:  # the schema may not exist yet
        return None


def _wait(condition: object, *, what: str, limit: float = 90.0) -> None:
    """Poll `condition()` (a limit for a loaded machine, not an expected duration)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.timeout(240)
def test_kill_9_right_after_the_stop_is_acknowledged_then_restart_stops_it(
    tmp_path: Path, slack: FakeSlack
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(fixture_config("Qwen/Qwen2.5-7B-Instruct")))
    port = _free_port()
    env = local_bot_env(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        ENDPOINT_BOT_WATCHDOG_INTERVAL="1h",
    )
    log = (tmp_path / "bot.log").open("w")
    bot = subprocess.Popen(
        [*CLI, "serve", "--http", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/slack/events"
    database = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        _wait(lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), what="the bot's port")
        up = slash_command_body(f"up {model} L4:1 ctx=8k name=victim", response_url=slack.response_url("up"))
        assert post(url, up, {"Content-Type": "application/x-www-form-urlencoded", **sign(up)}).status == 200
        _wait(lambda: _state(database, "victim") is S.READY, what="READY")
        pids = _local_engine_pids(tmp_path / "home")
        assert pids and all(_pid_alive(p) for p in pids)

        down = slash_command_body("down victim", response_url=slack.response_url("down"))
        ack = post(url, down, {"Content-Type": "application/x-www-form-urlencoded", **sign(down)})
        bot.send_signal(signal.SIGKILL)  # the moment the user reads the ack
        bot.wait(10)
        assert ack.status == 200 and "Stopping `victim`" in ack.body

        restarted = subprocess.run(
            [*CLI, "reconcile"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert restarted.returncode == 0, restarted.stderr
        with database.session() as session:
            endpoint = store.get_by_name(session=session, name="victim")
            assert endpoint is not None and endpoint.state is S.STOPPED, (
                "the acknowledged stop was carried out"
            )
            assert endpoint.stop_reason == "stopped by <@U1OWNER>"
        _wait(lambda: not any(_pid_alive(p) for p in pids), what="the engine gone", limit=30)
    finally:
        if bot.poll() is None:
            bot.kill()
        log.close()
        for pid in _local_engine_pids(tmp_path / "home"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        database.dispose()
