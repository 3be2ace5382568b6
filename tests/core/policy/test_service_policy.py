"""The policy inside the endpoint service: `up` refuses before recording anything, a relaunch counts
against the limits like a new launch, and policy admins may act on anyone's endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.db import Database
from core.endpoints.states import EndpointState as S
from core.errors import PermissionDenied
from core.policy.rules import PolicyRefused
from tests.core.endpoints.lifecycle_fixtures import (
    Lifecycle,
    make_settings,
    new_cloud,
    record_endpoint,
    up_request,
)

pytestmark = pytest.mark.timeout(120)

POLICY = """\
admins: {groups: [ops]}
groups:
  ops: {members: [U_OPS]}
everyone:
  limits: {endpoints: 1}
  models: {deny: ["meta-llama/*"]}
"""


@pytest.fixture
def lc(sqlite_database: Database, tmp_path: Path) -> Iterator[Lifecycle]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    clock = ManualClock()
    cloud = new_cloud(clock)
    lifecycle = Lifecycle(database=sqlite_database, cloud=cloud, clock=clock,
                          settings=make_settings(policy_file=path))  # fmt: skip
    yield lifecycle
    lifecycle.close()
    cloud.close()


def test_a_refused_up_records_nothing(lc: Lifecycle) -> None:
    with pytest.raises(PolicyRefused) as refused:
        lc.service.up(request=up_request(model="meta-llama/Llama-3.1-8B-Instruct"))
    assert refused.value.decision.rule == "everyone.models.deny"
    assert lc.service.list(include_terminal=True) == []
    assert lc.notifier.calls == []


def test_a_relaunch_counts_against_the_limits(lc: Lifecycle) -> None:
    lost = record_endpoint(lc, name="lost")
    with lc.database.session() as session:
        from core.endpoints import store

        row = store.get_by_name(session=session, name="lost")
        row.state, row.stopped_at = S.LOST, lc.clock.now()
    lc.service.up(request=up_request(name="fresh"))  # a LOST endpoint holds nothing
    with pytest.raises(PolicyRefused, match=r"you have 1 endpoint in use \(`fresh`\)"):
        lc.service.relaunch(name=lost.name, actor="U_OWNER")
    assert lc.state("lost") is S.LOST
    lc.join()


def test_policy_admins_may_stop_anyones_endpoint(lc: Lifecycle) -> None:
    record_endpoint(lc, name="mine")
    with pytest.raises(PermissionDenied):
        lc.service.down(name="mine", actor="U_STRANGER")
    assert lc.service.down(name="mine", actor="U_OPS").state is S.STOPPING
    lc.join()


def test_a_model_that_runs_its_own_code_is_refused_after_the_fit_check(lc: Lifecycle, tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.core.endpoints.lifecycle_fixtures import MODEL, fixture_facts

    Path(lc.settings.policy_file).write_text(POLICY + "users:\n  U_OWNER: {trust_remote_code: false}\n")
    lc.service.policy.source._mtime = None  # read again now (the test does not wait for a new mtime)
    lc.service.facts_loader = lambda model, settings: replace(
        fixture_facts(MODEL), needs_trust_remote_code=True
    )
    with pytest.raises(PolicyRefused, match=r"You may not run models that need their own code") as refused:
        lc.service.up(request=up_request())
    assert refused.value.decision.rule == "users.U_OWNER.trust_remote_code"
    assert lc.service.list(include_terminal=True) == []
    lc.service.up(request=up_request(owner_id="U_OTHER"))  # the rule is U_OWNER's only
    lc.join()
