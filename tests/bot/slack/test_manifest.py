"""manifest.yml matches what the code listens for."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.slack.listeners.commands.endpoint import COMMAND

MANIFEST = yaml.safe_load((Path(__file__).parents[3] / "manifest.yml").read_text())


def test_slash_command_is_the_one_we_listen_to() -> None:
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == COMMAND
    assert command["usage_hint"].startswith("up MODEL ACCEL")
    assert command["should_escape"] is False


def test_scopes_events_and_socket_mode() -> None:
    assert {"commands", "chat:write", "im:write", "users:read", "usergroups:read"} <= set(
        MANIFEST["oauth_config"]["scopes"]["bot"]
    )
    assert MANIFEST["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_the_usage_hint_names_every_command() -> None:
    from bot.commands import USAGE

    (command,) = MANIFEST["features"]["slash_commands"]
    named = {part.split()[0] for part in command["usage_hint"].split(" | ")}
    assert named == set(USAGE)
