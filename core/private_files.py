"""Files and folders only the bot's own user may read: 0600 files, 0700 folders.

The SQLite database (with its -wal and -shm files), the local launcher's state and the engine logs
hold endpoint details and, in a log, whatever an engine prints. They are created private, and ones
left readable by an older version are tightened when the bot opens them. Folders that already
existed and that the bot did not make (the working directory, a home) are left alone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create `path` (and any missing parents) as 0700; with `tighten`, also an existing `path` of ours.

    `tighten=False` is for a folder the user chose to put a file in (the database's): made private
    when the bot creates it, never changed when it was already there.
    """
    path = Path(path).expanduser()
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
            folder.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
    if tighten:
        _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty as 0600 if missing; tighten it to 0600 if it exists and is ours."""
    path = Path(path).expanduser()
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def open_private(path: Path, flags: int) -> int:
    """`os.open(path, flags)` creating the file 0600 (and tightening an existing one); returns the fd."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, FILE_MODE)
    return fd


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o777 & ~mode:
            path.chmod(mode)
