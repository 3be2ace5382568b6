"""Reading an engine's Prometheus `/metrics`: what it served, what is in flight, how fast it answered.

`parse_metrics(text, engine=...)` turns one exposition (Prometheus text format 0.0.4) into an
`EngineSnapshot`, reading only the few samples the watchdog uses and summing every label set (vLLM and SGLang expose one series per data-parallel engine).
`scrape_many(targets, ...)` reads many engines once, concurrently, with one httpx AsyncClient, bounded by a
semaphore and a per-request timeout (one-off reads such as the launch's usage baseline; the watchdog
keeps a long-lived `core.usage.scraper.Scraper`). A failed scrape is a `ScrapeResult` with an error, never an exception:
the caller decides what it means (the watchdog counts it as activity).

Not here: what counts as activity across two scrapes (core.usage.counters) or any decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import httpx

from core.tls import client_context


class _QuietScrapes(logging.Filter):
    """httpx logs every request at INFO; a thousand scrapes a minute would drown the bot's log.
    Drops only successful GET .../metrics lines; failures are logged by the watchdog itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 4 and str(args[1]).endswith("/metrics"):
            return args[3] != 200
        return True


logging.getLogger("httpx").addFilter(_QuietScrapes())


@dataclass(frozen=True)
class MetricNames:
    """The sample names one engine uses for the signals the watchdog reads."""

    requests: str  # counter of finished requests
    prompt_tokens: str  # counter
    generation_tokens: str  # counter
    running: str  # gauge: requests being decoded
    waiting: str  # gauge: requests queued
    ttft: str  # histogram base name: time to first token, seconds
    e2e: str  # histogram base name: end-to-end request latency, seconds

    def scalars(self) -> frozenset[str]:
        """The counters and gauges: cheap, read on every scrape."""
        return frozenset(
            {self.requests, self.prompt_tokens, self.generation_tokens, self.running, self.waiting}
        )

    def histogram_samples(self) -> frozenset[str]:
        """Bucket samples of the latency histograms (the +Inf bucket is the count): most of the parsing."""
        return frozenset(f"{h}_bucket" for h in (self.ttft, self.e2e))


# Names from engines.md (vLLM 0.33.0, SGLang 0.5.23 with --enable-metrics), side by side per field.
_NAMES: dict[str, tuple[str, str]] = {  # field: (vLLM's name, SGLang's name)
    "requests": ("vllm:request_success_total", "sglang:num_requests_total"),
    "prompt_tokens": ("vllm:prompt_tokens_total", "sglang:prompt_tokens_total"),
    "generation_tokens": ("vllm:generation_tokens_total", "sglang:generation_tokens_total"),
    "running": ("vllm:num_requests_running", "sglang:num_running_reqs"),
    "waiting": ("vllm:num_requests_waiting", "sglang:num_queue_reqs"),
    "ttft": ("vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds"),
    "e2e": ("vllm:e2e_request_latency_seconds", "sglang:e2e_request_latency_seconds"),
}
VLLM_METRICS = MetricNames(**{field: names[0] for field, names in _NAMES.items()})
SGLANG_METRICS = MetricNames(**{field: names[1] for field, names in _NAMES.items()})
ENGINE_METRICS: dict[str, MetricNames] = {"vllm": VLLM_METRICS, "sglang": SGLANG_METRICS}


class MetricsUnreadable(Exception):
    """The text is not a usable exposition for this engine (garbled, or none of its metrics)."""


@dataclass(frozen=True)
class Histogram:
    """A cumulative histogram summed over label sets: (upper bound, cumulative count) sorted by bound."""

    buckets: tuple[tuple[float, float], ...]
    count: float

    def quantile(self, q: float) -> float | None:
        """The q-quantile by linear interpolation inside the bucket that holds it (as Prometheus'
        histogram_quantile does); None when nothing was observed. A quantile that falls in the +Inf
        bucket is reported as the largest finite bound."""
        if not self.buckets or self.count <= 0:
            return None
        total = self.buckets[-1][1] if math.isinf(self.buckets[-1][0]) else self.count
        if total <= 0:
            return None
        rank = q * total
        lower, below = 0.0, 0.0
        for upper, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(upper):
                    return lower
                if cumulative == below:
                    return upper
                return lower + (upper - lower) * (rank - below) / (cumulative - below)
            lower, below = upper, cumulative
        return lower


