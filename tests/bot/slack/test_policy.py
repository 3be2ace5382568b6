"""The team policy through the real Bolt app over HTTP: refusals naming their rule, Slack user groups
(`usergroups.users.list` on the fake Slack), keys by DM, `/endpoint policy` and `/endpoint log`."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.endpoints.states import EndpointState
from core.errors import NotFound
from tests.bot.slack.harness import SlackHarness

pytestmark = pytest.mark.timeout(300)

MODEL = "Qwen/Qwen2.5-7B-Instruct"
POLICY = """\
admins: {groups: [platform]}
channels: [C1GENERAL]
key_delivery: dm
everyone:
  limits: {endpoints: 1}
  gpus: {deny: [H100]}
  max_ttl: 4h
groups:
  platform: {slack: S0PLATFORM}
  ml-interns: {slack: S0INTERNS, limits: {gpus: 1}}
"""


@pytest.fixture
def policed(tmp_path: Path, fake_hub: object) -> Iterator[SlackHarness]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    h = SlackHarness(tmp_path, settings_overrides={"policy_file": path})
    h.slack.usergroups.update(
        {"S0PLATFORM": {"handle": "platform", "users": ["U4PLAT"]},
         "S0INTERNS": {"handle": "ml-interns", "users": ["U2INTERN"]}}
    )  # fmt: skip
    yield h
    h.close()


def _answer(h: SlackHarness, text: str, *, key: str, **kwargs: str) -> dict:
    assert h.command(text, key=key, **kwargs).status == 200
    return h.slack.wait_for_response(lambda r: r["_key"] == key and "hourglass" not in r.get("text", ""))


def _all_text(response: dict) -> str:
    return response.get("text", "") + json.dumps(response.get("blocks") or [], ensure_ascii=False)


def _state(h: SlackHarness, name: str) -> EndpointState | None:
    try:
        return h.service.status(name=name).state
    except NotFound:
        return None


def test_each_rule_refuses_by_name_and_launches_nothing(policed: SlackHarness) -> None:
    h = policed
    elsewhere = _answer(h, f"up {MODEL} L4:1", key="elsewhere", channel_id="C2RANDOM")
    assert elsewhere["text"].startswith(":warning: Endpoints may only be launched in <#C1GENERAL>")
    assert "(policy rule `channels`)" in elsewhere["text"]
    assert "Ask an admin: <@U9ADMIN> (or anyone in `platform`)." in elsewhere["text"]
    h100 = _answer(h, f"up {MODEL} H100:1", key="h100")
    assert "Everyone may not use H100 GPUs (policy rule `everyone.gpus.deny`)" in h100["text"]
    long = _answer(h, f"up {MODEL} L4:1 ttl=8h", key="ttl")
    assert "at most 4h, not 8h (policy rule `everyone.max_ttl`)" in long["text"]
    intern = _answer(h, f"up {MODEL} L4:2", key="intern", user_id="U2INTERN")
    assert "Your group `ml-interns` may use at most 1 GPU at once; it has 0 GPUs in use" in intern["text"]
    assert "(policy rule `groups.ml-interns.limits.gpus`)" in intern["text"]
    assert any(c.args.get("usergroup") == "S0INTERNS" for c in h.slack.calls_to("usergroups.users.list"))
    # "What would fit" names only shapes the policy allows: no H100 for anyone, one GPU for the intern.
    mixtral = "up mistralai/Mixtral-8x7B-Instruct-v0.1 L4:1"
    owner = re.findall(r"Use ([A-Za-z0-9-]+):(\d+)", _all_text(_answer(h, mixtral, key="fit-owner")))
    assert owner and all(gpu != "H100" for gpu, _ in owner), owner
    assert any(count != "1" for _, count in owner), owner  # the owner is offered more GPUs...
    nofit = _answer(h, mixtral, key="fit-intern", user_id="U2INTERN")
    assert "does not fit" in nofit["text"]
    assert all(count == "1" for _, count in re.findall(r"Use ([A-Za-z0-9-]+):(\d+)", _all_text(nofit)))
    h.settle()
    assert h.service.list(include_terminal=True) == []
    assert h.cloud.calls_to("submit") == []
    assert h.slack.calls_to("chat.postMessage") == []


def test_key_by_dm_a_limit_of_one_the_log_and_the_policy_view(policed: SlackHarness) -> None:
    h = policed
    _answer(h, f"up {MODEL} L4:1 name=qwen", key="up")
    h.slack.wait_for(lambda s: _state(h, "qwen") == EndpointState.READY, what="READY")
    h.settle()
    view = h.service.status(name="qwen")
    assert view.expires_at - view.requested_at <= timedelta(hours=4)  # the ceiling
    # The key went by DM; the thread says where, and never shows it.
    dms = [c.args for c in h.slack.calls_to("chat.postMessage") if str(c.args.get("channel")).startswith("D")]
    assert any("Bearer epk-" in json.dumps(d.get("blocks", [])) for d in dms)
    thread = h.slack.thread_replies(view.channel_id or "", view.message_ts or "")
    assert "epk-" not in json.dumps(thread)
    assert any("its API key was sent to <@U1OWNER> by DM" in r.get("text", "") for r in thread)

    second = _answer(h, f"up {MODEL} L4:1 name=two", key="second")
    assert ("Everyone may use at most 1 endpoint at once; you have 1 endpoint in use (`qwen`) "
            "(policy rule `everyone.limits.endpoints`)") in second["text"]  # fmt: skip
    assert _state(h, "two") is None

    log = _all_text(_answer(h, "log qwen", key="log"))
    assert "Audit trail of `qwen`" in log and "created" in log and "READY" in log
    stranger = _answer(h, "log qwen", key="stranger", user_id="U3STRANGER")
    assert stranger["text"] == ":warning: Only <@U1OWNER> (who launched `qwen`) or an admin may read its log."
    assert "Audit trail" in _all_text(_answer(h, "log qwen", key="plat", user_id="U4PLAT"))  # admin by group

    mine = _all_text(_answer(h, "policy", key="mine"))
    assert (
        "at most 1 endpoint(s)" in mine and "1 endpoint(s) (`qwen`)" in mine and "Live endpoints" not in mine
    )
    admin = _all_text(_answer(h, "policy", key="admin", user_id="U9ADMIN"))
    assert "Live endpoints (1)" in admin and "`qwen` · <@U1OWNER> · L4:1" in admin and "so far" in admin
    # The policy's lifetime ceiling binds extensions too.
    extended = _answer(h, "extend qwen 8h", key="extend")
    assert "already runs to the 4h ceiling" in extended["text"]  # the settings allow 72h
    # An admin may stop anyone's endpoint, through the policy's Slack group too.
    stop = _answer(h, "down qwen", key="down", user_id="U4PLAT")
    assert "Stopping" in stop["text"] or "stop" in stop["text"].lower()
    h.settle()


MORE_RULES = """\
everyone:
  models: {deny: ["meta-llama/*"]}
  max_idle: 1h
  limits: {dollars_per_hour: 0.5}
