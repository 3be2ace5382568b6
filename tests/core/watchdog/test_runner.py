"""Trace-driven watchdog tests: a real service on a real store (SQLite and PostgreSQL), the fake cloud with
fake engines over loopback, a ManualClock moved one watchdog interval per tick, and a recording notifier.

Each test drives the engines' counters (or stops them answering, or restarts them) and asserts the exact
sequence of DMs, thread posts and teardowns the watchdog produced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.clock import ManualClock
from core.db import Database
from core.endpoints import flows, records, store
from core.endpoints.models import Endpoint
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.errors import InvalidRequest
from core.outbox import DM, Outbox, OutboxMessage
from core.tls import client_context
from core.usage.models import EndpointUsage
from core.watchdog.reminders import Reminder
from core.watchdog.runner import MAX_RELAUNCHES, SCRAPE_FAILURE_NOTICE_AFTER, TickReport, Watchdog
from tests.core.endpoints.lifecycle_fixtures import Lifecycle, make_settings, new_cloud, record_endpoint
from tests.fakes.fake_engine import FakeEngine

S = EndpointState
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
STEP = timedelta(minutes=5)
PRICE = 0.8  # $/h of the endpoints record_endpoint makes


@dataclass
class Rig:
    lc: Lifecycle
    watchdog: Watchdog

    @property
    def clock(self) -> ManualClock:
        return self.lc.clock

    def launch(self, **kwargs: Any) -> EndpointView:
        view = record_endpoint(self.lc, **kwargs)
        self.lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
        self.lc.join()
        assert self.lc.state(view.name) is S.READY
        self.mark = len(self.lc.notifier.calls)  # what the launch itself said is not under test
        return self.lc.service.status(name=view.name)

    def engine(self, view: EndpointView) -> FakeEngine:
        engine = self.lc.cloud.engine(view.cluster_name)
        assert engine is not None
        return engine

    def said(self) -> list[tuple[str, str]]:
        """("dm"|"thread", text) since the launch, in order (card updates left out)."""
        out = []
        for kind, payload in self.lc.notifier.calls[self.mark :]:
            if kind == "dm":
                out.append(("dm", payload[1]))
            elif kind == "thread":
                out.append(("thread", payload[1]))
        return out

    def run(self, minutes: int, *, each: Any = None) -> list[tuple[int, TickReport]]:
        """Tick once per watchdog interval for `minutes`; returns the ticks that did something."""
        step = self.lc.settings.watchdog_interval
        eventful = []
        for _ in range(int(timedelta(minutes=minutes) / step)):
            self.clock.advance(step)
            if each is not None:
                each(self.clock.now())
            report = self.watchdog.tick()
            assert report.errors == [], report.errors
            self.lc.join()
            if report.notices or report.teardowns or report.relaunched:
                eventful.append((self.minute(), report))
        return eventful

    def minute(self) -> int:
        return int((self.clock.now() - T0) / MINUTE)

    def set_row(self, view: EndpointView, **values: Any) -> None:
        with self.lc.database.session() as session:
            endpoint = session.get(Endpoint, view.id)
            for key, value in values.items():
                setattr(endpoint, key, value)

    def usage(self, view: EndpointView) -> EndpointUsage:
        with self.lc.database.session() as session:
            return session.get(EndpointUsage, view.id)


_WATCHDOGS: list[Watchdog] = []  # stopped after each test: their scrapers hold a thread and sockets


def _rig_factory(database: Database, made: list[Lifecycle]) -> Any:
    def make(**settings: Any) -> Rig:
        clock = ManualClock(T0)
        # Ticks every 5 minutes keep the traces short; every deadline below falls on a tick.
        values = {"watchdog_interval": STEP, "cost_reminder_every": 1000.0, **settings}
        lc = Lifecycle(
            database=database, cloud=new_cloud(clock), clock=clock, settings=make_settings(**values)
        )
        made.append(lc)
        watchdog = Watchdog(lc.settings, database, lc.service, lc.notifier, clock)
        _WATCHDOGS.append(watchdog)
        return Rig(lc=lc, watchdog=watchdog)

    return make


@pytest.fixture
def make_rig(database: Database) -> Iterator[Any]:
    """Rigs on SQLite and on PostgreSQL (when reachable): for the traces that touch claims and races."""
    made: list[Lifecycle] = []
    yield _rig_factory(database, made)
    while _WATCHDOGS:
        _WATCHDOGS.pop().stop()
    for lc in made:
        lc.close()
        lc.cloud.close()


@pytest.fixture
def make_sqlite_rig(sqlite_database: Database) -> Iterator[Any]:
    """Rigs on SQLite only: the store's behaviour on both backends is covered by the traces above."""
    made: list[Lifecycle] = []
    yield _rig_factory(sqlite_database, made)
    while _WATCHDOGS:
        _WATCHDOGS.pop().stop()
    for lc in made:
        lc.close()
        lc.cloud.close()


