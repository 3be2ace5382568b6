"""TLS through the whole launch, over real sockets: the fake cloud's engine serves HTTPS with a leaf signed
by the endpoint's own CA; readiness and the /metrics scrapes verify that CA; clients trusting another CA
(or none) fail; the CA key is in no store row, message or recorded cloud call; `tls=no` still works."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from core import tls as certs
from core.clock import ManualClock
from core.db import Database
from core.endpoints import flows
from core.endpoints.records import EndpointOptions
from core.endpoints.states import EndpointState as S
from core.usage.metrics import ScrapeTarget, scrape_all
from tests.core.endpoints.lifecycle_fixtures import (
    MODEL,
    Lifecycle,
    make_settings,
    new_cloud,
    record_endpoint,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _lifecycle(database: Database, clock: ManualClock, **settings: object) -> Lifecycle:
    return Lifecycle(
        database=database, cloud=new_cloud(clock), clock=clock, settings=make_settings(**settings)
    )


@pytest.fixture
def lc(database: Database, clock: ManualClock) -> Iterator[Lifecycle]:
    lifecycle = _lifecycle(database, clock)
    yield lifecycle
    lifecycle.close()
    lifecycle.cloud.close()


def _launch(lc: Lifecycle, name: str, options: EndpointOptions | None = None) -> str:
    view = record_endpoint(lc, name=name, options=options)
    lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    lc.join()
    return view.name


def _chat(url: str, key: str, verify: ssl.SSLContext | bool) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
        verify=verify,
    )


def _store_text(database: Database) -> str:
    with database.engine.connect() as connection:
        rows = [
            repr(tuple(row))
            for table in ("endpoints", "endpoint_events", "outbox")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        ]
    return "\n".join(rows)


def test_https_by_default_with_the_endpoints_own_ca(lc: Lifecycle) -> None:
    name = _launch(lc, "secure")
    view = lc.service.status(name=name)
    assert view.state is S.READY, view.failure_reason
    assert view.url and view.url.startswith("https://127.0.0.1:")
    assert view.tls.mode == "private-ca" and view.tls.ca_cert_pem
    (posted, api_key) = lc.notifier.of("ready")[0]
    assert posted.tls.ca_cert_pem == view.tls.ca_cert_pem, "the ready message carries the CA certificate"

    # A client that trusts the posted CA gets answers; one trusting another CA, or the default store, fails.
    assert _chat(view.url, api_key, certs.client_context(view.tls.ca_cert_pem)).status_code == 200
    for verify in (certs.client_context(certs.new_ca("other").cert_pem), True):
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            _chat(view.url, api_key, verify)

    # The watchdog's scrape verifies the CA too: the right one reads /metrics, a wrong one cannot.
    good = ScrapeTarget(1, view.url, "vllm", ca_pem=view.tls.ca_cert_pem)
    wrong = ScrapeTarget(2, view.url, "vllm", ca_pem=certs.new_ca("x").cert_pem)
    none = ScrapeTarget(3, view.url, "vllm")
    results = scrape_all([good, wrong, none], timeout=5, concurrency=4)
    assert results[1].ok and not results[2].ok and not results[3].ok
    assert "ConnectError" in (results[2].error or "")

    said = lc.notifier.everything_said()
    assert any("over HTTPS, its certificate verified" in t for t in lc.notifier.thread_texts(name))
    # The CA key: never in the store, anything said, or the recorded cloud calls.
    stored = _store_text(lc.database)
    assert view.tls.ca_cert_pem.splitlines()[1] in stored, "the public certificate is kept with the endpoint"
    assert "PRIVATE KEY" not in stored and "PRIVATE KEY" not in said
    assert "PRIVATE KEY" not in repr(lc.cloud.calls)
    assert any(c.args.get("tls") is True for c in lc.cloud.calls_to("endpoint_url"))


def test_two_endpoints_two_cas(lc: Lifecycle) -> None:
    a, b = (lc.service.status(name=_launch(lc, n)) for n in ("ca-a", "ca-b"))
    assert a.state is S.READY and b.state is S.READY
    assert a.tls.ca_cert_pem != b.tls.ca_cert_pem and a.tls.fingerprint != b.tls.fingerprint
    results = scrape_all(
        [ScrapeTarget(1, a.url or "", "vllm", ca_pem=a.tls.ca_cert_pem),
         ScrapeTarget(2, b.url or "", "vllm", ca_pem=b.tls.ca_cert_pem),
         ScrapeTarget(3, b.url or "", "vllm", ca_pem=a.tls.ca_cert_pem)],
        timeout=5, concurrency=4,
    )  # fmt: skip
    assert results[1].ok and results[2].ok and not results[3].ok


def test_tls_no_serves_plain_http_with_a_warning(lc: Lifecycle) -> None:
    name = _launch(lc, "plain", EndpointOptions(engine="vllm", spot=False, tls=False))
    view = lc.service.status(name=name)
    assert view.state is S.READY, view.failure_reason
    assert view.url and view.url.startswith("http://") and not view.tls.enabled
    _posted, api_key = lc.notifier.of("ready")[0]
    assert _chat(view.url, api_key, True).status_code == 200
    assert any("TLS is off (`tls=no`)" in t for t in lc.notifier.thread_texts(name))
    assert scrape_all([ScrapeTarget(1, view.url, "vllm")], timeout=5, concurrency=1)[1].ok
    assert all(
        c.args.get("secret_names") == ["ENDPOINT_API_KEY", "HF_TOKEN"] for c in lc.cloud.calls_to("submit")
    )


def test_team_certificate(
    database: Database, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    team_ca = certs.new_ca("team")
    cert, key = certs.issue_leaf(team_ca, ["127.0.0.1"])
    (tmp_path / "team.pem").write_text(cert)
    (tmp_path / "team.key").write_text(key)
    (tmp_path / "trust.pem").write_text(team_ca.cert_pem)
    # The team's CA is in this host's trust store (as a company CA would be): readiness uses that store.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "trust.pem"))
    certs.client_context.cache_clear()
    lifecycle = _lifecycle(
        database, clock, tls_cert_file=tmp_path / "team.pem", tls_key_file=tmp_path / "team.key"
    )
    try:
        name = _launch(lifecycle, "team")
        view = lifecycle.service.status(name=name)
        assert view.state is S.READY, view.failure_reason
        assert view.url and view.url.startswith("https://") and view.tls.mode == "team"
        assert view.tls.ca_cert_pem is None
        submit = lifecycle.cloud.calls_to("submit")[0]
        assert "ENDPOINT_TLS_KEY" in submit.args["secret_names"]
        assert key.splitlines()[1] not in _store_text(database)
    finally:
        lifecycle.close()
        lifecycle.cloud.close()
        certs.client_context.cache_clear()


def test_an_unreadable_team_key_fails_the_launch_with_a_sentence(
    database: Database, clock: ManualClock, tmp_path: Path
) -> None:
    (tmp_path / "team.pem").write_text(certs.new_ca("t").cert_pem)
    lifecycle = _lifecycle(
        database, clock, tls_cert_file=tmp_path / "team.pem", tls_key_file=tmp_path / "nope.key"
    )
    try:
        view = lifecycle.service.status(name=_launch(lifecycle, "badteam"))
        assert view.state is S.FAILED
        assert "ENDPOINT_BOT_TLS_KEY_FILE" in (view.failure_reason or "")
        assert not lifecycle.cloud.calls_to("submit"), "nothing was asked of the cloud"
    finally:
        lifecycle.close()
        lifecycle.cloud.close()
