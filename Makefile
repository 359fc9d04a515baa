# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs on first use. `make test` also builds the
# documentation (`make docs`), so a broken page or reference fails it.
PYTHON ?= python3
# `make demo PORT=5001` when something else listens on 5000.
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

# Warnings are errors; -E rereads every page, so the references generated from the code
# (configuration keys, CLI, API) are always rebuilt from the code of this checkout.
SPHINX := $(BIN)/sphinx-build -W --keep-going -E -q -b html docs docs/_build/html

.PHONY: demo test lint docs bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,docs]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(SPHINX)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

docs: $(STAMP)
	$(SPHINX)
	@echo "Documentation: docs/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info docs/_build