def kinds(events: list[tuple[int, TickReport]]) -> list[tuple[int, str]]:
    out = []
    for minute, report in events:
        out += [(minute, f"notice:{kind}") for _name, kind, _key in report.notices]
        out += [(minute, f"teardown:{kind}") for _name, kind in report.teardowns]
        out += [(minute, f"relaunch:{name}") for name in report.relaunched]
    return out


@pytest.mark.timeout(120)
def test_idle_endpoint_is_warned_then_stopped(make_rig: Any) -> None:
    rig = make_rig()
    view = rig.launch()
    engine = rig.engine(view)

    def traffic(now: datetime) -> None:
        if now == T0 + timedelta(minutes=10):
            engine.add_traffic(requests=2, prompt_tokens=30, generation_tokens=12)

    events = rig.run(60, each=traffic)
    # Activity at minute 10; warned 35 min later; stopped at the 45 min timeout.
    assert kinds(events) == [(45, "notice:idle"), (55, "teardown:idle")]
    said = rig.said()
    assert said[0] == (
        "dm",
        f"`{view.name}` has had no requests for 35 min; it will be stopped at 09:55 UTC (idle timeout 45m). "
        "Press *Keep alive* if you still need it.",
    )
    assert said[1] == (
        "thread",
        "Stopping (idle: no requests for 45 min, past its 45m idle timeout). Tearing the cluster down.",
    )
    assert "stopped; the cluster is gone" in said[2][1]
    assert len(said) == 3
    dm_actions = [call for call in rig.lc.notifier.calls if call[0] == "dm"]
    assert dm_actions  # the recording notifier keeps (user, text); buttons are checked in the policy tests
    assert rig.lc.state(view.name) is S.STOPPED
    assert rig.lc.cloud.cluster(view.cluster_name) is None
    events = rig.lc.events(view.name)
    assert any(
        e["actor"] == "watchdog" and e["kind"] == "transition" and "STOPPING" in e["message"] for e in events
    )
    usage = rig.usage(view)
    assert usage.requests >= 2 and usage.generation_tokens >= 12


@pytest.mark.timeout(120)
def test_keep_alive_and_traffic_push_the_idle_deadline(make_sqlite_rig: Any) -> None:
    rig = make_sqlite_rig()
    view = rig.launch()
    engine = rig.engine(view)
    assert kinds(rig.run(35)) == [(35, "notice:idle")]
    rig.lc.service.keep_alive(name=view.name, actor="U_OWNER")  # the button
    assert kinds(rig.run(30)) == []  # 09:35 + 45m = 10:20: nothing before 10:10
    engine.set_load(running=1)  # a long request in flight: no new tokens yet, still busy
    assert kinds(rig.run(40)) == []
    engine.set_load(running=0)
    # Busy until the tick at minute 105: warned at 140, stopped at 150.
    assert kinds(rig.run(45)) == [(140, "notice:idle"), (150, "teardown:idle")]


