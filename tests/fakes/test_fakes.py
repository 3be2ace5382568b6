"""The fakes themselves: the fake engine speaks the engines' HTTP surface; the fake cloud keeps its promises."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.launcher.base import LaunchSpec
from tests.fakes.fake_cloud import FakeCloud, no_capacity
from tests.fakes.fake_engine import FakeEngineFarm, parse_argv, start_fake_engine

KEY = "epk-test-key-0123456789abcdefghij"
ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out.append((sample.labels, sample.value))
    return out


def _chat(url: str, key: str | None, model: str = "m") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "say hi to me"}], "max_tokens": 3},
        headers=headers,
        timeout=5,
    )


@pytest.mark.timeout(30)
def test_vllm_fake_answers_openai_routes_behind_the_key() -> None:
    with start_fake_engine(engine="vllm", model="m", api_key=KEY) as fake:
        assert httpx.get(f"{fake.url}/health").status_code == 200  # unprotected, as in vLLM
        assert httpx.get(f"{fake.url}/metrics").status_code == 200
        assert httpx.get(f"{fake.url}/v1/models").status_code == 401
        assert _chat(fake.url, None).status_code == 401
        assert _chat(fake.url, "epk-wrong").status_code == 401
        models = httpx.get(f"{fake.url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}).json()
        assert models["data"][0]["id"] == "m"
        reply = _chat(fake.url, KEY)
        assert reply.status_code == 200
        body = reply.json()
        assert body["choices"][0]["message"]["role"] == "assistant"
        assert body["usage"]["completion_tokens"] == 3
        assert _chat(fake.url, KEY, model="other").status_code == 404
        completion = httpx.post(
            f"{fake.url}/v1/completions",
            json={"model": "m", "prompt": "one two", "max_tokens": 1},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert completion.json()["choices"][0]["text"]


@pytest.mark.timeout(30)
def test_vllm_metrics_have_two_engines_and_move_with_traffic() -> None:
    with start_fake_engine(engine="vllm", model="m", api_key=KEY) as fake:
        before = httpx.get(f"{fake.url}/metrics").text
        engines = {labels["engine"] for labels, _ in _samples(before, "vllm:prompt_tokens_total")}
        assert engines == {"0", "1"}
        assert sum(v for _, v in _samples(before, "vllm:generation_tokens_total")) == 0
        for _ in range(3):
            assert _chat(fake.url, KEY).status_code == 200
        # Probes never move the counters.
        httpx.get(f"{fake.url}/health")
        after = httpx.get(f"{fake.url}/metrics").text
        gen = _samples(after, "vllm:generation_tokens_total")
        assert sum(v for _, v in gen) == 9
        assert len([v for _, v in gen if v > 0]) == 2  # traffic spread over both DP engines
        assert sum(v for _, v in _samples(after, "vllm:request_success_total")) == 3
        assert sum(v for _, v in _samples(after, "vllm:e2e_request_latency_seconds_count")) == 3
        inf = [
            v
            for labels, v in _samples(after, "vllm:time_to_first_token_seconds_bucket")
            if labels["le"] == "+Inf"
        ]
        assert sum(inf) == 3
        # A test moves the counters directly, in-process and over HTTP.
        fake.add_traffic(requests=2, prompt_tokens=100, generation_tokens=50)
        httpx.post(f"{fake.url}/_fake/counters", json={"generation_tokens": 7, "running": 2, "waiting": 1})
        text = httpx.get(f"{fake.url}/metrics").text
        assert sum(v for _, v in _samples(text, "vllm:generation_tokens_total")) == 9 + 50 + 7
        assert sum(v for _, v in _samples(text, "vllm:num_requests_running")) == 2
        assert sum(v for _, v in _samples(text, "vllm:num_requests_waiting")) == 1
        assert fake.totals()["generation_tokens"] == 66


@pytest.mark.timeout(30)
def test_sglang_fake_ready_route_waits_for_warmup_and_metrics_need_flag() -> None:
    with start_fake_engine(engine="sglang", model="m", api_key=KEY, warmup_delay=0.3) as fake:
        assert httpx.get(f"{fake.url}/ready").status_code == 503
        # /v1/models answers before warm-up ends: not a readiness signal.
        assert (
            httpx.get(f"{fake.url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        )
        assert httpx.get(f"{fake.url}/metrics").status_code == 200  # enabled by default in-process
        deadline = time.monotonic() + 5
        while httpx.get(f"{fake.url}/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert _chat(fake.url, KEY).status_code == 200
        text = httpx.get(f"{fake.url}/metrics").text
        assert _samples(text, "sglang:generation_tokens_total")[0][1] == 3
        assert _samples(text, "sglang:num_requests_total")[0][1] == 1
    with start_fake_engine(engine="sglang", model="m", metrics_enabled=False) as fake:
        assert httpx.get(f"{fake.url}/metrics").status_code == 404


@pytest.mark.timeout(30)
def test_startup_delay_refuses_connections_then_opens() -> None:
    with start_fake_engine(engine="vllm", model="m", startup_delay=0.3) as fake:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{fake.url}/health", timeout=1)
        deadline = time.monotonic() + 5
        while True:
            try:
                if httpx.get(f"{fake.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.ConnectError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.02)


@pytest.mark.timeout(30)
def test_never_ready_fail_die_and_restart() -> None:
    with start_fake_engine(engine="vllm", model="m", api_key=KEY, never_ready=True) as fake:
        assert httpx.get(f"{fake.url}/health").status_code == 503
        fake.set_never_ready(False)
        assert httpx.get(f"{fake.url}/health").status_code == 200
        fake.set_fail_completions(True)
        failed = _chat(fake.url, KEY)
        assert failed.status_code == 500
        assert "out of memory" in failed.json()["error"]["message"]
        fake.set_fail_completions(False)
        assert _chat(fake.url, KEY).status_code == 200
        assert fake.totals()["requests"] == 1
        fake.die()
        assert not fake.alive
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{fake.url}/health", timeout=1)
        fake.restart(startup_delay=0)
        deadline = time.monotonic() + 5
        while True:
            try:
                if httpx.get(f"{fake.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert fake.totals()["requests"] == 0  # a restarted engine starts its counters from zero


@pytest.mark.timeout(30)
def test_admin_die_over_http() -> None:
    with start_fake_engine(engine="vllm", model="m") as fake:
        assert httpx.post(f"{fake.url}/_fake/die").status_code == 200
        deadline = time.monotonic() + 5
        while fake.alive:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{fake.url}/health", timeout=1)


@pytest.mark.timeout(60)
def test_farm_serves_many_engines_from_one_thread() -> None:
    import threading

    threads_before = threading.active_count()
    with FakeEngineFarm(50, engine="vllm", model="m", api_key=KEY) as farm:
        assert threading.active_count() == threads_before + 1
        ports = {engine.port for engine in farm.engines}
        assert len(ports) == 50
        farm.engines[7].add_traffic(requests=1, generation_tokens=11)
        with httpx.Client() as client:
            for i, engine in enumerate(farm.engines):
                text = client.get(f"{engine.url}/metrics").text
                total = sum(v for _, v in _samples(text, "vllm:generation_tokens_total"))
                assert total == (11 if i == 7 else 0)


def test_argv_of_both_engines_is_understood() -> None:
    vllm = parse_argv(
        [
            "serve",
            "Qwen/Qwen2.5-7B-Instruct",
            "--host",
            "0.0.0.0",
            "--port",
            "8123",
            "--tensor-parallel-size",
            "2",
            "--max-model-len",
            "4096",
        ],
        environ={"VLLM_API_KEY": KEY},
    )
    assert (vllm.engine, vllm.model, vllm.port, vllm.api_key) == (
        "vllm",
        "Qwen/Qwen2.5-7B-Instruct",
        8123,
        KEY,
    )
    sglang = parse_argv(
        ["--model-path", "Qwen/Qwen2.5-7B-Instruct", "--port", "30001", "--tp-size", "2", "--enable-metrics"],
        environ={"ENDPOINT_API_KEY": KEY},
    )
    assert (sglang.engine, sglang.port, sglang.api_key, sglang.metrics_enabled) == (
        "sglang",
        30001,
        KEY,
        True,
    )
    assert parse_argv(["--model-path", "m"], environ={}).metrics_enabled is False


@pytest.mark.timeout(60)
def test_runs_as_a_module_with_vllm_argv(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VLLM_API_KEY": KEY, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.fake_engine",
            "serve",
            "m",
            "--port",
            str(port),
            "--unknown-flag",
            "x",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _chat(url, KEY).status_code == 200
        httpx.post(f"{url}/_fake/die")
        assert proc.wait(timeout=10) == 1  # a dead engine is a dead process
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- the fake cloud -----------------------------------------------------------------------------------


@pytest.fixture
def sky_exceptions() -> Any:
    return pytest.importorskip("sky.exceptions", reason="skypilot is not installed (CI installs it)")


def _spec(name: str = "epb-a-1", **kw: object) -> LaunchSpec:
    fields: dict = {
        "cluster_name": name,
        "model": "m",
        "engine": "vllm",
        "engine_argv": ["vllm", "serve", "m", "--port", "8000"],
        "accelerators": ["L4:1"],
        "num_nodes": 1,
        "port": 8000,
        "image": "vllm/vllm-openai:v0.33.0",
        "secrets": {"ENDPOINT_API_KEY": KEY, "HF_TOKEN": "hf_secret"},
        "autostop_minutes": 480,
    }
    fields.update(kw)
    return LaunchSpec(**fields)


@pytest.mark.timeout(30)
def test_fake_cloud_launches_after_ticks_and_tears_down(sky_exceptions: Any) -> None:
    cloud = FakeCloud(launch_ticks=2)
    rid = cloud.submit(_spec())
    assert cloud.request_status(rid) == "RUNNING"
    assert [c.status for c in cloud.list_clusters("epb-")] == ["INIT"]
    with pytest.raises(TimeoutError):
        cloud.wait(rid, timeout=0.05)
    cloud.tick()
    assert cloud.request_status(rid) == "RUNNING"
    cloud.tick()
    cloud.wait(rid, timeout=5)
    assert cloud.request_status(rid) == "SUCCEEDED"
    assert cloud.list_clusters("epb-")[0].status == "UP"
    assert cloud.list_clusters("other-") == []
    assert cloud.endpoint_url("epb-a-1", 8000).startswith("http://10.")
    cloud.set_deadline("epb-a-1", 60)
    assert cloud.cluster("epb-a-1").deadline_minutes == 60
    cloud.down("epb-a-1")
    cloud.down("epb-a-1")  # idempotent
    assert cloud.list_clusters("epb-") == []
    with pytest.raises(sky_exceptions.ClusterDoesNotExist):
        cloud.endpoint_url("epb-a-1", 8000)
    assert [c.method for c in cloud.calls].count("down") == 2
    # Secrets never reach the call record.
    assert "hf_secret" not in repr(cloud.calls) and KEY not in repr(cloud.calls)
    cloud.forget_requests()
    assert cloud.request_status(rid) is None


@pytest.mark.timeout(30)
def test_fake_cloud_raises_real_skypilot_exceptions(sky_exceptions: Any) -> None:
    cloud = FakeCloud()
    cloud.fail_next_submit(sky_exceptions.ApiServerConnectionError("http://127.0.0.1:46580"))
    with pytest.raises(sky_exceptions.ApiServerConnectionError):
        cloud.submit(_spec())
    assert cloud.list_clusters("") == []
    cloud.fail_next_launch(no_capacity("A100:1", "gcp", ("us-central1", "us-east4")))
    rid = cloud.submit(_spec())
    with pytest.raises(sky_exceptions.ResourcesUnavailableError) as info:
        cloud.wait(rid)
    assert len(info.value.failover_history) == 2
    assert cloud.request_status(rid) == "FAILED"
    assert cloud.list_clusters("") == []
    cloud.fail_next_launch(no_capacity(), keep_cluster=True)
    rid = cloud.submit(_spec("epb-b-1"))
    with pytest.raises(sky_exceptions.ResourcesUnavailableError):
        cloud.wait(rid)
    assert [c.name for c in cloud.list_clusters("")] == ["epb-b-1"]  # a leak the bot must clean up
    cloud.fail_down(2)
    for _ in range(2):
        with pytest.raises(sky_exceptions.CloudError):
            cloud.down("epb-b-1")
    cloud.down("epb-b-1")
    assert cloud.list_clusters("") == []


@pytest.mark.timeout(30)
def test_fake_cloud_cancel_and_preemption(sky_exceptions: Any) -> None:
    cloud = FakeCloud(launch_ticks=5)
    rid = cloud.submit(_spec())
    cloud.cancel(rid)
    assert cloud.request_status(rid) == "CANCELLED"
    with pytest.raises(sky_exceptions.RequestCancelled):
        cloud.wait(rid)
    cloud.down("epb-a-1")
    cloud.launch_ticks = 0
    rid = cloud.submit(_spec())
    cloud.wait(rid)
    cloud.lose("epb-a-1")
    assert cloud.list_clusters("epb-") == []


@pytest.mark.timeout(60)
def test_fake_cloud_starts_real_fake_engines(sky_exceptions: Any) -> None:
    with FakeCloud(start_engines=True, launch_seconds=0.05) as cloud:
        rids = [cloud.submit(_spec(f"epb-e-{i}")) for i in range(5)]
        for rid in rids:
            cloud.wait(rid, timeout=10)
        url = cloud.endpoint_url("epb-e-3", 8000)
        assert url.startswith("http://127.0.0.1:")
        assert _chat(url, KEY).status_code == 200
        assert _chat(url, "epk-other").status_code == 401
        cloud.lose("epb-e-3")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health", timeout=1)
        cloud.down("epb-e-2")
        assert len(cloud.list_clusters("epb-e-")) == 3


@pytest.mark.timeout(60)
@pytest.mark.parametrize("engines_process", [False, True], ids=["in-process", "own-process"])
def test_fake_cloud_starts_real_fake_engines_also_in_a_process_of_their_own(
    sky_exceptions: Any, engines_process: bool
) -> None:
    """The launch benchmark runs the engines in a farm process (as real engines run elsewhere): the same
    engines, answering the same requests, closed by `down`."""
    with FakeCloud(start_engines=True, engines_process=engines_process, launch_seconds=0.05) as cloud:
        rids = [cloud.submit(_spec(f"epb-p-{i}")) for i in range(3)]
        for rid in rids:
            cloud.wait(rid, timeout=10)
        urls = {cloud.endpoint_url(f"epb-p-{i}", 8000) for i in range(3)}
        assert len(urls) == 3  # one engine (port) per cluster
        url = cloud.endpoint_url("epb-p-1", 8000)
        assert _chat(url, KEY).status_code == 200
        assert _chat(url, "epk-other").status_code == 401
        assert "Loading weights took" in cloud.engine_log("epb-p-1")
        cloud.down("epb-p-1")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health", timeout=1)


@pytest.mark.timeout(30)
def test_streamed_chat_completion_is_server_sent_events() -> None:
    import json as _json

    with start_fake_engine(engine="vllm", model="m", api_key=KEY) as fake:
        reply = httpx.post(
            f"{fake.url}/v1/chat/completions",
            json={
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "max_tokens": 2,
            },
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in reply.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        first = _json.loads(events[0])
        assert first["object"] == "chat.completion.chunk"
        assert first["choices"][0]["delta"]["content"]
        assert fake.totals()["generation_tokens"] == 2


@pytest.mark.timeout(30)
def test_die_after_kills_the_engine_on_its_own() -> None:
    with start_fake_engine(engine="vllm", model="m", die_after=0.2) as fake:
        assert httpx.get(f"{fake.url}/health").status_code == 200
        deadline = time.monotonic() + 5
        while fake.alive:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{fake.url}/health", timeout=1)


@pytest.mark.timeout(30)
def test_fake_cloud_engine_options_reach_its_engines(sky_exceptions: Any) -> None:
    with FakeCloud(start_engines=True, engine_options={"fail_completions": True}) as cloud:
        cloud.wait(cloud.submit(_spec()))
        url = cloud.endpoint_url("epb-a-1", 8000)
        assert _chat(url, KEY).status_code == 500
        assert cloud.engine("epb-a-1") is not None
