"""Who listens on a TCP port: /proc/net/tcp{,6} LISTEN sockets -> socket inodes -> /proc/PID/fd.

The local launcher picks a free port, releases it and hands it to the engine, which binds it only once
its weights are loaded; meanwhile any other program on the host can take the port and answer the
readiness probe. `serves_port(root_pid, port)` tells whether every socket listening on `port` belongs
to the process tree under `root_pid` (the engine and its workers): only then may the endpoint's API key
be sent there. Linux only; `available()` is False elsewhere, and callers then skip the check.
"""

from __future__ import annotations

import os
from pathlib import Path

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


def available() -> bool:
    return Path("/proc/net/tcp").exists()


def listening_inodes(port: int) -> set[int]:
    """Inodes of the sockets listening on `port` (any address, IPv4 and IPv6)."""
    found: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port:
                found.add(int(fields[9]))
    return found


def process_tree(root_pid: int) -> set[int]:
    """`root_pid` and every live descendant (by parent pid, so a child that left the session counts)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = set(), [root_pid]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo += children.get(pid, [])
    return tree


def socket_inodes(pids: set[int]) -> set[int]:
    """Inodes of the sockets the processes in `pids` hold open."""
    inodes: set[int] = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def serves_port(root_pid: int, port: int) -> bool:
    """True when something listens on `port` and every such socket belongs to `root_pid`'s process tree."""
    listening = listening_inodes(port)
    if not listening:
        return False
    return listening <= socket_inodes(process_tree(root_pid))


def listener_pids(port: int) -> set[int]:
    """Pids holding a socket that listens on `port` (those this user may inspect), for messages."""
    listening = listening_inodes(port)
    if not listening:
        return set()
    pids = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and socket_inodes({int(entry.name)}) & listening:
            pids.add(int(entry.name))
    return pids
