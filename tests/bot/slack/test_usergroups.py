"""Slack user groups named by the team policy, through the real WebClient against the fake Slack:
members cached for the TTL, an unknown group is empty, the last good answer survives an outage."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.slack.usergroups import UserGroups
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack


def test_members_are_read_once_per_ttl_and_kept_through_an_outage(slack: FakeSlack) -> None:
    slack.usergroups["S0INTERNS"] = {"handle": "ml-interns", "users": ["U1", "U2"]}
    groups = UserGroups(WebClient(token=BOT_TOKEN, base_url=slack.api_url), ttl=3600)
    assert groups(["S0INTERNS", "S0NOPE"]) == {"S0INTERNS": frozenset({"U1", "U2"}), "S0NOPE": frozenset()}
    assert groups(["S0INTERNS"]) == {"S0INTERNS": frozenset({"U1", "U2"})}
    asked = [c.args["usergroup"] for c in slack.calls_to("usergroups.users.list", ok_only=False)]
    assert asked.count("S0INTERNS") == 1  # the second look came from the cache

    groups.ttl = 0  # expired: ask again, and Slack fails this time
    slack.fail("usergroups.users.list", "internal_error")
    assert groups.members("S0INTERNS") == frozenset({"U1", "U2"})  # the last good answer stays
    slack.usergroups["S0INTERNS"]["users"] = ["U3"]
    assert groups.members("S0INTERNS") == frozenset({"U3"})


def test_usergroups_list_answers_like_slack(slack: FakeSlack) -> None:
    slack.usergroups["S0OPS"] = {"handle": "ops", "users": ["U9"]}
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    listed = client.usergroups_list(include_users=True)["usergroups"]
    assert [(g["id"], g["handle"], g["users"]) for g in listed] == [("S0OPS", "ops", ["U9"])]
    assert "users" not in client.usergroups_list()["usergroups"][0]
