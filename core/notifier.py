"""The notifier port: how the domain talks to people, without knowing which chat surface is there.

Slack implements it in `bot/slack/notifier.py`, the shell in `bot/shell/notifier.py`; `ConsoleNotifier` (here)
prints to a stream for the CLI. Every method must swallow and log its own delivery errors: a chat
outage never changes an endpoint's state. `thread_post`, `endpoint_ready` and `direct_message` may answer
False when the message was not delivered, so `core.outbox` (which wraps the Slack notifier) retries it.
The core calls them through `deliver`, the one guard that logs and swallows a failure.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TextIO

from core.endpoints.views import EndpointView

log = logging.getLogger(__name__)

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

    def thread_post(self, endpoint: EndpointView, text: str) -> bool | None:
        """A reply in the endpoint's thread (progress, failures, teardown summary)."""

    def endpoint_ready(self, endpoint: EndpointView, *, api_key: str) -> bool | None:
        """Post the URL, the API key (the only time it is shown) and usage snippets in the thread."""

    def direct_message(self, user_id: str, text: str, *, actions: tuple[Action, ...] = ()) -> bool | None:
        """DM a person, optionally with buttons."""


@dataclass(frozen=True)
class Delivery:
    """What one guarded notifier call came to: the method's answer, or the exception it raised."""

    answer: Any = None
    error: str | None = None  # the exception's type name

    @property
    def delivered(self) -> bool:
        """False when the method raised or answered False; anything else counts as delivered."""
        return self.error is None and self.answer is not False

    @property
    def why_not(self) -> str:
        return "" if self.delivered else (self.error or "not delivered")


def deliver(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Delivery:
    """Call one notifier method, never raising: the one guard in front of every chat delivery in core/.

    A chat failure is logged and reported in the `Delivery`; it never changes an endpoint's state.
    """
    try:
        return Delivery(answer=method(*args, **kwargs))
    except Exception as exc:
        log.warning("notifier call %s failed", getattr(method, "__name__", method), exc_info=True)
        return Delivery(error=type(exc).__name__)


def batched(notifier: Notifier) -> AbstractContextManager[Any]:
    """A block whose messages the notifier may store together (core.outbox's `batch`); a notifier that
    delivers at once (the shell, the CLI) has nothing to batch."""
    batch = getattr(notifier, "batch", None)
    return batch() if callable(batch) else nullcontext()


class ConsoleNotifier:
    """Prints what the bot would say to a text stream (the CLI's notifier).

    One line per message, prefixed with the endpoint's name; the API key is printed once, by
    `endpoint_ready`, and nowhere else. Delivery errors (a closed pipe) are logged and swallowed.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        try:
            with self._lock:
                stream = self._stream or sys.stdout
                stream.write(text + "\n")
                stream.flush()
        except Exception:  # a console that went away must not change an endpoint's state
            log.warning("could not write to the console", exc_info=True)

    def announce(self, endpoint: EndpointView) -> ChatRef | None:
        self._print(
            f"[{endpoint.name}] {endpoint.model} on {endpoint.accelerators} ({endpoint.engine}): "
            f"{endpoint.state.value.lower()}, about ${endpoint.price_per_hour:,.2f}/h"
            f"{' (estimate)' if endpoint.price_is_estimate else ''}"
        )
        return None

    def endpoint_changed(self, endpoint: EndpointView) -> None:
        self._print(f"[{endpoint.name}] state: {endpoint.state.value}")

    def thread_post(self, endpoint: EndpointView, text: str) -> None:
        self._print(f"[{endpoint.name}] {text}")

    def endpoint_ready(self, endpoint: EndpointView, *, api_key: str) -> None:
        name = endpoint.name
        self._print(f"[{name}] ready at {endpoint.url}")
        self._print(f"[{name}] API key (shown once): {api_key}")
        ca = endpoint.tls.ca_cert_pem
        if ca:
            self._print(
                f"[{name}] HTTPS with the endpoint's own CA (SHA-256 {endpoint.tls.fingerprint}); "
                "save this certificate as ca.pem:"
            )
            self._print(ca.strip())
        elif not endpoint.tls.enabled:
            self._print(
                f"[{name}] warning: plain HTTP (tls=no): the key and prompts cross the network in clear text"
            )
        cacert = " --cacert ca.pem" if ca else ""
        self._print(
            f"[{name}] try: curl{cacert} {endpoint.url}/v1/chat/completions "
            f'-H "Authorization: Bearer $API_KEY" -H "Content-Type: application/json" '
            f'-d \'{{"model": "{endpoint.model}", "messages": [{{"role": "user", "content": "Hello"}}]}}\''
        )

    def direct_message(self, user_id: str, text: str, *, actions: tuple[Action, ...] = ()) -> None:
        choices = "".join(f" [{a.label}]" for a in actions)
        self._print(f"(to {user_id}) {text}{choices}")
