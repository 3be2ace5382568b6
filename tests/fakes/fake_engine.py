"""A fake vLLM / SGLang server: real HTTP on loopback, the OpenAI routes, readiness routes and metrics.

What it is for: everything that talks to an engine (readiness, the watchdog's scraper, the local
launcher, end-to-end lifecycle tests, benchmarks) runs against this over real sockets instead of a GPU.
What it is not: a model. Replies are canned; token counts are rough word counts.

Behaviour follows /work/shared/reference/engines.md:
- vLLM: the port refuses connections until the model is "loaded", then `GET /health` is 200 (503 when
  the engine is unhealthy); `/v1/*` need `Authorization: Bearer <key>`; `/health`, `/ping`, `/metrics`,
  `/version` do not. Metrics are always on, one series per data-parallel engine (`engine` label).
- SGLang: `GET /ready` is 200 only after warm-up; `/v1/models` answers before that; `/health` does a
  1-token generation (so it follows readiness). `/metrics` exists only with `--enable-metrics`; every
  route except `/health*`, `/ready`, `/metrics` needs the key.

Test controls (never authenticated, under `/_fake/`): `POST /_fake/counters` (add traffic / set load),
`POST /_fake/die`, `POST /_fake/restart`, `POST /_fake/fail` (`{"completions": true}`), `GET /_fake/state`.
In-process, the same controls are methods of `FakeEngine`.

Three ways to run it:
- `python -m tests.fakes.fake_engine serve MODEL --port 8000` (vLLM argv) or
  `python -m tests.fakes.fake_engine --model-path MODEL --port 30000` (SGLang argv); unknown flags are
  ignored, the key comes from `--api-key`, `VLLM_API_KEY` or `ENDPOINT_API_KEY`. Like SGLang 0.5,
  `--config FILE.yaml` reads `key: value` pairs as if they were `--key value` flags placed first.
  `--ssl-keyfile KEY --ssl-certfile CERT` (both engines' flags) serve HTTPS with that certificate.
- `with start_fake_engine(engine="vllm", model="m", api_key="k") as fake:` one engine on a free port.
- `with FakeEngineFarm(1000) as farm:` many engines on many ports served by ONE event-loop thread, cheap
  enough for the watchdog benchmark.

The server is asyncio (stdlib): one loop serves any number of listening sockets, so a farm of a thousand
engines costs a thousand sockets and one thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import ssl
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


# --- counters -------------------------------------------------------------------------------------


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1


@dataclass
class _Series:
    """The counters of one data-parallel engine (vLLM labels them `engine="0"`, `"1"`, ...)."""

    created: float = field(default_factory=time.time)
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    requests: float = 0.0
    running: float = 0.0
    waiting: float = 0.0
    kv_usage: float = 0.0
    ttft: _Histogram = field(default_factory=lambda: _Histogram(TTFT_BUCKETS))
    e2e: _Histogram = field(default_factory=lambda: _Histogram(E2E_BUCKETS))


def _fmt(value: float) -> str:
    return repr(float(value))


def _labels(**labels: str) -> str:
    # prometheus_client sorts labels alphabetically; do the same so the output looks like the real thing.
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return "{" + inner + "}"


def _counter(
    lines: list[str], name: str, help_text: str, rows: list[tuple[dict[str, str], float, float]]
) -> None:
    lines.append(f"# HELP {name}_total {help_text}")
    lines.append(f"# TYPE {name}_total counter")
    lines.extend(f"{name}_total{_labels(**labels)} {_fmt(value)}" for labels, value, _ in rows)
    lines.append(f"# HELP {name}_created {help_text}")
    lines.append(f"# TYPE {name}_created gauge")
    lines.extend(f"{name}_created{_labels(**labels)} {_fmt(created)}" for labels, _, created in rows)


def _gauge(lines: list[str], name: str, help_text: str, rows: list[tuple[dict[str, str], float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    lines.extend(f"{name}{_labels(**labels)} {_fmt(value)}" for labels, value in rows)


def _histogram(
    lines: list[str], name: str, help_text: str, rows: list[tuple[dict[str, str], _Histogram]]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} histogram")
    for labels, hist in rows:
        for bound, count in zip(hist.buckets, hist.counts, strict=True):
            lines.append(f"{name}_bucket{_labels(**labels, le=_fmt(bound))} {_fmt(count)}")
        lines.append(f"{name}_bucket{_labels(**labels, le='+Inf')} {_fmt(hist.count)}")
        lines.append(f"{name}_count{_labels(**labels)} {_fmt(hist.count)}")
        lines.append(f"{name}_sum{_labels(**labels)} {_fmt(hist.total)}")


def render_vllm_metrics(model: str, series: list[_Series]) -> str:
    """vLLM's exposition: one series per data-parallel engine, labels `engine` and `model_name`."""
    base = [{"engine": str(i), "model_name": model} for i in range(len(series))]
    lines: list[str] = []
    _gauge(lines, "vllm:num_requests_running", "Number of requests in model execution batches.",
           [(b, s.running) for b, s in zip(base, series, strict=True)])  # fmt: skip
    _gauge(lines, "vllm:num_requests_waiting", "Number of requests waiting to be processed.",
           [(b, s.waiting) for b, s in zip(base, series, strict=True)])  # fmt: skip
    _gauge(lines, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
           [(b, s.kv_usage) for b, s in zip(base, series, strict=True)])  # fmt: skip
    _counter(lines, "vllm:prompt_tokens", "Number of prefill tokens processed.",
             [(b, s.prompt_tokens, s.created) for b, s in zip(base, series, strict=True)])  # fmt: skip
    _counter(lines, "vllm:generation_tokens", "Number of generation tokens processed.",
             [(b, s.generation_tokens, s.created) for b, s in zip(base, series, strict=True)])  # fmt: skip
    _counter(lines, "vllm:request_success", "Count of successfully processed requests.",
             [({**b, "finished_reason": "length"}, s.requests, s.created)
              for b, s in zip(base, series, strict=True)])  # fmt: skip
    _histogram(lines, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
               [(b, s.ttft) for b, s in zip(base, series, strict=True)])  # fmt: skip
    _histogram(lines, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
               [(b, s.e2e) for b, s in zip(base, series, strict=True)])  # fmt: skip
    return "\n".join(lines) + "\n"


