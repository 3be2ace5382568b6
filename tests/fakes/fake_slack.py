"""`FakeSlack`: a local HTTP stand-in for Slack's Web API, `response_url`s and Socket Mode.

The bot's real `WebClient` points at `FakeSlack.api_url` (`http://127.0.0.1:PORT/api/`); Bolt's
`respond()` posts to URLs from `FakeSlack.response_url(...)`. Every call is recorded (method,
arguments, thread) and can be waited for. Failures are injected per method: HTTP 429 with
Retry-After, HTTP 5xx, or Slack errors such as `channel_not_found` / `not_in_channel`.

`FakeSocketMode` is a local websocket server that `apps.connections.open` hands out: it sends
`hello`, delivers envelopes (a slash command, say) and records the acks the bot sends back.

Answers follow the shapes Slack documents (ok, channel, ts, message, view ...); tokens are checked
against `bot_token` so a misconfigured client fails as it would against Slack (`invalid_auth`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
TEAM_ID = "T0FAKE"
BOT_USER_ID = "U0BOT"
# How long `wait_for` waits by default: generous, for a 2-core CI machine under load (it returns at once
# when the condition holds, so a passing run never waits this long).
WAIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class SlackCall:
    """One Web API call as the fake received it."""

    method: str
    args: dict[str, Any]
    status: int  # the HTTP status the fake answered
    error: str | None = None  # the Slack error it answered with, if any


@dataclass
class _Fault:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    remaining: int = 1


@dataclass
class FakeSlack:
    """Start with `FakeSlack.start()`; stop with `.stop()` (or use it as a context manager)."""

    bot_token: str = BOT_TOKEN
    calls: list[SlackCall] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # bodies posted to response URLs
    socket_url: str | None = None  # what apps.connections.open hands out
    channel_errors: dict[str, str] = field(default_factory=dict)  # channel id -> error for chat.* there
    usergroups: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"handle", "users"}
    _faults: dict[str, list[_Fault]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _changes: int = 0  # bumped on every recorded call or response; waiters wake on it
    _server: ThreadingHTTPServer | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def start(cls, **kwargs: Any) -> FakeSlack:
        fake = cls(**kwargs)
        fake._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
        fake._server.daemon_threads = True
        threading.Thread(
            target=fake._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        ).start()
        return fake

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    def response_url(self, key: str = "cmd") -> str:
        return f"{self.base_url}/response/{urllib.parse.quote(key)}"

    # --- test controls --------------------------------------------------------------------------

    def rate_limit(self, method: str, *, retry_after: int = 0, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and Retry-After."""
        self._add_fault(
            method, _Fault(status=429, error="ratelimited", retry_after=retry_after, remaining=times)
        )

    def fail(self, method: str, error: str, *, times: int = 1, status: int = 200) -> None:
        """Answer the next `times` calls of `method` with `{"ok": false, "error": error}` (or HTTP `status`)."""
        self._add_fault(method, _Fault(status=status, error=error, remaining=times))

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._cond:
            self._faults.setdefault(method, []).append(fault)

    def reset(self) -> None:
        with self._cond:
            self.calls.clear()
            self.responses.clear()
            self._faults.clear()
            self.channel_errors.clear()
            self._changes += 1
            self._cond.notify_all()

    # --- assertions -----------------------------------------------------------------------------

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[SlackCall]:
        with self._cond:
            return [
                c
                for c in self.calls
                if c.method == method and (not ok_only or (c.status == 200 and not c.error))
            ]

    def wait_for(
        self,
        predicate: Callable[[FakeSlack], Any],
        *,
        timeout: float = WAIT_TIMEOUT,
        what: str = "condition",
        poll: float = 0.05,
    ) -> Any:
        """Block until `predicate(self)` is truthy; return its value.

        Re-checked on every recorded call and response, and every `poll` seconds besides, because
        predicates also look at state outside Slack (the store). The predicate runs without the fake's
        lock held, so the bot's own Slack calls never queue behind a slow check. `timeout` is a limit for
        a loaded machine, not an expected duration: the wait ends as soon as the condition holds.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._changes
            value = predicate(self)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout:g}s waiting for {what}; calls: {[c.method for c in self.calls]}"
                )
            with self._cond:
                if self._changes == seen:  # nothing new since the check: sleep until something is
                    self._cond.wait(min(remaining, poll))

    def wait_for_response(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = WAIT_TIMEOUT
    ) -> dict:
        return self.wait_for(
            lambda s: next((r for r in s.posted_responses() if predicate(r)), None),
            timeout=timeout,
            what="a response_url post",
        )

    def posted_responses(self) -> list[dict[str, Any]]:
        """A snapshot of the bodies posted to response URLs so far."""
        with self._cond:
            return list(self.responses)

    def thread_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [
            c.args
            for c in self.calls_to("chat.postMessage")
            if c.args.get("channel") == channel and c.args.get("thread_ts") == thread_ts
        ]

    # --- the Web API ----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1767600000.{next(self._ts):06d}"

    def handle_api(self, method: str, args: dict[str, Any], token: str | None) -> tuple[int, dict, dict]:
        """(status, headers, body) for one Web API call; records it."""
        with self._cond:
            faults = self._faults.get(method) or []
            fault = faults[0] if faults else None
            if fault:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.pop(0)
        status, headers, body = self._answer(method, args, token, fault)
        with self._cond:
            self.calls.append(SlackCall(method, args, status, None if body.get("ok") else body.get("error")))
            self._changes += 1
            self._cond.notify_all()
        return status, headers, body

    def _answer(self, method: str, args: dict[str, Any], token: str | None, fault: _Fault | None) -> tuple:
        if fault and fault.status == 429:
            return 429, {"Retry-After": str(fault.retry_after or 0)}, {"ok": False, "error": "ratelimited"}
        if fault and fault.status >= 500:
            return fault.status, {}, {"ok": False, "error": fault.error or "internal_error"}
        if fault and fault.error:
            return 200, {}, {"ok": False, "error": fault.error}
        expected = APP_TOKEN if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return 200, {}, {"ok": False, "error": "invalid_auth" if token else "not_authed"}
        channel = args.get("channel")
        if method.startswith("chat.") and channel in self.channel_errors:
            return 200, {}, {"ok": False, "error": self.channel_errors[channel]}
        answer = _ANSWERS.get(method)
        if answer is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        return 200, {}, answer(self, args)

    def handle_response_url(self, key: str, body: dict[str, Any]) -> None:
        with self._cond:
            self.responses.append({"_key": key, "_at": time.monotonic(), **body})
            self._changes += 1
            self._cond.notify_all()


def _message(fake: FakeSlack, args: dict[str, Any], ts: str) -> dict[str, Any]:
    return {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": "B0FAKE",
        "text": args.get("text", ""),
        "blocks": args.get("blocks", []),
        "ts": ts,
        **({"thread_ts": args["thread_ts"]} if args.get("thread_ts") else {}),
    }


def _post_message(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    ts = fake._next_ts()
    return {"ok": True, "channel": args["channel"], "ts": ts, "message": _message(fake, args, ts)}


def _update(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "channel": args["channel"],
        "ts": args["ts"],
        "text": args.get("text", ""),
        "message": _message(fake, args, args["ts"]),
    }


def _view(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    view = args.get("view") or {}
    return {"ok": True, "view": {"id": f"V{next(fake._ts):08d}", "team_id": TEAM_ID, **view}}


_ANSWERS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": lambda fake, args: {
        "ok": True,
        "url": "https://fake-team.slack.com/",
        "team": "Fake Team",
        "user": "endpoint-bot",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": "B0FAKE",
        "is_enterprise_install": False,
    },
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "chat.postEphemeral": lambda fake, args: {"ok": True, "message_ts": fake._next_ts()},
    "conversations.open": lambda fake, args: {
        "ok": True,
        "channel": {"id": "D" + str(args.get("users", "")).split(",")[0].lstrip("U")},
    },
    "views.publish": _view,
    "views.open": _view,
    "users.info": lambda fake, args: {
        "ok": True,
        "user": {
            "id": args.get("user"),
            "team_id": TEAM_ID,
            "name": f"user-{args.get('user')}",
            "tz": "UTC",
            "is_admin": False,
            "is_bot": False,
        },
    },
    "usergroups.list": lambda fake, args: _usergroups_list(fake, args),
    "usergroups.users.list": lambda fake, args: _usergroup_users(fake, args),
    "apps.connections.open": lambda fake, args: (
        {"ok": True, "url": fake.socket_url} if fake.socket_url else {"ok": False, "error": "internal_error"}
    ),
}


def _usergroups_list(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    """Slack's usergroups.list: id, handle, name (and `users` when include_users is true)."""
    with_users = str(args.get("include_users", "")).lower() in ("true", "1")
    groups = [
        {"id": gid, "team_id": TEAM_ID, "handle": g["handle"], "name": g["handle"],
         **({"users": list(g["users"])} if with_users else {})}
        for gid, g in fake.usergroups.items()
    ]  # fmt: skip
    return {"ok": True, "usergroups": groups}


