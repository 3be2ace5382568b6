"""core.hub against the fake Hub (tests/fakes/fake_hub.py) through the real huggingface_hub client.

What is pinned down: request counts (cold <= 3, warm 0, also in a new process), the freshness rules,
errors for gated / missing / unreachable / malformed input and that they change nothing, local
directories with real safetensors headers, offline use from the facts cache, and that the token never
shows up in messages, logs or the cache.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import GatedModel, HubError, HubUnreachable, InvalidRequest, ModelNotFound
from core.hub import CACHE_MAX_AGE, clear_memory_cache, fetch_model_source, load_model_facts, parse_model_ref
from core.hub.cache import entry_path
from core.settings import Settings
from tests.fakes.fake_hub import FakeHub

QWEN = "Qwen/Qwen2.5-7B-Instruct"
LLAMA = "meta-llama/Llama-3.1-70B-Instruct"  # gated ("manual") on the fake Hub, as on the real one
TOKEN = "hf_testTokenThatMustNeverLeak0123456789"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def _requests(hub: FakeHub) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in hub.model_requests()]


def _entries(settings: Settings) -> list[Path]:
    return sorted(settings.facts_cache_dir.glob("*.json")) if settings.facts_cache_dir.exists() else []


def _with_token(settings: Settings, token: str = TOKEN) -> Settings:
    return settings.model_copy(update={"hf_token": Settings(_env_file=None, hf_token=token).hf_token})  # type: ignore[call-arg]


def _age_entry(settings: Settings, repo_id: str, revision: str | None, seconds: float) -> None:
    path = entry_path(settings.facts_cache_dir, repo_id, revision)
    data = json.loads(path.read_text())
    data["fetched_at"] -= seconds
    path.write_text(json.dumps(data))
    clear_memory_cache()


# --- request counts ------------------------------------------------------------------------------


def test_cold_check_makes_three_requests_and_reads_safetensors_counts(fake_hub, hub_settings):
    facts = load_model_facts(QWEN, settings=hub_settings)

    sha = fake_hub.repos[QWEN].sha
    assert _requests(fake_hub) == [
        ("GET", f"/api/models/{QWEN}"),
        ("GET", f"/{QWEN}/resolve/{sha}/config.json"),  # 307, as the real Hub answers
        ("GET", f"/api/resolve-cache/models/{QWEN}/{sha}/config.json"),
    ]
    assert fake_hub.model_requests()[0].query.get("blobs") == ["true"]  # files_metadata=True
    assert facts.model_id == QWEN
    assert facts.dtype_params == {"BF16": 7615616512}
    assert facts.param_source == "safetensors"
    assert facts.num_layers == 28 and facts.num_kv_heads == 4
    assert facts.revision == fake_hub.repos[QWEN].sha
    assert facts.gated is False
    assert [p.name for p in _entries(hub_settings)] == ["Qwen--Qwen2.5-7B-Instruct.json"]


def test_warm_check_in_the_same_process_makes_no_request(fake_hub, hub_settings):
    first = load_model_facts(QWEN, settings=hub_settings)
    fake_hub.clear_log()

    again = [load_model_facts(QWEN, settings=hub_settings) for _ in range(5)]

    assert _requests(fake_hub) == []
    assert all(facts == first for facts in again)


def test_warm_check_from_the_disk_cache_makes_no_request(fake_hub, hub_settings):
    first = load_model_facts(QWEN, settings=hub_settings)
    clear_memory_cache()  # as if the bot restarted
    fake_hub.clear_log()

    assert load_model_facts(QWEN, settings=hub_settings) == first
    assert _requests(fake_hub) == []


def test_warm_check_in_a_new_process_makes_no_request(fake_hub, hub_settings):
    load_model_facts(QWEN, settings=hub_settings)
    fake_hub.clear_log()
    script = (
        "import sys\n"
        "from core.hub import load_model_facts\n"
        "from core.settings import Settings\n"
        "s = Settings(_env_file=None, facts_cache_dir=sys.argv[1], hf_token=None)\n"
        "f = load_model_facts(sys.argv[2], settings=s)\n"
        "print(f.param_source, sum(f.dtype_params.values()))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_TOKEN")}
    env["HF_ENDPOINT"] = fake_hub.url
    done = subprocess.run(
        [sys.executable, "-c", script, str(hub_settings.facts_cache_dir), QWEN],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["safetensors", "7615616512"]
    assert _requests(fake_hub) == []


def test_concurrent_cold_checks_fetch_once(fake_hub, hub_settings):
    results: list[object] = []
    barrier = threading.Barrier(8)

    def check() -> None:
        barrier.wait()
        results.append(load_model_facts(QWEN, settings=hub_settings))

    threads = [threading.Thread(target=check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8 and all(r == results[0] for r in results)
    assert len(_requests(fake_hub)) == 3


# --- freshness -----------------------------------------------------------------------------------


def test_entry_older_than_max_age_is_refetched(fake_hub, hub_settings):
    load_model_facts(QWEN, settings=hub_settings)
    _age_entry(hub_settings, QWEN, None, CACHE_MAX_AGE.total_seconds() + 60)
    fake_hub.clear_log()

    load_model_facts(QWEN, settings=hub_settings)

    assert _requests(fake_hub)[0] == ("GET", f"/api/models/{QWEN}")
    fresh = json.loads(entry_path(hub_settings.facts_cache_dir, QWEN, None).read_text())
    fake_hub.clear_log()
    load_model_facts(QWEN, settings=hub_settings)
    assert _requests(fake_hub) == []
    assert fresh["fetched_at"] > 0


def test_stale_entry_is_used_when_the_hub_is_unreachable(fake_hub, hub_settings, caplog):
    first = load_model_facts(QWEN, settings=hub_settings)
    _age_entry(hub_settings, QWEN, None, CACHE_MAX_AGE.total_seconds() + 60)
    fake_hub.mode = "error"

    with caplog.at_level(logging.WARNING, logger="core.hub"):
        assert load_model_facts(QWEN, settings=hub_settings) == first
    assert "Hub unreachable" in caplog.text


def test_during_an_outage_the_hub_is_not_asked_again_at_once(fake_hub, hub_settings, monkeypatch):
    from core.hub import service

    load_model_facts(QWEN, settings=hub_settings)
    _age_entry(hub_settings, QWEN, None, CACHE_MAX_AGE.total_seconds() + 60)
    fake_hub.mode = "error"
    load_model_facts(QWEN, settings=hub_settings)  # stale entry served, one failed request
    fake_hub.clear_log()

    load_model_facts(QWEN, settings=hub_settings)
    assert _requests(fake_hub) == []

    # Once the hold is over (here: no hold at all), the next check asks the Hub again.
    monkeypatch.setattr(service, "OUTAGE_RETRY_AFTER", timedelta(0))
    clear_memory_cache()
    load_model_facts(QWEN, settings=hub_settings)  # stale again, held for no time
    fake_hub.mode = "ok"
    fake_hub.clear_log()
    load_model_facts(QWEN, settings=hub_settings)
    assert _requests(fake_hub)[0] == ("GET", f"/api/models/{QWEN}")


def test_refresh_refetches_a_fresh_entry(fake_hub, hub_settings):
    load_model_facts(QWEN, settings=hub_settings)
    fake_hub.clear_log()

    load_model_facts(QWEN, settings=hub_settings, refresh=True)

    assert _requests(fake_hub)[0] == ("GET", f"/api/models/{QWEN}")


def test_revision_pinned_to_a_commit_never_goes_stale(fake_hub, hub_settings):
    sha = fake_hub.repos[QWEN].sha
    facts = load_model_facts(f"{QWEN}@{sha}", settings=hub_settings)
    assert _requests(fake_hub)[0] == ("GET", f"/api/models/{QWEN}/revision/{sha}")
    assert facts.model_id == QWEN and facts.revision == sha

    _age_entry(hub_settings, QWEN, sha, 10 * CACHE_MAX_AGE.total_seconds())
    fake_hub.clear_log()
    load_model_facts(f"{QWEN}@{sha}", settings=hub_settings)
    assert _requests(fake_hub) == []


def test_unknown_revision_is_model_not_found(fake_hub, hub_settings):
    with pytest.raises(ModelNotFound, match="no revision `v9`"):
        load_model_facts(f"{QWEN}@v9", settings=hub_settings)
    assert _entries(hub_settings) == []


def test_corrupt_cache_entry_counts_as_a_miss(fake_hub, hub_settings):
    path = entry_path(hub_settings.facts_cache_dir, QWEN, None)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")

    facts = load_model_facts(QWEN, settings=hub_settings)

    assert facts.num_layers == 28
    assert json.loads(path.read_text())["model_id"] == QWEN


# --- offline -------------------------------------------------------------------------------------


def test_offline_answers_from_the_facts_cache(fake_hub, hub_settings, monkeypatch):
    first = load_model_facts(QWEN, settings=hub_settings)
    _age_entry(hub_settings, QWEN, None, CACHE_MAX_AGE.total_seconds() + 60)  # even a stale one
    fake_hub.clear_log()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    assert load_model_facts(QWEN, settings=hub_settings) == first
    assert _requests(fake_hub) == []


def test_offline_without_cache_says_what_to_do(fake_hub, hub_settings, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(HubUnreachable, match="HF_HUB_OFFLINE=1") as caught:
        load_model_facts(QWEN, settings=hub_settings)

    assert "facts cache" in str(caught.value)
    assert _requests(fake_hub) == []


# --- errors --------------------------------------------------------------------------------------


def test_gated_without_token_is_refused_after_one_request(fake_hub, hub_settings):
    with pytest.raises(GatedModel) as caught:
        load_model_facts(LLAMA, settings=hub_settings)

    message = str(caught.value)
    assert message.startswith(f"{LLAMA} is gated: accept the licence at https://huggingface.co/{LLAMA}")
    assert "HF_TOKEN" in message
    assert _requests(fake_hub) == [("GET", f"/api/models/{LLAMA}")]
    assert _entries(hub_settings) == []


def test_gated_with_a_token_without_access(fake_hub, hub_settings):
    fake_hub.grant(TOKEN)  # a valid token that never accepted the licence

    with pytest.raises(GatedModel, match="has no access") as caught:
        load_model_facts(LLAMA, settings=_with_token(hub_settings))

    assert TOKEN not in str(caught.value)
    assert _entries(hub_settings) == []


def test_gated_with_access_works_and_stays_refused_without_token(fake_hub, hub_settings):
    fake_hub.grant(TOKEN, LLAMA)

    facts = load_model_facts(LLAMA, settings=_with_token(hub_settings))

    assert facts.gated is True and facts.num_layers == 80
    assert {r.token for r in fake_hub.model_requests()} == {TOKEN}
    fake_hub.clear_log()
    with pytest.raises(GatedModel):  # cached, but clusters could not download the weights
        load_model_facts(LLAMA, settings=hub_settings)
    assert _requests(fake_hub) == []


def test_missing_repo_is_model_not_found(fake_hub, hub_settings):
    with pytest.raises(ModelNotFound) as caught:
        load_model_facts("Qwen/Qwen2.5-7B-Instruckt", settings=hub_settings)

    message = str(caught.value)
    assert message.startswith("no such model on the Hub: Qwen/Qwen2.5-7B-Instruckt")
    assert "check the spelling" in message.lower()
    assert _entries(hub_settings) == []


def test_missing_repo_with_a_token_does_not_show_it(fake_hub, hub_settings):
    fake_hub.grant(TOKEN)

    with pytest.raises(ModelNotFound, match="HF_TOKEN is set") as caught:
        load_model_facts("nobody/nothing", settings=_with_token(hub_settings))

    assert TOKEN not in str(caught.value)


def test_rejected_token_is_explained_without_showing_it(fake_hub, hub_settings):
    with pytest.raises(HubError, match="refused the HF_TOKEN") as caught:
        load_model_facts(QWEN, settings=_with_token(hub_settings, "hf_revokedTokenXYZ"))

    assert not isinstance(caught.value, (HubUnreachable, ModelNotFound))
    assert "hf_revokedTokenXYZ" not in str(caught.value)


@pytest.mark.parametrize("mode, reason", [("error", "HTTP 503"), ("drop", "connection dropped")])
def test_unreachable_hub(fake_hub, hub_settings, mode, reason):
    fake_hub.mode = mode

    with pytest.raises(HubUnreachable) as caught:
        load_model_facts(QWEN, settings=hub_settings)

    message = str(caught.value)
    assert reason in message and "HF_ENDPOINT" in message and "try again" in message.lower()
    assert _entries(hub_settings) == []
    fake_hub.mode = "ok"
    fake_hub.clear_log()
    load_model_facts(QWEN, settings=hub_settings)  # nothing bad was remembered
    assert len(_requests(fake_hub)) == 3


def test_connection_refused_hides_endpoint_credentials(hub_settings, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://user:s3cret@127.0.0.1:{port}")
    clear_memory_cache()

    with pytest.raises(HubUnreachable, match="connection refused") as caught:
        load_model_facts(QWEN, settings=hub_settings)

    assert f"http://127.0.0.1:{port}" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_unreachable_config_download_after_model_info(fake_hub, hub_settings):
    """The Hub fails between model_info and the download: still HubUnreachable, nothing cached."""
    fake_hub.repos[QWEN].files.clear()
    fake_hub.repos[QWEN].files["README.md"] = b"x"  # config.json gone -> EntryNotFound

    with pytest.raises(ModelNotFound, match=r"has no config\.json"):
        load_model_facts(QWEN, settings=hub_settings)
    assert _entries(hub_settings) == []


def test_repo_without_safetensors_metadata_falls_back_to_config(fake_hub, hub_settings):
    config = dict(fake_hub.repos[QWEN].config or {})
    fake_hub.add_model("someone/qwen-bin-only", config, dtype_params=None)

    facts = load_model_facts("someone/qwen-bin-only", settings=hub_settings)

    assert facts.param_source == "config"
    assert facts.dtype_params == {}
    assert 7.0e9 < facts.param_count < 8.0e9


def test_config_that_is_not_a_language_model_is_refused_and_not_cached(fake_hub, hub_settings):
    fake_hub.add_model("someone/vision-encoder", {"model_type": "vit", "image_size": 224})

    with pytest.raises(InvalidRequest, match="cannot size someone/vision-encoder"):
        load_model_facts("someone/vision-encoder", settings=hub_settings)
    assert _entries(hub_settings) == []


@pytest.mark.parametrize(
    "model",
    [
        "",
        "   ",
        "Qwen/Qwen 2.5-7B",
        "org/na..me",
        "org--x/name",
        "a/b/c",
        "-org/name",
        "org/name-",
        "o" * 97,
        "org/name@",
        "org/name@../../etc",
        "org/name@a b",
        "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct",
        "Qwen/Qwen2.5;rm -rf /",
    ],
)
def test_malformed_ids_are_refused_before_any_request(fake_hub, hub_settings, model):
    with pytest.raises(InvalidRequest) as caught:
        load_model_facts(model, settings=hub_settings)

    assert "org/name" in str(caught.value)
    assert _requests(fake_hub) == []
    assert _entries(hub_settings) == []


def test_model_ref_spellings():
    assert parse_model_ref("gpt2").repo_id == "gpt2"
    pinned = parse_model_ref(" Qwen/Qwen2.5-7B-Instruct@refs/pr/1 ")
    assert (pinned.repo_id, pinned.revision, pinned.pinned_to_commit) == (QWEN, "refs/pr/1", False)
    assert parse_model_ref(f"{QWEN}@{'a' * 40}").pinned_to_commit
    assert parse_model_ref("./models/qwen").is_local
    assert parse_model_ref("models/qwen").repo_id == "models/qwen"  # a bare relative path is a repo id


# --- secrets -------------------------------------------------------------------------------------


def test_token_never_reaches_logs_or_the_cache(fake_hub, hub_settings, caplog):
    fake_hub.grant(TOKEN, LLAMA)
    settings = _with_token(hub_settings)

    with caplog.at_level(logging.DEBUG):
        load_model_facts(LLAMA, settings=settings)
        for failing in ("nobody/nothing", "meta-llama/Nope"):
            with pytest.raises(ModelNotFound):
                load_model_facts(failing, settings=settings)
        fake_hub.mode = "error"
        with pytest.raises(HubUnreachable):
            load_model_facts(QWEN, settings=settings)

    assert TOKEN not in caplog.text
    for path in settings.facts_cache_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


# --- local directories ---------------------------------------------------------------------------


def _write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> None:
    """A real safetensors file (header + zero bytes), written with the standard library."""
    sizes = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "U8": 1, "F8_E4M3": 1}
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = sizes[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


@pytest.fixture
def local_model(tmp_path: Path, fake_hub: FakeHub) -> Path:
    directory = tmp_path / "qwen-local"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(fake_hub.repos[QWEN].config))
    _write_safetensors(
        directory / "model-00001-of-00002.safetensors",
        {"embed.weight": ("BF16", [64, 32]), "layer.0.q.weight": ("F8_E4M3", [32, 32])},
    )
    _write_safetensors(
        directory / "model-00002-of-00002.safetensors",
        {"layer.0.q.scale": ("F32", [4]), "lm_head.weight": ("BF16", [64, 32])},
    )
    # The same weights in another layout: must not be counted twice.
    _write_safetensors(directory / "consolidated.safetensors", {"all": ("BF16", [4096, 4096])})
    return directory


def test_local_directory_reads_config_and_safetensors_headers(local_model, hub_settings, fake_hub):
    facts = load_model_facts(str(local_model), settings=hub_settings)

    assert facts.model_id == str(local_model)
    assert facts.dtype_params == {"BF16": 2 * 64 * 32, "F8_E4M3": 32 * 32, "F32": 4}
    assert facts.param_source == "safetensors"
    assert facts.num_layers == 28
    assert _requests(fake_hub) == []
    assert _entries(hub_settings) == []


def test_local_directory_relative_and_source(local_model, hub_settings, monkeypatch):
    monkeypatch.chdir(local_model.parent)

    source = fetch_model_source("./qwen-local", settings=hub_settings)

    assert source.origin == "local" and source.model_id == "./qwen-local"
    assert source.dtype_params == {"BF16": 4096, "F8_E4M3": 1024, "F32": 4}


def test_local_directory_under_home_reaches_the_engine_expanded(local_model, hub_settings, monkeypatch):
    # The engine argv is shell-quoted, so a literal `~/qwen-local` would never be expanded on launch.
    monkeypatch.setenv("HOME", str(local_model.parent))

    facts = load_model_facts("~/qwen-local", settings=hub_settings)

    assert facts.model_id == str(local_model)


def test_local_directory_without_safetensors_uses_config(tmp_path, fake_hub, hub_settings):
    (tmp_path / "config.json").write_text(json.dumps(fake_hub.repos[QWEN].config))

    facts = load_model_facts(str(tmp_path), settings=hub_settings)

    assert facts.param_source == "config"


def test_local_directory_problems(tmp_path, hub_settings):
    with pytest.raises(ModelNotFound, match="No such local model directory"):
        load_model_facts(str(tmp_path / "absent"), settings=hub_settings)
    with pytest.raises(ModelNotFound, match=r"has no config\.json"):
        load_model_facts(str(tmp_path), settings=hub_settings)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(InvalidRequest, match=r"model\.safetensors is not a valid safetensors file"):
        load_model_facts(str(tmp_path), settings=hub_settings)


def test_oversized_config_is_refused(fake_hub, hub_settings, monkeypatch):
    from core.hub import remote

    monkeypatch.setattr(remote, "MAX_CONFIG_BYTES", 100)

    with pytest.raises(HubError, match="larger than"):
        load_model_facts(QWEN, settings=hub_settings)
    assert _entries(hub_settings) == []


def test_mxfp4_sizes_agree_between_the_hubs_counts_and_a_snapshots_headers(tmp_path, hub_settings, fake_hub):
    # The Hub's model_info counts two parameters per MXFP4 `*_blocks` byte (gpt-oss-120b: 120.4B);
    # safetensors headers count bytes. Both must give the model vLLM loads in 64.38 GiB.
    from tests.fakes.gpt_oss import write_safetensors_headers

    repo = "openai/gpt-oss-120b"
    from_hub = load_model_facts(repo, settings=hub_settings)
    assert sum(from_hub.dtype_params.values()) / 1e9 == pytest.approx(120.4, abs=0.05)
    write_safetensors_headers(fake_hub.repos[repo].config, tmp_path / "gpt-oss-120b")
    from_disk = load_model_facts(str(tmp_path / "gpt-oss-120b"), settings=hub_settings)
    assert from_disk.dtype_params != from_hub.dtype_params
    for facts in (from_hub, from_disk):
        assert facts.param_source == "safetensors"
        assert facts.param_count / 1e9 == pytest.approx(116.8, abs=0.1)
        assert facts.weight_bytes / 2**30 == pytest.approx(64.38, abs=0.3)
