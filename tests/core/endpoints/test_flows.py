"""The launch and teardown flows on the fake cloud with real fake engines, against SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from core.apikeys import hash_api_key
from core.clock import ManualClock
from core.db import Database
from core.endpoints import flows, store
from core.endpoints.states import EndpointState as S
from core.endpoints.views import EndpointView
from core.engines import build_engine_command
from core.tls import client_context
from core.workers import WorkerPool
from tests.core.endpoints.lifecycle_fixtures import (
    HF_TOKEN,
    MODEL,
    Lifecycle,
    make_settings,
    new_cloud,
    record_endpoint,
    simple_plan,
)
from tests.fakes.fake_cloud import no_capacity

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lc(database: Database) -> Iterator[Lifecycle]:
    clock = ManualClock()
    cloud = new_cloud(clock)
    lifecycle = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    yield lifecycle
    lifecycle.close()
    cloud.close()


def _launch(lc: Lifecycle, name: str = "ep") -> str:
    view = record_endpoint(lc, name=name)
    lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    lc.join()
    return view.name


def _dump_database(lc: Lifecycle) -> str:
    """Every row of every table as text: what a leaked secret would look like in the store."""
    out = []
    with lc.database.engine.connect() as connection:
        for table in ("endpoints", "endpoint_events", "work_claims"):
            out.extend(repr(tuple(row)) for row in connection.execute(text(f"SELECT * FROM {table}")))
    return "\n".join(out)


def test_launch_reaches_ready_and_the_posted_key_really_works(lc: Lifecycle) -> None:
    name = _launch(lc)
    view = lc.service.status(name=name)
    assert view.state is S.READY
    assert view.ready_at is not None and view.url

    ready = lc.notifier.of("ready")
    assert len(ready) == 1, "URL and key are posted exactly once"
    posted_view, api_key = ready[0]
    assert posted_view.url == view.url

    # The key is the one the engine was started with: a real completion answers with it, not without.
    reply = httpx.post(
        f"{view.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
        verify=client_context(view.tls.ca_cert_pem),  # HTTPS by default: trust the endpoint's own CA
    )
    assert reply.status_code == 200
    denied = httpx.post(
        f"{view.url}/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
        verify=client_context(view.tls.ca_cert_pem),
    )
    assert denied.status_code == 401

    # Only the hash is stored; neither secret is in the store, the thread or the recorded cloud calls.
    dump = _dump_database(lc)
    assert hash_api_key(api_key) in dump
    assert api_key not in dump and HF_TOKEN not in dump
    said = [t for t in lc.notifier.thread_texts(name)]
    assert not any(api_key in t or HF_TOKEN in t for t in said)
    assert api_key not in repr(lc.cloud.calls) and HF_TOKEN not in repr(lc.cloud.calls)

    submit = lc.cloud.calls_to("submit")[0].args
    assert submit["secret_names"] == ["ENDPOINT_API_KEY", "ENDPOINT_TLS_CA_KEY", "HF_TOKEN"]
    assert submit["autostop_minutes"] == 8 * 60  # hard deadline = remaining lifetime
    kinds = [e["message"].split(":")[0] for e in lc.events(name) if e["kind"] == "transition"]
    assert kinds == ["REQUESTED -> PROVISIONING", "PROVISIONING -> STARTING", "STARTING -> READY"]
    with lc.database.session() as session:
        from core.endpoints import store

        assert store.get_by_name(session=session, name=name).sky_request_id.startswith("fake-launch-")


def test_ready_is_one_transaction_with_baseline_key_row_timings_and_the_claim_released(lc: Lifecycle) -> None:
    """READY, the usage baseline, the key owed to the outbox, the cold start (its healthy mark kept in
    memory until then) and the launch claim's release land together; nothing is left to write after."""
    from core.endpoints.timings import ColdStartRecord
    from core.outbox import OutboxMessage
    from core.usage.models import EndpointUsage

    name = _launch(lc)
    view = lc.service.status(name=name)
    assert view.state is S.READY
    with lc.database.session() as session:
        usage = session.get(EndpointUsage, view.id)
        assert usage is not None and usage.raw_requests == 1  # the readiness completion, not counted
        keys = session.query(OutboxMessage).filter_by(endpoint_id=view.id).all()
        assert len(keys) == 1  # the key is owed exactly once
        record = session.query(ColdStartRecord).filter_by(endpoint_id=view.id).one()
        assert record.ready_at == view.ready_at and record.healthy_at is not None
        assert record.total_s is not None
        assert session.execute(text("SELECT count(*) FROM work_claims")).scalar() == 0
    assert view.lifecycle.cold_start is not None  # every view carries the phases
    assert not lc.service.flows.is_active(view.id)


