"""`FakeCloud`: the Launcher port implemented in memory, for tests and benchmarks of everything above it.

It keeps SkyPilot's promises as the bot relies on them: `submit` returns a request id at once and the
cluster appears as INIT; the launch finishes after a number of `tick()`s and/or real seconds (default:
at once) and the cluster turns UP; a failed launch raises SkyPilot's REAL exception classes
(`sky.exceptions`) from `wait` (or `submit`); finished requests can be forgotten (SkyPilot drops them
after 24 h); a preempted cluster simply vanishes from `list_clusters`.

Told to (`start_engines=True`), it starts a fake engine (tests/fakes/fake_engine.py) for every launched
cluster, with the spec's engine, model and API key, so `endpoint_url` points at something that really
answers. All engines share one event-loop thread, so a hundred launches stay cheap.

Every call is recorded in `calls` (secrets are not copied into the record). Thread-safe.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.launcher.base import ClusterInfo, LaunchSpec
from tests.fakes.fake_engine import FakeEngine, FakeEngineFarm


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
    deadline_minutes: int | None = None
    engine: FakeEngine | None = None
    ip: str = "10.0.0.1"


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
        engine_options: dict[str, Any] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.launch_ticks = launch_ticks
        self.launch_seconds = launch_seconds
        self.start_engines = start_engines
        self.engine_options = dict(engine_options or {})  # EngineConfig fields for engines it starts
        self._now = now or (lambda: datetime.now(UTC))
        self._cond = threading.Condition(threading.RLock())
        self._clusters: dict[str, FakeCluster] = {}
        self._requests: dict[str, FakeRequest] = {}
        self._ids = itertools.count(1)
        self._ips = itertools.count(2)
        self._submit_failures: list[BaseException] = []
        self._wait_failures: list[tuple[BaseException, bool]] = []
        self._down_failures: dict[str | None, list[BaseException]] = {}
        self._farm: FakeEngineFarm | None = None
        self.calls: list[Call] = []

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

    def endpoint_url(self, cluster_name: str, port: int) -> str:
        with self._cond:
            self._record("endpoint_url", cluster_name=cluster_name, port=port)
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
            return f"http://{cluster.ip}:{port}"

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

    def cancel(self, request_id: str) -> None:
        with self._cond:
            self._record("cancel", request_id=request_id)
            request = self._requests.get(request_id)
            if request is not None and request.status in ("PENDING", "RUNNING"):
                request.status = "CANCELLED"  # a cancelled launch may leave an INIT cluster behind
            self._cond.notify_all()

    def close(self) -> None:
        """Stop every fake engine this cloud started."""
        with self._cond:
            farm, self._farm = self._farm, None
            clusters = list(self._clusters.values())
        for cluster in clusters:
            cluster.engine = None
        if farm is not None:
            farm.close()

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
        for request in self._requests.values():
            if request.status not in ("PENDING", "RUNNING"):
                continue
            if request.ticks_left > 0 or now < request.done_at:
                continue
            changed = True
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
            request.status = "SUCCEEDED"
            if self.start_engines and cluster.engine is None:
                cluster.engine = self._start_engine(cluster.spec)
        if changed:
            self._cond.notify_all()

    def _start_engine(self, spec: LaunchSpec) -> FakeEngine:
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
        options.update(self.engine_options)
        return self._farm.add(**options)


def _served_model_name(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--served-model-name" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--served-model-name="):
            return arg.split("=", 1)[1]
    return None
