"""Which tensor / pipeline / data / expert parallel layouts the engines accept for a model and a GPU count.

Rules (engines.md, memory.md): TP divides the attention heads, and TP and the KV heads divide one
another; FP8 block-quantized and group-quantized (AWQ/GPTQ) checkpoints need each rank's share of
the MLP width to be whole blocks/groups, otherwise MoE experts must go expert-parallel. TP stays
inside one node; PP spans nodes only when one node is not enough; DP takes the GPUs that are left.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.facts import ModelFacts


@dataclass(frozen=True)
class Layout:
    """One way of splitting a model over the GPUs asked for."""

    tp: int
    pp: int
    dp: int
    expert_parallel: bool = False

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp


def heads_allow(facts: ModelFacts, tp: int) -> str | None:
    """None when the attention heads split over tp ranks, else the engine's complaint."""
    if facts.num_attention_heads % tp:
        return (
            f"Total number of attention heads ({facts.num_attention_heads}) must be divisible by "
            f"tensor parallel size ({tp})"
        )
    kv = facts.num_kv_heads
    if facts.mla is None and kv % tp and tp % kv:
        return f"KV heads ({kv}) and tensor parallel size ({tp}) must divide one another"
    return None


def _block(facts: ModelFacts) -> int | None:
    q = facts.quantization
    if q is None:
        return None
    if q.weight_block_size:
        return q.weight_block_size[1]  # block_n along the output dim; square in practice
    if q.method in {"awq", "gptq"} and q.group_size:
        return q.group_size
    return None


def _has_dense_mlp(facts: ModelFacts) -> bool:
    moe = facts.moe
    return moe is None or (moe.num_moe_layers is not None and moe.num_moe_layers < facts.num_layers)


def block_allows(facts: ModelFacts, tp: int, *, expert_parallel: bool) -> str | None:
    """None when every TP-sharded MLP keeps whole quantization blocks per rank."""
    block = _block(facts)
    if not block or tp == 1:
        return None
    widths: list[tuple[str, int]] = []
    if _has_dense_mlp(facts) and facts.intermediate_size:
        widths.append(("intermediate_size", facts.intermediate_size))
    moe = facts.moe
    if moe is not None:
        if moe.shared_expert_intermediate_size:
            widths.append(("shared expert intermediate_size", moe.shared_expert_intermediate_size))
        if not expert_parallel and moe.moe_intermediate_size:
            widths.append(("moe_intermediate_size", moe.moe_intermediate_size))
    for name, width in widths:
        if width % tp or (width // tp) % block:
            return (
                f"{name} {width} / TP {tp} = {width / tp:g} is not divisible by weight quantization "
                f"block_n = {block}"
            )
    return None


def tp_problem(facts: ModelFacts, tp: int, *, expert_parallel: bool) -> str | None:
    return heads_allow(facts, tp) or block_allows(facts, tp, expert_parallel=expert_parallel)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def candidate_layouts(facts: ModelFacts, *, count: int, per_node: int, nodes: int) -> list[Layout]:
    """Layouts that use exactly `count` GPUs, in order of preference.

    1. TP within one node, smallest first, the other GPUs as DP replicas;
    2. TP across each node's GPUs with one pipeline stage per node (only when nodes > 1);
    3. for MoE models, the same with expert parallelism (vLLM: EP = TP x DP; SGLang: EP = TP), which
       the FP8 block rule may require and which spreads experts over DP replicas;
    4. PP inside a node, only for GPU counts no valid TP can span (3 or 6 GPUs and 32 heads, ...).
    """
    plain = [Layout(tp, 1, count // tp) for tp in _divisors(per_node)]
    if nodes > 1:
        plain.append(Layout(per_node, nodes, 1))
    layouts = list(plain)
    if facts.moe is not None:
        layouts += [replace(layout, expert_parallel=True) for layout in plain if layout.tp * layout.dp > 1]
    if heads_allow(facts, per_node):
        for pp in _divisors(per_node)[1:]:
            layouts.append(Layout(per_node // pp, pp * nodes, 1))
    seen: set[Layout] = set()
    ordered = []
    for layout in layouts:
        if layout.gpus == count and layout not in seen:
            seen.add(layout)
            ordered.append(layout)
    return ordered


def layout_problem(facts: ModelFacts, layout: Layout) -> str | None:
    """Why the engine refuses this layout, or None."""
    problem = tp_problem(facts, layout.tp, expert_parallel=layout.expert_parallel)
    if problem:
        return problem
    if layout.pp > facts.num_layers:
        return f"pipeline parallel size {layout.pp} exceeds the model's {facts.num_layers} layers"
    if layout.expert_parallel and facts.moe is not None:
        ep = layout.tp * layout.dp
        if facts.moe.num_experts % ep and ep % facts.moe.num_experts:
            return f"{facts.moe.num_experts} experts do not split over expert-parallel size {ep}"
    return None
