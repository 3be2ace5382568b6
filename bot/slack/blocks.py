"""Block Kit builders: pure functions from domain objects (views, plans) to Slack blocks.

Built with `slack_sdk.models.blocks`, so Slack's limits (3000-char sections, 25 elements per
actions block, 100 blocks per Home view) are checked by `to_dict()` before anything is posted;
dynamic text is clipped to fit. No I/O here and no clock: callers pass `now`.

Buttons carry the endpoint name as their value and use the stable action ids in `ACTION_IDS`
(one per `core.notifier.ActionKind`), which the actions listener routes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot import text as tx
from core.clock import as_utc
from core.endpoints import messaging
from core.endpoints.cold_stats import LaunchHistory
from core.endpoints.states import EndpointState
from core.endpoints.views import EndpointView, HomeSnapshot
from core.fit.plan import Plan
from core.notifier import Action, ActionKind
from core.units import format_duration, format_money

# Stable, documented action ids (docs/slack-setup.md). The value of every button is the endpoint name.
ACTION_IDS: dict[ActionKind, str] = {
    "stop": "endpoint_stop",
    "extend_1h": "endpoint_extend_1h",
    "extend_4h": "endpoint_extend_4h",
    "keep_alive": "endpoint_keep_alive",
}
ACTION_KINDS: dict[str, ActionKind] = {action_id: kind for kind, action_id in ACTION_IDS.items()}
DEFAULT_LABELS: dict[ActionKind, str] = tx.ACTION_LABELS

MESSAGE_BLOCK_LIMIT = 50
HOME_BLOCK_LIMIT = 100
SECTION_TEXT_LIMIT = 3000
LIST_SHOWN = MESSAGE_BLOCK_LIMIT - 1  # endpoints `/endpoint list` shows; one block left to say how many more

STATE_EMOJI: dict[EndpointState, str] = {
    EndpointState.REQUESTED: ":hourglass_flowing_sand:",
    EndpointState.PROVISIONING: ":cloud:",
    EndpointState.STARTING: ":gear:",
    EndpointState.READY: ":large_green_circle:",
    EndpointState.STOPPING: ":octagonal_sign:",
    EndpointState.STOPPED: ":white_circle:",
    EndpointState.FAILED: ":red_circle:",
    EndpointState.LOST: ":warning:",
}
STATE_WORDS: dict[EndpointState, str] = tx.STATE_WORDS

# The chat-neutral pieces are bot.text's; these names are what the Slack listeners and tests call them.
price_text = tx.price
parallelism_text = tx.parallelism
context_text = tx.context
actions_for = tx.card_actions


# --- small helpers -------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape the three characters mrkdwn treats as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_USER_MENTION = re.compile(r"&lt;@([A-Z0-9_]+)&gt;")


def escape_keeping_mentions(text: str) -> str:
    """`escape`, except that user mentions the bot itself wrote (`<@U123>`) stay mentions."""
    return _USER_MENTION.sub(r"<@\1>", escape(text))


def clip(text: str, limit: int = SECTION_TEXT_LIMIT) -> str:
    """Cut text to `limit` characters, saying so."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_dicts(blocks: Iterable[Block]) -> list[dict[str, Any]]:
    """Validate (limits) and serialise blocks for the Web API."""
    return [block.to_dict() for block in blocks]


def _section(text: str, **kwargs: Any) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text)), **kwargs)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text))])


def slack_date(when: datetime) -> str:
    """A date Slack shows in the reader's own time zone, with UTC text as the fallback."""
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{tx.utc(when)}>"


def age(view: EndpointView, now: datetime) -> str:
    return format_duration(now - as_utc(view.requested_at))


def uptime(view: EndpointView, now: datetime) -> str:
    return tx.uptime(view, now=now)