def render_sglang_metrics(model: str, series: list[_Series]) -> str:
    """SGLang's exposition (with `--enable-metrics`): one series, label `model_name`."""
    one = _merge(series)
    b = {"model_name": model}
    lines: list[str] = []
    _gauge(lines, "sglang:num_running_reqs", "The number of running requests.", [(b, one.running)])
    _gauge(lines, "sglang:num_queue_reqs", "The number of requests in the waiting queue.", [(b, one.waiting)])
    _gauge(lines, "sglang:token_usage", "The token usage.", [(b, one.kv_usage)])
    _gauge(lines, "sglang:gen_throughput", "The generation throughput (token/s).", [(b, 0.0)])
    _counter(lines, "sglang:prompt_tokens", "Number of prefill tokens processed.",
             [(b, one.prompt_tokens, one.created)])  # fmt: skip
    _counter(lines, "sglang:generation_tokens", "Number of generation tokens processed.",
             [(b, one.generation_tokens, one.created)])  # fmt: skip
    _counter(lines, "sglang:num_requests", "Number of requests processed.", [(b, one.requests, one.created)])
    _histogram(lines, "sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
               [(b, one.ttft)])  # fmt: skip
    _histogram(lines, "sglang:e2e_request_latency_seconds", "Histogram of End-to-end request latency in seconds",
               [(b, one.e2e)])  # fmt: skip
    return "\n".join(lines) + "\n"


def _merge(series: list[_Series]) -> _Series:
    out = _Series(created=min(s.created for s in series))
    for s in series:
        out.prompt_tokens += s.prompt_tokens
        out.generation_tokens += s.generation_tokens
        out.requests += s.requests
        out.running += s.running
        out.waiting += s.waiting
        out.kv_usage = max(out.kv_usage, s.kv_usage)
        for mine, theirs in ((out.ttft, s.ttft), (out.e2e, s.e2e)):
            mine.counts = [a + b for a, b in zip(mine.counts, theirs.counts, strict=True)]
            mine.total += theirs.total
            mine.count += theirs.count
    return out


