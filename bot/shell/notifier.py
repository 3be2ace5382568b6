"""`ShellNotifier`: the `core.notifier.Notifier` port printing cards, thread replies and DMs as labelled text."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from bot import text as tx
from bot.shell.choices import Choices
from bot.shell.console import Console
from core.clock import Clock, SystemClock
from core.endpoints.views import EndpointView
from core.notifier import Action, ChatRef

log = logging.getLogger(__name__)


class ShellNotifier:
    """`core.notifier.Notifier` for a terminal: every card, thread reply and DM is printed, labelled."""

    def __init__(
        self,
        console: Console,
        *,
        choices: Choices | None = None,
        channel_id: str = "C_SHELL",
        clock: Clock | None = None,
    ) -> None:
        self.console = console
        self.choices = choices or Choices()
        self.channel_id = channel_id
        self.clock = clock or SystemClock()
        self._counter = 0
        self._lock = threading.Lock()

    def _print(self, label: str, lines: Sequence[str], actions: Sequence[Action] = ()) -> None:
        try:
            body = [tx.plain(line) for chunk in lines for line in chunk.splitlines() or [""]]
            if actions:
                body.append(tx.choices_line(self.choices.offer(actions)))
            self.console.lines([f"[{label}] {body[0]}", *(f"[{label}] {line}" for line in body[1:])])
        except Exception:  # a console that went away must never change an endpoint's state
            log.warning("could not print to the shell", exc_info=True)

    def card(self, view: EndpointView) -> None:
        """Print the endpoint's status card, with its Stop/Extend choices while it is live."""
        self._print(f"card #{view.name}", tx.card_lines(view, now=self.clock.now()), tx.card_actions(view))

    def announce(self, endpoint: EndpointView) -> ChatRef | None:
        self.card(endpoint)
        with self._lock:
            self._counter += 1
            return ChatRef(channel_id=self.channel_id, message_ts=str(self._counter))

    def endpoint_changed(self, endpoint: EndpointView) -> None:
        self.card(endpoint)

    def thread_post(self, endpoint: EndpointView, text: str) -> None:
        self._print(f"thread #{endpoint.name}", [text])

    def endpoint_ready(self, endpoint: EndpointView, *, api_key: str) -> None:
        self._print(f"thread #{endpoint.name}", tx.ready_lines(endpoint, api_key=api_key))

    def direct_message(self, user_id: str, text: str, *, actions: tuple[Action, ...] = ()) -> None:
        self._print(f"DM to {user_id}", [text], actions)
