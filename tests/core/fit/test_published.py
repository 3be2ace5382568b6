"""check_fit against published deployments of popular models that the first round never saw.

Each case names where the outcome was published (model cards, the vLLM blog and recipes, Qwen's and
DeepSeek's serving docs) or, for refusals, the engine rule that produces it. The verdict must be what the
engine really did: "yes" where the deployment ran, "no" where the engine refuses or runs out of memory.
Config fixtures are the repos' config.json dimensions (tests/fixtures/configs).
"""

from __future__ import annotations

import pytest

from core.fit.check import check_fit
from core.fit.memory import GIB, kv_capacity, kv_shape
from core.fit.parallelism import Layout, layout_problem
from core.fit.plan import FitOptions, Plan
from core.fit.reasons import ReasonKind
from tests.core.fit.conftest import accel, facts_of
from tests.core.fit.published_table import (
    KV_LOGS,
    ROWS,
    KVLog,
    Row,
    plan_for,
    predicted_available_gib,
    tolerance_gib,
)


def fit(repo_id: str, accelerators: str, **options) -> Plan:
    return check_fit(facts_of(repo_id), accel(accelerators), FitOptions(**options))


def _kv_reason(plan: Plan) -> bool:
    outcome = "refuses to start" if plan.engine == "vllm" else "reject every request longer"
    return any(r.kind is ReasonKind.KV_ROOM and outcome in r.text for r in plan.refusals)


def _weights_reason(plan: Plan) -> bool:
    return ReasonKind.WEIGHTS in plan.reason_kinds


# --- deployments that ran ------------------------------------------------------------------------

PUBLISHED_YES = [
    # vLLM blog "Llama 4 in vLLM" (2025-04-05): 8x H100 serves Scout at 1M and Maverick-FP8 at ~430K;
    # 8x H200 serves Scout at 3.6M and Maverick-FP8 at its full 1M.
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "H100:8", {"max_model_len": 1_000_000}),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "H200:8", {"max_model_len": 3_600_000}),
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "H100:8", {"max_model_len": 430_000}),
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "H200:8", {"max_model_len": 1_048_576}),
    # DeepSeek-R1 model card: `vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-32B --tensor-parallel-size 2
    # --max-model-len 32768`, and `python3 -m sglang.launch_server ... --tp 2` for SGLang.
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "A100-80GB:2", {"max_model_len": 32768}),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "H100:2", {"engine": "sglang", "max_model_len": 32768}),
    # Same card, the 70B distill (Llama-3.3-70B dimensions) on four 80 GB GPUs.
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "H100:4", {"max_model_len": 32768}),
    # vLLM recipes for Llama-3.3-70B-Instruct: TP 4 on H100 at the full 128k context; SGLang on 8 GPUs.
    ("meta-llama/Llama-3.3-70B-Instruct", "H100:4", {"max_model_len": 131072}),
    ("meta-llama/Llama-3.3-70B-Instruct", "H100:8", {"engine": "sglang", "max_model_len": 131072}),
    # Qwen2.5 speed benchmark (Qwen docs): 32B BF16 through vLLM on one A100 80GB, inputs up to 30720.
    ("Qwen/Qwen2.5-32B-Instruct", "A100-80GB:1", {"max_model_len": 32768}),
    ("Qwen/Qwen2.5-Coder-32B-Instruct", "A100-80GB:1", {"max_model_len": 32768}),
    # QwQ-32B at its full 40k on two H100s (Qwen's deployment guide uses TP 2 and more for 32B).
    ("Qwen/QwQ-32B", "H100:2", {"max_model_len": 40960}),
    # MiniMax-M2 vLLM recipe: four 96-141 GB GPUs with TP 4 serve the full 196k context.
    ("MiniMaxAI/MiniMax-M2", "H200:4", {}),
    # hugging-quants card: the 70B AWQ INT4 needs ~35 GiB to load; one A100 80GB serves it.
    ("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", "A100-80GB:1", {"max_model_len": 8192}),
    # vLLM's CI and examples run DeepSeek-V2-Lite on one GPU; MLA keeps 160k tokens at ~4.6 GiB.
    ("deepseek-ai/DeepSeek-V2-Lite-Chat", "A100-80GB:1", {}),
    # Gemma-2-27B in bf16 on one 80 GB GPU (Google's card: a single A100/H100).
    ("google/gemma-2-27b-it", "A100-80GB:1", {}),
    # Cohere's card: 128k context; the config says 8192 but model_max_length 131072 lets it be asked for.
    ("CohereForAI/c4ai-command-r-v01", "A100-80GB:4", {"max_model_len": 131072}),
    # Llama-3.2 1B at its full 128k on a free-tier T4 (bfloat16 checkpoint served in float16).
    ("meta-llama/Llama-3.2-1B-Instruct", "T4:1", {"max_model_len": 131072}),
    ("meta-llama/Llama-3.2-3B-Instruct", "T4:1", {"max_model_len": 8192}),
    ("microsoft/Phi-4-mini-instruct", "T4:1", {"max_model_len": 16384}),
    ("01-ai/Yi-34B-Chat", "A100-80GB:1", {}),
    ("mistralai/Mistral-Large-Instruct-2411", "H100:8", {"max_model_len": 131072}),
]


