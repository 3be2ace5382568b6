"""Replayed Slack requests are acknowledged and dropped, before any listener runs (Bolt global middleware).

Bolt checks the signature first (HTTP mode), so only genuine requests reach the guard; a genuine request
sent again (an attacker's replay within Slack's five-minute window, or Slack redelivering a Socket Mode
envelope it did not see acknowledged) must not run twice. The request's name:

- HTTP mode: `X-Slack-Signature` + `X-Slack-Request-Timestamp` (the signature covers body and timestamp);
- Socket Mode: the envelope id, which Bolt's own handler does not pass on, so `ReplayAwareSocketModeHandler`
  puts it in the request's context (where no HTTP client can set it);
- Events API callbacks in either mode: also the `event_id`, which Slack keeps when it retries a delivery.

The ledger is the store (core.replays), so two bot processes on one PostgreSQL agree. If the store cannot
be asked, the request runs (a lost command is worse than the rare replay).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import time

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import build_headers, send_response
from slack_bolt.middleware import Middleware
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from core.replays import ReplayLedger

log = logging.getLogger(__name__)

ENVELOPE_ID = "socket_mode_envelope_id"  # context key set by ReplayAwareSocketModeHandler


def request_keys(req: BoltRequest) -> list[str]:
    """What names this request for replay detection (empty: nothing to go by)."""
    keys: list[str] = []
    if req.mode == "socket_mode":
        envelope = req.context.get(ENVELOPE_ID)
        if envelope:
            keys.append(f"envelope:{envelope}")
    else:
        signature = _header(req, "x-slack-signature")
        timestamp = _header(req, "x-slack-request-timestamp")
        if signature and timestamp:
            keys.append(f"sig:{timestamp}:{signature}")
    event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
    if event_id:
        keys.append(f"event:{event_id}")
    return keys


def _header(req: BoltRequest, name: str) -> str | None:
    values = req.headers.get(name)
    return values[0] if values else None


class ReplayGuard(Middleware):
    """Bolt global middleware: a request already seen gets an empty 200 (acknowledged) and nothing else."""

    def __init__(self, ledger: ReplayLedger) -> None:
        self.ledger = ledger

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],
    ) -> BoltResponse:
        for key in request_keys(req):
            try:
                first = self.ledger.first_sighting(key)
            except Exception:
                log.warning("could not check a request for replay; handling it", exc_info=True)
                continue
            if not first:
                log.warning("dropped a replayed Slack request (%s)", key.split(":", 1)[0])
                return BoltResponse(status=200, body="")
        return next()


class ReplayAwareSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, passing each envelope's id on to the middleware (in the context)."""

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time()
        bolt_req = BoltRequest(
            mode="socket_mode",
            body=req.payload,
            headers=build_headers(req),
            context={ENVELOPE_ID: req.envelope_id},
        )
        bolt_resp = self.app.dispatch(bolt_req)
        send_response(client, req, bolt_resp, start)


def install(app: App, ledger: ReplayLedger) -> None:
    app.use(ReplayGuard(ledger))
