"""API keys for endpoints: generate one, keep only its hash, check a presented key in constant time.

A key is shown to its owner once (in the ready message) and handed to the engine only as a secret
environment variable; the store keeps `hash_api_key(key)`. Keys carry the `epk-` prefix so a leaked one
is recognisable (and scrubbable) in logs and pastes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

API_KEY_PREFIX = "epk-"
_HASH_SCHEME = "sha256"
# 32 random bytes -> 43 url-safe characters; enough that a hash without salt is not guessable.
_KEY_BYTES = 32
API_KEY_PATTERN = re.compile(r"epk-[A-Za-z0-9_-]{20,}")


def new_api_key() -> str:
    """A fresh random key, e.g. `epk-3q0T...` (256 bits of entropy)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)


def hash_api_key(key: str) -> str:
    """`sha256:<hex>` of the key: what the store keeps. High-entropy keys need no salt or KDF."""
    if not key:
        raise ValueError("an empty API key cannot be hashed")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{_HASH_SCHEME}:{digest}"


def verify_api_key(key: str, stored_hash: str | None) -> bool:
    """True when `key` hashes to `stored_hash`; compares in constant time."""
    if not key or not stored_hash:
        return False
    return hmac.compare_digest(hash_api_key(key).encode(), stored_hash.encode())


def redact_api_keys(text: str) -> str:
    """Replace anything that looks like one of our keys with `epk-<redacted>`."""
    return API_KEY_PATTERN.sub(API_KEY_PREFIX + "<redacted>", text)
