"""SkyPilot's real exception classes become sentences a person can act on, with no secrets in them."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from core.errors import LaunchFailed
from core.launcher.base import LaunchSpec
from core.launcher.errors import ExplainedLaunchFailure, explain_launch_error, scrub_secrets, strip_ansi
from core.readiness import NotReady

KEY = "epk-abcdefghijklmnopqrstuvwxyz0123456789"
HF = "hf_abcdefghijklmnopqrstuvwxyz012345"


@pytest.fixture
def sky_exc() -> Any:
    return pytest.importorskip("sky.exceptions", reason="skypilot is not installed (CI installs it)")


def _spec(**kw: Any) -> LaunchSpec:
    fields: dict[str, Any] = {
        "cluster_name": "epb-qwen-1a2b",
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "engine": "vllm",
        "engine_argv": ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct"],
        "accelerators": ["A100:1"],
        "num_nodes": 1,
        "port": 8000,
        "image": "vllm/vllm-openai:v0.33.0",
        "secrets": {"HF_TOKEN": HF, "ENDPOINT_API_KEY": KEY},
    }
    fields.update(kw)
    return LaunchSpec(**fields)


def test_no_capacity_names_gpu_cloud_regions_and_next_steps(sky_exc: Any) -> None:
    history = [
        sky_exc.ResourcesUnavailableError("Failed to acquire resources in us-central1-a for {A100:1}. "),
        sky_exc.ResourcesUnavailableError("Failed to acquire resources in us-east4-c for {A100:1}. "),
    ]
    exc = sky_exc.ResourcesUnavailableError(
        "\x1b[31mFailed to provision all possible launchable resources.\x1b[0m Relax the task's resource "
        "requirements: 1x GCP({'A100': 1})",
        failover_history=history,
    )
    err = explain_launch_error(exc, spec=_spec(cloud="gcp", use_spot=True))
    assert isinstance(err, LaunchFailed) and isinstance(err, ExplainedLaunchFailure)
    assert err.kind == "capacity" and err.retryable
    text = str(err)
    assert "`A100:1`" in text and "gcp" in text
    assert "us-central1-a" in text and "us-east4-c" in text
    assert "another GPU type" in text and "spot=no" in text and "region=" in text and "retry" in text
    assert "\x1b" not in text


def test_several_gpu_types_are_listed(sky_exc: Any) -> None:
    err = explain_launch_error(
        sky_exc.ResourcesUnavailableError("no"),
        spec=_spec(accelerators=["A100-80GB:2", "H100:2"], num_nodes=2),
    )
    assert "`A100-80GB:2` or `H100:2` x2 nodes" in str(err)
    assert "any enabled cloud" in str(err)


def test_quota_says_which_gpu_and_region_to_ask_for(sky_exc: Any) -> None:
    exc = sky_exc.ResourcesUnavailableError(
        "\x1b[33mFound no quota for a2-highgpu-1g on-demand instances in region us-central1 in GCP. "
        "\x1b[0mTo request quotas, check the instruction: https://docs.skypilot.co/en/latest/cloud-setup/quota.html."
    )
    err = explain_launch_error(exc, spec=_spec(cloud="gcp"))
    assert err.kind == "quota"
    assert "quota increase for `A100:1` GPUs in us-central1" in str(err)
    cloud = sky_exc.CloudError(
        "Quota 'NVIDIA_A100_GPUS' exceeded. Limit: 0.0 in region europe-west4.", "gcp", "QUOTA_EXCEEDED"
    )
    err = explain_launch_error(cloud, spec=_spec(region="europe-west4"))
    assert err.kind == "quota" and "europe-west4" in str(err)


def test_access_server_and_cluster_errors(sky_exc: Any) -> None:
    assert "sky check" in str(explain_launch_error(sky_exc.NoCloudAccessError("Cloud access is not set up.")))
    server = explain_launch_error(sky_exc.ApiServerConnectionError("http://127.0.0.1:46580"))
    assert server.kind == "api_server" and "SKYPILOT_API_SERVER_ENDPOINT" in str(server)
    cancelled = explain_launch_error(sky_exc.RequestCancelled("Request abc cancelled"))
    assert cancelled.kind == "cancelled" and not cancelled.retryable
    gone = explain_launch_error(sky_exc.ClusterDoesNotExist("Cluster 'x' does not exist."), spec=_spec())
    assert gone.kind == "cluster_gone" and "epb-qwen-1a2b" in str(gone)
    not_up = explain_launch_error(sky_exc.ClusterNotUpError("Cluster 'x' is not up."))
    assert not_up.kind == "cluster_not_up"
    other_cloud = explain_launch_error(sky_exc.CloudError("catalog fetch failed", "aws", "NETWORK"))
    assert (
        other_cloud.kind == "other"
        and "aws" in str(other_cloud)
        and "catalog fetch failed" in str(other_cloud)
    )


def test_unknown_errors_get_first_line_without_ansi_or_secrets() -> None:
    exc = RuntimeError(f"\x1b[1mboom HF_TOKEN={HF} key {KEY}\x1b[0m\nTraceback (most recent call last): ...")
    err = explain_launch_error(exc, spec=_spec())
    text = str(err)
    assert text.startswith("The launch failed (RuntimeError): boom")
    assert HF not in text and KEY not in text and "Traceback" not in text and "\x1b" not in text


def test_spec_secret_values_are_scrubbed_even_when_unrecognisable() -> None:
    spec = _spec(secrets={"HF_TOKEN": "plain-secret-value", "ENDPOINT_API_KEY": KEY})
    err = explain_launch_error(ValueError("could not use plain-secret-value here"), spec=spec)
    assert "plain-secret-value" not in str(err)


def test_user_facing_errors_pass_through_scrubbed() -> None:
    err = explain_launch_error(NotReady(f"The test completion failed with HTTP 500: bad {KEY}."))
    assert str(err).startswith("The test completion failed with HTTP 500")
    assert KEY not in str(err)


def test_helpers() -> None:
    assert strip_ansi("\x1b[31mred\x1b[0m") == "red"
    scrubbed = scrub_secrets(f"Authorization: Bearer abc.def VLLM_API_KEY='{KEY}' token: xyz {HF}")
    assert "abc.def" not in scrubbed and KEY not in scrubbed and "xyz" not in scrubbed and HF not in scrubbed


def test_module_does_not_import_sky() -> None:
    code = "import sys, core.launcher.errors; print('sky' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# The text SkyPilot's API server sends back when its catalogue download fails (seen against the real
# server with its HTTPS going to a closed loopback proxy).
CATALOG_FAILURE = (
    "HTTPSConnectionPool(host='raw.githubusercontent.com', port=443): Max retries exceeded with url: "
    "/skypilot-org/skypilot-catalog/master/catalogs/v8/common/accelerators.csv (Caused by "
    "ProxyError('Unable to connect to proxy', NewConnectionError(\"HTTPSConnection(host='127.0.0.1', "
    'port=9): Failed to establish a new connection: [Errno 111] Connection refused")))'
)


def test_catalogue_unreachable_names_the_api_servers_network(sky_exc: Any) -> None:
    import requests

    for exc in (
        sky_exc.CloudError(CATALOG_FAILURE, "requests", "ProxyError"),
        requests.exceptions.ProxyError(CATALOG_FAILURE),
    ):
        err = explain_launch_error(exc, spec=_spec())
        assert isinstance(err, ExplainedLaunchFailure) and err.kind == "catalog" and err.retryable
        text = str(err)
        assert "could not download its catalogue" in text and "the HTTPS proxy refused the connection" in text
        assert "outbound HTTPS to raw.githubusercontent.com" in text and "HTTPS_PROXY" in text
        assert "`sky check`" in text and "nothing was launched" in text
        assert "HTTPSConnectionPool" not in text and "Max retries" not in text


def test_api_server_lost_during_a_launch_is_not_called_not_started(sky_exc: Any) -> None:
    import requests

    before = explain_launch_error(sky_exc.ApiServerConnectionError("http://127.0.0.1:46580"), spec=_spec())
    assert "so the launch was not started" in str(before)
    during = explain_launch_error(
        sky_exc.ApiServerConnectionError("http://127.0.0.1:46580"), spec=_spec(), submitted=True
    )
    dropped = explain_launch_error(
        requests.exceptions.ConnectionError(
            "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))"
        ),
        spec=_spec(),
    )
    for err in (during, dropped):
        text = str(err)
        assert err.kind == "api_server"
        assert "stopped answering during the launch `epb-qwen-1a2b`" in text
        assert "cannot tell whether machines were started" in text and "not started" not in text
        assert "`sky api status`" in text and "SKYPILOT_API_SERVER_ENDPOINT" in text
