"""The policy file: validated at start with the line and the reason, re-read when it changes."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from core.policy.loader import PolicyError, PolicySource, load_policy, parse_policy
from core.settings import load_settings

GOOD = """\
admins: {users: [U0ALICE], groups: [platform]}
channels: [C0GPU]
key_delivery: dm
everyone:
  limits: {endpoints: 2, dollars_per_day: 300}
  gpus: {deny: [H100]}
  max_ttl: 8h
groups:
  platform: {slack: S0PLATFORM}
  ml-interns:
    members: [U0BOB]
    limits: {gpus: 2}
users:
  U0CAROL: {trust_remote_code: false}
"""


def test_a_good_file_reads_into_typed_rules() -> None:
    policy = parse_policy(GOOD)
    assert policy.key_delivery == "dm" and policy.channels == ["C0GPU"]
    assert policy.everyone.max_ttl == timedelta(hours=8)
    assert policy.groups["ml-interns"].limits.gpus == 2
    assert policy.slack_groups() == {"platform": "S0PLATFORM"}
    assert policy.users["U0CAROL"].trust_remote_code is False


def test_an_empty_file_is_no_rules() -> None:
    assert parse_policy("") == parse_policy("{}")
    assert parse_policy("").channels is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "everyone:\n  limits:\n    gpus: many\n",
            "line 3: everyone.limits.gpus: Input should be a valid integer",
        ),
        (
            "everyone:\n  limits:\n    gpus: -1\n",
            "line 3: everyone.limits.gpus: Input should be greater than or equal to 0",
        ),
        ("everyone:\n  limitz: {gpus: 1}\n", "line 2: everyone.limitz: Extra inputs are not permitted"),
        ("key_delivery: email\n", "line 1: key_delivery: Input should be 'thread' or 'dm'"),
        ("everyone:\n  max_ttl: 8x\n", "line 2: everyone.max_ttl: `8x` is not a valid duration"),
        ("groups:\n  a:\n    slack: not-an-id\n", "line 3: groups.a.slack: String should match pattern"),
        ("admins: {groups: [nobody]}\n", "admins.groups names nobody, which is not under `groups:`"),
        ("everyone: [1, 2\n", "line 2: not valid YAML"),
        ("- just\n- a list\n", "line 1: the file must be a mapping"),
    ],
)
def test_a_bad_file_names_the_line_and_the_reason(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as bad:
        parse_policy(text, source="team.yaml")
    assert str(bad.value).startswith("team.yaml")
    assert expected in str(bad.value)


def test_settings_refuse_a_bad_or_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("everyone:\n  spot_only: perhaps\n")
    with pytest.raises(ValueError, match=r"policy.yaml line 2: everyone.spot_only"):
        load_settings(_env_file=None, policy_file=bad)
    with pytest.raises(ValueError, match="cannot be read"):
        load_settings(_env_file=None, policy_file=tmp_path / "missing.yaml")
    bad.write_text(GOOD)
    assert load_settings(_env_file=None, policy_file=bad).policy_file == bad


def test_the_source_rereads_a_changed_file_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("everyone: {limits: {endpoints: 1}}\n")
    source = PolicySource(path)
    assert source.current().everyone.limits.endpoints == 1

    def rewrite(text: str, tick: int) -> None:
        path.write_text(text)
        stamp = path.stat().st_mtime + tick  # a new mtime even on a coarse-grained file system
        os.utime(path, (stamp, stamp))

    rewrite("everyone: {limits: {endpoints: 3}}\n", 1)
    assert source.current().everyone.limits.endpoints == 3
    rewrite("everyone: {limits: {endpoints: lots}}\n", 2)
    assert source.current().everyone.limits.endpoints == 3  # a typo does not lift the rules
    with pytest.raises(PolicyError):
        load_policy(path)


def test_no_file_is_no_rules() -> None:
    assert PolicySource(None).current() == parse_policy("")


def test_the_readme_example_is_a_valid_policy() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("### Team policy", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = parse_policy(example, source="README")
    assert policy.key_delivery == "dm" and policy.groups["ml-interns"].limits.gpus == 2
