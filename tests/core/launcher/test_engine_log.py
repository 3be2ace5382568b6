"""The engine's own reason, picked from the tail of a real-shaped vLLM start-up failure log."""

from __future__ import annotations

from core.launcher.engine_log import MAX_CHARS, engine_error

# The shape of vLLM 0.32's log when a worker fails while the engine core starts (trimmed).
VLLM_LOG = """\
(EngineCore pid=20725) INFO 12-04 21:33:04 [utils.py:347] Using LBHNC KV cache layout.
(EngineCore pid=20725) ERROR 12-04 21:33:31 [core.py:1120] EngineCore failed to start.
(EngineCore pid=20725) ERROR 12-04 21:33:31 [core.py:1120] Traceback (most recent call last):
(Worker pid=20897) ValueError: Available memory on node 0 (20.76/23.54 GiB) on kv cache allocation is \
less than requested memory for kv (100000.0 GiB). Decrease --kv-cache-memory-bytes, VLLM_CPU_KVCACHE_SPACE, \
or reduce CPU memory used by other processes.
\x1b[1;31mRuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\x1b[0m
/usr/lib/python3.11/multiprocessing/resource_tracker.py:254: UserWarning: resource_tracker: leaked
"""


def test_the_root_cause_wins_over_the_wrappers() -> None:
    reason = engine_error(VLLM_LOG)
    assert reason is not None
    assert reason.startswith("ValueError: Available memory on node 0")
    assert "VLLM_CPU_KVCACHE_SPACE" in reason
    assert "(Worker pid" not in reason and "\x1b" not in reason


def test_only_a_wrapper_is_still_a_reason() -> None:
    text = "RuntimeError: Engine core initialization failed. See root cause above.\n"
    assert engine_error(text) == "RuntimeError: Engine core initialization failed. See root cause above."


def test_log_lines_and_warnings_are_not_errors() -> None:
    text = "ERROR 12-04 21:33:31 [core.py:1120] EngineCore failed to start.\nUserWarning: leaked\n"
    assert engine_error(text) is None


def test_a_long_message_is_bounded() -> None:
    reason = engine_error("torch.OutOfMemoryError: " + "x" * 2000)
    assert reason is not None and reason.startswith("OutOfMemoryError: ") and len(reason) == MAX_CHARS
