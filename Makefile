# The two commands: `make run` (the app, sign-in works offline) and `make test` (everything CI runs).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test lint format setup system-deps bench bench-smoke clean

$(BIN)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[development,testing,benchmarks]'
	touch $@

setup: $(BIN)/.installed

system-deps:
	bash scripts/install-system-deps

node_modules/axe-core/axe.min.js: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/loginsite-devsetup development.ini
	$(BIN)/pserve development.ini

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup system-deps node_modules/axe-core/axe.min.js lint
	$(BIN)/pytest -n 2 --cov --cov-report=term

bench: setup system-deps
	$(BIN)/python -m benchmarks.run

bench-smoke: setup system-deps
	$(BIN)/python -m benchmarks.run --smoke

clean:
	rm -rf $(VENV) node_modules test-output .pytest_cache .coverage .coverage.*
