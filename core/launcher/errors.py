"""SkyPilot's exceptions (and anything else a launcher raises) turned into sentences a person can act on.

`explain_launch_error(exc, spec=...)` returns a `core.errors.LaunchFailed` (precisely an
`ExplainedLaunchFailure`, which also carries a machine-readable `kind`) whose message says what failed
and what to try next: no capacity (which GPU, cloud and regions were tried; another GPU type, spot=no,
another region, retry later), no quota (request an increase for that GPU in that region), no cloud
access (`sky check`), the catalogue unreachable from the API server (its network), API server unreachable
(`SKYPILOT_API_SERVER_ENDPOINT`), cluster gone, cancelled.
Anything else gets a generic sentence with the exception's first line.

Classes are matched by NAME along the exception's MRO, so this module never imports `sky` (it works
whether or not SkyPilot is loaded, and for the fake cloud, which raises the real classes). Messages are
stripped of ANSI colour codes and scrubbed of secrets (the spec's secret values, `epk-` API keys,
Hugging Face tokens, `Bearer ...`, `*_TOKEN=`/`*_KEY=` assignments).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.apikeys import redact_api_keys
from core.errors import LaunchFailed, UserFacingError
from core.launcher.base import LaunchSpec

REDACTED = "<redacted>"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{10,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b([A-Z0-9_]*(?:TOKEN|API_KEY|SECRET|PASSWORD)[A-Z0-9_]*)(\s*[=:]\s*)(['\"]?)[^\s'\"]+\3"
)
_LOCATION = re.compile(
    r"(?:\bin|\bregion|\bzone)\s+(?:region\s+|zone\s+)?([a-z]{2,}(?:-[a-z0-9]+)*-[a-z]*\d+[a-z]?(?:-[a-z])?)\b"
)
# Where SkyPilot downloads its catalogue CSVs from (sky.skylet.constants.HOSTED_CATALOG_DIR_URL).
CATALOG_HOST = "raw.githubusercontent.com"
_CATALOG_FETCH = re.compile(r"(?i)failed to fetch \S+ catalog|catalogs/v\d+/")
_NETWORK_CAUSES = (
    ("ProxyError", "the HTTPS proxy refused the connection"),
    ("NameResolutionError", "the host name did not resolve"),
    ("Failed to resolve", "the host name did not resolve"),
    ("ConnectTimeout", "the connection timed out"),
    ("timed out", "the connection timed out"),
    ("Connection refused", "the connection was refused"),
    ("SSLError", "the TLS handshake failed"),
    ("Max retries exceeded", "the connection failed"),
)
# requests/urllib3 wording of a connection that broke after the request was sent.
_DROPPED = ("Connection aborted", "RemoteDisconnected", "Connection reset by peer", "ChunkedEncodingError")
_QUOTA = re.compile(r"(?i)quota|QUOTA_EXCEEDED|limit exceeded|VcpuLimitExceeded|InsufficientQuota")


class ExplainedLaunchFailure(LaunchFailed):
    """A `LaunchFailed` with the kind of failure, for code that decides what to do next.

    kind: "capacity" | "quota" | "no_cloud_access" | "catalog" | "credentials" | "api_server" |
    "cancelled" | "cluster_gone" | "cluster_not_up" | "invalid" | "other".
    """

    def __init__(self, message: str, *, kind: str, cause: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.cause = cause  # the original exception's class name

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later unchanged."""
        return self.kind in {"capacity", "api_server", "catalog", "other"}


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def scrub_secrets(text: str, secrets: Iterable[str] = (), *, assignments: bool = True) -> str:
    """Remove secret values from `text`: the given ones, API keys, HF tokens, bearer tokens, assignments.

    `assignments=False` keeps `NAME=value` / `NAME: value` shapes (for shell scripts and YAML, where
    `VLLM_API_KEY="$ENDPOINT_API_KEY"` is a reference, not a value); known values are still removed.
    """
    for value in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = redact_api_keys(text)
    text = _HF_TOKEN.sub(REDACTED, text)
    if assignments:
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return text


