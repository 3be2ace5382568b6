"""Inputs that once escaped validation, sent as real signed slash commands to the Bolt app over HTTP
(issue 10, item 8): each gets HTTP 200 with a short private sentence, and nothing is launched."""

from __future__ import annotations

import pytest

from tests.bot.slack.harness import SlackHarness

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize(
    "text",
    [
        f"up {MODEL} L4:1 idle={'1' * 4301}m",  # was: ValueError (int digit limit) -> HTTP 500 and silence
        f"up {MODEL} L4:1 ctx={'1' * 400}",  # was: OverflowError
        f"up {MODEL} L4:1 max-cost={'9' * 400}",  # was: launched with "cap $inf"
        f"up {MODEL} L4:1 name={'n' * 10_000}",  # was: the token echoed whole
    ],
)
def test_hostile_numbers_and_tokens_get_a_short_sentence_and_change_nothing(
    harness: SlackHarness, text: str
) -> None:
    reply = harness.command(text)
    assert reply.status == 200
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    assert "Usage:" in body["text"] and len(body["text"]) < 1_000
    assert harness.cloud.calls_to("submit") == []
    assert harness.slack.calls_to("chat.postMessage") == []
