"""The Slack bot end to end: signed requests over real HTTP to the running Bolt app, the real
EndpointService on a real store, the fake cloud with fake engines, and the fake Slack Web API.

Assertions are on what the bot said to Slack (recorded calls) and on the store. Every wait is on a
condition (FakeSlack.wait_for, the harness's `settle`), with limits meant for a loaded 2-core machine;
nothing assumes how fast the machine is.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from bot.slack.blocks import ACTION_IDS
from core import tls as certs
from core.endpoints.states import EndpointState
from core.errors import NotFound
from tests.bot.slack.harness import SlackHarness, post
from tests.fakes.fake_slack import sign, slash_command_body

pytestmark = pytest.mark.timeout(240)

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def _card_call(h: SlackHarness) -> dict:
    return h.slack.wait_for(
        lambda s: next((c.args for c in s.calls_to("chat.postMessage") if "thread_ts" not in c.args), None),
        what="the status card",
    )


def _launch(h: SlackHarness, text: str = f"up {MODEL} L4:1 name=qwen") -> tuple[str, str]:
    reply = h.command(text)
    assert reply.status == 200
    card = _card_call(h)
    h.slack.wait_for(lambda s: _state(h) == EndpointState.READY, what="READY")
    h.settle()
    return card["channel"], _ts_of_card(h)


def _ts_of_card(h: SlackHarness) -> str:
    view = h.service.status(name="qwen")
    assert view.message_ts
    return view.message_ts


def _state(h: SlackHarness, name: str = "qwen") -> EndpointState | None:
    """The endpoint's state, or None while it does not exist yet."""
    try:
        return h.service.status(name=name).state
    except NotFound:
        return None


def _texts(args_list: list[dict]) -> str:
    return "\n".join(json.dumps(a) for a in args_list)


def test_up_posts_card_threads_progress_updates_in_place_and_delivers_key(harness: SlackHarness) -> None:
    h = harness
    reply = h.command(f"up {MODEL} L4:1 name=qwen")
    assert reply.status == 200
    assert reply.json()["response_type"] == "ephemeral"
    assert "Checking" in reply.json()["text"]

    card = _card_call(h)
    assert card["channel"] == "C1GENERAL"
    card_text = json.dumps(card["blocks"])
    for expected in (MODEL, "L4:1", "TP 1", "vllm", "/h", "<@U1OWNER>", "endpoint_stop", "confirm"):
        assert expected in card_text

    h.slack.wait_for(lambda s: _state(h) == EndpointState.READY, what="READY")
    h.settle()
    view = h.service.status(name="qwen")
    assert (view.channel_id, view.message_ts) == ("C1GENERAL", view.message_ts)
    replies = h.slack.thread_replies("C1GENERAL", view.message_ts)
    said = _texts(replies)
    assert "Provisioning" in said
    assert view.url and view.url in said
    # The API key appears exactly once: in the READY reply, with curl and Python snippets.
    ready = [r for r in replies if "API key" in json.dumps(r.get("blocks", []))]
    assert len(ready) == 1
    ready_text = json.dumps(ready[0]["blocks"])
    assert "curl" in ready_text and "from openai import OpenAI" in ready_text and "Bearer epk-" in ready_text
    # The card was updated in place, to READY, with the same ts.
    updates = h.slack.calls_to("chat.update")
    assert updates and all(u.args["ts"] == view.message_ts for u in updates)
    assert "ready" in json.dumps(updates[-1].args["blocks"])
    # The owner's App Home was refreshed as the state changed.
    assert any(c.args["user_id"] == "U1OWNER" for c in h.slack.calls_to("views.publish"))
    # The launch acknowledgement went back to the person only.
    launched = h.slack.wait_for_response(lambda r: "Launching" in r.get("text", ""))
    assert launched["response_type"] == "ephemeral"


