"""`render_task_yaml(spec)`: the SkyPilot task YAML a person could launch by hand, with every secret redacted.

SkyPilot's `Task.to_yaml_config()` prints `secrets:` in plaintext, so this never hands real secrets to
the task it renders: it builds the task from a copy of the spec whose secret values are `<redacted>`,
scrubs the environment, and then checks the final text for any secret value that slipped through.
`sky launch task.yaml --secret HF_TOKEN --secret ENDPOINT_API_KEY ...` fills them back in.

Used by the `endpoint-bot render` command. Needs SkyPilot installed (it builds a real `sky.Task`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from core.errors import LaunchFailed
from core.launcher.base import LaunchSpec
from core.launcher.errors import REDACTED, scrub_secrets
from core.launcher.skypilot import build_service_task, build_task  # import sky only when a task is built


def redacted_spec(spec: LaunchSpec) -> LaunchSpec:
    """A copy of `spec` whose secret values are `<redacted>` and whose envs carry no secret."""
    secret_values = [v for v in spec.secrets.values() if v]
    envs = {key: scrub_secrets(value, secret_values) for key, value in spec.envs.items()}
    argv = [scrub_secrets(arg, secret_values, assignments=False) for arg in spec.engine_argv]
    return dataclasses.replace(
        spec, secrets=dict.fromkeys(spec.secrets, REDACTED), envs=envs, engine_argv=argv
    )


def task_config(spec: LaunchSpec) -> dict[str, Any]:
    """The task as a YAML-ready dict (from a real `sky.Task`), secrets redacted."""
    try:
        task = (build_service_task if spec.service else build_task)(redacted_spec(spec))
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "sky":
            raise LaunchFailed(
                "Rendering a task needs SkyPilot: install it with `pip install 'endpoint-bot[sky]'`."
            ) from None
        raise
    if spec.autostop_minutes is not None and spec.service is None:  # SkyServe replicas take no autostop
        _with_deadline(task, spec.autostop_minutes)
    config = task.to_yaml_config()
    _tidy_image_ids(config)
    return config


def _with_deadline(task: Any, minutes: int) -> None:
    """The cluster-side hard deadline the bot sets at launch (`sky.launch(idle_minutes_to_autostop=...,
    wait_for=none, down=True)`), written into the task so a copy-pasted `sky launch` keeps it too."""
    autostop = {"idle_minutes": minutes, "down": True, "wait_for": "none"}
    resources = task.resources
    with_deadline = [r.copy(autostop=autostop) for r in resources]
    if isinstance(resources, list):
        task.set_resources(with_deadline)
    else:
        task.set_resources(with_deadline[0] if len(with_deadline) == 1 else set(with_deadline))


def render_task_yaml(spec: LaunchSpec) -> str:
    """The YAML text of the task for `spec`; no secret value survives anywhere in it."""
    config = task_config(spec)
    text = yaml.dump(config, Dumper=_TaskDumper, sort_keys=False, default_flow_style=False, width=1_000_000)
    # Belt and braces: nothing of the real secrets may be in the text, whatever path it took.
    text = scrub_secrets(text, [v for v in spec.secrets.values() if v], assignments=False)
    if spec.service is not None:
        return _service_header(spec, config) + text
    header = (
        f"# SkyPilot task for {spec.model} on {' or '.join(spec.accelerators)} (cluster {spec.cluster_name}).\n"
        f"# Secrets are redacted: pass them at launch, e.g.\n"
        f"#   sky launch -c {spec.cluster_name} task.yaml "
        + " ".join(f"--secret {name}" for name in sorted(config.get("secrets", {})))
        + "\n"
    )
    if spec.tls is not None and spec.tls.ca_cert_pem:
        header += (
            "# TLS: the run script signs the cluster's own certificate with the CA in ENDPOINT_TLS_CA_CERT "
            "(the bot makes\n#   a new CA per launch; by hand, use your own CA's certificate and pass its key "
            "as --secret ENDPOINT_TLS_CA_KEY),\n#   deletes the CA key, and starts the engine with "
            "--ssl-keyfile/--ssl-certfile.\n"
        )
    elif spec.tls is not None:
        header += (
            "# TLS: the team certificate (ENDPOINT_TLS_CERT) with its key as --secret ENDPOINT_TLS_KEY.\n"
        )
    if spec.autostop_minutes is not None:
        header += (
            f"# Hard deadline: the cluster tears itself down {spec.autostop_minutes} minutes after launch "
            "(resources.autostop with wait_for: none), as the bot's own launches do.\n"
        )
    return header + text


def _service_header(spec: LaunchSpec, config: dict[str, Any]) -> str:
    assert spec.service is not None
    service = spec.service
    replicas = (
        f"{service.min_replicas}-{service.max_replicas} replicas (autoscaling at "
        f"{service.target_qps_per_replica:g} requests/s per replica)"
        if service.autoscales
        else f"{service.min_replicas} replicas"
    )
    secrets = " ".join(f"--secret {name}" for name in sorted(config.get("secrets", {})))
    return (
        f"# SkyServe service for {spec.model}: {replicas} of {' or '.join(spec.accelerators)} "
        f"(service {spec.cluster_name}).\n"
        f"# Secrets are redacted: pass them at launch, e.g.\n"
        f"#   sky serve up -n {spec.cluster_name} service.yaml {secrets}\n"
        "# No autostop: the bot tears the service down itself (`sky serve down`) at its lifetime, idle "
        "timeout or cost cap.\n"
    )


class _TaskDumper(yaml.SafeDumper):
    """Multi-line strings (the run script, a certificate) as `|` blocks; nothing folded, so the run line
    reads (and copies) as the shell will see it."""


def _str_block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_TaskDumper.add_representer(str, _str_block)


def _tidy_image_ids(config: dict[str, Any]) -> None:
    """to_yaml_config writes `image_id: {null: docker:...}`; a hand-written file says `image_id: docker:...`."""
    resources = config.get("resources") or {}
    entries = resources.get("any_of") or resources.get("ordered") or [resources]
    for entry in entries:
        image = entry.get("image_id")
        if isinstance(image, dict) and list(image) == [None]:
            entry["image_id"] = image[None]
    if "any_of" in resources:
        resources["any_of"] = sorted(resources["any_of"], key=lambda e: str(e.get("accelerators")))
