"""What the lifecycle says to people: every sentence posted in an endpoint's thread or DM'd to its owner.

Kept apart from the flows so the wording can be read (and reviewed) in one place. Pure functions of
views and numbers; no I/O, never a secret (API keys are posted by the notifier's `endpoint_ready`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.clock import as_utc
from core.endpoints.records import ColdStart, Phase
from core.endpoints.views import EndpointView
from core.units import format_duration, format_money


def provisioning(view: EndpointView, *, where: str | None = None) -> str:
    # Nothing bills yet: the launch may still fail before any machine exists (no cloud enabled, the
    # catalogue unreachable, no capacity). The bill is named once the cluster is up.
    place = f" on {where}" if where else ""
    return (
        f"Provisioning {view.accelerators}{place} (cluster `{view.cluster_name}`). "
        f"This usually takes a few minutes; billing (about {format_money(view.price_per_hour)}/h) starts "
        "once the cloud has machines for it."
    )


def engine_starting(view: EndpointView) -> str:
    return (
        f"The cluster is up and billing about {format_money(view.price_per_hour)}/h. "
        f"Starting {view.engine} for `{view.model}`."
    )


def weights_loading(view: EndpointView) -> str:
    return (
        "Waiting for the engine to load the weights; the URL and key follow once a real completion succeeds."
    )


def readiness_step(step: str) -> str:
    """A readiness probe's progress step (core.readiness `progress`) as a thread reply."""
    known = {
        "engine port open": "The engine's port is open.",
        "weights loading": "The engine is up and still loading weights / warming up.",
        "test completion succeeded": "A test completion with the endpoint's key succeeded.",
    }
    if step in known:
        return known[step]
    if step.startswith("engine answers "):
        return (
            f"The engine reports healthy ({step.removeprefix('engine answers ')}); sending a test completion."
        )
    return f"Readiness: {step}."


def ready(view: EndpointView, *, took: timedelta | None) -> str:
    after = f" after {format_duration(took)}" if took and took >= timedelta(seconds=1) else ""
    how = ""
    if view.tls.ca_cert_pem:
        how = " over HTTPS, its certificate verified against the endpoint's own CA"
    elif view.tls.enabled:
        how = " over HTTPS, with the team's certificate"
    cold = view.lifecycle.cold_start
    where = f" {cold_start_text(cold)}." if cold is not None and cold.phases else ""
    return f"Ready{after}: `{view.url}` answered a chat completion{how}.{where}"


def phase_duration(seconds: float) -> str:
    """`3m5s`, `40s`, `<1s`: a phase's length as people write it."""
    return "<1s" if seconds < 1 else format_duration(timedelta(seconds=seconds))


def phases_text(phases: tuple[Phase, ...]) -> str:
    """`provisioning 3m5s, setup 40s, weights 2m10s (cache), load 1m, first completion 3s`."""
    return ", ".join(
        f"{p.name} {phase_duration(p.seconds)}" + (f" ({p.note})" if p.note else "") for p in phases
    )


def cold_start_text(cold: ColdStart) -> str:
    """`Cold start 7m12s: provisioning 3m5s, ...` (the phases measured; unknown ones are left out)."""
    phases = f": {phases_text(cold.phases)}" if cold.phases else ""
    return f"Cold start {phase_duration(cold.total_s)}{phases}"


def similar_launches(total_s: float, launches: int) -> str:
    """The first thread line of a launch with history: what launches like it took (the median)."""
    minutes = max(1, round(total_s / 60))
    over = f"the median of {launches} launches" if launches != 1 else "1 launch"
    return f"Similar launches took ~{minutes} min to get ready ({over}; `/endpoint stats`)."


def plain_http_warning(view: EndpointView | None = None) -> str:
    """Said when an endpoint serves plain HTTP: `tls=no`, or a SkyServe service with no team certificate
    (its TLS can only end at the load balancer)."""
    if view is not None and view.options.tls is not False and view.is_service:
        return (
            "Plain HTTP: a service's TLS ends at SkyServe's load balancer and needs a team certificate "
            "(ENDPOINT_BOT_TLS_CERT_FILE / ENDPOINT_BOT_TLS_KEY_FILE); the key and prompts cross the network "
            "in clear text."
        )
    return (
        "TLS is off (`tls=no`): the API key, prompts and answers cross the network in clear text, readable "
        "by anyone on the path. Leave `tls=` out to get HTTPS."
    )


