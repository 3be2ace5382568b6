"""The metrics scraper: parsing real-format expositions, histogram percentiles, and scraping over loopback."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from core.usage.metrics import (
    Histogram,
    MetricsUnreadable,
    ScrapeTarget,
    metrics_url,
    parse_metrics,
    scrape_all,
    scrape_many,
)
from tests.fakes.fake_engine import FakeEngineFarm, start_fake_engine

VLLM_SAMPLE = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="Qwen/Qwen3-0.6B"} 1.0
vllm:num_requests_running{engine="1",model_name="Qwen/Qwen3-0.6B"} 2.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="Qwen/Qwen3-0.6B",engine="0"} 3.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="Qwen/Qwen3-0.6B"} 1234.0
vllm:prompt_tokens_total{engine="1",model_name="Qwen/Qwen3-0.6B"} 766.0
# HELP vllm:prompt_tokens_created Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_created gauge
vllm:prompt_tokens_created{engine="0",model_name="Qwen/Qwen3-0.6B"} 1.7e9
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="Qwen/Qwen3-0.6B"} 5678.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="Qwen/Qwen3-0.6B"} 7.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="Qwen/Qwen3-0.6B"} 3.0
# HELP vllm:kv_cache_usage_perc KV-cache usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="Qwen/Qwen3-0.6B"} 0.5
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="Qwen/Qwen3-0.6B"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="Qwen/Qwen3-0.6B"} 6.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="1.0",model_name="Qwen/Qwen3-0.6B"} 8.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="Qwen/Qwen3-0.6B"} 8.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="Qwen/Qwen3-0.6B"} 8.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="Qwen/Qwen3-0.6B"} 2.4
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.1",model_name="Qwen/Qwen3-0.6B"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5",model_name="Qwen/Qwen3-0.6B"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="1.0",model_name="Qwen/Qwen3-0.6B"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf",model_name="Qwen/Qwen3-0.6B"} 2.0
vllm:time_to_first_token_seconds_count{engine="1",model_name="Qwen/Qwen3-0.6B"} 2.0
vllm:time_to_first_token_seconds_sum{engine="1",model_name="Qwen/Qwen3-0.6B"} 1.6
"""


def test_vllm_sums_every_data_parallel_series_whatever_the_label_order() -> None:
    snap = parse_metrics(VLLM_SAMPLE, engine="vllm")
    assert snap.prompt_tokens == 2000.0
    assert snap.generation_tokens == 5678.0
    assert snap.requests == 10.0  # both finished_reason series
    assert snap.running == 3.0
    assert snap.waiting == 3.0
    assert snap.in_flight == 6.0


def test_ttft_percentiles_interpolate_inside_the_summed_buckets() -> None:
    snap = parse_metrics(VLLM_SAMPLE, engine="vllm")
    # Summed over engines: <=0.1: 2, <=0.5: 6, <=1.0: 10, +Inf: 10.
    assert snap.ttft is not None
    assert snap.ttft.buckets[-1] == (float("inf"), 10.0)
    # p50: rank 5 falls in (0.1, 0.5] which holds ranks 2..6 -> 0.1 + 0.4 * 3/4 = 0.4
    assert snap.ttft.quantile(0.5) == pytest.approx(0.4)
    # p99: rank 9.9 in (0.5, 1.0] holding 6..10 -> 0.5 + 0.5 * 3.9/4
    assert snap.ttft.quantile(0.99) == pytest.approx(0.5 + 0.5 * 3.9 / 4)
    latency = snap.latency()
    assert set(latency) == {"ttft_p50", "ttft_p99"}  # no e2e histogram in the sample


def test_histogram_edge_cases() -> None:
    assert Histogram(buckets=(), count=0).quantile(0.5) is None
    empty = Histogram(buckets=((0.1, 0.0), (float("inf"), 0.0)), count=0)
    assert empty.quantile(0.5) is None
    # Everything above the last finite bound: the largest finite bound is the best answer.
    tail = Histogram(buckets=((0.1, 0.0), (1.0, 0.0), (float("inf"), 4.0)), count=4)
    assert tail.quantile(0.5) == 1.0
    # First bucket interpolates from zero.
    first = Histogram(buckets=((2.0, 4.0), (float("inf"), 4.0)), count=4)
    assert first.quantile(0.5) == pytest.approx(1.0)


