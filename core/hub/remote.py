"""Reading a model's inputs from the Hugging Face Hub through huggingface_hub, in three requests.

`HfApi().model_info(repo, files_metadata=True)` gives the per-dtype parameter counts
(`safetensors.parameters`), the gated flag and the commit sha (one request). config.json is then read
at that sha with one GET through huggingface_hub's own HTTP session, URL builder, auth headers and
error mapping (`get_session`, `hf_hub_url`, `build_hf_headers`, `hf_raise_for_status`). The Hub answers
`/resolve/` with a 307 to `/api/resolve-cache/...`, so that GET is two requests: three in all.
`hf_hub_download` would cost one more (HEAD, HEAD after the redirect, GET) to fill a cache we do not
need: the facts cache keeps the parsed config. Every library or network exception is turned into a
`core.errors.HubError` subclass whose message says what to try, and never holds the token.

huggingface_hub reads `HF_ENDPOINT` and `HF_HUB_OFFLINE` once, at import; this module reads them again
at each call and passes the endpoint explicitly, so setting them after import works too.
`huggingface_hub` and `httpx` are imported lazily: a warm fit check never needs them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.errors import GatedModel, HubError, HubUnreachable, ModelNotFound
from core.hub.source import ModelSource

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0  # per request; model_info has no timeout at all unless one is given
MAX_CONFIG_BYTES = 16 * 2**20  # real config.json files are kilobytes; a cap keeps a bad repo from hurting
PUBLIC_HUB = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}


def hub_endpoint() -> str:
    """The Hub base URL in force: `HF_ENDPOINT` now, else what huggingface_hub read at import."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline_mode() -> bool:
    """True when `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set now or was set at import."""
    from huggingface_hub import constants

    env = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").lower()
    return env in _TRUE or constants.HF_HUB_OFFLINE


