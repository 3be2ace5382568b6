"""Read the policy file: YAML, validated by `core.policy.model`, every error with its line.

`load_policy(path)` raises `PolicyError` ("policy.yaml line 7: groups.interns.limits.gpus: ...") so
the bot refuses to start on a bad file. `PolicySource` keeps the policy current: it reads the file
again when its modification time changes, and keeps the last good policy (and logs why) when the new
text is bad, so a typo while the bot runs does not lift every rule.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.policy.model import Policy

log = logging.getLogger(__name__)


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the file, the line and the reason."""


def parse_policy(text: str, *, source: str = "policy file") -> Policy:
    """The policy in `text`, or PolicyError naming the line and what is wrong there."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}{where}: not valid YAML ({problem})") from None
    if data is None:
        return Policy()
    if not isinstance(data, dict):
        raise PolicyError(f"{source} line 1: the file must be a mapping (admins:, everyone:, groups:, ...)")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        line = _line_of(root, loc)
        path = ".".join(loc) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise PolicyError(f"{source} line {line}: {path}: {message}") from None


def load_policy(path: Path) -> Policy:
    """Read and validate the file at `path` (PolicyError when it is missing or bad)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"policy file {path}: cannot be read ({exc.strerror or exc})") from None
    return parse_policy(text, source=str(path))


def _line_of(node: Any, loc: list[str]) -> int:
    """The 1-based line of the deepest YAML node along `loc` (pydantic's error location)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if str(k.value) == part), None)
            if found is None:  # an extra key: the key itself is the mistake
                key = next((k for k, _ in node.value if str(k.value) == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = found
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
        else:
            break
        line = node.start_mark.line + 1
    return line


class PolicySource:
    """The current policy: none configured (an empty Policy), or the file, re-read when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._policy = Policy()
        if path is not None:
            self._policy = load_policy(path)  # a bad file at start refuses the start
            self._mtime = _mtime(path)

    @classmethod
    def fixed(cls, policy: Policy) -> PolicySource:
        source = cls(None)
        source._policy = policy
        return source

    def current(self) -> Policy:
        if self.path is None:
            return self._policy
        with self._lock:
            mtime = _mtime(self.path)
            if mtime is not None and mtime != self._mtime:
                self._mtime = mtime
                try:
                    self._policy = load_policy(self.path)
                    log.info("policy file %s reloaded", self.path)
                except PolicyError as exc:
                    log.error("policy file changed but cannot be used; the previous rules stay: %s", exc)
            return self._policy


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None
