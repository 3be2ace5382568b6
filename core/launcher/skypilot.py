"""The production launcher: SkyPilot 0.14's request-based Python SDK behind the `Launcher` port.

What it does: builds a `sky.Task` from a `LaunchSpec` (the engine's pinned docker image, so nothing is
installed at boot; a `run` that starts the engine with every value shell-quoted; the port; one or several
acceptable GPU types; spot or on-demand; disk; `infra=` cloud/region; secrets for the HF token and the
endpoint's API key (and, with TLS, the endpoint CA's key; its certificate is a plain env); an optional MOUNT_CACHED bucket as a persistent Hugging Face cache) and launches it
with a cluster-side hard deadline (`idle_minutes_to_autostop=N, wait_for=none, down=True`), so the
cluster tears itself down even if the bot never comes back.

`import sky` takes ~1.5 s: it happens inside methods, never at module import (a test checks).
Every call here may block on the SkyPilot API server: call from the bot's worker threads only.
Exceptions are SkyPilot's own; `core.launcher.errors.explain_launch_error` turns them into sentences.
"""

from __future__ import annotations

import io
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.engines import tls_script
from core.engines.script import API_KEY_ENV, VLLM_API_KEY_ENV, launch_script
from core.launcher.base import ClusterInfo, LaunchSpec, ServiceInfo, ServiceSpec
from core.settings import Settings

if TYPE_CHECKING:
    import sky

log = logging.getLogger(__name__)

HF_CACHE_MOUNT = "/hf-cache"
_FINISHED = {"SUCCEEDED", "FAILED", "CANCELLED"}
_POLL_SECONDS = 5.0
ENGINE_LOG_LINES = 5000  # right after READY the job log is the engine's start-up: a few hundred lines


def engine_run_script(spec: LaunchSpec) -> str:
    """The task's `run`: starts the engine in the foreground, every value shell-quoted.

    `core.engines.launch_script` writes the line; the API key is never in it (vLLM reads `VLLM_API_KEY`,
    SGLang reads it from a 0600 `--config` YAML file the shell writes on the cluster, so `ps` never shows it).
    With TLS, `core.engines.tls_script` first writes the server certificate and key (signing a leaf with
    the endpoint's CA, whose key is then deleted and unset) and the engine gets the two `--ssl-*` flags.
    """
    if spec.tls is None:
        return launch_script(spec.engine_argv, engine=spec.engine, api_key_env=API_KEY_ENV)
    preamble = tls_script.ca_preamble() if spec.tls.ca_cert_pem else tls_script.team_preamble()
    argv = [*spec.engine_argv, *tls_script.ssl_flags()]
    return "; ".join([*preamble, launch_script(argv, engine=spec.engine, api_key_env=API_KEY_ENV)])


def task_secrets(spec: LaunchSpec) -> dict[str, str]:
    """The secrets the task carries: the spec's, plus VLLM_API_KEY for vLLM (same value as the API key)."""
    secrets = dict(spec.secrets)
    if spec.engine == "vllm" and API_KEY_ENV in secrets:
        secrets.setdefault(VLLM_API_KEY_ENV, secrets[API_KEY_ENV])
    return secrets


def task_envs(spec: LaunchSpec) -> dict[str, str]:
    """The task's plain environment: the spec's, the HF cache, and the public half of its TLS."""
    envs = dict(spec.envs)
    if spec.weights_bucket:
        envs.setdefault("HF_HOME", HF_CACHE_MOUNT)
    if spec.tls is not None and spec.tls.ca_cert_pem:
        envs[tls_script.TLS_CA_CERT_ENV] = spec.tls.ca_cert_pem
    elif spec.tls is not None and spec.tls.cert_pem:
        envs[tls_script.TLS_CERT_ENV] = spec.tls.cert_pem
    return envs


def infra_of(spec: LaunchSpec) -> str | None:
    """SkyPilot's `infra=`: `gcp`, `gcp/us-central1`, `*/us-east-1` (any cloud, that region), or None."""
    if spec.cloud and spec.region:
        return f"{spec.cloud}/{spec.region}"
    if spec.cloud:
        return spec.cloud
    if spec.region:
        return f"*/{spec.region}"
    return None


