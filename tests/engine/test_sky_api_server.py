"""The bot's CLI with the SkyPilot launcher against SkyPilot's own API server (tests/engine/sky_server.py).

No cloud credentials and no network: everything the server or the bot downloads goes to a loopback
proxy, the clouds' instance-metadata probes are off, and the catalogue is planted in the private HOME
when a test needs to get past it. What a new user meets first, each as a sentence that names the fix,
the endpoint FAILED, nothing left behind and no word of billing before anything was provisioned:

- the API server cannot download SkyPilot's catalogue (its network);
- no cloud is enabled (`sky check`);
- the API server dies in the middle of a launch (the bot cannot know what was started: the endpoint
  waits in STOPPING until the server is back, and reconcile then finishes it FAILED);
and `list` / `reconcile` against the real server. SkyPilot's own catalogue messages and raw
exceptions stay out of the terminal.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.sky_server import BlackHole, SkyServer, client_env, closed_port, seed_catalog

pytestmark = [pytest.mark.real_engine, pytest.mark.timeout(900)]

MODEL_CONFIG = (
    '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, '
    '"intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, '
    '"num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072, '
    '"torch_dtype": "bfloat16", "rope_theta": 500000.0}'
)
BILLED_NOW = re.compile(r"billed about \$[\d.]+/h from now")
# What SkyPilot or requests would print if let through: catalogue fetch lines, raw connection errors.
NOISE = ("Failed to fetch", "HTTPSConnectionPool", "Max retries exceeded", "Traceback")


def _model(home: Path) -> str:
    directory = home / "llama-8b"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(MODEL_CONFIG)
    return str(directory)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=env["HOME"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _assert_failed_cleanly(result: subprocess.CompletedProcess[str], name: str, *needles: str) -> str:
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert f"{name}: FAILED." in result.stderr, out
    for needle in needles:
        assert needle in out, out
    assert not BILLED_NOW.search(out), "nothing was provisioned, so nothing was billed"
    for noise in NOISE:
        assert noise not in out, f"{noise!r} reached the terminal:\n{out}"
    return out


def test_first_errors_against_the_real_api_server(tmp_path: Path) -> None:
    home, bot_home = tmp_path / "server", tmp_path / "bot"  # the bot and the server: two hosts
    bot_home.mkdir()
    server = SkyServer(home, proxy_port=closed_port()).start()
    try:
        env = client_env(bot_home, server.url)
        model = _model(bot_home)

        # 1. The server cannot download SkyPilot's catalogue (its HTTPS goes nowhere).
        up = _cli(env, "up", model, "L4:1", "--name", "no-catalog")
        _assert_failed_cleanly(
            up,
            "no-catalog",
            "could not download its catalogue",
            "outbound HTTPS to raw.githubusercontent.com",
            "HTTPS_PROXY",
            "nothing was launched and nothing bills",
        )

        # 2. With the catalogue in place, the next wall: no cloud is enabled.
        seed_catalog(home)
        up = _cli(env, "up", model, "L4:1", "--name", "no-cloud")
        _assert_failed_cleanly(up, "no-cloud", "No cloud is enabled for SkyPilot", "`sky check`")

        # 3. list and reconcile through the real server: both FAILED, no cluster anywhere.
        listing = _cli(env, "list", "--all")
        assert listing.returncode == 0, listing.stderr
        assert re.search(r"^no-catalog\s+FAILED", listing.stdout, re.M), listing.stdout
        assert re.search(r"^no-cloud\s+FAILED", listing.stdout, re.M), listing.stdout
        reconcile = _cli(env, "reconcile")
        assert reconcile.returncode == 0, reconcile.stderr
        assert reconcile.stdout.startswith("0 clusters seen; torn down 0 unknown and 0 stray; 0 lost"), (
            reconcile.stdout
        )
        status = _cli(env, "status", "no-cloud")
        assert "`sky check`" in status.stdout, status.stdout
    finally:
        server.stop()


def test_api_server_gone_mid_launch(tmp_path: Path) -> None:
    home, bot_home = tmp_path / "server", tmp_path / "bot"  # the bot and the server: two hosts
    bot_home.mkdir()
    hole = BlackHole()  # the server's catalogue download hangs there: the launch stays in flight
    server = SkyServer(home, proxy_port=hole.port).start()
    restarted: SkyServer | None = None
    try:
        env = client_env(bot_home, server.url)
        before = hole.accepted
        up = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "up", _model(bot_home), "L4:1", "--name", "orphan"],
            env=env,
            cwd=env["HOME"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert up.stdout is not None
        seen = []
        for line in up.stdout:
            seen.append(line)
            if "state: PROVISIONING" in line:
                break
        # `sky.launch` asks the server to validate the task first; the server's catalogue download for
        # that hangs in the black hole, so the launch request is in flight when the server dies.
        assert hole.wait_for_new(before), "the launch never reached the server's catalogue download"
        server.kill()
        rest, err = up.communicate(timeout=600)
        out = "".join(seen) + rest

        assert up.returncode == 1, out + err
        assert "The SkyPilot API server stopped answering during the launch" in out, out + err
        assert "`sky api status`" in out and "SKYPILOT_API_SERVER_ENDPOINT" in out
        assert not BILLED_NOW.search(out)
        # The bot cannot confirm the cluster is gone while the server is down: it says so and waits.
        assert "orphan: STOPPING." in err, err

        restarted = SkyServer(home, proxy_port=hole.port, port=server.port).start()
        reconcile = _cli(env, "reconcile")
        assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
        assert "1 teardown retried" in reconcile.stdout, reconcile.stdout
        status = _cli(env, "status", "orphan")
        assert "failed" in status.stdout.lower(), status.stdout
        assert "stopped answering during the launch" in status.stdout
        again = _cli(env, "reconcile")
        assert again.stdout.startswith("0 clusters seen"), again.stdout
    finally:
        if restarted is not None:
            restarted.stop()
        server.stop()
        hole.close()
