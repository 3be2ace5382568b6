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

Not for: following the cloud launch itself (the launcher does that) or watching traffic (the watchdog).
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
    """
    try:
        route = readiness_path(engine)  # vLLM /health, SGLang /ready
    except ValueError:
        raise NotReady(f"Unknown engine `{engine}`; expected `vllm` or `sglang`.") from None
    clock = clock or SystemClock()
    base = url.rstrip("/")
    give_up_at = clock.now() + deadline
    own_client = client is None
    http = client or httpx.Client(timeout=PROBE_TIMEOUT_S, verify=verify or True)
    said: set[str] = set()

    def say(step: str) -> None:
        if progress is not None and step not in said:
            said.add(step)
            progress(step)

    try:
        _poll_readiness(
            http=http,
            probe_url=f"{base}{route}",
            route=route,
            clock=clock,
            sleep=sleep,
            give_up_at=give_up_at,
            deadline=deadline,
            say=say,
            first_delay=first_delay,
            max_delay=max_delay,
            gone=gone,
        )
        if check_server is not None:
            check_server()  # whoever answered /health must be the engine before it gets the key
        _test_completion(http=http, base=base, api_key=api_key, model_name=model_name)
        say("test completion succeeded")
    finally:
        if own_client:
            http.close()


def _poll_readiness(
    *,
    http: httpx.Client,
    probe_url: str,
    route: str,
    clock: Clock,
    sleep: Callable[[float], None],
    give_up_at: datetime,
    deadline: timedelta,
    say: Progress,
    first_delay: float,
    max_delay: float,
    gone: Gone | None,
) -> None:
    delay = first_delay
    last_seen = "no answer yet (the port is not open: the engine is still starting or loading weights)"
    while True:
        try:
            response = http.get(probe_url, timeout=PROBE_TIMEOUT_S)
        except httpx.ConnectError as exc:
            last_seen = _connect_problem(exc, probe_url)
        except httpx.TimeoutException:
            say("engine port open")
            last_seen = f"`{route}` timed out after {PROBE_TIMEOUT_S:.0f}s"
        except httpx.TransportError as exc:
            last_seen = f"connection error: {type(exc).__name__}"
        else:
            say("engine port open")
            if response.status_code == 200:
                say(f"engine answers {route}")
                return
            last_seen = f"`{route}` answered HTTP {response.status_code}"
            if response.status_code in (502, 503):
                say("weights loading")
        exited = gone() if gone is not None else None
        if exited:
            raise NotReady(exited)
        now = clock.now()
        if now >= give_up_at:
            raise NotReady(
                f"The engine was not ready after {_minutes(deadline)}; last seen: {last_seen}. "
                "Check the cluster's logs (model download, out of memory), or try a larger GPU or a "
                "shorter max context."
            )
        remaining = (give_up_at - now).total_seconds()
        sleep(max(0.0, min(delay, remaining)))
        delay = min(delay * 2, max_delay)


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