def test_progress_is_posted_in_the_thread(lc: Lifecycle) -> None:
    name = _launch(lc)
    said = "\n".join(lc.notifier.thread_texts(name))
    for step in ("Provisioning L4:1", "The cluster is up", "load the weights", "reports healthy", "Ready"):
        assert step in said


def test_no_capacity_at_submit_fails_with_a_sentence_and_leaves_nothing(lc: Lifecycle) -> None:
    lc.cloud.fail_next_submit(no_capacity("L4:1", "gcp", ("us-central1", "us-east4")))
    name = _launch(lc)
    view = lc.service.status(name=name)
    assert view.state is S.FAILED
    assert view.failure_reason and "L4" in view.failure_reason
    assert "Traceback" not in view.failure_reason
    assert lc.cloud.list_clusters("epb-") == []
    assert any("launch failed" in t for t in lc.notifier.thread_texts(name))
    assert not lc.notifier.of("ready")


def test_failed_launch_that_left_a_cluster_is_torn_down_before_failed(lc: Lifecycle) -> None:
    lc.cloud.fail_next_launch(no_capacity(), keep_cluster=True)
    name = _launch(lc)
    assert lc.state(name) is S.FAILED
    assert lc.cloud.list_clusters("epb-") == []
    assert lc.cloud.calls_to("down"), "the half-provisioned cluster was torn down"
    kinds = [e["message"].split(":")[0] for e in lc.events(name) if e["kind"] == "transition"]
    assert kinds[-2:] == ["PROVISIONING -> STOPPING", "STOPPING -> FAILED"]


def test_engine_that_never_answers_a_completion_fails_readiness(database: Database) -> None:
    clock = ManualClock()
    cloud = new_cloud(clock, engine_options={"fail_completions": True})
    lc = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    try:
        name = _launch(lc)
        view = lc.service.status(name=name)
        assert view.state is S.FAILED
        assert view.failure_reason
        assert lc.cloud.list_clusters("epb-") == []
        assert not lc.notifier.of("ready")
    finally:
        lc.close()
        cloud.close()


def test_teardown_that_keeps_failing_stays_stopping_loudly_then_reconcile_finishes_it(
    lc: Lifecycle, caplog: pytest.LogCaptureFixture
) -> None:
    name = _launch(lc)
    cluster = lc.service.status(name=name).cluster_name
    lc.cloud.fail_down(times=3, cluster_name=cluster)
    with caplog.at_level(logging.ERROR, logger="core.endpoints.flows"):
        lc.service.down(name=name, actor="U_OWNER")
        lc.join()
    assert lc.state(name) is S.STOPPING, "never silently STOPPED while the cluster may exist"
    assert lc.cloud.cluster(cluster) is not None
    assert any(e["kind"] == "teardown_failed" for e in lc.events(name))
    assert any(r.levelno == logging.ERROR and cluster in r.getMessage() for r in caplog.records)
    assert any("could not tear down" in t for t in lc.notifier.thread_texts(name))

    lc.service.reconcile()
    lc.join()
    view = lc.service.status(name=name)
    assert view.state is S.STOPPED
    assert lc.cloud.cluster(cluster) is None
    summary = lc.notifier.thread_texts(name)[-1]
    assert "stopped" in summary and "cost about $" in summary


