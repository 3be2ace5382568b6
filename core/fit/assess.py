"""The verdict for one model on one accelerator request, without suggestions or the engine command.

`assess` is the fast inner loop that `check_fit`, the suggestions and `cheapest_shapes` all call: it
tries every layout the engine accepts (`parallelism.candidate_layouts`), sizes each with
`memory`, and picks the first that serves the context asked for (or, with no length given, the full
model context, else the longest that fits). When none fits it explains every reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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
from core.fit.reasons import Reason, ReasonKind, reasons_of, unique
from core.fit.rope import apply_rope_scaling, yarn_hint
from core.gpus import AcceleratorRequest, GpuSpec
from core.pricing import price_per_hour
from core.units import format_tokens  # re-exported: the CLI and suggestions read it here

MIN_CONTEXT = (
    2048  # the shortest context the bot picks by itself; a user may ask for less (a note, not a refusal)
)
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


@dataclass
class _Notes:
    """What a check found so far: reasons it does not fit (in order) and warnings."""

    reasons: list[Reason] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def refuse(self, kind: ReasonKind, texts: Iterable[str]) -> None:
        self.reasons += reasons_of(kind, texts)


@dataclass(frozen=True)
class _Window:
    """The context asked for, against what the model allows."""

    model_max: int  # the model's maximum (max_position_embeddings, stretched by YaRN)
    allowed: int  # an explicit context may go beyond model_max (model_max_length)
    asked: int | None
    floor: int  # the shortest context the bot picks by itself
    cap: int  # the longest context sized for

    def room(self, s: Sizing) -> int:
        return s.max_tokens if self.asked is not None else s.safe_tokens

    def served(self, chosen: Sizing) -> int:
        """The context a fitting layout serves: the one asked for, else the longest it holds (rounded)."""
        return self.asked if self.asked is not None else _round_context(chosen.safe_tokens, self.model_max)

    @property
    def shortest(self) -> int:
        """When nothing fits, the context the reasons speak of: the one asked for, else the shortest useful."""
        return self.asked if self.asked is not None else self.floor


def _context_window(facts: ModelFacts, options: FitOptions, notes: _Notes) -> _Window:
    model_max = facts.max_position_embeddings
    allowed = facts.max_context_allowed
    asked = options.max_model_len
    if asked is not None and asked > allowed:
        notes.refuse(ReasonKind.CONTEXT, [
            yarn_hint(facts, asked)
            or f"{facts.model_id} supports at most {allowed:,} tokens ({format_tokens(allowed)}); the engine refuses "
            f"a context of {asked:,}. Ask for {format_tokens(allowed)} or less."
        ])  # fmt: skip
    cap = model_max if asked is None else min(asked, allowed)
    return _Window(model_max, allowed, asked, min(MIN_CONTEXT, model_max), cap)


def _weights_as_run(
    facts: ModelFacts, gpu: GpuSpec, options: FitOptions, notes: _Notes
) -> tuple[QuantDecision, str, int]:
    """What the weights run as on this GPU, and everything the engine refuses about it there."""
    decision = decide_quantization(facts, options)
    notes.refuse(ReasonKind.QUANTIZATION, decision.reasons)
    notes.warnings += decision.warnings
    hw_reasons, hw_warnings = hardware_check(decision, gpu, options.engine)
    notes.refuse(ReasonKind.QUANTIZATION_SUPPORT, hw_reasons)
    notes.warnings += hw_warnings
    dtype, dtype_bytes, dtype_warnings = resolve_dtype(facts, options, gpu)
    notes.warnings += dtype_warnings
    # What the engine refuses on this GPU besides quantization (judged above for the method the
    # weights really run as): an explicit bfloat16 before Ampere, a GPU older than the engine supports.
    notes.refuse(
        ReasonKind.HARDWARE,
        hardware_rejections(engine=options.engine, options=options, gpu=gpu, quantization=False),
    )
    return decision, dtype, dtype_bytes


def _engine_layout_problem(options: FitOptions, accel: AcceleratorRequest, layout: Layout) -> str | None:
    """What SGLang refuses about a layout the model itself would allow; None: nothing."""
    if options.engine != "sglang":
        return None
    if accel.nodes > 1 and layout.dp > 1:
        # SGLang stops at start-up: "multi-node data parallel is not supported unless dp attention!"
        return "SGLang cannot spread data-parallel replicas over nodes (one node, or engine=vllm)"
    if layout.pp > 1 and (options.draft_model or options.speculative_method):
        # SGLang: "PP + speculative decoding is only supported in disaggregated prefill mode".
        return (
            "SGLang cannot combine pipeline parallelism with speculative decoding (no draft, or engine=vllm)"
        )
    return None


def _size_candidates(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    *,
    decision: QuantDecision,
    dtype_bytes: int,
    draft: ModelFacts | None,
    cap: int,
) -> tuple[list[Sizing], list[str]]:
    """Every layout the engine accepts for these GPUs, sized; and why the others were left out."""
    sized: list[Sizing] = []
    problems: list[str] = []
    for layout in candidate_layouts(
        facts, count=accel.count, per_node=accel.gpus_per_node, nodes=accel.nodes, tp=options.tensor_parallel
    ):
        if options.engine == "sglang" and layout.expert_parallel and layout.tp == 1:
            continue  # SGLang's EP lives inside the TP group
        problem = _engine_layout_problem(options, accel, layout)
        if problem:
            problems.append(problem)
            continue
        problem = layout_problem(facts, layout, engine=options.engine)
        if problem:
            problems.append(
                f"TP {layout.tp}" + (" with EP" if layout.expert_parallel else "") + f": {problem}"
            )
            continue
        sized.append(
            size_layout(facts, accel, options, layout, decision=decision, dtype_bytes=dtype_bytes,
                        draft=draft, cap=cap)
        )  # fmt: skip
    return sized, problems


def _pick_best_effort(sized: list[Sizing], window: _Window, notes: _Notes) -> Sizing | None:
    """With no context asked for and the full one out of reach: the layout with the most room, if useful."""
    best = max(sized, key=window.room, default=None)
    if best is None or best.safe_tokens < window.floor:
        return None
    notes.warnings.append(
        f"Memory limits the context to {format_tokens(_round_context(best.safe_tokens, window.model_max))} tokens of the "
        f"model's {format_tokens(window.model_max)}; more GPUs or an fp8 KV cache would allow more."
    )
    return best


def _nothing_fits(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    window: _Window,
    sized: list[Sizing],
    problems: list[str],
    notes: _Notes,
) -> Sizing | None:
    """Say why no layout fits; returns the layout that needs the least memory per GPU (None: no layout)."""
    chosen = min(sized, key=lambda s: (s.weights_gib, -s.max_tokens), default=None)
    pinned = options.tensor_parallel
    if chosen is not None:
        notes.reasons += _memory_reasons(
            facts, accel, chosen, asked=window.asked, floor=window.floor,
            model_max=window.model_max if window.asked is None else window.allowed,
        )  # fmt: skip
    elif pinned:
        notes.refuse(ReasonKind.PINNED_LAYOUT, [
            f"{facts.model_id} cannot run at tensor parallel size {pinned} on {accel}: "
            + "; ".join(dict.fromkeys(problems))
            + ". Leave tp= out to let the bot pick, or pin a size the model's heads divide by."
        ])  # fmt: skip
    else:
        notes.refuse(ReasonKind.LAYOUT, [
            f"No way to split {facts.model_id} over {accel}: "
            + "; ".join(dict.fromkeys(problems))
            + ". Pick a GPU count the model's heads divide by (1, 2, 4 or 8)."
        ])  # fmt: skip
    return chosen


def _choose(sized: list[Sizing], window: _Window, notes: _Notes) -> Sizing | None:
    """The first layout that serves the whole window; with no context asked for, else the roomiest."""
    chosen = next((s for s in sized if window.room(s) >= window.cap), None)
    if chosen is None and window.asked is None:
        chosen = _pick_best_effort(sized, window, notes)
    return chosen


@dataclass(frozen=True)
class _Outcome:
    """The chosen layout's numbers as the plan reports them (placeholders when nothing fits)."""

    layout: Layout
    memory: MemoryBreakdown
    fraction: float
    capacity: KVCapacity


