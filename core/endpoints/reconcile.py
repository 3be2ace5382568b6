"""Reconcile: make the store and the cloud agree, on start-up and every `settings.reconcile_interval`.

The one sweep that guarantees no cluster is left billing unknown:
- a cluster with the bot's prefix that no endpoint knows, or whose endpoint is terminal (STOPPED,
  FAILED, LOST mean "the cluster is gone"), is torn down; an event records it on a known endpoint and
  a WARNING log line records an unknown one;
- a READY endpoint whose cluster is gone from the cloud (or stopped under it: spot preemption) becomes
  LOST, with an event, a thread post and a DM to its owner;
- a claim whose owner process is gone (same host: its pid no longer runs that process) is ended at once,
  so the work below is taken over on the first sweep after a crash rather than once the claim lapses;
- a launch in flight that no process follows (nothing running here, claim free or expired) is resumed:
  `flows.resume_launch` follows its request id or looks for its cluster by name;
- a STOPPING endpoint nobody is tearing down gets its teardown retried;
- services (replicas, core.endpoints.service_flow): their replica clusters (`{service}-{n}`) belong to
  the service and are never torn down as unknown clusters; a READY endpoint whose service is gone (or
  failed) becomes LOST; a service no live endpoint owns is taken down (`serve down`) like a stray
  cluster; a live service's ready replica count is stored for the card.

Order matters: the cloud is listed BEFORE the store is read. `up` commits the endpoint row before it
asks the cloud for anything, so every cluster in the listing already has a committed row by the time we
read the store; reading the store first could mistake a brand-new cluster for an unknown one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from core import claims
from core.endpoints import flows, messaging, service_flow, store
from core.endpoints.flows import FlowContext
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView
from core.launcher.base import ClusterInfo, ServiceInfo, serves

log = logging.getLogger(__name__)

S = EndpointState
ACTOR = "reconcile"
_GONE_STATUSES = {"STOPPED"}  # a stopped cluster no longer serves; under an endpoint it means preempted
_SERVICE_GONE = {"FAILED", "FAILED_CLEANUP", "CONTROLLER_FAILED", "NO_REPLICA_FAILED", "SHUTTING_DOWN"}


@dataclass
class ReconcileReport:
    """What one sweep did (for logs, tests and the CLI)."""

    clusters_seen: int = 0
    torn_down_unknown: list[str] = field(default_factory=list)
    torn_down_terminal: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    teardowns_retried: list[str] = field(default_factory=list)
    orphans_taken_over: list[str] = field(default_factory=list)  # "kind:endpoint_id" of dead owners
    errors: list[str] = field(default_factory=list)


def reconcile(ctx: FlowContext) -> ReconcileReport:
    """One sweep. Never raises for a single endpoint's trouble; the report lists errors."""
    report = ReconcileReport()
    clusters = ctx.launcher.list_clusters(ctx.settings.cluster_prefix)  # first: see the module docstring
    with ctx.database.session() as session:
        live = store.list_views(session=session, states=S.live())
    live_services = {v.cluster_name for v in live if v.is_service}
    listed = _services(ctx, needed=bool(live_services), report=report)
    services = listed or {}
    replicas = {r for s in services.values() for r in s.replica_clusters}
    # A service's replicas are its own (torn down with it), never unknown clusters; a live service's
    # replicas are known by name even when SkyServe could not be asked.
    owners = {*services, *live_services}
    in_cloud = {c.name: c for c in clusters if c.name not in replicas and not _replica_of(c.name, owners)}
    report.clusters_seen = len(clusters)

    with ctx.database.session() as session:
        # Work whose owner process is gone (crashed on this host) is taken over now, not once its claim lapses.
        for claim in claims.expire_orphans(session=session, now=ctx.clock.now()):
            log.warning(
                "reconcile: %s of endpoint %s was held by %s, which is no longer running; taking it over",
                claim.kind,
                claim.endpoint_id,
                claim.owner,
            )
            report.orphans_taken_over.append(f"{claim.kind}:{claim.endpoint_id}")
    with ctx.database.session() as session:
        live_clusters = {v.cluster_name for v in live}
        others = {}
        for name in [*in_cloud, *services]:
            if name not in live_clusters:
                endpoint = store.get_by_cluster(session=session, cluster_name=name)
                others[name] = store.to_view(endpoint) if endpoint is not None else None

    for view in live:
        try:
            if view.is_service:
                if listed is not None:  # unknown when SkyServe could not be asked: nothing is judged
                    _reconcile_service(ctx, view, services.get(view.cluster_name), report)
            else:
                _reconcile_live(ctx, view, in_cloud.get(view.cluster_name), report)
        except Exception as exc:
            log.exception("reconcile of endpoint %s failed", view.name)
            report.errors.append(f"{view.name}: {exc}")

    for name, view in others.items():
        try:
            _tear_down_stray(ctx, name, view, report, service=name in services)
        except Exception as exc:
            log.error("reconcile could not tear down stray cluster %s: %s; will retry", name, exc)
            report.errors.append(f"{name}: {exc}")
    return report