# --- one engine -----------------------------------------------------------------------------------


@dataclass
class EngineConfig:
    """How a fake engine behaves. Delays are real seconds (keep them small in tests)."""

    engine: str = "vllm"  # "vllm" | "sglang"
    model: str = "fake/model"
    served_model_name: str | None = None
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    startup_delay: float = 0.0  # port refuses connections this long (weights loading)
    warmup_delay: float = 0.0  # then SGLang's /ready (and vLLM's /health) answer 503 this long
    never_ready: bool = False  # port opens but readiness never passes
    fail_completions: bool = False  # completions answer 500 with an engine-style error
    die_after: float | None = None  # the engine dies this long after start
    data_parallel: int | None = None  # vLLM metrics series; default 2 for vLLM, 1 for SGLang
    metrics_enabled: bool = True  # SGLang needs --enable-metrics; vLLM always has metrics
    ttft_seconds: float = 0.05  # latency recorded for each served completion (not slept)
    e2e_seconds: float = 0.2
    reply: str = "Hello from the fake engine."
    exit_on_die: bool = False  # the CLI process exits when the engine dies, as a crashed engine would
    download_seconds: float | None = None  # the CLI prints vLLM's download line with this figure
    ssl_certfile: str | None = None  # with ssl_keyfile: serve HTTPS (vLLM/SGLang `--ssl-certfile`)
    ssl_keyfile: str | None = None


