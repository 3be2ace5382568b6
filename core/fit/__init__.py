"""The fit check: does a model fit these GPUs, how to split it, how long a context it can serve.

- `plan`: the contract (`FitOptions`, `Plan`, `MemoryBreakdown`, `Suggestion`);
- `check.check_fit(facts, accel, options, *, draft_facts=None) -> Plan`: the full verdict;
- `shapes.cheapest_shapes(facts, options, *, limit=5) -> list[Plan]`: `fit MODEL` with no GPUs;
- `assess` (one accelerator request, no suggestions), `memory` (per-GPU GiB as the engines budget
  it), `parallelism` (TP/PP/DP/EP layouts the engines accept), `quantization` (what the weights run
  as and whether the GPU can run it), `suggestions` (changes that would fit, priced).
"""