def queued(view: EndpointView, *, ahead: int, threads: int) -> str:
    """The launch waits for a worker thread to submit it (every one is submitting or checking another
    launch; a launch in the cloud holds none); nothing bills yet."""
    others = f"; {ahead} other launch{'es' if ahead != 1 else ''} queued ahead of it" if ahead else ""
    return (
        f"Queued: all {threads} launch worker{'s' if threads != 1 else ''} are busy submitting other "
        f"launches{others}. It is submitted to the cloud as soon as one is free; nothing is billing yet."
    )


def launch_failed(view: EndpointView, *, reason: str) -> str:
    # Explanations of unknown errors already start "The launch failed (...)": say it once.
    said = reason if reason.startswith("The launch failed") else f"The launch failed: {reason}"
    return f"{said} Tearing down whatever was started, so nothing keeps billing."


def restarted_during_launch() -> str:
    """failure_reason for a launch whose API key died with the bot process (see flows.resume_launch)."""
    return (
        "The bot restarted while this endpoint was launching, and its API key (kept only in memory) "
        "was lost with it, so the endpoint cannot be used; please run `up` again."
    )


def stopping(view: EndpointView) -> str:
    why = f" ({view.stop_reason})" if view.stop_reason else ""
    return f"Stopping{why}. Tearing the cluster down."


def stopped_summary(view: EndpointView, *, now: datetime) -> str:
    """Final reply on stop: how long it ran, what it cost and, when its metrics were ever read
    (`view.usage` set), what it served and the price per million output tokens."""
    parts = []
    uptime = uptime_of(view, now=now)
    if uptime is not None:
        parts.append(f"ran for {format_duration(uptime)}")
    parts.append(f"cost about {format_money(view.cost_so_far)}")
    usage = view.usage
    if usage is not None:
        parts.append(
            f"served {int(usage.requests):,} requests ({int(usage.prompt_tokens):,} prompt tokens, "
            f"{int(usage.generation_tokens):,} generated)"
        )
        if usage.cost_per_million_output_tokens is not None:
            parts.append(f"{format_money(usage.cost_per_million_output_tokens)} per million output tokens")
    gone = (
        "the service (`sky serve down`) and its replicas are gone"
        if view.is_service
        else "the cluster is gone"
    )
    ending = "failed and was torn down" if view.failure_reason else f"stopped; {gone}"
    return f"`{view.name}` {ending}: " + ", ".join(parts) + "."


def uptime_of(view: EndpointView, *, now: datetime) -> timedelta | None:
    start = as_utc(view.provisioned_at) or as_utc(view.requested_at)
    end = as_utc(view.stopped_at) or now
    if start is None:
        return None
    return max(end - start, timedelta(0))


def teardown_failed(view: EndpointView, *, error: str, attempts: int) -> str:
    return (
        f"I could not tear down cluster `{view.cluster_name}` after {attempts} attempts ({error}). "
        "It may still be billing; I will keep retrying. If this persists, run `sky down "
        f"{view.cluster_name}` by hand."
    )


def lost(view: EndpointView, *, relaunch: bool = False) -> str:
    """Reconcile found the cluster gone; with `relaunch=yes` the watchdog launches it again."""
    head = (
        f"`{view.name}` is gone: its cluster `{view.cluster_name}` no longer exists (spot preemption, or it "
        "was deleted outside the bot). Nothing is billing for it now."
    )
    if relaunch:
        return (
            f"{head} It asked for `relaunch=yes`: unless its lifetime, cost cap or relaunch limit is used up, it "
            "is launched again shortly with a new URL and key; this thread says how that goes."
        )
    return f"{head} Run `up` again to get a new one."


def already_stopped(view: EndpointView) -> str:
    return f"`{view.name}` is already {view.state.value.lower()}; nothing to stop."


def already_stopping(view: EndpointView) -> str:
    return f"`{view.name}` is already stopping."


def extended(
    view: EndpointView, *, by: timedelta, capped: bool, ceiling: datetime, span: timedelta | None = None
) -> str:
    """`span`: the ceiling as a lifetime (the admin's max_ttl); counted from `requested_at` when not given."""
    span = span if span is not None else ceiling - as_utc(view.requested_at)
    note = f" (capped at the {format_duration(span)} ceiling)" if capped else ""
    return f"Extended by {format_duration(by)}{note}: now expires at {as_utc(view.expires_at):%Y-%m-%d %H:%M} UTC."
