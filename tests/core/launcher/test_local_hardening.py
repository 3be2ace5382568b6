"""The local launcher against an unfriendly host (issue 10): what a real engine process can see and who
answers on its port. Every test runs the fake engine as a real process and looks at it through /proc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.launcher.local import LocalLauncher
from core.settings import Settings
from tests.core.launcher.test_local import FAKE, HF, KEY, _spec

pytestmark = pytest.mark.timeout(180)  # generous: a loaded 2-core machine


@pytest.fixture
def make_launcher(tmp_path: Path) -> Iterator[Any]:
    created: list[LocalLauncher] = []

    def make(**settings: Any) -> LocalLauncher:
        values: dict[str, Any] = {"local_engine_command": FAKE, "launcher": "local", "_env_file": None}
        values.update(settings)
        created.append(LocalLauncher(Settings(**values), state_dir=tmp_path / "state", grace_seconds=5.0))
        return created[-1]

    yield make
    for one in created:  # never leave a process behind, whatever the test did
        for cluster in one.list_clusters(""):
            one.down(cluster.name)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace")
    return dict(item.partition("=")[::2] for item in raw.split("\0") if item)


# --- item 7: secrets in the engine's environment ---------------------------------------------------------


def test_a_real_engine_sees_an_allow_list_not_the_bots_secrets(
    make_launcher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot_secrets = {
        "SLACK_BOT_TOKEN": "xoxb-bot-secret-0000",
        "SLACK_SIGNING_SECRET": "signing-secret-0000",
        "SLACK_APP_TOKEN": "xapp-app-secret-0000",
        "ENDPOINT_BOT_SLACK_BOT_TOKEN": "xoxb-other-0000",
        "ENDPOINT_BOT_DATABASE_URL": "postgresql://u:dbpassword@h/db",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-0000",
        "HUGGING_FACE_HUB_TOKEN": "hf_oldstyle0000",
    }
    for name, value in bot_secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "4")  # what a CPU vLLM needs (issue 9's real engine)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MY_ENGINE_FLAG", "on")
    # Naming a Slack variable in the setting does not let it through.
    local = make_launcher(local_engine_env=["VLLM_*", "MY_ENGINE_FLAG", "SLACK_*"])
    local.wait(local.submit(_spec()))
    env = _environ(local.cluster("epb-loc-1").pid)

    leaked = {name for name, value in bot_secrets.items() if name in env or value in env.values()}
    assert not leaked, f"the engine sees the bot's secrets: {sorted(leaked)}"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "4" and env["HF_HUB_OFFLINE"] == "1"
    assert env["MY_ENGINE_FLAG"] == "on"
    assert env["HF_HOME"] and env["PATH"]
    # What the launch itself hands over still arrives: the key (vLLM reads VLLM_API_KEY) and the HF token.
    assert env["VLLM_API_KEY"] == KEY and env["HF_TOKEN"] == HF
    assert env["EPB_LOCAL_CLUSTER"] == "epb-loc-1"


def test_by_default_vllm_and_sglang_variables_pass_and_others_do_not(
    make_launcher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    monkeypatch.setenv("SGLANG_SOMETHING", "x")
    monkeypatch.setenv("UNRELATED_SECRET", "nope")
    local = make_launcher()
    local.wait(local.submit(_spec()))
    env = _environ(local.cluster("epb-loc-1").pid)
    assert env.get("VLLM_CPU_KVCACHE_SPACE") == "2" and env.get("SGLANG_SOMETHING") == "x"
    assert "UNRELATED_SECRET" not in env
