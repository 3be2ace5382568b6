"""Readiness: is a freshly launched engine really serving? ("answers HTTP" is not "ready").

`wait_until_ready` polls the engine's own readiness route (vLLM `GET /health`, SGLang `GET /ready`:
SGLang's `/v1/models` answers before warm-up ends, so it is not used) with capped exponential backoff
until a deadline, then sends one real chat completion with the endpoint's API key (`max_tokens=1`).
Only when that succeeds is the endpoint ready. Failures raise `NotReady` with a sentence a person can
act on; the API key never appears in it.

How fast a ready engine is noticed: the gap between probes starts at `first_delay` and doubles up to
`max_delay` (settings `readiness_poll_first` / `readiness_poll_max`: 0.25 s and 1 s), so the URL and key
follow within about a second of the engine answering. That is no burden on a loading engine: one probe
at a time, each a refused connection (nothing listens yet) or one tiny GET; and a probe that reached a
socket the engine has bound but not yet serves waits there and is answered the moment serving starts.
`gone`, when given, is asked between probes whether the engine process has exited (with its own reason):
a crashed start fails at once with that reason instead of running out the deadline.

HTTPS: `verify` is the context the engine's certificate is checked with (core.tls.client_context: the
endpoint's private CA, host name included); verification is never turned off. A certificate that does
not verify fails at once with a sentence (waiting cannot fix it), and the key is never sent to it.

`ReadinessCheck` is the same, one probe at a time: the launch flow runs each probe as a short task and
waits between probes on the worker pool's timer, so a thousand engines loading hold no thread.

Not for: following the cloud launch itself (core.launcher.following) or watching traffic (the watchdog).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from core import tls as certs
from core.clock import Clock, SystemClock
from core.engines import readiness_path
from core.errors import UserFacingError

FIRST_DELAY_S = 0.25  # settings.readiness_poll_first
MAX_DELAY_S = 1.0  # settings.readiness_poll_max: a ready engine is noticed within this long
PROBE_TIMEOUT_S = 10.0
# The first completion after warm-up can be slow (CUDA graphs, compilation): be generous.
COMPLETION_TIMEOUT_S = 120.0

Progress = Callable[[str], None]
Gone = Callable[[], str | None]  # None while the engine process runs; else why it exited


class NotReady(UserFacingError):
    """The engine did not become ready; `reason` says what was seen last."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def wait_until_ready(
    *,
    url: str,
    engine: str,
    api_key: str,
    model_name: str,
    deadline: timedelta,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
    progress: Progress | None = None,
    first_delay: float = FIRST_DELAY_S,
    max_delay: float = MAX_DELAY_S,
    check_server: Callable[[], None] | None = None,
    gone: Gone | None = None,
    verify: ssl.SSLContext | None = None,
) -> None:
    """Return once `url` answers its readiness route and one chat completion; raise `NotReady` otherwise.

    `progress` receives short step descriptions ("engine port open", "engine answers /health",
    "test completion succeeded"), each once, for the lifecycle to post in the endpoint's thread.
    `check_server` runs after the readiness route answered and before the key is sent: it raises when
    the server answering is not the one launched (the local launcher's `check_serving`).
    Blocks its thread between probes; the launch flow uses `ReadinessCheck` one probe at a time instead.
    """
    check = ReadinessCheck(
        url=url,
        engine=engine,
        model_name=model_name,
        deadline=deadline,
        clock=clock,
        progress=progress,
        first_delay=first_delay,
        max_delay=max_delay,
        check_server=check_server,
        gone=gone,
    )
    own_client = client is None
    http = client or httpx.Client(timeout=PROBE_TIMEOUT_S, verify=verify or True)
    try:
        while (delay := check.probe(http)) is not None:
            sleep(delay)
        check.complete(http, api_key=api_key)
    finally:
        if own_client:
            http.close()