@dataclass(frozen=True)
class EngineSnapshot:
    """One engine's counters and gauges at one instant, summed over its data-parallel ranks."""

    requests: float
    prompt_tokens: float
    generation_tokens: float
    running: float
    waiting: float
    ttft: Histogram | None = None
    e2e: Histogram | None = None

    @property
    def in_flight(self) -> float:
        return self.running + self.waiting

    def latency(self) -> dict[str, float]:
        """p50/p99 of time to first token and end-to-end latency, in seconds (only those observed)."""
        out: dict[str, float] = {}
        for label, hist in (("ttft", self.ttft), ("e2e", self.e2e)):
            if hist is None:
                continue
            for q, suffix in ((0.5, "p50"), (0.99, "p99")):
                value = hist.quantile(q)
                if value is not None:
                    out[f"{label}_{suffix}"] = value
        return out


# A label set: braces around `name="value"` pairs, where a value may hold any escaped character.
_LABEL_SET = r'\{(?:[^"{}\n]|"(?:[^"\\\n]|\\.)*")*\}'
# What follows a sample's name: its labels, its value, an optional timestamp.
_SAMPLE_REST = re.compile(rf"^({_LABEL_SET})?[ \t]+([^ \t]+)(?:[ \t]+-?[0-9]+)?[ \t]*$")
_LABEL = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*,?')


@functools.cache
def _lines_named(names: frozenset[str]) -> re.Pattern[str]:
    """Finds, in a whole exposition, the sample lines of the given names: (name, the rest of the line)."""
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(rf"^[ \t]*({alternatives})(?=[{{ \t])([^\n]*)$", re.MULTILINE)


def _samples(text: str, wanted: frozenset[str]) -> Iterator[tuple[str, str, float]]:
    """(name, label set text, value) of every sample named in `wanted`.

    A real vLLM exposition is hundreds of lines, most of them families we never look at. One regular
    expression (C speed) picks out the lines of the few samples we read; only those are taken apart, and
    strictly: a broken label set or a value that is not a number makes the whole text unreadable.
    """
    for match in _lines_named(wanted).finditer(text):
        sample = _SAMPLE_REST.match(match.group(2))
        if sample is None:
            raise MetricsUnreadable("the metrics text is malformed")
        try:
            value = float(sample.group(2))
        except ValueError as exc:
            raise MetricsUnreadable("the metrics text is malformed") from exc
        yield match.group(1), sample.group(1) or "", value


def _label(label_set: str, wanted: str) -> str | None:
    """The value of one label in `{a="1",b="2"}` (escapes kept as written; `le` values have none)."""
    inner, position = label_set[1:-1], 0
    while position < len(inner):
        pair = _LABEL.match(inner, position)
        if pair is None or pair.end() == position:
            raise MetricsUnreadable("the metrics text has a malformed label set")
        if pair.group(1) == wanted:
            return pair.group(2)
        position = pair.end()
    return None


def _histograms(text: str, names: MetricNames) -> tuple[Histogram | None, Histogram | None]:
    buckets: dict[str, dict[float, float]] = {names.ttft: {}, names.e2e: {}}
    for name, label_set, value in _samples(text, names.histogram_samples()):
        try:
            bound = float(_label(label_set, "le") or "nan")
        except ValueError as exc:
            raise MetricsUnreadable("a histogram bucket bound is not a number") from exc
        if math.isnan(bound):
            continue
        per_bound = buckets[name[: -len("_bucket")]]
        per_bound[bound] = per_bound.get(bound, 0.0) + value

    def histogram(base: str) -> Histogram | None:
        per_bound = buckets[base]
        if not per_bound:
            return None
        ordered = tuple(sorted(per_bound.items()))
        return Histogram(buckets=ordered, count=ordered[-1][1])  # the +Inf bucket counts everything

    return histogram(names.ttft), histogram(names.e2e)


