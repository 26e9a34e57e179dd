# make help lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install run test lint bench
help: ## list targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/byokvault: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(BIN)/byokvault ## create .venv and install byokvault with test extras

run: install ## build the bundled catalog and serve the API on the embedded default
	$(BIN)/byokvault serve

test: install ## lint, then run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install ## ruff check and format check
	$(BIN)/ruff check .

bench: install ## run every benchmark in bench/ and print the figures
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done
