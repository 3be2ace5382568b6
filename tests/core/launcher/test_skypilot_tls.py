"""Contract: the real `sky.Task` of a TLS launch carries the CA key only in its secrets; its run script
never prints it; `render` shows what TLS adds with the key redacted; the URL is https."""

from __future__ import annotations

import re
from typing import Any

import yaml

from core import tls as certs
from core.engines.tls_script import TLS_CA_CERT_ENV, TLS_CA_KEY_ENV, TLS_CERT_ENV, TLS_KEY_ENV
from core.launcher.base import LaunchSpec, TlsSpec
from core.launcher.render import render_task_yaml
from core.launcher.skypilot import API_KEY_ENV, build_task

KEY = "epk-abcdefghijklmnopqrstuvwxyz0123456789"
CA = certs.new_ca("qwen")


def _spec(engine: str = "vllm", **kw: Any) -> LaunchSpec:
    argv = (
        ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct", "--port", "8000"]
        if engine == "vllm"
        else ["python", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen2.5-7B-Instruct"]
    )
    fields: dict[str, Any] = {
        "cluster_name": "epb-qwen-1a2b",
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "engine": engine,
        "engine_argv": argv,
        "accelerators": ["A100-80GB:1"],
        "num_nodes": 1,
        "port": 8000,
        "image": "vllm/vllm-openai:v0.33.0",
        "secrets": {API_KEY_ENV: KEY, TLS_CA_KEY_ENV: CA.key_pem},
        "autostop_minutes": 480,
        "tls": TlsSpec(ca_cert_pem=CA.cert_pem),
    }
    fields.update(kw)
    return LaunchSpec(**fields)


def _key_body() -> list[str]:
    return CA.key_pem.strip().splitlines()[1:-1]


def test_the_ca_key_is_only_a_secret_of_the_real_task() -> None:
    for engine in ("vllm", "sglang"):
        task = build_task(_spec(engine))
        assert task.secrets[TLS_CA_KEY_ENV].get_secret_value() == CA.key_pem
        assert task.envs[TLS_CA_CERT_ENV] == CA.cert_pem, "the CA certificate is public: a plain env"
        assert TLS_CA_KEY_ENV not in task.envs
        assert all(line not in task.run for line in _key_body())
        assert all(line not in str(task.envs) for line in _key_body())
        assert "--ssl-keyfile" in task.run and "--ssl-certfile" in task.run
        config = task.to_yaml_config()
        outside = {k: v for k, v in config.items() if k != "secrets"}
        assert all(line not in yaml.safe_dump(outside) for line in _key_body())


def test_the_run_script_never_prints_the_ca_key() -> None:
    run = build_task(_spec()).run
    uses = [m.start() for m in re.finditer(re.escape(f"${TLS_CA_KEY_ENV}"), run)]
    assert uses, "the script reads the key from its variable"
    for at in uses:
        rest = run[at:].split(";", 1)[0].split("&&", 1)[0]
        # Either the `:?` presence check, or printf into the 0600 file: never to stdout/stderr.
        assert rest.startswith(f"${TLS_CA_KEY_ENV}:?") or re.search(r'" > "\$ENDPOINT_TLS_DIR"/ca\.key', rest)
    assert "set -x" not in run and "echo" not in run
    assert f"unset {TLS_CA_KEY_ENV}" in run
    assert run.index(f"unset {TLS_CA_KEY_ENV}") < run.index("exec "), "gone before the engine starts"
    assert run.index('rm -f "$ENDPOINT_TLS_DIR"/ca.key') < run.index("exec ")


def test_team_certificate_travels_as_env_and_secret() -> None:
    team = certs.new_ca("team")
    cert, key = certs.issue_leaf(team, ["api.example.com"])
    task = build_task(_spec(secrets={API_KEY_ENV: KEY, TLS_KEY_ENV: key}, tls=TlsSpec(cert_pem=cert)))
    assert task.envs[TLS_CERT_ENV] == cert and task.secrets[TLS_KEY_ENV].get_secret_value() == key
    assert TLS_CA_CERT_ENV not in task.envs and "openssl" not in task.run
    assert key.splitlines()[1] not in task.run


def test_render_shows_what_tls_adds_with_the_key_redacted() -> None:
    text = render_task_yaml(_spec())
    assert all(line not in text for line in _key_body())
    config = yaml.safe_load(text.split("\n", 1)[1] if text.startswith("#") else text)
    assert config["secrets"][TLS_CA_KEY_ENV] == "<redacted>"
    assert config["envs"][TLS_CA_CERT_ENV] == CA.cert_pem
    assert f"--secret {TLS_CA_KEY_ENV}" in text and "--ssl-certfile" in text
    assert "# TLS:" in text


def test_no_tls_keeps_the_plain_task() -> None:
    task = build_task(_spec(tls=None, secrets={API_KEY_ENV: KEY}))
    assert "ssl" not in task.run and TLS_CA_CERT_ENV not in task.envs
