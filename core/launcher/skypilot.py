"""The production launcher: SkyPilot 0.14's request-based Python SDK behind the `Launcher` port.

What it does: builds a `sky.Task` from a `LaunchSpec` (the engine's pinned docker image, so nothing is
installed at boot; a `run` that starts the engine with every value shell-quoted; the port; one or several
acceptable GPU types; spot or on-demand; disk; `infra=` cloud/region; secrets for the HF token and the
endpoint's API key; an optional MOUNT_CACHED bucket as a persistent Hugging Face cache) and launches it
with a cluster-side hard deadline (`idle_minutes_to_autostop=N, wait_for=none, down=True`), so the
cluster tears itself down even if the bot never comes back.

`import sky` takes ~1.5 s: it happens inside methods, never at module import (a test checks).
Every call here may block on the SkyPilot API server: call from the bot's worker threads only.
Exceptions are SkyPilot's own; `core.launcher.errors.explain_launch_error` turns them into sentences.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.engines.script import API_KEY_ENV, VLLM_API_KEY_ENV, launch_script
from core.launcher.base import ClusterInfo, LaunchSpec
from core.settings import Settings

if TYPE_CHECKING:
    import sky

log = logging.getLogger(__name__)

HF_CACHE_MOUNT = "/hf-cache"
_FINISHED = {"SUCCEEDED", "FAILED", "CANCELLED"}
_POLL_SECONDS = 5.0


def engine_run_script(spec: LaunchSpec) -> str:
    """The task's `run`: starts the engine in the foreground, every value shell-quoted.

    `core.engines.launch_script` writes the line; the API key is never in it (vLLM reads `VLLM_API_KEY`,
    SGLang reads it from a 0600 `--config` YAML file the shell writes on the cluster, so `ps` never shows it).
    """
    return launch_script(spec.engine_argv, engine=spec.engine, api_key_env=API_KEY_ENV)


def task_secrets(spec: LaunchSpec) -> dict[str, str]:
    """The secrets the task carries: the spec's, plus VLLM_API_KEY for vLLM (same value as the API key)."""
    secrets = dict(spec.secrets)
    if spec.engine == "vllm" and API_KEY_ENV in secrets:
        secrets.setdefault(VLLM_API_KEY_ENV, secrets[API_KEY_ENV])
    return secrets


def task_envs(spec: LaunchSpec) -> dict[str, str]:
    envs = dict(spec.envs)
    if spec.weights_bucket:
        envs.setdefault("HF_HOME", HF_CACHE_MOUNT)
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


class SkyPilotLauncher:
    """Clusters through SkyPilot's API server (local or `SKYPILOT_API_SERVER_ENDPOINT`)."""

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

    def endpoint_url(self, cluster_name: str, port: int) -> str:
        import sky

        endpoints = sky.get(sky.endpoints(cluster_name, port))
        address = endpoints.get(port) or endpoints.get(str(port))
        if not address:
            raise LookupError(f"cluster {cluster_name} exposes no endpoint for port {port}")
        address = str(address)
        return address if "://" in address else f"http://{address}"

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