@pytest.mark.timeout(120)
def test_failed_scrapes_never_cause_a_teardown(make_sqlite_rig: Any) -> None:
    rig = make_sqlite_rig()
    view = rig.launch()
    rig.run(5)
    rig.engine(view).die()
    events = rig.run(180)
    assert kinds(events) == [(5 + 5 * SCRAPE_FAILURE_NOTICE_AFTER, "notice:scrape")]
    assert rig.lc.state(view.name) is S.READY
    (said,) = rig.said()
    assert said[0] == "dm" and "could not read the metrics" in said[1] and "17:00 UTC" in said[1]
    usage = rig.usage(view)
    assert usage.last_scrape_ok is False and usage.consecutive_scrape_failures == 180 // 5


def test_a_hung_engine_is_never_idle_and_its_scrape_is_no_data_not_a_stall(make_sqlite_rig: Any) -> None:
    """An engine that accepts connections and never answers: ticks do not wait for it past the first
    (its scrape is "not back in time", which counts as activity), its timeouts count as failures when they
    come back, and it is never warned about or stopped for being idle."""
    rig = make_sqlite_rig(scrape_timeout=timedelta(seconds=1), idle_timeout=timedelta(minutes=15))
    view = rig.launch()
    rig.run(5)
    rig.engine(view).hang()
    pending = failures = 0
    for _ in range(12):  # an hour of ticks: four idle timeouts
        events = rig.run(5)
        assert not [k for k in kinds(events) if "idle" in k[1]], events
        report = rig.watchdog.last_report
        assert report is not None and report.scrape_failures + report.scrape_pending == 1
        pending += report.scrape_pending
        failures += report.scrape_failures
        time.sleep(0.3)  # real time for the timed-out scrape to come back (ticks are manual-clock fast)
    assert pending >= 1 and failures >= 1  # no data at first, then the timeouts as failures
    assert rig.lc.state(view.name) is S.READY
    assert rig.usage(view).last_scrape_ok is False
    rig.engine(view).hang(False)
    for _ in range(40):  # the scrape in flight ends (its timeout or a late answer), then one answers
        rig.run(5)
        if rig.usage(view).last_scrape_ok:
            break
        time.sleep(0.1)
    usage = rig.usage(view)
    assert usage.last_scrape_ok is True and usage.consecutive_scrape_failures == 0


def test_reminders_go_through_the_outbox_stored_in_one_batch(make_sqlite_rig: Any) -> None:
    """With the outbox as notifier (the Slack bot's wiring), a tick only stores what it says: the
    chat is not called on the tick; the outbox's sender delivers it afterwards."""
    rig = make_sqlite_rig()
    views = [rig.launch(ttl=timedelta(hours=1), name=f"ep{i}") for i in range(3)]
    for view in views:
        rig.set_row(view, idle_timeout_s=0)
    inner = rig.lc.notifier
    outbox = Outbox(
        notifier=inner,
        database=rig.lc.database,
        clock=rig.clock,
        key_deadline=timedelta(minutes=10),
        lease=timedelta(minutes=3),
    )
    rig.watchdog.notifier = outbox
    dms_before = len([c for c in inner.calls if c[0] == "dm"])
    events = rig.run(45)
    assert sorted(k for _m, k in kinds(events)) == ["notice:expiry"] * 3
    assert len([c for c in inner.calls if c[0] == "dm"]) == dms_before  # nothing sent on the tick
    with rig.lc.database.session() as session:
        stored = session.query(OutboxMessage).filter(OutboxMessage.kind == DM).all()
    assert len(stored) == 3 and {row.state for row in stored} == {"pending"}
    assert outbox.drain(timeout=30)
    dms = [c for c in inner.calls if c[0] == "dm"][dms_before:]
    assert len(dms) == 3 and all("end of its lifetime" in c[1][1] for c in dms)