def test_stop_while_provisioning_cancels_and_never_reaches_ready(database: Database) -> None:
    clock = ManualClock()
    cloud = new_cloud(clock, launch_ticks=10_000)  # the launch never finishes on its own
    lc = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    try:
        view = record_endpoint(lc, name="slow")
        lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
        for _ in range(200):  # wait until the launch is submitted (the follower then polls it)
            if cloud.calls_to("request_statuses"):
                break
            time.sleep(0.01)
        lc.service.down(name="slow", actor="U_OWNER")
        lc.join()
        assert lc.state("slow") is S.STOPPED
        assert cloud.list_clusters("epb-") == []
        assert not lc.notifier.of("ready")
    finally:
        lc.close()
        cloud.close()


def test_stop_while_the_engine_loads_ends_its_readiness_probes(database: Database) -> None:
    """A person's stop while the engine loads: the probes stop at the next look at the state (not at the
    readiness deadline), and the endpoint ends STOPPED, not FAILED."""
    clock = ManualClock()
    cloud = new_cloud(clock, engine_options={"never_ready": True})
    lc = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    try:
        view = record_endpoint(lc, name="loading")
        lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
        for _ in range(2000):
            if lc.state("loading") is S.STARTING:
                break
            time.sleep(0.01)
        assert lc.state("loading") is S.STARTING
        lc.service.down(name="loading", actor="U_OWNER")
        lc.join()
        final = lc.service.status(name="loading")
        assert final.state is S.STOPPED and final.failure_reason is None
        assert not lc.notifier.of("ready")
        assert not lc.service.flows.launches, "the launch ended: its key is gone from memory"
    finally:
        lc.close()
        cloud.close()


def test_a_shutdown_leaves_a_launch_in_flight_to_the_next_start(database: Database) -> None:
    """The bot stops while an engine loads: nothing is failed or torn down on the way out; the launch is
    left as the store has it, its claim released, and the next start resumes it (ending it FAILED with
    "please run `up` again", as for any launch whose key died with its process)."""
    from core.endpoints import messaging

    clock = ManualClock()
    cloud = new_cloud(clock, engine_options={"never_ready": True})
    first = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    second = None
    try:
        view = record_endpoint(first, name="inflight")
        first.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
        for _ in range(2000):
            if first.state("inflight") is S.STARTING:
                break
            time.sleep(0.01)
        first.close()
        assert first.state("inflight") is S.STARTING
        assert cloud.cluster(view.cluster_name) is not None
        assert not first.service.flows.launches, "the key left memory with the process"

        second = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
        second.service.flows.owner = "host:2:next-start"
        second.service.reconcile()
        second.join()
        final = second.service.status(name="inflight")
        assert final.state is S.FAILED and final.failure_reason == messaging.restarted_during_launch()
        assert cloud.cluster(view.cluster_name) is None
    finally:
        first.close()
        if second is not None:
            second.close()
        cloud.close()


def test_many_launches_in_flight_hold_no_thread(database: Database) -> None:
    """N launches provisioning at once: ONE follower polls all of them (one status call per round), no
    worker thread waits on any, ONE heartbeat thread renews every claim; then every one reaches READY."""
    import threading

    clock = ManualClock()
    cloud = new_cloud(clock, launch_ticks=10_000)  # provisioning until the test ticks the cloud
    pool = WorkerPool(size=2, name="epb-many", lanes={"teardown": 2})
    settings = make_settings(worker_threads=2)
    lc = Lifecycle(database=database, cloud=cloud, clock=clock, settings=settings, workers=pool)
    lc.service.flows.owner = "host:1:many"
    n = 24
    try:
        views = [record_endpoint(lc, name=f"many{i}") for i in range(n)]
        for view in views:
            assert lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
        follower = lc.service.flows.follower
        for _ in range(6000):
            if follower.following == n and any(
                len(c.args["request_ids"]) == n for c in cloud.calls_to("request_statuses")
            ):
                break
            time.sleep(0.01)
        assert follower.following == n, "every launch is in the cloud, followed"
        assert any(len(c.args["request_ids"]) == n for c in cloud.calls_to("request_statuses"))
        assert not cloud.calls_to("wait") and not cloud.calls_to("request_status"), "nobody blocks on one"
        threads = [t.name for t in threading.enumerate()]
        pool_threads = [t for t in threads if t.startswith("epb-many")]
        assert len(pool_threads) <= 2 + 2 + 1, pool_threads  # main threads, teardown lane, the timer
        assert threads.count("epb-claims-heartbeat(host:1:many)") == 1
        assert not [t for t in threads if t.startswith("claim-")], "no heartbeat thread per claim"
        assert len(lc.service.flows.launches) == n, "each launch keeps its key in memory meanwhile"
        cloud.tick(10_000)
        lc.join()
        assert all(lc.state(v.name) is S.READY for v in views)
        assert len(lc.notifier.of("ready")) == n
        assert not lc.service.flows.launches, "every key left memory once handed over"
    finally:
        lc.close()
        cloud.close()


