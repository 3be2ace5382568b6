"""The ready message of a TLS endpoint on every surface (Slack blocks, shell lines, CLI console): the https
URL, the CA certificate itself, its fingerprint, and snippets that trust it. The curl command is run as
pasted, against the fake engine serving HTTPS, with the certificate saved from the Slack message."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest

from bot import text as tx
from bot.slack import blocks as bk
from core import tls as certs
from core.endpoints.records import TlsRecord
from core.notifier import ConsoleNotifier
from tests.bot.slack.views_fixtures import view
from tests.fakes.fake_engine import start_fake_engine

KEY = "epk-ready-tls-0123456789abcdef"
CA = certs.new_ca("qwen")
TLS = TlsRecord(mode="private-ca", ca_cert_pem=CA.cert_pem)


def _slack_text(v: object) -> str:
    return json.dumps(bk.to_dicts(bk.ready_blocks(v, api_key=KEY)), ensure_ascii=False)  # type: ignore[arg-type]


def test_slack_ready_message_carries_the_ca_its_fingerprint_and_trusting_snippets() -> None:
    v = view(url="https://10.0.0.2:8000", tls=TLS)
    text = _slack_text(v)
    assert "https://10.0.0.2:8000/v1" in text
    assert CA.fingerprint in text
    assert json.dumps(CA.cert_pem.strip())[1:-1] in text, "the certificate itself, as a code block"
    curl, python = bk.ready_snippets(v, KEY)
    assert "--cacert ca.pem" in curl
    assert 'http_client=httpx.Client(verify=ssl.create_default_context(cafile="ca.pem"))' in python
    compile(python, "<snippet>", "exec")
    assert "PRIVATE KEY" not in text


@pytest.mark.timeout(30)
def test_the_pasted_curl_works_with_the_pasted_certificate(tmp_path: Path) -> None:
    cert, key = certs.issue_leaf(CA, ["127.0.0.1"])
    (tmp_path / "leaf.pem").write_text(cert)
    (tmp_path / "leaf.key").write_text(key)
    with start_fake_engine(
        model="Qwen/Qwen2.5-7B-Instruct",
        api_key=KEY,
        ssl_certfile=str(tmp_path / "leaf.pem"),
        ssl_keyfile=str(tmp_path / "leaf.key"),
    ) as engine:
        v = view(url=engine.url, tls=TLS)
        blocks = bk.to_dicts(bk.ready_blocks(v, api_key=KEY))
        pasted = next(b["text"]["text"] for b in blocks if "BEGIN CERTIFICATE" in b["text"]["text"])
        (tmp_path / "ca.pem").write_text(re.search(r"```(.*?)```", pasted, re.S).group(1) + "\n")  # type: ignore[union-attr]
        curl, _ = bk.ready_snippets(v, KEY)
        done = subprocess.run(["bash", "-c", curl], cwd=tmp_path, capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["choices"]
        # Without the certificate, curl refuses the server (verification stays on).
        refused = subprocess.run(
            ["bash", "-c", curl.replace("--cacert ca.pem", "")], cwd=tmp_path, capture_output=True, timeout=20
        )
        assert refused.returncode == 60  # curl: peer certificate cannot be authenticated


def test_shell_and_cli_renderings() -> None:
    v = view(url="https://10.0.0.2:8000", tls=TLS)
    lines = "\n".join(tx.ready_lines(v, api_key=KEY))
    assert CA.fingerprint in lines and CA.cert_pem.strip().splitlines()[1] in lines
    assert "--cacert ca.pem" in lines and "https://10.0.0.2:8000/v1" in lines
    out = io.StringIO()
    ConsoleNotifier(out).endpoint_ready(v, api_key=KEY)
    printed = out.getvalue()
    assert CA.fingerprint in printed and CA.cert_pem.strip() in printed and "curl --cacert ca.pem" in printed


def test_plain_http_is_said_to_be_plain() -> None:
    v = view(url="http://10.0.0.2:8000")
    assert "TLS is off" in _slack_text(v)
    assert "TLS is off" in "\n".join(tx.ready_lines(v, api_key=KEY))
    assert "--cacert" not in bk.ready_snippets(v, KEY)[0]
    out = io.StringIO()
    ConsoleNotifier(out).endpoint_ready(v, api_key=KEY)
    assert "plain HTTP" in out.getvalue()


def test_team_certificate_needs_no_ca_file() -> None:
    v = view(url="https://api.example.com:8000", tls=TlsRecord(mode="team"))
    text = _slack_text(v)
    assert "team's certificate" in text and "--cacert" not in text and "BEGIN CERTIFICATE" not in text
