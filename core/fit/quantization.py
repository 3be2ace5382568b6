"""What the engine will run the weights as, what that costs in bytes, and whether the GPU can run it.

A checkpoint's own quantization (config.json `quantization_config`) wins over `torch_dtype`; an
online quantization asked for with `--quantization` applies only to unquantized checkpoints.
Hardware limits are refused only where the engine itself refuses (engines.md: vLLM minimum compute
capability fp8 7.5, awq 7.5, gptq 6.0, mxfp4 8.0; below native FP8 it runs weight-only Marlin and warns).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.facts import ModelFacts
from core.fit.memory import WeightSplit
from core.fit.plan import Engine, FitOptions
from core.gpus import GpuSpec

# Online methods the engines apply to a 16-bit checkpoint, and bytes per quantized parameter.
_ONLINE_BYTES = {
    "fp8": 1.0,
    "fp8_per_tensor": 1.0,
    "fp8_per_block": 1.0,
    "int8_per_channel_weight_only": 1.0,
    "experts_int8": 1.0,
    "w8a8_int8": 1.0,
    "w8a8_fp8": 1.0,
    "modelopt_fp8": 1.0,
    "bitsandbytes": 0.53,
    "torchao": 1.0,
}
# Methods that need a checkpoint produced for them (they cannot be applied at load time).
_CHECKPOINT_ONLY = {"awq", "awq_marlin", "gptq", "gptq_marlin", "mxfp4", "nvfp4", "modelopt", "modelopt_fp4",
                    "compressed-tensors", "compressed_tensors", "gguf", "quark"}  # fmt: skip
# `--quantization` values that name the checkpoint's own method (or its faster kernel).
_SAME_FAMILY = {
    "fp8": {"fp8", "fp8_per_block", "w8a8_fp8"},
    "awq": {"awq", "awq_marlin"},
    "gptq": {"gptq", "gptq_marlin"},
    "mxfp4": {"mxfp4"},
    "nvfp4": {"modelopt_fp4", "nvfp4", "modelopt", "compressed-tensors"},
    "modelopt": {"modelopt", "modelopt_fp8"},
    "compressed-tensors": {"compressed-tensors", "compressed_tensors"},
    "bitsandbytes": {"bitsandbytes"},
}
# Minimum compute capability per method and engine (NVIDIA); None: no floor known.
_MIN_CC: dict[Engine, dict[str, float]] = {
    "vllm": {"fp8": 7.5, "awq": 7.5, "gptq": 6.0, "mxfp4": 8.0, "nvfp4": 8.0, "modelopt": 8.9,
             "compressed-tensors": 7.5, "int8_per_channel_weight_only": 7.5, "experts_int8": 7.5},
    "sglang": {"fp8": 8.0, "awq": 7.5, "gptq": 6.0, "mxfp4": 8.0, "nvfp4": 10.0, "modelopt": 8.9,
               "compressed-tensors": 7.5, "bitsandbytes": 7.0, "w8a8_int8": 7.5, "w8a8_fp8": 8.9},
}  # fmt: skip
# compressed-tensors FP8 checkpoints without FP8 hardware run W8A16 through Marlin: vLLM's
# CompressedTensorsW8A16Fp8 from 7.5 (Turing), SGLang's from 8.0 (Ampere).
_CT_FP8_MIN_CC: dict[Engine, float] = {"vllm": 7.5, "sglang": 8.0}
_VLLM_REMOVED = {"bitsandbytes", "gguf"}  # gone in vLLM 0.33


@dataclass
class QuantDecision:
    """The method the weights run as and the flag value to pass (None: the engine auto-detects)."""

    method: str | None  # normalised family: fp8, awq, gptq, mxfp4, nvfp4, ... or None (16-bit)
    flag: str | None  # what goes to --quantization
    online: bool = False
    fp8_weights: bool = False  # a compressed-tensors checkpoint whose weights are FP8
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _family(method: str) -> str:
    method = method.lower().replace("_marlin", "")
    if method.startswith("fp8"):
        return "fp8"
    return {"modelopt_fp4": "nvfp4", "compressed_tensors": "compressed-tensors"}.get(method, method)


def decide_quantization(facts: ModelFacts, options: FitOptions) -> QuantDecision:
    """Reconcile the checkpoint's quantization with the one asked for."""
    decision = _decide(facts, options)
    q = facts.quantization
    if q is not None and decision.method == q.method == "compressed-tensors":
        decision.fp8_weights = q.weight_type == "float" and (q.bits or 8) == 8
    return decision


