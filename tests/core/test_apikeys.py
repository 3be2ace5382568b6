"""API keys: random, prefixed, stored only as hashes, verified in constant time."""

from __future__ import annotations

from core.apikeys import API_KEY_PREFIX, hash_api_key, new_api_key, redact_api_keys, verify_api_key


def test_new_keys_are_prefixed_random_and_long() -> None:
    keys = {new_api_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith(API_KEY_PREFIX)
        assert len(key) >= len(API_KEY_PREFIX) + 40
        assert all(ch.isalnum() or ch in "-_" for ch in key)


def test_hash_hides_the_key_and_verifies() -> None:
    key = new_api_key()
    stored = hash_api_key(key)
    assert key not in stored
    assert key[len(API_KEY_PREFIX) :] not in stored
    assert stored.startswith("sha256:")
    assert hash_api_key(key) == stored  # deterministic: the store can look a key up
    assert verify_api_key(key, stored)


def test_wrong_or_missing_keys_do_not_verify() -> None:
    key = new_api_key()
    stored = hash_api_key(key)
    assert not verify_api_key(new_api_key(), stored)
    assert not verify_api_key(key[:-1], stored)
    assert not verify_api_key("", stored)
    assert not verify_api_key(key, None)
    assert not verify_api_key(key, "")


def test_redact_removes_keys_from_text() -> None:
    key = new_api_key()
    text = f"curl -H 'Authorization: Bearer {key}' http://x"
    redacted = redact_api_keys(text)
    assert key not in redacted
    assert "epk-<redacted>" in redacted