def button(action: Action, *, confirm: bool = True) -> ButtonElement:
    """A button for one Action; Stop is red and asks for confirmation."""
    style = "danger" if action.kind == "stop" else ("primary" if action.kind == "keep_alive" else None)
    confirm_object = None
    if action.kind == "stop" and confirm:
        confirm_object = ConfirmObject(
            title="Stop this endpoint?",
            text=clip(
                f"This tears down `{escape(action.endpoint_name)}` and its GPUs; the URL and API key stop "
                "working. It cannot be undone.",
                300,
            ),
            confirm="Stop it",
            deny="Keep it",
            style="danger",
        )
    return ButtonElement(
        text=clip(action.label, 75),
        action_id=ACTION_IDS[action.kind],
        value=action.endpoint_name,
        style=style,
        confirm=confirm_object,
    )


def actions_block(actions: Sequence[Action], *, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=[button(a) for a in actions], block_id=block_id)


# --- the status card ------------------------------------------------------------------------------


def card_text(view: EndpointView) -> str:
    """The card's plain-text fallback (notifications, screen readers)."""
    return f"{view.name}: {view.model} on {view.accelerators} is {STATE_WORDS[view.state]}"


def status_card(view: EndpointView, *, now: datetime) -> list[Block]:
    """The endpoint's status card: what runs where, how it is split, what it costs, who owns it."""
    plan = view.plan
    fields = [
        f"*Model*\n`{escape(view.model)}`",
        f"*GPUs*\n{escape(view.accelerators)}",
        f"*Parallelism*\n{parallelism_text(plan)}",
        f"*Context*\n{context_text(plan, view.options.max_model_len)}",
        f"*Engine*\n{escape(view.engine)}",
        f"*Price*\n{price_text(view)}",
        f"*Owner*\n<@{view.owner_id}>",
        f"*State*\n{STATE_EMOJI[view.state]} {STATE_WORDS[view.state]}",
    ]
    capacity = tx.capacity_line(plan)
    if capacity:
        fields.append(f"*KV cache*\n{escape(capacity)}")
    blocks: list[Block] = [
        HeaderBlock(text=clip(f"{view.name}: {view.model}", 150)),
        SectionBlock(fields=[MarkdownTextObject(text=clip(f, 2000)) for f in fields]),
    ]
    notes = " · ".join(tx.card_notes(view, now=now, expires=slack_date))
    blocks.append(_context(notes[0].upper() + notes[1:]))
    if view.lifecycle.cold_start is not None:
        blocks.append(_context(f":stopwatch: {escape(messaging.cold_start_text(view.lifecycle.cold_start))}"))
    if view.state == EndpointState.FAILED and view.failure_reason:
        blocks.append(_section(f":red_circle: {escape(view.failure_reason)}"))
    elif view.state.is_terminal and view.stop_reason:
        blocks.append(_context(escape_keeping_mentions(view.stop_reason)))
    actions = actions_for(view)
    if actions:
        blocks.append(actions_block(actions, block_id=f"card_actions:{view.name}"))
    return blocks


# --- thread replies -------------------------------------------------------------------------------


def ready_snippets(view: EndpointView, api_key: str) -> tuple[str, str]:
    """A copy-paste curl command and an OpenAI Python client snippet for a ready endpoint."""
    return tx.curl_command(view, api_key=api_key, break_lines=True), tx.python_snippet(view, api_key=api_key)


def ready_blocks(view: EndpointView, *, api_key: str) -> list[Block]:
    curl, python = ready_snippets(view, api_key)
    blocks = [
        _section(
            f":large_green_circle: *`{escape(view.name)}` is ready.*\n*URL* {view.url}/v1\n*API key* "
            f"`{api_key}`\n{tx.KEY_SHOWN_ONCE}"
        ),
        _section(("" if view.tls.enabled else ":warning: ") + escape(tx.tls_sentence(view))),
    ]
    if view.tls.ca_cert_pem:  # public: what clients verify the server with
        blocks.append(_section(f"*`{tx.CA_FILE}`*\n```{view.tls.ca_cert_pem.strip()}```"))
    return [
        *blocks,
        _section(f"*curl*\n```{curl}```"),
        _section(f"*OpenAI Python client*\n```{python}```"),
    ]


