"""The run script's TLS part, run for real: bash runs what `engine_run_script` makes for a TLS launch,
with the fake engine in place of vLLM, `openssl` signing the leaf and the stdlib Python finding the
addresses. The engine then serves HTTPS that verifies against the endpoint's CA (readiness, which sends
the key), the CA key is gone from disk and from the engine's environment, and nothing printed holds it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from core import tls as certs
from core.engines.tls_script import TLS_CA_CERT_ENV, TLS_CA_KEY_ENV, TLS_CERT_ENV, TLS_KEY_ENV
from core.launcher.base import LaunchSpec, TlsSpec
from core.launcher.skypilot import API_KEY_ENV, engine_run_script, task_envs
from core.readiness import NotReady, wait_until_ready

ROOT = Path(__file__).resolve().parents[3]
KEY = "epk-tls-script-key-0123456789abcdef"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spec(port: int, tls: TlsSpec, secrets: dict[str, str]) -> LaunchSpec:
    argv = [sys.executable, "-m", "tests.fakes.fake_engine", "serve", "org/m", "--host", "127.0.0.1"]
    return LaunchSpec(
        cluster_name="epb-tls-1",
        model="org/m",
        engine="vllm",
        engine_argv=[*argv, "--port", str(port)],
        accelerators=["L4:1"],
        num_nodes=1,
        port=port,
        image="vllm/vllm-openai:v0.33.0",
        secrets={API_KEY_ENV: KEY, **secrets},
        tls=tls,
    )


def _run(spec: LaunchSpec, tmp_path: Path, **extra: str) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(tmp_path),
        **task_envs(spec),
        **spec.secrets,
        **extra,
    }
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed by the process's end
    return subprocess.Popen(
        ["bash", "-c", engine_run_script(spec)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def _ready(url: str, ca_pem: str | None) -> None:
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
def test_cluster_signs_its_own_leaf_and_forgets_the_ca_key(tmp_path: Path) -> None:
    ca = certs.new_ca("tls-1")
    port = _free_port()
    spec = _spec(port, TlsSpec(ca_cert_pem=ca.cert_pem), {TLS_CA_KEY_ENV: ca.key_pem})
    script = engine_run_script(spec)
    assert ca.key_pem not in script and ca.cert_pem not in script, "both arrive by environment only"
    # On a cloud the public IP comes from the metadata service; here the probes are off and a
    # DNS name is added, as a team pointing a name at the cluster would.
    process = _run(spec, tmp_path, ENDPOINT_TLS_DISCOVER="no", ENDPOINT_TLS_HOSTS="endpoint.test")
    try:
        _ready(f"https://127.0.0.1:{port}", ca.cert_pem)  # readiness verifies the CA, then sends the key
        # A client trusting another endpoint's CA refuses the server.
        with pytest.raises(NotReady, match="does not verify against the endpoint's CA"):
            _ready(f"https://127.0.0.1:{port}", certs.new_ca("other").cert_pem)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/health", timeout=5)  # default trust: unknown CA
        folder = next(tmp_path.glob("endpoint-tls-*"))
        assert sorted(p.name for p in folder.iterdir()) == [
            "ca.pem",
            "server.ext",
            "server.key",
            "server.pem",
        ]
        assert (folder / "server.key").stat().st_mode & 0o777 == 0o600
        assert folder.stat().st_mode & 0o777 == 0o700
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().decode(errors="replace")
        assert "fake_engine" in Path(f"/proc/{process.pid}/cmdline").read_text(), "the engine was exec'd"
        assert TLS_CA_KEY_ENV not in environ and ca.key_pem.splitlines()[1] not in environ
        leaf = (folder / "server.pem").read_text()
        from cryptography import x509

        names = x509.load_pem_x509_certificate(leaf.encode()).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        assert "endpoint.test" in names.value.get_values_for_type(x509.DNSName)
    finally:
        _stop(process)
    printed = (tmp_path / "run.log").read_text()
    assert "endpoint-bot: TLS certificate for DNS:endpoint.test" in printed
    for line in ca.key_pem.strip().splitlines()[1:-1]:
        assert line not in printed


@pytest.mark.timeout(60)
def test_team_certificate_is_served_as_it_is(tmp_path: Path) -> None:
    team_ca = certs.new_ca("team")
    cert, key = certs.issue_leaf(team_ca, ["127.0.0.1"])
    port = _free_port()
    process = _run(_spec(port, TlsSpec(cert_pem=cert), {TLS_KEY_ENV: key}), tmp_path)
    try:
        _ready(f"https://127.0.0.1:{port}", team_ca.cert_pem)
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().decode(errors="replace")
        assert TLS_KEY_ENV not in environ and TLS_CERT_ENV in environ
    finally:
        _stop(process)


@pytest.mark.timeout(30)
def test_without_the_ca_key_nothing_starts(tmp_path: Path) -> None:
    ca = certs.new_ca("x")
    spec = _spec(_free_port(), TlsSpec(ca_cert_pem=ca.cert_pem), {})
    process = _run(spec, tmp_path)
    assert process.wait(20) != 0
    assert "ENDPOINT_TLS_CA_KEY must hold the endpoint CA key" in (tmp_path / "run.log").read_text()
    assert TLS_CA_CERT_ENV in task_envs(spec)


@pytest.mark.timeout(30)
def test_a_bad_ca_key_stops_before_the_engine(tmp_path: Path) -> None:
    ca = certs.new_ca("x")
    spec = _spec(_free_port(), TlsSpec(ca_cert_pem=ca.cert_pem), {TLS_CA_KEY_ENV: "not a key"})
    start = time.monotonic()
    process = _run(spec, tmp_path, ENDPOINT_TLS_DISCOVER="no")
    assert process.wait(20) == 1
    assert time.monotonic() - start < 20
    said = (tmp_path / "run.log").read_text()
    assert "could not sign the TLS certificate with the endpoint CA; the engine was not started" in said
    assert not list(tmp_path.glob("endpoint-tls-*/ca.key"))
