"""Find and kill the processes a test started and left running: bots, engines and deadline reapers.

Every adapter test runs with `RUN_MARK=<id>` in its environment (tests/bot/conftest.py). The bot
processes a test starts copy that environment, and the local launcher passes it on to the engines it
starts (`start_new_session`: they outlive the bot on purpose), so `/proc/<pid>/environ` tells this test's
processes apart from everyone else's, even after their parent is gone. Deadline reapers get a minimal
environment; they are found through the engine they guard (`--pid`) or the launcher's state files
(`clusters.json`, `reaper_pid`) under the test's directory. Linux only (/proc); elsewhere nothing is found.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

RUN_MARK = "EPB_TEST_RUN"


@dataclass(frozen=True)
class Leftover:
    pid: int
    argv: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.argv[:160]}"


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")[:-1]
    except OSError:
        return []


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _pids() -> list[int]:
    try:
        return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []


def marked(run_id: str) -> list[int]:
    """Running processes whose environment carries this run's mark (never this process)."""
    want = f"{RUN_MARK}={run_id}".encode()
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if want in environ and _running(pid):
            found.append(pid)
    return found


def _recorded_reapers(roots: Sequence[Path]) -> set[int]:
    pids: set[int] = set()
    for root in roots:
        for state in root.glob("**/endpoint-bot/local/clusters.json"):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                for cluster in json.loads(state.read_text() or "{}").values():
                    if cluster.get("reaper_pid"):
                        pids.add(int(cluster["reaper_pid"]))
    return pids


def _reaper_target(argv: list[str]) -> int | None:
    if "core.launcher.processes" not in argv or "reap" not in argv or "--pid" not in argv:
        return None
    with contextlib.suppress(IndexError, ValueError):
        return int(argv[argv.index("--pid") + 1])
    return None


def leftovers(run_id: str, *, roots: Sequence[Path] = ()) -> list[Leftover]:
    """This run's processes still running: marked ones, and reapers guarding them or recorded under `roots`."""
    ours = set(marked(run_id))
    recorded = _recorded_reapers(roots)
    for pid in _pids():
        if pid in ours or not _running(pid):
            continue
        target = _reaper_target(_argv(pid))
        if target is not None and (target in ours or pid in recorded):
            ours.add(pid)
    return [Leftover(pid, " ".join(_argv(pid))) for pid in sorted(ours) if _running(pid)]


def kill(found: list[Leftover], *, timeout: float = 10.0) -> None:
    """SIGKILL each leftover's process group (engines lead their own) and wait until they are gone."""
    for item in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(item.pid) == item.pid:
                os.killpg(item.pid, signal.SIGKILL)
            else:
                os.kill(item.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_running(i.pid) for i in found) and time.monotonic() < deadline:
        time.sleep(0.05)


def engine_pids(home: str | Path) -> list[int]:
    """The engine pids the local launcher recorded under `home` (its clusters.json)."""
    state = Path(home) / ".cache" / "endpoint-bot" / "local" / "clusters.json"
    if not state.exists():
        return []
    return [c["pid"] for c in json.loads(state.read_text() or "{}").values()]


def alive(pid: int) -> bool:
    """Running (a zombie does not count)."""
    return _running(pid)
