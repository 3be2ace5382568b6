"""Replicas through Slack: `/endpoint up ... replicas=2` over real HTTP to the running Bolt app, the fake cloud
running the service's replicas with fake engines, and the fake Slack Web API.
"""

from __future__ import annotations

import json

import pytest

from bot.slack.blocks import ACTION_IDS
from core.endpoints.states import EndpointState
from core.errors import NotFound
from tests.bot.slack.harness import SlackHarness

pytestmark = pytest.mark.timeout(240)

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def _state(h: SlackHarness, name: str = "qwen") -> EndpointState | None:
    try:
        return h.service.status(name=name).state
    except NotFound:
        return None


def test_up_with_replicas_shows_them_on_the_card_posts_the_key_once_and_stops_the_service(
    harness: SlackHarness,
) -> None:
    h = harness
    assert h.command(f"up {MODEL} L4:1 name=qwen replicas=2").status == 200
    h.slack.wait_for(lambda s: _state(h) == EndpointState.READY, what="READY")
    h.settle()
    view = h.service.status(name="qwen")
    assert len(h.cloud.calls_to("submit_service")) == 1 and h.cloud.calls_to("submit") == []
    card = json.dumps(h.slack.calls_to("chat.update")[-1].args["blocks"])
    assert "2/2 replicas ready" in card and "for 2 replicas" in card
    replies = h.slack.thread_replies("C1GENERAL", view.message_ts)
    said = json.dumps(replies)
    assert "SkyServe runs 2 replicas" in said and "sky serve down" in said and "plain HTTP" in said
    assert len([r for r in replies if "API key" in json.dumps(r.get("blocks", []))]) == 1

    assert h.press(ACTION_IDS["stop"], "qwen", message_ts=view.message_ts).status == 200
    h.slack.wait_for(lambda s: _state(h) == EndpointState.STOPPED, what="STOPPED")
    h.settle()
    assert [c.args["name"] for c in h.cloud.calls_to("service_down")] == [view.cluster_name]
    assert h.cloud.list_clusters("") == []


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ("autoscale=1-3", "needs a target load per replica"),
        ("replicas=2 autoscale=1-3 qps=5", "not both"),
        ("replicas=0", "`replicas=0` would serve nothing"),
        ("qps=5", "goes with `autoscale=MIN-MAX`"),
        ("autoscale=3", "not a range of replicas"),
    ],
)
def test_bad_replica_options_are_answered_in_the_ack(
    harness: SlackHarness, options: str, problem: str
) -> None:
    reply = harness.command(f"up {MODEL} L4:1 {options}")
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    assert problem in body["text"] and "Usage:" in body["text"]
    harness.settle()
    assert harness.slack.calls_to("chat.postMessage") == []
    assert harness.cloud.calls == []
