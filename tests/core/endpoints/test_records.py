"""The typed JSON an endpoint row keeps: versioned, and rows written before the version still read."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from core.endpoints import records
from core.endpoints.records import EndpointOptions, Lifecycle
from tests.core.endpoints.lifecycle_fixtures import simple_plan

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_options_and_lifecycle_round_trip_through_json_apart() -> None:
    options = EndpointOptions(engine="sglang", max_model_len=32768, spot=True, ttl_s=3600, cloud="gcp")
    lifecycle = Lifecycle(relaunch=True, first_requested_at=T0, relaunch_cancelled_by=None)
    stored = json.loads(json.dumps(records.options_to_json(options, lifecycle)))  # what the column holds
    assert stored["v"] == 1
    assert "relaunch" not in stored["options"] and "first_requested_at" not in stored["options"]
    assert "idle_timeout_s" not in stored["options"], "the idle timeout is the row's own column"
    assert records.options_from_json(stored) == (options, lifecycle)


def test_a_row_written_before_the_version_reads_with_its_flags_taken_out_of_the_options() -> None:
    old = {
        "engine": "vllm",
        "max_model_len": 8192,
        "spot": False,
        "idle_timeout_s": 2700,  # written by old versions, never read
        "ttl_s": 28800,
        "relaunch": False,
        "relaunch_cancelled_by": "U1",
        "first_requested_at": T0.isoformat(),
    }
    options, lifecycle = records.options_from_json(old)
    assert options == EndpointOptions(engine="vllm", max_model_len=8192, spot=False, ttl_s=28800)
    assert lifecycle == Lifecycle(relaunch=False, first_requested_at=T0, relaunch_cancelled_by="U1")


def test_old_relaunch_words_and_unreadable_times_are_read_safely() -> None:
    assert records.options_from_json({"relaunch": "yes"})[1].relaunch is True
    assert records.options_from_json({"relaunch": "no"})[1].relaunch is False
    assert records.options_from_json({"first_requested_at": "not a time"})[1].first_requested_at is None
    assert records.options_from_json(None) == (EndpointOptions(), Lifecycle())
    assert records.first_requested(Lifecycle(), T0) == T0
    assert records.first_requested(Lifecycle(first_requested_at=T0), datetime(2026, 2, 1, tzinfo=UTC)) == T0


def test_the_plan_is_kept_without_its_argv_and_reads_back() -> None:
    plan = simple_plan()
    stored = json.loads(json.dumps(records.plan_to_json(plan)))
    assert stored["v"] == 1 and "engine_command" not in stored
    assert records.plan_from_json(stored) == plan
    assert records.plan_to_json(None) == {} and records.plan_from_json({}) is None


def test_an_old_plan_with_its_argv_reads_and_an_unreadable_one_is_none() -> None:
    old = {**simple_plan().to_dict(), "engine_command": ["vllm", "serve", "x", "--port", "8000"]}
    plan = records.plan_from_json(old)
    assert plan is not None and plan.engine_command == [], "the argv is built at launch, not read back"
    assert records.plan_from_json({"fits": True, "tensor_parallel": 1}) is None


def test_the_cold_start_round_trips_and_an_unreadable_one_is_none() -> None:
    cold = records.ColdStart(
        total_s=432.2, phases=(records.Phase("provisioning", 185.0), records.Phase("weights", 130.0, "cache"))
    )
    stored = json.loads(json.dumps(records.options_to_json(EndpointOptions(), Lifecycle(cold_start=cold))))
    assert records.options_from_json(stored)[1].cold_start == cold
    stored["lifecycle"]["cold_start"] = {"phases": [{"name": "load"}]}  # no total, no seconds
    assert records.options_from_json(stored)[1].cold_start is None
    assert records.options_from_json({"v": 1, "options": {}, "lifecycle": {}})[1].cold_start is None
