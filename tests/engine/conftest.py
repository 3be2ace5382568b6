"""Fixtures for the real-parts suite (`make test-engine`, marker `real_engine`).

- `engine_venv`: the engine's own venv (`make install-engine`: vLLM's CPU build, never the bot's
  .venv), from ENDPOINT_BOT_TEST_ENGINE_VENV or ./.venv-engine; the suite is skipped without it.
- `tiny_model`: a random-weight Llama written once per session by that venv's Python
  (tests/engine/tiny_model.py).
- `engine_env(tmp_path, **extra)`: the environment of an `endpoint-bot` process on the local launcher
  with the real `vllm` as its engine (through `env VLLM_CPU_KVCACHE_SPACE=... vllm`, so the engine's
  own settings ride on its command line, not on the bot's environment), its own engine port, and
  short readiness / watchdog settings.
- No process left behind: tests/bot/conftest.py's check, for the engines these tests start.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bot.conftest import no_process_left_behind, pytest_runtest_makereport
from tests.fakes.local_bot import ROOT, local_bot_env

__all__ = ["no_process_left_behind", "pytest_runtest_makereport"]

ENGINE_VENV_ENV = "ENDPOINT_BOT_TEST_ENGINE_VENV"
KV_CACHE_GIB = 1  # VLLM_CPU_KVCACHE_SPACE: the tiny model needs far less; the default takes RAM by share

EngineEnv = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def engine_venv() -> Path:
    venv = Path(os.environ.get(ENGINE_VENV_ENV) or ROOT / ".venv-engine")
    if not (venv / "bin" / "vllm").exists():
        pytest.skip(f"no engine venv at {venv}: run `make test-engine` (it installs one)")
    return venv


@pytest.fixture(scope="session")
def tiny_model(engine_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-llama")
    subprocess.run(
        [str(engine_venv / "bin" / "python"), "-m", "tests.engine.tiny_model", str(directory)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
        check=True,
        capture_output=True,
        timeout=600,
    )
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def vllm_command(engine_venv: Path, *, kv_cache_gib: int = KV_CACHE_GIB) -> str:
    """The `local_engine_command` that runs the real vLLM with its CPU settings."""
    return f"env VLLM_CPU_KVCACHE_SPACE={kv_cache_gib} HF_HUB_OFFLINE=1 {engine_venv / 'bin' / 'vllm'}"


@pytest.fixture
def engine_env(engine_venv: Path, tiny_model: Path, tmp_path: Path) -> EngineEnv:
    def make(*, kv_cache_gib: int = KV_CACHE_GIB, **extra: str) -> dict[str, str]:
        return local_bot_env(
            tmp_path,
            ENDPOINT_BOT_LOCAL_ENGINE_COMMAND=vllm_command(engine_venv, kv_cache_gib=kv_cache_gib),
            ENDPOINT_BOT_ENGINE_PORT=str(free_port()),
            ENDPOINT_BOT_READINESS_DEADLINE="15m",
            MODEL_DIR=str(tiny_model),
            **extra,
        )

    return make
