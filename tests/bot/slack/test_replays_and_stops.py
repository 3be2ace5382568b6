"""Through the real Bolt app (HTTP and Socket Mode): a replayed signed request runs once; an acknowledged
stop survives the bot dying right after the ack."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.endpoints.states import EndpointState as S
from core.errors import NotFound
from core.wiring import build_runtime
from core.workers import WorkerPool
from tests.bot.slack.harness import SlackHarness, post
from tests.fakes.fake_slack import (
    APP_TOKEN,
    WAIT_TIMEOUT,
    FakeSocketMode,
    sign,
    slash_command_body,
    slash_command_envelope,
)

pytestmark = pytest.mark.timeout(240)
MODEL = "Qwen/Qwen2.5-7B-Instruct"


def _launch(h: SlackHarness) -> None:
    assert h.command(f"up {MODEL} L4:1 name=qwen").status == 200
    h.slack.wait_for(lambda s: _state(h, "qwen") is S.READY, what="READY")
    h.settle()


def _state(h: SlackHarness, name: str) -> S | None:
    try:
        return h.service.status(name=name).state
    except NotFound:
        return None


def _extends(h: SlackHarness) -> list[dict[str, Any]]:
    return [e for e in h.service.events(name="qwen") if e["kind"] == "extend"]


def _signed(h: SlackHarness, text: str, key: str) -> tuple[str, dict[str, str]]:
    body = slash_command_body(text, response_url=h.slack.response_url(key))
    return body, {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}


def test_a_replayed_extend_runs_once_over_http(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    body, headers = _signed(h, "extend qwen 1h", "ext")
    first = post(h.url, body, headers)
    assert first.status == 200 and "On it" in first.body
    h.settle()
    replay = post(h.url, body, headers)  # the same signed bytes, seconds later
    assert replay.status == 200 and replay.body == ""
    h.settle()
    assert len(_extends(h)) == 1
    # A new request (new timestamp and signature) for the same thing is not a replay.
    assert h.command("extend qwen 1h", key="ext2").status == 200
    h.settle()
    assert len(_extends(h)) == 2


def test_a_replayed_unnamed_up_launches_once_over_http(harness: SlackHarness) -> None:
    h = harness
    body, headers = _signed(h, f"up {MODEL} L4:1", "up")
    assert post(h.url, body, headers).status == 200
    assert post(h.url, body, headers).status == 200
    h.slack.wait_for(lambda s: _state(h, "qwen2-5-7b-instruct") is S.READY, what="READY")
    h.settle()
    assert [v.name for v in h.service.list(include_terminal=True)] == ["qwen2-5-7b-instruct"]


def test_a_replay_is_recognised_by_a_second_bot_on_the_same_store(
    harness: SlackHarness, tmp_path: Any
) -> None:
    h = harness
    _launch(h)
    # A second bot process (its own Bolt app, server and runtime) on the same store.
    other = SlackHarness(tmp_path / "other", settings_overrides={"db_path": h.settings.db_path})
    try:
        body, headers = _signed(h, "extend qwen 1h", "ext")
        assert post(h.url, body, headers).body != ""
        h.settle()
        assert post(other.url, body, headers).body == ""
        other.settle()
        assert len(_extends(h)) == 1
    finally:
        other.close()


def test_a_redelivered_socket_mode_envelope_runs_once(harness: SlackHarness) -> None:
    from bot.slack.replays import ReplayAwareSocketModeHandler

    h = harness
    _launch(h)
    socket = FakeSocketMode()
    h.slack.socket_url = socket.url
    handler = ReplayAwareSocketModeHandler(h.bot.app, APP_TOKEN)
    try:
        handler.connect()
        assert socket.connected.wait(WAIT_TIMEOUT)
        envelope = slash_command_envelope(
            "extend qwen 1h", envelope_id="env-ext", response_url=h.slack.response_url("sock")
        )
        socket.send(envelope)
        assert "On it" in json.dumps(socket.wait_for_ack("env-ext"))
        h.settle()
        del socket.acks["env-ext"]
        socket.send(envelope)  # Slack redelivers an envelope it did not see acknowledged
        assert socket.wait_for_ack("env-ext").get("payload") in (None, {})
        h.settle()
        assert len(_extends(h)) == 1

        up = slash_command_envelope(
            f"up {MODEL} L4:1", envelope_id="env-up", response_url=h.slack.response_url("u")
        )
        socket.send(up)
        socket.wait_for_ack("env-up")
        del socket.acks["env-up"]
        socket.send(up)
        socket.wait_for_ack("env-up")
        h.slack.wait_for(lambda s: _state(h, "qwen2-5-7b-instruct") is S.READY, what="READY")
        h.settle()
        assert sorted(v.name for v in h.service.list(include_terminal=True)) == [
            "qwen",
            "qwen2-5-7b-instruct",
        ]
    finally:
        handler.close()
        socket.stop()


class _DeadPool:
    """The chat pool of a process killed right after its ack: nothing submitted ever runs."""

    def submit(self, fn: Any, /, *args: Any, task_name: str | None = None, **kwargs: Any) -> None:
        return None


def test_an_acknowledged_stop_survives_a_crash_right_after_the_ack(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    h.bot.deps.pool = _DeadPool()  # the process dies between the ack and the stop
    reply = h.command("down qwen")
    assert reply.status == 200 and "Stopping `qwen`" in reply.body
    assert _state(h, "qwen") is S.READY, "the stop itself never ran"

    restarted = build_runtime(
        h.settings,
        notifier=h.bot.deps.notifier,
        launcher=h.cloud,
        database=h.database,
        clock=h.clock,
        workers=WorkerPool(size=2),
        flow_options=dict(h.flow_options),
    )
    try:
        restarted.start(upgrade=True, periodic=False, reconcile_now=False, watchdog=False)
        assert restarted.workers.join(60)
        final = restarted.service.status(name="qwen")
        assert final.state is S.STOPPED
        assert final.stop_reason == "stopped by <@U1OWNER>"
        assert h.cloud.cluster(final.cluster_name) is None
        # Carried out once: a second start finds nothing left to do.
        assert restarted.service.resume_stops() == 0
    finally:
        restarted.close()


def test_a_stop_that_ran_is_not_carried_out_again_after_a_restart(harness: SlackHarness) -> None:
    h = harness
    _launch(h)
    assert h.command("down qwen").status == 200
    h.slack.wait_for(lambda s: _state(h, "qwen") is S.STOPPED, what="STOPPED")
    h.settle()
    assert h.service.resume_stops() == 0


def test_stop_requests_are_written_before_the_ack(harness: SlackHarness) -> None:
    """Only the stop (and its button) is recorded before the ack; other commands are not."""
    from sqlalchemy import func, select

    from core.endpoints.models import StopRequest

    h = harness
    h.bot.deps.pool = _DeadPool()
    h.command("down nothing-here")
    h.command("list")
    h.press("endpoint_stop", "other")
    with h.database.session() as session:
        assert session.scalar(select(func.count()).select_from(StopRequest)) == 2
