"""`bot.text`: cards, plans, lists and replies rendered as plain lines, tested as data."""

from __future__ import annotations

from datetime import timedelta

from bot import text as tx
from core.endpoints.states import EndpointState
from core.endpoints.views import UsageView
from core.fit.reasons import Reason, ReasonKind
from core.notifier import Action
from tests.bot.slack.views_fixtures import NOW, plan, replace, suggestions, tp4_plan, view

S = EndpointState


def test_plain_turns_slack_markup_into_terminal_text() -> None:
    assert tx.plain("Only <@U1OWNER> (who launched `qwen`) may stop it.") == (
        "Only @U1OWNER (who launched `qwen`) may stop it."
    )
    assert tx.plain("invite me to <#C123|general>") == "invite me to #general"
    assert tx.plain("see <https://example.com/x|the docs>") == "see the docs (https://example.com/x)"
    assert tx.plain("at <!date^1767600000^{time}|12:00 UTC>") == "at 12:00 UTC"
    assert tx.plain("Press *Keep alive* if you need it.") == "Press Keep alive if you need it."
    assert tx.plain(":warning: out of budget") == "out of budget"
    assert tx.plain("a &lt;b&gt; &amp; c") == "a <b> & c"
    # Values people copy keep their backticks and inner asterisks.
    assert tx.plain("`2*3` and a*b") == "`2*3` and a*b"


def test_card_of_a_ready_endpoint() -> None:
    lines = tx.card_lines(view(max_cost=50.0), now=NOW)
    assert lines[0] == "qwen: Qwen/Qwen2.5-7B-Instruct on L4:1: ready"
    assert (
        "vllm · TP 1 · DP 1 · EP 1 · PP 1 · context 32k tokens · ~$0.71/h (estimate) · owner @U1OWNER"
        in (lines[1])
    )
    assert "cost so far $0.65" in lines[2] and "up 55m" in lines[2] and "cap $50.00" in lines[2]
    assert "expires 2026-01-05 19:00 UTC" in lines[2]
    assert "URL http://10.0.0.2:8000/v1" in lines[2]


def test_card_of_a_provisioning_endpoint_has_no_url_and_shows_its_layout() -> None:
    lines = tx.card_lines(
        view(state=S.PROVISIONING, accelerators="A100-80GB:4", plan=tp4_plan(), price_is_estimate=False),
        now=NOW,
    )
    assert lines[0].endswith("provisioning GPUs")
    assert "TP 4" in lines[1] and "$0.71/h" in lines[1] and "estimate" not in lines[1]
    assert all("URL" not in line for line in lines)


def test_failed_and_stopped_cards_say_why_and_offer_nothing() -> None:
    failed = view(state=S.FAILED, failure_reason="No L4 capacity in <#C1|gcp>.", stopped_at=NOW)
    lines = tx.card_lines(failed, now=NOW)
    assert lines[-1] == "  failed: No L4 capacity in #gcp."
    assert all("expires" not in line for line in lines)
    stopped = view(state=S.STOPPED, stop_reason="idle for 45m", stopped_at=NOW)
    assert tx.card_lines(stopped, now=NOW)[-1] == "  idle for 45m"
    for state in (S.STOPPING, S.STOPPED, S.FAILED, S.LOST):
        assert tx.card_actions(view(state=state)) == ()


def test_live_cards_offer_stop_and_extend() -> None:
    actions = tx.card_actions(view(state=S.STARTING))
    assert [a.kind for a in actions] == ["stop", "extend_1h", "extend_4h"]
    assert {a.endpoint_name for a in actions} == {"qwen"}


def test_choices_line_names_each_endpoint_once() -> None:
    numbered = [
        (1, Action("stop", "Stop", "qwen")),
        (2, Action("extend_1h", "Extend +1h", "qwen")),
        (7, Action("keep_alive", "Keep alive", "llama")),
    ]
    assert tx.choices_line(numbered) == "[1] Stop qwen  [2] Extend +1h  [7] Keep alive llama"


def test_status_adds_usage_and_latency() -> None:
    usage = UsageView(
        requests=1200,
        prompt_tokens=34000,
        generation_tokens=51000,
        latency={"ttft_p50": 0.21},
        cost_per_million_output_tokens=12.5,
    )
    lines = tx.status_lines(view(usage=usage), now=NOW)
    assert lines[-1] == (
        "  1,200 requests · 34,000 prompt tokens · 51,000 generated tokens · ttft_p50 0.21s · "
        "$12.50 per 1M output tokens"
    )
    assert tx.status_lines(view(usage=None), now=NOW) == tx.card_lines(view(usage=None), now=NOW)


def test_usage_counts_take_the_right_number() -> None:
    one = UsageView(requests=1, prompt_tokens=1, generation_tokens=0)
    assert tx.status_lines(view(usage=one), now=NOW)[-1] == (
        "  1 request · 1 prompt token · 0 generated tokens"
    )
    assert tx.counted(2, "endpoint") == "2 endpoints" and tx.counted(1, "endpoint") == "1 endpoint"


