"""`FakeCloud`: the Launcher port implemented in memory, for tests and benchmarks of everything above it.

It keeps SkyPilot's promises as the bot relies on them: `submit` returns a request id at once and the
cluster appears as INIT; the launch finishes after a number of `tick()`s and/or real seconds (default:
at once) and the cluster turns UP; a failed launch raises SkyPilot's REAL exception classes
(`sky.exceptions`) from `wait` (or `submit`); finished requests can be forgotten (SkyPilot drops them
after 24 h); a preempted cluster simply vanishes from `list_clusters`.

Told to (`start_engines=True`), it starts a fake engine (tests/fakes/fake_engine.py) for every launched
cluster, with the spec's engine, model and API key, so `endpoint_url` points at something that really
answers. All engines share one event-loop thread, so a hundred launches stay cheap. A TLS spec makes
the engine serve HTTPS as the cluster's run script would: a leaf for 127.0.0.1 signed by the endpoint's
CA (from the spec's secret CA key), or the team certificate as it is, in 0600 files of a private folder.

Services (`submit_service`, SkyServe's `serve up`): one replica cluster per replica, named
`{service}-{n}` as SkyServe names them, each a cluster like a single launch's (same spec, same key, its
own fake engine when engines are started); an autoscaling service starts its minimum. The service's
endpoint is the first replica's engine URL (no load balancer process: the fake engines already speak the
protocol, and one replica answering is what readiness needs). `service_down` removes every replica.

Every call is recorded in `calls` (secrets are not copied into the record). Thread-safe.
"""

from __future__ import annotations

import itertools
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core import tls as certs
from core.engines.tls_script import TLS_CA_KEY_ENV, TLS_KEY_ENV
from core.launcher.base import ClusterInfo, LaunchSpec, ServiceInfo, ServiceSpec
from core.private_files import private_file
from tests.fakes.fake_engine import FakeEngine, FakeEngineFarm, startup_lines


def _sky_exceptions() -> Any:
    from sky import exceptions  # the real classes: what the bot must handle

    return exceptions


def no_capacity(
    gpu: str = "A100:1", cloud: str = "gcp", regions: tuple[str, ...] = ("us-central1",)
) -> Exception:
    """A `ResourcesUnavailableError` shaped like SkyPilot's after failing over across `regions`."""
    exc = _sky_exceptions()
    history = [
        exc.ResourcesUnavailableError(
            f"Failed to acquire resources in {region} for {{{gpu}}}: "
            f"The zone '{region}-a' does not have enough resources available to fulfill the request."
        )
        for region in regions
    ]
    return exc.ResourcesUnavailableError(
        f"Failed to provision all possible launchable resources. Relax the task's resource requirements: "
        f"{cloud}({gpu})",
        failover_history=history,
    )


def no_cloud_access() -> Exception:
    return _sky_exceptions().NoCloudAccessError("Cloud access is not set up. Run: \x1b[1msky check\x1b[0m")


def api_server_unreachable(url: str = "http://127.0.0.1:46580") -> Exception:
    return _sky_exceptions().ApiServerConnectionError(url)


def cloud_error(
    message: str = "Quota exceeded", provider: str = "gcp", error_type: str = "QUOTA_EXCEEDED"
) -> Exception:
    return _sky_exceptions().CloudError(message, provider, error_type)


@dataclass(frozen=True)
class Call:
    """One recorded call: the method name and its (secret-free) arguments."""

    method: str
    args: dict[str, Any]


@dataclass
class FakeCluster:
    name: str
    spec: LaunchSpec | None  # None: adopted (up without this fake having launched it)
    status: str = "INIT"
    launched_at: datetime | None = None
    up_at: datetime | None = None  # when it turned UP (SkyPilot rewrites `launched_at` then)
    deadline_minutes: int | None = None
    engine: FakeEngine | None = None
    ip: str = "10.0.0.1"


@dataclass
class FakeService:
    name: str
    spec: LaunchSpec
    service: ServiceSpec
    replicas: list[str] = field(default_factory=list)  # replica cluster names
    status: str = "CONTROLLER_INIT"


