"""The leftover check itself: it must find a detached engine and its reaper, and kill them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bot.leftovers import RUN_MARK, kill, leftovers

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
def test_a_detached_marked_process_and_its_reaper_are_found_and_killed() -> None:
    run_id = "leftover-check-" + os.urandom(4).hex()
    engine = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={**os.environ, RUN_MARK: run_id},
        start_new_session=True,  # as the local launcher starts engines: they outlive the bot
    )
    reaper = subprocess.Popen(  # the real deadline reaper, guarding that engine, with no mark of its own
        [
            sys.executable,
            "-m",
            "core.launcher.processes",
            "reap",
            "--pid",
            str(engine.pid),
            "--at",
            repr(time.time() + 3600),
        ],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    try:
        found = []
        deadline = time.monotonic() + 30
        while len(found) < 2 and time.monotonic() < deadline:  # until both have exec'd
            found = leftovers(run_id)
            time.sleep(0.05)
        assert {f.pid for f in found} == {engine.pid, reaper.pid}
        assert leftovers("some-other-run") == []
        kill(found)
        assert engine.wait(timeout=10) and reaper.wait(timeout=10)  # killed: a non-zero status
        assert leftovers(run_id) == []
    finally:
        for process in (engine, reaper):
            if process.poll() is None:
                process.kill()
                process.wait()
