"""What an endpoint row keeps as JSON, typed: the user's options, the lifecycle facts, the fit plan.

The `options` column holds `{"v": 1, "options": {...}, "lifecycle": {...}}` and the `plan` column
`{"v": 1, ...Plan fields}`. Rows written before the version hold a flat dict that mixes the options
with lifecycle flags (`relaunch`, `first_requested_at`, `relaunch_cancelled_by`) and a plan dict with its
argv: both still read. Everything else reads these types; nothing else indexes the stored JSON.

The plan is kept without `engine_command`: the argv is built from the plan and the settings at launch
(`core.engines.build_engine_command`, called by `core.endpoints.flows.build_launch_spec`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from core.clock import as_utc
from core.fit.plan import Plan

log = logging.getLogger(__name__)

VERSION = 1
_YES = ("yes", "true", "1", "on")


@dataclass(frozen=True, kw_only=True)
class LaunchChoices:
    """The launch choices `up` takes and an endpoint keeps (None: the engine's or the admin's default)."""

    # The engine and how it holds the model.
    engine: str | None = None
    max_model_len: int | None = None
    quantization: str | None = None
    dtype: str | None = None
    kv_cache_dtype: str | None = None
    # How the model is split over the GPUs, and how much of their memory the engine takes.
    tensor_parallel: int | None = None  # pinned TP; None = the fit check picks
    memory_fraction: float | None = None  # vLLM --gpu-memory-utilization / SGLang --mem-fraction-static
    # Speculative decoding, and a context beyond the native one.
    draft_model: str | None = None
    speculative_tokens: int | None = None
    rope_scaling: str | None = None  # "yarn": beyond the native context, as the vendor documents
    # Where it runs and what it may cost.
    spot: bool | None = None  # None: settings.use_spot
    cloud: str | None = None
    region: str | None = None
    max_cost: float | None = None
    # Several replicas behind SkyServe's load balancer (core.endpoints.service_flow): a fixed count, or
    # autoscaling between (min, max) at `target_qps` requests per second per replica. None: one cluster.
    replicas: int | None = None
    autoscale: tuple[int, int] | None = None
    target_qps: float | None = None


@dataclass(frozen=True, kw_only=True)
class EndpointOptions(LaunchChoices):
    """What the user asked for with `up`, normalised: the launch choices and the lifetime in seconds."""

    ttl_s: int | None = None


@dataclass(frozen=True)
class Phase:
    """One measured part of a cold start (core.endpoints.timings): "provisioning", "setup", "weights",
    "load", "engine start", "first completion" or "queued"; `note` e.g. "cache" or "download"."""

    name: str
    seconds: float
    note: str | None = None


@dataclass(frozen=True)
class ColdStart:
    """Where the minutes of the last launch went: the total (request to READY) and the phases measured
    (unknown ones are left out, never guessed)."""

    total_s: float
    phases: tuple[Phase, ...] = ()


@dataclass(frozen=True)
class Lifecycle:
    """Facts about the endpoint's life that the bot keeps beside the options."""

    relaunch: bool = False  # launch it again if its cluster is lost (`relaunch=yes`; off once stopped)
    first_requested_at: datetime | None = None  # a relaunch keeps the first request (the ttl ceiling's start)
    relaunch_cancelled_by: str | None = None  # who stopped it while LOST (the pending relaunch is off)
    cold_start: ColdStart | None = None  # the last launch's timings, once READY
    replicas_ready: int | None = None  # a service's replicas answering its readiness probe, last seen
    replica_urls: tuple[
        str, ...
    ] = ()  # those replicas' engines (`http://IP:PORT`): the watchdog sums their metrics


def first_requested(lifecycle: Lifecycle, requested_at: datetime) -> datetime:
    """When the endpoint was first asked for: `requested_at`, unless a relaunch kept the original."""
    return as_utc(lifecycle.first_requested_at or requested_at)


def same_named(cls: type, source: object) -> dict[str, Any]:
    """`source`'s values for the dataclass `cls`'s fields it has by the same name (to build a `cls`)."""
    return {f.name: getattr(source, f.name) for f in fields(cls) if hasattr(source, f.name)}


