"""`endpoint-bot shell`: the shell adapter, driven through its standard input in a real process.

The local launcher runs the fake engine (`ENDPOINT_BOT_LOCAL_ENGINE_COMMAND="<python> -m
tests.fakes.fake_engine"`) as a real child process, and models are local directories holding real
config.json files, so nothing reaches the Hub. Several runs share one database, the way a person would
close the shell and open it again (or a colleague would, as another ENDPOINT_BOT_SHELL_USER).
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.tls import client_context
from tests.bot.leftovers import alive, engine_pids
from tests.fakes.local_bot import local_bot_env, posted_ca

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path("/work/shared/fixtures/model_configs.json")
HF_TOKEN = "hf_SHELLtokenNeverPrinted12345"
KEY = re.compile(r"epk-[A-Za-z0-9_-]{20,}")


def _model_dir(root: Path, model_id: str) -> Path:
    config = next(e["config"] for e in json.loads(FIXTURES.read_text()) if e["model_id"] == model_id)
    directory = root / model_id.split("/")[-1].lower()
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.fixture
def shell_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = local_bot_env(
        tmp_path,
        HF_TOKEN=HF_TOKEN,
        MODEL_DIR=str(_model_dir(tmp_path, "Qwen/Qwen2.5-7B-Instruct")),
        BIG_MODEL_DIR=str(_model_dir(tmp_path, "meta-llama/Llama-3.1-70B-Instruct")),
    )
    # What a test leaves running (bots, engines, reapers) is found, killed and reported by
    # tests/bot/conftest.py's `no_process_left_behind`, through the run mark this environment carries.
    yield env


def _shell(
    env: dict[str, str], script: str, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """`endpoint-bot shell ARGS` with `script` on its standard input (a pipe: not interactive)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell", *args],
        input=script,
        env={**env, **extra_env},
        cwd=str(Path(env["HOME"]).parent),  # no .env file there
        capture_output=True,
        text=True,
        timeout=300,  # a limit for a loaded 2-core machine; a session takes seconds
        check=False,
    )


def _clean(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stdout
    assert HF_TOKEN not in result.stdout + result.stderr
    return result.stdout


@pytest.mark.timeout(600)
def test_piped_session_brings_an_endpoint_up_and_down(shell_env: dict[str, str]) -> None:
    model = shell_env["MODEL_DIR"]
    script = "\n".join(
        [
            f"/endpoint fit {model} L4:1 ctx=8k",
            f"/endpoint up {model} L4:1 ctx=8k name=shell-e2e",
            "wait shell-e2e",
            "/endpoint status shell-e2e",
            "1",  # Stop shell-e2e, offered on its card
            "y",
            "wait",
            "list all",
            "stats",
            "",
        ]
    )
    out = _clean(_shell(shell_env, script))

    assert f"{model} fits on L4:1: vllm · TP 1" in out
    # Where the cold start went: the ready message, the status card and `stats` (a local launch: no
    # provisioning; the fake engine's "Loading weights took" line gives the weights, a local directory).
    assert re.search(r"\[thread #shell-e2e\] Ready.*Cold start \S+: weights <1s \(local\), load ", out)
    assert re.search(r"^  Cold start \S+: weights <1s \(local\), load \S+, first completion \S+$", out, re.M)
    assert re.search(
        rf"^  {re.escape(model)} on L4:1 \(vllm\): \S+ over 1 launch: weights <1s \(local\)", out, re.M
    )
    # The KV capacity the engine will log, on the fit reply and on the status card.
    capacity = re.compile(
        r"KV cache [\d.]+ GiB per GPU \([\d,]+ tokens\): room for ~[\d.,]+ requests of 8k at once"
    )
    assert len(capacity.findall(out)) >= 2, "fit reply and status card"
    assert f"[card #shell-e2e] shell-e2e: {model} on L4:1: requested" in out
    assert "[card #shell-e2e] [1] Stop shell-e2e  [2] Extend +1h  [3] Extend +4h" in out
    assert "[thread #shell-e2e] Provisioning L4:1" in out
    assert "[thread #shell-e2e] shell-e2e is ready." in out
    url = re.search(r"\[thread #shell-e2e\]   URL      (https://\S+)/v1", out).group(1)
    assert "SHA-256 fingerprint" in out and posted_ca(out)
    keys = set(KEY.findall(out))
    assert len(keys) == 1
    key_lines = _lines_with(out, keys.pop())
    assert len(key_lines) == 2, "the key is shown once: its line and the curl command of the same message"
    assert "API key" in key_lines[0] and "curl" in key_lines[1]
    assert "`shell-e2e` is ready." in out  # `wait shell-e2e` returned once the launch ended

    # The numbered Stop asked first, then ran the same teardown as the Slack button.
    assert "Stop `shell-e2e`? This tears down its GPUs" in out and "[y/N]" in out
    assert "Stopping `shell-e2e`; the summary follows in its thread." in out
    assert "[thread #shell-e2e] `shell-e2e` stopped; the cluster is gone" in out
    assert "[card #shell-e2e]   stopped by @U_SHELL" in out
    assert re.search(r"^shell-e2e · .* · stopped · ", out, re.M)
    # The order a person reads: ready before the question, the summary after it.
    assert (
        out.index("shell-e2e is ready.") < out.index("Stop `shell-e2e`?") < out.index("stopped; the cluster")
    )
    assert not any(alive(p) for p in engine_pids(shell_env["HOME"])), "no engine process left behind"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2, verify=client_context(posted_ca(out)))


