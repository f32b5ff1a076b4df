# The two set-up commands of the README:
#   make demo   create .venv, install, train on the bundled Online Retail data, serve on 127.0.0.1:8000
#   make test   create .venv, install with the test tools, run ruff, mypy and the whole suite (real-data tests included)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/online-retail
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint train serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp records that the current pyproject.toml and constraints are installed.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

demo: train serve

train: $(VENV)/.installed
	$(BIN)/recsys train --format online-retail --out $(MODEL_DIR)

serve: $(VENV)/.installed
	$(BIN)/recsys serve --model $(MODEL_DIR) --host $(HOST) --port $(PORT)

# Static checks first: they take seconds and catch what a slow test run would hit late.
lint: $(VENV)/.installed
	$(BIN)/ruff check recsys service tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) models .pytest_cache .hypothesis
