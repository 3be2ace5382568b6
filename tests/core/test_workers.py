"""The bot's worker pool: named threads, no silent failures, idle wait, peak accounting, shutdown."""

from __future__ import annotations

import logging
import threading

import pytest

from core.workers import WorkerPool

pytestmark = pytest.mark.timeout(30)


def test_tasks_run_on_named_threads_and_join_waits_for_all() -> None:
    pool = WorkerPool(size=3, name="epb-test")
    seen: list[str] = []
    lock = threading.Lock()
    release = threading.Event()

    def task() -> None:
        release.wait(5)
        with lock:
            seen.append(threading.current_thread().name)

    for _ in range(6):
        pool.submit(task)
    assert pool.in_flight == 6
    assert not pool.join(timeout=0.05), "still busy"
    release.set()
    assert pool.join(timeout=5)
    assert len(seen) == 6 and all(name.startswith("epb-test") for name in seen)
    assert pool.peak_running == 3
    pool.shutdown()


def test_a_failing_task_is_logged_and_the_pool_keeps_working(caplog: pytest.LogCaptureFixture) -> None:
    pool = WorkerPool(size=1)

    def boom() -> None:
        raise RuntimeError("flow bug")

    class Crash(BaseException):
        pass

    def crash() -> None:
        raise Crash("process dying")

    with caplog.at_level(logging.ERROR, logger="core.workers"):
        pool.submit(boom, task_name="launch:7")
        pool.submit(crash, task_name="teardown:8")
        done = pool.submit(lambda: 42)
        assert pool.join(timeout=5)
    assert done.result() == 42
    assert pool.failures == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("launch:7" in m for m in messages) and any("teardown:8" in m for m in messages)
    assert any("flow bug" in (r.exc_text or "") for r in caplog.records)
    pool.shutdown()


def test_tasks_may_submit_more_tasks_and_join_waits_for_those_too() -> None:
    pool = WorkerPool(size=2)
    order: list[str] = []

    def second() -> None:
        order.append("second")

    def first() -> None:
        order.append("first")
        pool.submit(second)

    pool.submit(first)
    assert pool.join(timeout=5)
    assert order == ["first", "second"]
    pool.shutdown()


def test_shutdown_refuses_new_work_and_cancelled_tasks_do_not_hang_join() -> None:
    pool = WorkerPool(size=1)
    gate = threading.Event()
    pool.submit(gate.wait, 5)
    pool.submit(lambda: None)  # queued behind the first
    closer = threading.Thread(target=pool.shutdown, kwargs={"wait": True, "cancel_pending": True})
    closer.start()
    gate.set()
    closer.join(5)
    assert pool.join(timeout=5)
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WorkerPool(size=0)


def test_a_lane_runs_even_when_the_main_threads_are_all_busy() -> None:
    pool = WorkerPool(size=1, lanes={"teardown": 1})
    gate = threading.Event()
    ran = threading.Event()
    pool.submit(gate.wait, 5)  # the only main thread is stuck (a launch waiting on the cloud)
    pool.submit(ran.set, lane="teardown")
    assert ran.wait(2), "the teardown lane did not wait behind the main threads"
    pool.submit(lambda: None, lane="no-such-lane")  # unknown lanes use the main threads
    gate.set()
    assert pool.join(timeout=5)
    pool.shutdown()


def test_submit_later_holds_no_thread_while_it_waits_and_join_waits_for_it() -> None:
    pool = WorkerPool(size=1)
    order: list[str] = []
    pool.submit_later(0.2, order.append, "later", task_name="later")
    assert pool.in_flight == 1 and pool.timers == 1
    pool.submit(order.append, "now")  # the only thread is free meanwhile
    assert pool.join(10)
    assert order == ["now", "later"]
    assert pool.timers == 0
    pool.shutdown()


def test_timers_run_in_due_order_on_the_pool() -> None:
    pool = WorkerPool(size=2)
    ran: list[tuple[str, str]] = []
    for name, delay in (("c", 0.15), ("a", 0.05), ("b", 0.1)):
        pool.submit_later(delay, lambda n=name: ran.append((n, threading.current_thread().name)))
    assert pool.join(10)
    assert [n for n, _ in ran] == ["a", "b", "c"]
    assert all(t.startswith("epb-worker_") for _, t in ran), "timed tasks run on the pool's threads"
    pool.shutdown()


def test_shutdown_drops_waiting_timers_and_join_does_not_hang() -> None:
    pool = WorkerPool(size=1)
    ran: list[int] = []
    pool.submit_later(60, ran.append, 1)
    pool.shutdown(wait=True)
    assert pool.join(1) and pool.in_flight == 0
    assert not ran
    with pytest.raises(RuntimeError):
        pool.submit_later(0, ran.append, 2)


def test_free_threads_counts_each_lane() -> None:
    pool = WorkerPool(size=2, lanes={"teardown": 1})
    gate = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(10)

    pool.submit(hold)
    assert started.wait(10)
    assert pool.free_threads() == 1 and pool.free_threads("teardown") == 1
    gate.set()
    assert pool.join(10)
    assert pool.free_threads() == 2
    pool.shutdown()
