"""Block Kit builders tested as data: content, buttons, limits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from slack_sdk.errors import SlackObjectFormationError

from bot.slack import blocks as bk
from core.endpoints.cold_stats import LaunchHistory
from core.endpoints.records import ColdStart, Lifecycle, Phase
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointPage, HomeSnapshot
from core.fit.reasons import Reason, ReasonKind
from core.notifier import Action
from tests.bot.slack.views_fixtures import NOW, plan, suggestions, tp4_plan, view


def _json(blocks: list) -> str:
    return json.dumps(bk.to_dicts(blocks), ensure_ascii=False)


def _buttons(blocks: list) -> list[dict]:
    return [el for b in bk.to_dicts(blocks) if b["type"] == "actions" for el in b["elements"]]


def test_card_shows_what_runs_where_and_what_it_costs() -> None:
    card = _json(bk.status_card(view(plan=tp4_plan(), accelerators="A100-80GB:4"), now=NOW))
    for expected in (
        "Qwen/Qwen2.5-7B-Instruct",
        "A100-80GB:4",
        "TP 4 · DP 1 · EP 1 · PP 1",
        "32k tokens",
        "vllm",
        "~$0.71/h (estimate)",
        "<@U1OWNER>",
        "ready",
        "Cost so far $0.65",
    ):
        assert expected in card, expected


def test_live_card_has_stop_with_confirmation_and_extends() -> None:
    buttons = _buttons(bk.status_card(view(), now=NOW))
    assert [b["action_id"] for b in buttons] == ["endpoint_stop", "endpoint_extend_1h", "endpoint_extend_4h"]
    assert all(b["value"] == "qwen" for b in buttons)
    stop = buttons[0]
    assert stop["style"] == "danger"
    assert stop["confirm"]["confirm"]["text"] == "Stop it" and stop["confirm"]["deny"]["text"] == "Keep it"


@pytest.mark.parametrize(
    "state", [EndpointState.STOPPING, EndpointState.STOPPED, EndpointState.FAILED, EndpointState.LOST]
)
def test_cards_of_stopping_or_gone_endpoints_have_no_buttons(state: EndpointState) -> None:
    assert _buttons(bk.status_card(view(state=state), now=NOW)) == []


def test_failed_card_says_why() -> None:
    card = _json(
        bk.status_card(
            view(state=EndpointState.FAILED, failure_reason="No L4 capacity in us-central1 <x>"), now=NOW
        )
    )
    assert "No L4 capacity in us-central1 &lt;x&gt;" in card


def test_card_survives_an_empty_plan_and_huge_failure_reason() -> None:
    card = bk.to_dicts(
        bk.status_card(view(plan=None, state=EndpointState.FAILED, failure_reason="x" * 10_000), now=NOW)
    )
    assert "unknown" in json.dumps(card)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in card)


def test_ready_snippets_are_copy_paste_ready() -> None:
    curl, python = bk.ready_snippets(view(), "epk-secret")
    assert curl.startswith("curl http://10.0.0.2:8000/v1/chat/completions")
    assert "'Authorization: Bearer epk-secret'" in curl
    assert '"model": "Qwen/Qwen2.5-7B-Instruct"' in curl
    assert 'base_url="http://10.0.0.2:8000/v1"' in python and 'api_key="epk-secret"' in python
    compile(python, "<snippet>", "exec")  # valid Python


def test_ready_blocks_show_url_and_key() -> None:
    text = _json(bk.ready_blocks(view(), api_key="epk-secret"))
    assert "http://10.0.0.2:8000/v1" in text and "`epk-secret`" in text and "only time" in text


def test_does_not_fit_shows_reasons_suggestions_and_prices() -> None:
    refusal = plan(
        fits=False,
        refusals=[Reason(ReasonKind.WEIGHTS, "Weights need 140 GiB; an L4 has 22 GiB.")],
        suggestions=suggestions(),
    )
    text = _json(bk.does_not_fit_blocks(refusal))
    assert "does not fit on L4:1" in text and "Nothing was launched" in text
    assert "Weights need 140 GiB" in text
    assert "L4:4" in text and "$2.84/h" in text and "$7.40/h" in text


def test_fit_blocks_list_plans() -> None:
    text = _json(bk.fit_blocks([plan(), plan(accelerators="A10G:1", price_per_hour=1.01)]))
    assert "fits on L4:1" in text and "fits on A10G:1" in text and "$1.01/h" in text


def test_list_blocks_truncate_under_the_message_limit() -> None:
    views = [view(id=i, name=f"ep{i}") for i in range(80)]
    blocks = bk.list_blocks(views, now=NOW, include_terminal=False)
    assert len(blocks) <= bk.MESSAGE_BLOCK_LIMIT
    assert "and 31 more" in _json(blocks)


def test_empty_list() -> None:
    assert "No live endpoints" in _json(bk.list_blocks([], now=NOW, include_terminal=False))


def _home(
    mine: list, others: list, *, mine_total: int | None = None, others_total: int | None = None
) -> dict:
    snapshot = HomeSnapshot(
        mine=EndpointPage(mine, len(mine) if mine_total is None else mine_total),
        others=EndpointPage(others, len(others) if others_total is None else others_total),
        spend_per_hour=sum(v.price_per_hour for v in [*mine, *others]),
    )
    return bk.home_view(user_id="U1OWNER", home=snapshot, now=NOW).to_dict()


def test_list_blocks_of_a_first_page_say_how_many_more_the_store_holds() -> None:
    """Slack's `list` reads only the first LIST_SHOWN endpoints and the count of all (issue 12)."""
    views = [view(id=i, name=f"ep{i}") for i in range(bk.LIST_SHOWN)]
    blocks = bk.list_blocks(views, now=NOW, include_terminal=False, total=1000)
    assert len(blocks) == bk.MESSAGE_BLOCK_LIMIT
    assert f"and {1000 - bk.LIST_SHOWN} more" in _json(blocks)
    assert bk.list_text(views, 1000) == "1,000 endpoints"


