"""The notifier port: how the domain talks to people, without knowing which chat surface is there.

Slack implements it in `bot/slack/notifier.py`, the shell in `bot/shell.py`; `ConsoleNotifier` (here)
prints to a stream for the CLI. Every method must swallow and log its own delivery errors: a chat
outage never changes an endpoint's state.

CONTRACT: used by core.endpoints and core.watchdog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from core.endpoints.views import EndpointView

ActionKind = Literal["stop", "extend_1h", "extend_4h", "keep_alive"]


@dataclass(frozen=True)
class Action:
    """A button (Slack) or numbered choice (shell) acting on one endpoint."""

    kind: ActionKind
    label: str
    endpoint_name: str


@dataclass(frozen=True)
class ChatRef:
    """Where an endpoint's status card lives; its thread is the endpoint's thread."""

    channel_id: str
    message_ts: str


class Notifier(Protocol):
    def announce(self, endpoint: EndpointView) -> ChatRef | None:
        """Post the status card for a new endpoint in its channel; return where it is (stored by the caller)."""

    def endpoint_changed(self, endpoint: EndpointView) -> None:
        """The endpoint's state or numbers changed: update its card in place (and App Home)."""

    def thread_post(self, endpoint: EndpointView, text: str) -> None:
        """A reply in the endpoint's thread (progress, failures, teardown summary)."""

    def endpoint_ready(self, endpoint: EndpointView, *, api_key: str) -> None:
        """Post the URL, the API key (the only time it is shown) and usage snippets in the thread."""

    def direct_message(self, user_id: str, text: str, *, actions: tuple[Action, ...] = ()) -> None:
        """DM a person, optionally with buttons."""
