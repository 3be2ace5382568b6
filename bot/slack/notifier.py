"""`SlackNotifier`: the `core.notifier.Notifier` port over Slack's Web API (a `WebClient`).

The status card is one channel message (`announce`), updated in place as the endpoint changes
(`endpoint_changed` -> chat.update, plus the owner's App Home). Progress, failures and the final
summary are replies in the card's thread; the URL, API key and snippets go there once on READY.
DMs open a conversation with the person first (conversations.open).

Delivery never escapes into the service: `thread_post`, `endpoint_ready` and `direct_message` answer
False when Slack would not take the message (core.outbox retries it later); every Slack error is logged (its error code only, never a
payload, which may echo an API key) and swallowed. When the bot may not post in the channel
(`channel_not_found`, `not_in_channel`), the card goes to the owner's DM instead, with a note on how
to invite the bot, so the endpoint is still followed and its key still delivered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import blocks as bk
from core.clock import Clock, SystemClock
from core.endpoints.views import EndpointView
from core.notifier import Action, ChatRef

log = logging.getLogger(__name__)

# Errors that mean "the bot cannot post in that channel", not "Slack is down".
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "restricted_action"})


def invite_hint(channel_id: str) -> str:
    return (
        f"I can't post in <#{channel_id}>: invite me there with `/invite @endpoint-bot` and try again. "
        "Until then I'll keep you posted here."
    )


def describe_error(exc: Exception) -> str:
    """A log-safe description of a Slack failure: the error code or exception type, never a body."""
    if isinstance(exc, SlackApiError):
        return f"{exc.response.get('error', 'unknown_error')} (HTTP {exc.response.status_code})"
    return type(exc).__name__


class SlackNotifier:
    """Posts cards, thread replies and DMs through a WebClient; see the module docstring."""

    def __init__(self, client: WebClient, *, clock: Clock | None = None) -> None:
        self.client = client
        self.clock = clock or SystemClock()
        # Set after wiring (the Home needs the service, which needs this notifier): owner_id -> publish.
        self.home_refresher: Callable[[str], None] | None = None
        self._cards: dict[int, ChatRef] = {}  # where each card really went (DM fallback included)
        self._dm_channels: dict[str, str] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self.delivery_problems: dict[int, str] = {}  # endpoint id -> what the user should do
        # Where API keys go: "thread" or "dm" (the team policy's `key_delivery`, read at each key).
        self.key_delivery: Callable[[], str] = lambda: "thread"

    # --- the port ---------------------------------------------------------------------------------

    def announce(self, endpoint: EndpointView) -> ChatRef | None:
        card = bk.to_dicts(bk.status_card(endpoint, now=self.clock.now()))
        text = bk.card_text(endpoint)
        if endpoint.channel_id:
            try:
                response = self.client.chat_postMessage(channel=endpoint.channel_id, blocks=card, text=text)
                return self._remember(endpoint, ChatRef(response["channel"], response["ts"]))
            except SlackApiError as exc:
                if exc.response.get("error") not in CHANNEL_ERRORS:
                    log.warning("could not post the card of %s: %s", endpoint.name, describe_error(exc))
                    return None
                self.delivery_problems[endpoint.id] = invite_hint(endpoint.channel_id)
                log.info("card of %s goes to the owner's DM: %s", endpoint.name, describe_error(exc))
            except Exception as exc:
                log.warning("could not post the card of %s: %s", endpoint.name, describe_error(exc))
                return None
        return self._announce_in_dm(endpoint, card, text)

    def endpoint_changed(self, endpoint: EndpointView) -> None:
        ref = self._ref(endpoint)
        if ref is not None:
            with self._lock(endpoint.id):  # one card update at a time per endpoint, in call order
                self._safely(
                    f"update the card of {endpoint.name}",
                    self.client.chat_update,
                    channel=ref.channel_id,
                    ts=ref.message_ts,
                    blocks=bk.to_dicts(bk.status_card(endpoint, now=self.clock.now())),
                    text=bk.card_text(endpoint),
                )
        self.refresh_home(endpoint.owner_id)

    def thread_post(self, endpoint: EndpointView, text: str) -> bool:
        ref = self._ref(endpoint)
        if ref is None:  # no card anywhere: the owner still hears about it
            return self.direct_message(endpoint.owner_id, f"`{endpoint.name}`: {text}")
        return (
            self._safely(
                f"reply in the thread of {endpoint.name}",
                self.client.chat_postMessage,
                channel=ref.channel_id,
                thread_ts=ref.message_ts,
                text=bk.clip(text, 3000),
            )
            is not None
        )

    def endpoint_ready(self, endpoint: EndpointView, *, api_key: str) -> bool:
        payload = {
            "blocks": bk.to_dicts(bk.ready_blocks(endpoint, api_key=api_key)),
            "text": bk.ready_text(endpoint),
        }
        ref = self._ref(endpoint)
        if self.key_delivery() == "dm":
            return self._key_by_dm(endpoint, payload, ref)
        if ref is not None and self._safely(
            f"post the key of {endpoint.name}",
            self.client.chat_postMessage,
            channel=ref.channel_id,
            thread_ts=ref.message_ts,
            **payload,
        ):
            return True
        # The key is shown only once: if the thread is unreachable, the owner gets it by DM.
        channel = self._open_dm(endpoint.owner_id)
        return (
            bool(channel)
            and self._safely(
                f"DM the key of {endpoint.name}", self.client.chat_postMessage, channel=channel, **payload
            )
            is not None
        )

    def _key_by_dm(self, endpoint: EndpointView, payload: dict[str, Any], ref: ChatRef | None) -> bool:
        """The policy wants keys by DM: never in the channel; the thread says where the key went."""
        channel = self._open_dm(endpoint.owner_id)
        if (
            not channel
            or self._safely(
                f"DM the key of {endpoint.name}", self.client.chat_postMessage, channel=channel, **payload
            )
            is None
        ):
            return False
        if ref is not None:
            self._safely(
                f"say where the key of {endpoint.name} went",
                self.client.chat_postMessage,
                channel=ref.channel_id,
                thread_ts=ref.message_ts,
                text=f":key: `{endpoint.name}` is ready; its API key was sent to <@{endpoint.owner_id}> by DM "
                "(the team policy keeps keys out of channels).",
            )
        return True

    def direct_message(self, user_id: str, text: str, *, actions: tuple[Action, ...] = ()) -> bool:
        channel = self._open_dm(user_id)
        return (
            bool(channel)
            and self._safely(
                f"DM {user_id}",
                self.client.chat_postMessage,
                channel=channel,
                text=bk.clip(text, 3000),
                blocks=bk.to_dicts(bk.dm_blocks(text, actions)),
            )
            is not None
        )

    # --- helpers ----------------------------------------------------------------------------------

    def refresh_home(self, user_id: str) -> None:
        """Republish a person's App Home (best effort; the Home is only a view of the store)."""
        if self.home_refresher is None:
            return
        try:
            self.home_refresher(user_id)
        except Exception as exc:
            log.warning("could not refresh the App Home of %s: %s", user_id, describe_error(exc))

    def card_of(self, endpoint: EndpointView) -> ChatRef | None:
        """Where the endpoint's card is, as far as this process knows."""
        return self._ref(endpoint)

    def _announce_in_dm(
        self, endpoint: EndpointView, card: list[dict[str, Any]], text: str
    ) -> ChatRef | None:
        channel = self._open_dm(endpoint.owner_id)
        if channel is None:
            return None
        problem = self.delivery_problems.get(endpoint.id)
        if problem:
            self._safely("DM the invite hint", self.client.chat_postMessage, channel=channel, text=problem)
        try:
            response = self.client.chat_postMessage(channel=channel, blocks=card, text=text)
        except Exception as exc:
            log.warning("could not DM the card of %s: %s", endpoint.name, describe_error(exc))
            return None
        return self._remember(endpoint, ChatRef(response["channel"], response["ts"]))

    def _remember(self, endpoint: EndpointView, ref: ChatRef) -> ChatRef:
        with self._guard:
            self._cards[endpoint.id] = ref
        return ref

    def _ref(self, endpoint: EndpointView) -> ChatRef | None:
        with self._guard:
            known = self._cards.get(endpoint.id)
        if known is not None:
            return known
        if endpoint.channel_id and endpoint.message_ts:
            return ChatRef(endpoint.channel_id, endpoint.message_ts)
        return None

    def _lock(self, endpoint_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(endpoint_id, threading.Lock())

    def _open_dm(self, user_id: str) -> str | None:
        with self._guard:
            cached = self._dm_channels.get(user_id)
        if cached:
            return cached
        response = self._safely(f"open a DM with {user_id}", self.client.conversations_open, users=user_id)
        if not response:
            return None
        channel = response["channel"]["id"]
        with self._guard:
            self._dm_channels[user_id] = channel
        return channel

    def _safely(self, what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
        """Call the Web API; on any failure log `what` and the error code, and return None."""
        try:
            return call(**kwargs)
        except Exception as exc:  # a chat outage must never change an endpoint's state
            log.warning("could not %s: %s", what, describe_error(exc))
            return None
