"""Local processes as clusters: identity (pid + start time), process-group kills, environment tags, reaper.

The local launcher's process plumbing, kept apart from its bookkeeping:
- a pid alone is not an identity (pids are reused): `is_alive(pid, start_time)` also compares the start
  time from /proc; zombies count as dead;
- `kill_group` signals a whole process group (the engine and its workers);
- `tagged_processes` finds engines by the tags in their environment, even ones nobody wrote down;
- `reap` (`python -m core.launcher.processes reap ...`, run detached) kills a cluster at its deadline
  even when the bot is gone.
Linux /proc is used where present; elsewhere `is_alive` falls back to `kill(pid, 0)`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import time
from pathlib import Path

# Environment tags every local engine carries (like SkyPilot's cluster tags on cloud VMs).
MARK_CLUSTER = "EPB_LOCAL_CLUSTER"
MARK_STATE_DIR = "EPB_LOCAL_STATE_DIR"
MARK_ENGINE = "EPB_LOCAL_ENGINE"


def tagged_processes(state_dir: Path) -> dict[str, tuple[int, str]]:
    """Live processes tagged for `state_dir`: cluster name -> (process-group leader pid, engine)."""
    want = f"{MARK_STATE_DIR}={state_dir}".encode()
    found: dict[str, tuple[int, str, bool]] = {}
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return {}
    for entry in entries:
        pid = int(entry)
        try:
            items = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if want not in items or not is_alive(pid, None):
            continue
        tags = {
            k: v
            for k, _, v in (
                i.decode("utf-8", "replace").partition("=") for i in items if i.startswith(b"EPB_")
            )
        }
        name = tags.get(MARK_CLUSTER)
        if not name:
            continue
        try:
            leader = os.getpgid(pid) == pid
        except ProcessLookupError:
            continue
        current = found.get(name)
        if current is None or (leader and not current[2]) or (leader == current[2] and pid < current[0]):
            found[name] = (pid, tags.get(MARK_ENGINE, "vllm"), leader)
    return {name: (pid, engine) for name, (pid, engine, _leader) in found.items()}


def port_of(pid: int) -> int:
    """The `--port` on a process's command line (0 when there is none)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except OSError:
        return 0
    for i, arg in enumerate(argv):
        if arg == "--port" and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if arg.startswith("--port=") and arg[7:].isdigit():
            return int(arg[7:])
    return 0


def start_time_of(pid: int) -> str | None:
    """The process start time in clock ticks since boot (Linux), None elsewhere or when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces; everything after the last ')' is space-separated.
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def is_alive(pid: int, start_time: str | None) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        stat = None
    if stat is not None:
        fields = stat.rsplit(")", 1)[1].split()
        if fields and fields[0] in ("Z", "X"):
            return False  # zombie: exited, not yet reaped
        return not start_time or (len(fields) > 19 and fields[19] == start_time)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the engine leads its own process group (start_new_session)
    except ProcessLookupError:
        pass
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def log_tail(path: Path, lines: int = 5, limit: int = 600) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    last = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(last)[-limit:]


# --- the reaper (runs detached: python -m core.launcher.processes reap ...) ----------------------------


def reap(*, pid: int, start_time: str | None, at: float, grace: float) -> int:
    """Sleep until `at`, then SIGTERM (SIGKILL after `grace`) the process group of `pid` if still the same.

    Returns early once the engine is gone (stopped by the bot), so no reaper outlives its engine by long.
    """
    while (left := at - time.time()) > 0:
        if not is_alive(pid, start_time or None):
            return 0
        time.sleep(min(left, 5.0))
    if not is_alive(pid, start_time or None):
        return 0
    kill_group(pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while is_alive(pid, start_time or None) and time.monotonic() < end:
        time.sleep(0.1)
    if is_alive(pid, start_time or None):
        kill_group(pid, signal.SIGKILL)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.launcher.processes")
    sub = parser.add_subparsers(dest="command", required=True)
    reaper = sub.add_parser("reap", help="kill a local cluster's process group at its deadline")
    reaper.add_argument("--pid", type=int, required=True)
    reaper.add_argument("--start-time", default="")
    reaper.add_argument("--at", type=float, required=True)
    reaper.add_argument("--grace", type=float, default=10.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return reap(pid=args.pid, start_time=args.start_time, at=args.at, grace=args.grace)
    except OSError as exc:
        if exc.errno == errno.EPERM:
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
