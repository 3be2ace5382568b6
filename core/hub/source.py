"""`ModelSource`: the raw inputs of a fit check for one model, exactly what the facts cache keeps.

A source is what was read from the Hub (config.json, per-dtype parameter counts, gated flag, commit
sha) or from a local directory. `core.facts.facts_from_config` turns it into `ModelFacts`. It never
holds a token or anything else secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelSource:
    """What one fetch (or one read of a local directory) learned about a model."""

    model_id: str  # repo id (without `@revision`) or the local path as typed
    config: dict[str, Any]  # config.json as a dict
    origin: Literal["hub", "local"]
    dtype_params: dict[str, int] | None = None  # safetensors per-dtype stored elements; None: unknown
    gated: bool = False
    revision: str | None = None  # the revision asked for (`org/name@rev`), None: the default branch
    sha: str | None = None  # commit the config and counts were read at
    safetensors_bytes: int | None = None  # bytes of *.safetensors on the Hub (one copy), when known
    fetched_at: float = 0.0  # time.time() of the fetch
    extra: dict[str, Any] = field(default_factory=dict)  # room for later fields without a schema bump

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "model_id": self.model_id,
            "origin": self.origin,
            "revision": self.revision,
            "sha": self.sha,
            "gated": self.gated,
            "dtype_params": self.dtype_params,
            "safetensors_bytes": self.safetensors_bytes,
            "fetched_at": self.fetched_at,
            "config": self.config,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelSource:
        """Rebuild from `to_json()`; raises ValueError/KeyError/TypeError on anything unexpected."""
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"cache schema {data.get('schema')!r}, expected {SCHEMA_VERSION}")
        config = data["config"]
        dtype_params = data.get("dtype_params")
        if not isinstance(config, dict):
            raise TypeError("config is not an object")
        if dtype_params is not None and not (
            isinstance(dtype_params, dict) and all(isinstance(v, int) for v in dtype_params.values())
        ):
            raise TypeError("dtype_params is not a mapping of counts")
        return cls(
            model_id=str(data["model_id"]),
            config=config,
            origin=data["origin"],
            dtype_params=dtype_params,
            gated=bool(data.get("gated", False)),
            revision=data.get("revision"),
            sha=data.get("sha"),
            safetensors_bytes=data.get("safetensors_bytes"),
            fetched_at=float(data.get("fetched_at", 0.0)),
            extra=dict(data.get("extra") or {}),
        )