def test_home_shows_mine_with_buttons_and_team() -> None:
    mine = [view()]
    home = _home(mine, [view(id=2, name="llama", owner_id="U2OTHER", price_per_hour=3.0)])
    text = json.dumps(home)
    assert home["type"] == "home"
    assert "Your endpoints" in text and "Team's live endpoints" in text
    assert "llama" in text and "<@U2OTHER>" in text
    assert "endpoint_stop" in text
    assert "$3.71/h" in text  # team spend rate


def test_home_stays_within_100_blocks_and_says_what_it_left_out() -> None:
    mine = [view(id=i, name=f"mine{i}") for i in range(60)]
    home = _home(mine, [view(id=100 + i, name=f"team{i}", owner_id="U2OTHER") for i in range(80)])
    assert len(home["blocks"]) <= bk.HOME_BLOCK_LIMIT
    text = json.dumps(home)
    assert "more of yours" in text and "/endpoint list" in text


def test_home_counts_what_the_snapshot_holds_beyond_its_pages() -> None:
    """App Home reads at most HOME_BLOCK_LIMIT of each list (issue 12); the notes count the whole store."""
    mine = [view(id=i, name=f"mine{i}") for i in range(bk.HOME_BLOCK_LIMIT)]
    others = [view(id=500 + i, name=f"team{i}", owner_id="U2OTHER") for i in range(bk.HOME_BLOCK_LIMIT)]
    text = json.dumps(_home(mine, others, mine_total=300, others_total=700))
    shown_mine = text.count("home_actions:")
    assert f"and {300 - shown_mine} more of yours" in text
    assert "and 700 more; `/endpoint list` shows all." in text  # mine left no room for the team's


