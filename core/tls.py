"""TLS material for endpoints: a private CA per endpoint, leaf certificates it signs, fingerprints, and the
client-side `ssl.SSLContext` that trusts exactly one endpoint's CA.

How it is used: at launch the bot makes a CA (`new_ca`: an EC P-256 key and a self-signed certificate,
`CA:TRUE, pathlen:0`, allowed to sign server certificates only). The CA certificate is public: it is kept
with the endpoint and posted in its thread with its SHA-256 fingerprint, so clients can verify the
server. The CA key lives only in memory for the launch (like the API key): it travels to the cluster
as a secret, where the run script signs a leaf for the cluster's own addresses and deletes it
(`core.engines.tls_script`), or the local launcher signs a leaf for 127.0.0.1 here (`issue_leaf`).

Nothing here logs or prints key material; `CertAuthority.__repr__` leaves the key out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass, field
from functools import lru_cache

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 90  # longer than any endpoint lives (max_ttl is a few days); the key is thrown away anyway
LEAF_DAYS = 90
_BACKDATE = dt.timedelta(minutes=5)  # tolerate a cluster clock a little behind the bot's


@dataclass(frozen=True)
class CertAuthority:
    """One endpoint's CA. `key_pem` is secret: never stored, logged or put in argv."""

    cert_pem: str
    key_pem: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert_pem)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def new_ca(name: str, *, now: dt.datetime | None = None) -> CertAuthority:
    """A fresh CA for the endpoint `name` (its common name says which endpoint it belongs to)."""
    now = now or dt.datetime.now(dt.UTC)
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "endpoint-bot"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"endpoint-bot CA for {name}"[:64]),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertAuthority(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem=_key_pem(key)
    )


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.strip() for h in hosts if h.strip()):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    if not names:
        raise ValueError("a leaf certificate needs at least one host name or address")
    return x509.SubjectAlternativeName(names)


def issue_leaf(ca: CertAuthority, hosts: list[str], *, now: dt.datetime | None = None) -> tuple[str, str]:
    """A server certificate for `hosts` (IP addresses or DNS names), signed by `ca`: (cert PEM, key PEM)."""
    now = now or dt.datetime.now(dt.UTC)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not the EC key new_ca makes")
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64] if hosts else "endpoint")])
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + dt.timedelta(days=LEAF_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key)


def fingerprint(cert_pem: str) -> str:
    """The SHA-256 fingerprint of a PEM certificate as `AB:CD:...` (what `openssl x509 -fingerprint
    -sha256` and browsers show)."""
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def check_certificate(cert_pem: str) -> str:
    """`cert_pem` if it holds a readable PEM certificate; ValueError with a sentence otherwise."""
    try:
        x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError:
        raise ValueError("it does not hold a PEM certificate (-----BEGIN CERTIFICATE-----)") from None
    return cert_pem


def check_private_key(key_pem: str) -> None:
    """ValueError (a sentence that never quotes the key) unless `key_pem` is an unencrypted PEM key."""
    try:
        serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("it does not hold an unencrypted PEM private key") from None


@lru_cache(maxsize=256)
def client_context(ca_pem: str | None) -> ssl.SSLContext:
    """An SSL context that verifies servers (chain and host name) against `ca_pem` only; with None, the
    system's trust store plus certifi's (a team certificate from a public or company CA). Cached by CA:
    building one costs milliseconds, and the watchdog scrapes every endpoint each tick."""
    if ca_pem is None:
        context = ssl.create_default_context()
        context.load_verify_locations(certifi.where())
        return context
    return ssl.create_default_context(cadata=ca_pem)


def is_verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate-verification failure behind `exc` (httpx wraps it), if that is what it is."""
    found = tls_cause(exc)
    return found if isinstance(found, ssl.SSLCertVerificationError) else None


def tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error somewhere in `exc`'s chain of causes (httpx wraps httpcore wraps ssl), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
