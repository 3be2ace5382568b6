"""The start-up log parser on real engine lines: vLLM's weights download and load, SGLang's weight load.

The lines below are as vLLM and SGLang print them (public logs, checked against the engines' source:
vLLM `weight_utils.py` "Time spent downloading weights for %s: %.6f seconds", `default_loader.py`
"Loading weights took %.2f seconds", `gpu_model_runner.py` "Model loading took %s GiB and %.6f seconds";
SGLang `model_runner.py` "Load weight end. elapsed=%.2f s, ...").
"""

from __future__ import annotations

import pytest

from core.launcher.startup_log import StartupLog, parse_startup_log
from tests.fakes.fake_engine import parse_argv, startup_lines

VLLM_V1_DOWNLOAD = """\
(EngineCore_DP0 pid=192) INFO 03-18 11:13:38 [fp8.py:205] Using Triton backend for FP8 MoE
(EngineCore_DP0 pid=192) INFO 03-18 11:27:26 [weight_utils.py:487] Time spent downloading weights for Qwen/Qwen3-30B-A3B-FP8: 826.331217 seconds
Loading safetensors checkpoint shards:   0% Completed | 0/7 [00:00<?, ?it/s]
(EngineCore_DP0 pid=192) INFO 03-18 11:28:01 [default_loader.py:384] Loading weights took 33.52 seconds
(EngineCore_DP0 pid=192) INFO 03-18 11:28:02 [gpu_model_runner.py:4130] Model loading took 29.0281 GiB and 861.402815 seconds
"""

VLLM_CACHED = """\
INFO 07-23 10:22:15 [weight_utils.py:312] Using model weights format ['*.safetensors']
Loading safetensors checkpoint shards: 100% Completed | 4/4 [00:03<00:00, 1.32it/s]
INFO 07-23 10:22:20 [default_loader.py:272] Loading weights took 3.22 seconds
INFO 07-23 10:22:20 [gpu_model_runner.py:1801] Model loading took 14.2488 GiB and 5.173644 seconds
"""

# An older vLLM wording ("GiB memory and") with ANSI colours, as a terminal capture keeps them.
VLLM_OLDER_COLOURED = (
    "\x1b[1;36m(VllmWorker rank=0 pid=88)\x1b[0;0m INFO 04-02 09:01:07 [loader.py:447] "
    "Loading weights took 46.63 seconds\n"
    "\x1b[1;36m(VllmWorker rank=0 pid=88)\x1b[0;0m INFO 04-02 09:01:08 [model_runner.py:1146] "
    "Model loading took 36.1100 GiB memory and 48.220000 seconds\n"
)

# Tensor parallel: every rank prints its own line; they load side by side.
VLLM_TP2 = """\
(Worker_TP0 pid=301) INFO 05-01 17:08:53 [default_loader.py:384] Loading weights took 18.35 seconds
(Worker_TP1 pid=302) INFO 05-01 17:08:54 [default_loader.py:384] Loading weights took 19.02 seconds
"""

SGLANG = """\
[2026-02-26 05:20:01 TP0] Load weight begin. avail mem=78.10 GB
[2026-02-26 05:24:09 TP4] Using FP8 KV cache but no scaling factors provided. Defaulting to scaling factors of 1.0.
[2026-02-26 05:24:09 TP4] Load weight end. elapsed=228.09 s, type=GlmMoeDsaForCausalLM, dtype=torch.bfloat16, avail mem=194.04 GB, mem usage=89.58 GB.
[2026-02-26 05:24:09 TP0] Load weight end. elapsed=227.51 s, type=GlmMoeDsaForCausalLM, dtype=torch.bfloat16, avail mem=194.04 GB, mem usage=89.58 GB.
"""


def test_vllm_download_and_load() -> None:
    parsed = parse_startup_log(VLLM_V1_DOWNLOAD)
    assert parsed == StartupLog(download_s=826.331217, weights_load_s=33.52, model_load_s=861.402815)
    assert parsed.downloaded
    assert parsed.weights_s == pytest.approx(826.331217 + 33.52)


def test_vllm_cache_hit_logs_no_download() -> None:
    parsed = parse_startup_log(VLLM_CACHED)
    assert parsed.download_s is None and not parsed.downloaded
    assert parsed.weights_load_s == 3.22 and parsed.model_load_s == 5.173644
    assert parsed.weights_s == 3.22


def test_older_wording_and_colours() -> None:
    parsed = parse_startup_log(VLLM_OLDER_COLOURED)
    assert parsed.weights_load_s == 46.63 and parsed.model_load_s == 48.22


def test_ranks_in_parallel_count_the_longest() -> None:
    assert parse_startup_log(VLLM_TP2).weights_load_s == 19.02


def test_sglang_weight_load() -> None:
    parsed = parse_startup_log(SGLANG)
    assert parsed.sglang_weights_s == 228.09 and parsed.weights_s == 228.09
    assert parsed.weights_load_s is None and not parsed.downloaded


@pytest.mark.parametrize(
    "text",
    [
        "",
        "INFO 07-23 10:22:20 [api_server.py:1] Starting vLLM API server 0 on http://0.0.0.0:8000\n",
        "Loading weights took a while seconds\n",
        "Loading weights took 99999999999 seconds\n",  # no start takes years: a garbled line
    ],
)
def test_lines_without_figures_say_nothing(text: str) -> None:
    parsed = parse_startup_log(text)
    assert parsed == StartupLog() and parsed.weights_s is None


@pytest.mark.parametrize("engine_argv", [["serve", "m"], ["--model-path", "m"]])
def test_the_fake_engine_prints_what_the_real_one_does(engine_argv: list[str]) -> None:
    config = parse_argv([*engine_argv, "--startup-delay", "3", "--download-seconds", "1.5"])
    parsed = parse_startup_log("\n".join(startup_lines(config)))
    if config.engine == "vllm":
        assert parsed.download_s == 1.5 and parsed.weights_load_s == 1.5 and parsed.weights_s == 3.0
    else:
        assert parsed.sglang_weights_s == 1.5
