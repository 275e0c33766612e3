# Shopwright developer commands. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test contract lint format check ci clean cluster-test

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed  ## Create .venv and install Shopwright with its dev tools

run: install  ## Migrate and seed the SQLite database, then serve on http://127.0.0.1:5000
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-db
	$(BIN)/flask run --host $(HOST) --port $(PORT)

# The request-level suites run on two processes (each with its own database and Redis keys: tests/conftest.py);
# races, outages and real servers run alone afterwards, so their timing is not another suite's.
test: install  ## Run the test suite (PostgreSQL + Redis when reachable, else the SQLite subset)
	$(BIN)/python -m pytest -n 2 tests/unit tests/services tests/api
	$(BIN)/python -m pytest tests --ignore=tests/unit --ignore=tests/services --ignore=tests/api

contract: install  ## schemathesis over every operation, as anonymous, customer and admin (PostgreSQL + gunicorn)
	$(BIN)/python -m tests.contract.run

lint: install  ## ruff (lint + format check) and mypy strict
	$(BIN)/ruff check src tests migrations cluster bench
	$(BIN)/ruff format --check src tests migrations cluster bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests migrations cluster bench
	$(BIN)/ruff check --fix src tests migrations cluster bench

cluster-test: install  ## As root: a cluster in network namespaces (PostgreSQL + replica, Redis, 2 app hosts, worker, HAProxy), checked
	$(BIN)/python -m cluster.run

ci: lint test contract  ## What CI runs

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
