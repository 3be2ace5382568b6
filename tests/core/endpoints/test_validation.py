"""`validate_up`: pure checks of every `up` argument, in a fixed order, before anything happens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.endpoints.validation import UpRequest, refuse_local_model, validate_up
from core.errors import InvalidRequest
from core.settings import load_settings

SETTINGS = load_settings(_env_file=None, launcher="skypilot", default_cloud=None)


def request(**overrides: object) -> UpRequest:
    values: dict[str, object] = {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "accelerators": "L4:1",
        "owner_id": "U1",
    }
    values.update(overrides)
    return UpRequest(**values)  # type: ignore[arg-type]


def never_taken(name: str) -> bool:
    return False


def test_a_good_request_gives_its_engine() -> None:
    assert validate_up(request(), SETTINGS, name_taken=never_taken) == SETTINGS.default_engine
    assert validate_up(request(engine="SGLang"), SETTINGS, name_taken=never_taken) == "sglang"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"engine": "tgi"}, "Unknown engine"),
        ({"quantization": "nope"}, "does not take `quantization=nope`"),
        ({"ttl": timedelta(days=30)}, "admin ceiling"),
        ({"region": "us-central1"}, "A region needs its cloud"),
        ({"speculative_tokens": 3}, "needs a draft model"),
        ({"owner_id": ""}, "Who is asking"),
    ],
)
def test_each_bad_value_is_refused_with_a_sentence(overrides: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        validate_up(request(**overrides), SETTINGS, name_taken=never_taken)


def test_a_taken_name_is_asked_of_the_caller_after_the_values_before_the_place() -> None:
    asked: list[str] = []

    def taken(name: str) -> bool:
        asked.append(name)
        return True

    with pytest.raises(InvalidRequest, match="already used"):
        validate_up(request(name="mine", cloud="nowhere"), SETTINGS, name_taken=taken)
    assert asked == ["mine"]
    with pytest.raises(InvalidRequest, match="Unknown engine"):  # values first: the store is not asked
        validate_up(request(name="other", engine="tgi"), SETTINGS, name_taken=taken)
    assert asked == ["mine"]


def test_a_local_directory_is_refused_unless_the_admin_allows_it() -> None:
    with pytest.raises(InvalidRequest, match="local directory"):
        refuse_local_model("./models/qwen", SETTINGS)
    refuse_local_model(
        "./models/qwen", load_settings(_env_file=None, launcher="skypilot", allow_local_models=True)
    )
    refuse_local_model("Qwen/Qwen2.5-7B-Instruct", SETTINGS)