def _outcome(chosen: Sizing | None, context: int, accel: AcceleratorRequest, options: FitOptions) -> _Outcome:
    if chosen is None:
        fraction = engine_profile(options.engine, accel.gpu, fraction=options.memory_fraction).memory_fraction
        memory = MemoryBreakdown(0.0, 0.0, 0.0, 0.0, round(accel.gpu.memory_gib, 2))
        return _Outcome(Layout(1, 1, accel.count), memory, fraction, KVCapacity(0.0, 0, 0.0))
    kv_gib = chosen.kv_gib(context)
    memory = MemoryBreakdown(
        weights=round(chosen.weights_gib, 2),
        kv_cache=round(kv_gib, 2),
        overhead=round(chosen.overhead_gib, 2),
        total=round(chosen.weights_gib + kv_gib + chosen.overhead_gib, 2),
        usable=round(chosen.usable_gib, 2),
    )
    return _Outcome(chosen.layout, memory, chosen.profile.memory_fraction, chosen.capacity(context))


def _closing_notes(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    outcome: _Outcome,
    *,
    has_layout: bool,
    draft_facts: ModelFacts | None,
    notes: _Notes,
) -> None:
    """The memory fraction's limits and what the user should know about the chosen layout."""
    layout, memory = outcome.layout, outcome.memory
    reasons_fraction, warnings_fraction = _fraction_check(
        options, layout, outcome.fraction, accel.gpu.memory_gib
    )
    notes.refuse(ReasonKind.FRACTION, reasons_fraction)
    notes.warnings += warnings_fraction
    spare = memory.usable - memory.total
    if facts.is_multimodal and options.engine == "vllm" and has_layout and spare < MULTIMODAL_MARGIN_GIB:
        notes.warnings.append(
            f"Only {spare:.1f} GiB per GPU is spare and vLLM also profiles the vision encoder at start-up; "
            "a shorter context or --limit-mm-per-prompt leaves room for it."
        )
    if facts.needs_trust_remote_code:
        notes.warnings.append(
            f"{facts.model_id} runs its own Python code from the repo (--trust-remote-code)."
        )
    if options.draft_model and draft_facts is None:
        notes.warnings.append(f"The draft model {options.draft_model}'s size is unknown and was not counted.")
    if accel.nodes > 1 and layout.pp > 1:
        notes.warnings.append(
            f"The model spans {accel.nodes} nodes (pipeline parallel {layout.pp}); start-up takes longer."
        )


