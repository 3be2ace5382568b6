"""Reading a model's inputs from the Hugging Face Hub through huggingface_hub, in three requests.

`HfApi().model_info(repo, files_metadata=True)` gives the per-dtype parameter counts
(`safetensors.parameters`), the gated flag and the commit sha (one request); `hf_hub_download(repo,
"config.json")` at that sha gives the full config (HEAD + GET). Every library or network exception is
turned into a `core.errors.HubError` subclass whose message says what to try, and never holds the token.

huggingface_hub reads `HF_ENDPOINT` and `HF_HUB_OFFLINE` once, at import; this module reads them again
at each call and passes the endpoint explicitly, so setting them after import works too.
`huggingface_hub` and `httpx` are imported lazily: a warm fit check never needs them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from core.errors import GatedModel, HubError, HubUnreachable, ModelNotFound
from core.hub.source import ModelSource

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0  # per request; model_info has no timeout at all unless one is given
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


def fetch_from_hub(
    *, repo_id: str, revision: str | None, token: str | None, download_dir: Path
) -> ModelSource:
    """Fetch config.json, dtype counts, gated flag and sha. At most three Hub requests."""
    import httpx
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hub_endpoint()
    where = f"{repo_id}@{revision}" if revision else repo_id
    auth: str | bool = token if token else False  # False: never fall back to a token on this machine
    try:
        info = HfApi(endpoint=endpoint).model_info(
            repo_id, revision=revision, files_metadata=True, token=auth, timeout=REQUEST_TIMEOUT_S
        )
        gated = bool(info.gated)
        if gated and not token:
            # model_info answers for gated repos without a token; downloads would not. Stop here.
            raise GatedModel(gated_message(repo_id, has_token=False))
        config_path = hf_hub_download(
            repo_id,
            "config.json",
            revision=info.sha or revision,
            cache_dir=download_dir,
            endpoint=endpoint,
            token=auth,
            etag_timeout=REQUEST_TIMEOUT_S,
        )
    except GatedRepoError:  # a subclass of RepositoryNotFoundError: must come first
        raise GatedModel(gated_message(repo_id, has_token=bool(token))) from None
    except RevisionNotFoundError:
        raise ModelNotFound(
            f"{repo_id} has no revision `{revision}`. Check the branch, tag or commit, or drop `@{revision}` "
            "to use the default branch."
        ) from None
    except RepositoryNotFoundError:
        access = (
            "HF_TOKEN is set, but cannot see a private repo by that name"
            if token
            else "if it is a private repo, set HF_TOKEN to a token that can read it"
        )
        raise ModelNotFound(
            f"no such model on the Hub: {repo_id}. Check the spelling (ids are case-sensitive, like "
            f"`Qwen/Qwen2.5-7B-Instruct`); {access}."
        ) from None
    except RemoteEntryNotFoundError:
        raise ModelNotFound(
            f"{where} has no config.json, so it is not a Transformers-format model the engines can serve "
            "(GGUF-only or original-format repos are not supported). Pick the Transformers version of the model."
        ) from None
    except HfHubHTTPError as error:
        raise _http_error(error, repo_id=repo_id, endpoint=endpoint) from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        # hf_hub_download's way of saying "the HEAD failed (network or 5xx) and nothing is on disk".
        raise HubUnreachable(unreachable_message(repo_id, endpoint, "no answer for config.json")) from None
    except httpx.TimeoutException:
        raise HubUnreachable(unreachable_message(repo_id, endpoint, "timed out")) from None
    except httpx.RequestError as error:
        reason = "connection refused" if isinstance(error, httpx.ConnectError) else "connection dropped"
        raise HubUnreachable(unreachable_message(repo_id, endpoint, reason)) from None

    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise HubError(
            f"config.json of {where} is not valid JSON, so the bot cannot size the model."
        ) from None
    if not isinstance(config, dict):
        raise HubError(f"config.json of {where} is not a JSON object, so the bot cannot size the model.")

    dtype_params = None
    if info.safetensors is not None and info.safetensors.parameters:
        dtype_params = {str(k): int(v) for k, v in info.safetensors.parameters.items()}
    log.info("read %s from the Hub at commit %s", where, info.sha)
    return ModelSource(
        model_id=repo_id,
        config=config,
        origin="hub",
        dtype_params=dtype_params,
        gated=gated,
        revision=revision,
        sha=info.sha,
        safetensors_bytes=_safetensors_bytes(info.siblings),
        fetched_at=time.time(),
    )


def _http_error(error: object, *, repo_id: str, endpoint: str) -> HubError:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
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
