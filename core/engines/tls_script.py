"""The shell a cluster runs before the engine to serve HTTPS: its certificate and key as 0600 files.

Two ways, one per `TlsSpec` shape (core.launcher.base):

- **The endpoint's private CA** (the default). The CA certificate arrives in `$ENDPOINT_TLS_CA_CERT`
  (public), its key in `$ENDPOINT_TLS_CA_KEY` (a SkyPilot secret). The address clients will use is not
  known when the task is submitted, so the cluster finds it at start: a short stdlib Python program asks
  the cloud's metadata service for the public IP (AWS IMDSv2, GCP, Azure; else checkip.amazonaws.com),
  adds the node's own addresses, `localhost` and anything in `$ENDPOINT_TLS_HOSTS`, and `openssl` signs a
  fresh P-256 leaf for them with the CA. The CA key is written to a 0600 file only for that one
  `openssl x509` call, then the file is deleted and the variable unset, so the engine never inherits it.
- **A team certificate** (settings `tls_cert_file` / `tls_key_file`): `$ENDPOINT_TLS_CERT` (public) and
  `$ENDPOINT_TLS_KEY` (secret) are written to 0600 files as they are.

Every secret is written with the `printf` builtin (never a process's argv) into a `mktemp -d` folder
(0700). The engine then gets `--ssl-keyfile "${ENDPOINT_TLS_DIR}/server.key" --ssl-certfile
"${ENDPOINT_TLS_DIR}/server.pem"` (vLLM and SGLang take the same two flags). A failure stops the run
before the engine starts, saying what was missing.
"""

from __future__ import annotations

import shlex

TLS_CA_CERT_ENV = "ENDPOINT_TLS_CA_CERT"  # the endpoint's CA certificate (public; a task env)
TLS_CA_KEY_ENV = "ENDPOINT_TLS_CA_KEY"  # the CA's private key (a secret; deleted on the cluster once used)
TLS_CERT_ENV = "ENDPOINT_TLS_CERT"  # a team certificate chain (public)
TLS_KEY_ENV = "ENDPOINT_TLS_KEY"  # the team certificate's key (a secret)
TLS_HOSTS_ENV = "ENDPOINT_TLS_HOSTS"  # optional extra names for the leaf, comma-separated (e.g. a DNS name)
TLS_DISCOVER_ENV = "ENDPOINT_TLS_DISCOVER"  # "no": skip the metadata/public-IP probes (on-prem, tests)
TLS_DIR_ENV = "ENDPOINT_TLS_DIR"
SERVER_CERT_REF = "${ENDPOINT_TLS_DIR}/server.pem"
SERVER_KEY_REF = "${ENDPOINT_TLS_DIR}/server.key"
LEAF_DAYS = 90

# Prints the leaf's subjectAltName value ("IP:203.0.113.7,IP:10.0.0.5,DNS:localhost,IP:127.0.0.1").
# Standard library only (the engine images have Python, not this project); no single quotes inside.
_DISCOVER_PY = """
import ipaddress, os, socket, urllib.request as rq
def get(url, headers=None, method="GET"):
    try:
        req = rq.Request(url, headers=headers or {}, method=method)
        return rq.urlopen(req, timeout=1.5).read().decode().strip()
    except Exception:
        return ""
def public_ip():
    token = get("http://169.254.169.254/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, "PUT")
    if token:
        found = get("http://169.254.169.254/latest/meta-data/public-ipv4", {"X-aws-ec2-metadata-token": token})
        if found:
            return found
    for url, headers in (
        ("http://metadata.google.internal/computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip", {"Metadata-Flavor": "Google"}),
        ("http://169.254.169.254/metadata/instance/network/interface/0/ipv4/ipAddress/0/publicIpAddress?api-version=2021-02-01&format=text", {"Metadata": "true"}),
        ("https://checkip.amazonaws.com", {}),
    ):
        found = get(url, headers)
        if found:
            return found
    return ""
names = [n.strip() for n in os.environ.get("ENDPOINT_TLS_HOSTS", "").split(",") if n.strip()]
if os.environ.get("ENDPOINT_TLS_DISCOVER", "yes").lower() not in ("no", "0", "false", "off"):
    names.append(public_ip())
try:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("10.255.255.255", 1))
    names.append(probe.getsockname()[0])
except OSError:
    pass
try:
    names += socket.gethostbyname_ex(socket.gethostname())[2]
except OSError:
    pass
names += ["localhost", "127.0.0.1"]
out = []
for name in names:
    if not name or len(name) > 253:
        continue
    try:
        entry = "IP:" + str(ipaddress.ip_address(name))
    except ValueError:
        if not all(part.isalnum() or part == "-" for part in name.replace(".", "-").split("-")):
            continue
        entry = "DNS:" + name
    if entry not in out:
        out.append(entry)
print(",".join(out))
""".strip()


