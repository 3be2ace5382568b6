"""The facts cache on disk: one small JSON file per repo id (and pinned revision) under a directory.

Files are named like the Hub's own cache (`Qwen--Qwen2.5-7B-Instruct.json`, `org--name@rev.json`),
written atomically (temporary file + rename) so concurrent bots never read half a file. A file that
cannot be read or parsed counts as a miss: the cache is an optimisation, never a source of errors.
Freshness is decided by the caller (`core.hub.service`), not here.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from core.hub.source import ModelSource

log = logging.getLogger(__name__)


def entry_path(cache_dir: Path, repo_id: str, revision: str | None) -> Path:
    """Where the entry for `repo_id` (at `revision`) lives. Repo ids are validated before this."""
    name = repo_id.replace("/", "--")
    if revision:
        name += "@" + quote(revision, safe="")
    return cache_dir / f"{name}.json"


def read_entry(cache_dir: Path, repo_id: str, revision: str | None) -> ModelSource | None:
    """The cached source, or None when there is none (or it is unreadable)."""
    path = entry_path(cache_dir, repo_id, revision)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        source = ModelSource.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("ignoring unreadable facts cache entry %s (%s)", path, type(error).__name__)
        return None
    if source.model_id != repo_id:
        log.warning("ignoring facts cache entry %s: it is for %s", path, source.model_id)
        return None
    return source


def write_entry(cache_dir: Path, source: ModelSource) -> None:
    """Store a Hub source. Failing to write only costs a refetch next time, so it is logged, not raised."""
    path = entry_path(cache_dir, source.model_id, source.revision)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(source.to_json(), handle, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as error:
        log.warning("could not write facts cache entry %s (%s)", path, error.strerror or type(error).__name__)
