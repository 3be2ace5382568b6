"""Buttons as numbers: the same action on the same endpoint keeps its number for the session."""

from __future__ import annotations

from bot.shell.choices import Choices
from core.notifier import Action


def test_choice_numbers_are_stable_for_the_session() -> None:
    choices = Choices()
    first = choices.offer([Action("stop", "Stop", "a"), Action("extend_1h", "Extend +1h", "a")])
    assert [n for n, _ in first] == [1, 2]
    other = choices.offer([Action("keep_alive", "Keep alive", "b"), Action("stop", "Stop now", "b")])
    assert [n for n, _ in other] == [3, 4]
    again = choices.offer([Action("stop", "Stop now", "a"), Action("extend_1h", "Extend +1h", "a")])
    assert [n for n, _ in again] == [1, 2], "a re-printed card keeps its numbers"
    assert choices.get(1) == Action("stop", "Stop now", "a")
    assert choices.get(5) is None
