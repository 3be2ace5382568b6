"""`UpRequest` and its validation: every argument of `up` checked before anything happens.

Pure: no database, no network. A name already taken is asked of the caller (`name_taken`), so the
checks run in one fixed order and the first problem is the one reported, as a sentence a person can
act on (`InvalidRequest`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from core import vocabulary
from core.echo import shown
from core.endpoints import store
from core.endpoints.records import LaunchChoices
from core.errors import InvalidRequest
from core.hub.refs import check_model
from core.settings import Settings
from core.units import MAX_DURATION, MAX_MONEY, MAX_TOKENS, format_duration, format_money

# SkyPilot 0.14's cloud names (sky/clouds/); `infra=` takes these.
CLOUDS = frozenset(
    {
        "aws",
        "gcp",
        "azure",
        "lambda",
        "runpod",
        "kubernetes",
        "oci",
        "nebius",
        "fluidstack",
        "paperspace",
        "cudo",
        "vast",
        "do",
        "ibm",
        "scp",
        "vsphere",
        "hyperbolic",
        "seeweb",
        "primeintellect",
        "shadeform",
        "mithril",
        "verda",
        "yotta",
        "ssh",
        "slurm",
    }
)
REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$")
MAX_SPECULATIVE_TOKENS = 16
MAX_TENSOR_PARALLEL = 16  # TP stays inside one node; the largest nodes have 16 GPUs
# Hub repo ids are at most 96 characters a part; local paths get a little more room.
MAX_MODEL_CHARS = 255


@dataclass(frozen=True, kw_only=True)
class UpArguments(LaunchChoices):
    """What `up MODEL ACCEL [options]` says, from any surface (None: the engine's or the admin's default;
    engine None = settings.default_engine)."""

    model: str
    accelerators: str  # NAME:COUNT
    idle_timeout: timedelta | None = None
    ttl: timedelta | None = None
    name: str | None = None  # None: the bot picks one
    relaunch: bool = False


@dataclass(frozen=True, kw_only=True)
class UpRequest(UpArguments):
    """`/endpoint up MODEL ACCEL [options]` on someone's behalf (values are checked by `validate_up`)."""

    owner_id: str
    channel_id: str | None = None


def refuse_local_model(model: str | None, settings: Settings) -> None:
    """Chat users must not make the bot read its own host's disk unless the admin allows it."""
    if not model or not vocabulary.is_local_model(model):
        return
    if settings.launcher == "local" or settings.allow_local_models:
        return
    raise InvalidRequest(
        f"`{model.strip()}` is a local directory: local model directories are only accepted with the local "
        "launcher; use a Hub repo id like org/name (e.g. `Qwen/Qwen2.5-7B-Instruct`)."
    )


def validate_up(request: UpRequest, settings: Settings, *, name_taken: Callable[[str], bool]) -> str:
    """Every argument of `up` checked, in order; returns the engine (lower case)."""
    _check_models(request, settings)
    engine = (request.engine or settings.default_engine).lower()
    _check_engine_options(request, engine)
    _check_sizes(request)
    _check_time_and_money(request, settings)
    if request.name is not None:
        store.validate_name(request.name)
        if name_taken(request.name):
            raise InvalidRequest(
                f"The name `{request.name}` is already used by another endpoint; pick another, or leave "
                "`name=` out to get one."
            )
    _check_where(request, settings)
    _check_draft(request)
    check_replicas(request, settings)
    if not request.owner_id:
        raise InvalidRequest("Who is asking? (no user id came with the request)")
    return engine


def _check_models(request: UpRequest, settings: Settings) -> None:
    refuse_local_model(request.model, settings)
    refuse_local_model(request.draft_model, settings)
    for model in (request.model, request.draft_model):
        if model is not None and len(model) > MAX_MODEL_CHARS:
            raise InvalidRequest(
                f"`{shown(model)}` is too long for a model id ({len(model):,} characters; "
                f"at most {MAX_MODEL_CHARS})."
            )
    check_model(request.model)  # the Hub loader's own rule: `org/name@rev` is a model id


def _check_engine_options(request: UpRequest, engine: str) -> None:
    if engine not in vocabulary.ENGINES:
        raise InvalidRequest(
            f"Unknown engine `{shown(request.engine)}`; use `engine=vllm` or `engine=sglang`."
        )
    quantizations = vocabulary.QUANTIZATIONS[engine]
    if request.quantization is not None and request.quantization not in quantizations:
        raise InvalidRequest(
            f"{engine} does not take `quantization={shown(request.quantization)}`; it accepts "
            f"{', '.join(sorted(quantizations))}."
        )
    dtypes = tuple(sorted(vocabulary.DTYPES))
    if request.dtype is not None and request.dtype not in dtypes:
        raise InvalidRequest(f"Unknown dtype `{shown(request.dtype)}`; use one of {', '.join(dtypes)}.")
    kv_dtypes = vocabulary.KV_CACHE_DTYPES[engine]
    if request.kv_cache_dtype is not None and request.kv_cache_dtype not in kv_dtypes:
        raise InvalidRequest(
            f"{engine} does not take `kv_cache_dtype={shown(request.kv_cache_dtype)}`; it accepts "
            f"{', '.join(sorted(kv_dtypes))}."
        )
    if request.rope_scaling is not None and request.rope_scaling not in vocabulary.ROPE_SCALINGS:
        raise InvalidRequest(
            f"Unknown RoPE scaling `{shown(request.rope_scaling)}`; the bot knows `rope=yarn` (for models whose "
            "vendor documents it, like Qwen2.5 and Qwen3)."
        )


