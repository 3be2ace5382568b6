"""The launcher port: what the lifecycle needs from "a cloud".

Implementations: `core.launcher.skypilot.SkyPilotLauncher` (production), `core.launcher.local.LocalLauncher`
(a process on this host), and `tests/fakes/fake_cloud.FakeCloud` (tests). Implementations may raise
SkyPilot's own exception classes (or any exception); the lifecycle turns them into sentences with
`core.launcher.errors.explain_launch_error`.

The names below are used by core.endpoints and the watchdog. `ServiceLauncher` adds SkyServe services
(several replicas behind a load balancer); launchers without it refuse `replicas=` at `up`. A launcher may also offer
`check_serving(cluster_name)`, raising a UserFacingError when the server on the cluster's port is not the
engine it launched; readiness calls it before sending the API key (the local launcher has one). For
cold-start timings (core.endpoints.timings) it may offer `engine_log(cluster_name) -> str` (the engine's
start-up output), `cluster_up_at(cluster_name) -> datetime | None` (when provisioning ended) and
`provisions = False` (no machines are provisioned: the local launcher).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ServiceSpec:
    """How a SkyServe service runs the endpoint's task: replicas, readiness probe, TLS at the load balancer.

    `min_replicas == max_replicas` is a fixed count; otherwise SkyServe autoscales between them at
    `target_qps_per_replica`. The readiness probe is the engine's health route, which needs no key, so
    the service spec never carries one. TLS (both files or neither) terminates at the load balancer:
    SkyServe probes and proxies the replicas over plain HTTP."""

    min_replicas: int
    max_replicas: int
    readiness_path: str  # vLLM /health, SGLang /ready
    target_qps_per_replica: float | None = None
    initial_delay_seconds: int = 1200  # weights download and load before the first probe must pass
    tls_certfile: str | None = None
    tls_keyfile: str | None = None

    @property
    def autoscales(self) -> bool:
        return self.max_replicas > self.min_replicas


@dataclass(frozen=True)
class ServiceInfo:
    """One service as SkyServe reports it (`sky serve status`)."""

    name: str
    status: (
        str  # SkyServe's ServiceStatus names: CONTROLLER_INIT, REPLICA_INIT, READY, NO_REPLICA, FAILED, ...
    )
    replicas_ready: int
    replicas_total: int
    endpoint: str | None  # `http(s)://HOST:PORT` of the load balancer, once known
    replica_clusters: tuple[str, ...] = ()  # the replicas' cluster names (`{service}-{replica id}`)
    replica_urls: tuple[str, ...] = ()  # `http://IP:PORT` of each READY replica's engine (for its /metrics)


@dataclass(frozen=True)
class TlsSpec:
    """How the engine serves HTTPS. Exactly one of the two is set. Private keys are never here: they travel
    in `LaunchSpec.secrets` (`ENDPOINT_TLS_CA_KEY` or `ENDPOINT_TLS_KEY`, see core.engines.tls_script)."""

    ca_cert_pem: str | None = None  # the endpoint's private CA: the cluster signs its own leaf with it
    cert_pem: str | None = None  # a team certificate (chain), served as it is


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start one endpoint's cluster."""

    cluster_name: str
    model: str
    engine: str  # "vllm" | "sglang"
    engine_argv: list[str]  # from core.engines; never contains a secret
    accelerators: list[str]  # acceptable per-node specs, e.g. ["A100-80GB:2"] (several = any of them)
    num_nodes: int
    port: int
    image: str  # pinned engine image, e.g. "vllm/vllm-openai:v0.33.0"
    envs: dict[str, str] = field(default_factory=dict)  # non-secret environment
    secrets: dict[str, str] = field(default_factory=dict)  # HF_TOKEN, the API key variable; never logged
    use_spot: bool = False
    disk_size_gb: int = 256
    cloud: str | None = None
    region: str | None = None
    autostop_minutes: int | None = None  # cluster-side hard deadline (autostop, wait_for none, down)
    weights_bucket: str | None = None
    service: ServiceSpec | None = None  # set: launch as a SkyServe service (`submit_service`), not a cluster
    tls: TlsSpec | None = None  # None: plain HTTP (`tls=no`)


@dataclass(frozen=True)
class ClusterInfo:
    """One cluster as the cloud reports it."""

    name: str
    status: str  # "INIT" | "UP" | "STOPPED" | "AUTOSTOPPING" (SkyPilot's ClusterStatus names)
    launched_at: datetime | None = None
    cloud: str | None = None
    region: str | None = None


class Launcher(Protocol):
    """A place clusters run. Every method may block (call from a worker thread, never a chat listener)."""

    name: str  # "skypilot" | "local" | "fake"

    def submit(self, spec: LaunchSpec) -> str:
        """Start launching; return a request id at once (persist it before waiting)."""

    def wait(self, request_id: str, *, timeout: float | None = None) -> None:
        """Block until the launch request finishes (cluster up, `run` started); raise its error."""

    def request_status(self, request_id: str) -> str | None:
        """PENDING/RUNNING/SUCCEEDED/FAILED/CANCELLED, or None when the id is unknown (forgotten)."""

    def request_statuses(self, request_ids: list[str]) -> dict[str, str | None]:
        """`request_status` of every id, in as few calls to the cloud as it allows (one where it can):
        the launch follower polls all launches in flight with it."""

    def endpoint_url(self, cluster_name: str, port: int, *, tls: bool = False) -> str:
        """`http://HOST:PORT` of the engine on a cluster that is up; `https://` when it serves TLS."""

    def list_clusters(self, prefix: str) -> list[ClusterInfo]:
        """Every cluster whose name starts with `prefix`."""

    def down(self, cluster_name: str) -> None:
        """Tear the cluster down and return once it is gone. Idempotent: no error if it does not exist."""

    def set_deadline(self, cluster_name: str, minutes: int) -> None:
        """(Re)set the cluster-side hard deadline: torn down `minutes` from now even if the bot is gone."""

    def cancel(self, request_id: str) -> None:
        """Cancel an in-flight launch request (best effort)."""


class ServiceLauncher(Launcher, Protocol):
    """A launcher that can also run an endpoint as a service: replicas behind a load balancer."""

    def submit_service(self, spec: LaunchSpec, service: ServiceSpec) -> str:
        """Start `sky serve up` of the spec's task as service `spec.cluster_name`; return its request id."""

    def service_status(self, name: str) -> ServiceInfo | None:
        """The service as the controller reports it; None when there is no such service."""

    def service_down(self, name: str) -> None:
        """Tear the service (load balancer and every replica) down; idempotent."""

    def list_services(self, prefix: str) -> list[ServiceInfo]:
        """Every service whose name starts with `prefix`."""


def serves(launcher: object) -> bool:
    """True when `launcher` can run services (has the `ServiceLauncher` methods)."""
    return all(
        callable(getattr(launcher, m, None)) for m in ("submit_service", "service_status", "service_down")
    )