class ReadinessCheck:
    """Readiness one step at a time, so no thread waits between probes (the launch flow's follower
    schedules each probe): `probe(http)` sends ONE probe of the readiness route and returns the seconds
    to wait before the next one, or None once the route answered 200; it raises `NotReady` when the
    engine exited (`gone`) or the deadline passed. Then `complete(http, api_key=...)` runs the server
    check and the one real completion. The gap between probes starts at `first_delay` and doubles up to
    `max_delay`. Not thread-safe: one probe of a check at a time."""

    def __init__(
        self,
        *,
        url: str,
        engine: str,
        model_name: str,
        deadline: timedelta,
        clock: Clock | None = None,
        progress: Progress | None = None,
        first_delay: float = FIRST_DELAY_S,
        max_delay: float = MAX_DELAY_S,
        check_server: Callable[[], None] | None = None,
        gone: Gone | None = None,
    ) -> None:
        try:
            self.route = readiness_path(engine)  # vLLM /health, SGLang /ready
        except ValueError:
            raise NotReady(f"Unknown engine `{engine}`; expected `vllm` or `sglang`.") from None
        self.base = url.rstrip("/")
        self.model_name = model_name
        self.deadline = deadline
        self.clock = clock or SystemClock()
        self.give_up_at: datetime = self.clock.now() + deadline
        self.progress = progress
        self.delay = first_delay
        self.max_delay = max_delay
        self.check_server = check_server
        self.gone = gone
        self.last_seen = (
            "no answer yet (the port is not open: the engine is still starting or loading weights)"
        )
        self._said: set[str] = set()

    def say(self, step: str) -> None:
        if self.progress is not None and step not in self._said:
            self._said.add(step)
            self.progress(step)

    def probe(self, http: httpx.Client) -> float | None:
        """One probe of the readiness route: None when it answered 200, else the seconds until the next."""
        route = self.route
        try:
            response = http.get(f"{self.base}{route}", timeout=PROBE_TIMEOUT_S)
        except httpx.ConnectError as exc:
            self.last_seen = _connect_problem(exc, f"{self.base}{route}")
        except httpx.TimeoutException:
            self.say("engine port open")
            self.last_seen = f"`{route}` timed out after {PROBE_TIMEOUT_S:.0f}s"
        except httpx.TransportError as exc:
            self.last_seen = f"connection error: {type(exc).__name__}"
        else:
            self.say("engine port open")
            if response.status_code == 200:
                self.say(f"engine answers {route}")
                return None
            self.last_seen = f"`{route}` answered HTTP {response.status_code}"
            if response.status_code in (502, 503):
                self.say("weights loading")
        exited = self.gone() if self.gone is not None else None
        if exited:
            raise NotReady(exited)
        now = self.clock.now()
        if now >= self.give_up_at:
            raise NotReady(
                f"The engine was not ready after {_minutes(self.deadline)}; last seen: {self.last_seen}. "
                "Check the cluster's logs (model download, out of memory), or try a larger GPU or a "
                "shorter max context."
            )
        delay = max(0.0, min(self.delay, (self.give_up_at - now).total_seconds()))
        self.delay = min(self.delay * 2, self.max_delay)
        return delay

    def complete(self, http: httpx.Client, *, api_key: str) -> None:
        """After the route answered: the server check, then one real completion with the key."""
        if self.check_server is not None:
            self.check_server()  # whoever answered the route must be the engine before it gets the key
        _test_completion(http=http, base=self.base, api_key=api_key, model_name=self.model_name)
        self.say("test completion succeeded")


def _connect_problem(exc: httpx.ConnectError, url: str) -> str:
    """What a failed connection says; NotReady at once when the server's certificate does not verify."""
    bad_cert = certs.is_verification_error(exc)
    if bad_cert is not None:
        raise NotReady(
            f"The engine at {url.split('/', 3)[2] if '//' in url else url} presented a TLS certificate that "
            f"does not verify against the endpoint's CA ({bad_cert.verify_message or 'verification failed'}), "
            "so the API key was not sent to it. If the address is not in the certificate, set a team "
            "certificate that names it, or launch with `tls=no`."
        )
    if certs.tls_cause(exc) is not None:
        return "the port answered without TLS (is the engine serving plain HTTP?)"
    return "the port refused connections (the engine is still starting or loading weights)"


def _test_completion(*, http: httpx.Client, base: str, api_key: str, model_name: str) -> None:
    payload = {
        "model": model_name,
        "messages": [{"role": "user", "content": "Say OK."}],
        "max_tokens": 1,
        "temperature": 0,
    }
    try:
        response = http.post(
            f"{base}/v1/chat/completions",
            json=payload,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=COMPLETION_TIMEOUT_S,
        )
    except httpx.TransportError as exc:
        raise NotReady(
            f"The engine answered its health check but the test completion failed: {type(exc).__name__}. "
            "The engine may have crashed while warming up; check the cluster's logs."
        ) from None
    if response.status_code == 200:
        try:
            choices = response.json().get("choices")
        except ValueError:
            choices = None
        if choices:
            return
        raise NotReady(
            "The test completion answered HTTP 200 without any choices; the engine is misbehaving."
        )
    message = _redact(_error_message(response), api_key)
    hint = {
        401: "The engine refused the endpoint's API key (was the key handed to the engine?).",
        404: f"The engine does not serve a model named `{model_name}`.",
    }.get(response.status_code, "Check the cluster's logs.")
    raise NotReady(f"The test completion failed with HTTP {response.status_code}: {message}. {hint}")


def _error_message(response: httpx.Response) -> str:
    """The engine's own error text (vLLM/SGLang/OpenAI shapes), first line, bounded."""
    text = response.text
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError):
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            text = str(error.get("message") or error.get("detail") or error)
        elif isinstance(error, str):
            text = error
        elif "message" in data:
            text = str(data["message"])
    first = (text.strip().splitlines() or ["(no message)"])[0]
    return first[:300]


def _redact(text: str, api_key: str) -> str:
    if api_key:
        text = text.replace(api_key, "<redacted>")
    return text


def _minutes(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    return f"{seconds // 60} minutes"