def build_task(spec: LaunchSpec) -> sky.Task:
    """A real `sky.Task` for `spec` (imports sky)."""
    import sky

    resources = [
        sky.Resources(
            accelerators=accelerator,
            infra=infra_of(spec),
            use_spot=spec.use_spot,
            disk_size=spec.disk_size_gb,
            image_id=f"docker:{spec.image}",
            ports=[spec.port],
        )
        for accelerator in spec.accelerators
    ]
    if not resources:
        raise ValueError("a launch needs at least one accelerator type")
    file_mounts: dict[str, Any] | None = None
    if spec.weights_bucket:
        file_mounts = {HF_CACHE_MOUNT: {"source": spec.weights_bucket, "mode": "MOUNT_CACHED"}}
    task = sky.Task(
        name=spec.cluster_name,
        run=engine_run_script(spec),
        envs=task_envs(spec),
        secrets=task_secrets(spec),
        num_nodes=spec.num_nodes,
        file_mounts=file_mounts,
    )
    # Several acceptable GPU types: a set means "any of them" to the optimizer.
    task.set_resources(resources[0] if len(resources) == 1 else set(resources))
    return task


def service_config(service: ServiceSpec, *, port: int) -> dict[str, Any]:
    """The `service:` section of a SkyServe task YAML for `service` (no key: the probe needs none)."""
    config: dict[str, Any] = {
        "readiness_probe": {
            "path": service.readiness_path,
            "initial_delay_seconds": service.initial_delay_seconds,
        },
        "ports": port,
    }
    if service.autoscales:
        config["replica_policy"] = {
            "min_replicas": service.min_replicas,
            "max_replicas": service.max_replicas,
            "target_qps_per_replica": service.target_qps_per_replica,
        }
    else:
        config["replicas"] = service.min_replicas
    if service.tls_certfile and service.tls_keyfile:
        config["tls"] = {"certfile": service.tls_certfile, "keyfile": service.tls_keyfile}
    return config


def build_service_task(spec: LaunchSpec) -> sky.Task:
    """The task of `build_task` with its SkyServe `service` section (a real `sky.serve.SkyServiceSpec`).

    Each replica is the same cluster a single launch would be (one fit check sizes them all), with the
    same secrets, so every replica takes the endpoint's one API key. No cluster autostop: SkyServe
    replicas are the controller's to manage, so the bot enforces lifetime, idle and cost by `serve down`."""
    from sky import serve

    if spec.service is None:
        raise ValueError("a service launch needs spec.service")
    task = build_task(spec)
    task.set_service(serve.SkyServiceSpec.from_yaml_config(service_config(spec.service, port=spec.port)))
    return task


def service_info(record: Any) -> ServiceInfo:
    """A `ServiceInfo` from one record of `sky.serve.status`."""
    replicas = list(_field(record, "replica_info") or [])
    ready = sum(1 for r in replicas if _status_name(_field(r, "status")) == "READY")
    endpoint = _field(record, "endpoint")
    if endpoint and "://" not in str(endpoint):
        endpoint = f"http://{endpoint}"
    return ServiceInfo(
        name=str(_field(record, "name")),
        status=_status_name(_field(record, "status")),
        replicas_ready=ready,
        replicas_total=len(replicas),
        endpoint=str(endpoint) if endpoint and "None" not in str(endpoint) else None,
        replica_clusters=tuple(str(_field(r, "name")) for r in replicas if _field(r, "name")),
        replica_urls=tuple(
            _with_scheme(str(_field(r, "endpoint")))
            for r in replicas
            if _status_name(_field(r, "status")) == "READY" and _field(r, "endpoint")
        ),
    )


def _with_scheme(address: str) -> str:
    return address if "://" in address else f"http://{address}"


def _status_name(status: Any) -> str:
    return str(getattr(status, "value", None) or status or "").upper()


