"""Slack user groups the team policy names, resolved to their members (`usergroups.users.list`).

The policy (core) only ever sees plain data: Slack user group id -> user ids. Answers are cached for
`ttl` seconds so a burst of commands asks Slack once; a group Slack cannot answer for counts as
empty (and is logged), and the last good answer is kept while Slack is unreachable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Mapping

from slack_sdk import WebClient

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 300.0


class UserGroups:
    """Callable: ids -> {id: members}; what `core.policy.gate.PolicyGate.groups` expects."""

    def __init__(self, client: WebClient, *, ttl: float = DEFAULT_TTL_S) -> None:
        self.client = client
        self.ttl = ttl
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, group_ids: Collection[str]) -> Mapping[str, frozenset[str]]:
        return {gid: self.members(gid) for gid in group_ids}

    def members(self, group_id: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(group_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            users = frozenset(self.client.usergroups_users_list(usergroup=group_id).get("users") or [])
        except Exception as exc:
            log.warning("could not read the members of Slack user group %s: %s", group_id, exc)
            return cached[1] if cached is not None else frozenset()
        with self._lock:
            self._cache[group_id] = (now, users)
        return users
