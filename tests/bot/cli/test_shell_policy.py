"""The team policy in `endpoint-bot shell` (a real process, local launcher, fake engine): refusals
that name their rule, a limit of one, `log` and `policy`; a malformed file refuses to start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.cli.test_shell import _clean, _model_dir, _shell
from tests.fakes.local_bot import local_bot_env

POLICY = """\
admins: {users: [U0ALICE]}
everyone:
  limits: {endpoints: 1}
  gpus: {deny: [H100]}
"""


@pytest.fixture
def policy_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    yield local_bot_env(
        tmp_path,
        MODEL_DIR=str(_model_dir(tmp_path, "Qwen/Qwen2.5-7B-Instruct")),
        ENDPOINT_BOT_POLICY_FILE=str(path),
    )


@pytest.mark.timeout(600)
def test_rules_refuse_by_name_and_log_and_policy_answer(policy_env: dict[str, str]) -> None:
    model = policy_env["MODEL_DIR"]
    script = "\n".join(
        [
            f"/endpoint up {model} H100:1 ctx=8k name=big",
            f"/endpoint up {model} L4:1 ctx=8k name=first",
            "wait first",
            f"/endpoint up {model} L4:1 ctx=8k name=second",
            "/endpoint policy",
            "/endpoint log first",
            "/endpoint down first",
            "wait",
            "",
        ]
    )
    out = _clean(_shell(policy_env, script))
    assert (
        "Refused: Everyone may not use H100 GPUs (policy rule `everyone.gpus.deny`). Ask an admin: @U0ALICE."
        in out
    )
    assert (
        "Refused: Everyone may use at most 1 endpoint at once; you have 1 endpoint in use (`first`) "
        "(policy rule `everyone.limits.endpoints`). Ask an admin: @U0ALICE." in out
    )
    assert "at most 1 endpoint(s); GPUs denied: H100. In use now: 1 endpoint(s) (`first`), 1 GPU(s)" in out
    assert "Audit trail of `first`" in out and "· U_SHELL · created · requested" in out
    assert "READY" in out.split("Audit trail of `first`")[1]
    assert "`big`" not in out and "`second` is ready" not in out  # refused launches were never recorded


def test_a_malformed_policy_file_refuses_to_start(policy_env: dict[str, str], tmp_path: Path) -> None:
    Path(policy_env["ENDPOINT_BOT_POLICY_FILE"]).write_text("everyone:\n  limits:\n    gpus: lots\n")
    result = _shell(policy_env, "/endpoint list\n")
    assert result.returncode == 1
    assert "policy.yaml line 3: everyone.limits.gpus: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False, cwd=str(Path(env["HOME"]).parent))  # fmt: skip


def test_policy_check_and_show_at_the_terminal(policy_env: dict[str, str], tmp_path: Path) -> None:
    good = _cli(policy_env, "policy", "check", policy_env["ENDPOINT_BOT_POLICY_FILE"])
    assert (
        good.returncode == 0
        and "policy.yaml: OK (0 group(s), 0 user entries, keys go in the thread)" in good.stdout
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("admins:\n  users: [U0ALICE]\nkey_delivery: pigeon\n")
    refused = _cli(policy_env, "policy", "check", str(bad))
    assert refused.returncode == 1
    assert "bad.yaml line 3: key_delivery: Input should be 'thread' or 'dm'" in refused.stderr
    shown = _cli(policy_env, "policy", "show", "--user", "U0BOB")
    assert shown.returncode == 0, shown.stderr
    assert (
        "Everyone (each person) (`everyone`): at most 1 endpoint(s); GPUs denied: H100. In use now: 0 endpoint(s)"
        in shown.stdout
    )
    assert "Ask an admin: @U0ALICE" in shown.stdout
