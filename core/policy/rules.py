"""Evaluate the policy: pure functions from (policy, who is asking, what they ask, what they use) to
a typed `Decision` that names the rule, the limit, the current use and who can change it.

Every scope that applies to a person must allow a launch: `everyone`, each group they are in, and
their own `users:` entry (the strictest wins). `everyone` and `users:` limits count the person's own
endpoints; a group's limits count the whole group's. Admins (the file's and
ENDPOINT_BOT_ADMIN_USER_IDS) are not bound by the rules: they can change the file anyway.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from core.errors import PermissionDenied
from core.policy.model import Patterns, Policy, Rules
from core.units import format_duration, format_money


@dataclass(frozen=True)
class Membership:
    """Group name (the file's) -> user ids in it: the file's `members` plus the Slack user group's."""

    members: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def groups_of(self, user: str) -> list[str]:
        return sorted(name for name, users in self.members.items() if user in users)


def membership(policy: Policy, slack: Mapping[str, Collection[str]] | None = None) -> Membership:
    """Membership from the file's `members` lists and `slack` (Slack user group id -> user ids)."""
    slack = slack or {}
    return Membership(
        {
            name: frozenset(group.members) | frozenset(slack.get(group.slack or "", ()))
            for name, group in policy.groups.items()
        }
    )


@dataclass(frozen=True)
class Scope:
    """One place in the file whose rules apply to a person: its rule path, how it is named to them,
    its rules, and whose endpoints its limits count."""

    path: str  # "everyone", "groups.ml-interns", "users.U123"
    label: str  # "everyone", "your group `ml-interns`", "you"
    rules: Rules
    owners: frozenset[str]


@dataclass(frozen=True)
class Use:
    """What a scope's owners hold and spend now."""

    endpoints: tuple[str, ...] = ()  # names of the live endpoints
    gpus: int = 0
    dollars_per_hour: float = 0.0
    dollars_today: float = 0.0


@dataclass(frozen=True)
class Ask:
    """What a launch asks for, in the policy's terms."""

    user: str
    channel: str | None
    model: str
    gpu: str | None  # SkyPilot's name (None when the GPU could not be read: the fit check says why)
    gpus: int
    spot: bool
    ttl: timedelta
    idle: timedelta
    price_per_hour: float = 0.0
    trust_remote_code: bool = False


@dataclass(frozen=True)
class Decision:
    """A refusal: the rule (`groups.interns.limits.gpus`), its limit, the current use, the sentence."""

    rule: str
    limit: Any
    current: Any
    message: str
    admins: tuple[str, ...]


class PolicyRefused(PermissionDenied):
    """A launch the policy does not allow; `decision` says which rule and who can change it."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision


def is_admin(
    policy: Policy, members: Membership, user: str, *, settings_admins: Collection[str] = ()
) -> bool:
    if user in settings_admins or user in policy.admins.users:
        return True
    return any(user in members.members.get(group, frozenset()) for group in policy.admins.groups)


def who_can_change(policy: Policy, *, settings_admins: Collection[str] = ()) -> str:
    """ "Ask an admin: <@U1>, <@U2> (or anyone in `platform`)", or who to ask when none is named."""
    users = list(dict.fromkeys([*policy.admins.users, *settings_admins]))
    parts = [", ".join(f"<@{u}>" for u in users)] if users else []
    if policy.admins.groups:
        groups = ", ".join(f"`{g}`" for g in policy.admins.groups)
        parts.append(f"anyone in {groups}" if not users else f"(or anyone in {groups})")
    if not parts:
        return "Ask whoever runs the bot to change the policy file."
    return "Ask an admin: " + " ".join(parts) + "."


def scopes(policy: Policy, members: Membership, user: str) -> list[Scope]:
    """The scopes that apply to `user`, broadest first."""
    out = [Scope("everyone", "everyone", policy.everyone, frozenset({user}))]
    for name in members.groups_of(user):
        out.append(
            Scope(f"groups.{name}", f"your group `{name}`", policy.groups[name], members.members[name])
        )
    if user in policy.users:
        out.append(Scope(f"users.{user}", "you", policy.users[user], frozenset({user})))
    return out


def _matches(patterns: list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def pattern_refusal(patterns: Patterns, value: str) -> str | None:
    """ "deny" or "allow" when `value` is refused by that list, else None."""
    if _matches(patterns.deny, value):
        return "deny"
    if patterns.allow is not None and not _matches(patterns.allow, value):
        return "allow"
    return None


def ceilings(
    policy: Policy, members: Membership, user: str
) -> tuple[timedelta | None, timedelta | None, bool]:
    """(lowest max_ttl, lowest max_idle, spot only?) over the scopes that apply to `user`."""
    applied = scopes(policy, members, user)
    ttls = [s.rules.max_ttl for s in applied if s.rules.max_ttl is not None]
    idles = [s.rules.max_idle for s in applied if s.rules.max_idle is not None]
    return (
        min(ttls) if ttls else None,
        min(idles) if idles else None,
        any(s.rules.spot_only for s in applied),
    )


def check_request(
    policy: Policy, members: Membership, ask: Ask, *, settings_admins: Collection[str] = ()
) -> Decision | None:
    """The first rule (channel, model, GPU type, spot, ttl, idle, remote code) that refuses `ask`."""
    if is_admin(policy, members, ask.user, settings_admins=settings_admins):
        return None
    admins = _admins(policy, settings_admins)
    ask_admin = who_can_change(policy, settings_admins=settings_admins)

    def refuse(rule: str, limit: Any, current: Any, sentence: str) -> Decision:
        return Decision(rule, limit, current, f"{sentence} (policy rule `{rule}`). {ask_admin}", admins)

    if policy.channels is not None and ask.channel not in policy.channels:
        where = ", ".join(f"<#{c}>" for c in policy.channels) or "no channel"
        return refuse("channels", policy.channels, ask.channel, f"Endpoints may only be launched in {where}")
    for scope in scopes(policy, members, ask.user):
        r, path, who = scope.rules, scope.path, scope.label
        which = pattern_refusal(r.models, ask.model)
        if which:
            return refuse(f"{path}.models.{which}", getattr(r.models, which), ask.model,
                          f"{_cap(who)} may not launch `{ask.model}`")  # fmt: skip
        which = pattern_refusal(r.gpus, ask.gpu) if ask.gpu else None
        if which:
            allowed = f"; allowed: {', '.join(r.gpus.allow)}" if r.gpus.allow else ""
            return refuse(f"{path}.gpus.{which}", getattr(r.gpus, which), ask.gpu,
                          f"{_cap(who)} may not use {ask.gpu} GPUs{allowed}")  # fmt: skip
        if r.spot_only and not ask.spot:
            return refuse(
                f"{path}.spot_only", True, False, f"{_cap(who)} may only use spot instances (`spot=yes`)"
            )
        if r.max_ttl is not None and ask.ttl > r.max_ttl:
            return refuse(f"{path}.max_ttl", r.max_ttl, ask.ttl,
                          f"{_cap(who)} may ask for a lifetime of at most {format_duration(r.max_ttl)}, "
                          f"not {format_duration(ask.ttl)}")  # fmt: skip
        if r.max_idle is not None and ask.idle > r.max_idle:
            return refuse(f"{path}.max_idle", r.max_idle, ask.idle,
                          f"{_cap(who)} may set an idle timeout of at most {format_duration(r.max_idle)}, "
                          f"not {format_duration(ask.idle)}")  # fmt: skip
        if ask.trust_remote_code and not r.trust_remote_code:
            return refuse(f"{path}.trust_remote_code", False, True,
                          f"{_cap(who)} may not run models that need their own code (`{ask.model}` has "
                          "trust_remote_code)")  # fmt: skip
    return None


def check_limits(
    policy: Policy,
    members: Membership,
    ask: Ask,
    use_of: Callable[[frozenset[str]], Use],
    *,
    settings_admins: Collection[str] = (),
) -> Decision | None:
    """The first limit (endpoints, GPUs, $/hour, $/day) that `ask` would go over, given current use."""
    if is_admin(policy, members, ask.user, settings_admins=settings_admins):
        return None
    ask_admin = who_can_change(policy, settings_admins=settings_admins)
    for scope in scopes(policy, members, ask.user):
        limits = scope.rules.limits
        if not limits.any():
            continue
        use = use_of(scope.owners)
        held = _held(scope, use)
        checks = (
            ("endpoints", limits.endpoints, len(use.endpoints), 1, lambda n: counted(n, "endpoint") + " at once"),
            ("gpus", limits.gpus, use.gpus, ask.gpus, lambda n: counted(n, "GPU") + " at once"),
            ("dollars_per_hour", limits.dollars_per_hour, use.dollars_per_hour, ask.price_per_hour,
             lambda n: f"{format_money(n)}/hour at once"),
            ("dollars_per_day", limits.dollars_per_day, use.dollars_today, 0.0, lambda n: f"{format_money(n)} a day"),
        )  # fmt: skip
        for key, limit, current, adds, say in checks:
            if limit is None:
                continue
            over = current >= limit if key == "dollars_per_day" else current + adds > limit
            if not over:
                continue
            rule = f"{scope.path}.limits.{key}"
            now = _in_use(key, current, held, scope)
            message = f"{_cap(scope.label)} may use at most {say(limit)}; {now}"
            if adds and key != "endpoints":
                message += f", and this launch needs {_amount(key, adds)} more"
            message += f" (policy rule `{rule}`). {ask_admin}"
            return Decision(rule, limit, current, message, _admins(policy, settings_admins))
    return None


def _held(scope: Scope, use: Use) -> str:
    return f" ({', '.join(f'`{n}`' for n in use.endpoints)})" if use.endpoints else ""


def _in_use(key: str, current: float, held: str, scope: Scope) -> str:
    subject = "you have" if scope.label in ("you", "everyone") else "it has"
    if key == "dollars_per_day":
        return f"{subject.split()[0]} spent {format_money(current)} today"
    return f"{subject} {_amount(key, current)} in use{held}"


def _amount(key: str, value: float) -> str:
    if key == "endpoints":
        return counted(int(value), "endpoint")
    if key == "gpus":
        return counted(int(value), "GPU")
    return f"{format_money(value)}/hour" if key == "dollars_per_hour" else format_money(value)


def counted(n: float, noun: str) -> str:
    """ "1 GPU", "2 GPUs"."""
    n = int(n)
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _cap(label: str) -> str:
    return "Everyone" if label == "everyone" else label[:1].upper() + label[1:]


def _admins(policy: Policy, settings_admins: Collection[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*policy.admins.users, *settings_admins]))
