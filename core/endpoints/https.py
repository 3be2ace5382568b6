"""HTTPS for a launch: which certificate the engine serves, what travels as a secret, what is kept.

By default each launch gets a fresh private CA (`core.tls.new_ca`): its certificate is public (kept with
the endpoint, posted in the thread, used by readiness and the watchdog to verify the engine), its key
travels to the cluster as the secret `ENDPOINT_TLS_CA_KEY` and lives in the bot only in memory for the
launch, like the API key. With settings `tls_cert_file` / `tls_key_file` the team's certificate is served
instead (its key a secret too) and clients verify it with their usual trust store. `tls=no` turns TLS off.
A SkyServe service (`replicas=`) serves no TLS on its replicas: its load balancer terminates TLS with the
team certificate, or the service is plain HTTP (the thread says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core import tls as certs
from core.endpoints.records import TLS_PRIVATE_CA, TLS_TEAM, EndpointOptions, TlsRecord, is_service
from core.engines.tls_script import TLS_CA_KEY_ENV, TLS_KEY_ENV
from core.errors import LaunchFailed
from core.launcher.base import TlsSpec
from core.settings import Settings


@dataclass(frozen=True)
class LaunchTls:
    """One launch's TLS: the spec part, the secrets it adds (keys), and what the endpoint keeps."""

    spec: TlsSpec | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    record: TlsRecord = field(default_factory=TlsRecord)


def launch_tls(settings: Settings, options: EndpointOptions, endpoint_name: str) -> LaunchTls:
    """TLS for a launch of `endpoint_name`: none with `tls=no`, the team certificate when configured,
    else a new private CA (whose key is in `secrets` only)."""
    if options.tls is False:
        return LaunchTls()
    team = settings.tls_cert_file is not None and settings.tls_key_file is not None
    if is_service(options):
        # SkyServe probes and proxies replicas over plain HTTP: their engines serve no TLS. TLS (the team
        # certificate only) terminates at the load balancer (core.endpoints.service_flow.service_spec).
        return LaunchTls(record=TlsRecord(mode=TLS_TEAM)) if team else LaunchTls()
    if team:
        cert, key = team_certificate(settings.tls_cert_file, settings.tls_key_file)
        return LaunchTls(TlsSpec(cert_pem=cert), {TLS_KEY_ENV: key}, TlsRecord(mode=TLS_TEAM))
    ca = certs.new_ca(endpoint_name)
    return LaunchTls(
        TlsSpec(ca_cert_pem=ca.cert_pem),
        {TLS_CA_KEY_ENV: ca.key_pem},
        TlsRecord(mode=TLS_PRIVATE_CA, ca_cert_pem=ca.cert_pem),
    )


def team_certificate(cert_file: Path, key_file: Path) -> tuple[str, str]:
    """The team certificate and key, read and checked; LaunchFailed with a sentence (never the key)."""
    cert = _read("ENDPOINT_BOT_TLS_CERT_FILE", cert_file, certs.check_certificate)
    key = _read("ENDPOINT_BOT_TLS_KEY_FILE", key_file, certs.check_private_key)
    return cert, key


def _read(variable: str, path: Path, check: Callable[[str], object]) -> str:
    try:
        text = Path(path).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LaunchFailed(
            f"The team TLS file {variable}={path} cannot be read ({type(exc).__name__}); fix the setting "
            "(or unset both TLS files to let the bot make a private CA per endpoint)."
        ) from None
    try:
        check(text)
    except ValueError as exc:
        raise LaunchFailed(f"The team TLS file {variable}={path} is unusable: {exc}.") from None
    return text
