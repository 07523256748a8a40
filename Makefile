# The two commands of the contract are `make up` and `make test`; `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= .data
export DATA_DIR

PACKAGES := libs/contracts libs/runtime libs/testkit $(wildcard svc-*)
INSTALL_INPUTS := constraints.txt requirements-dev.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)

.DEFAULT_GOAL := help
.PHONY: help venv up down test test-unit lint format check-manifests docs clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(BIN)/.installed: $(INSTALL_INPUTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(foreach p,$(PACKAGES),-e $(p))
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt network-config-analyzer
	@touch $@

venv: $(BIN)/.installed ## Create or update the development environment in .venv/

up: $(BIN)/.installed ## Start NATS and every service locally (Ctrl-C stops everything)
	@$(BIN)/python tools/devstack.py

down: ## Stop a `make up` running elsewhere (another terminal, the background)
	@if [ -x $(BIN)/python ]; then $(BIN)/python tools/devstack.py down; fi

test: $(BIN)/.installed ## Run the whole test suite (unit, integration, end to end)
	@tools/system_packages.sh
	$(BIN)/pytest

test-unit: $(BIN)/.installed ## Run the unit tests only: seconds, no servers, no processes
	$(BIN)/pytest -m unit

lint: $(BIN)/.installed ## Lint (ruff) and type-check (mypy)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(foreach p,$(PACKAGES),$(addprefix -p ,$(notdir $(wildcard $(p)/src/*))))

check-manifests: $(BIN)/.installed ## Validate Kubernetes, Istio, Knative, NATS and monitoring files offline
	$(BIN)/python tools/check_manifests.py

docs: $(BIN)/.installed ## Export OpenAPI and AsyncAPI from the code into a static site in build/docs/
	$(BIN)/python tools/export_docs.py --out build/docs

format: $(BIN)/.installed ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: down ## Stop the stack, remove the environment, local state and caches
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .mypy_cache .ruff_cache
