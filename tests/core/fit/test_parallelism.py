"""Layouts the engines accept: head divisibility, KV-head divisibility, the FP8 block rule, EP, PP."""

from __future__ import annotations

from core.fit.parallelism import Layout, candidate_layouts, heads_allow, layout_problem, tp_problem
from tests.core.fit.conftest import facts_of


def test_tp_must_divide_attention_heads():
    qwen7b = facts_of("Qwen/Qwen2.5-7B-Instruct")  # 28 heads, 4 KV heads
    assert heads_allow(qwen7b, 4) is None
    assert "must be divisible by tensor parallel size (8)" in heads_allow(qwen7b, 8)
    assert heads_allow(qwen7b, 3) is not None


def test_tp_and_kv_heads_must_divide_one_another():
    phi4 = facts_of("microsoft/phi-4")  # 40 heads, 10 KV heads
    assert heads_allow(phi4, 2) is None  # 10 % 2 == 0
    assert "KV heads (10)" in heads_allow(phi4, 4)  # neither 10 % 4 nor 4 % 10
    qwen235 = facts_of("Qwen/Qwen3-235B-A22B")  # 4 KV heads
    assert heads_allow(qwen235, 8) is None  # 8 % 4 == 0: heads replicated


def test_mla_ignores_kv_head_rule():
    assert heads_allow(facts_of("deepseek-ai/DeepSeek-V3"), 8) is None


def test_fp8_block_rule_on_moe_intermediate():
    fp8 = facts_of("Qwen/Qwen3-235B-A22B-FP8")  # moe_intermediate 1536, block 128
    assert tp_problem(fp8, 4, expert_parallel=False) is None  # 384 = 3 x 128
    problem = tp_problem(fp8, 8, expert_parallel=False)
    assert "not divisible by weight quantization block_n = 128" in problem and "192" in problem
    assert tp_problem(fp8, 8, expert_parallel=True) is None  # experts whole per rank
    # The bf16 checkpoint has no blocks: TP 8 is fine.
    assert tp_problem(facts_of("Qwen/Qwen3-235B-A22B"), 8, expert_parallel=False) is None


def test_fp8_block_rule_on_dense_and_shared_layers():
    ds = facts_of("deepseek-ai/DeepSeek-V3")  # dense 18432, moe 2048, shared 2048
    assert tp_problem(ds, 8, expert_parallel=False) is None
    assert tp_problem(ds, 16 if ds.num_attention_heads % 16 == 0 else 8, expert_parallel=True) is None
    kimi = facts_of("moonshotai/Kimi-K2-Instruct")
    assert tp_problem(kimi, 8, expert_parallel=False) is None


def test_awq_group_rule():
    awq = facts_of("Qwen/Qwen2.5-72B-Instruct-AWQ")  # intermediate 29696 (padded for TP), group 128
    assert tp_problem(awq, 2, expert_parallel=False) is None
    assert tp_problem(awq, 4, expert_parallel=False) is None
    assert tp_problem(awq, 8, expert_parallel=False) is None  # 3712 = 29 x 128
    unpadded = facts_of("Qwen/Qwen2.5-72B-Instruct")  # no quantization: no group rule
    assert tp_problem(unpadded, 8, expert_parallel=False) is None


def test_candidate_order_smallest_tp_first_then_pp_across_nodes():
    llama = facts_of("meta-llama/Llama-3.1-405B-Instruct")
    layouts = candidate_layouts(llama, count=16, per_node=8, nodes=2)
    assert layouts[0] == Layout(1, 1, 16)
    assert Layout(8, 2, 1) in layouts
    assert layouts.index(Layout(8, 1, 2)) < layouts.index(Layout(8, 2, 1))
    assert all(layout.gpus == 16 for layout in layouts)


def test_moe_gets_expert_parallel_variants_after_plain_ones():
    qwen = facts_of("Qwen/Qwen3-30B-A3B")
    layouts = candidate_layouts(qwen, count=8, per_node=8, nodes=1)
    flat = [layout for layout in layouts if layout.pp == 1]
    plain = [layout for layout in flat if not layout.expert_parallel]
    ep = [layout for layout in flat if layout.expert_parallel]
    assert ep and layouts.index(ep[0]) > layouts.index(plain[-1])


def test_pipeline_inside_a_node_comes_after_every_tp_layout():
    mixtral = facts_of("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert any(layout.pp == 3 for layout in candidate_layouts(mixtral, count=3, per_node=3, nodes=1))
    layouts = candidate_layouts(mixtral, count=8, per_node=8, nodes=1)
    first_pp = next(i for i, layout in enumerate(layouts) if layout.pp > 1)
    assert all(layout.pp == 1 for layout in layouts[:first_pp])
    assert all(layout.pp > 1 for layout in layouts[first_pp:])


def test_pinned_tp_keeps_only_that_tp():
    llama = facts_of("meta-llama/Llama-3.1-8B-Instruct")
    layouts = candidate_layouts(llama, count=4, per_node=8, nodes=1, tp=2)
    assert layouts and all(layout.tp == 2 for layout in layouts)
    assert Layout(2, 1, 2) == layouts[0]


def test_vllm_moe_data_parallel_checks_the_fp8_block_rule_at_dp_x_tp():
    # vLLM flattens MoE TP across DP (fused_moe/config.py, flatten_tp_across_dp): 1536 / 8 = 192.
    qwen = facts_of("Qwen/Qwen3-235B-A22B-FP8")
    problem = layout_problem(qwen, Layout(4, 1, 2), engine="vllm")
    assert problem and "DP x TP 8" in problem and "block_n = 128" in problem
    assert layout_problem(qwen, Layout(4, 1, 2, expert_parallel=True), engine="vllm") is None
    # SGLang's DP replicas are separate engines: its MoE splits over TP only.
    assert layout_problem(qwen, Layout(4, 1, 2), engine="sglang") is None


def test_expert_count_must_split_over_ep():
    mixtral = facts_of("mistralai/Mixtral-8x7B-Instruct-v0.1")  # 8 experts
    assert layout_problem(mixtral, Layout(1, 1, 8, expert_parallel=True)) is None
    assert "experts do not split" in layout_problem(mixtral, Layout(2, 1, 3, expert_parallel=True))
