"""SkyPilotLauncher through SkyPilot's real client over HTTP, against a fake API server (tests/fakes).

The fake encodes results and exceptions with SkyPilot's own server-side classes, so what the client
decodes and re-raises here is what it would decode from a real server.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from core.launcher.errors import explain_launch_error
from core.launcher.skypilot import SkyPilotLauncher
from core.settings import Settings
from tests.core.launcher.test_skypilot import HF, KEY, _spec

sky = pytest.importorskip("sky", reason="skypilot is not installed (CI installs it)")

from sky import exceptions  # noqa: E402

from tests.fakes.fake_sky_api import FakeSkyApiServer, FakeSkyCluster  # noqa: E402


def _forget_server_url() -> None:
    from sky.server import common as server_common

    # SkyPilot caches the server URL (and whether it is local) for the process; a bot sets it once,
    # tests change it per test.
    server_common.get_server_url.cache_clear()
    server_common.is_api_server_local.cache_clear()


def _point_sky_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SKYPILOT_API_SERVER_ENDPOINT", url)
    monkeypatch.setenv("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")  # no usage pings from tests
    _forget_server_url()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSkyApiServer]:
    with FakeSkyApiServer() as server:
        _point_sky_at(monkeypatch, server.url)
        yield server
    _forget_server_url()


@pytest.fixture
def launcher() -> SkyPilotLauncher:
    return SkyPilotLauncher(Settings(), poll_seconds=0.02)


@pytest.mark.timeout(60)
def test_launch_follow_and_tear_down(api: FakeSkyApiServer, launcher: SkyPilotLauncher) -> None:
    rid = launcher.submit(_spec(autostop_minutes=120))
    body = api.launch_bodies[0]
    assert body["cluster_name"] == "epb-qwen-1a2b"
    assert body["retry_until_up"] is False
    # The hard deadline rides on the task's resources: 120 minutes, wait for nothing, then down.
    autostop = api.launched_tasks[0]["resources"]["autostop"]
    assert autostop["idle_minutes"] == 120 and autostop["down"] is True and autostop["wait_for"] == "none"
    assert "docker:vllm/vllm-openai:v0.33.0" in str(api.launched_tasks[0]["resources"]["image_id"])
    launcher.wait(rid, timeout=10)
    assert launcher.request_status(rid) == "SUCCEEDED"
    assert launcher.endpoint_url("epb-qwen-1a2b", 8000) == "http://34.1.2.3:8000"
    [cluster] = launcher.list_clusters("epb-")
    assert (cluster.name, cluster.status) == ("epb-qwen-1a2b", "UP")
    assert cluster.launched_at is not None
    assert launcher.list_clusters("other-") == []
    launcher.set_deadline("epb-qwen-1a2b", 45)
    assert api.autostops[-1]["idle_minutes"] == 45
    assert api.autostops[-1]["wait_for"] == "none" and api.autostops[-1]["down"] is True
    launcher.down("epb-qwen-1a2b")
    launcher.down("epb-qwen-1a2b")  # ClusterDoesNotExist = already gone
    assert launcher.list_clusters("epb-") == []
    with pytest.raises(exceptions.ClusterDoesNotExist):
        launcher.endpoint_url("epb-qwen-1a2b", 8000)


@pytest.mark.timeout(60)
def test_request_status_never_asks_for_request_bodies(
    api: FakeSkyApiServer, launcher: SkyPilotLauncher
) -> None:
    rid = launcher.submit(_spec())
    assert launcher.request_status(rid) == "SUCCEEDED"
    assert launcher.request_status("no-such-request") is None
    for query in api.status_queries:
        assert "request_body" not in query["fields"]
        assert set(query["fields"]) <= {"request_id", "status", "cluster_name"}


@pytest.mark.timeout(60)
def test_no_capacity_is_reraised_by_the_real_client_and_explained(
    api: FakeSkyApiServer, launcher: SkyPilotLauncher
) -> None:
    history = [
        exceptions.ResourcesUnavailableError("Failed to acquire resources in us-central1-a for {A100:1}.")
    ]
    api.fail_next(
        "launch", exceptions.ResourcesUnavailableError("Failed to provision", failover_history=history)
    )
    spec = _spec(cloud="gcp")
    rid = launcher.submit(spec)
    with pytest.raises(exceptions.ResourcesUnavailableError) as info:
        launcher.wait(rid, timeout=10)
    assert launcher.request_status(rid) == "FAILED"
    explained = explain_launch_error(info.value, spec=spec)
    assert explained.kind == "capacity"
    assert KEY not in str(explained) and HF not in str(explained)


@pytest.mark.timeout(60)
def test_wait_times_out_then_cancel(api: FakeSkyApiServer, launcher: SkyPilotLauncher) -> None:
    api.hold_launches = True
    rid = launcher.submit(_spec())
    with pytest.raises(TimeoutError):
        launcher.wait(rid, timeout=0.2)
    assert launcher.request_status(rid) == "RUNNING"
    assert [c.status for c in launcher.list_clusters("epb-")] == ["INIT"]
    launcher.cancel(rid)
    assert launcher.request_status(rid) == "CANCELLED"
    with pytest.raises(exceptions.RequestCancelled):
        launcher.wait(rid)


@pytest.mark.timeout(60)
def test_request_statuses_asks_once_for_every_launch_in_flight(
    api: FakeSkyApiServer, launcher: SkyPilotLauncher
) -> None:
    api.hold_launches = True
    ids = [launcher.submit(_spec(cluster_name=f"epb-many-{i}")) for i in range(3)]
    api.finish(ids[0])
    before = len(api.status_queries)
    statuses = launcher.request_statuses([*ids, "no-such-request"])
    assert statuses == {ids[0]: "SUCCEEDED", ids[1]: "RUNNING", ids[2]: "RUNNING", "no-such-request": None}
    queries = api.status_queries[before:]
    # One call for the unfinished ones; one each for the finished (or unknown) ids, never one per launch.
    assert len(queries) == 3
    for query in queries:
        assert set(query["fields"]) <= {"request_id", "status", "cluster_name"}


@pytest.mark.timeout(60)
def test_held_launch_finishes_later(api: FakeSkyApiServer, launcher: SkyPilotLauncher) -> None:
    api.hold_launches = True
    rid = launcher.submit(_spec())
    api.finish(rid)
    launcher.wait(rid, timeout=10)
    assert [c.status for c in launcher.list_clusters("epb-")] == ["UP"]


@pytest.mark.timeout(60)
def test_unreachable_api_server_is_explained(
    monkeypatch: pytest.MonkeyPatch, launcher: SkyPilotLauncher
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _point_sky_at(monkeypatch, f"http://127.0.0.1:{port}")
    with pytest.raises(Exception) as info:
        launcher.submit(_spec())
    explained = explain_launch_error(info.value)
    assert explained.kind == "api_server", (type(info.value), str(info.value))


@pytest.mark.timeout(60)
def test_cluster_up_time_is_the_records_launched_at(
    api: FakeSkyApiServer, launcher: SkyPilotLauncher
) -> None:
    from datetime import UTC, datetime

    rid = launcher.submit(_spec())
    launcher.wait(rid, timeout=10)
    api.clusters["epb-qwen-1a2b"].launched_at = 1_764_900_000  # SkyPilot rewrites it when the cluster is UP
    api.clusters["epb-other"] = FakeSkyCluster(name="epb-other", launched_at=1)
    assert launcher.cluster_up_at("epb-qwen-1a2b") == datetime.fromtimestamp(1_764_900_000, UTC)
    assert launcher.cluster_up_at("epb-gone") is None


@pytest.mark.timeout(60)
def test_engine_log_is_the_job_log_through_tail_logs(
    api: FakeSkyApiServer, launcher: SkyPilotLauncher
) -> None:
    from core.launcher.startup_log import parse_startup_log
    from tests.core.launcher.test_startup_log import VLLM_V1_DOWNLOAD

    rid = launcher.submit(_spec())
    launcher.wait(rid, timeout=10)
    api.clusters["epb-qwen-1a2b"].job_log = VLLM_V1_DOWNLOAD
    text = launcher.engine_log("epb-qwen-1a2b")
    assert parse_startup_log(text).download_s == 826.331217
    assert api.log_bodies[-1]["follow"] is False and api.log_bodies[-1]["tail"] > 0
    with pytest.raises(exceptions.ClusterDoesNotExist):
        launcher.engine_log("epb-gone")
