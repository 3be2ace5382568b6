"""`endpoint-bot fit` stays light: no database, Slack, SkyPilot or endpoint layer is imported.

Each case runs in a fresh interpreter (what the user's shell starts) and reports which of the heavy
packages ended up in `sys.modules`. The speed itself is benchmarks/cli_fit_bench.py's business.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "tests" / "fixtures" / "configs"
HEAVY = ("sqlalchemy", "alembic", "slack_bolt", "slack_sdk", "sky", "core.endpoints", "core.db", "bot.text")
PROBE = (
    f"ROOTS = {HEAVY!r}\n"
    + """
import json, sys
from bot.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exited:
    code = exited.code
heavy = sorted({name for name in sys.modules for root in ROOTS if name == root or name.startswith(root + ".")})
print("PROBE " + json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""
)


def _probe(*args: str, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_TOKEN", "ENDPOINT_BOT_"))}
    env.update(PYTHONPATH=str(ROOT), ENDPOINT_BOT_FACTS_CACHE_DIR=str(cwd / "facts"), HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    line = next((x for x in done.stderr.splitlines() if x.startswith("PROBE ")), None)
    assert line is not None, done.stderr
    return {**json.loads(line.removeprefix("PROBE ")), "stdout": done.stdout}


@pytest.mark.timeout(60)
def test_fit_on_a_local_model_imports_nothing_heavy(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text((CONFIGS / "Qwen--Qwen2.5-7B-Instruct.json").read_text())
    one = _probe("fit", str(model), "L4:1", "--json", cwd=tmp_path)
    assert one["code"] == 0 and one["heavy"] == []
    plan = json.loads(one["stdout"])
    assert plan["fits"] and plan["engine_command"][:2] == ["vllm", "serve"]
    text = _probe("fit", str(model), "L4:1", cwd=tmp_path)  # the text also says the KV capacity
    assert text["code"] == 0 and text["heavy"] == []
    assert "FITS on L4:1" in text["stdout"] and "room for ~" in text["stdout"]
    shapes = _probe("fit", str(model), "--json", cwd=tmp_path)
    assert shapes["code"] == 0 and shapes["heavy"] == [] and json.loads(shapes["stdout"])["shapes"]


@pytest.mark.timeout(60)
def test_the_parser_of_every_command_imports_nothing_heavy(tmp_path):
    probe = _probe("--help", cwd=tmp_path)
    assert probe["code"] == 0 and "fit" in probe["stdout"] and "up" in probe["stdout"]
    assert probe["heavy"] == []


@pytest.mark.timeout(60)
def test_the_probe_sees_heavy_imports_when_a_command_needs_them(tmp_path):
    # The same probe on `db current` (SQLAlchemy's URL parser): the check above can fail.
    probe = _probe("db", "current", "--url", f"sqlite:///{tmp_path / 'bot.db'}", cwd=tmp_path)
    assert "sqlalchemy" in probe["heavy"]
