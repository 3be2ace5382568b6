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

from core.usage.metrics import (
    EngineSnapshot,
    ScrapeResult,
    ScrapeTarget,
    merge_replicas,
    metrics_url,
    parse_counters,
    scrape_many_sync,
)

log = logging.getLogger(__name__)


def scrape_baseline(
    *,
    endpoint_id: int,
    url: str,
    engine: str,
    timeout: float = 5.0,
    replica_urls: tuple[str, ...] = (),
    ca_pem: str | None = None,
    client: httpx.Client | None = None,
) -> EngineSnapshot | None:
    """The scrape (no store; the launch flow records it in its READY transaction): the counters to record as the baseline, or
    None when they could not be read (logged). The launch flow records them in its READY transaction
    (`record_baseline(load_usage(session, id), snapshot, now=...)`)."""
    try:
        if client is not None and not replica_urls:
            result = _scrape_counters(
                endpoint_id=endpoint_id, url=url, engine=engine, timeout=timeout, client=client
            )
        else:
            targets = [ScrapeTarget(endpoint_id=endpoint_id, url=u, engine=engine) for u in replica_urls] or [
                ScrapeTarget(endpoint_id=endpoint_id, url=url, engine=engine, ca_pem=ca_pem)
            ]
            results = scrape_many_sync(
                targets,
                timeout=timeout,
                concurrency=len(targets),
                histogram_budget=0,  # only the counters make the baseline: no histogram parsing
            )
            result = merge_replicas(endpoint_id, results) if replica_urls else results[0]
    except Exception:
        log.warning("usage baseline of endpoint %s: the scrape failed", endpoint_id, exc_info=True)
        return None
    if result.snapshot is None:
        log.info("usage baseline of endpoint %s not taken: %s", endpoint_id, result.error)
        return None
    return result.snapshot


def _scrape_counters(
    *, endpoint_id: int, url: str, engine: str, timeout: float, client: httpx.Client
) -> ScrapeResult:
    """One engine's counters (no latency histograms: most of the parsing) with one GET on `client`."""
    response = client.get(metrics_url(url), timeout=timeout)
    if response.status_code != 200:
        return ScrapeResult(endpoint_id, error=f"/metrics answered HTTP {response.status_code}")
    return ScrapeResult(endpoint_id, snapshot=parse_counters(response.text, engine=engine))
