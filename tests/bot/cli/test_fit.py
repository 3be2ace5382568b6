"""`endpoint-bot fit`: against the fake Hub (real huggingface_hub over loopback) and a local model directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "tests" / "fixtures" / "configs"


@pytest.fixture
def cli(fake_hub, tmp_path, monkeypatch, capsys):
    """Run `endpoint-bot ARGS` in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setenv("ENDPOINT_BOT_FACTS_CACHE_DIR", str(tmp_path / "facts"))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["fit", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_fits_prints_the_plan_and_exits_0(cli):
    code, out, err = cli("meta-llama/Llama-3.1-8B-Instruct", "L4:1", "--max-model-len", "4k")
    assert code == 0, err
    assert "FITS on L4:1" in out
    assert "weights" in out and "KV cache" in out and "usable" in out
    assert "vllm serve meta-llama/Llama-3.1-8B-Instruct" in out
    assert "--max-model-len 4096" in out
    assert "$0.80/hour" in out


def test_does_not_fit_exits_2_with_reasons_and_priced_suggestions(cli):
    code, out, _ = cli("meta-llama/Llama-3.1-8B-Instruct", "L4:1", "--max-model-len", "128k")
    assert code == 2
    assert "DOES NOT FIT" in out
    assert "Why it does not fit" in out and "KV cache" in out
    assert "What would fit" in out and "/hour" in out


def test_json_has_the_documented_fields(cli):
    code, out, _ = cli("Qwen/Qwen3-30B-A3B", "H100:2", "--json")
    assert code == 0
    data = json.loads(out)
    for key in ("fits", "tensor_parallel", "data_parallel", "expert_parallel", "pipeline_parallel", "nodes",
                "max_context_tokens", "engine_command", "reasons", "suggestions"):  # fmt: skip
        assert key in data, key
    assert set(data["memory_per_gpu_gib"]) >= {"weights", "kv_cache", "overhead", "total", "usable"}
    assert data["fits"] is True and isinstance(data["engine_command"], list)
    assert data["engine_command"][:2] == ["vllm", "serve"]


def test_json_does_not_fit(cli):
    code, out, _ = cli("deepseek-ai/DeepSeek-V3", "H100:8", "--json")
    assert code == 2
    data = json.loads(out)
    assert data["fits"] is False and data["reasons"] and data["suggestions"]
    assert all(isinstance(r, str) for r in data["reasons"])
    assert len(data["reason_kinds"]) == len(data["reasons"]) and "weights" in data["reason_kinds"]
    assert all(s["price_per_hour"] > 0 for s in data["suggestions"])


def test_without_accel_lists_cheapest_shapes(cli):
    code, out, _ = cli("Qwen/Qwen2.5-7B-Instruct")
    assert code == 0
    assert "$/hour" in out and "Check one with: endpoint-bot fit Qwen/Qwen2.5-7B-Instruct" in out
    code, out, _ = cli("Qwen/Qwen2.5-7B-Instruct", "--json")
    data = json.loads(out)
    assert code == 0 and data["fits"] and data["shapes"]
    prices = [shape["price_per_hour"] for shape in data["shapes"]]
    assert prices == sorted(prices)


def test_engine_and_options_reach_the_plan(cli):
    code, out, _ = cli("Qwen/Qwen2.5-7B-Instruct", "L4:1", "--engine", "sglang", "--kv-cache-dtype", "fp8",
                       "--max-model-len", "8192", "--json")  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["engine"] == "sglang"
    assert "--kv-cache-dtype" in data["engine_command"]
    code, out, _ = cli("meta-llama/Llama-3.1-8B-Instruct", "L4:1", "--memory-fraction", "0.8", "--json")
    assert json.loads(out)["memory_fraction"] == 0.8


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("Qwen/Qwen2.5-7B-Instruct", "H1000:1"), "Unknown GPU `H1000`"),
        (("no-such/model", "L4:1"), "no-such/model"),
        (("Qwen/Qwen2.5-7B-Instruct", "L4:1", "--max-model-len", "12q"), "not a valid context length"),
        (("meta-llama/Llama-3.1-70B-Instruct", "H100:2"), "gated"),
    ],
)
def test_errors_are_one_line_and_exit_1(cli, args, needle):
    code, out, err = cli(*args)
    assert code == 1 and out == ""
    assert needle.lower() in err.lower()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_gpu_is_refused_before_any_hub_request(cli, fake_hub):
    fake_hub.clear_log()
    cli("Qwen/Qwen2.5-7B-Instruct", "H1000:1")
    assert fake_hub.model_requests() == []