def test_the_key_really_works_against_the_engine(harness: SlackHarness) -> None:
    h = harness
    h.command(f"up {MODEL} L4:1 name=qwen")
    h.slack.wait_for(lambda s: _state(h) == EndpointState.READY, what="READY")
    h.settle()
    view = h.service.status(name="qwen")
    ready = next(
        r
        for r in h.slack.thread_replies("C1GENERAL", view.message_ts)
        if "API key" in json.dumps(r.get("blocks", []))
    )
    key = json.dumps(ready["blocks"]).split("Bearer ")[1].split("'")[0]
    request = urllib.request.Request(
        f"{view.url}/v1/chat/completions",
        data=json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    # HTTPS: the CA certificate comes from the same Slack message, and verifies the engine.
    texts = [
        b["text"]["text"] for b in ready["blocks"] if "BEGIN CERTIFICATE" in b.get("text", {}).get("text", "")
    ]
    ca = re.search(r"```(.*?)```", texts[0], re.S).group(1) + "\n"
    assert view.url.startswith("https://") and certs.fingerprint(ca) in json.dumps(ready["blocks"])
    with urllib.request.urlopen(request, timeout=10, context=certs.client_context(ca)) as response:
        assert response.status == 200


def test_does_not_fit_is_ephemeral_and_launches_nothing(harness: SlackHarness) -> None:
    h = harness
    reply = h.command("up mistralai/Mixtral-8x7B-Instruct-v0.1 L4:1")
    assert reply.status == 200
    refusal = h.slack.wait_for_response(lambda r: "does not fit" in r.get("text", ""))
    assert refusal["response_type"] == "ephemeral"
    blocks = json.dumps(refusal["blocks"])
    assert "Would fit" in blocks and "/h" in blocks
    h.settle()
    assert h.slack.calls_to("chat.postMessage") == []
    assert h.cloud.calls_to("submit") == []
    assert h.service.list(include_terminal=True) == []


def test_service_errors_are_explained_ephemerally(harness: SlackHarness) -> None:
    h = harness
    h.command("up meta-llama/Llama-3.1-70B-Instruct A100-80GB:4")
    gated = h.slack.wait_for_response(lambda r: r.get("text", "").startswith(":warning:"))
    assert gated["response_type"] == "ephemeral"
    assert "meta-llama/Llama-3.1-70B-Instruct" in gated["text"]
    h.settle()
    assert h.slack.calls_to("chat.postMessage") == []
    assert h.cloud.calls_to("submit") == []


def test_parse_errors_are_answered_in_the_ack(harness: SlackHarness) -> None:
    reply = harness.command(f"up {MODEL} L4:1 contxt=32k")
    assert reply.status == 200
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    assert "Did you mean `ctx=32k`" in body["text"] and "Usage:" in body["text"]
    assert harness.slack.calls_to("chat.postMessage") == []


def test_help(harness: SlackHarness) -> None:
    body = harness.command("help").json()
    assert "/endpoint up MODEL ACCEL" in body["text"]


def test_bad_signature_is_401_and_nothing_happens(harness: SlackHarness) -> None:
    h = harness
    body = slash_command_body(f"up {MODEL} L4:1", response_url=h.slack.response_url())
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret="not-the-secret")}
    assert post(h.url, body, headers).status == 401
    stale = sign(body, timestamp=1_000_000)
    assert post(h.url, body, {"Content-Type": "application/x-www-form-urlencoded", **stale}).status == 401
    h.settle()
    assert h.service.list(include_terminal=True) == []


def test_stop_button_by_owner_tears_down_and_summarises(harness: SlackHarness) -> None:
    h = harness
    channel, ts = _launch(h)
    reply = h.press(ACTION_IDS["stop"], "qwen", message_ts=ts)
    assert reply.status == 200
    h.slack.wait_for(lambda s: _state(h) == EndpointState.STOPPED, what="STOPPED")
    h.settle()
    said = _texts(h.slack.thread_replies(channel, ts))
    assert "Stopping" in said and "cost" in said
    assert h.cloud.cluster(h.service.status(name="qwen").cluster_name) is None
    last = h.slack.calls_to("chat.update")[-1].args
    assert "stopped" in json.dumps(last["blocks"]) and "endpoint_stop" not in json.dumps(last["blocks"])
    answer = h.slack.wait_for_response(lambda r: "Stopping" in r.get("text", ""))
    assert answer["response_type"] == "ephemeral" and answer.get("replace_original") is False


