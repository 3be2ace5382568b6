"""The policy file's shape: pydantic models, strict (an unknown key is a mistake, not ignored).

```yaml
admins: {users: [U0ALICE], groups: [platform]}
channels: [C0GPU]            # where `up` is allowed (left out: anywhere)
key_delivery: dm             # thread (default) or dm
everyone: {limits: {endpoints: 2}, gpus: {deny: [H100]}}
groups:
  ml-interns: {slack: S0INTERNS, members: [U0BOB], limits: {gpus: 2}}
users:
  U0CAROL: {limits: {dollars_per_day: 500}}
```
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from core.units import coerce_duration

Duration = Annotated[timedelta, BeforeValidator(coerce_duration), Field(gt=timedelta(0))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """What a person (or a whole group) may hold at once and spend; unset means no limit."""

    endpoints: int | None = Field(None, ge=0, description="live endpoints at once")
    gpus: int | None = Field(None, ge=0, description="GPUs in use at once")
    dollars_per_hour: float | None = Field(None, ge=0, description="$/hour of the live endpoints")
    dollars_per_day: float | None = Field(None, ge=0, description="$ spent since 00:00 UTC")

    def any(self) -> bool:
        return any(v is not None for v in self.model_dump().values())


class Patterns(_Strict):
    """Allowed and denied names (shell-style patterns, case-insensitive; deny wins)."""

    allow: list[str] | None = None  # None: everything not denied
    deny: list[str] = Field(default_factory=list)


class Rules(_Strict):
    """The rules of one scope (everyone, a group, a user); a person gets the strictest of theirs."""

    limits: Limits = Field(default_factory=Limits)
    gpus: Patterns = Field(default_factory=Patterns)  # GPU types, SkyPilot's names (`A100-80GB`)
    models: Patterns = Field(default_factory=Patterns)  # model ids (`Qwen/*`)
    spot_only: bool = False
    max_ttl: Duration | None = None
    max_idle: Duration | None = None
    trust_remote_code: bool = True  # may models that run their own code (auto_map) be launched


class Group(Rules):
    """A group: members listed here and/or a Slack user group (its id, `S0...`), resolved by the bot."""

    slack: str | None = Field(None, pattern=r"^S[A-Z0-9]{2,30}$")
    members: list[str] = Field(default_factory=list)


class Admins(_Strict):
    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)  # names under `groups:`


class Policy(_Strict):
    """The whole file. An empty file is the bot without a policy (anyone may do anything in limits)."""

    admins: Admins = Field(default_factory=Admins)
    channels: list[str] | None = None
    key_delivery: Literal["thread", "dm"] = "thread"
    everyone: Rules = Field(default_factory=Rules)
    groups: dict[str, Group] = Field(default_factory=dict)
    users: dict[str, Rules] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _admin_groups_exist(self) -> Policy:
        unknown = [name for name in self.admins.groups if name not in self.groups]
        if unknown:
            raise ValueError(f"admins.groups names {', '.join(unknown)}, which is not under `groups:`")
        return self

    def slack_groups(self) -> dict[str, str]:
        """Group name -> Slack user group id, for the groups the bot must ask Slack about."""
        return {name: group.slack for name, group in self.groups.items() if group.slack}
