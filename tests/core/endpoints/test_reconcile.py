"""Reconcile: the store and the (fake) cloud are made to agree; nothing is left billing unknown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from core.clock import ManualClock
from core.db import Database
from core.endpoints import flows, store
from core.endpoints.states import EndpointState as S
from core.launcher.base import LaunchSpec
from tests.core.endpoints.lifecycle_fixtures import Lifecycle, make_settings, new_cloud, record_endpoint

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lc(database: Database) -> Iterator[Lifecycle]:
    clock = ManualClock()
    cloud = new_cloud(clock)
    lifecycle = Lifecycle(database=database, cloud=cloud, clock=clock, settings=make_settings())
    yield lifecycle
    lifecycle.close()
    cloud.close()


def _ready(lc: Lifecycle, name: str) -> str:
    view = record_endpoint(lc, name=name)
    lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    lc.join()
    assert lc.state(name) is S.READY
    return lc.service.status(name=name).cluster_name


def _stray_cluster(lc: Lifecycle, cluster_name: str) -> None:
    spec = LaunchSpec(
        cluster_name=cluster_name, model="m", engine="vllm", engine_argv=["vllm", "serve", "m"],
        accelerators=["L4:1"], num_nodes=1, port=8000, image="img",
    )  # fmt: skip
    lc.cloud.wait(lc.cloud.submit(spec))


def test_unknown_cluster_with_our_prefix_is_torn_down_and_others_are_left_alone(lc: Lifecycle) -> None:
    _stray_cluster(lc, "epb-nobody-knows-me")
    _stray_cluster(lc, "someone-elses-cluster")
    lc.service.reconcile()
    assert lc.cloud.cluster("epb-nobody-knows-me") is None
    assert lc.cloud.cluster("someone-elses-cluster") is not None
    assert lc.service.last_reconcile.torn_down_unknown == ["epb-nobody-knows-me"]


def test_cluster_of_a_terminal_endpoint_is_torn_down_with_an_event(lc: Lifecycle) -> None:
    view = record_endpoint(lc, name="done")
    with lc.database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=view.id)
        store.transition(
            session=session, endpoint=endpoint, to=S.FAILED, actor="t", message="", now=lc.clock.now()
        )
    _stray_cluster(lc, view.cluster_name)  # e.g. a cancelled launch that still created its cluster
    lc.service.reconcile()
    assert lc.cloud.cluster(view.cluster_name) is None
    assert any(e["kind"] == "stray_teardown" for e in lc.events("done"))


def test_ready_endpoint_whose_cluster_vanished_is_lost_and_the_owner_told(lc: Lifecycle) -> None:
    cluster = _ready(lc, "spot")
    lc.cloud.lose(cluster)
    lc.service.reconcile()
    view = lc.service.status(name="spot")
    assert view.state is S.LOST
    assert view.stopped_at is not None
    said = [t for t in lc.notifier.thread_texts("spot") if "no longer exists" in t]
    assert len(said) == 1 and "Run `up` again" in said[0] and "relaunch" not in said[0]
    assert [user for user, _ in lc.notifier.of("dm")] == ["U_OWNER"]
    assert "Run `up` again" in lc.notifier.of("dm")[0][1]
    # A second sweep changes nothing and says nothing more.
    lc.service.reconcile()
    assert len(lc.notifier.of("dm")) == 1


def test_ready_endpoint_with_a_healthy_cluster_is_left_alone(lc: Lifecycle) -> None:
    cluster = _ready(lc, "fine")
    lc.service.reconcile()
    assert lc.state("fine") is S.READY
    assert lc.cloud.cluster(cluster) is not None
    assert not lc.cloud.calls_to("down")


def test_fresh_requested_endpoint_of_another_process_is_not_stolen(lc: Lifecycle) -> None:
    record_endpoint(lc, name="fresh")  # recorded by some process's `up` a moment ago
    lc.service.reconcile()
    lc.join()
    assert lc.state("fresh") is S.REQUESTED
    assert not lc.cloud.calls_to("submit")


def test_abandoned_requested_endpoint_is_launched(lc: Lifecycle) -> None:
    record_endpoint(lc, name="orphan")  # its process died before submitting anything
    lc.clock.advance(timedelta(minutes=10))
    lc.service.reconcile()
    lc.join()
    assert lc.state("orphan") is S.READY
    assert len(lc.notifier.of("ready")) == 1


def test_launch_claimed_by_a_live_process_is_not_resumed(lc: Lifecycle) -> None:
    from core import claims

    view = record_endpoint(lc, name="busy")
    lc.clock.advance(timedelta(minutes=10))
    with lc.database.session() as session:
        assert claims.acquire(
            session=session, endpoint_id=view.id, kind="launch", owner="other-host:1:abc",
            ttl=timedelta(minutes=3), now=lc.clock.now(),
        )  # fmt: skip
    lc.service.reconcile()
    lc.join()
    assert lc.state("busy") is S.REQUESTED
    assert not lc.cloud.calls_to("submit")


def test_reconcile_failing_to_list_clusters_raises_and_changes_nothing(lc: Lifecycle) -> None:
    cluster = _ready(lc, "ok")

    def broken(prefix: str) -> list:
        raise ConnectionError("API server unreachable")

    lc.cloud.list_clusters = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        lc.service.reconcile()
    assert lc.state("ok") is S.READY
    assert lc.cloud.cluster(cluster) is not None


def test_runtime_reconciles_on_start_and_then_periodically(database: Database) -> None:
    import time

    from core.wiring import build_runtime
    from tests.core.endpoints.lifecycle_fixtures import RecordingNotifier, fixture_facts

    clock = ManualClock()
    cloud = new_cloud(clock)
    settings = make_settings(reconcile_interval=timedelta(seconds=0.05))
    _stray = LaunchSpec(
        cluster_name="epb-left-by-a-dead-bot", model="m", engine="vllm", engine_argv=["x"],
        accelerators=["L4:1"], num_nodes=1, port=8000, image="img",
    )  # fmt: skip
    cloud.wait(cloud.submit(_stray))
    runtime = build_runtime(
        settings, notifier=RecordingNotifier(), launcher=cloud, database=database, clock=clock,
        facts_loader=fixture_facts,
    )  # fmt: skip
    try:
        runtime.start()  # returns at once: the first sweep runs on the reconcile thread
        for _ in range(500):
            if cloud.cluster("epb-left-by-a-dead-bot") is None:
                break
            time.sleep(0.01)
        assert cloud.cluster("epb-left-by-a-dead-bot") is None, "swept at start"
        cloud.wait(cloud.submit(LaunchSpec(**{**_stray.__dict__, "cluster_name": "epb-appeared-later"})))
        for _ in range(200):
            if cloud.cluster("epb-appeared-later") is None:
                break
            time.sleep(0.01)
        assert cloud.cluster("epb-appeared-later") is None, "swept by the periodic reconcile"
    finally:
        runtime.close()
        cloud.close()


def test_lost_endpoint_can_be_relaunched_with_a_new_key(lc: Lifecycle) -> None:
    from core.errors import InvalidRequest, PermissionDenied

    cluster = _ready(lc, "again")
    first_key = lc.notifier.of("ready")[0][1]
    with pytest.raises(InvalidRequest, match="only an endpoint whose cluster was lost"):
        lc.service.relaunch(name="again", actor="U_OWNER")
    lc.cloud.lose(cluster)
    lc.service.reconcile()
    assert lc.state("again") is S.LOST
    with pytest.raises(PermissionDenied):
        lc.service.relaunch(name="again", actor="U_STRANGER")
    view = lc.service.relaunch(name="again", actor="watchdog")
    assert view.state is S.REQUESTED and view.url is None
    lc.join()
    final = lc.service.status(name="again")
    assert final.state is S.READY
    keys = [key for _, key in lc.notifier.of("ready")]
    assert len(keys) == 2 and keys[1] != first_key
    assert lc.cloud.cluster(cluster) is not None


@pytest.mark.parametrize("relaunch", [True, "yes"])
def test_lost_endpoint_that_asked_for_relaunch_is_left_to_the_watchdog_to_announce(
    lc: Lifecycle, relaunch: object
) -> None:
    cluster = _ready(lc, "spotty")
    with lc.database.session() as session:
        endpoint = store.get_by_name(session=session, name="spotty")
        # A row as written before the options were versioned: the flag sat among the options.
        endpoint.options = {"engine": "vllm", "spot": False, "relaunch": relaunch}
    lc.cloud.lose(cluster)
    lc.service.reconcile()
    assert lc.state("spotty") is S.LOST
    assert lc.notifier.of("dm") == [], "the watchdog DMs the owner how the relaunch went"
    said = [t for t in lc.notifier.thread_texts("spotty") if "no longer exists" in t]
    assert len(said) == 1
    assert "Run `up` again" not in said[0], "the watchdog relaunches it; the owner need not"
    assert "relaunch=yes" in said[0] and "launched again" in said[0]


def test_lost_endpoint_with_relaunch_no_is_told_to_run_up(lc: Lifecycle) -> None:
    cluster = _ready(lc, "steady")
    with lc.database.session() as session:
        endpoint = store.get_by_name(session=session, name="steady")
        endpoint.options = {"engine": "vllm", "relaunch": "no"}  # an old row: a word, not a truthy string
    lc.cloud.lose(cluster)
    lc.service.reconcile()
    assert "Run `up` again" in lc.notifier.thread_texts("steady")[-1]
    assert [user for user, _ in lc.notifier.of("dm")] == ["U_OWNER"]


def test_relaunch_does_not_move_the_extend_ceiling(lc: Lifecycle) -> None:
    from core.errors import InvalidRequest

    _ready(lc, "capped")
    first = lc.service.status(name="capped")
    ceiling = first.requested_at + lc.settings.max_ttl
    for _ in range(2):  # each relaunch restarts requested_at; the ceiling must not follow it
        lc.clock.advance(timedelta(hours=3))
        lc.cloud.lose(lc.service.status(name="capped").cluster_name)
        lc.service.reconcile()
        assert lc.state("capped") is S.LOST
        lc.service.relaunch(name="capped", actor="U_OWNER")
        lc.join()
        assert lc.state("capped") is S.READY
    relaunched = lc.service.status(name="capped")
    assert relaunched.requested_at > first.requested_at
    view = lc.service.extend(name="capped", actor="U_OWNER", by=lc.settings.max_ttl * 2)
    assert view.expires_at == ceiling, "capped at first request + max_ttl, not at the last relaunch"
    assert "capped at the" in lc.notifier.thread_texts("capped")[-1]
    with pytest.raises(InvalidRequest, match="ceiling"):
        lc.service.extend(name="capped", actor="U_OWNER", by=timedelta(minutes=1))


def test_two_relaunches_at_once_the_second_is_told_it_is_already_relaunching(
    lc: Lifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner presses relaunch while the watchdog relaunches the same LOST endpoint: the loser gets a
    sentence, not an internal conflict error, and the endpoint is launched once."""
    from core.endpoints import service as service_module
    from core.errors import InvalidRequest

    cluster = _ready(lc, "raced")
    lc.cloud.lose(cluster)
    lc.service.reconcile()
    assert lc.state("raced") is S.LOST
    real_check = service_module.EndpointService._check_budget
    raced: list[bool] = []

    def budget_then_the_watchdog_relaunches(self: object, now: object) -> None:
        real_check(self, now)  # type: ignore[arg-type]
        if not raced:
            raced.append(True)
            lc.service.relaunch(name="raced", actor="watchdog")  # wins between the check and the write

    monkeypatch.setattr(service_module.EndpointService, "_check_budget", budget_then_the_watchdog_relaunches)
    with pytest.raises(InvalidRequest, match="already"):
        lc.service.relaunch(name="raced", actor="U_OWNER")
    lc.join()
    assert lc.state("raced") is S.READY
    assert len(lc.notifier.of("ready")) == 2  # the first launch and one relaunch
