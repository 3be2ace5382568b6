"""Replicas: an endpoint launched as a SkyServe service (`replicas=N`, or `autoscale=MIN-MAX qps=Q`).

The launch flow (core.endpoints.flows) dispatches here at three points and is otherwise the same:
- `submit`: `launcher.submit_service(spec, spec.service)` instead of `launcher.submit(spec)`; the
  request id is persisted the same way;
- `await_service` (instead of waiting for one cluster): the `serve up` request, then the service's
  status until its first `min_replicas` replicas pass SkyServe's readiness probe (the engine's health
  route, which needs no key) and the load balancer has an address; then STARTING with that URL. From
  there the usual readiness (a real completion with the key, through the load balancer) and READY;
- `take_down`: `launcher.service_down(name)` (the load balancer and every replica) instead of `down`.

Every replica is the cluster a single launch would be: one fit check sizes them all, and every replica
gets the endpoint's one API key as a secret env. The service name is the endpoint's cluster name;
SkyServe names the replicas' clusters `{service}-{replica id}` (reconcile knows them by that).

What differs from a single cluster, and is said in the thread:
- No cluster-side deadline: SkyServe's replicas belong to its controller (autostop does not apply), so
  the bot alone enforces lifetime, idle and cost, by `sky serve down`.
- TLS terminates at SkyServe's load balancer, with the team certificate (`tls_cert_file` /
  `tls_key_file`); SkyServe probes and proxies the replicas over plain HTTP. Without a team certificate
  the URL is plain HTTP: the load balancer's address is known only after `serve up`, so no certificate
  made at launch could name it.
- Price: the endpoint's price per hour is the per-replica price times its replicas (autoscale: times
  the most it may scale to), so cost, the policy's limits and the budget count every replica.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from core.endpoints import records, store
from core.endpoints.records import EndpointOptions, LaunchChoices, is_service, replica_bounds
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.engines.memory import readiness_path
from core.errors import InvalidRequest, UserFacingError
from core.launcher.base import Launcher, LaunchSpec, ServiceInfo, ServiceSpec, serves
from core.settings import Settings

log = logging.getLogger(__name__)

S = EndpointState
ACTOR = "bot"
_FAILED = {"FAILED", "FAILED_CLEANUP", "CONTROLLER_FAILED", "NO_REPLICA_FAILED"}


class Abandoned(Exception):
    """The endpoint left PROVISIONING under the service launch (stopped by a person)."""


# --- before launch ---------------------------------------------------------------------------------


def check_service_request(options: LaunchChoices, launcher: Launcher) -> None:
    """`up` with replicas on a launcher that cannot run services: refused, nothing recorded."""
    if not is_service(options) or serves(launcher):
        return
    raise InvalidRequest(
        f"`replicas=` and `autoscale=` run the endpoint as a SkyServe service, which needs the SkyPilot "
        f"launcher; this bot uses the `{launcher.name}` launcher. Leave them out for one endpoint, or ask an "
        "admin to set ENDPOINT_BOT_LAUNCHER=skypilot."
    )


def replica_multiplier(options: EndpointOptions) -> int:
    """How many replicas the price, the policy's GPU limits and the budget count: the most it may run."""
    return replica_bounds(options)[1]


def service_spec(settings: Settings, engine: str, options: EndpointOptions) -> ServiceSpec | None:
    """The SkyServe part of a launch for `options`; None for a single cluster."""
    if not is_service(options):
        return None
    low, high = replica_bounds(options)
    tls = settings.tls_cert_file is not None and settings.tls_key_file is not None
    return ServiceSpec(
        min_replicas=low,
        max_replicas=high,
        readiness_path=readiness_path(engine),
        target_qps_per_replica=options.target_qps if high > low else None,
        initial_delay_seconds=max(60, int(settings.readiness_deadline.total_seconds())),
        tls_certfile=str(settings.tls_cert_file) if tls else None,
        tls_keyfile=str(settings.tls_key_file) if tls else None,
    )


# --- launch ----------------------------------------------------------------------------------------


def submit(launcher: Any, spec: LaunchSpec) -> str:
    """Start the launch: a service (`submit_service`) when the spec has one, else a cluster."""
    if spec.service is None:
        return launcher.submit(spec)
    return launcher.submit_service(spec, spec.service)


