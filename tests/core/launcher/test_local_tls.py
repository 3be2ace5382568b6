"""The local launcher with TLS: the leaf for 127.0.0.1 is made on this host, written 0600 in the state
folder, the fake engine serves HTTPS with it, readiness verifies the endpoint's CA, and the CA key never
reaches the engine's environment or its log."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import tls as certs
from core.engines.tls_script import TLS_CA_KEY_ENV
from core.launcher.base import LaunchSpec, TlsSpec
from core.launcher.local import LocalLauncher
from core.readiness import NotReady, wait_until_ready
from core.settings import Settings

KEY = "epk-local-tls-key-0123456789abcdef"
FAKE = f"{sys.executable} -m tests.fakes.fake_engine"


def _spec(ca: certs.CertAuthority) -> LaunchSpec:
    return LaunchSpec(
        cluster_name="epb-tls-local",
        model="org/m",
        engine="vllm",
        engine_argv=["vllm", "serve", "org/m", "--host", "0.0.0.0", "--port", "8000"],
        accelerators=["L4:1"],
        num_nodes=1,
        port=8000,
        image="unused-locally",
        secrets={"ENDPOINT_API_KEY": KEY, TLS_CA_KEY_ENV: ca.key_pem},
        tls=TlsSpec(ca_cert_pem=ca.cert_pem),
    )


def _ready(url: str, ca_pem: str) -> None:
    wait_until_ready(
        url=url,
        engine="vllm",
        api_key=KEY,
        model_name="org/m",
        deadline=timedelta(seconds=20),
        verify=certs.client_context(ca_pem),
        first_delay=0.05,
        max_delay=0.2,
    )


@pytest.mark.timeout(60)
def test_local_engine_serves_https_with_a_leaf_made_here(tmp_path: Path) -> None:
    launcher = LocalLauncher(
        Settings(local_engine_command=FAKE, launcher="local"), state_dir=tmp_path / "state", grace_seconds=5
    )
    ca = certs.new_ca("local")
    spec = _spec(ca)
    try:
        launcher.wait(launcher.submit(spec), timeout=10)
        url = launcher.endpoint_url(spec.cluster_name, spec.port, tls=True)
        assert url.startswith("https://127.0.0.1:")
        _ready(url, ca.cert_pem)
        with pytest.raises(NotReady, match="does not verify"):
            _ready(url, certs.new_ca("other").cert_pem)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=5)
        folder = tmp_path / "state" / "tls" / spec.cluster_name
        for name in ("server.pem", "server.key"):
            assert (folder / name).stat().st_mode & 0o777 == 0o600
        assert folder.stat().st_mode & 0o777 == 0o700
        cluster = launcher.cluster(spec.cluster_name)
        assert cluster is not None
        environ = Path(f"/proc/{cluster.pid}/environ").read_bytes().decode(errors="replace")
        assert TLS_CA_KEY_ENV not in environ and ca.key_pem.splitlines()[1] not in environ
        assert "PRIVATE" not in (tmp_path / "state" / "clusters.json").read_text()
    finally:
        launcher.down(spec.cluster_name)
    assert not (tmp_path / "state" / "tls" / spec.cluster_name).exists(), "the leaf goes with the cluster"
    log: Any = Path(tmp_path / "state" / "logs" / f"{spec.cluster_name}.log").read_text()
    assert ca.key_pem.splitlines()[1] not in log