def _usergroup_users(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    """Slack's usergroups.users.list: the user ids in `usergroup`, or `no_such_subteam`."""
    group = fake.usergroups.get(str(args.get("usergroup", "")))
    if group is None:
        return {"ok": False, "error": "no_such_subteam"}
    return {"ok": True, "users": list(group["users"])}


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(raw)
    args: dict[str, Any] = dict(urllib.parse.parse_qsl(raw.decode()))
    for key in ("blocks", "attachments", "view"):  # form-encoded calls carry JSON strings
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = _parse_body(self.headers.get("Content-Type", ""), raw)
            path = urllib.parse.urlparse(self.path)
            if path.path.startswith("/response/"):
                fake.handle_response_url(urllib.parse.unquote(path.path[len("/response/") :]), body)
                self._send(200, {}, b"ok", "text/plain")
                return
            if not path.path.startswith("/api/"):
                self._send(404, {}, b"not found", "text/plain")
                return
            body.update(dict(urllib.parse.parse_qsl(path.query)))
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip() or body.pop("token", None)
            status, headers, answer = fake.handle_api(path.path[len("/api/") :], body, token)
            self._send(status, headers, json.dumps(answer).encode(), "application/json; charset=utf-8")

        def _send(self, status: int, headers: dict[str, str], payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


# --- signed requests, as Slack sends them ---------------------------------------------------------


def sign(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends with a request: X-Slack-Request-Timestamp and X-Slack-Signature (v0 HMAC-SHA256)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def slash_command_body(
    text: str,
    *,
    user_id: str = "U1OWNER",
    channel_id: str = "C1GENERAL",
    response_url: str,
    command: str = "/endpoint",
) -> str:
    """The form-encoded body of a slash command, with every field Slack sends."""
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "fake-team",
            "enterprise_id": "",
            "enterprise_name": "",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": f"user-{user_id}",
            "command": command,
            "text": text,
            "api_app_id": "A0FAKE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "1337.42.abcdef",
        }
    )


def block_action_payload(
    action_id: str,
    value: str,
    *,
    user_id: str = "U1OWNER",
    channel_id: str = "C1GENERAL",
    message_ts: str = "1767600000.000001",
    response_url: str | None = None,
    from_home: bool = False,
) -> dict[str, Any]:
    """A block_actions payload from a message button (or the App Home when `from_home`)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": f"user-{user_id}", "name": f"user-{user_id}", "team_id": TEAM_ID},
        "api_app_id": "A0FAKE",
        "token": "legacy-verification-token",
        "trigger_id": "1337.42.abcdef",
        "team": {"id": TEAM_ID, "domain": "fake-team"},
        "actions": [
            {
                "action_id": action_id,
                "block_id": "card_actions",
                "type": "button",
                "value": value,
                "text": {"type": "plain_text", "text": "button"},
                "action_ts": "1767600001.000001",
            }
        ],
    }
    if from_home:
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home", "blocks": []}
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel_id, "name": "general"}
        payload["message"] = {"type": "message", "ts": message_ts, "text": "card", "blocks": []}
        payload["response_url"] = response_url
        payload["state"] = {"values": {}}
    return payload


def block_action_body(payload: dict[str, Any]) -> str:
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any]) -> str:
    """An Events API callback (JSON) wrapping `event`."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0FAKE",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{int(time.time() * 1000)}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
        }
    )