def await_service(ctx: Any, endpoint_id: int, spec: LaunchSpec, request_id: str) -> EndpointView:
    """Wait for `serve up`, then for `min_replicas` ready replicas and the load balancer's URL; STARTING.

    `ctx` is the flows' FlowContext. Raises `Abandoned` when the endpoint was stopped meanwhile, and a
    UserFacingError when the service failed or the readiness deadline passed."""
    assert spec.service is not None
    launcher, deadline = ctx.launcher, ctx.settings.readiness_deadline.total_seconds()
    launcher.wait(request_id, timeout=deadline)
    view = _still_provisioning(ctx, endpoint_id)
    ctx.post(view, service_notes(view, spec.service))
    info = _wait_for_replicas(ctx, view, spec.service, deadline=time.monotonic() + deadline)
    url = info.endpoint or ""
    with ctx.database.session() as session:
        endpoint = _load_provisioning(session, endpoint_id)
        _set_replicas(endpoint, info)
        message = f"service up ({info.replicas_ready} replicas ready); load balancer at {url}"
        store.transition(session=session, endpoint=endpoint, to=S.STARTING, actor=ACTOR, message=message,
                         now=ctx.clock.now(), changes={"url": url})  # fmt: skip
        view = store.to_view(endpoint)
    ctx.post(
        view, f"{view.replicas_text} behind SkyServe's load balancer at `{url}`; sending a test completion."
    )
    ctx.changed(view)
    return view


def _wait_for_replicas(ctx: Any, view: EndpointView, service: ServiceSpec, *, deadline: float) -> ServiceInfo:
    """Poll the service until enough replicas are READY and it has an endpoint; post each new count."""
    seen = -1
    poll = max(ctx.settings.readiness_poll_max, 0.01)  # the controller itself probes every few seconds
    while True:
        info = ctx.launcher.service_status(view.cluster_name)
        if info is None:
            raise UserFacingError(
                f"The service `{view.cluster_name}` disappeared while starting; run `up` again."
            )
        if info.status in _FAILED:
            raise UserFacingError(
                f"SkyServe reports the service `{view.cluster_name}` {info.status} "
                f"({info.replicas_ready}/{info.replicas_total} replicas ready); `sky serve logs "
                f"{view.cluster_name}` says why. Run `up` again."
            )
        if info.replicas_ready != seen:
            seen = info.replicas_ready
            record_replicas(ctx, view.id, info)
            ctx.post(view, f"{seen} of {service.min_replicas} replicas ready (SkyServe: {info.status}).")
        if info.replicas_ready >= service.min_replicas and info.endpoint:
            return info
        if time.monotonic() >= deadline:
            raise UserFacingError(
                f"Only {info.replicas_ready} of {service.min_replicas} replicas became ready within "
                f"{ctx.settings.readiness_deadline}; the service is being torn down. Try fewer replicas or "
                "other GPUs."
            )
        _still_provisioning(ctx, view.id)
        ctx.sleep(poll)


def service_notes(view: EndpointView, service: ServiceSpec) -> str:
    """What the thread is told about a service: its shape, who enforces limits, and TLS."""
    if service.autoscales:
        shape = (
            f"SkyServe autoscales between {service.min_replicas} and {service.max_replicas} replicas at "
            f"{service.target_qps_per_replica:g} requests/s per replica"
        )
    else:
        shape = f"SkyServe runs {service.min_replicas} replicas"
    tls = (
        "TLS ends at SkyServe's load balancer with the team certificate (it must name the address the "
        "load balancer gets, or the test completion fails verification); the replicas behind it are "
        "probed and proxied over plain HTTP."
        if service.tls_certfile
        else "The URL will be plain HTTP: no team certificate is set (ENDPOINT_BOT_TLS_CERT_FILE / "
        "ENDPOINT_BOT_TLS_KEY_FILE), and the load balancer's address is only known after `serve up`, so "
        "no certificate made at launch could name it. Anyone on the path can read traffic and the key."
    )
    return (
        f"{shape}, each one {view.accelerators} with the same API key. Services have no cluster autostop: "
        f"the bot enforces the lifetime, idle timeout and cost cap itself with `sky serve down`. {tls}"
    )


def _still_provisioning(ctx: Any, endpoint_id: int) -> EndpointView:
    with ctx.database.session() as session:
        return store.to_view(_load_provisioning(session, endpoint_id))


def _load_provisioning(session: Any, endpoint_id: int) -> Any:
    endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
    if endpoint is None or endpoint.state != S.PROVISIONING:
        raise Abandoned("stopped while the service was starting")
    return endpoint


def _set_replicas(endpoint: Any, info: ServiceInfo) -> bool:
    """Store the ready count and the replicas' URLs; True when they changed."""
    _, lifecycle = records.options_from_json(endpoint.options)
    now = replace(lifecycle, replicas_ready=info.replicas_ready, replica_urls=info.replica_urls)
    if now == lifecycle:
        return False
    store.set_lifecycle(endpoint, now)
    return True


def record_replicas(ctx: Any, endpoint_id: int, info: ServiceInfo) -> EndpointView | None:
    """Store a live service's ready replicas (count and URLs); the new view when they changed."""
    with ctx.database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=endpoint_id)
        if endpoint is None or EndpointState(endpoint.state).is_terminal:
            return None
        return store.to_view(endpoint) if _set_replicas(endpoint, info) else None


# --- teardown --------------------------------------------------------------------------------------


def take_down(launcher: Any, name: str, *, service: bool) -> None:
    """Tear down what the endpoint runs on: the service (load balancer and replicas) or the cluster."""
    if service and serves(launcher):
        launcher.service_down(name)
    else:
        launcher.down(name)
