"""The environment a local engine gets: an allow-list, never the bot's whole environment.

The bot's own environment holds its secrets (`SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`, `HF_TOKEN`,
cloud credentials), and an engine may run remote model code (`trust_remote_code`) and shows its
environment to anyone who can read `/proc/PID/environ`. So an engine gets only:
- `BASE`: what any program needs (PATH, HOME, locale, temp dir, user) and where GPUs and the Hugging
  Face cache are (`CUDA_VISIBLE_DEVICES`, `HF_HOME`, `HF_HUB_OFFLINE`, ...);
- the bot's own process tags (`EPB_*`: never secret, they let a restarted bot find its engines);
- what `settings.local_engine_env` names (`VLLM_*` and `SGLANG_*` by default, so e.g.
  `VLLM_CPU_KVCACHE_SPACE` reaches a CPU vLLM); a trailing `*` makes a name a prefix;
- what the launch spec sets (its envs and secrets), added by the launcher afterwards.
`NEVER` wins over everything: a Slack token or the bot's settings are not passed even when named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BASE = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TERM",
    "VIRTUAL_ENV",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "XDG_CACHE_HOME",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "TRANSFORMERS_OFFLINE",
    "EPB_*",
)
# Never passed on, whatever the settings say (the spec's own secrets are added by the launcher itself).
NEVER = (
    "SLACK_*",
    "ENDPOINT_BOT_*",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "ENDPOINT_API_KEY",
    "VLLM_API_KEY",
    "EPB_LOCAL_*",  # the launcher sets these tags itself, per cluster
)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("*"):
            if name.startswith(pattern[:-1]):
                return True
        elif name == pattern:
            return True
    return False


def engine_environment(source: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """The variables of `source` an engine may see: `BASE` and `extra` (names or `PREFIX*`), minus `NEVER`."""
    allowed = (*BASE, *(name.strip() for name in extra if name.strip()))
    return {
        name: value for name, value in source.items() if _matches(name, allowed) and not _matches(name, NEVER)
    }
