"""Crash safety: the bot dies at each step of a launch or teardown, a new process starts on the same
store and the same cloud, reconciles, and no cluster is left unknown and no record is lost.

The "crash" is a `BaseException` raised by the launcher at a chosen step. Flows handle `Exception`
only, so the store, the claims and the cloud are left exactly as a killed process leaves them; the
crashed process's worker pool and service are then abandoned. The restarted process has another
claim owner, and its clock runs past the dead process's claim expiry, as a real restart would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import ManualClock
from core.db import Database
from core.endpoints import flows, messaging, store
from core.endpoints.states import EndpointState as S
from tests.core.endpoints.lifecycle_fixtures import (
    FIXTURES,
    Lifecycle,
    make_settings,
    new_cloud,
    record_endpoint,
)
from tests.fakes.fake_cloud import FakeCloud
from tests.fakes.local_bot import local_bot_env

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[3]


class Crash(BaseException):
    """The process dies here (like SystemExit: not an Exception, so no handler turns it into a state)."""


class CrashingLauncher:
    """The shared FakeCloud, except that calling `method` kills the process (before or after the call)."""

    name = "fake"

    def __init__(self, cloud: FakeCloud, method: str, *, after: bool = False) -> None:
        self._cloud = cloud
        self._method = method
        self._after = after
        self.crashed = False

    def __getattr__(self, attr: str) -> Any:
        real = getattr(self._cloud, attr)
        if attr != self._method or self.crashed:
            return real

        def crashing(*args: Any, **kwargs: Any) -> Any:
            self.crashed = True
            if not self._after:
                raise Crash(f"killed before {attr}")
            real(*args, **kwargs)
            raise Crash(f"killed after {attr}")

        return crashing


@pytest.fixture
def world(database: Database) -> Iterator[tuple[Database, FakeCloud, ManualClock]]:
    clock = ManualClock()
    cloud = new_cloud(clock)
    yield database, cloud, clock
    cloud.close()


def _process(database: Database, launcher: Any, clock: ManualClock, owner: str) -> Lifecycle:
    lc = Lifecycle(database=database, cloud=launcher, clock=clock, settings=make_settings())
    lc.service.flows.owner = owner
    return lc


def _restart(database: Database, cloud: FakeCloud, clock: ManualClock) -> Lifecycle:
    clock.advance(timedelta(minutes=10))  # past the dead process's claims
    lc = _process(database, cloud, clock, owner="host:2:restarted")
    lc.service.reconcile()
    lc.join()
    lc.service.reconcile()  # a second sweep finds nothing left to do
    lc.join()
    return lc


def _assert_consistent(lc: Lifecycle, cloud: FakeCloud, *, expected_rows: int) -> None:
    """No cluster unknown or behind a terminal endpoint; every live endpoint's cluster accounted for."""
    with lc.database.session() as session:
        rows = store.list_endpoints(session=session)
        assert len(rows) == expected_rows, "no record is lost"
        by_cluster = {e.cluster_name: e for e in rows}
        for cluster in cloud.list_clusters("epb-"):
            endpoint = by_cluster.get(cluster.name)
            assert endpoint is not None, f"unknown cluster {cluster.name} left running"
            assert not endpoint.state.is_terminal, f"{cluster.name} runs behind a {endpoint.state} endpoint"
        for endpoint in rows:
            assert endpoint.state in (S.READY, S.STOPPED, S.FAILED, S.LOST), (
                f"{endpoint.name} stuck {endpoint.state}"
            )
            if endpoint.state is S.READY:
                assert cloud.cluster(endpoint.cluster_name) is not None


