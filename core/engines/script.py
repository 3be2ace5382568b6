"""One shell line that starts an engine, for SkyPilot's `run` and the local launcher.

Every argv value is `shlex.quote`d. The API key is never in the text: the line refers to an
environment variable (`$ENDPOINT_API_KEY` by default) that the launcher sets as a secret, and stops
before starting anything when that variable is empty, so an endpoint can never come up unprotected.
vLLM reads its key from `VLLM_API_KEY`; SGLang has no such variable (its `ServerArgs.api_key` is
only a flag), and a flag would show the key to anyone running `ps` on the cluster. SGLang 0.5 reads
`--config FILE.yaml` (its `ConfigArgumentMerger` turns `api-key: ...` into `--api-key ...` in memory), so
the shell writes the key into a 0600 YAML file (`mktemp`, or the path the launcher gives) with the
`printf` builtin (never a process argv) and starts SGLang with `--config FILE`.

Multi-node argv from `core.engines.commands` holds three references this module expands per node:
`${SKYPILOT_NODE_RANK}` (SkyPilot sets it), `${ENDPOINT_HEAD_IP}` (first line of SkyPilot's
`SKYPILOT_NODE_IPS`) and `$ENDPOINT_NODE_ARGS` (vLLM's `--headless ...` on every node but the head).
The TLS flags' `${ENDPOINT_TLS_DIR}/server.pem|key` (core.engines.tls_script) are expanded too.
"""

from __future__ import annotations

import re
import shlex

from core.engines.commands import HEAD_IP_REF, NODE_ARGS_REF, NODE_RANK_REF

API_KEY_ENV = "ENDPOINT_API_KEY"  # what launchers put the endpoint's key in (as a secret)
VLLM_API_KEY_ENV = "VLLM_API_KEY"  # what vLLM itself reads

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# Exactly these shapes are left for the shell to expand; anything else is quoted literally.
_EXPANDED = re.compile(
    r"\$\{(SKYPILOT_NODE_RANK|ENDPOINT_HEAD_IP)\}(:[0-9]{1,5})?|\$\{ENDPOINT_TLS_DIR\}/server\.(pem|key)"
)
_KEY_FLAGS = ("--api-key", "--admin-api-key", "--config")
KEY_FILE_ENV = "ENDPOINT_KEY_FILE"  # the shell variable naming SGLang's key file on a cluster


def engine_key_env(engine: str) -> str | None:
    """The variable the engine reads its API key from (vLLM: VLLM_API_KEY); None when it reads none."""
    if engine == "vllm":
        return VLLM_API_KEY_ENV
    if engine == "sglang":
        return None
    raise ValueError(f"unknown engine {engine!r}; expected 'vllm' or 'sglang'")


def _render(token: str) -> str:
    if token == NODE_ARGS_REF:
        return token  # unquoted on purpose: empty on the head node, flags set below elsewhere
    if _EXPANDED.fullmatch(token):
        return f'"{token}"'
    return shlex.quote(token)


def _multinode_preamble(argv: list[str]) -> list[str]:
    uses = " ".join(argv)
    if HEAD_IP_REF not in uses and NODE_RANK_REF not in uses and NODE_ARGS_REF not in argv:
        return []
    lines = [
        ': "${SKYPILOT_NODE_RANK:?SkyPilot did not set SKYPILOT_NODE_RANK}"',
        "ENDPOINT_HEAD_IP=$(printf '%s\\n' \"$SKYPILOT_NODE_IPS\" | head -n1)",
    ]
    if NODE_ARGS_REF in argv:
        worker_args = "--headless"
        if "--data-parallel-size-local" in argv:
            local = argv[argv.index("--data-parallel-size-local") + 1]
            if not local.isdigit():
                raise ValueError("--data-parallel-size-local must be a number")
            worker_args += f" --data-parallel-start-rank $((SKYPILOT_NODE_RANK * {local}))"
        lines.append(
            f'if [ "$SKYPILOT_NODE_RANK" -eq 0 ]; then ENDPOINT_NODE_ARGS=; '
            f'else ENDPOINT_NODE_ARGS="{worker_args}"; fi'
        )
    return lines


def _sglang_key_file(api_key_env: str, key_file: str | None) -> tuple[str, str]:
    """The shell that writes SGLang's 0600 `--config` file holding the key, and the file's reference."""
    write = f'printf \'api-key: "%s"\\n\' "${api_key_env}"'
    if key_file is None:  # on a cluster: a fresh private file in the temp dir (mktemp makes it 0600)
        ref = f'"${KEY_FILE_ENV}"'
        make = f'{KEY_FILE_ENV}=$(mktemp "${{TMPDIR:-/tmp}}/endpoint-key-XXXXXX.yaml")'
        return f"{make} && {write} > {ref}", ref
    if not key_file.endswith((".yaml", ".yml")):
        raise ValueError("SGLang reads --config files only when they end in .yaml or .yml")
    ref = shlex.quote(key_file)
    return f"(umask 077 && rm -f {ref} && {write} > {ref})", ref


def launch_script(
    argv: list[str], *, engine: str, api_key_env: str = API_KEY_ENV, key_file: str | None = None
) -> str:
    """A single shell line running `argv` with the key taken from `$api_key_env` (never inlined).

    `key_file` (SGLang only): where to write the key's `--config` file; default a `mktemp` file.
    """
    if not argv:
        raise ValueError("argv is empty")
    if not _ENV_NAME.fullmatch(api_key_env):
        raise ValueError(f"{api_key_env!r} is not an environment variable name")
    if any(token in _KEY_FLAGS or token.startswith(tuple(f"{f}=" for f in _KEY_FLAGS)) for token in argv):
        raise ValueError("argv must not carry an API key; launch_script adds the key reference itself")
    key_ref = f'"${api_key_env}"'
    parts = [f': "${{{api_key_env}:?{api_key_env} must hold the endpoint API key}}"']
    parts += _multinode_preamble(argv)
    command = " ".join(_render(token) for token in argv)
    key_env = engine_key_env(engine)
    if key_env is None:
        write, ref = _sglang_key_file(api_key_env, key_file)
        parts.append(f"{write} && exec {command} --config {ref}")
    else:
        parts.append(f"{key_env}={key_ref} exec {command}")
    return "; ".join(parts)
