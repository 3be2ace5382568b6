"""`endpoint-bot up / status / list / extend / down / render` end to end, as separate processes.

The local launcher runs the fake engine (`ENDPOINT_BOT_LOCAL_ENGINE_COMMAND="<python> -m
tests.fakes.fake_engine"`) as a real child process; the model is a local directory holding a real
config.json, so nothing reaches the Hub. `up` must print the URL and key once, and the key must really
open the endpoint; `down` (another process) must leave no engine process behind.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from core.tls import client_context
from tests.bot.leftovers import alive, engine_pids, leftovers
from tests.fakes.local_bot import local_bot_env, posted_ca

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path("/work/shared/fixtures/model_configs.json")
HF_TOKEN = "hf_CLItokenNeverPrinted123456"

pytestmark = pytest.mark.timeout(600)  # process-level tests: generous for a loaded CI machine


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    model = tmp_path / "model"
    model.mkdir()
    config = next(
        e["config"] for e in json.loads(FIXTURES.read_text()) if e["model_id"] == "Qwen/Qwen2.5-7B-Instruct"
    )
    (model / "config.json").write_text(json.dumps(config))
    return local_bot_env(tmp_path, HF_TOKEN=HF_TOKEN, MODEL_DIR=str(model))


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=tmp_cwd(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tmp_cwd(env: dict[str, str]) -> str:
    # Run from a directory without a .env file, with the project importable.
    env.setdefault("PYTHONPATH", str(ROOT))
    return str(Path(env["HOME"]).parent)


def test_up_then_down_from_the_command_line(cli_env: dict[str, str], no_process_left_behind: str) -> None:
    model = cli_env["MODEL_DIR"]
    up = _cli(cli_env, "up", model, "L4:1", "--max-model-len", "8k", "--name", "cli-e2e")
    assert up.returncode == 0, up.stderr + up.stdout
    url = re.search(r"READY at (https://\S+)", up.stdout).group(1)
    ca = posted_ca(up.stdout)  # HTTPS by default: the endpoint's own CA, printed with the key
    keys = re.findall(r"epk-[A-Za-z0-9_-]{20,}", up.stdout)
    assert len(keys) == 1, "the key is printed exactly once"
    assert HF_TOKEN not in up.stdout + up.stderr

    answer = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {keys[0]}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
        verify=client_context(ca),
    )
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"]
    pids = engine_pids(cli_env["HOME"])
    assert pids and all(alive(p) for p in pids), "the engine outlives the `up` process"
    running = {found.pid for found in leftovers(no_process_left_behind)}
    assert set(pids) <= running, "the leftover check (tests/bot/conftest.py) would see this engine"

    listed = _cli(cli_env, "list")
    assert "cli-e2e" in listed.stdout and "READY" in listed.stdout
    status = _cli(cli_env, "status", "cli-e2e", "--events")
    assert "STARTING -> READY" in status.stdout
    assert keys[0] not in listed.stdout + status.stdout
    assert re.search(
        r"^cold start: +\S+: weights <1s \(local\), load \S+, first completion \S+$", status.stdout, re.M
    )
    stats = _cli(cli_env, "stats")
    assert stats.returncode == 0, stats.stderr
    assert (
        f"{model} on L4:1 (vllm): " in stats.stdout and "over 1 launch: weights <1s (local)" in stats.stdout
    )
    [row] = json.loads(_cli(cli_env, "stats", "--json").stdout)
    assert (row["model"], row["accelerators"], row["launches"]) == (model, "L4:1", 1)
    assert row["phases"]["weights"]["note"] == "local" and "provisioning" not in row["phases"]
    assert json.loads(_cli(cli_env, "stats", "h100", "--json").stdout) == []

    extended = _cli(cli_env, "extend", "cli-e2e", "2h")
    assert extended.returncode == 0, extended.stderr

    down = _cli(cli_env, "down", "cli-e2e")
    assert down.returncode == 0, down.stderr
    assert "STOPPED" in down.stdout
    assert not any(alive(p) for p in pids), "no engine process left behind"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)

    again = _cli(cli_env, "down", "cli-e2e")
    assert again.returncode == 0 and "already stopped" in again.stdout


def test_bad_input_is_a_sentence_and_exit_code_2(cli_env: dict[str, str]) -> None:
    result = _cli(cli_env, "up", cli_env["MODEL_DIR"], "L4:1", "--ttl", "forever")
    assert result.returncode == 2
    assert "forever" in result.stderr and "Traceback" not in result.stderr
    missing = _cli(cli_env, "status", "nope")
    assert missing.returncode == 2 and "No endpoint called `nope`" in missing.stderr


def test_render_prints_the_task_with_secrets_redacted(cli_env: dict[str, str]) -> None:
    result = _cli(cli_env, "render", cli_env["MODEL_DIR"], "L4:1", "--max-model-len", "8k", "--ttl", "2h")
    assert result.returncode == 0, result.stderr
    assert "<redacted>" in result.stdout
    # The hard deadline `up` sets travels with the printed task (issue 10, item 10).
    autostop = yaml.safe_load(result.stdout)["resources"]["autostop"]
    assert autostop == {"idle_minutes": 120, "down": True, "wait_for": "none"}
    assert HF_TOKEN not in result.stdout
    assert "epk-" not in result.stdout
    assert "run:" in result.stdout and "--max-model-len 8192" in result.stdout
    # Nothing was recorded or launched.
    listed = _cli(cli_env, "list", "--all")
    assert "No endpoints." in listed.stdout


def test_render_shows_what_tls_adds_and_no_tls_drops_it(cli_env: dict[str, str]) -> None:
    result = _cli(cli_env, "render", cli_env["MODEL_DIR"], "L4:1", "--max-model-len", "8k")
    assert result.returncode == 0, result.stderr
    task = yaml.safe_load(result.stdout)
    assert task["secrets"]["ENDPOINT_TLS_CA_KEY"] == "<redacted>"
    assert task["envs"]["ENDPOINT_TLS_CA_CERT"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" not in result.stdout
    assert "--ssl-keyfile" in task["run"] and "unset ENDPOINT_TLS_CA_KEY" in task["run"]
    assert "--secret ENDPOINT_TLS_CA_KEY" in result.stdout
    plain = _cli(cli_env, "render", cli_env["MODEL_DIR"], "L4:1", "--max-model-len", "8k", "--no-tls")
    assert plain.returncode == 0, plain.stderr
    assert "ENDPOINT_TLS" not in plain.stdout and "--ssl-" not in plain.stdout


def test_render_with_yarn_on_a_gpu_sold_under_two_names(cli_env: dict[str, str]) -> None:
    result = _cli(
        cli_env, "render", cli_env["MODEL_DIR"], "H100-SXM5:1", "--max-model-len", "128k", "--rope", "yarn"
    )
    assert result.returncode == 0, result.stderr
    assert "H100:1" in result.stdout and "H100-SXM:1" in result.stdout  # any of them
    assert "--hf-overrides" in result.stdout and '"factor":4.0' in result.stdout
    assert "--max-model-len 131072" in result.stdout
