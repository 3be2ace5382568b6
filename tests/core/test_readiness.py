"""Readiness against a real fake engine over loopback: probe route, backoff, deadline, real completion."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
import pytest

from core.clock import ManualClock, SystemClock
from core.readiness import NotReady, wait_until_ready
from tests.fakes.fake_engine import start_fake_engine

KEY = "epk-readiness-key-0123456789abcdef"


class FakeSleep:
    """Sleeping moves the manual clock instead of the wall clock, and remembers each delay."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_ready_engine_passes_after_one_real_completion(engine: str) -> None:
    steps: list[str] = []
    with start_fake_engine(engine=engine, model="org/m", api_key=KEY) as fake:
        wait_until_ready(
            url=fake.url, engine=engine, api_key=KEY, model_name="org/m",
            deadline=timedelta(seconds=30), progress=steps.append,
        )  # fmt: skip
        assert fake.totals()["requests"] == 1  # the real completion was served
        route = "/health" if engine == "vllm" else "/ready"
        assert ("GET", route) in fake.requests_seen
        assert ("GET", "/v1/models") not in fake.requests_seen  # not a readiness signal
    assert steps == ["engine port open", f"engine answers {route}", "test completion succeeded"]


@pytest.mark.timeout(30)
def test_sglang_warmup_is_waited_for_with_real_time() -> None:
    steps: list[str] = []
    with start_fake_engine(engine="sglang", model="m", api_key=KEY, warmup_delay=0.3) as fake:
        wait_until_ready(
            url=fake.url, engine="sglang", api_key=KEY, model_name="m", deadline=timedelta(seconds=20),
            clock=SystemClock(), progress=steps.append, first_delay=0.02, max_delay=0.05,
        )  # fmt: skip
    assert "weights loading" in steps
    assert steps[-1] == "test completion succeeded"


@pytest.mark.timeout(30)
def test_deadline_passes_with_last_status_and_capped_backoff() -> None:
    clock = ManualClock()
    sleep = FakeSleep(clock)
    with start_fake_engine(engine="vllm", model="m", api_key=KEY, never_ready=True) as fake:
        with pytest.raises(NotReady) as info:
            wait_until_ready(
                url=fake.url, engine="vllm", api_key=KEY, model_name="m", deadline=timedelta(minutes=5),
                clock=clock, sleep=sleep, first_delay=1.0, max_delay=15.0,
            )  # fmt: skip
        assert fake.totals()["requests"] == 0  # never tried a completion on an unhealthy engine
    message = str(info.value)
    assert "HTTP 503" in message and "/health" in message
    assert KEY not in message
    assert sleep.delays[:5] == [1.0, 2.0, 4.0, 8.0, 15.0]
    assert max(sleep.delays) == 15.0
    assert sum(sleep.delays) == pytest.approx(300.0)


@pytest.mark.timeout(30)
def test_closed_port_is_reported_as_still_starting() -> None:
    clock = ManualClock()
    with pytest.raises(NotReady, match="refused connections"):
        wait_until_ready(
            url=f"http://127.0.0.1:{_free_port()}", engine="vllm", api_key=KEY, model_name="m",
            deadline=timedelta(seconds=10), clock=clock, sleep=FakeSleep(clock),
        )  # fmt: skip


@pytest.mark.timeout(30)
def test_failed_completion_reports_status_and_engine_message_without_key() -> None:
    with (
        start_fake_engine(engine="vllm", model="m", api_key=KEY, fail_completions=True) as fake,
        pytest.raises(NotReady) as info,
    ):
        wait_until_ready(
            url=fake.url, engine="vllm", api_key=KEY, model_name="m", deadline=timedelta(seconds=10)
        )
    message = str(info.value)
    assert "HTTP 500" in message and "out of memory" in message
    assert KEY not in message


@pytest.mark.timeout(30)
def test_wrong_key_and_wrong_model_are_explained() -> None:
    with start_fake_engine(engine="vllm", model="m", api_key="epk-the-engine-has-another-key-xxxxxx") as fake:
        with pytest.raises(NotReady) as info:
            wait_until_ready(
                url=fake.url, engine="vllm", api_key=KEY, model_name="m", deadline=timedelta(seconds=10)
            )
        assert "HTTP 401" in str(info.value) and "API key" in str(info.value)
        assert KEY not in str(info.value)
    with (
        start_fake_engine(engine="vllm", model="m", api_key=KEY) as fake,
        pytest.raises(NotReady, match=r"HTTP 404.*`other`"),
    ):
        wait_until_ready(
            url=fake.url, engine="vllm", api_key=KEY, model_name="other", deadline=timedelta(seconds=10)
        )


@pytest.mark.timeout(30)
def test_uses_the_given_client_and_leaves_it_open() -> None:
    with start_fake_engine(engine="vllm", model="m", api_key=KEY) as fake, httpx.Client() as client:
        wait_until_ready(
            url=fake.url + "/",
            engine="vllm",
            api_key=KEY,
            model_name="m",
            deadline=timedelta(seconds=5),
            client=client,
        )
        assert not client.is_closed


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(NotReady, match="Unknown engine"):
        wait_until_ready(
            url="http://x", engine="tgi", api_key=KEY, model_name="m", deadline=timedelta(seconds=1)
        )


@pytest.mark.timeout(30)
def test_default_poll_notices_a_ready_engine_within_a_second() -> None:
    clock = ManualClock()
    sleep = FakeSleep(clock)
    with pytest.raises(NotReady):
        wait_until_ready(
            url=f"http://127.0.0.1:{_free_port()}", engine="vllm", api_key=KEY, model_name="m",
            deadline=timedelta(seconds=20), clock=clock, sleep=sleep,
        )  # fmt: skip
    # settings.readiness_poll_first / readiness_poll_max: 0.25 s doubling to 1 s, never more.
    assert sleep.delays[:4] == [0.25, 0.5, 1.0, 1.0]
    assert max(sleep.delays) == 1.0


@pytest.mark.timeout(30)
def test_an_engine_that_exits_while_starting_fails_at_once_with_its_reason() -> None:
    clock = ManualClock()
    sleep = FakeSleep(clock)
    asked: list[int] = []

    def gone() -> str | None:
        asked.append(1)
        return (
            "The engine exited while starting (code 1): ValueError: out of host memory"
            if len(asked) > 2
            else None
        )

    with pytest.raises(NotReady) as info:
        wait_until_ready(
            url=f"http://127.0.0.1:{_free_port()}", engine="vllm", api_key=KEY, model_name="m",
            deadline=timedelta(minutes=30), clock=clock, sleep=sleep, gone=gone,
        )  # fmt: skip
    assert str(info.value).startswith("The engine exited while starting (code 1): ValueError")
    assert len(sleep.delays) == 2, "no waiting for the deadline once the engine is gone"