class Budget:
    """How many more histogram parses this scrape may spend (None: no limit). One event loop, no lock."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _parse(
    text: str, *, engine: str, known_requests: float | None, owed: bool, budget: Budget
) -> tuple[EngineSnapshot, bool]:
    """The snapshot, and whether its histograms were wanted but left for a later scrape (budget spent)."""
    names = ENGINE_METRICS.get(engine)
    if names is None:
        raise MetricsUnreadable(f"unknown engine {engine!r}")
    sums: dict[str, float] = {}
    for name, _labels, value in _samples(text, names.scalars()):
        sums[name] = sums.get(name, 0.0) + value
    if names.prompt_tokens not in sums and names.generation_tokens not in sums:
        raise MetricsUnreadable(f"no {engine} token counters in the metrics text")
    requests = sums.get(names.requests, 0.0)
    # Every finished request adds one observation: an unchanged request counter means unchanged histograms.
    wanted = owed or known_requests is None or requests != known_requests
    ttft = e2e = None
    deferred = False
    if wanted:
        if budget.take():
            ttft, e2e = _histograms(text, names)
        else:
            deferred = True
    snapshot = EngineSnapshot(
        requests=requests,
        prompt_tokens=sums.get(names.prompt_tokens, 0.0),
        generation_tokens=sums.get(names.generation_tokens, 0.0),
        running=sums.get(names.running, 0.0),
        waiting=sums.get(names.waiting, 0.0),
        ttft=ttft,
        e2e=e2e,
    )
    return snapshot, deferred


def parse_counters(text: str, *, engine: str) -> EngineSnapshot:
    """Only the counters and gauges of one `/metrics` body (no latency histograms: most of the parsing)."""
    return _parse(text, engine=engine, known_requests=None, owed=False, budget=Budget(0))[0]


def parse_metrics(text: str, *, engine: str, known_requests: float | None = None) -> EngineSnapshot:
    """Parse one `/metrics` body into an `EngineSnapshot` (sums over every label set).

    Histograms are the bulk of an exposition and of the parser's cost; every finished request adds one
    observation, so when the request counter still equals `known_requests` (the previous scrape's) the
    histograms cannot have changed and are not read again (the snapshot then has none).

    Raises `MetricsUnreadable` if the text does not parse or carries none of the engine's token counters
    (for example SGLang started without `--enable-metrics`).
    """
    snapshot, _ = _parse(text, engine=engine, known_requests=known_requests, owed=False, budget=Budget(None))
    return snapshot


@dataclass(frozen=True)
class ScrapeTarget:
    endpoint_id: int
    url: str  # the endpoint's base URL, `http://HOST:PORT` (a trailing `/v1` is tolerated)
    engine: str  # "vllm" | "sglang"
    known_requests: float | None = None  # the request counter at the previous scrape (see parse_metrics)
    latency_owed: bool = False  # a previous scrape saw new requests but left the histograms unread
    ca_pem: str | None = None  # the endpoint's private CA: an https engine is verified with it


@dataclass(frozen=True)
class ScrapeResult:
    """Either a snapshot or an error sentence (never both)."""

    endpoint_id: int
    snapshot: EngineSnapshot | None = None
    error: str | None = None
    latency_deferred: bool = False  # histograms had news but the tick's parsing budget was spent

    @property
    def ok(self) -> bool:
        return self.snapshot is not None


def metrics_url(base_url: str) -> str:
    """`http://h:8000` or `http://h:8000/v1/` -> `http://h:8000/metrics`."""
    base = base_url.rstrip("/")
    base = base.removesuffix("/v1")
    return f"{base}/metrics"


async def scrape_one(
    client: httpx.AsyncClient, target: ScrapeTarget, timeout: float, budget: Budget
) -> ScrapeResult:
    """Read and parse one engine's `/metrics`; never raises (a failure is a result with an error).
    The caller bounds concurrency (its semaphore held around this call)."""
    try:
        # wait_for bounds the whole exchange (a server that trickles bytes defeats httpx's per-read timeout)
        response = await asyncio.wait_for(client.get(metrics_url(target.url)), timeout=timeout)
    except TimeoutError:
        return ScrapeResult(target.endpoint_id, error=f"no answer within {timeout:g}s")
    except httpx.HTTPError as exc:
        return ScrapeResult(target.endpoint_id, error=f"{type(exc).__name__}: could not read /metrics")
    if response.status_code != 200:
        return ScrapeResult(target.endpoint_id, error=f"/metrics answered HTTP {response.status_code}")
    try:
        snapshot, deferred = _parse(
            response.text,
            engine=target.engine,
            known_requests=target.known_requests,
            owed=target.latency_owed,
            budget=budget,
        )
        return ScrapeResult(target.endpoint_id, snapshot=snapshot, latency_deferred=deferred)
    except MetricsUnreadable as exc:
        return ScrapeResult(target.endpoint_id, error=str(exc))
    except Exception as exc:  # e.g. a bucket bound that is not a number: one engine must not fail the tick
        return ScrapeResult(
            target.endpoint_id, error=f"the metrics text is unreadable ({type(exc).__name__})"
        )


async def _gated(
    client: httpx.AsyncClient, target: ScrapeTarget, gate: asyncio.Semaphore, timeout: float, budget: Budget
) -> ScrapeResult:
    async with gate:
        return await scrape_one(client, target, timeout, budget)


async def scrape_many(
    targets: Sequence[ScrapeTarget],
    *,
    timeout: float,
    concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
    histogram_budget: int | None = None,
) -> list[ScrapeResult]:
    """Scrape every target, at most `concurrency` at a time; one result per target, in order.

    At most `histogram_budget` latency histograms are parsed (None: all that changed); the rest come
    back with `latency_deferred` so the caller can ask for them first next time.
    """
    if not targets:
        return []
    gate = asyncio.Semaphore(max(1, concurrency))
    budget = Budget(histogram_budget)
    limits = httpx.Limits(max_connections=max(1, concurrency), max_keepalive_connections=0)
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str | None, httpx.AsyncClient] = {}
        for ca in {t.ca_pem for t in targets}:  # one client per CA: each verifies with its own trust
            clients[ca] = await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=httpx.Timeout(timeout),
                    limits=limits,
                    transport=transport,
                    follow_redirects=False,
                    # Cached per CA (loading a bundle costs ~70 ms); None: system store + certifi
                    # (a team certificate), as readiness verifies it.
                    verify=client_context(ca),
                )
            )
        return list(
            await asyncio.gather(*(_gated(clients[t.ca_pem], t, gate, timeout, budget) for t in targets))
        )


def scrape_all(
    targets: Iterable[ScrapeTarget],
    *,
    timeout: float,
    concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
    histogram_budget: int | None = None,
) -> dict[int, ScrapeResult]:
    """Blocking wrapper for a worker thread: runs its own event loop; results keyed by endpoint id."""
    results = scrape_many_sync(
        targets,
        timeout=timeout,
        concurrency=concurrency,
        transport=transport,
        histogram_budget=histogram_budget,
    )
    return {r.endpoint_id: r for r in results}


def scrape_many_sync(
    targets: Iterable[ScrapeTarget],
    *,
    timeout: float,
    concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
    histogram_budget: int | None = None,
) -> list[ScrapeResult]:
    """`scrape_many` from a worker thread (its own event loop): one result per target, in order (several
    targets may share an endpoint id: a service's replicas)."""
    return asyncio.run(
        scrape_many(
            list(targets),
            timeout=timeout,
            concurrency=concurrency,
            transport=transport,
            histogram_budget=histogram_budget,
        )
    )


def merge_replicas(endpoint_id: int, results: Sequence[ScrapeResult]) -> ScrapeResult:
    """One endpoint's figures from its replicas' scrapes (a SkyServe service): counters and gauges summed,
    histograms merged when their buckets match. Any replica unread makes the whole scrape fail (a
    partial sum would look like a counter reset), which the watchdog counts as activity."""
    failed = [r.error for r in results if not r.ok]
    if failed or not results:
        return ScrapeResult(
            endpoint_id, error=f"a replica's /metrics: {failed[0] if failed else 'no replicas'}"
        )
    snapshots = [r.snapshot for r in results if r.snapshot is not None]
    total = EngineSnapshot(
        requests=sum(s.requests for s in snapshots),
        prompt_tokens=sum(s.prompt_tokens for s in snapshots),
        generation_tokens=sum(s.generation_tokens for s in snapshots),
        running=sum(s.running for s in snapshots),
        waiting=sum(s.waiting for s in snapshots),
        ttft=_merged([s.ttft for s in snapshots]),
        e2e=_merged([s.e2e for s in snapshots]),
    )
    return ScrapeResult(
        endpoint_id, snapshot=total, latency_deferred=any(r.latency_deferred for r in results)
    )


def _merged(histograms: Sequence[Histogram | None]) -> Histogram | None:
    known = [h for h in histograms if h is not None]
    if not known or len({tuple(b for b, _ in h.buckets) for h in known}) != 1:
        return None
    bounds = [b for b, _ in known[0].buckets]
    buckets = tuple((b, sum(h.buckets[i][1] for h in known)) for i, b in enumerate(bounds))
    return Histogram(buckets=buckets, count=sum(h.count for h in known))
