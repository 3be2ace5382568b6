"""Buttons as numbers: the shell prints `[N] Stop` where Slack shows a button."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from core.notifier import Action, ActionKind


class Choices:
    """Numbers for buttons, stable for the session: the same action on the same endpoint keeps its number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers: dict[tuple[ActionKind, str], int] = {}
        self._actions: dict[int, Action] = {}

    def offer(self, actions: Sequence[Action]) -> list[tuple[int, Action]]:
        numbered = []
        with self._lock:
            for action in actions:
                key = (action.kind, action.endpoint_name)
                number = self._numbers.get(key)
                if number is None:
                    number = self._numbers[key] = len(self._numbers) + 1
                self._actions[number] = action  # the latest label wins ("Stop now" from a DM is still Stop)
                numbered.append((number, action))
        return numbered

    def get(self, number: int) -> Action | None:
        with self._lock:
            return self._actions.get(number)
