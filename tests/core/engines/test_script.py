"""The launch line: quoting, the key only as an env reference, and what a real shell makes of it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.engines import API_KEY_ENV, build_engine_command, launch_script
from tests.core.engines.plans import make_plan

BASH = shutil.which("bash")
HOSTILE = [
    "my model; rm -rf /",
    "$(touch /tmp/pwned)",
    "`id`",
    "it's",
    'say "hi"',
    "a|b&c>d",
    "$HOME",
    "x\ny",
]
SECRET = "sk-endpoint-0123456789abcdef"

# A stand-in engine binary: prints the argv it got and the key variables it can see, as JSON.
# With `--config FILE` (SGLang) it also prints the file's text and permissions.
_RECORDER = f"""#!{sys.executable}
import json, os, sys
argv = sys.argv[1:]
seen = {{"argv": argv, "vllm_key": os.environ.get("VLLM_API_KEY")}}
if "--config" in argv:
    path = argv[argv.index("--config") + 1]
    seen["config"] = open(path).read()
    seen["config_mode"] = oct(os.stat(path).st_mode & 0o777)
print(json.dumps(seen))
"""


@pytest.fixture
def fake_engines(tmp_path: Path) -> Path:
    for name in ("vllm", "python3"):
        path = tmp_path / name
        path.write_text(_RECORDER)
        path.chmod(0o755)
    return tmp_path


def _run(script: str, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    assert BASH is not None
    full_env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run([BASH, "-c", script], env=full_env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_round_trip_through_shlex(hostile: str) -> None:
    argv = build_engine_command(make_plan(model_id=hostile), served_model_name=hostile)
    script = launch_script(argv, engine="vllm")
    command = script.split("; ", 1)[1]  # after the key guard
    assert shlex.split(command)[2:] == argv  # after `VLLM_API_KEY="$..."` and `exec`


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_a_real_shell_passes_hostile_values_through_unchanged(
    engine: str, fake_engines: Path, tmp_path: Path
) -> None:
    canary = tmp_path / "pwned"
    hostile = f"evil; touch {canary}; $(touch {canary}) `touch {canary}`"
    argv = build_engine_command(make_plan(engine=engine, model_id=hostile), served_model_name=hostile)
    done = _run(launch_script(argv, engine=engine), fake_engines, **{API_KEY_ENV: SECRET})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert not canary.exists()
    if engine == "vllm":
        assert seen["argv"] == argv[1:]
        assert seen["vllm_key"] == SECRET
    else:
        # SGLang: the key is in a 0600 YAML file SGLang reads with --config, never in its argv (`ps`).
        assert seen["argv"][:-2] == argv[1:] and seen["argv"][-2] == "--config"
        assert seen["argv"][-1].endswith(".yaml") and SECRET not in " ".join(seen["argv"])
        assert yaml.safe_load(seen["config"]) == {"api-key": SECRET}
        assert seen["config_mode"] == "0o600"
        assert seen["vllm_key"] is None


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_the_key_never_appears_in_argv_or_script(engine: str) -> None:
    argv = build_engine_command(make_plan(engine=engine))
    script = launch_script(argv, engine=engine)
    assert SECRET not in " ".join(argv) and SECRET not in script
    assert "--api-key" not in argv
    assert f'"${API_KEY_ENV}"' in script
    assert script.count("\n") == 0  # one line


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_an_empty_key_stops_before_the_engine_starts(engine: str, fake_engines: Path) -> None:
    script = launch_script(build_engine_command(make_plan(engine=engine)), engine=engine)
    for env in ({}, {API_KEY_ENV: ""}):
        done = _run(script, fake_engines, **env)
        assert done.returncode != 0
        assert done.stdout == ""  # the engine never ran
        assert API_KEY_ENV in done.stderr


def test_custom_key_variable_and_bad_names() -> None:
    script = launch_script(
        build_engine_command(make_plan(engine="sglang")), engine="sglang", api_key_env="MY_KEY"
    )
    assert '"$MY_KEY"' in script and script.endswith('--config "$ENDPOINT_KEY_FILE"')
    with pytest.raises(ValueError):
        launch_script(["vllm", "serve", "m"], engine="vllm", api_key_env="X; rm -rf /")
    with pytest.raises(ValueError):
        launch_script([], engine="vllm")


@pytest.mark.parametrize(
    "argv", [["vllm", "serve", "m", "--api-key", "k"], ["vllm", "serve", "m", "--api-key=k"]]
)
def test_argv_carrying_a_key_is_refused(argv: list[str]) -> None:
    with pytest.raises(ValueError, match="API key"):
        launch_script(argv, engine="vllm")


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError):
        launch_script(["tgi"], engine="tgi")


def _multinode_run(engine: str, fake_engines: Path, rank: int, **plan_changes) -> list[str]:
    plan = make_plan(engine=engine, nodes=2, gpu_count=16, **plan_changes)
    script = launch_script(build_engine_command(plan), engine=engine)
    done = _run(
        script,
        fake_engines,
        **{API_KEY_ENV: SECRET, "SKYPILOT_NODE_RANK": str(rank), "SKYPILOT_NODE_IPS": "10.0.0.7\n10.0.0.8"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["argv"]


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_vllm_multinode_head_and_worker(fake_engines: Path) -> None:
    head = _multinode_run("vllm", fake_engines, 0, tensor_parallel=8, pipeline_parallel=2)
    worker = _multinode_run("vllm", fake_engines, 1, tensor_parallel=8, pipeline_parallel=2)
    for argv, rank in ((head, "0"), (worker, "1")):
        assert argv[argv.index("--node-rank") + 1] == rank
        assert argv[argv.index("--master-addr") + 1] == "10.0.0.7"
    assert "--headless" not in head and "" not in head
    assert "--headless" in worker


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_vllm_data_parallel_worker_gets_its_start_rank(fake_engines: Path) -> None:
    worker = _multinode_run("vllm", fake_engines, 1, tensor_parallel=4, data_parallel=4, expert_parallel=16)
    assert worker[worker.index("--data-parallel-start-rank") + 1] == "2"
    assert worker[worker.index("--data-parallel-address") + 1] == "10.0.0.7"
    head = _multinode_run("vllm", fake_engines, 0, tensor_parallel=4, data_parallel=4, expert_parallel=16)
    assert "--data-parallel-start-rank" not in head and "--headless" not in head


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_sglang_multinode_rendezvous(fake_engines: Path) -> None:
    worker = _multinode_run("sglang", fake_engines, 1, tensor_parallel=16)
    assert worker[worker.index("--dist-init-addr") + 1] == "10.0.0.7:5000"
    assert worker[worker.index("--node-rank") + 1] == "1"
    assert worker[-2] == "--config" and SECRET not in worker


def test_lookalike_references_in_values_stay_literal() -> None:
    # Only the exact reference tokens the builder emits are expanded; a model id cannot smuggle one in.
    argv = build_engine_command(
        make_plan(model_id="${SKYPILOT_NODE_RANK}x"), served_model_name="$ENDPOINT_NODE_ARGS2"
    )
    script = launch_script(argv, engine="vllm")
    assert "'${SKYPILOT_NODE_RANK}x'" in script
    assert "'$ENDPOINT_NODE_ARGS2'" in script


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize(
    ("engine", "flag"), [("vllm", "--hf-overrides"), ("sglang", "--json-model-override-args")]
)
def test_yarn_json_reaches_the_engine_through_a_real_shell_intact(
    engine: str, flag: str, fake_engines: Path
) -> None:
    rope = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768,
            "max_position_embeddings": 131072, "rope_theta": 1000000.0}  # fmt: skip
    argv = build_engine_command(make_plan(engine=engine, rope_scaling=rope, max_context_tokens=131072))
    done = _run(launch_script(argv, engine=engine), fake_engines, **{API_KEY_ENV: SECRET})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)["argv"]
    overrides = json.loads(seen[seen.index(flag) + 1])
    assert overrides["max_position_embeddings"] == 131072
