"""The local launcher against an unfriendly host (issue 10): what a real engine process can see and who
answers on its port. Every test runs the fake engine as a real process and looks at it through /proc."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.clock import ManualClock
from core.db import Database
from core.endpoints.states import EndpointState as S
from core.errors import LaunchFailed
from core.launcher.local import LocalLauncher
from core.readiness import wait_until_ready
from core.settings import Settings
from tests.core.endpoints.lifecycle_fixtures import Lifecycle, make_settings, up_request
from tests.core.launcher.test_local import FAKE, HF, KEY, _spec

pytestmark = pytest.mark.timeout(180)  # generous: a loaded 2-core machine

# The fake engine, starting (and binding its port) only after 10 s, as a real one loading weights would.
SLOW_FAKE = f"bash -c 'sleep 10; exec \"$@\"' slow-engine {FAKE}"


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


# --- item 6: the server answering must be the engine that was launched ----------------------------------


@pytest.fixture
def squatter(tmp_path: Path) -> Iterator[Any]:
    """Start `tests.fakes.port_squatter` on a port; killed after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(port: int) -> Path:
        record = tmp_path / f"squatter-{port}.log"
        record.touch()
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.port_squatter", "--port", str(port), "--record", str(record)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[3],
        )
        started.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "listening"
        return record

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=10)


def test_a_program_squatting_the_port_gets_no_key_and_no_ready(make_launcher: Any, squatter: Any) -> None:
    # The engine takes a while to bind its port (weights loading); another program takes the port meanwhile.
    local = make_launcher(local_engine_command=SLOW_FAKE)
    local.wait(local.submit(_spec()))
    cluster = local.cluster("epb-loc-1")
    record = squatter(cluster.port)
    url = local.endpoint_url("epb-loc-1", 8000)
    with pytest.raises(LaunchFailed) as err:
        wait_until_ready(
            url=url,
            engine="vllm",
            api_key=KEY,
            model_name="org/m",
            deadline=timedelta(seconds=30),
            first_delay=0.05,
            check_server=lambda: local.check_serving("epb-loc-1"),
        )
    message = str(err.value)
    assert f"Port {cluster.port} is answered by another program" in message
    assert "port_squatter" in message and "API key was not sent" in message
    assert KEY not in record.read_text(), "the squatter got the endpoint's key"
    assert record.read_text() == "", "no completion reached the squatter at all"


def test_the_launched_engine_passes_the_check(make_launcher: Any) -> None:
    local = make_launcher()
    local.wait(local.submit(_spec()))
    url = local.endpoint_url("epb-loc-1", 8000)
    wait_until_ready(
        url=url,
        engine="vllm",
        api_key=KEY,
        model_name="org/m",
        deadline=timedelta(seconds=60),
        first_delay=0.05,
        check_server=lambda: local.check_serving("epb-loc-1"),
    )


@pytest.mark.parametrize("tls", [False, True])
def test_through_the_lifecycle_a_squatted_port_ends_failed_with_a_sentence(
    tmp_path: Path, squatter: Any, tls: bool
) -> None:
    """Plain HTTP (`tls=no`): the squatter answers /health, the ownership check refuses it the key. With
    TLS it cannot even pass the handshake (it has no certificate from the endpoint's CA); the engine's
    own exit (the port is taken) ends the launch. Either way the key never reaches it."""
    settings = make_settings(local_engine_command=SLOW_FAKE, local_state_dir=tmp_path / "state")
    local = LocalLauncher(settings, grace_seconds=5.0)
    database = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    database.upgrade()
    lc = Lifecycle(database=database, cloud=local, clock=ManualClock(), settings=settings)
    records: list[Path] = []

    def squat_once_the_port_is_chosen() -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            clusters = list(local._read().values())
            if clusters:
                records.append(squatter(clusters[0].port))
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=squat_once_the_port_is_chosen)
    watcher.start()
    try:
        view = lc.service.up(request=up_request(max_model_len=8192, name="squatted", tls=tls))
        watcher.join(timeout=70)
        lc.join()
        final = lc.service.status(name=view.name)
        assert final.state is S.FAILED
        said = " ".join(lc.notifier.thread_texts(view.name))
        if tls:
            assert "Address already in use" in said, said
        else:
            assert "is answered by another program" in said and "API key was not sent" in said
        assert records and "Bearer" not in records[0].read_text()
        assert local.list_clusters("") == [], "the engine was torn down"
    finally:
        lc.close()
        for cluster in local.list_clusters(""):
            local.down(cluster.name)
        database.dispose()