def test_local_model_directory(cli, tmp_path):
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text((CONFIGS / "microsoft--phi-4.json").read_text())
    code, out, err = cli(str(model_dir), "L40S:1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["fits"] and data["model_id"].endswith("my-model")


@pytest.mark.timeout(60)
def test_console_script_end_to_end(fake_hub, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_TOKEN", "ENDPOINT_BOT_"))}
    env.update(
        HF_ENDPOINT=fake_hub.url, ENDPOINT_BOT_FACTS_CACHE_DIR=str(tmp_path / "facts"), PYTHONPATH=str(ROOT)
    )
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())", "fit", "openai/gpt-oss-20b", "T4:1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "mxfp4" in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("Qwen/Qwen3-32B", "L4:1", "--memory-fraction", "abc"),
        ("Qwen/Qwen3-32B", "L4:1", "--engine", "tgi"),
        (),
    ],
)
def test_bad_arguments_exit_1_not_2(cli, args):
    with pytest.raises(SystemExit) as exited:
        cli(*args)
    assert exited.value.code == 1


def test_without_accel_nothing_fits_exits_2(cli):
    code, out, _ = cli("Qwen/Qwen2.5-7B-Instruct", "--max-model-len", "1m", "--json")
    data = json.loads(out)
    assert code == 2 and data["fits"] is False and data["shapes"] == []
    assert any("at most 32,768" in r for r in data["reasons"])
    assert data["reason_kinds"] == ["no_shape", "context"]


def test_json_has_the_kv_capacity_keys_and_the_text_says_them(cli):
    code, out, _ = cli("meta-llama/Llama-3.1-8B-Instruct", "H100:1", "--max-model-len", "16k", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["kv_cache_capacity_gib"] > 40 and data["kv_cache_tokens"] > 300_000
    assert data["max_concurrency"] == pytest.approx(data["kv_cache_capacity_gib"] / 2.0, rel=0.01)
    code, out, _ = cli("meta-llama/Llama-3.1-8B-Instruct", "H100:1", "--max-model-len", "16k")
    assert "room for ~" in out and "requests of 16k at once" in out


def test_layout_follows_the_context_and_can_be_pinned(cli):
    # Issue 8: TP 2 on two A100-80GB for 32k, not TP 1 x DP 2.
    code, out, _ = cli(
        "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int8", "A100-80GB:2", "--max-model-len", "32768", "--json"
    )
    data = json.loads(out)
    assert code == 0 and (data["tensor_parallel"], data["data_parallel"]) == (2, 1)
    code, out, _ = cli("Qwen/Qwen3-8B", "L4:2", "--tensor-parallel-size", "4")
    assert code == 2 and "Tensor parallel size 4" in out
    code, _, err = cli("Qwen/Qwen3-8B", "L4:2", "--tensor-parallel-size", "0")
    assert code == 1 and "--tensor-parallel-size" in err


def test_qwen3_32b_at_32000_tokens_on_one_h100_does_not_fit(cli):
    # vLLM refuses it (no KV room after 61 GiB of weights and a ~5.6 GiB activation peak).
    code, out, _ = cli("Qwen/Qwen3-32B", "H100:1", "--max-model-len", "32000")
    assert code == 2 and "KV cache" in out


def test_gpt_oss_120b_from_the_hubs_mxfp4_counts_fits_one_h100(cli):
    # The Hub's model_info says 120.4B parameters (two per MXFP4 `*_blocks` byte); vLLM loads the model
    # in 64.38 GiB on one H100 (llm-d's vLLM memory measurements). Not 224.7B / 121.5 GiB.
    code, out, err = cli("openai/gpt-oss-120b", "H100:1")
    assert code == 0, out + err
    assert "116.8B params" in out and "64.5 GiB of weights" in out
    code, out, _ = cli("openai/gpt-oss-120b", "H100:1", "--json")
    assert json.loads(out)["memory_per_gpu_gib"]["weights"] == pytest.approx(64.38, abs=0.3)


def test_rope_yarn_on_the_cli(cli):
    code, out, _ = cli("Qwen/Qwen2.5-7B-Instruct", "A100-80GB:1", "--max-model-len", "128k")
    assert code == 2 and "rope=yarn" in out and "--rope yarn" in out
    code, out, err = cli(
        "Qwen/Qwen2.5-7B-Instruct", "A100-80GB:1", "--max-model-len", "128k", "--rope", "yarn", "--json"
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["rope_scaling"]["factor"] == 4.0 and plan["max_context_tokens"] == 131072
    assert "--hf-overrides" in plan["engine_command"]


@pytest.mark.parametrize("fraction", ["1e400", "nan", "0", "1.5", "-0.2", "x"])
def test_a_memory_fraction_outside_0_1_is_refused(cli, fraction):
    with pytest.raises(SystemExit) as exit_info:
        cli("meta-llama/Llama-3.1-8B-Instruct", "L4:1", "--memory-fraction", fraction)
    assert exit_info.value.code == 1  # fit's usage error (2 means "does not fit"), before any Hub request
