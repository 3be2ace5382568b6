"""Model facts from the Hugging Face Hub or a local directory, cached so a warm fit check costs nothing.

Public surface: `load_model_facts(model, *, settings) -> ModelFacts` and, for callers that want the raw
inputs, `fetch_model_source`. See `core.hub.service` for the cache's freshness rules, `core.hub.refs`
for the accepted model spellings, `core.hub.remote` for the Hub requests and their error messages.
"""

from core.hub.refs import ModelRef, parse_model_ref
from core.hub.service import CACHE_MAX_AGE, clear_memory_cache, fetch_model_source, load_model_facts
from core.hub.source import ModelSource

__all__ = [
    "CACHE_MAX_AGE",
    "ModelRef",
    "ModelSource",
    "clear_memory_cache",
    "fetch_model_source",
    "load_model_facts",
    "parse_model_ref",
]