# --- item 11: no zombie left in the bot for an engine that died on its own -------------------------------


def _zombie_children() -> list[int]:
    me, found = os.getpid(), []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            found.append(int(entry.name))
    return found


def test_an_engine_that_dies_leaves_no_reaper_or_zombie_behind(make_launcher: Any) -> None:
    local = make_launcher()
    local.wait(local.submit(_spec(autostop_minutes=60)))  # a deadline reaper watches it
    cluster = local.cluster("epb-loc-1")
    assert cluster.reaper_pid
    url = local.endpoint_url("epb-loc-1", 8000)
    wait_until_ready(url=url, engine="vllm", api_key=KEY, model_name="org/m", deadline=timedelta(seconds=30))
    httpx.post(f"{url}/_fake/die")
    end = time.monotonic() + 30
    while local.list_clusters(""):  # the reconcile's view: the cluster is gone (LOST)
        assert time.monotonic() < end
        time.sleep(0.05)
    assert not Path(f"/proc/{cluster.reaper_pid}").exists(), "the reaper still runs or is a zombie"
    assert not Path(f"/proc/{cluster.pid}").exists(), "the engine is a zombie"
    assert _zombie_children() == []


# --- item 9: private files, and no key kept in an engine log -------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_and_logs_are_private_and_the_log_keeps_no_key(make_launcher: Any, tmp_path: Path) -> None:
    # An engine that prints its arguments the way SGLang does at start-up, key and HF token included.
    chatty = (
        f"{sys.executable} -c 'import os,sys,time; "
        'print("server_args=ServerArgs(api_key=" + repr(os.environ["ENDPOINT_API_KEY"]) + ", port=1)"); '
        'print("key is", os.environ["ENDPOINT_API_KEY"], "token", os.environ["HF_TOKEN"]); '
        'print("plain line kept"); sys.stdout.flush(); time.sleep(60)\''
    )
    local = make_launcher(local_engine_command=chatty)
    local.wait(local.submit(_spec()))
    cluster = local.cluster("epb-loc-1")
    log_path = Path(cluster.log_path)
    end = time.monotonic() + 30
    while "plain line kept" not in log_path.read_text():
        assert time.monotonic() < end, log_path.read_text()
        time.sleep(0.05)
    text = log_path.read_text()
    assert KEY not in text and HF not in text, text
    assert "<redacted>" in text and "plain line kept" in text
    state = tmp_path / "state"
    assert _mode(state) == 0o700 and _mode(state / "logs") == 0o700
    assert _mode(log_path) == 0o600
    assert _mode(state / "clusters.json") == 0o600 and _mode(state / "clusters.lock") == 0o600


def test_an_engine_that_fails_at_once_still_reports_its_last_words_redacted(make_launcher: Any) -> None:
    failing = f'{sys.executable} -c \'import os,sys; print("bad flag; key", os.environ["ENDPOINT_API_KEY"]); sys.exit(2)\''
    local = make_launcher(local_engine_command=failing)
    with pytest.raises(Exception) as err:
        local.wait(local.submit(_spec()))
    assert "bad flag" in str(err.value) and "code 2" in str(err.value)
    assert KEY not in str(err.value)
    assert KEY not in Path(local.state_dir / "logs" / "epb-loc-1.log").read_text()


# --- item 11: SGLang's key is not in the engine's argv (`ps`) -------------------------------------------


def test_a_local_sglang_gets_its_key_from_a_private_config_file_not_argv(make_launcher: Any) -> None:
    local = make_launcher()
    local.wait(local.submit(_spec(engine="sglang")))
    cluster = local.cluster("epb-loc-1")
    cmdline = Path(f"/proc/{cluster.pid}/cmdline").read_bytes().decode()
    assert KEY not in cmdline and "--api-key" not in cmdline and "--config" in cmdline
    key_file = local.state_dir / "keys" / "epb-loc-1.yaml"
    assert _mode(key_file) == 0o600 and _mode(key_file.parent) == 0o700
    url = local.endpoint_url("epb-loc-1", 30000)
    # The engine took the key from the file: a completion with it succeeds.
    wait_until_ready(
        url=url, engine="sglang", api_key=KEY, model_name="org/m", deadline=timedelta(seconds=30)
    )
    local.down("epb-loc-1")
    assert not key_file.exists(), "the key file goes with the cluster"
