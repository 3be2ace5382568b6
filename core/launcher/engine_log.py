"""The engine's own reason for dying, read from the tail of its log.

An engine that exits while starting (vLLM or SGLang) prints a Python traceback, often several: the
worker's root cause first, then the wrappers of each parent process ("Engine core initialization
failed. See root cause above."). `engine_error(text)` picks the line a person needs: the last
`SomeError: message` line that is not such a wrapper, stripped of vLLM's `(EngineCore pid=123)` prefix
and of ANSI colours. Used by the local launcher to turn an engine that died into a sentence.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.launcher.errors import strip_ansi

_PREFIX = re.compile(r"^(?:\([A-Za-z_0-9]+ pid=\d+\)\s*)?(?:\[[^\]]*\]\s*)?")
# `ValueError: ...`, `torch.OutOfMemoryError: ...`, `RuntimeError: ...`; not `ERROR 12-04 ...` log lines.
_EXCEPTION = re.compile(
    r"^((?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*(?:Error|Exception)):\s+(\S.*)$"
)
# Lines that only say "see above": the root cause is an earlier line.
_WRAPPERS = re.compile(
    r"(?i)see root cause above|engine core initialization failed|initialization failed\.? see|"
    r"worker proc\S* failed|failed core proc"
)
_READ_BYTES = 64 * 1024
MAX_CHARS = 400


def read_tail(path: Path, limit: int = _READ_BYTES) -> str:
    """The last `limit` bytes of `path` as text ('' when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def engine_error(text: str) -> str | None:
    """The engine's own error line in `text` (a log tail), or None when it printed no exception."""
    found: str | None = None
    wrapper: str | None = None
    for raw in text.splitlines():
        line = _PREFIX.sub("", strip_ansi(raw).strip())
        match = _EXCEPTION.match(line)
        if not match:
            continue
        name, message = match.group(1).rsplit(".", 1)[-1], match.group(2).strip()
        sentence = f"{name}: {message}"
        if _WRAPPERS.search(message):
            wrapper = sentence
        else:
            found = sentence
    chosen = found or wrapper
    if chosen and len(chosen) > MAX_CHARS:
        chosen = chosen[: MAX_CHARS - 3] + "..."
    return chosen
