"""How long a ready engine waits before its owner gets the URL and key: engine-ready -> key-posted.

Run: `make install-engine`, then `.venv/bin/python -m benchmarks.ready_to_key [--runs 1] [--old]`.

A real `endpoint-bot up` (local launcher) starts vLLM's CPU build serving a tiny random-weight Llama
(tests/engine/tiny_model.py). Beside it, this script probes the engine's `/health` every 20 ms (a
refused connection costs the engine nothing) and notes when the engine first answers 200: the engine is
ready. The bot's standard output is read line by line and the moment the line with the API key arrives
is noted: the key is posted. The lag between the two covers the bot's readiness poll noticing the
engine, the real test completion with the key, the READY transition in the database and the post.
`--old` adds a run with the poll of before (first gap 1 s, doubling to 15 s) for comparison.

Target: the key follows the engine's readiness within 1 s. Exits 1 when a run with the current
settings misses it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.fakes.local_bot import local_bot_env

ROOT = Path(__file__).resolve().parents[1]
ENGINE_VENV = Path(os.environ.get("ENDPOINT_BOT_TEST_ENGINE_VENV") or ROOT / ".venv-engine")
TARGET_S = 1.0
KEY = re.compile(r"epk-[A-Za-z0-9_-]{20,}")
OLD_POLL = {"ENDPOINT_BOT_READINESS_POLL_FIRST": "1", "ENDPOINT_BOT_READINESS_POLL_MAX": "15"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _watch_health(port: int, stop: threading.Event, seen: list[float]) -> None:
    """Note the first moment /health answers 200 (probing every 20 ms). The engine serves HTTPS with a
    leaf of a CA this stopwatch only learns once the key is posted, so it reads the time without
    checking the certificate: it sends nothing but `GET /health` (the bot's own readiness verifies)."""
    with httpx.Client(timeout=30, verify=False) as client:  # a stopwatch: no key is sent
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"https://127.0.0.1:{port}/health").status_code == 200:
                    seen.append(time.monotonic())
                    return
            time.sleep(0.02)


def one_run(work: Path, model: Path, name: str, extra: dict[str, str]) -> float:
    """engine-ready -> key-posted, in seconds, for one `up` (the endpoint is stopped afterwards)."""
    port = _free_port()
    env = local_bot_env(
        work,
        ENDPOINT_BOT_LOCAL_ENGINE_COMMAND=f"env VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 {ENGINE_VENV}/bin/vllm",
        ENDPOINT_BOT_ENGINE_PORT=str(port),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    stop, ready_at, key_at = threading.Event(), [], []
    watcher = threading.Thread(target=_watch_health, args=(port, stop, ready_at), daemon=True)
    watcher.start()
    up = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "up", str(model), "L4:1", "--name", name],
        env=env,
        cwd=str(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert up.stdout is not None
        for line in up.stdout:
            if KEY.search(line) and not key_at:
                key_at.append(time.monotonic())
        up.wait(timeout=60)
    finally:
        stop.set()
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "down", name],
            env=env,
            cwd=str(work),
            capture_output=True,
            check=False,
        )
    if up.returncode != 0 or not key_at or not ready_at:
        raise SystemExit(
            f"run {name}: up exited {up.returncode}; ready seen: {bool(ready_at)}, key: {bool(key_at)}"
        )
    return key_at[0] - ready_at[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs with the current settings")
    parser.add_argument("--old", action="store_true", help="also one run with the old 1 s..15 s poll")
    args = parser.parse_args()
    if not (ENGINE_VENV / "bin" / "vllm").exists():
        print(f"no engine venv at {ENGINE_VENV}: run `make install-engine` first", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="ready-to-key-"))
    try:
        model = work / "tiny-llama"
        subprocess.run(
            [str(ENGINE_VENV / "bin" / "python"), "-m", "tests.engine.tiny_model", str(model)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        lags = [one_run(work, model, f"lag-{i}", {}) for i in range(args.runs)]
        for i, lag in enumerate(lags):
            print(f"engine ready -> key posted (poll 0.25 s doubling to 1 s), run {i + 1}: {lag:.2f} s")
        if args.old:
            old = one_run(work, model, "lag-old", OLD_POLL)
            print(f"engine ready -> key posted (old poll 1 s doubling to 15 s): {old:.2f} s")
        worst = max(lags)
        print(f"worst {worst:.2f} s; target < {TARGET_S:.0f} s: {'met' if worst < TARGET_S else 'MISSED'}")
        return 0 if worst < TARGET_S else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