def _lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@pytest.mark.timeout(600)
def test_only_the_owner_or_an_admin_may_press_stop_or_extend(shell_env: dict[str, str]) -> None:
    model = shell_env["MODEL_DIR"]
    # Run 1, the owner: up, decline a Stop, leave with --wait so the launch is seen through.
    first = _clean(_shell(shell_env, f"up {model} L4:1 ctx=8k name=owned\n1\nn\n", "--wait"))
    assert "Kept `owned` running." in first
    assert "Waiting for `owned`" in first and "[thread #owned] owned is ready." in first
    assert "Still running and billing: `owned`" in first
    url = re.search(r"URL      (https://\S+)/v1", first).group(1)
    key = KEY.findall(first)[0]
    answer = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=60,
        verify=client_context(posted_ca(first)),  # the CA the shell printed with the key
    )
    assert answer.status_code == 200, "the key printed by the shell opens the endpoint"

    # Run 2, someone else over the same database: every way of stopping or extending is refused.
    second = _clean(
        _shell(
            shell_env,
            "status owned\n1\ny\n2\ndown owned\nextend owned 2h\nlist\n",
            ENDPOINT_BOT_SHELL_USER="U_OTHER",
        )
    )
    assert "[1] Stop owned  [2] Extend +1h  [3] Extend +4h" in second  # offered by `status` in this session
    assert second.count("Refused: Only @U_SHELL (who launched `owned`) or an admin may stop it.") == 2
    assert second.count("Refused: Only @U_SHELL (who launched `owned`) or an admin may extend it.") == 2
    assert re.search(r"^owned · .* · ready · ", second, re.M), "still running after the refusals"
    assert KEY.search(second) is None, "the key is shown once, to its owner's session"

    # Run 3, an admin: stops it, and leaving at EOF (no --wait) still waits for the teardown.
    third = _clean(
        _shell(
            shell_env,
            "down owned\n",
            ENDPOINT_BOT_SHELL_USER="U_ADMIN",
            ENDPOINT_BOT_ADMIN_USER_IDS="U_ADMIN",
        )
    )
    assert "Stopping `owned`" in third
    assert "Waiting for the teardown of `owned`" in third
    assert "[thread #owned] `owned` stopped; the cluster is gone" in third
    assert not any(alive(p) for p in engine_pids(shell_env["HOME"]))


