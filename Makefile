# Two commands for a newcomer: `make run` (demo on sample data) and `make test` (whole suite).
# Each creates the virtual environment it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
CDN_PORT ?=

.PHONY: run test lint bench clean

$(BIN)/planner: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[planner,signer,chain,redis,test,bench]'
	touch $@

# exec: make passes SIGTERM to its child only, so the demo must be that child, not a shell.
run: $(BIN)/planner
	exec env PATH=$(abspath $(BIN)):$$PATH HOST=$(HOST) PORT=$(PORT) CDN_PORT=$(CDN_PORT) \
		$(BIN)/python -m planner.demo

test: $(BIN)/planner
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/planner
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(BIN)/planner
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .planner published/index.* published/current.json published/sealed published/epochs published/schema
