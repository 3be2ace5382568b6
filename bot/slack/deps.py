"""What every Slack listener shares: `SlackDeps`, built once at start-up by `bot.slack.bot`.

Listeners import this module, never `bot.slack.app` (which imports the listeners to register them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.slack.home import HomePublisher
from bot.slack.notifier import SlackNotifier
from core.clock import Clock, SystemClock
from core.endpoints.service import EndpointService
from core.settings import Settings


class TaskPool(Protocol):
    """What listeners need from the worker pool (`core.workers.WorkerPool` satisfies it)."""

    def submit(self, fn: Any, /, *args: Any, task_name: str | None = None, **kwargs: Any) -> Any: ...


@dataclass
class SlackDeps:
    """Everything the listeners share. Built once at start-up."""

    settings: Settings
    service: EndpointService
    pool: TaskPool
    notifier: SlackNotifier
    home: HomePublisher
    clock: Clock = field(default_factory=SystemClock)