class _Services:
    """SkyServe through its request-based SDK (`sky.serve.up/status/down`), mixed into SkyPilotLauncher."""

    _cluster_of_request: dict[str, str]
    poll_seconds: float
    service_down_timeout: float = 900.0

    def submit_service(self, spec: LaunchSpec, service: ServiceSpec) -> str:
        from sky import serve

        if spec.service != service:
            import dataclasses

            spec = dataclasses.replace(spec, service=service)
        task = build_service_task(spec)
        # `serve.up` validates and optimizes the task first (two short requests it waits for), then
        # returns the id of the `serve up` request itself.
        request_id = str(serve.up(task, spec.cluster_name))
        self._cluster_of_request[request_id] = spec.cluster_name
        log.info("service %s submitted as request %s", spec.cluster_name, request_id)
        return request_id

    def service_status(self, name: str) -> ServiceInfo | None:
        import sky
        from sky import exceptions, serve

        try:
            records = sky.get(serve.status([name]))
        except exceptions.ClusterNotUpError:  # no serve controller: no service at all
            return None
        for record in records or []:
            if _field(record, "name") == name:
                return service_info(record)
        return None

    def list_services(self, prefix: str) -> list[ServiceInfo]:
        import sky
        from sky import exceptions, serve

        try:
            records = sky.get(serve.status(None))
        except exceptions.ClusterNotUpError:
            return []
        return [service_info(r) for r in records or [] if str(_field(r, "name")).startswith(prefix)]

    def service_down(self, name: str) -> None:
        import sky
        from sky import exceptions, serve

        try:
            sky.get(serve.down(name))
        except exceptions.ClusterNotUpError:
            log.info("service down %s: no serve controller, so no service", name)
        except RuntimeError as exc:  # SkyServe: "Service(s) ... does not exist"
            if "not exist" not in str(exc) and "not found" not in str(exc).lower():
                raise
            log.info("service down %s: already gone", name)
            return
        # `serve down` returns once the teardown is scheduled (SHUTTING_DOWN); gone means gone.
        end = time.monotonic() + self.service_down_timeout
        while self.service_status(name) is not None:
            if time.monotonic() >= end:
                raise TimeoutError(
                    f"service {name} is still shutting down after {self.service_down_timeout:.0f}s"
                )
            time.sleep(self.poll_seconds)


