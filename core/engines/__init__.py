"""Engine command lines: argv for vLLM and SGLang from a `Plan`, the shell line that starts them,
the option combinations they refuse, and where each says it is ready.
"""

from core.engines.commands import build_engine_command, sglang_speculative_algorithm
from core.engines.memory import (
    VLLM_DEFAULT_MEMORY_FRACTION,
    default_memory_fraction,
    memory_fraction_for,
    readiness_path,
    sglang_memory_fraction,
)
from core.engines.rules import engine_rejections, hardware_rejections
from core.engines.script import API_KEY_ENV, VLLM_API_KEY_ENV, engine_key_env, launch_script

__all__ = [
    "API_KEY_ENV",
    "VLLM_API_KEY_ENV",
    "VLLM_DEFAULT_MEMORY_FRACTION",
    "build_engine_command",
    "default_memory_fraction",
    "engine_key_env",
    "engine_rejections",
    "hardware_rejections",
    "launch_script",
    "memory_fraction_for",
    "readiness_path",
    "sglang_memory_fraction",
    "sglang_speculative_algorithm",
]