groups:
  ml-interns: {members: [U2INTERN], spot_only: true}
"""


def test_more_rules_by_name_and_a_changed_file_applies_at_once(tmp_path: Path, fake_hub: object) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(MORE_RULES)
    h = SlackHarness(tmp_path, settings_overrides={"policy_file": path})
    try:
        llama = _answer(h, "up meta-llama/Llama-3.1-70B-Instruct A100-80GB:4", key="llama")
        assert (
            "Everyone may not launch `meta-llama/Llama-3.1-70B-Instruct` (policy rule `everyone.models.deny`)"
            in llama["text"]
        )
        idle = _answer(h, f"up {MODEL} L4:1 idle=2h", key="idle")
        assert "at most 1h, not 2h (policy rule `everyone.max_idle`)" in idle["text"]
        spot = _answer(h, f"up {MODEL} L4:1 spot=no", key="spot", user_id="U2INTERN")
        assert (
            "Your group `ml-interns` may only use spot instances (`spot=yes`) (policy rule `groups.ml-interns.spot_only`)"
            in spot["text"]
        )
        money = _answer(h, f"up {MODEL} L4:1", key="money")
        assert re.search(r"Everyone may use at most \$0\.50/hour at once; you have \$0\.00/hour in use, and this "
                         r"launch needs \$\d+\.\d\d/hour more \(policy rule `everyone.limits.dollars_per_hour`\)",
                         money["text"]), money["text"]  # fmt: skip
        assert h.service.list(include_terminal=True) == []
        # The admin raises the limit: the next command reads the changed file.
        path.write_text(MORE_RULES.replace("dollars_per_hour: 0.5", "dollars_per_hour: 50"))
        stamp = path.stat().st_mtime + 5
        os.utime(path, (stamp, stamp))
        launched = _answer(h, f"up {MODEL} L4:1 name=allowed", key="allowed")
        assert "Launching `allowed`" in launched["text"]
        h.slack.wait_for(lambda s: _state(h, "allowed") == EndpointState.READY, what="READY")
        h.settle()
    finally:
        h.close()
