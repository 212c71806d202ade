# The two commands: `make run` (the app, sign-in works offline) and `make test` (everything CI runs).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

# `make run PORT=7000`: the public URL, the address served and the development provider's
# issuer all follow it.
PORT ?=

.PHONY: run test lint format setup setup-test assets system-deps bench bench-smoke cluster clean catalogs

# Each target installs only the extras it needs: `make run` the app and its development
# provider; `make test` and `make bench` add pytest, Playwright, ruff and the benchmark peers.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[testing,benchmarks]'
	touch $@ $(VENV)/.installed-run

setup: $(VENV)/.installed-run

setup-test: $(VENV)/.installed-test

# USWDS from the npm registry into the git-ignored loginsite/static/uswds/ (checked against its
# pinned integrity; a no-op once there, so later runs need no network).
assets: setup
	$(BIN)/loginsite-assets

system-deps:
	bash scripts/install-system-deps

node_modules/axe-core/axe.min.js: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

run: setup assets
	$(BIN)/loginsite-devsetup development.ini
	$(if $(PORT),LOGINSITE_PUBLIC_URL=http://localhost:$(PORT)) $(BIN)/pserve development.ini

# `make cluster` (PORT=8443 by default: the https port): HAProxy terminating TLS, three loginsite
# instances and Redis with Sentinel, in the foreground until Ctrl-C (deploy/cluster.py).
cluster: setup assets system-deps
	$(BIN)/python -m deploy.cluster $(if $(PORT),--port $(PORT))

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup-test assets system-deps node_modules/axe-core/axe.min.js lint
	$(BIN)/pytest -n 2 --cov --cov-report=term

# The translation catalogs (README "Languages"): the strings of the sources into
# loginsite.pot, new ones into each .po (to translate there), then each .po into the .mo the
# app reads. Run it after changing a string, and again after translating.
catalogs: setup-test
	$(BIN)/pybabel extract -F babel.cfg -o loginsite/locale/loginsite.pot --project=loginsite \
		--add-location=file --sort-output -c Translators: --no-wrap .
	$(BIN)/pybabel update -i loginsite/locale/loginsite.pot -d loginsite/locale -D loginsite \
		--ignore-obsolete --no-wrap
	$(BIN)/pybabel compile -d loginsite/locale -D loginsite --statistics

bench: setup-test system-deps
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.revocation
	$(BIN)/python -m benchmarks.instructions

bench-smoke: setup-test system-deps
	$(BIN)/python -m benchmarks.run --smoke
	$(BIN)/python -m benchmarks.revocation --smoke

clean:
	rm -rf $(VENV) node_modules test-output .pytest_cache .coverage .coverage.*
