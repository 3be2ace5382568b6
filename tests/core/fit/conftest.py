"""Helpers for the fit-check tests: model facts from the real config fixtures in tests/fixtures/configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.facts import ModelFacts, facts_from_config
from core.gpus import AcceleratorRequest, parse_accelerators

CONFIGS = Path(__file__).resolve().parents[2] / "fixtures" / "configs"


def config_of(repo_id: str) -> dict:
    return json.loads((CONFIGS / f"{repo_id.replace('/', '--', 1)}.json").read_text())


def facts_of(repo_id: str, **kwargs) -> ModelFacts:
    return facts_from_config(config_of(repo_id), model_id=repo_id, **kwargs)


def accel(text: str) -> AcceleratorRequest:
    return parse_accelerators(text)


@pytest.fixture
def load_facts():
    return facts_of
