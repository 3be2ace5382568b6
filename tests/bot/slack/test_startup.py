"""Start-up never waits on the cloud: a hung SkyPilot API server does not keep Slack out, and a dead one
gives a sentence (to the person who asks for a launch, and in the log), never a traceback."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from core.endpoints.states import EndpointState as S
from tests.bot.slack.harness import SlackHarness

pytestmark = pytest.mark.timeout(240)
MODEL = "Qwen/Qwen2.5-7B-Instruct"


def test_a_hung_cloud_does_not_hold_start_up_or_slack(harness: SlackHarness, monkeypatch: Any) -> None:
    h = harness
    release = threading.Event()
    listing = threading.Event()

    def hung(prefix: str) -> list:
        listing.set()
        release.wait(120)  # the API server accepts the connection and never answers
        return []

    monkeypatch.setattr(h.cloud, "list_clusters", hung)
    try:
        h.bot.runtime.start(upgrade=False, watchdog=False)  # what `serve` does before opening its port
        assert listing.wait(60), "the first sweep runs (in the background)"
        reply = h.command("list")  # Slack is served while the sweep still waits on the cloud
        assert reply.status == 200
        listed = h.slack.wait_for_response(lambda r: r["_key"] == "cmd")
        assert "No live endpoints" in str(listed)
        assert not release.is_set()
    finally:
        release.set()


def test_a_dead_cloud_is_a_sentence_not_a_traceback(
    harness: SlackHarness, monkeypatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness

    def dead(prefix: str) -> list:
        raise ConnectionError("Could not connect to SkyPilot API server at http://127.0.0.1:46580.")

    monkeypatch.setattr(h.cloud, "list_clusters", dead)
    caplog.set_level(logging.INFO)
    h.bot.runtime.start(upgrade=False, watchdog=False)

    def logged() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "core.wiring" and r.levelno >= logging.WARNING]

    failures = h.slack.wait_for(lambda s: logged(), what="the failed sweep logged")
    assert h.service.cloud_problem is not None
    assert failures and all(r.exc_info is None for r in failures), "a sentence in the log, no traceback"
    assert "ConnectionError" in failures[0].getMessage()

    assert h.command(f"up {MODEL} L4:1 name=qwen").status == 200
    said = h.slack.wait_for_response(lambda r: r["_key"] == "cmd")
    assert "The cloud is unreachable right now" in said["text"]
    assert "SkyPilot API server" in said["text"] or "launcher did not answer" in said["text"]
    assert h.service.list(include_terminal=True) == [], "nothing was recorded or launched"

    # Once a sweep reaches the cloud again, launches work.
    monkeypatch.undo()
    h.service.reconcile()
    assert h.service.cloud_problem is None
    assert h.command(f"up {MODEL} L4:1 name=qwen", key="again").status == 200
    h.slack.wait_for(lambda s: _state(h) is S.READY, what="READY")


def _state(h: SlackHarness) -> S | None:
    views = h.service.list()
    return views[0].state if views else None