def test_dm_blocks_carry_the_actions() -> None:
    actions = (Action("keep_alive", "Keep alive", "qwen"), Action("stop", "Stop now", "qwen"))
    buttons = _buttons(bk.dm_blocks("Idle for 35m; stopping in 10m.", actions))
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("endpoint_keep_alive", "qwen"),
        ("endpoint_stop", "qwen"),
    ]


def test_action_ids_cover_every_action_kind() -> None:
    assert set(bk.ACTION_IDS) == {"stop", "extend_1h", "extend_4h", "keep_alive"}
    assert {bk.ACTION_KINDS[a] for a in bk.ACTION_IDS.values()} == set(bk.ACTION_IDS)


def test_limits_are_checked_before_posting() -> None:
    too_many = bk.actions_block([Action("stop", "Stop", f"e{i}") for i in range(26)])
    with pytest.raises(SlackObjectFormationError):
        bk.to_dicts([too_many])


def test_uptime_uses_stopped_at() -> None:
    stopped = replace(view(), stopped_at=NOW - timedelta(minutes=25), state=EndpointState.STOPPED)
    assert bk.uptime(stopped, NOW) == "30m"


def test_text_blocks_split_long_text() -> None:
    blocks = bk.to_dicts(bk.text_blocks("a" * 7000))
    assert len(blocks) == 3


def test_usage_and_list_counts_are_pluralised() -> None:
    from core.endpoints.views import UsageView

    one = UsageView(requests=1, prompt_tokens=1, generation_tokens=1)
    text = _json(bk.status_blocks(view(usage=one), now=NOW))
    assert "1 request · 1 prompt token · 1 generated token" in text and "1 requests" not in text
    assert bk.list_text([view()]) == "1 endpoint"
    assert bk.list_text([view(), view(name="other")]) == "2 endpoints"


def test_card_and_fit_reply_say_how_many_requests_the_kv_cache_holds() -> None:
    # vLLM logs "Maximum concurrency for 16,384 tokens per request: 26.40x": the card says it in words.
    kv = {"kv_cache_capacity_gib": 52.8, "kv_cache_tokens": 432537, "max_concurrency": 26.4,
          "max_context_tokens": 16384}  # fmt: skip
    card = _json(bk.status_card(view(plan=replace(plan(), **kv)), now=NOW))
    assert "*KV cache*" in card and "room for ~26 requests of 16k at once" in card
    fit = _json(bk.fit_blocks([plan(**kv)]))
    assert "KV cache 52.8 GiB per GPU (432,537 tokens): room for ~26 requests of 16k at once" in fit
    # Plans stored before the prediction existed show no such field.
    assert "*KV cache*" not in _json(bk.status_card(view(), now=NOW))


def _history(i: int) -> LaunchHistory:
    return LaunchHistory(
        model=f"org/model-{i}",
        accelerators="H100:8",
        engine="vllm",
        launches=3,
        total_s=432.0,
        phases=(
            Phase("provisioning", 185.0),
            Phase("weights", 130.0, "cache"),
            Phase("first completion", 3.0),
        ),
    )


def test_stats_blocks_stay_within_slacks_limits_and_say_how_many_more() -> None:
    history = [_history(i) for i in range(60)]
    blocks = bk.to_dicts(bk.stats_blocks(history))
    assert len(blocks) <= bk.MESSAGE_BLOCK_LIMIT
    text = json.dumps(blocks)
    assert "org/model-0" in text and "7m12s" in text and "weights 2m10s (cache)" in text
    assert "and 12 more" in text


def test_the_status_card_shows_the_cold_start_once_measured() -> None:
    measured = ColdStart(total_s=432.0, phases=_history(0).phases)
    card = json.dumps(
        bk.to_dicts(bk.status_card(replace(view(), lifecycle=Lifecycle(cold_start=measured)), now=NOW))
    )
    assert "Cold start 7m12s: provisioning 3m5s, weights 2m10s (cache), first completion 3s" in card
    assert "Cold start" not in json.dumps(bk.to_dicts(bk.status_card(view(), now=NOW)))
