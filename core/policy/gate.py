"""`PolicyGate`: what the endpoint service asks of the policy, in three calls around a launch.

`before_fit` (the defaults brought under the ceilings, then channel / model / GPU / spot / ttl / idle),
`allowed_suggestions` (the fit check's "what would fit", only shapes the policy allows) and `admit`
(the limits, inside the transaction that records the launch). Membership of Slack user groups comes
from `groups` (set by the Slack adapter; the file's `members` lists without it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.endpoints.records import replica_bounds
from core.errors import PermissionDenied
from core.fit.plan import Plan
from core.gpus import parse_accelerators
from core.policy import rules
from core.policy.loader import PolicySource
from core.policy.model import Policy
from core.policy.rules import Ask, Membership, PolicyRefused
from core.policy.usage import gpu_count, lock_limits, use_of

# Slack user group id -> its members (the adapter's cached `usergroups.users.list`).
GroupLookup = Callable[[Collection[str]], Mapping[str, Collection[str]]]


class PolicyGate:
    """The service's one handle on the policy: the current file, who is in which group, the checks."""

    def __init__(self, source: PolicySource, *, settings_admins: Collection[str] = ()) -> None:
        self.source = source
        self.settings_admins = tuple(settings_admins)
        self.groups: GroupLookup | None = None

    @property
    def policy(self) -> Policy:
        return self.source.current()

    def membership(self, policy: Policy | None = None) -> Membership:
        policy = policy or self.policy
        slack_ids = set(policy.slack_groups().values())
        slack = self.groups(sorted(slack_ids)) if self.groups is not None and slack_ids else {}
        return rules.membership(policy, slack)

    def is_admin(self, user: str) -> bool:
        policy = self.policy
        if not policy.admins.groups:  # no group to resolve: no call to Slack
            return rules.is_admin(policy, Membership(), user, settings_admins=self.settings_admins)
        return rules.is_admin(policy, self.membership(policy), user, settings_admins=self.settings_admins)

    def ttl_ceiling(self, *, owner: str, actor: str, ceiling: timedelta) -> timedelta:
        """How long `owner`'s endpoint may live in all (extensions included): the settings' ceiling, or
        the owner's policy `max_ttl` when lower (unless an admin extends it)."""
        policy = self.policy
        members = self.membership(policy)
        if rules.is_admin(policy, members, actor, settings_admins=self.settings_admins):
            return ceiling
        if rules.is_admin(policy, members, owner, settings_admins=self.settings_admins):
            return ceiling
        cap, _, _ = rules.ceilings(policy, members, owner)
        return min(ceiling, cap) if cap is not None else ceiling

    def before_fit(
        self, request: Any, *, default_ttl: timedelta, default_idle: timedelta, default_spot: bool
    ) -> Any:
        """`request` (a service UpRequest) with its left-out ttl / idle / spot brought under the
        person's ceilings; PolicyRefused when what they asked for is not allowed."""
        policy = self.policy
        members = self.membership(policy)
        ttl_cap, idle_cap, spot_only = rules.ceilings(policy, members, request.owner_id)
        changes: dict[str, Any] = {}
        if request.ttl is None and ttl_cap is not None and default_ttl > ttl_cap:
            changes["ttl"] = ttl_cap
        if request.idle_timeout is None and idle_cap is not None and default_idle > idle_cap:
            changes["idle_timeout"] = idle_cap
        if request.spot is None and spot_only:
            changes["spot"] = True
        request = replace(request, **changes) if changes else request
        decision = rules.check_request(policy, members, self._ask(request, default_ttl, default_idle, default_spot),
                                       settings_admins=self.settings_admins)  # fmt: skip
        if decision is not None:
            raise PolicyRefused(decision)
        return request

    def after_fit(self, request: Any, plan: Plan) -> None:
        """The rules only the fit check can answer (a model that runs its own code)."""
        if not plan.trust_remote_code:
            return
        ask = replace(self._ask(request, timedelta(0), timedelta(0), True), trust_remote_code=True)
        decision = rules.check_request(
            self.policy, self.membership(), ask, settings_admins=self.settings_admins
        )
        if decision is not None:
            raise PolicyRefused(decision)

    def allowed_suggestions(self, plan: Plan, *, user: str) -> Plan:
        """`plan` with only the suggestions whose GPUs the policy lets `user` launch."""
        if not plan.suggestions:
            return plan
        allowed = self._shape_filter(user)
        return replace(plan, suggestions=[s for s in plan.suggestions if allowed(s.accelerators)])

    def allowed_plans(self, plans: list[Plan], *, user: str, named: bool) -> list[Plan]:
        """`/endpoint fit`: the cheapest shapes `user` may launch (when no GPU was `named`: a named
        one keeps its verdict), each plan's "what would fit" filtered the same way. PermissionDenied
        when shapes fit but the policy allows none of them."""
        allowed = self._shape_filter(user)
        shapes = plans if named else [p for p in plans if allowed(p.accelerators)]
        if plans and not shapes:
            raise PermissionDenied(
                f"{rules.counted(len(plans), 'shape')} would fit ({', '.join(p.accelerators for p in plans)}), but the "
                f"team policy lets you launch none of them (GPU types or GPU limits; `/endpoint policy` shows "
                f"yours). {rules.who_can_change(self.policy, settings_admins=self.settings_admins)}"
            )
        return [self.allowed_suggestions(p, user=user) for p in shapes]

    def _shape_filter(self, user: str) -> Callable[[str], bool]:
        """NAME:COUNT -> may `user` launch that shape (GPU type allowed, count within every GPU limit)."""
        policy = self.policy
        members = self.membership(policy)
        if rules.is_admin(policy, members, user, settings_admins=self.settings_admins):
            return lambda _accelerators: True
        applied = rules.scopes(policy, members, user)
        caps = [s.rules.limits.gpus for s in applied if s.rules.limits.gpus is not None]

        def allowed(accelerators: str) -> bool:
            try:
                accel = parse_accelerators(accelerators)
            except Exception:
                return True  # not ours to judge: the fit check made it
            if caps and accel.count > min(caps):
                return False
            return not any(rules.pattern_refusal(s.rules.gpus, accel.gpu.name) for s in applied)

        return allowed

    def admit(
        self, request: Any, *, accelerators: str, price_per_hour: float, now: datetime
    ) -> Callable[[Session], None]:
        """The limits check to run inside the transaction that inserts the endpoint row."""
        policy = self.policy
        members = self.membership(policy)
        ask = replace(self._ask(request, timedelta(0), timedelta(0), True),
                      gpus=gpu_count(accelerators) * _most_replicas(request),  # every replica's GPUs
                      price_per_hour=price_per_hour)  # fmt: skip
        applied = [s for s in rules.scopes(policy, members, request.owner_id) if s.rules.limits.any()]

        def check(session: Session) -> None:
            if not applied:
                return
            lock_limits(
                session,
                [s.path if s.path.startswith("groups.") else f"user:{request.owner_id}" for s in applied],
            )
            decision = rules.check_limits(
                policy, members, ask, lambda owners: use_of(session, owners, now=now),
                settings_admins=self.settings_admins,
            )  # fmt: skip
            if decision is not None:
                raise PolicyRefused(decision)

        return check

    @staticmethod
    def _ask(request: Any, default_ttl: timedelta, default_idle: timedelta, default_spot: bool) -> Ask:
        try:
            accel = parse_accelerators(request.accelerators)
            gpu, count = accel.gpu.name, accel.count
        except Exception:  # the fit check explains a GPU it cannot read
            gpu, count = None, 0
        return Ask(
            user=request.owner_id,
            channel=request.channel_id,
            model=request.model,
            gpu=gpu,
            gpus=count,
            spot=default_spot if request.spot is None else request.spot,
            ttl=request.ttl or default_ttl,
            idle=request.idle_timeout or default_idle,
        )


def _most_replicas(request: Any) -> int:
    """How many replicas a launch may run at most (1 without `replicas=` / `autoscale=`)."""
    if getattr(request, "replicas", None) is None and getattr(request, "autoscale", None) is None:
        return 1
    return replica_bounds(request)[1]