@pytest.mark.timeout(600)
def test_leaving_mid_launch_without_wait_says_so_and_the_next_session_can_stop_it(
    shell_env: dict[str, str],
) -> None:
    model = shell_env["MODEL_DIR"]
    first = _clean(_shell(shell_env, f"up {model} L4:1 ctx=8k name=left\n"))
    assert "Leaving `left`" in first and "the next `endpoint-bot` start tears it down" in first

    second = _clean(_shell(shell_env, "down left\nlist all\n"))
    assert "Stopping `left`" in second
    assert "[thread #left] `left` stopped; the cluster is gone" in second
    assert not any(alive(p) for p in engine_pids(shell_env["HOME"]))

    # ENDPOINT_BOT_SHELL_WAIT does what --wait does: the launch is seen through before the process leaves.
    third = _clean(_shell(shell_env, f"up {model} L4:1 ctx=8k name=seen\n", ENDPOINT_BOT_SHELL_WAIT="yes"))
    assert "Waiting for `seen`" in third and "[thread #seen] seen is ready." in third
    assert "Leaving" not in third
    fourth = _clean(_shell(shell_env, "down seen\n"))
    assert "`seen` stopped; the cluster is gone" in fourth


@pytest.mark.timeout(600)
def test_bad_input_gets_a_sentence_and_changes_nothing(shell_env: dict[str, str]) -> None:
    model, big = shell_env["MODEL_DIR"], shell_env["BIG_MODEL_DIR"]
    script = "\n".join(
        [
            "stauts qwen",
            "/endpoint extend qwen forever",
            f"up {model}",
            f"up {model} L4:1 ttl=soon",
            f"up {big} L4:1",
            "status nope",
            "7",
            "/3",
            "wait a b",
            "# this comment is ignored",
            "help",
            "help extend",
            "list all",
            "quit",
            "list",  # never read: `quit` ends the session
            "",
        ]
    )
    out = _clean(_shell(shell_env, script))
    assert "`stauts` is not an `/endpoint` command. Did you mean `status`?" in out
    assert "`forever` is not a valid extension; write it like `45m`, `8h`, `1h30m` or `2d`." in out
    assert "`up` needs ACCEL" in out
    assert "`soon` is not a valid lifetime (ttl)" in out
    assert f"{big} does not fit on L4:1 (vllm). Nothing was launched." in out
    assert re.search(r"^  - Use \S+ \(TP \d+.*: \S+, \$\d+\.\d\d/h$", out, re.M), "suggestions with $/hour"
    assert "No endpoint called `nope`." in out
    assert out.count("There is no choice [") == 2
    assert "`wait` takes nothing or one endpoint NAME" in out
    assert "`/endpoint list [all]`: live endpoints" in out and "In the shell: type a choice's number" in out
    assert "`/endpoint extend NAME 2h`\npush an endpoint's lifetime out" in out
    assert "No endpoints. Start one with `/endpoint up MODEL ACCEL`." in out
    assert "No live endpoints" not in out, "nothing after `quit` runs"
    assert "is ignored" not in out