def _reconcile_live(
    ctx: FlowContext, view: EndpointView, cluster: ClusterInfo | None, report: ReconcileReport
) -> None:
    if ctx.is_active(view.id):
        return  # this process is working on it right now
    if view.state == S.STOPPING:
        if ctx.schedule(flows.TEARDOWN, view.id, flows.teardown):
            report.teardowns_retried.append(view.name)
    elif view.state in S.launching():
        if view.state == S.REQUESTED and ctx.clock.now() - view.requested_at < ctx.claim_ttl:
            return  # just recorded by some process's `up`, which is about to claim its launch
        if ctx.schedule(flows.LAUNCH, view.id, flows.resume_launch):
            report.resumed.append(view.name)
    elif view.state == S.READY and (cluster is None or cluster.status in _GONE_STATUSES):
        _mark_lost(ctx, view, cluster_status=None if cluster is None else cluster.status)
        report.lost.append(view.name)


def _services(ctx: FlowContext, *, needed: bool, report: ReconcileReport) -> dict[str, ServiceInfo] | None:
    """The bot's SkyServe services by name (none when the launcher runs no services); None when SkyServe
    could not be asked. That is an error only while the store holds a live service: without one there is
    nothing to follow, and a SkyPilot with no cloud enabled (no serve controller either) answers
    "Failed to refresh services status" on every sweep."""
    if not serves(ctx.launcher):
        return {}
    try:
        return {s.name: s for s in ctx.launcher.list_services(ctx.settings.cluster_prefix)}
    except Exception as exc:
        if needed:
            log.warning("reconcile could not list SkyServe services: %s", exc)
            report.errors.append(f"services: {exc}")
        else:
            log.info("reconcile: no live service, and SkyServe could not be asked (%s)", exc)
        return None


def _replica_of(cluster: str, services: Iterable[str]) -> bool:
    """`{service}-{n}`: a replica cluster of a known service (also one its listing does not show yet)."""
    service, _, number = cluster.rpartition("-")
    return number.isdigit() and service in services


def _reconcile_service(
    ctx: FlowContext, view: EndpointView, service: ServiceInfo | None, report: ReconcileReport
) -> None:
    """A live endpoint that runs as a service: LOST when its service is gone; its replica count kept."""
    if ctx.is_active(view.id) or view.state != S.READY:
        _reconcile_live(ctx, view, ClusterInfo(name=view.cluster_name, status="UP"), report)  # same rules
        return
    if service is None or service.status in _SERVICE_GONE:
        _mark_lost(ctx, view, cluster_status=None if service is None else service.status)
        report.lost.append(view.name)
        return
    changed = service_flow.record_replicas(ctx, view.id, service)
    if changed is not None:
        ctx.changed(changed)


def _mark_lost(ctx: FlowContext, view: EndpointView, *, cluster_status: str | None) -> None:
    if cluster_status is not None:
        # It still exists (stopped disks bill too): a terminal endpoint must have no cluster behind it.
        service_flow.take_down(ctx.launcher, view.cluster_name, service=view.is_service)
    with ctx.database.session() as session:
        endpoint = store.get_endpoint(session=session, endpoint_id=view.id)
        if endpoint is None or endpoint.state != S.READY:
            return
        why = "gone from the cloud" if cluster_status is None else f"{cluster_status} in the cloud; torn down"
        store.transition(
            session=session,
            endpoint=endpoint,
            to=S.LOST,
            actor=ACTOR,
            message=f"cluster {view.cluster_name} {why}",
            now=ctx.clock.now(),
            changes={"stop_reason": f"cluster {why}"},
        )
        lost_view = store.to_view(endpoint)
    log.warning("endpoint %s is LOST: cluster %s %s", view.name, view.cluster_name, why)
    ctx.changed(lost_view)
    relaunch = lost_view.wants_relaunch
    ctx.post(lost_view, messaging.lost(lost_view, relaunch=relaunch))
    if not relaunch:  # otherwise the watchdog DMs the owner how the relaunch went (core.watchdog.runner)
        ctx.dm(lost_view.owner_id, messaging.lost(lost_view, relaunch=False))


def _tear_down_stray(
    ctx: FlowContext, name: str, view: EndpointView | None, report: ReconcileReport, *, service: bool = False
) -> None:
    if view is None:
        log.warning(
            "reconcile: %s %s is unknown to the store; tearing it down",
            "service" if service else "cluster",
            name,
        )
        service_flow.take_down(ctx.launcher, name, service=service)
        report.torn_down_unknown.append(name)
        return
    service_flow.take_down(ctx.launcher, name, service=service)
    with ctx.database.session() as session:
        store.record_event_for(
            session=session,
            endpoint_id=view.id,
            actor=ACTOR,
            kind="stray_teardown",
            message=f"cluster {name} still existed while the endpoint was {view.state}; torn down",
            now=ctx.clock.now(),
        )
    log.warning("reconcile: tore down cluster %s of %s endpoint %s", name, view.state, view.name)
    report.torn_down_terminal.append(name)