def ready_text(view: EndpointView) -> str:
    return f"{view.name} is ready at {view.url}/v1"


# --- fit, status, list ----------------------------------------------------------------------------


def does_not_fit_blocks(plan: Plan) -> list[Block]:
    """The ephemeral refusal: why it does not fit, and shapes that would, with prices."""
    reasons = "\n".join(f"• {escape(r)}" for r in plan.reasons) or "• (no reason given)"
    blocks: list[Block] = [
        _section(
            f":no_entry: *`{escape(plan.model_id)}` does not fit on {escape(plan.accelerators)}* "
            f"({plan.engine}). Nothing was launched.\n{reasons}"
        ),
        _context(tx.memory_line(plan)),
    ]
    if plan.suggestions:
        lines = [
            f"• {escape(s.summary)}: `{escape(s.accelerators)}`, {format_money(s.price_per_hour)}/h"
            for s in plan.suggestions[:10]
        ]
        blocks.append(_section("*Would fit*\n" + "\n".join(lines)))
    return blocks


def does_not_fit_text(plan: Plan) -> str:
    return f"{plan.model_id} does not fit on {plan.accelerators}: " + "; ".join(plan.reasons)


def fit_blocks(plans: Sequence[Plan]) -> list[Block]:
    """The reply to `/endpoint fit`: one plan with its breakdown, or the cheapest shapes that fit."""
    if not plans:
        return [_section(tx.NOTHING_FITS)]
    if len(plans) == 1 and not plans[0].fits:
        return does_not_fit_blocks(plans[0])
    blocks: list[Block] = []
    for plan in plans[: MESSAGE_BLOCK_LIMIT // 2]:
        head = f":white_check_mark: *`{escape(plan.model_id)}` fits on {escape(plan.accelerators)}*"
        warnings = "".join(f"\n:warning: {escape(w)}" for w in plan.warnings)
        blocks.append(_section(f"{head}\n{tx.plan_summary(plan)}{warnings}"))
        capacity = tx.capacity_line(plan)
        blocks.append(_context(tx.memory_line(plan) + (f"\n{escape(capacity)}" if capacity else "")))
    return blocks


def status_blocks(view: EndpointView, *, now: datetime) -> list[Block]:
    """`/endpoint status NAME`: the card plus usage and latency when known (no buttons on the copy)."""
    blocks = [b for b in status_card(view, now=now) if not isinstance(b, ActionsBlock)]
    if view.usage:
        blocks.append(_context(tx.usage_line(view.usage)))
    return blocks


def endpoint_line(view: EndpointView, *, now: datetime) -> str:
    """One line per endpoint in lists and App Home."""
    return (
        f"{STATE_EMOJI[view.state]} *{escape(view.name)}* · `{escape(view.model)}` · {escape(view.accelerators)}"
        f" · {STATE_WORDS[view.state]} · age {age(view, now)} · {price_text(view)} · "
        f"{format_money(view.cost_so_far)} so far · <@{view.owner_id}>"
    )


def list_blocks(
    views: Sequence[EndpointView], *, now: datetime, include_terminal: bool, total: int | None = None
) -> list[Block]:
    """`/endpoint list`: the first LIST_SHOWN of `views` (`total`: how many the listing holds, when
    `views` is only its first page), then how many more there are."""
    total = len(views) if total is None else total
    if not views:
        return [_section(tx.no_endpoints(include_terminal=include_terminal))]
    shown = views[:LIST_SHOWN]
    blocks: list[Block] = [_section(endpoint_line(v, now=now)) for v in shown]
    if total > len(shown):
        blocks.append(_context(f"…and {total - len(shown)} more; see the App Home tab."))
    return blocks


def stats_blocks(history: Sequence[LaunchHistory], *, contains: str | None = None) -> list[Block]:
    """`/endpoint stats [WORD]`: the median cold start per model, GPUs and engine, with its phases."""
    if not history:
        return [_section(escape(tx.stats_lines(history, contains=contains)[0]))]
    blocks: list[Block] = [_section(f"*{escape(tx.stats_title(contains))}*")]
    shown = history[: MESSAGE_BLOCK_LIMIT - 2]
    for past in shown:
        over = tx.counted(past.launches, "launch", "launches")
        head = (
            f":stopwatch: *{messaging.phase_duration(past.total_s)}* `{escape(past.model)}` on "
            f"{escape(past.accelerators)} ({escape(past.engine)}), over {over}"
        )
        phases = f"\n{escape(messaging.phases_text(past.phases))}" if past.phases else ""
        blocks.append(_section(clip(head + phases, 2900)))
    if len(history) > len(shown):
        blocks.append(_context(f"…and {len(history) - len(shown)} more; narrow it: `/endpoint stats WORD`."))
    return blocks


def stats_text(history: Sequence[LaunchHistory]) -> str:
    return f"Cold starts: {tx.counted(len(history), 'model and GPU pair', 'model and GPU pairs')}"


def list_text(views: Sequence[EndpointView], total: int | None = None) -> str:
    return tx.counted(len(views) if total is None else total, "endpoint")


# --- App Home -------------------------------------------------------------------------------------


def home_view(*, user_id: str, home: HomeSnapshot, now: datetime) -> View:
    """The App Home tab: your endpoints (with buttons), then the team's live ones, within 100 blocks.
    `home` holds the first HOME_BLOCK_LIMIT of each list (no more can show) and how many there are."""
    mine, others = home.mine.views, home.others.views
    budget = HOME_BLOCK_LIMIT - 8  # headers, dividers and truncation notes
    blocks: list[Block] = [HeaderBlock(text="Your endpoints")]
    if not mine:
        blocks.append(_section("None running. Start one with `/endpoint up MODEL ACCEL`."))
    shown_mine = 0
    for view in mine:
        needed = 2 if actions_for(view) else 1
        if budget - needed < 0:
            break
        blocks.append(_section(endpoint_line(view, now=now)))
        if actions_for(view):
            blocks.append(actions_block(actions_for(view), block_id=f"home_actions:{view.name}"))
        budget -= needed
        shown_mine += 1
    if shown_mine < home.mine.total:
        more = home.mine.total - shown_mine
        blocks.append(_context(f"…and {more} more of yours; `/endpoint list` shows all."))
    blocks += [DividerBlock(), HeaderBlock(text="Team's live endpoints")]
    if not others:
        blocks.append(_section("Nobody else has a live endpoint."))
    shown_team = others[: max(budget, 0)]
    blocks += [_section(endpoint_line(v, now=now)) for v in shown_team]
    if len(shown_team) < home.others.total:
        more = home.others.total - len(shown_team)
        blocks.append(_context(f"…and {more} more; `/endpoint list` shows all."))
    blocks.append(
        _context(f"Team spend rate {format_money(home.spend_per_hour)}/h · updated {now:%H:%M} UTC")
    )
    return View(type="home", blocks=blocks)


# --- DMs and plain replies ------------------------------------------------------------------------


def dm_blocks(text: str, actions: Sequence[Action]) -> list[Block]:
    blocks: list[Block] = [_section(text)]
    if actions:
        blocks.append(actions_block(actions[:25]))
    return blocks


def text_blocks(text: str) -> list[Block]:
    """A plain mrkdwn reply, split into sections under the 3000-char limit."""
    chunks = [text[i : i + SECTION_TEXT_LIMIT] for i in range(0, len(text), SECTION_TEXT_LIMIT)] or [" "]
    return [_section(chunk) for chunk in chunks[:MESSAGE_BLOCK_LIMIT]]