@pytest.mark.parametrize(("repo_id", "accelerators", "options"), PUBLISHED_YES)
def test_published_deployments_fit(repo_id, accelerators, options):
    plan = fit(repo_id, accelerators, **options)
    assert plan.fits, plan.reasons
    m = plan.memory_per_gpu_gib
    assert m.total <= m.usable
    if "max_model_len" in options:
        assert plan.max_context_tokens == options["max_model_len"]


# --- what the engines refuse ----------------------------------------------------------------------


def test_llama_33_70b_at_128k_on_two_h100s_runs_out_of_kv():
    # 320 KiB/token (80 layers x 8 KV heads): 20 GiB per GPU at TP 2 beside 65.7 GiB of weights.
    plan = fit("meta-llama/Llama-3.3-70B-Instruct", "H100:2", max_model_len=131072)
    assert not plan.fits and _kv_reason(plan)
    assert plan.memory_per_gpu_gib.kv_cache == pytest.approx(20.0, abs=0.05)
    assert any("max_model_len" in s.changes for s in plan.suggestions)


def test_mistral_nemo_full_million_token_context_is_refused_but_a_shorter_one_fits():
    # config.json states 1,024,000 tokens; vLLM started without --max-model-len fails its KV check
    # (160 KiB/token = 156 GiB). The bot picks a context that fits instead and says so.
    nemo = "mistralai/Mistral-Nemo-Instruct-2407"
    asked = fit(nemo, "A100-80GB:1", max_model_len=1_024_000)
    assert not asked.fits and _kv_reason(asked)
    picked = fit(nemo, "A100-80GB:1")
    assert picked.fits and 200_000 < picked.max_context_tokens < 1_024_000
    assert any("limits the context" in w for w in picked.warnings)
    # 12.2B in bf16 (22.8 GiB) does not load on a 24 GB L4.
    assert _weights_reason(fit(nemo, "L4:1", max_model_len=8192))


def test_mistral_7b_bf16_does_not_load_on_a_t4():
    # 7.24B x 2 bytes = 13.5 GiB against 13.4 GiB usable: Colab users switch to an AWQ checkpoint.
    plan = fit("mistralai/Mistral-7B-Instruct-v0.2", "T4:1", max_model_len=4096)
    assert not plan.fits and _weights_reason(plan)
    assert fit("mistralai/Mistral-7B-Instruct-v0.2", "A10G:1", max_model_len=32768).fits


