"""`core.tls`: the per-endpoint CA, the leaf it signs, the fingerprint, and the client context that trusts
one CA only. Certificates are checked by OpenSSL itself (Python's ssl module and the `openssl` CLI)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509

from core import tls as certs


@contextmanager
def _tls_server(cert: str, key: str, tmp: Path) -> Iterator[int]:
    """A one-shot TLS server on 127.0.0.1 serving `cert`; yields its port."""
    (tmp / "s.pem").write_text(cert)
    (tmp / "s.key").write_text(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "s.pem", tmp / "s.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(4):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()


def _handshake(port: int, context: ssl.SSLContext, host: str = "127.0.0.1") -> None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as conn,
    ):
        conn.sendall(b"x")


def test_ca_is_a_ca_and_its_key_is_never_in_its_repr() -> None:
    ca = certs.new_ca("qwen-7b")
    cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True and constraints.path_length == 0
    assert "qwen-7b" in cert.subject.rfc4514_string()
    assert "PRIVATE KEY" in ca.key_pem
    assert ca.key_pem not in repr(ca) and "PRIVATE" not in repr(ca)
    assert certs.new_ca("qwen-7b").cert_pem != ca.cert_pem, "every endpoint gets its own CA"


def test_fingerprint_matches_openssl() -> None:
    ca = certs.new_ca("x")
    ours = certs.fingerprint(ca.cert_pem)
    assert len(ours.split(":")) == 32 and ours == ours.upper()
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to compare with")
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        input=ca.cert_pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().split("=", 1)[1] == ours
    assert ca.fingerprint == ours


def test_leaf_names_its_hosts_and_is_signed_by_the_ca() -> None:
    ca = certs.new_ca("x")
    cert_pem, key_pem = certs.issue_leaf(ca, ["203.0.113.7", "127.0.0.1", "localhost", "api.example.com"])
    leaf = x509.load_pem_x509_certificate(cert_pem.encode())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"203.0.113.7", "127.0.0.1"}
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "api.example.com"}
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem.encode()))
    assert "PRIVATE KEY" in key_pem
    with pytest.raises(ValueError):
        certs.issue_leaf(ca, [])


def test_client_context_trusts_its_ca_only_and_checks_the_host(tmp_path: Path) -> None:
    ca, other = certs.new_ca("a"), certs.new_ca("b")
    cert, key = certs.issue_leaf(ca, ["127.0.0.1"])
    with _tls_server(cert, key, tmp_path) as port:
        _handshake(port, certs.client_context(ca.cert_pem))  # verifies
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(port, certs.client_context(other.cert_pem))  # another endpoint's CA
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(port, certs.client_context(ca.cert_pem), host="198.51.100.1")  # not its address
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(port, certs.client_context(None))  # the system store does not know a private CA
    assert certs.client_context(ca.cert_pem) is certs.client_context(ca.cert_pem), "cached per CA"


def test_certificate_and_key_checks_never_quote_the_key() -> None:
    ca = certs.new_ca("x")
    assert certs.check_certificate(ca.cert_pem) == ca.cert_pem
    certs.check_private_key(ca.key_pem)
    with pytest.raises(ValueError, match="PEM certificate"):
        certs.check_certificate("not a cert")
    with pytest.raises(ValueError) as raised:
        certs.check_private_key(ca.key_pem[:80])
    assert ca.key_pem[30:70] not in str(raised.value)


def test_team_certificate_settings_go_in_pairs(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from core.settings import Settings

    with pytest.raises(
        ValidationError, match="ENDPOINT_BOT_TLS_CERT_FILE and ENDPOINT_BOT_TLS_KEY_FILE go together"
    ):
        Settings(tls_cert_file=tmp_path / "team.pem")
    both = Settings(tls_cert_file=tmp_path / "team.pem", tls_key_file=tmp_path / "team.key")
    assert both.tls_cert_file == tmp_path / "team.pem"
