"""SlackNotifier over a real WebClient against the fake Slack Web API: where things go, retries, fallbacks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bot.slack.app import make_web_client
from bot.slack.notifier import SlackNotifier
from core.clock import ManualClock
from core.endpoints.states import EndpointState
from core.notifier import Action, ChatRef
from core.settings import load_settings
from tests.bot.slack.views_fixtures import NOW, view
from tests.fakes.fake_slack import BOT_TOKEN, FakeSlack

pytestmark = pytest.mark.timeout(30)
KEY = "epk-THE-SECRET-KEY-0123456789"


@pytest.fixture
def notifier(slack: FakeSlack) -> Iterator[SlackNotifier]:
    settings = load_settings(_env_file=None, slack_bot_token=BOT_TOKEN, slack_api_url=slack.api_url)
    yield SlackNotifier(make_web_client(settings), clock=ManualClock(NOW))


def test_announce_posts_the_card_in_the_channel(slack: FakeSlack, notifier: SlackNotifier) -> None:
    ref = notifier.announce(view(message_ts=None, state=EndpointState.REQUESTED))
    assert isinstance(ref, ChatRef) and ref.channel_id == "C1GENERAL"
    (call,) = slack.calls_to("chat.postMessage")
    assert call.args["channel"] == "C1GENERAL" and "thread_ts" not in call.args
    assert "Qwen/Qwen2.5-7B-Instruct" in call.args["text"]
    assert any(b["type"] == "actions" for b in call.args["blocks"])


def test_thread_posts_and_card_updates_use_the_card(slack: FakeSlack, notifier: SlackNotifier) -> None:
    v = view(message_ts=None, state=EndpointState.PROVISIONING)
    ref = notifier.announce(v)
    assert ref is not None
    notifier.thread_post(v, "Provisioning L4:1…")
    notifier.endpoint_changed(view(state=EndpointState.STARTING))
    reply = slack.calls_to("chat.postMessage")[-1].args
    assert reply["thread_ts"] == ref.message_ts and reply["text"] == "Provisioning L4:1…"
    (update,) = slack.calls_to("chat.update")
    assert update.args["ts"] == ref.message_ts and update.args["channel"] == "C1GENERAL"
    assert "starting (the engine is loading weights)" in json.dumps(update.args["blocks"])


def test_card_location_from_the_store_is_used_after_a_restart(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    notifier.thread_post(view(message_ts="1767600000.000042"), "hello")
    assert slack.calls_to("chat.postMessage")[0].args["thread_ts"] == "1767600000.000042"


def test_changes_refresh_the_owners_home(slack: FakeSlack, notifier: SlackNotifier) -> None:
    refreshed: list[str] = []
    notifier.home_refresher = refreshed.append
    notifier.endpoint_changed(view())
    assert refreshed == ["U1OWNER"]


def test_a_failing_home_refresh_is_swallowed(notifier: SlackNotifier) -> None:
    def boom(user_id: str) -> None:
        raise RuntimeError("views.publish failed")

    notifier.home_refresher = boom
    notifier.endpoint_changed(view())  # no exception


def test_ready_posts_url_key_and_snippets_in_the_thread(slack: FakeSlack, notifier: SlackNotifier) -> None:
    notifier.endpoint_ready(view(), api_key=KEY)
    (call,) = slack.calls_to("chat.postMessage")
    assert call.args["thread_ts"] == "1767600000.000001"
    text = json.dumps(call.args["blocks"])
    assert KEY in text and "http://10.0.0.2:8000/v1" in text and "curl" in text


def test_ready_falls_back_to_dm_when_the_thread_fails(slack: FakeSlack, notifier: SlackNotifier) -> None:
    slack.channel_errors["C1GENERAL"] = "channel_not_found"
    notifier.endpoint_ready(view(), api_key=KEY)
    (dm,) = slack.calls_to("chat.postMessage")
    assert dm.args["channel"] == "D1OWNER" and KEY in json.dumps(dm.args["blocks"])
    assert slack.calls_to("conversations.open")[0].args["users"] == "U1OWNER"


def test_direct_message_opens_the_conversation_with_buttons(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    notifier.direct_message(
        "U1OWNER", "Idle 35m; stopping in 10m.", actions=(Action("keep_alive", "Keep alive", "qwen"),)
    )
    notifier.direct_message("U1OWNER", "Again.")
    assert len(slack.calls_to("conversations.open")) == 1  # the DM channel is remembered
    first = slack.calls_to("chat.postMessage")[0].args
    assert first["channel"] == "D1OWNER"
    assert first["blocks"][-1]["elements"][0] == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Keep alive", "emoji": True},
        "action_id": "endpoint_keep_alive",
        "value": "qwen",
        "style": "primary",
    }


def test_rate_limits_are_retried_after_retry_after(slack: FakeSlack, notifier: SlackNotifier) -> None:
    slack.rate_limit("chat.postMessage", retry_after=0, times=2)
    ref = notifier.announce(view(message_ts=None))
    assert ref is not None
    statuses = [c.status for c in slack.calls_to("chat.postMessage", ok_only=False)]
    assert statuses == [429, 429, 200]


def test_server_errors_are_retried(slack: FakeSlack, notifier: SlackNotifier) -> None:
    slack.fail("chat.update", "internal_error", status=503, times=1)
    notifier.endpoint_changed(view())
    assert [c.status for c in slack.calls_to("chat.update", ok_only=False)] == [503, 200]


def test_not_in_channel_moves_the_card_to_the_owners_dm(slack: FakeSlack, notifier: SlackNotifier) -> None:
    slack.channel_errors["C1GENERAL"] = "not_in_channel"
    v = view(message_ts=None)
    ref = notifier.announce(v)
    assert ref is not None and ref.channel_id == "D1OWNER"
    assert "/invite @endpoint-bot" in notifier.delivery_problems[v.id]
    hint, card = (c.args for c in slack.calls_to("chat.postMessage"))
    assert "/invite @endpoint-bot" in hint["text"] and card["channel"] == "D1OWNER"
    notifier.thread_post(v, "Provisioning…")  # the thread follows the card into the DM
    assert slack.calls_to("chat.postMessage")[-1].args["thread_ts"] == ref.message_ts


def test_every_failure_is_swallowed_and_logged_without_secrets(
    slack: FakeSlack, notifier: SlackNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    for method in ("chat.postMessage", "chat.update", "conversations.open"):
        slack.fail(method, "fatal_error", times=100)
    caplog.set_level(logging.DEBUG)
    v = view()
    assert notifier.announce(v) is None
    notifier.endpoint_changed(v)
    notifier.thread_post(v, "x")
    notifier.endpoint_ready(v, api_key=KEY)
    notifier.direct_message("U1OWNER", "x")
    assert "fatal_error" in caplog.text
    assert KEY not in caplog.text


def test_debug_logging_never_prints_the_key(
    slack: FakeSlack, notifier: SlackNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier.endpoint_ready(view(), api_key=KEY)
    assert slack.calls_to("chat.postMessage")
    assert KEY not in caplog.text
    assert BOT_TOKEN not in caplog.text
