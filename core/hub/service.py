"""`load_model_facts`: the fit check's one entry point for model facts, cached in memory and on disk.

Where facts come from, in order:
1. an in-process dict (a warm fit check costs microseconds and no request);
2. the JSON facts cache under `settings.facts_cache_dir` (survives restarts; works offline);
3. the Hub, through huggingface_hub (`core.hub.remote`, at most three requests), or a local directory.

Freshness: an entry for `org/name` (or a branch/tag `org/name@rev`) is used without asking the Hub for
`CACHE_MAX_AGE` (7 days), then refetched; if the Hub is unreachable or offline (`HF_HUB_OFFLINE=1`)
then, the old entry is used, a warning logged, and the Hub left alone for `OUTAGE_RETRY_AFTER` (5 min)
so an outage does not cost every check a timeout. An entry pinned to a full commit sha
(`org/name@<40 hex>`) never goes stale. `refresh=True` refetches now. Errors never write the cache.
Local directories are read every time (they are on disk already) and never cached.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import core.hub.cache as cache
import core.hub.remote as remote
from core.errors import GatedModel, HubUnreachable, InvalidRequest
from core.facts import ModelFacts, facts_from_config
from core.hub.local import read_local_model
from core.hub.refs import ModelRef, parse_model_ref
from core.hub.source import ModelSource
from core.settings import Settings

log = logging.getLogger(__name__)

CACHE_MAX_AGE = timedelta(days=7)
# After the Hub failed and a stale entry was served, wait this long before asking the Hub again, so
# an outage does not cost every fit check a timeout.
OUTAGE_RETRY_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class _Remembered:
    facts: ModelFacts
    source: ModelSource
    hold_until: float = 0.0  # a stale source served during an outage is not retried before this

    def usable(self, ref: ModelRef) -> bool:
        return time.time() < self.hold_until or _is_fresh(self.source, ref)


_memory: dict[tuple[str, str, str | None], _Remembered] = {}
_memory_lock = threading.Lock()
# Striped locks: one fetch per model at a time (others wait and reuse it), bounded memory however
# many different names people type.
_fetch_locks = tuple(threading.Lock() for _ in range(64))


def clear_memory_cache() -> None:
    """Forget what this process remembered (tests; the disk cache is untouched)."""
    with _memory_lock:
        _memory.clear()


def load_model_facts(model: str, *, settings: Settings, refresh: bool = False) -> ModelFacts:
    """Facts about `model` (Hub id, `org/name@rev`, or `./local/dir`) for the fit check.

    Raises InvalidRequest (malformed id, before any request), GatedModel, ModelNotFound or
    HubUnreachable, with messages that say what to try.
    """
    ref = parse_model_ref(model)
    if ref.local_path is not None:
        return _to_facts(read_local_model(ref.local_path, model_id=_local_model_id(ref)))
    assert ref.repo_id is not None
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    key = (str(settings.facts_cache_dir), ref.repo_id, ref.revision)

    if not refresh:
        remembered = _memory.get(key)  # dict reads are atomic; the lock only guards writes
        if remembered is not None and remembered.usable(ref):
            _require_access(remembered.source, token)
            return remembered.facts

    with _fetch_locks[hash(key) % len(_fetch_locks)]:
        if not refresh:
            remembered = _memory.get(key)
            if remembered is not None and remembered.usable(ref):
                _require_access(remembered.source, token)
                return remembered.facts
        source, how = _load_source(ref, token=token, cache_dir=settings.facts_cache_dir, refresh=refresh)
        _require_access(source, token)
        facts = _to_facts(source)
        if how == "fetched":  # only what turned into facts is kept: a failure leaves the cache as it was
            cache.write_entry(settings.facts_cache_dir, source)
        hold = time.time() + OUTAGE_RETRY_AFTER.total_seconds() if how == "stale" else 0.0
        with _memory_lock:
            _memory[key] = _Remembered(facts=facts, source=source, hold_until=hold)
        return facts


def fetch_model_source(model: str, *, settings: Settings, refresh: bool = False) -> ModelSource:
    """The raw inputs behind `load_model_facts` (config dict, dtype counts, gated, sha), same caching."""
    ref = parse_model_ref(model)
    if ref.local_path is not None:
        return read_local_model(ref.local_path, model_id=_local_model_id(ref))
    load_model_facts(model, settings=settings, refresh=refresh)
    assert ref.repo_id is not None
    return _memory[(str(settings.facts_cache_dir), ref.repo_id, ref.revision)].source


def _load_source(
    ref: ModelRef, *, token: str | None, cache_dir: Path, refresh: bool
) -> tuple[ModelSource, Literal["cached", "fetched", "stale"]]:
    """The source to use, and how it was got: a fresh cache entry, a fetch, or a stale entry as fallback."""
    assert ref.repo_id is not None
    cached = cache.read_entry(cache_dir, ref.repo_id, ref.revision)
    if cached is not None and not refresh and _is_fresh(cached, ref):
        return cached, "cached"
    if remote.offline_mode():
        if cached is not None:
            log.warning("offline: using facts of %s cached at %s", ref.text, _when(cached))
            return cached, "stale"
        raise HubUnreachable(
            f"The Hub is switched off (HF_HUB_OFFLINE=1) and {ref.text} is not in the bot's facts cache "
            f"({cache_dir}). Check it once with the Hub reachable, or give a local model directory."
        )
    try:
        source = remote.fetch_from_hub(repo_id=ref.repo_id, revision=ref.revision, token=token)
    except HubUnreachable:
        if cached is None:
            raise
        log.warning("Hub unreachable: using facts of %s cached at %s", ref.text, _when(cached))
        return cached, "stale"
    return source, "fetched"


def _local_model_id(ref: ModelRef) -> str:
    """The directory as the engine gets it: `~` expanded, since the argv is quoted and no shell expands it."""
    assert ref.local_path is not None
    return str(ref.local_path) if ref.text.startswith("~") else ref.text


def _is_fresh(source: ModelSource, ref: ModelRef) -> bool:
    if ref.pinned_to_commit:
        return True
    return time.time() - source.fetched_at < CACHE_MAX_AGE.total_seconds()


def _require_access(source: ModelSource, token: str | None) -> None:
    """A gated model is refused without a token even from the cache: clusters could not download it."""
    if source.gated and not token:
        raise GatedModel(remote.gated_message(source.model_id, has_token=False))


def _to_facts(source: ModelSource) -> ModelFacts:
    try:
        return facts_from_config(
            source.config,
            model_id=source.model_id,
            dtype_params=source.dtype_params,
            gated=source.gated,
            revision=source.sha,
        )
    except (ValueError, TypeError, KeyError) as error:
        detail = str(error) if isinstance(error, ValueError) else f"unexpected {type(error).__name__}"
        raise InvalidRequest(
            f"The bot cannot size {source.model_id} from its config.json ({detail}). It serves text-generation "
            "models in Transformers format; check that this is one."
        ) from None


def _when(source: ModelSource) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(source.fetched_at))
