"""The environment for running `endpoint-bot` as a subprocess on the local launcher and the fake engine.

Shared by the CLI, shell and crash tests and the shell benchmark: everything the bot writes (HOME,
database, facts cache) goes under one temporary folder, the Hub is offline (models are local
directories), and the caller's own bot, Slack and Hugging Face token settings never leak in.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def local_bot_env(tmp: Path, *, engine_args: str = "", **extra: str) -> dict[str, str]:
    """Environment for `endpoint-bot` with its state under `tmp`; `engine_args` go to the fake engine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENDPOINT_BOT_", "SLACK_", "HF_TOKEN"))}
    env.update(
        HOME=str(tmp / "home"),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT),
        ENDPOINT_BOT_LAUNCHER="local",
        ENDPOINT_BOT_LOCAL_ENGINE_COMMAND=f"{sys.executable} -m tests.fakes.fake_engine {engine_args}".rstrip(),
        ENDPOINT_BOT_DB_PATH=str(tmp / "bot.db"),
        ENDPOINT_BOT_FACTS_CACHE_DIR=str(tmp / "facts"),
    )
    env.update(extra)
    return env


def posted_ca(text: str) -> str:
    """The CA certificate a ready message printed (the shell prefixes each line with `[thread #x]`)."""
    lines = [re.sub(r"^\[[^\]]*\]\s*", "", line).strip() for line in text.splitlines()]
    start = lines.index("-----BEGIN CERTIFICATE-----")
    end = lines.index("-----END CERTIFICATE-----", start)
    return "\n".join(lines[start : end + 1]) + "\n"
