"""The fit check: does a model fit these GPUs, how to split it, how long a context it can serve.

- `service.fit(FitRequest, *, settings, load_facts=None) -> FitResult`: the one entry point every
  surface uses (CLI, chat commands and `up` through `EndpointService`); loads the facts, no database;
- `plan`: what it produces (`FitOptions`, `Plan`, `MemoryBreakdown`, `Suggestion`); `reasons`: why a
  plan does not fit, each a sentence with a `ReasonKind` that code decides by;
- `check.check_fit(facts, accel, options, *, draft_facts=None) -> Plan`: the full verdict;
- `shapes.cheapest_shapes(facts, options, *, limit=5) -> list[Plan]`: `fit MODEL` with no GPUs;
- `finish.finish_plan`: the engine's own refusals and the argv, the last step of both;
- `assess` (one accelerator request, no suggestions), `memory` (per-GPU GiB as the engines budget
  it), `parallelism` (TP/PP/DP/EP layouts the engines accept), `quantization` (what the weights run
  as and whether the GPU can run it), `suggestions` (changes that would fit, priced).
"""
