"""The request follower: every launch in flight polled in one status call per round, no thread per launch."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from core.launcher.following import RequestFollower, RequestOutcome
from core.workers import WorkerPool
from tests.core.launcher.test_skypilot import _spec
from tests.fakes.fake_cloud import FakeCloud

pytestmark = pytest.mark.timeout(60)


class Outcomes:
    def __init__(self) -> None:
        self.seen: dict[str, RequestOutcome] = {}
        self._lock = threading.Lock()

    def __call__(self, outcome: RequestOutcome) -> None:
        with self._lock:
            self.seen[outcome.request_id] = outcome


def _until(condition: Any) -> None:
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition never held")


def test_every_request_in_flight_is_polled_in_one_call_per_round() -> None:
    cloud = FakeCloud(launch_ticks=1_000)
    pool = WorkerPool(size=2)
    follower = RequestFollower(launcher=cloud, workers=pool, every=0.01)
    done = Outcomes()
    ids = [cloud.submit(_spec(cluster_name=f"epb-f-{i}")) for i in range(100)]
    for rid in ids:
        follower.follow(rid, done)
    _until(lambda: len(cloud.calls_to("request_statuses")) >= 3)
    assert follower.following == 100 and not done.seen
    assert all(sorted(c.args["request_ids"]) == sorted(ids) for c in cloud.calls_to("request_statuses"))
    assert not cloud.calls_to("request_status") and not cloud.calls_to("wait")
    assert pool.peak_running <= 2 and pool.timers <= 1, "one poll round pending, whatever the count"
    cloud.tick(1_000)
    assert pool.join(30)
    assert {o.status for o in done.seen.values()} == {"SUCCEEDED"} and len(done.seen) == 100
    assert follower.following == 0 and pool.timers == 0, "nothing left to poll: no round is armed"
    pool.shutdown()


def test_a_request_past_its_deadline_is_handed_on_as_timed_out() -> None:
    cloud = FakeCloud(launch_ticks=1_000)
    pool = WorkerPool(size=1)
    follower = RequestFollower(launcher=cloud, workers=pool, every=0.01)
    done = Outcomes()
    rid = cloud.submit(_spec())
    follower.follow(rid, done, timeout=0.05)
    assert pool.join(30)
    assert done.seen[rid] == RequestOutcome(rid, "RUNNING", timed_out=True)
    pool.shutdown()


def test_a_forgotten_or_failed_request_is_handed_on_with_its_status() -> None:
    cloud = FakeCloud()
    pool = WorkerPool(size=1)
    follower = RequestFollower(launcher=cloud, workers=pool, every=0.01)
    done = Outcomes()
    cloud.fail_next_launch(RuntimeError("no capacity"))
    failed = cloud.submit(_spec(cluster_name="epb-a"))
    follower.follow(failed, done)
    follower.follow("fake-launch-unknown", done)
    assert pool.join(30)
    assert done.seen[failed].status == "FAILED"
    assert done.seen["fake-launch-unknown"].status is None
    pool.shutdown()


def test_poll_rounds_that_keep_failing_give_every_follower_the_error() -> None:
    class Down:
        """A launcher whose API server is unreachable (and that has no batched call)."""

        calls = 0

        def request_status(self, request_id: str) -> str | None:
            Down.calls += 1
            raise ConnectionError("API server unreachable")

    pool = WorkerPool(size=1)
    follower = RequestFollower(launcher=Down(), workers=pool, every=0.01, give_up_after=3)
    done = Outcomes()
    follower.follow("r1", done)
    follower.follow("r2", done)
    assert pool.join(30)
    assert {rid: type(o.error) for rid, o in done.seen.items()} == {
        "r1": ConnectionError,
        "r2": ConnectionError,
    }
    assert follower.rounds == 3 and Down.calls == 3, "one call per round, three failed rounds"
    pool.shutdown()


def test_a_forgotten_follow_never_runs_its_callback() -> None:
    cloud = FakeCloud(launch_ticks=1_000)
    pool = WorkerPool(size=1)
    follower = RequestFollower(launcher=cloud, workers=pool, every=0.01)
    done = Outcomes()
    rid = cloud.submit(_spec())
    follower.follow(rid, done)
    follower.forget(rid)
    cloud.tick(1_000)
    assert pool.join(30)
    assert not done.seen
    pool.shutdown()


def test_a_new_request_is_first_polled_without_waiting_a_whole_interval() -> None:
    cloud = FakeCloud()  # launches finish at once, as the local launcher's do
    pool = WorkerPool(size=1)
    follower = RequestFollower(launcher=cloud, workers=pool, every=3600)
    done = Outcomes()
    rid = cloud.submit(_spec())
    follower.follow(rid, done)
    assert pool.join(30), "the first round came within FIRST_POLL_S, not after the hour"
    assert done.seen[rid].status == "SUCCEEDED" and follower.rounds == 1
    pool.shutdown()