class SkyPilotLauncher(_Services):
    """Clusters (and SkyServe services, see `_Services`) through SkyPilot's API server (local or `SKYPILOT_API_SERVER_ENDPOINT`)."""

    name = "skypilot"

    def __init__(self, settings: Settings, *, poll_seconds: float = _POLL_SECONDS) -> None:
        self.settings = settings
        self.poll_seconds = poll_seconds
        self._cluster_of_request: dict[str, str] = {}

    def build_task(self, spec: LaunchSpec) -> sky.Task:
        return build_task(spec)

    def submit(self, spec: LaunchSpec) -> str:
        import sky
        from sky.skylet.autostop_lib import AutostopWaitFor

        task = build_task(spec)
        hard_deadline = spec.autostop_minutes is not None
        request_id = sky.launch(
            task,
            cluster_name=spec.cluster_name,
            retry_until_up=False,
            # wait_for=none: the deadline ignores the engine job (which never ends) and SSH sessions.
            idle_minutes_to_autostop=spec.autostop_minutes,
            wait_for=AutostopWaitFor.NONE if hard_deadline else None,
            down=True,
        )
        rid = str(request_id)
        self._cluster_of_request[rid] = spec.cluster_name
        log.info("launch of %s submitted as request %s", spec.cluster_name, rid)
        return rid

    def wait(self, request_id: str, *, timeout: float | None = None) -> None:
        import sky

        if timeout is not None:
            end = time.monotonic() + timeout
            while (status := self.request_status(request_id)) not in _FINISHED and status is not None:
                if time.monotonic() >= end:
                    raise TimeoutError(f"launch request {request_id} is still {status} after {timeout:.0f}s")
                time.sleep(min(self.poll_seconds, max(0.0, end - time.monotonic())))
        sky.get(request_id)  # returns (job_id, handle) or re-raises the server-side exception

    def request_status(self, request_id: str) -> str | None:
        import sky

        # `fields=` keeps request bodies (which hold the task's secrets) out of the answer; the server
        # ignores `fields` when request ids are given, so filter by cluster instead.
        payloads = sky.api_status(
            request_ids=None,
            all_status=True,
            fields=["request_id", "status", "cluster_name"],
            cluster_name=self._cluster_of_request.get(request_id),
        )
        for payload in payloads:
            if _field(payload, "request_id") == request_id:
                return _status_of(payload)
        return None

    def request_statuses(self, request_ids: list[str]) -> dict[str, str | None]:
        """Every id's status: ONE `api_status` call lists the requests not finished yet (with `fields`,
        so no request body, and no secret, comes back); an id missing from it has finished (or was
        forgotten) and is asked about on its own, once, as `request_status` does."""
        import sky

        ids = list(request_ids)
        if not ids:
            return {}
        payloads = sky.api_status(
            request_ids=None, all_status=False, fields=["request_id", "status", "cluster_name"]
        )
        unfinished = {str(_field(p, "request_id")): _status_of(p) for p in payloads}
        return {rid: unfinished[rid] if rid in unfinished else self.request_status(rid) for rid in ids}

    def endpoint_url(self, cluster_name: str, port: int, *, tls: bool = False) -> str:
        import sky

        endpoints = sky.get(sky.endpoints(cluster_name, port))
        address = endpoints.get(port) or endpoints.get(str(port))
        if not address:
            raise LookupError(f"cluster {cluster_name} exposes no endpoint for port {port}")
        address = str(address)
        scheme = "https" if tls else "http"
        if "://" in address:
            return f"{scheme}://{address.split('://', 1)[1]}"
        return f"{scheme}://{address}"

    def list_clusters(self, prefix: str) -> list[ClusterInfo]:
        import sky

        records = sky.get(sky.status(refresh=sky.StatusRefreshMode.AUTO))
        clusters = []
        for record in records:
            name = str(_field(record, "name"))
            if not name.startswith(prefix):
                continue
            status = _field(record, "status")
            launched = _field(record, "launched_at")
            clusters.append(
                ClusterInfo(
                    name=name,
                    status=getattr(status, "value", None) or str(status),
                    launched_at=datetime.fromtimestamp(launched, UTC) if launched else None,
                    cloud=_field(record, "cloud"),
                    region=_field(record, "region"),
                )
            )
        return clusters

    def down(self, cluster_name: str) -> None:
        import sky
        from sky import exceptions

        try:
            sky.get(sky.down(cluster_name))
        except exceptions.ClusterDoesNotExist:
            log.info("down %s: already gone", cluster_name)

    def set_deadline(self, cluster_name: str, minutes: int) -> None:
        import sky
        from sky.skylet.autostop_lib import AutostopWaitFor

        sky.get(sky.autostop(cluster_name, minutes, wait_for=AutostopWaitFor.NONE, down=True))

    def cluster_up_at(self, cluster_name: str) -> datetime | None:
        """When the cluster went UP: its record's `launched_at`, which SkyPilot rewrites when provisioning
        (machines, the engine image pulled, the runtime) has finished. None when it has no record."""
        import sky

        records = sky.get(sky.status(cluster_names=[cluster_name], refresh=sky.StatusRefreshMode.NONE))
        for record in records:
            launched = _field(record, "launched_at")
            if str(_field(record, "name")) == cluster_name and launched:
                return datetime.fromtimestamp(launched, UTC)
        return None

    def engine_log(self, cluster_name: str) -> str:
        """The engine's output so far: the cluster's latest job log (`sky.tail_logs`, not followed), for
        core.launcher.startup_log. The engine's own output; secrets never reach it (they are environment)."""
        import sky

        out = io.StringIO()
        sky.tail_logs(cluster_name, job_id=None, follow=False, tail=ENGINE_LOG_LINES, output_stream=out)
        return out.getvalue()

    def cancel(self, request_id: str) -> None:
        import sky

        try:
            sky.get(sky.api_cancel(request_id, silent=True))
        except Exception as exc:  # best effort: the request may have finished meanwhile
            log.warning("cancel of request %s failed: %s", request_id, type(exc).__name__)


def _status_of(payload: Any) -> str:
    status = str(_field(payload, "status") or "").upper()
    return "PENDING" if status == "WAITING" else status


def _field(record: Any, name: str) -> Any:
    if isinstance(record, dict):
        return record.get(name)
    return getattr(record, name, None)