@pytest.mark.parametrize(
    ("repo_id", "accelerators", "tokens"),
    [
        # 112 KiB/token: 14 GiB at 128k, the whole of a T4.
        ("meta-llama/Llama-3.2-3B-Instruct", "T4:1", 131072),
        # 128 KiB/token: 16 GiB at 128k beside 7.2 GiB of weights on an L4.
        ("microsoft/Phi-4-mini-instruct", "L4:1", 131072),
        # 144 KiB/token: 5.6 GiB at 40k, about 1 GiB more than an L4 keeps after 15.3 GiB of weights
        # (memory.md: Llama-3.1-8B, 15 GiB, leaves ~4.9 GiB on an L4).
        ("Qwen/Qwen3-8B", "L4:1", 40960),
        # 256 KiB/token: 10 GiB at 40k beside 61 GiB of weights and ~3 GiB of activations on one H100.
        ("Qwen/QwQ-32B", "H100:1", 40960),
        # MHA (64 KV heads): 1.25 MiB/token, 80 GiB per GPU at 128k on TP 2.
        ("CohereForAI/c4ai-command-r-v01", "A100-80GB:2", 131072),
    ],
)
def test_full_context_beyond_the_kv_budget_is_refused(repo_id, accelerators, tokens):
    plan = fit(repo_id, accelerators, max_model_len=tokens)
    assert not plan.fits and _kv_reason(plan)
    assert not any("supports at most" in r for r in plan.reasons)
    shorter = [s for s in plan.suggestions if "max_model_len" in s.changes]
    assert shorter and fit(repo_id, accelerators, max_model_len=shorter[0].changes["max_model_len"]).fits


@pytest.mark.parametrize(
    ("repo_id", "accelerators"),
    [
        ("Qwen/Qwen2.5-14B-Instruct", "A10G:1"),  # 27.5 GiB of bf16 weights on 22.5 GiB
        ("Qwen/Qwen3-14B", "L4:1"),
        ("Qwen/Qwen3-8B", "T4:1"),
        ("google/gemma-2-27b-it", "L40S:1"),  # 50.7 GiB on 44.5 GiB
        ("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", "L4:1"),
        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "H100:4"),  # ~377 GiB of FP8 experts
    ],
)
def test_weights_that_do_not_load_are_refused(repo_id, accelerators):
    plan = fit(repo_id, accelerators, max_model_len=4096)
    assert not plan.fits and _weights_reason(plan)


def test_command_r_accepts_contexts_up_to_model_max_length_only():
    # vLLM: an explicit max_model_len above max_position_embeddings is allowed up to model_max_length,
    # beyond it: "User-specified max_model_len (...) is greater than the derived max_model_len".
    plan = fit("CohereForAI/c4ai-command-r-v01", "A100-80GB:4", max_model_len=262144)
    assert not plan.fits and any("at most 131,072" in r for r in plan.reasons)
    # With no length asked, the engines' default (max_position_embeddings) is what the bot serves.
    assert fit("CohereForAI/c4ai-command-r-v01", "A100-80GB:2").max_context_tokens == 8192


def test_falcon_71_heads_cannot_be_split_two_ways():
    # vLLM: "Total number of attention heads (71) must be divisible by tensor parallel size (2)".
    falcon = facts_of("tiiuae/falcon-7b-instruct")
    problem = layout_problem(falcon, Layout(2, 1, 1))
    assert problem and "(71)" in problem and "(2)" in problem
    plan = fit("tiiuae/falcon-7b-instruct", "L4:2")
    assert plan.fits and (plan.tensor_parallel, plan.data_parallel) == (1, 2)
    assert "--tensor-parallel-size" in plan.engine_command
    assert plan.engine_command[plan.engine_command.index("--tensor-parallel-size") + 1] == "1"


def test_minimax_m2_pure_tp8_breaks_the_fp8_block_rule_but_tp8_with_ep_loads():
    # moe_intermediate_size 1536 / 8 = 192 is not a multiple of the 128 FP8 block: the vLLM recipe runs
    # eight GPUs with --enable-expert-parallel (or TP 4).
    m2 = facts_of("MiniMaxAI/MiniMax-M2")
    assert "block_n = 128" in (layout_problem(m2, Layout(8, 1, 1)) or "")
    assert layout_problem(m2, Layout(8, 1, 1, expert_parallel=True)) is None
    assert layout_problem(m2, Layout(4, 1, 1)) is None
    plan = fit("MiniMaxAI/MiniMax-M2", "H100:8")
    assert plan.fits
    assert plan.tensor_parallel < 8 or plan.expert_parallel > 1
    assert plan.trust_remote_code and "--trust-remote-code" in plan.engine_command