@pytest.mark.parametrize(
    ("method", "after", "label"),
    [
        ("submit", False, "before submit"),
        ("submit", True, "after the cluster was requested, before the request id was stored"),
        ("wait", False, "after the request id was stored"),
        ("endpoint_url", False, "after the cluster is up, before STARTING"),
        ("set_deadline", False, "after STARTING, before READY"),
    ],
)
def test_crash_during_launch_then_restart(
    world: tuple[Database, FakeCloud, ManualClock], method: str, after: bool, label: str
) -> None:
    database, cloud, clock = world
    crashing = CrashingLauncher(cloud, method, after=after)
    first = _process(database, crashing, clock, owner="host:1:first")
    view = record_endpoint(first, name="victim")
    first.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    first.join()
    assert crashing.crashed, label
    assert first.state("victim") in S.launching(), "the crash left the launch in flight"
    # The dead process is abandoned: its pool, its notifier, its in-memory API key.

    second = _restart(database, cloud, clock)
    _assert_consistent(second, cloud, expected_rows=1)
    final = second.service.status(name="victim")
    assert final.state is S.FAILED, "a launch whose key died with the process is torn down, not half-kept"
    assert final.failure_reason == messaging.restarted_during_launch()
    assert cloud.cluster(view.cluster_name) is None
    assert any("please run `up` again" in t for t in second.notifier.thread_texts("victim"))
    second.close()


def test_a_launch_whose_owner_process_died_is_taken_over_at_once(
    world: tuple[Database, FakeCloud, ManualClock],
) -> None:
    """The crashed process ran on this host and its pid no longer runs: the restart does not wait for
    its claim to lapse (no clock advance here) and tells the owner why in the thread."""
    import socket

    database, cloud, clock = world
    crashing = CrashingLauncher(cloud, "wait")
    dead = f"{socket.gethostname()}:4194999:12345:deadbeef0000"
    first = _process(database, crashing, clock, owner=dead)
    view = record_endpoint(first, name="orphan")
    first.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    first.join()
    assert crashing.crashed and first.state("orphan") is S.PROVISIONING

    second = _process(database, cloud, clock, owner="host:2:restarted")
    second.service.reconcile()
    second.join()
    assert second.service.last_reconcile is not None
    assert second.service.last_reconcile.orphans_taken_over == [f"launch:{view.id}"]
    final = second.service.status(name="orphan")
    assert final.state is S.FAILED
    assert final.failure_reason == messaging.restarted_during_launch()
    assert cloud.cluster(view.cluster_name) is None
    assert any("please run `up` again" in t for t in second.notifier.thread_texts("orphan"))
    second.close()


def test_a_live_owner_keeps_its_claim(world: tuple[Database, FakeCloud, ManualClock]) -> None:
    """The same sweep leaves alone a launch whose owner (this very process) still runs."""
    database, cloud, clock = world
    crashing = CrashingLauncher(cloud, "wait")
    from core import claims

    first = _process(database, crashing, clock, owner=claims.process_identity())
    view = record_endpoint(first, name="alive")
    first.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    first.join()
    second = _process(database, cloud, clock, owner="host:2:other")
    second.service.reconcile()
    second.join()
    assert second.service.status(name="alive").state is S.PROVISIONING, "its claim still holds"
    assert second.service.last_reconcile is not None
    assert second.service.last_reconcile.orphans_taken_over == []
    second.close()


def test_crash_after_ready_then_restart_keeps_the_endpoint(
    world: tuple[Database, FakeCloud, ManualClock],
) -> None:
    database, cloud, clock = world
    first = _process(database, cloud, clock, owner="host:1:first")
    view = record_endpoint(first, name="keeper")
    first.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    first.join()
    assert first.state("keeper") is S.READY

    second = _restart(database, cloud, clock)
    _assert_consistent(second, cloud, expected_rows=1)
    assert second.state("keeper") is S.READY
    assert cloud.cluster(view.cluster_name) is not None
    second.close()
    first.close()


@pytest.mark.parametrize("after", [False, True], ids=["before down", "after down"])
def test_crash_during_teardown_then_restart(
    world: tuple[Database, FakeCloud, ManualClock], after: bool
) -> None:
    database, cloud, clock = world
    healthy = _process(database, cloud, clock, owner="host:0:launcher")
    view = record_endpoint(healthy, name="going")
    healthy.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
    healthy.join()
    healthy.close()

    crashing = CrashingLauncher(cloud, "down", after=after)
    first = _process(database, crashing, clock, owner="host:1:first")
    first.service.down(name="going", actor="U_OWNER")
    first.join()
    assert crashing.crashed
    assert first.state("going") is S.STOPPING

    second = _restart(database, cloud, clock)
    _assert_consistent(second, cloud, expected_rows=1)
    final = second.service.status(name="going")
    assert final.state is S.STOPPED
    assert final.stop_reason == "stopped by <@U_OWNER>"
    assert cloud.cluster(view.cluster_name) is None
    second.close()


