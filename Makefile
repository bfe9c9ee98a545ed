# Two commands for a newcomer: `make demo` and `make test`. Each installs what it needs, once.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
NODE_STAMP := node_modules/.installed
VENV_STAMP := $(VENV)/.installed

.PHONY: setup build lint test test-ts test-py demo dev gpu-check clean

setup: $(NODE_STAMP) $(VENV_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(VENV_STAMP): requirements-cpu.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-cpu.txt
	touch $@

build: $(NODE_STAMP)
	npx tsc -p tsconfig.json

lint: build $(VENV_STAMP)
	npx eslint .
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy

test-ts: setup build
	node --test --test-concurrency=1 --test-timeout=300000 dist/test/*.test.js

test-py: $(VENV_STAMP)
	$(VENV)/bin/python -m pytest -q verifier/tests

test: lint test-py test-ts

demo: setup build
	node dist/cli/main.js demo

dev: setup build
	node dist/cli/main.js dev

# the whole stack on a GPU host (docs/operations.md, "Checking a GPU host"); ARGS="--only audit" and such
gpu-check: setup build
	node dist/bench/acceptance.js $(ARGS)

clean:
	rm -rf dist .data