def _wait_answering(engine: FakeEngine, ca_pem: str | None) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            verify = client_context(ca_pem)  # the engine serves HTTPS with its endpoint's CA
            if httpx.get(f"{engine.url}/metrics", timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise AssertionError("the fake engine did not come back")


@pytest.mark.timeout(120)
def test_usage_totals_survive_an_engine_restart(make_sqlite_rig: Any) -> None:
    rig = make_sqlite_rig()
    view = rig.launch()
    engine = rig.engine(view)
    rig.run(5)
    base = rig.usage(view)
    engine.add_traffic(requests=3, prompt_tokens=300, generation_tokens=100, ttft=0.05, e2e=0.4)
    rig.run(5)
    engine.restart(startup_delay=0)
    _wait_answering(engine, view.tls.ca_cert_pem)
    assert engine.totals()["requests"] == 0
    engine.add_traffic(requests=2, prompt_tokens=20, generation_tokens=10, ttft=0.05, e2e=0.4)
    rig.run(5)
    usage = rig.usage(view)
    assert usage.requests - base.requests == 5
    assert usage.prompt_tokens - base.prompt_tokens == 320
    assert usage.generation_tokens - base.generation_tokens == 110
    assert 0.04 <= usage.latency["ttft_p50"] <= 0.06
    with rig.lc.database.session() as session:
        assert session.get(Endpoint, view.id).last_activity_at == rig.clock.now()
    status = rig.lc.service.status(name=view.name)
    assert status.usage is not None and status.usage.generation_tokens == usage.generation_tokens


@pytest.mark.timeout(120)
def test_a_restarted_watchdog_keeps_the_countdown(make_rig: Any) -> None:
    rig = make_rig()
    view = rig.launch()
    assert kinds(rig.run(40)) == [(35, "notice:idle")]
    # The bot restarts: a new Watchdog over the same database.
    rig.watchdog = Watchdog(rig.lc.settings, rig.lc.database, rig.lc.service, rig.lc.notifier, rig.clock)
    assert kinds(rig.run(10)) == [(45, "teardown:idle")]
    assert [kind for kind, _ in rig.said()].count("dm") == 1  # warned once, not again after the restart
    assert rig.lc.state(view.name) is S.STOPPED


@pytest.mark.timeout(120)
def test_two_watchdogs_decide_each_thing_once(make_rig: Any) -> None:
    rig = make_rig()
    view = rig.launch()
    other = Watchdog(rig.lc.settings, rig.lc.database, rig.lc.service, rig.lc.notifier, rig.clock)
    seen: list[tuple[int, str]] = []
    for _ in range(10):
        rig.clock.advance(STEP)
        for watchdog in (rig.watchdog, other):
            report = watchdog.tick()
            seen += kinds([(rig.minute(), report)])
        rig.lc.join()
    assert seen == [(35, "notice:idle"), (45, "teardown:idle")]
    with rig.lc.database.session() as session:
        rows = session.query(Reminder).filter(Reminder.endpoint_id == view.id).all()
        assert sorted((r.kind, r.key.split(":")[0]) for r in rows) == [
            ("idle", "2026-01-05T09"),
            ("teardown", "idle"),
        ]


@pytest.mark.timeout(120)
def test_lifetime_warning_extend_and_teardown_at_the_new_expiry(make_sqlite_rig: Any) -> None:
    rig = make_sqlite_rig(max_ttl=timedelta(hours=3))
    view = rig.launch(ttl=timedelta(hours=2))
    rig.set_row(view, idle_timeout_s=0)  # idle teardown off: this trace is about lifetime
    assert kinds(rig.run(105)) == [(105, "notice:expiry")]
    (dm,) = rig.said()
    assert "reaches the end of its lifetime at 11:00 UTC (in 15 min)" in dm[1]
    assert "at most until 12:00 UTC" in dm[1]
    deadline_calls = len(rig.lc.cloud.calls_to("set_deadline"))
    rig.lc.service.extend(name=view.name, actor="U_OWNER", by=timedelta(hours=4))  # capped at the 3h ceiling
    rig.lc.join()
    assert len(rig.lc.cloud.calls_to("set_deadline")) == deadline_calls + 1  # the cluster's own timer too
    with pytest.raises(InvalidRequest, match="ceiling"):
        rig.lc.service.extend(name=view.name, actor="U_OWNER", by=timedelta(hours=1))
    events = rig.run(75)
    # The old expiry (11:00) passes quietly; warned again before 12:00, without extend buttons; then stopped.
    assert kinds(events) == [(165, "notice:expiry"), (180, "teardown:expiry")]
    texts = [text for kind, text in rig.said() if kind == "dm"]
    assert "cannot be extended" in texts[-1]
    assert rig.lc.state(view.name) is S.STOPPED
    assert rig.lc.service.status(name=view.name).stop_reason == "its lifetime ended at 12:00 UTC"


@pytest.mark.timeout(120)
def test_cost_steps_cap_warning_and_cap_teardown(make_rig: Any) -> None:
    rig = make_rig(cost_reminder_every=1.0)
    view = rig.launch()
    rig.set_row(view, max_cost=2.0, idle_timeout_s=0)
    events = rig.run(60)
    assert kinds(events) == []
    assert rig.lc.service.status(name=view.name).cost_so_far == pytest.approx(PRICE * 1.0)
    events = rig.run(100)
    # $0.80/h: $1 at 75 min, $1.80 (90 % of the $2 cap) at 135 min, the cap at 150 min.
    assert kinds(events) == [(75, "notice:cost"), (135, "notice:cost_cap"), (150, "teardown:cost_cap")]
    said = rig.said()
    assert said[0] == ("dm", f"`{view.name}` has cost $1.00 so far ($0.80/h, estimate); that passed $1.00.")
    assert said[1] == ("thread", said[0][1])  # cost warnings also go to the thread
    assert said[2][1].startswith(f"`{view.name}` has used $1.80 of its $2.00 cost cap; at $0.80/h, estimate")
    assert "around 11:30 UTC" in said[2][1]
    assert (
        "thread",
        "Stopping (its $2.00 cost cap was reached: $2.00 spent). Tearing the cluster down.",
    ) in said
    final = rig.lc.service.status(name=view.name)
    assert final.state is S.STOPPED
    # Settled to the second the cluster was gone, price x time.
    assert final.cost_so_far == pytest.approx(PRICE * (final.stopped_at - T0).total_seconds() / 3600)
    assert final.cost_so_far == pytest.approx(2.0)


@pytest.mark.timeout(120)
def test_a_preempted_endpoint_with_relaunch_comes_back_a_bounded_number_of_times(
    make_sqlite_rig: Any,
) -> None:
    rig = make_sqlite_rig()
    view = rig.launch()
    rig.set_row(
        view,
        options=records.options_to_json(view.options, records.Lifecycle(relaunch=True)),
        idle_timeout_s=0,
    )
    rig.run(10)
    relaunches: list[tuple[int, str]] = []
    for _ in range(MAX_RELAUNCHES + 1):
        cluster = rig.lc.service.status(name=view.name).cluster_name
        rig.lc.cloud.lose(cluster)  # spot preemption
        rig.lc.service.reconcile()
        assert rig.lc.state(view.name) is S.LOST
        relaunches += kinds(rig.run(5))  # the next tick relaunches (once), the flow brings it back
        rig.run(5)
    # Preempted at minutes 10, 20, 30, 40; relaunched at 15, 25, 35; the fourth loss is final.
    assert relaunches == [
        (15, f"relaunch:{view.name}"),
        (25, f"relaunch:{view.name}"),
        (35, f"relaunch:{view.name}"),
    ]
    assert rig.lc.state(view.name) is S.LOST
    threads = [text for kind, text in rig.said() if kind == "thread"]
    assert sum("Launching it again (relaunch=yes)" in t for t in threads) == MAX_RELAUNCHES
    assert any(f"already relaunched {MAX_RELAUNCHES} times" in t for t in threads)
    # Billed: four runs of 5 minutes (each relaunch came up at once); not the 5-minute gaps while LOST.
    final = rig.lc.service.status(name=view.name)
    assert final.cost_so_far == pytest.approx(PRICE * (10 + 5 + 5 + 5) / 60)
    before = len(rig.said())
    rig.run(15)
    assert len(rig.said()) == before  # told once per loss, however many ticks follow


@pytest.mark.timeout(60)
def test_start_and_stop_run_ticks_in_a_thread(make_sqlite_rig: Any) -> None:
    rig = make_sqlite_rig(watchdog_interval=timedelta(milliseconds=20))
    rig.launch()
    rig.watchdog.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            report = rig.watchdog.last_report
            if report is not None and report.scraped >= 1:
                break
            time.sleep(0.01)
        assert rig.watchdog.running
    finally:
        rig.watchdog.stop()
    assert not rig.watchdog.running
    assert rig.watchdog.last_report is not None and rig.watchdog.last_report.scraped == 1


@pytest.mark.timeout(60)
def test_a_tick_survives_a_broken_notifier(make_sqlite_rig: Any) -> None:
    rig = make_sqlite_rig()
    view = rig.launch()
    rig.lc.notifier.fail = True  # chat is down
    for _ in range(10):
        rig.clock.advance(STEP)
        rig.watchdog.tick()
        rig.lc.join()
    rig.lc.notifier.fail = False
    assert (
        rig.lc.state(view.name) is S.STOPPED
    )  # the warning was lost with the chat outage; teardown still ran


def test_stopped_history_is_settled_once(make_sqlite_rig: Any) -> None:
    rig = make_sqlite_rig()
    view = rig.launch()
    rig.lc.service.down(name=view.name, actor="U_OWNER")
    rig.lc.join()
    rig.clock.advance(STEP)
    rig.watchdog.tick()
    with rig.lc.database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=view.id)
        usage = session.get(EndpointUsage, view.id)
        assert usage.cost_accrued_until == endpoint.stopped_at
    assert rig.watchdog.tick().endpoints == 0


