"""Policy evaluation as pure functions: each rule refuses with its name, its limit and who can change it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core.endpoints.service import UpRequest
from core.errors import PermissionDenied
from core.fit.plan import Suggestion
from core.policy import rules
from core.policy.gate import PolicyGate
from core.policy.loader import PolicySource, parse_policy
from core.policy.rules import Ask, PolicyRefused, Use
from tests.bot.slack.views_fixtures import plan as a_plan

POLICY = parse_policy("""\
admins: {users: [U0ALICE], groups: [platform]}
channels: [C0GPU]
everyone:
  gpus: {deny: [H100]}
  models: {deny: ["meta-llama/*"]}
  max_ttl: 8h
  max_idle: 1h
  limits: {endpoints: 2, dollars_per_day: 100}
groups:
  platform: {slack: S0PLATFORM}
  ml-interns:
    slack: S0INTERNS
    members: [U0BOB]
    spot_only: true
    gpus: {allow: [L4, A10G]}
    limits: {gpus: 2}
users:
  U0CAROL: {trust_remote_code: false}
""")
MEMBERS = rules.membership(POLICY, {"S0INTERNS": ["U0DAN"], "S0PLATFORM": ["U0ERIN"]})
ASK = Ask(user="U0ZED", channel="C0GPU", model="Qwen/Qwen2.5-7B-Instruct", gpu="L4", gpus=1, spot=False,
          ttl=timedelta(hours=4), idle=timedelta(minutes=30))  # fmt: skip


def _rule(ask: Ask) -> str | None:
    decision = rules.check_request(POLICY, MEMBERS, ask)
    return decision.rule if decision else None


def test_membership_joins_the_files_members_and_the_slack_group() -> None:
    assert MEMBERS.groups_of("U0BOB") == ["ml-interns"] and MEMBERS.groups_of("U0DAN") == ["ml-interns"]
    assert rules.is_admin(POLICY, MEMBERS, "U0ERIN") and rules.is_admin(POLICY, MEMBERS, "U0ALICE")
    assert not rules.is_admin(POLICY, MEMBERS, "U0BOB")
    assert rules.is_admin(POLICY, MEMBERS, "U0OPS", settings_admins=["U0OPS"])


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({}, None),
        ({"channel": "C0RANDOM"}, "channels"),
        ({"model": "meta-llama/Llama-3.1-8B-Instruct"}, "everyone.models.deny"),
        ({"gpu": "H100"}, "everyone.gpus.deny"),
        ({"ttl": timedelta(hours=9)}, "everyone.max_ttl"),
        ({"idle": timedelta(hours=2)}, "everyone.max_idle"),
        ({"user": "U0DAN"}, "groups.ml-interns.spot_only"),
        ({"user": "U0DAN", "spot": True, "gpu": "A100-80GB"}, "groups.ml-interns.gpus.allow"),
        ({"user": "U0DAN", "spot": True}, None),
        ({"user": "U0CAROL", "trust_remote_code": True}, "users.U0CAROL.trust_remote_code"),
        ({"user": "U0ALICE", "gpu": "H100", "channel": "C0RANDOM"}, None),  # admins are not bound
    ],
)
def test_each_static_rule_refuses_by_name(change: dict, rule: str | None) -> None:
    assert _rule(replace(ASK, **change)) == rule


def test_a_refusal_says_the_rule_and_who_can_change_it() -> None:
    decision = rules.check_request(POLICY, MEMBERS, replace(ASK, gpu="H100"))
    assert decision is not None
    assert decision.message == (
        "Everyone may not use H100 GPUs (policy rule `everyone.gpus.deny`). "
        "Ask an admin: <@U0ALICE> (or anyone in `platform`)."
    )


def test_limits_count_the_person_or_the_whole_group() -> None:
    seen: list[frozenset[str]] = []

    def use_of(owners: frozenset[str]) -> Use:
        seen.append(owners)
        return Use(endpoints=("a", "b"), gpus=2, dollars_per_hour=3.0, dollars_today=20.0)

    intern = replace(ASK, user="U0BOB", spot=True)
    decision = rules.check_limits(POLICY, MEMBERS, intern, use_of)
    assert decision is not None and decision.rule == "everyone.limits.endpoints"
    assert decision.limit == 2 and decision.current == 2
    assert decision.message.startswith(
        "Everyone may use at most 2 endpoints at once; you have 2 endpoints in use (`a`, `b`)"
    )
    loose = POLICY.model_copy(
        update={"everyone": POLICY.everyone.model_copy(update={"limits": POLICY.groups["platform"].limits})}
    )
    decision = rules.check_limits(loose, MEMBERS, intern, use_of)
    assert decision is not None and decision.rule == "groups.ml-interns.limits.gpus"
    assert (
        "Your group `ml-interns` may use at most 2 GPUs at once; it has 2 GPUs in use (`a`, `b`), and this launch needs 1 GPU more"
        in decision.message
    )
    assert frozenset({"U0BOB", "U0DAN"}) in seen  # the group's limit counts every member


def test_the_daily_spend_limit_refuses_once_reached() -> None:
    spent = lambda owners: Use(dollars_today=100.0)  # noqa: E731
    decision = rules.check_limits(POLICY, MEMBERS, ASK, spent)
    assert decision is not None and decision.rule == "everyone.limits.dollars_per_day"
    assert "you spent $100.00 today" in decision.message


def _gate() -> PolicyGate:
    gate = PolicyGate(PolicySource.fixed(POLICY))
    gate.groups = lambda ids: {"S0INTERNS": ["U0DAN"], "S0PLATFORM": ["U0ERIN"]}
    return gate


def test_defaults_are_brought_under_the_ceilings_and_spot_only_turns_spot_on() -> None:
    request = UpRequest(
        model="Qwen/Qwen2.5-7B-Instruct", accelerators="L4:1", owner_id="U0DAN", channel_id="C0GPU"
    )
    shaped = _gate().before_fit(request, default_ttl=timedelta(hours=24), default_idle=timedelta(hours=3),
                                default_spot=False)  # fmt: skip
    assert (shaped.ttl, shaped.idle_timeout, shaped.spot) == (timedelta(hours=8), timedelta(hours=1), True)
    with pytest.raises(PolicyRefused, match=r"groups\.ml-interns\.spot_only"):
        _gate().before_fit(replace(request, spot=False), default_ttl=timedelta(hours=1),
                           default_idle=timedelta(hours=1), default_spot=False)  # fmt: skip


def test_what_would_fit_only_names_shapes_the_policy_allows() -> None:
    suggestions = [
        Suggestion("Use L4:2", "L4:2", 1.6, {"accelerators": "L4:2"}),
        Suggestion("Use L4:4", "L4:4", 3.2, {"accelerators": "L4:4"}),
        Suggestion("Use H100:1", "H100:1", 3.0, {"accelerators": "H100:1"}),
        Suggestion("Use A100-80GB:1", "A100-80GB:1", 2.5, {"accelerators": "A100-80GB:1"}),
        Suggestion("FP8 KV", "L4:1", 0.8, {"kv_cache_dtype": "fp8"}),
    ]
    plan = a_plan(fits=False, suggestions=suggestions)
    kept = _gate().allowed_suggestions(plan, user="U0DAN").suggestions
    assert [s.accelerators for s in kept] == [
        "L4:2",
        "L4:1",
    ]  # no H100 (denied), no A100 (not allowed), <= 2 GPUs
    everyone = _gate().allowed_suggestions(plan, user="U0ZED").suggestions
    assert [s.accelerators for s in everyone] == ["L4:2", "L4:4", "A100-80GB:1", "L4:1"]
    assert _gate().allowed_suggestions(plan, user="U0ALICE").suggestions == suggestions


def test_the_lifetime_ceiling_binds_extensions_unless_an_admin_extends() -> None:
    gate = _gate()
    settings_cap = timedelta(hours=72)
    assert gate.ttl_ceiling(owner="U0DAN", actor="U0DAN", ceiling=settings_cap) == timedelta(hours=8)
    assert (
        gate.ttl_ceiling(owner="U0DAN", actor="U0ERIN", ceiling=settings_cap) == settings_cap
    )  # admin by group
    assert gate.ttl_ceiling(owner="U0DAN", actor="U0DAN", ceiling=timedelta(hours=2)) == timedelta(hours=2)


def test_fit_lists_only_the_shapes_the_policy_allows() -> None:
    shapes = [a_plan(accelerators=a, gpu_name=a.split(":")[0], gpu_count=int(a.split(":")[1]))
              for a in ("L4:1", "H100:1", "L4:4", "A10G:2")]  # fmt: skip
    gate = _gate()
    assert [p.accelerators for p in gate.allowed_plans(shapes, user="U0DAN", named=False)] == [
        "L4:1",
        "A10G:2",
    ]
    assert [p.accelerators for p in gate.allowed_plans(shapes, user="U0ZED", named=False)] == [
        "L4:1",
        "L4:4",
        "A10G:2",
    ]
    # A GPU named by the person keeps its verdict (its suggestions are filtered).
    assert [p.accelerators for p in gate.allowed_plans(shapes[1:2], user="U0DAN", named=True)] == ["H100:1"]
    with pytest.raises(
        PermissionDenied,
        match=r"2 shapes would fit \(H100:1, L4:4\), but the team policy lets you launch none",
    ):
        gate.allowed_plans(shapes[1:3], user="U0DAN", named=False)