def test_deepseek_v2_lite_splits_over_two_small_gpus():
    plan = fit("deepseek-ai/DeepSeek-V2-Lite-Chat", "A10G:2", max_model_len=8192)
    assert plan.fits and plan.tensor_parallel == 2
    # MLA: the latent cache is not split by TP: 27 layers x 576 x 2 B per token on every rank.
    assert plan.memory_per_gpu_gib.kv_cache == pytest.approx(27 * 576 * 2 * 8192 / 2**30, abs=0.01)


def test_sglang_starts_with_a_short_pool_and_the_reason_says_so():
    # SGLang does not refuse to start: its scheduler caps requests at the pool
    # (max_req_len = min(context_len, max_total_num_tokens) - 1), so the asked context is not served.
    plan = fit("meta-llama/Llama-3.2-3B-Instruct", "T4:1", engine="sglang", max_model_len=131072)
    assert not plan.fits and _kv_reason(plan)
    assert not any("refuses to start" in r for r in plan.reasons)
    assert not any("activations" in r for r in plan.reasons)  # SGLang keeps them outside its fraction
    shorter = [s for s in plan.suggestions if "max_model_len" in s.changes]
    assert (
        shorter
        and fit(
            "meta-llama/Llama-3.2-3B-Instruct",
            "T4:1",
            engine="sglang",
            max_model_len=shorter[0].changes["max_model_len"],
        ).fits
    )


# --- the published table (tests/core/fit/published_table.py): every row cites its source ------------

_REASON = {
    # vLLM's KV check, or no room at all for cache blocks once weights and activations are in
    "kv": {ReasonKind.KV_ROOM, ReasonKind.WEIGHTS},
    "weights": {ReasonKind.WEIGHTS},
    "fraction": {ReasonKind.FRACTION},
    "heads": {ReasonKind.LAYOUT, ReasonKind.PINNED_LAYOUT},
    "context": {ReasonKind.CONTEXT},
}


def _row_id(row: Row) -> str:
    shape = f"layout{row.layout}" if row.layout else ",".join(f"{k}={v}" for k, v in row.options.items())
    return f"{row.model}@{row.accel}[{shape}]-{'runs' if row.runs else row.kind}"


