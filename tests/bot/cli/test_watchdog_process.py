"""The watchdog's own process: `endpoint-bot serve` starts `endpoint-bot watchdog` as its child and takes
it down with itself; the supervisor starts a child that died again; `endpoint-bot watchdog --once` ticks
over the bot's database from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.supervisor import WatchdogChild
from tests.fakes.fake_engine import start_fake_engine
from tests.fakes.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(300)


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


def _wait(condition, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ENDPOINT_BOT_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        HOME=str(tmp_path / "home"),
        ENDPOINT_BOT_DB_PATH=str(tmp_path / "bot.db"),
        ENDPOINT_BOT_LAUNCHER="local",
        ENDPOINT_BOT_LOCAL_STATE_DIR=str(tmp_path / "local"),
        ENDPOINT_BOT_FACTS_CACHE_DIR=str(tmp_path / "facts"),
        **extra,
    )
    return env


def test_serve_starts_the_watchdog_process_and_takes_it_down(tmp_path: Path) -> None:
    with FakeSlack.start() as slack:
        env = _env(
            tmp_path,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
        )
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--http", "--port", "0", "--host", "127.0.0.1"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            children = _wait(lambda: [c for c in _children(bot.pid) if "bot.cli watchdog" in c[1]])
            ((child_pid, _cmd),) = children
            os.kill(child_pid, signal.SIGKILL)  # the supervisor starts it again
            again = _wait(
                lambda: [c for c in _children(bot.pid) if "bot.cli watchdog" in c[1] and c[0] != child_pid]
            )
        finally:
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(60) == 0
        assert not any(_pid_alive(pid) for pid, _cmd in again)  # gone with the bot, no orphan


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_thread_mode_starts_no_child(tmp_path: Path) -> None:
    with FakeSlack.start() as slack:
        env = _env(
            tmp_path,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
            ENDPOINT_BOT_WATCHDOG_MODE="thread",
        )
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--http", "--port", "0", "--host", "127.0.0.1"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(lambda: slack.calls_to("auth.test"))  # the bot is up
            time.sleep(2)
            assert not [c for c in _children(bot.pid) if "watchdog" in c[1]]
        finally:
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(60) == 0


def test_the_supervisor_restarts_a_child_that_died_and_stops_one_that_runs() -> None:
    dying = WatchdogChild([sys.executable, "-c", "pass"])
    dying.start()
    _wait(lambda: dying.starts >= 2, timeout=30)  # restarted after its backoff
    dying.stop()
    steady = WatchdogChild([sys.executable, "-c", "import time; time.sleep(600)"])
    steady.start()
    process = _wait(lambda: steady.process)
    steady.stop(timeout=10)
    assert process.poll() is not None and steady.starts == 1


def test_watchdog_once_ticks_over_the_bots_database(tmp_path: Path) -> None:
    from benchmarks.watchdog_bench import _seed
    from core.clock import SystemClock
    from core.db import Database

    env = _env(tmp_path)
    database = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    database.upgrade()
    with start_fake_engine(engine="vllm", model="m") as engine:
        _seed(database, [engine.url], "vllm", SystemClock())
        database.dispose()
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "watchdog", "--once"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "1 endpoints, 1 scraped, 0 failed" in done.stdout