def _decide(facts: ModelFacts, options: FitOptions) -> QuantDecision:
    asked = options.quantization.strip().lower() if options.quantization else None
    if asked in {"none", "auto", ""}:
        asked = None
    ckpt = facts.quantization.method if facts.quantization else None
    if ckpt and asked:
        if asked not in _SAME_FAMILY.get(ckpt, {ckpt}):
            return QuantDecision(ckpt, asked, reasons=[
                f"{facts.model_id} is already quantized as {ckpt}; the engine refuses --quantization {asked} "
                f"for it. Leave out quantization= (the checkpoint's own method is used), or pick a 16-bit "
                f"checkpoint to quantize online."
            ])  # fmt: skip
        return QuantDecision(ckpt, asked)
    if ckpt:
        return QuantDecision(ckpt, None)
    if asked is None:
        return QuantDecision(None, None)
    if asked in _CHECKPOINT_ONLY:
        return QuantDecision(asked, asked, reasons=[
            f"--quantization {asked} needs a checkpoint quantized with {asked}; {facts.model_id} is "
            f"{facts.torch_dtype}. Use a pre-quantized repo (e.g. an -{asked.upper()} variant) or "
            f"quantization=fp8, which the engine applies at load time."
        ])  # fmt: skip
    if asked not in _ONLINE_BYTES:
        # The engine's own table (engine_rejections) says whether it knows the name; size it as 8-bit.
        return QuantDecision(asked, asked, online=True, warnings=[
            f"The memory estimate assumes `{asked}` stores about one byte per weight."
        ])  # fmt: skip
    flag = asked
    if options.engine == "vllm" and asked == "fp8":
        flag = "fp8_per_tensor"  # vLLM 0.33: plain fp8 on a 16-bit checkpoint is deprecated for this
    return QuantDecision(_family(asked), flag, online=True)