def explain_launch_error(
    exc: BaseException, *, spec: LaunchSpec | None = None, submitted: bool = False
) -> LaunchFailed:
    """A sentence for `exc` (never a traceback, never a secret). `spec` adds the GPU/cloud/region tried;
    `submitted` says the launch request had reached the API server (so machines may exist)."""
    secrets = list(spec.secrets.values()) if spec else []
    cause = type(exc).__name__
    if isinstance(exc, UserFacingError):  # already written for people (e.g. readiness.NotReady)
        message = scrub_secrets(strip_ansi(str(exc)).strip(), secrets)
        return ExplainedLaunchFailure(message, kind=_kind_of_user_error(exc), cause=cause)
    names = {cls.__name__ for cls in type(exc).__mro__}
    first = _first_line(exc, secrets)
    gpus = _gpus(spec)
    where = _where(spec, exc)

    if "ResourcesUnavailableError" in names:
        return _resources_unavailable(exc, spec=spec, secrets=secrets, gpus=gpus, where=where)
    explained = (
        _setup_problem(exc, names=names, spec=spec, submitted=submitted, first=first, cause=cause)
        or _cluster_problem(names=names, spec=spec, first=first, cause=cause)
        or _refused(
            exc, names=names, spec=spec, secrets=secrets, first=first, gpus=gpus, where=where, cause=cause
        )
    )
    if explained is not None:
        return explained
    if isinstance(exc, TimeoutError):
        return ExplainedLaunchFailure(
            f"The launch{_named(spec)} took too long and was given up ({first}). Retry, or try another GPU "
            "type or region.",
            kind="other",
            cause=cause,
        )
    return ExplainedLaunchFailure(
        f"The launch failed ({cause}): {first}. Check the bot's logs; retrying may help.",
        kind="other",
        cause=cause,
    )


def _setup_problem(
    exc: BaseException,
    *,
    names: set[str],
    spec: LaunchSpec | None,
    submitted: bool,
    first: str,
    cause: str,
) -> ExplainedLaunchFailure | None:
    """SkyPilot itself cannot work: no cloud enabled, no credentials, or its API server unreachable."""
    if "NoCloudAccessError" in names:
        return ExplainedLaunchFailure(
            "No cloud is enabled for SkyPilot, so nothing was launched and nothing bills. An admin should "
            "run `sky check` on the SkyPilot API server's host (the bot's host when the server is local) "
            "and enable at least one cloud with GPU access.",
            kind="no_cloud_access",
            cause=cause,
        )
    if _is_catalog_fetch(exc, names):
        return ExplainedLaunchFailure(
            "SkyPilot's API server could not download its catalogue of clouds, GPUs and prices "
            f"({_network_cause(exc)}), so nothing was launched and nothing bills. Give the API server's "
            f"host outbound HTTPS to {CATALOG_HOST} (check its network, DNS and HTTPS_PROXY), then retry; "
            "`sky check` there shows which clouds it can reach.",
            kind="catalog",
            cause=cause,
        )
    if names & {"InvalidCloudCredentials", "CloudUserIdentityError", "ApiServerAuthenticationError"}:
        return ExplainedLaunchFailure(
            f"SkyPilot could not authenticate ({first}). An admin should refresh the cloud credentials "
            "(`sky check`) or log in to the API server (`sky api login`).",
            kind="credentials",
            cause=cause,
        )
    if ("ApiServerConnectionError" in names or _looks_like_connection_error(exc, names)) and (
        submitted or _dropped_mid_request(exc)
    ):
        return ExplainedLaunchFailure(
            f"The SkyPilot API server stopped answering during the launch{_named(spec)}, so the bot cannot "
            "tell whether machines were started. Check that it is running (`sky api status`; its log is "
            "~/.sky/api_server/server.log on its host) and reachable at SKYPILOT_API_SERVER_ENDPOINT; the "
            "bot tears the cluster down as soon as the server answers again (`endpoint-bot reconcile` "
            "retries at once).",
            kind="api_server",
            cause=cause,
        )
    if "ApiServerConnectionError" in names or _looks_like_connection_error(exc, names):
        return ExplainedLaunchFailure(
            "The SkyPilot API server could not be reached, so the launch was not started. Check that it "
            "is running (`sky api status`) and that SKYPILOT_API_SERVER_ENDPOINT points at it, then retry.",
            kind="api_server",
            cause=cause,
        )
    return None