# --- Socket Mode ----------------------------------------------------------------------------------


class FakeSocketMode:
    """A websocket server speaking Slack's Socket Mode: hello, then envelopes; records acks by envelope id."""

    def __init__(self) -> None:
        from websockets.sync.server import serve

        self.acks: dict[str, dict[str, Any]] = {}
        self.connected = threading.Event()
        self._cond = threading.Condition()
        self._outbox: list[dict[str, Any]] = []
        self._server = serve(self._session, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True).start()

    @property
    def url(self) -> str:
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=fake-ticket"

    def send(self, envelope: dict[str, Any]) -> None:
        with self._cond:
            self._outbox.append(envelope)
            self._cond.notify_all()

    def wait_for_ack(self, envelope_id: str, *, timeout: float = WAIT_TIMEOUT) -> dict[str, Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: envelope_id in self.acks, timeout=timeout):
                raise AssertionError(f"no ack for envelope {envelope_id}")
            return self.acks[envelope_id]

    def _session(self, websocket: Any) -> None:
        websocket.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}}))
        self.connected.set()
        reader = threading.Thread(target=self._read_acks, args=(websocket,), daemon=True)
        reader.start()
        while reader.is_alive():
            with self._cond:
                self._cond.wait_for(lambda: bool(self._outbox) or not reader.is_alive(), timeout=0.2)
                pending, self._outbox = self._outbox, []
            for envelope in pending:
                websocket.send(json.dumps(envelope))

    def _read_acks(self, websocket: Any) -> None:
        try:
            for message in websocket:
                data = json.loads(message)
                if "envelope_id" in data:
                    with self._cond:
                        self.acks[data["envelope_id"]] = data
                        self._cond.notify_all()
        except Exception:
            return

    def stop(self) -> None:
        self._server.shutdown()


def slash_command_envelope(
    text: str, *, envelope_id: str = "env-1", response_url: str, **fields: str
) -> dict[str, Any]:
    """A Socket Mode envelope carrying a slash command (payload as Slack sends it, already decoded)."""
    payload = dict(urllib.parse.parse_qsl(slash_command_body(text, response_url=response_url, **fields)))
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": payload,
    }