def test_a_chat_outage_never_changes_state(lc: Lifecycle) -> None:
    lc.notifier.fail = True
    name = _launch(lc)
    assert lc.state(name) is S.READY
    lc.service.down(name=name, actor="U_OWNER")
    lc.join()
    assert lc.state(name) is S.STOPPED


def test_stop_summary_reports_uptime_and_cost(lc: Lifecycle) -> None:
    name = _launch(lc)
    lc.clock.advance(timedelta(hours=2))
    lc.service.down(name=name, actor="U_OWNER")
    lc.join()
    view = lc.service.status(name=name)
    assert view.state is S.STOPPED
    assert view.cost_so_far == pytest.approx(1.6)  # 2 h at $0.80/h
    summary = lc.notifier.thread_texts(name)[-1]
    assert "ran for 2h" in summary
    assert "served" not in summary, "no metrics were ever read: no token figures are claimed"


def test_stop_summary_bills_from_provisioning_and_reports_what_was_served(database: Database) -> None:
    from core.usage.counters import load_usage

    clock = ManualClock()
    cloud = new_cloud(clock, launch_ticks=1)  # the cluster comes up only when the test says so
    lc = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    try:
        view = record_endpoint(lc, name="billed")
        lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
        for _ in range(500):
            if cloud.calls_to("wait"):
                break
            time.sleep(0.01)
        clock.advance(timedelta(minutes=10))  # ten minutes of provisioning, already billed
        cloud.tick(1)
        lc.join()
        assert lc.state("billed") is S.READY
        with lc.database.session() as session:  # what the watchdog folds in from the engine's metrics
            usage = load_usage(session, view.id)  # the launch's baseline row, or a new one
            usage.requests, usage.prompt_tokens, usage.generation_tokens = 42.0, 12_000.0, 500_000.0
            usage.last_scrape_at, usage.last_scrape_ok = clock.now(), True
        clock.advance(timedelta(hours=2))
        lc.service.down(name="billed", actor="U_OWNER")
        lc.join()
        stopped = lc.service.status(name="billed")
        assert stopped.state is S.STOPPED
        assert stopped.cost_so_far == pytest.approx(0.80 * (2 + 10 / 60))  # from PROVISIONING, not from up
        summary = lc.notifier.thread_texts("billed")[-1]
        assert "cost about $1.73" in summary
        assert "served 42 requests (12,000 prompt tokens, 500,000 generated)" in summary
        assert "$3.47 per million output tokens" in summary  # $1.73 / 0.5M tokens
    finally:
        lc.close()
        cloud.close()


def test_a_stop_is_not_stuck_behind_launches_that_hold_every_worker(database: Database) -> None:
    clock = ManualClock()
    cloud = new_cloud(clock)
    lc = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings(worker_threads=1))
    try:
        name = _launch(lc, "running")
        cloud.launch_ticks = 10_000  # from now on launches hang in provisioning, holding the only thread
        stuck = record_endpoint(lc, name="stuck")
        lc.service.flows.schedule(flows.LAUNCH, stuck.id, flows.launch)
        lc.service.down(name=name, actor="U_OWNER")
        for _ in range(500):
            if lc.state(name) is S.STOPPED:
                break
            time.sleep(0.01)
        assert lc.state(name) is S.STOPPED
        lc.service.down(name="stuck", actor="U_OWNER")  # unblocks the launch (its cluster goes away)
        lc.join()
        assert lc.state("stuck") is S.STOPPED
    finally:
        lc.close()
        cloud.close()