def _cluster_problem(
    *, names: set[str], spec: LaunchSpec | None, first: str, cause: str
) -> ExplainedLaunchFailure | None:
    """The request or its cluster went away: cancelled, gone, not up."""
    if "RequestCancelled" in names:
        return ExplainedLaunchFailure(
            "The launch request was cancelled before it finished.", kind="cancelled", cause=cause
        )
    if "ClusterDoesNotExist" in names:
        return ExplainedLaunchFailure(
            f"The cluster{_named(spec)} no longer exists (it was preempted, torn down by its deadline, or "
            "deleted by hand). Launch the endpoint again if you still need it.",
            kind="cluster_gone",
            cause=cause,
        )
    if "ClusterNotUpError" in names:
        return ExplainedLaunchFailure(
            f"The cluster{_named(spec)} is not up ({first}). It may have been preempted or stopped; "
            "launch the endpoint again if you still need it.",
            kind="cluster_not_up",
            cause=cause,
        )
    return None


def _refused(
    exc: BaseException,
    *,
    names: set[str],
    spec: LaunchSpec | None,
    secrets: list[str],
    first: str,
    gpus: str,
    where: str,
    cause: str,
) -> ExplainedLaunchFailure | None:
    """A cloud or SkyPilot said no: a cloud error (or its quota), an invalid request, a policy, prechecks."""
    if "CloudError" in names:
        provider = getattr(exc, "cloud_provider", None) or (spec.cloud if spec else None) or "the cloud"
        error_type = str(getattr(exc, "error_type", "") or "")
        if _QUOTA.search(error_type) or _QUOTA.search(first):
            return _quota(spec=spec, gpus=gpus, where=where, first=first, cause=cause)
        return ExplainedLaunchFailure(
            f"{provider} reported an error ({first}). Retry in a few minutes; if it persists, try another "
            "cloud or region (`cloud=`, `region=`).",
            kind="other",
            cause=cause,
        )
    if names & {"InvalidClusterNameError", "ResourcesMismatchError", "InvalidSkyPilotConfigError"}:
        return ExplainedLaunchFailure(
            f"SkyPilot refused the request as invalid: {first}.", kind="invalid", cause=cause
        )
    if names & {"UserRequestRejectedByPolicy", "PermissionDeniedError", "NoWorkspaceAccessError"}:
        return ExplainedLaunchFailure(
            f"SkyPilot's policy refused the launch: {first}. Ask an admin to check the workspace permissions.",
            kind="invalid",
            cause=cause,
        )
    if "ProvisionPrechecksError" in names:
        reasons = [_first_line(r, secrets) for r in getattr(exc, "reasons", []) or []]
        detail = "; ".join(reasons) or first
        return ExplainedLaunchFailure(
            f"SkyPilot's pre-launch checks failed: {detail}. Run `sky check` on the bot's host.",
            kind="no_cloud_access",
            cause=cause,
        )
    return None


def _resources_unavailable(
    exc: BaseException, *, spec: LaunchSpec | None, secrets: list[str], gpus: str, where: str
) -> ExplainedLaunchFailure:
    history: list[BaseException] = list(getattr(exc, "failover_history", None) or [])
    texts = [strip_ansi(str(exc))] + [strip_ansi(str(e)) for e in history]
    first = _first_line(exc, secrets)
    if any(_QUOTA.search(t) for t in texts) or any(
        "CloudError" in {c.__name__ for c in type(e).__mro__}
        and _QUOTA.search(str(getattr(e, "error_type", "")))
        for e in history
    ):
        return _quota(spec=spec, gpus=gpus, where=where, first=first, cause=type(exc).__name__, texts=texts)
    tried = _locations(texts)
    if spec and spec.region and spec.region not in tried:
        tried.insert(0, spec.region)
    tried_text = f" (tried {', '.join(tried)})" if tried else ""
    ideas = ["another GPU type"]
    if spec is not None and spec.use_spot:
        ideas.append("`spot=no` (on-demand capacity is easier to get than spot)")
    if spec is not None and (spec.region or spec.cloud):
        ideas.append(
            "another region or cloud (`region=`, `cloud=`), or leave them unset to let SkyPilot choose"
        )
    else:
        ideas.append("another region or cloud (`region=`, `cloud=`)")
    ideas.append("retrying in a while")
    return ExplainedLaunchFailure(
        f"No capacity for {gpus} on {where}{tried_text}: the cloud has no free machines of that kind right "
        f"now. Try {', '.join(ideas[:-1])}, or {ideas[-1]}.",
        kind="capacity",
        cause=type(exc).__name__,
    )


