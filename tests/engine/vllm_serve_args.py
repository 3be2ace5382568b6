"""Parse `vllm serve` argv lists with the installed vLLM's own `serve` parser; run with an engine's Python.

`python -m tests.engine.vllm_serve_args` reads a JSON list of argv lists (each starting `vllm serve`)
on standard input and prints, per argv, a JSON object: the vLLM version, and either the parsed values
the bot relies on or `error` with argparse's own message. The parser is built the way vLLM's CLI builds
it (`ServeSubcommand().subparser_init`, then its `validate`), so an unknown flag, a bad value or a
renamed option fails here as it would on the cluster. Nothing is started and no model is loaded.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import sys
from typing import Any

CHECKED = (
    "model_tag",
    "host",
    "port",
    "served_model_name",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "data_parallel_size",
    "data_parallel_size_local",
    "data_parallel_address",
    "data_parallel_rpc_port",
    "enable_expert_parallel",
    "nnodes",
    "node_rank",
    "master_addr",
    "master_port",
    "max_model_len",
    "dtype",
    "quantization",
    "kv_cache_dtype",
    "gpu_memory_utilization",
    "speculative_config",
    "trust_remote_code",
    "revision",
    "ssl_keyfile",
    "ssl_certfile",
)


def _version() -> str:
    import vllm

    return str(getattr(vllm, "__version__", None) or importlib.metadata.version("vllm"))


def parse(argv: list[str]) -> dict[str, Any]:
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    if argv[:2] != ["vllm", "serve"]:
        return {"error": f"not a `vllm serve` argv: {argv[:2]}"}
    parser = FlexibleArgumentParser(prog="vllm")
    subparsers = parser.add_subparsers(dest="subparser")
    command = ServeSubcommand()
    command.subparser_init(subparsers)
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            args = parser.parse_args(argv[1:])
        command.validate(args)
    except SystemExit:
        return {"error": errors.getvalue().strip().splitlines()[-1] if errors.getvalue().strip() else "exit"}
    except Exception as exc:  # vLLM's own validation (ValueError and friends)
        return {"error": f"{type(exc).__name__}: {exc}"}
    values = {name: getattr(args, name) for name in CHECKED if hasattr(args, name)}
    return json.loads(json.dumps(values, default=str))


def main() -> int:
    argvs = json.load(sys.stdin)
    with contextlib.redirect_stdout(sys.stderr):  # vLLM's import-time chatter stays off our answer
        version = _version()
        results = [parse(argv) for argv in argvs]
    json.dump({"version": version, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
