# One command for every routine task. The two set-up commands on a fresh machine are
# `make demo` and `make test`; both create .venv and install kippu into it first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-fast lint format bench browser clean-demo architecture typecheck

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,test,bench]'
	touch $(INSTALLED)

install: $(INSTALLED)  ## create .venv and install kippu with its test and bench tools

demo: $(INSTALLED)  ## seed the demo facility on SQLite and run core, workbench and kiosk
	$(BIN)/kippu demo

browser:  ## install Debian's chromium for the browser tests (needs root and apt-get)
	scripts/ensure-chromium

test: $(INSTALLED) browser architecture typecheck  ## layer rules, types, then the whole suite (SQLite and PostgreSQL, browsers)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

architecture: $(INSTALLED)  ## check the import rules of docs/architecture.md (import-linter)
	$(BIN)/lint-imports

typecheck: $(INSTALLED)  ## mypy --strict on the contract, core, plugins, command and kiosk driver
	$(BIN)/mypy

test-fast: $(INSTALLED)  ## the suite without browser tests, on one process
	$(BIN)/python -m pytest -m "not browser"

lint: $(INSTALLED)
	$(BIN)/ruff check .

format: $(INSTALLED)
	$(BIN)/ruff format .

bench: $(INSTALLED)  ## run the benchmarks in bench/ (see docs/benchmarks.md)
	$(BIN)/python -m bench

clean-demo:  ## forget the demo database, exports and mail
	rm -rf var/demo