def test_the_table_has_as_many_published_failures_as_successes():
    failures = [row for row in ROWS if not row.runs]
    assert len(failures) >= len(ROWS) - len(failures)
    assert all(row.source and (row.runs or row.kind) for row in ROWS)
    assert {"1", "3", "6", "7"} <= {row.fix for row in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_published_row(row: Row):
    if row.layout is not None:
        tp, pp, dp, ep = row.layout
        problem = layout_problem(facts_of(row.model), Layout(tp, pp, dp, expert_parallel=ep), engine="vllm")
        assert (problem is None) == row.runs, problem
        if not row.runs:
            assert "block_n = 128" in (problem or "")
        return
    plan = plan_for(row.model, row.accel, row.options)
    assert plan.fits == row.runs, (plan.reasons, row.source)
    if row.runs:
        asked = row.options.get("max_model_len")
        assert asked is None or plan.max_context_tokens == asked
        pinned = row.options.get("tensor_parallel")
        assert pinned is None or plan.tensor_parallel == pinned
    else:
        assert any(r.kind in _REASON[row.kind] for r in plan.refusals), plan.refusals


def test_layout_follows_the_context_72b_gptq_int8_on_two_a100s():
    # Issue 8, class 1: TP 2 (not TP 1 x DP 2) so that 32k of KV fits beside the weights.
    plan = plan_for("Qwen/Qwen2.5-72B-Instruct-GPTQ-Int8", "A100-80GB:2", {"max_model_len": 32768})
    assert plan.fits and (plan.tensor_parallel, plan.data_parallel) == (2, 1)
    # Pinned to TP 1, the two GPUs become pipeline stages, never two replicas that cannot hold 32k.
    pinned = plan_for(
        "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int8", "A100-80GB:2", {"max_model_len": 32768, "tensor_parallel": 1}
    )
    assert pinned.fits and (pinned.tensor_parallel, pinned.pipeline_parallel, pinned.data_parallel) == (
        1,
        2,
        1,
    )
    # Pinned where nothing fits, the user gets the reason and the layout that works.
    falcon = plan_for("tiiuae/falcon-7b-instruct", "L4:2", {"tensor_parallel": 2})
    assert not falcon.fits and any("tensor parallel size 2" in r and "(71)" in r for r in falcon.reasons)
    assert any(s.changes == {"tensor_parallel": None} and "DP 2" in s.summary for s in falcon.suggestions)


def test_pinned_tp_is_refused_with_a_sentence_when_the_gpus_cannot_take_it():
    plan = plan_for("Qwen/Qwen3-8B", "L4:2", {"tensor_parallel": 4})
    assert not plan.fits and any("Tensor parallel size 4" in r and "L4:2" in r for r in plan.reasons)
    plan = plan_for("Qwen/Qwen3-8B", "L4:8", {"tensor_parallel": 3})
    assert not plan.fits and any("does not divide" in r for r in plan.reasons)


def test_qwen3_235b_fp8_on_eight_h100s_gets_expert_parallelism_not_plain_dp():
    # Issue 8, class 6: TP 4 x DP 2 without EP fails the block rule at DP x TP = 8 in vLLM.
    plan = plan_for("Qwen/Qwen3-235B-A22B-FP8", "H100:8", {})
    assert plan.fits and plan.expert_parallel == 8
    assert "--enable-expert-parallel" in plan.engine_command
    sglang = plan_for("Qwen/Qwen3-235B-A22B-FP8", "H100:8", {"engine": "sglang"})
    assert sglang.fits  # SGLang's DP replicas are separate engines: the rule stays at TP


# --- the KV capacity the engine will log -------------------------------------------------------------


@pytest.mark.parametrize(
    "log",
    [log for log in KV_LOGS if log.accel and log.same_generation],
    ids=lambda log: f"{log.model}@{log.accel}",
)
def test_kv_capacity_within_tolerance_of_the_logged_available_memory(log: KVLog):
    predicted = predicted_available_gib(log)
    assert abs(predicted - log.available_gib) <= tolerance_gib(log.available_gib), (predicted, log.source)
    plan = plan_for(log.model, log.accel, log.options)
    assert plan.kv_cache_capacity_gib == pytest.approx(max(0.0, predicted), abs=0.02)


@pytest.mark.parametrize(
    "log",
    [log for log in KV_LOGS if log.logged_weights_gib],
    ids=lambda log: f"{log.model}@{log.accel}-{log.available_gib}",
)
def test_older_kv_logs_agree_once_their_weights_are_counted(log: KVLog):
    # Those builds loaded more weights than the pinned vLLM; the rest of the budget must still agree.
    plan = plan_for(log.model, log.accel, log.options)
    shifted = predicted_available_gib(log) - (log.logged_weights_gib - plan.memory_per_gpu_gib.weights)
    assert abs(shifted - log.available_gib) <= tolerance_gib(log.available_gib), (shifted, log.why_not)


@pytest.mark.parametrize("log", [log for log in KV_LOGS if log.tokens], ids=lambda log: log.model)
def test_kv_tokens_and_concurrency_are_counted_as_vllm_counts_them(log: KVLog):
    # From the logged available memory, "GPU KV cache size" and "Maximum concurrency" follow.
    options = FitOptions(**{k: v for k, v in log.options.items() if k != "memory_fraction"})
    facts = facts_of(log.model)
    tp = options.tensor_parallel or 1
    kv = kv_shape(facts, tp=tp, pp=1, kv_bytes=2, batched_tokens=8192)
    capacity = kv_capacity(kv, log.available_gib * GIB, context=log.context, engine="vllm")
    assert capacity.tokens == pytest.approx(log.tokens, rel=0.02)
    if log.concurrency is not None:
        assert capacity.concurrency == pytest.approx(log.concurrency, abs=0.01)


def test_plan_reports_the_kv_pool_tokens_and_concurrency():
    plan = plan_for("meta-llama/Llama-3.1-8B-Instruct", "H100:1", {"max_model_len": 16384})
    # 128 KiB per token: the pool over one 16k request (2 GiB) is the concurrency vLLM logs.
    assert plan.kv_cache_capacity_gib > 40
    assert plan.max_concurrency == pytest.approx(plan.kv_cache_capacity_gib / 2.0, rel=0.01)
    assert plan.kv_cache_tokens == pytest.approx(plan.kv_cache_capacity_gib * GIB / (128 * 1024), rel=0.01)
    # Sliding-window layers stop at window + batch: gpt-oss counts more tokens than its full layers' share.
    oss = plan_for("openai/gpt-oss-20b", "L4:1", {"max_model_len": 32768})
    full_only = oss.kv_cache_capacity_gib * GIB / (12 * 2 * 8 * 64 * 2)
    assert oss.kv_cache_tokens < full_only
    # SGLang: the pool inside --mem-fraction-static (weights + KV), counted in tokens.
    sgl = plan_for("meta-llama/Llama-3.1-8B-Instruct", "H100:1", {"engine": "sglang", "max_model_len": 16384})
    m = sgl.memory_per_gpu_gib
    assert sgl.kv_cache_capacity_gib == pytest.approx(m.usable - m.weights, abs=0.02)


# === Issue 8, facts half: MXFP4 sizes from the Hub's counts, YaRN, GPU names as people type them ====
# (a block of its own at the end of the table, to merge cleanly with the planner rows above)

_YARN_128K = {"rope_scaling": "yarn", "max_model_len": 131072}
# Qwen3 speed benchmark (Qwen docs, docs/source/getting_started/speed_benchmark.md in QwenLM/Qwen2.5):
# SGLang 0.4.6.post1 on H20 96GB, mem_fraction_static 0.85, BF16 unless said, 2,048 tokens generated
# after inputs of up to 129,042 tokens, "the minimum number of GPUs possible".
_QWEN3_BENCH = {**_YARN_128K, "engine": "sglang", "memory_fraction": 0.85}


def _hub_facts(repo_id: str):
    """Facts built from per-dtype counts as the Hub's model_info reports them (MXFP4 blocks count twice)."""
    from tests.core.fit.conftest import config_of
    from tests.fakes.gpt_oss import hub_parameters

    return facts_of(repo_id, dtype_params=hub_parameters(config_of(repo_id)))


PUBLISHED_FACTS_YES = [
    # Qwen2.5 speed benchmark (Qwen docs, docs/source/benchmark/speed_benchmark.rst): Qwen2.5-7B-Instruct
    # BF16 through vLLM 0.6.2 on one A100 80GB (gpu_memory_utilization 0.9), input 129,024 + 2,048 out.
    ("Qwen/Qwen2.5-7B-Instruct", "A100-80GB:1", {**_YARN_128K, "memory_fraction": 0.9}),
    # Qwen3 speed benchmark, input 129,042: 8B, 14B and 30B-A3B on one H20, 32B BF16 on two (TP=2),
    # 235B-A22B-FP8 on four (TP=4).
    ("Qwen/Qwen3-8B", "H20:1", _QWEN3_BENCH),
    ("Qwen/Qwen3-14B", "H20:1", _QWEN3_BENCH),
    ("Qwen/Qwen3-30B-A3B", "H20:1", _QWEN3_BENCH),
    ("Qwen/Qwen3-32B", "H20:2", _QWEN3_BENCH),
    ("Qwen/Qwen3-235B-A22B-FP8", "H20:4", _QWEN3_BENCH),
    # vLLM docs, "Deploying and scaling up with SkyPilot": serving.yaml runs Meta-Llama-3-8B-Instruct on
    # any of `L4, A10g, A10, L40, A40, A100, A100-80GB`; SkyPilot's `A100` is the 40 GB part, which
    # people write `A100-40GB`.
    ("meta-llama/Llama-3.1-8B-Instruct", "A100-40GB:1", {"max_model_len": 8192}),
    # DeepSeek-R1 card: the 32B distill with --tensor-parallel-size 2 --max-model-len 32768, on the
    # A100 80GB SXM4 parts clouds rent (AWS p4de, GCP a2-ultragpu: SkyPilot's `A100-80GB`).
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "A100-80GB-SXM4:2", {"max_model_len": 32768}),
]