# --- the options column ----------------------------------------------------------------------------


def options_to_json(options: EndpointOptions, lifecycle: Lifecycle) -> dict[str, Any]:
    life = asdict(lifecycle)
    if lifecycle.first_requested_at is not None:
        life["first_requested_at"] = as_utc(lifecycle.first_requested_at).isoformat()
    return {"v": VERSION, "options": asdict(options), "lifecycle": life}


def options_from_json(data: dict[str, Any] | None) -> tuple[EndpointOptions, Lifecycle]:
    """The typed options and lifecycle of a row, versioned or written before the version."""
    data = dict(data or {})
    if data.get("v") == VERSION:
        stored, life = dict(data.get("options") or {}), dict(data.get("lifecycle") or {})
    else:  # the flat dict of rows written before the version; `idle_timeout_s` is the column's
        life = {
            k: data.pop(k) for k in ("relaunch", "first_requested_at", "relaunch_cancelled_by") if k in data
        }
        stored = data
    return _known(EndpointOptions, stored), Lifecycle(
        relaunch=_truthy(life.get("relaunch")),
        first_requested_at=_when(life.get("first_requested_at")),
        relaunch_cancelled_by=life.get("relaunch_cancelled_by") or None,
        cold_start=cold_start_from_json(life.get("cold_start")),
        replicas_ready=_count(life.get("replicas_ready")),
        replica_urls=tuple(str(u) for u in life.get("replica_urls") or () if isinstance(u, str)),
    )


def cold_start_from_json(data: Any) -> ColdStart | None:
    """The stored cold start (`asdict` of a ColdStart), or None when absent or unreadable."""
    if not isinstance(data, dict):
        return None
    try:
        phases = tuple(
            Phase(name=str(p["name"]), seconds=float(p["seconds"]), note=p.get("note") or None)
            for p in data.get("phases") or ()
        )
        return ColdStart(total_s=float(data["total_s"]), phases=phases)
    except (TypeError, KeyError, ValueError):
        log.warning("unreadable stored cold start (keys %s)", sorted(data)[:8])
        return None


def is_service(options: LaunchChoices) -> bool:
    """True when the endpoint runs as a SkyServe service (`replicas=` or `autoscale=` given)."""
    return options.replicas is not None or options.autoscale is not None


def replica_bounds(options: LaunchChoices) -> tuple[int, int]:
    """(fewest, most) replicas: (1, 1) for a single cluster, (N, N) for `replicas=N`, the autoscale range."""
    if options.autoscale is not None:
        return options.autoscale[0], options.autoscale[1]
    count = options.replicas or 1
    return count, count


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _truthy(value: Any) -> bool:
    """A bool from `up`, or a word in rows written by hand (`"yes"`; `"no"` is not truthy)."""
    if isinstance(value, str):
        return value.strip().lower() in _YES
    return bool(value)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            log.warning("unreadable first_requested_at %r; requested_at counts instead", value)
    return None


def _known(cls: Any, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if "autoscale" in names:  # JSON holds the (min, max) pair as a list
        pair = values.get("autoscale")
        values["autoscale"] = tuple(pair) if isinstance(pair, list | tuple) and len(pair) == 2 else None
    return cls(**values)


# --- the plan column -------------------------------------------------------------------------------


def plan_to_json(plan: Plan | None) -> dict[str, Any]:
    if plan is None:
        return {}
    data = plan.to_dict()
    data.pop("engine_command", None)
    return {"v": VERSION, **data}


def plan_from_json(data: dict[str, Any] | None) -> Plan | None:
    """The fit plan a row recorded; None when there is none or it cannot be read (logged)."""
    if not data:
        return None
    known = {f.name for f in fields(Plan)} - {"engine_command"}
    try:
        return Plan.from_dict({k: v for k, v in data.items() if k in known})
    except (TypeError, KeyError, ValueError):
        log.warning("unreadable stored plan (keys %s)", sorted(data)[:12])
        return None
