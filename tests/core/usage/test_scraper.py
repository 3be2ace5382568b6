"""The watchdog's long-lived scraper against fake engines on loopback: a hung engine (accepts, never
answers) costs one short wait once, then is a straggler nobody waits for; its late answer is the next
collect's; a quick answer makes it ordinary again."""

from __future__ import annotations

import time

from core.usage.metrics import ScrapeTarget
from core.usage.scraper import Scraper
from tests.fakes.fake_engine import FakeEngineFarm


def test_a_hung_engine_is_pending_then_a_straggler_and_its_late_answer_is_kept() -> None:
    with FakeEngineFarm(3, engine="vllm", model="m") as farm:
        farm.engines[2].hang()
        targets = [ScrapeTarget(i, engine.url, "vllm") for i, engine in enumerate(farm.engines)]
        scraper = Scraper(timeout=1.5, concurrency=4)
        try:
            first = scraper.collect(targets, wait=1.0, histogram_budget=None)
            assert set(first.results) == {0, 1} and first.pending == {2}
            assert all(r.ok for r in first.results.values())

            second = scraper.collect(targets, wait=1.0, histogram_budget=None)
            assert second.pending == {2} and second.stragglers == 1  # still in flight: not waited for

            time.sleep(1.6)  # past the scrape's timeout
            third = scraper.collect(targets, wait=1.0, histogram_budget=None)
            assert third.results[2].error == "no answer within 1.5s"  # the late answer, kept for us

            farm.engines[2].hang(False)
            time.sleep(0.1)
            fourth = scraper.collect(targets, wait=1.0, histogram_budget=None)
            fifth = (
                fourth if 2 in fourth.results else scraper.collect(targets, wait=1.0, histogram_budget=None)
            )
            assert fifth.results[2].ok
            sixth = scraper.collect(targets, wait=1.0, histogram_budget=None)
            assert sixth.stragglers == 0 and sixth.pending == set()  # answered quickly: ordinary again
        finally:
            scraper.close()


def test_targets_that_left_are_forgotten_and_close_ends_the_thread() -> None:
    with FakeEngineFarm(2, engine="sglang", model="m") as farm:
        targets = [ScrapeTarget(i, engine.url, "sglang") for i, engine in enumerate(farm.engines)]
        scraper = Scraper(timeout=2, concurrency=1)
        assert set(scraper.collect(targets, wait=2, histogram_budget=0).results) == {0, 1}
        only = scraper.collect(targets[:1], wait=2, histogram_budget=0)
        assert set(only.results) == {0}
        thread = scraper._thread
        scraper.close()
        assert thread is not None and not thread.is_alive()
