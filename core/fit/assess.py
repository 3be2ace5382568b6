"""The verdict for one model on one accelerator request, without suggestions or the engine command.

`assess` is the fast inner loop that `check_fit`, the suggestions and `cheapest_shapes` all call: it
tries every layout the engine accepts (`parallelism.candidate_layouts`), sizes each with
`memory`, and picks the first that serves the context asked for (or, with no length given, the full
model context, else the longest that fits). When none fits it explains every reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.engines import hardware_rejections
from core.facts import ModelFacts
from core.fit.memory import (
    GIB,
    EngineProfile,
    KVCapacity,
    KVShape,
    activation_gib,
    engine_profile,
    kv_capacity,
    kv_dtype_bytes,
    kv_shape,
    non_torch_gib,
)
from core.fit.parallelism import Layout, candidate_layouts, layout_problem, moe_split
from core.fit.plan import FitOptions, MemoryBreakdown, Plan
from core.fit.quantization import (
    QuantDecision,
    decide_quantization,
    hardware_check,
    resolve_dtype,
    weight_split,
)
from core.fit.rope import apply_rope_scaling, yarn_hint
from core.gpus import AcceleratorRequest
from core.pricing import price_per_hour
from core.units import format_tokens  # re-exported: the CLI and suggestions read it here

MIN_CONTEXT = 2048  # the shortest context the bot picks by itself; a user may ask for less (a note, not a refusal)
# When the bot picks the context itself it keeps this much KV budget spare: the estimate is calibrated
# to a few hundred MiB, and a launch that fails its KV check after provisioning is the costliest error.
AUTO_CONTEXT_MARGIN_GIB = 0.25
# vLLM also profiles a multimodal model's vision encoder on a maximal image batch; we have no
# measurement of it, so a context picked for a multimodal model keeps more room.
MULTIMODAL_MARGIN_GIB = 1.0
# vLLM's gpt-oss recipe: --gpu-memory-utilization 0.95 at TP 2 on H100 runs out of memory after the KV
# cache is allocated (CUDA graphs, NCCL and allocator slack live outside the fraction). Above this
# fraction a multi-GPU vLLM replica is refused and a single GPU gets a warning.
VLLM_MAX_SAFE_FRACTION = 0.94


@dataclass(frozen=True)
class Sizing:
    """One layout, sized."""

    layout: Layout
    profile: EngineProfile
    weights_gib: float
    overhead_gib: float
    usable_gib: float
    kv: KVShape
    draft_kv: KVShape | None
    max_tokens: int  # longest context whose KV fits (0: not even the weights fit)
    safe_tokens: int  # the same with AUTO_CONTEXT_MARGIN_GIB kept spare (what an unasked context uses)

    def kv_gib(self, tokens: int) -> float:
        extra = self.draft_kv.bytes_for(tokens) if self.draft_kv else 0.0
        return (self.kv.bytes_for(tokens) + extra) / GIB

    @property
    def kv_budget_gib(self) -> float:
        return self.usable_gib - self.weights_gib - self.overhead_gib

    def capacity(self, context: int) -> KVCapacity:
        """The KV pool the engine will report for this layout at `context` tokens per request."""
        kv = self.kv if self.draft_kv is None else _combined(self.kv, self.draft_kv)
        return kv_capacity(kv, self.kv_budget_gib * GIB, context=context, engine=self.profile.engine)


def _combined(kv: KVShape, draft: KVShape) -> KVShape:
    return KVShape(
        kv.full_bytes_per_token + draft.full_bytes_per_token,
        kv.sliding_bytes_per_token + draft.sliding_bytes_per_token,
        max(kv.window_tokens, draft.window_tokens),
    )


def expert_parallel_size(engine: str, layout: Layout) -> int:
    if not layout.expert_parallel:
        return 1
    return layout.tp * layout.dp if engine == "vllm" else layout.tp


def size_layout(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    layout: Layout,
    *,
    decision: QuantDecision,
    dtype_bytes: int,
    draft: ModelFacts | None,
    cap: int,
) -> Sizing:
    gpu = accel.gpu
    profile = engine_profile(
        options.engine, gpu, fraction=options.memory_fraction, tp=layout.tp, pp=layout.pp
    )
    split = weight_split(facts, decision, dtype_bytes=dtype_bytes)
    # Each replica must hold the model on its own TP x PP GPUs ("DP only with replicas that each fit"),
    # so routed experts count as split by TP; only expert parallelism really spreads them over DP.
    # (vLLM without EP also flattens them over DP x TP, so this is an upper bound there.)
    expert_ranks = moe_split(options.engine, layout) if layout.expert_parallel else layout.tp
    weights = split.dense_bytes / (layout.tp * layout.pp) + split.expert_bytes / (expert_ranks * layout.pp)
    if (options.speculative_method or "").lower() in {"mtp", "deepseek_mtp", "nextn"} and facts.mtp_bytes:
        weights += (
            facts.mtp_bytes / layout.tp
        )  # the MTP layers the checkpoint ships are loaded as the drafter
    kv_bytes = kv_dtype_bytes(options.kv_cache_dtype, weight_dtype_bytes=dtype_bytes)
    kv = kv_shape(
        facts,
        tp=layout.tp,
        pp=layout.pp,
        kv_bytes=kv_bytes,
        batched_tokens=profile.max_num_batched_tokens,
        engine=options.engine,
    )
    draft_kv = None
    if draft is not None:
        # The draft runs with the target's TP and keeps its own KV for the same context.
        weights += (
            draft.weight_bytes / 2 * dtype_bytes / layout.tp
            if draft.quantization is None
            else draft.weight_bytes / layout.tp
        )
        draft_kv = kv_shape(
            draft,
            tp=layout.tp,
            pp=1,
            kv_bytes=kv_bytes,
            batched_tokens=profile.max_num_batched_tokens,
            engine=options.engine,
        )
    if options.engine == "vllm":
        overhead = activation_gib(facts, profile, tp=layout.tp) + non_torch_gib(
            gpus_in_group=layout.tp * layout.pp, expert_parallel=layout.expert_parallel
        )
    else:
        overhead = 0.0  # SGLang keeps activations and graphs in the reserve outside mem_fraction_static
    usable = gpu.memory_gib * profile.memory_fraction
    budget = (usable - weights / GIB - overhead) * GIB
    combined = kv if draft_kv is None else _combined(kv, draft_kv)
    max_tokens = combined.max_tokens(budget, cap=cap)
    margin = (
        MULTIMODAL_MARGIN_GIB if facts.is_multimodal and options.engine == "vllm" else AUTO_CONTEXT_MARGIN_GIB
    )
    safe_tokens = combined.max_tokens(budget - margin * GIB, cap=cap)
    return Sizing(layout, profile, weights / GIB, overhead, usable, kv, draft_kv, max_tokens, safe_tokens)


def _round_context(tokens: int, cap: int) -> int:
    if tokens >= cap:
        return cap
    return tokens // 1024 * 1024 if tokens >= 1024 else tokens


def assess(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    *,
    draft_facts: ModelFacts | None = None,
) -> Plan:
    """The plan for `facts` on `accel`: layout, context, memory per GPU, reasons and warnings."""
    gpu = accel.gpu
    rope = apply_rope_scaling(facts, options)  # YaRN: a longer maximum context, sized as such
    facts = rope.facts
    reasons: list[str] = list(rope.reasons)
    warnings: list[str] = list(rope.warnings)
    decision = decide_quantization(facts, options)
    reasons += decision.reasons
    warnings += decision.warnings
    hw_reasons, hw_warnings = hardware_check(decision, gpu, options.engine)
    reasons += hw_reasons
    warnings += hw_warnings
    dtype, dtype_bytes, dtype_warnings = resolve_dtype(facts, options, gpu)
    warnings += dtype_warnings
    # What the engine refuses on this GPU besides quantization (judged above for the method the
    # weights really run as): an explicit bfloat16 before Ampere, a GPU older than the engine supports.
    reasons += hardware_rejections(engine=options.engine, options=options, gpu=gpu, quantization=False)

    model_max = facts.max_position_embeddings
    allowed = facts.max_context_allowed  # an explicit context may go beyond model_max (model_max_length)
    asked = options.max_model_len
    floor = min(MIN_CONTEXT, model_max)
    if asked is not None and asked > allowed:
        reasons.append(
            yarn_hint(facts, asked)
            or f"{facts.model_id} supports at most {allowed:,} tokens ({format_tokens(allowed)}); the engine refuses "
            f"a context of {asked:,}. Ask for {format_tokens(allowed)} or less."
        )
    cap = model_max if asked is None else min(asked, allowed)

    pinned = options.tensor_parallel
    pin_problem = _pinned_tp_problem(pinned, accel) if pinned else None
    sized: list[Sizing] = []
    problems: list[str] = []
    for layout in [] if pin_problem else candidate_layouts(
        facts, count=accel.count, per_node=accel.gpus_per_node, nodes=accel.nodes, tp=pinned
    ):
        if options.engine == "sglang" and layout.expert_parallel and layout.tp == 1:
            continue  # SGLang's EP lives inside the TP group
        if options.engine == "sglang" and accel.nodes > 1 and layout.dp > 1:
            # SGLang stops at start-up: "multi-node data parallel is not supported unless dp attention!"
            problems.append(
                "SGLang cannot spread data-parallel replicas over nodes (one node, or engine=vllm)"
            )
            continue
        if (
            options.engine == "sglang"
            and layout.pp > 1
            and (options.draft_model or options.speculative_method)
        ):
            # SGLang: "PP + speculative decoding is only supported in disaggregated prefill mode".
            problems.append(
                "SGLang cannot combine pipeline parallelism with speculative decoding (no draft, or engine=vllm)"
            )
            continue
        problem = layout_problem(facts, layout, engine=options.engine)
        if problem:
            problems.append(
                f"TP {layout.tp}" + (" with EP" if layout.expert_parallel else "") + f": {problem}"
            )
            continue
        sized.append(
            size_layout(facts, accel, options, layout, decision=decision, dtype_bytes=dtype_bytes,
                        draft=draft_facts, cap=cap)
        )  # fmt: skip

    target = cap  # beyond the model's maximum the reason above says it all

    def room(s: Sizing) -> int:
        return s.max_tokens if asked is not None else s.safe_tokens

    chosen = next((s for s in sized if room(s) >= target), None)
    if chosen is None and asked is None:
        best = max(sized, key=room, default=None)
        if best is not None and best.safe_tokens >= floor:
            chosen = best
            warnings.append(
                f"Memory limits the context to {format_tokens(_round_context(best.safe_tokens, model_max))} tokens of the "
                f"model's {format_tokens(model_max)}; more GPUs or an fp8 KV cache would allow more."
            )
    if chosen is not None:
        context = asked if asked is not None else _round_context(chosen.safe_tokens, model_max)
    else:
        # Nothing fits: report the layout that needs the least memory per GPU.
        chosen = min(sized, key=lambda s: (s.weights_gib, -s.max_tokens), default=None)
        # With no length asked for, report the shortest useful one: what the reasons are about.
        context = asked if asked is not None else floor
        if chosen is None and pin_problem:
            reasons.append(pin_problem)
        elif chosen is None and pinned:
            reasons.append(
                f"{facts.model_id} cannot run at tensor parallel size {pinned} on {accel}: "
                + "; ".join(dict.fromkeys(problems))
                + ". Leave tp= out to let the bot pick, or pin a size the model's heads divide by."
            )
        elif chosen is None:
            reasons.append(
                f"No way to split {facts.model_id} over {accel}: "
                + "; ".join(dict.fromkeys(problems))
                + ". Pick a GPU count the model's heads divide by (1, 2, 4 or 8)."
            )
        else:
            reasons += _memory_reasons(
                facts,
                accel,
                chosen,
                asked=asked,
                floor=floor,
                model_max=model_max if asked is None else allowed,
            )
    if asked is not None and asked < floor:
        # The user's choice (SkyPilot's own Qwen examples serve at 1,024): a note, never a refusal.
        warnings.append(
            f"A context of {asked:,} tokens leaves little room for a prompt and its answer; "
            "longer chats will be cut off."
        )

    if chosen is not None:
        layout = chosen.layout
        kv_gib = chosen.kv_gib(context)
        memory = MemoryBreakdown(
            weights=round(chosen.weights_gib, 2),
            kv_cache=round(kv_gib, 2),
            overhead=round(chosen.overhead_gib, 2),
            total=round(chosen.weights_gib + kv_gib + chosen.overhead_gib, 2),
            usable=round(chosen.usable_gib, 2),
        )
        fraction = chosen.profile.memory_fraction
        capacity = chosen.capacity(context)
    else:
        capacity = KVCapacity(0.0, 0, 0.0)
        layout = Layout(1, 1, accel.count)
        memory = MemoryBreakdown(0.0, 0.0, 0.0, 0.0, round(gpu.memory_gib, 2))
        fraction = engine_profile(options.engine, gpu, fraction=options.memory_fraction).memory_fraction

    reasons_fraction, warnings_fraction = _fraction_check(options, layout, fraction, gpu.memory_gib)
    reasons += reasons_fraction
    warnings += warnings_fraction
    spare = memory.usable - memory.total
    if (
        facts.is_multimodal
        and options.engine == "vllm"
        and chosen is not None
        and spare < MULTIMODAL_MARGIN_GIB
    ):
        warnings.append(
            f"Only {spare:.1f} GiB per GPU is spare and vLLM also profiles the vision encoder at start-up; "
            "a shorter context or --limit-mm-per-prompt leaves room for it."
        )
    if facts.needs_trust_remote_code:
        warnings.append(f"{facts.model_id} runs its own Python code from the repo (--trust-remote-code).")
    if options.draft_model and draft_facts is None:
        warnings.append(f"The draft model {options.draft_model}'s size is unknown and was not counted.")
    if accel.nodes > 1 and layout.pp > 1:
        warnings.append(
            f"The model spans {accel.nodes} nodes (pipeline parallel {layout.pp}); start-up takes longer."
        )

    return Plan(
        model_id=facts.model_id,
        revision=facts.revision,
        engine=options.engine,
        accelerators=str(accel),
        gpu_name=gpu.name,
        gpu_count=accel.count,
        fits=not reasons,
        tensor_parallel=layout.tp,
        pipeline_parallel=layout.pp,
        data_parallel=layout.dp,
        expert_parallel=expert_parallel_size(options.engine, layout),
        nodes=accel.nodes,
        max_context_tokens=int(context),
        memory_per_gpu_gib=memory,
        price_per_hour=price_per_hour(gpu, accel.count, live=False).per_hour,
        dtype=dtype,
        quantization=decision.flag,
        kv_cache_dtype=options.kv_cache_dtype,
        memory_fraction=fraction,
        draft_model=options.draft_model,
        speculative_tokens=options.speculative_tokens,
        speculative_method=options.speculative_method,
        trust_remote_code=facts.needs_trust_remote_code,
        reasons=list(dict.fromkeys(reasons)),
        warnings=list(dict.fromkeys(warnings)),
        kv_cache_capacity_gib=round(capacity.gib, 2),
        kv_cache_tokens=capacity.tokens,
        max_concurrency=round(capacity.concurrency, 2),
        rope_scaling=rope.params,
    )


def _pinned_tp_problem(tp: int, accel: AcceleratorRequest) -> str | None:
    """Why a pinned tensor parallel size cannot use these GPUs (before any model rule), or None."""
    if tp > accel.gpus_per_node:
        where = f"{accel.gpus_per_node} per node" if accel.nodes > 1 else f"{accel.count}"
        return (
            f"Tensor parallel size {tp} needs {tp} GPUs in one node, but {accel} has {where}. "
            f"Pin tp={accel.gpus_per_node} or less, or leave tp= out and let the bot pick."
        )
    if accel.count % tp:
        return (
            f"Tensor parallel size {tp} does not divide the {accel.count} GPUs of {accel}; "
            f"pin a tp that divides {accel.count}, or ask for a multiple of {tp} GPUs."
        )
    return None


def _fraction_check(
    options: FitOptions, layout: Layout, fraction: float, gpu_memory_gib: float
) -> tuple[list[str], list[str]]:
    """A memory fraction so close to 1 that what vLLM keeps outside it (CUDA graphs, NCCL) runs out."""
    if options.engine != "vllm" or options.memory_fraction is None or fraction <= VLLM_MAX_SAFE_FRACTION:
        return [], []
    left = gpu_memory_gib * (1 - fraction)
    if layout.tp * layout.pp > 1:
        return [
            f"A memory fraction of {fraction:g} leaves {left:.1f} GiB per GPU outside vLLM's budget for CUDA "
            f"graphs and NCCL buffers; at TP {layout.tp} that runs out of memory after start-up (vLLM's "
            f"gpt-oss recipe: 0.95 at TP 2 on H100). Use mem={VLLM_MAX_SAFE_FRACTION:g} or less."
        ], []
    return [], [
        f"A memory fraction of {fraction:g} leaves only {left:.1f} GiB outside vLLM's budget (CUDA graphs "
        f"and the allocator live there); {VLLM_MAX_SAFE_FRACTION:g} or less is safer."
    ]


def _memory_reasons(
    facts: ModelFacts, accel: AcceleratorRequest, s: Sizing, *, asked: int | None, floor: int, model_max: int
) -> list[str]:
    layout = s.layout
    split = f"TP {layout.tp}" + (f" x PP {layout.pp}" if layout.pp > 1 else "")
    engine_frac = f"{s.profile.memory_fraction:g} of {accel.gpu.memory_gib:g} GiB"
    room = s.usable_gib - s.overhead_gib
    if s.weights_gib > room:
        return [
            f"The weights alone need {s.weights_gib:.1f} GiB per GPU at {split} on {accel}, but only "
            f"{room:.1f} GiB is free for them ({engine_frac}, less {s.overhead_gib:.1f} GiB of activations "
            "and buffers)."
        ]
    want = asked if asked is not None else floor
    kv_need = s.kv_gib(want)
    fits_tokens = _round_context(s.max_tokens, model_max)
    # vLLM refuses to start when one max-length request does not fit its KV budget; SGLang starts and
    # caps every request at its pool (scheduler: max_req_len = min(context_len, max_total_num_tokens) - 1).
    outcome = (
        "SGLang would start but reject every request longer than its KV pool"
        if s.profile.engine == "sglang"
        else "the engine refuses to start"
    )
    left = "is left" if s.profile.engine == "vllm" else "is left for its KV pool"
    reason = (
        f"One request of {want:,} tokens needs {kv_need:.1f} GiB of KV cache per GPU, but only "
        f"{max(0.0, s.kv_budget_gib):.1f} GiB {left} after {s.weights_gib:.1f} GiB of weights"
        + (f" and {s.overhead_gib:.1f} GiB of activations" if s.overhead_gib else "")
        + f" ({split} on {accel}); {outcome}."
    )
    if fits_tokens >= floor:
        reason += f" The longest context that fits is about {format_tokens(fits_tokens)} tokens."
    return [reason]
