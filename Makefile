# Hybrid Recommender Workbench. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Every recipe finds the venv's programs first (mlflow models serve starts uvicorn by name):
# no activated venv and no PATH of the caller's are needed.
export PATH := $(abspath $(BIN)):$(PATH)
# The stamp is older than pyproject.toml or the constraints when they change: .venv is stale.
STAMP := $(VENV)/.installed-stamp
TORCH := torch==2.13.0

.DEFAULT_GOAL := help
.PHONY: help setup pipeline test test-fast lint constraints mlflow-ui dashboard screenshot serve \
  tracking-server mlflow-screenshot

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements/constraints.txt
	@if [ ! -x $(BIN)/python ]; then \
	  echo "note: no $(VENV) yet: creating it before anything else: Python 3.11 with CPU torch," \
	    "TensorFlow, MLflow, sentence-transformers, FAISS and the rest of" \
	    "requirements/constraints.txt (about 4 GB, about 10 minutes)"; \
	else echo "note: $(VENV) is older than pyproject.toml or requirements/constraints.txt:" \
	  "refreshing it first (a few minutes)"; fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# torch first and alone: pip takes the local CPU build; otherwise a CUDA build is pulled.
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -c requirements/constraints.txt -e ".[dev]"
	@# SANSA needs SuiteSparse's headers (Debian: libsuitesparse-dev) to build scikit-sparse.
	if [ -f /usr/include/suitesparse/cholmod.h ]; then \
	  $(BIN)/pip install -c requirements/constraints.txt -e ".[dev,scale]"; \
	else echo "note: no SuiteSparse headers: the sansa model is not installed" \
	  "(apt-get install libsuitesparse-dev, then make setup)"; fi
	touch $(STAMP)

setup: $(STAMP) ## Create/refresh .venv (Python 3.11, CPU torch, pinned stack)
	@# headers installed after the venv was made (the hint above): add the sansa model now
	@if [ -f /usr/include/suitesparse/cholmod.h ] && ! $(BIN)/python -c "import sansa" 2>/dev/null; \
	then echo "note: SuiteSparse headers found: installing the sansa model"; \
	  $(BIN)/pip install -c requirements/constraints.txt -e ".[dev,scale]"; fi

pipeline: $(STAMP) ## The main job: data, indexes, default models, the default sweeps (movies, anime, ml1m), summary
	$(BIN)/workbench pipeline

MLFLOW_PORT ?= 5000
DATASET ?= anime
SERVE_PORT ?= 5050
serve: $(STAMP) ## Serve models:/$(DATASET)-hybrid@champion over HTTP on 127.0.0.1 (DATASET=anime SERVE_PORT=5050)
	MLFLOW_TRACKING_URI="$$($(BIN)/python -c 'from workbench import tracking; print(tracking.configure())')" \
	  $(BIN)/mlflow models serve -m "models:/$(DATASET)-hybrid@champion" --env-manager local \
	  --host 127.0.0.1 --port $(SERVE_PORT)

mlflow-ui: $(STAMP) ## MLflow UI on http://127.0.0.1:5000; prints each experiment's model-table link (MLFLOW_PORT=...)
	$(BIN)/workbench mlflow-ui --port $(MLFLOW_PORT)

TRACKING_PORT ?= 5000
PG_PORT ?= 5433
BACKEND_STORE_URI ?=
tracking-server: $(STAMP) ## Shared tracking server: PostgreSQL (experiments/.postgres) + mlflow server on 127.0.0.1:5000 (TRACKING_PORT, PG_PORT, BACKEND_STORE_URI=postgresql://...)
	$(BIN)/workbench tracking-server --port $(TRACKING_PORT) --pg-port $(PG_PORT) \
	  $(if $(BACKEND_STORE_URI),--backend-store-uri "$(BACKEND_STORE_URI)")

DASHBOARD_PORT ?= 8866
dashboard: $(STAMP) ## The dashboard (Voila) on 127.0.0.1:8866: open the URL with the token it prints
	$(BIN)/python -m workbench.dashboard.serve notebooks/dashboard.ipynb --no-browser \
	  --port=$(DASHBOARD_PORT) --Voila.ip=127.0.0.1

screenshot: $(STAMP) ## Browser test on the real pipeline artifacts; saves docs/dashboard.png
	DASHBOARD_TEST_HOME="$(CURDIR)" DASHBOARD_SCREENSHOT="$(CURDIR)/docs/dashboard.png" \
	  $(BIN)/pytest -q tests/test_dashboard_browser.py

mlflow-screenshot: $(STAMP) ## Browser test of the MLflow UI on a copy of this home's runs; saves docs/mlflow-ui.png
	MLFLOW_UI_TEST_HOME="$(CURDIR)" MLFLOW_UI_SCREENSHOT="$(CURDIR)/docs/mlflow-ui.png" \
	  $(BIN)/pytest -q tests/test_mlflow_ui_browser.py

TEST_WORKERS ?= 2
test: $(STAMP) ## Run the whole test suite (unit + integration) on TEST_WORKERS processes (2)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

test-fast: $(STAMP) ## Unit tests only (no notebooks, no real datasets)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not integration and not slow"

lint: $(STAMP) ## ruff, and check that notebooks carry no outputs
	$(BIN)/ruff check workbench tests benchmarks
	$(BIN)/nbstripout --verify notebooks/*.ipynb

constraints: $(STAMP) ## Re-freeze requirements/constraints.txt from .venv
	{ head -2 requirements/constraints.txt; $(BIN)/pip list --format=freeze --exclude-editable \
	  | sed 's/^torch==\(.*\)+cpu/torch==\1/'; } > requirements/constraints.txt.new
	mv requirements/constraints.txt.new requirements/constraints.txt
