# The README's two commands: `make run` starts the bot, `make test` runs the tests.
# Both create .venv with Python 3.11+ and install the project from its own files first.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: run test lint install demo

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

test: $(STAMP)
	$(VENV)/bin/ruff check core bot tests benchmarks
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check core bot tests benchmarks