def test_sglang_names_are_read() -> None:
    text = """\
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m"} 0.0
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="m"} 4.0
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="m"} 10.0
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="m"} 20.0
# TYPE sglang:num_requests_total counter
sglang:num_requests_total{model_name="m"} 2.0
"""
    snap = parse_metrics(text, engine="sglang")
    assert (snap.prompt_tokens, snap.generation_tokens, snap.requests, snap.waiting) == (10.0, 20.0, 2.0, 4.0)
    with pytest.raises(MetricsUnreadable):
        parse_metrics(text, engine="vllm")  # the other engine's names: nothing we can read


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# nothing but a comment\n",
        'vllm:prompt_tokens_total{engine="0" 12\n',  # broken label set
        'vllm:generation_tokens_total{engine="0"} twelve\n',
        "<html>502 Bad Gateway</html>\n",
    ],
)
def test_unreadable_text_is_refused_not_guessed(text: str) -> None:
    with pytest.raises(MetricsUnreadable):
        parse_metrics(text, engine="vllm")


def test_metrics_url() -> None:
    assert metrics_url("http://h:8000") == "http://h:8000/metrics"
    assert metrics_url("http://h:8000/") == "http://h:8000/metrics"
    assert metrics_url("http://h:8000/v1/") == "http://h:8000/metrics"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_scrape_reads_the_fake_engines_counters(engine: str) -> None:
    with start_fake_engine(engine=engine, model="m", api_key="secret-key") as fake:
        fake.add_traffic(requests=3, prompt_tokens=40, generation_tokens=9, ttft=0.05, e2e=0.4)
        fake.set_load(running=1, waiting=2)
        results = scrape_all([ScrapeTarget(7, fake.url, engine)], timeout=5, concurrency=4)
        totals = fake.totals()
    snap = results[7].snapshot
    assert snap is not None, results[7].error
    assert snap.requests == totals["requests"] == 3
    assert snap.prompt_tokens == 40 and snap.generation_tokens == 9
    assert snap.running == 1 and snap.waiting == 2
    latency = snap.latency()
    assert 0.04 <= latency["ttft_p50"] <= 0.05  # every observation in the (0.04, 0.06] bucket
    assert 0.3 <= latency["e2e_p99"] <= 0.5


@pytest.mark.timeout(30)
def test_health_probes_do_not_move_the_counters() -> None:
    with start_fake_engine(engine="vllm", model="m") as fake:
        before = scrape_all([ScrapeTarget(1, fake.url, "vllm")], timeout=5, concurrency=1)[1].snapshot
        for _ in range(5):
            assert httpx.get(f"{fake.url}/health", timeout=5).status_code == 200
        after = scrape_all([ScrapeTarget(1, fake.url, "vllm")], timeout=5, concurrency=1)[1].snapshot
    assert before == after


@pytest.mark.timeout(30)
def test_failures_are_results_not_exceptions() -> None:
    silent = socket.socket()  # accepts connections (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens: connection refused
    try:
        with start_fake_engine(engine="sglang", model="m", metrics_enabled=False) as no_metrics:
            targets = [
                ScrapeTarget(1, f"http://127.0.0.1:{silent.getsockname()[1]}", "vllm"),
                ScrapeTarget(2, f"http://127.0.0.1:{closed_port}", "vllm"),
                ScrapeTarget(3, no_metrics.url, "sglang"),
            ]
            began = time.monotonic()
            results = scrape_all(targets, timeout=0.5, concurrency=4)
            elapsed = time.monotonic() - began
    finally:
        silent.close()
    assert not any(r.ok for r in results.values())
    assert "0.5s" in (results[1].error or "")
    assert results[2].error
    assert "404" in (results[3].error or "")
    assert elapsed < 5  # the timeout bounded the silent one


