"""Fit-check accuracy: agreement with published deployments, and the KV capacity error against vLLM logs.

Run: `.venv/bin/python -m benchmarks.fit_accuracy [--rows]`. Offline: model facts come from the
config fixtures in tests/fixtures/configs; the table and the logs are tests/core/fit/published_table.py
(each row cites where it was published). Prints:
- agreement of the fit check's verdict (fits / does not fit) with what the engine really did, over all
  rows, over the rows that ran and over the published failures, beside the naive rule
  "weights x 1.1 <= 90 % of the GPUs' memory" for comparison (`--rows` lists every row);
- for each collected vLLM start-up log, the predicted "Available KV cache memory" per GPU against the
  logged one (GiB and %), and the median error over the logs of the engine generation the fit check
  models (vLLM V1 0.10-0.11 and llm-d's measurements of it; older-build logs are shown, not counted).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _naive_fits(row) -> bool:  # type: ignore[no-untyped-def]
    """The rule of thumb the issue compares against: weights x 1.1 within 90 % of all GPUs' memory."""
    from core.gpus import parse_accelerators
    from tests.core.fit.conftest import facts_of

    accel = parse_accelerators(row.accel)
    weights_gib = facts_of(row.model).weight_bytes / 2**30
    return weights_gib * 1.1 <= 0.9 * accel.gpu.memory_gib * accel.count


def _bot_fits(row) -> bool:  # type: ignore[no-untyped-def]
    from core.fit.parallelism import Layout, layout_problem
    from tests.core.fit.conftest import facts_of
    from tests.core.fit.published_table import plan_for

    if row.layout is not None:
        tp, pp, dp, ep = row.layout
        return layout_problem(facts_of(row.model), Layout(tp, pp, dp, expert_parallel=ep)) is None
    return plan_for(row.model, row.accel, row.options).fits


def _share(hits: int, total: int) -> str:
    return f"{hits}/{total} ({100 * hits / total:.0f} %)" if total else "0/0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", action="store_true", help="print the verdict of every row")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.core.fit.published_table import KV_LOGS, ROWS, predicted_available_gib, tolerance_gib

    ours = {"all": 0, "runs": 0, "fails": 0}
    naive = {"all": 0, "runs": 0, "fails": 0}
    counts = {"all": len(ROWS), "runs": sum(r.runs for r in ROWS), "fails": sum(not r.runs for r in ROWS)}
    if args.rows:
        print(f"{'model':<52} {'GPUs':<12} {'published':<10} {'bot':<6} {'naive':<6}")
    for row in ROWS:
        bot, rule = _bot_fits(row), _naive_fits(row)
        group = "runs" if row.runs else "fails"
        for tally, verdict in ((ours, bot), (naive, rule)):
            if verdict == row.runs:
                tally["all"] += 1
                tally[group] += 1
        if args.rows:
            published = "runs" if row.runs else f"no:{row.kind}"
            print(f"{row.model:<52} {row.accel:<12} {published:<10} {'yes' if bot else 'no':<6} "
                  f"{'yes' if rule else 'no':<6}")  # fmt: skip
    print("Agreement with published deployments (verdict fits / does not fit)")
    print(f"  {'':<28} {'fit check':>16} {'naive 1.1x rule':>18}")
    for key, label in (
        ("all", "all rows"),
        ("runs", "deployments that ran"),
        ("fails", "published failures"),
    ):
        print(f"  {label + f' ({counts[key]})':<28} {_share(ours[key], counts[key]):>16} "
              f"{_share(naive[key], counts[key]):>18}")  # fmt: skip

    print()
    print("KV capacity per GPU: predicted vs logged 'Available KV cache memory' (vLLM V1 0.10-0.11)")
    print(f"  {'model':<34} {'GPUs':<8} {'logged':>8} {'predicted':>10} {'error':>8} {'%':>7}  within")
    errors_gib: list[float] = []
    errors_pct: list[float] = []
    for log in KV_LOGS:
        if log.accel is None:
            continue
        predicted = predicted_available_gib(log)
        error = predicted - log.available_gib
        pct = 100 * error / abs(log.available_gib)
        within = abs(error) <= tolerance_gib(log.available_gib)
        note = "yes" if within else "no"
        if log.same_generation:
            errors_gib.append(abs(error))
            errors_pct.append(abs(pct))
        else:
            note += f"  (not counted: {log.why_not})"
        print(f"  {log.model:<34} {log.accel:<8} {log.available_gib:>8.2f} {predicted:>10.2f} "
              f"{error:>+8.2f} {pct:>+6.1f}%  {note}")  # fmt: skip
    if errors_gib:
        print(f"  median |error| over {len(errors_gib)} same-generation logs: "
              f"{statistics.median(errors_gib):.2f} GiB, {statistics.median(errors_pct):.1f} %")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