@dataclass
class FakeRequest:
    id: str
    kind: str  # "launch"
    cluster_name: str
    status: str = "PENDING"
    ticks_left: int = 0
    done_at: float = 0.0  # time.monotonic() at which the launch finishes
    error: BaseException | None = None
    keep_cluster_on_failure: bool = False
    forgotten: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class FakeCloud:
    """An in-memory cloud. Configure failures with the `fail_*` methods; move time with `tick()`."""

    name = "fake"

    def __init__(
        self,
        *,
        launch_ticks: int = 0,
        launch_seconds: float = 0.0,
        start_engines: bool = False,
        engines_process: bool = False,
        engine_options: dict[str, Any] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.launch_ticks = launch_ticks
        self.launch_seconds = launch_seconds
        self.start_engines = start_engines
        # True: the engines run in a process of their own (tests.fakes.engine_farm_process), as real
        # engines run on their own machines; their handles then have only `config`, `url`, `close()`.
        self.engines_process = engines_process
        self.engine_options = dict(engine_options or {})  # EngineConfig fields for engines it starts
        self._now = now or (lambda: datetime.now(UTC))
        self._cond = threading.Condition(threading.RLock())
        self._clusters: dict[str, FakeCluster] = {}
        self._requests: dict[str, FakeRequest] = {}
        self._unfinished: dict[
            str, FakeRequest
        ] = {}  # the requests `_advance` looks at (a thousand finished cost nothing)
        self._ids = itertools.count(1)
        self._ips = itertools.count(2)
        self._submit_failures: list[BaseException] = []
        self._wait_failures: list[tuple[BaseException, bool]] = []
        self._down_failures: dict[str | None, list[BaseException]] = {}
        self._farm: Any = None  # FakeEngineFarm, or RemoteEngineFarm with engines_process
        self._services: dict[str, FakeService] = {}
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self.calls: list[Call] = []
        self.services_unreachable: BaseException | None = None  # set: `list_services` raises it

    # -- configuring failures ----------------------------------------------------------------------

    def fail_next_submit(self, exc: BaseException) -> None:
        """The next `submit` raises `exc` before any request id exists (nothing is launched)."""
        with self._cond:
            self._submit_failures.append(exc)

    def fail_next_launch(self, exc: BaseException, *, keep_cluster: bool = False) -> None:
        """The next launch fails: its request ends FAILED and `wait` raises `exc`.

        `keep_cluster=True` leaves a half-provisioned INIT cluster behind (it must be torn down).
        """
        with self._cond:
            self._wait_failures.append((exc, keep_cluster))

    def fail_down(
        self, times: int = 1, *, cluster_name: str | None = None, exc: BaseException | None = None
    ) -> None:
        """The next `times` calls of `down` (for `cluster_name`, or any) raise `exc` (default: a CloudError)."""
        error = (
            exc
            if exc is not None
            else cloud_error("Failed to terminate instances", error_type="TERMINATE_FAILED")
        )
        with self._cond:
            self._down_failures.setdefault(cluster_name, []).extend([error] * times)

    def adopt(self, cluster_name: str, *, launched_at: datetime | None = None) -> None:
        """A cluster that is UP without this fake having launched it (stores seeded by benchmarks), so
        reconcile finds it where the store says it is."""
        with self._cond:
            self._clusters[cluster_name] = FakeCluster(
                name=cluster_name, spec=None, status="UP", launched_at=launched_at or self._now()
            )

    def lose(self, cluster_name: str) -> None:
        """The cluster vanishes (spot preemption, deleted by hand): gone from `list_clusters`, engine dead."""
        with self._cond:
            cluster = self._clusters.pop(cluster_name, None)
        if cluster is not None and cluster.engine is not None:
            cluster.engine.close()

    def forget_requests(self) -> None:
        """Finished requests are forgotten, as SkyPilot does after 24 h: `request_status` returns None."""
        with self._cond:
            for request in self._requests.values():
                if request.status in ("SUCCEEDED", "FAILED", "CANCELLED"):
                    request.forgotten = True

    def tick(self, n: int = 1) -> None:
        """Advance every in-flight launch by `n` ticks."""
        with self._cond:
            for request in self._requests.values():
                if request.status in ("PENDING", "RUNNING"):
                    request.ticks_left = max(0, request.ticks_left - n)
            self._advance()

    # -- inspecting ------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [call for call in self.calls if call.method == method]

    def cluster(self, name: str) -> FakeCluster | None:
        with self._cond:
            return self._clusters.get(name)

    def engine(self, cluster_name: str) -> FakeEngine | None:
        cluster = self.cluster(cluster_name)
        return cluster.engine if cluster else None

    def request(self, request_id: str) -> FakeRequest | None:
        with self._cond:
            return self._requests.get(request_id)

    # -- the Launcher port -------------------------------------------------------------------------

    def submit(self, spec: LaunchSpec) -> str:
        with self._cond:
            self._record("submit", cluster_name=spec.cluster_name, accelerators=list(spec.accelerators),
                         secret_names=sorted(spec.secrets), autostop_minutes=spec.autostop_minutes)  # fmt: skip
            if self._submit_failures:
                raise self._submit_failures.pop(0)
            request_id = f"fake-launch-{next(self._ids):06d}"
            request = FakeRequest(
                id=request_id,
                kind="launch",
                cluster_name=spec.cluster_name,
                status="RUNNING",
                ticks_left=self.launch_ticks,
                done_at=time.monotonic() + self.launch_seconds,
            )
            if self._wait_failures:
                request.error, request.keep_cluster_on_failure = self._wait_failures.pop(0)
            self._requests[request_id] = request
            self._unfinished[request_id] = request
            existing = self._clusters.get(spec.cluster_name)
            if existing is None:
                n = next(self._ips)
                self._clusters[spec.cluster_name] = FakeCluster(
                    name=spec.cluster_name,
                    spec=spec,
                    launched_at=self._now(),
                    deadline_minutes=spec.autostop_minutes,
                    ip=f"10.0.{n // 250}.{n % 250 + 1}",
                )
            self._advance()
            return request_id

    def wait(self, request_id: str, *, timeout: float | None = None) -> None:
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._record("wait", request_id=request_id)
            while True:
                self._advance()
                request = self._requests.get(request_id)
                if request is None or request.forgotten:
                    raise _sky_exceptions().RequestCancelled(f"Request {request_id} not found.")
                if request.status == "SUCCEEDED":
                    return
                if request.status == "FAILED":
                    assert request.error is not None
                    raise request.error
                if request.status == "CANCELLED":
                    raise _sky_exceptions().RequestCancelled(f"Request {request_id} cancelled")
                remaining = request.done_at - time.monotonic()
                step = 0.05 if request.ticks_left else max(0.001, min(remaining, 0.05))
                if end is not None:
                    if time.monotonic() >= end:
                        raise TimeoutError(f"launch request {request_id} still {request.status}")
                    step = min(step, max(0.001, end - time.monotonic()))
                self._cond.wait(step)

    def request_status(self, request_id: str) -> str | None:
        with self._cond:
            self._record("request_status", request_id=request_id)
            self._advance()
            request = self._requests.get(request_id)
            if request is None or request.forgotten:
                return None
            return request.status

    def request_statuses(self, request_ids: list[str]) -> dict[str, str | None]:
        """Every id's status in one call (as SkyPilot's `api_status` answers a batch)."""
        with self._cond:
            self._record("request_statuses", request_ids=list(request_ids))
            self._advance()
            out: dict[str, str | None] = {}
            for rid in request_ids:
                request = self._requests.get(rid)
                out[rid] = None if request is None or request.forgotten else request.status
            return out

    def endpoint_url(self, cluster_name: str, port: int, *, tls: bool = False) -> str:
        with self._cond:
            self._record("endpoint_url", cluster_name=cluster_name, port=port, tls=tls)
            self._advance()
            cluster = self._clusters.get(cluster_name)
            if cluster is None:
                raise _sky_exceptions().ClusterDoesNotExist(f"Cluster {cluster_name!r} does not exist.")
            if cluster.status != "UP":
                raise _sky_exceptions().ClusterNotUpError(
                    f"Cluster {cluster_name!r} is not up (status {cluster.status})."
                )
            if cluster.engine is not None:
                return cluster.engine.url
            return f"{'https' if tls else 'http'}://{cluster.ip}:{port}"

    def list_clusters(self, prefix: str) -> list[ClusterInfo]:
        with self._cond:
            self._record("list_clusters", prefix=prefix)
            self._advance()
            return [
                ClusterInfo(
                    name=c.name,
                    status=c.status,
                    launched_at=c.launched_at,
                    cloud=(c.spec.cloud if c.spec else None) or "gcp",
                    region=(c.spec.region if c.spec else None) or "us-central1",
                )
                for c in self._clusters.values()
                if c.name.startswith(prefix)
            ]

    def down(self, cluster_name: str) -> None:
        with self._cond:
            self._record("down", cluster_name=cluster_name)
            for key in (cluster_name, None):
                failures = self._down_failures.get(key)
                if failures:
                    raise failures.pop(0)
            cluster = self._clusters.pop(cluster_name, None)
            for request in self._requests.values():
                if request.cluster_name == cluster_name and request.status in ("PENDING", "RUNNING"):
                    request.status = "CANCELLED"
            self._cond.notify_all()
        if cluster is not None and cluster.engine is not None:
            cluster.engine.close()

    def set_deadline(self, cluster_name: str, minutes: int) -> None:
        with self._cond:
            self._record("set_deadline", cluster_name=cluster_name, minutes=minutes)
            cluster = self._clusters.get(cluster_name)
            if cluster is None:
                raise _sky_exceptions().ClusterDoesNotExist(f"Cluster {cluster_name!r} does not exist.")
            cluster.deadline_minutes = minutes

    def cluster_up_at(self, cluster_name: str) -> datetime | None:
        """When the cluster turned UP (SkyPilot: the cluster record's `launched_at` after provisioning)."""
        with self._cond:
            self._record("cluster_up_at", cluster_name=cluster_name)
            cluster = self._clusters.get(cluster_name)
            return None if cluster is None else cluster.up_at

    def engine_log(self, cluster_name: str) -> str:
        """The fake engine's start-up lines, as `sky.tail_logs` returns the job log ('' without an engine)."""
        with self._cond:
            self._record("engine_log", cluster_name=cluster_name)
            cluster = self._clusters.get(cluster_name)
            engine = None if cluster is None else cluster.engine
        return "" if engine is None else "\n".join(startup_lines(engine.config)) + "\n"

    def cancel(self, request_id: str) -> None:
        with self._cond:
            self._record("cancel", request_id=request_id)
            request = self._requests.get(request_id)
            if request is not None and request.status in ("PENDING", "RUNNING"):
                request.status = "CANCELLED"  # a cancelled launch may leave an INIT cluster behind
            self._cond.notify_all()

    # -- services (SkyServe) -----------------------------------------------------------------------

    def submit_service(self, spec: LaunchSpec, service: ServiceSpec) -> str:
        with self._cond:
            self._record("submit_service", service_name=spec.cluster_name, min_replicas=service.min_replicas,
                         max_replicas=service.max_replicas, secret_names=sorted(spec.secrets),
                         readiness_path=service.readiness_path, tls=service.tls_certfile is not None)  # fmt: skip
            if self._submit_failures:
                raise self._submit_failures.pop(0)
            request_id = f"fake-serve-up-{next(self._ids):06d}"
            request = FakeRequest(id=request_id, kind="serve_up", cluster_name=spec.cluster_name,
                                  status="RUNNING", ticks_left=self.launch_ticks,
                                  done_at=time.monotonic() + self.launch_seconds)  # fmt: skip
            if self._wait_failures:
                request.error, request.keep_cluster_on_failure = self._wait_failures.pop(0)
            self._requests[request_id] = request
            self._unfinished[request_id] = request
            fake = self._services.setdefault(spec.cluster_name, FakeService(spec.cluster_name, spec, service))
            for n in range(len(fake.replicas) + 1, service.min_replicas + 1):
                name = f"{spec.cluster_name}-{n}"
                fake.replicas.append(name)
                self._clusters[name] = FakeCluster(
                    name=name, spec=spec, launched_at=self._now(), ip=f"10.1.0.{n}"
                )
            self._advance()
            return request_id

    def service_status(self, name: str) -> ServiceInfo | None:
        with self._cond:
            self._record("service_status", name=name)
            self._advance()
            fake = self._services.get(name)
            return None if fake is None else self._service_info(fake)

    def list_services(self, prefix: str) -> list[ServiceInfo]:
        with self._cond:
            self._record("list_services", prefix=prefix)
            if self.services_unreachable is not None:
                raise self.services_unreachable  # e.g. SkyPilot with no cloud enabled: no serve controller
            self._advance()
            return [self._service_info(f) for n, f in self._services.items() if n.startswith(prefix)]

    def service_down(self, name: str) -> None:
        with self._cond:
            self._record("service_down", name=name)
            for key in (name, None):
                failures = self._down_failures.get(key)
                if failures:
                    raise failures.pop(0)
            fake = self._services.pop(name, None)
            replicas = [self._clusters.pop(r, None) for r in (fake.replicas if fake else [])]
            for request in self._requests.values():
                if request.cluster_name == name and request.status in ("PENDING", "RUNNING"):
                    request.status = "CANCELLED"
            self._cond.notify_all()
        for cluster in replicas:
            if cluster is not None and cluster.engine is not None:
                cluster.engine.close()

    def lose_replica(self, name: str) -> None:
        """One replica of a service vanishes (preempted); SkyServe would replace it, this fake does not."""
        with self._cond:
            for fake in self._services.values():
                if name in fake.replicas:
                    fake.replicas.remove(name)
        self.lose(name)

    def service(self, name: str) -> FakeService | None:
        with self._cond:
            return self._services.get(name)

    def _service_info(self, fake: FakeService) -> ServiceInfo:
        replicas = [self._clusters[r] for r in fake.replicas if r in self._clusters]
        ready = [c for c in replicas if c.status == "UP"]
        endpoint = None
        if fake.status == "READY" and ready:
            first = ready[0]
            endpoint = (
                first.engine.url if first.engine is not None else f"http://{first.ip}:{first.spec.port}"
            )
        status = fake.status if ready or fake.status != "READY" else "NO_REPLICA"
        urls = tuple(c.engine.url if c.engine is not None else f"http://{c.ip}:{c.spec.port}" for c in ready)
        return ServiceInfo(name=fake.name, status=status, replicas_ready=len(ready), replicas_total=len(replicas),
                           endpoint=endpoint, replica_clusters=tuple(c.name for c in replicas),
                           replica_urls=urls)  # fmt: skip

    def close(self) -> None:
        """Stop every fake engine this cloud started."""
        with self._cond:
            farm, self._farm = self._farm, None
            clusters = list(self._clusters.values())
        for cluster in clusters:
            cluster.engine = None
        if farm is not None:
            farm.close()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def __enter__(self) -> FakeCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------

    def _record(self, method: str, **args: Any) -> None:
        self.calls.append(Call(method, args))

    def _advance(self) -> None:
        """Finish every launch whose ticks and seconds are used up (called with the lock held).

        Waiters are woken only when some request actually changed, so N waiting launches do not wake
        each other on every poll (a busy loop real SkyPilot waits do not have).
        """
        now = time.monotonic()
        changed = False
        up: list[FakeCluster] = []  # their engines start together, as a cloud's clusters come up at once
        for request in list(self._unfinished.values()):
            if request.status not in ("PENDING", "RUNNING"):
                del self._unfinished[request.id]  # cancelled
                continue
            if request.ticks_left > 0 or now < request.done_at:
                continue
            changed = True
            del self._unfinished[request.id]
            if request.kind == "serve_up":
                self._finish_service(request)
                continue
            cluster = self._clusters.get(request.cluster_name)
            if request.error is not None:
                request.status = "FAILED"
                if cluster is not None and not request.keep_cluster_on_failure:
                    del self._clusters[request.cluster_name]
                continue
            if cluster is None:  # torn down or lost while provisioning
                request.status = "FAILED"
                request.error = _sky_exceptions().ClusterDoesNotExist(
                    f"Cluster {request.cluster_name!r} disappeared while launching."
                )
                continue
            cluster.status = "UP"
            cluster.up_at = self._now()
            request.status = "SUCCEEDED"
            if self.start_engines and cluster.engine is None:
                up.append(cluster)
        self._start_engines(up)
        if changed:
            self._cond.notify_all()

    def _finish_service(self, request: FakeRequest) -> None:
        """A `serve up` request ends: the service and its replicas come up (or it fails)."""
        fake = self._services.get(request.cluster_name)
        if request.error is not None or fake is None:
            request.status = "FAILED"
            request.error = request.error or _sky_exceptions().ClusterDoesNotExist(
                "service gone while starting"
            )
            if fake is not None and not request.keep_cluster_on_failure:
                for name in fake.replicas:
                    self._clusters.pop(name, None)
                del self._services[fake.name]
            return
        request.status = "SUCCEEDED"
        fake.status = "READY"
        for name in fake.replicas:
            cluster = self._clusters.get(name)
            if cluster is None:
                continue
            cluster.status = "UP"
            if self.start_engines and cluster.engine is None:
                cluster.engine = self._start_engine(cluster.spec)

    def _start_engines(self, clusters: list[FakeCluster]) -> None:
        """Start the engines of clusters that just came up, all in one go (one command to a farm process)."""
        if not clusters:
            return
        if not self.engines_process:
            for cluster in clusters:
                cluster.engine = self._start_engine(cluster.spec)
            return
        from tests.fakes.engine_farm_process import RemoteEngineFarm

        if self._farm is None:
            self._farm = RemoteEngineFarm()
        engines = self._farm.add_many([self._remote_engine(c.spec) for c in clusters])
        for cluster, engine in zip(clusters, engines, strict=True):
            cluster.engine = engine

    def _start_engine(self, spec: LaunchSpec) -> FakeEngine:
        if self.engines_process:
            return self._farm_add(spec)
        if self._farm is None:
            self._farm = FakeEngineFarm()
        api_key = spec.secrets.get("ENDPOINT_API_KEY") or spec.secrets.get("VLLM_API_KEY")
        served = _served_model_name(spec.engine_argv) or spec.model
        options = {
            "engine": spec.engine,
            "model": spec.model,
            "served_model_name": served,
            "api_key": api_key,
        }
        options.update(self._tls_files(spec))
        options.update(self.engine_options)
        return self._farm.add(**options)

    def _farm_add(self, spec: LaunchSpec) -> Any:
        from tests.fakes.engine_farm_process import RemoteEngineFarm

        if self._farm is None:
            self._farm = RemoteEngineFarm()
        return self._farm.add_many([self._remote_engine(spec)])[0]

    def _remote_engine(self, spec: LaunchSpec) -> tuple[dict[str, Any], dict[str, str] | None]:
        """An engine for the farm process (its options, its TLS material): the farm issues the leaf and
        writes the certificate files."""
        api_key = spec.secrets.get("ENDPOINT_API_KEY") or spec.secrets.get("VLLM_API_KEY")
        options = {
            "engine": spec.engine,
            "model": spec.model,
            "served_model_name": _served_model_name(spec.engine_argv) or spec.model,
            "api_key": api_key,
            **self.engine_options,
        }
        tls = None
        if spec.tls is not None and spec.tls.ca_cert_pem:
            tls = {"ca_cert_pem": spec.tls.ca_cert_pem, "ca_key_pem": spec.secrets[TLS_CA_KEY_ENV]}
        elif spec.tls is not None:
            tls = {"cert_pem": spec.tls.cert_pem or "", "key_pem": spec.secrets[TLS_KEY_ENV]}
        return options, tls

    def _tls_files(self, spec: LaunchSpec) -> dict[str, str]:
        """The server certificate the cluster would make (see the module docstring), as engine options."""
        if spec.tls is None:
            return {}
        if spec.tls.ca_cert_pem:
            ca = certs.CertAuthority(cert_pem=spec.tls.ca_cert_pem, key_pem=spec.secrets[TLS_CA_KEY_ENV])
            cert, key = certs.issue_leaf(ca, ["127.0.0.1", "localhost"])
        else:
            cert, key = spec.tls.cert_pem or "", spec.secrets[TLS_KEY_ENV]
        if self._tls_dir is None:
            self._tls_dir = tempfile.TemporaryDirectory(prefix="fake-cloud-tls-")
        files = {}
        for option, text in (("ssl_certfile", cert), ("ssl_keyfile", key)):
            path = private_file(f"{self._tls_dir.name}/{spec.cluster_name}-{option}.pem")
            path.write_text(text)
            files[option] = str(path)
        return files


def _served_model_name(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--served-model-name" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--served-model-name="):
            return arg.split("=", 1)[1]
    return None
