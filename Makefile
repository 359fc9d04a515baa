# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
# The oldest redis-py that setup.cfg allows (`redis>=5.0` -> `redis==5.0.*`), in its own venv,
# so that a default that changes between redis-py versions shows up in CI, not in a lab.
OLDEST_REDIS_VERSION := $(shell sed -n 's/^ *redis>=\([0-9.]*\).*/\1/p' setup.cfg)
OLDEST_REDIS := redis==$(OLDEST_REDIS_VERSION).*
VENV_OLDEST := .venv-oldest
STAMP_OLDEST := $(VENV_OLDEST)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-oldest lint bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

$(STAMP_OLDEST): setup.cfg pyproject.toml
	test -x $(VENV_OLDEST)/bin/python || $(PYTHON) -m venv $(VENV_OLDEST)
	$(VENV_OLDEST)/bin/pip install --quiet --upgrade pip
	$(VENV_OLDEST)/bin/pip install --quiet -e ".[test]" "$(OLDEST_REDIS)"
	rm -f $(VENV_OLDEST)/.installed-* && touch $(STAMP_OLDEST)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole suite but the browser tests, on the oldest supported redis-py.
test-oldest: $(STAMP_OLDEST)
	$(VENV_OLDEST)/bin/python -c "import redis, sys; print('redis-py', redis.__version__); sys.exit(not redis.__version__.startswith('$(OLDEST_REDIS_VERSION).'))"
	$(VENV_OLDEST)/bin/python -m pytest -m "not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(VENV_OLDEST) build *.egg-info
