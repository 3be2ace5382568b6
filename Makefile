# The README's two commands: `make run` starts the bot, `make test` runs the tests.
# Both create .venv with Python 3.11+ and install the project from its own files first.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: run test lint install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/endpoint-bot

test: $(STAMP)
	$(VENV)/bin/ruff check core bot tests benchmarks
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check core bot tests benchmarks