def test_many_crashed_launches_are_all_accounted_for(world: tuple[Database, FakeCloud, ManualClock]) -> None:
    """A mix: several endpoints caught at different steps by the same crash, one restart cleans all."""
    database, cloud, clock = world
    steps = ["submit", "wait", "endpoint_url"]
    views = []
    for i, method in enumerate(steps):
        crashing = CrashingLauncher(cloud, method, after=(i % 2 == 1))
        lc = _process(database, crashing, clock, owner=f"host:1:{i}")
        view = record_endpoint(lc, name=f"mix-{i}")
        lc.service.flows.schedule(flows.LAUNCH, view.id, flows.launch)
        lc.join()
        views.append(view)
    second = _restart(database, cloud, clock)
    _assert_consistent(second, cloud, expected_rows=len(steps))
    assert cloud.list_clusters("epb-") == []
    second.close()


# --- a real process, killed with SIGKILL -------------------------------------------------------------


@pytest.mark.timeout(120)
def test_kill_9_while_the_engine_loads_then_restart_leaves_no_engine_running(tmp_path: Path) -> None:
    """`endpoint-bot up` with the local launcher is SIGKILLed while readiness is polling; the engine
    process it started survives (as a cloud cluster would). `endpoint-bot reconcile` in a new process
    must find the launch, tear the engine down and record FAILED: at once, without waiting for the dead
    process's claim to lapse (its owner, host + pid + start time, is recognised as gone)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(fixture_config("Qwen/Qwen2.5-7B-Instruct")))
    env = local_bot_env(
        tmp_path,
        # An engine that opens its port but never becomes ready: the bot is caught mid-readiness.
        engine_args="--never-ready",
        ENDPOINT_BOT_CLAIM_TTL="1h",  # the claim would hold the work for an hour if its death went unseen
    )
    cli = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
    bot = subprocess.Popen(
        [*cli, "up", str(model), "L4:1", "--max-model-len", "8k", "--name", "killed"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    database = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        state = None
        for _ in range(600):
            time.sleep(0.05)
            try:
                with database.session() as session:
                    endpoint = store.get_by_name(session=session, name="killed")
                    state = endpoint.state if endpoint is not None else None
            except Exception:  # the schema may not exist yet
                continue
            if state is S.STARTING:
                break
        assert state is S.STARTING, f"the launch never reached STARTING (state {state})"
        time.sleep(0.3)  # readiness is polling now
        bot.send_signal(signal.SIGKILL)
        bot.wait(10)

        pids = _local_engine_pids(tmp_path / "home")
        assert pids and all(_pid_alive(p) for p in pids), "the engine survives its bot, like a cloud cluster"

        restarted = subprocess.run(
            [*cli, "reconcile"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert restarted.returncode == 0, restarted.stderr
        assert "1 launch resumed" in restarted.stdout

        with database.session() as session:
            endpoint = store.get_by_name(session=session, name="killed")
            assert endpoint.state is S.FAILED
            assert endpoint.failure_reason == messaging.restarted_during_launch()
        for _ in range(100):
            if not any(_pid_alive(p) for p in pids):
                break
            time.sleep(0.05)
        assert not any(_pid_alive(p) for p in pids), "the engine left by the killed bot is gone"
        assert _local_engine_pids(tmp_path / "home") == []
    finally:
        if bot.poll() is None:
            bot.kill()
        for pid in _local_engine_pids(tmp_path / "home"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        database.dispose()


def fixture_config(model: str) -> dict[str, Any]:
    return next(e["config"] for e in json.loads(FIXTURES.read_text()) if e["model_id"] == model)


def _local_engine_pids(home: Path) -> list[int]:
    state = home / ".cache" / "endpoint-bot" / "local" / "clusters.json"
    if not state.exists():
        return []
    return [c["pid"] for c in json.loads(state.read_text() or "{}").values()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")