@pytest.mark.parametrize(("repo_id", "accelerators", "options"), PUBLISHED_FACTS_YES)
def test_published_long_context_and_gpu_spelling_deployments_fit(repo_id, accelerators, options):
    plan = fit(repo_id, accelerators, **options)
    assert plan.fits, plan.reasons
    assert plan.max_context_tokens == options["max_model_len"]
    m = plan.memory_per_gpu_gib
    assert m.total <= m.usable
    if options.get("rope_scaling"):
        assert (
            plan.rope_scaling is not None and plan.rope_scaling["original_max_position_embeddings"] == 32768
        )


@pytest.mark.parametrize(
    ("repo_id", "accelerators", "weights_gib"),
    [
        # OpenAI's gpt-oss card: "gpt-oss-120b ... fits into a single 80GB GPU (like NVIDIA H100 or AMD
        # MI300X)"; vLLM loads it in 64.38 GiB on one H100 (llm-d's vLLM memory measurements). The Hub's
        # model_info says 120.4B parameters (two per MXFP4 `*_blocks` byte), not 224.7B / 121.5 GiB.
        ("openai/gpt-oss-120b", "H100:1", 64.38),
        # vLLM's gpt-oss recipe: "gpt-oss-120b will fit on a single A100 (80GB)".
        ("openai/gpt-oss-120b", "A100-80GB:1", 64.38),
        # devforth.io's GPT-OSS-20B benchmark serves it through vLLM on one L4 (24 GB); 13.47 GiB (llm-d).
        ("openai/gpt-oss-20b", "L4:1", 13.47),
    ],
)
def test_published_mxfp4_deployments_fit_from_the_hubs_counts(repo_id, accelerators, weights_gib):
    plan = check_fit(_hub_facts(repo_id), accel(accelerators), FitOptions())
    assert plan.fits, plan.reasons
    assert plan.memory_per_gpu_gib.weights == pytest.approx(weights_gib, abs=0.3)


