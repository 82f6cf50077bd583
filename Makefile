# gemtrace: every target that needs Python depends on the virtual environment,
# so `make demo` and `make test` work as the first commands on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 5000
# make serve BACKEND_STORE_URI=postgresql://USER:PASSWORD@HOST:5432/DB runs the server on PostgreSQL,
# and ARTIFACTS_DESTINATION=s3://BUCKET/PATH keeps trace attachments on an object store. Both reach
# gemtrace through its environment, taken as written ($(value): a "$" in a password stays), so make
# does not echo a password; GEMTRACE_BACKEND_STORE_URI in the environment serves as well.

export MLFLOW_DISABLE_TELEMETRY := true
export MLFLOW_MODEL_CATALOG_URI :=

.DEFAULT_GOAL := help
.PHONY: help venv serve stop status demo test lint bench record author-cassettes clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv with the pinned versions

ifdef BACKEND_STORE_URI
serve: export GEMTRACE_BACKEND_STORE_URI := $(value BACKEND_STORE_URI)
endif
ifdef ARTIFACTS_DESTINATION
serve: export GEMTRACE_ARTIFACTS_DESTINATION := $(value ARTIFACTS_DESTINATION)
endif
serve: $(STAMP) ## Start the MLflow server on 127.0.0.1:$(PORT) (BACKEND_STORE_URI=postgresql://... for a team)
	$(BIN)/gemtrace serve --port $(PORT) $(if $(WORKERS),--workers $(WORKERS))

stop: $(STAMP) ## Stop the local MLflow server
	$(BIN)/gemtrace stop

status: $(STAMP) ## Say whether the local MLflow server is running
	$(BIN)/gemtrace status

demo: $(STAMP) ## Replay every tutorial scenario and trace it into MLflow
	$(BIN)/gemtrace demo --port $(PORT)

test: $(STAMP) ## Run the whole test suite, offline
	$(BIN)/gemtrace cassettes verify cassettes examples/haiku_app/tests/cassettes
	$(BIN)/python -m pytest -p no:cacheprovider examples/haiku_app
	$(BIN)/python -m pytest

bench: $(STAMP) ## Measure replay, lookup, tracing, serve and demo against their baselines
	$(BIN)/python bench/run.py

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check src tests scripts examples bench
	$(BIN)/ruff format --check src tests scripts examples bench

record: $(STAMP) ## Re-record the scenario cassettes against the live API (needs GEMINI_API_KEY)
	$(BIN)/gemtrace record --mode $(or $(MODE),all)

author-cassettes: $(STAMP) ## Regenerate the authored cassettes through a loopback stand-in
	$(BIN)/python scripts/author_cassettes.py

clean: ## Remove .venv and local state (.gemtrace)
	rm -rf $(VENV) .gemtrace
