# Lipsync: `make run` starts the product, `make test` runs every check. Both set up what they
# need first (Debian packages, a virtualenv, Python packages), idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lipsync-setup
# espeak-ng: sample speech for tests and the demo; redis-server: the multi-machine queue tests;
# nginx + gettext-base (envsubst): the shipped proxy config, run for real in the deploy tests;
# chromium: the browser of the end-to-end tests (nothing downloads one).
DEBIAN_PACKAGES := espeak-ng redis-server nginx gettext-base chromium
PYTEST_ARGS ?=
FRONTEND := frontend
NPM := npm --prefix $(FRONTEND)
FRONTEND_STAMP := $(FRONTEND)/node_modules/.lipsync-setup
FRONTEND_SOURCES := $(shell find $(FRONTEND)/src $(FRONTEND)/public -type f 2>/dev/null) \
	$(FRONTEND)/index.html $(FRONTEND)/vite.config.ts $(wildcard $(FRONTEND)/tsconfig*.json)

.PHONY: setup system-packages run demo test lint typecheck unit frontend-test e2e bench clean

setup: system-packages $(STAMP) $(FRONTEND)/dist/index.html

system-packages:
	@scripts/install-debian-packages.sh $(DEBIAN_PACKAGES)

# The same script installs the Python side in the Docker images (docker/Dockerfile.backend).
# The sources are byte-compiled as a regular install's are: where PYTHONDONTWRITEBYTECODE is
# set, each run's encoder and phone-recogniser processes would otherwise compile them anew.
$(STAMP): pyproject.toml Makefile scripts/setup-python.sh
	PYTHON=$(PYTHON) scripts/setup-python.sh --dev $(VENV)
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

$(FRONTEND_STAMP): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $(FRONTEND_STAMP)

$(FRONTEND)/dist/index.html: $(FRONTEND_STAMP) $(FRONTEND_SOURCES)
	$(NPM) run build

run: setup
	$(BIN)/lipsync serve

demo: setup
	$(BIN)/lipsync demo --output-dir out/demo

lint: setup
	$(BIN)/ruff check src tests benchmarks docker
	$(BIN)/ruff format --check src tests benchmarks docker

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest $(PYTEST_ARGS)

frontend-test: setup
	$(NPM) run typecheck
	$(NPM) test

# The real page in Debian's Chromium against the real server and worker (frontend/e2e).
e2e: setup
	$(NPM) run e2e

test: lint typecheck unit frontend-test e2e

bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_builtin.py
	$(BIN)/python benchmarks/bench_jobs.py
	$(BIN)/python benchmarks/bench_enhance.py

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache $(FRONTEND)/node_modules $(FRONTEND)/dist