def test_a_secret_echoed_by_a_failing_launch_is_never_stored_logged_or_posted(
    lc: Lifecycle, caplog: pytest.LogCaptureFixture
) -> None:
    lc.cloud.fail_next_launch(RuntimeError(f"setup failed: HF_TOKEN={HF_TOKEN} rejected"), keep_cluster=True)
    with caplog.at_level(logging.DEBUG):
        name = _launch(lc)
    view = lc.service.status(name=name)
    assert view.state is S.FAILED
    assert HF_TOKEN not in (view.failure_reason or "")
    assert HF_TOKEN not in caplog.text
    assert HF_TOKEN not in _dump_database(lc)
    assert HF_TOKEN not in lc.notifier.everything_said()


class _FirstDownBlocks:
    """The fake cloud, except that the first `down` waits until the test lets it finish (a slow teardown)."""

    def __init__(self, cloud: object) -> None:
        import threading

        self._cloud = cloud
        self.entered = threading.Event()
        self.release = threading.Event()
        self.downs = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._cloud, name)

    def down(self, cluster_name: str) -> None:
        self.downs += 1
        if self.downs == 1:
            self.entered.set()
            assert self.release.wait(30), "the test never released the first down"
        self._cloud.down(cluster_name)  # type: ignore[attr-defined]


def test_a_second_teardown_in_the_same_process_waits_for_the_running_one(database: Database) -> None:
    """A failed launch tears down directly while a person's stop has a teardown running in this process
    (same claim owner): the second must not run a second teardown of the same cluster alongside."""
    import threading

    from core.endpoints import store

    clock = ManualClock()
    cloud = new_cloud(clock)
    slow = _FirstDownBlocks(cloud)
    lc = Lifecycle(database=database, cloud=slow, clock=clock, settings=make_settings())
    try:
        view = record_endpoint(lc, name="twice")
        with lc.database.session() as session:
            endpoint = store.get_endpoint(session=session, endpoint_id=view.id)
            flows.mark_stopping(
                session=session, endpoint=endpoint, actor="U_OWNER", reason="stopped", now=clock.now()
            )
        first = threading.Thread(
            target=flows.teardown, args=(lc.service.flows,), kwargs={"endpoint_id": view.id}
        )
        first.start()
        assert slow.entered.wait(30)
        flows.teardown(lc.service.flows, endpoint_id=view.id)  # the second, while the first is in `down`
        assert slow.downs == 1, "a second teardown ran alongside the first"
        slow.release.set()
        first.join(30)
        assert lc.state("twice") is S.STOPPED
        summaries = [t for t in lc.notifier.thread_texts("twice") if "0.00" in t or "stopped" in t.lower()]
        assert summaries
    finally:
        slow.release.set()
        lc.close()
        cloud.close()


def test_a_row_in_the_shape_before_records_were_versioned_launches_with_its_argv_built_now(
    lc: Lifecycle,
) -> None:
    """Databases hold rows written before `"v": 1`: flat options with lifecycle flags among them, a plan
    with its argv. They launch, and the argv comes from the plan and today's settings, not the stored one."""
    view = record_endpoint(lc, name="old")
    stale_argv = ["vllm", "serve", MODEL, "--port", "1"]
    with lc.database.session() as session:
        row = store.get_endpoint(session=session, endpoint_id=view.id)
        assert row is not None
        row.options = {"engine": "vllm", "spot": False, "idle_timeout_s": 2700, "relaunch": "yes"}
        row.plan = {**simple_plan().to_dict(), "engine_command": stale_argv}
    old = store_view(lc, view.id)
    assert old.options.spot is False and old.wants_relaunch and old.plan == simple_plan()
    lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    lc.join()
    assert lc.state("old") is S.READY
    cluster = lc.cloud.cluster(view.cluster_name)
    assert cluster is not None
    assert cluster.spec.engine_argv == build_engine_command(
        simple_plan(), served_model_name=MODEL, port=lc.settings.engine_port
    )
    lc.service.down(name="old", actor="U_OWNER")
    lc.join()
    assert lc.state("old") is S.STOPPED


def store_view(lc: Lifecycle, endpoint_id: int) -> EndpointView:
    with lc.database.session() as session:
        row = store.get_endpoint(session=session, endpoint_id=endpoint_id)
        assert row is not None
        return store.to_view(row)