def shown_endpoint(endpoint: str) -> str:
    """The endpoint without any `user:password@` part, fit for messages."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def gated_message(repo_id: str, *, has_token: bool) -> str:
    licence = f"{PUBLIC_HUB}/{repo_id}"
    if has_token:
        return (
            f"{repo_id} is gated and the HF_TOKEN the bot uses has no access to it yet: accept the licence at "
            f"{licence} with the account that owns the token (approval can take a while), then try again."
        )
    return (
        f"{repo_id} is gated: accept the licence at {licence} and set HF_TOKEN to a read token of that "
        "account (the clusters need it to download the weights too), then try again."
    )


def unreachable_message(repo_id: str, endpoint: str, reason: str) -> str:
    return (
        f"Could not reach the Hugging Face Hub at {shown_endpoint(endpoint)} to read {repo_id} ({reason}). "
        "Try again in a minute; if this host needs a mirror or proxy, set HF_ENDPOINT. Models checked "
        "once before are answered from the bot's facts cache, even offline (HF_HUB_OFFLINE=1)."
    )


def fetch_from_hub(*, repo_id: str, revision: str | None, token: str | None) -> ModelSource:
    """Fetch config.json, dtype counts, gated flag and sha. Three Hub requests."""
    endpoint = hub_endpoint()
    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        info, raw_config = _model_info_and_config(repo_id, revision=revision, token=token, endpoint=endpoint)
    except Exception as error:
        failure = _hub_failure(
            error, repo_id=repo_id, revision=revision, has_token=bool(token), endpoint=endpoint
        )
        if failure is None:
            raise
        raise failure from None
    config = _parse_config(raw_config, where)
    dtype_params = None
    if info.safetensors is not None and info.safetensors.parameters:
        dtype_params = {str(k): int(v) for k, v in info.safetensors.parameters.items()}
    log.info("read %s from the Hub at commit %s", where, info.sha)
    return ModelSource(
        model_id=repo_id,
        config=config,
        origin="hub",
        dtype_params=dtype_params,
        gated=bool(info.gated),
        revision=revision,
        sha=info.sha,
        safetensors_bytes=_safetensors_bytes(info.siblings),
        fetched_at=time.time(),
    )


def _model_info_and_config(
    repo_id: str, *, revision: str | None, token: str | None, endpoint: str
) -> tuple[Any, bytes]:
    """`model_info` (one request), then config.json at the commit it names (two)."""
    from huggingface_hub import HfApi

    auth: str | bool = token if token else False  # False: never fall back to a token on this machine
    info = HfApi(endpoint=endpoint).model_info(
        repo_id, revision=revision, files_metadata=True, token=auth, timeout=REQUEST_TIMEOUT_S
    )
    if info.gated and not token:
        # model_info answers for gated repos without a token; downloads would not. Stop here.
        raise GatedModel(gated_message(repo_id, has_token=False))
    raw_config = _read_small_file(
        repo_id, "config.json", revision=info.sha or revision, endpoint=endpoint, auth=auth
    )
    return info, raw_config


def _hub_failure(
    error: Exception, *, repo_id: str, revision: str | None, has_token: bool, endpoint: str
) -> HubError | None:
    """The sentence for a huggingface_hub or httpx failure; None for anything else (it propagates)."""
    import httpx
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id}@{revision}" if revision else repo_id
    if isinstance(error, GatedRepoError):  # a subclass of RepositoryNotFoundError: must come first
        return GatedModel(gated_message(repo_id, has_token=has_token))
    if isinstance(error, RevisionNotFoundError):
        return ModelNotFound(
            f"{repo_id} has no revision `{revision}`. Check the branch, tag or commit, or drop `@{revision}` "
            "to use the default branch."
        )
    if isinstance(error, RepositoryNotFoundError):
        access = (
            "HF_TOKEN is set, but cannot see a private repo by that name"
            if has_token
            else "if it is a private repo, set HF_TOKEN to a token that can read it"
        )
        return ModelNotFound(
            f"no such model on the Hub: {repo_id}. Check the spelling (ids are case-sensitive, like "
            f"`Qwen/Qwen2.5-7B-Instruct`); {access}."
        )
    if isinstance(error, RemoteEntryNotFoundError):
        return ModelNotFound(
            f"{where} has no config.json, so it is not a Transformers-format model the engines can serve "
            "(GGUF-only or original-format repos are not supported). Pick the Transformers version of the model."
        )
    if isinstance(error, HfHubHTTPError):
        return _http_error(error, repo_id=repo_id, endpoint=endpoint, has_token=has_token)
    if isinstance(error, OfflineModeIsEnabled):
        return HubUnreachable(unreachable_message(repo_id, endpoint, "offline mode is on"))
    if isinstance(error, httpx.TimeoutException):
        return HubUnreachable(unreachable_message(repo_id, endpoint, "timed out"))
    if isinstance(error, httpx.RequestError):
        reason = "connection refused" if isinstance(error, httpx.ConnectError) else "connection dropped"
        return HubUnreachable(unreachable_message(repo_id, endpoint, reason))
    return None


def _parse_config(raw_config: bytes, where: str) -> dict[str, Any]:
    try:
        config = json.loads(raw_config.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HubError(
            f"config.json of {where} is not valid JSON, so the bot cannot size the model."
        ) from None
    if not isinstance(config, dict):
        raise HubError(f"config.json of {where} is not a JSON object, so the bot cannot size the model.")
    return config


def _read_small_file(
    repo_id: str, filename: str, *, revision: str | None, endpoint: str, auth: str | bool
) -> bytes:
    """GET one small file from the repo (following the Hub's same-host redirect), capped in size."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    headers = build_hf_headers(token=auth)
    with get_session().stream(
        "GET", url, headers=headers, timeout=REQUEST_TIMEOUT_S, follow_redirects=True
    ) as response:
        if response.status_code >= 400:
            response.read()
            hf_raise_for_status(response)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_CONFIG_BYTES:
                raise HubError(
                    f"{filename} of {repo_id} is larger than {MAX_CONFIG_BYTES // 2**20} MiB; that is not a model "
                    "config the bot can read."
                )
    return bytes(body)


def _http_error(error: object, *, repo_id: str, endpoint: str, has_token: bool) -> HubError:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status == 401 and not has_token:
        return HubError(
            f"The Hub at {shown_endpoint(endpoint)} asked for a token (HTTP 401) while reading {repo_id}. Set "
            f"HF_TOKEN to a read token ({PUBLIC_HUB}/settings/tokens) and try again."
        )
    if status == 401:
        return HubError(
            f"The Hub refused the HF_TOKEN the bot uses while reading {repo_id} (invalid or revoked). Create a "
            f"read token at {PUBLIC_HUB}/settings/tokens and set HF_TOKEN to it, or unset it for public models."
        )
    if status == 429:
        return HubUnreachable(unreachable_message(repo_id, endpoint, "rate limited, HTTP 429"))
    if status is None or status >= 500:
        return HubUnreachable(unreachable_message(repo_id, endpoint, f"HTTP {status or 'error'}"))
    return HubError(
        f"The Hub answered HTTP {status} when reading {repo_id}. Check the model id and try again."
    )


def _safetensors_bytes(siblings: list | None) -> int | None:
    """Bytes of one copy of the *.safetensors weights (consolidated copies left out when shards exist)."""
    files = [s for s in siblings or [] if s.rfilename.endswith(".safetensors") and "/" not in s.rfilename]
    sharded = [s for s in files if not s.rfilename.startswith("consolidated")]
    files = sharded or files
    if not files or any(s.size is None for s in files):
        return None
    return sum(int(s.size) for s in files)
