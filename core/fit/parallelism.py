"""Which tensor / pipeline / data / expert parallel layouts the engines accept for a model and a GPU count.

Rules (engines.md, memory.md): TP divides the attention heads, and TP and the KV heads divide one
another; FP8 block-quantized and group-quantized (AWQ/GPTQ) checkpoints need each rank's share of
the MLP width to be whole blocks/groups, otherwise MoE experts must go expert-parallel. TP stays
inside one node; PP spans nodes only when one node is not enough; DP takes the GPUs that are left.

MoE under vLLM data parallelism: vLLM's FusedMoE flattens TP across DP (`flatten_tp_across_dp` in
vllm/model_executor/layers/fused_moe/config.py), so without `--enable-expert-parallel` the routed
experts are split DP x TP ways, and with it whole experts spread over EP = DP x TP ranks. The
per-expert block rule therefore applies at DP x TP. SGLang's DP replicas (without DP attention) are
independent engines: its MoE layers split over the TP group (EP lives inside it), so its rule stays at TP.
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


def block_allows(
    facts: ModelFacts, tp: int, *, expert_parallel: bool, moe_ranks: int | None = None
) -> str | None:
    """None when every TP-sharded MLP keeps whole quantization blocks per rank.

    `moe_ranks` is how many ways the routed experts are split when not expert-parallel (vLLM with
    data parallelism: DP x TP); it defaults to `tp`.
    """
    block = _block(facts)
    moe_ranks = moe_ranks or tp
    if max(tp, moe_ranks) == 1 or (not block and moe_ranks == tp):
        return None  # unquantized widths split over TP are the heads rule's business
    widths: list[tuple[str, int, int, str]] = []
    if _has_dense_mlp(facts) and facts.intermediate_size:
        widths.append(("intermediate_size", facts.intermediate_size, tp, "TP"))
    moe = facts.moe
    if moe is not None:
        if moe.shared_expert_intermediate_size:
            widths.append(("shared expert intermediate_size", moe.shared_expert_intermediate_size, tp, "TP"))
        if not expert_parallel and moe.moe_intermediate_size:
            split = "TP" if moe_ranks == tp else "DP x TP"
            widths.append(("moe_intermediate_size", moe.moe_intermediate_size, moe_ranks, split))
    for name, width, ranks, split in widths:
        if not block and split == "TP":
            continue
        if ranks > 1 and (width % ranks or (block and (width // ranks) % block)):
            if width % ranks:
                return f"{name} {width} does not split {split} {ranks} ways"
            return (
                f"{name} {width} / {split} {ranks} = {width / ranks:g} is not divisible by weight "
                f"quantization block_n = {block}"
            )
    return None


def tp_problem(
    facts: ModelFacts, tp: int, *, expert_parallel: bool, moe_ranks: int | None = None
) -> str | None:
    return heads_allow(facts, tp) or block_allows(
        facts, tp, expert_parallel=expert_parallel, moe_ranks=moe_ranks
    )


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def candidate_layouts(
    facts: ModelFacts, *, count: int, per_node: int, nodes: int, tp: int | None = None
) -> list[Layout]:
    """Layouts that use exactly `count` GPUs, in order of preference.

    1. TP alone, smallest first, the GPUs left over as data-parallel replicas: the caller sizes each
       layout and takes the first that fits, so DP is added only when one replica (TP GPUs) already
       holds the model and its context;
    2. for MoE models the same with expert parallelism (vLLM: EP = TP x DP; SGLang: EP = TP), which
       the FP8 block rule may require;
    3. TP x PP over every GPU, the fewest stages first: PP across nodes, or inside a node whose GPU
       count no valid TP spans (then their EP twins). TP stays within a node; no DP beside PP.
    `tp` pins the tensor parallel size.
    """
    layouts: list[Layout] = []
    for t in _divisors(per_node):
        if tp is not None and t != tp:
            continue
        for pp in _divisors(count // t) if count % t == 0 else []:
            dp = count // (t * pp)
            if pp > 1 and dp > 1:
                continue
            if t * pp > per_node and t != per_node:
                continue  # a replica spanning nodes keeps whole nodes per stage
            layouts.append(Layout(t, pp, dp))
    flat = sorted((layout for layout in layouts if layout.pp == 1), key=lambda layout: layout.tp)
    piped = sorted(
        (layout for layout in layouts if layout.pp > 1), key=lambda layout: (layout.tp * layout.pp, layout.pp)
    )

    def twins(group: list[Layout]) -> list[Layout]:
        if facts.moe is None:
            return []
        return [replace(layout, expert_parallel=True) for layout in group if layout.tp * layout.dp > 1]

    return flat + twins(flat) + piped + twins(piped)


def moe_split(engine: str, layout: Layout) -> int:
    """How many ways the routed experts are split (vLLM flattens TP across DP; SGLang splits by TP)."""
    return layout.tp * layout.dp if engine == "vllm" else layout.tp


def layout_problem(facts: ModelFacts, layout: Layout, *, engine: str = "vllm") -> str | None:
    """Why the engine refuses this layout, or None."""
    moe_ranks = moe_split(engine, layout) if facts.moe is not None else layout.tp
    problem = tp_problem(facts, layout.tp, expert_parallel=layout.expert_parallel, moe_ranks=moe_ranks)
    if problem:
        return problem
    if layout.pp > facts.num_layers:
        return f"pipeline parallel size {layout.pp} exceeds the model's {facts.num_layers} layers"
    if layout.expert_parallel and facts.moe is not None:
        ep = moe_split(engine, layout)
        if facts.moe.num_experts % ep and ep % facts.moe.num_experts:
            return f"{facts.moe.num_experts} experts do not split over expert-parallel size {ep}"
    return None
