"""Fixtures for the Slack adapter tests: a fake Slack Web API and a whole running bot around it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.slack.harness import SlackHarness
from tests.fakes.fake_slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack.start()
    yield fake
    fake.stop()


@pytest.fixture
def harness(tmp_path: Path, fake_hub: object) -> Iterator[SlackHarness]:
    bot = SlackHarness(tmp_path)
    yield bot
    bot.close()
