"""The local launcher runs the fake engine as a real process through the same launch script as the cloud."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.launcher.base import LaunchSpec
from core.launcher.errors import explain_launch_error
from core.launcher.local import ClusterDoesNotExist, LocalLauncher, LocalLaunchError
from core.launcher.processes import is_alive as _alive
from core.launcher.processes import start_time_of as _start_time
from core.readiness import wait_until_ready
from core.settings import Settings

KEY = "epk-local-launcher-key-0123456789abcdef"
HF = "hf_localtokenabcdefghijklmnop"
FAKE = f"{sys.executable} -m tests.fakes.fake_engine"


def _spec(name: str = "epb-loc-1", engine: str = "vllm", **kw: Any) -> LaunchSpec:
    argv = (
        ["vllm", "serve", "org/m", "--host", "0.0.0.0", "--port", "8000", "--max-model-len", "4096"]
        if engine == "vllm"
        else [
            "python",
            "-m",
            "sglang.launch_server",
            "--model-path",
            "org/m",
            "--host",
            "0.0.0.0",
            "--port",
            "30000",
        ]
    )
    fields: dict[str, Any] = {
        "cluster_name": name,
        "model": "org/m",
        "engine": engine,
        "engine_argv": argv,
        "accelerators": ["L4:1"],
        "num_nodes": 1,
        "port": 8000 if engine == "vllm" else 30000,
        "image": "unused-locally",
        "secrets": {"ENDPOINT_API_KEY": KEY, "HF_TOKEN": HF},
    }
    fields.update(kw)
    return LaunchSpec(**fields)


@pytest.fixture
def launcher(tmp_path: Path) -> Any:
    created: list[LocalLauncher] = []

    def make(command: str | None = FAKE, grace: float = 5.0) -> LocalLauncher:
        settings = Settings(local_engine_command=command, launcher="local")
        created.append(LocalLauncher(settings, state_dir=tmp_path / "state", grace_seconds=grace))
        return created[-1]

    yield make
    for one in created:  # never leave a process behind, whatever the test did
        for cluster in one.list_clusters(""):
            one.down(cluster.name)


def _wait_gone(launcher: LocalLauncher, name: str, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while any(c.name == name for c in launcher.list_clusters("")):
        assert time.monotonic() < end, f"{name} still alive"
        time.sleep(0.05)


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_launch_ready_down_with_the_fake_engine(launcher: Any, engine: str) -> None:
    local = launcher()
    rid = local.submit(_spec(engine=engine))
    local.wait(rid, timeout=30)
    assert local.request_status(rid) == "SUCCEEDED"
    url = local.endpoint_url("epb-loc-1", 8000)
    wait_until_ready(url=url, engine=engine, api_key=KEY, model_name="org/m", deadline=timedelta(seconds=30))
    clusters = local.list_clusters("epb-")
    assert [(c.name, c.status) for c in clusters] == [("epb-loc-1", "UP")]
    # No secret in the state file or the log; for vLLM not even on the command line.
    state_text = (local.state_dir / "clusters.json").read_text()
    assert KEY not in state_text and HF not in state_text
    cluster = local.cluster("epb-loc-1")
    if engine == "vllm":
        cmdline = Path(f"/proc/{cluster.pid}/cmdline").read_bytes().decode()
        assert KEY not in cmdline
    assert Path(cluster.log_path).exists()
    local.down("epb-loc-1")
    assert not _alive(cluster.pid, cluster.start_time)
    assert local.list_clusters("epb-") == []
    local.down("epb-loc-1")  # idempotent
    with pytest.raises(ClusterDoesNotExist):
        local.endpoint_url("epb-loc-1", 8000)


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
def test_two_clusters_get_two_ports_and_a_restarted_bot_still_sees_them(
    launcher: Any, tmp_path: Path
) -> None:
    first = launcher()
    for name in ("epb-a", "epb-b"):
        first.wait(first.submit(_spec(name)))
    urls = {first.endpoint_url(name, 8000) for name in ("epb-a", "epb-b")}
    assert len(urls) == 2
    again = launcher()  # a new bot process reading the same state directory
    assert sorted(c.name for c in again.list_clusters("epb-")) == ["epb-a", "epb-b"]
    again.down("epb-a")
    assert [c.name for c in first.list_clusters("epb-")] == ["epb-b"]


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
def test_engine_that_dies_vanishes_from_the_list(launcher: Any) -> None:
    local = launcher()
    local.wait(local.submit(_spec()))
    url = local.endpoint_url("epb-loc-1", 8000)
    wait_until_ready(url=url, engine="vllm", api_key=KEY, model_name="org/m", deadline=timedelta(seconds=30))
    httpx.post(f"{url}/_fake/die")
    _wait_gone(local, "epb-loc-1")


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
def test_broken_command_fails_with_log_tail_and_no_secret(launcher: Any) -> None:
    command = (
        f'{sys.executable} -c \'import os,sys; print("boom: bad flag", os.environ["HF_TOKEN"]); sys.exit(3)\''
    )
    local = launcher(command)
    rid = local.submit(_spec())
    with pytest.raises(LocalLaunchError) as info:
        local.wait(rid)
    assert "code 3" in str(info.value) and "boom: bad flag" in str(info.value)
    assert HF not in str(info.value)
    assert local.request_status(rid) == "FAILED"
    assert local.list_clusters("") == []
    explained = str(explain_launch_error(info.value))
    assert "boom: bad flag" in explained and HF not in explained


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
def test_sigterm_ignored_means_sigkill_after_grace(launcher: Any) -> None:
    stubborn = f"{sys.executable} -c 'import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)'"
    local = launcher(stubborn, grace=0.3)
    local.wait(local.submit(_spec()))
    cluster = local.cluster("epb-loc-1")
    local.down("epb-loc-1")
    assert not _alive(cluster.pid, cluster.start_time)


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
def test_deadline_reaper_kills_even_without_the_bot(launcher: Any) -> None:
    local = launcher()
    local.wait(local.submit(_spec(autostop_minutes=60)))
    first_reaper = local.cluster("epb-loc-1")
    assert first_reaper.reaper_pid and first_reaper.deadline_at
    local.set_deadline("epb-loc-1", 0)  # resetting replaces the old reaper
    assert not _alive(first_reaper.reaper_pid, first_reaper.reaper_start_time)
    fresh = launcher()  # a different launcher object: the reaper, not this process, does the killing
    _wait_gone(fresh, "epb-loc-1")
    with pytest.raises(ClusterDoesNotExist):
        local.set_deadline("epb-loc-1", 5)


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
def test_cancel_after_launch_stops_the_cluster(launcher: Any) -> None:
    local = launcher()
    rid = local.submit(_spec())
    local.cancel(rid)
    assert local.request_status(rid) == "CANCELLED"
    assert local.list_clusters("") == []


def test_engine_argv_replaces_only_the_executable(tmp_path: Path) -> None:
    local = LocalLauncher(Settings(local_engine_command="fake-engine --x"), state_dir=tmp_path)
    assert local.engine_argv(_spec(), port=9001) == [
        "fake-engine", "--x", "serve", "org/m", "--host", "0.0.0.0", "--port", "9001", "--max-model-len", "4096",
    ]  # fmt: skip
    assert local.engine_argv(_spec(engine="sglang"), port=9002)[:4] == [
        "fake-engine",
        "--x",
        "--model-path",
        "org/m",
    ]
    real = LocalLauncher(Settings(local_engine_command=None), state_dir=tmp_path)
    assert real.engine_argv(_spec(), port=8000)[:3] == ["vllm", "serve", "org/m"]


def test_pid_identity_includes_start_time() -> None:
    me = os.getpid()
    assert _alive(me, _start_time(me))
    assert not _alive(me, "1")  # same pid, another process: a reused pid is not our engine
    assert not _alive(2**22 + 12345, None)


def test_state_file_is_plain_json(tmp_path: Path) -> None:
    local = LocalLauncher(Settings(), state_dir=tmp_path)
    assert local.list_clusters("") == []
    (tmp_path / "clusters.json").write_text("{not json")
    assert local.list_clusters("") == []  # unreadable state is not fatal
    assert (tmp_path / "clusters.json").read_text() == "{not json"  # left for a person to inspect


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
def test_engine_started_but_never_recorded_is_found_and_torn_down(launcher: Any) -> None:
    """The bot died between starting the process and writing it down: the tag still finds it."""
    local = launcher()
    local.wait(local.submit(_spec("epb-stray")))
    pid = local.cluster("epb-stray").pid
    (local.state_dir / "clusters.json").write_text("{}")  # the record never made it to disk
    restarted = launcher()
    [found] = restarted.list_clusters("epb-")
    assert found.name == "epb-stray"
    assert restarted.cluster("epb-stray").pid == pid
    assert restarted.endpoint_url("epb-stray", 8000) == local.endpoint_url("epb-stray", 8000)
    (local.state_dir / "clusters.json").write_text("{}")
    restarted.down("epb-stray")  # down finds it by its tag too
    assert not _alive(pid, None)
    assert restarted.list_clusters("epb-") == []


@pytest.mark.timeout(180)  # generous: a loaded 2-core machine
def test_tags_of_another_state_dir_are_not_ours(launcher: Any, tmp_path: Path) -> None:
    local = launcher()
    local.wait(local.submit(_spec("epb-mine")))
    other = LocalLauncher(Settings(local_engine_command=FAKE), state_dir=tmp_path / "elsewhere")
    assert other.list_clusters("") == []
    other.down("epb-mine")  # not its cluster: nothing happens
    assert [c.name for c in local.list_clusters("")] == ["epb-mine"]
