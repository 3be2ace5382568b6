"""The smallest changes that would make a plan fit, each with its price per hour.

Tried in turn, each a real re-check (not a guess): a shorter context, an FP8 KV cache, FP8 weights
quantized at load time, more GPUs of the same type, another GPU type. Only changes that fit are kept.
"""

from __future__ import annotations

from dataclasses import replace

from core.facts import ModelFacts
from core.fit.assess import assess, format_tokens
from core.fit.plan import FitOptions, Plan, Suggestion
from core.fit.reasons import ReasonKind
from core.fit.rope import yarn_hint
from core.fit.shapes import allowed_counts, fitting_shapes, min_gpus
from core.gpus import AcceleratorRequest


def _layout_note(plan: Plan) -> str:
    parts = [f"TP {plan.tensor_parallel}"]
    if plan.pipeline_parallel > 1:
        parts.append(f"PP {plan.pipeline_parallel}")
    if plan.data_parallel > 1:
        parts.append(f"DP {plan.data_parallel}")
    if plan.expert_parallel > 1:
        parts.append(f"EP {plan.expert_parallel}")
    return ", ".join(parts)


def suggest(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    plan: Plan,
    *,
    draft_facts: ModelFacts | None = None,
) -> list[Suggestion]:
    """Changes that fit, cheapest first (same-hardware changes before pricier hardware)."""
    out: list[Suggestion] = []
    here = str(accel)

    def check(opts: FitOptions, on: AcceleratorRequest = accel) -> Plan:
        return assess(facts, on, opts, draft_facts=draft_facts)

    # When the engine cannot run the weights' quantization on this GPU, no same-hardware change helps.
    same_hw_ok = not any(r.kind is ReasonKind.QUANTIZATION_SUPPORT for r in plan.refusals)
    if options.tensor_parallel is not None and same_hw_ok:
        free = check(replace(options, tensor_parallel=None))
        if free.fits:
            out.append(Suggestion(
                f"Let the bot pick the layout (leave tp= out): {_layout_note(free)}",
                here, plan.price_per_hour, {"tensor_parallel": None},
            ))  # fmt: skip
    # Other hardware is judged with the layout left to the planner: a pinned TP rarely carries over.
    hw_options = replace(options, tensor_parallel=None)
    if options.max_model_len is not None and same_hw_ok:
        shorter = check(replace(options, max_model_len=None))
        if shorter.fits and shorter.max_context_tokens < options.max_model_len:
            tokens = shorter.max_context_tokens
            out.append(Suggestion(
                f"Limit the context to {format_tokens(tokens)} tokens (max_model_len={tokens})",
                here, plan.price_per_hour, {"max_model_len": tokens},
            ))  # fmt: skip
    if options.rope_scaling is None and yarn_hint(facts, options.max_model_len or 0):
        # Beyond the native context, where the vendor documents YaRN: the same hardware, stretched.
        yarn = check(replace(options, rope_scaling="yarn"))
        if yarn.fits and yarn.rope_scaling:
            out.append(Suggestion(
                f"Stretch the context with YaRN rope scaling (rope=yarn, factor {yarn.rope_scaling['factor']:g})",
                here, plan.price_per_hour, {"rope_scaling": "yarn"},
            ))  # fmt: skip
    kv = (options.kv_cache_dtype or "auto").lower()
    if not kv.startswith("fp8") and same_hw_ok:
        fp8_kv = check(replace(options, kv_cache_dtype="fp8"))
        if fp8_kv.fits:
            out.append(Suggestion(
                "Store the KV cache in FP8 (kv_cache_dtype=fp8): half the KV memory, slight quality cost",
                here, plan.price_per_hour, {"kv_cache_dtype": "fp8"},
            ))  # fmt: skip
    if facts.quantization is None and not options.quantization:
        fp8 = check(replace(options, quantization="fp8"))
        if fp8.fits:
            out.append(Suggestion(
                f"Quantize the weights to FP8 at load time (quantization=fp8, up to {format_tokens(fp8.max_context_tokens)} tokens)",
                here, plan.price_per_hour, {"quantization": "fp8"},
            ))  # fmt: skip
    # More GPUs of the same type.
    floor = max(accel.count + 1, min_gpus(facts, accel.gpu, hw_options, draft=draft_facts))
    for count in [n for n in allowed_counts(accel.gpu) if n >= floor][:4]:
        bigger = check(hw_options, AcceleratorRequest(accel.gpu, count))
        if bigger.fits:
            out.append(Suggestion(
                f"Use {bigger.accelerators} ({_layout_note(bigger)}, up to {format_tokens(bigger.max_context_tokens)} tokens)",
                bigger.accelerators, bigger.price_per_hour, {"accelerators": bigger.accelerators},
            ))  # fmt: skip
            break
    # Another GPU type (the cheapest two that fit).
    for other in fitting_shapes(
        facts, hw_options, limit=2, draft_facts=draft_facts, exclude={accel.gpu.name}
    ):
        out.append(Suggestion(
            f"Use {other.accelerators} ({_layout_note(other)}, up to {format_tokens(other.max_context_tokens)} tokens)",
            other.accelerators, other.price_per_hour, {"accelerators": other.accelerators},
        ))  # fmt: skip
    out.sort(key=lambda s: s.price_per_hour)
    return out
