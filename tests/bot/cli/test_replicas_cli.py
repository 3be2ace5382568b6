"""Replicas from the command line, in-process: `render --replicas/--autoscale --qps` prints the SkyServe
service YAML (key redacted), bad combinations exit 2 with a sentence, and the local launcher refuses
replicas with a clear message and records nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bot.cli import main

FIXTURES = Path("/work/shared/fixtures/model_configs.json")


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    directory = tmp_path / "qwen"
    directory.mkdir()
    config = next(
        e["config"] for e in json.loads(FIXTURES.read_text()) if e["model_id"] == "Qwen/Qwen2.5-7B-Instruct"
    )
    (directory / "config.json").write_text(json.dumps(config))
    for name, value in {
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "ENDPOINT_BOT_LAUNCHER": "skypilot",
        "ENDPOINT_BOT_ALLOW_LOCAL_MODELS": "true",
        "ENDPOINT_BOT_DB_PATH": str(tmp_path / "bot.db"),
        "ENDPOINT_BOT_FACTS_CACHE_DIR": str(tmp_path / "facts"),
        "HF_TOKEN": "hf_replicasCLItokenNeverPrinted",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return str(directory)


def test_render_prints_the_service_yaml(model: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sky", reason="skypilot is not installed (CI installs it)")
    args = ["render", model, "L4:1", "--max-model-len", "8k", "--autoscale", "1-3", "--qps", "4"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sky serve up" in out and "hf_replicasCLItokenNeverPrinted" not in out
    service = yaml.safe_load(out)["service"]
    assert service["replica_policy"] == {"min_replicas": 1, "max_replicas": 3, "target_qps_per_replica": 4.0}
    assert service["readiness_probe"]["path"] == "/health"


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--autoscale", "1-3"], "qps=5"),
        (["--replicas", "2", "--autoscale", "1-3", "--qps", "5"], "not both"),
        (["--replicas", "0"], "from 1 to 8"),
        (["--qps", "5"], "autoscale=MIN-MAX"),
        (["--autoscale", "three"], "not a range of replicas"),
    ],
)
def test_bad_combinations_exit_2_with_a_sentence(
    model: str, capsys: pytest.CaptureFixture[str], flags: list[str], problem: str
) -> None:
    pytest.importorskip("sky", reason="skypilot is not installed (CI installs it)")
    assert main(["render", model, "L4:1", "--max-model-len", "8k", *flags]) == 2
    assert problem in capsys.readouterr().err


def test_the_local_launcher_refuses_replicas_and_records_nothing(
    model: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENDPOINT_BOT_LAUNCHER", "local")
    assert main(["up", model, "L4:1", "--max-model-len", "8k", "--replicas", "2", "--no-wait"]) == 2
    assert "needs the SkyPilot launcher" in capsys.readouterr().err
    assert main(["list", "--all"]) == 0
    assert "No endpoints" in capsys.readouterr().out
