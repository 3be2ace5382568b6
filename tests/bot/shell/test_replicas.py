"""Replicas at the shell: `up ... replicas=2` typed at the prompt, the real service on a SQLite store and the
fake cloud running the replicas with fake engines; the card printed as text shows the replicas ready."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.shell.console import Console
from bot.shell.notifier import ShellNotifier
from bot.shell.session import Shell
from core.clock import ManualClock
from core.db import Database
from core.endpoints.service import EndpointService
from core.endpoints.states import EndpointState
from core.workers import WorkerPool
from tests.core.endpoints.lifecycle_fixtures import FAST_FLOWS, fixture_facts, make_settings, new_cloud

pytestmark = pytest.mark.timeout(120)


def test_the_shell_launches_replicas_shows_them_and_stops_the_service(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    database.upgrade()
    clock = ManualClock()
    cloud = new_cloud(clock)
    stream = io.StringIO()
    notifier = ShellNotifier(Console(stream), clock=clock)
    workers = WorkerPool(size=4)
    service = EndpointService(
        settings=make_settings(readiness_poll_max=0.02),
        database=database,
        launcher=cloud,
        notifier=notifier,
        workers=workers,
        clock=clock,
        facts_loader=fixture_facts,
        flow_options=dict(FAST_FLOWS),
    )
    lines = iter(
        [
            "up Qwen/Qwen2.5-7B-Instruct L4:1 name=svc autoscale=1-3",  # no qps: refused, nothing happens
            "up Qwen/Qwen2.5-7B-Instruct L4:1 name=svc replicas=2",
            "wait svc",
            "status svc",
            "down svc",
            "wait svc",
        ]
    )
    shell = Shell(service=service, notifier=notifier, user_id="U_OWNER", channel_id="C1",
                  reader=lambda _prompt: next(lines, None), clock=clock)  # fmt: skip
    try:
        shell.run()
        workers.join(60)
        assert service.status(name="svc").state is EndpointState.STOPPED
    finally:
        workers.shutdown(wait=True)
        cloud.close()
        database.dispose()
    out = stream.getvalue()
    assert "needs a target load per replica" in out
    assert "2/2 replicas ready" in out and "for 2 replicas" in out
    assert "sky serve down" in out
    assert len(cloud.calls_to("submit_service")) == 1
    assert len(cloud.calls_to("service_down")) == 1 and cloud.list_clusters("") == []