def assess(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    *,
    draft_facts: ModelFacts | None = None,
) -> Plan:
    """The plan for `facts` on `accel`: layout, context, memory per GPU, reasons and warnings."""
    rope = apply_rope_scaling(facts, options)  # YaRN: a longer maximum context, sized as such
    facts = rope.facts
    notes = _Notes(reasons_of(ReasonKind.ROPE, rope.reasons), list(rope.warnings))
    decision, dtype, dtype_bytes = _weights_as_run(facts, accel.gpu, options, notes)
    window = _context_window(facts, options, notes)
    pin_problem = _pinned_tp_problem(options.tensor_parallel, accel) if options.tensor_parallel else None
    chosen: Sizing | None = None
    context = window.shortest
    if pin_problem:
        notes.refuse(ReasonKind.PINNED_LAYOUT, [pin_problem])
    else:
        sized, problems = _size_candidates(
            facts,
            accel,
            options,
            decision=decision,
            dtype_bytes=dtype_bytes,
            draft=draft_facts,
            cap=window.cap,
        )
        chosen = _choose(sized, window, notes)
        if chosen is not None:
            context = window.served(chosen)
        else:  # report the layout that needs the least memory per GPU, and why it does not fit
            chosen = _nothing_fits(facts, accel, options, window, sized, problems, notes)
    if window.asked is not None and window.asked < window.floor:
        # The user's choice (SkyPilot's own Qwen examples serve at 1,024): a note, never a refusal.
        notes.warnings.append(
            f"A context of {window.asked:,} tokens leaves little room for a prompt and its answer; "
            "longer chats will be cut off."
        )
    outcome = _outcome(chosen, context, accel, options)
    _closing_notes(
        facts, accel, options, outcome, has_layout=chosen is not None, draft_facts=draft_facts, notes=notes
    )
    return _plan(facts, accel, options, outcome, context=context, decision=decision, dtype=dtype,
                 notes=notes, rope_params=rope.params)  # fmt: skip


def _plan(
    facts: ModelFacts,
    accel: AcceleratorRequest,
    options: FitOptions,
    outcome: _Outcome,
    *,
    context: int,
    decision: QuantDecision,
    dtype: str,
    notes: _Notes,
    rope_params: dict[str, Any] | None,
) -> Plan:
    layout, capacity, memory, fraction = outcome.layout, outcome.capacity, outcome.memory, outcome.fraction
    return Plan(
        model_id=facts.model_id,
        revision=facts.revision,
        engine=options.engine,
        accelerators=str(accel),
        gpu_name=accel.gpu.name,
        gpu_count=accel.count,
        fits=not notes.reasons,
        tensor_parallel=layout.tp,
        pipeline_parallel=layout.pp,
        data_parallel=layout.dp,
        expert_parallel=expert_parallel_size(options.engine, layout),
        nodes=accel.nodes,
        max_context_tokens=int(context),
        memory_per_gpu_gib=memory,
        price_per_hour=price_per_hour(accel.gpu, accel.count, live=False).per_hour,
        dtype=dtype,
        quantization=decision.flag,
        kv_cache_dtype=options.kv_cache_dtype,
        memory_fraction=fraction,
        draft_model=options.draft_model,
        speculative_tokens=options.speculative_tokens,
        speculative_method=options.speculative_method,
        trust_remote_code=facts.needs_trust_remote_code,
        refusals=unique(notes.reasons),
        warnings=list(dict.fromkeys(notes.warnings)),
        kv_cache_capacity_gib=round(capacity.gib, 2),
        kv_cache_tokens=capacity.tokens,
        max_concurrency=round(capacity.concurrency, 2),
        rope_scaling=rope_params,
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
) -> list[Reason]:
    """Why the layout that needs the least memory does not fit: the weights, or one request's KV cache."""
    layout = s.layout
    split = f"TP {layout.tp}" + (f" x PP {layout.pp}" if layout.pp > 1 else "")
    engine_frac = f"{s.profile.memory_fraction:g} of {accel.gpu.memory_gib:g} GiB"
    room = s.usable_gib - s.overhead_gib
    if s.weights_gib > room:
        return reasons_of(ReasonKind.WEIGHTS, [
            f"The weights alone need {s.weights_gib:.1f} GiB per GPU at {split} on {accel}, but only "
            f"{room:.1f} GiB is free for them ({engine_frac}, less {s.overhead_gib:.1f} GiB of activations "
            "and buffers)."
        ])  # fmt: skip
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
    return [Reason(ReasonKind.KV_ROOM, reason)]
