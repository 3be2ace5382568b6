"""core.wiring: the Runtime owns the one watchdog; start() runs it unless told not to, close() stops it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from core.clock import ManualClock
from core.db import Database
from core.wiring import Runtime, build_runtime
from tests.core.endpoints.lifecycle_fixtures import RecordingNotifier, fixture_facts, make_settings, new_cloud


@pytest.fixture
def runtime(database: Database) -> Iterator[Runtime]:
    clock = ManualClock()
    cloud = new_cloud(clock)
    settings = make_settings(watchdog_interval=timedelta(seconds=0.05), reconcile_interval=timedelta(hours=1))
    built = build_runtime(
        settings, notifier=RecordingNotifier(), launcher=cloud, database=database, clock=clock,
        facts_loader=fixture_facts,
    )  # fmt: skip
    try:
        yield built
    finally:
        built.close()
        cloud.close()


def _wait_for_tick(runtime: Runtime) -> None:
    assert runtime.watchdog is not None
    for _ in range(500):
        if runtime.watchdog.last_report is not None:
            return
        time.sleep(0.01)
    raise AssertionError("the watchdog never ticked")


@pytest.mark.timeout(30)
def test_runtime_builds_one_watchdog_on_its_own_service_and_notifier(runtime: Runtime) -> None:
    watchdog = runtime.watchdog
    assert watchdog is not None
    assert watchdog.service is runtime.service
    assert watchdog.notifier is runtime.notifier
    assert watchdog.database is runtime.database
    assert not watchdog.running, "building does not start it"


@pytest.mark.timeout(30)
def test_start_runs_the_watchdog_and_close_stops_it(runtime: Runtime) -> None:
    runtime.start(reconcile_now=False, periodic=False)
    assert runtime.watchdog is not None and runtime.watchdog.running
    _wait_for_tick(runtime)
    runtime.start(reconcile_now=False, periodic=False)  # a second start does not add a second loop
    assert runtime.watchdog.running
    runtime.close()
    assert not runtime.watchdog.running


@pytest.mark.timeout(30)
def test_start_without_the_watchdog_leaves_it_idle(runtime: Runtime) -> None:
    runtime.start(reconcile_now=False, periodic=False, watchdog=False)
    assert runtime.watchdog is not None
    assert not runtime.watchdog.running
    assert runtime.watchdog.last_report is None
    runtime.watchdog.tick()  # still usable by hand (tests, a one-shot command)
    assert runtime.watchdog.last_report is not None