class _DownFailsOnce:
    """The real service, except that its first `down` raises (a database hiccup mid-teardown)."""

    def __init__(self, service: Any) -> None:
        self._service = service
        self.failed = False

    def down(self, **kwargs: Any) -> EndpointView:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database is locked")
        return self._service.down(**kwargs)


def test_a_teardown_that_could_not_start_is_decided_again(make_sqlite_rig: Any) -> None:
    rig = make_sqlite_rig()
    view = rig.launch()
    flaky = _DownFailsOnce(rig.lc.service)
    rig.watchdog = Watchdog(rig.lc.settings, rig.lc.database, flaky, rig.lc.notifier, rig.clock)
    for _ in range(9):  # to minute 45: warned at 35, teardown due at 45, whose down() fails
        rig.clock.advance(STEP)
        report = rig.watchdog.tick()
    assert flaky.failed and report.teardowns == [] and "database is locked" in report.errors[0]
    assert rig.lc.state(view.name) is S.READY
    assert kinds(rig.run(5)) == [(50, "teardown:idle")]
    assert rig.lc.state(view.name) is S.STOPPED


@pytest.mark.timeout(120)
def test_stopping_a_lost_endpoint_cancels_its_pending_relaunch(make_sqlite_rig: Any) -> None:
    """Told "it is launched again shortly", the owner runs `down`: the watchdog must not relaunch it."""
    rig = make_sqlite_rig()
    view = rig.launch()
    rig.set_row(
        view,
        options=records.options_to_json(view.options, records.Lifecycle(relaunch=True)),
        idle_timeout_s=0,
    )
    rig.run(10)
    rig.lc.cloud.lose(rig.lc.service.status(name=view.name).cluster_name)
    rig.lc.service.reconcile()
    assert rig.lc.state(view.name) is S.LOST
    submits = len(rig.lc.cloud.calls_to("submit"))
    rig.lc.service.down(name=view.name, actor="U_OWNER")
    assert kinds(rig.run(10)) == []
    rig.lc.join()
    assert rig.lc.state(view.name) is S.LOST
    assert len(rig.lc.cloud.calls_to("submit")) == submits, "nothing launched after the owner said stop"
    assert any(e["kind"] == "relaunch_cancelled" for e in rig.lc.events(view.name))
    # A watchdog pass that read the row before the stop must not relaunch it either.
    from core.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="stopped by its owner"):
        rig.lc.service.relaunch(name=view.name, actor="watchdog")
    assert rig.lc.state(view.name) is S.LOST