class FakeEngine:
    """One fake engine on one port. Thread-safe handle: tests call its methods from any thread."""

    def __init__(self, config: EngineConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self._loop = loop
        self._lock = threading.Lock()
        self._sock = _bind(config.host, config.port)
        self.port: int = self._sock.getsockname()[1]
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready_at = 0.0
        self._alive = True
        self._hung = False  # accepts connections and reads requests, never answers (see hang())
        self._generation = 0  # bumped by die/restart so stale timers do nothing
        # (method, path) of recent requests, probes included; bounded so long benchmarks stay flat.
        self.requests_seen: deque[tuple[str, str]] = deque(maxlen=2000)
        dp = config.data_parallel or (2 if config.engine == "vllm" else 1)
        self._series = [_Series() for _ in range(dp)]
        self._next_series = 0
        self._tls: ssl.SSLContext | None = None
        if config.ssl_certfile and config.ssl_keyfile:  # read now: a bad file fails the start, as uvicorn's
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(config.ssl_certfile, config.ssl_keyfile)

    # -- public handle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.config.host}:{self.port}"

    @property
    def model_name(self) -> str:
        return self.config.served_model_name or self.config.model

    @property
    def alive(self) -> bool:
        return self._alive

    def add_traffic(
        self,
        *,
        requests: int = 1,
        prompt_tokens: int = 10,
        generation_tokens: int = 5,
        ttft: float | None = None,
        e2e: float | None = None,
    ) -> None:
        """Move the counters as if `requests` completions had been served (spread over DP engines)."""
        with self._lock:
            for i in range(requests):
                series = self._series[self._next_series]
                self._next_series = (self._next_series + 1) % len(self._series)
                series.requests += 1
                # Put all tokens on the first request so totals are exact whatever `requests` is.
                series.prompt_tokens += prompt_tokens if i == 0 else 0
                series.generation_tokens += generation_tokens if i == 0 else 0
                series.ttft.observe(self.config.ttft_seconds if ttft is None else ttft)
                series.e2e.observe(self.config.e2e_seconds if e2e is None else e2e)
            if requests == 0:
                self._series[0].prompt_tokens += prompt_tokens
                self._series[0].generation_tokens += generation_tokens

    def set_load(self, *, running: int = 0, waiting: int = 0, kv_usage: float = 0.0) -> None:
        """Set the gauges (requests running / waiting) on engine 0, zero elsewhere."""
        with self._lock:
            for i, series in enumerate(self._series):
                series.running = running if i == 0 else 0
                series.waiting = waiting if i == 0 else 0
                series.kv_usage = kv_usage if i == 0 else 0.0

    def totals(self) -> dict[str, float]:
        """Sums over data-parallel engines (what a correct scraper must arrive at)."""
        with self._lock:
            merged = _merge(self._series)
        return {
            "requests": merged.requests,
            "prompt_tokens": merged.prompt_tokens,
            "generation_tokens": merged.generation_tokens,
            "running": merged.running,
            "waiting": merged.waiting,
        }

    def set_fail_completions(self, fail: bool = True) -> None:
        with self._lock:
            self.config.fail_completions = fail

    def set_never_ready(self, never: bool = True) -> None:
        with self._lock:
            self.config.never_ready = never

    def hang(self, hung: bool = True) -> None:
        """Keep accepting connections and reading requests but answer none (a wedged engine); hang(False)
        answers what is waiting."""
        self._hung = hung

    def die(self) -> None:
        """Stop answering: close the port and every open connection (a crashed engine)."""
        self._call(self._die)

    def restart(self, *, startup_delay: float | None = None) -> None:
        """Come back with counters reset (a restarted engine), after `startup_delay` (default: config's)."""
        delay = self.config.startup_delay if startup_delay is None else startup_delay
        self._call(lambda: self._restart(delay))

    def metrics_text(self) -> str:
        with self._lock:
            if self.config.engine == "sglang":
                return render_sglang_metrics(self.model_name, self._series)
            return render_vllm_metrics(self.model_name, self._series)

    # -- loop side -----------------------------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> None:
        if _running_in(self._loop):
            fn()
            return
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(10)

    def _start(self) -> None:
        """Schedule listening after the startup delay (the socket is bound but not listening: refused)."""
        self._generation += 1
        generation = self._generation
        delay = self.config.startup_delay
        self._ready_at = time.monotonic() + delay + self.config.warmup_delay
        if delay > 0:
            self._loop.call_later(delay, self._listen, generation)
        else:
            self._listen(generation)
        if self.config.die_after is not None:
            self._loop.call_later(self.config.die_after, self._die_if, generation)

    def _listen(self, generation: int) -> None:
        if generation != self._generation or not self._alive:
            return
        task = self._loop.create_task(
            asyncio.start_server(self._handle, sock=self._sock, limit=64 * 1024, backlog=512, ssl=self._tls)
        )
        task.add_done_callback(self._listening)

    def _listening(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is None:
            self._server = task.result()

    def _die_if(self, generation: int) -> None:
        if generation == self._generation:
            self._die()

    def _die(self) -> None:
        self._alive = False
        self._generation += 1
        self._close_socket()
        if self.config.exit_on_die:
            os._exit(1)

    def _close_socket(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        with contextlib.suppress(OSError):
            self._sock.close()

    def _restart(self, delay: float) -> None:
        self._close_socket()
        self._sock = _bind(self.config.host, self.port)
        with self._lock:
            self._series = [_Series() for _ in self._series]
        self._alive = True
        old = self.config.startup_delay
        self.config.startup_delay = delay
        self._start()
        self.config.startup_delay = old

    def close(self) -> None:
        self._call(self._shutdown)

    def _shutdown(self) -> None:
        self._generation += 1
        self._alive = False
        self._close_socket()

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                while self._hung and self._alive:
                    await asyncio.sleep(0.05)
                status, content_type, payload = self._route(method, path, headers, body)
                keep_alive = headers.get("connection", "").lower() != "close"
                writer.write(_response(status, content_type, payload, keep_alive=keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        self.requests_seen.append((method, path))
        if path.startswith("/_fake/"):
            return self._admin(method, path, body)
        is_sglang = self.config.engine == "sglang"
        ready = self._is_ready()
        open_routes = (
            {"/health", "/ready", "/metrics"} if is_sglang else {"/health", "/ping", "/metrics", "/version"}
        )
        if path not in open_routes and not self._authorized(headers):
            return _json(401, {"error": "Unauthorized"})
        readiness_routes = {"/health", "/ready"} if is_sglang else {"/health", "/ping"}
        if path in readiness_routes:
            return _json(200, {}) if ready else _json(503, {"error": "engine not ready"})
        if path == "/version":
            return _json(200, {"version": "0.33.0+fake"})
        if path == "/metrics":
            if is_sglang and not self.config.metrics_enabled:
                return _json(404, {"detail": "Not Found"})
            return 200, "text/plain; version=0.0.4; charset=utf-8", self.metrics_text().encode()
        if path == "/v1/models" and method == "GET":
            return _json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": self.model_name,
                            "object": "model",
                            "owned_by": "fake",
                            "root": self.config.model,
                        }
                    ],
                },
            )
        if path in ("/v1/chat/completions", "/v1/completions"):
            if method != "POST":
                return _json(405, {"detail": "Method Not Allowed"})
            return self._completion(path, body, ready)
        return _json(404, {"detail": "Not Found"})

    def _is_ready(self) -> bool:
        with self._lock:
            never = self.config.never_ready
        return self._alive and not never and time.monotonic() >= self._ready_at

    def _authorized(self, headers: dict[str, str]) -> bool:
        key = self.config.api_key
        if not key:
            return True
        return headers.get("authorization", "") == f"Bearer {key}"

    def _completion(self, path: str, body: bytes, ready: bool) -> tuple[int, str, bytes]:
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            return _error(400, f"Invalid JSON body: {exc}", "BadRequestError")
        model = request.get("model")
        if model is not None and model != self.model_name:
            return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
        if not ready:
            return _error(503, "The engine is still loading.", "ServiceUnavailableError")
        with self._lock:
            fail = self.config.fail_completions
        if fail:
            return _error(
                500, "CUDA out of memory (fake): the engine could not run the request.", "InternalServerError"
            )
        if path == "/v1/chat/completions":
            messages = request.get("messages") or []
            prompt = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        else:
            prompt = str(request.get("prompt", ""))
        max_tokens = request.get("max_tokens") or request.get("max_completion_tokens") or 16
        words = self.config.reply.split()
        generated = words[: max(1, min(int(max_tokens), len(words)))]
        prompt_tokens = max(1, len(prompt.split()))
        self.add_traffic(requests=1, prompt_tokens=prompt_tokens, generation_tokens=len(generated))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(generated),
            "total_tokens": prompt_tokens + len(generated),
        }
        created = int(time.time())
        text = " ".join(generated)
        finish = "length" if len(generated) < len(words) else "stop"
        if path == "/v1/chat/completions":
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish}
            kind = "text_completion"
        completion_id = f"cmpl-{uuid.uuid4().hex[:16]}"
        if request.get("stream"):
            return _sse(completion_id, kind, created, self.model_name, choice, usage)
        return _json(
            200,
            {
                "id": completion_id,
                "object": kind,
                "created": created,
                "model": self.model_name,
                "choices": [choice],
                "usage": usage,
            },
        )

    def _admin(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        try:
            data = json.loads(body or b"{}") if method == "POST" else {}
        except ValueError:
            return _json(400, {"error": "invalid JSON"})
        if path == "/_fake/state":
            return _json(
                200, {"ready": self._is_ready(), "totals": self.totals(), "config": _public(self.config)}
            )
        if method != "POST":
            return _json(405, {"error": "POST only"})
        if path in ("/_fake/counters", "/_fake/advance"):
            self.add_traffic(
                requests=int(data.get("requests", 0)),
                prompt_tokens=int(data.get("prompt_tokens", 0)),
                generation_tokens=int(data.get("generation_tokens", 0)),
            )
            if any(k in data for k in ("running", "waiting", "kv_usage")):
                self.set_load(
                    running=int(data.get("running", 0)),
                    waiting=int(data.get("waiting", 0)),
                    kv_usage=float(data.get("kv_usage", 0.0)),
                )
            return _json(200, {"totals": self.totals()})
        if path == "/_fake/fail":
            self.set_fail_completions(bool(data.get("completions", True)))
            return _json(200, {})
        if path == "/_fake/die":
            # Answer first, then die: the caller learns the command arrived.
            self._loop.call_later(0.01, self._die)
            return _json(200, {"dying": True})
        if path == "/_fake/restart":
            delay = float(data.get("startup_delay", 0.0))
            self._loop.call_later(0.01, self._restart, delay)
            return _json(200, {"restarting": True})
        return _json(404, {"error": f"no admin route {path}"})


def _public(config: EngineConfig) -> dict[str, Any]:
    data = dict(config.__dict__)
    data["api_key"] = "<set>" if config.api_key else None
    return data


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return parts[0].upper(), parts[1], headers, body


def _response(status: int, content_type: str, payload: bytes, *, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
        f"content-type: {content_type}\r\n"
        f"content-length: {len(payload)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + payload


def _json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode()


def _sse(
    completion_id: str, kind: str, created: int, model: str, choice: dict[str, Any], usage: dict[str, int]
) -> tuple[int, str, bytes]:
    """A streamed completion as server-sent events: one content chunk, a usage chunk, `[DONE]`."""
    if "message" in choice:
        delta = {"index": 0, "delta": dict(choice["message"]), "finish_reason": choice["finish_reason"]}
        chunk_kind = "chat.completion.chunk"
    else:
        delta = dict(choice)
        chunk_kind = kind
    base = {"id": completion_id, "object": chunk_kind, "created": created, "model": model}
    events = [{**base, "choices": [delta]}, {**base, "choices": [], "usage": usage}]
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    return 200, "text/event-stream", body.encode()


def _error(status: int, message: str, kind: str) -> tuple[int, str, bytes]:
    return _json(status, {"error": {"message": message, "type": kind, "param": None, "code": status}})


# --- many engines, one loop -----------------------------------------------------------------------


class FakeEngineFarm:
    """Any number of fake engines served by one event-loop thread. Use as a context manager."""

    def __init__(self, n: int = 0, **config: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-engine-farm", daemon=True)
        self._thread.start()
        self.engines: list[FakeEngine] = []
        for _ in range(n):
            self.add(**config)

    def add(self, **config: Any) -> FakeEngine:
        """Start one more engine (kwargs are `EngineConfig` fields; port 0 = a free port)."""
        engine = FakeEngine(EngineConfig(**config), self._loop)
        done = threading.Event()

        def start() -> None:
            engine._start()
            done.set()

        self._loop.call_soon_threadsafe(start)
        done.wait(10)
        if engine.config.startup_delay <= 0:
            _wait_listening(engine)
        self.engines.append(engine)
        return engine

    def add_many(self, configs: list[dict[str, Any]]) -> list[FakeEngine]:
        """Start several engines in one turn of the loop (a cloud brings many clusters up at once)."""
        engines = [FakeEngine(EngineConfig(**config), self._loop) for config in configs]
        done = threading.Event()

        def start() -> None:
            for engine in engines:
                engine._start()
            done.set()

        self._loop.call_soon_threadsafe(start)
        done.wait(10)
        for engine in engines:
            if engine.config.startup_delay <= 0:
                _wait_listening(engine)
        self.engines.extend(engines)
        return engines

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FakeEngineFarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_listening(engine: FakeEngine, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while engine._server is None and time.monotonic() < end:
        time.sleep(0.001)


@contextlib.contextmanager
def start_fake_engine(**config: Any) -> Iterator[FakeEngine]:
    """One fake engine on a free loopback port (its own loop thread), closed on exit."""
    farm = FakeEngineFarm()
    try:
        yield farm.add(**config)
    finally:
        farm.close()


# --- the command line -----------------------------------------------------------------------------


def _with_config_file(argv: list[str]) -> list[str]:
    """SGLang's `--config FILE.yaml`: the file's `key: value` pairs become `--key value`, ahead of the rest."""
    if "--config" not in argv:
        return argv
    at = argv.index("--config")
    path = Path(argv[at + 1])
    if path.suffix not in (".yaml", ".yml"):
        raise SystemExit(f"Config file must be YAML format, got: {path.suffix}")
    loaded = yaml.safe_load(path.read_text()) or {}
    flags = [item for key, value in loaded.items() for item in (f"--{key}", str(value))]
    return flags + argv[:at] + argv[at + 2 :]


def parse_argv(argv: list[str], environ: dict[str, str] | None = None) -> EngineConfig:
    """Read a real engine's argv (vLLM `serve MODEL ...` or SGLang `--model-path M ...`) plus fake flags."""
    env = os.environ if environ is None else environ
    argv = _with_config_file(argv)
    parser = argparse.ArgumentParser(prog="fake_engine", add_help=True)
    parser.add_argument("positional", nargs="*")
    parser.add_argument("--model-path")
    parser.add_argument("--model")
    parser.add_argument("--served-model-name", nargs="+")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--api-key")
    parser.add_argument("--data-parallel-size", type=int)
    parser.add_argument("--enable-metrics", action="store_true")
    parser.add_argument("--engine", choices=("vllm", "sglang"))
    parser.add_argument("--startup-delay", type=float, default=0.0)
    parser.add_argument("--warmup-delay", type=float, default=0.0)
    parser.add_argument("--never-ready", action="store_true")
    parser.add_argument("--die-after", type=float)
    parser.add_argument("--fail-completions", action="store_true")
    parser.add_argument("--download-seconds", type=float)
    parser.add_argument("--ssl-keyfile")
    parser.add_argument("--ssl-certfile")
    args, _unknown = parser.parse_known_args(argv)
    positional = list(args.positional)
    if args.engine:
        engine = args.engine
    elif args.model_path:
        engine = "sglang"
    else:
        engine = "vllm"
    if positional and positional[0] == "serve":
        positional = positional[1:]
    model = args.model_path or args.model or (positional[0] if positional else "fake/model")
    default_port = 30000 if engine == "sglang" else 8000
    default_host = "127.0.0.1"
    api_key = args.api_key or env.get("VLLM_API_KEY") or env.get("ENDPOINT_API_KEY") or None
    return EngineConfig(
        engine=engine,
        model=model,
        served_model_name=args.served_model_name[0] if args.served_model_name else None,
        api_key=api_key,
        host=args.host or default_host,
        port=default_port if args.port is None else args.port,
        startup_delay=args.startup_delay,
        warmup_delay=args.warmup_delay,
        never_ready=args.never_ready,
        fail_completions=args.fail_completions,
        die_after=args.die_after,
        data_parallel=args.data_parallel_size,
        metrics_enabled=engine == "vllm" or args.enable_metrics,
        exit_on_die=True,
        download_seconds=args.download_seconds,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )


def startup_lines(config: EngineConfig, *, now: float | None = None) -> list[str]:
    """The start-up lines the real engine prints about its weights, in its own words (vLLM 0.33's
    weight_utils / default_loader / gpu_model_runner, SGLang's model_runner): the weights take half the
    fake's start-up delay, a download line only with `--download-seconds`."""
    stamp = time.gmtime(time.time() if now is None else now)
    load = config.startup_delay / 2
    if config.engine == "sglang":
        when = time.strftime("%Y-%m-%d %H:%M:%S", stamp)
        return [
            f"[{when}] Load weight begin. avail mem=78.50 GB",
            f"[{when}] Load weight end. elapsed={load:.2f} s, type=FakeForCausalLM, avail mem=70.00 GB, "
            "mem usage=8.50 GB.",
        ]
    prefix = f"(EngineCore pid={os.getpid()}) INFO {time.strftime('%m-%d %H:%M:%S', stamp)}"
    lines = []
    if config.download_seconds is not None:
        lines.append(
            f"{prefix} [weight_utils.py:581] Time spent downloading weights for {config.model}: "
            f"{config.download_seconds:.6f} seconds"
        )
    lines.append(f"{prefix} [default_loader.py:384] Loading weights took {load:.2f} seconds")
    total = load + (config.download_seconds or 0.0)
    lines.append(f"{prefix} [gpu_model_runner.py:4130] Model loading took 8.5012 GiB and {total:.6f} seconds")
    return lines


def print_startup_lines(config: EngineConfig) -> None:
    for line in startup_lines(config):
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    config = parse_argv(sys.argv[1:] if argv is None else argv)
    if config.host == "0.0.0.0":  # the real engines bind all interfaces; a fake stays on loopback
        config.host = "127.0.0.1"
    loop = asyncio.new_event_loop()
    engine = FakeEngine(config, loop)
    print(f"fake {config.engine} engine for {engine.model_name} on {engine.url}", flush=True)
    loop.call_soon(engine._start)
    loop.call_later(config.startup_delay / 2, print_startup_lines, config)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
