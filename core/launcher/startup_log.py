"""What an engine's start-up log says about where its cold start went: weights download and load times.

The lines, as the engines' own source writes them (vLLM 0.33, SGLang 0.5; read with the search tools):

- vLLM `model_executor/model_loader/weight_utils.py`: `"Time spent downloading weights for %s: %.6f
  seconds"`, logged only when fetching the files took over half a second (a cache hit logs nothing);
- vLLM `model_executor/model_loader/default_loader.py`: `"Loading weights took %.2f seconds"` (reading
  the files into the GPU, after any download);
- vLLM `v1/worker/gpu_model_runner.py`: `"Model loading took %s GiB and %.6f seconds"` (older releases:
  `"... GiB memory and ..."`): the whole model load, download included;
- SGLang `srt/model_executor/model_runner.py`: `"Load weight end. elapsed=%.2f s, type=..."` (download
  and load together; SGLang says nothing of a download on its own).

Each line may carry vLLM's prefixes (`(EngineCore pid=187) INFO 05-01 17:08:53 [default_loader.py:384]`),
SGLang's (`[2026-02-26 05:24:09 TP4]`) or ANSI colours; the patterns search anywhere in the line. Ranks
load in parallel and each logs its own line, so the longest of each kind counts, not their sum. Pure:
`parse_startup_log(text)`; the launchers fetch the text (`engine_log`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.launcher.errors import strip_ansi

_NUMBER = r"(\d+(?:\.\d+)?)"
_DOWNLOAD = re.compile(r"Time spent downloading weights for \S.*?: " + _NUMBER + r" seconds")
_WEIGHTS_LOADED = re.compile(r"Loading weights took " + _NUMBER + r" seconds")
_MODEL_LOADED = re.compile(
    r"Model loading took " + _NUMBER + r" GiB(?: memory)? and " + _NUMBER + r" seconds"
)
_SGLANG_LOADED = re.compile(r"Load weight end\. elapsed=" + _NUMBER + r" s\b")
# No engine start takes a week: a longer figure is a garbled line, not a measurement.
_MAX_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class StartupLog:
    """Durations in seconds the engine reported (None: it printed no such line)."""

    download_s: float | None = None  # vLLM: fetching weight files from the Hub
    weights_load_s: float | None = None  # vLLM: reading the files into the GPU
    model_load_s: float | None = None  # vLLM: the whole model load (download included)
    sglang_weights_s: float | None = None  # SGLang: download + load of the weights

    @property
    def weights_s(self) -> float | None:
        """Time spent getting the weights onto the GPU (download + load), when the engine said."""
        if self.sglang_weights_s is not None:
            return self.sglang_weights_s
        if self.weights_load_s is None:
            return None
        return (self.download_s or 0.0) + self.weights_load_s

    @property
    def downloaded(self) -> bool:
        """vLLM logged a download (a cache hit, the weights bucket or files on disk, logs none)."""
        return self.download_s is not None


def _longest(pattern: re.Pattern[str], lines: list[str], group: int = 1) -> float | None:
    found = [float(m.group(group)) for line in lines if (m := pattern.search(line))]
    found = [value for value in found if 0.0 <= value <= _MAX_SECONDS]
    return max(found) if found else None


def parse_startup_log(text: str) -> StartupLog:
    """The durations an engine's start-up log reports (see the module docstring for the lines)."""
    lines = [strip_ansi(line) for line in text.splitlines()]
    return StartupLog(
        download_s=_longest(_DOWNLOAD, lines),
        weights_load_s=_longest(_WEIGHTS_LOADED, lines),
        model_load_s=_longest(_MODEL_LOADED, lines, group=2),
        sglang_weights_s=_longest(_SGLANG_LOADED, lines),
    )