def ssl_flags() -> list[str]:
    """The engine flags for the files the preamble writes (vLLM and SGLang spell them alike)."""
    return ["--ssl-keyfile", SERVER_KEY_REF, "--ssl-certfile", SERVER_CERT_REF]


def _fail(what: str) -> str:
    message = f"endpoint-bot: {what}; the engine was not started"
    return f"{{ printf '%s\\n' {shlex.quote(message)} >&2; exit 1; }}"


def _make_dir() -> str:
    return f'{TLS_DIR_ENV}=$(mktemp -d "${{TMPDIR:-/tmp}}/endpoint-tls-XXXXXX")'


def ca_preamble() -> list[str]:
    """Shell statements that sign a leaf for this node with the endpoint's CA, then forget the CA key."""
    d = f'"${TLS_DIR_ENV}"'
    key = f"{d}/ca.key"
    make_leaf = " && ".join(
        [
            f"(umask 077 && printf '%s\\n' \"${TLS_CA_KEY_ENV}\" > {key} "
            f"&& printf '%s\\n' \"${TLS_CA_CERT_ENV}\" > {d}/ca.pem)",
            f"ENDPOINT_TLS_SAN=$(python3 -c {shlex.quote(_DISCOVER_PY)})",
            '[ -n "$ENDPOINT_TLS_SAN" ]',
            f"(umask 077 && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
            f"-subj /CN=endpoint-bot -keyout {d}/server.key -out {d}/server.csr 2>/dev/null)",
            "printf 'subjectAltName=%s\\nbasicConstraints=critical,CA:FALSE\\n"
            "keyUsage=critical,digitalSignature\\nextendedKeyUsage=serverAuth\\n' "
            f'"$ENDPOINT_TLS_SAN" > {d}/server.ext',
            f"openssl x509 -req -in {d}/server.csr -CA {d}/ca.pem -CAkey {key} "
            f'-set_serial "0x$(openssl rand -hex 16)" -days {LEAF_DAYS} -sha256 '
            f"-extfile {d}/server.ext -out {d}/server.pem 2>/dev/null",
        ]
    )
    return [
        f': "${{{TLS_CA_KEY_ENV}:?{TLS_CA_KEY_ENV} must hold the endpoint CA key}}"',
        f"command -v openssl >/dev/null 2>&1 || {_fail('openssl is not installed in the engine image, so no TLS certificate could be made (use a team certificate or tls=no)')}",
        f"{_make_dir()} || {_fail('could not make a private folder for the TLS files')}",
        f"if {make_leaf}; then ENDPOINT_TLS_OK=1; else ENDPOINT_TLS_OK=; fi",
        # The CA key is used once: gone from disk and from the environment the engine inherits.
        f"rm -f {key} {d}/server.csr; unset {TLS_CA_KEY_ENV}",
        f'[ -n "$ENDPOINT_TLS_OK" ] || {_fail("could not sign the TLS certificate with the endpoint CA")}',
        'printf "endpoint-bot: TLS certificate for %s\\n" "$ENDPOINT_TLS_SAN"',
    ]


def team_preamble() -> list[str]:
    """Shell statements that write the team certificate and its key to 0600 files."""
    d = f'"${TLS_DIR_ENV}"'
    return [
        f': "${{{TLS_KEY_ENV}:?{TLS_KEY_ENV} must hold the team certificate key}}"',
        f"{_make_dir()} || {_fail('could not make a private folder for the TLS files')}",
        f"(umask 077 && printf '%s\\n' \"${TLS_KEY_ENV}\" > {d}/server.key "
        f"&& printf '%s\\n' \"${TLS_CERT_ENV}\" > {d}/server.pem) || {_fail('could not write the TLS files')}",
        f"unset {TLS_KEY_ENV}",
    ]