def test_ready_lines_show_url_and_key_once_with_a_working_curl() -> None:
    lines = tx.ready_lines(view(), api_key="epk-secret")
    assert lines[1] == "  URL      http://10.0.0.2:8000/v1"
    assert lines[2] == "  API key  epk-secret"
    assert sum("epk-secret" in line for line in lines) == 2  # the key line and the curl command
    assert "curl http://10.0.0.2:8000/v1/chat/completions -H 'Authorization: Bearer epk-secret'" in lines[-1]


def test_does_not_fit_lists_reasons_and_priced_suggestions() -> None:
    refused = plan(
        fits=False,
        refusals=[
            Reason(ReasonKind.WEIGHTS, "The weights need 131.4 GiB per GPU but only 19.9 GiB is free.")
        ],
        suggestions=suggestions(),
    )
    lines = tx.does_not_fit_lines(refused)
    assert lines[0] == "Qwen/Qwen2.5-7B-Instruct does not fit on L4:1 (vllm). Nothing was launched."
    assert lines[1] == "  - The weights need 131.4 GiB per GPU but only 19.9 GiB is free."
    assert "weights 14.2 GiB + KV 1.8 GiB + overhead 2.1 GiB = 18.1 of 20.5 GiB usable" in lines[2]
    assert lines[-2:] == [
        "  - Use L4:4 (TP 4): L4:4, $2.84/h",
        "  - Use A100-80GB:2 (TP 2): A100-80GB:2, $7.40/h",
    ]
    assert tx.fit_lines([refused]) == lines


def test_fit_lines_for_fitting_shapes_and_for_none() -> None:
    lines = tx.fit_lines(
        [plan(warnings=["FP8 KV cache lowers quality a little."]), plan(accelerators="A10G:1")]
    )
    assert lines[0].startswith("Qwen/Qwen2.5-7B-Instruct fits on L4:1: vllm · TP 1")
    assert "context 32,768 tokens · $0.71/h" in lines[0]
    assert "  warning: FP8 KV cache lowers quality a little." in lines
    assert any(line.startswith("Qwen/Qwen2.5-7B-Instruct fits on A10G:1") for line in lines)
    assert tx.fit_lines([]) == ["No GPU shape in the catalogue fits this model. Try a quantized checkpoint."]


def test_list_lines() -> None:
    assert tx.list_lines([], now=NOW, include_terminal=False) == [
        "No live endpoints. Start one with `/endpoint up MODEL ACCEL`."
    ]
    assert tx.list_lines([], now=NOW, include_terminal=True)[0].startswith("No endpoints.")
    lines = tx.list_lines([view(), view(name="llama", owner_id="U2")], now=NOW, include_terminal=False)
    assert lines[0] == (
        "qwen · Qwen/Qwen2.5-7B-Instruct · L4:1 · ready · up 55m · ~$0.71/h (estimate) · $0.65 so far · @U1OWNER"
    )
    assert lines[1].startswith("llama ·") and lines[1].endswith("@U2")


def test_replies() -> None:
    assert tx.extended_reply(view(expires_at=NOW + timedelta(hours=3)), now=NOW) == (
        "`qwen` now expires at 2026-01-05 15:00 UTC (in 3h)."
    )
    assert tx.already_reply(replace(view(), state=S.STOPPED)) == "`qwen` is already stopped; nothing to do."
    assert "Launching `qwen`" in tx.launching_reply(view()) and "~$0.71/h" in tx.launching_reply(view())
    assert tx.confirm_stop_question("qwen").startswith(
        "Stop `qwen`?"
    ) and "[y/N]" in tx.confirm_stop_question("qwen")


def test_capacity_line_counts_requests_per_replica_and_explains_sglang() -> None:
    vllm = plan(kv_cache_capacity_gib=3.5, kv_cache_tokens=28672, max_concurrency=0.88,
                max_context_tokens=32768)  # fmt: skip
    assert (
        tx.capacity_line(vllm)
        == "KV cache 3.5 GiB per GPU (28,672 tokens): room for ~0.9 requests of 32k at once"
    )
    replicas = replace(vllm, data_parallel=4, max_concurrency=3.0)
    assert tx.capacity_line(replicas).endswith("room for ~12 requests of 32k at once over 4 replicas")
    sglang = replace(vllm, engine="sglang", memory_fraction=0.84)
    line = tx.capacity_line(sglang)
    assert line is not None and line.startswith("KV pool 3.5 GiB per GPU")
    assert "--mem-fraction-static 0.84 holds the weights and this pool" in line
    assert tx.capacity_line(plan()) is None  # nothing predicted: nothing said
    card = tx.card_lines(view(plan=vllm), now=NOW)
    assert any("room for ~0.9 requests of 32k at once" in line for line in card)