def test_qwen3_32b_bf16_at_128k_needs_two_h20s():
    # Qwen3 speed benchmark: at 129,042 tokens the BF16 32B ran with TP=2 while FP8 ran on one GPU, with
    # "the minimum number of GPUs possible": 61 GiB of weights + 32 GiB of KV do not fit one H20 at 0.85.
    plan = fit("Qwen/Qwen3-32B", "H20:1", **_QWEN3_BENCH)
    assert not plan.fits and _kv_reason(plan)


def test_qwen25_at_128k_without_yarn_is_refused_and_yarn_offered():
    # vLLM: "User-specified max_model_len (131072) is greater than the derived max_model_len
    # (max_position_embeddings=32768 ...)": Qwen2.5's config has no rope scaling; its card says to add YaRN.
    plan = fit("Qwen/Qwen2.5-7B-Instruct", "A100-80GB:1", max_model_len=131072)
    assert not plan.fits
    assert any("rope=yarn" in r for r in plan.reasons) and not _kv_reason(plan)
    assert any(s.changes == {"rope_scaling": "yarn"} for s in plan.suggestions)


def test_yarn_beyond_what_the_vendor_documents_is_refused():
    # Qwen3 cards document YaRN to 131,072 tokens (factor 4 on 32,768), no further.
    plan = fit("Qwen/Qwen3-8B", "H200:1", rope_scaling="yarn", max_model_len=262144)
    assert not plan.fits and any("documented up to 131,072" in r for r in plan.reasons)


@pytest.mark.parametrize(
    ("repo_id", "accelerators", "facts_from"),
    [
        # 64.4 GiB of gpt-oss-120b weights do not load on a 48 GB L40S (OpenAI's card: an 80 GB GPU).
        ("openai/gpt-oss-120b", "L40S-48GB:1", "hub"),
        # Qwen2.5-32B in BF16 is 61 GiB; the speed benchmark runs it on an A100 *80GB*; SkyPilot's 40 GB
        # `A100` (typed A100-40GB) runs out of memory while loading.
        ("Qwen/Qwen2.5-32B-Instruct", "A100-40GB:1", "config"),
    ],
)
def test_weights_that_do_not_load_on_gpus_spelled_as_people_spell_them(repo_id, accelerators, facts_from):
    facts = _hub_facts(repo_id) if facts_from == "hub" else facts_of(repo_id)
    plan = check_fit(facts, accel(accelerators), FitOptions(max_model_len=8192))
    assert not plan.fits and _weights_reason(plan)
