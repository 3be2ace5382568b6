"""HTTP mode: Bolt's WSGI adapter on a threaded stdlib WSGI server (one thread per request).

Slack posts slash commands, button presses and events to `/slack/events`; Bolt checks the
signature (401 on a bad one) and the listeners ack. The server is threaded so a slow request never
holds up another (the sync Bolt app is never put under an async server). `GET /healthz` answers 200
for load balancers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    """Request lines go to the debug log, not stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)


def wsgi_app(app: App, *, path: str = EVENTS_PATH) -> Any:
    bolt = SlackRequestHandler(app, path=path)

    def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return bolt(environ, start_response)

    return application


def make_http_server(app: App, *, host: str = "0.0.0.0", port: int = 3000) -> ThreadingWSGIServer:
    """Bind (port 0 picks a free port: read `server.server_port`) but do not serve yet."""
    return make_server(
        host, port, wsgi_app(app), server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )  # type: ignore[return-value]


def serve_in_background(server: ThreadingWSGIServer) -> threading.Thread:
    """Run `serve_forever` on a daemon thread (tests, benchmarks); stop with `server.shutdown()`."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-http", daemon=True
    )
    thread.start()
    return thread
