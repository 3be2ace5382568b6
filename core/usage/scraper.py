"""The watchdog's long-lived scraper: one event loop thread and pooled HTTP clients that outlive ticks.

`Scraper.collect(targets, wait=...)` starts a `/metrics` scrape for every target that has none in flight,
waits at most `wait` seconds for them, and answers with every result that is in: those of this tick and
those that came back after the previous tick stopped waiting. A target whose scrape is not back yet is in
`Collected.pending`: no data this tick (the watchdog never reads that as idle). Each scrape still has the
whole `timeout`; its answer, when late, is kept for the next `collect`.

A slow engine (one that accepts connections and never answers, or takes longer than a quarter of the
wait) costs that quarter once. From then on it is a straggler: its scrapes run on their own small gate
(`STRAGGLER_CONCURRENCY`) so they never hold up the healthy engines' slots, the tick does not wait for
them, and a new one starts only when the last one is back, so a hung engine is scraped about once per
`timeout`, not once per tick. A quick answer makes it an ordinary target again.

The client is long-lived (no client, TLS context or connection pool is built per tick). Clients are kept per TLS trust (`_client_for`): today every engine is plain HTTP or verified against the
system's CAs; an engine with its own CA certificate gets its own pooled client keyed by that CA.

Not here: parsing (core.usage.metrics) or what a result means (core.usage.counters, core.watchdog).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from core.tls import client_context
from core.usage.metrics import Budget, ScrapeResult, ScrapeTarget, scrape_one

# Scrapes of engines that were slow last time, at once (on top of the ordinary concurrency).
STRAGGLER_CONCURRENCY = 8
# An ordinary scrape holds its slot of the main gate at most this share of the tick's wait; an engine
# slower than that is a straggler from then on (a healthy engine answers /metrics in milliseconds).
GATE_HOLD_SHARE = 0.25
# No idle connections are kept between ticks. Reuse does not pay here: each engine is asked once a tick
# (a minute apart) and engines close idle connections after seconds (uvicorn's default: 5 s), while
# httpcore's pool looks through every pooled connection for each request (measured: 1,000 engines scraped
# in 1.5 s with none kept, 2.6-2.9 s with 256 or 2,000 kept).
KEEPALIVE_CONNECTIONS = 0


@dataclass
class Collected:
    """What one `collect` found: results by endpoint id, and the targets with no data yet."""

    results: dict[int, ScrapeResult] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)
    stragglers: int = 0  # targets the tick did not wait for (slow last time)


@dataclass
class _Flight:
    task: asyncio.Task[ScrapeResult]
    straggler: bool


class Scraper:
    """Thread-safe facade over an event loop thread; `close()` ends it. See the module docstring."""

    def __init__(
        self, *, timeout: float, concurrency: int, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.transport = transport
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # Everything below is touched only on the loop's thread.
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self._gate: asyncio.Semaphore | None = None
        self._straggler_gate: asyncio.Semaphore | None = None
        self._flights: dict[int, _Flight] = {}
        self._slow: set[int] = set()  # endpoint ids whose last scrape outlasted the wait

    # --- the caller's side ----------------------------------------------------------------------

    def collect(
        self, targets: Sequence[ScrapeTarget], *, wait: float, histogram_budget: int | None
    ) -> Collected:
        """Scrape `targets` (see the module docstring); blocks at most about `wait` seconds."""
        if not targets:
            return Collected()
        loop = self._running_loop()
        future = asyncio.run_coroutine_threadsafe(self._collect(list(targets), wait, histogram_budget), loop)
        return future.result(timeout=wait + self.timeout + 30)

    def in_flight(self) -> int:
        """Scrapes started and not back yet, those of stragglers not counted (for a benchmark that lets
        the backlog drain between ticks, as the watchdog's interval does)."""
        return sum(
            not flight.task.done() and not flight.straggler and i not in self._slow
            for i, flight in list(self._flights.items())
        )

    def close(self) -> None:
        """Cancel scrapes in flight, close the clients and end the loop thread."""
        with self._start_lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):  # a wedged loop still gets stopped below
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="epb-scraper", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    # --- the loop's side ------------------------------------------------------------------------

    async def _collect(
        self, targets: list[ScrapeTarget], wait: float, histogram_budget: int | None
    ) -> Collected:
        deadline = time.monotonic() + wait
        budget = Budget(histogram_budget)
        wanted = {t.endpoint_id for t in targets}
        for gone in set(self._flights) - wanted:  # no longer READY: nobody needs its answer
            self._flights.pop(gone).task.cancel()
        self._slow &= wanted
        trusted = {t.ca_pem for t in targets}
        for ca in [ca for ca in self._clients if ca is not None and ca not in trusted]:
            await self._clients.pop(ca).aclose()  # that endpoint's CA is no longer READY anywhere
        collected = Collected(results=self._harvest())  # answers that came back after the last tick
        for target in targets:
            if target.endpoint_id not in self._flights:
                straggler = target.endpoint_id in self._slow
                task = asyncio.ensure_future(self._scrape(target, budget, straggler, wait))
                self._flights[target.endpoint_id] = _Flight(task=task, straggler=straggler)
        waited = [f.task for i, f in self._flights.items() if not f.straggler and i not in self._slow]
        if waited:
            await asyncio.wait(waited, timeout=max(deadline - time.monotonic(), 0.0))
        collected.results.update(self._harvest())
        collected.stragglers = sum(f.straggler or i in self._slow for i, f in self._flights.items())
        collected.pending = wanted - set(collected.results)
        return collected

    def _harvest(self) -> dict[int, ScrapeResult]:
        """The results of the scrapes that are done, taken out of the flights."""
        done: dict[int, ScrapeResult] = {}
        for endpoint_id, flight in list(self._flights.items()):
            if flight.task.done():
                del self._flights[endpoint_id]
                if not flight.task.cancelled():
                    done[endpoint_id] = flight.task.result()
        return done

    async def _scrape(
        self, target: ScrapeTarget, budget: Budget, straggler: bool, wait: float
    ) -> ScrapeResult:
        """One scrape. An ordinary one holds a slot of the main gate for at most GATE_HOLD_SHARE x `wait`:
        past that the engine is a straggler, and the rest of its scrape runs outside the gate (at most
        `timeout` in all), so hung engines seen for the first time never starve the healthy ones of slots."""
        main, stragglers = self._gates()
        hold = wait * GATE_HOLD_SHARE
        if straggler:
            async with stragglers:
                began = time.monotonic()
                result = await scrape_one(self._client_for(target), target, self.timeout, budget)
            self._judge(target.endpoint_id, time.monotonic() - began, hold)
            return result
        async with main:
            began = time.monotonic()
            request = asyncio.ensure_future(
                scrape_one(self._client_for(target), target, self.timeout, budget)
            )
            try:
                done, _ = await asyncio.wait({request}, timeout=hold)
            except asyncio.CancelledError:
                request.cancel()  # asyncio.wait leaves it running; close() must not outlive it
                raise
        if not done:
            self._slow.add(target.endpoint_id)  # from now on no tick waits for it
        result = request.result() if done else await request
        self._judge(target.endpoint_id, time.monotonic() - began, hold)
        return result

    def _judge(self, endpoint_id: int, took: float, hold: float) -> None:
        if took >= hold:
            self._slow.add(endpoint_id)
        else:
            self._slow.discard(endpoint_id)

    def _gates(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        if self._gate is None or self._straggler_gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
            self._straggler_gate = asyncio.Semaphore(STRAGGLER_CONCURRENCY)
        return self._gate, self._straggler_gate

    def _client_for(self, target: ScrapeTarget) -> httpx.AsyncClient:
        """The pooled client for the target's TLS trust (one per private CA, verifying that CA only; None:
        the system's CAs plus certifi's, for plain HTTP and a team certificate)."""
        key = target.ca_pem
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                # The gates bound the requests; those past their wait run outside them, so no pool limit
                # (their number is bounded by concurrency x timeout / wait).
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE_CONNECTIONS),
                transport=self.transport,
                follow_redirects=False,
                verify=client_context(key),  # cached per CA in core.tls
            )
            self._clients[key] = client
        return client

    async def _shutdown(self) -> None:
        for flight in self._flights.values():
            flight.task.cancel()
        await asyncio.gather(*(f.task for f in self._flights.values()), return_exceptions=True)
        self._flights.clear()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
