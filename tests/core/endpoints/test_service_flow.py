"""Replicas: an endpoint launched as a SkyServe service, through the fake cloud with real fake engines.

up replicas=2 -> READY with 2/2 replicas and the key posted once (every replica answers with it);
stop -> `serve down`; the watchdog's expiry -> `serve down`; reconcile keeps the replica clusters
(`{service}-{n}`) and marks the endpoint LOST when its service is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.clock import ManualClock
from core.db import Database
from core.endpoints.reconcile import reconcile
from core.endpoints.states import EndpointState as S
from core.errors import InvalidRequest
from core.launcher.base import LaunchSpec
from core.watchdog.runner import Watchdog
from tests.core.endpoints.lifecycle_fixtures import Lifecycle, make_settings, new_cloud, up_request

pytestmark = pytest.mark.timeout(90)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def lc(database: Database) -> Iterator[Lifecycle]:
    clock = ManualClock(T0)
    cloud = new_cloud(clock)
    settings = make_settings(watchdog_interval=timedelta(minutes=5), readiness_poll_max=0.02)
    lifecycle = Lifecycle(database=database, cloud=cloud, clock=clock, settings=settings)
    yield lifecycle
    lifecycle.close()
    cloud.close()


def _up(lc: Lifecycle, **options: object) -> str:
    view = lc.service.up(request=up_request(**options))
    lc.join()
    return view.name


def test_up_replicas_2_is_ready_with_2_of_2_and_the_key_posted_once(lc: Lifecycle) -> None:
    name = _up(lc, replicas=2, name="svc")
    view = lc.service.status(name=name)
    assert view.state is S.READY, view.failure_reason
    assert view.replicas_text == "2/2 replicas ready"
    [submit] = lc.cloud.calls_to("submit_service")
    assert submit.args["min_replicas"] == submit.args["max_replicas"] == 2
    assert submit.args["readiness_path"] == "/health"  # the engine's health route: no key needed
    assert "ENDPOINT_API_KEY" in submit.args["secret_names"]
    assert lc.cloud.calls_to("submit") == []  # no single cluster
    [(ready_view, key)] = lc.notifier.of("ready")
    assert ready_view.replicas_text == "2/2 replicas ready"
    # Both replicas are up and each one takes the endpoint's one key (and refuses anything else).
    replicas = [f"{view.cluster_name}-1", f"{view.cluster_name}-2"]
    for replica in replicas:
        engine = lc.cloud.engine(replica)
        assert engine is not None
        ok = httpx.get(f"{engine.url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert ok.status_code == 200
        bad = httpx.get(f"{engine.url}/v1/models", headers={"Authorization": "Bearer nope"}, timeout=5)
        assert bad.status_code == 401
    thread = " ".join(lc.notifier.thread_texts(name))
    assert "sky serve down" in thread and "no cluster autostop" in thread
    assert "plain HTTP" in thread  # no team certificate in these settings: said, with the reason
    # SkyServe probes and proxies replicas over plain HTTP: no private CA, no TLS key, no `tls=no` warning.
    assert not view.tls.enabled and view.tls.ca_cert_pem is None
    assert not any("TLS" in name for name in submit.args["secret_names"])
    assert "`tls=no`" not in thread
    assert all(lc.cloud.engine(r).url.startswith("http://") for r in replicas)  # type: ignore[union-attr]
    # The price counts both replicas.
    single = lc.service.fit(model=view.model, accelerators=view.accelerators, options={})[0]
    assert view.price_per_hour == pytest.approx(2 * single.price_per_hour)


def test_stop_takes_the_service_down(lc: Lifecycle) -> None:
    name = _up(lc, replicas=2, name="svc")
    cluster = lc.service.status(name=name).cluster_name
    lc.service.down(name=name, actor="U_OWNER")
    lc.join()
    assert lc.state(name) is S.STOPPED
    assert [c.args["name"] for c in lc.cloud.calls_to("service_down")] == [cluster]
    assert lc.cloud.calls_to("down") == []
    assert lc.cloud.service(cluster) is None and lc.cloud.list_clusters("epb-") == []
    assert "service (`sky serve down`)" in lc.notifier.thread_texts(name)[-1]


def test_the_watchdog_takes_an_expired_service_down(lc: Lifecycle) -> None:
    name = _up(lc, replicas=2, name="svc", ttl=timedelta(hours=1))
    assert lc.state(name) is S.READY
    watchdog = Watchdog(lc.settings, lc.database, lc.service, lc.notifier, lc.clock)
    for _ in range(14):  # 70 minutes of ticks
        lc.clock.advance(timedelta(minutes=5))
        watchdog.tick()
        lc.join()
    assert lc.state(name) is S.STOPPED
    assert len(lc.cloud.calls_to("service_down")) == 1
    assert lc.cloud.calls_to("set_deadline") == []  # services have no cluster deadline
    assert lc.cloud.list_clusters("epb-") == []


def test_reconcile_keeps_replica_clusters_and_notices_a_lost_service(lc: Lifecycle) -> None:
    name = _up(lc, replicas=2, name="svc")
    cluster = lc.service.status(name=name).cluster_name
    report = reconcile(lc.service.flows)
    assert report.torn_down_unknown == [] and report.lost == []
    assert lc.cloud.calls_to("down") == [] and lc.cloud.calls_to("service_down") == []
    assert {c.name for c in lc.cloud.list_clusters("epb-")} == {f"{cluster}-1", f"{cluster}-2"}
    # One replica preempted: the card's count follows; the endpoint still serves.
    lc.cloud.lose_replica(f"{cluster}-2")
    reconcile(lc.service.flows)
    assert lc.service.status(name=name).replicas_text == "1/2 replicas ready"
    assert lc.state(name) is S.READY
    # The whole service gone: LOST, like a lost cluster.
    lc.cloud.service_down(cluster)
    report = reconcile(lc.service.flows)
    assert report.lost == [name]
    assert lc.state(name) is S.LOST


# What SkyPilot 0.14 raises for `serve status` when no cloud is enabled (seen against the real API server).
NO_CONTROLLER = RuntimeError("Failed to refresh services status due to network error.")


def test_reconcile_without_services_ignores_a_skyserve_that_cannot_be_asked(lc: Lifecycle) -> None:
    lc.cloud.services_unreachable = NO_CONTROLLER
    report = reconcile(lc.service.flows)
    assert report.errors == []  # no live service: nothing to follow, so nothing failed
    assert lc.cloud.calls_to("list_services")  # it was asked


def test_reconcile_judges_no_service_when_skyserve_cannot_be_asked(lc: Lifecycle) -> None:
    name = _up(lc, replicas=2, name="svc")
    cluster = lc.service.status(name=name).cluster_name
    lc.cloud.services_unreachable = NO_CONTROLLER
    report = reconcile(lc.service.flows)
    assert report.errors == [f"services: {NO_CONTROLLER}"]
    # Not LOST, and its replica clusters are not unknown clusters: nothing torn down on a failed listing.
    assert report.lost == [] and report.torn_down_unknown == [] and report.torn_down_terminal == []
    assert lc.state(name) is S.READY
    assert lc.cloud.calls_to("down") == [] and lc.cloud.calls_to("service_down") == []
    assert {c.name for c in lc.cloud.list_clusters("epb-")} == {f"{cluster}-1", f"{cluster}-2"}


def test_a_stray_service_of_a_stopped_endpoint_is_taken_down(lc: Lifecycle) -> None:
    name = _up(lc, replicas=2, name="svc")
    cluster = lc.service.status(name=name).cluster_name
    lc.service.down(name=name, actor="U_OWNER")
    lc.join()
    # The service comes back (a `serve up` that landed after the stop): reconcile takes it down again.
    from core.launcher.base import ServiceSpec

    spec = _any_spec(lc, cluster)
    lc.cloud.submit_service(spec, ServiceSpec(min_replicas=1, max_replicas=1, readiness_path="/health"))
    report = reconcile(lc.service.flows)
    assert cluster in report.torn_down_terminal
    assert lc.cloud.service(cluster) is None and lc.cloud.list_clusters("epb-") == []


def _any_spec(lc: Lifecycle, cluster: str) -> LaunchSpec:
    return LaunchSpec(cluster_name=cluster, model="m", engine="vllm", engine_argv=[], accelerators=["L4:1"],
                      num_nodes=1, port=8000, image="img")  # fmt: skip


def test_autoscale_starts_its_minimum_and_counts_its_maximum(lc: Lifecycle) -> None:
    name = _up(lc, autoscale=(1, 3), target_qps=5.0, name="auto")
    view = lc.service.status(name=name)
    assert view.state is S.READY, view.failure_reason
    assert view.replicas_text == "1/1-3 replicas ready"
    [submit] = lc.cloud.calls_to("submit_service")
    assert (submit.args["min_replicas"], submit.args["max_replicas"]) == (1, 3)
    single = lc.service.fit(model=view.model, accelerators=view.accelerators, options={})[0]
    assert view.price_per_hour == pytest.approx(3 * single.price_per_hour)  # budget and policy count the most


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"replicas": 0}, "from 1 to 8"),
        ({"replicas": 9}, "from 1 to 8"),
        ({"replicas": 2, "autoscale": (1, 3), "target_qps": 5.0}, "not both"),
        ({"autoscale": (1, 3)}, "qps=5"),
        ({"autoscale": (3, 3), "target_qps": 5.0}, "MIN < MAX"),
        ({"target_qps": 5.0}, "autoscale=MIN-MAX"),
    ],
)
def test_bad_replica_choices_are_refused_before_anything_happens(
    lc: Lifecycle, options: dict, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        lc.service.up(request=up_request(**options))
    assert lc.service.list(include_terminal=True) == []
    assert lc.cloud.calls == []


def test_the_watchdog_sums_the_replicas_metrics_and_takes_an_idle_service_down(lc: Lifecycle) -> None:
    name = _up(lc, replicas=2, name="svc", idle_timeout=timedelta(minutes=30))
    view = lc.service.status(name=name)
    assert len(view.lifecycle.replica_urls) == 2
    [(_, key)] = lc.notifier.of("ready")
    second = lc.cloud.engine(f"{view.cluster_name}-2")
    assert second is not None and second.url != view.url  # the load balancer sent this traffic elsewhere
    for _ in range(3):
        answer = httpx.post(
            f"{second.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": view.model, "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert answer.status_code == 200
    watchdog = Watchdog(lc.settings, lc.database, lc.service, lc.notifier, lc.clock)
    lc.clock.advance(timedelta(minutes=5))
    report = watchdog.tick()
    assert report.errors == [] and report.scrape_failures == 0
    usage = lc.service.status(name=name).usage
    assert (
        usage is not None and usage.requests == 3
    )  # both replicas read; readiness's own completion left out
    for _ in range(8):  # 40 quiet minutes: idle past 30
        lc.clock.advance(timedelta(minutes=5))
        watchdog.tick()
        lc.join()
    assert lc.state(name) is S.STOPPED
    assert len(lc.cloud.calls_to("service_down")) == 1 and lc.cloud.list_clusters("epb-") == []


def test_a_services_cold_start_comes_from_its_marks_only(lc: Lifecycle) -> None:
    name = _up(lc, replicas=2, name="svc")
    view = lc.service.status(name=name)
    assert view.state is S.READY and view.lifecycle.cold_start is not None
    # Its replicas are clusters of their own: the launcher is not asked about a cluster by the service's name.
    assert lc.cloud.calls_to("cluster_up_at") == [] and lc.cloud.calls_to("engine_log") == []
    assert [p.name for p in view.lifecycle.cold_start.phases] == [
        "provisioning",
        "engine start",
        "first completion",
    ]