def test_stop_button_on_an_old_card_says_already_stopped(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    h.command("down qwen")
    h.slack.wait_for(lambda s: _state(h) == EndpointState.STOPPED, what="STOPPED")
    h.settle()
    downs = len(h.cloud.calls_to("down"))
    h.press(ACTION_IDS["stop"], "qwen")
    answer = h.slack.wait_for_response(lambda r: "already stopped" in r.get("text", ""))
    assert answer["response_type"] == "ephemeral"
    h.settle()
    assert len(h.cloud.calls_to("down")) == downs


def test_non_owner_is_refused_ephemerally(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    h.press(ACTION_IDS["stop"], "qwen", user_id="U2STRANGER")
    refusal = h.slack.wait_for_response(lambda r: r.get("text", "").startswith(":no_entry:"))
    assert refusal["response_type"] == "ephemeral"
    h.press(ACTION_IDS["extend_1h"], "qwen", user_id="U2STRANGER", key="press2")
    h.slack.wait_for(
        lambda s: len([r for r in s.posted_responses() if r["_key"] == "press2"]) == 1, what="second refusal"
    )
    h.settle()
    assert _state(h) == EndpointState.READY


def test_admin_may_stop_anyones_endpoint(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    h.press(ACTION_IDS["stop"], "qwen", user_id="U9ADMIN")
    h.slack.wait_for(lambda s: _state(h) == EndpointState.STOPPED, what="STOPPED")


def test_extend_buttons_push_expiry(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    before = h.service.status(name="qwen").expires_at
    h.press(ACTION_IDS["extend_4h"], "qwen")
    h.slack.wait_for_response(lambda r: "now expires" in r.get("text", ""))
    after = h.service.status(name="qwen").expires_at
    assert (after - before).total_seconds() == 4 * 3600


def test_list_and_status_are_ephemeral(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    h.command("list", key="list")
    listed = h.slack.wait_for_response(lambda r: r["_key"] == "list")
    assert listed["response_type"] == "ephemeral" and "qwen" in json.dumps(listed["blocks"])
    h.command("status qwen", key="status")
    status = h.slack.wait_for_response(lambda r: r["_key"] == "status")
    assert "ready" in json.dumps(status["blocks"])
    h.command("status nope", key="missing")
    missing = h.slack.wait_for_response(lambda r: r["_key"] == "missing")
    assert missing["text"].startswith(":warning:")


def test_app_home_opened_publishes_the_home(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    before = len(h.slack.calls_to("views.publish"))
    reply = h.event(
        {"type": "app_home_opened", "user": "U2OTHER", "channel": "D2", "tab": "home", "event_ts": "1.2"}
    )
    assert reply.status == 200
    published = h.slack.wait_for(
        lambda s: [c for c in s.calls_to("views.publish")[before:] if c.args["user_id"] == "U2OTHER"],
        what="views.publish",
    )
    view = published[0].args["view"]
    assert view["type"] == "home" and "qwen" in json.dumps(view["blocks"])


def test_home_buttons_reply_by_dm(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    h.press(ACTION_IDS["extend_1h"], "qwen", from_home=True)
    dm = h.slack.wait_for(
        lambda s: [c for c in s.calls_to("chat.postMessage") if c.args["channel"] == "D1OWNER"], what="a DM"
    )
    assert "now expires" in dm[-1].args["text"]


def test_rate_limited_card_is_retried(harness: SlackHarness) -> None:
    h = harness
    h.slack.rate_limit("chat.postMessage", retry_after=0, times=1)
    h.command(f"up {MODEL} L4:1 name=qwen")
    _card_call(h)
    attempts = h.slack.calls_to("chat.postMessage", ok_only=False)
    assert attempts[0].status == 429
    h.slack.wait_for(lambda s: _state(h) == EndpointState.READY, what="READY")
    assert h.service.status(name="qwen").message_ts


def test_not_in_channel_falls_back_to_dm_with_invite_hint(harness: SlackHarness) -> None:
    h = harness
    h.slack.channel_errors["C1GENERAL"] = "not_in_channel"
    h.command(f"up {MODEL} L4:1 name=qwen")
    h.slack.wait_for(lambda s: _state(h) == EndpointState.READY, what="READY")
    h.settle()
    dms = [c.args for c in h.slack.calls_to("chat.postMessage") if c.args["channel"] == "D1OWNER"]
    said = _texts(dms)
    assert "/invite @endpoint-bot" in said
    assert "API key" in said  # the key still reached its owner
    answer = h.slack.wait_for_response(lambda r: "Launching" in r.get("text", ""))
    assert "/invite @endpoint-bot" in answer["text"]


def test_slack_outage_never_changes_the_endpoint(harness: SlackHarness) -> None:
    h = harness
    # Slack answering errors to everything (5xx retries are covered in test_notifier; here they would only be slow).
    for method in ("chat.postMessage", "chat.update", "conversations.open", "views.publish"):
        h.slack.fail(method, "fatal_error", times=1000)
    h.command(f"up {MODEL} L4:1 name=qwen")
    h.slack.wait_for(
        lambda s: h.service.list(include_terminal=True) and _state(h) == EndpointState.READY,
        what="READY despite Slack failing",
    )
    h.settle()
    h.slack.reset()
    h.command("down qwen")
    h.slack.wait_for(lambda s: _state(h) == EndpointState.STOPPED, what="STOPPED after Slack recovered")


def test_fit_command_answers_with_plans(harness: SlackHarness) -> None:
    harness.command(f"fit {MODEL} L4:1 ctx=8k", key="fit")
    answer = harness.slack.wait_for_response(lambda r: r["_key"] == "fit")
    assert answer["response_type"] == "ephemeral"
    assert "fits on L4:1" in json.dumps(answer["blocks"])
    harness.settle()
    assert harness.cloud.calls_to("submit") == []


def test_extend_command_and_keep_alive_button(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    before = h.service.status(name="qwen").expires_at
    h.command("extend qwen 2h", key="extend")
    answer = h.slack.wait_for_response(lambda r: r["_key"] == "extend")
    assert "now expires" in answer["text"]
    assert (h.service.status(name="qwen").expires_at - before).total_seconds() == 2 * 3600
    h.press(ACTION_IDS["keep_alive"], "qwen", key="alive")
    alive = h.slack.wait_for_response(lambda r: r["_key"] == "alive")
    assert "idle clock" in alive["text"]
    assert h.service.status(name="qwen").last_activity_at == h.clock.now()


def test_commands_are_answered_while_every_flow_worker_is_busy(tmp_path, fake_hub) -> None:
    # The launch needs one tick of the fake cloud; it holds no worker meanwhile (the follower polls it),
    # and the only flow worker is free for the next launch step.
    h = SlackHarness(tmp_path, workers=1, cloud_options={"launch_ticks": 1})
    try:
        h.command(f"up {MODEL} L4:1 name=qwen")
        h.slack.wait_for(lambda s: _state(h) == EndpointState.PROVISIONING, what="PROVISIONING")
        h.slack.wait_for(
            lambda s: h.cloud.calls_to("request_statuses"), what="the launch followed in the cloud"
        )
        h.command("list", key="list")
        listed = h.slack.wait_for_response(lambda r: r["_key"] == "list")
        assert "provisioning" in json.dumps(listed["blocks"])
        assert _state(h) == EndpointState.PROVISIONING  # answered while the launch was in flight
        assert h.bot.runtime.workers.in_flight >= 1
        h.cloud.tick()
        h.slack.wait_for(lambda s: _state(h) == EndpointState.READY, what="READY")
    finally:
        h.close()


def test_a_failed_launch_is_explained_in_the_thread_and_on_the_card(harness: SlackHarness) -> None:
    from tests.fakes.fake_cloud import no_capacity

    h = harness
    h.cloud.fail_next_launch(no_capacity("L4:1", "gcp", ("us-central1", "us-east1")))
    h.command(f"up {MODEL} L4:1 name=qwen")
    h.slack.wait_for(lambda s: _state(h) == EndpointState.FAILED, what="FAILED")
    h.settle()
    view = h.service.status(name="qwen")
    said = _texts(h.slack.thread_replies("C1GENERAL", view.message_ts))
    assert "L4" in said and "API key" not in said
    card = json.dumps(h.slack.calls_to("chat.update")[-1].args["blocks"])
    assert "failed" in card and "endpoint_stop" not in card


def test_idle_reminder_dm_has_buttons_that_work(harness: SlackHarness) -> None:
    from datetime import timedelta

    h = harness
    _launch(h)
    assert h.bot.watchdog is not None
    h.clock.advance(timedelta(minutes=36))  # idle 45m by default, warned 10m before
    h.bot.watchdog.tick()
    dm = h.slack.wait_for(
        lambda s: [c.args for c in s.calls_to("chat.postMessage") if c.args["channel"] == "D1OWNER"],
        what="an idle reminder DM",
    )[-1]
    buttons = [el for b in dm["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert {b["action_id"] for b in buttons} >= {"endpoint_keep_alive", "endpoint_stop"}
    assert all(b["value"] == "qwen" for b in buttons)
    # Pressing Keep alive in the DM resets the idle clock.
    h.press("endpoint_keep_alive", "qwen", channel_id="D1OWNER", key="alive")
    h.slack.wait_for_response(lambda r: r["_key"] == "alive")
    assert h.service.status(name="qwen").last_activity_at == h.clock.now()


def test_stats_and_status_show_where_the_cold_start_went(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    h.command("status qwen", key="status")
    status = json.dumps(h.slack.wait_for_response(lambda r: r["_key"] == "status")["blocks"])
    assert "Cold start" in status and "provisioning" in status and "first completion" in status
    # The thread's ready message says it too.
    view = h.service.status(name="qwen")
    said = _texts(h.slack.thread_replies("C1GENERAL", view.message_ts))
    assert "Cold start" in said
    h.command("stats", key="stats")
    stats = h.slack.wait_for_response(lambda r: r["_key"] == "stats")
    blocks = json.dumps(stats["blocks"])
    assert stats["response_type"] == "ephemeral"
    assert MODEL in blocks and "L4:1" in blocks and "over 1 launch" in blocks and "provisioning" in blocks
    h.command("stats h100", key="none")
    none = h.slack.wait_for_response(lambda r: r["_key"] == "none")
    assert "No finished launches matching" in json.dumps(none["blocks"])
    bad = h.command("stats a b")  # a parse error is answered in the ack
    assert "`stats` takes nothing or one word" in bad.json()["text"]
