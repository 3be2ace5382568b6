"""Contract tests of the SkyPilot launcher's task building against real `sky.Task`/`sky.Resources` objects.

No cloud and no API server are involved: these check what would be sent, via `to_yaml_config()`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.launcher.base import LaunchSpec
from core.launcher.skypilot import (
    API_KEY_ENV,
    SkyPilotLauncher,
    build_task,
    engine_run_script,
    infra_of,
)
from core.settings import Settings

KEY = "epk-abcdefghijklmnopqrstuvwxyz0123456789"
HF = "hf_abcdefghijklmnopqrstuvwxyz012345"


def _spec(**kw: Any) -> LaunchSpec:
    fields: dict[str, Any] = {
        "cluster_name": "epb-qwen-1a2b",
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "engine": "vllm",
        "engine_argv": [
            "vllm",
            "serve",
            "Qwen/Qwen2.5-7B-Instruct",
            "--host",
            "0.0.0.0",
            "--port",
            "8000",
            "--served-model-name",
            "Qwen/Qwen2.5-7B-Instruct",
            "--max-model-len",
            "8192",
            "--speculative-config",
            '{"method": "ngram", "num_speculative_tokens": 3}',
        ],
        "accelerators": ["A100-80GB:1"],
        "num_nodes": 1,
        "port": 8000,
        "image": "vllm/vllm-openai:v0.33.0",
        "secrets": {"HF_TOKEN": HF, API_KEY_ENV: KEY},
        "autostop_minutes": 480,
    }
    fields.update(kw)
    return LaunchSpec(**fields)


@pytest.fixture(scope="module")
def sky() -> Any:
    return pytest.importorskip("sky", reason="skypilot is not installed (CI installs it)")


def test_module_import_does_not_import_sky() -> None:
    code = "import sys, core.launcher.skypilot, core.launcher.render, core.launcher.errors; print('sky' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _run_under_bash(script: str, tmp_path: Path, *, key: str | None) -> dict[str, Any]:
    """Run `script` with `vllm` and `python` replaced by stubs that print the argv and key they got."""
    stub = (
        f"#!{sys.executable}\nimport json, os, sys\nargv = sys.argv[1:]\n"
        "config = open(argv[argv.index('--config') + 1]).read() if '--config' in argv else None\n"
        "print(json.dumps({'argv': argv, 'key': os.environ.get('VLLM_API_KEY'), 'config': config}))\n"
    )
    for name in ("vllm", "python"):
        path = tmp_path / name
        path.write_text(stub)
        path.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    if key is not None:
        env[API_KEY_ENV] = key
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    return {"rc": done.returncode, **(json.loads(done.stdout) if done.stdout.strip() else {})}


def test_vllm_run_script_hands_exact_argv_and_key_by_env(tmp_path: Path) -> None:
    spec = _spec()
    script = engine_run_script(spec)
    assert KEY not in script and HF not in script
    got = _run_under_bash(script, tmp_path, key=KEY)
    assert got["argv"] == spec.engine_argv[1:]  # the JSON argument survives the shell intact
    assert got["key"] == KEY


def test_sglang_run_script_passes_key_by_reference(tmp_path: Path) -> None:
    argv = ["python", "-m", "sglang.launch_server", "--model-path", "a b; rm -rf /", "--port", "30000"]
    script = engine_run_script(_spec(engine="sglang", engine_argv=argv))
    assert KEY not in script and "$ENDPOINT_API_KEY" in script
    got = _run_under_bash(script, tmp_path, key=KEY)
    assert got["argv"][:-2] == argv[1:] and got["argv"][-2] == "--config" and KEY not in got["argv"]
    assert got["config"] == f'api-key: "{KEY}"\n'  # SGLang's --config YAML: `ps` never shows the key


def test_run_script_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    got = _run_under_bash(engine_run_script(_spec()), tmp_path, key=None)
    assert got["rc"] != 0 and "argv" not in got


def test_infra() -> None:
    assert infra_of(_spec()) is None
    assert infra_of(_spec(cloud="gcp")) == "gcp"
    assert infra_of(_spec(cloud="gcp", region="us-central1")) == "gcp/us-central1"
    assert infra_of(_spec(region="us-east-1")) == "*/us-east-1"


def test_task_yaml_has_image_run_port_gpu_spot_disk_infra_and_secrets(sky: Any) -> None:
    spec = _spec(
        cloud="gcp",
        region="us-central1",
        use_spot=True,
        disk_size_gb=300,
        envs={"VLLM_LOGGING_LEVEL": "INFO"},
    )
    task = build_task(spec)
    assert isinstance(task, sky.Task)
    config = task.to_yaml_config()
    res = config["resources"]
    assert res["accelerators"] == {"A100-80GB": 1}
    assert res["infra"] == "gcp/us-central1"
    assert res["use_spot"] is True
    assert res["disk_size"] == 300
    assert res["ports"] == ["8000"]
    assert "docker:vllm/vllm-openai:v0.33.0" in str(res["image_id"])
    assert config["name"] == "epb-qwen-1a2b"
    assert config["num_nodes"] == 1
    assert config["envs"] == {"VLLM_LOGGING_LEVEL": "INFO"}
    # Secrets travel as secrets (SkyPilot redacts them in its own displays), vLLM reads VLLM_API_KEY.
    assert config["secrets"] == {"HF_TOKEN": HF, API_KEY_ENV: KEY, "VLLM_API_KEY": KEY}
    assert KEY not in config["run"] and HF not in config["run"]
    assert '\'{"method": "ngram", "num_speculative_tokens": 3}\'' in config["run"]


def test_several_gpu_types_become_a_set_of_resources(sky: Any) -> None:
    task = build_task(_spec(accelerators=["A100-80GB:2", "H100:2"], num_nodes=2))
    assert isinstance(task.resources, set) and len(task.resources) == 2
    config = task.to_yaml_config()
    accels = sorted(str(entry["accelerators"]) for entry in config["resources"]["any_of"])
    assert accels == ["{'A100-80GB': 2}", "{'H100': 2}"]
    assert all(entry["use_spot"] is False for entry in config["resources"]["any_of"])
    assert config["num_nodes"] == 2


def test_weights_bucket_is_mounted_cached_as_hf_home(sky: Any) -> None:
    config = build_task(_spec(weights_bucket="gs://team-hf-cache")).to_yaml_config()
    assert config["file_mounts"]["/hf-cache"] == {"source": "gs://team-hf-cache", "mode": "MOUNT_CACHED"}
    assert config["envs"]["HF_HOME"] == "/hf-cache"


def test_sglang_gets_no_vllm_key_variable(sky: Any) -> None:
    spec = _spec(
        engine="sglang",
        engine_argv=["python", "-m", "sglang.launch_server", "--model-path", "m", "--host", "0.0.0.0"],
        image="lmsysorg/sglang:v0.5.23",
    )
    config = build_task(spec).to_yaml_config()
    assert set(config["secrets"]) == {"HF_TOKEN", API_KEY_ENV}
    assert '"$ENDPOINT_API_KEY"' in config["run"] and '--config "$ENDPOINT_KEY_FILE"' in config["run"]


def test_launcher_submit_passes_hard_deadline(sky: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one SDK call whose arguments matter most: autostop with wait_for=none and down=True."""
    from sky.skylet.autostop_lib import AutostopWaitFor

    seen: dict[str, Any] = {}

    def fake_launch(task: Any, **kwargs: Any) -> str:
        seen["task"] = task
        seen.update(kwargs)
        return "req-123"

    monkeypatch.setattr(sky, "launch", fake_launch)
    launcher = SkyPilotLauncher(Settings())
    assert launcher.submit(_spec(autostop_minutes=90)) == "req-123"
    assert seen["cluster_name"] == "epb-qwen-1a2b"
    assert seen["idle_minutes_to_autostop"] == 90
    assert seen["wait_for"] == AutostopWaitFor.NONE
    assert seen["down"] is True
    assert isinstance(seen["task"], sky.Task)
