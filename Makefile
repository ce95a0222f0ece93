# headwater: one command per task. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
# The UI's browser libraries (ui/package.json), copied into the package by ui/build.mjs.
UI_STAMP := src/headwater/web/static/vendor/.built-$(shell cat ui/package-lock.json | md5sum | cut -c1-12)
CHROMIUM := /usr/bin/chromium
export HEADWATER_TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: help setup demo test lint typecheck bench-lineage bench-audit bench-pipeline bench-ingest bench-operations bench-web clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

setup: $(STAMP) $(UI_STAMP)  ## Create .venv, install headwater with its dev extras, build the UI's libraries (idempotent)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

$(UI_STAMP): ui/package.json ui/package-lock.json ui/build.mjs
	npm ci --prefix ui --no-audit --no-fund --silent
	node ui/build.mjs
	rm -f src/headwater/web/static/vendor/.built-* && touch $@

# The UI tests drive Debian's Chromium (Playwright's own browser download cannot work here).
$(CHROMIUM):
	apt-get install -y chromium || (apt-get update && apt-get install -y chromium)

demo: setup  ## Run the shop pipeline on embedded defaults: load, run, deliver a day, run incrementally
	$(BIN)/headwater demo --project examples/shop

lint: setup  ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint $(CHROMIUM)  ## Lint, then the whole test suite on SQLite and PostgreSQL (and the UI in Chromium)
	$(BIN)/pytest -n 2 --dist loadgroup

bench-lineage: setup  ## Lineage ingest and query benchmark; JSON to bench/results/
	$(BIN)/python -m bench.lineage

bench-audit: setup  ## Audit log append, verify, proof and overhead benchmark; JSON to bench/results/
	$(BIN)/python -m bench.audit

bench-pipeline: setup  ## Shop pipeline at 1M orders: full refresh, 1% incremental, lineage overhead; JSON to bench/results/
	$(BIN)/python -m bench.pipeline

bench-ingest: setup  ## Signed webhooks at rising rates: deliveries/s, p50/p99, end-to-end; JSON to bench/results/
	$(BIN)/python -m bench.ingest

bench-operations: setup  ## Compaction of 1,000 small files, retention of 1M events, backup and restore of the demo at 1M orders; JSON to bench/results/
	$(BIN)/python -m bench.operations

bench-web: setup $(CHROMIUM)  ## Every UI page's server time on the lineage store, a 1,000-node graph in Chromium; JSON to bench/results/
	$(BIN)/python -m bench.web

clean:  ## Remove the venv and local state
	rm -rf $(VENV) .headwater .pytest_cache .mypy_cache .ruff_cache
