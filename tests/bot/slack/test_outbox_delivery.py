"""A Slack 429 burst during a launch never loses the API key: through the real Bolt app over HTTP.

chat.postMessage answers 429 (Retry-After) from `up` onwards. The launch still reaches READY (the key
is never sent on the launch thread), the key waits in the outbox (its delivery state stored, the key
itself only in memory) and reaches its owner once Slack takes messages again; if it cannot within
`key_delivery_deadline`, or the bot restarts before it is delivered, the endpoint is torn down with a
sentence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.slack.notifier import SlackNotifier
from core import outbox
from core.apikeys import hash_api_key
from core.endpoints.states import EndpointState as S
from core.outbox import OutboxMessage
from core.wiring import Runtime, build_runtime
from core.workers import WorkerPool
from tests.bot.slack.harness import SlackHarness
from tests.fakes.fake_slack import FakeSlack

pytestmark = pytest.mark.timeout(240)
MODEL = "Qwen/Qwen2.5-7B-Instruct"
KEY_RE = re.compile(r"epk-[A-Za-z0-9_-]{20,}")
# A process identity on this host whose process does not run (pid far above pid_max): it died.
DEAD_OWNER_PID = 4_194_999


@pytest.fixture
def burst(tmp_path: Path, fake_hub: object) -> Iterator[SlackHarness]:
    bot = SlackHarness(tmp_path, settings_overrides={"key_delivery_deadline": timedelta(minutes=10)})
    yield bot
    bot.close()


def _delivered_keys(slack: FakeSlack) -> list[str]:
    """The API key of every message Slack accepted that shows one (once per message)."""
    found = [sorted(set(KEY_RE.findall(json.dumps(c.args)))) for c in slack.calls_to("chat.postMessage")]
    return [key for keys in found for key in keys]


def _key_rows(h: SlackHarness) -> list[OutboxMessage]:
    with h.database.session() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == outbox.KEY)).all())


def _up_into_a_burst(h: SlackHarness, times: int) -> None:
    h.slack.rate_limit("chat.postMessage", retry_after=0, times=times)
    assert h.command(f"up {MODEL} L4:1 name=qwen").status == 200
    h.slack.wait_for(lambda s: _state(h) is S.READY, what="READY despite the 429s")
    assert h.bot.runtime.workers.join(60) and h.bot.commands.join(60)


def _state(h: SlackHarness) -> S | None:
    try:
        return h.service.status(name="qwen").state
    except Exception:
        return None


def _rounds(h: SlackHarness, until: object, *, step: timedelta, max_rounds: int = 40) -> None:
    """Let the clock run on (the outbox's backoff) and deliver, until `until()` holds."""
    for _ in range(max_rounds):
        if until():  # type: ignore[operator]
            return
        h.clock.advance(step)
        h.drain()
    assert until(), "condition not reached"  # type: ignore[operator]


def test_a_429_burst_delays_the_key_but_delivers_it(burst: SlackHarness) -> None:
    h = burst
    _up_into_a_burst(h, times=40)
    # READY while Slack still refuses: the key waits in the outbox, stored as owed, not as a value.
    assert _delivered_keys(h.slack) == []
    rows = _key_rows(h)
    assert [r.state for r in rows] == [outbox.PENDING]
    assert rows[0].text is None and "epk-" not in json.dumps([r.text for r in rows])

    _rounds(h, lambda: _delivered_keys(h.slack), step=timedelta(seconds=30))
    keys = _delivered_keys(h.slack)
    assert len(keys) == 1, "the key is posted exactly once"
    view = h.service.status(name="qwen")
    with h.database.session() as session:
        from core.endpoints import store

        endpoint = store.get_by_name(session=session, name="qwen")
        assert endpoint is not None and endpoint.api_key_hash == hash_api_key(keys[0])
    assert view.state is S.READY
    assert [r.state for r in _key_rows(h)] == [outbox.DELIVERED]
    h.settle()
    # The progress posts held back by the burst arrive too (none lost).
    posts = [str(c.args.get("text")) for c in h.slack.calls_to("chat.postMessage")]
    assert any("Provisioning" in t for t in posts) and any("Ready:" in t for t in posts)
    progress = [t for t in posts if t.startswith("`qwen`")]
    assert progress.index(next(t for t in progress if "Provisioning" in t)) < progress.index(
        next(t for t in progress if "Ready:" in t)
    ), "held-back posts keep their order"


def test_a_key_slack_never_takes_within_the_bound_tears_the_endpoint_down(burst: SlackHarness) -> None:
    h = burst
    _up_into_a_burst(h, times=100_000)
    assert _delivered_keys(h.slack) == []
    h.clock.advance(timedelta(minutes=11))  # past key_delivery_deadline
    h.drain()
    h.slack.wait_for(lambda s: _state(h) is S.FAILED, what="the endpoint torn down")
    h.settle()
    view = h.service.status(name="qwen")
    assert view.failure_reason == outbox.key_undelivered_reason(timedelta(minutes=10))
    assert h.cloud.cluster(view.cluster_name) is None
    assert [r.state for r in _key_rows(h)] == [outbox.ABANDONED]

    # Once Slack takes messages again, the owner reads why (the card never made it: by DM).
    h.slack.reset()
    _rounds(h, lambda: "please run `up` again" in json.dumps(_ok_posts(h.slack)), step=timedelta(minutes=1))
    assert _delivered_keys(h.slack) == [], "the key is never shown after it was given up"


def _ok_posts(slack: FakeSlack) -> list[dict]:
    return [c.args for c in slack.calls_to("chat.postMessage")]


def test_a_restart_before_the_key_is_delivered_tears_the_endpoint_down(burst: SlackHarness) -> None:
    h = burst
    runtime = h.bot.runtime
    assert runtime.outbox is not None
    host = runtime.outbox.owner.split(":")[0]
    dead = f"{host}:{DEAD_OWNER_PID}:12345:deadbeef0000"  # this "process" will have died
    runtime.service.flows.owner = dead
    runtime.outbox.owner = dead
    _up_into_a_burst(h, times=100_000)
    assert [r.owner for r in _key_rows(h)] == [dead]
    runtime.outbox.stop()  # the process dies: its key is gone with its memory
    h.slack.reset()

    second = _restarted(h)
    try:
        second.start(upgrade=False, periodic=False, reconcile_now=False, watchdog=False)
        # No clock advance: the dead owner is recognised at once (same host, its pid is not running).
        h.slack.wait_for(lambda s: _state(h) is S.FAILED, what="the endpoint torn down after the restart")
        view = h.service.status(name="qwen")
        assert view.failure_reason == outbox.key_lost_in_restart_reason()
        assert h.cloud.cluster(view.cluster_name) is None
        # The owner reads why (with the dead process's held-back posts, which the new one adopted).
        assert second.outbox is not None
        for _ in range(20):
            if "restarted before it could give you" in json.dumps(_ok_posts(h.slack)):
                break
            h.clock.advance(timedelta(minutes=1))
            second.outbox.drain(60)
        assert "restarted before it could give you" in json.dumps(_ok_posts(h.slack))
        assert any("Provisioning" in str(p.get("text")) for p in _ok_posts(h.slack)), "adopted, not lost"
    finally:
        second.close()


def _restarted(h: SlackHarness) -> Runtime:
    """A second bot process on the same store, cloud and Slack."""
    from bot.slack.app import make_web_client

    runtime = build_runtime(
        h.settings,
        notifier=SlackNotifier(make_web_client(h.settings), clock=h.clock),
        launcher=h.cloud,
        database=h.database,
        clock=h.clock,
        workers=WorkerPool(size=4),
        flow_options=dict(h.flow_options),
        outbox=True,
    )
    assert runtime.outbox is not None
    runtime.outbox.poll = 0.05
    return runtime


def test_a_watchdog_reminder_in_a_429_burst_is_delivered_later(burst: SlackHarness) -> None:
    """The watchdog's DMs go through the same outbox: a tick during a burst neither waits on Slack nor
    loses the reminder."""
    h = burst
    assert h.command(f"up {MODEL} L4:1 name=qwen").status == 200
    h.slack.wait_for(lambda s: _state(h) is S.READY, what="READY")
    h.settle()
    assert h.bot.watchdog is not None
    h.slack.rate_limit("chat.postMessage", retry_after=0, times=40)
    h.clock.advance(timedelta(minutes=36))  # idle 45m by default, warned 10m before
    h.bot.watchdog.tick()
    with h.database.session() as session:
        queued = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == outbox.DM)).all()
        assert [m.recipient for m in queued] == ["U1OWNER"], "stored as owed before any delivery"

    def reminded() -> bool:
        return any(
            c.args["channel"] == "D1OWNER" and "endpoint_keep_alive" in json.dumps(c.args)
            for c in h.slack.calls_to("chat.postMessage")
        )

    _rounds(h, reminded, step=timedelta(seconds=30))
    assert _state(h) is S.READY
