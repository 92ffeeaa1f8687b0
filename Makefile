# The two commands of the README: `make demo` and `make test`. Both set up what is missing first.
PY := .venv/bin/python
DEMO_DIR ?= $(CURDIR)/.demo/cluster

.PHONY: setup test lint check demo demo-down cluster-up cluster-down bench bench-cli

setup:
	@scripts/setup

test: setup
	$(PY) -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

check: lint test

demo: setup
	@scripts/demo

demo-down:
	@$(PY) -m testenv.cluster stop --dir $(DEMO_DIR)

cluster-up: setup
	@$(PY) -m testenv.cluster start --dir $(DEMO_DIR)

cluster-down: demo-down

# Scenarios S1-S5 on gitmoor and on Flux, side by side; BENCH_ARGS=--quick for a smoke run.
bench: setup
	$(PY) -m benchmarks $(BENCH_ARGS)

# How long `gitmoor` takes to start (no cluster, about a minute): benchmarks/README.md.
bench-cli: setup
	$(PY) -m benchmarks.cli_startup
