"""Replicas through SkyServe: the service task built on SkyPilot's real classes, and the SkyPilot launcher's
service methods through SkyPilot's real client against the fake API server (tests/fakes/fake_sky_api.py).

Contract: the `sky.Task` with its `sky.serve.SkyServiceSpec` (fixed replicas, autoscale with a target QPS
per replica, the engine's health route as readiness probe, TLS at the load balancer) round-trips through
SkyPilot's own YAML config, passes SkyServe's own task validation, and carries the API key only as a secret.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from core.endpoints import service_flow
from core.endpoints.records import EndpointOptions
from core.launcher.base import ServiceSpec
from core.launcher.render import render_task_yaml
from core.launcher.skypilot import SkyPilotLauncher, build_service_task
from core.settings import Settings
from tests.core.launcher.test_skypilot import HF, KEY, _spec
from tests.core.launcher.test_skypilot_api import api, launcher  # noqa: F401 (fixtures)

sky = pytest.importorskip("sky", reason="skypilot is not installed (CI installs it)")

from tests.fakes.fake_sky_api import FakeSkyApiServer  # noqa: E402

FIXED = ServiceSpec(min_replicas=2, max_replicas=2, readiness_path="/health")
AUTO = ServiceSpec(
    min_replicas=1,
    max_replicas=4,
    readiness_path="/ready",
    target_qps_per_replica=5.0,
    tls_certfile="/etc/team/cert.pem",
    tls_keyfile="/etc/team/key.pem",
)


def _service_spec(service: ServiceSpec, **kw: object) -> object:
    return dataclasses.replace(_spec(**kw), service=service)


def _round_trip(task: object) -> object:
    config = task.to_yaml_config()
    return sky.Task.from_yaml_config(yaml.safe_load(yaml.safe_dump(config)))


def test_fixed_replicas_round_trip_through_skypilots_yaml() -> None:
    task = build_service_task(_service_spec(FIXED))
    again = _round_trip(task)
    service = again.service
    assert (service.min_replicas, service.max_replicas) == (2, None)  # SkyServe: a fixed count
    assert service.target_qps_per_replica is None
    assert service.readiness_path == "/health"
    assert service.tls_credential is None
    assert service.readiness_headers is None  # the probe needs no key
    secret = again.secrets["ENDPOINT_API_KEY"]  # every replica takes the one key, as a secret
    assert getattr(secret, "get_secret_value", lambda: secret)() == KEY
    assert [r.ports for r in again.resources] == [["8000"]]
    sky.serve.validate_service_task(again, pool=False)  # SkyServe's own rules for a service task


def test_autoscale_with_target_qps_and_tls_round_trip() -> None:
    task = build_service_task(_service_spec(AUTO, engine="sglang"))
    again = _round_trip(task)
    service = again.service
    assert (service.min_replicas, service.max_replicas) == (1, 4)
    assert service.target_qps_per_replica == 5.0
    assert service.readiness_path == "/ready"
    assert service.tls_credential.certfile == "/etc/team/cert.pem"
    assert service.tls_credential.keyfile == "/etc/team/key.pem"
    assert service.to_yaml_config() == task.service.to_yaml_config()
    sky.serve.validate_service_task(again, pool=False)


def test_the_key_is_nowhere_in_the_service_section() -> None:
    config = build_service_task(_service_spec(AUTO)).to_yaml_config()
    assert KEY not in yaml.safe_dump(config["service"]) and HF not in yaml.safe_dump(config["service"])


def test_service_spec_from_options_and_settings() -> None:
    settings = Settings(_env_file=None, tls_cert_file="/c.pem", tls_key_file="/k.pem")
    spec = service_flow.service_spec(settings, "vllm", EndpointOptions(autoscale=(2, 5), target_qps=3.0))
    assert spec is not None and spec.autoscales
    assert (spec.min_replicas, spec.max_replicas, spec.target_qps_per_replica) == (2, 5, 3.0)
    assert (spec.readiness_path, spec.tls_certfile, spec.tls_keyfile) == ("/health", "/c.pem", "/k.pem")
    fixed = service_flow.service_spec(Settings(_env_file=None), "sglang", EndpointOptions(replicas=3))
    assert fixed == ServiceSpec(
        min_replicas=3,
        max_replicas=3,
        readiness_path="/ready",
        initial_delay_seconds=fixed.initial_delay_seconds,
    )
    assert service_flow.service_spec(Settings(_env_file=None), "vllm", EndpointOptions()) is None


def test_render_shows_the_service_yaml_with_the_key_redacted() -> None:
    text = render_task_yaml(_service_spec(AUTO))
    assert "sky serve up -n epb-qwen-1a2b" in text and "No autostop" in text
    assert KEY not in text and HF not in text and "<redacted>" in text
    config = yaml.safe_load(text)
    assert config["service"]["replica_policy"]["target_qps_per_replica"] == 5.0
    assert "autostop" not in config["resources"]  # SkyServe replicas take no cluster deadline
    assert sky.Task.from_yaml_config(config).service.max_replicas == 4


@pytest.mark.timeout(60)
def test_serve_up_status_and_down_through_the_api_server(
    api: FakeSkyApiServer,  # noqa: F811
    launcher: SkyPilotLauncher,  # noqa: F811
) -> None:
    spec = _service_spec(FIXED)
    rid = launcher.submit_service(spec, FIXED)
    assert ("POST", "/optimize") in api.calls and ("POST", "/serve/up") in api.calls
    [task] = api.served_tasks
    assert (
        task["service"]["replica_policy"] == {"min_replicas": 2}
        and task["service"]["readiness_probe"]["path"] == "/health"
    )
    assert "autostop" not in task["resources"]
    launcher.wait(rid, timeout=10)
    assert launcher.request_status(rid) == "SUCCEEDED"
    info = launcher.service_status("epb-qwen-1a2b")
    assert info is not None
    assert (info.status, info.replicas_ready, info.replicas_total) == ("READY", 2, 2)
    assert info.endpoint == "http://35.9.8.7:30001"
    assert info.replica_clusters == ("epb-qwen-1a2b-1", "epb-qwen-1a2b-2")
    assert info.replica_urls == ("http://34.1.3.1:8000", "http://34.1.3.2:8000")  # the watchdog reads each
    assert [s.name for s in launcher.list_services("epb-")] == ["epb-qwen-1a2b"]
    assert launcher.list_services("other-") == []
    # The replica clusters are listed like any cluster; reconcile tells them apart by their service.
    assert {c.name for c in launcher.list_clusters("epb-")} == {"epb-qwen-1a2b-1", "epb-qwen-1a2b-2"}
    launcher.service_down("epb-qwen-1a2b")
    launcher.service_down("epb-qwen-1a2b")  # already gone: no error
    assert launcher.service_status("epb-qwen-1a2b") is None
    assert launcher.list_clusters("epb-") == []


@pytest.mark.timeout(60)
def test_a_tls_service_reports_an_https_endpoint(
    api: FakeSkyApiServer,  # noqa: F811
    launcher: SkyPilotLauncher,  # noqa: F811
    tmp_path: Path,
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    service = dataclasses.replace(AUTO, tls_certfile=str(cert), tls_keyfile=str(key))
    rid = launcher.submit_service(_service_spec(service), service)
    launcher.wait(rid, timeout=10)
    assert api.uploads  # SkyPilot's client uploads the certificate and key files to the API server
    assert set(api.served_tasks[0]["service"]["tls"]) == {"certfile", "keyfile"}
    info = launcher.service_status("epb-qwen-1a2b")
    assert info is not None and info.endpoint == "https://35.9.8.7:30001"
    assert (info.replicas_ready, info.replicas_total) == (1, 1)  # autoscale starts at its minimum
