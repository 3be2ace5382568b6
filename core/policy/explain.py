"""`/endpoint policy`: the rules that apply to the person asking, with what they use now; for admins
the whole file's effect and everyone's live endpoints with their owners and spend. Sentences (mrkdwn
that reads fine as plain text), like core.endpoints.messaging."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.endpoints import store
from core.endpoints.states import EndpointState
from core.policy import rules
from core.policy.gate import PolicyGate
from core.policy.model import Limits, Rules
from core.policy.rules import Scope, Use
from core.policy.usage import use_of
from core.units import format_duration, format_money


@dataclass(frozen=True)
class PolicyReport:
    lines: list[str]
    admin: bool


def report(gate: PolicyGate, database: Any, *, user: str, now: datetime) -> PolicyReport:
    policy = gate.policy
    members = gate.membership(policy)
    admin = rules.is_admin(policy, members, user, settings_admins=gate.settings_admins)
    lines: list[str] = []
    if gate.source.path is None:
        lines.append(
            "No team policy file is set (ENDPOINT_BOT_POLICY_FILE): only the bot's settings limit launches."
        )
    where = ", ".join(f"<#{c}>" for c in policy.channels) if policy.channels is not None else "any channel"
    lines.append(
        f"Launches allowed in: {where}. API keys go {'by DM to the owner' if policy.key_delivery == 'dm' else 'in the thread'}."
    )
    lines.append(rules.who_can_change(policy, settings_admins=gate.settings_admins))
    with database.session() as session:
        if admin:
            lines.append("You are an admin: the rules below do not bind you.")
            everyone = [Scope("everyone", "everyone", policy.everyone, frozenset({user}))]
            everyone += [
                Scope(f"groups.{n}", f"group `{n}`", g, members.members.get(n, frozenset()))
                for n, g in policy.groups.items()
            ]
            everyone += [Scope(f"users.{u}", f"<@{u}>", r, frozenset({u})) for u, r in policy.users.items()]
            for scope in everyone:
                lines.append(
                    _scope_line(
                        scope,
                        use_of(session, scope.owners, now=now) if scope.path.startswith("groups.") else None,
                    )
                )
            lines.extend(_live_lines(session, now=now))
        else:
            for scope in rules.scopes(policy, members, user):
                use = use_of(session, scope.owners, now=now) if scope.rules.limits.any() else None
                lines.append(_scope_line(scope, use))
    return PolicyReport([line for line in lines if line], admin)


def _scope_line(scope: Scope, use: Use | None) -> str:
    parts = _rule_parts(scope.rules)
    text = f"*{_title(scope)}* (`{scope.path}`): " + ("; ".join(parts) if parts else "no rules")
    if use is not None:
        text += f". In use now: {_use(use)}"
    return text


def _title(scope: Scope) -> str:
    """How a scope is headed: whose endpoints its limits count."""
    if scope.path == "everyone":
        return "Everyone (each person)"
    title = "You" if scope.label == "you" else scope.label[:1].upper() + scope.label[1:]
    return title + (" (all members together)" if scope.path.startswith("groups.") else "")


def _rule_parts(r: Rules) -> list[str]:
    parts = [_limits(r.limits)] if r.limits.any() else []
    for what, patterns in (("GPUs", r.gpus), ("models", r.models)):
        if patterns.allow is not None:
            parts.append(f"{what} allowed: {', '.join(patterns.allow) or 'none'}")
        if patterns.deny:
            parts.append(f"{what} denied: {', '.join(patterns.deny)}")
    if r.spot_only:
        parts.append("spot only")
    if r.max_ttl is not None:
        parts.append(f"lifetime at most {format_duration(r.max_ttl)}")
    if r.max_idle is not None:
        parts.append(f"idle timeout at most {format_duration(r.max_idle)}")
    if not r.trust_remote_code:
        parts.append("no models that run their own code")
    return [p for p in parts if p]


def _limits(limits: Limits) -> str:
    said = []
    if limits.endpoints is not None:
        said.append(f"{limits.endpoints} endpoint(s)")
    if limits.gpus is not None:
        said.append(f"{limits.gpus} GPU(s)")
    if limits.dollars_per_hour is not None:
        said.append(f"{format_money(limits.dollars_per_hour)}/hour")
    if limits.dollars_per_day is not None:
        said.append(f"{format_money(limits.dollars_per_day)} a day")
    return "at most " + ", ".join(said)


def _use(use: Use) -> str:
    held = f" ({', '.join(f'`{n}`' for n in use.endpoints)})" if use.endpoints else ""
    return (f"{len(use.endpoints)} endpoint(s){held}, {use.gpus} GPU(s), {format_money(use.dollars_per_hour)}/hour, "
            f"{format_money(use.dollars_today)} spent today")  # fmt: skip


def _live_lines(session: Any, *, now: datetime) -> list[str]:
    """Everyone's live endpoints with their owners and spend (the admin view)."""
    live = store.list_endpoints(session=session, states=EndpointState.live())
    if not live:
        return ["No live endpoints."]
    rows = [f"• `{e.name}` · <@{e.owner_id}> · {e.accelerators} · {format_money(e.price_per_hour or 0)}/hour · "
            f"{format_money(e.cost_so_far or 0)} so far" for e in live]  # fmt: skip
    return ["\n".join([f"*Live endpoints ({len(live)})*", *rows])]
