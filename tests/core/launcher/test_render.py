"""`render_task_yaml`: a task YAML a person can launch by hand, in which no secret survives."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from core.launcher.base import LaunchSpec
from core.launcher.render import redacted_spec, render_task_yaml

KEY = "epk-abcdefghijklmnopqrstuvwxyz0123456789"
HF = "hf_abcdefghijklmnopqrstuvwxyz012345"
ODD = "s3cr3t-value-without-any-known-shape"


@pytest.fixture(scope="module", autouse=True)
def _sky() -> Any:
    return pytest.importorskip("sky", reason="skypilot is not installed (CI installs it)")


def _spec(**kw: Any) -> LaunchSpec:
    fields: dict[str, Any] = {
        "cluster_name": "epb-llama-9f9f",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "engine": "vllm",
        "engine_argv": ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000"],
        "accelerators": ["L4:1", "A10G:1"],
        "num_nodes": 1,
        "port": 8000,
        "image": "vllm/vllm-openai:v0.33.0",
        "secrets": {"HF_TOKEN": HF, "ENDPOINT_API_KEY": KEY, "OTHER_SECRET": ODD},
        # A careless caller put secrets in the plain envs too: they must not survive either.
        "envs": {"HF_HUB_TOKEN_COPY": HF, "NOTE": f"key is {KEY}", "ODD": ODD, "VLLM_LOGGING_LEVEL": "INFO"},
        "cloud": "aws",
        "region": "us-east-1",
        "use_spot": True,
        "weights_bucket": "s3://team-weights",
    }
    fields.update(kw)
    return LaunchSpec(**fields)


def test_no_secret_survives_anywhere() -> None:
    text = render_task_yaml(_spec())
    for secret in (KEY, HF, ODD, KEY[4:20], HF[3:20]):
        assert secret not in text
    config = yaml.safe_load(text)
    assert set(config["secrets"]) == {"HF_TOKEN", "ENDPOINT_API_KEY", "VLLM_API_KEY", "OTHER_SECRET"}
    assert set(config["secrets"].values()) == {"<redacted>"}
    assert KEY not in config["run"]
    assert config["envs"]["VLLM_LOGGING_LEVEL"] == "INFO"
    assert "<redacted>" in config["envs"]["ODD"]


def test_yaml_is_a_launchable_task() -> None:
    text = render_task_yaml(_spec())
    assert text.startswith("# SkyPilot task for meta-llama/Llama-3.1-8B-Instruct")
    assert "--secret ENDPOINT_API_KEY" in text
    config = yaml.safe_load(text)
    entries = config["resources"]["any_of"]
    assert [e["accelerators"] for e in entries] == [{"A10G": 1}, {"L4": 1}]
    for entry in entries:
        assert "docker:vllm/vllm-openai:v0.33.0" in str(entry["image_id"])
        assert entry["infra"] == "aws/us-east-1"
        assert entry["use_spot"] is True
        assert entry["ports"] == ["8000"]
    assert config["file_mounts"]["/hf-cache"]["mode"] == "MOUNT_CACHED"
    assert config["run"].count("vllm serve") == 1
    assert 'VLLM_API_KEY="$ENDPOINT_API_KEY"' in config["run"]  # references survive, values do not
    # SkyPilot itself reads the rendered file back as a task.
    import sky

    task = sky.Task.from_yaml_config(config)
    assert task.name == "epb-llama-9f9f"


def test_image_without_region_is_a_plain_string() -> None:
    config = yaml.safe_load(render_task_yaml(_spec(cloud=None, region=None, accelerators=["L4:1"])))
    assert config["resources"]["image_id"] == "docker:vllm/vllm-openai:v0.33.0"


def test_redacted_spec_keeps_shape_but_not_values() -> None:
    spec = _spec()
    safe = redacted_spec(spec)
    assert set(safe.secrets) == set(spec.secrets)
    assert KEY not in repr(safe) and HF not in repr(safe) and ODD not in repr(safe)
    assert spec.secrets["HF_TOKEN"] == HF  # the original is untouched


@pytest.mark.parametrize("accelerators", [["L4:1"], ["L4:1", "A10G:1"]])
def test_the_rendered_task_carries_the_hard_deadline_for_a_copy_pasted_sky_launch(
    accelerators: list[str],
) -> None:
    """Contract with SkyPilot 0.14.1: the YAML loads as a real sky.Task whose every resource has
    autostop idle_minutes=TTL, down=True, wait_for=none (what sky.launch gets from the bot)."""
    import sky
    from sky.skylet.autostop_lib import AutostopWaitFor

    text = render_task_yaml(_spec(accelerators=accelerators, autostop_minutes=480))
    config = yaml.safe_load(text)
    task = sky.Task.from_yaml_config(config)  # validates against SkyPilot's own schema
    assert len(task.resources) == len(accelerators)
    for resources in task.resources:
        autostop = resources.autostop_config
        assert autostop is not None and autostop.enabled
        assert autostop.idle_minutes == 480 and autostop.down is True
        assert autostop.wait_for is AutostopWaitFor.NONE
    assert "tears itself down 480 minutes after launch" in text


def test_without_a_deadline_the_task_has_no_autostop() -> None:
    import sky

    task = sky.Task.from_yaml_config(yaml.safe_load(render_task_yaml(_spec(autostop_minutes=None))))
    assert all(r.autostop_config is None for r in task.resources)