class _CountingTransport(httpx.AsyncBaseTransport):
    """Stands in for many engines at once, recording how many requests were in flight together."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            body = "# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total 1.0\n"
            return httpx.Response(200, text=body)
        finally:
            self.in_flight -= 1


@pytest.mark.timeout(30)
def test_concurrency_is_bounded() -> None:
    transport = _CountingTransport()
    targets = [ScrapeTarget(i, f"http://engine-{i}:8000", "vllm") for i in range(40)]
    results = asyncio.run(scrape_many(targets, timeout=5, concurrency=6, transport=transport))
    assert [r.endpoint_id for r in results] == list(range(40))
    assert all(r.ok for r in results)
    assert transport.peak == 6


@pytest.mark.timeout(60)
def test_a_farm_of_engines_is_scraped_in_one_call() -> None:
    with FakeEngineFarm(20, engine="vllm", model="m") as farm:
        for i, engine in enumerate(farm.engines):
            engine.add_traffic(requests=1, prompt_tokens=i, generation_tokens=2 * i)
        targets = [ScrapeTarget(i, e.url, "vllm") for i, e in enumerate(farm.engines)]
        results = scrape_all(targets, timeout=5, concurrency=8)
    assert [results[i].snapshot.generation_tokens for i in range(20)] == [2.0 * i for i in range(20)]


def test_histograms_are_not_reread_while_the_request_count_stands_still() -> None:
    unchanged = parse_metrics(VLLM_SAMPLE, engine="vllm", known_requests=10.0)
    assert unchanged.requests == 10.0 and unchanged.prompt_tokens == 2000.0
    assert unchanged.ttft is None and unchanged.latency() == {}
    moved = parse_metrics(VLLM_SAMPLE, engine="vllm", known_requests=9.0)
    assert moved.ttft is not None and moved.latency()["ttft_p50"] == pytest.approx(0.4)


@pytest.mark.timeout(60)
def test_the_histogram_budget_defers_the_rest_and_owed_ones_are_read_even_without_news() -> None:
    with FakeEngineFarm(5, engine="vllm", model="m") as farm:
        for engine in farm.engines:
            engine.add_traffic(requests=2, prompt_tokens=10, generation_tokens=5, ttft=0.05)
        fresh = [ScrapeTarget(i, e.url, "vllm") for i, e in enumerate(farm.engines)]
        first = scrape_all(fresh, timeout=5, concurrency=1, histogram_budget=2)
        read = sorted(i for i, r in first.items() if r.snapshot.ttft is not None)
        deferred = sorted(i for i, r in first.items() if r.latency_deferred)
        assert len(read) == 2 and len(deferred) == 3 and not set(read) & set(deferred)
        # Next tick: no new requests anywhere; the owed ones are read, the others are not re-read.
        again = [
            ScrapeTarget(i, e.url, "vllm", known_requests=2.0, latency_owed=i in deferred)
            for i, e in enumerate(farm.engines)
        ]
        second = scrape_all(again, timeout=5, concurrency=1, histogram_budget=10)
    assert sorted(i for i, r in second.items() if r.snapshot.ttft is not None) == deferred
    assert not any(r.latency_deferred for r in second.values())


class _OneOddEngine(httpx.AsyncBaseTransport):
    """Engine 1 exposes a histogram bucket whose bound is not a number; engine 2 is normal."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = "vllm:prompt_tokens_total 1.0\nvllm:generation_tokens_total 2.0\n"
        if request.url.host == "engine-1":
            body += 'vllm:e2e_request_latency_seconds_bucket{le="soon"} 1\n'
        return httpx.Response(200, text=body)


@pytest.mark.timeout(30)
def test_one_engines_odd_metrics_are_its_own_failed_result_not_the_whole_scrapes() -> None:
    targets = [ScrapeTarget(i, f"http://engine-{i}:8000", "vllm") for i in (1, 2)]
    results = asyncio.run(scrape_many(targets, timeout=5, concurrency=2, transport=_OneOddEngine()))
    assert [r.endpoint_id for r in results] == [1, 2]
    assert not results[0].ok and results[0].error
    assert results[1].ok and results[1].snapshot is not None
    assert results[1].snapshot.generation_tokens == 2.0
