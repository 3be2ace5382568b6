"""Every adapter test: no bot, engine or deadline reaper it started may outlive it.

`no_process_left_behind` (autouse) marks the test's environment with a run id before any other fixture
copies it (tests/bot/leftovers.py explains how processes are found). After the test, whatever of
its own still runs is killed, so a failing test never leaves an engine holding a port for the next
one; and a test that *passed* while leaving something behind is failed, naming the processes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.leftovers import RUN_MARK, Leftover, kill, leftovers

_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_PASSED] = report.passed
    return report


def _settled(run_id: str, roots: list[Path], *, grace: float = 5.0) -> list[Leftover]:
    """What of the test's own still runs once processes already on their way out have exited: a stopped
    engine's log redactor and vLLM's resource tracker end a moment after the engine does."""
    deadline = time.monotonic() + grace
    found = leftovers(run_id, roots=roots)
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = leftovers(run_id, roots=roots)
    return found


@pytest.fixture(autouse=True)
def no_process_left_behind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    run_id = uuid.uuid4().hex
    monkeypatch.setenv(RUN_MARK, run_id)
    yield run_id
    tmp = request.node.funcargs.get("tmp_path")
    roots = [tmp] if isinstance(tmp, Path) else []
    found = _settled(run_id, roots)
    kill(found)
    if found and request.node.stash.get(_PASSED, False):
        pytest.fail(
            "the test left processes running (killed now): " + "; ".join(str(f) for f in found),
            pytrace=False,
        )