class _Conversation:
    """A running `endpoint-bot shell` fed one line at a time, for what arrives on its own (watchdog DMs)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "shell"],
            env=env,
            cwd=str(Path(env["HOME"]).parent),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str, timeout: float = 180) -> re.Match[str]:
        """The first line from now on matching `pattern` (the pytest timeout bounds the whole test)."""
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def close(self) -> str:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait(timeout=180)
        return self.proc.stderr.read() if self.proc.stderr else ""


@pytest.mark.timeout(600)
def test_watchdog_idle_dm_offers_keep_alive_as_a_number(shell_env: dict[str, str]) -> None:
    env = {**shell_env, "ENDPOINT_BOT_WATCHDOG_INTERVAL": "1s"}
    chat = _Conversation(env)
    try:
        chat.send(f"up {shell_env['MODEL_DIR']} L4:1 ctx=8k idle=1m name=idle-test")
        chat.expect(r"^\[thread #idle-test\] idle-test is ready\.")
        # Idle for seconds, not "1 min" (issue 10, item 13): the time is said as it is.
        chat.expect(r"^\[DM to U_SHELL\] `idle-test` has had no requests for (\d{1,2}s|1 min)")
        keep = chat.expect(r"^\[DM to U_SHELL\] \[(\d+)\] Keep alive idle-test  \[1\] Stop now$").group(1)
        chat.send(keep)
        chat.expect(r"^`idle-test` stays up: its idle clock starts again now\.$")
        chat.send("down idle-test")
        chat.expect(r"^\[thread #idle-test\] `idle-test` stopped; the cluster is gone")
        chat.send("quit")
    finally:
        stderr = chat.close()
    assert chat.proc.returncode == 0, stderr
    assert not any("Traceback" in line for line in chat.seen)
    assert not any(alive(p) for p in engine_pids(shell_env["HOME"]))


@pytest.mark.timeout(600)
def test_interactive_terminal_gets_a_prompt_redrawn_under_async_lines_and_history(
    shell_env: dict[str, str],
) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "shell"],
        env={**shell_env, "TERM": "dumb"},
        cwd=str(Path(shell_env["HOME"]).parent),
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        close_fds=True,
    )
    os.close(slave)
    screen = bytearray()

    def read_until(needle: bytes) -> None:
        while needle not in screen:
            chunk = os.read(master, 4096)
            if not chunk:
                raise AssertionError(f"terminal closed before {needle!r}: {bytes(screen)!r}")
            screen.extend(chunk)

    try:
        read_until(b"you are U_SHELL")
        read_until(b"endpoint-bot> ")
        os.write(master, f"up {shell_env['MODEL_DIR']} L4:1 ctx=8k name=tty\n".encode())
        read_until(b"[thread #tty] tty is ready.")
        read_until(b"[card #tty] [1] Stop tty")  # the card printed after READY, then the prompt again
        read_until(b"\x1b[K[card #tty] tty:")
        os.write(master, b"down tty\n")
        read_until(b"`tty` stopped; the cluster is gone")
        os.write(master, b"quit\n")
        proc.wait(timeout=180)
        with contextlib.suppress(OSError):  # the rest of the screen, until the terminal closes
            while chunk := os.read(master, 4096):
                screen.extend(chunk)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
    # A line a worker printed while the prompt waited was written over the prompt, which came back after it.
    async_start = text.index("\r\x1b[K[")
    assert "endpoint-bot> " in text[async_start:]
    assert "Traceback" not in text
    history = Path(shell_env["HOME"]) / ".cache" / "endpoint-bot" / "shell_history"
    assert "down tty" in history.read_text()


@pytest.mark.timeout(600)
def test_fit_beyond_the_native_context_offers_yarn_and_gpu_spellings_resolve(
    shell_env: dict[str, str],
) -> None:
    model = shell_env["MODEL_DIR"]  # Qwen2.5-7B-Instruct's config.json: 32,768 tokens native
    script = "\n".join(
        [
            f"/endpoint fit {model} A100-40GB:1 ctx=128k",
            f"/endpoint fit {model} H100-SXM5:1 ctx=128k rope=yarn",
            "",
        ]
    )
    out = _clean(_shell(shell_env, script))
    assert f"{model} does not fit on A100:1 (vllm). Nothing was launched." in out
    assert "needs YaRN rope scaling" in out and "add `rope=yarn`" in out
    assert "Stretch the context with YaRN rope scaling (rope=yarn, factor 4)" in out
    assert f"{model} fits on H100,H100-SXM:1: vllm · TP 1" in out and "context 131,072 tokens" in out
    assert "whichever of `H100` or `H100-SXM` is available" in out
    assert "Context stretched to 128k with YaRN (factor 4" in out
