"""The policy counts every replica of a service before launch: GPUs times the most replicas it may run,
and its $/hour (the per-replica price times those replicas); a live service's replicas count against
the next launch too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.db import Database
from core.policy.rules import PolicyRefused
from tests.core.endpoints.lifecycle_fixtures import Lifecycle, make_settings, new_cloud, up_request

pytestmark = pytest.mark.timeout(120)

POLICY = """\
everyone:
  limits: {gpus: 3, dollars_per_hour: 100}
"""


@pytest.fixture
def lc(sqlite_database: Database, tmp_path: Path) -> Iterator[Lifecycle]:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    clock = ManualClock()
    cloud = new_cloud(clock)
    settings = make_settings(policy_file=path, readiness_poll_max=0.02)
    lifecycle = Lifecycle(database=sqlite_database, cloud=cloud, clock=clock, settings=settings)
    yield lifecycle
    lifecycle.close()
    cloud.close()


def test_autoscale_counts_its_most_replicas_gpus(lc: Lifecycle) -> None:
    with pytest.raises(PolicyRefused) as refused:
        lc.service.up(request=up_request(accelerators="L4:1", autoscale=(1, 4), target_qps=5.0))
    assert refused.value.decision.rule == "everyone.limits.gpus"
    assert "4 GPUs" in str(refused.value)
    assert lc.service.list(include_terminal=True) == [] and lc.cloud.calls == []


def test_a_live_services_replicas_count_against_the_next_launch(lc: Lifecycle) -> None:
    lc.service.up(request=up_request(accelerators="L4:1", replicas=2, name="svc"))
    lc.join()
    with pytest.raises(PolicyRefused) as refused:
        lc.service.up(request=up_request(accelerators="L4:2", name="next"))  # 2 + 2 > 3
    assert refused.value.decision.rule == "everyone.limits.gpus"
    lc.service.up(request=up_request(accelerators="L4:1", name="fits"))  # 2 + 1 <= 3
    lc.join()