def _quota(
    *,
    spec: LaunchSpec | None,
    gpus: str,
    where: str,
    first: str,
    cause: str,
    texts: list[str] | None = None,
) -> ExplainedLaunchFailure:
    regions = _locations(texts or [first])
    region = (spec.region if spec and spec.region else None) or (regions[0] if regions else None)
    in_region = f" in {region}" if region else ""
    return ExplainedLaunchFailure(
        f"The cloud account has no quota for {gpus}{in_region} on {where}. Request a quota increase for "
        f"{gpus} GPUs{in_region} in the cloud console (https://docs.skypilot.co/en/latest/cloud-setup/quota.html), "
        "or try another region or GPU type.",
        kind="quota",
        cause=cause,
    )


def _is_catalog_fetch(exc: BaseException, names: set[str]) -> bool:
    """SkyPilot failed to fetch a catalogue CSV (it raises the requests error, or a CloudError naming it)."""
    if not names & {"CloudError", "RequestException", "ConnectionError", "ProxyError", "Timeout"}:
        return False
    text = strip_ansi(str(exc))
    return CATALOG_HOST in text or "skypilot-catalog" in text or bool(_CATALOG_FETCH.search(text))


def _network_cause(exc: BaseException) -> str:
    """A few words on why a download failed, from the requests/urllib3 error text (no URL, no secret)."""
    text = strip_ansi(str(exc))
    for needle, words in _NETWORK_CAUSES:
        if needle in text:
            return words
    return f"{type(exc).__name__} while connecting"


def _kind_of_user_error(exc: UserFacingError) -> str:
    return getattr(exc, "kind", None) or "other"


def _looks_like_connection_error(exc: BaseException, names: set[str]) -> bool:
    # requests/urllib3/httpx connection failures while talking to the API server.
    return bool(names & {"ConnectionError", "ConnectError", "NewConnectionError", "MaxRetryError"}) and (
        type(exc).__module__.split(".")[0] in {"requests", "urllib3", "httpx", "sky"}
    )


def _dropped_mid_request(exc: BaseException) -> bool:
    """The server was reached and the connection broke while it worked on the request (it died, or was
    restarted): unlike a refused connection, the request may have been acted on."""
    text = strip_ansi(str(exc))
    return any(mark in text for mark in _DROPPED)


def _gpus(spec: LaunchSpec | None) -> str:
    if spec is None or not spec.accelerators:
        return "the requested GPUs"
    nodes = f" x{spec.num_nodes} nodes" if spec.num_nodes > 1 else ""
    return " or ".join(f"`{a}`" for a in spec.accelerators) + nodes


def _where(spec: LaunchSpec | None, exc: BaseException) -> str:
    cloud = (spec.cloud if spec else None) or getattr(exc, "cloud_provider", None)
    if spec and spec.region:
        return f"{cloud or 'any cloud'}/{spec.region}"
    return cloud or "any enabled cloud"


def _named(spec: LaunchSpec | None) -> str:
    return f" `{spec.cluster_name}`" if spec else ""


def _locations(texts: list[str]) -> list[str]:
    seen: list[str] = []
    for text in texts:
        for match in _LOCATION.findall(text):
            if match not in seen:
                seen.append(match)
    return seen


def _first_line(exc: BaseException, secrets: list[str]) -> str:
    return _clean(str(exc), secrets) or type(exc).__name__


def _clean(text: str, secrets: list[str]) -> str:
    lines = [line.strip() for line in strip_ansi(text).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = scrub_secrets(first, secrets)
    if len(first) > 400:
        first = first[:397] + "..."
    return first.rstrip(".")
