"""Socket Mode: the bot connects through apps.connections.open to a websocket and acks a slash command over it."""

from __future__ import annotations

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.cli.serve import missing_settings
from core.settings import load_settings
from tests.bot.slack.harness import SlackHarness
from tests.fakes.fake_slack import APP_TOKEN, WAIT_TIMEOUT, FakeSocketMode, slash_command_envelope

pytestmark = pytest.mark.timeout(240)


def test_socket_mode_connects_and_acks_a_slash_command(harness: SlackHarness) -> None:
    socket = FakeSocketMode()
    harness.slack.socket_url = socket.url
    handler = SocketModeHandler(harness.bot.app, APP_TOKEN)
    try:
        handler.connect()
        assert socket.connected.wait(WAIT_TIMEOUT)
        opened = harness.slack.calls_to("apps.connections.open")
        assert len(opened) == 1  # with the app-level token: the fake refuses the bot token there

        socket.send(
            slash_command_envelope(
                "list", envelope_id="env-list", response_url=harness.slack.response_url("sock")
            )
        )
        ack = socket.wait_for_ack("env-list")
        assert ack["payload"]["response_type"] == "ephemeral"
        listed = harness.slack.wait_for_response(lambda r: r["_key"] == "sock")
        assert "No live endpoints" in str(listed["blocks"])

        socket.send(
            slash_command_envelope(
                "lst", envelope_id="env-typo", response_url=harness.slack.response_url("x")
            )
        )
        typo = socket.wait_for_ack("env-typo")
        assert "Did you mean `list`" in typo["payload"]["text"]
    finally:
        handler.close()
        socket.stop()


def test_socket_mode_needs_the_app_token() -> None:
    settings = load_settings(_env_file=None, slack_bot_token="xoxb-1")
    assert missing_settings(settings, http=False) == ["SLACK_APP_TOKEN"]
    assert missing_settings(settings, http=True) == ["SLACK_SIGNING_SECRET"]
    assert missing_settings(load_settings(_env_file=None), http=True) == [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
    ]