def expert_bytes_per_param(facts: ModelFacts, *, dtype_bytes: int) -> float:
    q = facts.quantization
    if q is None:
        return float(dtype_bytes)
    if q.method == "mxfp4":
        hidden = facts.hidden_size
        return 4.25 / 8 * ((-(-hidden // 256) * 256) / hidden)
    if (q.bits or 8) >= 8:
        return 1.0
    return 0.5625 if q.method == "nvfp4" else 0.53


def weight_split(facts: ModelFacts, decision: QuantDecision, *, dtype_bytes: int) -> WeightSplit:
    """Bytes the engine holds, split into routed experts and the rest."""
    total = float(facts.weight_bytes)
    if facts.quantization is None:
        total = total / 2 * dtype_bytes  # facts count 16-bit loads; float32 doubles them
        if decision.online and decision.method:
            per_param = _ONLINE_BYTES.get(decision.flag or "", 1.0)
            quantized = max(0, facts.param_count - facts.embedding_params)
            total = quantized * per_param + facts.embedding_params * dtype_bytes
    expert = 0.0
    if facts.moe is not None and facts.moe.expert_params:
        if facts.quantization is None and decision.online:
            per = _ONLINE_BYTES.get(decision.flag or "", 1.0)
        else:
            per = expert_bytes_per_param(facts, dtype_bytes=dtype_bytes)
        expert = min(total * 0.98, facts.moe.expert_params * per)
    return WeightSplit(dense_bytes=total - expert, expert_bytes=expert)


def hardware_check(decision: QuantDecision, gpu: GpuSpec, engine: Engine) -> tuple[list[str], list[str]]:
    """(reasons the engine refuses this method on this GPU, warnings where it runs but slower or unsure)."""
    reasons: list[str] = []
    warnings: list[str] = []
    method = decision.method
    if method is None:
        return reasons, warnings
    # A removed method asked for by name is engine_rejections' sentence; a checkpoint's is ours.
    if engine == "vllm" and decision.flag is None and method in _VLLM_REMOVED:
        reasons.append(
            f"vLLM 0.33 no longer supports {method} quantization; use engine=sglang, or an AWQ/GPTQ/FP8 checkpoint."
        )
        return reasons, warnings
    if gpu.vendor == "amd":
        return _amd_check(method, gpu, engine)
    cc = gpu.compute_capability or 0.0
    floor = _CT_FP8_MIN_CC[engine] if decision.fp8_weights else _MIN_CC[engine].get(method)
    if floor is not None and cc < floor:
        reasons.append(
            f"{engine} does not run {method} on {gpu.name} (compute capability {cc}, needs {floor}): "
            f'"The quantization method {method} is not supported for the current GPU". '
            "Pick a newer GPU or a 16-bit checkpoint."
        )
        return reasons, warnings
    if (method in {"fp8", "modelopt"} or decision.fp8_weights) and not gpu.fp8_native:
        warnings.append(
            f"{gpu.name} has no FP8 hardware: {engine} runs the FP8 weights weight-only through Marlin "
            "(memory as FP8, speed closer to 16-bit)."
        )
    if method == "nvfp4" and cc < 10.0:
        warnings.append(f"{gpu.name} has no FP4 hardware: NVFP4 runs through an emulation kernel (slower).")
    if method == "mxfp4" and cc < 9.0:
        warnings.append(
            f"{gpu.name} runs MXFP4 through the Marlin kernel (no native FP4; slower than Hopper)."
        )
    return reasons, warnings


def _amd_check(method: str, gpu: GpuSpec, engine: Engine) -> tuple[list[str], list[str]]:
    reasons: list[str] = []
    warnings: list[str] = []
    if method in {"fp8", "modelopt", "compressed-tensors"} and not gpu.fp8_native:
        reasons.append(f"{gpu.name} ({gpu.arch}) has no FP8 support in the ROCm builds; use MI300X or newer.")
    elif method == "nvfp4":
        reasons.append(
            f"NVFP4 is an NVIDIA format; the ROCm builds of {engine} do not load it on {gpu.name}."
        )
    elif method in {"awq", "gptq"}:
        # vLLM's ROCm platform accepts both; for AWQ it switches to its Triton kernels by itself.
        warnings.append(
            f"{method.upper()} on ROCm runs through Triton/ExLlama kernels, not Marlin: it loads on "
            f"{gpu.name} but is slower than FP8 or 16-bit there."
        )
    elif method == "mxfp4" and gpu.arch == "cdna2":
        reasons.append(f"MXFP4 (gpt-oss) needs MI300-class GPUs on ROCm; {gpu.name} is not supported.")
    elif method not in {"fp8", "mxfp4", "modelopt", "compressed-tensors"}:
        warnings.append(f"Unsure whether the ROCm build of {engine} supports {method} on {gpu.name}.")
    return reasons, warnings


def resolve_dtype(facts: ModelFacts, options: FitOptions, gpu: GpuSpec) -> tuple[str, int, list[str]]:
    """(value for --dtype, bytes of 16/32-bit weights and KV, warnings)."""
    asked = (options.dtype or "auto").lower()
    if asked in {"float32", "float"}:
        return asked, 4, []
    if asked not in {"auto", "bfloat16", "float16", "half"}:
        return asked, 2, []
    # vLLM's `auto` takes the checkpoint's dtype when the GPU supports it, else falls back to float16
    # with a warning (float32 checkpoints are downcast the same way). An explicit bfloat16 on such a
    # GPU is refused by the engine instead: core.engines.hardware_rejections says so.
    wants_bf16 = asked == "auto" and facts.torch_dtype in {"bfloat16", "float32"}
    if wants_bf16 and gpu.vendor == "nvidia" and (gpu.compute_capability or 0) < 8.0:
        note = (
            f"{gpu.name} has no bfloat16 (compute capability {gpu.compute_capability}): serving in float16."
        )
        if facts.model_type.startswith("gemma"):
            note += " Gemma models may overflow in float16; a bfloat16 GPU (Ampere or newer) is safer."
        return "half", 2, [note]
    return asked, 2, []