def _check_sizes(request: UpRequest) -> None:
    if request.max_model_len is not None and not 0 < request.max_model_len <= MAX_TOKENS:
        raise InvalidRequest(
            f"The context length must be from 1 to {MAX_TOKENS:,} tokens, e.g. `max_model_len=32k`."
        )
    if request.tensor_parallel is not None and not 1 <= request.tensor_parallel <= MAX_TENSOR_PARALLEL:
        raise InvalidRequest(
            f"The tensor parallel size must be a whole number from 1 to {MAX_TENSOR_PARALLEL}, e.g. `tp=2`."
        )
    if request.memory_fraction is not None and not 0 < request.memory_fraction < 1:
        raise InvalidRequest(
            f"The memory fraction must be between 0 and 1 (got {request.memory_fraction:g}), e.g. `mem=0.9`."
        )


def _check_time_and_money(request: UpRequest, settings: Settings) -> None:
    if request.idle_timeout is not None and not timedelta(0) < request.idle_timeout <= MAX_DURATION:
        raise InvalidRequest(
            f"The idle timeout must be positive and at most {MAX_DURATION.days} days, e.g. `idle=45m`."
        )
    if request.ttl is not None:
        if request.ttl <= timedelta(0):
            raise InvalidRequest("The lifetime must be positive, e.g. `ttl=8h`.")
        if request.ttl > settings.max_ttl:
            raise InvalidRequest(
                f"`ttl={format_duration(request.ttl)}` is over the admin ceiling of "
                f"{format_duration(settings.max_ttl)}; ask for at most that (you can extend later, up to it)."
            )
    # `not 0 < x <= MAX` also refuses NaN and infinity (a float column cannot hold them everywhere).
    if request.max_cost is not None and not 0 < request.max_cost <= MAX_MONEY:
        raise InvalidRequest(
            f"`max_cost` must be a positive amount of dollars up to {format_money(MAX_MONEY)}, "
            "e.g. `max_cost=$50`."
        )


def _check_where(request: UpRequest, settings: Settings) -> None:
    if request.cloud is not None and request.cloud.lower() not in CLOUDS:
        raise InvalidRequest(
            f"Unknown cloud `{shown(request.cloud)}`; SkyPilot calls them {', '.join(sorted(CLOUDS))}."
        )
    if request.region is not None:
        if not REGION_RE.match(request.region):
            raise InvalidRequest(
                f"`{shown(request.region)}` is not a region name; write it like `us-central1`."
            )
        if request.cloud is None and settings.default_cloud is None:
            raise InvalidRequest(
                "A region needs its cloud: add `cloud=`, e.g. `cloud=gcp region=us-central1`."
            )


def _check_draft(request: UpRequest) -> None:
    if request.speculative_tokens is not None:
        if request.draft_model is None:
            raise InvalidRequest("`speculative_tokens` needs a draft model: add `draft=ORG/MODEL`.")
        if not 1 <= request.speculative_tokens <= MAX_SPECULATIVE_TOKENS:
            raise InvalidRequest(f"`speculative_tokens` must be between 1 and {MAX_SPECULATIVE_TOKENS}.")
    if request.draft_model is not None:
        try:
            check_model(request.draft_model)
        except InvalidRequest as exc:
            raise InvalidRequest(f"The draft model: {exc}") from None
        if request.draft_model == request.model:
            raise InvalidRequest("The draft model must be a smaller model than the one it speeds up.")


MAX_TARGET_QPS = 10_000.0


def check_replicas(choices: LaunchChoices, settings: Settings) -> None:
    """`replicas=N` or `autoscale=MIN-MAX qps=Q` (never both; qps only with autoscale), within the ceiling."""
    most = settings.max_replicas
    if choices.replicas is not None and choices.autoscale is not None:
        raise InvalidRequest(
            "Give either `replicas=N` (a fixed count) or `autoscale=MIN-MAX qps=Q` (SkyServe scales between "
            "them), not both."
        )
    if choices.replicas is not None and not 1 <= choices.replicas <= most:
        raise InvalidRequest(
            f"`replicas=` must be a whole number from 1 to {most} (the admin's ceiling), e.g. `replicas=2`."
        )
    if choices.autoscale is not None:
        low, high = choices.autoscale
        if not 1 <= low < high <= most:
            raise InvalidRequest(
                f"`autoscale=MIN-MAX` needs 1 <= MIN < MAX <= {most} (the admin's ceiling), e.g. `autoscale=1-4`; "
                "for a fixed count write `replicas=N`."
            )
        if choices.target_qps is None:
            raise InvalidRequest(
                "`autoscale=` needs a target load per replica: add `qps=5` (SkyServe adds a replica when each "
                "one gets more requests per second than that)."
            )
    if choices.target_qps is not None:
        if choices.autoscale is None:
            raise InvalidRequest(
                "`qps=` is the autoscaling target: use it with `autoscale=MIN-MAX`, e.g. `autoscale=1-4 qps=5`."
            )
        if not 0 < choices.target_qps <= MAX_TARGET_QPS:
            raise InvalidRequest(
                f"`qps=` must be a positive number of requests per second up to {MAX_TARGET_QPS:,.0f}, e.g. `qps=5`."
            )
