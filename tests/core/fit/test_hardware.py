"""The fit check against what the engines do on older or different hardware: dtype fallbacks, refusals
said once, and the `--quantization` spelling each engine release wants."""

from __future__ import annotations

from core.engines import engine_rejections
from core.fit.check import check_fit
from core.fit.plan import FitOptions, Plan
from core.gpus import get_gpu
from tests.core.fit.conftest import accel, facts_of

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"  # torch_dtype bfloat16
PHI3 = "microsoft/Phi-3-mini-4k-instruct"


def fit(repo_id: str, accelerators: str, **options) -> Plan:
    return check_fit(facts_of(repo_id), accel(accelerators), FitOptions(**options))


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_bf16_checkpoint_on_volta_falls_back_to_float16_like_vllm_auto():
    # vLLM's `auto` on compute capability < 8.0 logs "doesn't support torch.bfloat16. Falling back to
    # torch.float16" and runs; the plan passes --dtype half itself so SGLang (no fallback) runs too.
    for engine in ("vllm", "sglang"):
        plan = fit(PHI3, "V100:1", engine=engine, max_model_len=4096)
        assert plan.fits, plan.reasons
        assert plan.dtype == "half" and _flag(plan.engine_command, "--dtype") == "half"
        assert any("no bfloat16" in w for w in plan.warnings)


def test_explicit_bfloat16_before_ampere_is_refused_once_as_the_engine_does():
    # vLLM: "Bfloat16 is only supported on GPUs with compute capability of at least 8.0 ... --dtype=half".
    plan = fit(PHI3, "T4:1", dtype="bfloat16", max_model_len=4096)
    assert not plan.fits
    bf16 = [r for r in plan.reasons if "bfloat16" in r]
    assert len(bf16) == 1 and "float16" in bf16[0]
    assert plan.dtype == "bfloat16"  # what was asked; not silently changed
    assert plan.suggestions and all(get_gpu(s.accelerators.split(":")[0]).compute_capability >= 8.0
                                    for s in plan.suggestions)  # fmt: skip
    assert fit(PHI3, "T4:1", dtype="float16", max_model_len=4096).fits
    assert fit(PHI3, "L4:1", dtype="bfloat16", max_model_len=4096).fits


def test_quantization_below_its_capability_is_one_reason_not_two():
    plan = fit(LLAMA_8B, "V100-32GB:1", quantization="fp8", max_model_len=4096)
    assert not plan.fits
    assert len([r for r in plan.reasons if "fp8" in r.lower()]) == 1
    # The engine table alone (no fit check) still says it, for callers that only validate options.
    opts = FitOptions(quantization="fp8")
    assert engine_rejections(engine="vllm", options=opts, gpu=get_gpu("V100-32GB"))
    sglang = fit(LLAMA_8B, "T4:1", engine="sglang", quantization="fp8", max_model_len=4096)
    assert not sglang.fits and len([r for r in sglang.reasons if "fp8" in r.lower()]) == 1


def test_fp8_on_mi250x_is_one_reason():
    plan = fit(LLAMA_8B, "MI250X:1", quantization="fp8", max_model_len=4096)
    assert not plan.fits
    assert len([r for r in plan.reasons if "FP8" in r]) == 1
    assert fit(LLAMA_8B, "MI300X:1", quantization="fp8", max_model_len=4096).fits


def test_online_fp8_argv_is_what_each_engine_release_wants():
    # vLLM 0.33: `--quantization fp8` on a 16-bit checkpoint is deprecated for `fp8_per_tensor`.
    vllm = fit(LLAMA_8B, "L4:1", quantization="fp8", max_model_len=8192)
    assert vllm.fits and _flag(vllm.engine_command, "--quantization") == "fp8_per_tensor"
    # SGLang has no fp8_per_tensor: plain fp8 is its online method.
    sglang = fit(LLAMA_8B, "L4:1", engine="sglang", quantization="fp8", max_model_len=8192)
    assert sglang.fits and _flag(sglang.engine_command, "--quantization") == "fp8"
    # A checkpoint already in FP8 is detected by the engine: no flag at all, and fp8 asked is fine.
    ckpt = fit("RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic", "H100:2", max_model_len=8192)
    assert ckpt.fits and "--quantization" not in ckpt.engine_command
    # Naming the checkpoint's own method is accepted as is (vLLM checks it matches the config).
    asked = fit("Qwen/Qwen3-235B-A22B-FP8", "H100:4", quantization="fp8", max_model_len=8192)
    assert asked.fits and _flag(asked.engine_command, "--quantization") == "fp8"


def test_compressed_tensors_fp8_without_fp8_hardware_runs_through_marlin_where_the_engine_has_it():
    # vLLM's CompressedTensorsW8A16Fp8 runs from compute capability 7.5, SGLang's from 8.0.
    fp8 = "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"
    a100 = fit(fp8, "A100-80GB:2", max_model_len=8192)
    assert a100.fits and any("Marlin" in w for w in a100.warnings)
    assert not any("Marlin" in w for w in fit(fp8, "H100:2", max_model_len=8192).warnings)
    vllm_t4 = fit(fp8, "T4:8", max_model_len=4096)
    assert vllm_t4.fits, vllm_t4.reasons
    sglang_t4 = fit(fp8, "T4:8", engine="sglang", max_model_len=4096)
    assert not sglang_t4.fits
    assert len([r for r in sglang_t4.reasons if "compressed-tensors" in r and "8.0" in r]) == 1
    assert fit(fp8, "A100-80GB:2", engine="sglang", max_model_len=8192).fits
