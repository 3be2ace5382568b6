"""The usage baseline taken by the launch flow right after readiness, before the endpoint is READY.

Readiness sends one real completion with the endpoint's key; the engine counts it in its /metrics
(1 request, a few prompt tokens, 1 generated token). Recording the counters as they stand then means
the bot's own completion is never reported as usage ("served 1 requests ... $9,993.84 per million
output tokens"), while everything users send after the URL is posted is. If this scrape fails, the
watchdog's first scrape takes the baseline instead (`record_scrape`), counting nothing either.
"""

from __future__ import annotations

import logging

import httpx

from core.clock import Clock
from core.db import Database
from core.usage.counters import load_usage, record_baseline
from core.usage.metrics import EngineSnapshot, ScrapeTarget, metrics_url, parse_counters, scrape_all

log = logging.getLogger(__name__)


def take_usage_baseline(
    *,
    database: Database,
    clock: Clock,
    endpoint_id: int,
    url: str,
    engine: str,
    timeout: float = 5.0,
    client: httpx.Client | None = None,
) -> bool:
    """Scrape the engine once and store its counters as the usage baseline; False when it could not.
    With `client` (the launch flow's shared one) the scrape is one plain GET on it, no event loop."""
    try:
        snapshot, error = _scrape_counters(
            endpoint_id=endpoint_id, url=url, engine=engine, timeout=timeout, client=client
        )
    except Exception:
        log.warning("usage baseline of endpoint %s: the scrape failed", endpoint_id, exc_info=True)
        return False
    if snapshot is None:
        log.info("usage baseline of endpoint %s not taken: %s", endpoint_id, error)
        return False
    with database.session() as session:
        record_baseline(load_usage(session, endpoint_id), snapshot, now=clock.now())
    return True


def _scrape_counters(
    *, endpoint_id: int, url: str, engine: str, timeout: float, client: httpx.Client | None
) -> tuple[EngineSnapshot | None, str | None]:
    """Only the counters make the baseline: the latency histograms (most of the parsing) are skipped."""
    if client is None:
        target = ScrapeTarget(endpoint_id=endpoint_id, url=url, engine=engine)
        result = scrape_all([target], timeout=timeout, concurrency=1, histogram_budget=0)[endpoint_id]
        return result.snapshot, result.error
    response = client.get(metrics_url(url), timeout=timeout)
    if response.status_code != 200:
        return None, f"/metrics answered HTTP {response.status_code}"
    return parse_counters(response.text, engine=engine), None
