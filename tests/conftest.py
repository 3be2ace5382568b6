"""Session-wide test setup shared by every test: no test reaches the real Hugging Face Hub or a real token.

At import (before any test module imports huggingface_hub, which reads these variables once):
- HF_HOME and the bot's facts cache point into a temporary directory, never the developer's;
- HF_TOKEN (and its aliases) and offline switches from the developer's shell are removed;
- HF_HUB_DISABLE_TELEMETRY=1;
- HF_ENDPOINT points at a fake Hub (tests/fakes/fake_hub.py) serving the fixture models.

Fixtures: `fake_hub` (that Hub, reset for the test), `hub_settings` (Settings with an empty facts
cache and no token). Other shared fixtures may be added below; keep this file small.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_SANDBOX = Path(tempfile.mkdtemp(prefix="endpoint-bot-tests-"))
atexit.register(shutil.rmtree, _SANDBOX, ignore_errors=True)

for _name in (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "ENDPOINT_BOT_HF_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HUGGINGFACE_CO_STAGING",
):
    os.environ.pop(_name, None)
os.environ["HF_HOME"] = str(_SANDBOX / "hf-home")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["ENDPOINT_BOT_FACTS_CACHE_DIR"] = str(_SANDBOX / "facts")

from tests.fakes.fake_hub import FakeHub  # noqa: E402  (after the environment is set)

SESSION_HUB = FakeHub.start()
atexit.register(SESSION_HUB.stop)
os.environ["HF_ENDPOINT"] = SESSION_HUB.url


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The session's fake Hub with its default repos, an empty request log and the process memo cleared."""
    from core.hub import clear_memory_cache

    SESSION_HUB.reset()
    clear_memory_cache()
    monkeypatch.setenv("HF_ENDPOINT", SESSION_HUB.url)
    yield SESSION_HUB
    SESSION_HUB.reset()
    clear_memory_cache()


@pytest.fixture
def hub_settings(tmp_path: Path):  # -> core.settings.Settings
    """Settings with an empty facts cache of this test's own and no Hugging Face token."""
    from core.settings import Settings

    return Settings(_env_file=None, facts_cache_dir=tmp_path / "facts", hf_token=None)  # type: ignore[call-arg]
